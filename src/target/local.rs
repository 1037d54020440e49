//! The `local` transport: `sh -c` on this machine, in its own process group so that a timeout
//! kills the whole tree, not just the shell.

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::Duration;

use tokio::process::Command;
use tokio::time::Instant;

use super::outcome::CommandOutcome;
use super::{BoxFuture, CappedOutput, Host};

#[derive(Debug, Default)]
pub struct LocalHost {
    _private: (),
}

impl LocalHost {
    pub fn new() -> Self {
        LocalHost::default()
    }
}

impl Host for LocalHost {
    fn name(&self) -> &str {
        "local"
    }

    fn exec<'a>(&'a self, command: &'a str, timeout: Duration) -> BoxFuture<'a, CommandOutcome> {
        Box::pin(run(command, timeout, None))
    }

    /// A local fault outlives a killed console just as a remote one does, so it gets the same
    /// detached dead-man watcher.
    fn leases(&self) -> bool {
        true
    }
}

/// As [`Host::exec`] on the local host, with `GAMEDAY_RUN=<run>/<token>` ([`RUN_ENV`]) in the
/// environment of the command and of everything it starts, so that `gameday recover` of a run
/// that died can find and end what a command still running at its death left
/// ([`end_left_running`]), even a process that left the group.
pub async fn exec_marked(
    command: &str,
    timeout: Duration,
    run_id: &str,
    token: u64,
) -> CommandOutcome {
    run(command, timeout, Some(&format!("{run_id}/{token}"))).await
}

/// The environment variable that names the run a local command was started by.
pub const RUN_ENV: &str = "GAMEDAY_RUN";

/// Ends (SIGKILL) every process of this user that carries `GAMEDAY_RUN=<run_id>/<token>` in its
/// environment with a token `finished` does not name: what the commands a run that died was still
/// running left behind (a command that ended may have left a daemon meant to run on). Each
/// process is held by a pidfd while its environment is read and the signal sent, so a pid reused
/// meanwhile is never signalled. Returns the pid and name of each process ended. Never this
/// process itself.
pub fn end_left_running(run_id: &str, finished: &dyn Fn(&str) -> bool) -> Vec<(i32, String)> {
    let wanted = format!("{RUN_ENV}={run_id}/");
    let own = std::process::id();
    let mut ended = Vec::new();
    let Ok(dir) = std::fs::read_dir("/proc") else {
        return ended;
    };
    for entry in dir.flatten() {
        let Some(pid) = entry
            .file_name()
            .to_str()
            .and_then(|n| n.parse::<i32>().ok())
            .filter(|p| *p > 1 && u32::try_from(*p).ok() != Some(own))
        else {
            continue;
        };
        // SAFETY: pidfd_open takes a pid and flags, and returns a new descriptor or -1.
        let fd = unsafe { libc::syscall(libc::SYS_pidfd_open, pid, 0) };
        let Ok(fd) = i32::try_from(fd) else { continue };
        if fd < 0 {
            continue;
        }
        // SAFETY: fd was just returned by pidfd_open and is owned here alone.
        let fd = unsafe { <std::os::fd::OwnedFd as std::os::fd::FromRawFd>::from_raw_fd(fd) };
        let carries = std::fs::read(format!("/proc/{pid}/environ")).is_ok_and(|env| {
            env.split(|b| *b == 0).any(|v| {
                v.strip_prefix(wanted.as_bytes())
                    .and_then(|t| std::str::from_utf8(t).ok())
                    .is_some_and(|token| !finished(token))
            })
        });
        if !carries {
            continue;
        }
        let name = std::fs::read_to_string(format!("/proc/{pid}/comm"))
            .map(|c| c.trim().to_string())
            .unwrap_or_default();
        use std::os::fd::AsRawFd;
        // SAFETY: pidfd_send_signal on our pidfd, no siginfo, no flags.
        let sent = unsafe {
            libc::syscall(
                libc::SYS_pidfd_send_signal,
                fd.as_raw_fd(),
                libc::SIGKILL,
                std::ptr::null::<libc::siginfo_t>(),
                0,
            )
        };
        if sent == 0 {
            ended.push((pid, name));
        }
    }
    ended
}

/// How long output is still read after the shell exits, for pipes a background child keeps open.
const DRAIN_GRACE: Duration = Duration::from_millis(200);

/// The command's whole process group is SIGKILLed when its future is dropped before it ended (a
/// halt, an aborted task): dropping a tokio `Child` kills the direct child alone.
struct GroupOnDrop(Option<libc::pid_t>);

impl Drop for GroupOnDrop {
    fn drop(&mut self) {
        kill_group(self.0.and_then(|p| u32::try_from(p).ok()));
    }
}

