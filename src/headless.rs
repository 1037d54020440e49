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

/// Follows a journal as it is written (a second seat watching someone else's run): prints every
/// event line as it appears, until the run ends. Reads only; never writes the journal.
pub async fn follow(path: &std::path::Path, mut out: impl Write) -> std::io::Result<()> {
    use tokio::io::AsyncBufReadExt;
    let file = tokio::fs::File::open(path).await?;
    let mut reader = tokio::io::BufReader::new(file);
    let mut start: Option<DateTime<Utc>> = None;
    let mut line = String::new();
    let mut pending = String::new();
    loop {
        line.clear();
        let n = reader.read_line(&mut line).await?;
        if n == 0 {
            // At the end for now: wait for the writer (polling is fine for a human-paced view).
            tokio::time::sleep(std::time::Duration::from_millis(200)).await;
            continue;
        }
        pending.push_str(&line);
        if !pending.ends_with('\n') {
            continue; // a line still being written
        }
        let env: Envelope = match serde_json::from_str(pending.trim_end()) {
            Ok(e) => e,
            Err(e) => {
                writeln!(out, "(unreadable journal line: {e})")?;
                pending.clear();
                continue;
            }
        };
        pending.clear();
        let start = *start.get_or_insert(env.ts);
        let (src, text) = describe(&env.event);
        writeln!(out, "{} {:<12} {}", t_plus(start, env.ts), src, text)?;
        out.flush()?;
        if matches!(env.event, crate::event::Event::RunEnded) {
            return Ok(());
        }
    }
}
