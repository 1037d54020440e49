//! The gameday command line. Only argument handling lives here; the work is in the library.

use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Arc;

use anyhow::Context;
use clap::{Parser, Subcommand};
use gameday::engine::{Command, Engine, Options, RunOutcome};
use gameday::scenario::Scenario;
use gameday::{headless, journal, metric, recover, report, target};

/// Exit codes, for headless and TUI runs alike.
mod exit {
    pub const HELD: u8 = 0;
    pub const ABORTED: u8 = 1;
    pub const INVALID: u8 = 2;
    pub const MANUAL: u8 = 3;
}

#[derive(Parser)]
#[command(
    name = "gameday",
    version,
    about = "A terminal console for chaos-engineering game days"
)]
struct Cli {
    #[command(subcommand)]
    command: Cmd,
}

#[derive(Subcommand)]
enum Cmd {
    /// Check scenario files; prints FILE:LINE:COLUMN: message for every problem. Runs nothing.
    Validate {
        #[arg(required = true)]
        files: Vec<PathBuf>,
    },
    /// Run a game day.
    Run {
        file: PathBuf,
        /// No terminal UI: one line per event on stdout, for CI.
        #[arg(long)]
        headless: bool,
        /// Where to write the journal (default runs/<UTC time>-<slug>/journal.jsonl).
        #[arg(long)]
        journal: Option<PathBuf>,
        /// Most commands in flight at once across hosts.
        #[arg(long, default_value_t = 64)]
        fanout: usize,
        #[command(flatten)]
        ssh: SshArgs,
        /// Connect, check host keys and sudo, print every command that would run; run no fault.
        #[arg(long)]
        dry_run: bool,
    },
    /// Run a demo game day on the embedded lab (SSH hosts, shops, load); needs no infrastructure.
    Demo {
        /// demo-latency (default), demo-error-storm or demo-process-kill.
        scenario: Option<String>,
        #[arg(long)]
        headless: bool,
        #[arg(long)]
        journal: Option<PathBuf>,
    },
    /// Start only the embedded lab and print its hosts, ports, known_hosts and key paths.
    Lab {
        /// How many lab hosts (shop-1 … shop-N).
        #[arg(long, default_value_t = 2)]
        hosts: usize,
    },
    /// Write the Markdown debrief of a journal (also for a run that crashed).
    Report {
        journal: PathBuf,
        /// Output file (default: debrief.md beside the journal).
        #[arg(short, long)]
        output: Option<PathBuf>,
    },
    /// Roll back every fault a dead run left without a verified rollback.
    Recover {
        journal: PathBuf,
        #[command(flatten)]
        ssh: SshArgs,
    },
    /// Show a host's SSH key fingerprint and add it to known_hosts.
    Trust {
        /// HOST or HOST:PORT (or [v6]:PORT).
        host: String,
        /// known_hosts file to add to (default ~/.ssh/known_hosts).
        #[arg(long)]
        known_hosts: Option<PathBuf>,
        /// Add without asking (after printing the fingerprint), e.g. when it was checked out of band.
        #[arg(long)]
        yes: bool,
    },
    /// Watch a run from a second seat: print its journal's events as they are written.
    Follow { journal: PathBuf },
    /// Review a finished run in the console: the Run screen with a time slider.
    Replay { journal: PathBuf },
}

#[derive(clap::Args, Clone, Debug)]
struct SshArgs {
    /// known_hosts file for SSH host keys (default ~/.ssh/known_hosts).
    #[arg(long)]
    known_hosts: Option<PathBuf>,
    /// Trust and record the key of a host seen for the first time (like OpenSSH accept-new).
    /// A changed key is refused all the same.
    #[arg(long)]
    accept_new: bool,
}

