//! The parts of `App::update` for proving and reviewing a run: notes of a kind (during the run and
//! after it), the human checks ticked from the console, the Review screen. Still pure.

use tui_input::Input;

use super::{App, Field, LateNote, Overlay, TextField};
use crate::engine::Command;
use crate::event::NoteKind;
use crate::fold::{CriterionRow, Edited, NoteRow};
use crate::tui::action::Effect;

/// An action item as typed: its text, `@owner` (the first), `due:YYYY-MM-DD`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Typed {
    pub text: String,
    pub owner: Option<String>,
    pub due: Option<String>,
}

/// Takes `@owner` and `due:YYYY-MM-DD` out of an action item's text; a due date that is not a
/// calendar date is refused with the reason.
pub fn parse_action(typed: &str) -> Result<Typed, String> {
    let mut owner = None;
    let mut due = None;
    let mut words = Vec::new();
    for w in typed.split_whitespace() {
        if let Some(o) = w.strip_prefix('@').filter(|o| !o.is_empty())
            && owner.is_none()
        {
            owner = Some(o.to_string());
        } else if let Some(d) = w.strip_prefix("due:") {
            if chrono::NaiveDate::parse_from_str(d, "%Y-%m-%d").is_err() {
                return Err(format!("due date `{d}` is not YYYY-MM-DD"));
            }
            due = Some(d.to_string());
        } else {
            words.push(w);
        }
    }
    Ok(Typed {
        text: words.join(" "),
        owner,
        due,
    })
}

/// A note's text as typed into its box: an action item needs `@owner` (and may have a due date).
fn parse_typed(kind: NoteKind, raw: String) -> Result<Typed, String> {
    if kind == NoteKind::ActionItem {
        match parse_action(&raw) {
            Ok(t) if t.owner.is_none() || t.text.is_empty() => Err(
                "an action item needs an owner and a text: type @name (and due:YYYY-MM-DD)"
                    .to_string(),
            ),
            other => other,
        }
    } else {
        Ok(Typed {
            text: raw,
            owner: None,
            due: None,
        })
    }
}

impl App {
    /// Notes can be written during a live run, and after it (not in a replay): those are kept and
    /// journaled on export or when the console closes.
    pub(super) fn notes_open(&self) -> bool {
        self.run_live() || (self.started && self.run.ended && self.replay.is_none())
    }

    pub(super) fn open_note(&mut self, kind: NoteKind) {
        if self.notes_open() {
            self.field = Some(TextField {
                field: Field::Note { kind },
                input: Input::default(),
            });
        } else if self.replay.is_some() {
            self.status = Some("a replay takes no notes".into());
        }
    }

    /// Enter in the note box. An action item needs `@owner`; a refused note stays in its box.
    pub(super) fn save_note(&mut self, kind: NoteKind, input: Input) -> Vec<Effect> {
        let raw = input.value().trim().to_string();
        if raw.is_empty() || !self.notes_open() {
            return vec![];
        }
        let typed = parse_typed(kind, raw);
        let t = match typed {
            Ok(t) => t,
            Err(why) => {
                self.status = Some(format!("{why}: not saved yet"));
                self.field = Some(TextField {
                    field: Field::Note { kind },
                    input,
                });
                return vec![];
            }
        };
        let role = self.role.name().to_string();
        if self.run_live() {
            return vec![Effect::Engine(Command::NoteOf {
                role,
                text: t.text,
                kind,
                owner: t.owner,
                due: t.due,
            })];
        }
        let note = LateNote {
            role,
            text: t.text,
            kind,
            owner: t.owner,
            due: t.due,
            edits: None,
        };
        self.late_notes.push(note.clone());
        self.after_notes.push(note);
        self.status = Some(
            "the run has ended: note kept; it is journaled on export (e, w) or when you leave the console"
                .into(),
        );
        vec![]
    }

    /// The notes list (`E`): the run's journaled notes, in the order the debrief groups them.
    pub fn note_list(&self) -> Vec<&NoteRow> {
        NoteKind::ALL
            .iter()
            .flat_map(|k| self.run.notes.iter().filter(move |n| n.kind == *k))
            .collect()
    }

