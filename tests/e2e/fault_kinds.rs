//! Built-in fault kinds run for real on this machine.
//!
//! Network kinds cannot run here (no netem, no iptables modules), so they are tested by the exact
//! commands they generate against a host that records them: stub `tc` and `iptables` scripts first
//! on PATH record their argv and keep qdisc / rule state in files, and the generated inject, undo
//! and verify lines run with `sh -c` against them. `kill` runs against a uniquely named copy of
//! `sleep` through `LocalHost`, the local transport.

use std::path::{Path, PathBuf};
use std::process::{Child, Command};
use std::time::{Duration, Instant};

use gameday::event::{CommandOutcome, RollbackStatus};
use gameday::fault::{FaultPlan, PlanContext, REFUSED_EXIT, roll_back};
use gameday::scenario::{Fault, FaultSpec};
use gameday::target::Host;
use gameday::target::local::LocalHost;

/// `tc qdisc {show|add|del} dev D root ...`: one root qdisc per device in `qdisc.<dev>`.
const TC_STUB: &str = r#"#!/bin/sh
st=${STUB_STATE:?}
printf 'tc %s\n' "$*" >> "$st/log"
[ "$1" = qdisc ] && [ "$3" = dev ] && [ "$5" = root ] || { echo "stub tc: unsupported: $*" >&2; exit 2; }
q="$st/qdisc.$4"
case "$2" in
show) if [ -e "$q" ]; then cat "$q"; else echo 'qdisc noqueue 0: root refcnt 2'; fi ;;
add)
  [ "$6" = handle ] && [ "$8" = netem ] || exit 2
  [ ! -e "$q" ] || { echo 'Error: Exclusivity flag on, cannot modify.' >&2; exit 2; }
  h=$7; shift 8; echo "qdisc netem $h root refcnt 2 limit 1000 $*" > "$q" ;;
del)
  [ -e "$q" ] || { echo 'Error: Cannot delete qdisc with handle of zero.' >&2; exit 2; }
  if [ "$6" = handle ]; then
    [ "$(cut -d' ' -f3 "$q")" = "$7" ] || { echo 'Error: Invalid handle.' >&2; exit 2; }
  fi
  rm -f "$q" ;;
*) exit 2 ;;
esac
"#;

