//! The control shell (one `sh` per host, commands framed over its stdin/stdout) against the
//! in-process russh server and a real OpenSSH sshd: the same `CommandOutcome` as an exec channel
//! per command, hostile output that cannot end a frame, and a shell killed mid-run.

use std::path::PathBuf;
use std::time::Duration;

use gameday::scenario::HostAddr;
use gameday::target::ssh::{MAX_SHELL_DEATHS, SshHost, SshOptions, SshTarget};
use gameday::target::test_server::TestServer;
use gameday::target::{CommandOutcome, Host, OUTPUT_CAP, known_hosts};

use crate::sshd_support::Sshd;

/// Somewhere to connect: the in-process server or a real sshd, and how.
struct Place {
    _dir: Option<tempfile::TempDir>,
    _server: Option<TestServer>,
    _sshd: Option<Sshd>,
    target: SshTarget,
    known_hosts: PathBuf,
}

impl Place {
    async fn connect(&self, control_shell: bool) -> SshHost {
        let opts = SshOptions {
            known_hosts: self.known_hosts.clone(),
            control_shell,
            ..SshOptions::default()
        };
        let host = SshHost::connect(&self.target, &opts).await.unwrap();
        assert_eq!(host.control_shell_up().await, control_shell);
        host
    }

    fn executed(&self) -> Vec<String> {
        self._server
            .as_ref()
            .map(TestServer::executed)
            .unwrap_or_default()
    }
}

async fn in_process() -> Place {
    let dir = tempfile::tempdir().unwrap();
    let (server, identity) = crate::keyed_server(&dir.path().join("id_ed25519"), 9, 2).await;
    let known = dir.path().join("known_hosts");
    known_hosts::append(&known, "127.0.0.1", server.port, &server.host_key).unwrap();
    Place {
        target: SshTarget {
            addr: HostAddr::new("127.0.0.1", server.port),
            user: "tester".into(),
            sudo: false,
            identity: Some(identity),
            route: None,
        },
        known_hosts: known,
        _dir: Some(dir),
        _server: Some(server),
        _sshd: None,
    }
}

fn real_sshd() -> Option<Place> {
    let sshd = Sshd::start()?;
    Some(Place {
        target: SshTarget {
            addr: HostAddr::new("127.0.0.1", sshd.port),
            user: sshd.user.clone(),
            sudo: false,
            identity: Some(sshd.identity.clone()),
            route: None,
        },
        known_hosts: sshd.known_hosts.clone(),
        _dir: None,
        _server: None,
        _sshd: Some(sshd),
    })
}

/// Everything but the time taken.
fn same(a: &CommandOutcome, b: &CommandOutcome) -> bool {
    (&a.exit, &a.stdout, &a.stderr, &a.error) == (&b.exit, &b.stdout, &b.stderr, &b.error)
}

const CASES: &[(&str, u64)] = &[
    ("true", 5),
    ("exit 3", 5),
    ("echo out; echo err >&2; exit 7", 5),
    ("printf 'no newline'; printf 'e' >&2", 5),
    ("printf ''", 5),
    ("printf 'x\\0y\\377\\n'", 5),
    // Exec's own status for a remote timeout: `timeout` says 124.
    ("sleep 30", 1),
    // Past the cap, on both streams: the same head and the same cut count.
    (
        "head -c 100000 /dev/zero | tr '\\0' y; head -c 50000 /dev/zero | tr '\\0' e >&2",
        10,
    ),
    // A command that reads its stdin reads nothing (on the shell: /dev/null, never the frames
    // that follow; on an exec channel: EOF at once).
    ("cat; echo after", 5),
    // The marker is nowhere in the command's environment.
    ("env | grep -c '^.*gd-[0-9a-f]\\{32\\}' || true", 5),
];

