//! End to end against a real OpenSSH sshd on loopback: inject, roll back, verify; host keys
//! refused with nothing run; kill -9 of the console reverted by the lease, then `recover`.

use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use crate::sshd_support::{Sshd, poll};

fn gameday() -> Command {
    Command::new(env!("CARGO_BIN_EXE_gameday"))
}

fn write_scenario(sshd: &Sshd, name: &str, step: &str, faults: &str) -> std::path::PathBuf {
    let path = sshd.path(name);
    std::fs::write(
        &path,
        format!(
            "title: ssh e2e\nhypothesis: faults come back out\nmax_duration: 5m\n\
             targets:\n  box: {}\nsteps:\n  - name: fault\n    duration: {step}\n    faults:\n{faults}",
            sshd.target_yaml()
        ),
    )
    .unwrap();
    path
}

/// `gameday run SCENARIO --journal JOURNAL` trusting `sshd`'s key, output discarded.
fn run_quiet(sshd: &Sshd, scenario: &Path, journal: &Path) -> std::process::Child {
    gameday()
        .arg("run")
        .arg(scenario)
        .arg("--journal")
        .arg(journal)
        .arg("--known-hosts")
        .arg(&sshd.known_hosts)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap()
}

/// `gameday recover JOURNAL` trusting `sshd`'s key.
fn recover(sshd: &Sshd, journal: &Path) -> std::process::Output {
    gameday()
        .arg("recover")
        .arg(journal)
        .arg("--known-hosts")
        .arg(&sshd.known_hosts)
        .output()
        .unwrap()
}

fn journal_text(p: &Path) -> String {
    std::fs::read_to_string(p).unwrap_or_default()
}

