//! A game day's agenda as one state that both front ends of `gameday day` drive: the headless
//! runner (items back to back) and the agenda screen (`tui::agenda`). This is the one place that
//! decides what is next and when, the stop rules, breaks, skips and postponements, and it writes
//! every decision to the day journal (`day.jsonl`, `report::day`).
//!
//! Time is passed in (`now`, in the plan's local clock: the machine's UTC offset when the day
//! started), never read here, so the screen can drive it from tokio's clock and tests from a
//! fixed one.

use std::path::{Path, PathBuf};
use std::time::Duration;

use chrono::{DateTime, FixedOffset, NaiveTime, TimeDelta, Utc};

use crate::exit;
use crate::report::day::{DayEvent, DayJournal, write_day_debrief};
use crate::scenario::limits::{MAX_POSTPONE, POSTPONE_STEP};
use crate::scenario::plan::{Plan, What};

/// Where an agenda item stands.
#[derive(Debug, Clone, PartialEq)]
pub enum Status {
    Pending,
    /// A scenario running, or a break until its end.
    Running {
        until: Option<DateTime<FixedOffset>>,
    },
    /// A scenario ran to an exit code.
    Ran(Ran),
    /// A break was taken.
    Taken,
    Skipped {
        why: String,
    },
}

/// What one scenario run did, from its journal's fold.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Ran {
    pub exit_code: u8,
    pub verdict: Option<String>,
    /// The run's journal, relative to the day directory.
    pub journal: Option<PathBuf>,
    pub time_to_detect_ms: Option<u64>,
    pub time_to_mitigate_ms: Option<u64>,
    pub time_to_recover_ms: Option<u64>,
}

impl Ran {
    /// The verdict and key times of the run journaled at `journal` (relative to `dir`).
    pub fn of(dir: &Path, journal: Option<PathBuf>, exit_code: u8) -> Ran {
        let mut ran = Ran {
            exit_code,
            journal,
            ..Ran::default()
        };
        if let Some(j) = &ran.journal
            && let Ok((run, _)) = crate::fold::RunState::from_journal(&dir.join(j))
        {
            let s = crate::report::summary::Summary::of(&run);
            ran.verdict = run.verdict.map(|v| v.verdict.label().to_string());
            ran.time_to_detect_ms = s.time_to_detect_ms;
            ran.time_to_mitigate_ms = s.time_to_mitigate_ms;
            ran.time_to_recover_ms = s.time_to_recover_ms;
        }
        ran
    }
}

/// One agenda item's state.
#[derive(Debug, Clone, PartialEq)]
pub struct Slot {
    pub status: Status,
    /// When it starts by itself: its `at:` time (plus postponements), a break right after the
    /// item before it, or a postponed item; none: it waits for a person (or runs next headless).
    pub due: Option<DateTime<FixedOffset>>,
    /// Postponed so far (at most `MAX_POSTPONE`).
    pub postponed: Duration,
    pub started: Option<DateTime<FixedOffset>>,
    pub ended: Option<DateTime<FixedOffset>>,
    /// A scenario's run journal, relative to the day directory, once it started.
    pub journal: Option<PathBuf>,
}

/// What the clock says the front end should do now.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Due {
    /// Item `i` is due: start it.
    Start(usize),
    /// The break at `i` is over.
    BreakOver(usize),
}

/// The agenda of one day.
pub struct Agenda {
    pub plan: Plan,
    pub dir: PathBuf,
    pub slots: Vec<Slot>,
    /// The worst exit code so far.
    pub code: u8,
    /// Why no further item will start, once something stopped the day.
    pub stop: Option<String>,
    pub offset: FixedOffset,
    journal: DayJournal,
}

/// The worse of two exit codes: a person must look (3) > did not hold (1) > invalid (2) > held.
pub fn worse(a: u8, b: u8) -> u8 {
    let rank = |c: u8| match c {
        exit::MANUAL => 3,
        exit::ABORTED => 2,
        exit::INVALID => 1,
        _ => 0,
    };
    if rank(b) > rank(a) { b } else { a }
}

/// `UTC+01:00`: how the screen names the plan's clock.
pub fn zone_label(offset: FixedOffset) -> String {
    let secs = offset.local_minus_utc();
    let sign = if secs < 0 { '-' } else { '+' };
    let m = secs.unsigned_abs() / 60;
    format!("UTC{sign}{:02}:{:02}", m / 60, m % 60)
}

