//! The console: a ratatui TUI for the incident commander. One subscriber of the engine's events and
//! one source of its commands. `App` is the state (a fold over events plus what the IC did),
//! `App::update` the only transition, `ui::render` a pure function of `&App`, and `event_loop` the
//! single `select!` that ties terminal, engine, signals and clock together.

pub mod action;
pub mod agenda;
pub mod app;
pub mod event_loop;
pub mod front;
pub mod keys;
pub mod launch;
pub mod picker;
pub mod preflight;
pub mod ui;

#[cfg(test)]
mod tests;

use std::io::IsTerminal;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use tokio::sync::mpsc;

pub use action::{Action, Effect, Role};
pub use app::App;
pub use event_loop::Finished;

use crate::engine::Options;
use crate::scenario::Scenario;
use event_loop::Loop;
use launch::EngineLauncher;
use picker::Picker;

/// The console needs a terminal on both ends; otherwise callers fall back to headless.
pub fn terminal_available() -> bool {
    std::io::stdout().is_terminal() && std::io::stdin().is_terminal()
}

fn no_color() -> bool {
    std::env::var_os("NO_COLOR").is_some_and(|v| !v.is_empty())
}

/// Runs the console on a terminal and restores the terminal on the way out, whatever happened.
async fn on_terminal(mut app: App, mut lp: Loop<'_>) -> std::io::Result<Finished> {
    app.no_color = no_color();
    lp.signals = crate::signals();
    // ratatui::try_init installs a panic hook that restores the terminal before the message prints.
    let mut terminal = ratatui::try_init()?;
    let input = crossterm::event::EventStream::new();
    let result = lp.run(&mut terminal, &mut app, input).await;
    ratatui::restore();
    result
}

/// The console front end of `gameday run` and `gameday demo`: the console, then the session's
/// conclusion (exit code, recovery of an engine that died, debrief). Returns the exit code.
pub async fn console(scenario: Scenario, journal: Option<PathBuf>, options: Options) -> u8 {
    // Logs go to a file, never the terminal: beside the journal when one is named.
    let log_dir = journal
        .as_deref()
        .and_then(Path::parent)
        .filter(|d| !d.as_os_str().is_empty())
        .map(Path::to_path_buf)
        .unwrap_or_else(|| PathBuf::from("runs"));
    let _ = std::fs::create_dir_all(&log_dir);
    let _log = crate::session::init_logging(&log_dir);
    let open = options.open.clone();
    // The console runs as its own task: if it panics, the engine's task lives on, sees that no one
    // can halt it any more, and rolls every live fault back; this waits for that before exiting.
    conclude(tokio::spawn(run(scenario, journal, options)).await, &open).await
}

/// `gameday run EXPERIMENT` on a terminal: a Chaos Toolkit experiment's run
/// ([`crate::session::start_experiment`]: prepared, journaled, started before the terminal is
/// taken, so what is missing is said plainly with exit 2) on the Run screen, then ended as
/// [`console`] ends a run. The log goes beside the journal.
pub async fn experiment(
    experiment: crate::scenario::ctk::Experiment,
    journal: Option<PathBuf>,
    options: crate::ctk::RunOptions,
) -> u8 {
    let (running, _log) = match crate::session::start_experiment(
        experiment,
        journal,
        options,
        crate::session::init_logging,
    ) {
        Ok(r) => r,
        Err(e) => {
            crate::errln!("gameday: {e}");
            return crate::exit::INVALID;
        }
    };
    let open = crate::target::OpenOptions::default();
    conclude(tokio::spawn(run_started(running)).await, &open).await
}

/// The console on a run that is already under way (its Run screen, the IC's seat).
pub async fn run_started(running: crate::session::Running) -> std::io::Result<Finished> {
    let (app, lp) = started(running);
    on_terminal(app, lp).await
}

/// The state and loop of a console on a run already started (tests drive them on a TestBackend).
pub fn started(running: crate::session::Running) -> (App, Loop<'static>) {
    let app = App::running(chrono::Utc::now(), running.journal.clone());
    let lp = Loop {
        launcher: None,
        signals: mpsc::channel(1).1,
        journal: None,
        seat: None,
        running: Some(running),
    };
    (app, lp)
}

/// `gameday` with no arguments on a terminal: the console on the scenario picker (`scenarios/`
/// and its templates), then the run chosen, ended as [`console`] ends it.
pub async fn console_picker(options: Options) -> u8 {
    let log_dir = PathBuf::from("runs");
    let _ = std::fs::create_dir_all(&log_dir);
    let _log = crate::session::init_logging(&log_dir);
    let open = options.open.clone();
    conclude(tokio::spawn(pick(options)).await, &open).await
}

/// The picker, then preflight and the run of the scenario chosen.
pub async fn pick(options: Options) -> std::io::Result<Finished> {
    let app = App::picker(
        chrono::Utc::now(),
        Picker::scan(Path::new("scenarios"), &[]),
    );
    let mut launcher = EngineLauncher {
        journal: None,
        options,
    };
    let lp = Loop {
        launcher: Some(&mut launcher),
        signals: mpsc::channel(1).1,
        journal: None,
        seat: None,
        running: None,
    };
    on_terminal(app, lp).await
}

