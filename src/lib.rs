//! gameday: a terminal console for chaos-engineering game days.
//!
//! The run is a stream of [`event::Event`]s: the [`engine`] emits them, the [`journal`] records them
//! first, and everything else ([`report`], the headless printer, replay, `recover`) is a fold over them.
//!
//! # Layers
//!
//! Imports point down only: a module may import from its own layer or a lower one, never a higher
//! one, and no two modules of a layer import each other. `src/layering.rs` reads this list and
//! checks every file against it (tests excepted). Lowest first:
//!
//! 1. `fmt`, `exit`: shared human formatting (metric values, durations, `T+` offsets, clocks); exit codes
//! 2. `scenario`: the YAML model, its validation and limits, Prometheus selector syntax
//! 3. `target`: where commands run (local, SSH) and what a command did (`CommandOutcome`)
//! 4. `fault`, `metric`: fault kinds, leases, the verified rollback; metric sources, samplers, rules
//! 5. `event`: the journaled schema (`Event`, `Envelope`, `Verdict`)
//! 6. `journal`: the one writer and the reader
//! 7. `fold`: the run folded from events (`RunState`), one-line event descriptions
//! 8. `report`, `headless`, `notify`: the Markdown debrief and SVG charts; the stdout printer and
//!    `follow`; webhook and Grafana notifications
//! 9. `engine`: the run itself (stages, commands in, events out, halt and rollback)
//! 10. `recover`, `lab`, `agenda`, `seat`, `ctk`: `gameday recover`; the embedded demo lab; a game
//!     day's agenda (what is next and when, stop rules, breaks, skips, postponements, the day
//!     journal); the run's seat socket (`gameday join`); Chaos Toolkit experiments run with
//!     `chaos run`'s semantics into gameday's journal
//! 11. `session`, `tui`: the one wiring of a run (start, conclude, recover); the console (which
//!     starts and ends runs through `session`) and the agenda screen
//! 12. `day`: `gameday day`, headless or on the agenda screen (each scenario in the console)

pub mod agenda;
pub mod ctk;
pub mod day;
pub mod engine;
pub mod event;
pub mod exit;
pub mod fault;
pub mod fmt;
pub mod fold;
pub mod headless;
pub mod journal;
pub mod lab;
#[cfg(test)]
mod layering;
pub mod metric;
pub mod notify;
pub mod recover;
pub mod report;
pub mod scenario;
pub mod seat;
pub mod session;
pub mod target;
pub mod tui;

/// `println!` that never panics: a closed or full stdout (`| head`, `>/dev/full`) is ignored.
/// Every line printed on an exit path goes through this or [`errln!`]. When stdout is reserved
/// for machine output ([`reserve_stdout`]: `--output json`), these lines go to stderr.
#[macro_export]
macro_rules! outln {
    ($($arg:tt)*) => {{
        use ::std::io::Write as _;
        if $crate::stdout_reserved() {
            let _ = ::std::writeln!(::std::io::stderr(), $($arg)*);
        } else {
            let _ = ::std::writeln!(::std::io::stdout(), $($arg)*);
        }
    }};
}

static STDOUT_RESERVED: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(false);

/// From now on stdout carries only [`machine_out`]; every human line goes to stderr.
pub fn reserve_stdout() {
    STDOUT_RESERVED.store(true, std::sync::atomic::Ordering::SeqCst);
}

/// Whether [`reserve_stdout`] was called.
pub fn stdout_reserved() -> bool {
    STDOUT_RESERVED.load(std::sync::atomic::Ordering::SeqCst)
}

/// Machine output (`--output json`) on stdout; false when it could not be written.
pub fn machine_out(text: &str) -> bool {
    use std::io::Write as _;
    let mut out = std::io::stdout().lock();
    writeln!(out, "{text}").and_then(|()| out.flush()).is_ok()
}

/// `eprintln!` that never panics: a closed terminal or `2>/dev/full` must not stop a halt.
#[macro_export]
macro_rules! errln {
    ($($arg:tt)*) => {{
        use ::std::io::Write as _;
        let _ = ::std::writeln!(::std::io::stderr(), $($arg)*);
    }};
}

/// A panic hook that cannot itself fail: it logs the panic and writes one line to stderr, ignoring
/// write errors (the default hook is fine too, but this one also reaches the log file).
pub fn install_panic_hook() {
    std::panic::set_hook(Box::new(|info| {
        let location = info
            .location()
            .map(|l| format!("{}:{}", l.file(), l.line()))
            .unwrap_or_default();
        let msg = info
            .payload()
            .downcast_ref::<&str>()
            .map(|s| (*s).to_string())
            .or_else(|| info.payload().downcast_ref::<String>().cloned())
            .unwrap_or_else(|| "(no message)".into());
        tracing::error!(%location, %msg, "panic");
        errln!("gameday: internal error at {location}: {msg}");
    }));
}

