//! One session: the single place a run is wired and concluded.
//!
//! [`start`] (or [`start_on`] with hosts already open, as tests and benches do) opens the targets,
//! builds the probes, starts the journal with every configured secret redacted, and spawns the
//! [`Engine`]. [`conclude`] turns how the engine ended into an exit code: a verdict's code, or —
//! when the engine died without one — a rollback from the journal through [`recover`] and exit 3;
//! then it writes the debrief (Markdown and every chart) with [`report::write::write_debrief`]. The
//! headless front end is [`run_headless`]; the console (`tui`) starts through [`start`] (beside its
//! loop, counting the hosts as they answer) and ends through [`conclude`]; `gameday recover` is
//! [`recover`]. `main.rs` only parses arguments and picks one.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use tokio::sync::{broadcast, mpsc};
use tokio::task::JoinHandle;

use crate::engine::{Command, Engine, Handle, Options, RunOutcome};
use crate::event::Envelope;
use crate::exit;
use crate::journal::{JournalError, JournalWriter};
use crate::metric::ProbeMap;
use crate::scenario::Scenario;
use crate::target::{self, HostMap, OpenOptions};
use crate::{headless, metric, report};

/// A run in progress: what a front end holds.
pub struct Running {
    pub handle: Handle,
    /// Subscribed before the engine started, so no event is missed.
    pub events: broadcast::Receiver<Arc<Envelope>>,
    pub engine: JoinHandle<Result<RunOutcome, JournalError>>,
    pub journal: PathBuf,
}

/// How a run ended, as its front end saw it.
#[derive(Debug)]
pub enum Ended {
    /// The engine reached a verdict.
    Finished(RunOutcome),
    /// The journal could not take the first record: nothing was run.
    NotStarted(String),
    /// The engine stopped without a verdict (a bug, or a journal that failed past the first
    /// record): its faults must be rolled back from the journal.
    Died(String),
}

impl Ended {
    /// What the engine task's join says.
    pub fn of(joined: Result<Result<RunOutcome, JournalError>, tokio::task::JoinError>) -> Ended {
        match joined {
            Ok(Ok(outcome)) => Ended::Finished(outcome),
            Ok(Err(e)) => Ended::NotStarted(format!("cannot write the journal: {e}")),
            Err(e) => Ended::Died(format!("the engine stopped unexpectedly ({e})")),
        }
    }
}

/// Opens the scenario's targets (async; SSH handshakes in parallel) and starts the run.
pub async fn start(
    scenario: Arc<Scenario>,
    journal: Option<PathBuf>,
    options: Options,
) -> Result<Running, String> {
    let hosts = target::open(&scenario, &options.open)
        .await
        .map_err(|e| format!("{e}; nothing was run"))?;
    start_on(scenario, hosts, journal, options)
}

/// Starts a run on hosts already open (tests and benches bring their own, e.g. an in-process
/// SSH server): the scenario's probes, then [`start_with_probes`].
pub fn start_on(
    scenario: Arc<Scenario>,
    hosts: HostMap,
    journal: Option<PathBuf>,
    options: Options,
) -> Result<Running, String> {
    let probes = metric::probes(&scenario, &hosts).map_err(|e| format!("{e}; nothing was run"))?;
    start_with_probes(scenario, hosts, probes, journal, options)
}

/// The one place the engine is wired: the journal (every credential the scenario names redacted
/// from all that is journaled, and so from all that is printed), the engine, its task — subscribed
/// before it starts, so no event is missed. Must be called inside a tokio runtime. Tests that
/// fault a metric source pass their own probes.
pub fn start_with_probes(
    scenario: Arc<Scenario>,
    hosts: HostMap,
    probes: ProbeMap,
    journal: Option<PathBuf>,
    options: Options,
) -> Result<Running, String> {
    let mut writer = JournalWriter::start_for(&scenario, journal)
        .map_err(|e| format!("cannot start the journal: {e}; nothing was run"))?;
    writer.redact(metric::secret_values(&scenario));
    let path = writer.path().to_path_buf();
    tracing::info!(journal = %path.display(), scenario = %scenario.file.display(), "run starting");
    let allow_remote_halt = options.allow_remote_halt;
    let (engine, handle) = Engine::new(scenario.clone(), hosts, probes, writer, options);
    let events = handle.subscribe();
    // A second seat (`gameday join`) is a convenience: without its socket the run goes on.
    if let Err(why) = crate::seat::listen(&path, scenario, &handle, allow_remote_halt) {
        tracing::warn!(%why, "no seat socket: gameday join cannot reach this run");
    }
    let engine = tokio::spawn(engine.run());
    Ok(Running {
        handle,
        events,
        engine,
        journal: path,
    })
}

