//! Every key binding, in one table. The help overlay is rendered from this same table.

use crossterm::event::{KeyCode, KeyEvent, KeyEventKind, KeyModifiers};

use super::action::Action;
use crate::event::NoteKind;

/// Where a key is pressed. `Any` bindings apply everywhere except in a text field.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Ctx {
    Any,
    Picker,
    Preflight,
    Run,
    Debrief,
    /// The Review screen (hot wash) after the run.
    Review,
    /// The list of open human checks (`c`).
    Checks,
    /// The notes list over the Review screen.
    Notes,
    /// The list of fault rows not verified rolled back (`v`).
    Unverified,
    /// A text field is open: only these bindings, everything else edits the text.
    Typing,
    /// "Quit?" confirmation.
    Confirm,
}

const NONE: KeyModifiers = KeyModifiers::NONE;
const SHIFT: KeyModifiers = KeyModifiers::SHIFT;
const CTRL: KeyModifiers = KeyModifiers::CONTROL;

/// How the help overlay groups the keys.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Group {
    /// Moving around: scrolling, choosing, closing, quitting.
    Navigation,
    /// What changes the run: halt, start, advance.
    RunControl,
    /// Notes, action items, milestones, roles.
    Notes,
    /// Other views: runbook, debrief, help.
    Views,
    /// The replay slider (a replay only).
    Replay,
}

impl Group {
    pub const ALL: [Group; 5] = [
        Group::RunControl,
        Group::Notes,
        Group::Views,
        Group::Replay,
        Group::Navigation,
    ];

    pub fn title(self) -> &'static str {
        match self {
            Group::Navigation => "navigation",
            Group::RunControl => "run control",
            Group::Notes => "notes",
            Group::Views => "views",
            Group::Replay => "replay",
        }
    }
}

pub struct Binding {
    pub ctx: Ctx,
    pub code: KeyCode,
    pub mods: KeyModifiers,
    pub action: Action,
    pub group: Group,
    /// Shown in the help overlay; empty hides an alias.
    pub keys: &'static str,
    pub help: &'static str,
}

const fn b(
    ctx: Ctx,
    code: KeyCode,
    mods: KeyModifiers,
    action: Action,
    group: Group,
    keys: &'static str,
    help: &'static str,
) -> Binding {
    Binding {
        ctx,
        code,
        mods,
        action,
        group,
        keys,
        help,
    }
}

use Group::{Navigation as Nav, Notes, Replay, RunControl as Ctl, Views};
use KeyCode::Char as C;