impl SshArgs {
    fn open_options(&self, fanout: usize) -> target::OpenOptions {
        let mut ssh = target::ssh::SshOptions::default();
        if let Some(k) = &self.known_hosts {
            ssh.known_hosts = k.clone();
        }
        ssh.accept_new = self.accept_new;
        target::OpenOptions { ssh, fanout }
    }
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    gameday::install_panic_hook();
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            gameday::errln!("gameday: cannot start the async runtime: {e}");
            return ExitCode::from(exit::INVALID);
        }
    };
    let code = runtime.block_on(async {
        match cli.command {
            Cmd::Validate { files } => validate(&files),
            Cmd::Run {
                file,
                headless,
                journal,
                fanout,
                ssh,
                dry_run,
            } => {
                let scenario = match Scenario::load(&file) {
                    Ok(s) => s,
                    Err(invalid) => {
                        gameday::errln!("{invalid}");
                        gameday::errln!("gameday: {} is invalid; nothing was run", file.display());
                        return exit::INVALID;
                    }
                };
                let options = Options {
                    fanout,
                    open: ssh.open_options(fanout),
                    ..Options::default()
                };
                if dry_run {
                    return dry_run_cmd(&scenario, &options.open).await;
                }
                run_or_console(scenario, journal, options, headless).await
            }
            Cmd::Demo {
                scenario,
                headless,
                journal,
            } => demo(scenario, journal, headless).await,
            Cmd::Lab { hosts } => lab_cmd(hosts).await,
            Cmd::Replay { journal } => replay_cmd(&journal).await,
            Cmd::Report { journal, output } => report_cmd(&journal, output.as_deref()),
            Cmd::Recover { journal, ssh } => {
                // A rollback half done is worse than one done: signals are answered, not obeyed.
                hold_signals("recover is rolling back; it exits when every fault has a result");
                recover_cmd(&journal, &ssh.open_options(64)).await
            }
            Cmd::Trust {
                host,
                known_hosts,
                yes,
            } => trust_cmd(&host, known_hosts, yes).await,
            Cmd::Follow { journal } => match headless::follow(&journal, std::io::stdout()).await {
                Ok(()) => exit::HELD,
                Err(e) => {
                    gameday::errln!("gameday: follow {}: {e}", journal.display());
                    exit::INVALID
                }
            },
        }
    });
    ExitCode::from(code)
}

fn validate(files: &[PathBuf]) -> u8 {
    let mut bad = 0;
    for f in files {
        match Scenario::load(f) {
            Ok(s) => gameday::outln!(
                "{}: ok — {} ({} steps, {} faults)",
                f.display(),
                s.title,
                s.steps.len(),
                s.faults().count()
            ),
            Err(invalid) => {
                bad += 1;
                for d in &invalid.0 {
                    gameday::outln!("{d}");
                }
            }
        }
    }
    if bad > 0 {
        gameday::errln!("gameday: {bad} of {} file(s) invalid", files.len());
        exit::INVALID
    } else {
        exit::HELD
    }
}

/// Logs go to a file beside the journal, never to the terminal.
fn init_logging(dir: &Path) -> Option<tracing_appender::non_blocking::WorkerGuard> {
    let appender = tracing_appender::rolling::never(dir, "gameday.log");
    let (writer, guard) = tracing_appender::non_blocking(appender);
    let filter = tracing_subscriber::EnvFilter::try_from_env("GAMEDAY_LOG")
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(writer)
        .with_ansi(false)
        .try_init()
        .ok()?;
    Some(guard)
}

async fn run(scenario: Scenario, journal_path: Option<PathBuf>, options: Options) -> u8 {
    let hosts = match target::open(&scenario, &options.open).await {
        Ok(h) => h,
        Err(e) => {
            gameday::errln!("gameday: {e}");
            return exit::INVALID;
        }
    };
    let probes = match metric::probes(&scenario, &hosts) {
        Ok(p) => p,
        Err(e) => {
            gameday::errln!("gameday: {e}; nothing was run");
            return exit::INVALID;
        }
    };
    let mut writer = match journal::JournalWriter::start_for(&scenario, journal_path) {
        Ok(w) => w,
        Err(e) => {
            gameday::errln!("gameday: cannot start the journal: {e}; nothing was run");
            return exit::INVALID;
        }
    };
    // Every credential the scenario names is redacted from all that is journaled (and so printed).
    writer.redact(metric::secret_values(&scenario));
    let path = writer.path().to_path_buf();
    let dir = path.parent().map(Path::to_path_buf).unwrap_or_default();
    let _log = init_logging(&dir);
    tracing::info!(journal = %path.display(), scenario = %scenario.file.display(), "run starting");

    let open = options.open.clone();
    let (engine, handle) = Engine::new(Arc::new(scenario), hosts, probes, writer, options);
    let printer = tokio::spawn(headless::print_events(
        handle.subscribe(),
        std::io::stdout(),
    ));
    let signals = tokio::spawn(forward_signals(handle.commands.clone()));
    let result = tokio::spawn(engine.run()).await;
    signals.abort();
    // The engine is gone: drop our end of its channels too, so the printer sees the end even when
    // the engine died before RunEnded; it gets a moment to drain, never a hang.
    drop(handle);
    let _ = tokio::time::timeout(std::time::Duration::from_secs(5), printer).await;

    let code = match result {
        Ok(Ok(outcome)) => outcome_code(&outcome),
        Ok(Err(e)) => {
            gameday::errln!("gameday: cannot write the journal: {e}; nothing was run");
            return exit::INVALID;
        }
        Err(join_error) => {
            // The engine died (a bug). Its journal still says what is live: roll that back now.
            gameday::errln!(
                "gameday: the engine stopped unexpectedly ({join_error}); rolling back from the journal"
            );
            tracing::error!(error = %join_error, "engine task failed; recovering from the journal");
            recover_cmd(&path, &open).await;
            // The run has no verdict: whatever recover found, a person must look.
            exit::MANUAL
        }
    };
    write_debrief(&path, None);
    code
}