fn plus(t: DateTime<FixedOffset>, d: Duration) -> Option<DateTime<FixedOffset>> {
    t.checked_add_signed(TimeDelta::from_std(d).ok()?)
}

impl Agenda {
    /// Opens the day journal in `dir` and records the day's start. `now` sets the local clock
    /// (its offset) and the date `at:` times fall on when the plan has none.
    pub fn start(
        plan: Plan,
        dir: &Path,
        headless: bool,
        now: DateTime<FixedOffset>,
    ) -> std::io::Result<Agenda> {
        let journal = DayJournal::create(dir)?;
        let offset = *now.offset();
        let date = plan
            .date
            .as_deref()
            .and_then(|d| chrono::NaiveDate::parse_from_str(d, "%Y-%m-%d").ok())
            .unwrap_or_else(|| now.date_naive());
        let slots = plan
            .agenda
            .iter()
            .map(|item| Slot {
                status: Status::Pending,
                due: item
                    .at
                    .as_deref()
                    .and_then(|at| NaiveTime::parse_from_str(at, "%H:%M").ok())
                    .and_then(|t| date.and_time(t).and_local_timezone(offset).single()),
                postponed: Duration::ZERO,
                started: None,
                ended: None,
                journal: None,
            })
            .collect();
        let mut agenda = Agenda {
            plan,
            dir: dir.to_path_buf(),
            slots,
            code: exit::HELD,
            stop: None,
            offset,
            journal,
        };
        agenda.note(DayEvent::DayStarted {
            title: agenda.plan.title.clone(),
            plan: agenda.plan.file.clone(),
            date: agenda.plan.date.clone(),
            items: agenda.plan.agenda.iter().map(|i| i.label()).collect(),
            headless,
        });
        Ok(agenda)
    }

    fn note(&mut self, e: DayEvent) {
        if let Err(err) = self.journal.append(e) {
            tracing::warn!(error = %err, "day journal write failed");
            crate::errln!("gameday: day journal: {err}");
        }
    }

    pub fn label(&self, i: usize) -> String {
        self.plan
            .agenda
            .get(i)
            .map(|x| x.label())
            .unwrap_or_default()
    }

    pub fn is_break(&self, i: usize) -> bool {
        matches!(
            self.plan.agenda.get(i).map(|x| &x.what),
            Some(What::Break { .. })
        )
    }

    /// The next item to start: the first pending one, unless the day was stopped.
    pub fn next(&self) -> Option<usize> {
        if self.stop.is_some() {
            return None;
        }
        self.slots.iter().position(|s| s.status == Status::Pending)
    }

    /// An item running (a scenario or a break).
    pub fn running(&self) -> Option<usize> {
        self.slots
            .iter()
            .position(|s| matches!(s.status, Status::Running { .. }))
    }

    /// True once nothing is running and nothing more will start.
    pub fn over(&self) -> bool {
        self.running().is_none() && self.next().is_none()
    }

    /// Stops the day: no further item starts (the one running, if any, ends first).
    pub fn stop_with(&mut self, why: impl Into<String>) {
        if self.stop.is_none() {
            self.stop = Some(why.into());
        }
    }

    /// What is due at `now`: a running break that is over, or the next item whose time came.
    pub fn due(&self, now: DateTime<FixedOffset>) -> Option<Due> {
        if let Some(i) = self.running() {
            return match self.slots[i].status {
                Status::Running { until: Some(u) } if u <= now => Some(Due::BreakOver(i)),
                _ => None,
            };
        }
        let i = self.next()?;
        self.slots[i]
            .due
            .filter(|d| *d <= now)
            .map(|_| Due::Start(i))
    }

    /// A person skips item `i` (pending only).
    pub fn skip(&mut self, i: usize, who: Option<String>, why: String) -> Result<(), String> {
        if self.slots.get(i).map(|s| &s.status) != Some(&Status::Pending) {
            return Err("only an item not started yet can be skipped".into());
        }
        self.skipped(i, who, why);
        Ok(())
    }

