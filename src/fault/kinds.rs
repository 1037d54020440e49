//! The built-in fault kinds: each turns typed, validated parameters into exact inject, undo and
//! verify shell lines.
//!
//! Rules every kind follows:
//! - every parameter goes through [`q`] (shlex `try_quote`) and is never placed inside double
//!   quotes, where single quotes would not protect it; messages name values with `printf '%s'`;
//! - only touch what gameday created: the netem qdisc carries gameday's handle, iptables rules
//!   carry the comment `gameday-<run>-<fault>`, files carry that name; anything else is refused;
//! - an undo is idempotent (the lease, the console and `recover` may all run it) and a verify
//!   fails when it cannot tell (a missing `tc` is not "no qdisc").

use crate::scenario::{Fault, FaultSpec};

use super::FaultPlan;

/// The root qdisc handle gameday's netem uses ("GD"): its mark of ownership.
pub const NETEM_HANDLE: &str = "4744:";

/// Sets `$gd` to gameday's private directory on the host, `/tmp/gameday-<uid>`, creating it
/// mode 700, and refuses to go on unless it is a real directory owned by the running user: lease
/// deadlines and pid files live there, so a planted symlink cannot redirect a root-run write.
pub const PRIVATE_DIR: &str = "gd=/tmp/gameday-$(id -u); mkdir -p -m 700 \"$gd\" 2>/dev/null; [ -d \"$gd\" ] && [ ! -L \"$gd\" ] && [ -O \"$gd\" ] || { echo \"$gd is not a private directory of this user: refusing\" >&2; exit 3; }";

/// What a plan needs to know besides the fault.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PlanContext {
    /// The run id; part of every tag.
    pub run: String,
    /// The SSH port gameday manages the host through; network faults leave it open.
    pub management_port: Option<u16>,
}

/// `gameday-<run>-<fault>`, restricted to `[A-Za-z0-9_-]` so it is safe anywhere.
pub fn tag(ctx: &PlanContext, fault: &str) -> String {
    let raw = format!("gameday-{}-{}", ctx.run, fault);
    raw.chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '-' || c == '_' {
                c
            } else {
                '_'
            }
        })
        .collect()
}

/// Quotes one shell word. Validation keeps NUL out; should one slip through, the word becomes a
/// command that fails instead of one that does something else.
pub fn q(s: &str) -> String {
    match shlex::try_quote(s) {
        Ok(w) => w.into_owned(),
        Err(_) => "'gameday: unquotable parameter refused'".into(),
    }
}

pub fn plan(fault: &Fault, ctx: &PlanContext) -> FaultPlan {
    let tag = tag(ctx, &fault.id);
    match &fault.spec {
        FaultSpec::Command {
            inject,
            rollback,
            verify,
        } => FaultPlan {
            inject: inject.clone(),
            undo: rollback.clone(),
            verify: verify.clone(),
        },
        FaultSpec::Latency {
            interface,
            delay_ms,
            jitter_ms,
        } => {
            let jitter = if *jitter_ms > 0 {
                format!(" {jitter_ms}ms")
            } else {
                String::new()
            };
            netem(interface, &format!("delay {delay_ms}ms{jitter}"))
        }
        FaultSpec::Loss { interface, percent } => netem(interface, &format!("loss {percent}%")),
        FaultSpec::Partition { peer } => partition(peer, &tag, ctx.management_port),
        FaultSpec::Kill {
            process,
            pid_file,
            signal,
            restart,
        } => kill(
            process.as_deref(),
            pid_file.as_deref(),
            signal,
            restart.as_deref(),
        ),
        FaultSpec::StopService { service } => {
            let u = q(service);
            FaultPlan {
                inject: format!(
                    "systemctl is-active --quiet -- {u} || {{ printf '%s is not active: nothing to stop\\n' {u} >&2; exit 3; }}; systemctl stop -- {u}"
                ),
                undo: Some(format!("systemctl start -- {u}")),
                verify: Some(format!("systemctl is-active --quiet -- {u}")),
            }
        }
        FaultSpec::Cpu {
            workers,
            duration_s,
        } => stress(&tag, &format!("--cpu {workers}"), *duration_s),
        FaultSpec::Memory { bytes, duration_s } => stress(
            &tag,
            &format!("--vm 1 --vm-bytes {bytes} --vm-keep"),
            *duration_s,
        ),
        FaultSpec::DiskFill {
            path,
            bytes,
            keep_free_bytes,
        } => disk_fill(path, &tag, *bytes, *keep_free_bytes),
    }
}

