//! The engine: one tokio task that owns the run. Commands and samples come in; every change goes out
//! as an [`Event`], written to the journal first and broadcast second. It knows nothing of terminals.
//!
//! The loop never blocks on work: injects, rollbacks and checks run as tasks in a `JoinSet`, so a
//! Halt is seen while they are in flight. Time comes from tokio's clock, so tests run whole
//! scenarios under a paused clock.

use std::collections::{BTreeMap, HashMap};
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Utc};
use tokio::sync::{Semaphore, broadcast, mpsc, watch};
use tokio::task::JoinSet;
use tokio::time::Instant;

use crate::event::{
    CommandOutcome, Envelope, Event, MilestoneKind, NoteKind, Phase, RollbackStatus, RuleCheck,
    Verdict,
};
use crate::fault::{
    FaultLedger, FaultPlan, FaultState, LeasePlan, LedgerEntry, PlanContext, RollbackReport, kinds,
    lease,
};
use crate::fmt;
use crate::journal::{JournalError, JournalWriter};
use crate::metric::{
    ProbeMap, Reading, RuleTracker, Sample, Transition, poll_once, spawn_samplers,
};
use crate::scenario::{RuleKind, Scenario, select};
use crate::target::HostMap;

mod criteria;
pub mod rollback;
use criteria::{Criteria, Decision};
use rollback::RollbackJob;

/// Runs in progress in this process, so the CLI can wait for their rollback if the console dies.
static LIVE_RUNS: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);

/// Counts a run as live until dropped, even when the engine task unwinds (also held by a Chaos
/// Toolkit run's task, `session::start_experiment`).
pub struct LiveRun;

impl LiveRun {
    pub fn enter() -> LiveRun {
        LIVE_RUNS.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        LiveRun
    }
}

impl Drop for LiveRun {
    fn drop(&mut self) {
        LIVE_RUNS.fetch_sub(1, std::sync::atomic::Ordering::SeqCst);
    }
}

