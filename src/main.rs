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
        /// Also apply this OpenSSH client config to every SSH host (default ~/.ssh/config when it
        /// exists): a ProxyJump with two hops, an unknown %-token… are reported. Connects nowhere.
        #[arg(long, value_name = "FILE")]
        ssh_config: Option<PathBuf>,
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
        /// `json`: with --headless, stdout carries only one JSON summary at the end (the run's
        /// summary.json, with the process's exit_code and the journal's path); event lines go to stderr.
        #[arg(long, value_enum, default_value_t = Output::Text)]
        output: Output,
        /// With --headless: also write JUnit XML (a test case per steady-state check, success
        /// criterion and fault rollback; schema docs/junit.xsd) to FILE at the end.
        #[arg(long, value_name = "FILE")]
        junit: Option<PathBuf>,
        /// Let a second seat that joined with --can-halt halt this run (`gameday join`).
        #[arg(long)]
        allow_remote_halt: bool,
        /// A Chaos Toolkit experiment only: stop (and roll back) after this long, e.g. `10m`
        /// (default: the sum of its pauses and timeouts + 30s).
        #[arg(long, value_name = "DURATION")]
        max_duration: Option<String>,
        /// A Chaos Toolkit experiment only: also write chaostoolkit's journal.json here.
        #[arg(long, value_name = "FILE")]
        ctk_journal: Option<PathBuf>,
    },
    /// Print the gameday scenario YAML equivalent to a Chaos Toolkit experiment (to edit and keep).
    Import { experiment: PathBuf },
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
    /// Write the Markdown debrief of a journal (also for a run that crashed); of a day directory,
    /// the day debrief (day-debrief.md in it) from its journals alone.
    Report {
        journal: PathBuf,
        /// Output file (default: debrief.md beside the journal).
        #[arg(short, long)]
        output: Option<PathBuf>,
        /// Also write the run's JUnit XML to FILE (schema docs/junit.xsd); one journal only.
        #[arg(long, value_name = "FILE")]
        junit: Option<PathBuf>,
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
        /// OpenSSH client config: HOST may be an alias (default ~/.ssh/config when it exists);
        /// `HashKnownHosts yes` there writes a hashed entry.
        #[arg(long, value_name = "FILE")]
        ssh_config: Option<PathBuf>,
    },
    /// Watch a run from a second seat: print its journal's events as they are written (exit 3
    /// when the run died: no writer and no end).
    Follow {
        journal: PathBuf,
        /// Events only: leave out metric samples and lease renewals.
        #[arg(long)]
        events: bool,
        /// One short line per event (`T+mm:ss source: text`, cut at 120 characters).
        #[arg(long)]
        compact: bool,
    },
    /// Join a live run on this machine as a second seat (its Unix socket, same user only): the
    /// run's console, whose notes and milestones go to the run tagged with this seat; or, with
    /// --note, --milestone or --halt, send that one thing and exit.
    Join {
        /// The run's directory, or its journal.
        run: PathBuf,
        /// This seat's role: scribe, communications… `observer` (or a person the scenario lists
        /// under observers) is read-only.
        #[arg(long)]
        role: String,
        /// Who sits here (shown in the run's timeline with the role).
        #[arg(long)]
        name: Option<String>,
        /// Ask to be able to halt the run; granted only if it was started with --allow-remote-halt.
        #[arg(long)]
        can_halt: bool,
        /// Send this note and exit.
        #[arg(long, conflicts_with_all = ["milestone", "halt"])]
        note: Option<String>,
        /// The note's kind: observation (default), action-item, went-well, went-wrong, question,
        /// runbook-gap.
        #[arg(long, requires = "note")]
        kind: Option<String>,
        /// Who owns the action item (with --note).
        #[arg(long, requires = "note")]
        owner: Option<String>,
        /// When the action item is due, YYYY-MM-DD (with --note).
        #[arg(long, requires = "note")]
        due: Option<String>,
        /// Mark a milestone (detected or mitigated) and exit.
        #[arg(long, conflicts_with = "halt")]
        milestone: Option<String>,
        /// Halt the run with this reason and exit (needs --can-halt and the run's grant).
        #[arg(long)]
        halt: Option<String>,
    },
    /// Review a finished run in the console: the Run screen with a time slider.
    Replay { journal: PathBuf },
    /// Run a game day's agenda (several scenarios, breaks) in order, each with its own journal
    /// under one day directory, then write the day debrief.
    Day {
        plan: PathBuf,
        /// Run the agenda back to back without a terminal (planned times and breaks are not
        /// waited for). Without it, the agenda screen: countdowns to planned times and breaks,
        /// start now / skip / postpone, each scenario in the console.
        #[arg(long)]
        headless: bool,
        /// The day directory (default days/<date>-<title>/).
        #[arg(long)]
        dir: Option<PathBuf>,
        /// Most commands in flight at once across hosts.
        #[arg(long, default_value_t = 64)]
        fanout: usize,
        #[command(flatten)]
        ssh: SshArgs,
    },
    /// Print a shell completion script: `gameday completions bash > /etc/bash_completion.d/gameday`
    /// (zsh: into a directory of $fpath as `_gameday`; fish: ~/.config/fish/completions/gameday.fish).
    Completions { shell: clap_complete::Shell },
    /// Print the man page (roff): `gameday man | man -l -`, or save it as gameday.1.
    Man,
    /// Past runs under a directory (default runs/): verdicts, time to detect / mitigate / recover,
    /// and the trend per scenario (first run → last).
    History {
        /// A directory of runs (searched 4 levels down for journal.jsonl), or one journal.
        dir: Option<PathBuf>,
        /// Print JSON (rows, trends, skipped journals) instead of the table.
        #[arg(long)]
        json: bool,
    },
}

