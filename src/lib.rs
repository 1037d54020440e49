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
