//! The console's state and its one transition function. `App::update` is pure: it changes the
//! state and returns the effects (engine commands, file writes) for the loop to carry out.

use std::sync::Arc;

use chrono::{DateTime, Utc};
use tui_input::Input;

use super::action::{Action, Effect, Role};
use super::keys::Ctx;
use super::picker::Picker;
use super::preflight::Checklist;
use crate::event::{Envelope, MilestoneKind, NoteKind};
use crate::fold::RunState;
use crate::fold::log::RunLog;
use crate::scenario::Scenario;

mod flow;
mod hotwash;
mod panes;

pub use panes::{Detail, Filter, Pane, rules_for};

/// Seconds a flash message stays in the footer.
pub const FLASH_SECS: i64 = 5;

/// The commands a start error tells the IC to run (quoted in backticks, e.g. `gameday trust …`).
pub fn fix_commands(why: &str) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    for c in why.split('`').skip(1).step_by(2) {
        if c.starts_with("gameday ") && !out.iter().any(|o| o == c) {
            out.push(c.to_string());
        }
    }
    out
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Screen {
    Picker,
    Preflight,
    Run,
    Debrief,
    /// The hot wash after the run (`R`): step results with evidence, the human checks never
    /// ticked, the notes by kind; notes can still be added, `w` writes the debrief.
    Review,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Overlay {
    None,
    Help,
    ConfirmQuit,
    /// "Are you sure?" before a command that is easy to press by mistake.
    Confirm(Pending),
    Runbook,
    /// The whole of a timeline line or a fault (`Enter`).
    Detail(Detail),
    /// The human checks still open (`c`): `p` passed, `f` failed with a reason.
    Checks,
    /// The run's notes (`E` on the Review screen): Enter edits the selected one.
    Notes,
    /// The fault rows not verified rolled back (`v`): Enter shows the selected one's details.
    Unverified,
}

/// A command waiting for the IC's `y`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Pending {
    /// A milestone while no fault is in yet: journaled, but it will not count.
    Milestone(MilestoneKind),
    /// End this step now and start the next (which injects its faults).
    Advance,
    /// Withdraw the note or milestone journaled as this sequence number.
    Retract { seq: u64 },
}

/// A note the IC saved after the engine had stopped taking them: journaled when the console closes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LateNote {
    pub role: String,
    pub text: String,
    pub kind: NoteKind,
    pub owner: Option<String>,
    pub due: Option<String>,
    /// An edit of the note journaled as this sequence number, not a new note.
    pub edits: Option<u64>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Field {
    Note {
        kind: NoteKind,
    },
    /// A new text (and kind) for the note journaled as `seq`.
    EditNote {
        seq: u64,
        kind: NoteKind,
    },
    /// Why human check `index` of step `step` failed (sent to the engine with the tick).
    CheckFailed {
        step: usize,
        index: usize,
    },
    OverrideReason,
    /// Why the run starts although live checks failed (sent to the engine, journaled).
    LiveOverride,
}

#[derive(Debug, Clone)]
pub struct TextField {
    pub field: Field,
    pub input: Input,
}

/// A finished journal being reviewed: the run view is the fold of the records up to `at`, rebuilt
/// from the compact [`RunLog`] on every seek.
#[derive(Debug, Clone)]
pub struct Replay {
    pub log: Arc<RunLog>,
    pub at: DateTime<Utc>,
}

impl Replay {
    pub fn bounds(&self) -> (DateTime<Utc>, DateTime<Utc>) {
        self.log.bounds().unwrap_or((self.at, self.at))
    }
}