    /// `E` on the Review screen: the list of notes to edit, or why there is none.
    pub(super) fn open_notes_list(&mut self) {
        if !self.notes_open() {
            self.status = Some(if self.replay.is_some() {
                "a replay edits no notes".into()
            } else {
                "no run yet: nothing to edit".into()
            });
            return;
        }
        let n = self.note_list().len();
        if n == 0 {
            self.status = Some(if self.after_notes.is_empty() {
                "no note to edit yet".into()
            } else {
                "the notes written since the run ended can be edited once journaled (e or w)".into()
            });
            return;
        }
        self.note_selected = self.note_selected.min(n - 1);
        self.overlay = Overlay::Notes;
    }

    /// Enter in the notes list: the edit box, holding the note as it reads now (an action item with
    /// its `@owner` and `due:`), Tab for its kind.
    pub(super) fn edit_selected_note(&mut self) {
        let list = self.note_list();
        let Some(n) = list.get(self.note_selected.min(list.len().saturating_sub(1))) else {
            self.overlay = Overlay::None;
            return;
        };
        let mut text = n.text.clone();
        if let Some(o) = &n.owner {
            text.push_str(&format!(" @{o}"));
        }
        if let Some(d) = &n.due {
            text.push_str(&format!(" due:{d}"));
        }
        let field = Field::EditNote {
            seq: n.seq,
            kind: n.kind,
        };
        self.overlay = Overlay::None;
        self.field = Some(TextField {
            field,
            input: Input::new(text),
        });
    }

    /// Enter in the edit box: during the run the engine journals the edit; after it, the edit is
    /// applied to the fold now and journaled with the late notes. The original stays in the journal.
    pub(super) fn save_edit(&mut self, seq: u64, kind: NoteKind, input: Input) -> Vec<Effect> {
        let raw = input.value().trim().to_string();
        if raw.is_empty() {
            self.status = Some("an edit cannot empty a note (retract it with u): not saved".into());
            return vec![];
        }
        if !self.notes_open() {
            return vec![];
        }
        let t = match parse_typed(kind, raw) {
            Ok(t) => t,
            Err(why) => {
                self.status = Some(format!("{why}: not saved yet"));
                self.field = Some(TextField {
                    field: Field::EditNote { seq, kind },
                    input,
                });
                return vec![];
            }
        };
        let role = self.role.name().to_string();
        if self.run_live() {
            self.status = Some("edit sent (the engine journals it; the original is kept)".into());
            return vec![Effect::Engine(Command::EditNote {
                edits: seq,
                role,
                text: t.text,
                kind,
                owner: t.owner,
                due: t.due,
            })];
        }
        let edit = Edited {
            text: t.text.clone(),
            kind,
            owner: t.owner.clone(),
            due: t.due.clone(),
        };
        if self
            .run
            .edit_note(seq, chrono::Utc::now(), &role, edit)
            .is_none()
        {
            self.status = Some("that note is no longer in the run: not saved".into());
            return vec![];
        }
        self.late_notes.push(LateNote {
            role,
            text: t.text,
            kind,
            owner: t.owner,
            due: t.due,
            edits: Some(seq),
        });
        self.status = Some(
            "edit kept (the original stays in the journal); journaled on export (e, w) or when you leave"
                .into(),
        );
        vec![]
    }

    /// Human checks can be ticked from the step's start until the verdict (the engine ignores a
    /// tick after it).
    pub fn checks_open(&self) -> bool {
        self.run_live() && self.run.verdict.is_none()
    }

    /// The checks list: human checks of the steps that started, not decided, in scenario order.
    pub fn check_list(&self) -> Vec<&CriterionRow> {
        self.run.open_checks().collect()
    }

    /// Whether this check was sent and the engine's decision has not come back yet.
    pub fn check_sent(&self, c: &CriterionRow) -> bool {
        self.checks_sent.contains(&(c.step, c.index))
    }

    /// Why no check can be ticked now, for the footer.
    fn checks_closed_why(&self) -> String {
        if self.replay.is_some() {
            "a replay cannot tick checks".into()
        } else if !self.started {
            "no run in progress: checks are ticked during a run".into()
        } else {
            "the verdict is in: human checks can no longer be ticked (those open stay not checked)"
                .into()
        }
    }

    /// `c`: the list, or why there is none.
    pub(super) fn open_checks(&mut self) {
        if !self.checks_open() {
            self.status = Some(self.checks_closed_why());
            return;
        }
        if self.check_list().is_empty() {
            let any = self.run.criteria.iter().any(|c| c.human);
            self.status = Some(
                if any {
                    "no human check is open now (decided, or its step has not started)"
                } else {
                    "this scenario has no human check"
                }
                .into(),
            );
            return;
        }
        self.check_selected = self.check_selected.min(self.check_list().len() - 1);
        self.overlay = Overlay::Checks;
    }