fn outcome_code(outcome: &RunOutcome) -> u8 {
    if !outcome.unjournaled.is_empty() {
        let files: Vec<String> = outcome
            .unjournaled
            .iter()
            .map(|p| p.display().to_string())
            .collect();
        gameday::errln!(
            "gameday: some records could not be written to the journal {}; they are in {} (and were printed on stderr)",
            outcome.journal.display(),
            files.join(", ")
        );
    }
    u8::try_from(outcome.exit_code).unwrap_or(exit::MANUAL)
}

/// Answers Ctrl-C, SIGTERM and SIGHUP with `why` on stderr instead of dying, for work that must
/// finish once started.
fn hold_signals(why: &'static str) {
    let mut signals = gameday::signals();
    tokio::spawn(async move {
        while let Some(name) = signals.recv().await {
            gameday::errln!("gameday: {name}: {why}");
        }
    });
}

/// Ctrl-C, SIGTERM and SIGHUP halt the run: every live fault is rolled back before gameday exits.
async fn forward_signals(commands: tokio::sync::mpsc::Sender<Command>) {
    let mut signals = gameday::signals();
    let mut first = true;
    while let Some(name) = signals.recv().await {
        // Halt first: nothing printed (a closed terminal, a full disk) may stand in its way.
        let _ = commands
            .send(Command::Halt {
                by: "signal".into(),
                reason: format!("{name} received"),
            })
            .await;
        if first {
            gameday::errln!("gameday: {name}: halting and rolling back every live fault…");
        } else {
            gameday::errln!(
                "gameday: {name}: rollback in progress; gameday exits when every fault is back"
            );
        }
        first = false;
    }
}

fn write_debrief(journal_path: &Path, output: Option<&Path>) -> Option<PathBuf> {
    let (run, torn) = match gameday::fold::RunState::from_journal(journal_path) {
        Ok(j) => j,
        Err(e) => {
            gameday::errln!("gameday: {e}");
            return None;
        }
    };
    if let Some(torn) = &torn {
        gameday::errln!(
            "gameday: note: {}:{}: the last line is torn ({}) and was left out of this report; the journal was not modified",
            journal_path.display(),
            torn.line,
            torn.reason
        );
    }
    let out = output.map(Path::to_path_buf).unwrap_or_else(|| {
        journal_path
            .parent()
            .map(|d| d.join("debrief.md"))
            .unwrap_or_else(|| PathBuf::from("debrief.md"))
    });
    let dir = out.parent().map(Path::to_path_buf).unwrap_or_default();
    for chart in report::chart::charts(&run) {
        let file = dir.join(format!(
            "chart-{}.svg",
            report::chart_file_stem(&chart.metric)
        ));
        if let Err(e) = gameday::write_atomic(&file, chart.svg.as_bytes()) {
            gameday::errln!("gameday: cannot write {}: {e}", file.display());
        }
    }
    match gameday::write_atomic(&out, report::debrief(&run).as_bytes()) {
        Ok(()) => {
            gameday::errln!("gameday: debrief written to {}", out.display());
            Some(out)
        }
        Err(e) => {
            gameday::errln!("gameday: cannot write {}: {e}", out.display());
            None
        }
    }
}

fn report_cmd(journal_path: &Path, output: Option<&Path>) -> u8 {
    match write_debrief(journal_path, output) {
        Some(_) => exit::HELD,
        None => exit::INVALID,
    }
}