#[derive(clap::ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
enum Output {
    Text,
    Json,
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
    /// OpenSSH client config for Host aliases (HostName, Port, User, IdentityFile, ProxyJump,
    /// Include) (default ~/.ssh/config when it exists). Scenario values win over it.
    #[arg(long, value_name = "FILE")]
    ssh_config: Option<PathBuf>,
    /// System-wide known_hosts, read (never written) beside --known-hosts
    /// (default /etc/ssh/ssh_known_hosts).
    #[arg(long, value_name = "FILE")]
    global_known_hosts: Option<PathBuf>,
}

impl SshArgs {
    /// The run options these flags give, with `fanout`; `None` as for [`SshArgs::open_options`].
    fn options(&self, fanout: usize) -> Option<Options> {
        Some(Options {
            fanout,
            open: self.open_options(fanout)?,
            ..Options::default()
        })
    }

    /// Errors (an unreadable or malformed ssh config) are printed; the caller exits 2.
    fn open_options(&self, fanout: usize) -> Option<target::OpenOptions> {
        let mut ssh = target::ssh::SshOptions::default();
        if let Some(k) = &self.known_hosts {
            ssh.known_hosts = k.clone();
        }
        ssh.accept_new = self.accept_new;
        if let Some(g) = &self.global_known_hosts {
            ssh.global_known_hosts = Some(g.clone());
        }
        ssh.config = load_ssh_config(self.ssh_config.as_deref())?;
        Some(target::OpenOptions {
            ssh,
            fanout,
            ..Default::default()
        })
    }
}

