//! Dead-man leases: before a fault is injected, its undo is armed on the host itself, so the host
//! reverts the fault if the console dies or the link drops.
//!
//! Mechanism: a deadline file `/tmp/gameday-<run>-<fault>.lease` holds a UNIX time. A watcher
//! (`sh` loop, one check a second) runs the undo once the time has passed. The console renews by
//! rewriting the deadline (one small atomic write per renewal, the same everywhere) and cancels by
//! removing the file, which makes the watcher exit without undoing. The watcher is detached from
//! the SSH session: `systemd-run --unit=gameday-<run>-<fault>` when systemd is PID 1 (so logind's
//! KillUserProcesses cannot reap it), else `setsid nohup`. A missing or corrupt deadline while the
//! watcher runs counts as expired: when in doubt, revert.

use std::time::Duration;

use super::kinds::q;

/// Extra time the lease's own undo gets, beyond the fault's command timeout.
const UNDO_LIMIT_S: u64 = 60;

/// The commands of one lease on one host.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LeasePlan {
    pub duration: Duration,
    /// Writes the deadline and starts the detached watcher.
    pub arm: String,
    /// Pushes the deadline forward; fails when the lease already fired or was cancelled.
    pub renew: String,
    /// Removes the deadline: the watcher exits without undoing.
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

/// The lease for `undo`, named `tag` (from [`name`], already restricted to safe chars).
pub fn plan(tag: &str, undo: &str, duration: Duration) -> LeasePlan {
    let secs = duration.as_secs().max(1);
    // "$f": the deadline file in the private per-user directory (never a bare /tmp path that a
    // local user could pre-plant as a symlink for a root-run write to follow).
    let f = format!("{}; f=\"$gd\"/{tag}.lease", super::kinds::PRIVATE_DIR);
    // `date +%s` counts whole seconds: one more keeps the lease from firing early (never late
    // by more than that second plus the watcher's one-second poll).
    let write = "now=$(date +%s) && echo $((now + SECS)) > \"$f.tmp\" && mv -f \"$f.tmp\" \"$f\""
        .replace("SECS", &(secs + 1).to_string());
    // The watcher gets the file as $1, so nothing is spliced into its own quoted text.
    let watcher = format!(
        "while :; do dl=$(cat \"$1\" 2>/dev/null) || exit 0; case \"$dl\" in ''|*[!0-9]*) break;; esac; [ \"$(date +%s)\" -ge \"$dl\" ] && break; sleep 1; done; rm -f \"$1\"; timeout -k 5 {UNDO_LIMIT_S} sh -c {}",
        q(undo)
    );
    let w = q(&watcher);
    let unit = q(tag);
    LeasePlan {
        duration,
        arm: format!(
            "{f}; {write} || exit 3; if [ \"$(cat /proc/1/comm 2>/dev/null)\" = systemd ] && command -v systemd-run >/dev/null 2>&1; then systemd-run --quiet --collect --unit={unit} -- sh -c {w} gameday-lease \"$f\" && echo 'lease: systemd-run'; else setsid nohup sh -c {w} gameday-lease \"$f\" </dev/null >/dev/null 2>&1 & echo 'lease: setsid'; fi"
        ),
        renew: format!(
            "{f}; [ -e \"$f\" ] || {{ echo 'lease is gone (fired or cancelled): the host may have reverted the fault' >&2; exit 3; }}; {write}"
        ),
        cancel: format!("{f}; rm -f \"$f\""),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::Path;
    use std::process::Command;

    fn sh(c: &str) -> Option<i32> {
        Command::new("sh")
            .arg("-c")
            .arg(c)
            .stderr(std::process::Stdio::null())
            .status()
            .unwrap()
            .code()
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

    /// A real watcher on this machine (no systemd here): it fires after the deadline, not before
    /// a renewal, and a cancelled lease never fires.
    #[test]
    fn lease_fires_renews_and_cancels() {
        let dir = tempfile::tempdir().unwrap();
        let fired = dir.path().join("fired");
        let undo = format!("touch {}", q(&fired.display().to_string()));
        let pid = std::process::id();
        let l = plan(
            &format!("gameday-test-{pid}-fire"),
            &undo,
            Duration::from_secs(1),
        );
        assert_eq!(sh(&l.arm), Some(0));
        assert_eq!(sh(&l.renew), Some(0));
        assert!(
            wait_for(&fired, true, Duration::from_secs(10)),
            "lease never fired"
        );
        assert_eq!(sh(&l.renew), Some(3), "renewing a fired lease must fail");

        let kept = dir.path().join("kept");
        let c = plan(
            &format!("gameday-test-{pid}-cancel"),
            &format!("touch {}", q(&kept.display().to_string())),
            Duration::from_secs(1),
        );
        assert_eq!(sh(&c.arm), Some(0));
        assert_eq!(sh(&c.cancel), Some(0));
        assert!(
            !wait_for(&kept, true, Duration::from_secs(3)),
            "a cancelled lease fired"
        );
    }
}