async fn outcomes_equal_the_exec_path(place: &Place) {
    let shell = place.connect(true).await;
    let exec = place.connect(false).await;
    for (cmd, secs) in CASES {
        let t = Duration::from_secs(*secs);
        let (a, b) = (shell.exec(cmd, t).await, exec.exec(cmd, t).await);
        assert!(same(&a, &b), "{cmd}:\n shell {a:?}\n exec  {b:?}");
    }
    let big = shell.exec(CASES[7].0, Duration::from_secs(10)).await;
    assert!(big.stdout.len() > OUTPUT_CAP, "capped with its count");
    assert!(
        big.stdout
            .ends_with(&format!("… [{} bytes cut]", 100_000 - OUTPUT_CAP))
    );
    let slow = shell.exec("sleep 30", Duration::from_secs(1)).await;
    assert_eq!(slow.exit, Some(124), "{slow:?}");
    assert!(
        shell.control_shell_up().await,
        "every case ran on the shell, which is still up"
    );
}

#[tokio::test]
async fn in_process_shell_outcomes_equal_the_exec_path() {
    let place = in_process().await;
    outcomes_equal_the_exec_path(&place).await;
    // The shell host opened one session for its shell; the exec host one per command.
    let ran = place.executed();
    assert_eq!(ran.iter().filter(|c| *c == "sh").count(), 1, "{ran:?}");
    assert_eq!(ran.len(), 1 + CASES.len(), "{ran:?}");
}

#[tokio::test]
async fn sshd_shell_outcomes_equal_the_exec_path() {
    let Some(place) = real_sshd() else { return };
    outcomes_equal_the_exec_path(&place).await;
}

/// Output that imitates the protocol (start and end lines with any marker, any sequence number)
/// is only output: the frame ends at the real end line, with the real status.
async fn forged_markers_are_output(place: &Place) {
    let host = place.connect(true).await;
    let forged = "gd-0123456789abcdef0123456789abcdef";
    let cmd = format!(
        "for s in 1 2 3 4 5; do printf '{forged} %s\\n\\n{forged} %s=0\\n' $s $s; printf '\\n{forged} %s=\\n' $s >&2; done; exit 5"
    );
    let out = host.exec(&cmd, Duration::from_secs(5)).await;
    assert_eq!(out.exit, Some(5), "{out:?}");
    assert_eq!(out.stdout.matches(forged).count(), 10, "{out:?}");
    assert_eq!(out.stderr.matches(forged).count(), 5, "{out:?}");
    // And the next frame is not confused by it.
    let next = host.exec("echo next", Duration::from_secs(5)).await;
    assert_eq!((next.exit, next.stdout.as_str()), (Some(0), "next\n"));
}

#[tokio::test]
async fn in_process_forged_markers_are_output() {
    forged_markers_are_output(&in_process().await).await;
}

#[tokio::test]
async fn sshd_forged_markers_are_output() {
    let Some(place) = real_sshd() else { return };
    forged_markers_are_output(&place).await;
}

/// Kills the control shell (the parent of the command's `timeout`) from inside a command.
const KILL_SHELL: &str = "kill -9 $(awk '{print $4}' /proc/$PPID/stat); sleep 0.2; echo survived";

/// A shell killed mid-command: that command has no exit status (it may have run), the next one
/// runs on a new shell; after [`MAX_SHELL_DEATHS`] deaths the host uses exec channels for good.
async fn a_killed_shell_falls_back(place: &Place) {
    let host = place.connect(true).await;
    let t = Duration::from_secs(5);
    for death in 1..=MAX_SHELL_DEATHS {
        let out = host.exec(KILL_SHELL, t).await;
        assert_eq!(out.exit, None, "death {death}: {out:?}");
        let err = out.error.as_deref().unwrap_or_default();
        assert!(err.contains("control shell ended"), "{err}");
        assert!(!host.control_shell_up().await);
        let next = host.exec("echo ok", t).await;
        assert_eq!(
            (next.exit, next.stdout.as_str()),
            (Some(0), "ok\n"),
            "death {death}"
        );
    }
    assert!(host.control_shell_given_up().await);
    assert!(!host.control_shell_up().await);
    // Exec channels now, and the host carries on.
    let out = host.exec("echo on-exec", t).await;
    assert_eq!(
        (out.exit, out.stdout.as_str()),
        (Some(0), "on-exec\n"),
        "{out:?}"
    );
}