/// How the console's task ended → the exit code, after the session's conclusion.
async fn conclude(
    joined: Result<std::io::Result<Finished>, tokio::task::JoinError>,
    open: &crate::target::OpenOptions,
) -> u8 {
    let console = match joined {
        Ok(result) => result,
        Err(crashed) => {
            crate::errln!(
                "gameday: the console crashed ({crashed}); the engine is rolling back every live fault…"
            );
            let done = crate::engine::wait_for_runs(std::time::Duration::from_secs(600)).await;
            crate::errln!(
                "gameday: {}; check the journal and debrief under runs/ (gameday recover JOURNAL if anything is not VERIFIED)",
                if done {
                    "the run ended"
                } else {
                    "the run did not end within 10 minutes"
                }
            );
            return crate::exit::MANUAL;
        }
    };
    let done = match console {
        Ok(done) => done,
        Err(e) => {
            crate::errln!("gameday: the console failed: {e}");
            return crate::exit::ABORTED;
        }
    };
    let Some(path) = done.journal else {
        for n in &done.late_notes {
            crate::errln!(
                "gameday: note not journaled (no run): [{}] {}",
                n.role,
                n.text
            );
        }
        return crate::exit::HELD; // Nothing was started.
    };
    journal_late_notes(&path, &done.late_notes, true);
    let code = match done.outcome {
        Some(ended) => crate::session::conclude(&path, ended, open).await,
        None => {
            crate::session::debrief(&path, None);
            crate::exit::ABORTED
        }
    };
    // The terminal is restored by now: the last thing the shell shows is how the run ended.
    if let Ok((run, _)) = crate::fold::RunState::from_journal(&path) {
        crate::outln!("gameday: {}", summary(&run, &path));
    }
    crate::outln!("gameday: journal {}", path.display());
    code
}

/// Notes saved after the engine stopped: appended to the journal once the engine has let go of it
/// (before the debrief is written, so they are in it). Returns those it could not journal; with
/// `last_chance` they are printed on stderr instead.
pub(crate) fn journal_late_notes(
    journal: &Path,
    notes: &[app::LateNote],
    last_chance: bool,
) -> Vec<app::LateNote> {
    if notes.is_empty() {
        return vec![];
    }
    let writer = crate::journal::JournalWriter::append_to(journal).map(|mut w| {
        if let Ok((run, _)) = crate::fold::RunState::from_journal(journal)
            && let Some(s) = &run.scenario
        {
            w.redact(crate::metric::secret_values(s));
        }
        w
    });
    let mut writer = match writer {
        Ok(w) => Some(w),
        Err(e) => {
            tracing::warn!(error = %e, "cannot journal the notes written after the run ended");
            None
        }
    };
    let mut left = Vec::new();
    for n in notes {
        let event = match n.edits {
            Some(seq) => crate::event::Event::NoteEdited {
                edits: seq,
                role: n.role.clone(),
                text: n.text.clone(),
                kind: n.kind,
                owner: n.owner.clone(),
                due: n.due.clone(),
            },
            None => crate::event::Event::Note {
                role: n.role.clone(),
                text: n.text.clone(),
                action: n.kind == crate::event::NoteKind::ActionItem,
                kind: Some(n.kind),
                owner: n.owner.clone(),
                due: n.due.clone(),
                metrics: Default::default(),
                faults: vec![],
            },
        };
        let ok = writer
            .as_mut()
            .is_some_and(|w| w.append(chrono::Utc::now(), event).is_ok());
        if !ok {
            if last_chance {
                let what = if n.edits.is_some() {
                    "note edit"
                } else {
                    "note"
                };
                crate::errln!("gameday: {what} not journaled: [{}] {}", n.role, n.text);
            }
            left.push(n.clone());
        }
    }
    left
}

/// The line printed after the console closes: the verdict and what became of every fault.
pub fn summary(run: &crate::fold::RunState, journal: &Path) -> String {
    use crate::fold::FaultState;
    let verdict = run
        .verdict
        .as_ref()
        .map(|v| v.verdict.label())
        .unwrap_or("NO VERDICT");
    let went_in: Vec<_> = run
        .faults
        .iter()
        .filter(|f| f.state != FaultState::NotInjected && (f.injected.is_some() || f.unresolved()))
        .collect();
    if run.is_ctk() {
        // A Chaos Toolkit run has no faults: say what became of its rollbacks.
        let tail = match run.ctk_rollbacks() {
            (0, _) => "no rollback ran".to_string(),
            (n, 0) => format!("{n} rollback(s) ran, all confirmed"),
            (n, u) => format!("{u} of {n} rollback(s) NOT confirmed: check the system by hand"),
        };
        return format!("{verdict}: {tail}");
    }
    let unresolved = run.unresolved().count();
    let n = went_in.len();
    let faults = if n == 1 { "fault" } else { "faults" };
    let tail = if n == 0 && unresolved == 0 {
        "no fault was injected, nothing to roll back".to_string()
    } else if unresolved == 0 {
        format!("{n} {faults} rolled back, all verified")
    } else {
        format!(
            "{unresolved} of {n} {faults} NOT verified rolled back: run `gameday recover {}`",
            journal.display()
        )
    };
    format!("{verdict}: {tail}")
}

