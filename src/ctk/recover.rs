//! `gameday recover` of a Chaos Toolkit run that died: the rollbacks it has no result for.

use std::path::Path;

use serde_json::Map;
use tokio::sync::{broadcast, mpsc};
use tokio::time::Instant;

use super::{Clients, RunOptions, Runner, prepare, scenario_of};
use crate::event::{Event, Phase, Verdict};
use crate::exit;
use crate::journal::JournalWriter;
use crate::scenario::ctk::{Activity, Experiment};

/// What `gameday recover` did for a Chaos Toolkit run that died (killed, power lost) before its
/// rollbacks were all run.
#[derive(Debug)]
pub struct Recovered {
    /// The rollbacks run now, each with whether it confirmed.
    pub ran: Vec<(String, bool)>,
    /// Rollbacks the journal shows already ran, left alone.
    pub skipped: Vec<String>,
    /// Processes the dead run's activities left running (pid, name), ended before any rollback.
    pub ended: Vec<(i32, String)>,
    pub exit_code: u8,
}

/// Whether `journal` is a Chaos Toolkit run's: its `run_started` names an experiment file.
pub fn is_ctk_journal(journal: &Path) -> bool {
    let Ok(mut reader) = crate::journal::Reader::open(journal) else {
        return false;
    };
    match reader.next() {
        Some(Ok(env)) => match env.event {
            Event::RunStarted { scenario, .. } => {
                crate::scenario::ctk::is_file_an_experiment(&scenario.file)
            }
            _ => false,
        },
        _ => false,
    }
}

/// `gameday recover JOURNAL` of a Chaos Toolkit run that died: runs the experiment's rollbacks the
/// journal has no result for (in order; never one that already ran), journals them, and ends the
/// run with exit 3 (a run that died: a person must look). The experiment must be the file the run
/// started from, unchanged (its sha256 is in the journal), and its variables set again.
pub async fn recover(journal: &Path) -> Result<Recovered, RecoverError> {
    // The lock first: a live run's journal is refused and left untouched.
    let writer = JournalWriter::append_to(journal).map_err(|e| match e {
        crate::journal::JournalError::Locked { .. } => RecoverError::Live(e.to_string()),
        e => RecoverError::Failed(e.to_string()),
    })?;
    recover_with(writer, journal)
        .await
        .map_err(RecoverError::Failed)
}

/// Why `gameday recover` of a Chaos Toolkit run did nothing.
#[derive(Debug)]
pub enum RecoverError {
    /// The run is alive (it holds the journal's lock): it rolls back itself.
    Live(String),
    Failed(String),
}

async fn recover_with(writer: JournalWriter, journal: &Path) -> Result<Recovered, String> {
    let records = crate::journal::read(journal).map_err(|e| e.to_string())?;
    let mut scenario = None;
    let mut done: Vec<String> = Vec::new();
    // The tokens of every process activity that ended: what they left running is meant to run.
    let mut ended_tokens: std::collections::HashSet<String> = std::collections::HashSet::new();
    let mut ended = false;
    for env in &records.events {
        if let Event::CtkActivity {
            process: Some(t), ..
        } = &env.event
        {
            ended_tokens.insert(t.to_string());
        }
        match &env.event {
            Event::RunStarted { scenario: s, .. } => scenario = Some((**s).clone()),
            Event::CtkActivity {
                phase: Phase::Rollback,
                name,
                ..
            } => done.push(name.clone()),
            Event::RunEnded => ended = true,
            _ => {}
        }
    }
    let scenario = scenario.ok_or("the journal has no run_started")?;
    if ended {
        return Ok(Recovered {
            ran: Vec::new(),
            skipped: done,
            ended: Vec::new(),
            exit_code: exit::HELD,
        });
    }
    let text = std::fs::read(&scenario.file).map_err(|e| {
        format!(
            "cannot read the experiment {}: {e}",
            scenario.file.display()
        )
    })?;
    let experiment = Experiment::parse(&scenario.file, &String::from_utf8_lossy(&text))
        .map_err(|e| e.to_string())?;
    let now = scenario_of(&experiment, &text, scenario.max_duration);
    if now.sha256 != scenario.sha256 {
        return Err(format!(
            "{} changed since the run: run its rollbacks by hand (the journal lists the ones that ran)",
            scenario.file.display()
        ));
    }
    let p = prepare(
        experiment,
        &|k| std::env::var(k).ok(),
        &RunOptions::default(),
    )?;
    let mut writer = writer;
    writer.redact(p.secrets.clone());
    // Each rollback name once per time it is listed: a name that ran n times skips its first n.
    let mut skipped = Vec::new();
    let mut seen = done.clone();
    let todo: Vec<Activity> = p
        .experiment
        .rollbacks
        .iter()
        .filter(|a| match seen.iter().position(|n| n == &a.name) {
            Some(i) => {
                seen.remove(i);
                skipped.push(a.name.clone());
                false
            }
            None => true,
        })
        .cloned()
        .collect();
    let (events, _) = broadcast::channel(16);
    let (_commands_tx, commands) = mpsc::channel(1);
    // What the activities still running when the run died left ends first: a rollback must not
    // run beside the action it undoes (a killed run cannot end its own processes). What an
    // activity that ended left (a daemon in the background) is meant to run on.
    let run_id = writer.run_id().to_string();
    let ended =
        crate::target::local::end_left_running(&run_id, &|t: &str| ended_tokens.contains(t));
    let clients = Clients::new(&run_id)?;
    let mut r = Runner {
        p,
        clients,
        journal: writer,
        events,
        commands,
        commands_open: false,
        deadline: Instant::now(),
        halted: None,
        journal_failed: false,
        ctk: Map::new(),
    };
    r.emit(Event::HaltRequested {
        by: "recover".into(),
        reason: format!(
            "gameday recover: the run died; {} rollback(s) without a result",
            todo.len()
        ),
    });
    r.emit(Event::CtkStricter {
        what:
            "gameday recover runs the rollbacks a run that died did not (chaos run has no recover)"
                .into(),
    });
    if !ended.is_empty() {
        let list: Vec<String> = ended.iter().map(|(p, n)| format!("{p} ({n})")).collect();
        r.emit(Event::CtkStricter {
            what: format!(
                "gameday recover ended what the run's activities left running, before the rollbacks: {}",
                list.join(", ")
            ),
        });
    }
    if !todo.is_empty() {
        r.emit(Event::PhaseStarted {
            phase: Phase::Rollback,
        });
    }
    let (_, _, ran) = r.activities(Phase::Rollback, &todo, false).await;
    r.emit(Event::Verdict {
        verdict: Verdict::ManualActionNeeded,
        exit_code: Verdict::ManualActionNeeded.exit_code(),
        reason: "the run died; gameday recover ran its remaining rollbacks: check the system"
            .into(),
    });
    r.emit(Event::RunEnded);
    Ok(Recovered {
        ran,
        skipped,
        ended,
        exit_code: exit::MANUAL,
    })
}
