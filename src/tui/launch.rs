//! Starting the engine from the console, and the files the console reads and writes for it.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use tokio::sync::broadcast;
use tokio::task::JoinHandle;

use crate::engine::{Engine, Handle, Options, RunOutcome};
use crate::event::Envelope;
use crate::journal::{JournalError, JournalWriter};
use crate::scenario::{Scenario, heading_slug};
use crate::{metric, target};

/// A running engine, as the console holds it.
pub struct Session {
    pub handle: Handle,
    pub events: broadcast::Receiver<Arc<Envelope>>,
    pub engine: JoinHandle<Result<RunOutcome, JournalError>>,
    pub journal: PathBuf,
}

/// Starts a run. The console calls it when the IC presses start; tests may supply their own.
pub trait Launcher: Send {
    fn launch(&mut self, scenario: Arc<Scenario>) -> Result<Session, String>;
}

/// The real launcher: the scenario's targets and metric sources, a new journal, the engine task.
pub struct EngineLauncher {
    pub journal: Option<PathBuf>,
    pub options: Options,
}

impl Launcher for EngineLauncher {
    fn launch(&mut self, scenario: Arc<Scenario>) -> Result<Session, String> {
        let hosts = target::open_blocking(&scenario, &self.options.open)
            .map_err(|e| format!("{e}; nothing was run"))?;
        let probes =
            metric::probes(&scenario, &hosts).map_err(|e| format!("{e}; nothing was run"))?;
        let mut writer = JournalWriter::start_for(&scenario, self.journal.clone())
            .map_err(|e| format!("cannot start the journal: {e}; nothing was run"))?;
        // Every credential the scenario names is redacted from all that is journaled and shown.
        writer.redact(metric::secret_values(&scenario));
        let path = writer.path().to_path_buf();
        tracing::info!(journal = %path.display(), scenario = %scenario.file.display(), "run starting from the console");
        // A person is at the console to decide whether failed live checks may be overridden.
        let options = Options {
            hold_failed_preflight: true,
            ..self.options.clone()
        };
        let (engine, handle) = Engine::new(scenario, hosts, probes, writer, options);
        // Subscribe before the engine runs so no event is missed.
        let events = handle.subscribe();
        let engine = tokio::spawn(engine.run());
        Ok(Session {
            handle,
            events,
            engine,
            journal: path,
        })
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

/// Writes the Markdown debrief of a journal beside it, atomically; returns where.
pub fn export_debrief(journal: &Path) -> Result<PathBuf, String> {
    let (run, _) = crate::fold::RunState::from_journal(journal).map_err(|e| e.to_string())?;
    let out = journal
        .parent()
        .map(|d| d.join("debrief.md"))
        .unwrap_or_else(|| PathBuf::from("debrief.md"));
    crate::write_atomic(&out, crate::report::debrief(&run).as_bytes())
        .map_err(|e| format!("cannot write {}: {e}", out.display()))?;
    Ok(out)
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