#[tokio::test]
async fn in_process_a_killed_shell_falls_back() {
    let place = in_process().await;
    a_killed_shell_falls_back(&place).await;
    let ran = place.executed();
    let shells = ran.iter().filter(|c| *c == "sh").count();
    assert_eq!(shells, MAX_SHELL_DEATHS as usize, "{ran:?}");
    assert!(
        ran.iter().any(|c| c.contains("echo on-exec")),
        "the last command went over an exec channel: {ran:?}"
    );
}

#[tokio::test]
async fn sshd_a_killed_shell_falls_back() {
    let Some(place) = real_sshd() else { return };
    a_killed_shell_falls_back(&place).await;
}

/// A command that finds the shell busy takes an exec channel: nothing waits behind a long one.
#[tokio::test]
async fn a_busy_shell_never_queues() {
    let place = in_process().await;
    let server = place._server.as_ref().unwrap();
    let host = std::sync::Arc::new(place.connect(true).await);
    let slow = {
        let host = host.clone();
        tokio::spawn(async move {
            host.exec("sleep 3; echo slow", Duration::from_secs(10))
                .await
        })
    };
    // The slow command has the shell once its frame was written to it.
    while !server.written().iter().any(|w| w.contains("echo slow")) {
        tokio::task::yield_now().await;
    }
    let out = host.exec("echo quick", Duration::from_secs(5)).await;
    assert_eq!((out.exit, out.stdout.as_str()), (Some(0), "quick\n"));
    assert!(
        !slow.is_finished(),
        "answered while the slow command holds the shell"
    );
    assert!(
        server.executed().iter().any(|c| c.contains("echo quick")),
        "the quick command went over an exec channel"
    );
    let slow = slow.await.unwrap();
    assert_eq!((slow.exit, slow.stdout.as_str()), (Some(0), "slow\n"));
    assert!(
        host.control_shell_up().await,
        "the shell stays up for the next command"
    );
}

/// Undo, verify and the lease cancel as one exchange on the control shell: the report is what
/// the step-by-step rollback over exec channels decides (status, how, attempts, each outcome),
/// the cancel runs only after a VERIFIED rollback, and the whole takes one write to the shell.
async fn rollback_exchange_equals_step_by_step(place: &Place, dir: &std::path::Path) {
    use gameday::fault::{FaultPlan, RollbackStatus, roll_back, roll_back_and_cancel};
    let shell = place.connect(true).await;
    let exec = place.connect(false).await;
    let t = Duration::from_secs(5);
    // (undo, verify, expected status, expected undo attempts)
    let cases: Vec<(String, Option<String>, RollbackStatus, u32)> = vec![
        ("echo undone".into(), Some("echo fine; true".into()), RollbackStatus::Verified, 1),
        // The undo succeeds on its second attempt (a counter file per host and case).
        (
            "n=$(cat \"$C\" 2>/dev/null || echo 0); n=$((n+1)); echo $n > \"$C\"; echo try $n >&2; [ $n -ge 2 ]".into(),
            Some("test -e \"$C\"".into()),
            RollbackStatus::Verified,
            2,
        ),
        ("true".into(), Some("echo still there >&2; exit 1".into()), RollbackStatus::Failed, 1),
        ("exit 4".into(), None, RollbackStatus::Failed, 3),
        ("echo ok".into(), None, RollbackStatus::Verified, 1),
    ];
    for (i, (undo, verify, status, attempts)) in cases.into_iter().enumerate() {
        let mut reports = Vec::new();
        for (who, host) in [("shell", &shell), ("exec", &exec)] {
            let c = dir.join(format!("count-{who}-{i}"));
            let cancelled = dir.join(format!("cancelled-{who}-{i}"));
            let set = |s: &str| format!("C={}; {s}", c.display());
            let plan = FaultPlan {
                inject: "true".into(),
                undo: Some(set(&undo)),
                verify: verify.as_deref().map(set),
                refusable: false,
            };
            let cancel = format!("touch {}", cancelled.display());
            let mut r = if who == "shell" {
                roll_back_and_cancel(host, &plan, t, Some(&cancel)).await
            } else {
                roll_back(host, &plan, t).await
            };
            assert_eq!(r.status, status, "case {i} on {who}: {r:?}");
            assert_eq!(r.attempts, attempts, "case {i} on {who}: {r:?}");
            if who == "shell" {
                let verified = status == RollbackStatus::Verified;
                let cancel = match r.lease_cancel.take() {
                    Some(p) => Some(p.wait().await.exit),
                    None => None,
                };
                assert_eq!(cancel, verified.then_some(Some(0)), "case {i}");
                assert_eq!(
                    cancelled.exists(),
                    verified,
                    "the cancel runs only after VERIFIED"
                );
            }
            r.lease_cancel = None;
            r.undo.ms = 0;
            if let Some(v) = r.verify.as_mut() {
                v.ms = 0;
            }
            // The counter file's path differs per host: compare the rest.
            reports.push(format!("{r:?}").replace(&format!("count-{who}-"), "count-"));
        }
        assert_eq!(reports[0], reports[1], "case {i}");
    }
}

