//! The control shell (one `sh` per host, commands framed over its stdin/stdout) against the
//! in-process russh server and a real OpenSSH sshd: the same `CommandOutcome` as an exec channel
//! per command, hostile output that cannot end a frame, and a shell killed mid-run.

use std::path::PathBuf;
use std::time::Duration;

use gameday::scenario::HostAddr;
use gameday::target::ssh::{MAX_SHELL_DEATHS, SshHost, SshOptions, SshTarget};
use gameday::target::test_server::{TestServer, key_from_seed};
use gameday::target::{CommandOutcome, Host, OUTPUT_CAP, known_hosts};
use russh::keys::ssh_key::LineEnding;

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
    let client = key_from_seed([9; 32]);
    let identity = dir.path().join("id_ed25519");
    std::fs::write(
        &identity,
        client.to_openssh(LineEnding::LF).unwrap().as_bytes(),
    )
    .unwrap();
    let server = TestServer::start(key_from_seed([2; 32]), vec![client.public_key().clone()])
        .await
        .unwrap();
    let known = dir.path().join("known_hosts");
    known_hosts::append(&known, "127.0.0.1", server.port, &server.host_key).unwrap();
    Place {
        target: SshTarget {
            addr: HostAddr::new("127.0.0.1", server.port),
            user: "tester".into(),
            sudo: false,
            identity: Some(identity),
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
