//! The headless printer: one human line per event on stdout, for CI logs and pipes.

use std::io::Write;
use std::sync::Arc;

use chrono::{DateTime, Utc};
use tokio::sync::broadcast::{self, error::RecvError};

use crate::event::Envelope;
use crate::report::{describe, t_plus};

/// Prints events until the run ends. Never slows the engine: if it falls behind it says how many
/// lines it skipped (they are all in the journal).
pub async fn print_events(mut rx: broadcast::Receiver<Arc<Envelope>>, mut out: impl Write) {
    let mut start: Option<DateTime<Utc>> = None;
    loop {
        match rx.recv().await {
            Ok(env) => {
                let start = *start.get_or_insert(env.ts);
                let (src, text) = describe(&env.event);
                // A closed stdout (e.g. `| head`) must not stop the run; just stop printing.
                if writeln!(out, "{} {:<12} {}", t_plus(start, env.ts), src, text).is_err() {
                    return;
                }
                let _ = out.flush();
                if matches!(env.event, crate::event::Event::RunEnded) {
                    return;
                }
            }
            Err(RecvError::Lagged(n)) => {
                let _ = writeln!(
                    out,
                    "… {n} event(s) not shown (printer fell behind; see the journal)"
                );
            }
            Err(RecvError::Closed) => return,
        }
    }
}