#[tokio::test]
async fn in_process_rollback_exchange_equals_step_by_step() {
    let place = in_process().await;
    let dir = tempfile::tempdir().unwrap();
    rollback_exchange_equals_step_by_step(&place, dir.path()).await;
    // The shell host opened one session and wrote one exchange per rollback (plus its probe).
    let written = place._server.as_ref().unwrap().written();
    let exchanges = written.iter().filter(|w| w.contains("gd_step()")).count();
    assert_eq!(exchanges, 5, "{written:?}");
    let ran = place.executed();
    assert_eq!(
        ran.iter().filter(|c| *c == "sh").count(),
        1,
        "no shell died: {ran:?}"
    );
}

#[tokio::test]
async fn sshd_rollback_exchange_equals_step_by_step() {
    let Some(place) = real_sshd() else { return };
    let dir = tempfile::tempdir().unwrap();
    rollback_exchange_equals_step_by_step(&place, dir.path()).await;
}

/// A halt never waits behind an inject that hangs on the same host: the fault already in is
/// rolled back and verified (over an exec channel while the hung inject holds the shell, or
/// on the shell) before the hung inject returns; that one is rolled back the moment it does.
#[tokio::test]
async fn a_halt_does_not_wait_behind_a_hanging_inject() {
    use gameday::engine::{Command, Options};
    use gameday::event::{Event, RollbackStatus};
    use gameday::scenario::Scenario;
    use gameday::target::OpenOptions;
    let place = in_process().await;
    let dir = tempfile::tempdir().unwrap();
    let a = dir.path().join("a");
    let hung = dir.path().join("hung");
    let yaml = format!(
        "title: t\nhypothesis: h\nmax_duration: 5m\ntargets:\n  box: {{ hosts: [\"127.0.0.1:{port}\"], user: tester, identity: \"{id}\" }}\n\
         steps:\n  - name: s\n    duration: 1m\n    faults:\n\
         \x20     - {{ kind: command, id: quick, target: box, inject: \"touch {a}\", rollback: \"rm -f {a}\", verify: \"test ! -e {a}\" }}\n\
         \x20     - {{ kind: command, id: hangs, target: box, inject: \"touch {h}; sleep 4\", rollback: \"rm -f {h}\", verify: \"test ! -e {h}\" }}\n",
        port = place.target.addr.port,
        id = place.target.identity.as_ref().unwrap().display(),
        a = a.display(),
        h = hung.display(),
    );
    let scenario = Scenario::parse(&dir.path().join("t.yaml"), &yaml).unwrap();
    let open = OpenOptions {
        ssh: SshOptions {
            known_hosts: place.known_hosts.clone(),
            ..SshOptions::default()
        },
        ..OpenOptions::default()
    };
    let map = gameday::target::open(&scenario, &open).await.unwrap();
    let running = gameday::session::start_on(
        std::sync::Arc::new(scenario),
        map,
        Some(dir.path().join("journal.jsonl")),
        Options::default(),
    )
    .unwrap();
    let mut events = running.events;
    let mut order = Vec::new();
    let mut halted = false;
    while let Ok(env) = events.recv().await {
        match &env.event {
            Event::FaultInjected { fault, ok, .. } => {
                assert!(ok, "{env:?}");
                order.push(format!("injected {fault}"));
            }
            Event::RollbackResult { fault, status, .. } => {
                assert_eq!(*status, RollbackStatus::Verified, "{env:?}");
                order.push(format!("verified {fault}"));
            }
            Event::RunEnded => break,
            _ => {}
        }
        if !halted && order.iter().any(|o| o == "injected quick") {
            // The hung inject writes its file first; wait for it without a timer.
            while !hung.exists() {
                tokio::task::yield_now().await;
            }
        }
        // Halt once the quick fault is in and the hanging inject has started on the host.
        if !halted && order.iter().any(|o| o == "injected quick") && hung.exists() {
            halted = true;
            running
                .handle
                .commands
                .send(Command::Halt {
                    by: "test".into(),
                    reason: "halt while an inject hangs".into(),
                })
                .await
                .unwrap();
        }
    }
    let _ = running.engine.await;
    assert_eq!(
        order,
        [
            "injected quick",
            "verified quick",
            "injected hangs",
            "verified hangs"
        ],
        "the quick fault came back while the other inject still hung"
    );
    assert!(!a.exists() && !hung.exists());
}