#[rustfmt::skip]
pub static BINDINGS: &[Binding] = &[
    // The big red button works everywhere, even while typing (Ctrl-X there).
    b(Ctx::Any, C('X'), SHIFT, Action::Halt, Ctl, "X", "HALT: stop now and roll every fault back (no confirmation)"),
    b(Ctx::Any, C('x'), CTRL, Action::Halt, Ctl, "Ctrl-X", "HALT, also while typing"),
    b(Ctx::Typing, C('x'), CTRL, Action::Halt, Ctl, "", ""),
    b(Ctx::Confirm, C('X'), SHIFT, Action::Halt, Ctl, "", ""),
    // Dialogs: shown in the dialog itself, never in the help.
    b(Ctx::Confirm, C('y'), NONE, Action::Confirm, Ctl, "y", "yes"),
    b(Ctx::Confirm, C('n'), NONE, Action::Back, Nav, "n / Esc", "no"),
    b(Ctx::Confirm, KeyCode::Esc, NONE, Action::Back, Nav, "", ""),
    b(Ctx::Typing, KeyCode::Enter, NONE, Action::Select, Notes, "Enter", "save the text"),
    b(Ctx::Typing, KeyCode::Esc, NONE, Action::Back, Notes, "Esc", "cancel the text"),
    b(Ctx::Typing, KeyCode::Tab, NONE, Action::CycleNoteKind, Notes, "Tab", "note box: next kind (observation, action item, went well, went wrong, question, runbook gap)"),
    b(Ctx::Typing, KeyCode::BackTab, SHIFT, Action::CycleRole, Notes, "Shift-Tab", "note box: switch role"),
    b(Ctx::Any, C('?'), NONE, Action::ToggleHelp, Views, "?", "show / hide the keys"),
    b(Ctx::Any, C('?'), SHIFT, Action::ToggleHelp, Views, "", ""),
    b(Ctx::Any, C('q'), NONE, Action::Quit, Nav, "q", "quit (asks first during a run, then rolls back)"),
    b(Ctx::Any, C('c'), CTRL, Action::Quit, Nav, "", ""),
    b(Ctx::Any, KeyCode::Esc, NONE, Action::Back, Nav, "Esc", "close / back"),
    b(Ctx::Any, KeyCode::Up, NONE, Action::Up, Nav, "↑ / k", "up / scroll"),
    b(Ctx::Any, C('k'), NONE, Action::Up, Nav, "", ""),
    b(Ctx::Any, KeyCode::Down, NONE, Action::Down, Nav, "↓ / j", "down / scroll"),
    b(Ctx::Any, C('j'), NONE, Action::Down, Nav, "", ""),
    b(Ctx::Any, KeyCode::PageUp, NONE, Action::PageUp, Nav, "PgUp / Ctrl-U", "page up"),
    b(Ctx::Any, C('u'), CTRL, Action::PageUp, Nav, "", ""),
    b(Ctx::Any, KeyCode::PageDown, NONE, Action::PageDown, Nav, "PgDn / Ctrl-D", "page down"),
    b(Ctx::Any, C('d'), CTRL, Action::PageDown, Nav, "", ""),
    b(Ctx::Any, KeyCode::Home, NONE, Action::Top, Nav, "Home / g", "top"),
    b(Ctx::Any, C('g'), NONE, Action::Top, Nav, "", ""),
    b(Ctx::Any, KeyCode::End, NONE, Action::Bottom, Nav, "End / G", "bottom (follow)"),
    b(Ctx::Any, C('G'), SHIFT, Action::Bottom, Nav, "", ""),
    b(Ctx::Picker, KeyCode::Enter, NONE, Action::Select, Nav, "Enter", "choose the scenario (preflight)"),
    b(Ctx::Picker, C('r'), NONE, Action::ToggleRunbook, Views, "r", "show the runbook"),
    b(Ctx::Preflight, C(' '), NONE, Action::ToggleCheck, Ctl, "Space", "tick / untick"),
    b(Ctx::Preflight, KeyCode::Enter, NONE, Action::ToggleCheck, Ctl, "", ""),
    b(Ctx::Preflight, C('s'), NONE, Action::StartRun, Ctl, "s", "start (failed items need a reason)"),
    b(Ctx::Run, C('>'), NONE, Action::AdvanceStep, Ctl, ">", "end this step now, go on (asks first)"),
    b(Ctx::Run, C('>'), SHIFT, Action::AdvanceStep, Ctl, "", ""),
    b(Ctx::Run, C('n'), NONE, Action::OpenNote, Notes, "n", "write a note (role-tagged; Tab in the box: its kind)"),
    b(Ctx::Run, C('a'), NONE, Action::OpenActionItem, Notes, "a", "write an action item (@owner, due:YYYY-MM-DD)"),
    b(Ctx::Run, C('+'), NONE, Action::OpenNoteOf(NoteKind::WentWell), Notes, "+ / -", "a note of what went well / went wrong"),
    b(Ctx::Run, C('-'), NONE, Action::OpenNoteOf(NoteKind::WentWrong), Notes, "", ""),
    b(Ctx::Run, C('Q'), SHIFT, Action::OpenNoteOf(NoteKind::Question), Notes, "Q / B", "a question / a runbook gap"),
    b(Ctx::Run, C('B'), SHIFT, Action::OpenNoteOf(NoteKind::RunbookGap), Notes, "", ""),
    b(Ctx::Run, C('c'), NONE, Action::OpenChecks, Notes, "c", "human checks still open: tick passed or failed"),
    b(Ctx::Run, C('d'), NONE, Action::Detected, Notes, "d", "milestone detected"),
    b(Ctx::Run, C('m'), NONE, Action::Mitigated, Notes, "m", "milestone mitigated"),
    b(Ctx::Run, C('u'), NONE, Action::Undo, Notes, "u", "undo the last note or milestone (asks first)"),
    b(Ctx::Run, C('o'), NONE, Action::CycleRole, Notes, "o", "switch role IC / scribe / observer"),
    b(Ctx::Run, C('E'), SHIFT, Action::OpenNotesList, Notes, "E", "edit a note (the original stays in the journal)"),
    b(Ctx::Run, C('v'), NONE, Action::OpenUnverified, Views, "v", "the hosts whose rollback is not verified (failed, unknown, running), worst first"),
    b(Ctx::Run, C('r'), NONE, Action::ToggleRunbook, Views, "r", "show the runbook"),
    b(Ctx::Run, KeyCode::Tab, NONE, Action::FocusNext, Nav, "Tab", "focus the next pane (timeline, faults, metrics) for ↑↓"),
    b(Ctx::Run, KeyCode::Enter, NONE, Action::Select, Views, "Enter", "details of the selected event or fault (a panel: zoom)"),
    b(Ctx::Run, C('/'), NONE, Action::CycleFilter, Views, "/", "timeline filter: all, notes, faults, rules, metrics"),
    b(Ctx::Run, C('z'), NONE, Action::Zoom, Views, "z", "zoom the selected metric panel (again or Esc: back)"),
    b(Ctx::Run, C('D'), SHIFT, Action::ToggleDebrief, Views, "D", "debrief (after the run; replay: as of the slider)"),
    b(Ctx::Run, C('R'), SHIFT, Action::ToggleReview, Views, "R", "review: the hot wash (after the run; replay: as of the slider)"),
    b(Ctx::Run, KeyCode::Left, NONE, Action::Seek(-5), Replay, "← / h", "back 5 s"),
    b(Ctx::Run, C('h'), NONE, Action::Seek(-5), Replay, "", ""),
    b(Ctx::Run, KeyCode::Right, NONE, Action::Seek(5), Replay, "→ / l", "forward 5 s"),
    b(Ctx::Run, C('l'), NONE, Action::Seek(5), Replay, "", ""),
    b(Ctx::Run, C('H'), SHIFT, Action::Seek(-60), Replay, "H / L", "∓ 60 s"),
    b(Ctx::Run, C('L'), SHIFT, Action::Seek(60), Replay, "", ""),
    b(Ctx::Run, C('['), NONE, Action::SeekStart, Replay, "[ / ]", "start / end"),
    b(Ctx::Run, C(']'), NONE, Action::SeekEnd, Replay, "", ""),
    b(Ctx::Debrief, C('D'), SHIFT, Action::ToggleDebrief, Views, "D", "back to the run"),
    b(Ctx::Debrief, C('e'), NONE, Action::Export, Views, "e", "export Markdown"),
    b(Ctx::Debrief, C('R'), SHIFT, Action::ToggleReview, Views, "R", "review (hot wash)"),
    b(Ctx::Review, C('n'), NONE, Action::OpenNote, Notes, "n", "write a note (Tab in the box: its kind)"),
    b(Ctx::Review, C('a'), NONE, Action::OpenActionItem, Notes, "a", "write an action item (@owner, due:YYYY-MM-DD)"),
    b(Ctx::Review, C('+'), NONE, Action::OpenNoteOf(NoteKind::WentWell), Notes, "+ / -", "a note of what went well / went wrong"),
    b(Ctx::Review, C('-'), NONE, Action::OpenNoteOf(NoteKind::WentWrong), Notes, "", ""),
    b(Ctx::Review, C('Q'), SHIFT, Action::OpenNoteOf(NoteKind::Question), Notes, "Q / B", "a question / a runbook gap"),
    b(Ctx::Review, C('B'), SHIFT, Action::OpenNoteOf(NoteKind::RunbookGap), Notes, "", ""),
    b(Ctx::Review, C('o'), NONE, Action::CycleRole, Notes, "o", "switch role IC / scribe / observer"),
    b(Ctx::Review, C('c'), NONE, Action::OpenChecks, Notes, "c", "human checks (after the verdict: says why they can no longer be ticked)"),
    b(Ctx::Review, C('E'), SHIFT, Action::OpenNotesList, Notes, "E", "edit a note (the original stays in the journal)"),
    b(Ctx::Review, C('w'), NONE, Action::Export, Views, "w", "write the debrief (the same files as e)"),
    b(Ctx::Review, C('D'), SHIFT, Action::ToggleDebrief, Views, "D", "debrief"),
    b(Ctx::Review, C('R'), SHIFT, Action::ToggleReview, Views, "R", "back to the run"),
    b(Ctx::Checks, C('p'), NONE, Action::CheckPassed, Notes, "p", "the selected check passed"),
    b(Ctx::Checks, C('f'), NONE, Action::CheckFailed, Notes, "f", "the selected check failed (type why)"),
    b(Ctx::Notes, KeyCode::Enter, NONE, Action::EditNote, Notes, "Enter / e", "edit the selected note (Tab in the box: its kind)"),
    b(Ctx::Notes, C('e'), NONE, Action::EditNote, Notes, "", ""),
    b(Ctx::Unverified, KeyCode::Enter, NONE, Action::UnverifiedDetail, Views, "Enter", "the selected host's rollback: commands, output, the manual command"),
];