/// A Chaos Toolkit experiment's run, held as the console holds an engine's: prepared (an error,
/// and nothing run, when a variable or a program is missing), its journal started with the
/// secrets redacted, the runner ([`crate::ctk::run`]) spawned with the console's command sender
/// and its events subscribed before it starts. The runner halts and rolls back if the console's
/// sender goes away mid-run; its [`CtkOutcome`](crate::ctk::CtkOutcome) is given back as the
/// engine's [`RunOutcome`], so [`conclude`] ends it like any run. `start_logging` is called with
/// the run's directory before the runner starts (its guard is returned: keep it for the run).
pub fn start_experiment<G>(
    experiment: crate::scenario::ctk::Experiment,
    journal: Option<PathBuf>,
    options: crate::ctk::RunOptions,
    start_logging: impl FnOnce(&Path) -> G,
) -> Result<(Running, G), String> {
    let text = std::fs::read(&experiment.file).unwrap_or_default();
    let options = crate::ctk::RunOptions {
        halt_when_alone: true,
        ..options
    };
    let p = crate::ctk::prepare(experiment, &|k| std::env::var(k).ok(), &options)
        .map_err(|e| format!("{e}; nothing was run"))?;
    let scenario = crate::ctk::scenario_of(&p.experiment, &text, p.max_duration);
    let mut writer = JournalWriter::start_for(&scenario, journal)
        .map_err(|e| format!("cannot start the journal: {e}; nothing was run"))?;
    writer.redact(p.secrets.clone());
    let path = writer.path().to_path_buf();
    let log = start_logging(path.parent().unwrap_or(Path::new(".")));
    let (tx, events) = broadcast::channel(1024);
    let (commands, cmd_rx) = mpsc::channel(16);
    let handle = Handle {
        commands,
        events: tx.clone(),
    };
    let ctk_journal = options.ctk_journal;
    let engine = tokio::spawn(async move {
        let _live = crate::engine::LiveRun::enter();
        let out = crate::ctk::run(p, writer, tx, cmd_rx, scenario, ctk_journal.as_deref()).await;
        Ok(RunOutcome {
            verdict: out.verdict,
            exit_code: i32::from(out.exit_code),
            reason: format!("chaos run status: {}", out.status),
            journal: out.journal,
            unjournaled: Vec::new(),
        })
    });
    Ok((
        Running {
            handle,
            events,
            engine,
            journal: path,
        },
        log,
    ))
}

/// The exit code of a run that ended, after the debrief is written. An engine that died is
/// rolled back from its journal first (whatever that finds, exit 3: a person must look).
pub async fn conclude(journal: &Path, ended: Ended, open: &OpenOptions) -> u8 {
    let code = match ended {
        Ended::Finished(outcome) => outcome_code(&outcome),
        Ended::NotStarted(why) => {
            crate::errln!("gameday: {why}; nothing was run");
            return exit::INVALID;
        }
        Ended::Died(why) => {
            crate::errln!("gameday: {why}; rolling back from the journal");
            tracing::error!(why = %why, "engine task failed; recovering from the journal");
            recover(journal, open).await;
            exit::MANUAL
        }
    };
    debrief(journal, None);
    code
}

fn outcome_code(outcome: &RunOutcome) -> u8 {
    if !outcome.unjournaled.is_empty() {
        let files: Vec<String> = outcome
            .unjournaled
            .iter()
            .map(|p| p.display().to_string())
            .collect();
        crate::errln!(
            "gameday: some records could not be written to the journal {}; they are in {} (and were printed on stderr)",
            outcome.journal.display(),
            files.join(", ")
        );
    }
    u8::try_from(outcome.exit_code).unwrap_or(exit::MANUAL)
}

/// Prints how far opening the hosts has got on stdout: the start, the end, and at most one line a
/// second between (`connecting 3/12 hosts…`), so a slow connect is never a silent wait.
pub fn print_connecting() -> target::OnConnect {
    let last = std::sync::Mutex::new(None::<std::time::Instant>);
    target::OnConnect::new(move |c| {
        let Ok(mut last) = last.lock() else {
            return;
        };
        let due = last.is_none_or(|t| t.elapsed() >= std::time::Duration::from_secs(1));
        if c.done == 0 || c.done == c.total || due {
            *last = Some(std::time::Instant::now());
            crate::outln!("{c}");
        }
    })
}