/// Whether `text` holds a control-shell marker (`gd-` and 32 hex digits; the exchange's
/// process-tree name `gd-x-…` is not one).
fn holds_a_marker(text: &str) -> bool {
    text.match_indices("gd-").any(|(i, _)| {
        let hex = text[i + 3..]
            .chars()
            .take_while(char::is_ascii_hexdigit)
            .count();
        hex == 32
    })
}

/// An exchange is one process tree on the host (`timeout` + `sh` for the whole; each step a
/// subshell): a step sees no marker on any command line above it, in its environment or in its
/// shell's variables, and gets no positional parameters.
async fn an_exchange_step_sees_no_marker(place: &Place) {
    use gameday::target::Exchange;
    let shell = place.connect(true).await;
    let look = "echo \"args=$# tag=[$gd_tag]\"; p=$$; while [ \"$p\" -gt 1 ]; do tr '\\0' ' ' < /proc/$p/cmdline; echo; read -r _ _ _ p _ < /proc/$p/stat || break; done; env";
    let ex = Exchange {
        steps: vec![("look", look.to_string())],
        flow: "gd_step look".into(),
        timeout: Duration::from_secs(5),
        max_runs: 1,
        pauses: Duration::ZERO,
        detached: None,
    };
    let done = shell.exchange(&ex).await.expect("run").expect("whole");
    assert_eq!(done.steps.len(), 1);
    let (name, out) = &done.steps[0];
    assert_eq!(name, "look");
    assert_eq!(out.exit, Some(0), "{out:?}");
    assert!(out.stdout.starts_with("args=0 tag=[]\n"), "{}", out.stdout);
    assert!(
        out.stdout.contains("gd-x-"),
        "the tree's name is on its line: {}",
        out.stdout
    );
    assert!(!holds_a_marker(&out.stdout), "{}", out.stdout);
}

#[tokio::test]
async fn in_process_an_exchange_step_sees_no_marker() {
    an_exchange_step_sees_no_marker(&in_process().await).await;
}

#[tokio::test]
async fn sshd_an_exchange_step_sees_no_marker() {
    let Some(place) = real_sshd() else { return };
    an_exchange_step_sees_no_marker(&place).await;
}

