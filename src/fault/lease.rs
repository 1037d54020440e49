//! Dead-man leases: before a fault is injected, its undo is armed on the host itself, so the host
//! reverts the fault if the console dies or the link drops.
//!
//! Mechanism, in gameday's private directory `$gd` (`/tmp/gameday-<uid>`), for the lease `<name>`:
//! - `<name>.lease` holds the deadline in whole seconds of the host's MONOTONIC clock (the integer
//!   part of /proc/uptime), so a wall-clock step cannot fire or hold the lease;
//! - a watcher (`sh` loop that sleeps until its deadline, at most [`WATCH_MAX_S`] at a time, then
//!   looks again) writes its own pid and start time to `<name>.pid` and runs the undo
//!   (limited to the fault's timeout) once the deadline has passed. A missing or corrupt deadline
//!   counts as expired: when in doubt, revert;
//! - `<name>.cancelled` is the tombstone: the watcher checks it every loop and exits WITHOUT
//!   undoing, and renewals refuse once it exists, so a late renewal cannot revive a cancelled lease.
//!   The watcher removes its files when it exits.
//!
//! Nothing is assumed: arming waits (about 2 s) until the watcher's pid file names a live process
//! whose command line carries the lease name, and every renewal checks that again before pushing
//! the deadline. The watcher is detached: `systemd-run --unit=<name>` when systemd is PID 1 and we
//! are root (so logind's KillUserProcesses cannot reap it), else `setsid nohup` with stdio on
//! /dev/null, so neither an SSH channel nor a local command's process-group kill takes it down.

use std::time::Duration;

use super::kinds::{ALIVE_FN, private_dir, q};

/// The commands of one lease on one host.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LeasePlan {
    pub duration: Duration,
    /// Writes the deadline, starts the detached watcher and proves it runs; non-zero otherwise
    /// (then nothing may be injected).
    pub arm: String,
    /// Proves the watcher still runs, then pushes the deadline forward; fails when the lease
    /// fired, was cancelled, or its watcher died.
    pub renew: String,
    /// Leaves the tombstone (the watcher exits without undoing, renewals refuse), ends the watcher
    /// (SIGKILL: it runs none of its code after that) and removes the lease's files. Exit 0 once
    /// the tombstone is in place.
    pub cancel: String,
}

/// The lease name of a fault on a host: `gameday-<run>-<fault>--<host>`, safe characters only.
/// The host is part of it so two targets naming the same machine do not share one lease.
pub fn name(tag: &str, host: &str) -> String {
    let host: String = host
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '-' {
                c
            } else {
                '_'
            }
        })
        .collect();
    format!("{tag}--{host}")
}

/// Whole seconds, rounded up, at least 1: a limit is never shorter than asked.
fn whole_secs(d: Duration) -> u64 {
    let s = d.as_secs();
    let s = if d.subsec_nanos() > 0 {
        s.saturating_add(1)
    } else {
        s
    };
    s.max(1)
}

/// Defines `gd_up`: sets `$u` to the whole seconds of /proc/uptime, or fails. Files are read
/// with the `read` builtin (stderr redirected before the input, so a missing file is silent):
/// a watcher's one-second loop then forks only its `sleep`, which matters on a host carrying
/// many leases (the 1,000-host lab: 1,000 forks a second instead of 3,000).
/// The longest a lease watcher sleeps before it looks at its deadline and tombstone again. It
/// sleeps until its deadline when that is nearer (a renewal only moves the deadline later, so
/// waking at the old one is never late), so a lease costs one `sleep` every 5 s on its host, not
/// one a second: on the 1,000-host lab (every host this machine) that was 1,000 execs a second.
/// Bounds how late a watcher notices a tombstone left without the kill that `cancel` sends, and
/// how late it fires on a host whose monotonic clock stood still (a paused VM).
pub const WATCH_MAX_S: u64 = 5;