    /// Item `i` is skipped (`who` skipped it, or nobody: it could not start), journaled.
    fn skipped(&mut self, i: usize, who: Option<String>, why: String) {
        self.slots[i].status = Status::Skipped { why: why.clone() };
        let label = self.label(i);
        self.note(DayEvent::ItemSkipped {
            index: i,
            label,
            why,
            who,
        });
    }

    /// A person moves item `i` (pending only) `POSTPONE_STEP` later: from its time, or from now
    /// when it had none; refused past `MAX_POSTPONE` in all.
    pub fn postpone(
        &mut self,
        i: usize,
        who: Option<String>,
        now: DateTime<FixedOffset>,
    ) -> Result<DateTime<FixedOffset>, String> {
        let Some(slot) = self.slots.get(i).filter(|s| s.status == Status::Pending) else {
            return Err("only an item not started yet can be postponed".into());
        };
        let total = slot.postponed.saturating_add(POSTPONE_STEP);
        if total > MAX_POSTPONE {
            return Err(format!(
                "already postponed {}: at most {} in all (skip it instead)",
                crate::fmt::duration(slot.postponed),
                crate::fmt::duration(MAX_POSTPONE)
            ));
        }
        let from = slot.due.map_or(now, |d| d.max(now));
        let until = plus(from, POSTPONE_STEP).ok_or("that time is out of range")?;
        let slot = &mut self.slots[i];
        slot.postponed = total;
        slot.due = Some(until);
        let label = self.label(i);
        self.note(DayEvent::ItemPostponed {
            index: i,
            label,
            by_ms: u64::try_from(POSTPONE_STEP.as_millis()).unwrap_or(u64::MAX),
            until: Some(until.with_timezone(&Utc)),
            who,
        });
        Ok(until)
    }

    /// The run journal of item `i`, relative to the day directory: `NN-<slug>/journal.jsonl`.
    pub fn journal_of(i: usize, slug: &str) -> PathBuf {
        PathBuf::from(format!("{:02}-{slug}", i + 1)).join("journal.jsonl")
    }

    /// Item `i` starts: a scenario with its run journal, or a break until its end.
    pub fn begin(&mut self, i: usize, journal: Option<PathBuf>, now: DateTime<FixedOffset>) {
        let until = match self.plan.agenda.get(i).map(|x| &x.what) {
            Some(What::Break { duration }) => plus(now, *duration),
            _ => None,
        };
        let Some(slot) = self.slots.get_mut(i) else {
            return;
        };
        slot.status = Status::Running { until };
        slot.started = Some(now);
        slot.journal = journal.clone();
        let label = self.label(i);
        self.note(DayEvent::ItemStarted {
            index: i,
            label,
            journal,
        });
    }

    /// A break ends (its time is over, or a person ended it early).
    pub fn break_over(&mut self, i: usize, now: DateTime<FixedOffset>) {
        if !self.is_break(i) {
            return;
        }
        self.slots[i].status = Status::Taken;
        self.slots[i].ended = Some(now);
        let label = self.label(i);
        self.note(DayEvent::ItemEnded {
            index: i,
            label,
            exit_code: exit::HELD,
            verdict: None,
            journal: None,
        });
        self.follow_on(i, now);
    }

    /// A break right after item `i` starts by itself.
    fn follow_on(&mut self, i: usize, now: DateTime<FixedOffset>) {
        let n = i + 1;
        if self.is_break(n)
            && let Some(s) = self.slots.get_mut(n)
            && s.due.is_none()
        {
            s.due = Some(now);
        }
    }

    /// Headless: a break is not waited for, and the day journal says so.
    pub fn pass_break(&mut self, i: usize) {
        self.slots[i].status = Status::Skipped {
            why: "headless: breaks are not waited for".into(),
        };
        let label = self.label(i);
        self.note(DayEvent::ItemSkipped {
            index: i,
            label,
            why: "headless: breaks are not waited for".into(),
            who: None,
        });
    }

    /// Item `i` could not start (`why`, with its exit code): journaled as skipped; the day stops
    /// unless the plan says `continue_on_failure`.
    pub fn refuse(&mut self, i: usize, why: String, code: u8, stop: String) {
        self.skipped(i, None, why);
        self.code = worse(self.code, code);
        if !self.plan.continue_on_failure {
            self.stop_with(stop);
        }
    }

