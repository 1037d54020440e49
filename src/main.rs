//! The gameday command line. Only argument handling lives here; the work is in the library.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{CommandFactory, Parser, Subcommand};
use gameday::engine::Options;
use gameday::scenario::Scenario;
use gameday::session;
use gameday::{exit, headless, target};

#[derive(Parser)]
#[command(
    name = "gameday",
    version,
    about = "A terminal console for chaos-engineering game days",
    after_help = "Without a command: the scenario picker (scenarios/ and scenarios/templates/) when stdin and stdout are a terminal; otherwise this help, exit 2."
)]
struct Cli {
    /// Without a command: the scenario picker when a terminal is attached, else this help (exit 2).
    #[command(subcommand)]
    command: Option<Cmd>,
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
        /// How many lab hosts (shop-1 … shop-N), 1 to 1,000; load goes to the first 16 shops.
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
    /// Watch a run from a second seat: print its journal's events as they are written (exit 3
    /// when the run died: no writer and no end).
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
        target::OpenOptions {
            ssh,
            fanout,
            ..Default::default()
        }
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
    let Some(command) = cli.command else {
        if gameday::tui::terminal_available() {
            return ExitCode::from(
                runtime.block_on(gameday::tui::console_picker(Options::default())),
            );
        }
        gameday::errln!("{}", Cli::command().render_help());
        return ExitCode::from(exit::INVALID);
    };
    let code = runtime.block_on(async {
        match command {
            Cmd::Validate { files } => gameday::scenario::validate_files(&files),
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
                    return session::dry_run(&scenario, &options.open).await;
                }
                gameday::tui::front::run_or_console(scenario, journal, options, headless).await
            }
            Cmd::Demo {
                scenario,
                headless,
                journal,
            } => gameday::tui::front::demo(scenario, journal, headless).await,
            Cmd::Lab { hosts } => gameday::lab::serve(hosts).await,
            Cmd::Replay { journal } => gameday::tui::replay_command(&journal).await,
            Cmd::Report { journal, output } => {
                match session::debrief(&journal, output.as_deref()) {
                    Some(_) => exit::HELD,
                    None => exit::INVALID,
                }
            }
            Cmd::Recover { journal, ssh } => {
                // A rollback half done is worse than one done: signals are answered, not obeyed.
                session::hold_signals(
                    "recover is rolling back; it exits when every fault has a result",
                );
                session::recover(&journal, &ssh.open_options(64)).await
            }
            Cmd::Trust {
                host,
                known_hosts,
                yes,
            } => target::trust::trust(&host, known_hosts, yes).await,
            Cmd::Follow { journal } => match headless::follow(&journal, std::io::stdout()).await {
                Ok(headless::Followed::Ended) => exit::HELD,
                Ok(headless::Followed::WriterGone) => exit::MANUAL,
                Err(e) => {
                    gameday::errln!("gameday: follow {}: {e}", journal.display());
                    exit::INVALID
                }
            },
        }
    });
    ExitCode::from(code)
}