/// `iptables -w {-S|-I|-D} ...`: rules in `rules` as `-S` prints them. Like the real one, a host
/// name is resolved (from `names`, lines `name=ip`) when a rule is inserted or deleted, and
/// `-p tcp --dport` is listed as `-p tcp -m tcp --dport`. `STUB_QUOTE=1` lists comments quoted,
/// as older iptables did.
const IPTABLES_STUB: &str = r#"#!/bin/sh
st=${STUB_STATE:?}
printf 'iptables %s\n' "$*" >> "$st/log"
[ "$1" = -w ] && shift
op=$1; shift
canon() {
  out=
  while [ $# -gt 0 ]; do
    a=$1; shift
    case "$a" in
    -s|-d) v=$1; shift; r=$(grep "^$v=" "$st/names" 2>/dev/null | cut -d= -f2); [ -n "$r" ] && v=$r
           case "$v" in */*) ;; *) v="$v/32" ;; esac; out="$out $a $v" ;;
    -m) if [ "$1" = tcp ]; then shift; else out="$out -m $1"; shift; fi ;;
    --dport|--sport) out="$out -m tcp $a $1"; shift ;;
    *) out="$out $a" ;;
    esac
  done
  echo "${out# }"
}
touch "$st/rules"
case "$op" in
-S) echo '-P INPUT ACCEPT'; echo '-P OUTPUT ACCEPT'
    if [ -n "$STUB_QUOTE" ]; then sed 's/--comment \([^ ]*\)/--comment "\1"/' "$st/rules"; else cat "$st/rules"; fi ;;
-I) chain=$1; shift; line="-A $chain $(canon "$@")"
    { echo "$line"; cat "$st/rules"; } > "$st/rules.new" && mv "$st/rules.new" "$st/rules" ;;
-D) chain=$1; shift; line="-A $chain $(canon "$@")"
    grep -qxF -- "$line" "$st/rules" || { echo 'iptables: Bad rule (does a matching rule exist in that chain?).' >&2; exit 1; }
    awk -v l="$line" 'done || $0 != l { print; next } { done = 1 }' "$st/rules" > "$st/rules.new" && mv "$st/rules.new" "$st/rules" ;;
*) echo "stub iptables: unsupported: $op" >&2; exit 2 ;;
esac
"#;

/// A host whose `tc` and `iptables` are the stubs above, with their state in a tempdir.
struct StubHost {
    dir: tempfile::TempDir,
}

impl StubHost {
    fn new() -> StubHost {
        let dir = tempfile::tempdir().unwrap();
        let bin = dir.path().join("bin");
        std::fs::create_dir(&bin).unwrap();
        for (name, text) in [("tc", TC_STUB), ("iptables", IPTABLES_STUB)] {
            let p = bin.join(name);
            std::fs::write(&p, text).unwrap();
            std::fs::set_permissions(&p, std::os::unix::fs::PermissionsExt::from_mode(0o755))
                .unwrap();
        }
        StubHost { dir }
    }

    fn state(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    fn read(&self, name: &str) -> String {
        std::fs::read_to_string(self.state(name)).unwrap_or_default()
    }

    fn run_with(&self, command: &str, quote: bool) -> CommandOutcome {
        let path = format!(
            "{}:{}",
            self.dir.path().join("bin").display(),
            std::env::var("PATH").unwrap_or_default()
        );
        let mut c = Command::new("sh");
        c.arg("-c")
            .arg(command)
            .env("PATH", path)
            .env("STUB_STATE", self.dir.path());
        if quote {
            c.env("STUB_QUOTE", "1");
        } else {
            c.env_remove("STUB_QUOTE");
        }
        let o = c.output().unwrap();
        CommandOutcome {
            exit: o.status.code(),
            stdout: String::from_utf8_lossy(&o.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&o.stderr).into_owned(),
            ..Default::default()
        }
    }

    fn run(&self, command: &str) -> CommandOutcome {
        self.run_with(command, false)
    }

    fn rules(&self) -> Vec<String> {
        self.read("rules").lines().map(String::from).collect()
    }
}

fn fault(id: &str, spec: FaultSpec) -> Fault {
    Fault {
        id: id.into(),
        target: "t".into(),
        spec,
        irreversible: false,
        lease: Duration::from_secs(60),
        timeout: Duration::from_secs(30),
        select: None,
    }
}

fn ctx(run: &str, port: Option<u16>) -> PlanContext {
    PlanContext {
        run: run.into(),
        management_port: port,
    }
}

fn latency(run: &str) -> FaultPlan {
    FaultPlan::of(
        &fault(
            "lat",
            FaultSpec::Latency {
                interface: "eth0".into(),
                delay_ms: 100,
                jitter_ms: 0,
            },
        ),
        &ctx(run, None),
    )
}

fn verify(h: &StubHost, p: &FaultPlan) -> Option<i32> {
    h.run(p.verify.as_deref().unwrap()).exit
}

fn undo(h: &StubHost, p: &FaultPlan) -> Option<i32> {
    h.run(p.undo.as_deref().unwrap()).exit
}

/// Two runs put latency on the same interface: the second is refused (86, a refusal, nothing
/// changed), and its undo — should anyone run it — leaves the first run's live qdisc alone.
#[test]
fn a_second_run_on_an_interface_is_refused_and_its_undo_spares_the_first() {
    let h = StubHost::new();
    let (a, b) = (latency("runA"), latency("runB"));
    assert_eq!(h.run(&a.inject).exit, Some(0));
    let first = h.read("qdisc.eth0");
    assert!(first.starts_with("qdisc netem e5f5: root"), "{first}");

    let refused = h.run(&b.inject);
    assert_eq!(refused.exit, Some(REFUSED_EXIT), "{refused:?}");
    let why = b.refusal(&refused).expect("a refusal");
    assert!(why.contains("not the default"), "{why}");
    assert_eq!(
        h.read("qdisc.eth0"),
        first,
        "a refused inject changed nothing"
    );

    let before = h.read("log").lines().count();
    assert_eq!(undo(&h, &b), Some(0));
    assert_eq!(
        h.read("qdisc.eth0"),
        first,
        "run B's undo removed run A's fault"
    );
    assert!(
        !h.read("log")
            .lines()
            .skip(before)
            .any(|l| l.contains(" del ")),
        "run B's undo issued a delete: {}",
        h.read("log")
    );
    assert_eq!(
        verify(&h, &b),
        Some(0),
        "run B has nothing on the interface"
    );
    assert_eq!(verify(&h, &a), Some(1), "run A's fault is still live");

    assert_eq!(undo(&h, &a), Some(0));
    assert_eq!(verify(&h, &a), Some(0));
    assert!(!h.state("qdisc.eth0").exists());
    assert!(
        h.read("log")
            .contains("tc qdisc del dev eth0 root handle e5f5:"),
        "{}",
        h.read("log")
    );
}

/// Someone's traffic shaping is on the interface: refused, and undo/verify leave it alone.
#[test]
fn a_foreign_root_qdisc_is_refused_and_left_alone() {
    let h = StubHost::new();
    let shaping = "qdisc tbf 1: root refcnt 2 rate 1Mbit burst 32Kb lat 50ms\n";
    std::fs::write(h.state("qdisc.eth0"), shaping).unwrap();
    let p = latency("runA");
    let o = h.run(&p.inject);
    assert_eq!(o.exit, Some(REFUSED_EXIT), "{o:?}");
    assert!(p.refusal(&o).is_some());
    assert_eq!(undo(&h, &p), Some(0));
    assert_eq!(verify(&h, &p), Some(0));
    assert_eq!(h.read("qdisc.eth0"), shaping);
}

/// A `tc` that cannot list the root qdisc: the inject refuses (nothing was changed), verify
/// cannot tell (exit 3, never "gone").
#[test]
fn an_unreadable_qdisc_is_a_refusal_and_an_unknown_verify() {
    let h = StubHost::new();
    let p = FaultPlan::of(
        &fault(
            "lat",
            FaultSpec::Loss {
                interface: "eth0".into(),
                percent: 5.0,
            },
        ),
        &ctx("runA", None),
    );
    let broken = |c: &str| c.replace("dev eth0 root)", "dev eth0 nonsense)");
    let o = h.run(&broken(&p.inject));
    assert_eq!(o.exit, Some(REFUSED_EXIT), "{o:?}");
    assert_eq!(h.run(&broken(p.verify.as_deref().unwrap())).exit, Some(3));
}

fn partition(id: &str, peer: &str, port: Option<u16>) -> FaultPlan {
    FaultPlan::of(
        &fault(id, FaultSpec::Partition { peer: peer.into() }),
        &ctx("runA", port),
    )
}

/// Fault f1's tag is a prefix of f10's: matching is on the exact comment, so neither mistakes
/// the other's rules for its own — with the comment printed bare or quoted.
#[test]
fn partition_tags_match_exactly_f1_is_not_f10() {
    for quote in [false, true] {
        let h = StubHost::new();
        let run = |c: &str| h.run_with(c, quote);
        let f1 = partition("f1", "10.0.0.1", Some(2222));
        let f10 = partition("f10", "10.0.0.10", Some(2222));
        assert_eq!(run(&f10.inject).exit, Some(0));
        assert_eq!(
            run(f1.verify.as_deref().unwrap()).exit,
            Some(0),
            "f1 is not live"
        );
        let o = run(&f1.inject);
        assert_eq!(o.exit, Some(0), "f1 refused because of f10's rules: {o:?}");
        assert_eq!(h.rules().len(), 8);
        let again = run(&f1.inject);
        assert_eq!(again.exit, Some(REFUSED_EXIT), "{again:?}");
        assert_eq!(h.rules().len(), 8);

        assert_eq!(run(f1.undo.as_deref().unwrap()).exit, Some(0));
        assert_eq!(run(f1.verify.as_deref().unwrap()).exit, Some(0));
        let left = h.rules();
        assert_eq!(left.len(), 4, "{left:#?}");
        assert!(
            left.iter()
                .all(|r| r.contains("--comment gameday-runA-f10 ")),
            "f1's undo touched f10's rules: {left:#?}"
        );
        assert_eq!(
            run(f10.verify.as_deref().unwrap()).exit,
            Some(1),
            "f10 still live"
        );
        assert_eq!(run(f10.undo.as_deref().unwrap()).exit, Some(0));
        assert_eq!(run(f10.verify.as_deref().unwrap()).exit, Some(0));
        assert!(h.rules().is_empty(), "{:#?}", h.rules());
    }
}

/// The peer's name resolves differently by rollback time: the undo deletes the rules as the live
/// list shows them (the address resolved at insert), never by resolving the name again. Each
/// chain's DROP goes before its SSH ACCEPT.
#[test]
fn partition_undo_deletes_the_listed_rules_not_a_fresh_lookup() {
    let h = StubHost::new();
    std::fs::write(h.state("names"), "cache-1.example.internal=10.0.0.5\n").unwrap();
    let p = partition("cut", "cache-1.example.internal", Some(2222));
    assert_eq!(h.run(&p.inject).exit, Some(0));
    assert_eq!(h.rules().len(), 4);
    assert!(h.rules().iter().all(|r| r.contains("10.0.0.5/32")));

    std::fs::write(h.state("names"), "cache-1.example.internal=10.0.0.9\n").unwrap();
    let o = h.run(p.undo.as_deref().unwrap());
    assert_eq!(o.exit, Some(0), "{o:?}\n{}", h.read("log"));
    assert!(h.rules().is_empty(), "{:#?}", h.rules());
    assert_eq!(verify(&h, &p), Some(0));

    let log = h.read("log");
    let deletes: Vec<&str> = log.lines().filter(|l| l.contains(" -D ")).collect();
    assert_eq!(deletes.len(), 4, "{log}");
    assert!(
        deletes
            .iter()
            .all(|l| l.contains("10.0.0.5/32") && !l.contains("cache-1")),
        "{deletes:#?}"
    );
    let at = |chain: &str, target: &str| {
        deletes
            .iter()
            .position(|l| l.contains(&format!("-D {chain} ")) && l.ends_with(target))
            .unwrap()
    };
    assert!(
        at("INPUT", "-j DROP") < at("INPUT", "-j ACCEPT"),
        "{deletes:#?}"
    );
    assert!(
        at("OUTPUT", "-j DROP") < at("OUTPUT", "-j ACCEPT"),
        "{deletes:#?}"
    );
}

/// A rule that carries the tag but that our undo cannot delete makes the undo fail loudly.
#[test]
fn partition_undo_fails_while_a_tagged_rule_remains() {
    let h = StubHost::new();
    let p = partition("stuck", "10.0.0.7", None);
    assert_eq!(h.run(&p.inject).exit, Some(0));
    // A tagged rule whose listed form the stub will not delete (it drops `-m tcp` on -D).
    std::fs::write(
        h.state("rules"),
        format!(
            "{}-A INPUT -m tcp -m comment --comment gameday-runA-stuck -j DROP\n",
            h.read("rules")
        ),
    )
    .unwrap();
    assert_eq!(undo(&h, &p), Some(1));
    assert_eq!(verify(&h, &p), Some(1));
}

// ---- kill, for real ------------------------------------------------------------------------

/// A copy of `sleep` under a name no other process has (`pgrep -x` matches the 15-char comm).
struct Daemon {
    _dir: tempfile::TempDir,
    path: PathBuf,
    name: String,
}

impl Daemon {
    fn new(tag: char) -> Daemon {
        let dir = tempfile::tempdir().unwrap();
        let name = format!("gdk{tag}{}", std::process::id());
        let path = dir.path().join(&name);
        let sleep = Command::new("sh")
            .arg("-c")
            .arg("command -v sleep")
            .output()
            .unwrap();
        let sleep = String::from_utf8(sleep.stdout).unwrap();
        std::fs::copy(sleep.trim(), &path).unwrap();
        Daemon {
            _dir: dir,
            path,
            name,
        }
    }

    fn spawn(&self) -> Child {
        Command::new(&self.path).arg("300").spawn().unwrap()
    }

    /// Pids with our name that are running, not zombies.
    fn live(&self) -> Vec<u32> {
        let o = Command::new("pgrep")
            .arg("-x")
            .arg(&self.name)
            .output()
            .unwrap();
        String::from_utf8_lossy(&o.stdout)
            .lines()
            .filter_map(|l| l.trim().parse().ok())
            .filter(|p| state(*p).is_some_and(|s| s != 'Z' && s != 'X'))
            .collect()
    }

    fn kill_all(&self) {
        for p in self.live() {
            let _ = Command::new("kill")
                .arg("-KILL")
                .arg(p.to_string())
                .status();
        }
    }
}

impl Drop for Daemon {
    fn drop(&mut self) {
        self.kill_all();
    }
}

/// The state letter of /proc/PID/stat (the field after the last `)`).
fn state(pid: u32) -> Option<char> {
    let s = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    s.rsplit(')').next()?.trim_start().chars().next()
}

/// Kills our own child without reaping it: a zombie until `wait`.
fn zombie(child: &mut Child) {
    child.kill().unwrap();
    let start = Instant::now();
    while state(child.id()) != Some('Z') && start.elapsed() < Duration::from_secs(5) {
        std::thread::sleep(Duration::from_millis(20));
    }
    assert_eq!(state(child.id()), Some('Z'), "no zombie to test with");
}

fn kill_fault(
    run: &str,
    process: Option<&str>,
    pid_file: Option<&Path>,
    restart: &str,
) -> FaultPlan {
    FaultPlan::of(
        &fault(
            "kill",
            FaultSpec::Kill {
                process: process.map(String::from),
                pid_file: pid_file.map(|p| p.display().to_string()),
                signal: "KILL".into(),
                restart: Some(restart.into()),
            },
        ),
        &ctx(run, None),
    )
}

const T: Duration = Duration::from_secs(10);

/// `restart: "daemon &"`: the restart no longer holds the command's output (no timeout), the
/// daemon is outside the process group a timeout kills, and the verify sees it running.
#[tokio::test]
async fn a_backgrounded_restart_is_verified_and_keeps_running() {
    let d = Daemon::new('b');
    let run = format!("t{}", std::process::id());
    let mut child = d.spawn();
    let restart = format!(
        "{} 300 &",
        shlex::try_quote(&d.path.display().to_string()).unwrap()
    );
    let plan = kill_fault(&run, Some(&d.name), None, &restart);
    let host = LocalHost::new();

    let injected = host.exec(&plan.inject, T).await;
    assert_eq!(injected.exit, Some(0), "{injected:?}");
    child.wait().unwrap();
    assert!(d.live().is_empty(), "the kill did not kill");
    assert_eq!(
        host.exec(plan.verify.as_deref().unwrap(), T).await.exit,
        Some(1)
    );

    let report = roll_back(&host, &plan, Duration::from_secs(3)).await;
    assert_eq!(report.undo.exit, Some(0), "{report:?}");
    assert_eq!(report.attempts, 1, "{report:?}");
    assert_eq!(report.status, RollbackStatus::Verified, "{report:?}");
    let live = d.live();
    assert_eq!(live.len(), 1, "the restarted daemon is not running");
    // The restart got a session of its own (stat fields after `)`: state ppid pgrp session),
    // so no process-group kill aimed at a gameday command reaches the daemon.
    let sid_of = |pid: u32| {
        let s = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap();
        s.rsplit(')')
            .next()
            .unwrap()
            .split_whitespace()
            .nth(3)
            .unwrap()
            .to_string()
    };
    assert_ne!(
        sid_of(live[0]),
        sid_of(std::process::id()),
        "the restarted daemon shares gameday's session"
    );
    let _ = std::fs::remove_file(format!(
        "/tmp/gameday-{}/gameday-{run}-kill.restart.log",
        unsafe { libc::getuid() }
    ));
}

/// The restart's own failure is the undo's status, and its output is shown.
#[tokio::test]
async fn a_failing_restart_fails_the_undo_with_its_output() {
    let run = format!("t{}f", std::process::id());
    let plan = kill_fault(
        &run,
        Some("gdk-nothing"),
        None,
        "echo cannot start >&2; exit 5",
    );
    // As if the inject had passed its checks and marked the host changed.
    let mark = format!("/tmp/gameday-{}/gameday-{run}-kill.changed", unsafe {
        libc::getuid()
    });
    std::fs::write(&mark, "").unwrap();
    let o = LocalHost::new()
        .exec(plan.undo.as_deref().unwrap(), T)
        .await;
    let _ = std::fs::remove_file(&mark);
    assert_eq!(o.exit, Some(5), "{o:?}");
    assert!(o.stderr.contains("cannot start"), "{o:?}");
    let _ = std::fs::remove_file(format!(
        "/tmp/gameday-{}/gameday-{run}-kill.restart.log",
        unsafe { libc::getuid() }
    ));
}

/// Nothing to kill (absent, or only a zombie of that name): refused, so the engine never runs the
/// restart; and a zombie never verifies as "running again".
#[tokio::test]
async fn kill_refuses_an_absent_or_zombie_process_and_verify_ignores_zombies() {
    let d = Daemon::new('z');
    let host = LocalHost::new();
    let run = format!("t{}z", std::process::id());
    let plan = kill_fault(&run, Some(&d.name), None, "true");

    let absent = host.exec(&plan.inject, T).await;
    assert_eq!(absent.exit, Some(REFUSED_EXIT), "{absent:?}");
    assert!(plan.refusal(&absent).unwrap().contains("no live process"));

    let mut child = d.spawn();
    zombie(&mut child);
    let z = host.exec(&plan.inject, T).await;
    assert_eq!(
        z.exit,
        Some(REFUSED_EXIT),
        "a zombie is not a process to kill: {z:?}"
    );
    let v = host.exec(plan.verify.as_deref().unwrap(), T).await;
    assert_eq!(v.exit, Some(1), "a zombie verified as running: {v:?}");

    // The same through a pid file.
    let dir = tempfile::tempdir().unwrap();
    let pid_file = dir.path().join("d.pid");
    std::fs::write(&pid_file, format!("{}\n", child.id())).unwrap();
    let by_file = kill_fault(&run, None, Some(&pid_file), "true");
    let z = host.exec(&by_file.inject, T).await;
    assert_eq!(z.exit, Some(REFUSED_EXIT), "{z:?}");
    assert_eq!(
        host.exec(by_file.verify.as_deref().unwrap(), T).await.exit,
        Some(1)
    );
    child.wait().unwrap();

    std::fs::write(&pid_file, "not a pid\n").unwrap();
    assert_eq!(host.exec(&by_file.inject, T).await.exit, Some(REFUSED_EXIT));
    std::fs::remove_file(&pid_file).unwrap();
    assert_eq!(host.exec(&by_file.inject, T).await.exit, Some(REFUSED_EXIT));

    // A live one is killed.
    let mut live = d.spawn();
    std::fs::write(&pid_file, format!("{}\n", live.id())).unwrap();
    assert_eq!(
        host.exec(by_file.verify.as_deref().unwrap(), T).await.exit,
        Some(0)
    );
    assert_eq!(host.exec(&by_file.inject, T).await.exit, Some(0));
    assert!(live.wait().unwrap().code().is_none(), "killed by a signal");
}

/// stop_service on a unit that is not active (here: no systemd at all) is refused.
#[tokio::test]
async fn stop_service_refuses_a_unit_that_is_not_active() {
    let plan = FaultPlan::of(
        &fault(
            "stop",
            FaultSpec::StopService {
                service: "gameday-no-such-unit.service".into(),
            },
        ),
        &ctx("runA", None),
    );
    let o = LocalHost::new().exec(&plan.inject, T).await;
    assert_eq!(o.exit, Some(REFUSED_EXIT), "{o:?}");
    assert!(plan.refusal(&o).is_some());
}

/// A PATH holding every tool of this machine except `missing`.
fn path_without(missing: &str) -> tempfile::TempDir {
    let bin = tempfile::tempdir().unwrap();
    for d in ["/usr/local/bin", "/usr/bin", "/bin", "/usr/sbin", "/sbin"] {
        let Ok(entries) = std::fs::read_dir(d) else {
            continue;
        };
        for e in entries.flatten() {
            let to = bin.path().join(e.file_name());
            if e.file_name() != missing && !to.exists() {
                std::os::unix::fs::symlink(e.path(), to).unwrap();
            }
        }
    }
    bin
}

/// cpu / memory without stress-ng on the host: refused, no pid file left to "roll back".
#[test]
fn stress_without_stress_ng_is_refused() {
    let bin = path_without("stress-ng");
    let run = format!("t{}s", std::process::id());
    let plan = FaultPlan::of(
        &fault(
            "mem",
            FaultSpec::Memory {
                bytes: 1 << 20,
                duration_s: 5,
            },
        ),
        &ctx(&run, None),
    );
    let o = Command::new("sh")
        .arg("-c")
        .arg(&plan.inject)
        .env("PATH", bin.path())
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(REFUSED_EXIT), "{o:?}");
    let out = CommandOutcome {
        exit: o.status.code(),
        stderr: String::from_utf8_lossy(&o.stderr).into_owned(),
        ..Default::default()
    };
    assert!(plan.refusal(&out).unwrap().contains("stress-ng"));
    let sh = |c: &str| Command::new("sh").arg("-c").arg(c).status().unwrap().code();
    assert_eq!(sh(plan.verify.as_deref().unwrap()), Some(0), "no pid file");
}
