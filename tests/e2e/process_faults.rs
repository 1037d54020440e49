//! Process-level faults, at process level: the real `gameday` binary with its stderr on a full
//! device, signals, a full filesystem (a small tmpfs), a memory cap, an engine that dies. Each test
//! checks the one promise that matters: every fault is rolled back (or said not to be) and the
//! process exits with the right code instead of hanging.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::time::{Duration, Instant};

fn gameday() -> Command {
    Command::new(env!("CARGO_BIN_EXE_gameday"))
}

fn dev_full() -> Stdio {
    Stdio::from(
        std::fs::OpenOptions::new()
            .write(true)
            .open("/dev/full")
            .expect("/dev/full"),
    )
}

/// Waits for the process, bounded: a hang is the failure these tests look for.
fn wait_bounded(child: &mut Child, limit: Duration) -> ExitStatus {
    let deadline = Instant::now() + limit;
    loop {
        if let Some(status) = child.try_wait().expect("try_wait") {
            return status;
        }
        if Instant::now() >= deadline {
            let _ = child.kill();
            let _ = child.wait();
            panic!("gameday did not exit within {limit:?}: it hangs");
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

fn wait_for(path: &Path, needle: &str) {
    let deadline = Instant::now() + Duration::from_secs(30);
    while Instant::now() < deadline {
        if std::fs::read_to_string(path).is_ok_and(|t| t.contains(needle)) {
            return;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    panic!("{} never showed {needle}", path.display());
}

fn signal(child: &Child, sig: &str) {
    let ok = Command::new("kill")
        .args([&format!("-{sig}"), &child.id().to_string()])
        .status()
        .expect("kill")
        .success();
    assert!(ok, "kill -{sig} failed");
}

/// A local game day: `faults` are YAML fault entries of the one fault step.
fn scenario(dir: &Path, step: &str, faults: &str) -> PathBuf {
    let yaml = format!(
        r#"title: Process faults
hypothesis: Faults come and go.
max_duration: 10m
targets:
  here: {{ local: true }}
metrics:
  one: {{ command: "echo 1", target: here, every: 200ms, timeout: 2s }}
steady_state:
  - {{ metric: one, below: 5 }}
steps:
  - name: Faults
    duration: {step}
    faults:
{faults}"#
    );
    let path = dir.join("s.yaml");
    std::fs::write(&path, yaml).expect("write scenario");
    path
}

/// One command fault that creates `marker` and whose rollback removes it.
fn marker_fault(id: &str, marker: &Path, extra_inject: &str) -> String {
    let m = marker.display();
    format!(
        "      - {{ kind: command, id: {id}, target: here, inject: \"touch {m}{extra_inject}\", rollback: \"rm -f {m}\", verify: \"test ! -e {m}\", timeout: 20s }}\n"
    )
}

/// [`headless`], started, its output discarded.
fn quiet(dir: &Path, scenario: &Path, journal: &Path) -> std::process::Child {
    headless(dir, scenario, journal)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap()
}

fn headless(dir: &Path, scenario: &Path, journal: &Path) -> Command {
    let mut c = gameday();
    c.current_dir(dir).args([
        "run",
        scenario.to_str().expect("utf-8 path"),
        "--headless",
        "--journal",
        journal.to_str().expect("utf-8 path"),
    ]);
    c
}

#[test]
fn sighup_with_stderr_on_a_full_device_still_halts_and_rolls_back() {
    let dir = tempfile::tempdir().unwrap();
    let marker = dir.path().join("marker");
    let s = scenario(dir.path(), "2m", &marker_fault("m", &marker, ""));
    let j = dir.path().join("journal.jsonl");
    let mut child = headless(dir.path(), &s, &j)
        .stdout(dev_full())
        .stderr(dev_full())
        .spawn()
        .unwrap();
    wait_for(&j, "\"fault_injected\"");
    assert!(marker.exists());
    signal(&child, "HUP");
    let status = wait_bounded(&mut child, Duration::from_secs(30));
    assert_eq!(status.code(), Some(1), "aborted, all rolled back: {status}");
    assert!(!marker.exists(), "SIGHUP rolled the fault back");
    let journal = std::fs::read_to_string(&j).unwrap();
    assert!(journal.contains("SIGHUP received"), "{journal}");
}

#[test]
fn a_clean_run_with_stdout_and_stderr_on_a_full_device_exits_0() {
    let dir = tempfile::tempdir().unwrap();
    let marker = dir.path().join("marker");
    let s = scenario(dir.path(), "300ms", &marker_fault("m", &marker, ""));
    let j = dir.path().join("journal.jsonl");
    let mut child = headless(dir.path(), &s, &j)
        .stdout(dev_full())
        .stderr(dev_full())
        .spawn()
        .unwrap();
    let status = wait_bounded(&mut child, Duration::from_secs(60));
    assert_eq!(status.code(), Some(0), "{status}");
    assert!(!marker.exists());
}

#[test]
fn signals_keep_working_after_the_first_one() {
    // SIGINT first, then SIGTERM while the slow undo runs: neither kills the rollback, and the
    // process still exits by itself once every fault is back.
    let dir = tempfile::tempdir().unwrap();
    let marker = dir.path().join("marker");
    let m = marker.display();
    let fault = format!(
        "      - {{ kind: command, id: m, target: here, inject: \"touch {m}\", rollback: \"sleep 1; rm -f {m}\", verify: \"test ! -e {m}\", timeout: 20s }}\n"
    );
    let s = scenario(dir.path(), "2m", &fault);
    let j = dir.path().join("journal.jsonl");
    let mut child = quiet(dir.path(), &s, &j);
    wait_for(&j, "\"fault_injected\"");
    signal(&child, "INT");
    wait_for(&j, "\"rollback_started\"");
    signal(&child, "TERM");
    signal(&child, "HUP");
    let status = wait_bounded(&mut child, Duration::from_secs(30));
    assert_eq!(status.code(), Some(1), "{status}");
    assert!(!marker.exists(), "the rollback ran to its end");
}

#[test]
fn a_halt_stops_queued_injects() {
    // Five 2-second injects, one at a time; SIGTERM comes during the first.
    let dir = tempfile::tempdir().unwrap();
    let mut faults = String::new();
    for i in 0..5 {
        let started = dir.path().join(format!("started-{i}"));
        faults.push_str(&marker_fault(
            &format!("f{i}"),
            &dir.path().join(format!("m{i}")),
            &format!("; touch {}; sleep 2", started.display()),
        ));
    }
    let s = scenario(dir.path(), "2m", &faults);
    let j = dir.path().join("journal.jsonl");
    let mut child = headless(dir.path(), &s, &j)
        .args(["--fanout", "1"])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    wait_for(&j, "\"fault_intent\"");
    // Wait until the first inject is running, then halt.
    let first = (0..5)
        .map(|i| dir.path().join(format!("started-{i}")))
        .collect::<Vec<_>>();
    let deadline = Instant::now() + Duration::from_secs(30);
    while !first.iter().any(|p| p.exists()) {
        assert!(Instant::now() < deadline, "no inject started");
        std::thread::sleep(Duration::from_millis(10));
    }
    signal(&child, "TERM");
    let status = wait_bounded(&mut child, Duration::from_secs(30));
    assert_eq!(status.code(), Some(1), "{status}");
    let started = first.iter().filter(|p| p.exists()).count();
    assert_eq!(started, 1, "injects started after the halt");
    for i in 0..5 {
        assert!(
            !dir.path().join(format!("m{i}")).exists(),
            "m{i} left behind"
        );
    }
    let journal = std::fs::read_to_string(&j).unwrap();
    assert_eq!(journal.matches("\"fault_not_injected\"").count(), 4);
}

#[test]
fn an_engine_that_dies_is_recovered_from_the_journal_with_exit_3() {
    let dir = tempfile::tempdir().unwrap();
    let marker = dir.path().join("marker");
    let s = scenario(dir.path(), "2m", &marker_fault("m", &marker, ""));
    let j = dir.path().join("journal.jsonl");
    let mut child = headless(dir.path(), &s, &j)
        .env("GAMEDAY_TEST_ENGINE_PANIC", "1")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let status = wait_bounded(&mut child, Duration::from_secs(60));
    assert_eq!(
        status.code(),
        Some(3),
        "no verdict: a person must look ({status})"
    );
    assert!(
        !marker.exists(),
        "the fault was rolled back from the journal"
    );
    let journal = std::fs::read_to_string(&j).unwrap();
    assert!(journal.contains("\"by\":\"recover\""), "{journal}");
}

/// A small tmpfs, unmounted when dropped. None (test skipped) where mounting is not allowed.
struct Tmpfs(PathBuf);

impl Tmpfs {
    fn mount(at: &Path, size: &str) -> Option<Tmpfs> {
        std::fs::create_dir_all(at).ok()?;
        let ok = Command::new("mount")
            .args(["-t", "tmpfs", "-o", &format!("size={size}"), "tmpfs"])
            .arg(at)
            .stderr(Stdio::null())
            .status()
            .is_ok_and(|s| s.success());
        if !ok {
            eprintln!("skipping: cannot mount a tmpfs here (needs root)");
            return None;
        }
        Some(Tmpfs(at.to_path_buf()))
    }
}

impl Drop for Tmpfs {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg(&self.0).status();
    }
}

#[test]
fn a_full_disk_mid_run_halts_rolls_back_and_exits_3() {
    let dir = tempfile::tempdir().unwrap();
    let Some(fs) = Tmpfs::mount(&dir.path().join("small"), "256k") else {
        return;
    };
    let marker = dir.path().join("marker");
    let filler = fs.0.join("filler");
    // The fault itself fills the journal's filesystem, as a disk_fill on the wrong disk would.
    let fill = format!(
        "; head -c 10000000 /dev/zero > {} 2>/dev/null; true",
        filler.display()
    );
    // The undo prints 6 KB (journaled with the result): more than the slack a full tmpfs leaves in
    // the journal's last page, so the result cannot fit whatever the journal's length.
    let m = marker.display();
    let fault = format!(
        "      - {{ kind: command, id: m, target: here, inject: \"touch {m}{fill}\", rollback: \"rm -f {m}; head -c 6000 /dev/zero | tr '\\\\0' x\", verify: \"test ! -e {m}\", timeout: 20s }}\n"
    );
    let s = scenario(dir.path(), "2m", &fault);
    let j = fs.0.join("journal.jsonl");
    let out = headless(dir.path(), &s, &j)
        .env("TMPDIR", dir.path())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut child = out;
    let status = wait_bounded(&mut child, Duration::from_secs(60));
    let mut stderr = String::new();
    use std::io::Read;
    let _ = child
        .stderr
        .take()
        .map(|mut e| e.read_to_string(&mut stderr));
    assert_eq!(status.code(), Some(3), "{status}: {stderr}");
    assert!(
        !marker.exists(),
        "the fault was rolled back although the disk is full"
    );
    assert!(
        stderr.contains("rollback_result"),
        "what the journal could not take is on stderr: {stderr}"
    );
    // Whatever made it to disk still reads: no torn line in the middle.
    let _ = std::fs::remove_file(&filler);
    let report = gameday()
        .args(["report", j.to_str().unwrap(), "-o"])
        .arg(dir.path().join("r.md"))
        .output()
        .unwrap();
    assert_eq!(
        report.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&report.stderr)
    );
}

#[test]
fn a_full_disk_at_the_first_record_touches_nothing_and_exits() {
    let dir = tempfile::tempdir().unwrap();
    let Some(fs) = Tmpfs::mount(&dir.path().join("small"), "64k") else {
        return;
    };
    let _ = Command::new("sh")
        .arg("-c")
        .arg(format!(
            "head -c 1000000 /dev/zero > {} 2>/dev/null",
            fs.0.join("filler").display()
        ))
        .status();
    let marker = dir.path().join("marker");
    let s = scenario(dir.path(), "2m", &marker_fault("m", &marker, ""));
    let j = fs.0.join("journal.jsonl");
    let mut child = headless(dir.path(), &s, &j)
        .env("TMPDIR", dir.path())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let status = wait_bounded(&mut child, Duration::from_secs(60));
    assert_eq!(status.code(), Some(2), "nothing was touched: {status}");
    assert!(!marker.exists(), "no fault may go in without its journal");
}

#[test]
fn endless_output_under_a_memory_cap_is_cut_not_fatal() {
    let dir = tempfile::tempdir().unwrap();
    let marker = dir.path().join("marker");
    let m = marker.display();
    // The inject prints without end until its 3 s timeout: a failed inject, rolled back.
    let fault = format!(
        "      - {{ kind: command, id: m, target: here, inject: \"touch {m}; yes\", rollback: \"rm -f {m}\", verify: \"test ! -e {m}\", timeout: 3s }}\n"
    );
    let s = scenario(dir.path(), "2m", &fault);
    let j = dir.path().join("journal.jsonl");
    let bin = env!("CARGO_BIN_EXE_gameday");
    // 1 GiB of address space; glibc keeps few arenas so the cap measures gameday's own buffers.
    let mut child = Command::new("sh")
        .current_dir(dir.path())
        .env("MALLOC_ARENA_MAX", "2")
        .arg("-c")
        .arg(format!(
            "ulimit -v 1048576 && exec {bin} run {} --headless --journal {}",
            s.display(),
            j.display()
        ))
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let status = wait_bounded(&mut child, Duration::from_secs(60));
    assert_eq!(
        status.code(),
        Some(1),
        "aborted and rolled back, not killed: {status}"
    );
    assert!(!marker.exists());
}

#[test]
fn recover_on_a_live_runs_journal_is_refused_and_touches_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let marker = dir.path().join("marker");
    let s = scenario(dir.path(), "2m", &marker_fault("m", &marker, ""));
    let j = dir.path().join("journal.jsonl");
    let mut run = quiet(dir.path(), &s, &j);
    wait_for(&j, "\"fault_injected\"");
    let before = std::fs::read(&j).unwrap();
    let out = gameday()
        .args(["recover", j.to_str().unwrap()])
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert!(
        err.contains(&format!("pid {}", run.id())),
        "the refusal names the run holding the journal: {err}"
    );
    assert!(marker.exists(), "recover undid nothing of the live run");
    let after = std::fs::read(&j).unwrap();
    assert!(
        after.starts_with(&before)
            && !String::from_utf8_lossy(&after[before.len()..]).contains("\"by\":\"recover\""),
        "recover wrote nothing"
    );
    signal(&run, "TERM");
    let status = wait_bounded(&mut run, Duration::from_secs(30));
    assert_eq!(status.code(), Some(1));
    assert!(!marker.exists());
}

#[test]
fn a_credential_echoed_back_reaches_no_journal_stdout_or_debrief() {
    use std::io::{BufRead, BufReader, Write};
    // A "Prometheus" that answers every query with a 400 echoing the request's headers.
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    std::thread::spawn(move || {
        for stream in listener.incoming().take(200) {
            let Ok(mut s) = stream else { continue };
            let mut headers = String::new();
            let mut reader = BufReader::new(s.try_clone().unwrap());
            let mut line = String::new();
            while reader.read_line(&mut line).is_ok_and(|n| n > 2) {
                headers.push_str(line.trim_end());
                headers.push(' ');
                line.clear();
            }
            let body = serde_json::json!({"status": "error", "error": headers}).to_string();
            let _ = write!(
                s,
                "HTTP/1.1 400 Bad Request\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
                body.len()
            );
        }
    });
    let dir = tempfile::tempdir().unwrap();
    let token = "tok-9f8e7d6c5b4a";
    let yaml = format!(
        r#"title: Secrets
hypothesis: h
max_duration: 1m
prometheus: {{ url: "http://127.0.0.1:{port}", bearer_token_env: GD_TEST_TOKEN }}
targets:
  here: {{ local: true }}
metrics:
  prom: {{ prometheus: up, every: 200ms, timeout: 2s }}
  leaky: {{ command: "echo \"$GD_TEST_TOKEN\" >&2; exit 1", target: here, every: 200ms, timeout: 2s }}
steady_state:
  - {{ metric: prom, below: 5 }}
  - {{ metric: leaky, below: 5 }}
steps:
  - {{ name: Nothing, duration: 1s }}
"#
    );
    let s = dir.path().join("s.yaml");
    std::fs::write(&s, yaml).unwrap();
    let j = dir.path().join("journal.jsonl");
    let out = headless(dir.path(), &s, &j)
        .env("GD_TEST_TOKEN", token)
        .output()
        .unwrap();
    assert_eq!(
        out.status.code(),
        Some(1),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let journal = std::fs::read_to_string(&j).unwrap();
    assert!(
        journal.contains("[REDACTED]"),
        "the echo was seen: {journal}"
    );
    for (what, text) in [
        ("journal", journal),
        ("stdout", String::from_utf8_lossy(&out.stdout).into_owned()),
        ("stderr", String::from_utf8_lossy(&out.stderr).into_owned()),
        (
            "debrief",
            std::fs::read_to_string(dir.path().join("debrief.md")).unwrap(),
        ),
        (
            "log",
            std::fs::read_to_string(dir.path().join("gameday.log")).unwrap_or_default(),
        ),
    ] {
        assert!(!text.contains(token), "the token is in the {what}: {text}");
    }
}

#[test]
fn a_local_fault_left_by_a_killed_run_is_reverted_by_its_lease() {
    let dir = tempfile::tempdir().unwrap();
    let marker = dir.path().join("marker");
    let m = marker.display();
    let fault = format!(
        "      - {{ kind: command, id: m, target: here, inject: \"touch {m}\", rollback: \"rm -f {m}\", verify: \"test ! -e {m}\", timeout: 5s, lease: 5s }}\n"
    );
    let s = scenario(dir.path(), "2m", &fault);
    let j = dir.path().join("journal.jsonl");
    let mut child = quiet(dir.path(), &s, &j);
    wait_for(&j, "\"fault_injected\"");
    assert!(j.exists() && marker.exists());
    let journal = std::fs::read_to_string(&j).unwrap();
    assert!(
        journal.contains("\"lease_armed\""),
        "a local fault has a lease"
    );
    child.kill().unwrap(); // SIGKILL: no rollback from gameday
    child.wait().unwrap();
    assert!(marker.exists(), "the fault outlived the console");
    // The host (this machine) reverts it by itself: 5 s lease, +1 s rounding, 1 s polls.
    let deadline = Instant::now() + Duration::from_secs(20);
    while marker.exists() {
        assert!(Instant::now() < deadline, "the local lease never fired");
        std::thread::sleep(Duration::from_millis(100));
    }
    // recover then verifies it and stands the lease down.
    let out = gameday()
        .args(["recover", j.to_str().unwrap()])
        .output()
        .unwrap();
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// A run killed -9 while an inject is still running: the inject lands after `recover`'s
/// rollback unless recover waits it out. The inject runs under the host's own bound (`timeout`,
/// here on this machine), so recover rolls back at once, keeps the lease armed, waits until the
/// inject cannot still be running, then rolls back again and only then stands the lease down.
#[test]
fn recover_waits_out_an_inject_still_running_when_the_run_died() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path().display();
    let state = dir.path().join("state");
    std::fs::write(&state, "off\n").unwrap();
    // The inject records its shell's pid, then lands 1.5 s later: after recover's first rollback.
    let fault = format!(
        "      - {{ kind: command, id: late, target: here, inject: \"echo $$ > {d}/inject.pid; sleep 1.5; echo on > {d}/state\", rollback: \"echo off > {d}/state\", verify: \"read v < {d}/state && [ $v = off ]\", timeout: 3s }}\n"
    );
    let s = scenario(dir.path(), "2m", &fault);
    let j = dir.path().join("journal.jsonl");
    let mut child = quiet(dir.path(), &s, &j);
    let pidfile = dir.path().join("inject.pid");
    let deadline = Instant::now() + Duration::from_secs(20);
    while !std::fs::read_to_string(&pidfile).is_ok_and(|t| t.ends_with('\n')) {
        assert!(Instant::now() < deadline, "the inject never started");
        std::thread::yield_now();
    }
    child.kill().unwrap(); // SIGKILL mid-inject: no rollback from gameday
    child.wait().unwrap();
    let inject: i32 = std::fs::read_to_string(&pidfile)
        .unwrap()
        .trim()
        .parse()
        .unwrap();
    let out = gameday()
        .args(["recover", j.to_str().unwrap()])
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    // Whatever recover did, the inject is over within its host-side bound (3 s + 1 + 5).
    let deadline = Instant::now() + Duration::from_secs(15);
    while std::fs::read_to_string(format!("/proc/{inject}/stat")).is_ok_and(|s| {
        s.rsplit_once(") ")
            .is_some_and(|(_, rest)| !rest.starts_with('Z'))
    }) {
        assert!(Instant::now() < deadline, "the inject outlived its bound");
        std::thread::yield_now();
    }
    assert_eq!(
        std::fs::read_to_string(&state).unwrap(),
        "off\n",
        "the inject landed after recover's rollback: {stdout}"
    );
    assert_eq!(out.status.code(), Some(0), "{stdout}");
    assert!(
        stdout.contains("still running when the run died"),
        "{stdout}"
    );
    let journal = std::fs::read_to_string(&j).unwrap();
    assert_eq!(
        journal.matches("\"type\":\"rollback_result\"").count(),
        2,
        "rolled back at once, then again once the inject was over"
    );
}

#[test]
fn recover_rolls_back_even_when_the_journal_cannot_take_the_results() {
    let dir = tempfile::tempdir().unwrap();
    let Some(fs) = Tmpfs::mount(&dir.path().join("small"), "256k") else {
        return;
    };
    let marker = dir.path().join("marker");
    // The undo prints 6 KB (journaled with the result): more than the slack a full tmpfs leaves in
    // the journal's last page, so the result cannot fit whatever the journal's length.
    let m = marker.display();
    let fault = format!(
        "      - {{ kind: command, id: m, target: here, inject: \"touch {m}\", rollback: \"rm -f {m}; head -c 6000 /dev/zero | tr '\\\\0' x\", verify: \"test ! -e {m}\", timeout: 20s }}\n"
    );
    let s = scenario(dir.path(), "2m", &fault);
    let j = fs.0.join("journal.jsonl");
    let mut child = quiet(dir.path(), &s, &j);
    wait_for(&j, "\"fault_injected\"");
    child.kill().unwrap(); // SIGKILL: the fault stays
    child.wait().unwrap();
    assert!(marker.exists());
    // Now the journal's disk is full.
    let _ = Command::new("sh")
        .arg("-c")
        .arg(format!(
            "head -c 10000000 /dev/zero > {} 2>/dev/null",
            fs.0.join("filler").display()
        ))
        .status();
    let out = gameday()
        .env("TMPDIR", dir.path())
        .args(["recover", j.to_str().unwrap()])
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(3), "the record is not whole: {err}");
    assert!(!marker.exists(), "recover rolled back all the same");
    assert!(
        err.contains("rollback_result"),
        "the result is on stderr: {err}"
    );
}

/// `gameday day PLAN --headless` sent `sig` while its first scenario has a fault live: that
/// scenario halts and rolls back, no later item starts, the day journal says why, the day debrief
/// is written, and the exit code is the halted scenario's (1: aborted, all rolled back).
fn a_signal_stops_the_day(sig: &str) {
    let dir = tempfile::tempdir().unwrap();
    let marker = dir.path().join("marker");
    let first = scenario(dir.path(), "2m", &marker_fault("m", &marker, ""));
    std::fs::rename(&first, dir.path().join("first.yaml")).unwrap();
    let later = dir.path().join("later-marker");
    let second = scenario(dir.path(), "300ms", &marker_fault("l", &later, ""));
    let text = std::fs::read_to_string(&second)
        .unwrap()
        .replace("title: Process faults", "title: Never started");
    std::fs::write(dir.path().join("second.yaml"), text).unwrap();
    let plan = dir.path().join("plan.yaml");
    std::fs::write(
        &plan,
        "title: Signal day\ndate: 2026-12-04\ncontinue_on_failure: true\nagenda:\n  - { scenario: first.yaml }\n  - { after: previous, break: 5m }\n  - { scenario: second.yaml }\n",
    )
    .unwrap();
    let day = dir.path().join("day");
    let mut child = gameday()
        .current_dir(dir.path())
        .args(["day", "plan.yaml", "--headless", "--dir", "day"])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let j = day.join("01-process-faults/journal.jsonl");
    wait_for(&j, "\"fault_injected\"");
    assert!(marker.exists());
    signal(&child, sig);
    let status = wait_bounded(&mut child, Duration::from_secs(30));
    assert_eq!(status.code(), Some(1), "halted, all rolled back: {status}");
    assert!(
        !marker.exists(),
        "SIG{sig} rolled the first scenario's fault back"
    );
    let journal = std::fs::read_to_string(&j).unwrap();
    assert!(journal.contains(&format!("SIG{sig} received")), "{journal}");
    assert!(!later.exists(), "the later scenario never injected");
    assert!(
        !day.join("03-never-started").exists(),
        "no later item started"
    );
    let records: Vec<serde_json::Value> = std::fs::read_to_string(day.join("day.jsonl"))
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    let types: Vec<&str> = records
        .iter()
        .map(|r| r["type"].as_str().unwrap())
        .collect();
    assert_eq!(
        types,
        [
            "day_started",
            "item_started",
            "item_ended",
            "item_skipped",
            "item_skipped",
            "day_ended"
        ],
        "{records:#?}"
    );
    let why = format!("SIG{sig} during agenda item 1");
    assert_eq!(records[3]["why"], why.as_str());
    assert_eq!(records[4]["why"], why.as_str());
    assert_eq!(records[5]["why"], why.as_str());
    assert_eq!(records[5]["exit_code"], 1);
    let debrief = std::fs::read_to_string(day.join("day-debrief.md")).unwrap();
    assert!(
        debrief.contains(&format!("The day ended: {why}")),
        "{debrief}"
    );
    assert!(
        debrief.contains("1 scenario run(s): 0 held, 1 did not"),
        "{debrief}"
    );
}

#[test]
fn sigint_during_the_first_scenario_stops_the_day() {
    a_signal_stops_the_day("INT");
}

#[test]
fn sigterm_during_the_first_scenario_stops_the_day() {
    a_signal_stops_the_day("TERM");
}