/// A whole headless run: start (saying how far opening the hosts has got), one line per event on
/// stdout, signals halt, conclude.
pub async fn run_headless(scenario: Scenario, journal: Option<PathBuf>, options: Options) -> u8 {
    run_headless_junit(scenario, journal, options, None).await
}

/// [`run_headless`], then, with `junit`, the run's JUnit XML written there
/// (`report::junit`; a write that fails is said on stderr, the exit code is the run's).
pub async fn run_headless_junit(
    scenario: Scenario,
    journal: Option<PathBuf>,
    options: Options,
    junit: Option<&Path>,
) -> u8 {
    let open = options.open.clone();
    let mut options = options;
    options.open.progress = print_connecting();
    let running = match start(Arc::new(scenario), journal, options).await {
        Ok(r) => r,
        Err(why) => {
            crate::errln!("gameday: {why}");
            if crate::stdout_reserved() {
                let v = serde_json::json!({ "exit_code": exit::INVALID, "error": why });
                crate::machine_out(&v.to_string());
            }
            return exit::INVALID;
        }
    };
    let dir = running
        .journal
        .parent()
        .map(Path::to_path_buf)
        .unwrap_or_default();
    let _log = init_logging(&dir);
    let Running {
        handle,
        events,
        engine,
        journal,
    } = running;
    // Event lines on stdout, or on stderr when stdout is reserved for the JSON summary.
    let out: Box<dyn std::io::Write + Send> = if crate::stdout_reserved() {
        Box::new(std::io::stderr())
    } else {
        Box::new(std::io::stdout())
    };
    let printer = tokio::spawn(headless::print_events(events, out));
    let signals = tokio::spawn(forward_signals(handle.commands.clone()));
    let ended = Ended::of(engine.await);
    signals.abort();
    // The engine is gone: drop our end of its channels too, so the printer sees the end even when
    // the engine died before RunEnded; it gets a moment to drain, never a hang.
    drop(handle);
    let _ = tokio::time::timeout(std::time::Duration::from_secs(5), printer).await;
    let code = conclude(&journal, ended, &open).await;
    if let Some(out) = junit {
        match crate::report::junit::write_junit(&journal, out, Some(code)) {
            Ok(()) => crate::outln!("gameday: JUnit XML written to {}", out.display()),
            Err(e) => crate::errln!("gameday: JUnit XML: {e}"),
        }
    }
    if crate::stdout_reserved() {
        crate::machine_out(&json_summary(&journal, code));
    }
    code
}

/// `--output json`: the run's summary (the same object as `summary.json`, docs/summary-json.md),
/// with `exit_code` the process's own and `journal` its path; one line.
pub fn json_summary(journal: &Path, code: u8) -> String {
    let mut v = match crate::fold::RunState::from_journal(journal) {
        Ok((run, _)) => {
            serde_json::to_value(crate::report::summary::Summary::of(&run)).unwrap_or_default()
        }
        Err(e) => serde_json::json!({ "error": e.to_string() }),
    };
    if let Some(o) = v.as_object_mut() {
        o.insert("exit_code".into(), code.into());
        o.insert("journal".into(), journal.display().to_string().into());
    }
    v.to_string()
}

/// Logs go to `gameday.log` in `dir`, never to the terminal. Keep the guard while the run lasts:
/// dropping it flushes that file. `None` only when `dir`'s log cannot be set up.
///
/// One subscriber serves the whole process (installed by the first call, with the `GAMEDAY_LOG`
/// filter read then); each call points it at its own run's file, so a process that runs several
/// runs one after another (`gameday day`) writes each run's lines beside that run's journal.
/// Between a guard's drop and the next call, lines are dropped (no run is going on).
pub fn init_logging(dir: &Path) -> Option<LogGuard> {
    init_logging_with(
        dir,
        log_filter(std::env::var("GAMEDAY_LOG").ok().as_deref()),
    )
}

/// The current run's log file (see [`init_logging`]): the writer, and which call set it.
static RUN_LOG: std::sync::Mutex<Option<(u64, tracing_appender::non_blocking::NonBlocking)>> =
    std::sync::Mutex::new(None);
static RUN_LOG_CALLS: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);

