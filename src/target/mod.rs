//! Transports: where commands run. Every host is an `Arc<dyn Host>` opened once at run start and
//! kept for the whole run, so rollback never waits on a new connection.

pub mod local;

use std::collections::BTreeMap;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;

use crate::event::CommandOutcome;
use crate::scenario::{Scenario, Transport};

pub type BoxFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

/// Output kept per stream of one command; the rest is cut so the journal stays small.
pub const OUTPUT_CAP: usize = 16 * 1024;

/// A place that runs shell commands.
pub trait Host: Send + Sync {
    /// How the journal and the screen name this host (`local`, `db-1:2222`).
    fn name(&self) -> &str;

    /// Runs one shell line, killed after `timeout`. Never fails: problems are in the outcome,
    /// and a missing exit status stays missing.
    fn exec<'a>(&'a self, command: &'a str, timeout: Duration) -> BoxFuture<'a, CommandOutcome>;

    /// How a person runs `command` on this host by hand, for the debrief's manual steps.
    fn manual(&self, command: &str) -> String {
        command.to_string()
    }
}

/// The hosts of every target, by target name.
pub type HostMap = BTreeMap<String, Vec<Arc<dyn Host>>>;

#[derive(Debug, thiserror::Error)]
pub enum TargetError {
    #[error(
        "target `{target}` uses SSH ({hosts}); this build only runs local targets: SSH fault injection is not available yet"
    )]
    SshUnavailable { target: String, hosts: String },
}

/// Opens every target of a scenario.
pub fn open(scenario: &Scenario) -> Result<HostMap, TargetError> {
    let mut map = HostMap::new();
    for (name, target) in &scenario.targets {
        let hosts: Vec<Arc<dyn Host>> = match &target.transport {
            Transport::Local => vec![Arc::new(local::LocalHost::new())],
            Transport::Ssh { hosts, .. } => {
                return Err(TargetError::SshUnavailable {
                    target: name.clone(),
                    hosts: hosts
                        .iter()
                        .map(ToString::to_string)
                        .collect::<Vec<_>>()
                        .join(", "),
                });
            }
        };
        map.insert(name.clone(), hosts);
    }
    Ok(map)
}

/// Keeps the head of a stream's output, cut at a character boundary.
pub fn capped(bytes: &[u8]) -> String {
    let s = String::from_utf8_lossy(bytes);
    if s.len() <= OUTPUT_CAP {
        return s.into_owned();
    }
    let mut end = OUTPUT_CAP;
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    format!("{}… [{} bytes cut]", &s[..end], s.len() - end)
}