/// Defines `gd_start PID`: sets `$gd_st` to the process's start time (field 22 of
/// `/proc/PID/stat`, clock ticks since boot), or fails. The watcher writes `PID START` to its pid
/// file, and `gd_watcher` takes a live process with that pid and that start time as the watcher
/// (a pid reused by another process has another start time): builtins only, where matching the
/// lease name in `/proc/PID/cmdline` costs a `tr` and a `grep` per check (still how a pid file
/// of an older gameday, with the pid alone, is checked).
const START_FN: &str = "gd_start() { gd_st=; s=; read -r s 2>/dev/null < /proc/\"$1\"/stat || return 1; s=${s##*')'}; set -- $s; gd_st=${20}; case \"$gd_st\" in ''|*[!0-9]*) return 1;; esac; }";

const UPTIME_FN: &str = "gd_up() { u=; read -r u gd_idle 2>/dev/null < /proc/uptime || return 1; u=${u%%.*}; case \"$u\" in ''|*[!0-9]*) return 1;; esac; }";

/// The lease for `undo`, named `tag` (from [`name`], already restricted to safe chars). The
/// watcher gives the undo `undo_timeout` (the fault's own command timeout) before killing it.
pub fn plan(tag: &str, undo: &str, duration: Duration, undo_timeout: Duration) -> LeasePlan {
    // The uptime's whole seconds lag by up to one: one more keeps the lease from firing early
    // (never late by more than that second plus the rounding of the watcher's sleep).
    let secs = duration.as_secs().max(1).saturating_add(1);
    let undo_s = whole_secs(undo_timeout);
    let n = q(tag);
    // "$gd": the private per-user directory (never a bare /tmp path that a local user could
    // pre-plant as a symlink for a root-run write to follow).
    let files = format!(
        "{}; n={n}; f=\"$gd/$n.lease\"; p=\"$gd/$n.pid\"; c=\"$gd/$n.cancelled\"",
        private_dir(3)
    );
    // `gd_watcher`: the pid file names a live process whose argv carries the lease name, i.e. our
    // watcher (not a zombie, not a recycled pid). Sets $w to that pid.
    let helpers = format!(
        "{ALIVE_FN}; {UPTIME_FN}; {START_FN}; gd_watcher() {{ w=; ws=; read -r w ws 2>/dev/null < \"$p\" && gd_alive \"$w\" || return 1; if [ -n \"$ws\" ]; then gd_start \"$w\" && [ \"$gd_st\" = \"$ws\" ]; else tr '\\0' '\\n' < /proc/\"$w\"/cmdline 2>/dev/null | grep -qxF -- \"$n\"; fi; }}"
    );
    let write = format!(
        "gd_up || {{ echo 'cannot read /proc/uptime (the lease clock)' >&2; exit 3; }}; echo $((u + {secs})) > \"$f.tmp\" && mv -f \"$f.tmp\" \"$f\" || exit 3"
    );
    // The watcher gets the directory and the name as $1 and $2, so nothing is spliced into its
    // own quoted text; the name in its argv is what proves its identity.
    let watcher = format!(
        "{UPTIME_FN}; {START_FN}; f=\"$1/$2.lease\"; p=\"$1/$2.pid\"; c=\"$1/$2.cancelled\"; gd_start $$ || exit 1; echo \"$$ $gd_st\" > \"$p.tmp\" && mv -f \"$p.tmp\" \"$p\" || exit 1; while :; do if [ -e \"$c\" ]; then rm -f \"$f\" \"$p\" \"$c\"; exit 0; fi; dl=; read -r dl 2>/dev/null < \"$f\"; case \"$dl\" in ''|*[!0-9]*) break;; esac; gd_up || break; [ \"$u\" -ge \"$dl\" ] && break; gd_n=$((dl - u)); [ \"$gd_n\" -le {WATCH_MAX_S} ] || gd_n={WATCH_MAX_S}; sleep \"$gd_n\"; done; if [ -e \"$c\" ]; then rm -f \"$f\" \"$p\" \"$c\"; exit 0; fi; rm -f \"$p\"; timeout -k 5 {undo_s} sh -c {}; rm -f \"$f\" \"$c\"",
        q(undo)
    );
    let w = q(&watcher);
    LeasePlan {
        duration,
        arm: format!(
            "{files}; {helpers}; gd_up || {{ echo 'cannot read /proc/uptime (the lease clock): refusing to arm' >&2; exit 3; }}; if gd_watcher; then echo \"a watcher for lease $n already runs (pid $w)\" >&2; exit 3; fi; rm -f \"$c\" \"$p\"; {write}; \
gd_init=; read -r gd_init 2>/dev/null < /proc/1/comm; if [ \"$gd_uid\" = 0 ] && [ \"$gd_init\" = systemd ] && command -v systemd-run >/dev/null 2>&1 && systemd-run --quiet --no-ask-password --collect --unit=\"$n\" -- sh -c {w} gameday-lease \"$gd\" \"$n\"; then how=systemd-run; \
elif command -v setsid >/dev/null 2>&1; then setsid nohup sh -c {w} gameday-lease \"$gd\" \"$n\" </dev/null >/dev/null 2>&1 & how=setsid; \
else how='no setsid on PATH'; fi; \
i=0; until gd_watcher || [ $i -ge 20 ]; do sleep 0.1; i=$((i+1)); done; \
if gd_watcher; then echo \"lease armed: $how, watcher pid $w\"; else : > \"$c\"; echo \"lease watcher is not running ($how): not armed\" >&2; exit 3; fi"
        ),
        renew: format!(
            "{files}; {helpers}; [ ! -e \"$c\" ] || {{ echo 'lease was cancelled: not renewing' >&2; exit 3; }}; gd_watcher || {{ echo 'lease watcher is gone (fired or killed): the host may have reverted the fault' >&2; exit 3; }}; {write}; [ ! -e \"$c\" ] && gd_watcher || {{ echo 'lease watcher stopped while renewing: the host may have reverted the fault' >&2; exit 3; }}"
        ),
        // The tombstone first (a watcher that outlives this still exits without undoing, and
        // renewals refuse), then SIGKILL to the watcher: once `kill` succeeds it runs no more of
        // its own code (an undo it had already started runs on as its own process), so its
        // files go at once, without waiting for it to be scheduled and exit (on a loaded host
        // that wait was a `sleep` per lease in every halt). Removing the pid file also ends any
        // claim of a dying watcher: `gd_watcher` reads the file, so the next arm of the same lease
        // (the next expansion round) is not refused by it. A watcher that cannot be killed (not
        // ours to signal) keeps the tombstone, which stops it at its next look.
        cancel: format!(
            "{files}; {helpers}; : > \"$c\" || exit 3; if gd_watcher && ! kill -KILL \"$w\" 2>/dev/null && gd_watcher; then echo \"lease watcher $w could not be ended; the tombstone stops it within {WATCH_MAX_S} s\" >&2; else rm -f \"$f\" \"$p\" \"$c\"; fi"
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::target::Host;
    use crate::target::local::LocalHost;
    use std::path::{Path, PathBuf};
    use std::process::{Command, Stdio};

    /// Runs `c` with `sh -c`: exit status, stdout, stderr.
    fn run(c: &str) -> (Option<i32>, String, String) {
        let o = Command::new("sh").arg("-c").arg(c).output().unwrap();
        (
            o.status.code(),
            String::from_utf8_lossy(&o.stdout).into_owned(),
            String::from_utf8_lossy(&o.stderr).into_owned(),
        )
    }

    fn sh(c: &str) -> Option<i32> {
        run(c).0
    }

    fn wait_for(p: &Path, present: bool, limit: Duration) -> bool {
        let start = std::time::Instant::now();
        while start.elapsed() < limit {
            if p.exists() == present {
                return true;
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        p.exists() == present
    }

    /// gameday's private directory on this machine, where the lease files live.
    fn gd() -> PathBuf {
        // SAFETY: getuid cannot fail and touches no memory.
        PathBuf::from(format!("/tmp/gameday-{}", unsafe { libc::getuid() }))
    }

    /// A lease name unique to this test process and `what`.
    fn lease_name(what: &str) -> String {
        format!("gameday-test-{}-{what}", std::process::id())
    }

    fn file(name: &str, ext: &str) -> PathBuf {
        gd().join(format!("{name}.{ext}"))
    }

    /// Running and not a zombie, as /proc says.
    fn alive(pid: &str) -> bool {
        std::fs::read_to_string(format!("/proc/{}/stat", pid.trim())).is_ok_and(|s| {
            s.rsplit(')')
                .next()
                .is_some_and(|r| !matches!(r.trim_start().chars().next(), Some('Z' | 'X')))
        })
    }

    /// The process `pid` has ended (or is a zombie) within 5 s: `cancel` kills the watcher and
    /// returns without waiting for the kernel to finish it.
    fn gone(pid: &str) -> bool {
        let deadline = std::time::Instant::now() + Duration::from_secs(5);
        while alive(pid) {
            if std::time::Instant::now() > deadline {
                return false;
            }
            std::thread::yield_now();
        }
        true
    }

    /// The watcher's pid from its pid file (`PID START`).
    fn watcher_pid(name: &str) -> String {
        let text = std::fs::read_to_string(file(name, "pid")).unwrap_or_default();
        text.split_whitespace()
            .next()
            .unwrap_or_default()
            .to_string()
    }

    fn touch(p: &Path) -> String {
        format!("touch {}", q(&p.display().to_string()))
    }

    /// A real watcher on this machine (no systemd here): arm proves it runs, it fires after the
    /// deadline and not before a renewal, a fired lease cannot be renewed and leaves no files, and
    /// a cancelled lease never fires and leaves no files.
    #[test]
    fn lease_fires_renews_and_cancels() {
        let dir = tempfile::tempdir().unwrap();
        let fired = dir.path().join("fired");
        let name = lease_name("fire");
        let l = plan(
            &name,
            &touch(&fired),
            Duration::from_secs(1),
            Duration::from_secs(5),
        );
        let (code, out, err) = run(&l.arm);
        assert_eq!(code, Some(0), "{err}");
        let pid = watcher_pid(&name);
        assert!(
            out.contains(&format!("watcher pid {}", pid.trim())),
            "{out}"
        );
        assert!(alive(&pid), "the armed watcher {pid} is not running");
        assert_eq!(sh(&l.renew), Some(0));
        assert!(
            wait_for(&fired, true, Duration::from_secs(10)),
            "lease never fired"
        );
        assert_eq!(sh(&l.renew), Some(3), "renewing a fired lease must fail");
        assert!(wait_for(
            &file(&name, "lease"),
            false,
            Duration::from_secs(5)
        ));
        assert!(!file(&name, "pid").exists());

        let kept = dir.path().join("kept");
        let name = lease_name("cancel");
        let c = plan(
            &name,
            &touch(&kept),
            Duration::from_secs(1),
            Duration::from_secs(5),
        );
        assert_eq!(sh(&c.arm), Some(0));
        let pid = watcher_pid(&name);
        assert_eq!(sh(&c.cancel), Some(0));
        assert!(gone(&pid), "the cancelled watcher still runs");
        for ext in ["lease", "pid", "cancelled"] {
            assert!(!file(&name, ext).exists(), "cancel left .{ext} behind");
        }
        assert!(
            !wait_for(&kept, true, Duration::from_secs(3)),
            "a cancelled lease fired"
        );
    }

    /// Without setsid the watcher cannot start detached: arm must say so instead of "armed".
    #[test]
    fn arm_fails_without_setsid_on_path() {
        let bin = tempfile::tempdir().unwrap();
        for d in ["/usr/local/bin", "/usr/bin", "/bin", "/usr/sbin", "/sbin"] {
            let Ok(entries) = std::fs::read_dir(d) else {
                continue;
            };
            for e in entries.flatten() {
                let n = e.file_name();
                let to = bin.path().join(&n);
                if n != "setsid" && !to.exists() {
                    std::os::unix::fs::symlink(e.path(), to).unwrap();
                }
            }
        }
        let dir = tempfile::tempdir().unwrap();
        let fired = dir.path().join("fired");
        let name = lease_name("nosetsid");
        let l = plan(
            &name,
            &touch(&fired),
            Duration::from_secs(1),
            Duration::from_secs(5),
        );
        let o = Command::new("sh")
            .arg("-c")
            .arg(&l.arm)
            .env("PATH", bin.path())
            .output()
            .unwrap();
        let err = String::from_utf8_lossy(&o.stderr);
        assert_eq!(o.status.code(), Some(3), "{err}");
        assert!(err.contains("not armed"), "{err}");
        assert!(!file(&name, "pid").exists());
        assert_eq!(
            sh(&l.renew),
            Some(3),
            "a lease that was never armed cannot be renewed"
        );
        assert!(!wait_for(&fired, true, Duration::from_secs(3)));
        assert_eq!(sh(&l.cancel), Some(0));
    }

    /// A watcher killed on the host (OOM killer, a careless pkill) makes the next renewal fail,
    /// even though its deadline file is still there.
    #[test]
    fn renew_fails_once_the_watcher_is_killed() {
        let name = lease_name("killed");
        let l = plan(
            &name,
            "true",
            Duration::from_secs(60),
            Duration::from_secs(5),
        );
        assert_eq!(sh(&l.arm), Some(0));
        assert_eq!(sh(&l.renew), Some(0));
        let pid = watcher_pid(&name);
        assert!(alive(&pid));
        assert_eq!(sh(&format!("kill -KILL {}", pid.trim())), Some(0));
        let start = std::time::Instant::now();
        while alive(&pid) && start.elapsed() < Duration::from_secs(5) {
            std::thread::sleep(Duration::from_millis(50));
        }
        assert!(!alive(&pid), "SIGKILL did not stop the watcher");
        assert!(
            file(&name, "lease").exists(),
            "the deadline file alone proves nothing"
        );
        let (code, _, err) = run(&l.renew);
        assert_eq!(code, Some(3), "{err}");
        assert!(err.contains("watcher is gone"), "{err}");
        assert_eq!(sh(&l.cancel), Some(0));
        assert!(
            !file(&name, "lease").exists(),
            "cancel clears a dead watcher's files"
        );
    }

    /// A watcher that `cancel` may not signal (another user's process: here a root process
    /// named by a lease of `nobody`) keeps its tombstone and its files, and the cancel says why:
    /// removing them would leave a live watcher with no tombstone to stop it. Needs root and
    /// `setpriv` (util-linux) to run the cancel as `nobody`; skipped otherwise.
    #[test]
    fn a_watcher_that_cannot_be_killed_keeps_its_tombstone() {
        // SAFETY: geteuid cannot fail and touches no memory.
        if unsafe { libc::geteuid() } != 0 || sh("command -v setpriv >/dev/null") != Some(0) {
            println!("skipped: needs root and setpriv to run the cancel as another user");
            return;
        }
        let nobody = 65534;
        let dir = PathBuf::from(format!("/tmp/gameday-{nobody}"));
        if !dir.is_dir() {
            std::fs::create_dir(&dir).unwrap();
        }
        // The private directory of `nobody`, as its own arm would have made it.
        assert_eq!(
            sh(&format!(
                "chown {nobody}:{nobody} {0} && chmod 700 {0}",
                dir.display()
            )),
            Some(0)
        );
        let mut root = Command::new("sleep").arg("60").spawn().unwrap();
        let pid = root.id().to_string();
        let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap();
        let start = stat
            .rsplit(')')
            .next()
            .unwrap()
            .split_whitespace()
            .nth(19)
            .unwrap()
            .to_string();
        let name = lease_name("unkillable");
        let l = plan(
            &name,
            "true",
            Duration::from_secs(60),
            Duration::from_secs(5),
        );
        let f = |ext: &str| dir.join(format!("{name}.{ext}"));
        std::fs::write(f("pid"), format!("{pid} {start}\n")).unwrap();
        std::fs::write(f("lease"), "999999999\n").unwrap();
        let o = Command::new("setpriv")
            .args([
                "--reuid=65534",
                "--regid=65534",
                "--clear-groups",
                "sh",
                "-c",
            ])
            .arg(&l.cancel)
            .current_dir("/")
            .output()
            .unwrap();
        let err = String::from_utf8_lossy(&o.stderr).into_owned();
        let kept: Vec<bool> = ["cancelled", "lease", "pid"]
            .iter()
            .map(|e| f(e).exists())
            .collect();
        let still = alive(&pid);
        let _ = root.kill();
        let _ = root.wait();
        for ext in ["cancelled", "lease", "pid"] {
            let _ = std::fs::remove_file(f(ext));
        }
        assert_eq!(o.status.code(), Some(0), "the tombstone is in place: {err}");
        assert!(err.contains("could not be ended"), "{err}");
        assert!(still, "the root process was ended by nobody's cancel");
        assert_eq!(
            kept,
            [true, true, true],
            "tombstone, deadline and pid file are kept"
        );
    }

    /// The watcher is known by its pid AND its start time (builtins only): a live process that
    /// got the watcher's pid, or any other live process named in the pid file, is not the
    /// watcher; a pid file of an older gameday (the pid alone) is still checked by the lease
    /// name in the process's argv.
    #[test]
    fn the_watcher_is_known_by_its_pid_and_start_time() {
        let name = lease_name("identity");
        let l = plan(
            &name,
            "true",
            Duration::from_secs(60),
            Duration::from_secs(5),
        );
        assert_eq!(sh(&l.arm), Some(0));
        let text = std::fs::read_to_string(file(&name, "pid")).unwrap();
        let fields: Vec<&str> = text.split_whitespace().collect();
        assert_eq!(fields.len(), 2, "pid and start time: {text:?}");
        let stat = std::fs::read_to_string(format!("/proc/{}/stat", fields[0])).unwrap();
        let start = stat.rsplit(')').next().unwrap().split_whitespace().nth(19);
        assert_eq!(start, Some(fields[1]), "field 22 of /proc/PID/stat");
        assert_eq!(sh(&l.renew), Some(0));
        // The same pid with another start time (a reused pid): not the watcher.
        std::fs::write(file(&name, "pid"), format!("{} 1\n", fields[0])).unwrap();
        let (code, _, err) = run(&l.renew);
        assert_eq!(code, Some(3), "{err}");
        assert!(err.contains("watcher is gone"), "{err}");
        // The old form (pid alone) naming a live process that is not a watcher (this test):
        // refused by the lease name check on its argv.
        std::fs::write(file(&name, "pid"), format!("{}\n", std::process::id())).unwrap();
        let (code, _, err) = run(&l.renew);
        assert_eq!(code, Some(3), "{err}");
        // The old form naming the real watcher: its argv carries the lease name.
        std::fs::write(file(&name, "pid"), format!("{}\n", fields[0])).unwrap();
        assert_eq!(sh(&l.renew), Some(0), "a pid file of an older gameday");
        std::fs::write(file(&name, "pid"), &text).unwrap();
        assert_eq!(sh(&l.cancel), Some(0));
        assert!(gone(fields[0]), "cancel ends the watcher");
        for ext in ["lease", "pid", "cancelled"] {
            assert!(!file(&name, ext).exists(), "cancel left .{ext} behind");
        }
    }

    /// The deadline is in seconds of uptime (monotonic), lease + 1 s ahead.
    #[test]
    fn deadline_is_on_the_monotonic_clock() {
        let name = lease_name("clock");
        let l = plan(
            &name,
            "true",
            Duration::from_secs(30),
            Duration::from_secs(5),
        );
        assert_eq!(sh(&l.arm), Some(0));
        let deadline: u64 = std::fs::read_to_string(file(&name, "lease"))
            .unwrap()
            .trim()
            .parse()
            .unwrap();
        let up: u64 = std::fs::read_to_string("/proc/uptime")
            .unwrap()
            .split('.')
            .next()
            .unwrap()
            .parse()
            .unwrap();
        assert_eq!(sh(&l.cancel), Some(0));
        let ahead = deadline.checked_sub(up);
        assert!(
            ahead.is_some_and(|a| (29..=31).contains(&a)),
            "deadline {deadline} vs uptime {up}"
        );
    }

    /// No readable monotonic clock: the lease is not armed, no watcher starts.
    #[test]
    fn arm_refuses_without_uptime() {
        let name = lease_name("noclock");
        let l = plan(
            &name,
            "true",
            Duration::from_secs(30),
            Duration::from_secs(5),
        );
        let arm = l.arm.replace("/proc/uptime", "/nonexistent/uptime");
        let (code, _, err) = run(&arm);
        assert_eq!(code, Some(3), "{err}");
        assert!(err.contains("lease clock"), "{err}");
        assert!(!file(&name, "pid").exists());
        assert!(!file(&name, "lease").exists());
    }

    /// The race, in its bad order: a renewal that passed its checks writes its deadline right
    /// after the cancel. The tombstone wins: the watcher exits without undoing, and any renewal
    /// after the cancel is refused.
    #[test]
    fn a_late_renewal_cannot_revive_a_cancelled_lease() {
        let dir = tempfile::tempdir().unwrap();
        let fired = dir.path().join("fired");
        let name = lease_name("race");
        let l = plan(
            &name,
            &touch(&fired),
            Duration::from_secs(1),
            Duration::from_secs(5),
        );
        assert_eq!(sh(&l.arm), Some(0));
        let pid = watcher_pid(&name);
        let deadline = file(&name, "lease");
        let mut cancel = Command::new("sh")
            .arg("-c")
            .arg(&l.cancel)
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        // The cancel has taken effect (tombstone written, or the deadline removed).
        let start = std::time::Instant::now();
        while !file(&name, "cancelled").exists()
            && deadline.exists()
            && start.elapsed() < Duration::from_secs(5)
        {
            std::thread::yield_now();
        }
        // The late renewal's write: an already expired deadline, the worst it could leave.
        std::fs::write(&deadline, "0\n").unwrap();
        assert_eq!(cancel.wait().unwrap().code(), Some(0));
        assert_eq!(
            sh(&l.renew),
            Some(3),
            "a renewal after the cancel must be refused"
        );
        assert!(
            !wait_for(&fired, true, Duration::from_secs(3)),
            "a renewal revived the cancelled lease and it fired"
        );
        assert!(!alive(&pid));
        let _ = std::fs::remove_file(&deadline);
    }

    /// Leases on the local host: plain `sh -c` through LocalHost. The watcher is detached from the
    /// command's output and process group, so a timeout that kills the arming command's whole
    /// group leaves it running.
    #[tokio::test]
    async fn local_lease_survives_the_group_kill_of_a_timed_out_command() {
        let dir = tempfile::tempdir().unwrap();
        let fired = dir.path().join("fired");
        let name = lease_name("local");
        let l = plan(
            &name,
            &touch(&fired),
            Duration::from_secs(60),
            Duration::from_secs(5),
        );
        let h = LocalHost::new();
        let armed = h
            .exec(&format!("{}; sleep 30", l.arm), Duration::from_secs(2))
            .await;
        assert_eq!(armed.exit, None, "the arming command timed out: {armed:?}");
        let pid = watcher_pid(&name);
        assert!(alive(&pid), "the group kill took the watcher down");
        let renewed = h.exec(&l.renew, Duration::from_secs(10)).await;
        assert_eq!(renewed.exit, Some(0), "{renewed:?}");
        let cancelled = h.exec(&l.cancel, Duration::from_secs(10)).await;
        assert_eq!(cancelled.exit, Some(0), "{cancelled:?}");
        assert!(!alive(&pid));
        assert!(!fired.exists());
        // A plain arm returns promptly: the watcher holds none of the command's output.
        let l = plan(
            &name,
            "true",
            Duration::from_secs(60),
            Duration::from_secs(5),
        );
        let armed = h.exec(&l.arm, Duration::from_secs(10)).await;
        assert_eq!(armed.exit, Some(0), "{armed:?}");
        assert_eq!(
            h.exec(&l.cancel, Duration::from_secs(10)).await.exit,
            Some(0)
        );
    }

    /// The watcher gives the undo the fault's own timeout, rounded up to whole seconds.
    #[test]
    fn the_lease_undo_gets_the_fault_timeout() {
        let l = plan("n", "u", Duration::from_secs(60), Duration::from_secs(7));
        assert!(l.arm.contains("timeout -k 5 7 sh -c"), "{}", l.arm);
        let l = plan(
            "n",
            "u",
            Duration::from_secs(60),
            Duration::from_millis(1500),
        );
        assert!(l.arm.contains("timeout -k 5 2 sh -c"), "{}", l.arm);
    }
}
