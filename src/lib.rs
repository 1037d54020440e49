//! gameday: a terminal console for chaos-engineering game days.
//!
//! The run is a stream of [`event::Event`]s: the [`engine`] emits them, the [`journal`] records them
//! first, and everything else ([`report`], the headless printer, replay, `recover`) is a fold over them.

pub mod engine;
pub mod event;
pub mod fault;
pub mod headless;
pub mod journal;
pub mod lab;
pub mod metric;
pub mod recover;
pub mod report;
pub mod scenario;
pub mod target;
pub mod tui;

/// SIGTERM, SIGHUP and SIGINT as a stream of their names. Whoever reads it halts the run: every live
/// fault is rolled back before gameday exits.
pub fn signals() -> tokio::sync::mpsc::Receiver<&'static str> {
    let (tx, rx) = tokio::sync::mpsc::channel(4);
    tokio::spawn(async move {
        use tokio::signal::unix::{SignalKind, signal};
        let (Ok(mut term), Ok(mut hup), Ok(mut int)) = (
            signal(SignalKind::terminate()),
            signal(SignalKind::hangup()),
            signal(SignalKind::interrupt()),
        ) else {
            tracing::error!("cannot install signal handlers");
            return;
        };
        loop {
            let name = tokio::select! {
                _ = term.recv() => "SIGTERM",
                _ = hup.recv() => "SIGHUP",
                _ = int.recv() => "SIGINT",
            };
            if tx.send(name).await.is_err() {
                return;
            }
        }
    });
    rx
}

/// Writes `contents` to `path` atomically: a temporary file beside it, synced, then renamed.
pub fn write_atomic(path: &std::path::Path, contents: &[u8]) -> std::io::Result<()> {
    use std::io::Write;
    let dir = path
        .parent()
        .filter(|d| !d.as_os_str().is_empty())
        .unwrap_or(std::path::Path::new("."));
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_else(|| "out".into());
    let tmp = dir.join(format!(".{name}.tmp-{}", std::process::id()));
    let mut f = std::fs::File::create(&tmp)?;
    f.write_all(contents)?;
    f.sync_all()?;
    drop(f);
    std::fs::rename(&tmp, path)
}
