//! The agenda screen of `gameday day PLAN`: the plan's title, date and roles, every agenda item
//! with what it did, what is next and when (a countdown in the plan's local clock), and the keys
//! to start now, skip (asks why), postpone (`limits::POSTPONE_STEP` a press) and end the day
//! (asks). The decisions are `agenda::Agenda`'s (shared with the headless day); this is its state
//! on screen (`AgendaApp`), the key table, `update(Action) -> Option<Leave>` and the loop.
//!
//! The screen is shown only between scenarios: starting one leaves it ([`Leave::Start`]) for the
//! console of `gameday run`, and `day::run_screen` shows it again after that run's verdict. So
//! the day can stop only between scenarios.

use std::io;
use std::time::Duration;

use chrono::{DateTime, FixedOffset, TimeDelta};
use crossterm::event::{Event as TermEvent, KeyCode, KeyEvent, KeyEventKind, KeyModifiers};
use futures_util::{Stream, StreamExt};
use ratatui::Terminal;
use ratatui::backend::Backend;
use tokio::sync::mpsc;

use crate::agenda::{Agenda, Due, Status};

/// How often the countdown is redrawn and due times are checked.
pub const TICK: Duration = Duration::from_millis(250);
/// Longest reason a skip takes.
pub const MAX_WHY: usize = 200;

/// The plan's local clock, driven by tokio's: the wall time when the screen opened plus tokio's
/// elapsed time, so tests run it under the paused clock.
pub struct Clock {
    wall: DateTime<FixedOffset>,
    at: tokio::time::Instant,
}

impl Clock {
    pub fn new(wall: DateTime<FixedOffset>) -> Clock {
        Clock {
            wall,
            at: tokio::time::Instant::now(),
        }
    }

    pub fn now(&self) -> DateTime<FixedOffset> {
        TimeDelta::from_std(self.at.elapsed())
            .ok()
            .and_then(|d| self.wall.checked_add_signed(d))
            .unwrap_or(self.wall)
    }
}

