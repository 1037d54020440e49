//! The parts of `App::update` that move around the screens: navigation, choosing, starting, the
//! replay slider. Split from `mod.rs` to keep each file to one concern; still pure.

use chrono::{DateTime, Utc};
use tui_input::Input;

use super::{App, Field, LateNote, Overlay, Pending, Screen, TextField};
use crate::engine::Command;
use crate::event::MilestoneKind;
use crate::fold::RunState;
use crate::tui::action::{Action, Effect};
use crate::tui::preflight::Checklist;

impl App {
    /// Halts the run once; `by` is who asked (a role, or `signal`).
    pub(super) fn halt(&mut self, by: &str, reason: &str) -> Vec<Effect> {
        if self.halt_sent {
            return vec![];
        }
        self.halt_sent = true;
        vec![Effect::Engine(Command::Halt {
            by: by.into(),
            reason: reason.into(),
        })]
    }

    /// A note still being typed is kept (journaled when the console closes), never dropped.
    pub(super) fn keep_open_note(&mut self) {
        if let Some(TextField {
            field: Field::Note { kind },
            input,
        }) = &self.field
        {
            let text = input.value().trim().to_string();
            if !text.is_empty() {
                // Kept whole, as typed: `@owner` and `due:` are read when they parse.
                let parsed = (*kind == crate::event::NoteKind::ActionItem)
                    .then(|| super::hotwash::parse_action(&text).ok())
                    .flatten()
                    .filter(|t| !t.text.is_empty());
                let note = LateNote {
                    role: self.role.name().into(),
                    text: parsed.as_ref().map_or(text, |t| t.text.clone()),
                    kind: *kind,
                    owner: parsed.as_ref().and_then(|t| t.owner.clone()),
                    due: parsed.and_then(|t| t.due),
                    edits: None,
                };
                self.late_notes.push(note.clone());
                self.after_notes.push(note);
            }
            self.field = None;
        }
    }

    /// `d` / `m`: refused when already marked, asks first before any fault is in.
    pub(super) fn milestone(&mut self, kind: MilestoneKind) -> Vec<Effect> {
        if !self.run_live() {
            self.status = Some("no run in progress: milestones are marked during a run".into());
            return vec![];
        }
        let name = crate::fold::describe::milestone_name(kind);
        if let Some(m) = self
            .run
            .milestones
            .iter()
            .find(|m| m.kind == kind && m.counts)
        {
            let start = self.run.start.unwrap_or(m.ts);
            self.status = Some(format!(
                "{name} was already marked at T+{} by {}: not marked again (u undoes the last one)",
                crate::fmt::clock(crate::tui::ui::secs_since(start, m.ts)),
                m.role
            ));
            return vec![];
        }
        if self.run.key_times.first_fault.is_none() {
            self.overlay = Overlay::Confirm(Pending::Milestone(kind));
            return vec![];
        }
        self.status = Some(format!("milestone {name} marked (u undoes it)"));
        vec![Effect::Engine(Command::Milestone {
            kind,
            role: self.role.name().into(),
        })]
    }

    /// `>`: asks first, naming the next step and how many faults it injects.
    pub(super) fn advance(&mut self) -> Vec<Effect> {
        if !self.run_live() {
            self.status = Some("no run in progress: nothing to advance".into());
        } else if self.run.is_ctk() {
            self.status = Some(
                "a Chaos Toolkit method runs its activities to their end: nothing to advance (X stops it and runs the rollbacks)"
                    .into(),
            );
        } else if self.run.halt.is_some() {
            self.status = Some("the run is halted: no further step starts".into());
        } else if self.run.step.is_none() {
            self.status = Some("no step has started yet: nothing to advance".into());
        } else {
            self.overlay = Overlay::Confirm(Pending::Advance);
        }
        vec![]
    }

