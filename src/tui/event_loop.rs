//! The console's one loop: terminal input, engine events, signals, a tick and a render interval in a
//! single `select!`. Bursts of engine events are drained together and drawn as one frame; drawing
//! happens at most ~10 times a second and only when something changed. The engine never waits for
//! this loop: it broadcasts, and a console that falls behind is told how much it missed.

use std::io;
use std::path::PathBuf;
use std::time::Duration;

use chrono::Utc;
use crossterm::event::Event as TermEvent;
use futures_util::{Stream, StreamExt};
use ratatui::Terminal;
use ratatui::backend::Backend;
use tokio::sync::broadcast::error::TryRecvError;
use tokio::sync::{broadcast, mpsc};

use super::action::{Action, Effect, Refolded};
use super::app::App;
use super::keys::{Ctx, action_for};
use super::launch::{Launcher, export_debrief, read_runbook};
use super::ui;
use crate::engine::RunOutcome;
use crate::session::{Ended, Running as Session};

/// Most engine events folded before a frame is allowed in between.
const BURST: usize = 4096;
pub const FRAME: Duration = Duration::from_millis(100);
const TICK: Duration = Duration::from_millis(250);

/// Begin / end a synchronized update, so a frame never shows half drawn.
pub trait SyncUpdate {
    fn begin_frame(&mut self) -> io::Result<()>;
    fn end_frame(&mut self) -> io::Result<()>;
}

impl<W: io::Write> SyncUpdate for ratatui::backend::CrosstermBackend<W> {
    fn begin_frame(&mut self) -> io::Result<()> {
        crossterm::queue!(self, crossterm::terminal::BeginSynchronizedUpdate)
    }
    fn end_frame(&mut self) -> io::Result<()> {
        crossterm::queue!(self, crossterm::terminal::EndSynchronizedUpdate)?;
        io::Write::flush(self)
    }
}

impl SyncUpdate for ratatui::backend::TestBackend {
    fn begin_frame(&mut self) -> io::Result<()> {
        Ok(())
    }
    fn end_frame(&mut self) -> io::Result<()> {
        Ok(())
    }
}

/// A start under way: the launcher's future (opening the targets), the hosts-answered count it
/// reports, and what the console asked of the run meanwhile (sent, in order, once it exists).
struct Starting {
    future: futures_util::future::BoxFuture<'static, Result<Session, String>>,
    progress: mpsc::UnboundedReceiver<crate::target::Connecting>,
    override_note: Option<String>,
    queued: Vec<crate::engine::Command>,
}

impl Starting {
    /// The run exists: the override reason is journaled first, then what the console asked of
    /// the run while its hosts were opening (a halt, a note), in order.
    fn hand_over(self, s: &Session) {
        if let Some(text) = self.override_note {
            send_command(
                s,
                crate::engine::Command::Note {
                    role: "IC".into(),
                    text,
                    action: false,
                },
            );
        }
        for cmd in self.queued {
            send_command(s, cmd);
        }
    }
}

enum StartEvent {
    Progress(crate::target::Connecting),
    Done(Result<Session, String>),
}

async fn next_start_event(starting: &mut Option<Starting>) -> StartEvent {
    let Some(st) = starting.as_mut() else {
        return std::future::pending().await;
    };
    tokio::select! {
        biased;
        Some(c) = st.progress.recv() => StartEvent::Progress(c),
        r = &mut st.future => StartEvent::Done(r),
    }
}

/// How the console ended.
#[derive(Debug, Default)]
pub struct Finished {
    pub journal: Option<PathBuf>,
    /// How the engine ended (`None` when no run was started).
    pub outcome: Option<Ended>,
    pub frames: u64,
    /// Notes saved after the engine stopped taking them: the caller journals them.
    pub late_notes: Vec<super::app::LateNote>,
}

pub struct Loop<'a> {
    pub launcher: Option<&'a mut (dyn Launcher + Send)>,
    pub signals: mpsc::Receiver<&'static str>,
    /// The journal a replay reads, for export.
    pub journal: Option<PathBuf>,
    /// A joined seat (`gameday join`): the run's events from its journal, commands over its seat
    /// socket; there is no engine here to start, wait for or halt on leaving.
    pub seat: Option<crate::seat::SeatLink>,
    /// A run already started before the console opened (a Chaos Toolkit experiment's,
    /// `session::start_experiment`): the console drives it as one it started itself.
    pub running: Option<Session>,
}