/// Why the screen was left.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Leave {
    /// Run scenario item `i` in the console, then come back.
    Start(usize),
    /// The day is over (every item done, ended by a person, or a signal).
    EndDay,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Mode {
    Browse,
    /// Typing why the selected item is skipped.
    SkipWhy(String),
    ConfirmQuit,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Action {
    Up,
    Down,
    StartNow,
    Skip,
    Postpone,
    Quit,
    Char(char),
    Backspace,
    Enter,
    Cancel,
    Tick(DateTime<FixedOffset>),
    Signal(&'static str),
}

/// The agenda on screen.
pub struct AgendaApp {
    pub agenda: Agenda,
    pub selected: usize,
    pub mode: Mode,
    /// The last answer to a key (refused, postponed until…).
    pub message: Option<String>,
    pub now: DateTime<FixedOffset>,
    /// The previous tick: a scenario's time starts it only when it comes while the screen watches
    /// (one already past waits for a person to press start).
    since: DateTime<FixedOffset>,
    pub no_color: bool,
}

/// The key table: one key, one action, by mode.
pub fn action_for(mode: &Mode, key: KeyEvent) -> Option<Action> {
    if key.kind == KeyEventKind::Release {
        return None;
    }
    if key.modifiers.contains(KeyModifiers::CONTROL) && key.code == KeyCode::Char('c') {
        return Some(Action::Quit);
    }
    match mode {
        Mode::SkipWhy(_) => match key.code {
            KeyCode::Enter => Some(Action::Enter),
            KeyCode::Esc => Some(Action::Cancel),
            KeyCode::Backspace => Some(Action::Backspace),
            KeyCode::Char(c) => Some(Action::Char(c)),
            _ => None,
        },
        Mode::ConfirmQuit => match key.code {
            KeyCode::Char('y') | KeyCode::Enter => Some(Action::Enter),
            KeyCode::Char('n') | KeyCode::Esc | KeyCode::Char('q') => Some(Action::Cancel),
            _ => None,
        },
        Mode::Browse => match key.code {
            KeyCode::Up | KeyCode::Char('k') => Some(Action::Up),
            KeyCode::Down | KeyCode::Char('j') => Some(Action::Down),
            KeyCode::Char('s') => Some(Action::StartNow),
            KeyCode::Char('x') => Some(Action::Skip),
            KeyCode::Char('p') => Some(Action::Postpone),
            KeyCode::Char('q') | KeyCode::Esc => Some(Action::Quit),
            _ => None,
        },
    }
}

impl AgendaApp {
    pub fn new(agenda: Agenda, now: DateTime<FixedOffset>) -> AgendaApp {
        let selected = agenda.next().unwrap_or(0);
        AgendaApp {
            agenda,
            selected,
            mode: Mode::Browse,
            message: None,
            now,
            since: now,
            no_color: false,
        }
    }

    /// Who presses the keys here: the plan's incident commander.
    pub fn seat(&self) -> String {
        match self
            .agenda
            .plan
            .roles
            .get("incident_commander")
            .and_then(|p| p.first())
        {
            Some(name) => format!("{name} (incident commander)"),
            None => "incident commander".into(),
        }
    }

    /// The screen is shown again (after a run): the clock restarts from `now`, and an item whose
    /// time passed meanwhile waits for a person.
    pub fn resume(&mut self, now: DateTime<FixedOffset>) {
        self.now = now;
        self.since = now;
        self.mode = Mode::Browse;
        if let Some(n) = self.agenda.next() {
            self.selected = n;
        }
    }

    fn start(&mut self, i: usize) -> Option<Leave> {
        if self.agenda.is_break(i) {
            self.agenda.begin(i, None, self.now);
            self.selected = i;
            None
        } else {
            Some(Leave::Start(i))
        }
    }

    /// The one transition. `Some(Leave)` when the screen is to be left.
    pub fn update(&mut self, action: Action) -> Option<Leave> {
        let n = self.agenda.slots.len();
        match (&mut self.mode, action) {
            (_, Action::Signal(sig)) => {
                self.agenda
                    .stop_with(format!("{sig} received on the agenda screen"));
                return Some(Leave::EndDay);
            }
            (_, Action::Tick(now)) => {
                self.since = self.now;
                self.now = now;
                if self.agenda.over() {
                    return Some(Leave::EndDay);
                }
                match self.agenda.due(self.now) {
                    Some(Due::BreakOver(i)) => {
                        self.agenda.break_over(i, self.now);
                        if let Some(next) = self.agenda.next() {
                            self.selected = next;
                        }
                    }
                    // Nothing starts under an open question (a skip reason being typed, "end the
                    // day?"): a scenario whose time passed meanwhile waits for `s`.
                    Some(Due::Start(_)) if self.mode != Mode::Browse => {}
                    Some(Due::Start(i)) => {
                        let due = self.agenda.slots[i].due;
                        // A break starts when it is reached; a scenario only at a time that comes
                        // while the screen watches.
                        if self.agenda.is_break(i) || due.is_some_and(|d| d > self.since) {
                            return self.start(i);
                        }
                    }
                    None => {}
                }
                if self.agenda.over() {
                    return Some(Leave::EndDay);
                }
            }
            (Mode::Browse, Action::Up) => self.selected = self.selected.saturating_sub(1),
            (Mode::Browse, Action::Down) => {
                self.selected = (self.selected + 1).min(n.saturating_sub(1));
            }
            (Mode::Browse, Action::StartNow) => {
                if let Some(i) = self.agenda.running() {
                    // A break ends early; the next press starts what follows.
                    self.agenda.break_over(i, self.now);
                    self.message = Some(format!("{} ended early", self.agenda.label(i)));
                    if let Some(next) = self.agenda.next() {
                        self.selected = next;
                    }
                } else if let Some(i) = self.agenda.next() {
                    self.message = None;
                    return self.start(i);
                }
            }
            (Mode::Browse, Action::Skip) => {
                if self.agenda.slots.get(self.selected).map(|s| &s.status) == Some(&Status::Pending)
                {
                    self.mode = Mode::SkipWhy(String::new());
                    self.message = None;
                } else {
                    self.message = Some("only an item not started yet can be skipped".into());
                }
            }
            (Mode::Browse, Action::Postpone) => {
                let who = Some(self.seat());
                self.message = Some(match self.agenda.postpone(self.selected, who, self.now) {
                    Ok(until) => format!(
                        "{} postponed to {}",
                        self.agenda.label(self.selected),
                        until.format("%H:%M:%S")
                    ),
                    Err(e) => e,
                });
            }
            (Mode::Browse, Action::Quit) => self.mode = Mode::ConfirmQuit,
            (Mode::SkipWhy(why), Action::Char(c))
                if !c.is_control() && why.chars().count() < MAX_WHY =>
            {
                why.push(c);
            }
            (Mode::SkipWhy(why), Action::Backspace) => {
                why.pop();
            }
            (Mode::SkipWhy(why), Action::Enter) => {
                let why = why.trim().to_string();
                if why.is_empty() {
                    self.message = Some("say why it is skipped (Esc: keep it)".into());
                    return None;
                }
                let who = Some(self.seat());
                self.message = Some(match self.agenda.skip(self.selected, who, why) {
                    Ok(()) => format!("{} skipped", self.agenda.label(self.selected)),
                    Err(e) => e,
                });
                self.mode = Mode::Browse;
                if self.agenda.over() {
                    return Some(Leave::EndDay);
                }
            }
            (Mode::ConfirmQuit, Action::Enter) => {
                let why = format!("ended on the agenda screen by {}", self.seat());
                self.agenda.stop_with(why);
                return Some(Leave::EndDay);
            }
            (Mode::SkipWhy(_) | Mode::ConfirmQuit, Action::Cancel) => self.mode = Mode::Browse,
            _ => {}
        }
        None
    }
}

/// Shows the agenda on the terminal until it is left; the terminal is restored on the way out.
pub async fn show(
    app: &mut AgendaApp,
    clock: &Clock,
    signals: &mut mpsc::Receiver<&'static str>,
) -> io::Result<Leave> {
    app.no_color = super::no_color();
    app.resume(clock.now());
    let mut terminal = ratatui::try_init()?;
    let input = crossterm::event::EventStream::new();
    let result = run_loop(&mut terminal, app, input, clock, signals).await;
    ratatui::restore();
    result
}

/// The screen's loop: keys, signals and the tick in one `select!`, a frame after each.
pub async fn run_loop<B: Backend>(
    terminal: &mut Terminal<B>,
    app: &mut AgendaApp,
    input: impl Stream<Item = io::Result<TermEvent>>,
    clock: &Clock,
    signals: &mut mpsc::Receiver<&'static str>,
) -> io::Result<Leave> {
    let mut input = std::pin::pin!(input);
    let mut tick = tokio::time::interval(TICK);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Skip);
    if let Some(sig) = crate::signal_received()
        && app.agenda.running().is_none()
        && app.agenda.stop.is_none()
    {
        app.agenda
            .stop_with(format!("{sig} before the next agenda item"));
    }
    loop {
        terminal
            .draw(|f| super::ui::agenda::render(f, app))
            .map_err(|e| io::Error::other(e.to_string()))?;
        let action = tokio::select! {
            _ = tick.tick() => Action::Tick(clock.now()),
            Some(sig) = signals.recv() => Action::Signal(sig),
            key = input.next() => match key {
                Some(Ok(TermEvent::Key(k))) => match action_for(&app.mode, k) {
                    Some(a) => a,
                    None => continue,
                },
                Some(Ok(_)) => continue,
                Some(Err(e)) => return Err(e),
                None => {
                    app.agenda.stop_with("the terminal closed");
                    return Ok(Leave::EndDay);
                }
            },
        };
        if let Some(leave) = app.update(action) {
            return Ok(leave);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::agenda::Ran;
    use crate::agenda::tests::{at, plan};
    use crate::report::day::{DayEvent, read_day};
    use ratatui::backend::TestBackend;

    fn app(dir: &std::path::Path, now: DateTime<FixedOffset>) -> AgendaApp {
        let agenda = Agenda::start(plan(false), dir, false, now).expect("start");
        AgendaApp::new(agenda, now)
    }

    fn key(c: KeyCode) -> KeyEvent {
        KeyEvent::new(c, KeyModifiers::NONE)
    }

    fn press(app: &mut AgendaApp, c: KeyCode) -> Option<Leave> {
        let a = action_for(&app.mode, key(c))?;
        app.update(a)
    }

    fn snap(name: &str, app: &AgendaApp) {
        for (w, h) in [(80, 24), (160, 48)] {
            let mut terminal = Terminal::new(TestBackend::new(w, h)).expect("test terminal");
            terminal
                .draw(|f| super::super::ui::agenda::render(f, app))
                .expect("draw");
            insta::assert_snapshot!(format!("{name}_{w}x{h}"), terminal.backend());
        }
    }

    #[test]
    fn a_planned_time_that_comes_starts_its_item_and_one_past_waits_for_a_person() {
        let dir = tempfile::tempdir().expect("tmp");
        let mut a = app(dir.path(), at(9, 59, 0));
        assert_eq!(a.update(Action::Tick(at(9, 59, 59))), None);
        assert_eq!(a.update(Action::Tick(at(10, 0, 0))), Some(Leave::Start(0)));

        // Opened at 10:10: the 10:00 item is late and waits for s.
        let dir = tempfile::tempdir().expect("tmp");
        let mut a = app(dir.path(), at(10, 10, 0));
        assert_eq!(a.update(Action::Tick(at(10, 10, 1))), None);
        assert_eq!(press(&mut a, KeyCode::Char('s')), Some(Leave::Start(0)));

        // Its time comes while a skip reason is typed for it: it does not start; after Esc it
        // waits for s.
        let dir = tempfile::tempdir().expect("tmp");
        let mut a = app(dir.path(), at(9, 59, 58));
        press(&mut a, KeyCode::Char('x'));
        press(&mut a, KeyCode::Char('n'));
        assert_eq!(a.update(Action::Tick(at(10, 0, 0))), None);
        assert_eq!(a.mode, Mode::SkipWhy("n".into()));
        press(&mut a, KeyCode::Esc);
        assert_eq!(a.update(Action::Tick(at(10, 0, 1))), None);
        assert_eq!(a.agenda.slots[0].status, Status::Pending);
        assert_eq!(press(&mut a, KeyCode::Char('s')), Some(Leave::Start(0)));
    }

    #[test]
    fn after_a_run_the_break_counts_down_and_the_next_time_starts_the_next_item() {
        let dir = tempfile::tempdir().expect("tmp");
        let mut a = app(dir.path(), at(9, 59, 0));
        assert_eq!(a.update(Action::Tick(at(10, 0, 0))), Some(Leave::Start(0)));
        a.agenda.begin(0, None, at(10, 0, 0));
        a.agenda.end(0, crate::exit::HELD, at(10, 6, 0));
        a.resume(at(10, 6, 1));
        assert_eq!(a.update(Action::Tick(at(10, 6, 2))), None);
        assert!(matches!(
            a.agenda.slots[1].status,
            Status::Running { until: Some(u) } if u == at(10, 16, 2)
        ));
        snap("agenda_on_break", &a);
        assert_eq!(a.update(Action::Tick(at(10, 16, 2))), None);
        assert_eq!(a.agenda.slots[1].status, Status::Taken);
        assert_eq!(a.selected, 2);
        assert_eq!(a.update(Action::Tick(at(10, 29, 59))), None);
        assert_eq!(a.update(Action::Tick(at(10, 30, 0))), Some(Leave::Start(2)));
    }

    #[test]
    fn skip_asks_why_and_journals_who_postpone_moves_the_countdown() {
        let dir = tempfile::tempdir().expect("tmp");
        let mut a = app(dir.path(), at(9, 0, 0));
        press(&mut a, KeyCode::Down);
        press(&mut a, KeyCode::Down);
        assert_eq!(a.selected, 2);
        press(&mut a, KeyCode::Char('x'));
        assert_eq!(a.mode, Mode::SkipWhy(String::new()));
        press(&mut a, KeyCode::Enter);
        assert!(a.message.as_deref().is_some_and(|m| m.contains("say why")));
        for c in "no <storage> & \"db\" team".chars() {
            press(&mut a, KeyCode::Char(c));
        }
        snap("agenda_skip_why", &a);
        press(&mut a, KeyCode::Enter);
        assert_eq!(a.mode, Mode::Browse);
        press(&mut a, KeyCode::Up);
        press(&mut a, KeyCode::Up);
        press(&mut a, KeyCode::Char('p'));
        assert_eq!(a.agenda.slots[0].due, Some(at(10, 5, 0)));
        assert_eq!(a.update(Action::Tick(at(10, 0, 0))), None, "postponed");
        let records = read_day(dir.path()).expect("day journal");
        assert!(records.iter().any(|r| r.event
            == DayEvent::ItemSkipped {
                index: 2,
                label: "demo demo-error-storm".into(),
                why: "no <storage> & \"db\" team".into(),
                who: Some("Dana (incident commander)".into()),
            }));
        assert!(records.iter().any(|r| matches!(
            &r.event,
            DayEvent::ItemPostponed { index: 0, who: Some(w), .. } if w == "Dana (incident commander)"
        )));
        a.agenda.begin(0, None, at(10, 5, 0));
        a.agenda.end(0, crate::exit::HELD, at(10, 12, 0));
        a.resume(at(10, 12, 30));
        a.agenda.slots[0].status = Status::Ran(Ran {
            exit_code: 0,
            verdict: Some("HELD".into()),
            journal: Some("01-demo-latency/journal.jsonl".into()),
            time_to_detect_ms: Some(12_000),
            time_to_mitigate_ms: None,
            time_to_recover_ms: Some(3_400),
        });
        a.selected = 0;
        snap("agenda_ran_skipped_postponed", &a);
    }

    #[test]
    fn quitting_asks_and_ends_the_day_and_a_signal_ends_it_at_once() {
        let dir = tempfile::tempdir().expect("tmp");
        let mut a = app(dir.path(), at(9, 0, 0));
        snap("agenda_countdown", &a);
        assert_eq!(press(&mut a, KeyCode::Char('q')), None);
        assert_eq!(a.mode, Mode::ConfirmQuit);
        snap("agenda_confirm_quit", &a);
        assert_eq!(press(&mut a, KeyCode::Char('n')), None);
        assert_eq!(a.mode, Mode::Browse);
        press(&mut a, KeyCode::Char('q'));
        assert_eq!(press(&mut a, KeyCode::Char('y')), Some(Leave::EndDay));
        assert_eq!(
            a.agenda.stop.as_deref(),
            Some("ended on the agenda screen by Dana (incident commander)")
        );
        assert_eq!(a.agenda.next(), None);

        let dir = tempfile::tempdir().expect("tmp");
        let mut a = app(dir.path(), at(9, 0, 0));
        assert_eq!(a.update(Action::Signal("SIGTERM")), Some(Leave::EndDay));
        assert_eq!(
            a.agenda.stop.as_deref(),
            Some("SIGTERM received on the agenda screen")
        );
    }

    /// The loop under tokio's paused clock: opened 10 s before 10:00, it leaves to start the first
    /// item when the clock reaches it, having drawn the countdown meanwhile.
    #[tokio::test(start_paused = true)]
    async fn the_loop_counts_down_on_tokios_clock_and_leaves_at_the_time() {
        let dir = tempfile::tempdir().expect("tmp");
        let mut a = app(dir.path(), at(9, 59, 50));
        let clock = Clock::new(at(9, 59, 50));
        let mut terminal = Terminal::new(TestBackend::new(80, 24)).expect("terminal");
        let (_keys, rx) = mpsc::unbounded_channel::<io::Result<TermEvent>>();
        let input =
            futures_util::stream::unfold(
                rx,
                |mut rx| async move { rx.recv().await.map(|e| (e, rx)) },
            );
        let (_sig_tx, mut signals) = mpsc::channel(1);
        let started = tokio::time::Instant::now();
        let leave = run_loop(&mut terminal, &mut a, input, &clock, &mut signals)
            .await
            .expect("loop");
        assert_eq!(leave, Leave::Start(0));
        let waited = started.elapsed();
        assert!(
            waited >= Duration::from_secs(10) && waited < Duration::from_secs(11),
            "{waited:?}"
        );
        let screen = format!("{}", terminal.backend());
        assert!(screen.contains("next · in 0m 01s"), "{screen}");
    }
}