#[derive(Debug, Clone)]
pub struct App {
    pub screen: Screen,
    pub overlay: Overlay,
    pub picker: Picker,
    pub scenario: Option<Arc<Scenario>>,
    pub checklist: Option<Checklist>,
    pub run: RunState,
    /// The console's clock: wall time for a live run, the slider for a replay. Render reads only this.
    pub now: DateTime<Utc>,
    pub role: Role,
    pub field: Option<TextField>,
    /// The timeline's cursor, in lines up from the newest shown (0 follows the run).
    pub timeline_scroll: usize,
    /// Which timeline lines are shown (`/`).
    pub timeline_filter: Filter,
    /// The pane the arrow keys act on (`Tab`).
    pub focus: Pane,
    /// The selected row of the faults table.
    pub fault_selected: usize,
    /// The selected metric panel, by name (`None`: the first laid out).
    pub selected_metric: Option<String>,
    /// The selected panel fills the metrics area (`z`).
    pub zoom: bool,
    pub scroll: usize,
    pub runbook: Option<Result<String, String>>,
    pub export: Option<Result<std::path::PathBuf, String>>,
    pub replay: Option<Replay>,
    /// Leave once the run has ended (quit confirmed or a signal during a run).
    pub quit_after_end: bool,
    pub halt_sent: bool,
    pub started: bool,
    /// The footer's flash message; it clears [`FLASH_SECS`] after it was set (by the clock of
    /// `Tick`s, never a sleep).
    pub status: Option<String>,
    /// When `status` clears.
    pub status_until: Option<DateTime<Utc>>,
    /// The last `Tick`'s time: `now` in a live run, the wall clock under a replay's slider.
    pub wall: DateTime<Utc>,
    /// Why the last start failed (connection errors, an unknown host key): shown in full in the
    /// preflight's Live checks box with the command that fixes it, until the next start.
    pub start_error: Option<String>,
    /// While a start opens its targets: how many hosts have answered (cleared by the first event
    /// of the run, or a failed start).
    pub connecting: Option<crate::target::Connecting>,
    pub no_color: bool,
    /// Notes saved after the run ended, not journaled yet; appended to the journal on export
    /// (`e`, `w`) or when the console closes.
    pub late_notes: Vec<LateNote>,
    /// Every note saved after the run ended (the engine does not broadcast them back): the Review
    /// screen shows them with the run's own.
    pub after_notes: Vec<LateNote>,
    /// The selected row of the checks list.
    pub check_selected: usize,
    /// The selected note in the notes list (`E`).
    pub note_selected: usize,
    /// The selected row of the not-verified list (`v`).
    pub unverified_selected: usize,
    /// The run's journal, shown in the header so a second seat (`gameday follow`) can find it.
    pub journal_path: Option<std::path::PathBuf>,
    /// Human checks sent to the engine, (step, index), not yet seen decided.
    pub checks_sent: Vec<(usize, usize)>,
    /// A joined seat (`gameday join`): its commands go over the run's seat socket, never to an
    /// engine of its own; leaving or a signal never halts the run.
    pub seat: Option<SeatView>,
}

/// Which seat a joined console is, as the run answered its hello.
#[derive(Debug, Clone, PartialEq)]
pub struct SeatView {
    pub tag: String,
    /// What the run lets it send (`note`, `milestone`, `retract`, `edit`, `halt`); empty: read-only.
    pub may: Vec<String>,
}

impl SeatView {
    pub fn may(&self, what: &str) -> bool {
        self.may.iter().any(|m| m == what)
    }
}

impl App {
    fn base(now: DateTime<Utc>, picker: Picker, screen: Screen) -> App {
        App {
            screen,
            overlay: Overlay::None,
            picker,
            scenario: None,
            checklist: None,
            run: RunState::console(),
            now,
            role: Role::Ic,
            field: None,
            timeline_scroll: 0,
            timeline_filter: Filter::All,
            focus: Pane::Timeline,
            fault_selected: 0,
            selected_metric: None,
            zoom: false,
            scroll: 0,
            runbook: None,
            export: None,
            replay: None,
            quit_after_end: false,
            halt_sent: false,
            started: false,
            status: None,
            status_until: None,
            wall: now,
            start_error: None,
            connecting: None,
            no_color: false,
            late_notes: Vec::new(),
            after_notes: Vec::new(),
            check_selected: 0,
            note_selected: 0,
            unverified_selected: 0,
            journal_path: None,
            checks_sent: Vec::new(),
            seat: None,
        }
    }

