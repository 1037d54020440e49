//! The parts of `App::update` that move around the screens: navigation, choosing, starting, the
//! replay slider. Split from `mod.rs` to keep each file to one concern; still pure.

use chrono::{DateTime, Utc};
use tui_input::Input;

use super::{App, Field, Overlay, Screen, TextField};
use crate::engine::Command;
use crate::fold::RunState;
use crate::tui::action::{Action, Effect};
use crate::tui::preflight::Checklist;

impl App {
    pub(super) fn halt(&mut self, reason: &str) -> Vec<Effect> {
        if self.halt_sent {
            return vec![];
        }
        self.halt_sent = true;
        vec![Effect::Engine(Command::Halt {
            by: self.role.name().into(),
            reason: reason.into(),
        })]
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
        if self.overlay == Overlay::Runbook || self.overlay == Overlay::Help {
            self.scroll = step(self.scroll, a, 10_000, 10);
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
            Screen::Run => {
                // The timeline scrolls from its newest line: "up" means older.
                let len = self.run.timeline.len();
                let inverted = match a {
                    Action::Up => Action::Down,
                    Action::Down => Action::Up,
                    Action::PageUp => Action::PageDown,
                    Action::PageDown => Action::PageUp,
                    Action::Top => Action::Bottom,
                    _ => Action::Top,
                };
                self.timeline_scroll = step(self.timeline_scroll, &inverted, len, 10);
            }
            Screen::Debrief => self.scroll = step(self.scroll, a, 1_000, 10),
        }
    }

    pub(super) fn select(&mut self) -> Vec<Effect> {
        if let Some(f) = self.field.take() {
            let text = f.input.value().trim().to_string();
            return match f.field {
                Field::Note { action } if !text.is_empty() && self.run_live() => {
                    vec![Effect::Engine(Command::Note {
                        role: self.role.name().into(),
                        text,
                        action,
                    })]
                }
                Field::Note { .. } => vec![],
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
        match self.screen {
            Screen::Preflight if !self.started && !self.picker.entries.is_empty() => {
                self.screen = Screen::Picker
            }
            Screen::Debrief => self.screen = Screen::Run,
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
