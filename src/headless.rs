//! The headless printer: one human line per event on stdout, for CI logs and pipes.

use std::io::Write;
use std::sync::Arc;

use chrono::{DateTime, Utc};
use tokio::sync::broadcast::{self, error::RecvError};

use crate::event::Envelope;
use crate::event::Event;
use crate::fmt::t_plus;
use crate::fold::{HostNames, RollbackCount, describe};

/// Prints events until the run ends. Never slows the engine: if it falls behind it says how many
/// lines it skipped (they are all in the journal). While more than one fault is rolling back, each
/// result is followed by the running count (`rolling back: 5/12 verified, 0 failed, 2 unknown`).
pub async fn print_events(mut rx: broadcast::Receiver<Arc<Envelope>>, mut out: impl Write) {
    let mut start: Option<DateTime<Utc>> = None;
    let mut hosts = HostNames::default();
    let mut rollbacks = RollbackCount::default();
    loop {
        match rx.recv().await {
            Ok(env) => {
                let start = *start.get_or_insert(env.ts);
                if let Event::RunStarted { scenario, .. } = &env.event {
                    hosts = HostNames::of(scenario);
                }
                let (src, text) = describe(&env.event, &hosts);
                // A closed stdout (e.g. `| head`) must not stop the run; just stop printing.
                if writeln!(out, "{} {:<12} {}", t_plus(start, env.ts), src, text).is_err() {
                    return;
                }
                if rollbacks.apply(&env.event)
                    && matches!(env.event, Event::RollbackResult { .. })
                    && rollbacks.total > 1
                    && writeln!(
                        out,
                        "{} {:<12} rolling back: {rollbacks}",
                        t_plus(start, env.ts),
                        "rollback"
                    )
                    .is_err()
                {
                    return;
                }
                let _ = out.flush();
                if matches!(env.event, Event::RunEnded) {
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
/// event line as it appears, until the run ends. Reads through [`crate::journal::Tail`]: never
/// writes the journal, and a line without its newline yet is never glued to what comes later (it
/// is read again, whole, on a later poll), so a torn write that the writer cuts back (a full disk)
/// and replaces is read as the replacement.
///
/// A run that died leaves a journal without `run_ended` and no writer: once no process has held
/// the journal's lock for two polls in a row, follow says so (with the `recover` command) and
/// returns [`Followed::WriterGone`] instead of waiting for ever.
/// What [`follow`] prints.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct FollowOptions {
    /// Events only: no metric samples, no lease renewals (the lines that flood a second seat).
    pub events: bool,
    /// One short line per event: `T+mm:ss source: text`, the text on one line and cut at
    /// [`COMPACT_WIDTH`] characters.
    pub compact: bool,
}

/// The longest text of a compact line, in characters.
pub const COMPACT_WIDTH: usize = 120;

pub async fn follow(
    path: &std::path::Path,
    mut out: impl Write,
    opts: FollowOptions,
) -> std::io::Result<Followed> {
    use crate::journal::{JournalError, Tail};
    let mut tail = Tail::open(path).map_err(std::io::Error::other)?;
    let mut start: Option<DateTime<Utc>> = None;
    // EOF polls in a row with no writer (two, so a writer starting up is not mistaken for gone).
    let mut unwritten = 0u8;
    let mut hosts = HostNames::default();
    loop {
        let env = match tail.poll() {
            Some(Ok(env)) => env,
            Some(Err(JournalError::Corrupt { line, reason, .. })) => {
                writeln!(out, "(unreadable journal line {line}: {reason})")?;
                continue;
            }
            Some(Err(e)) => return Err(std::io::Error::other(e)),
            None => {
                if crate::journal::writer_of(path).is_some() {
                    unwritten = 0;
                } else {
                    unwritten = unwritten.saturating_add(1);
                }
                if unwritten >= 2 {
                    writeln!(
                        out,
                        "(no process is writing this journal and it has no run_ended: the run died. `gameday recover {}` rolls back what it left)",
                        path.display()
                    )?;
                    out.flush()?;
                    return Ok(Followed::WriterGone);
                }
                // At the end for now: wait for the writer (polling is fine for a human-paced view).
                tokio::time::sleep(std::time::Duration::from_millis(200)).await;
                continue;
            }
        };
        unwritten = 0;
        let start = *start.get_or_insert(env.ts);
        if let Event::RunStarted { scenario, .. } = &env.event {
            hosts = HostNames::of(scenario);
        }
        let noise = matches!(env.event, Event::Sample { .. } | Event::LeaseRenewed { .. });
        if !(opts.events && noise) {
            let (src, text) = describe(&env.event, &hosts);
            if opts.compact {
                let one: String = text.split_whitespace().collect::<Vec<_>>().join(" ");
                let cut: String = one.chars().take(COMPACT_WIDTH).collect();
                let more = if cut.len() < one.len() { "…" } else { "" };
                writeln!(out, "{} {src}: {cut}{more}", t_plus(start, env.ts))?;
            } else {
                writeln!(out, "{} {:<12} {}", t_plus(start, env.ts), src, text)?;
            }
            out.flush()?;
        }
        if matches!(env.event, Event::RunEnded) {
            return Ok(Followed::Ended);
        }
    }
}

/// How [`follow`] ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Followed {
    /// The journal reached `run_ended`.
    Ended,
    /// No one writes the journal any more and it never reached `run_ended`: the run died.
    WriterGone,
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::{Arc, Mutex};

    #[derive(Clone, Default)]
    struct Shared(Arc<Mutex<Vec<u8>>>);

    impl Write for Shared {
        fn write(&mut self, b: &[u8]) -> std::io::Result<usize> {
            self.0.lock().unwrap().extend_from_slice(b);
            Ok(b.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }

    impl Shared {
        fn text(&self) -> String {
            String::from_utf8_lossy(&self.0.lock().unwrap()).into_owned()
        }
    }

    /// Rolling back more than one fault prints the running count after each result.
    #[tokio::test]
    async fn the_printer_counts_rollbacks_as_they_come_in() {
        use crate::event::{CommandOutcome, RollbackStatus};
        let (tx, rx) = broadcast::channel(64);
        let out = Shared::default();
        let printer = tokio::spawn(print_events(rx, out.clone()));
        let result = |fault: &str, status| Event::RollbackResult {
            fault: fault.into(),
            host: "10.0.0.1".into(),
            status,
            how: "verify".into(),
            attempts: 1,
            undo: CommandOutcome::default(),
            verify: None,
            manual: None,
        };
        let started = |fault: &str| Event::RollbackStarted {
            fault: fault.into(),
            host: "10.0.0.1".into(),
        };
        for (seq, event) in [
            started("a"),
            started("b"),
            started("c"),
            result("a", RollbackStatus::Verified),
            result("b", RollbackStatus::Unknown),
            result("c", RollbackStatus::Verified),
            Event::RunEnded,
        ]
        .into_iter()
        .enumerate()
        {
            tx.send(Arc::new(Envelope {
                seq: seq as u64,
                ts: Utc::now(),
                run: "r".into(),
                event,
            }))
            .unwrap();
        }
        printer.await.unwrap();
        let text = out.text();
        let counts: Vec<&str> = text
            .lines()
            .filter_map(|l| l.split_once("rolling back: ").map(|(_, c)| c))
            .collect();
        assert_eq!(
            counts,
            [
                "1/3 verified, 0 failed, 0 unknown, 2 in progress",
                "1/3 verified, 0 failed, 1 unknown, 1 in progress",
                "2/3 verified, 0 failed, 1 unknown"
            ],
            "{text}"
        );
    }

    /// The writer cuts a torn line back (full disk) while a second seat follows: the follower
    /// reads the replacement line whole, not the torn bytes glued to it.
    #[tokio::test(start_paused = true)]
    async fn follow_survives_a_tail_cut_back_by_the_writer() {
        let dir = tempfile::tempdir().unwrap();
        let src = dir.path().join("src.jsonl");
        let mut w = crate::journal::JournalWriter::create(&src, "r").unwrap();
        for kind in [
            crate::event::MilestoneKind::Detected,
            crate::event::MilestoneKind::Mitigated,
        ] {
            w.append(
                Utc::now(),
                crate::event::Event::Milestone {
                    kind,
                    role: "IC".into(),
                },
            )
            .unwrap();
        }
        w.append(Utc::now(), Event::RunEnded).unwrap();
        drop(w);
        let text = std::fs::read_to_string(&src).unwrap();
        let lines: Vec<&str> = text.lines().collect();
        let j = dir.path().join("journal.jsonl");
        // Line 1 whole, then a torn write (of another record than the one written after the cut).
        let torn = lines[2].replace("\"seq\":3", "\"seq\":9");
        std::fs::write(&j, format!("{}\n{}", lines[0], &torn[..torn.len() - 4])).unwrap();
        // This test is the writer: it holds the journal's lock, as a run does.
        let lock = std::fs::File::open(&j).unwrap();
        lock.lock().unwrap();
        let out = Shared::default();
        let task = tokio::spawn({
            let (j, out) = (j.clone(), out.clone());
            async move { follow(&j, out, FollowOptions::default()).await }
        });
        for _ in 0..50 {
            if out.text().contains("detected") {
                break;
            }
            tokio::time::sleep(std::time::Duration::from_millis(100)).await;
        }
        tokio::time::sleep(std::time::Duration::from_secs(1)).await;
        // The writer cuts the torn bytes and writes line 2 whole, then the end.
        std::fs::write(&j, format!("{}\n", lines[0])).unwrap();
        let mut f = std::fs::OpenOptions::new().append(true).open(&j).unwrap();
        writeln!(f, "{}\n{}", lines[1], lines[2]).unwrap();
        drop(f);
        tokio::time::timeout(std::time::Duration::from_secs(30), task)
            .await
            .expect("follow ends at run_ended")
            .unwrap()
            .unwrap();
        drop(lock);
        let shown = out.text();
        assert!(!shown.contains("unreadable"), "{shown}");
        assert_eq!(shown.lines().count(), 3, "{shown}");
        assert!(shown.contains("mitigated"), "{shown}");
    }

    /// `--events` leaves out samples and lease renewals; `--compact` is one short line each.
    #[tokio::test(start_paused = true)]
    async fn follow_events_only_and_compact() {
        let dir = tempfile::tempdir().unwrap();
        let j = dir.path().join("journal.jsonl");
        let mut w = crate::journal::JournalWriter::create(&j, "r").unwrap();
        let events = [
            Event::Sample {
                metric: "errors".into(),
                value: Some(1.0),
                error: None,
            },
            Event::LeaseRenewed {
                fault: "f".into(),
                host: "h".into(),
                ok: true,
                error: None,
            },
            Event::Note {
                role: "scribe".into(),
                text: format!("two\nlines {}", "x".repeat(200)),
                action: false,
                kind: None,
                owner: None,
                due: None,
                metrics: Default::default(),
                faults: vec![],
            },
            Event::RunEnded,
        ];
        for e in events {
            w.append(Utc::now(), e).unwrap();
        }
        drop(w);
        let all = Shared::default();
        follow(&j, all.clone(), FollowOptions::default())
            .await
            .unwrap();
        assert_eq!(all.text().lines().count(), 5, "{}", all.text());
        let out = Shared::default();
        let opts = FollowOptions {
            events: true,
            compact: true,
        };
        assert_eq!(
            follow(&j, out.clone(), opts).await.unwrap(),
            Followed::Ended
        );
        let shown = out.text();
        let lines: Vec<&str> = shown.lines().collect();
        assert_eq!(lines.len(), 2, "{shown}");
        assert!(!shown.contains("errors = 1"), "{shown}");
        assert!(
            lines[0].starts_with("T+00:00 scribe: two lines xxx"),
            "{shown}"
        );
        assert!(lines[0].ends_with('…'), "{shown}");
        assert!(lines[0].chars().count() <= COMPACT_WIDTH + 30, "{shown}");
    }
}