#[test]
fn command_and_disk_fill_are_injected_rolled_back_and_verified() {
    let Some(sshd) = Sshd::start() else { return };
    let marker = sshd.path("injected");
    let fill_dir = sshd.path("fill");
    std::fs::create_dir(&fill_dir).unwrap();
    let faults = format!(
        "      - {{ kind: command, id: touch, target: box, inject: \"touch {m}\", rollback: \"rm -f {m}\", verify: \"test ! -e {m}\" }}\n\
         \x20     - {{ kind: disk_fill, id: fill, target: box, path: \"{d}\", size: 4M, keep_free: 1M }}\n",
        m = marker.display(),
        d = fill_dir.display()
    );
    let scenario = write_scenario(&sshd, "run.yaml", "2s", &faults);
    let journal = sshd.path("run/journal.jsonl");
    let out = gameday()
        .arg("run")
        .arg(&scenario)
        .arg("--headless")
        .arg("--journal")
        .arg(&journal)
        .arg("--known-hosts")
        .arg(&sshd.known_hosts)
        .output()
        .unwrap();
    let text = journal_text(&journal);
    assert_eq!(
        out.status.code(),
        Some(0),
        "stdout:\n{}\nstderr:\n{}\njournal:\n{text}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(!marker.exists());
    assert_eq!(
        std::fs::read_dir(&fill_dir).unwrap().count(),
        0,
        "fill file left behind"
    );
    assert_eq!(
        text.matches("\"type\":\"lease_armed\"").count(),
        2,
        "{text}"
    );
    assert_eq!(text.matches("\"status\":\"VERIFIED\"").count(), 2, "{text}");
    assert_eq!(
        text.matches("\"type\":\"lease_cancelled\"").count(),
        2,
        "{text}"
    );
    // Both faults were on the host while the step ran.
    assert_eq!(text.matches("\"type\":\"fault_injected\"").count(), 2);
    assert!(!text.contains("\"ok\":false"), "{text}");
    // Cancelled leases leave no deadline file.
    let suffix = format!("-touch--127_0_0_1_{}.lease", sshd.port);
    let uid = String::from_utf8(Command::new("id").arg("-u").output().unwrap().stdout).unwrap();
    let leases: Vec<_> = std::fs::read_dir(format!("/tmp/gameday-{}", uid.trim()))
        .unwrap()
        .filter_map(|e| e.ok())
        .filter(|e| e.file_name().to_string_lossy().ends_with(&suffix))
        .collect();
    assert!(leases.is_empty(), "{leases:?}");
}

fn refused(known_hosts_text: &str) -> (Option<i32>, String, bool) {
    let sshd = Sshd::start().unwrap();
    let marker = sshd.path("ran");
    let faults = format!(
        "      - {{ kind: command, target: box, inject: \"touch {m}\", rollback: \"rm -f {m}\" }}\n",
        m = marker.display()
    );
    let scenario = write_scenario(&sshd, "refused.yaml", "1s", &faults);
    let kh = sshd.path("kh_test");
    std::fs::write(
        &kh,
        known_hosts_text.replace("PORT", &sshd.port.to_string()),
    )
    .unwrap();
    let out = gameday()
        .arg("run")
        .arg(&scenario)
        .arg("--journal")
        .arg(sshd.path("j/journal.jsonl"))
        .arg("--known-hosts")
        .arg(&kh)
        .output()
        .unwrap();
    (
        out.status.code(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
        marker.exists(),
    )
}

#[test]
fn unknown_host_is_refused_with_fingerprint_and_runs_nothing() {
    if !Path::new(crate::sshd_support::SSHD).exists() {
        return;
    }
    let (code, stderr, ran) = refused("");
    assert_eq!(code, Some(2), "{stderr}");
    assert!(!ran, "a command ran on a host whose key is unknown");
    assert!(stderr.contains("SHA256:"), "{stderr}");
    assert!(stderr.contains("gameday trust 127.0.0.1:"), "{stderr}");
}

#[test]
fn changed_host_key_is_fatal_and_runs_nothing() {
    if !Path::new(crate::sshd_support::SSHD).exists() {
        return;
    }
    let (code, stderr, ran) = refused(
        "[127.0.0.1]:PORT ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIHYCrWAF6pjdHa5LgEPOn0UdpN4awiZ1eyEHLtfB9CvE\n",
    );
    assert_eq!(code, Some(2), "{stderr}");
    assert!(!ran, "a command ran on a host whose key changed");
    assert!(stderr.contains("HOST KEY CHANGED"), "{stderr}");
}

#[test]
fn dry_run_connects_and_prints_but_runs_no_fault() {
    let Some(sshd) = Sshd::start() else { return };
    let marker = sshd.path("dry");
    let faults = format!(
        "      - {{ kind: command, target: box, inject: \"touch {m}\", rollback: \"rm -f {m}\" }}\n",
        m = marker.display()
    );
    let scenario = write_scenario(&sshd, "dry.yaml", "1s", &faults);
    let out = gameday()
        .arg("run")
        .arg(&scenario)
        .arg("--dry-run")
        .arg("--known-hosts")
        .arg(&sshd.known_hosts)
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(0), "{stdout}");
    assert!(stdout.contains("inject: ssh -p "), "{stdout}");
    assert!(stdout.contains("lease:  ssh -p "), "{stdout}");
    assert!(!marker.exists());
}

#[test]
fn dry_run_says_what_a_selection_chooses_from() {
    let Some(sshd) = Sshd::start() else { return };
    let marker = sshd.path("dry-select");
    let faults = format!(
        "      - {{ kind: command, target: box, inject: \"touch {m}\", rollback: \"rm -f {m}\", select: {{ count: 1 }}, seed: 5 }}\n",
        m = marker.display()
    );
    let scenario = write_scenario(&sshd, "dry-select.yaml", "1s", &faults);
    let out = gameday()
        .arg("run")
        .arg(&scenario)
        .arg("--dry-run")
        .arg("--known-hosts")
        .arg(&sshd.known_hosts)
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(0), "{stdout}");
    assert!(
        stdout.contains("selects 1 of 1 candidate host(s) (seed 5 chooses "),
        "{stdout}"
    );
    assert!(stdout.contains("inject: ssh -p "), "{stdout}");
    assert!(!marker.exists());
}

/// The console dies (SIGKILL, no rollback of its own) after injecting: the host's lease undoes the
/// fault within lease + 10 s, and `gameday recover` then verifies it and reports VERIFIED.
#[test]
fn lease_reverts_after_kill_9_and_recover_verifies() {
    let Some(sshd) = Sshd::start() else { return };
    let marker = sshd.path("leased");
    let faults = format!(
        "      - {{ kind: command, id: leased, target: box, lease: 5s, inject: \"touch {m}\", rollback: \"rm -f {m}\", verify: \"test ! -e {m}\" }}\n",
        m = marker.display()
    );
    let scenario = write_scenario(&sshd, "kill.yaml", "2m", &faults);
    let journal = sshd.path("k/journal.jsonl");
    let mut child = run_quiet(&sshd, &scenario, &journal);
    let injected = poll(Duration::from_secs(20), || {
        journal_text(&journal).contains("\"type\":\"fault_injected\"")
    });
    assert!(injected, "no injection: {}", journal_text(&journal));
    assert!(marker.exists());
    child.kill().unwrap(); // SIGKILL: no signal handler, no rollback.
    let killed_at = Instant::now();
    let _ = child.wait();
    let reverted = poll(Duration::from_secs(15), || !marker.exists());
    assert!(reverted, "the lease did not revert the fault within 15 s");
    eprintln!(
        "lease reverted the fault {:?} after kill -9",
        killed_at.elapsed()
    );

    let out = recover(&sshd, &journal);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{stdout}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(stdout.contains("leased on 127.0.0.1:"), "{stdout}");
    assert!(stdout.contains("VERIFIED"), "{stdout}");
    let text = journal_text(&journal);
    assert!(text.contains("\"by\":\"recover\""));
    assert!(text.contains("\"type\":\"lease_cancelled\""), "{text}");
}

