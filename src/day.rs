//! `gameday day PLAN --headless`: a game day's agenda, run in order. Each scenario (or built-in demo)
//! runs through the same session and engine as `gameday run`, with its own journal under one day
//! directory; the day journal (`day.jsonl`) records the agenda's progress; at the end the day
//! debrief is written from the journals alone (`report::day`).
//!
//! Headless, the agenda runs back to back: planned times (`at:`) and breaks are not waited for (a
//! CI job has no one to take a break), and the day journal says so. A scenario that does not hold
//! stops the day unless the plan says `continue_on_failure: true`; a signal stops it always.

use std::path::{Path, PathBuf};

use crate::engine::Options;
use crate::exit;
use crate::report::day::{DayEvent, DayJournal, write_day_debrief};
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

/// The worse of two exit codes: a person must look (3) > did not hold (1) > invalid (2) > held.
fn worse(a: u8, b: u8) -> u8 {
    let rank = |c: u8| match c {
        exit::MANUAL => 3,
        exit::ABORTED => 2,
        exit::INVALID => 1,
        _ => 0,
    };
    if rank(b) > rank(a) { b } else { a }
}

/// Runs `plan` headless in `dir`; `options` open the scenarios' hosts (a demo brings its own lab).
pub async fn run_headless(plan: &Plan, dir: &Path, options: Options) -> u8 {
    // Signals between runs too: a Ctrl-C stops the day before the next item, never mid-rollback.
    let _caught = crate::signals();
    let mut journal = match DayJournal::create(dir) {
        Ok(j) => j,
        Err(e) => {
            crate::errln!(
                "gameday: cannot write the day journal in {}: {e}",
                dir.display()
            );
            return exit::INVALID;
        }
    };
    let note = |j: &mut DayJournal, e: DayEvent| {
        if let Err(err) = j.append(e) {
            tracing::warn!(error = %err, "day journal write failed");
            crate::errln!("gameday: day journal: {err}");
        }
    };
    note(
        &mut journal,
        DayEvent::DayStarted {
            title: plan.title.clone(),
            plan: plan.file.clone(),
            date: plan.date.clone(),
            items: plan.agenda.iter().map(|i| i.label()).collect(),
            headless: true,
        },
    );
    crate::outln!("gameday: day {} in {}", plan.title, dir.display());
    let mut code = exit::HELD;
    let mut stop: Option<String> = None;
    for (index, item) in plan.agenda.iter().enumerate() {
        let label = item.label();
        if stop.is_none()
            && let Some(sig) = crate::signal_received()
        {
            stop = Some(format!("{sig} before agenda item {}", index + 1));
        }
        if let Some(why) = &stop {
            note(
                &mut journal,
                DayEvent::ItemSkipped {
                    index,
                    label,
                    why: why.clone(),
                },
            );
            continue;
        }
        let (scenario, mut opts, lab) = match &item.what {
            What::Break { .. } => {
                note(
                    &mut journal,
                    DayEvent::ItemSkipped {
                        index,
                        label,
                        why: "headless: breaks are not waited for".into(),
                    },
                );
                continue;
            }
            What::Scenario { path, .. } => match Scenario::load(path) {
                Ok(s) => (s, options.clone(), None),
                Err(invalid) => {
                    // Validated with the plan; changed since.
                    crate::errln!("{invalid}");
                    note(
                        &mut journal,
                        DayEvent::ItemSkipped {
                            index,
                            label,
                            why: format!("{} is invalid now; nothing was run", path.display()),
                        },
                    );
                    code = worse(code, exit::INVALID);
                    if !plan.continue_on_failure {
                        stop = Some(format!("agenda item {} was invalid", index + 1));
                    }
                    continue;
                }
            },
            What::Demo { name } => match crate::lab::demo::Demo::prepare(name).await {
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
                    note(
                        &mut journal,
                        DayEvent::ItemSkipped {
                            index,
                            label,
                            why: format!("the demo lab did not start: {e}"),
                        },
                    );
                    code = worse(code, exit::INVALID);
                    if !plan.continue_on_failure {
                        stop = Some(format!("agenda item {} could not start", index + 1));
                    }
                    continue;
                }
            },
        };
        opts.fanout = opts.fanout.max(1);
        let rel =
            PathBuf::from(format!("{:02}-{}", index + 1, scenario.slug())).join("journal.jsonl");
        let run_journal = dir.join(&rel);
        note(
            &mut journal,
            DayEvent::ItemStarted {
                index,
                label: label.clone(),
                journal: Some(rel.clone()),
            },
        );
        crate::outln!("gameday: agenda item {}: {label}", index + 1);
        let item_code =
            crate::session::run_headless(scenario, Some(run_journal.clone()), opts).await;
        drop(lab);
        let verdict = crate::fold::RunState::from_journal(&run_journal)
            .ok()
            .and_then(|(r, _)| r.verdict.map(|v| v.verdict.label().to_string()));
        note(
            &mut journal,
            DayEvent::ItemEnded {
                index,
                label: label.clone(),
                exit_code: item_code,
                verdict,
                journal: Some(rel),
            },
        );
        code = worse(code, item_code);
        if let Some(sig) = crate::signal_received() {
            stop = Some(format!("{sig} during agenda item {}", index + 1));
        } else if item_code == exit::MANUAL {
            // A fault may still be out there: no more faults today until a person has looked.
            stop = Some(format!(
                "agenda item {} needs a person to look (exit 3)",
                index + 1
            ));
        } else if item_code != exit::HELD && !plan.continue_on_failure {
            stop = Some(format!(
                "agenda item {} did not hold (exit {item_code}) and the plan does not say continue_on_failure",
                index + 1
            ));
        }
    }
    let why = stop.unwrap_or_else(|| "every agenda item was run".into());
    note(
        &mut journal,
        DayEvent::DayEnded {
            exit_code: code,
            why: why.clone(),
        },
    );
    match write_day_debrief(dir) {
        Ok(p) => crate::outln!("gameday: day debrief written to {}", p.display()),
        Err(e) => crate::errln!(
            "gameday: cannot write the day debrief in {}: {e}",
            dir.display()
        ),
    }
    crate::outln!("gameday: the day ended ({why}): exit {code}");
    code
}