fn netem(interface: &str, params: &str) -> FaultPlan {
    let i = q(interface);
    let ours = format!("'qdisc netem {NETEM_HANDLE} '*");
    FaultPlan {
        // A root qdisc with handle 0: is the kernel's default; anything else belongs to someone.
        inject: format!(
            "cur=$(tc qdisc show dev {i} root) || exit 3; case \"$cur\" in ''|'qdisc '*' 0: root'*) ;; *) printf 'root qdisc on %s was not created by gameday (%s): refusing to replace it\\n' {i} \"$cur\" >&2; exit 3;; esac; tc qdisc add dev {i} root handle {NETEM_HANDLE} netem {params}"
        ),
        undo: Some(format!(
            "cur=$(tc qdisc show dev {i} root) || exit 3; case \"$cur\" in {ours}) tc qdisc del dev {i} root;; esac"
        )),
        verify: Some(format!(
            "cur=$(tc qdisc show dev {i} root) || exit 3; case \"$cur\" in {ours}) exit 1;; esac"
        )),
    }
}

fn partition(peer: &str, tag: &str, ssh_port: Option<u16>) -> FaultPlan {
    let ipt = if peer.contains(':') {
        "ip6tables"
    } else {
        "iptables"
    };
    let (p, t) = (q(peer), q(tag));
    let c = format!("-m comment --comment {t}");
    let mut rules = vec![
        format!("INPUT -s {p} {c} -j DROP"),
        format!("OUTPUT -d {p} {c} -j DROP"),
    ];
    if let Some(port) = ssh_port {
        // Inserted after (so above) the DROPs: gameday's own SSH connection is never cut.
        rules.push(format!("INPUT -s {p} -p tcp --dport {port} {c} -j ACCEPT"));
        rules.push(format!("OUTPUT -d {p} -p tcp --sport {port} {c} -j ACCEPT"));
    }
    let add: Vec<String> = rules.iter().map(|r| format!("{ipt} -w -I {r}")).collect();
    let del: Vec<String> = rules
        .iter()
        .rev()
        .map(|r| format!("while {ipt} -w -D {r} 2>/dev/null; do :; done"))
        .collect();
    let check = format!("rules=$({ipt} -w -S) || exit 3; case \"$rules\" in *{t}*) exit 1;; esac");
    FaultPlan {
        inject: format!(
            "rules=$({ipt} -w -S) || exit 3; case \"$rules\" in *{t}*) printf 'rules tagged %s already exist: refusing\\n' {t} >&2; exit 3;; esac; {}",
            add.join(" && ")
        ),
        undo: Some(format!("{}; {check}", del.join("; "))),
        verify: Some(check),
    }
}

fn kill(
    process: Option<&str>,
    pid_file: Option<&str>,
    signal: &str,
    restart: Option<&str>,
) -> FaultPlan {
    let sig = q(signal);
    let (inject, verify) = match (process, pid_file) {
        (Some(name), _) => {
            let n = q(name);
            (
                format!("pkill -{sig} -x -- {n}"),
                Some(format!("pgrep -x -- {n} >/dev/null")),
            )
        }
        (None, Some(file)) => {
            let f = q(file);
            let read = format!(
                "pid=$(cat -- {f}) || exit 3; case \"$pid\" in ''|0|*[!0-9]*) printf '%s does not hold a pid\\n' {f} >&2; exit 3;; esac"
            );
            (
                format!("{read}; kill -s {sig} \"$pid\""),
                Some(format!("{read}; kill -0 \"$pid\"")),
            )
        }
        (None, None) => ("false".into(), None),
    };
    FaultPlan {
        inject,
        undo: restart.map(str::to_string),
        verify: restart.and(verify),
    }
}