/// `shutil.which`: a path with a `/` as it is (`~/` expanded), else the first executable on PATH.
pub fn which(program: &str) -> Option<PathBuf> {
    use std::os::unix::fs::PermissionsExt;
    let executable = |p: &Path| {
        p.metadata()
            .is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
    };
    let program = match (program.strip_prefix("~/"), std::env::var_os("HOME")) {
        (Some(rest), Some(home)) => Path::new(&home).join(rest).display().to_string(),
        _ => program.to_string(),
    };
    if program.contains('/') {
        let p = PathBuf::from(&program);
        return executable(&p).then_some(p);
    }
    std::env::split_paths(&std::env::var_os("PATH")?)
        .map(|d| d.join(&program))
        .find(|p| executable(p))
}

/// Where coreutils' `timeout` is, looked up once on PATH: local commands run under it, so they
/// are bounded on this machine even when gameday is killed (as on an SSH host). Without it, the
/// bound is gameday's own timer alone.
fn timeout_program() -> Option<&'static std::path::Path> {
    static FOUND: std::sync::OnceLock<Option<std::path::PathBuf>> = std::sync::OnceLock::new();
    FOUND.get_or_init(|| which("timeout")).as_deref()
}

async fn run(command: &str, timeout: Duration, marker: Option<&str>) -> CommandOutcome {
    let started = Instant::now();
    let elapsed_ms = || u64::try_from(started.elapsed().as_millis()).unwrap_or(u64::MAX);
    // The host-side bound is a second past gameday's own, so that gameday's timer (which kills
    // the whole group and reports "timed out") is what ends a command while gameday lives.
    let mut sh = match timeout_program() {
        Some(t) => {
            let mut c = Command::new(t);
            c.arg("-k")
                .arg(super::KILL_AFTER_S.to_string())
                .arg(super::bound_secs(timeout).saturating_add(1).to_string())
                .arg("sh");
            c
        }
        None => Command::new("sh"),
    };
    if let Some(marker) = marker {
        sh.env(RUN_ENV, marker);
    }
    let mut child = match sh
        .arg("-c")
        .arg(command)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .process_group(0)
        .kill_on_drop(true)
        .spawn()
    {
        Ok(c) => c,
        Err(e) => {
            return CommandOutcome {
                error: Some(format!("cannot start sh: {e}")),
                ms: elapsed_ms(),
                ..Default::default()
            };
        }
    };
    let pgid = child.id();
    let mut on_drop = GroupOnDrop(pgid.and_then(|p| libc::pid_t::try_from(p).ok()));
    let mut stdout = child.stdout.take();
    let mut stderr = child.stderr.take();
    // Outside the timed future so that a timed-out command still shows what it printed.
    let mut out = CappedOutput::new();
    let mut err = CappedOutput::new();
    let collect = async {
        // Both pipes are read to their end through the cap, so the child never blocks on a full
        // pipe and memory stays at the cap however much it prints.
        let read_out = async {
            if let Some(s) = stdout.as_mut() {
                let _ = out.read_from(s).await;
            }
        };
        let read_err = async {
            if let Some(s) = stderr.as_mut() {
                let _ = err.read_from(s).await;
            }
        };
        let mut reads = std::pin::pin!(async { tokio::join!(read_out, read_err) });
        let mut reads_done = false;
        let status = loop {
            tokio::select! {
                _ = &mut reads, if !reads_done => reads_done = true,
                status = child.wait() => break status,
            }
        };
        // The shell has exited. A background child it left (`daemon &`) may still hold the
        // pipes: take what is already there, but never wait on it (nor kill it) past a moment.
        if !reads_done {
            let _ = tokio::time::timeout(DRAIN_GRACE, &mut reads).await;
        }
        status
    };
    let waited = tokio::time::timeout(timeout, collect).await;
    // Ended (or timed out, killed below): a daemon the command left in the background on a
    // normal end is meant to run on.
    on_drop.0 = None;
    if waited.is_err() {
        kill_group(pgid);
    }
    let (stdout, stderr) = (out.into_text(), err.into_text());
    match waited {
        Ok(Ok(status)) => CommandOutcome {
            exit: status.code(),
            stdout,
            stderr,
            ms: elapsed_ms(),
            error: match (status.code(), signal_of(&status)) {
                (None, Some(sig)) => Some(format!("killed by signal {sig}")),
                (None, None) => Some("no exit status".into()),
                _ => None,
            },
        },
        Ok(Err(e)) => CommandOutcome {
            exit: None,
            stdout,
            stderr,
            ms: elapsed_ms(),
            error: Some(format!("wait failed: {e}")),
        },
        Err(_) => CommandOutcome {
            exit: None,
            stdout,
            stderr,
            ms: elapsed_ms(),
            error: Some(format!("timed out after {}", crate::fmt::duration(timeout))),
        },
    }
}

fn signal_of(status: &std::process::ExitStatus) -> Option<i32> {
    use std::os::unix::process::ExitStatusExt;
    status.signal()
}

