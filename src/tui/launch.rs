//! Starting the engine from the console, and the files the console reads and writes for it.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use crate::engine::Options;
use crate::scenario::{Scenario, heading_slug};
use crate::session::{self, Running};
use crate::target::OnConnect;
use futures_util::future::BoxFuture;

/// Starts a run. The console calls it when the IC presses start; tests may supply their own.
/// The start runs beside the console's loop (opening N hosts takes a while): `progress` hears
/// how many hosts have answered, and the console stays live meanwhile.
pub trait Launcher: Send {
    fn launch(
        &mut self,
        scenario: Arc<Scenario>,
        progress: OnConnect,
    ) -> BoxFuture<'static, Result<Running, String>>;
}

/// The real launcher: [`session::start`], with a person at the console to decide whether failed
/// live checks may be overridden.
pub struct EngineLauncher {
    pub journal: Option<PathBuf>,
    pub options: Options,
}

impl Launcher for EngineLauncher {
    fn launch(
        &mut self,
        scenario: Arc<Scenario>,
        progress: OnConnect,
    ) -> BoxFuture<'static, Result<Running, String>> {
        let mut options = Options {
            hold_failed_preflight: true,
            ..self.options.clone()
        };
        options.open.progress = progress;
        Box::pin(session::start(scenario, self.journal.clone(), options))
    }
}

/// The runbook text from its `#anchor` heading to the next heading of the same or a higher level.
pub fn read_runbook(path: &Path, anchor: Option<&str>) -> Result<String, String> {
    let text = std::fs::read_to_string(path)
        .map_err(|e| format!("cannot read {}: {e}", path.display()))?;
    let Some(anchor) = anchor else {
        return Ok(text);
    };
    let mut out = String::new();
    let mut level = None;
    for line in text.lines() {
        let hashes = line.chars().take_while(|c| *c == '#').count();
        let heading = hashes > 0 && line[hashes..].starts_with(' ');
        match level {
            None if heading && heading_slug(&line[hashes..]) == anchor => level = Some(hashes),
            Some(l) if heading && hashes <= l => break,
            _ => {}
        }
        if level.is_some() {
            out.push_str(line);
            out.push('\n');
        }
    }
    if out.is_empty() { Ok(text) } else { Ok(out) }
}

/// The console's `e` export: the same files as `gameday report` and the end of a run (the
/// debrief and every chart it links), beside the journal; returns the debrief's path.
pub fn export_debrief(journal: &Path) -> Result<PathBuf, String> {
    crate::report::write::write_debrief(journal, None).map(|w| w.debrief)
}

#[cfg(test)]
mod tests {
    use super::read_runbook;

    #[test]
    fn runbook_section_runs_from_its_anchor_to_the_next_peer_heading() {
        let dir = tempfile::tempdir().expect("tempdir");
        let p = dir.path().join("RUNBOOK.md");
        std::fs::write(
            &p,
            "# Book\n## Slow payments\nstep one\n### Detail\nmore\n## Other\nnope\n",
        )
        .expect("write");
        let s = read_runbook(&p, Some("slow-payments")).expect("read");
        assert_eq!(s, "## Slow payments\nstep one\n### Detail\nmore\n");
        assert!(read_runbook(&p, None).expect("read").contains("nope"));
        assert!(read_runbook(&dir.path().join("missing.md"), None).is_err());
    }
}