    /// `u`: asks first, naming the note or milestone it withdraws.
    pub(super) fn undo(&mut self) -> Vec<Effect> {
        if !self.run_live() {
            self.status = Some("no run in progress: nothing can be undone".into());
            return vec![];
        }
        match self.run.last_retractable() {
            Some((seq, _)) => self.overlay = Overlay::Confirm(Pending::Retract { seq }),
            None => self.status = Some("no note or milestone to undo".into()),
        }
        vec![]
    }

    /// The IC said `y` to a pending command.
    pub(super) fn confirmed(&mut self, p: Pending) -> Vec<Effect> {
        if !self.run_live() {
            self.status = Some("the run has ended: nothing was sent".into());
            return vec![];
        }
        let role = self.role.name().to_string();
        match p {
            Pending::Milestone(kind) => {
                self.status = Some(format!(
                    "milestone {} journaled; it does not count (no fault was in yet)",
                    crate::fold::describe::milestone_name(kind)
                ));
                vec![Effect::Engine(Command::Milestone { kind, role })]
            }
            Pending::Advance => {
                self.status = Some("advancing to the next step".into());
                vec![Effect::Engine(Command::Advance)]
            }
            Pending::Retract { seq } => {
                self.status = Some("undone: journaled as a retraction".into());
                vec![Effect::Engine(Command::Retract { seq, role })]
            }
        }
    }

    pub(super) fn navigate(&mut self, a: &Action) {
        let step = |n: usize, a: &Action, len: usize, page: usize| -> usize {
            let last = len.saturating_sub(1);
            match a {
                Action::Up => n.saturating_sub(1),
                Action::Down => (n + 1).min(last),
                Action::PageUp => n.saturating_sub(page),
                Action::PageDown => (n + page).min(last),
                Action::Top => 0,
                _ => last,
            }
        };
        if matches!(
            self.overlay,
            Overlay::Runbook | Overlay::Help | Overlay::Detail(_)
        ) {
            self.scroll = step(self.scroll, a, 10_000, 10);
            return;
        }
        if self.overlay == Overlay::Checks {
            let len = self.check_list().len();
            self.check_selected = step(self.check_selected, a, len, 5);
            return;
        }
        if self.overlay == Overlay::Notes {
            let len = self.note_list().len();
            self.note_selected = step(self.note_selected, a, len, 5);
            return;
        }
        if self.overlay == Overlay::Unverified {
            let len = self.unverified_list().len();
            self.unverified_selected = step(self.unverified_selected, a, len, 10);
            return;
        }
        match self.screen {
            Screen::Picker => {
                let len = self.picker.entries.len();
                self.picker.selected = step(self.picker.selected, a, len, 5);
            }
            Screen::Preflight => {
                if let Some(c) = &mut self.checklist {
                    c.selected = step(c.selected, a, c.items.len(), 5);
                }
            }
            Screen::Run => self.navigate_run(a, |n, a, len| step(n, a, len, 10)),
            Screen::Debrief | Screen::Review => self.scroll = step(self.scroll, a, 1_000, 10),
        }
    }

    pub(super) fn select(&mut self) -> Vec<Effect> {
        if let Some(f) = self.field.take() {
            let text = f.input.value().trim().to_string();
            return match f.field {
                Field::Note { kind } => self.save_note(kind, f.input),
                Field::EditNote { seq, kind } => self.save_edit(seq, kind, f.input),
                Field::CheckFailed { step, index } => self.save_check_failed(step, index, f.input),
                Field::OverrideReason if text.is_empty() => {
                    self.status = Some("an override needs a reason: nothing started".into());
                    vec![]
                }
                Field::OverrideReason => self.launch(Some(text)),
                Field::LiveOverride if text.is_empty() => {
                    self.status = Some(
                        "an override needs a reason: still waiting (s to try again, X to abort)"
                            .into(),
                    );
                    vec![]
                }
                Field::LiveOverride => vec![Effect::Engine(Command::Proceed {
                    by: self.role.name().into(),
                    reason: text,
                })],
            };
        }
        if self.screen == Screen::Run {
            self.select_in_run();
            return vec![];
        }
        if self.screen == Screen::Picker {
            match self.picker.current().map(|e| e.scenario.clone()) {
                Some(Ok(s)) => {
                    self.checklist = Some(Checklist::for_scenario(&s));
                    self.scenario = Some(s);
                    self.screen = Screen::Preflight;
                }
                Some(Err(_)) => {
                    self.status =
                        Some("this scenario is invalid: fix the errors shown first".into())
                }
                None => {}
            }
        }
        vec![]
    }

