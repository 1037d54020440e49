//! Front ends: the console when a terminal is attached and `--headless` was not given, the
//! headless run otherwise; and `gameday demo` on top of them.

use std::path::PathBuf;

use crate::engine::Options;
use crate::scenario::Scenario;

/// `gameday demo [SCENARIO]`: the embedded lab, a demo scenario on it over SSH, the journal and
/// debrief; the lab stops (and its directory goes) when the run is over.
///
/// The lab directory holds the lab's client key: it is removed on every way out. Signals are
/// caught from the first instant (a signal that kills the process would leave the directory): one
/// that comes before the run starts ends the demo with exit 1 and nothing touched; during the run
/// it halts and rolls back, and the demo ends as the run does.
pub async fn demo(name: Option<String>, journal: Option<PathBuf>, headless: bool) -> u8 {
    let _caught = crate::signals();
    let demo =
        match crate::lab::demo::Demo::prepare(name.as_deref().unwrap_or(crate::lab::demo::DEFAULT))
            .await
        {
            Ok(d) => d,
            Err(e) => {
                crate::errln!("gameday: {e}");
                return crate::exit::INVALID;
            }
        };
    let mut options = Options::default();
    options.open.ssh.known_hosts = demo.lab.known_hosts.clone();
    if headless || !super::terminal_available() {
        crate::outln!("{}", demo.banner());
    }
    if let Some(name) = crate::signal_received() {
        drop(demo);
        crate::errln!(
            "gameday: {name}: the demo stopped before its run started; nothing was touched"
        );
        return crate::exit::ABORTED;
    }
    let code = run_or_console(demo.scenario.clone(), journal, options, headless).await;
    drop(demo);
    code
}

/// The console when there is a terminal and `--headless` was not given; the headless run else.
pub async fn run_or_console(
    scenario: Scenario,
    journal: Option<PathBuf>,
    options: Options,
    headless: bool,
) -> u8 {
    if headless {
        return crate::session::run_headless(scenario, journal, options).await;
    }
    if !super::terminal_available() {
        crate::errln!(
            "gameday: no terminal on stdin/stdout: running headless (use --headless to say so)"
        );
        return crate::session::run_headless(scenario, journal, options).await;
    }
    super::console(scenario, journal, options).await
}
