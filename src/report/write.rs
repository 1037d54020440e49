//! Writing a debrief to disk: `debrief.md`, every chart it links and `summary.json`, from the
//! journal alone.
//!
//! The one writer used by `gameday report`, by the end of every run (headless and console), by
//! `recover`, and by the console's `e` export, so they all leave the same files.

use std::path::{Path, PathBuf};

use crate::fold::RunState;
use crate::journal::TornTail;

/// What [`write_debrief`] left on disk.
#[derive(Debug)]
pub struct Written {
    /// The Markdown debrief.
    pub debrief: PathBuf,
    /// Every chart the debrief links (`chart-<metric>.svg` beside it).
    pub charts: Vec<PathBuf>,
    /// `summary.json` beside the debrief (schema: docs/summary-json.md).
    pub summary: PathBuf,
    /// A torn last line of the journal, left out of the debrief (the journal is not modified).
    pub torn: Option<TornTail>,
}

/// Where the debrief of `journal` goes when no output is named: `debrief.md` beside it.
pub fn default_output(journal: &Path) -> PathBuf {
    journal
        .parent()
        .map(|d| d.join("debrief.md"))
        .unwrap_or_else(|| PathBuf::from("debrief.md"))
}

/// Folds `journal` (streaming; it is never modified) and writes the debrief to `output` (default
/// [`default_output`]) with its charts beside it, each file atomically. The output's directory is
/// created when missing. Charts are written before the Markdown that links them.
pub fn write_debrief(journal: &Path, output: Option<&Path>) -> Result<Written, String> {
    let (run, torn) = RunState::from_journal(journal).map_err(|e| e.to_string())?;
    let out = output
        .map(Path::to_path_buf)
        .unwrap_or_else(|| default_output(journal));
    let dir = out
        .parent()
        .filter(|d| !d.as_os_str().is_empty())
        .map(Path::to_path_buf)
        .unwrap_or_else(|| PathBuf::from("."));
    std::fs::create_dir_all(&dir).map_err(|e| format!("cannot create {}: {e}", dir.display()))?;
    let mut charts = Vec::new();
    for chart in super::chart::charts(&run) {
        let file = dir.join(format!(
            "chart-{}.svg",
            super::chart_file_stem(&chart.metric)
        ));
        crate::write_atomic(&file, chart.svg.as_bytes())
            .map_err(|e| format!("cannot write {}: {e}", file.display()))?;
        charts.push(file);
    }
    let summary = dir.join("summary.json");
    crate::write_atomic(
        &summary,
        super::summary::Summary::of(&run).to_json().as_bytes(),
    )
    .map_err(|e| format!("cannot write {}: {e}", summary.display()))?;
    crate::write_atomic(&out, super::debrief(&run).as_bytes())
        .map_err(|e| format!("cannot write {}: {e}", out.display()))?;
    Ok(Written {
        debrief: out,
        charts,
        summary,
        torn,
    })
}