/// Waits until no run is in progress in this process (bounded by `limit`); true when none is.
pub async fn wait_for_runs(limit: Duration) -> bool {
    let deadline = Instant::now() + limit;
    while LIVE_RUNS.load(std::sync::atomic::Ordering::SeqCst) > 0 {
        if Instant::now() >= deadline {
            return false;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    true
}

/// What the outside world may ask of a run.
#[derive(Debug, Clone, PartialEq)]
pub enum Command {
    /// Emergency stop: nothing new starts; every live fault is rolled back at once.
    Halt {
        by: String,
        reason: String,
    },
    /// An observation, or an action item with no owner (`action`): the short form of
    /// [`Command::NoteOf`].
    Note {
        role: String,
        text: String,
        action: bool,
    },
    /// A note of a kind (the console's note box); an action item names its owner and may have a
    /// due date.
    NoteOf {
        role: String,
        text: String,
        kind: NoteKind,
        owner: Option<String>,
        due: Option<String>,
    },
    Milestone {
        kind: MilestoneKind,
        role: String,
    },
    /// Replace what an earlier note says (by its journal sequence number); journaled as
    /// `note_edited`, the original kept.
    EditNote {
        edits: u64,
        role: String,
        text: String,
        kind: NoteKind,
        owner: Option<String>,
        due: Option<String>,
    },
    /// Withdraw an earlier note or milestone, by its journal sequence number.
    Retract {
        seq: u64,
        role: String,
    },
    /// End the current step now and go on to the next.
    Advance,
    /// Start although live preflight checks failed (only while the run holds for it); the reason
    /// is journaled.
    Proceed {
        by: String,
        reason: String,
    },
    /// A person ticks human check `index` (in the step's `success:` list) of step `step`, from the
    /// step's start until the run ends; the first tick decides it, a later one is ignored.
    Check {
        step: usize,
        index: usize,
        passed: bool,
        reason: String,
        by: String,
    },
    /// Journal what happened at the run's seat socket (`crate::seat`): only
    /// [`Event::SeatJoined`], [`Event::SeatLeft`] or [`Event::SeatRefused`]; anything else is
    /// ignored (logged).
    Seat(Box<Event>),
}

/// What a note holds of its moment: every metric's latest value and the live faults.
pub type Snapshot = (BTreeMap<String, Option<f64>>, Vec<crate::event::LiveFault>);

impl Command {
    /// The timeline record a person's input becomes, as every runner journals it: a note (with
    /// `snapshot()` of its moment), a milestone, a note's edit or a retraction. Any other command
    /// comes back for its runner to act on.
    pub fn into_record(self, snapshot: impl FnOnce() -> Snapshot) -> Result<Event, Command> {
        let note = |role, text, kind: NoteKind, owner, due| {
            let (metrics, faults) = snapshot();
            Event::Note {
                role,
                text,
                action: kind == NoteKind::ActionItem,
                kind: Some(kind),
                owner,
                due,
                metrics,
                faults,
            }
        };
        Ok(match self {
            Command::Note { role, text, action } => {
                note(role, text, NoteKind::of(None, action), None, None)
            }
            Command::NoteOf {
                role,
                text,
                kind,
                owner,
                due,
            } => note(role, text, kind, owner, due),
            Command::Milestone { kind, role } => Event::Milestone { kind, role },
            Command::EditNote {
                edits,
                role,
                text,
                kind,
                owner,
                due,
            } => Event::NoteEdited {
                edits,
                role,
                text,
                kind,
                owner,
                due,
            },
            Command::Retract { seq, role } => Event::Retracted {
                retracts: seq,
                role,
            },
            other => return Err(other),
        })
    }
}

#[derive(Debug, Clone, PartialEq)]
pub struct RunOutcome {
    pub verdict: Verdict,
    pub exit_code: i32,
    pub reason: String,
    pub journal: PathBuf,
    /// Where records that the journal could not take were written instead (empty when none).
    pub unjournaled: Vec<PathBuf>,
}

#[derive(Debug, Clone)]
pub struct Options {
    /// Most commands in flight at once across hosts.
    pub fanout: usize,
    /// Time limit of a preflight reachability check.
    pub check_timeout: Duration,
    /// How SSH targets are opened (known_hosts, accept-new, fan-out of handshakes); used by
    /// whoever opens the hosts before the engine starts (CLI, console launcher, recover).
    pub open: crate::target::OpenOptions,
    /// When a live preflight check fails, wait for a `Proceed` (with a reason) or a `Halt` instead
    /// of ending the run. The console sets this; headless runs end, since no one could answer.
    pub hold_failed_preflight: bool,
    /// Time limits of notifications (`notify:`).
    pub notify: crate::notify::Limits,
    /// `run --allow-remote-halt`: a seat joined with `--can-halt` may halt the run. Read by the
    /// seat socket (`crate::seat`), not by the engine.
    pub allow_remote_halt: bool,
}

impl Default for Options {
    fn default() -> Self {
        Options {
            fanout: 64,
            check_timeout: Duration::from_secs(10),
            open: crate::target::OpenOptions::default(),
            hold_failed_preflight: false,
            notify: crate::notify::Limits::default(),
            allow_remote_halt: false,
        }
    }
}

/// The ends of a run the caller keeps: commands in, events out.
#[derive(Clone)]
pub struct Handle {
    pub commands: mpsc::Sender<Command>,
    pub events: broadcast::Sender<Arc<Envelope>>,
}

impl Handle {
    pub fn subscribe(&self) -> broadcast::Receiver<Arc<Envelope>> {
        self.events.subscribe()
    }
}

/// Wall-clock time derived from tokio's clock, so journal times follow paused-clock tests.
#[derive(Debug, Clone, Copy)]
struct Clock {
    wall0: DateTime<Utc>,
    t0: Instant,
}

impl Clock {
    fn utc(&self) -> DateTime<Utc> {
        chrono::Duration::from_std(self.t0.elapsed())
            .ok()
            .and_then(|d| self.wall0.checked_add_signed(d))
            .unwrap_or(self.wall0)
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Stage {
    Preflight,
    /// Live checks failed; waiting for Proceed or Halt.
    PreflightHold,
    SteadyBefore,
    /// `injecting` while the step's inject commands are in flight.
    Step {
        index: usize,
        injecting: bool,
    },
    StepRollback {
        index: usize,
    },
    /// Every step is done; recovery windows (`after: rollback`) are still open.
    Settling,
    /// A round of expanding step `index` is back; its recovery windows are still open, and
    /// whether it grows to the next size waits for them.
    ExpandWait {
        index: usize,
    },
    SteadyAfter,
    Halting,
    /// The verdict is journaled; sampling goes on until `until` (`recovery_watch`) after a halt.
    Watching {
        until: Instant,
    },
    Finished,
}

/// What a background task reports back.
enum Done {
    Check {
        name: String,
        ok: bool,
        detail: String,
    },
    Reading {
        metric: String,
        reading: Reading,
    },
    Injected {
        fault: String,
        host: String,
        outcome: CommandOutcome,
        /// The lease arm's outcome, when the fault has a lease.
        lease: Option<CommandOutcome>,
        /// Set when the fault never reached the host: refused by its check, its lease could not be
        /// armed, or a halt came first. `outcome` is then the refusal (or empty if nothing was sent).
        not_injected: Option<String>,
        /// The lease cancel sent by the task itself when the fault did not go in.
        lease_cancel: Option<CommandOutcome>,
    },
    RolledBack {
        fault: String,
        host: String,
        report: RollbackReport,
    },
    LeaseCancelled(Option<Event>),
    LeaseRenewed {
        fault: String,
        host: String,
        outcome: CommandOutcome,
    },
}

/// One fault's inject on one host, as its task runs it: slot, lease, inject.
struct InjectTask {
    host: Arc<dyn crate::target::Host>,
    plan: FaultPlan,
    lease: Option<LeasePlan>,
    timeout: Duration,
    permits: Arc<Semaphore>,
    halted: watch::Receiver<bool>,
}

impl InjectTask {
    /// (inject outcome, lease arm outcome, why it did not go in, the task's own lease cancel).
    async fn run(
        mut self,
    ) -> (
        CommandOutcome,
        Option<CommandOutcome>,
        Option<String>,
        Option<CommandOutcome>,
    ) {
        const HALTED: &str = "the run was halted before it was sent";
        // Wait for a slot, but never past a halt: a queued inject that has not started never will.
        let permit = tokio::select! {
            biased;
            _ = self.halted.wait_for(|h| *h) => None,
            p = self.permits.clone().acquire_owned() => p.ok(),
        };
        if permit.is_none() || *self.halted.borrow() {
            return (CommandOutcome::default(), None, Some(HALTED.into()), None);
        }
        // Dead-man lease first: no fault goes in that the host cannot take out alone.
        let armed = match &self.lease {
            Some(l) => Some(self.host.exec(&l.arm, self.timeout).await),
            None => None,
        };
        if let Some(a) = armed.as_ref().filter(|a| !a.success()) {
            // The watcher may half exist (timed out mid-arm): stand it down, best effort.
            let cancel = self.cancel_lease().await;
            let why = format!("the dead-man lease could not be armed ({})", a.summary());
            return (a.clone(), armed, Some(why), cancel);
        }
        if *self.halted.borrow() {
            let cancel = self.cancel_lease().await;
            return (
                CommandOutcome::default(),
                armed,
                Some(HALTED.into()),
                cancel,
            );
        }
        let outcome = self.host.exec(&self.plan.inject, self.timeout).await;
        if let Some(reason) = self.plan.refusal(&outcome) {
            // Refused before it changed anything: the lease must not undo what was never done.
            let cancel = self.cancel_lease().await;
            return (outcome, armed, Some(format!("refused: {reason}")), cancel);
        }
        (outcome, armed, None, None)
    }

    async fn cancel_lease(&self) -> Option<CommandOutcome> {
        let l = self.lease.as_ref()?;
        Some(self.host.exec(&l.cancel, self.timeout).await)
    }
}

/// A fault of a step and the hosts it goes to.
type FaultHosts = (crate::scenario::Fault, Vec<Arc<dyn crate::target::Host>>);

/// Which fault a task was about, so a panicking task is still accounted for.
#[derive(Clone)]
enum TaskKey {
    Other,
    Inject { fault: String, host: String },
    Rollback { fault: String, host: String },
}

struct Halt {
    at: Instant,
}

pub struct Engine {
    scenario: Arc<Scenario>,
    hosts: HostMap,
    probes: ProbeMap,
    journal: JournalWriter,
    events: broadcast::Sender<Arc<Envelope>>,
    commands: mpsc::Receiver<Command>,
    options: Options,
    clock: Clock,
    /// Separate slots for injects, rollbacks and everything else (checks, lease renewals and
    /// cancels), so a rollback never queues behind an inject or a renewal.
    inject_permits: Arc<Semaphore>,
    rollback_permits: Arc<Semaphore>,
    misc_permits: Arc<Semaphore>,
    /// Flips to true on a halt; queued inject tasks watch it and never send once it is set.
    halted: watch::Sender<bool>,

    stage: Stage,
    ops: JoinSet<Done>,
    op_keys: HashMap<tokio::task::Id, TaskKey>,
    ledger: FaultLedger,
    trackers: Vec<RuleTracker>,
    samplers: Option<JoinSet<()>>,
    samples_tx: mpsc::Sender<Sample>,
    samples_rx: mpsc::Receiver<Sample>,
    latest: BTreeMap<String, Option<f64>>,
    last_seen: BTreeMap<String, Instant>,
    steady_readings: BTreeMap<String, Reading>,
    preflight_failures: Vec<String>,
    step_deadline: Option<Instant>,
    max_deadline: Instant,
    halt: Option<Halt>,
    /// When the live leases are renewed next.
    lease_renew_at: Option<Instant>,
    /// When the last rollback result came in (the end of halt → last rollback confirmed).
    last_rollback: Option<Instant>,
    /// Why the run stopped early, for the verdict.
    aborted: Option<String>,
    violated: Option<String>,
    journal_error: Option<String>,
    /// The steps' success criteria.
    criteria: Criteria,
    /// Success criteria that failed, for the verdict.
    criteria_failed: Vec<String>,
    /// The halt came from a failed criterion of a `halt_on_failure` step.
    halted_by_criterion: bool,
    /// During the recovery watch: consecutive samples inside the steady-state bound, per metric
    /// with one; the watch ends early once every one of them is back.
    watch_good: BTreeMap<String, u32>,
    /// Where the run's moments are announced (`notify:`); never waited on during the run.
    notifier: Option<crate::notify::Notifier>,
    /// The seed of each fault's selection, drawn once (a step's rounds reuse it).
    seeds: BTreeMap<String, u64>,
    /// The expanding step and its round in progress.
    round: Option<(usize, usize)>,
    /// The first abort-rule breach during the round (it stops the expansion).
    round_breach: Option<String>,
}

impl Engine {
    pub fn new(
        scenario: Arc<Scenario>,
        hosts: HostMap,
        probes: ProbeMap,
        journal: JournalWriter,
        options: Options,
    ) -> (Engine, Handle) {
        let (cmd_tx, cmd_rx) = mpsc::channel(256);
        let (ev_tx, _) = broadcast::channel(8192);
        let (samples_tx, samples_rx) = mpsc::channel(1024);
        let now = Instant::now();
        let trackers = scenario
            .abort
            .iter()
            .cloned()
            .map(RuleTracker::new)
            .collect();
        let criteria = Criteria::new(&scenario);
        let engine = Engine {
            criteria,
            criteria_failed: Vec::new(),
            halted_by_criterion: false,
            watch_good: BTreeMap::new(),
            notifier: None,
            seeds: BTreeMap::new(),
            round: None,
            round_breach: None,
            max_deadline: after(now, scenario.max_duration),
            inject_permits: Arc::new(Semaphore::new(options.fanout.max(1))),
            rollback_permits: Arc::new(Semaphore::new(options.fanout.max(1))),
            misc_permits: Arc::new(Semaphore::new(options.fanout.max(1))),
            halted: watch::channel(false).0,
            scenario,
            hosts,
            probes,
            journal,
            events: ev_tx.clone(),
            commands: cmd_rx,
            options,
            clock: Clock {
                wall0: Utc::now(),
                t0: now,
            },
            stage: Stage::Preflight,
            ops: JoinSet::new(),
            op_keys: HashMap::new(),
            ledger: FaultLedger::default(),
            trackers,
            samplers: None,
            samples_tx,
            samples_rx,
            latest: BTreeMap::new(),
            last_seen: BTreeMap::new(),
            steady_readings: BTreeMap::new(),
            preflight_failures: Vec::new(),
            step_deadline: None,
            halt: None,
            lease_renew_at: None,
            last_rollback: None,
            aborted: None,
            violated: None,
            journal_error: None,
        };
        (
            engine,
            Handle {
                commands: cmd_tx,
                events: ev_tx,
            },
        )
    }

    /// Runs the game day to its verdict. Returns an error only when the journal cannot be started.
    pub async fn run(mut self) -> Result<RunOutcome, JournalError> {
        let _live = LiveRun::enter();
        // The first record must reach the disk, or nothing else may happen. Subscribers get it
        // too: the console takes the scenario as journaled (host names included) from it.
        let started = self.journal.append(
            self.clock.utc(),
            Event::RunStarted {
                scenario: Box::new((*self.scenario).clone()),
                gameday_version: env!("CARGO_PKG_VERSION").to_string(),
                dry_run: None,
            },
        )?;
        let started = Arc::new(started);
        let _ = self.events.send(started.clone());
        self.journal.group_sync(true);
        // Keys `--accept-new` recorded while the hosts were opened, before there was a journal.
        for key in self.options.open.ssh.accepted.take() {
            self.emit(key.into());
        }
        let (notifier, failed) = crate::notify::Notifier::start(
            &self.scenario,
            |v| std::env::var(v).ok(),
            self.options.notify,
        );
        self.notifier = notifier;
        for d in failed {
            self.emit_delivery(d);
        }
        if let Some(n) = &mut self.notifier {
            n.offer(&started);
        }
        self.start_preflight();
        let mut commands_open = true;
        while self.stage != Stage::Finished {
            let deadline = self.next_deadline();
            tokio::select! {
                biased;
                cmd = self.commands.recv(), if commands_open => match cmd {
                    Some(cmd) => self.on_command(cmd),
                    None => {
                        // Every Handle is gone: no one can press the big red button any more.
                        commands_open = false;
                        self.halt(
                            "engine",
                            "the console that controlled this run is gone, so no one can halt it: rolling back",
                        );
                    }
                },
                Some(done) = self.ops.join_next_with_id(), if !self.ops.is_empty() => {
                    self.on_done(done);
                    // Every other task already finished too, in this turn: their results share
                    // one fsync (group commit, below).
                    while let Some(done) = self.ops.try_join_next_with_id() {
                        self.on_done(done);
                    }
                }
                Some(sample) = self.samples_rx.recv() => self.on_sample(sample),
                _ = tokio::time::sleep_until(deadline) => self.on_time(),
            }
            if let Err(e) = self.journal.sync_pending() {
                tracing::error!(error = %e, "journal sync failed");
                self.journal_error.get_or_insert(e.to_string());
            }
            if self.journal_error.is_some() && self.halt.is_none() {
                self.halt(
                    "engine",
                    "the journal cannot be written: stopping so nothing goes unrecorded",
                );
            }
            self.journal_deliveries();
        }
        if let Err(e) = self.journal.sync_pending() {
            tracing::error!(error = %e, "journal sync failed");
            self.journal_error.get_or_insert(e.to_string());
        }
        // Notifications in flight (the verdict's) get a bounded moment; then what they did is
        // journaled after run_ended, like notes written after the run.
        if let Some(n) = self.notifier.take() {
            for d in n.finish().await {
                self.emit_delivery(d);
            }
        }
        let verdict = self.verdict();
        Ok(RunOutcome {
            verdict: verdict.0,
            exit_code: verdict.0.exit_code(),
            reason: verdict.1,
            journal: self.journal.path().to_path_buf(),
            unjournaled: self.journal.unjournaled_files().to_vec(),
        })
    }

    fn emit(&mut self, event: Event) -> bool {
        match self.journal.append(self.clock.utc(), event) {
            Ok(env) => {
                let env = Arc::new(env);
                // Never waits: a full queue drops the notification (counted, journaled at the end).
                if let Some(n) = &mut self.notifier {
                    n.offer(&env);
                }
                // No subscriber is fine; a slow one lags and catches up from the journal.
                let _ = self.events.send(env);
                true
            }
            Err(e) => {
                tracing::error!(error = %e, "journal write failed");
                self.journal_error.get_or_insert(e.to_string());
                false
            }
        }
    }

    /// Journals the notifications finished since the last look.
    fn journal_deliveries(&mut self) {
        let done = match &mut self.notifier {
            Some(n) => n.results(),
            None => return,
        };
        for d in done {
            self.emit_delivery(d);
        }
    }

    fn emit_delivery(&mut self, d: crate::notify::Delivery) {
        if !d.ok {
            tracing::warn!(to = %d.to, about = %d.about, error = ?d.error, "notification not delivered");
        }
        self.emit(Event::Notified {
            to: d.to,
            record: d.seq,
            about: d.about,
            ok: d.ok,
            attempts: d.attempts,
            status: d.status,
            error: d.error,
        });
    }

    /// Runs `fut` as a task once it has a slot of `permits` (None: it takes its own slot).
    fn spawn(
        &mut self,
        key: TaskKey,
        permits: Option<Arc<Semaphore>>,
        fut: impl std::future::Future<Output = Done> + Send + 'static,
    ) {
        let handle = self.ops.spawn(async move {
            // The semaphores are never closed; a missing permit would only mean unbounded fan-out.
            let _permit = match permits {
                Some(p) => p.acquire_owned().await.ok(),
                None => None,
            };
            fut.await
        });
        self.op_keys.insert(handle.id(), key);
    }

    fn misc(&self) -> Option<Arc<Semaphore>> {
        Some(self.misc_permits.clone())
    }

    // ---- phases -------------------------------------------------------------------------------

    fn start_preflight(&mut self) {
        self.stage = Stage::Preflight;
        self.emit(Event::PhaseStarted {
            phase: Phase::Preflight,
        });
        let timeout = self.options.check_timeout;
        let targets: Vec<_> = self
            .hosts
            .iter()
            .flat_map(|(t, hs)| hs.iter().map(move |h| (t.clone(), h.clone())))
            .collect();
        for (target, host) in targets {
            let slot = self.misc();
            self.spawn(TaskKey::Other, slot, async move {
                let out = host.exec("true", timeout).await;
                let detail = match host.connect_ms() {
                    Some(c) => format!(
                        "{} (connect+auth {c} ms, command {} ms)",
                        out.summary(),
                        out.ms
                    ),
                    None => out.summary(),
                };
                let detail = match host.route() {
                    Some(r) => format!("{detail}; dialled as {r}"),
                    None => detail,
                };
                Done::Check {
                    name: format!("target {target}: {} reachable", host.name()),
                    ok: out.success(),
                    detail,
                }
            });
        }
        let metrics: Vec<_> = self
            .scenario
            .metrics
            .values()
            .filter_map(|m| {
                self.probes
                    .get(&m.name)
                    .map(|p| (m.name.clone(), m.timeout, p.clone()))
            })
            .collect();
        for (name, timeout, probe) in metrics {
            let slot = self.misc();
            self.spawn(TaskKey::Other, slot, async move {
                let reading = poll_once(probe.as_ref(), timeout).await;
                Done::Check {
                    name: format!("metric {name} returns data"),
                    ok: reading.is_ok(),
                    detail: match reading {
                        Ok(v) => format!("value {}", crate::fmt::value(Some(v))),
                        Err(e) => e,
                    },
                }
            });
        }
        if self.ops.is_empty() {
            self.stage_drained();
        }
    }

    fn start_steady_check(&mut self, phase: Phase) {
        self.stage = if phase == Phase::SteadyStateBefore {
            Stage::SteadyBefore
        } else {
            Stage::SteadyAfter
        };
        self.emit(Event::PhaseStarted { phase });
        self.steady_readings.clear();
        let mut wanted: Vec<String> = self
            .scenario
            .steady_state
            .iter()
            .map(|r| r.metric.clone())
            .collect();
        wanted.sort();
        wanted.dedup();
        for name in wanted {
            let (Some(probe), Some(metric)) = (
                self.probes.get(&name).cloned(),
                self.scenario.metrics.get(&name),
            ) else {
                self.steady_readings
                    .insert(name.clone(), Err("no source for this metric".into()));
                continue;
            };
            let timeout = metric.timeout;
            let slot = self.misc();
            self.spawn(TaskKey::Other, slot, async move {
                let reading = poll_once(probe.as_ref(), timeout).await;
                Done::Reading {
                    metric: name,
                    reading,
                }
            });
        }
        if self.ops.is_empty() {
            self.stage_drained();
        }
    }

    fn start_step(&mut self, index: usize) {
        let step = self.scenario.steps[index].clone();
        self.stage = Stage::Step {
            index,
            injecting: true,
        };
        self.step_deadline = Some(after(Instant::now(), step.duration));
        self.emit(Event::StepStarted {
            index,
            name: step.name.clone(),
            duration_ms: ms(step.duration),
            prompt: step.prompt.clone(),
        });
        if !step.expand.is_empty() {
            let round = match self.round {
                Some((s, r)) if s == index => r,
                _ => 0,
            };
            self.round = Some((index, round));
            self.round_breach = None;
            if round > 0 {
                // Each round is judged on its own: its criteria open again.
                self.criteria.reopen(index);
            }
        }
        self.criteria.step_started(index, Instant::now());
        let Some(work) = self.select_hosts(index, &step) else {
            // Refused: journaled, nothing injected, and the run is halting.
            return;
        };
        for (fault, hosts) in &work {
            for host in hosts.iter().cloned() {
                let ctx = PlanContext {
                    run: self.journal.run_id().to_string(),
                    management_port: host.management_port(),
                };
                let plan = FaultPlan::of(fault, &ctx);
                let lease = match (&plan.undo, host.leases() && !fault.irreversible) {
                    (Some(undo), true) => Some(lease::plan(
                        &lease::name(&kinds::tag(&ctx, &fault.id), host.name()),
                        undo,
                        fault.lease,
                        fault.timeout,
                    )),
                    _ => None,
                };
                // Intent before action: the undo is on disk before the inject is sent.
                let recorded = self.emit(Event::FaultIntent {
                    fault: fault.id.clone(),
                    kind: fault.spec.kind_name().to_string(),
                    step: index,
                    target: fault.target.clone(),
                    host: host.name().to_string(),
                    inject: plan.inject.clone(),
                    undo: plan.undo.clone(),
                    verify: plan.verify.clone(),
                    irreversible: fault.irreversible,
                    timeout_ms: ms(fault.timeout),
                });
                if !recorded {
                    // emit() flagged the journal; the loop halts the run right after this.
                    continue;
                }
                self.ledger.insert(LedgerEntry {
                    fault: fault.clone(),
                    step: index,
                    host: host.clone(),
                    plan: plan.clone(),
                    state: FaultState::Injecting,
                    lease: lease.clone(),
                });
                let (fid, hname, timeout) =
                    (fault.id.clone(), host.name().to_string(), fault.timeout);
                let key = TaskKey::Inject {
                    fault: fid.clone(),
                    host: hname.clone(),
                };
                let task = InjectTask {
                    host,
                    plan,
                    lease,
                    timeout,
                    permits: self.inject_permits.clone(),
                    halted: self.halted.subscribe(),
                };
                // The task takes its own slot: it must be able to give up waiting on a halt.
                self.spawn(key, None, async move {
                    let (outcome, lease, not_injected, lease_cancel) = task.run().await;
                    Done::Injected {
                        fault: fid,
                        host: hname,
                        outcome,
                        lease,
                        not_injected,
                        lease_cancel,
                    }
                });
            }
        }
        if self.ops.is_empty() {
            self.stage_drained();
        }
    }

    /// Which hosts each fault of step `index` goes to: all of its target's, or those its `select:`
    /// chooses (journaled as `hosts_selected` before any intent). `None` when the hosts faulted at
    /// once (this step's and any still live) would exceed the blast radius: journaled as
    /// `selection_refused`, nothing injected, and the run halts.
    fn select_hosts(
        &mut self,
        index: usize,
        step: &crate::scenario::Step,
    ) -> Option<Vec<FaultHosts>> {
        let budget = self.scenario.budget();
        // An expanding step's round sets the size of every selection in it.
        let round_size = match self.round {
            Some((s, r)) if s == index => step.expand.get(r).copied(),
            _ => None,
        };
        let (mut round_hosts, mut round_candidates) = (0usize, 0usize);
        let mut work = Vec::new();
        for fault in &step.faults {
            let all = self.hosts.get(&fault.target).cloned().unwrap_or_default();
            let Some(sel) = &fault.select else {
                work.push((fault.clone(), all));
                continue;
            };
            let size = round_size.unwrap_or(sel.size);
            let seed = *self
                .seeds
                .entry(fault.id.clone())
                .or_insert_with(|| sel.seed.unwrap_or_else(select::fresh_seed));
            let candidates = sel.candidates(self.scenario.target_hosts(&fault.target));
            let n = size.of(candidates.len()).min(candidates.len());
            let chosen = select::choose(&candidates, n, seed);
            round_hosts = round_hosts.saturating_add(chosen.chosen.len());
            round_candidates = round_candidates.saturating_add(chosen.candidates.len());
            let names: Vec<String> = chosen.chosen.iter().map(ToString::to_string).collect();
            self.emit(Event::HostsSelected {
                step: index,
                fault: fault.id.clone(),
                target: fault.target.clone(),
                seed,
                size: size.to_string(),
                candidates: chosen.candidates.iter().map(ToString::to_string).collect(),
                chosen: names.clone(),
                budget,
            });
            let wanted: std::collections::BTreeSet<&str> =
                names.iter().map(String::as_str).collect();
            let hosts = all
                .into_iter()
                .filter(|h| wanted.contains(h.name()))
                .collect();
            work.push((fault.clone(), hosts));
        }
        let Some(budget) = budget else {
            self.round_started(index, round_hosts, round_candidates);
            return Some(work);
        };
        let ssh: std::collections::BTreeSet<String> = self
            .scenario
            .ssh_hosts()
            .into_iter()
            .map(ToString::to_string)
            .collect();
        let live = self.ledger.live();
        let at_once: std::collections::BTreeSet<&str> = work
            .iter()
            .flat_map(|(_, hs)| hs.iter().map(|h| h.name()))
            .chain(live.iter().map(|l| l.host.as_str()))
            .filter(|h| ssh.contains(*h))
            .collect();
        if at_once.len() <= budget {
            self.round_started(index, round_hosts, round_candidates);
            return Some(work);
        }
        let reason = format!(
            "step {} would fault {} host(s) at once ({} still live), more than the blast radius allows ({budget}); nothing of the step was injected",
            index + 1,
            at_once.len(),
            live.len()
        );
        self.emit(Event::SelectionRefused {
            step: index,
            hosts: at_once.len(),
            budget,
            reason: reason.clone(),
        });
        self.halt("blast radius", &reason);
        None
    }

    /// Journals the start of a round of expanding step `index`, once its hosts are chosen.
    fn round_started(&mut self, index: usize, hosts: usize, candidates: usize) {
        let Some((s, round)) = self.round else {
            return;
        };
        if s != index {
            return;
        }
        let step = &self.scenario.steps[index];
        let event = Event::ExpansionRoundStarted {
            step: index,
            round,
            rounds: step.expand.len(),
            size: step
                .expand
                .get(round)
                .map(ToString::to_string)
                .unwrap_or_default(),
            hosts,
            candidates,
        };
        self.emit(event);
    }

    /// Step `index`'s faults are all back: its recovery windows open; an expanding step waits for
    /// them and is judged, any other goes on to the next step.
    fn step_back(&mut self, index: usize) {
        let decided = self.criteria.step_rolled_back(index, Instant::now());
        self.decided(decided);
        if self.halt.is_some() {
            return;
        }
        if self.round.is_some_and(|(s, _)| s == index) {
            self.stage = Stage::ExpandWait { index };
            self.judge_round(index);
        } else {
            self.next_step(index + 1);
        }
    }

    /// Once a round's criteria are all decided: the next size when every one passed and no abort
    /// rule breached, else the expansion stops and the run goes on to the next step.
    fn judge_round(&mut self, index: usize) {
        if self.stage != (Stage::ExpandWait { index })
            || self.halt.is_some()
            || self.criteria.metric_open(index)
        {
            return;
        }
        let Some((_, round)) = self.round else {
            return;
        };
        let expand = self.scenario.steps[index].expand.clone();
        let size = expand
            .get(round)
            .map(ToString::to_string)
            .unwrap_or_default();
        let result = match &self.round_breach {
            Some(b) => Err(b.clone()),
            None => self.criteria.all_passed(index),
        };
        let next = expand.get(round + 1);
        let (passed, expanding, reason) = match (result, next) {
            (Ok(()), Some(n)) => (true, true, format!("every criterion passed: on to {n}")),
            (Ok(()), None) => (true, false, "every size passed".to_string()),
            (Err(why), _) => (false, false, format!("{why} in round {}", round + 1)),
        };
        self.emit(Event::ExpansionRoundEnded {
            step: index,
            round,
            size,
            passed,
            expanding,
            reason,
        });
        if expanding {
            self.round = Some((index, round + 1));
            self.start_step(index);
        } else {
            self.round = None;
            self.next_step(index + 1);
        }
    }

    fn end_step(&mut self, index: usize, advanced: bool) {
        self.step_deadline = None;
        let name = self.scenario.steps[index].name.clone();
        self.emit(Event::StepEnded {
            index,
            name,
            advanced,
        });
        let decided = self.criteria.step_ended(index, advanced, Instant::now());
        self.decided(decided);
        if self.halt.is_some() {
            return;
        }
        if self.ledger.to_roll_back(Some(index)).is_empty() {
            self.step_back(index);
        } else {
            self.stage = Stage::StepRollback { index };
            self.spawn_rollbacks(Some(index));
        }
    }

    fn next_step(&mut self, index: usize) {
        if index < self.scenario.steps.len() {
            self.start_step(index);
        } else if self.criteria.recovery_open() {
            // No fault is live: wait (bounded by each window, and by max_duration) for the
            // recovery windows before the final steady-state check.
            self.stage = Stage::Settling;
        } else {
            self.start_steady_check(Phase::SteadyStateAfter);
        }
    }

    /// Journals criteria decisions; a failure counts against the verdict and, in a
    /// `halt_on_failure` step, halts the run.
    fn decided(&mut self, decisions: Vec<Decision>) {
        let mut halt = None;
        for d in decisions {
            self.emit(d.event);
            if let Some(why) = d.failed {
                if d.halts && halt.is_none() {
                    halt = Some(why.clone());
                }
                self.criteria_failed.push(why);
            }
        }
        if let Some(why) = halt
            && self.halt.is_none()
            && self.stage != Stage::Finished
        {
            self.halted_by_criterion = true;
            self.halt(
                "success criterion",
                &format!("{why}; the step halts on failure: rolling back"),
            );
        }
        if self.stage == Stage::Settling && !self.criteria.recovery_open() && self.halt.is_none() {
            self.start_steady_check(Phase::SteadyStateAfter);
        }
        if let Stage::ExpandWait { index } = self.stage {
            self.judge_round(index);
        }
    }

    fn spawn_rollbacks(&mut self, step: Option<usize>) {
        let work: Vec<(String, String)> = self
            .ledger
            .to_roll_back(step)
            .into_iter()
            .map(|e| (e.fault.id.clone(), e.host.name().to_string()))
            .collect();
        for (fid, hname) in work {
            self.spawn_rollback(&fid, &hname);
        }
        if self.ops.is_empty() {
            self.stage_drained();
        }
    }

    /// Starts rolling back one fault on one host, on the rollback slots (never behind injects).
    fn spawn_rollback(&mut self, fault: &str, host: &str) {
        let Some(job) = self.rollback_job(fault, host) else {
            return;
        };
        self.ledger.set(fault, host, FaultState::RollingBack);
        self.emit(Event::RollbackStarted {
            fault: fault.to_string(),
            host: host.to_string(),
        });
        let (fid, hname) = (fault.to_string(), host.to_string());
        let key = TaskKey::Rollback {
            fault: fid.clone(),
            host: hname.clone(),
        };
        let slot = Some(self.rollback_permits.clone());
        self.spawn(key, slot, async move {
            let report = job.run().await;
            Done::RolledBack {
                fault: fid,
                host: hname,
                report,
            }
        });
    }

    /// The ledger's fault on one host as a [`RollbackJob`]: the one rollback path `recover` takes too.
    fn rollback_job(&mut self, fault: &str, host: &str) -> Option<RollbackJob> {
        let e = self.ledger.get_mut(fault, host)?;
        Some(RollbackJob {
            fault: fault.to_string(),
            host: e.host.clone(),
            plan: e.plan.clone(),
            timeout: e.fault.timeout,
            lease_cancel: e.lease.as_ref().map(|l| l.cancel.clone()),
        })
    }

    /// Emergency stop: drop what can be dropped, roll back everything that is live.
    fn halt(&mut self, by: &str, reason: &str) {
        if self.halt.is_some() || self.stage == Stage::Finished {
            return;
        }
        self.halt = Some(Halt { at: Instant::now() });
        // Queued injects see this and never send; nothing new starts from here on.
        self.halted.send_replace(true);
        self.aborted.get_or_insert_with(|| reason.to_string());
        self.emit(Event::HaltRequested {
            by: by.to_string(),
            reason: reason.to_string(),
        });
        let undecided = self.criteria.halted(Instant::now());
        self.decided(undecided);
        match self.stage {
            Stage::Preflight
            | Stage::PreflightHold
            | Stage::SteadyBefore
            | Stage::Settling
            | Stage::ExpandWait { .. }
            | Stage::SteadyAfter => {
                // Only checks are in flight and no fault is live: drop them (aborts the tasks).
                self.ops = JoinSet::new();
                self.op_keys.clear();
                self.finish();
            }
            // Everything already on a host starts rolling back now; an inject still in flight
            // is rolled back the moment it returns (on_done), never beside it; rollbacks already
            // in flight (a step's end) carry on.
            Stage::Step { .. } | Stage::StepRollback { .. } => self.start_halt_rollback(),
            Stage::Halting | Stage::Watching { .. } | Stage::Finished => {}
        }
    }

    fn start_halt_rollback(&mut self) {
        self.stage = Stage::Halting;
        self.step_deadline = None;
        self.emit(Event::PhaseStarted {
            phase: Phase::Rollback,
        });
        self.spawn_rollbacks(None);
    }

    /// Preflight passed (or was overridden): start sampling and check the steady state.
    fn after_preflight(&mut self) {
        self.samplers = Some(spawn_samplers(
            &self.scenario.metrics,
            &self.probes,
            self.samples_tx.clone(),
        ));
        let now = Instant::now();
        for name in self.scenario.metrics.keys() {
            self.last_seen.insert(name.clone(), now);
        }
        self.start_steady_check(Phase::SteadyStateBefore);
    }

    /// Called when every task of the current stage has reported.
    fn stage_drained(&mut self) {
        match self.stage {
            Stage::Preflight => {
                if self.preflight_failures.is_empty() {
                    self.after_preflight();
                } else if self.options.hold_failed_preflight {
                    self.stage = Stage::PreflightHold;
                    self.emit(Event::PreflightHeld {
                        failures: self.preflight_failures.clone(),
                    });
                } else {
                    let reason = format!(
                        "preflight failed: {}; no fault was injected",
                        self.preflight_failures.join("; ")
                    );
                    self.aborted = Some(reason);
                    self.finish();
                }
            }
            Stage::PreflightHold => {}
            Stage::SteadyBefore | Stage::SteadyAfter => {
                let before = self.stage == Stage::SteadyBefore;
                let (held, checks) = self.evaluate_steady_state();
                self.emit(Event::SteadyState {
                    phase: if before {
                        Phase::SteadyStateBefore
                    } else {
                        Phase::SteadyStateAfter
                    },
                    held,
                    checks: checks.clone(),
                });
                let failing = || {
                    checks
                        .iter()
                        .filter(|c| !c.held)
                        .map(|c| match &c.reason {
                            Some(r) => format!("{} ({r})", c.rule),
                            None => format!("{} (value {})", c.rule, fmt::value(c.value)),
                        })
                        .collect::<Vec<_>>()
                        .join("; ")
                };
                match (before, held) {
                    (true, true) => {
                        self.emit(Event::PhaseStarted {
                            phase: Phase::Steps,
                        });
                        self.start_step(0);
                    }
                    (true, false) => {
                        self.aborted = Some(format!(
                            "steady state did not hold before the first fault: {}; no fault was injected",
                            failing()
                        ));
                        self.finish();
                    }
                    (false, held) => {
                        if !held {
                            self.violated = Some(format!(
                                "steady state did not hold after the last step: {}",
                                failing()
                            ));
                        }
                        self.finish();
                    }
                }
            }
            Stage::Step {
                index,
                injecting: true,
            } => {
                self.stage = Stage::Step {
                    index,
                    injecting: false,
                };
            }
            Stage::Step { .. } => {}
            Stage::StepRollback { index } => {
                if self.ledger.any_unresolved() {
                    self.aborted = Some(format!(
                        "rollback after step {} did not verify; stopping before anything else is injected",
                        index + 1
                    ));
                    self.finish();
                } else {
                    self.step_back(index);
                }
            }
            Stage::Halting => self.rollback_finished(),
            Stage::Settling
            | Stage::ExpandWait { .. }
            | Stage::Watching { .. }
            | Stage::Finished => {}
        }
    }

    fn rollback_finished(&mut self) {
        let faults = self
            .ledger
            .entries()
            .filter(|e| e.state != FaultState::Irreversible)
            .count();
        // Up to the last confirmation, not to the end of housekeeping (lease cancels).
        let end = self.last_rollback.unwrap_or_else(Instant::now);
        let since_halt_ms = self
            .halt
            .as_ref()
            .map(|h| ms(end.max(h.at).duration_since(h.at)));
        self.emit(Event::RollbackFinished {
            all_verified: !self.ledger.any_unresolved(),
            faults,
            since_halt_ms,
        });
        self.finish();
    }

    fn verdict(&self) -> (Verdict, String) {
        if self.ledger.any_unresolved() {
            let n = self
                .ledger
                .entries()
                .filter(|e| {
                    matches!(
                        e.state,
                        FaultState::Done(RollbackStatus::Failed | RollbackStatus::Unknown)
                    ) || e.state.needs_rollback()
                })
                .count();
            let why = self
                .aborted
                .as_ref()
                .map(|a| format!(" (run stopped: {a})"))
                .unwrap_or_default();
            return (
                Verdict::ManualActionNeeded,
                format!("{n} fault rollback(s) not verified: manual action needed{why}"),
            );
        }
        if let Some(e) = &self.journal_error {
            // Every fault may be back, but the record of it is not whole: a person must look.
            return (
                Verdict::ManualActionNeeded,
                format!(
                    "the journal could not be written ({e}): records that missed it went to stderr and a side file; check the faults by hand"
                ),
            );
        }
        if let Some(a) = &self.aborted {
            if self.halted_by_criterion {
                return (Verdict::Violated, a.clone());
            }
            return (Verdict::Aborted, a.clone());
        }
        if self.violated.is_some() || !self.criteria_failed.is_empty() {
            let why: Vec<String> = self
                .violated
                .iter()
                .chain(&self.criteria_failed)
                .cloned()
                .collect();
            return (Verdict::Violated, why.join("; "));
        }
        let n = self
            .ledger
            .entries()
            .filter(|e| e.state == FaultState::Done(RollbackStatus::Verified))
            .count();
        (
            Verdict::Held,
            format!("steady state held before and after; {n} fault rollback(s) verified"),
        )
    }

    fn finish(&mut self) {
        self.step_deadline = None;
        // What is still open is undecided (metrics) or not checked (human checks).
        let open = self.criteria.finished(Instant::now());
        self.decided(open);
        self.emit(Event::PhaseStarted {
            phase: Phase::Verdict,
        });
        let (verdict, reason) = self.verdict();
        self.emit(Event::Verdict {
            verdict,
            exit_code: verdict.exit_code(),
            reason,
        });
        // After a halt, sampling goes on for `recovery_watch` (within max_duration) so the debrief
        // shows whether the system came back. The verdict and the exit code are decided already.
        // It ends early once every metric with a steady-state rule is back inside it (for
        // `RECOVERED_AFTER` samples); without such a metric there is nothing to watch for.
        let watch = self.scenario.recovery_watch;
        self.watch_good = self
            .scenario
            .steady_state
            .iter()
            .map(|r| (r.metric.clone(), 0))
            .collect();
        if self.halt.is_some()
            && self.samplers.is_some()
            && !watch.is_zero()
            && !self.watch_good.is_empty()
        {
            let until = after(Instant::now(), watch).min(self.max_deadline);
            if until > Instant::now() {
                self.stage = Stage::Watching { until };
                return;
            }
        }
        self.end_run();
    }

    /// A sample during the recovery watch: the watch ends once every bounded metric is back.
    fn watched(&mut self, metric: &str, value: Option<f64>) {
        let Some(good) = self.watch_good.get_mut(metric) else {
            return;
        };
        let inside = self
            .scenario
            .steady_state
            .iter()
            .filter(|r| r.metric == metric)
            .all(|r| !r.breached_by(value));
        *good = if inside { good.saturating_add(1) } else { 0 };
        if self
            .watch_good
            .values()
            .all(|g| *g >= crate::fold::impact::RECOVERED_AFTER)
        {
            self.end_run();
        }
    }

    fn end_run(&mut self) {
        self.samplers = None;
        self.emit(Event::RunEnded);
        self.stage = Stage::Finished;
    }

    // ---- inputs -------------------------------------------------------------------------------

    fn on_command(&mut self, cmd: Command) {
        match cmd {
            record @ (Command::Note { .. }
            | Command::NoteOf { .. }
            | Command::Milestone { .. }
            | Command::EditNote { .. }
            | Command::Retract { .. }) => {
                if let Ok(event) = record.into_record(|| (self.latest.clone(), self.ledger.live()))
                {
                    self.emit(event);
                }
            }
            // A halt during the recovery watch ends the watch.
            Command::Halt { .. } if matches!(self.stage, Stage::Watching { .. }) => self.end_run(),
            Command::Halt { by, reason } => self.halt(&by, &reason),
            Command::Check {
                step,
                index,
                passed,
                reason,
                by,
            } => {
                if matches!(self.stage, Stage::Watching { .. } | Stage::Finished) {
                    tracing::warn!(step, index, "check after the verdict ignored");
                    return;
                }
                let check_by = self
                    .scenario
                    .criteria()
                    .find(|(s, i, _)| *s == step && *i == index)
                    .and_then(|(_, _, c)| match &c.test {
                        crate::scenario::Test::Check { by } => by.clone(),
                        _ => None,
                    });
                if let Err(why) = self.scenario.may_tick(check_by.as_deref(), &by) {
                    tracing::warn!(step, index, %by, %why, "check ignored");
                    return;
                }
                match self
                    .criteria
                    .check(step, index, passed, reason, by, Instant::now())
                {
                    Ok(decided) => self.decided(decided),
                    Err(why) => tracing::warn!(%why, "check ignored"),
                }
            }
            Command::Proceed { by, reason } => {
                if self.stage == Stage::PreflightHold && self.halt.is_none() {
                    let failures = std::mem::take(&mut self.preflight_failures);
                    self.emit(Event::PreflightOverridden {
                        by,
                        reason,
                        failures,
                    });
                    self.after_preflight();
                }
            }
            Command::Seat(event) => {
                if matches!(
                    *event,
                    Event::SeatJoined { .. } | Event::SeatLeft { .. } | Event::SeatRefused { .. }
                ) {
                    self.emit(*event);
                } else {
                    tracing::warn!("a seat command that is not a seat record ignored");
                }
            }
            Command::Advance => {
                if let Stage::Step {
                    index,
                    injecting: false,
                } = self.stage
                    && self.halt.is_none()
                {
                    self.end_step(index, true);
                }
            }
        }
    }

    fn on_done(&mut self, done: Result<(tokio::task::Id, Done), tokio::task::JoinError>) {
        let done = match done {
            Ok((id, d)) => {
                self.op_keys.remove(&id);
                d
            }
            Err(e) => {
                // A task died (panic or abort): account for its fault as if its command was lost.
                let key = self.op_keys.remove(&e.id()).unwrap_or(TaskKey::Other);
                let lost = CommandOutcome {
                    error: Some(format!("task failed: {e}")),
                    ..Default::default()
                };
                match key {
                    TaskKey::Inject { fault, host } => Done::Injected {
                        fault,
                        host,
                        outcome: lost,
                        lease: None,
                        not_injected: None,
                        lease_cancel: None,
                    },
                    TaskKey::Rollback { fault, host } => Done::RolledBack {
                        fault,
                        host,
                        report: rollback::lost(&e.to_string()),
                    },
                    TaskKey::Other => Done::Check {
                        name: "internal check".into(),
                        ok: false,
                        detail: format!("task failed: {e}"),
                    },
                }
            }
        };
        match done {
            Done::Check { name, ok, detail } => {
                if !ok {
                    self.preflight_failures.push(format!("{name}: {detail}"));
                }
                self.emit(Event::PreflightCheck {
                    check: name,
                    ok,
                    detail,
                });
            }
            Done::Reading { metric, reading } => {
                self.steady_readings.insert(metric.clone(), reading.clone());
                self.on_sample(Sample {
                    metric,
                    reading,
                    at: Instant::now(),
                });
            }
            Done::Injected {
                fault,
                host,
                outcome,
                lease,
                not_injected: Some(reason),
                lease_cancel,
            } => {
                if let Some(armed) = lease {
                    self.lease_armed(&fault, &host, armed);
                }
                self.ledger.set(&fault, &host, FaultState::NotInjected);
                // Something was sent and said no (a refusal, a lease that would not arm): the
                // experiment cannot go on as written. Skipped by a halt: nothing more to say.
                let sent = outcome.exit.is_some() || outcome.error.is_some();
                self.emit(Event::FaultNotInjected {
                    fault: fault.clone(),
                    host: host.clone(),
                    reason: reason.clone(),
                    outcome: sent.then_some(outcome),
                });
                if let Some(c) = lease_cancel {
                    self.emit(Event::LeaseCancelled {
                        fault: fault.clone(),
                        host: host.clone(),
                        ok: c.success(),
                    });
                }
                if sent {
                    self.halt(
                        "engine",
                        &format!(
                            "fault {fault} on {host} was not injected ({reason}); rolling back"
                        ),
                    );
                }
            }
            Done::Injected {
                fault,
                host,
                outcome,
                lease,
                not_injected: None,
                ..
            } => {
                if let Some(armed) = lease {
                    self.lease_armed(&fault, &host, armed);
                }
                let ok = outcome.success();
                let irreversible = self
                    .ledger
                    .get_mut(&fault, &host)
                    .is_some_and(|e| e.fault.irreversible);
                let state = match (ok, irreversible) {
                    (_, true) => FaultState::Irreversible,
                    (true, false) => FaultState::Injected,
                    (false, false) => FaultState::InjectFailed,
                };
                self.ledger.set(&fault, &host, state);
                let summary = outcome.summary();
                self.emit(Event::FaultInjected {
                    fault: fault.clone(),
                    host: host.clone(),
                    ok,
                    outcome,
                });
                if !ok {
                    self.halt(
                        "engine",
                        &format!(
                            "inject of fault {fault} on {host} failed ({summary}); rolling back"
                        ),
                    );
                }
                #[cfg(feature = "test-support")]
                if std::env::var_os("GAMEDAY_TEST_ENGINE_PANIC").is_some() {
                    panic!(
                        "test-support: engine panic after an inject (GAMEDAY_TEST_ENGINE_PANIC)"
                    );
                }
                // Halted while this inject was in flight: it comes out now, as soon as it is in.
                if self.halt.is_some() && state.needs_rollback() {
                    self.spawn_rollback(&fault, &host);
                }
            }
            Done::LeaseRenewed {
                fault,
                host,
                outcome,
            } => self.lease_renewed(fault, host, outcome),
            Done::RolledBack {
                fault,
                host,
                mut report,
            } => {
                self.ledger
                    .set(&fault, &host, FaultState::Done(report.status));
                self.last_rollback = Some(Instant::now());
                if let Some(job) = self.rollback_job(&fault, &host) {
                    let verified = report.status == RollbackStatus::Verified;
                    let cancelled = report.lease_cancel.take();
                    self.emit(job.result(report));
                    // Only a verified rollback stands the lease down; otherwise it stays as the
                    // backstop. On the control shell the cancel went in the rollback's own
                    // exchange (started by the host once its verify passed) and is journaled when
                    // it ends; otherwise it runs now, after the result. Off the halt's path either way.
                    if let Some(pending) = cancelled {
                        let slot = self.misc();
                        self.spawn(TaskKey::Other, slot, async move {
                            let outcome = pending.wait().await;
                            Done::LeaseCancelled(Some(job.lease_cancelled(&outcome)))
                        });
                    } else if verified && job.lease_cancel.is_some() {
                        let slot = self.misc();
                        self.spawn(TaskKey::Other, slot, async move {
                            Done::LeaseCancelled(job.cancel_lease().await)
                        });
                    }
                }
            }
            Done::LeaseCancelled(event) => {
                if let Some(e) = event {
                    self.emit(e);
                }
            }
        }
        if self.ops.is_empty() {
            self.stage_drained();
        }
    }

    fn lease_armed(&mut self, fault: &str, host: &str, armed: CommandOutcome) {
        let Some(l) = self
            .ledger
            .get_mut(fault, host)
            .and_then(|e| e.lease.clone())
        else {
            return;
        };
        let ok = armed.success();
        self.emit(Event::LeaseArmed {
            fault: fault.to_string(),
            host: host.to_string(),
            ok,
            lease_ms: ms(l.duration),
            cancel: l.cancel.clone(),
            outcome: armed,
        });
        if ok {
            let at = after(Instant::now(), renew_every(&l));
            if self.lease_renew_at.is_none_or(|t| at < t) {
                self.lease_renew_at = Some(at);
            }
        }
    }

    /// Renews every live lease; called from the clock while the run is healthy.
    fn renew_leases(&mut self) {
        let live: Vec<(String, Arc<dyn crate::target::Host>, LeasePlan, Duration)> = self
            .ledger
            .entries()
            .filter(|e| e.state == FaultState::Injected)
            .filter_map(|e| {
                e.lease
                    .clone()
                    .map(|l| (e.fault.id.clone(), e.host.clone(), l, e.fault.timeout))
            })
            .collect();
        self.lease_renew_at = live
            .iter()
            .map(|(_, _, l, _)| after(Instant::now(), renew_every(l)))
            .min();
        for (fid, host, l, timeout) in live {
            let hname = host.name().to_string();
            // Renewals must come back well inside the lease, or they are worthless.
            let limit = timeout.min(renew_every(&l));
            let slot = self.misc();
            self.spawn(TaskKey::Other, slot, async move {
                let outcome = host.exec(&l.renew, limit).await;
                Done::LeaseRenewed {
                    fault: fid,
                    host: hname,
                    outcome,
                }
            });
        }
    }

    fn lease_renewed(&mut self, fault: String, host: String, outcome: CommandOutcome) {
        let ok = outcome.success();
        let error = (!ok).then(|| outcome.summary());
        self.emit(Event::LeaseRenewed {
            fault: fault.clone(),
            host: host.clone(),
            ok,
            error: error.clone(),
        });
        // A renewal that raced the fault's own rollback (and its lease's cancel) says nothing
        // about the experiment: only a live fault's lost lease stops the run.
        let live = self
            .ledger
            .get_mut(&fault, &host)
            .is_some_and(|e| e.state == FaultState::Injected);
        if !ok && live {
            // The host may already have reverted (or soon will): the experiment is not what it
            // claims to be any more. Stop and roll back everything.
            self.halt(
                "lease",
                &format!(
                    "lease of fault {fault} on {host} could not be renewed ({}); rolling back",
                    error.unwrap_or_default()
                ),
            );
        }
    }

    fn rules_active(&self) -> bool {
        self.halt.is_none()
            && matches!(
                self.stage,
                Stage::SteadyBefore
                    | Stage::Step { .. }
                    | Stage::StepRollback { .. }
                    | Stage::Settling
                    | Stage::ExpandWait { .. }
                    | Stage::SteadyAfter
            )
    }

    fn on_sample(&mut self, s: Sample) {
        let (value, error) = match &s.reading {
            Ok(v) => (Some(*v), None),
            Err(e) => (None, Some(e.clone())),
        };
        self.emit(Event::Sample {
            metric: s.metric.clone(),
            value,
            error,
        });
        self.latest.insert(s.metric.clone(), value);
        self.last_seen.insert(s.metric.clone(), s.at);
        if let Stage::Watching { .. } = self.stage {
            self.watched(&s.metric, value);
            return;
        }
        if self.halt.is_none() && !matches!(self.stage, Stage::Watching { .. } | Stage::Finished) {
            let decided = self.criteria.sample(&s.metric, &s.reading, Instant::now());
            self.decided(decided);
        }
        if !self.rules_active() {
            return;
        }
        let now = Instant::now();
        for i in 0..self.trackers.len() {
            if self.trackers[i].rule.metric != s.metric {
                continue;
            }
            let transitions = self.trackers[i].observe(now, &s.reading);
            for t in transitions {
                self.on_transition(i, t);
            }
        }
    }

    fn on_transition(&mut self, i: usize, t: Transition) {
        let tracker = &self.trackers[i];
        let (label, value, reason) = (
            tracker.rule.label.clone(),
            tracker.last_value,
            tracker.last_reason.clone(),
        );
        match t {
            Transition::Breaching { left } => {
                // A breach during an expanding round stops the expansion, tripped or not.
                let in_round = match (self.round, self.stage) {
                    (Some((s, _)), Stage::Step { index, .. })
                    | (Some((s, _)), Stage::StepRollback { index })
                    | (Some((s, _)), Stage::ExpandWait { index }) => s == index,
                    _ => false,
                };
                if in_round && self.round_breach.is_none() {
                    self.round_breach = Some(format!("abort rule `{label}` breached"));
                }
                self.emit(Event::RuleBreaching {
                    rule: i,
                    label,
                    value,
                    left_ms: ms(left),
                    reason,
                });
            }
            Transition::Cleared => {
                self.emit(Event::RuleCleared {
                    rule: i,
                    label,
                    value,
                });
            }
            Transition::Tripped { breaching_for } => {
                let why = match (&reason, value) {
                    (Some(r), _) => format!("no data: {r}"),
                    (None, v) => format!("value {}", fmt::value(v)),
                };
                self.emit(Event::RuleTripped {
                    rule: i,
                    label: label.clone(),
                    value,
                    breaching_ms: ms(breaching_for),
                    reason: reason.clone(),
                });
                self.halt(
                    "abort rule",
                    &format!(
                        "abort rule `{label}` tripped after {} ({why})",
                        fmt::elapsed(breaching_for)
                    ),
                );
            }
        }
    }

    /// How long a metric may stay silent before its silence counts as no data.
    fn stale_after(&self, metric: &str) -> Duration {
        self.scenario
            .metrics
            .get(metric)
            .map(|m| {
                m.every
                    .saturating_add(m.timeout)
                    .saturating_add(Duration::from_secs(1))
            })
            .unwrap_or(Duration::from_secs(60))
    }

    fn next_deadline(&self) -> Instant {
        let mut next = Instant::now() + Duration::from_secs(3600);
        let mut consider = |t: Instant| {
            if t < next {
                next = t;
            }
        };
        if let Stage::Step { .. } = self.stage
            && let Some(d) = self.step_deadline
        {
            consider(d);
        }
        if self.halt.is_none() && self.stage != Stage::Finished {
            consider(self.max_deadline);
            if let Some(d) = self.criteria.deadline() {
                consider(d);
            }
        }
        if let Stage::Watching { until } = self.stage {
            consider(until);
        }
        // Same condition as on_time's renewal, or a past instant would spin the loop.
        if self.halt.is_none()
            && matches!(self.stage, Stage::Step { .. })
            && let Some(t) = self.lease_renew_at
        {
            consider(t);
        }
        if self.rules_active() {
            for t in &self.trackers {
                if let Some(d) = t.deadline() {
                    consider(d);
                }
            }
        }
        if self.samplers.is_some() {
            for (m, seen) in &self.last_seen {
                consider(after(*seen, self.stale_after(m)));
            }
        }
        next
    }

    fn on_time(&mut self) {
        let now = Instant::now();
        if let Stage::Watching { until } = self.stage {
            if now >= until {
                self.end_run();
                return;
            }
        } else if self.halt.is_none() && self.stage != Stage::Finished {
            let decided = self.criteria.on_time(now);
            self.decided(decided);
        }
        if self.halt.is_none()
            && matches!(self.stage, Stage::Step { .. })
            && self.lease_renew_at.is_some_and(|t| now >= t)
        {
            self.renew_leases();
        }
        if self.halt.is_none() && self.stage != Stage::Finished && now >= self.max_deadline {
            let limit = fmt::duration(self.scenario.max_duration);
            self.halt(
                "max_duration",
                &format!("max_duration {limit} exceeded; rolling back"),
            );
            return;
        }
        if self.samplers.is_some() {
            let stale: Vec<(String, Duration)> = self
                .last_seen
                .iter()
                .filter(|(m, seen)| now >= after(**seen, self.stale_after(m)))
                .map(|(m, seen)| (m.clone(), now.saturating_duration_since(*seen)))
                .collect();
            for (metric, silent) in stale {
                // The sampler itself is stuck: fail closed with a synthesized no-data reading.
                self.on_sample(Sample {
                    metric,
                    reading: Err(format!("no sample for {}", fmt::duration(round_s(silent)))),
                    at: now,
                });
            }
        }
        if self.rules_active() {
            for i in 0..self.trackers.len() {
                if let Some(t) = self.trackers[i].check(now) {
                    self.on_transition(i, t);
                }
            }
        }
        if let Stage::Step {
            index,
            injecting: false,
        } = self.stage
            && self.halt.is_none()
            && self.step_deadline.is_some_and(|d| now >= d)
        {
            self.end_step(index, false);
        }
    }

    fn evaluate_steady_state(&self) -> (bool, Vec<RuleCheck>) {
        let mut held = true;
        let mut checks = Vec::new();
        for rule in &self.scenario.steady_state {
            debug_assert_eq!(rule.kind, RuleKind::SteadyState);
            let reading = self
                .steady_readings
                .get(&rule.metric)
                .cloned()
                .unwrap_or_else(|| Err("no reading".into()));
            let value = reading.as_ref().ok().copied();
            let ok = !rule.breached_by(value);
            held &= ok;
            checks.push(RuleCheck {
                rule: rule.label.clone(),
                metric: rule.metric.clone(),
                value,
                held: ok,
                reason: reading.err(),
            });
        }
        (held, checks)
    }
}

/// `from + d`, or a time far enough away never to come (a year) if that would overflow: every
/// duration is bounded at validation, and this keeps time arithmetic total all the same.
fn after(from: Instant, d: Duration) -> Instant {
    from.checked_add(d)
        .or_else(|| from.checked_add(FAR))
        .unwrap_or(from)
}

const FAR: Duration = Duration::from_secs(365 * 24 * 3600);

/// Renew at a third of the lease: two renewals can be lost before the host reverts.
fn renew_every(l: &LeasePlan) -> Duration {
    (l.duration / 3).max(Duration::from_millis(500))
}

fn ms(d: Duration) -> u64 {
    u64::try_from(d.as_millis()).unwrap_or(u64::MAX)
}

fn round_s(d: Duration) -> Duration {
    Duration::from_secs(d.as_secs())
}

#[cfg(test)]
mod select_tests;
#[cfg(test)]
mod tests;
