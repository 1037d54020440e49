//! What one command did on a host. Journaled as is (`event::CommandOutcome` is this type), so its
//! serialized form is part of the journal format.

use serde::{Deserialize, Serialize};

/// What one remote or local command did.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Default)]
pub struct CommandOutcome {
    /// Exit status; `None` when it is unknown (timeout, killed by a signal, link lost): never read as 0.
    pub exit: Option<i32>,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub stdout: String,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub stderr: String,
    pub ms: u64,
    /// Why there is no exit status (timeout, connection lost, spawn failed).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

impl CommandOutcome {
    pub fn success(&self) -> bool {
        self.exit == Some(0)
    }

    /// One line for humans: `exit 0`, `exit 1: <stderr>`, `no exit status: timed out after 30s`.
    pub fn summary(&self) -> String {
        match (self.exit, &self.error) {
            (Some(code), _) => {
                let detail = first_line(&self.stderr).or_else(|| first_line(&self.stdout));
                match detail {
                    Some(d) if code != 0 => format!("exit {code}: {d}"),
                    _ => format!("exit {code}"),
                }
            }
            (None, Some(e)) => format!("no exit status: {e}"),
            (None, None) => "no exit status".to_string(),
        }
    }
}

fn first_line(s: &str) -> Option<&str> {
    s.lines().map(str::trim).find(|l| !l.is_empty())
}
