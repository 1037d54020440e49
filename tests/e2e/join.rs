//! `gameday join`: a second seat through the run's real seat socket, as separate processes (the
//! run headless, each seat a `gameday join … --note/--halt` process, a stranger under another uid).

use std::io::{BufRead, BufReader, Write};
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

fn gameday() -> Command {
    Command::new(env!("CARGO_BIN_EXE_gameday"))
}

fn text(o: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    )
}

/// A local scenario whose fault creates `marker` for `step`; Ana is an observer.
fn scenario(dir: &Path, marker: &Path, step: &str) -> PathBuf {
    let m = marker.display();
    let yaml = format!(
        r#"title: Seat game day
hypothesis: The marker comes and goes.
roles: {{ incident_commander: Dana, scribe: Lee, observers: [Ana] }}
max_duration: 5m
targets:
  here: {{ local: true }}
metrics:
  one: {{ command: "echo 1", target: here, every: 200ms, timeout: 2s }}
steady_state:
  - {{ metric: one, below: 5 }}
steps:
  - {{ name: Baseline, duration: 200ms }}
  - name: Marker
    duration: {step}
    faults:
      - kind: command
        id: marker
        target: here
        inject: "touch {m}"
        rollback: "rm -f {m}"
        verify: "test ! -e {m}"
"#
    );
    let path = dir.join("s.yaml");
    std::fs::write(&path, yaml).unwrap();
    path
}

fn spawn_run(dir: &Path, scenario: &Path, extra: &[&str]) -> Child {
    gameday()
        .current_dir(dir)
        .args(["run", scenario.to_str().unwrap(), "--headless", "--journal"])
        .arg(dir.join("journal.jsonl"))
        .args(extra)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap()
}

fn journal(dir: &Path) -> String {
    std::fs::read_to_string(dir.join("journal.jsonl")).unwrap_or_default()
}

/// Waits (bounded) until the journal shows `needle`.
fn wait_for(dir: &Path, needle: &str) {
    let deadline = Instant::now() + Duration::from_secs(30);
    while Instant::now() < deadline {
        if journal(dir).contains(needle) {
            return;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    panic!("journal never showed {needle}:\n{}", journal(dir));
}

/// The run's exit code, waited for (bounded).
fn wait_exit(child: &mut Child) -> i32 {
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        if let Some(status) = child.try_wait().unwrap() {
            return status.code().unwrap_or(-1);
        }
        assert!(Instant::now() < deadline, "the run did not end");
        std::thread::sleep(Duration::from_millis(20));
    }
}

fn join(dir: &Path, args: &[&str]) -> Output {
    gameday()
        .current_dir(dir)
        .arg("join")
        .arg(dir)
        .args(args)
        .output()
        .unwrap()
}

#[test]
fn a_scribe_seat_writes_and_observers_and_ungranted_halts_are_refused() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let marker = d.join("marker");
    let s = scenario(d, &marker, "8s");
    let mut run = spawn_run(d, &s, &[]);
    wait_for(d, "\"fault_injected\"");
    let socket = d.join("seat.sock");
    let mode = std::fs::symlink_metadata(&socket)
        .unwrap()
        .permissions()
        .mode();
    assert_eq!(mode & 0o777, 0o600, "owner only");

    let out = join(
        d,
        &[
            "--role",
            "scribe",
            "--name",
            "Lee",
            "--note",
            "failover took 40s",
        ],
    );
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    assert!(
        text(&out).contains("joined as scribe Lee (seat 1)"),
        "{}",
        text(&out)
    );
    let out = join(
        d,
        &[
            "--role",
            "scribe",
            "--kind",
            "action-item",
            "--owner",
            "bo",
            "--due",
            "2026-12-31",
            "--note",
            "alert on lag",
        ],
    );
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));

    let out = join(d, &["--role", "comms", "--milestone", "detected"]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));

    // Observers are read-only: by role, or a person the scenario lists under observers.
    let out = join(d, &["--role", "observer", "--can-halt", "--halt", "stop"]);
    assert_eq!(out.status.code(), Some(2), "{}", text(&out));
    assert!(text(&out).contains("read-only"), "{}", text(&out));
    let out = join(d, &["--role", "guest", "--name", "Ana", "--note", "hi"]);
    assert_eq!(out.status.code(), Some(2), "{}", text(&out));
    assert!(text(&out).contains("read-only"), "{}", text(&out));
    // A halt needs the seat's --can-halt and the run's --allow-remote-halt.
    let out = join(d, &["--role", "scribe", "--halt", "stop"]);
    assert_eq!(out.status.code(), Some(2), "{}", text(&out));
    assert!(text(&out).contains("--can-halt"), "{}", text(&out));
    let out = join(d, &["--role", "scribe", "--can-halt", "--halt", "stop"]);
    assert_eq!(out.status.code(), Some(2), "{}", text(&out));
    assert!(text(&out).contains("--allow-remote-halt"), "{}", text(&out));

    // A seat that dies mid-line (its socket closed under it, as a kill -9 does).
    {
        let mut raw = std::os::unix::net::UnixStream::connect(&socket).unwrap();
        raw.write_all(b"{\"hello\":{\"role\":\"scribe\"}}\n")
            .unwrap();
        let mut welcome = String::new();
        BufReader::new(raw.try_clone().unwrap())
            .read_line(&mut welcome)
            .unwrap();
        assert!(welcome.contains("\"welcome\""), "{welcome}");
        raw.write_all(b"{\"note\":{\"text\":\"half").unwrap();
    }
    // A line over the bound is refused and the seat dropped.
    {
        let mut raw = std::os::unix::net::UnixStream::connect(&socket).unwrap();
        let long = format!("{{\"hello\":{{\"role\":\"{}\"}}}}\n", "x".repeat(20_000));
        let _ = raw.write_all(long.as_bytes());
        let mut answer = String::new();
        let _ = BufReader::new(raw).read_line(&mut answer);
        assert!(answer.contains("longer than"), "{answer}");
    }
    wait_for(d, "in the middle of a line");

    assert_eq!(
        wait_exit(&mut run),
        0,
        "the run still ends HELD:\n{}",
        journal(d)
    );
    assert!(!marker.exists());
    let j = journal(d);
    assert!(
        j.contains("\"role\":\"scribe Lee (seat 1)\",\"text\":\"failover took 40s\""),
        "{j}"
    );
    assert!(j.contains("\"seat_joined\""), "{j}");
    assert!(
        j.lines().any(|l| l.contains("\"milestone\"")
            && l.contains("\"detected\"")
            && l.contains("\"role\":\"comms (seat 3)\"")),
        "{j}"
    );
    assert!(
        j.contains("\"kind\":\"action_item\",\"owner\":\"bo\",\"due\":\"2026-12-31\""),
        "{j}"
    );
    assert!(!j.contains("\"halt_requested\""), "no seat halted: {j}");
    assert!(!socket.exists(), "the socket goes with the run");
}

