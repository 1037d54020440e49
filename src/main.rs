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
    },
    /// Run the built-in demo game day on this machine; needs no infrastructure.
    Demo {
        #[arg(long)]
        headless: bool,
        #[arg(long)]
        journal: Option<PathBuf>,
    },
    /// Write the Markdown debrief of a journal (also for a run that crashed).
    Report {
        journal: PathBuf,
        /// Output file (default: debrief.md beside the journal).
        #[arg(short, long)]
        output: Option<PathBuf>,
    },
    /// Roll back every fault a dead run left without a verified rollback.
    Recover { journal: PathBuf },
    /// Watch a run from a second seat: print its journal's events as they are written.
    Follow { journal: PathBuf },
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("gameday: cannot start the async runtime: {e}");
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
            } => {
                let scenario = match Scenario::load(&file) {
                    Ok(s) => s,
                    Err(invalid) => {
                        eprintln!("{invalid}");
                        eprintln!("gameday: {} is invalid; nothing was run", file.display());
                        return exit::INVALID;
                    }
                };
                let _ = headless; // The terminal console arrives with the TUI; every run is headless for now.
                run(
                    scenario,
                    journal,
                    Options {
                        fanout,
                        ..Options::default()
                    },
                )
                .await
            }
            Cmd::Demo { headless, journal } => {
                let _ = headless;
                demo(journal).await
            }
            Cmd::Report { journal, output } => report_cmd(&journal, output.as_deref()),
            Cmd::Recover { journal } => recover_cmd(&journal).await,
            Cmd::Follow { journal } => match headless::follow(&journal, std::io::stdout()).await {
                Ok(()) => exit::HELD,
                Err(e) => {
                    eprintln!("gameday: follow {}: {e}", journal.display());
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
            Ok(s) => println!(
                "{}: ok — {} ({} steps, {} faults)",
                f.display(),
                s.title,
                s.steps.len(),
                s.faults().count()
            ),
            Err(invalid) => {
                bad += 1;
                for d in &invalid.0 {
                    println!("{d}");
                }
            }
        }
    }
    if bad > 0 {
        eprintln!("gameday: {bad} of {} file(s) invalid", files.len());
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

fn default_journal(scenario: &Scenario, now: chrono::DateTime<chrono::Utc>) -> PathBuf {
    PathBuf::from("runs")
        .join(format!(
            "{}-{}",
            now.format("%Y%m%dT%H%M%SZ"),
            scenario.slug()
        ))
        .join("journal.jsonl")
}

async fn run(scenario: Scenario, journal_path: Option<PathBuf>, options: Options) -> u8 {
    let hosts = match target::open(&scenario) {
        Ok(h) => h,
        Err(e) => {
            eprintln!("gameday: {e}; nothing was run");
            return exit::INVALID;
        }
    };
    let probes = match metric::probes(&scenario, &hosts) {
        Ok(p) => p,
        Err(e) => {
            eprintln!("gameday: {e}; nothing was run");
            return exit::INVALID;
        }
    };
    let now = chrono::Utc::now();
    let path = journal_path.unwrap_or_else(|| default_journal(&scenario, now));
    let run_id = format!(
        "{}-{:04x}",
        now.format("%Y%m%dT%H%M%SZ"),
        now.timestamp_subsec_nanos() & 0xffff
    );
    let writer = match journal::JournalWriter::create(&path, &run_id) {
        Ok(w) => w,
        Err(e) => {
            eprintln!("gameday: cannot start the journal: {e}; nothing was run");
            return exit::INVALID;
        }
    };
    let dir = path.parent().map(Path::to_path_buf).unwrap_or_default();
    let _log = init_logging(&dir);
    tracing::info!(journal = %path.display(), scenario = %scenario.file.display(), "run starting");

    let (engine, handle) = Engine::new(Arc::new(scenario), hosts, probes, writer, options);
    let printer = tokio::spawn(headless::print_events(
        handle.subscribe(),
        std::io::stdout(),
    ));
    let signals = tokio::spawn(forward_signals(handle.commands.clone()));
    let result = tokio::spawn(engine.run()).await;
    signals.abort();
    let _ = printer.await;

    let code = match result {
        Ok(Ok(outcome)) => outcome_code(&outcome),
        Ok(Err(e)) => {
            eprintln!("gameday: cannot write the journal: {e}; nothing was run");
            return exit::INVALID;
        }
        Err(join_error) => {
            // The engine died (a bug). Its journal still says what is live: roll that back now.
            eprintln!(
                "gameday: the engine stopped unexpectedly ({join_error}); rolling back from the journal"
            );
            tracing::error!(error = %join_error, "engine task failed; recovering from the journal");
            recover_cmd(&path).await.max(exit::ABORTED)
        }
    };
    write_debrief(&path, None);
    code
}

fn outcome_code(outcome: &RunOutcome) -> u8 {
    u8::try_from(outcome.exit_code).unwrap_or(exit::MANUAL)
}

/// Ctrl-C, SIGTERM and SIGHUP halt the run: every live fault is rolled back before gameday exits.
async fn forward_signals(commands: tokio::sync::mpsc::Sender<Command>) {
    use tokio::signal::unix::{SignalKind, signal};
    let (Ok(mut term), Ok(mut hup), Ok(mut int)) = (
        signal(SignalKind::terminate()),
        signal(SignalKind::hangup()),
        signal(SignalKind::interrupt()),
    ) else {
        tracing::error!("cannot install signal handlers");
        return;
    };
    let mut first = true;
    loop {
        let name = tokio::select! {
            _ = term.recv() => "SIGTERM",
            _ = hup.recv() => "SIGHUP",
            _ = int.recv() => "SIGINT",
        };
        if first {
            eprintln!("gameday: {name}: halting and rolling back every live fault…");
        } else {
            eprintln!(
                "gameday: {name}: rollback in progress; gameday exits when every fault is back"
            );
        }
        first = false;
        let _ = commands
            .send(Command::Halt {
                by: "signal".into(),
                reason: format!("{name} received"),
            })
            .await;
    }
}

fn write_debrief(journal_path: &Path, output: Option<&Path>) -> Option<PathBuf> {
    let read = match journal::read(journal_path) {
        Ok(j) => j,
        Err(e) => {
            eprintln!("gameday: {e}");
            return None;
        }
    };
    if let Some(broken) = &read.repaired {
        eprintln!(
            "gameday: repaired a torn last line in {} (original kept at {})",
            journal_path.display(),
            broken.display()
        );
    }
    let out = output.map(Path::to_path_buf).unwrap_or_else(|| {
        journal_path
            .parent()
            .map(|d| d.join("debrief.md"))
            .unwrap_or_else(|| PathBuf::from("debrief.md"))
    });
    let dir = out.parent().map(Path::to_path_buf).unwrap_or_default();
    for chart in report::chart::charts(&read.events) {
        let file = dir.join(format!(
            "chart-{}.svg",
            report::chart_file_stem(&chart.metric)
        ));
        if let Err(e) = gameday::write_atomic(&file, chart.svg.as_bytes()) {
            eprintln!("gameday: cannot write {}: {e}", file.display());
        }
    }
    match gameday::write_atomic(&out, report::debrief(&read.events).as_bytes()) {
        Ok(()) => {
            eprintln!("gameday: debrief written to {}", out.display());
            Some(out)
        }
        Err(e) => {
            eprintln!("gameday: cannot write {}: {e}", out.display());
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

async fn recover_cmd(journal_path: &Path) -> u8 {
    match recover::recover(journal_path).await {
        Ok(r) => {
            for (p, status, how) in &r.results {
                println!(
                    "{} on {}: {} ({how})",
                    p.fault,
                    p.host,
                    report::status_name(*status)
                );
            }
            if r.results.is_empty() {
                println!("nothing to recover: every fault in the journal was verified rolled back");
            }
            write_debrief(journal_path, None);
            if r.all_verified() {
                exit::HELD
            } else {
                exit::MANUAL
            }
        }
        Err(e) => {
            eprintln!("gameday: recover {}: {e}", journal_path.display());
            exit::MANUAL
        }
    }
}

/// The built-in demo until the embedded SSH lab lands: a local "service" whose knobs are files.
async fn demo(journal_path: Option<PathBuf>) -> u8 {
    let lab = match tempfile_dir() {
        Ok(d) => d,
        Err(e) => {
            eprintln!("gameday: cannot create the demo directory: {e:#}");
            return exit::INVALID;
        }
    };
    let dir = lab.display().to_string();
    let Some(quoted) = shlex::try_quote(&dir).ok().map(|q| q.into_owned()) else {
        eprintln!("gameday: demo directory {dir} cannot be quoted for sh");
        return exit::INVALID;
    };
    let text = include_str!("../scenarios/demo-local.yaml").replace("$LAB", &quoted);
    let file = lab.join("demo-local.yaml");
    let scenario = match Scenario::parse(&file, &text) {
        Ok(s) => s,
        Err(invalid) => {
            eprintln!("{invalid}");
            return exit::INVALID;
        }
    };
    if let Err(e) = std::fs::write(lab.join("latency_ms"), "40\n") {
        eprintln!("gameday: cannot prepare the demo: {e}");
        return exit::INVALID;
    }
    println!("gameday demo: the lab's knobs live in {dir}");
    let code = run(scenario, journal_path, Options::default()).await;
    let _ = std::fs::remove_dir_all(&lab);
    code
}

fn tempfile_dir() -> anyhow::Result<PathBuf> {
    let base = std::env::temp_dir().join(format!("gameday-demo-{}", std::process::id()));
    std::fs::create_dir_all(&base).with_context(|| format!("creating {}", base.display()))?;
    Ok(base)
}
