//! Every key binding, in one table. The help overlay is rendered from this same table.

use crossterm::event::{KeyCode, KeyEvent, KeyEventKind, KeyModifiers};

use super::action::Action;

/// Where a key is pressed. `Any` bindings apply everywhere except in a text field.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Ctx {
    Any,
    Picker,
    Preflight,
    Run,
    Debrief,
    /// A text field is open: only these bindings, everything else edits the text.
    Typing,
    /// "Quit?" confirmation.
    Confirm,
}

const NONE: KeyModifiers = KeyModifiers::NONE;
const SHIFT: KeyModifiers = KeyModifiers::SHIFT;
const CTRL: KeyModifiers = KeyModifiers::CONTROL;

pub struct Binding {
    pub ctx: Ctx,
    pub code: KeyCode,
    pub mods: KeyModifiers,
    pub action: Action,
    /// Shown in the help overlay; empty hides an alias.
    pub keys: &'static str,
    pub help: &'static str,
}

const fn b(
    ctx: Ctx,
    code: KeyCode,
    mods: KeyModifiers,
    action: Action,
    keys: &'static str,
    help: &'static str,
) -> Binding {
    Binding {
        ctx,
        code,
        mods,
        action,
        keys,
        help,
    }
}

use KeyCode::Char as C;

#[rustfmt::skip]
pub static BINDINGS: &[Binding] = &[
    // The big red button works everywhere, even while typing (Ctrl-X there).
    b(Ctx::Any, C('X'), SHIFT, Action::Halt, "X", "HALT: stop now and roll every fault back (no confirmation)"),
    b(Ctx::Any, C('x'), CTRL, Action::Halt, "Ctrl-X", "HALT, also while typing"),
    b(Ctx::Typing, C('x'), CTRL, Action::Halt, "", ""),
    b(Ctx::Confirm, C('X'), SHIFT, Action::Halt, "", ""),
    b(Ctx::Confirm, C('y'), NONE, Action::ConfirmQuit, "y", "quit: halt and roll back first"),
    b(Ctx::Confirm, C('n'), NONE, Action::Back, "n / Esc", "stay"),
    b(Ctx::Confirm, KeyCode::Esc, NONE, Action::Back, "", ""),
    b(Ctx::Typing, KeyCode::Enter, NONE, Action::Select, "Enter", "save the text"),
    b(Ctx::Typing, KeyCode::Esc, NONE, Action::Back, "Esc", "cancel the text"),
    b(Ctx::Typing, KeyCode::Tab, NONE, Action::CycleRole, "Tab", "switch role while typing a note"),
    b(Ctx::Any, C('?'), NONE, Action::ToggleHelp, "?", "show / hide every key"),
    b(Ctx::Any, C('?'), SHIFT, Action::ToggleHelp, "", ""),
    b(Ctx::Any, C('q'), NONE, Action::Quit, "q", "quit (asks first during a run, then rolls back)"),
    b(Ctx::Any, C('c'), CTRL, Action::Quit, "", ""),
    b(Ctx::Any, KeyCode::Esc, NONE, Action::Back, "Esc", "close / back"),
    b(Ctx::Any, KeyCode::Up, NONE, Action::Up, "↑ / k", "up / scroll"),
    b(Ctx::Any, C('k'), NONE, Action::Up, "", ""),
    b(Ctx::Any, KeyCode::Down, NONE, Action::Down, "↓ / j", "down / scroll"),
    b(Ctx::Any, C('j'), NONE, Action::Down, "", ""),
    b(Ctx::Any, KeyCode::PageUp, NONE, Action::PageUp, "PgUp / Ctrl-U", "page up"),
    b(Ctx::Any, C('u'), CTRL, Action::PageUp, "", ""),
    b(Ctx::Any, KeyCode::PageDown, NONE, Action::PageDown, "PgDn / Ctrl-D", "page down"),
    b(Ctx::Any, C('d'), CTRL, Action::PageDown, "", ""),
    b(Ctx::Any, KeyCode::Home, NONE, Action::Top, "Home / g", "top"),
    b(Ctx::Any, C('g'), NONE, Action::Top, "", ""),
    b(Ctx::Any, KeyCode::End, NONE, Action::Bottom, "End / G", "bottom (follow)"),
    b(Ctx::Any, C('G'), SHIFT, Action::Bottom, "", ""),
    b(Ctx::Picker, KeyCode::Enter, NONE, Action::Select, "Enter", "picker: choose the scenario"),
    b(Ctx::Picker, C('r'), NONE, Action::ToggleRunbook, "r", "picker / run: show the runbook"),
    b(Ctx::Preflight, C(' '), NONE, Action::ToggleCheck, "Space", "preflight: tick / untick"),
    b(Ctx::Preflight, KeyCode::Enter, NONE, Action::ToggleCheck, "", ""),
    b(Ctx::Preflight, C('s'), NONE, Action::StartRun, "s", "preflight: start (failed items need a reason)"),
    b(Ctx::Run, C('n'), NONE, Action::OpenNote, "n", "run: write a note (role-tagged)"),
    b(Ctx::Run, C('a'), NONE, Action::OpenActionItem, "a", "run: write an action item"),
    b(Ctx::Run, C('o'), NONE, Action::CycleRole, "o", "run: switch role IC / scribe / observer"),
    b(Ctx::Run, C('d'), NONE, Action::Detected, "d", "run: milestone detected"),
    b(Ctx::Run, C('m'), NONE, Action::Mitigated, "m", "run: milestone mitigated"),
    b(Ctx::Run, C('>'), NONE, Action::AdvanceStep, ">", "run: end this step now, go on"),
    b(Ctx::Run, C('>'), SHIFT, Action::AdvanceStep, "", ""),
    b(Ctx::Run, C('r'), NONE, Action::ToggleRunbook, "", ""),
    b(Ctx::Run, KeyCode::Left, NONE, Action::Seek(-5), "← / h", "replay: back 5 s"),
    b(Ctx::Run, C('h'), NONE, Action::Seek(-5), "", ""),
    b(Ctx::Run, KeyCode::Right, NONE, Action::Seek(5), "→ / l", "replay: forward 5 s"),
    b(Ctx::Run, C('l'), NONE, Action::Seek(5), "", ""),
    b(Ctx::Run, C('H'), SHIFT, Action::Seek(-60), "H / L", "replay: ∓ 60 s"),
    b(Ctx::Run, C('L'), SHIFT, Action::Seek(60), "", ""),
    b(Ctx::Run, C('['), NONE, Action::SeekStart, "[ / ]", "replay: start / end"),
    b(Ctx::Run, C(']'), NONE, Action::SeekEnd, "", ""),
    b(Ctx::Run, C('D'), SHIFT, Action::ToggleDebrief, "D", "debrief (after the run) / back"),
    b(Ctx::Debrief, C('D'), SHIFT, Action::ToggleDebrief, "", ""),
    b(Ctx::Debrief, C('e'), NONE, Action::Export, "e", "debrief: export Markdown"),
];

/// The action for a key in a context, or `None` (in `Typing`, `None` means: edit the text).
pub fn action_for(ctx: Ctx, key: KeyEvent) -> Option<Action> {
    if key.kind == KeyEventKind::Release {
        return None;
    }
    // Terminals differ on whether Shift is reported with an upper-case letter: ignore it for chars.
    let mods = match key.code {
        KeyCode::Char(_) => key.modifiers - KeyModifiers::SHIFT,
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