    /// The Run screen of a live run this console joined as a second seat; the events come from
    /// the journal.
    pub fn joined(now: DateTime<Utc>, seat: SeatView, journal: std::path::PathBuf) -> App {
        let mut app = App::base(now, Picker::default(), Screen::Run);
        app.started = true;
        app.role = if seat.may.is_empty() {
            Role::Observer
        } else {
            Role::Scribe
        };
        app.journal_path = Some(journal);
        app.seat = Some(seat);
        app
    }

    /// The Run screen of a run started before the console opened (a Chaos Toolkit experiment):
    /// the IC's console, its scenario taken from the run's `run_started`.
    pub fn running(now: DateTime<Utc>, journal: std::path::PathBuf) -> App {
        let mut app = App::base(now, Picker::default(), Screen::Run);
        app.started = true;
        app.journal_path = Some(journal);
        app
    }

    /// What a joined seat may not do, said in the status line (`None`: go on as the console does).
    fn seat_refuses(&mut self, action: &Action) -> Option<Vec<Effect>> {
        let seat = self.seat.as_ref()?;
        let read_only = seat.may.is_empty();
        let why = match action {
            // Leaving, or the terminal going away, changes nothing in the run.
            Action::Quit | Action::Signal(_) => {
                self.keep_open_note();
                return Some(vec![Effect::Quit]);
            }
            Action::Halt if !seat.may("halt") => {
                "this seat cannot halt: join with --can-halt, and the run must be started with --allow-remote-halt (or ask the IC)"
            }
            Action::AdvanceStep => "a joined seat cannot advance steps: ask the IC",
            Action::OpenChecks | Action::CheckPassed | Action::CheckFailed => {
                "a joined seat cannot tick checks: ask the IC"
            }
            Action::CycleRole => "this seat's role is fixed: join again with another --role",
            // After the end the engine takes nothing more, and a seat never writes the journal.
            Action::OpenNote
            | Action::OpenActionItem
            | Action::OpenNoteOf(_)
            | Action::Undo
            | Action::OpenNotesList
            | Action::EditNote
                if self.run.ended =>
            {
                "the run has ended: a seat writes only while it is live; the IC's console takes the hot wash"
            }
            Action::Select
                if self.run.ended
                    && matches!(
                        self.field,
                        Some(TextField {
                            field: Field::Note { .. } | Field::EditNote { .. },
                            ..
                        })
                    ) =>
            {
                "not sent: the run has ended (Ctrl-C leaves and prints the note)"
            }
            Action::OpenNote
            | Action::OpenActionItem
            | Action::OpenNoteOf(_)
            | Action::Detected
            | Action::Mitigated
            | Action::Undo
            | Action::OpenNotesList
            | Action::EditNote
                if read_only =>
            {
                "an observer's seat is read-only"
            }
            _ => return None,
        };
        self.status = Some(why.into());
        Some(vec![])
    }

    pub fn picker(now: DateTime<Utc>, picker: Picker) -> App {
        App::base(now, picker, Screen::Picker)
    }

    /// Straight to the preflight of one scenario (`gameday run FILE`).
    pub fn preflight(now: DateTime<Utc>, picker: Picker, scenario: Arc<Scenario>) -> App {
        let mut app = App::base(now, picker, Screen::Preflight);
        app.picker.select_path(&scenario.file);
        app.checklist = Some(Checklist::for_scenario(&scenario));
        app.scenario = Some(scenario);
        app
    }

    /// The Run screen on a finished run's events, slider at the end (tests and small callers;
    /// `gameday replay` streams the journal into a [`RunLog`] and uses [`App::replay_log`]).
    pub fn replay(events: Vec<Envelope>) -> App {
        App::replay_log(RunLog::from_events(events))
    }