/// Keeps a run's log file open; on drop, flushes it and stops sending lines there.
pub struct LogGuard {
    id: u64,
    _worker: tracing_appender::non_blocking::WorkerGuard,
}

impl Drop for LogGuard {
    fn drop(&mut self) {
        if let Ok(mut current) = RUN_LOG.lock()
            && current.as_ref().is_some_and(|(id, _)| *id == self.id)
        {
            *current = None;
        }
    }
}

/// The subscriber's writer: a line goes to the current run's file, or nowhere.
struct RunLogWriter;

impl<'a> tracing_subscriber::fmt::MakeWriter<'a> for RunLogWriter {
    type Writer = RunLogLine;

    fn make_writer(&'a self) -> RunLogLine {
        RunLogLine(
            RUN_LOG
                .lock()
                .ok()
                .and_then(|current| current.as_ref().map(|(_, w)| w.clone())),
        )
    }
}

struct RunLogLine(Option<tracing_appender::non_blocking::NonBlocking>);

impl std::io::Write for RunLogLine {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        match &mut self.0 {
            Some(w) => w.write(buf),
            None => Ok(buf.len()),
        }
    }

    fn flush(&mut self) -> std::io::Result<()> {
        match &mut self.0 {
            Some(w) => w.flush(),
            None => Ok(()),
        }
    }
}

fn init_logging_with(dir: &Path, filter: tracing_subscriber::filter::Targets) -> Option<LogGuard> {
    use tracing_subscriber::layer::SubscriberExt;
    use tracing_subscriber::util::SubscriberInitExt;
    static INSTALLED: std::sync::Once = std::sync::Once::new();
    let appender = tracing_appender::rolling::never(dir, "gameday.log");
    let (writer, worker) = tracing_appender::non_blocking(appender);
    let id = RUN_LOG_CALLS.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    *RUN_LOG.lock().ok()? = Some((id, writer));
    INSTALLED.call_once(|| {
        // The registry, not `fmt()`: that builder caps levels at INFO before the filter is asked.
        let _ = tracing_subscriber::registry()
            .with(filter)
            .with(
                tracing_subscriber::fmt::layer()
                    .with_writer(RunLogWriter)
                    .with_ansi(false),
            )
            .try_init();
    });
    Some(LogGuard {
        id,
        _worker: worker,
    })
}

/// The `GAMEDAY_LOG` filter: comma-separated `LEVEL` and `TARGET=LEVEL` directives
/// (`info,russh=debug`); unset or unreadable means `info`.
pub fn log_filter(spec: Option<&str>) -> tracing_subscriber::filter::Targets {
    let info = || tracing_subscriber::filter::Targets::new().with_default(tracing::Level::INFO);
    spec.and_then(|s| s.parse().ok()).unwrap_or_else(info)
}

/// Ctrl-C, SIGTERM and SIGHUP halt the run: every live fault is rolled back before gameday exits.
/// The halt is sent before anything is printed (a closed terminal must not stand in its way).
pub async fn forward_signals(commands: mpsc::Sender<Command>) {
    let mut signals = crate::signals();
    let mut first = true;
    if let Some(name) = crate::signal_received() {
        // Caught while the run was being set up (the demo listens from its first instant).
        let _ = commands
            .send(Command::Halt {
                by: "signal".into(),
                reason: format!("{name} received before the run started"),
            })
            .await;
        crate::errln!("gameday: {name}: halting and rolling back every live fault…");
        first = false;
    }
    while let Some(name) = signals.recv().await {
        let _ = commands
            .send(Command::Halt {
                by: "signal".into(),
                reason: format!("{name} received"),
            })
            .await;
        if first {
            crate::errln!("gameday: {name}: halting and rolling back every live fault…");
        } else {
            crate::errln!(
                "gameday: {name}: rollback in progress; gameday exits when every fault is back"
            );
        }
        first = false;
    }
}

/// Answers Ctrl-C, SIGTERM and SIGHUP with `why` on stderr instead of dying, for work that must
/// finish once started.
pub fn hold_signals(why: &'static str) {
    let mut signals = crate::signals();
    tokio::spawn(async move {
        while let Some(name) = signals.recv().await {
            crate::errln!("gameday: {name}: {why}");
        }
    });
}