async fn recover_cmd(journal_path: &Path, open: &target::OpenOptions) -> u8 {
    match recover::recover(journal_path, open).await {
        Ok(r) => {
            for (fault, host, status, how) in &r.results {
                gameday::outln!(
                    "{fault} on {host}: {} ({how})",
                    gameday::fold::describe::status_name(*status)
                );
            }
            if let Some(copy) = &r.repaired {
                gameday::outln!(
                    "repaired a torn last line of the journal (the original is kept at {})",
                    copy.display()
                );
            }
            if r.results.is_empty() {
                gameday::outln!(
                    "nothing to recover: every fault in the journal was verified rolled back"
                );
            }
            write_debrief(journal_path, None);
            if r.all_verified() {
                exit::HELD
            } else {
                exit::MANUAL
            }
        }
        Err(recover::RecoverError::Journal(e @ journal::JournalError::Locked { .. })) => {
            // A live run owns this journal and is the one to roll its faults back.
            gameday::errln!(
                "gameday: recover {}: {e}. The run is live: halt it from its console (X) or send it SIGTERM; recover is for runs that died",
                journal_path.display()
            );
            exit::INVALID
        }
        Err(e) => {
            gameday::errln!("gameday: recover {}: {e}", journal_path.display());
            exit::MANUAL
        }
    }
}

/// The demo scenarios and the runbooks they link to, built into the binary so `gameday demo` works
/// from any directory.
const DEMOS: &[(&str, &str)] = &[
    (
        "demo-latency",
        include_str!("../scenarios/demo-latency.yaml"),
    ),
    (
        "demo-error-storm",
        include_str!("../scenarios/demo-error-storm.yaml"),
    ),
    (
        "demo-process-kill",
        include_str!("../scenarios/demo-process-kill.yaml"),
    ),
];
const DEMO_RUNBOOKS: &[(&str, &str)] = &[
    (
        "demo-latency.md",
        include_str!("../runbooks/demo-latency.md"),
    ),
    (
        "demo-error-storm.md",
        include_str!("../runbooks/demo-error-storm.md"),
    ),
    (
        "demo-process-kill.md",
        include_str!("../runbooks/demo-process-kill.md"),
    ),
];

/// A scratch directory for the lab, removed when dropped.
struct LabDir(PathBuf);

impl LabDir {
    fn create() -> anyhow::Result<LabDir> {
        let base = std::env::temp_dir().join(format!(
            "gameday-lab-{}-{:x}",
            std::process::id(),
            chrono::Utc::now().timestamp_subsec_nanos()
        ));
        std::fs::create_dir_all(&base).with_context(|| format!("creating {}", base.display()))?;
        Ok(LabDir(base))
    }
}

impl Drop for LabDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// `gameday demo [SCENARIO]`: starts the embedded lab, runs a demo scenario on it over SSH, writes
/// the journal and debrief, and shuts the lab down.
async fn demo(name: Option<String>, journal_path: Option<PathBuf>, headless: bool) -> u8 {
    let wanted = name.as_deref().unwrap_or("demo-latency");
    let wanted = wanted.trim_end_matches(".yaml");
    let wanted = wanted.rsplit('/').next().unwrap_or(wanted);
    let Some((file_name, text)) = DEMOS
        .iter()
        .find(|(n, _)| *n == wanted || n.strip_prefix("demo-") == Some(wanted))
    else {
        let names: Vec<&str> = DEMOS.iter().map(|(n, _)| *n).collect();
        gameday::errln!(
            "gameday: no demo `{wanted}`; the demos are: {}",
            names.join(", ")
        );
        return exit::INVALID;
    };
    let dir = match LabDir::create() {
        Ok(d) => d,
        Err(e) => {
            gameday::errln!("gameday: cannot create the lab directory: {e:#}");
            return exit::INVALID;
        }
    };
    let scenario_path = dir.0.join("scenarios").join(format!("{file_name}.yaml"));
    let written = (|| -> std::io::Result<()> {
        std::fs::create_dir_all(dir.0.join("scenarios"))?;
        std::fs::create_dir_all(dir.0.join("runbooks"))?;
        std::fs::write(&scenario_path, text)?;
        for (rb, md) in DEMO_RUNBOOKS {
            std::fs::write(dir.0.join("runbooks").join(rb), md)?;
        }
        Ok(())
    })();
    if let Err(e) = written {
        gameday::errln!(
            "gameday: cannot prepare the demo in {}: {e}",
            dir.0.display()
        );
        return exit::INVALID;
    }
    let mut scenario = match Scenario::load(&scenario_path) {
        Ok(s) => s,
        Err(invalid) => {
            gameday::errln!("{invalid}");
            return exit::INVALID;
        }
    };
    let lab = match gameday::lab::Lab::start(&dir.0.join("lab"), 2).await {
        Ok(l) => l,
        Err(e) => {
            gameday::errln!("gameday: cannot start the lab: {e}");
            return exit::INVALID;
        }
    };
    lab.localize(&mut scenario);
    let mut options = Options::default();
    options.open.ssh.known_hosts = lab.known_hosts.clone();
    if headless || !gameday::tui::terminal_available() {
        gameday::outln!(
            "gameday demo: lab hosts {} on 127.0.0.1 (SSH with strict host keys), scenario {file_name}",
            lab.hosts
                .iter()
                .map(|h| h.name.as_str())
                .collect::<Vec<_>>()
                .join(", ")
        );
    }
    let code = run_or_console(scenario, journal_path, options, headless).await;
    drop(lab);
    code
}