    /// Scenario item `i` ended with `exit_code`: journaled with its verdict, then the stop rules:
    /// a signal and exit 3 always stop the day; a run that did not hold stops it unless the plan
    /// says `continue_on_failure`.
    pub fn end(&mut self, i: usize, exit_code: u8, now: DateTime<FixedOffset>) {
        let journal = self.slots.get(i).and_then(|s| s.journal.clone());
        let ran = Ran::of(&self.dir, journal.clone(), exit_code);
        let label = self.label(i);
        self.note(DayEvent::ItemEnded {
            index: i,
            label,
            exit_code,
            verdict: ran.verdict.clone(),
            journal,
        });
        if let Some(s) = self.slots.get_mut(i) {
            s.status = Status::Ran(ran);
            s.ended = Some(now);
        }
        self.code = worse(self.code, exit_code);
        let n = i + 1;
        if let Some(sig) = crate::signal_received() {
            self.stop_with(format!("{sig} during agenda item {n}"));
        } else if exit_code == exit::MANUAL {
            // A fault may still be out there: no more faults today until a person has looked.
            self.stop_with(format!("agenda item {n} needs a person to look (exit 3)"));
        } else if exit_code != exit::HELD && !self.plan.continue_on_failure {
            self.stop_with(format!(
                "agenda item {n} did not hold (exit {exit_code}) and the plan does not say continue_on_failure"
            ));
        }
        self.follow_on(i, now);
    }

    /// Scenario item `i` was opened in the console but its run never started (closed at
    /// preflight): journaled as ended with no journal and no verdict, and pending again.
    pub fn not_started(&mut self, i: usize, exit_code: u8, now: DateTime<FixedOffset>) {
        let label = self.label(i);
        self.note(DayEvent::ItemEnded {
            index: i,
            label,
            exit_code,
            verdict: None,
            journal: None,
        });
        if let Some(s) = self.slots.get_mut(i) {
            s.status = Status::Pending;
            s.due = None;
            s.started = None;
            s.journal = None;
            s.ended = Some(now);
        }
    }