/// The console dies (SIGKILL) while an inject is still running on the host: the inject lands
/// after `recover`'s first rollback. The host bounds it (`timeout -k 5`), so recover rolls back
/// at once, waits that bound out, rolls back again and only then stands the lease down: the
/// state is reverted when recover returns.
#[test]
fn recover_waits_out_an_inject_still_running_on_the_host() {
    let Some(sshd) = Sshd::start() else { return };
    let state = sshd.path("state");
    std::fs::write(&state, "off\n").unwrap();
    let started = sshd.path("started");
    let faults = format!(
        "      - {{ kind: command, id: late, target: box, timeout: 3s, inject: \"touch {started}; sleep 1.5; echo on > {s}\", rollback: \"echo off > {s}\", verify: \"read v < {s} && [ $v = off ]\" }}\n",
        s = state.display(),
        started = started.display()
    );
    let scenario = write_scenario(&sshd, "late.yaml", "2m", &faults);
    let journal = sshd.path("late/journal.jsonl");
    let mut child = run_quiet(&sshd, &scenario, &journal);
    assert!(
        poll(Duration::from_secs(20), || started.exists()),
        "the inject never started: {}",
        journal_text(&journal)
    );
    child.kill().unwrap(); // SIGKILL mid-inject
    let _ = child.wait();
    let out = recover(&sshd, &journal);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(
        std::fs::read_to_string(&state).unwrap(),
        "off\n",
        "the inject landed after recover: {stdout}"
    );
    assert_eq!(out.status.code(), Some(0), "{stdout}");
    assert!(
        stdout.contains("still running when the run died"),
        "{stdout}"
    );
    assert_eq!(
        journal_text(&journal)
            .matches("\"type\":\"rollback_result\"")
            .count(),
        2
    );
}

/// `gameday trust --yes` records the key; afterwards the host is accepted.
#[test]
fn trust_adds_the_key_then_the_host_is_accepted() {
    let Some(sshd) = Sshd::start() else { return };
    let kh = sshd.path("kh_trust");
    let out = gameday()
        .arg("trust")
        .arg(format!("127.0.0.1:{}", sshd.port))
        .arg("--known-hosts")
        .arg(&kh)
        .arg("--yes")
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(0), "{stdout}");
    assert!(stdout.contains("SHA256:"), "{stdout}");
    let text = std::fs::read_to_string(&kh).unwrap();
    let key = sshd.host_pub.split_whitespace().nth(1).unwrap();
    assert!(text.contains(key), "{text}");
}

/// A step longer than the lease: the console renews it, so the host never reverts mid-step (a
/// fired lease would make the next renewal fail and halt the run with exit 1).
#[test]
fn leases_are_renewed_while_the_console_is_healthy() {
    let Some(sshd) = Sshd::start() else { return };
    let marker = sshd.path("renewed");
    let faults = format!(
        "      - {{ kind: command, id: renewed, target: box, lease: 5s, inject: \"touch {m}\", rollback: \"rm -f {m}\", verify: \"test ! -e {m}\" }}\n",
        m = marker.display()
    );
    let scenario = write_scenario(&sshd, "renew.yaml", "8s", &faults);
    let journal = sshd.path("r/journal.jsonl");
    let out = gameday()
        .arg("run")
        .arg(&scenario)
        .arg("--journal")
        .arg(&journal)
        .arg("--known-hosts")
        .arg(&sshd.known_hosts)
        .output()
        .unwrap();
    let text = journal_text(&journal);
    assert_eq!(out.status.code(), Some(0), "{text}");
    let renewed = text.matches("\"type\":\"lease_renewed\"").count();
    assert!(
        renewed >= 3,
        "only {renewed} renewals in an 8s step with a 5s lease"
    );
    assert!(!text.contains("\"ok\":false"), "{text}");
    assert!(!marker.exists());
}