/// `gameday run FILE` and `gameday demo`: preflight for one scenario, then the run.
pub async fn run(
    scenario: Scenario,
    journal: Option<PathBuf>,
    options: Options,
) -> std::io::Result<Finished> {
    let scenario = Arc::new(scenario);
    let picker = Picker::scan(Path::new("scenarios"), std::slice::from_ref(&scenario.file));
    let app = App::preflight(chrono::Utc::now(), picker, scenario);
    let mut launcher = EngineLauncher { journal, options };
    let lp = Loop {
        launcher: Some(&mut launcher),
        signals: mpsc::channel(1).1,
        journal: None,
        seat: None,
        running: None,
    };
    on_terminal(app, lp).await
}

/// `gameday replay JOURNAL`: [`replay`] with its messages and exit code (2 without a terminal:
/// `gameday report` is the way then).
pub async fn replay_command(journal: &Path) -> u8 {
    if !terminal_available() {
        crate::errln!(
            "gameday: replay needs a terminal; `gameday report` writes the debrief instead"
        );
        return crate::exit::INVALID;
    }
    match replay(journal).await {
        Ok(_) => crate::exit::HELD,
        Err(e) => {
            crate::errln!("gameday: replay {}: {e}", journal.display());
            crate::exit::INVALID
        }
    }
}

/// `gameday replay JOURNAL`: the Run screen on a finished journal, with a time slider. The journal
/// is streamed (never written) into a compact [`crate::fold::log::RunLog`]; a torn last line is
/// left out.
pub async fn replay(journal: &Path) -> Result<Finished, String> {
    let app = replay_app(journal)?;
    let lp = Loop {
        launcher: None,
        signals: mpsc::channel(1).1,
        journal: Some(journal.to_path_buf()),
        seat: None,
        running: None,
    };
    on_terminal(app, lp).await.map_err(|e| e.to_string())
}

/// The console state `gameday replay` opens on: the journal streamed into a compact log and folded
/// to its end. Reads only.
pub fn replay_app(journal: &Path) -> Result<App, String> {
    let (log, _) = crate::fold::log::RunLog::from_journal(journal).map_err(|e| e.to_string())?;
    Ok(App::replay_log(log))
}

/// `gameday join RUN --role R`: the console of a live run, joined as a second seat through the
/// run's seat socket. Its screen is the run folded from the journal; its notes, milestones and
/// (when granted) halt go over the socket, tagged with the seat. Leaving changes nothing in the
/// run. Exit 0, or 2 when the run refused the seat or could not be reached.
pub async fn join(run: &Path, role: &str, name: Option<&str>, can_halt: bool) -> u8 {
    if !terminal_available() {
        crate::errln!(
            "gameday: join needs a terminal for its console; --note, --milestone or --halt send one thing without one"
        );
        return crate::exit::INVALID;
    }
    match joined_console(run, role, name, can_halt).await {
        Ok(()) => crate::exit::HELD,
        Err(e) => {
            crate::errln!("gameday: join {}: {e}", run.display());
            crate::exit::INVALID
        }
    }
}

/// The joined console: hello, then the loop on the terminal with the socket as its command sink.
async fn joined_console(
    run: &Path,
    role: &str,
    name: Option<&str>,
    can_halt: bool,
) -> Result<(), String> {
    let client =
        crate::seat::SeatClient::join(&crate::seat::socket_of(run)?, role, name, can_halt).await?;
    let (app, lp) = joined(client)?;
    let done = on_terminal(app, lp).await.map_err(|e| e.to_string())?;
    // A note still being typed when the seat left (Ctrl-C, a signal) was not sent: say so.
    for n in &done.late_notes {
        crate::errln!(
            "gameday: join: not sent (the seat left while it was being typed): [{}] {}",
            n.kind.label(),
            n.text
        );
    }
    Ok(())
}

/// The state and loop of a console joined through `client` (tests drive them on a TestBackend).
pub fn joined(client: crate::seat::SeatClient) -> Result<(App, Loop<'static>), String> {
    let seat = app::SeatView {
        tag: client.tag.clone(),
        may: client.may.clone(),
    };
    let journal = client.journal.clone();
    let app = App::joined(chrono::Utc::now(), seat, journal.clone());
    let lp = Loop {
        launcher: None,
        signals: mpsc::channel(1).1,
        journal: Some(journal),
        seat: Some(client.link()?),
        running: None,
    };
    Ok((app, lp))
}