    /// The Run screen on a finished run, slider at the end.
    pub fn replay_log(log: RunLog) -> App {
        let at = log.bounds().map(|b| b.1).unwrap_or_default();
        let mut app = App::base(at, Picker::default(), Screen::Run);
        log.fold_until(&mut app.run, at);
        app.scenario = app.run.scenario.clone();
        app.started = true;
        app.replay = Some(Replay {
            log: Arc::new(log),
            at,
        });
        app
    }

    /// Which key table applies now.
    pub fn ctx(&self) -> Ctx {
        if self.field.is_some() {
            return Ctx::Typing;
        }
        if matches!(self.overlay, Overlay::ConfirmQuit | Overlay::Confirm(_)) {
            return Ctx::Confirm;
        }
        if self.overlay == Overlay::Checks {
            return Ctx::Checks;
        }
        if self.overlay == Overlay::Notes {
            return Ctx::Notes;
        }
        if self.overlay == Overlay::Unverified {
            return Ctx::Unverified;
        }
        match self.screen {
            Screen::Picker => Ctx::Picker,
            Screen::Preflight => Ctx::Preflight,
            Screen::Run => Ctx::Run,
            Screen::Debrief => Ctx::Debrief,
            Screen::Review => Ctx::Review,
        }
    }

    /// A live run the console is driving (not a replay).
    pub fn run_live(&self) -> bool {
        self.replay.is_none() && self.started && !self.run.ended
    }

    /// Folds one engine event into the state.
    pub fn apply(&mut self, env: &Envelope) {
        self.run.apply(env);
        if self.replay.is_none() && env.ts > self.now {
            self.now = env.ts;
        }
        if self.scenario.is_none() {
            self.scenario = self.run.scenario.clone();
        }
        // The engine holds after failed live checks: ask for a reason right away.
        if matches!(env.event, crate::event::Event::PreflightHeld { .. })
            && self.replay.is_none()
            && self.field.is_none()
        {
            self.field = Some(TextField {
                field: Field::LiveOverride,
                input: Input::default(),
            });
        }
        // Preflight shows the live checks; the Run screen takes over once they are done.
        if self.screen == Screen::Preflight
            && !matches!(self.run.phase, None | Some(crate::event::Phase::Preflight))
        {
            self.screen = Screen::Run;
        }
        if self.run.ended && self.screen == Screen::Preflight {
            self.screen = Screen::Run;
        }
    }

    /// The one transition: the action's effect on the state, then the flash message's clock (a
    /// message newly set clears [`FLASH_SECS`] later; a `Tick` past that time clears it).
    pub fn update(&mut self, action: Action) -> Vec<Effect> {
        let before = self.status.clone();
        if let Some(effects) = self.seat_refuses(&action) {
            if self.status != before {
                self.status_until = Some(self.wall + chrono::Duration::seconds(FLASH_SECS));
            }
            return effects;
        }
        let tick = match &action {
            Action::Tick(t) => Some(*t),
            _ => None,
        };
        let effects = self.transition(action);
        if let Some(t) = tick {
            self.wall = self.wall.max(t);
        }
        if self.replay.is_none() {
            self.wall = self.wall.max(self.now);
        }
        if self.status.is_none() {
            self.status_until = None;
        } else if self.status != before {
            self.status_until = Some(self.wall + chrono::Duration::seconds(FLASH_SECS));
        } else if self.status_until.is_some_and(|u| self.wall >= u) {
            self.status = None;
            self.status_until = None;
        }
        effects
    }

