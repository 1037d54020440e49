//! Everything that can change the console: one `Action` enum in, `Effect`s out.

use std::path::PathBuf;
use std::sync::Arc;

use chrono::{DateTime, Utc};
use tui_input::InputRequest;

use crate::engine::Command;
use crate::event::Envelope;
use crate::fold::RunState;
use crate::scenario::Scenario;

#[derive(Debug, Clone, PartialEq)]
pub enum Action {
    /// The console's clock moved (wall time in a live run). Rendering reads only this clock.
    Tick(DateTime<Utc>),
    /// An event from the engine.
    Event(Arc<Envelope>),
    /// The console fell behind the engine by this many events (they are in the journal).
    Lagged(u64),
    /// The journal as it stands, streamed into a fresh console state after a lag.
    Resynced(Refolded),
    /// SIGTERM / SIGHUP: halt, roll back, then leave.
    Signal(&'static str),
    Up,
    Down,
    PageUp,
    PageDown,
    Top,
    Bottom,
    /// Enter: choose / confirm.
    Select,
    /// Esc: close the overlay or go back a screen.
    Back,
    /// The big red button.
    Halt,
    /// `n`: the note box, kind observation (during the run, and after it on the Run and Review
    /// screens).
    OpenNote,
    /// `a`: the note box, kind action item.
    OpenActionItem,
    /// `+` went well, `-` went wrong, `Q` question, `B` runbook gap: the note box on that kind.
    OpenNoteOf(crate::event::NoteKind),
    /// `Tab` in the note box: the next note kind.
    CycleNoteKind,
    CycleRole,
    /// `c` on the Run and Review screens: the human checks still open.
    OpenChecks,
    /// `p` in the checks list: the selected check passed.
    CheckPassed,
    /// `f` in the checks list: the selected check failed (asks for a reason).
    CheckFailed,
    /// `v`: the fault rows whose rollback is not verified (failed, unknown, still running).
    OpenUnverified,
    /// `Enter` in that list: the selected row's details.
    UnverifiedDetail,
    /// `E` on the Review screen: the list of the run's notes, to edit one.
    OpenNotesList,
    /// `Enter` / `e` in the notes list: edit the selected note.
    EditNote,
    /// `R`: the Review screen (hot wash) after the run; again, back to the run.
    ToggleReview,
    Detected,
    Mitigated,
    AdvanceStep,
    /// Withdraw the last note or milestone (asks first).
    Undo,
    ToggleRunbook,
    ToggleHelp,
    /// `Tab` on the Run screen: the next pane takes the arrow keys.
    FocusNext,
    /// `/`: the next timeline filter (all, notes, faults, rules, metrics).
    CycleFilter,
    /// `z`: the selected metric panel fills the metrics area; again, back.
    Zoom,
    ToggleCheck,
    StartRun,
    ToggleDebrief,
    /// `e` on the Debrief screen, `w` on the Review screen: write the debrief files.
    Export,
    Quit,
    /// `y` in a confirmation: quit, or the pending command.
    Confirm,
    /// Replay slider, in seconds (negative goes back).
    Seek(i64),
    SeekStart,
    SeekEnd,
    /// An edit of the open text field.
    Edit(InputRequest),
    /// Results of effects the loop carried out.
    RunbookLoaded(Result<String, String>),
    Exported(Result<PathBuf, String>),
    RunFailed(String),
    /// A joined seat's request was answered by the run (sent, or refused and why).
    SeatAnswer(String),
    /// Opening the targets: how many hosts have answered (the start is still under way).
    Connecting(crate::target::Connecting),
}

/// A console [`RunState`] folded afresh from the journal. Two are equal when they folded the same
/// records of the same run (the state itself has no equality).
#[derive(Debug, Clone)]
pub struct Refolded(pub Box<RunState>);

impl PartialEq for Refolded {
    fn eq(&self, other: &Refolded) -> bool {
        let key = |r: &RunState| (r.records, r.last_seq, r.run.clone());
        key(&self.0) == key(&other.0)
    }
}

/// What `App::update` asks the outside world to do. The loop carries these out.
#[derive(Debug, Clone, PartialEq)]
pub enum Effect {
    Engine(Command),
    /// Start the engine on this scenario; the override note is journaled right after it starts.
    Start {
        scenario: Arc<Scenario>,
        override_note: Option<String>,
    },
    LoadRunbook {
        path: PathBuf,
        anchor: Option<String>,
    },
    /// Stream the journal again into a fresh state to catch up after the console fell behind.
    Resync,
    /// Write the Markdown debrief beside the journal (atomically).
    ExportDebrief,
    Quit,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Role {
    #[default]
    Ic,
    Scribe,
    Observer,
}

impl Role {
    pub fn name(self) -> &'static str {
        match self {
            Role::Ic => "IC",
            Role::Scribe => "scribe",
            Role::Observer => "observer",
        }
    }

    pub fn next(self) -> Role {
        match self {
            Role::Ic => Role::Scribe,
            Role::Scribe => Role::Observer,
            Role::Observer => Role::Ic,
        }
    }
}
