//! The `local` transport: `sh -c` on this machine, in its own process group so that a timeout
//! kills the whole tree, not just the shell.

use std::process::Stdio;
use std::time::Duration;

use tokio::io::AsyncReadExt;
use tokio::process::Command;
use tokio::time::Instant;

use super::{BoxFuture, Host, capped};
use crate::event::CommandOutcome;

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
        Box::pin(run(command, timeout))
    }
}

async fn run(command: &str, timeout: Duration) -> CommandOutcome {
    let started = Instant::now();
    let elapsed_ms = || u64::try_from(started.elapsed().as_millis()).unwrap_or(u64::MAX);
    let mut child = match Command::new("sh")
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
    let mut stdout = child.stdout.take();
    let mut stderr = child.stderr.take();
    let collect = async {
        let mut out = Vec::new();
        let mut err = Vec::new();
        let read_out = async {
            if let Some(s) = stdout.as_mut() {
                let _ = s.read_to_end(&mut out).await;
            }
        };
        let read_err = async {
            if let Some(s) = stderr.as_mut() {
                let _ = s.read_to_end(&mut err).await;
            }
        };
        tokio::join!(read_out, read_err);
        let status = child.wait().await;
        (status, out, err)
    };
    match tokio::time::timeout(timeout, collect).await {
        Ok((Ok(status), out, err)) => CommandOutcome {
            exit: status.code(),
            stdout: capped(&out),
            stderr: capped(&err),
            ms: elapsed_ms(),
            error: match (status.code(), signal_of(&status)) {
                (None, Some(sig)) => Some(format!("killed by signal {sig}")),
                (None, None) => Some("no exit status".into()),
                _ => None,
            },
        },
        Ok((Err(e), out, err)) => CommandOutcome {
            exit: None,
            stdout: capped(&out),
            stderr: capped(&err),
            ms: elapsed_ms(),
            error: Some(format!("wait failed: {e}")),
        },
        Err(_) => {
            kill_group(pgid);
            CommandOutcome {
                exit: None,
                ms: elapsed_ms(),
                error: Some(format!(
                    "timed out after {}",
                    crate::scenario::format_duration(timeout)
                )),
                ..Default::default()
            }
        }
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
    use super::*;

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