impl Ctx {
    /// The screen's name in the help overlay.
    pub fn title(self) -> &'static str {
        match self {
            Ctx::Any => "every screen",
            Ctx::Picker => "picker",
            Ctx::Preflight => "preflight",
            Ctx::Run => "run",
            Ctx::Debrief => "debrief",
            Ctx::Review => "review",
            Ctx::Checks => "checks list",
            Ctx::Notes => "notes list",
            Ctx::Unverified => "not-verified list",
            Ctx::Typing => "text box",
            Ctx::Confirm => "confirmation",
        }
    }
}

/// The help overlay's bindings for a screen: this screen's keys and the keys of every screen, by
/// group (run control first), one line per key (aliases hidden), never a dialog's keys.
pub fn help_for(screen: Ctx, replay: bool) -> Vec<(Group, &'static Binding)> {
    let mut out = Vec::new();
    for g in Group::ALL {
        if g == Group::Replay && !replay {
            continue;
        }
        for bd in BINDINGS.iter().filter(|bd| {
            bd.group == g && !bd.keys.is_empty() && (bd.ctx == screen || bd.ctx == Ctx::Any)
        }) {
            if replay
                && matches!(bd.group, Group::Notes | Group::RunControl)
                && matches!(bd.ctx, Ctx::Run | Ctx::Review)
            {
                continue;
            }
            out.push((g, bd));
        }
    }
    out
}