/// stress-ng in its own session (so it outlives the channel), its session id in a pid file in the
/// private directory; the undo stops exactly that session's stress-ng processes.
fn stress(tag: &str, args: &str, duration_s: u64) -> FaultPlan {
    let pf = format!("{PRIVATE_DIR}; pf=\"$gd\"/{tag}.stress.pid");
    let only_ours = "-f '^stress-ng'";
    FaultPlan {
        inject: format!(
            "{pf}; [ ! -e \"$pf\" ] || {{ echo \"$pf exists: refusing to start a second stress\" >&2; exit 3; }}; command -v stress-ng >/dev/null || {{ echo 'stress-ng is not installed' >&2; exit 127; }}; setsid stress-ng {args} --timeout {duration_s}s </dev/null >/dev/null 2>&1 & echo $! > \"$pf\""
        ),
        undo: Some(format!(
            "{pf}; [ -e \"$pf\" ] || exit 0; sid=$(cat \"$pf\"); case \"$sid\" in ''|0|*[!0-9]*) echo \"$pf does not hold a pid\" >&2; exit 3;; esac; pkill -TERM -s \"$sid\" {only_ours}; i=0; while pgrep -s \"$sid\" {only_ours} >/dev/null && [ $i -lt 50 ]; do i=$((i+1)); sleep 0.1; done; pkill -KILL -s \"$sid\" {only_ours}; if pgrep -s \"$sid\" {only_ours} >/dev/null; then exit 1; fi; rm -f \"$pf\""
        )),
        verify: Some(format!("{pf}; [ ! -e \"$pf\" ]")),
    }
}