/// `sudo: true`: preflight `sudo -n true` passes and every command runs as `sudo -n -- timeout …`.
/// Skipped where sudo is not installed.
#[test]
fn sudo_targets_run_through_sudo_n() {
    if !Path::new("/usr/bin/sudo").exists() {
        eprintln!("skipping: sudo is not installed");
        return;
    }
    let Some(sshd) = Sshd::start() else { return };
    let marker = sshd.path("as_root");
    let scenario = sshd.path("sudo.yaml");
    std::fs::write(
        &scenario,
        format!(
            "title: sudo\nhypothesis: h\nmax_duration: 1m\ntargets:\n  box: {{ hosts: [\"127.0.0.1:{}\"], user: {}, identity: \"{}\", sudo: true }}\n\
             steps:\n  - name: s\n    duration: 1s\n    faults:\n      - {{ kind: command, target: box, inject: \"test -n \\\"$SUDO_USER\\\" && touch {m}\", rollback: \"rm -f {m}\", verify: \"test ! -e {m}\" }}\n",
            sshd.port,
            sshd.user,
            sshd.identity.display(),
            m = marker.display()
        ),
    )
    .unwrap();
    let journal = sshd.path("s/journal.jsonl");
    let out = gameday()
        .arg("run")
        .arg(&scenario)
        .arg("--journal")
        .arg(&journal)
        .arg("--known-hosts")
        .arg(&sshd.known_hosts)
        .output()
        .unwrap();
    let text = journal_text(&journal);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}\n{text}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(text.contains("\"status\":\"VERIFIED\""), "{text}");
    assert!(text.contains("\"type\":\"fault_injected\"") && !text.contains("\"ok\":false"));
    assert!(!marker.exists());
}

/// `recover` against a host that is gone: UNKNOWN, exit 3, and the exact ssh line to run by hand.
#[test]
fn recover_of_an_unreachable_host_is_unknown_with_a_manual_command() {
    let Some(sshd) = Sshd::start() else { return };
    let marker = sshd.path("stuck");
    let faults = format!(
        "      - {{ kind: command, id: stuck, target: box, lease: 5s, inject: \"touch {m}\", rollback: \"rm -f {m}\" }}\n",
        m = marker.display()
    );
    let scenario = write_scenario(&sshd, "gone.yaml", "2m", &faults);
    let journal = sshd.path("g/journal.jsonl");
    let mut child = run_quiet(&sshd, &scenario, &journal);
    let injected = poll(Duration::from_secs(20), || {
        journal_text(&journal).contains("\"type\":\"fault_injected\"")
    });
    assert!(injected, "{}", journal_text(&journal));
    child.kill().unwrap();
    let _ = child.wait();
    let (known_hosts, port) = (sshd.known_hosts.clone(), sshd.port);
    // Copies outside the harness directory, which goes away with the server.
    let keep = tempfile::tempdir().unwrap();
    let kh_copy = keep.path().join("known_hosts");
    std::fs::copy(&known_hosts, &kh_copy).unwrap();
    let journal_copy = keep.path().join("journal.jsonl");
    std::fs::copy(&journal, &journal_copy).unwrap();
    drop(sshd); // the listener is gone: nothing answers on the port any more
    let out = gameday()
        .arg("recover")
        .arg(&journal_copy)
        .arg("--known-hosts")
        .arg(&kh_copy)
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(3), "{stdout}");
    assert!(stdout.contains("UNKNOWN"), "{stdout}");
    let text = std::fs::read_to_string(&journal_copy).unwrap();
    assert!(
        text.contains(&format!("\"manual\":\"ssh -p {port} ")),
        "{text}"
    );
}

/// Preflight journals connect+auth time per SSH host.
#[test]
fn preflight_reports_connect_and_auth_time() {
    let Some(sshd) = Sshd::start() else { return };
    let scenario = write_scenario(
        &sshd,
        "pre.yaml",
        "1s",
        "      - { kind: command, target: box, inject: 'true', rollback: 'true' }\n",
    );
    let journal = sshd.path("p/journal.jsonl");
    let out = gameday()
        .arg("run")
        .arg(&scenario)
        .arg("--headless")
        .arg("--journal")
        .arg(&journal)
        .arg("--known-hosts")
        .arg(&sshd.known_hosts)
        .output()
        .unwrap();
    let text = journal_text(&journal);
    assert_eq!(out.status.code(), Some(0), "{text}");
    assert!(text.contains("(connect+auth "), "{text}");
}