/// Kills the command's whole process group: `sh -c 'sleep 100'` must not leave `sleep` behind.
fn kill_group(pgid: Option<u32>) {
    if let Some(pid) = pgid.and_then(|p| libc::pid_t::try_from(p).ok()) {
        // SAFETY: killpg only sends a signal; the group was created for this child by process_group(0).
        unsafe {
            libc::killpg(pid, libc::SIGKILL);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::super::OUTPUT_CAP;
    use super::*;

    /// `restart: "daemon &"`: the shell exits at once while its child keeps the pipes. The
    /// command is done when the shell is, with its status; the child is left running.
    #[tokio::test]
    async fn a_background_child_holding_the_pipes_does_not_hold_the_command() {
        let dir = tempfile::tempdir().unwrap();
        let pidfile = dir.path().join("pid");
        let h = LocalHost::new();
        let o = h
            .exec(
                &format!("sleep 20 & echo $! > {}; echo started", pidfile.display()),
                Duration::from_secs(10),
            )
            .await;
        assert_eq!(o.exit, Some(0), "{o:?}");
        assert_eq!(o.stdout.trim(), "started");
        let pid = std::fs::read_to_string(&pidfile).unwrap();
        let alive = std::path::Path::new(&format!("/proc/{}", pid.trim())).exists();
        assert!(alive, "the background child was not killed");
        let _ = std::process::Command::new("kill").arg(pid.trim()).status();
    }

    #[tokio::test]
    async fn captures_output_and_status() {
        let h = LocalHost::new();
        let o = h
            .exec("echo out; echo err >&2; exit 3", Duration::from_secs(10))
            .await;
        assert_eq!(o.exit, Some(3));
        assert_eq!(o.stdout.trim(), "out");
        assert_eq!(o.stderr.trim(), "err");
        assert_eq!(o.summary(), "exit 3: err");
    }

    /// 100 MB on stdout: the outcome keeps the head and says how much was cut, and the command
    /// runs to its normal end (it is read to the end, so it never blocks on a full pipe).
    #[tokio::test]
    async fn huge_output_is_capped_and_the_status_kept() {
        let h = LocalHost::new();
        let o = h
            .exec(
                "yes | head -c 100000000; echo done >&2; exit 7",
                Duration::from_secs(120),
            )
            .await;
        assert_eq!(o.exit, Some(7), "{:?}", o.error);
        let marker = format!("… [{} bytes cut]", 100_000_000 - OUTPUT_CAP);
        assert!(o.stdout.ends_with(&marker), "{}", &o.stdout[OUTPUT_CAP..]);
        assert_eq!(o.stdout.len(), OUTPUT_CAP + marker.len());
        assert!(o.stdout.starts_with("y\ny\n"));
        assert_eq!(o.stderr, "done\n");
    }

    /// A command that never stops printing, cut by its timeout: what it printed is kept up to the
    /// cap (memory stays there: see `CappedOutput`), and there is no exit status.
    #[tokio::test]
    async fn endless_output_under_a_timeout_keeps_the_head() {
        let h = LocalHost::new();
        let o = h.exec("yes", Duration::from_millis(500)).await;
        assert_eq!(o.exit, None);
        assert!(o.error.as_deref().unwrap_or("").contains("timed out"));
        let (head, marker) = o.stdout.split_once('…').expect("a cut marker");
        assert_eq!(head.len(), OUTPUT_CAP);
        assert!(head.starts_with("y\ny\n"));
        assert!(marker.ends_with(" bytes cut]"), "{marker}");
    }

    #[tokio::test]
    async fn timeout_kills_the_whole_group_and_leaves_no_status() {
        let dir = tempfile::tempdir().unwrap();
        let pidfile = dir.path().join("pid");
        let cmd = format!("sleep 30 & echo $! > {}; wait", pidfile.display());
        let h = LocalHost::new();
        let o = h.exec(&cmd, Duration::from_millis(300)).await;
        assert_eq!(o.exit, None, "a timed-out command has no exit status");
        assert!(o.error.as_deref().unwrap_or("").contains("timed out"));
        let pid = std::fs::read_to_string(&pidfile).unwrap();
        let stat = format!("/proc/{}/stat", pid.trim());
        // SIGKILL is delivered asynchronously: wait (bounded) for the grandchild to be gone or a zombie.
        let gone = || match std::fs::read_to_string(&stat) {
            Err(_) => true,
            Ok(s) => s
                .rsplit(')')
                .next()
                .is_some_and(|r| r.trim_start().starts_with('Z')),
        };
        for _ in 0..200 {
            if gone() {
                break;
            }
            std::thread::yield_now();
            tokio::task::yield_now().await;
            std::thread::sleep(Duration::from_millis(10));
        }
        assert!(gone(), "the background `sleep` outlived the timeout");
    }
}
