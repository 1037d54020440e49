//! `gameday day PLAN --headless`: a game day's agenda, run in order. Each scenario (or built-in demo)
//! runs through the same session and engine as `gameday run`, with its own journal under one day
//! directory; the day journal (`day.jsonl`) records the agenda's progress; at the end the day
//! debrief is written from the journals alone (`report::day`).
//!
//! Headless, the agenda runs back to back: planned times (`at:`) and breaks are not waited for (a
//! CI job has no one to take a break), and the day journal says so. On a terminal the agenda
//! screen (`tui::agenda`) waits for times and breaks and starts each scenario in the console of
//! `gameday run`. Both drive one `agenda::Agenda`, which decides what is next and the stop rules:
//! a scenario that does not hold stops the day unless the plan says `continue_on_failure: true`; a
//! signal or exit 3 stops it always.

use std::path::{Path, PathBuf};

use chrono::{DateTime, FixedOffset};

use crate::agenda::Agenda;
use crate::engine::Options;
use crate::exit;
use crate::lab::demo::Demo;
use crate::scenario::Scenario;
use crate::scenario::plan::{Plan, What};

/// The names `demo:` may give in a plan.
pub fn demo_names() -> Vec<&'static str> {
    crate::lab::demo::SCENARIOS
        .iter()
        .map(|(n, _)| *n)
        .collect()
}

/// Where a day's files go by default: `days/<date or today>-<slug>/`.
pub fn default_dir(plan: &Plan) -> PathBuf {
    let date = plan
        .date
        .clone()
        .unwrap_or_else(|| chrono::Utc::now().format("%Y-%m-%d").to_string());
    let slug = crate::scenario::slug(&plan.title);
    PathBuf::from("days").join(format!("{date}-{slug}"))
}

/// The machine's clock, as the plan reads it.
pub fn local_now() -> DateTime<FixedOffset> {
    chrono::Local::now().fixed_offset()
}

/// A scenario item ready to run: its scenario, the options that open its hosts, the demo lab it
/// runs on (kept alive until the run is over) and its journal relative to the day directory.
pub struct Prepared {
    pub scenario: Scenario,
    pub options: Options,
    pub lab: Option<Demo>,
    pub journal: PathBuf,
}

/// Readies scenario item `i` (a file loaded again, a demo's lab started); when it cannot be, the
/// item is journaled as skipped with why, and the agenda's stop rules apply.
pub async fn prepare(agenda: &mut Agenda, i: usize, options: &Options) -> Option<Prepared> {
    let n = i + 1;
    let (scenario, mut opts, lab) = match agenda.plan.agenda.get(i).map(|x| x.what.clone())? {
        What::Break { .. } => return None,
        What::Scenario { path, .. } => match Scenario::load(&path) {
            Ok(s) => (s, options.clone(), None),
            Err(invalid) => {
                // Validated with the plan; changed since.
                crate::errln!("{invalid}");
                agenda.refuse(
                    i,
                    format!("{} is invalid now; nothing was run", path.display()),
                    exit::INVALID,
                    format!("agenda item {n} was invalid"),
                );
                return None;
            }
        },
        What::Demo { name } => match Demo::prepare(&name).await {
            Ok(d) => {
                // As `gameday demo`: the lab's own known_hosts, no user ssh config.
                let mut o = Options {
                    fanout: options.fanout,
                    ..Options::default()
                };
                o.open.ssh.known_hosts = d.lab.known_hosts.clone();
                (d.scenario.clone(), o, Some(d))
            }
            Err(e) => {
                crate::errln!("gameday: {e}");
                agenda.refuse(
                    i,
                    format!("the demo lab did not start: {e}"),
                    exit::INVALID,
                    format!("agenda item {n} could not start"),
                );
                return None;
            }
        },
    };
    opts.fanout = opts.fanout.max(1);
    let journal = Agenda::journal_of(i, &scenario.slug());
    Some(Prepared {
        scenario,
        options: opts,
        lab,
        journal,
    })
}

fn cannot_start(dir: &Path, e: &std::io::Error) -> u8 {
    crate::errln!(
        "gameday: cannot write the day journal in {}: {e}",
        dir.display()
    );
    exit::INVALID
}

/// Runs `plan` headless in `dir`; `options` open the scenarios' hosts (a demo brings its own lab).
pub async fn run_headless(plan: &Plan, dir: &Path, options: Options) -> u8 {
    // Signals between runs too: a Ctrl-C stops the day before the next item, never mid-rollback.
    let _caught = crate::signals();
    let mut agenda = match Agenda::start(plan.clone(), dir, true, local_now()) {
        Ok(a) => a,
        Err(e) => return cannot_start(dir, &e),
    };
    crate::outln!("gameday: day {} in {}", plan.title, dir.display());
    while let Some(i) = agenda.next() {
        if let Some(sig) = crate::signal_received() {
            agenda.stop_with(format!("{sig} before agenda item {}", i + 1));
            break;
        }
        if agenda.is_break(i) {
            agenda.pass_break(i);
            continue;
        }
        let Some(item) = prepare(&mut agenda, i, &options).await else {
            continue;
        };
        agenda.begin(i, Some(item.journal.clone()), local_now());
        crate::outln!("gameday: agenda item {}: {}", i + 1, agenda.label(i));
        let code = crate::session::run_headless(
            item.scenario,
            Some(dir.join(&item.journal)),
            item.options,
        )
        .await;
        drop(item.lab);
        agenda.end(i, code, local_now());
    }
    agenda.finish()
}

/// Runs `plan` on the agenda screen in `dir`: it waits for `at:` times and breaks, and each
/// scenario started runs in the console of `gameday run` (its own journal under `dir`, laid out
/// as headless lays them out); the screen comes back after the console closes. The day stops only
/// between scenarios; at its end the day debrief is written.
pub async fn run_screen(plan: &Plan, dir: &Path, options: Options) -> u8 {
    let mut signals = crate::signals();
    let agenda = match Agenda::start(plan.clone(), dir, false, local_now()) {
        Ok(a) => a,
        Err(e) => return cannot_start(dir, &e),
    };
    let mut app = crate::tui::agenda::AgendaApp::new(agenda, local_now());
    loop {
        let clock = crate::tui::agenda::Clock::new(local_now());
        let leave = match crate::tui::agenda::show(&mut app, &clock, &mut signals).await {
            Ok(l) => l,
            Err(e) => {
                crate::errln!("gameday: the agenda screen failed: {e}");
                app.agenda
                    .stop_with(format!("the agenda screen failed: {e}"));
                break;
            }
        };
        let crate::tui::agenda::Leave::Start(i) = leave else {
            break;
        };
        let Some(item) = prepare(&mut app.agenda, i, &options).await else {
            continue;
        };
        app.agenda.begin(i, Some(item.journal.clone()), local_now());
        let run_journal = dir.join(&item.journal);
        let code =
            crate::tui::console(item.scenario, Some(run_journal.clone()), item.options).await;
        drop(item.lab);
        if run_journal.exists() {
            app.agenda.end(i, code, local_now());
        } else {
            // Closed at preflight: nothing ran; the item waits again.
            app.agenda.not_started(i, code, local_now());
            app.message = Some(format!(
                "{} was not started (the console closed before its run); s starts it",
                app.agenda.label(i)
            ));
        }
    }
    if let Some(i) = app.agenda.running() {
        // Only a break can be running here: the day never leaves a scenario.
        app.agenda.break_over(i, local_now());
    }
    app.agenda.finish()
}