/// Writes the debrief of `journal` (Markdown and charts) and says where on stderr; `None` when
/// it could not be written (said why).
pub fn debrief(journal: &Path, output: Option<&Path>) -> Option<PathBuf> {
    match report::write::write_debrief(journal, output) {
        Ok(w) => {
            if let Some(torn) = &w.torn {
                crate::errln!(
                    "gameday: note: {}:{}: the last line is torn ({}) and was left out of this report; the journal was not modified",
                    journal.display(),
                    torn.line,
                    torn.reason
                );
            }
            crate::errln!("gameday: debrief written to {}", w.debrief.display());
            Some(w.debrief)
        }
        Err(e) => {
            crate::errln!("gameday: {e}");
            None
        }
    }
}

/// `gameday recover`: rolls back what a dead run left (see [`crate::recover`]), prints one line
/// per fault, writes the debrief. Exit 0 when every fault is verified back, 3 otherwise, 2 when
/// the journal is refused (a live run's, or unreadable) and nothing was touched.
pub async fn recover(journal: &Path, open: &OpenOptions) -> u8 {
    if crate::ctk::is_ctk_journal(journal) {
        return recover_experiment(journal).await;
    }
    match crate::recover::recover(journal, open).await {
        Ok(r) => {
            for (fault, host, status, how) in &r.results {
                crate::outln!(
                    "{fault} on {host}: {} ({how})",
                    crate::fold::describe::status_name(*status)
                );
            }
            if let Some(copy) = &r.repaired {
                crate::outln!(
                    "repaired a torn last line of the journal (the original is kept at {})",
                    copy.display()
                );
            }
            if r.results.is_empty() {
                crate::outln!(
                    "nothing to recover: every fault in the journal was verified rolled back"
                );
            }
            debrief(journal, None);
            if r.all_verified() {
                exit::HELD
            } else {
                exit::MANUAL
            }
        }
        Err(crate::recover::RecoverError::Journal(e @ JournalError::Locked { .. })) => {
            // A live run owns this journal and is the one to roll its faults back.
            crate::errln!(
                "gameday: recover {}: {e}. The run is live: halt it from its console (X) or send it SIGTERM; recover is for runs that died",
                journal.display()
            );
            exit::INVALID
        }
        Err(e) => {
            crate::errln!("gameday: recover {}: {e}", journal.display());
            exit::MANUAL
        }
    }
}

/// `gameday recover` of a Chaos Toolkit run: its remaining rollbacks (see [`crate::ctk::recover`]).
async fn recover_experiment(journal: &Path) -> u8 {
    match crate::ctk::recover(journal).await {
        Ok(r) => {
            for (pid, name) in &r.ended {
                crate::outln!("ended process {pid} ({name}), left running by the run");
            }
            for name in &r.skipped {
                crate::outln!("rollback `{name}`: already ran during the run; left alone");
            }
            for (name, ok) in &r.ran {
                crate::outln!(
                    "rollback `{name}`: {}",
                    if *ok {
                        "ran and confirmed"
                    } else {
                        "NOT confirmed"
                    }
                );
            }
            if r.ran.is_empty() && r.skipped.is_empty() {
                crate::outln!("nothing to recover: the run ended");
            }
            debrief(journal, None);
            r.exit_code
        }
        Err(crate::ctk::RecoverError::Live(e)) => {
            crate::errln!(
                "gameday: recover {}: {e}. The run is live: send it SIGTERM (it runs its rollbacks); recover is for runs that died",
                journal.display()
            );
            exit::INVALID
        }
        Err(crate::ctk::RecoverError::Failed(e)) => {
            crate::errln!("gameday: recover {}: {e}", journal.display());
            exit::MANUAL
        }
    }
}