/// The action for a key in a context, or `None` (in `Typing`, `None` means: edit the text).
pub fn action_for(ctx: Ctx, key: KeyEvent) -> Option<Action> {
    if key.kind == KeyEventKind::Release {
        return None;
    }
    // Terminals differ on whether Shift is reported with an upper-case letter: ignore it for chars.
    let mods = match key.code {
        KeyCode::Char(_) | KeyCode::BackTab => key.modifiers - KeyModifiers::SHIFT,
        _ => key.modifiers,
    };
    let find = |c: Ctx| {
        BINDINGS
            .iter()
            .find(|bd| bd.ctx == c && bd.code == key.code && (bd.mods - SHIFT) == mods)
            .map(|bd| bd.action.clone())
    };
    match ctx {
        Ctx::Typing | Ctx::Confirm => find(ctx),
        _ => find(ctx).or_else(|| find(Ctx::Any)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(c: KeyCode, m: KeyModifiers) -> KeyEvent {
        KeyEvent::new(c, m)
    }

    #[test]
    fn halt_key_works_in_every_context() {
        for ctx in [
            Ctx::Picker,
            Ctx::Preflight,
            Ctx::Run,
            Ctx::Debrief,
            Ctx::Review,
            Ctx::Checks,
            Ctx::Notes,
            Ctx::Unverified,
            Ctx::Confirm,
        ] {
            assert_eq!(
                action_for(ctx, key(C('X'), SHIFT)),
                Some(Action::Halt),
                "{ctx:?}"
            );
            assert_eq!(
                action_for(ctx, key(C('X'), NONE)),
                Some(Action::Halt),
                "{ctx:?}"
            );
        }
        assert_eq!(
            action_for(Ctx::Typing, key(C('x'), CTRL)),
            Some(Action::Halt)
        );
        assert_eq!(action_for(Ctx::Typing, key(C('X'), SHIFT)), None);
    }

    #[test]
    fn help_lists_this_screens_keys_grouped_without_dialog_keys() {
        let run = help_for(Ctx::Run, false);
        assert!(
            run.iter()
                .all(|(_, bd)| !matches!(bd.ctx, Ctx::Typing | Ctx::Confirm))
        );
        assert!(run.iter().all(|(g, _)| *g != Group::Replay));
        // Grouped: each group's lines are together, run control first.
        let groups: Vec<Group> = run.iter().map(|(g, _)| *g).collect();
        let mut seen = groups.clone();
        seen.dedup();
        assert_eq!(seen[0], Group::RunControl);
        assert_eq!(seen.len(), {
            let mut u = seen.clone();
            u.sort_by_key(|g| *g as u8);
            u.dedup();
            u.len()
        });
        assert!(run.iter().any(|(_, bd)| bd.keys == "u"));
        assert!(!run.iter().any(|(_, bd)| bd.keys == "e"));
        let replay = help_for(Ctx::Run, true);
        assert!(replay.iter().any(|(g, _)| *g == Group::Replay));
        assert!(!replay.iter().any(|(_, bd)| bd.keys == "n"));
        // Every binding on a screen is reachable from that screen's help (or is an alias).
        let debrief = help_for(Ctx::Debrief, false);
        assert!(debrief.iter().any(|(_, bd)| bd.keys == "e"));
    }

    /// Keys as written in the help and in README's key map, one token each (`↑↓` is two).
    fn tokens(keys: &str) -> Vec<String> {
        keys.split([' ', ','])
            .filter(|t| !t.is_empty() && *t != "/")
            .flat_map(|t| {
                if t.chars().all(|c| "↑↓←→".contains(c)) {
                    t.chars().map(String::from).collect()
                } else {
                    vec![t.to_string()]
                }
            })
            .collect()
    }

    /// README's key map lists exactly the keys the console has (aliases aside).
    #[test]
    fn readme_key_map_lists_exactly_the_console_keys() {
        use std::collections::BTreeSet;
        let readme = include_str!("../../README.md");
        let table = readme
            .split("### Keys")
            .nth(1)
            .expect("README has a key map");
        let mut documented = BTreeSet::new();
        for row in table.lines().skip(3).take_while(|l| l.starts_with('|')) {
            let first = row.split('|').nth(1).unwrap_or("");
            for quoted in first.split('`').skip(1).step_by(2) {
                documented.extend(tokens(quoted));
            }
        }
        let bound: BTreeSet<String> = BINDINGS
            .iter()
            .filter(|bd| !bd.keys.is_empty())
            .flat_map(|bd| tokens(bd.keys))
            .collect();
        assert_eq!(documented, bound);
    }

    #[test]
    fn arrows_and_vim_keys_agree() {
        assert_eq!(action_for(Ctx::Run, key(C('j'), NONE)), Some(Action::Down));
        assert_eq!(
            action_for(Ctx::Run, key(KeyCode::Down, NONE)),
            Some(Action::Down)
        );
        assert_eq!(
            action_for(Ctx::Run, key(C('h'), NONE)),
            Some(Action::Seek(-5))
        );
        assert_eq!(
            action_for(Ctx::Run, key(KeyCode::Left, NONE)),
            Some(Action::Seek(-5))
        );
    }
}