/// `gameday lab`: only the lab, until Ctrl-C, so you can point your own scenarios at it.
async fn lab_cmd(hosts: usize) -> u8 {
    let dir = match LabDir::create() {
        Ok(d) => d,
        Err(e) => {
            gameday::errln!("gameday: cannot create the lab directory: {e:#}");
            return exit::INVALID;
        }
    };
    let lab = match gameday::lab::Lab::start(&dir.0, hosts.clamp(1, 16)).await {
        Ok(l) => l,
        Err(e) => {
            gameday::errln!("gameday: cannot start the lab: {e}");
            return exit::INVALID;
        }
    };
    {
        use std::io::Write;
        let _ = write!(std::io::stdout(), "{}", lab.describe());
    }
    gameday::outln!("Ctrl-C stops the lab and removes its directory.");
    // Any of Ctrl-C, SIGTERM or SIGHUP (a closed terminal) stops the lab and removes its
    // directory, which holds the lab's client key.
    let _ = gameday::signals().recv().await;
    drop(lab);
    exit::HELD
}

// ---- the console (TUI) ------------------------------------------------------------------------

/// The console when there is a terminal and `--headless` was not given; the headless printer else.
async fn run_or_console(
    scenario: Scenario,
    journal: Option<PathBuf>,
    options: Options,
    headless: bool,
) -> u8 {
    if headless {
        return run(scenario, journal, options).await;
    }
    if !gameday::tui::terminal_available() {
        gameday::errln!(
            "gameday: no terminal on stdin/stdout: running headless (use --headless to say so)"
        );
        return run(scenario, journal, options).await;
    }
    // Logs go to a file, never the terminal: beside the journal when one is named.
    let log_dir = journal
        .as_deref()
        .and_then(Path::parent)
        .filter(|d| !d.as_os_str().is_empty())
        .map(Path::to_path_buf)
        .unwrap_or_else(|| PathBuf::from("runs"));
    let _ = std::fs::create_dir_all(&log_dir);
    let _log = init_logging(&log_dir);
    let open = options.open.clone();
    // The console runs as its own task: if it panics, the engine's task lives on, sees that no one
    // can halt it any more, and rolls every live fault back; this waits for that before exiting.
    let console = match tokio::spawn(gameday::tui::run(scenario, journal, options)).await {
        Ok(result) => result,
        Err(crashed) => {
            gameday::errln!(
                "gameday: the console crashed ({crashed}); the engine is rolling back every live fault…"
            );
            let done = gameday::engine::wait_for_runs(std::time::Duration::from_secs(600)).await;
            gameday::errln!(
                "gameday: {}; check the journal and debrief under runs/ (gameday recover JOURNAL if anything is not VERIFIED)",
                if done {
                    "the run ended"
                } else {
                    "the run did not end within 10 minutes"
                }
            );
            return exit::MANUAL;
        }
    };
    match console {
        Err(e) => {
            gameday::errln!("gameday: the console failed: {e}");
            exit::ABORTED
        }
        Ok(done) => console_code(done, &open).await,
    }
}

/// Exit code and debrief of a console session, as for a headless run.
async fn console_code(done: gameday::tui::Finished, open: &target::OpenOptions) -> u8 {
    let Some(path) = done.journal else {
        return exit::HELD; // Nothing was started.
    };
    let code = match done.outcome {
        Some(Ok(outcome)) => outcome_code(&outcome),
        Some(Err(why)) => {
            gameday::errln!("gameday: {why}; rolling back from the journal");
            recover_cmd(&path, open).await;
            exit::MANUAL
        }
        None => exit::ABORTED,
    };
    write_debrief(&path, None);
    gameday::outln!("gameday: journal {}", path.display());
    code
}