#[test]
fn a_granted_seat_halts_the_run_tagged_with_the_seat() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let marker = d.join("marker");
    let s = scenario(d, &marker, "2m");
    let mut run = spawn_run(d, &s, &["--allow-remote-halt"]);
    wait_for(d, "\"fault_injected\"");
    // The grant is the run's and the seat's: without --can-halt, still refused.
    let out = join(d, &["--role", "scribe", "--halt", "stop"]);
    assert_eq!(out.status.code(), Some(2), "{}", text(&out));
    let out = join(
        d,
        &[
            "--role",
            "comms",
            "--name",
            "Sam",
            "--can-halt",
            "--halt",
            "db is down for real",
        ],
    );
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    assert_eq!(wait_exit(&mut run), 1, "halted: aborted");
    assert!(!marker.exists(), "rolled back");
    let j = journal(d);
    assert!(
        j.contains("\"by\":\"comms Sam (seat 2)\",\"reason\":\"db is down for real\""),
        "{j}"
    );
}

/// Another user's connection is refused twice over: by the socket's mode, and — were the mode
/// loosened — by the peer's uid (SO_PEERCRED), journaled as `seat_refused`; the stranger's own
/// client also declines a run of another user.
#[test]
fn a_stranger_uid_is_refused_at_the_seat_socket() {
    let Ok(setpriv) = which("setpriv") else {
        println!("skipped: setpriv is not installed (util-linux), cannot run a client as nobody");
        return;
    };
    if !is_root() {
        println!("skipped: only root can run the client as another user here");
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let marker = d.join("marker");
    let s = scenario(d, &marker, "8s");
    let mut run = spawn_run(d, &s, &[]);
    wait_for(d, "\"fault_injected\"");
    // Let nobody reach the directory (a tempdir is 0700), not the socket.
    std::fs::set_permissions(d, std::fs::Permissions::from_mode(0o711)).unwrap();
    let stranger = || {
        Command::new(&setpriv)
            .args(["--reuid=65534", "--regid=65534", "--clear-groups"])
            .arg(env!("CARGO_BIN_EXE_gameday"))
            .args(["join"])
            .arg(d.join("journal.jsonl"))
            .args(["--role", "scribe", "--note", "let me in"])
            .current_dir("/")
            .output()
            .unwrap()
    };
    let out = stranger();
    assert_eq!(out.status.code(), Some(2), "{}", text(&out));
    assert!(text(&out).contains("Permission denied"), "{}", text(&out));
    std::fs::set_permissions(d.join("seat.sock"), std::fs::Permissions::from_mode(0o666)).unwrap();
    // Both ends check: the stranger's client will not talk to another user's run, and the run
    // refuses the stranger on its own (journaled, before reading a byte from it).
    let out = stranger();
    assert_eq!(out.status.code(), Some(2), "{}", text(&out));
    assert!(
        text(&out).contains("served by uid 0, not by you (uid 65534)"),
        "{}",
        text(&out)
    );
    wait_for(d, "\"seat_refused\"");
    assert_eq!(wait_exit(&mut run), 0, "{}", journal(d));
    let j = journal(d);
    assert!(j.contains("\"uid\":65534"), "{j}");
    assert!(j.contains("a seat must run as the same user"), "{j}");
    assert!(!j.contains("let me in"), "{j}");
}

fn which(tool: &str) -> Result<PathBuf, ()> {
    std::env::var_os("PATH")
        .iter()
        .flat_map(std::env::split_paths)
        .map(|p| p.join(tool))
        .find(|p| p.is_file())
        .ok_or(())
}

fn is_root() -> bool {
    std::fs::metadata("/proc/self")
        .map(|m| std::os::unix::fs::MetadataExt::uid(&m) == 0)
        .unwrap_or(false)
}

/// The joined console in a real terminal (tmux): the header says which seat it is, X without the
/// grant is refused in the status line, a note typed there reaches the run's journal with the seat,
/// `q` leaves at once; a second joined console killed with SIGKILL is only a `seat_left`; the run
/// goes on to end HELD.
#[test]
fn the_joined_console_in_a_terminal_writes_a_note_and_leaves_without_a_halt() {
    if Command::new("tmux").arg("-V").output().is_err() {
        println!("skipped: tmux is not installed, no terminal to join from");
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let marker = d.join("marker");
    let s = scenario(d, &marker, "15s");
    let mut run = spawn_run(d, &s, &[]);
    wait_for(d, "\"fault_injected\"");
    let name = format!("gameday-join-{}", std::process::id());
    let cmd = format!(
        "{} join {} --role scribe --name Lee; echo GAMEDAY_EXIT=$?; exec sh",
        env!("CARGO_BIN_EXE_gameday"),
        d.display()
    );
    let tmux = |args: &[&str]| {
        let out = Command::new("tmux").args(args).output().unwrap();
        String::from_utf8_lossy(&out.stdout).into_owned()
    };
    let d_s = d.display().to_string();
    tmux(&[
        "new-session",
        "-d",
        "-s",
        &name,
        "-x",
        "160",
        "-y",
        "40",
        "-c",
        &d_s,
        &cmd,
    ]);
    struct Session(String);
    impl Drop for Session {
        fn drop(&mut self) {
            let _ = Command::new("tmux")
                .args(["kill-session", "-t", &self.0])
                .output();
        }
    }
    let _session = Session(name.clone());
    let screen = || tmux(&["capture-pane", "-p", "-t", &name]);
    let until = |what: &str, ok: &dyn Fn() -> bool| {
        let deadline = Instant::now() + Duration::from_secs(30);
        while !ok() {
            assert!(
                Instant::now() < deadline,
                "no {what}; screen:\n{}",
                screen()
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    };
    until("seat header", &|| {
        screen().contains("JOINED as scribe Lee (seat 1)")
    });
    tmux(&["send-keys", "-t", &name, "X"]);
    until("refusal", &|| screen().contains("join with --can-halt"));
    tmux(&["send-keys", "-t", &name, "n"]);
    tmux(&["send-keys", "-t", &name, "-l", "seen from seat two"]);
    tmux(&["send-keys", "-t", &name, "Enter"]);
    wait_for(
        d,
        "\"role\":\"scribe Lee (seat 1)\",\"text\":\"seen from seat two\"",
    );
    until("the note in the seat's own timeline", &|| {
        screen().contains("seen from seat two")
    });
    tmux(&["send-keys", "-t", &name, "q"]);
    until("exit", &|| screen().contains("GAMEDAY_EXIT="));
    assert!(screen().contains("GAMEDAY_EXIT=0"), "{}", screen());
    wait_for(d, "\"seat_left\"");
    assert!(marker.exists(), "the seat leaving changed nothing");

    // A second seat killed outright (SIGKILL, no goodbye): only its `seat_left`.
    let name2 = format!("{name}-2");
    tmux(&[
        "new-session",
        "-d",
        "-s",
        &name2,
        "-x",
        "160",
        "-y",
        "40",
        "-c",
        &d_s,
        &cmd,
    ]);
    let _session2 = Session(name2.clone());
    wait_for(d, "\"tag\":\"scribe Lee (seat 2)\"");
    let records = || -> Vec<serde_json::Value> {
        journal(d)
            .lines()
            .filter_map(|l| serde_json::from_str(l).ok())
            .collect()
    };
    let pid = records()
        .iter()
        .find(|r| r["type"] == "seat_joined" && r["seat"] == 2)
        .and_then(|r| r["pid"].as_i64())
        .expect("the seat's pid is journaled");
    assert_eq!(unsafe { libc::kill(pid as i32, libc::SIGKILL) }, 0);
    let deadline = Instant::now() + Duration::from_secs(30);
    while !records()
        .iter()
        .any(|r| r["type"] == "seat_left" && r["seat"] == 2)
    {
        assert!(
            Instant::now() < deadline,
            "no seat_left for the killed seat"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    assert!(marker.exists(), "the killed seat changed nothing");
    assert_eq!(wait_exit(&mut run), 0, "{}", journal(d));
    assert!(!journal(d).contains("\"halt_requested\""));
}