pub fn draw<B: Backend + SyncUpdate>(terminal: &mut Terminal<B>, app: &App) -> io::Result<()> {
    terminal.backend_mut().begin_frame()?;
    let r = terminal
        .draw(|f| ui::render(f, app))
        .map(|_| ())
        .map_err(io_err);
    terminal.backend_mut().end_frame()?;
    r
}

fn io_err<E: std::fmt::Display>(e: E) -> io::Error {
    io::Error::other(e.to_string())
}

impl Loop<'_> {
    pub async fn run<B, S>(
        mut self,
        terminal: &mut Terminal<B>,
        app: &mut App,
        mut input: S,
    ) -> io::Result<Finished>
    where
        B: Backend + SyncUpdate,
        S: Stream<Item = io::Result<TermEvent>> + Unpin,
    {
        let mut session: Option<Session> = self.running.take();
        let mut starting: Option<Starting> = None;
        // The engine task's result once it has ended: a run that ends without its verdict (a
        // panic, a journal that could not start) must not leave the console waiting for events.
        let mut engine_ended: Option<EngineResult> = None;
        let mut done = Finished {
            journal: self.journal.clone(),
            ..Finished::default()
        };
        if let Some(s) = &session {
            done.journal = Some(s.journal.clone());
            app.journal_path = Some(s.journal.clone());
        }
        if app.journal_path.is_none() {
            app.journal_path = self.journal.clone();
        }
        let mut render = tokio::time::interval(FRAME);
        render.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Skip);
        let mut tick = tokio::time::interval(TICK);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Skip);
        let mut dirty = true;
        let mut quit = false;
        let mut input_open = true;
        let mut screen_ok = true;
        let mut shown_second = app.now.timestamp();
        while !quit {
            let mut actions = Vec::new();
            let listening = session.as_ref().is_some_and(|_| !app.run.ended);
            let watching = session.is_some() && engine_ended.is_none();
            let (events_rx, engine) = match session.as_mut() {
                Some(s) => (Some(&mut s.events), Some(&mut s.engine)),
                None => (None, None),
            };
            tokio::select! {
                biased;
                Some(sig) = self.signals.recv() => actions.push(Action::Signal(sig)),
                ev = input.next(), if input_open => match ev {
                    Some(Ok(TermEvent::Key(key))) => {
                        let ctx = app.ctx();
                        match action_for(ctx, key) {
                            Some(a) => actions.push(a),
                            None if ctx == Ctx::Typing => {
                                if let Some(req) = tui_input::backend::crossterm::to_input_request(&TermEvent::Key(key)) {
                                    actions.push(Action::Edit(req));
                                }
                            }
                            None => {}
                        }
                    }
                    Some(Ok(TermEvent::Resize(..))) => dirty = true,
                    Some(Ok(_)) => {}
                    Some(Err(_)) | None => {
                        // No more input (terminal gone): treat as a hang-up.
                        input_open = false;
                        actions.push(Action::Signal("terminal input closed"));
                    }
                },
                ev = next_start_event(&mut starting), if starting.is_some() => match ev {
                    StartEvent::Progress(c) => actions.push(Action::Connecting(c)),
                    StartEvent::Done(r) => {
                        let st = starting.take();
                        match r {
                            Ok(s) => {
                                if let Some(st) = st {
                                    st.hand_over(&s);
                                }
                                done.journal = Some(s.journal.clone());
                                app.journal_path = Some(s.journal.clone());
                                session = Some(s);
                            }
                            Err(why) => actions.push(Action::RunFailed(why)),
                        }
                    }
                },
                Some(msg) = seat_next(self.seat.as_mut()) => match msg {
                    SeatMsg::Answer(text) => actions.push(Action::SeatAnswer(text)),
                    SeatMsg::Event(env) => {
                        actions.push(Action::Event(env));
                        if let Some(link) = self.seat.as_mut() {
                            while actions.len() < BURST {
                                match link.events.try_recv() {
                                    Ok(env) => actions.push(Action::Event(env)),
                                    Err(_) => break,
                                }
                            }
                        }
                    }
                },
                r = recv(events_rx), if listening => {
                    match r {
                        Ok(env) => actions.push(Action::Event(env)),
                        Err(broadcast::error::RecvError::Lagged(n)) => actions.push(Action::Lagged(n)),
                        Err(broadcast::error::RecvError::Closed) => {}
                    }
                    // Coalesce a burst: fold what is already queued before the next frame.
                    if let Some(s) = &mut session {
                        for _ in 0..BURST {
                            match s.events.try_recv() {
                                Ok(env) => actions.push(Action::Event(env)),
                                Err(TryRecvError::Lagged(n)) => actions.push(Action::Lagged(n)),
                                Err(_) => break,
                            }
                        }
                    }
                }
                ended = engine_task(engine), if watching => {
                    let failed = !matches!(ended, Ok(Ok(_)));
                    engine_ended = Some(ended);
                    if failed {
                        // No verdict will come: leave, so the caller rolls back from the journal.
                        tracing::error!("the engine ended without a verdict; leaving the console");
                        quit = true;
                    }
                }
                _ = tick.tick() => {
                    actions.push(Action::Tick(Utc::now()));
                }
                _ = render.tick(), if dirty && screen_ok => {
                    dirty = false;
                    match draw(terminal, app) {
                        Ok(()) => done.frames += 1,
                        Err(e) => {
                            // The terminal is gone (hang-up, closed pty): stop drawing, but never
                            // leave a run behind: treat it as a SIGHUP and roll back first.
                            tracing::warn!(error = %e, "cannot draw; treating as a hang-up");
                            screen_ok = false;
                            actions.push(Action::Signal("terminal lost"));
                        }
                    }
                }
            }
            for a in actions {
                let is_tick = matches!(a, Action::Tick(_));
                let effects = app.update(a);
                if is_tick {
                    // The clock only changes the screen when the shown second changes.
                    let s = app.now.timestamp();
                    dirty |= s != shown_second;
                    shown_second = s;
                } else {
                    dirty = true;
                }
                for e in effects {
                    quit |= self.carry_out(e, app, &mut session, &mut starting);
                }
            }
        }
        done.late_notes = std::mem::take(&mut app.late_notes);
        // Leaving while a start is under way: let it finish, then the run is halted below (a run
        // is never left without the console's halt).
        if let Some(mut st) = starting.take()
            && let Ok(s) = (&mut st.future).await
        {
            st.hand_over(&s);
            done.journal = Some(s.journal.clone());
            session = Some(s);
        }
        if let Some(s) = session.take() {
            done.journal = Some(s.journal.clone());
            done.outcome = Some(finish_engine(s, app, engine_ended).await);
        }
        Ok(done)
    }

    /// Carries out one effect; true when the console should leave.
    fn carry_out(
        &mut self,
        e: Effect,
        app: &mut App,
        session: &mut Option<Session>,
        starting: &mut Option<Starting>,
    ) -> bool {
        let mut follow = Vec::new();
        match e {
            Effect::Quit => return true,
            Effect::Engine(cmd) => {
                if let Some(s) = session {
                    send_command(s, cmd);
                } else if let Some(st) = starting {
                    st.queued.push(cmd);
                } else if let Some(link) = &self.seat {
                    // Never waits: a full queue is said, not blocked on.
                    let said = match crate::seat::request_of(cmd) {
                        Ok(req) => link.requests.try_send(req).err().map(|_| {
                            "not sent: the seat socket is busy or closed; try again".to_string()
                        }),
                        Err(why) => Some(why.to_string()),
                    };
                    follow.extend(said.map(Action::SeatAnswer));
                }
            }
            Effect::Start {
                scenario,
                override_note,
            } => match self.launcher.as_mut() {
                Some(l) => {
                    let (tx, progress) = mpsc::unbounded_channel();
                    let on = crate::target::OnConnect::new(move |c| {
                        let _ = tx.send(c);
                    });
                    *starting = Some(Starting {
                        future: l.launch(scenario, on),
                        progress,
                        override_note,
                        queued: Vec::new(),
                    });
                }
                None => follow.push(Action::RunFailed("this console cannot start runs".into())),
            },
            Effect::LoadRunbook { path, anchor } => follow.push(Action::RunbookLoaded(
                read_runbook(&path, anchor.as_deref()),
            )),
            Effect::Resync => {
                if let Some(s) = session.as_ref() {
                    // Streamed: memory does not grow with the journal, and nothing is written.
                    match crate::fold::RunState::console().fold_journal(&s.journal) {
                        Ok((run, _)) => follow.push(Action::Resynced(Refolded(Box::new(run)))),
                        Err(e) => {
                            tracing::warn!(error = %e, "cannot re-read the journal after a lag")
                        }
                    }
                }
            }
            Effect::ExportDebrief => {
                // Notes saved after the end go in first, once the engine has let go of the journal.
                if let Some(s) = session.as_ref().filter(|s| s.engine.is_finished())
                    && !app.late_notes.is_empty()
                {
                    let notes = std::mem::take(&mut app.late_notes);
                    app.late_notes = super::journal_late_notes(&s.journal, &notes, false);
                }
                let journal = session
                    .as_ref()
                    .map(|s| s.journal.clone())
                    .or_else(|| self.journal.clone());
                let r = match journal {
                    Some(j) => export_debrief(&j),
                    None => Err("no journal to export".into()),
                };
                follow.push(Action::Exported(r));
            }
        }
        let mut quit = false;
        for a in follow {
            for e in app.update(a) {
                quit |= self.carry_out(e, app, session, starting);
            }
        }
        quit
    }
}