/// `--ssh-config FILE`, else `~/.ssh/config` when it exists. `None` in the outer option: invalid.
fn load_ssh_config(
    path: Option<&std::path::Path>,
) -> Option<Option<std::sync::Arc<target::ssh_config::SshConfig>>> {
    let path = match path {
        Some(p) => p.to_path_buf(),
        None => match target::ssh_config::default_path() {
            Some(p) => p,
            None => return Some(None),
        },
    };
    match target::ssh_config::SshConfig::load(&path) {
        Ok(c) => Some(Some(std::sync::Arc::new(c))),
        Err(e) => {
            gameday::errln!("gameday: {e}");
            gameday::errln!(
                "gameday: fix the ssh config (or pass --ssh-config another file); nothing was run"
            );
            None
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
            Cmd::Validate { files, ssh_config } => {
                let code = gameday::scenario::validate_files(&files);
                let Some(config) = load_ssh_config(ssh_config.as_deref()) else {
                    return exit::INVALID;
                };
                let Some(config) = config else {
                    return code;
                };
                let mut bad = false;
                for f in &files {
                    let Ok(s) = Scenario::load(f) else { continue };
                    for p in target::ssh_config::check_scenario(&config, &s) {
                        gameday::outln!("{}: {p}", f.display());
                        bad = true;
                    }
                }
                if bad { exit::INVALID } else { code }
            }
            Cmd::Run {
                file,
                headless,
                journal,
                fanout,
                ssh,
                dry_run,
                output,
                junit,
                allow_remote_halt,
                max_duration,
                ctk_journal,
            } => {
                let json = output == Output::Json;
                if gameday::scenario::ctk::is_file_an_experiment(&file) {
                    if junit.is_some() || allow_remote_halt {
                        gameday::errln!(
                            "gameday: --junit and --allow-remote-halt are for gameday scenarios ({} is a Chaos Toolkit experiment); nothing was run",
                            file.display()
                        );
                        return exit::INVALID;
                    }
                    if dry_run {
                        gameday::errln!(
                            "gameday: {} is a Chaos Toolkit experiment: --dry-run does not run experiments; nothing was run",
                            file.display()
                        );
                        return exit::INVALID;
                    }
                    return run_experiment(
                        &file,
                        journal,
                        headless,
                        json,
                        max_duration,
                        ctk_journal,
                    )
                    .await;
                }
                if max_duration.is_some() || ctk_journal.is_some() {
                    gameday::errln!(
                        "gameday: --max-duration and --ctk-journal are for Chaos Toolkit experiments ({} is a gameday scenario: its max_duration is in the file); nothing was run",
                        file.display()
                    );
                    return exit::INVALID;
                }
                if let Some(j) = &junit {
                    if !headless || dry_run {
                        gameday::errln!(
                            "gameday: --junit goes with --headless (and not --dry-run): nothing was run"
                        );
                        return exit::INVALID;
                    }
                    if let Err(e) = gameday::report::junit::check_target(j) {
                        gameday::errln!("gameday: {e}");
                        return exit::INVALID;
                    }
                }
                if json {
                    if !headless || dry_run {
                        gameday::errln!(
                            "gameday: --output json goes with --headless (and not --dry-run): nothing was run"
                        );
                        return exit::INVALID;
                    }
                    gameday::reserve_stdout();
                }
                let scenario = match Scenario::load(&file) {
                    Ok(s) => s,
                    Err(invalid) => {
                        gameday::errln!("{invalid}");
                        gameday::errln!("gameday: {} is invalid; nothing was run", file.display());
                        if json {
                            let problems: Vec<String> =
                                invalid.0.iter().map(|d| d.to_string()).collect();
                            let v = serde_json::json!({
                                "exit_code": exit::INVALID,
                                "error": "invalid scenario; nothing was run",
                                "problems": problems,
                            });
                            gameday::machine_out(&v.to_string());
                        }
                        return exit::INVALID;
                    }
                };
                let Some(mut options) = ssh.options(fanout) else {
                    return exit::INVALID;
                };
                options.allow_remote_halt = allow_remote_halt;
                if dry_run {
                    return session::dry_run(&scenario, &options.open).await;
                }
                if junit.is_some() {
                    return session::run_headless_junit(scenario, journal, options, junit.as_deref())
                        .await;
                }
                gameday::tui::front::run_or_console(scenario, journal, options, headless).await
            }
            Cmd::Import { experiment } => {
                match gameday::scenario::ctk::Experiment::load(&experiment) {
                    Ok(e) => {
                        gameday::outln!("{}", gameday::scenario::ctk::import(&e).trim_end());
                        exit::HELD
                    }
                    Err(invalid) => {
                        gameday::errln!("{invalid}");
                        gameday::errln!("gameday: {} is not an experiment gameday can import", experiment.display());
                        exit::INVALID
                    }
                }
            }
            Cmd::Demo {
                scenario,
                headless,
                journal,
            } => gameday::tui::front::demo(scenario, journal, headless).await,
            Cmd::Lab { hosts } => gameday::lab::serve(hosts).await,
            Cmd::Join {
                run,
                role,
                name,
                can_halt,
                note,
                kind,
                owner,
                due,
                milestone,
                halt,
            } => {
                use gameday::seat::{self, Request};
                let req = if let Some(text) = note {
                    let kind = match kind.as_deref().map(seat::note_kind).transpose() {
                        Ok(k) => k.unwrap_or_default(),
                        Err(e) => {
                            gameday::errln!("gameday: join: {e}");
                            return exit::INVALID;
                        }
                    };
                    Some(Request::Note {
                        text,
                        kind,
                        owner,
                        due,
                    })
                } else if let Some(m) = milestone {
                    let kind = match m.as_str() {
                        "detected" => gameday::event::MilestoneKind::Detected,
                        "mitigated" => gameday::event::MilestoneKind::Mitigated,
                        other => {
                            gameday::errln!(
                                "gameday: join: unknown milestone {other:?}: detected or mitigated"
                            );
                            return exit::INVALID;
                        }
                    };
                    Some(Request::Milestone { kind })
                } else {
                    halt.map(|reason| Request::Halt { reason })
                };
                match req {
                    Some(req) => {
                        seat::send_once(&run, &role, name.as_deref(), can_halt, req).await
                    }
                    None => gameday::tui::join(&run, &role, name.as_deref(), can_halt).await,
                }
            }
            Cmd::Replay { journal } => gameday::tui::replay_command(&journal).await,
            Cmd::Report {
                journal,
                output,
                junit,
            } if journal.is_dir() => {
                if output.is_some() || junit.is_some() {
                    gameday::errln!("gameday: report DIR writes day-debrief.md in DIR; -o and --junit are for one journal");
                    return exit::INVALID;
                }
                match gameday::report::day::write_day_debrief(&journal) {
                    Ok(p) => {
                        gameday::outln!("gameday: day debrief written to {}", p.display());
                        exit::HELD
                    }
                    Err(e) => {
                        gameday::errln!("gameday: report {}: {e}", journal.display());
                        exit::INVALID
                    }
                }
            }
            Cmd::Report {
                journal,
                output,
                junit,
            } => {
                if let Some(j) = &junit
                    && let Err(e) = gameday::report::junit::check_target(j)
                {
                    gameday::errln!("gameday: {e}");
                    return exit::INVALID;
                }
                if session::debrief(&journal, output.as_deref()).is_none() {
                    return exit::INVALID;
                }
                if let Some(j) = &junit {
                    if let Err(e) = gameday::report::junit::write_junit(&journal, j, None) {
                        gameday::errln!("gameday: JUnit XML: {e}");
                        return exit::INVALID;
                    }
                    gameday::outln!("gameday: JUnit XML written to {}", j.display());
                }
                exit::HELD
            }
            Cmd::Recover { journal, ssh } => {
                // A rollback half done is worse than one done: signals are answered, not obeyed.
                session::hold_signals(
                    "recover is rolling back; it exits when every fault has a result",
                );
                let Some(open) = ssh.open_options(64) else {
                    return exit::INVALID;
                };
                session::recover(&journal, &open).await
            }
            Cmd::Trust {
                host,
                known_hosts,
                yes,
                ssh_config,
            } => {
                let Some(config) = load_ssh_config(ssh_config.as_deref()) else {
                    return exit::INVALID;
                };
                target::trust::trust(&host, known_hosts, config, yes).await
            }
            Cmd::Day {
                plan,
                headless,
                dir,
                fanout,
                ssh,
            } => {
                let demos = gameday::day::demo_names();
                let plan = match gameday::scenario::plan::Plan::load(&plan, &demos) {
                    Ok(p) => p,
                    Err(invalid) => {
                        gameday::errln!("{invalid}");
                        gameday::errln!("gameday: {} is invalid; nothing was run", plan.display());
                        return exit::INVALID;
                    }
                };
                let dir = dir.unwrap_or_else(|| gameday::day::default_dir(&plan));
                let Some(options) = ssh.options(fanout) else {
                    return exit::INVALID;
                };
                if headless {
                    return gameday::day::run_headless(&plan, &dir, options).await;
                }
                if !gameday::tui::terminal_available() {
                    gameday::errln!(
                        "gameday: no terminal on stdin/stdout: running the day headless (use --headless to say so)"
                    );
                    return gameday::day::run_headless(&plan, &dir, options).await;
                }
                gameday::day::run_screen(&plan, &dir, options).await
            }
            Cmd::Completions { shell } => {
                // Into a buffer first: the generator panics on a failed write, a print must not.
                let mut buf = Vec::new();
                clap_complete::generate(shell, &mut Cli::command(), "gameday", &mut buf);
                gameday::outln!("{}", String::from_utf8_lossy(&buf).trim_end());
                exit::HELD
            }
            Cmd::Man => {
                let mut buf = Vec::new();
                match clap_mangen::Man::new(Cli::command()).render(&mut buf) {
                    Ok(()) => {
                        gameday::outln!("{}", String::from_utf8_lossy(&buf).trim_end());
                        exit::HELD
                    }
                    Err(e) => {
                        gameday::errln!("gameday: man page: {e}");
                        exit::INVALID
                    }
                }
            }
            Cmd::History { dir, json } => {
                let dir = dir.unwrap_or_else(|| PathBuf::from("runs"));
                match gameday::report::history::history(&dir) {
                    Ok(h) if json => match serde_json::to_string_pretty(&h) {
                        Ok(text) => {
                            gameday::outln!("{text}");
                            exit::HELD
                        }
                        Err(e) => {
                            gameday::errln!("gameday: history: {e}");
                            exit::INVALID
                        }
                    },
                    Ok(h) => {
                        gameday::outln!("{}", gameday::report::history::render(&h).trim_end());
                        exit::HELD
                    }
                    Err(e) => {
                        gameday::errln!(
                            "gameday: history {}: {e} (give the directory your runs are in)",
                            dir.display()
                        );
                        exit::INVALID
                    }
                }
            }
            Cmd::Follow {
                journal,
                events,
                compact,
            } => match headless::follow(
                &journal,
                std::io::stdout(),
                headless::FollowOptions { events, compact },
            )
            .await
            {
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

/// `gameday run experiment.json|yaml`: a Chaos Toolkit experiment (in the console, or headless), then
/// its debrief.
async fn run_experiment(
    file: &std::path::Path,
    journal: Option<PathBuf>,
    headless: bool,
    json: bool,
    max_duration: Option<String>,
    ctk_journal: Option<PathBuf>,
) -> u8 {
    use gameday::scenario::ctk::Experiment;
    if !headless && json {
        gameday::errln!("gameday: --output json goes with --headless: nothing was run");
        return exit::INVALID;
    }
    if !headless && !gameday::tui::terminal_available() {
        gameday::errln!(
            "gameday: {} is a Chaos Toolkit experiment and there is no terminal for the console: run it with --headless; nothing was run",
            file.display()
        );
        return exit::INVALID;
    }
    if json {
        // From here stdout carries only the JSON summary; event lines go to stderr.
        gameday::reserve_stdout();
    }
    let experiment = match Experiment::load(file) {
        Ok(e) => e,
        Err(invalid) => {
            gameday::errln!("{invalid}");
            gameday::errln!("gameday: {} is invalid; nothing was run", file.display());
            return exit::INVALID;
        }
    };
    let max_duration = match max_duration
        .map(|d| gameday::scenario::duration::HumanDuration::parse(&d))
        .transpose()
    {
        Ok(d) => d.map(|d| d.0),
        Err(e) => {
            gameday::errln!("gameday: --max-duration: {e}; nothing was run");
            return exit::INVALID;
        }
    };
    let options = gameday::ctk::RunOptions {
        max_duration,
        ctk_journal,
        halt_when_alone: false,
    };
    if !headless {
        return gameday::tui::experiment(experiment, journal, options).await;
    }
    let (code, journal) =
        gameday::ctk::run_headless(experiment, journal, options, session::init_logging).await;
    if let Some(j) = &journal {
        session::debrief(j, None);
        if json {
            gameday::machine_out(&session::json_summary(j, code));
        }
    } else if json {
        let v = serde_json::json!({ "exit_code": code, "error": "nothing was run" });
        gameday::machine_out(&v.to_string());
    }
    code
}