/// The first signal [`signals`] caught in this process, if any: work that starts listening late
/// (a run whose hosts were still being opened) halts at once for a signal that came before.
pub fn signal_received() -> Option<&'static str> {
    match FIRST_SIGNAL.load(std::sync::atomic::Ordering::SeqCst) {
        1 => Some("SIGTERM"),
        2 => Some("SIGHUP"),
        3 => Some("SIGINT"),
        _ => None,
    }
}

static FIRST_SIGNAL: std::sync::atomic::AtomicU8 = std::sync::atomic::AtomicU8::new(0);

/// SIGTERM, SIGHUP and SIGINT as a stream of their names. Whoever reads it halts the run: every live
/// fault is rolled back before gameday exits.
///
/// The task never ends: once gameday handles a signal the default action (exit) is gone for the
/// whole process, so a signal that nobody is listening for any more (the run is over, or a
/// rollback is running) is still answered, on stderr, instead of being swallowed.
pub fn signals() -> tokio::sync::mpsc::Receiver<&'static str> {
    let (tx, rx) = tokio::sync::mpsc::channel(16);
    tokio::spawn(async move {
        use tokio::signal::unix::{SignalKind, signal};
        let (Ok(mut term), Ok(mut hup), Ok(mut int)) = (
            signal(SignalKind::terminate()),
            signal(SignalKind::hangup()),
            signal(SignalKind::interrupt()),
        ) else {
            tracing::error!("cannot install signal handlers");
            errln!("gameday: cannot install signal handlers: Ctrl-C and SIGTERM will not halt");
            return;
        };
        loop {
            let name = tokio::select! {
                _ = term.recv() => "SIGTERM",
                _ = hup.recv() => "SIGHUP",
                _ = int.recv() => "SIGINT",
            };
            tracing::warn!(signal = name, "signal received");
            let code = match name {
                "SIGTERM" => 1,
                "SIGHUP" => 2,
                _ => 3,
            };
            let _ = FIRST_SIGNAL.compare_exchange(
                0,
                code,
                std::sync::atomic::Ordering::SeqCst,
                std::sync::atomic::Ordering::SeqCst,
            );
            match tx.try_send(name) {
                // Full: earlier signals are still queued, so a halt is already on its way.
                Ok(()) | Err(tokio::sync::mpsc::error::TrySendError::Full(_)) => {}
                Err(tokio::sync::mpsc::error::TrySendError::Closed(_)) => {
                    errln!(
                        "gameday: {name}: no run is live here; finishing up (rollback or debrief) and exiting"
                    );
                }
            }
        }
    });
    rx
}

/// Writes `contents` to `path` atomically and durably: a temporary file beside it (unique per
/// process and call), synced, renamed over `path`, then the directory synced so the rename itself
/// survives a crash. On any error the temporary file is removed and `path` is untouched.
pub fn write_atomic(path: &std::path::Path, contents: &[u8]) -> std::io::Result<()> {
    use std::io::Write;
    static NEXT: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
    let dir = path
        .parent()
        .filter(|d| !d.as_os_str().is_empty())
        .unwrap_or(std::path::Path::new("."));
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_else(|| "out".into());
    let n = NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    let tmp = dir.join(format!(".{name}.tmp-{}-{n}", std::process::id()));
    let written = (|| {
        let mut f = std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .open(&tmp)?;
        f.write_all(contents)?;
        f.sync_all()?;
        drop(f);
        std::fs::rename(&tmp, path)
    })();
    if let Err(e) = written {
        let _ = std::fs::remove_file(&tmp);
        return Err(e);
    }
    // The rename is in the directory: without this it may not outlive a power cut.
    std::fs::File::open(dir)?.sync_all()
}

#[cfg(test)]
mod tests {
    use super::write_atomic;

    fn leftovers(dir: &std::path::Path) -> Vec<String> {
        std::fs::read_dir(dir)
            .expect("dir")
            .flatten()
            .map(|e| e.file_name().to_string_lossy().into_owned())
            .filter(|n| n.contains(".tmp-"))
            .collect()
    }

    /// Written whole, replaced whole, nothing left beside it; a rename that fails (the path is a
    /// directory) leaves no temporary file and the path as it was.
    #[test]
    fn write_atomic_replaces_whole_and_cleans_up_on_failure() {
        let dir = tempfile::tempdir().expect("tmp");
        let p = dir.path().join("debrief.md");
        write_atomic(&p, b"first").expect("write");
        write_atomic(&p, b"second, longer").expect("rewrite");
        assert_eq!(std::fs::read(&p).expect("read"), b"second, longer");
        assert!(leftovers(dir.path()).is_empty());
        let blocked = dir.path().join("taken");
        std::fs::create_dir(&blocked).expect("dir");
        std::fs::write(blocked.join("inside"), b"x").expect("file");
        assert!(write_atomic(&blocked, b"never").is_err());
        assert!(blocked.is_dir(), "the path is untouched");
        assert!(
            leftovers(dir.path()).is_empty(),
            "{:?}",
            leftovers(dir.path())
        );
    }
}