/// A marked file, never bigger than what leaves `keep_free` bytes free.
fn disk_fill(dir: &str, tag: &str, bytes: u64, keep_free: u64) -> FaultPlan {
    let d = q(dir);
    let file = format!("{}/.{tag}.fill", dir.trim_end_matches('/'));
    let f = q(&file);
    let want_k = bytes.div_ceil(1024);
    let keep_k = keep_free.div_ceil(1024);
    FaultPlan {
        inject: format!(
            "[ -d {d} ] || {{ printf '%s is not a directory\\n' {d} >&2; exit 3; }}; [ ! -e {f} ] && [ ! -L {f} ] || {{ printf '%s exists: refusing\\n' {f} >&2; exit 3; }}; avail=$(df -Pk -- {d} | awk 'NR==2 {{print $4}}'); case \"$avail\" in ''|*[!0-9]*) printf 'cannot read the free space of %s\\n' {d} >&2; exit 3;; esac; room=$((avail - {keep_k})); [ \"$room\" -gt 0 ] || {{ printf '%s has less than {keep_k} KiB free: not filling\\n' {d} >&2; exit 3; }}; want={want_k}; [ \"$want\" -le \"$room\" ] || want=$room; fallocate -l \"${{want}}KiB\" -- {f}"
        ),
        undo: Some(format!("rm -f -- {f}")),
        verify: Some(format!("[ ! -e {f} ]")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    fn fault(spec: FaultSpec) -> Fault {
        Fault {
            id: "f1".into(),
            target: "t".into(),
            spec,
            irreversible: false,
            lease: Duration::from_secs(60),
            timeout: Duration::from_secs(30),
        }
    }

    fn ctx() -> PlanContext {
        PlanContext {
            run: "20261123T204222Z-1a2b".into(),
            management_port: Some(2222),
        }
    }

    #[test]
    fn latency_commands_exactly() {
        let p = plan(
            &fault(FaultSpec::Latency {
                interface: "eth0".into(),
                delay_ms: 100,
                jitter_ms: 20,
            }),
            &ctx(),
        );
        assert_eq!(
            p.inject,
            "cur=$(tc qdisc show dev eth0 root) || exit 3; case \"$cur\" in ''|'qdisc '*' 0: root'*) ;; *) printf 'root qdisc on %s was not created by gameday (%s): refusing to replace it\\n' eth0 \"$cur\" >&2; exit 3;; esac; tc qdisc add dev eth0 root handle 4744: netem delay 100ms 20ms"
        );
        assert_eq!(
            p.undo.as_deref(),
            Some(
                "cur=$(tc qdisc show dev eth0 root) || exit 3; case \"$cur\" in 'qdisc netem 4744: '*) tc qdisc del dev eth0 root;; esac"
            )
        );
        assert_eq!(
            p.verify.as_deref(),
            Some(
                "cur=$(tc qdisc show dev eth0 root) || exit 3; case \"$cur\" in 'qdisc netem 4744: '*) exit 1;; esac"
            )
        );
    }

    #[test]
    fn loss_commands_exactly() {
        let p = plan(
            &fault(FaultSpec::Loss {
                interface: "ens3".into(),
                percent: 2.5,
            }),
            &ctx(),
        );
        assert!(
            p.inject
                .ends_with("; tc qdisc add dev ens3 root handle 4744: netem loss 2.5%"),
            "{}",
            p.inject
        );
        assert_eq!(
            p.undo.as_deref(),
            Some(
                "cur=$(tc qdisc show dev ens3 root) || exit 3; case \"$cur\" in 'qdisc netem 4744: '*) tc qdisc del dev ens3 root;; esac"
            )
        );
    }

    #[test]
    fn partition_commands_exactly_with_ssh_exempt() {
        let p = plan(
            &fault(FaultSpec::Partition {
                peer: "10.0.0.0/24".into(),
            }),
            &ctx(),
        );
        let t = "gameday-20261123T204222Z-1a2b-f1";
        assert_eq!(
            p.inject,
            format!(
                "rules=$(iptables -w -S) || exit 3; case \"$rules\" in *{t}*) printf 'rules tagged %s already exist: refusing\\n' {t} >&2; exit 3;; esac; \
iptables -w -I INPUT -s 10.0.0.0/24 -m comment --comment {t} -j DROP && \
iptables -w -I OUTPUT -d 10.0.0.0/24 -m comment --comment {t} -j DROP && \
iptables -w -I INPUT -s 10.0.0.0/24 -p tcp --dport 2222 -m comment --comment {t} -j ACCEPT && \
iptables -w -I OUTPUT -d 10.0.0.0/24 -p tcp --sport 2222 -m comment --comment {t} -j ACCEPT"
            )
        );
        assert_eq!(
            p.undo.as_deref(),
            Some(
                format!(
                    "while iptables -w -D OUTPUT -d 10.0.0.0/24 -p tcp --sport 2222 -m comment --comment {t} -j ACCEPT 2>/dev/null; do :; done; \
while iptables -w -D INPUT -s 10.0.0.0/24 -p tcp --dport 2222 -m comment --comment {t} -j ACCEPT 2>/dev/null; do :; done; \
while iptables -w -D OUTPUT -d 10.0.0.0/24 -m comment --comment {t} -j DROP 2>/dev/null; do :; done; \
while iptables -w -D INPUT -s 10.0.0.0/24 -m comment --comment {t} -j DROP 2>/dev/null; do :; done; \
rules=$(iptables -w -S) || exit 3; case \"$rules\" in *{t}*) exit 1;; esac"
                )
                .as_str()
            )
        );
        assert_eq!(
            p.verify.as_deref(),
            Some(
                format!(
                    "rules=$(iptables -w -S) || exit 3; case \"$rules\" in *{t}*) exit 1;; esac"
                )
                .as_str()
            )
        );
        let v6 = plan(
            &fault(FaultSpec::Partition {
                peer: "fd00::/64".into(),
            }),
            &PlanContext {
                management_port: None,
                ..ctx()
            },
        );
        assert!(v6.inject.contains("ip6tables -w -I INPUT -s fd00::/64 "));
        assert!(!v6.inject.contains("ACCEPT"));
    }

    #[test]
    fn kill_without_restart_has_no_undo() {
        let p = plan(
            &fault(FaultSpec::Kill {
                process: Some("nginx".into()),
                pid_file: None,
                signal: "KILL".into(),
                restart: None,
            }),
            &ctx(),
        );
        assert_eq!(p.inject, "pkill -KILL -x -- nginx");
        assert_eq!(p.undo, None);
        let p = plan(
            &fault(FaultSpec::Kill {
                process: Some("nginx".into()),
                pid_file: None,
                signal: "TERM".into(),
                restart: Some("systemctl start nginx".into()),
            }),
            &ctx(),
        );
        assert_eq!(p.undo.as_deref(), Some("systemctl start nginx"));
        assert_eq!(p.verify.as_deref(), Some("pgrep -x -- nginx >/dev/null"));
    }

    #[test]
    fn tags_are_sanitized() {
        let c = PlanContext {
            run: "a b;$(x)".into(),
            management_port: None,
        };
        assert_eq!(tag(&c, "f-1"), "gameday-a_b___x_-f-1");
    }

    /// Runs the generated lines for real on this machine (no SSH): fill, refuse twice, undo, verify.
    #[test]
    fn disk_fill_runs_and_cleans_up() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("it's $(touch pwned) `x` {a,b}");
        std::fs::create_dir(&path).unwrap();
        let p = plan(
            &fault(FaultSpec::DiskFill {
                path: path.display().to_string(),
                bytes: 1 << 20,
                keep_free_bytes: 1 << 20,
            }),
            &ctx(),
        );
        let sh = |c: &str| {
            std::process::Command::new("sh")
                .arg("-c")
                .arg(c)
                .current_dir(dir.path())
                .stderr(std::process::Stdio::null())
                .status()
                .unwrap()
                .code()
        };
        assert_eq!(sh(&p.inject), Some(0));
        let file = path.join(".gameday-20261123T204222Z-1a2b-f1.fill");
        assert_eq!(std::fs::metadata(&file).unwrap().len(), 1 << 20);
        assert_eq!(sh(&p.inject), Some(3), "a second inject must refuse");
        assert_eq!(sh(p.verify.as_deref().unwrap()), Some(1));
        assert_eq!(sh(p.undo.as_deref().unwrap()), Some(0));
        assert_eq!(
            sh(p.undo.as_deref().unwrap()),
            Some(0),
            "undo is idempotent"
        );
        assert_eq!(sh(p.verify.as_deref().unwrap()), Some(0));
        assert!(!dir.path().join("pwned").exists());
    }

    /// stress-ng for real on this machine: started in its own session, stopped exactly, verified.
    #[test]
    fn cpu_stress_starts_and_is_stopped() {
        if std::process::Command::new("stress-ng")
            .arg("--version")
            .output()
            .is_err()
        {
            eprintln!("skipping: stress-ng is not installed");
            return;
        }
        let c = PlanContext {
            run: format!("t{}", std::process::id()),
            management_port: None,
        };
        let p = plan(
            &Fault {
                id: "cpu".into(),
                ..fault(FaultSpec::Cpu {
                    workers: 1,
                    duration_s: 30,
                })
            },
            &c,
        );
        let sh = |cmd: &str| {
            std::process::Command::new("sh")
                .arg("-c")
                .arg(cmd)
                .stderr(std::process::Stdio::null())
                .status()
                .unwrap()
                .code()
        };
        assert_eq!(sh(&p.inject), Some(0));
        assert_eq!(sh(&p.inject), Some(3), "a second stress must refuse");
        assert_eq!(sh(p.verify.as_deref().unwrap()), Some(1));
        assert_eq!(sh(p.undo.as_deref().unwrap()), Some(0));
        assert_eq!(sh(p.verify.as_deref().unwrap()), Some(0));
        assert_eq!(
            sh(p.undo.as_deref().unwrap()),
            Some(0),
            "undo is idempotent"
        );
    }
}