/// `run --dry-run`: opens every host for real (host keys, authentication, sudo) and prints every
/// command a run would send, lease included. Sends none of them.
pub async fn dry_run(scenario: &Scenario, open: &OpenOptions) -> u8 {
    use crate::fault::{FaultPlan, PlanContext, kinds, lease};
    let hosts = match target::open(scenario, open).await {
        Ok(h) => h,
        Err(e) => {
            crate::errln!("gameday: {e}");
            return exit::INVALID;
        }
    };
    for (name, hs) in &hosts {
        for h in hs {
            crate::outln!(
                "ok: target {name}: {} reachable, host key verified",
                h.name()
            );
        }
    }
    let run = "DRYRUN";
    for (step, fault) in scenario.faults() {
        // A selection is made at run time; the commands are shown for every candidate.
        let candidates: Option<Vec<String>> = fault.select.as_ref().map(|sel| {
            let c = sel.candidates(scenario.target_hosts(&fault.target));
            let expand = &scenario.steps[step].expand;
            let sizes = if expand.is_empty() {
                sel.size.to_string()
            } else {
                let all: Vec<String> = expand.iter().map(ToString::to_string).collect();
                format!("rounds of {}", all.join(", "))
            };
            let seeded = match sel.seed {
                Some(seed) => {
                    let n = sel.size.of(c.len()).min(c.len());
                    let first = crate::scenario::select::choose(&c, n, seed);
                    let names: Vec<String> = first.chosen.iter().map(|h| h.label()).collect();
                    format!("seed {seed} chooses {}", names.join(", "))
                }
                None => "no seed: the run draws one and journals it".into(),
            };
            crate::outln!(
                "\n# step {} fault {} selects {sizes} of {} candidate host(s) ({seeded}); commands for every candidate:",
                step + 1,
                fault.id,
                c.len()
            );
            c.iter().map(ToString::to_string).collect()
        });
        for host in hosts.get(&fault.target).into_iter().flatten() {
            if candidates
                .as_ref()
                .is_some_and(|c| !c.iter().any(|n| n == host.name()))
            {
                continue;
            }
            let ctx = PlanContext {
                run: run.into(),
                management_port: host.management_port(),
            };
            let plan = FaultPlan::of(fault, &ctx);
            crate::outln!(
                "\n# step {} fault {} ({}) on {}",
                step + 1,
                fault.id,
                fault.spec.kind_name(),
                host.name()
            );
            if let (Some(undo), true) = (&plan.undo, host.leases() && !fault.irreversible) {
                let l = lease::plan(
                    &lease::name(&kinds::tag(&ctx, &fault.id), host.name()),
                    undo,
                    fault.lease,
                    fault.timeout,
                );
                crate::outln!("lease:  {}", host.manual(&l.arm));
            }
            crate::outln!("inject: {}", host.manual(&plan.inject));
            match &plan.undo {
                Some(u) => crate::outln!("undo:   {}", host.manual(u)),
                None => crate::outln!("undo:   (irreversible)"),
            }
            if let Some(v) = &plan.verify {
                crate::outln!("verify: {}", host.manual(v));
            }
        }
    }
    crate::outln!("\ndry run: no fault command was sent (the run id in tags is a placeholder)");
    exit::HELD
}

#[cfg(test)]
mod tests {
    use super::log_filter;
    use tracing::Level;

    #[test]
    fn gameday_log_reads_levels_per_target_and_falls_back_to_info() {
        let f = log_filter(Some("warn,russh=debug"));
        assert!(f.would_enable("russh::client", &Level::DEBUG));
        assert!(!f.would_enable("gameday::engine", &Level::INFO));
        assert!(f.would_enable("gameday::engine", &Level::WARN));
        for unset in [None, Some("=not a filter=")] {
            let f = log_filter(unset);
            assert!(f.would_enable("gameday", &Level::INFO), "{unset:?}");
            assert!(!f.would_enable("gameday", &Level::DEBUG), "{unset:?}");
        }
    }

    /// The only test that sets the process's subscriber: a debug record of a target the filter
    /// names reaches gameday.log, one of another target does not.
    #[test]
    fn the_log_file_takes_what_the_filter_lets_through() {
        let dir = tempfile::tempdir().unwrap();
        let guard = super::init_logging_with(dir.path(), log_filter(Some("info,probe=debug")));
        assert!(guard.is_some());
        tracing::debug!(target: "probe", "wanted debug");
        tracing::debug!(target: "other", "unwanted debug");
        tracing::info!(target: "other", "wanted info");
        drop(guard);
        tracing::info!(target: "other", "between two runs");
        // A second run in the same process (`gameday day`): its lines go to its own file.
        let second = tempfile::tempdir().unwrap();
        let guard = super::init_logging_with(second.path(), log_filter(None));
        assert!(guard.is_some());
        tracing::info!(target: "other", "the second run");
        drop(guard);
        let log = std::fs::read_to_string(dir.path().join("gameday.log")).unwrap();
        assert!(
            log.contains("wanted debug") && log.contains("wanted info"),
            "{log}"
        );
        assert!(!log.contains("unwanted"), "{log}");
        assert!(
            !log.contains("second run") && !log.contains("between"),
            "{log}"
        );
        let log = std::fs::read_to_string(second.path().join("gameday.log")).unwrap();
        assert!(log.contains("the second run"), "{log}");
        assert!(!log.contains("wanted"), "{log}");
    }
}