async fn recv(
    events: Option<&mut broadcast::Receiver<std::sync::Arc<crate::event::Envelope>>>,
) -> Result<std::sync::Arc<crate::event::Envelope>, broadcast::error::RecvError> {
    match events {
        Some(rx) => rx.recv().await,
        None => std::future::pending().await,
    }
}

enum SeatMsg {
    Event(std::sync::Arc<crate::event::Envelope>),
    Answer(String),
}

/// The next event from the journal or answer from the run, for a joined seat; never for others.
async fn seat_next(link: Option<&mut crate::seat::SeatLink>) -> Option<SeatMsg> {
    let Some(l) = link else {
        return std::future::pending().await;
    };
    // A channel that has closed (the journal's reader stops after `run_ended`) answers `None` at
    // once: it is left out, and with both closed this waits for ever (the loop's other arms go on).
    let (mut events_open, mut answers_open) = (true, true);
    loop {
        tokio::select! {
            biased;
            a = l.answers.recv(), if answers_open => match a {
                Some(a) => return Some(SeatMsg::Answer(a)),
                None => answers_open = false,
            },
            e = l.events.recv(), if events_open => match e {
                Some(e) => return Some(SeatMsg::Event(e)),
                None => events_open = false,
            },
            else => return std::future::pending().await,
        }
    }
}

/// Commands never block the loop: a full queue hands the send to a task.
fn send_command(s: &Session, cmd: crate::engine::Command) {
    if let Err(tokio::sync::mpsc::error::TrySendError::Full(cmd)) = s.handle.commands.try_send(cmd)
    {
        let tx = s.handle.commands.clone();
        tokio::spawn(async move {
            let _ = tx.send(cmd).await;
        });
    }
}

type EngineResult =
    Result<Result<RunOutcome, crate::journal::JournalError>, tokio::task::JoinError>;

async fn engine_task(
    engine: Option<&mut tokio::task::JoinHandle<Result<RunOutcome, crate::journal::JournalError>>>,
) -> EngineResult {
    match engine {
        Some(e) => e.await,
        None => std::future::pending().await,
    }
}

/// Waits for the engine to finish. If the console is leaving mid-run (it should not), halt first.
async fn finish_engine(s: Session, app: &App, ended: Option<EngineResult>) -> Ended {
    let ended = match ended {
        Some(r) => r,
        None => {
            if !app.run.ended {
                send_command(
                    &s,
                    crate::engine::Command::Halt {
                        by: "console".into(),
                        reason: "console closing".into(),
                    },
                );
            }
            s.engine.await
        }
    };
    Ended::of(ended)
}