    /// Ends the day: every item not run is journaled as skipped with why the day stopped, then
    /// the day's end and the day debrief. Returns the day's exit code: the worst of its runs',
    /// and at least 1 when a signal stopped it.
    pub fn finish(mut self) -> u8 {
        let why = self
            .stop
            .clone()
            .unwrap_or_else(|| "every agenda item was run".into());
        for i in 0..self.slots.len() {
            if self.slots[i].status == Status::Pending {
                self.slots[i].status = Status::Skipped { why: why.clone() };
                let label = self.label(i);
                self.note(DayEvent::ItemSkipped {
                    index: i,
                    label,
                    why: why.clone(),
                    who: None,
                });
            }
        }
        if crate::signal_received().is_some() {
            // Stopped by a signal: never "held", even when nothing had run yet.
            self.code = worse(self.code, exit::ABORTED);
        }
        let code = self.code;
        self.note(DayEvent::DayEnded {
            exit_code: code,
            why: why.clone(),
        });
        match write_day_debrief(&self.dir) {
            Ok(p) => crate::outln!("gameday: day debrief written to {}", p.display()),
            Err(e) => crate::errln!(
                "gameday: cannot write the day debrief in {}: {e}",
                self.dir.display()
            ),
        }
        crate::outln!("gameday: the day ended ({why}): exit {code}");
        code
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use crate::report::day::{DayRecord, read_day};
    use crate::scenario::plan::Item;

    /// 2026-12-04 at `hh:mm:ss`, UTC+01:00.
    pub fn at(h: u32, m: u32, s: u32) -> DateTime<FixedOffset> {
        chrono::NaiveDate::from_ymd_opt(2026, 12, 4)
            .and_then(|d| d.and_hms_opt(h, m, s))
            .and_then(|t| {
                t.and_local_timezone(FixedOffset::east_opt(3600).expect("offset"))
                    .single()
            })
            .expect("a time")
    }

    fn demo(at: Option<&str>, name: &str) -> Item {
        Item {
            at: at.map(str::to_string),
            what: What::Demo { name: name.into() },
        }
    }

    /// The demo day: demo-latency at 10:00, a 10m break, demo-error-storm at 10:30, then
    /// demo-process-kill after it.
    pub fn plan(continue_on_failure: bool) -> Plan {
        Plan {
            file: "gamedays/demo-day.yaml".into(),
            title: "Demo game day".into(),
            date: Some("2026-12-04".into()),
            roles: [
                ("incident_commander".to_string(), vec!["Dana".to_string()]),
                ("scribe".to_string(), vec!["Lee".to_string()]),
            ]
            .into_iter()
            .collect(),
            continue_on_failure,
            agenda: vec![
                demo(Some("10:00"), "demo-latency"),
                Item {
                    at: None,
                    what: What::Break {
                        duration: Duration::from_secs(600),
                    },
                },
                demo(Some("10:30"), "demo-error-storm"),
                demo(None, "demo-process-kill"),
            ],
        }
    }

    fn types(records: &[DayRecord]) -> Vec<String> {
        records
            .iter()
            .map(|r| {
                serde_json::to_value(&r.event).expect("json")["type"]
                    .as_str()
                    .unwrap_or_default()
                    .to_string()
            })
            .collect()
    }

    #[test]
    fn at_times_fall_on_the_plans_date_in_the_local_clock() {
        let dir = tempfile::tempdir().expect("tmp");
        let a = Agenda::start(plan(false), dir.path(), false, at(9, 0, 0)).expect("start");
        assert_eq!(a.slots[0].due, Some(at(10, 0, 0)));
        assert_eq!(a.slots[1].due, None, "a break follows the item before it");
        assert_eq!(a.slots[2].due, Some(at(10, 30, 0)));
        assert_eq!(zone_label(a.offset), "UTC+01:00");
        assert_eq!(a.due(at(9, 59, 59)), None);
        assert_eq!(a.due(at(10, 0, 0)), Some(Due::Start(0)));
        assert_eq!(
            zone_label(FixedOffset::west_opt(5 * 3600 + 1800).expect("offset")),
            "UTC-05:30"
        );
    }

    #[test]
    fn a_break_starts_after_the_item_before_it_and_ends_on_time() {
        let dir = tempfile::tempdir().expect("tmp");
        let mut a = Agenda::start(plan(false), dir.path(), false, at(9, 0, 0)).expect("start");
        a.begin(0, Some(Agenda::journal_of(0, "x")), at(10, 0, 0));
        assert_eq!(
            a.due(at(10, 30, 0)),
            None,
            "nothing is due while a scenario runs"
        );
        a.end(0, exit::HELD, at(10, 5, 0));
        assert_eq!(a.due(at(10, 5, 0)), Some(Due::Start(1)));
        a.begin(1, None, at(10, 5, 0));
        assert_eq!(a.due(at(10, 14, 59)), None);
        assert_eq!(a.due(at(10, 15, 0)), Some(Due::BreakOver(1)));
        a.break_over(1, at(10, 15, 0));
        assert_eq!(a.slots[1].status, Status::Taken);
        assert_eq!(a.next(), Some(2));
        assert_eq!(a.due(at(10, 29, 0)), None);
        assert_eq!(a.due(at(10, 30, 0)), Some(Due::Start(2)));
        let records = read_day(dir.path()).expect("day journal");
        assert_eq!(
            types(&records),
            [
                "day_started",
                "item_started",
                "item_ended",
                "item_started",
                "item_ended"
            ]
        );
    }

    #[test]
    fn a_run_that_did_not_hold_stops_the_day_unless_the_plan_says_continue() {
        let dir = tempfile::tempdir().expect("tmp");
        let mut a = Agenda::start(plan(false), dir.path(), true, at(9, 0, 0)).expect("start");
        a.begin(0, None, at(9, 0, 0));
        a.end(0, exit::ABORTED, at(9, 1, 0));
        assert_eq!(a.next(), None);
        assert!(
            a.stop
                .as_deref()
                .is_some_and(|s| s.contains("continue_on_failure"))
        );
        assert_eq!(a.code, exit::ABORTED);

        let dir = tempfile::tempdir().expect("tmp");
        let mut a = Agenda::start(plan(true), dir.path(), true, at(9, 0, 0)).expect("start");
        a.begin(0, None, at(9, 0, 0));
        a.end(0, exit::ABORTED, at(9, 1, 0));
        assert_eq!(a.next(), Some(1), "continue_on_failure goes on");
        a.pass_break(1);
        a.begin(2, None, at(9, 2, 0));
        a.end(2, exit::MANUAL, at(9, 3, 0));
        assert_eq!(a.next(), None, "exit 3 stops the day always");
        assert_eq!(a.code, exit::MANUAL);
        assert_eq!(a.finish(), exit::MANUAL);
        let records = read_day(dir.path()).expect("day journal");
        let last = records.last().expect("records");
        assert!(
            matches!(&last.event, DayEvent::DayEnded { exit_code: 3, why } if why.contains("needs a person")),
            "{last:?}"
        );
        assert!(
            matches!(&records[records.len() - 2].event, DayEvent::ItemSkipped { index: 3, why, .. } if why.contains("needs a person")),
            "the item not run is journaled with why: {records:#?}"
        );
        assert!(dir.path().join(crate::report::day::DAY_DEBRIEF).is_file());
    }

    #[test]
    fn postponing_is_bounded_and_journaled_with_who() {
        let dir = tempfile::tempdir().expect("tmp");
        let mut a = Agenda::start(plan(false), dir.path(), false, at(9, 0, 0)).expect("start");
        let now = at(9, 0, 0);
        assert_eq!(
            a.postpone(0, Some("Dana".into()), now),
            Ok(at(10, 5, 0)),
            "from its time"
        );
        assert_eq!(
            a.postpone(3, Some("Dana".into()), now),
            Ok(at(9, 5, 0)),
            "from now when it had no time"
        );
        let presses = (MAX_POSTPONE.as_secs() / POSTPONE_STEP.as_secs()) as usize;
        for _ in 1..presses {
            a.postpone(0, None, now).expect("within the bound");
        }
        assert_eq!(a.slots[0].postponed, MAX_POSTPONE);
        assert_eq!(a.slots[0].due, Some(at(14, 0, 0)));
        let refused = a.postpone(0, None, now).expect_err("past the bound");
        assert!(refused.contains("at most 4h"), "{refused}");
        assert_eq!(
            a.slots[0].due,
            Some(at(14, 0, 0)),
            "a refusal changes nothing"
        );
        a.begin(3, None, now);
        assert!(a.postpone(3, None, now).is_err(), "not once it started");
        // Closed at preflight: pending again, waiting for a person.
        a.not_started(3, exit::HELD, now);
        assert_eq!(a.slots[3].status, Status::Pending);
        assert_eq!(a.slots[3].due, None);
        assert!(a.postpone(3, None, now).is_ok());
        let records = read_day(dir.path()).expect("day journal");
        let postponed: Vec<_> = records
            .iter()
            .filter_map(|r| match &r.event {
                DayEvent::ItemPostponed {
                    index,
                    by_ms,
                    who,
                    until,
                    ..
                } => Some((*index, *by_ms, who.clone(), *until)),
                _ => None,
            })
            .collect();
        assert_eq!(postponed.len(), presses + 2);
        assert_eq!(
            postponed[0],
            (
                0,
                300_000,
                Some("Dana".into()),
                Some(at(10, 5, 0).with_timezone(&Utc))
            )
        );
    }

    #[test]
    fn a_skip_is_journaled_with_who_and_why_and_only_before_the_start() {
        let dir = tempfile::tempdir().expect("tmp");
        let mut a = Agenda::start(plan(false), dir.path(), false, at(9, 0, 0)).expect("start");
        a.skip(2, Some("Dana".into()), "the storage team is out".into())
            .expect("skip");
        assert!(a.skip(2, None, "again".into()).is_err());
        a.begin(0, None, at(10, 0, 0));
        assert!(a.skip(0, None, "too late".into()).is_err());
        let records = read_day(dir.path()).expect("day journal");
        assert!(records.iter().any(|r| r.event
            == DayEvent::ItemSkipped {
                index: 2,
                label: "demo demo-error-storm".into(),
                why: "the storage team is out".into(),
                who: Some("Dana".into()),
            }));
        assert_eq!(worse(exit::INVALID, exit::ABORTED), exit::ABORTED);
        assert_eq!(worse(exit::MANUAL, exit::ABORTED), exit::MANUAL);
    }
}