    fn selected_check(&self) -> Option<(usize, usize, String)> {
        let list = self.check_list();
        let c = list.get(self.check_selected.min(list.len().saturating_sub(1)))?;
        Some((c.step, c.index, c.label.clone()))
    }

    /// The Check command for one check, or why it cannot be sent.
    fn send_check(
        &mut self,
        step: usize,
        index: usize,
        label: &str,
        passed: bool,
        reason: String,
    ) -> Vec<Effect> {
        if !self.checks_open() {
            self.status = Some(format!("not sent: {}", self.checks_closed_why()));
            return vec![];
        }
        if self.checks_sent.contains(&(step, index)) {
            self.status = Some(format!(
                "\"{label}\" was sent already: the first tick decides"
            ));
            return vec![];
        }
        if let Err(why) = self.may_tick(step, index) {
            self.status = Some(format!("\"{label}\" not sent: {why}"));
            return vec![];
        }
        let by = self.role.name().to_string();
        self.checks_sent.push((step, index));
        self.status = Some(format!(
            "\"{label}\" sent as {} by {by} (journaled by the engine)",
            if passed { "passed" } else { "FAILED" }
        ));
        vec![Effect::Engine(Command::Check {
            step,
            index,
            passed,
            reason,
            by,
        })]
    }

    /// Whether this seat may tick the check (its `by:`; observers never).
    fn may_tick(&self, step: usize, index: usize) -> Result<(), String> {
        let check_by = self
            .run
            .criteria
            .iter()
            .find(|c| c.step == step && c.index == index)
            .and_then(|c| c.check_by.clone());
        match &self.run.scenario {
            Some(s) => s.may_tick(check_by.as_deref(), self.role.name()),
            None => Ok(()),
        }
    }

    /// `p` in the checks list.
    pub(super) fn check_passed(&mut self) -> Vec<Effect> {
        let Some((step, index, label)) = self.selected_check() else {
            return vec![];
        };
        self.send_check(step, index, &label, true, String::new())
    }

    /// `f` in the checks list: the reason box (the list stays under it).
    pub(super) fn check_failed(&mut self) {
        if !self.checks_open() {
            self.status = Some(self.checks_closed_why());
            return;
        }
        if let Some((step, index, label)) = self.selected_check() {
            if let Err(why) = self.may_tick(step, index) {
                self.status = Some(format!("\"{label}\" cannot be ticked here: {why}"));
                return;
            }
            self.field = Some(TextField {
                field: Field::CheckFailed { step, index },
                input: Input::default(),
            });
        }
    }

    /// Enter in the reason box of a failed check: a reason is required.
    pub(super) fn save_check_failed(
        &mut self,
        step: usize,
        index: usize,
        input: Input,
    ) -> Vec<Effect> {
        let reason = input.value().trim().to_string();
        let label = self
            .run
            .criteria
            .iter()
            .find(|c| c.step == step && c.index == index)
            .map(|c| c.label.clone())
            .unwrap_or_default();
        if !self.checks_open() {
            self.status = Some(format!(
                "not sent: {} (\"{label}\" stays not checked)",
                self.checks_closed_why()
            ));
            return vec![];
        }
        if reason.is_empty() {
            self.status = Some("a failed check needs a reason: type why".into());
            self.field = Some(TextField {
                field: Field::CheckFailed { step, index },
                input,
            });
            return vec![];
        }
        self.send_check(step, index, &label, false, reason)
    }

    /// After an event: sent checks the engine decided are done with; the list closes once nothing
    /// is left in it or checks can no longer be ticked (a reason box stays open, so keys typed into
    /// it never run commands; Enter then says it was not sent).
    pub(super) fn checks_moot(&mut self) {
        let decided: Vec<(usize, usize)> = self
            .run
            .criteria
            .iter()
            .filter(|c| c.outcome.is_some())
            .map(|c| (c.step, c.index))
            .collect();
        self.checks_sent.retain(|k| !decided.contains(k));
        if self.overlay != Overlay::Checks {
            return;
        }
        if !self.checks_open() {
            self.overlay = Overlay::None;
            self.status = Some(self.checks_closed_why());
        } else if self.check_list().is_empty() {
            self.overlay = Overlay::None;
        } else {
            self.check_selected = self.check_selected.min(self.check_list().len() - 1);
        }
    }
}