    pub(super) fn back(&mut self) {
        if self.field.take().is_some() {
            return;
        }
        if self.overlay != Overlay::None {
            self.overlay = Overlay::None;
            self.scroll = 0;
            return;
        }
        if self.screen == Screen::Run && self.zoom {
            self.zoom = false;
            return;
        }
        match self.screen {
            Screen::Preflight if !self.started && !self.picker.entries.is_empty() => {
                self.screen = Screen::Picker
            }
            Screen::Debrief | Screen::Review => self.screen = Screen::Run,
            _ => {}
        }
    }

    pub(super) fn toggle_runbook(&mut self) -> Vec<Effect> {
        if self.overlay == Overlay::Runbook {
            self.overlay = Overlay::None;
            return vec![];
        }
        let scenario = match self.screen {
            Screen::Picker => self
                .picker
                .current()
                .and_then(|e| e.scenario.as_ref().ok().cloned()),
            _ => self.scenario.clone(),
        };
        let Some(s) = scenario else {
            return vec![];
        };
        let step_book = self
            .run
            .step
            .as_ref()
            .and_then(|st| s.steps.get(st.index))
            .and_then(|st| st.runbook.clone());
        match step_book.or_else(|| s.runbook.clone()) {
            Some(rb) => vec![Effect::LoadRunbook {
                path: rb.path,
                anchor: rb.anchor,
            }],
            None => {
                self.runbook = Some(Err("this scenario links no runbook".into()));
                self.overlay = Overlay::Runbook;
                vec![]
            }
        }
    }

    pub(super) fn start(&mut self) -> Vec<Effect> {
        if self.screen == Screen::Preflight && self.run.preflight_held.is_some() {
            self.field = Some(TextField {
                field: Field::LiveOverride,
                input: Input::default(),
            });
            return vec![];
        }
        if self.screen != Screen::Preflight || self.started {
            return vec![];
        }
        let failing = self
            .checklist
            .as_ref()
            .map(|c| c.failing().len())
            .unwrap_or(0);
        if failing > 0 {
            self.field = Some(TextField {
                field: Field::OverrideReason,
                input: Input::default(),
            });
            return vec![];
        }
        self.launch(None)
    }

    pub(super) fn launch(&mut self, reason: Option<String>) -> Vec<Effect> {
        let Some(scenario) = self.scenario.clone() else {
            return vec![];
        };
        let override_note = reason.map(|r| {
            let failing = self
                .checklist
                .as_ref()
                .map(|c| c.failing().join(", "))
                .unwrap_or_default();
            format!("preflight override: started with unchecked items ({failing}): {r}")
        });
        self.started = true;
        self.start_error = None;
        vec![Effect::Start {
            scenario,
            override_note,
        }]
    }

    pub(super) fn seek(
        &mut self,
        to: impl FnOnce(DateTime<Utc>, (DateTime<Utc>, DateTime<Utc>)) -> DateTime<Utc>,
    ) {
        let Some(r) = &mut self.replay else {
            return;
        };
        let bounds = r.bounds();
        r.at = to(r.at, bounds).clamp(bounds.0, bounds.1);
        let at = r.at;
        let log = r.log.clone();
        // The old state goes first: a seek never holds two folds of a long run at once.
        self.run = RunState::console();
        log.fold_until(&mut self.run, at);
        self.now = at;
    }
}