    fn transition(&mut self, action: Action) -> Vec<Effect> {
        use Action as A;
        match action {
            A::Tick(now) => {
                if self.replay.is_none() {
                    self.now = self.now.max(now);
                }
                vec![]
            }
            A::Event(env) => {
                let was_live = self.run_live();
                self.connecting = None;
                self.apply(&env);
                let just_ended = was_live && self.run.ended;
                if self.run.ended && self.quit_after_end {
                    // Leaving: a note still being typed is kept, not dropped.
                    self.keep_open_note();
                    return vec![Effect::Quit];
                }
                // Questions about the run ("quit?", "advance?") are moot once it has ended.
                if just_ended && matches!(self.overlay, Overlay::ConfirmQuit | Overlay::Confirm(_))
                {
                    self.overlay = Overlay::None;
                    self.status = Some("the run ended: q leaves".into());
                }
                if just_ended
                    && matches!(
                        self.field,
                        Some(TextField {
                            field: Field::Note { .. },
                            ..
                        })
                    )
                {
                    self.status = Some(
                        "the run ended: Enter still saves this note (journaled on export or when the console closes)"
                            .into(),
                    );
                } else if just_ended && self.status.is_none() {
                    self.status =
                        Some("the run ended: R opens the review (hot wash), D the debrief".into());
                }
                self.checks_moot();
                vec![]
            }
            A::Lagged(n) => {
                self.run.lagged += n;
                self.status = Some(format!(
                    "console fell behind by {n} event(s): catching up from the journal"
                ));
                vec![Effect::Resync]
            }
            A::Resynced(refolded) => {
                // The journal is the source of truth: its fold replaces ours; later broadcasts are
                // de-duplicated by seq.
                let lagged = self.run.lagged;
                self.run = *refolded.0;
                self.run.lagged = lagged;
                self.status = None;
                vec![]
            }
            A::Signal(name) => {
                self.status = Some(format!("{name}: halting and rolling back before exit"));
                if self.run_live() {
                    self.quit_after_end = true;
                    self.halt("signal", &format!("{name} received"))
                } else {
                    self.keep_open_note();
                    vec![Effect::Quit]
                }
            }
            A::Halt => {
                if self.run_live() {
                    // A note being typed stays open with its text; other questions are moot.
                    let typing_note = matches!(
                        &self.field,
                        Some(TextField { field: Field::Note { .. }, input }) if !input.value().trim().is_empty()
                    );
                    if !typing_note {
                        self.field = None;
                    }
                    self.overlay = Overlay::None;
                    self.screen = Screen::Run;
                    let by = self.role.name().to_string();
                    self.halt(&by, "big red button")
                } else {
                    self.status = Some("no run in progress: nothing to halt".into());
                    vec![]
                }
            }
            A::Up | A::Down | A::PageUp | A::PageDown | A::Top | A::Bottom => {
                self.navigate(&action);
                vec![]
            }
            A::Select => self.select(),
            A::Back => {
                self.back();
                vec![]
            }
            A::OpenNote | A::OpenActionItem => {
                let kind = if action == A::OpenActionItem {
                    NoteKind::ActionItem
                } else {
                    NoteKind::Observation
                };
                self.open_note(kind);
                vec![]
            }
            A::OpenNoteOf(kind) => {
                self.open_note(kind);
                vec![]
            }
            A::CycleNoteKind => {
                if let Some(TextField {
                    field: Field::Note { kind } | Field::EditNote { kind, .. },
                    ..
                }) = &mut self.field
                {
                    *kind = kind.next();
                }
                vec![]
            }
            A::OpenChecks => {
                self.open_checks();
                vec![]
            }
            A::OpenUnverified => {
                self.open_unverified();
                vec![]
            }
            A::UnverifiedDetail => {
                self.unverified_detail();
                vec![]
            }
            A::OpenNotesList => {
                self.open_notes_list();
                vec![]
            }
            A::EditNote => {
                self.edit_selected_note();
                vec![]
            }
            A::CheckPassed => self.check_passed(),
            A::CheckFailed => {
                self.check_failed();
                vec![]
            }
            A::ToggleReview => {
                self.screen = match self.screen {
                    Screen::Run | Screen::Debrief if self.run.ended || self.replay.is_some() => {
                        Screen::Review
                    }
                    Screen::Review => Screen::Run,
                    s => {
                        if s == Screen::Run {
                            self.status = Some("the review opens once the run has ended".into());
                        }
                        s
                    }
                };
                self.scroll = 0;
                vec![]
            }
            A::CycleRole => {
                self.role = self.role.next();
                vec![]
            }
            A::Detected | A::Mitigated => {
                let kind = if action == A::Detected {
                    MilestoneKind::Detected
                } else {
                    MilestoneKind::Mitigated
                };
                self.milestone(kind)
            }
            A::AdvanceStep => self.advance(),
            A::Undo => self.undo(),
            A::ToggleRunbook => self.toggle_runbook(),
            A::FocusNext => {
                if self.screen == Screen::Run {
                    self.focus_next();
                }
                vec![]
            }
            A::CycleFilter => {
                if self.screen == Screen::Run {
                    self.cycle_filter();
                }
                vec![]
            }
            A::Zoom => {
                if self.screen == Screen::Run {
                    self.toggle_zoom();
                }
                vec![]
            }
            A::ToggleHelp => {
                self.overlay = if self.overlay == Overlay::Help {
                    Overlay::None
                } else {
                    Overlay::Help
                };
                vec![]
            }
            A::ToggleCheck => {
                if let Some(c) = &mut self.checklist {
                    c.toggle();
                }
                vec![]
            }
            A::StartRun => self.start(),
            A::ToggleDebrief => {
                self.screen = match self.screen {
                    // A replay's debrief is the run as of the slider (the whole run at the end).
                    Screen::Run | Screen::Review if self.run.ended || self.replay.is_some() => {
                        Screen::Debrief
                    }
                    Screen::Debrief => Screen::Run,
                    s => s,
                };
                self.scroll = 0;
                vec![]
            }
            A::Export => {
                if matches!(self.screen, Screen::Debrief | Screen::Review)
                    && (self.started || self.replay.is_some())
                {
                    vec![Effect::ExportDebrief]
                } else {
                    vec![]
                }
            }
            A::Quit => {
                if self.run_live() {
                    self.overlay = Overlay::ConfirmQuit;
                    vec![]
                } else {
                    vec![Effect::Quit]
                }
            }
            A::Confirm => match std::mem::replace(&mut self.overlay, Overlay::None) {
                Overlay::ConfirmQuit if self.run_live() => {
                    self.quit_after_end = true;
                    self.status = Some("quitting: rolling everything back first".into());
                    let by = self.role.name().to_string();
                    self.halt(&by, "console quit")
                }
                Overlay::ConfirmQuit => vec![Effect::Quit],
                Overlay::Confirm(p) => self.confirmed(p),
                other => {
                    self.overlay = other;
                    vec![]
                }
            },
            A::Seek(secs) => {
                self.seek(|at, _| at + chrono::Duration::seconds(secs));
                vec![]
            }
            A::SeekStart => {
                self.seek(|_, (first, _)| first);
                vec![]
            }
            A::SeekEnd => {
                self.seek(|_, (_, last)| last);
                vec![]
            }
            A::Edit(req) => {
                if let Some(f) = &mut self.field {
                    f.input.handle(req);
                }
                vec![]
            }
            A::SeatAnswer(text) => {
                self.status = Some(text);
                vec![]
            }
            A::RunbookLoaded(r) => {
                self.runbook = Some(r);
                self.overlay = Overlay::Runbook;
                self.scroll = 0;
                vec![]
            }
            A::Exported(r) => {
                self.export = Some(r);
                vec![]
            }
            A::Connecting(c) => {
                self.connecting = Some(c);
                vec![]
            }
            A::RunFailed(why) => {
                self.started = false;
                self.connecting = None;
                // The whole reason, with the command that fixes it, goes to the Live checks box.
                self.start_error = Some(why);
                self.status = Some("the run could not start: see Live checks".into());
                vec![]
            }
        }
    }
}