/// A step of an exchange has no remote `timeout` of its own: the client bounds it. A hung undo
/// ends the exchange once its timeout has passed, its processes on the host are ended (never two
/// undos at once), and the rollback is then decided step by step, as the exec path decides it.
async fn a_hung_exchange_step_is_ended_then_decided_step_by_step(
    place: &Place,
    dir: &std::path::Path,
) {
    use gameday::fault::{FaultPlan, RollbackStatus, roll_back, roll_back_and_cancel};
    let t = Duration::from_secs(1);
    let mut reports = Vec::new();
    for (who, control) in [("shell", true), ("exec", false)] {
        let host = place.connect(control).await;
        let first = dir.join(format!("first-{who}"));
        let pids = dir.join(format!("pids-{who}"));
        // The first attempt hangs (its sleeper's pid recorded); the later ones fail at once.
        let undo = format!(
            "if [ ! -e {f} ]; then : > {f}; sh -c 'echo $$ >> {p}; exec sleep 60'; fi; exit 5",
            f = first.display(),
            p = pids.display()
        );
        let plan = FaultPlan {
            inject: "true".into(),
            undo: Some(undo),
            verify: None,
            refusable: false,
        };
        let mut r = if control {
            roll_back_and_cancel(&host, &plan, t, Some("true")).await
        } else {
            roll_back(&host, &plan, t).await
        };
        assert_eq!(r.status, RollbackStatus::Failed, "{who}: {r:?}");
        assert_eq!(r.attempts, 3, "{who}: {r:?}");
        assert!(
            r.lease_cancel.is_none(),
            "no cancel after a failed rollback"
        );
        let pid = std::fs::read_to_string(&pids).unwrap();
        let pid = pid.trim();
        let gone = || {
            std::fs::read_to_string(format!("/proc/{pid}/stat")).map_or(true, |s| {
                s.rsplit(')')
                    .next()
                    .is_some_and(|r| r.trim_start().starts_with('Z'))
            })
        };
        let start = std::time::Instant::now();
        while !gone() && start.elapsed() < Duration::from_secs(5) {
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        assert!(
            gone(),
            "{who}: the hung undo ({pid}) still runs on the host"
        );
        r.undo.ms = 0;
        reports.push(format!("{r:?}").replace(&format!("-{who}"), "-WHO"));
    }
    assert_eq!(reports[0], reports[1]);
}

#[tokio::test]
async fn in_process_a_hung_exchange_step_is_ended_then_decided_step_by_step() {
    let place = in_process().await;
    let dir = tempfile::tempdir().unwrap();
    a_hung_exchange_step_is_ended_then_decided_step_by_step(&place, dir.path()).await;
}

#[tokio::test]
async fn sshd_a_hung_exchange_step_is_ended_then_decided_step_by_step() {
    let Some(place) = real_sshd() else { return };
    let dir = tempfile::tempdir().unwrap();
    a_hung_exchange_step_is_ended_then_decided_step_by_step(&place, dir.path()).await;
}

/// With `sudo: true` the whole exchange runs under one `sudo -n --` (the marker still comes on its
/// stdin): the same decisions as the step-by-step path, where every command has its own sudo.
#[tokio::test]
async fn in_process_rollback_exchange_under_sudo_equals_step_by_step() {
    if !std::path::Path::new("/usr/bin/sudo").exists() {
        panic!("sudo is not installed: run .ci/run (it installs sudo) or apt-get install sudo");
    }
    let mut place = in_process().await;
    place.target.sudo = true;
    let dir = tempfile::tempdir().unwrap();
    rollback_exchange_equals_step_by_step(&place, dir.path()).await;
    let written = place._server.as_ref().unwrap().written();
    assert!(
        written
            .iter()
            .filter(|w| w.contains("gd_step()"))
            .all(|w| w.contains("sudo -n -- timeout")),
        "{written:?}"
    );
}
