//! Fault states as they are journaled (`event` re-exports these types, so their serialized forms
//! are part of the journal format).

use serde::{Deserialize, Serialize};

/// Where a rollback ended. Never assumed: `Verified` needs a passing verify command or, when the
/// fault has none, the undo's own exit status 0.
#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum RollbackStatus {
    Verified,
    Failed,
    Unknown,
}

/// A live fault at an instant, for a note's snapshot.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct LiveFault {
    pub fault: String,
    pub host: String,
    pub state: String,
}