async fn replay_cmd(journal_path: &Path) -> u8 {
    if !gameday::tui::terminal_available() {
        gameday::errln!(
            "gameday: replay needs a terminal; `gameday report` writes the debrief instead"
        );
        return exit::INVALID;
    }
    match gameday::tui::replay(journal_path).await {
        Ok(_) => exit::HELD,
        Err(e) => {
            gameday::errln!("gameday: replay {}: {e}", journal_path.display());
            exit::INVALID
        }
    }
}

/// `run --dry-run`: opens every host for real (host keys, authentication, sudo) and prints every
/// command a run would send, lease included. Sends none of them.
async fn dry_run_cmd(scenario: &Scenario, open: &target::OpenOptions) -> u8 {
    use gameday::fault::{FaultPlan, PlanContext, kinds, lease};
    let hosts = match target::open(scenario, open).await {
        Ok(h) => h,
        Err(e) => {
            gameday::errln!("gameday: {e}");
            return exit::INVALID;
        }
    };
    for (name, hs) in &hosts {
        for h in hs {
            gameday::outln!(
                "ok: target {name}: {} reachable, host key verified",
                h.name()
            );
        }
    }
    let run = "DRYRUN";
    for (step, fault) in scenario.faults() {
        for host in hosts.get(&fault.target).into_iter().flatten() {
            let ctx = PlanContext {
                run: run.into(),
                management_port: host.management_port(),
            };
            let plan = FaultPlan::of(fault, &ctx);
            gameday::outln!(
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
                gameday::outln!("lease:  {}", host.manual(&l.arm));
            }
            gameday::outln!("inject: {}", host.manual(&plan.inject));
            match &plan.undo {
                Some(u) => gameday::outln!("undo:   {}", host.manual(u)),
                None => gameday::outln!("undo:   (irreversible)"),
            }
            if let Some(v) = &plan.verify {
                gameday::outln!("verify: {}", host.manual(v));
            }
        }
    }
    gameday::outln!("\ndry run: no fault command was sent (the run id in tags is a placeholder)");
    exit::HELD
}

/// `gameday trust HOST[:PORT]`: shows the key's fingerprint, asks, appends to known_hosts.
async fn trust_cmd(host: &str, known_hosts: Option<PathBuf>, yes: bool) -> u8 {
    use gameday::target::{known_hosts as kh, ssh};
    let addr = match gameday::scenario::parse_host(host) {
        Ok(a) => a,
        Err(e) => {
            gameday::errln!("gameday: {e}");
            return exit::INVALID;
        }
    };
    let mut opts = ssh::SshOptions::default();
    if let Some(k) = known_hosts {
        opts.known_hosts = k;
    }
    let key = match ssh::probe_host_key(&addr, &opts).await {
        Ok(k) => k,
        Err(e) => {
            gameday::errln!("gameday: {e}");
            return exit::INVALID;
        }
    };
    let fp = kh::fingerprint(&key);
    match kh::check(&opts.known_hosts, &addr.host, addr.port, &key) {
        Ok(kh::HostKeyStatus::Known) => {
            gameday::outln!("{addr} is already trusted with {fp}");
            return exit::HELD;
        }
        Ok(kh::HostKeyStatus::Unknown) => {}
        Ok(other) => {
            gameday::errln!(
                "gameday: {addr} presents {fp} but {} records another key or revokes it ({other:?}); refusing. Find out why before editing that file by hand",
                opts.known_hosts.display()
            );
            return exit::MANUAL;
        }
        Err(e) => {
            gameday::errln!("gameday: {e}");
            return exit::INVALID;
        }
    }
    gameday::outln!(
        "{addr} presents a {} key with fingerprint {fp}",
        key.algorithm()
    );
    if !yes {
        gameday::outln!(
            "Compare it with the host's own `ssh-keygen -lf /etc/ssh/ssh_host_*_key.pub`."
        );
        use std::io::Write;
        let _ = write!(
            std::io::stdout(),
            "Add it to {}? [y/N] ",
            opts.known_hosts.display()
        );
        let _ = std::io::stdout().flush();
        let mut answer = String::new();
        if std::io::stdin().read_line(&mut answer).is_err()
            || !matches!(answer.trim(), "y" | "Y" | "yes")
        {
            gameday::outln!("not added");
            return exit::ABORTED;
        }
    }
    match kh::append(&opts.known_hosts, &addr.host, addr.port, &key) {
        Ok(()) => {
            gameday::outln!("added {addr} to {}", opts.known_hosts.display());
            exit::HELD
        }
        Err(e) => {
            gameday::errln!("gameday: {e}");
            exit::INVALID
        }
    }
}
