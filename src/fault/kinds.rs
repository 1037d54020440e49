//! The built-in fault kinds: each turns typed, validated parameters into exact inject, undo and
//! verify shell lines.
//!
//! Rules every kind follows:
//! - every parameter goes through [`q`] (shlex `try_quote`) and is never placed inside double
//!   quotes, where single quotes would not protect it; messages name values with `printf '%s'`;
//! - an inject checks all its preconditions before it changes anything; a failed (or
//!   uncheckable) precondition exits [`REFUSED_EXIT`] with the reason on stderr, so the engine
//!   knows nothing was changed and runs no undo (an undo of a fault that never went in can hurt:
//!   restarting a unit someone stopped, deleting another run's qdisc);
//! - only touch what this fault created: its netem qdisc carries a handle derived from its tag
//!   ([`netem_handle`]), its iptables rules carry the comment `gameday-<run>-<fault>` (compared
//!   for equality, never as a substring), its files carry that name; anything else is refused;
//! - an undo is idempotent (the lease, the console and `recover` may all run it) and a verify
//!   fails when it cannot tell (a missing `tc` is not "no qdisc"); a zombie is not a process.

use crate::scenario::{Fault, FaultSpec};

use super::FaultPlan;

/// Exit status of a built-in inject that refused: a precondition did not hold or could not be
/// checked, and NOTHING was changed on the host. The reason is the first line on stderr. Every
/// exit after the checks uses the failing tool's own status (tc, iptables, systemctl, pkill,
/// fallocate: none of them exits 86), which counts as an ordinary failed inject that is rolled back.
pub const REFUSED_EXIT: i32 = 86;

/// Sets `$gd` to gameday's private directory on the host, `/tmp/gameday-<uid>`, creating it
/// mode 700, and exits `on_fail` unless it is a real directory owned by the running user: lease
/// deadlines and pid files live there, so a planted symlink cannot redirect a root-run write.
///
/// Builtins only when it can: the effective uid is read from `/proc/self/status` (`id -u` only
/// where that cannot be read) and `mkdir` runs only when the directory is missing. Every lease
/// command and every rollback's lease cancel starts with this, so on a fleet's halt (or on the
/// 1,000-host lab, where every host is this machine) each exec saved is one per host.
pub fn private_dir(on_fail: i32) -> String {
    format!(
        "{UID_FN}; gd=/tmp/gameday-$gd_uid; [ -d \"$gd\" ] || mkdir -p -m 700 \"$gd\" 2>/dev/null; [ -d \"$gd\" ] && [ ! -L \"$gd\" ] && [ -O \"$gd\" ] || {{ echo \"$gd is not a private directory of this user: refusing\" >&2; exit {on_fail}; }}"
    )
}

/// Sets `$gd_uid` to the shell's effective uid: the second field of `Uid:` in
/// `/proc/self/status` (read by the `read` builtin: `/proc/self` is the shell itself), else
/// `id -u`.
const UID_FN: &str = "gd_uid=; while read -r gd_k gd_r gd_e gd_x; do if [ \"$gd_k\" = Uid: ]; then gd_uid=$gd_e; break; fi; done 2>/dev/null < /proc/self/status; case \"$gd_uid\" in ''|*[!0-9]*) gd_uid=$(id -u);; esac";

/// Marks, in the private directory, that this fault is about to change the host: written after the
/// checks pass and before the change. An undo of a kind whose undo is not naturally harmless
/// (`systemctl start`, a restart) acts only when the mark is there, so an undo run for a fault that
/// never went in (refused, or its result lost with a crashed console) changes nothing.
fn mark_changed(tag: &str) -> String {
    format!(
        "{}; : > \"$gd\"/{tag}.changed || {{ echo 'cannot write the fault mark' >&2; exit {REFUSED_EXIT}; }}",
        private_dir(REFUSED_EXIT)
    )
}

/// Runs `undo` only when [`mark_changed`] was written, then removes the mark once it succeeded.
fn only_if_changed(tag: &str, undo: &str) -> String {
    format!(
        "{}; m=\"$gd\"/{tag}.changed; [ -e \"$m\" ] || {{ echo 'gameday did not change this (no mark): nothing to undo' >&2; exit 0; }}; {undo}; rc=$?; [ $rc -eq 0 ] && rm -f \"$m\"; exit $rc",
        private_dir(3)
    )
}

/// Defines `gd_alive PID`: true when PID is a running process, not a zombie (`Z`) or dead (`X`).
/// The state is the field after the LAST `)` of /proc/PID/stat (the name itself may hold `)`).
pub const ALIVE_FN: &str = "gd_alive() { case \"$1\" in ''|0|*[!0-9]*) return 1;; esac; s=; read -r s 2>/dev/null < /proc/\"$1\"/stat || return 1; s=${s##*')'}; set -- $s; case \"$1\" in ''|Z|X) return 1;; esac; }";

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

/// The root qdisc handle of the netem fault tagged `tag`, as tc prints it (`4a1f:`): a stable
/// hash (FNV-1a, folded to 16 bits) into 1..=0xfffe, since major 0 is the kernel's default and
/// ffff is reserved. One handle per run and fault, so one run never mistakes another's qdisc
/// for its own.
pub fn netem_handle(tag: &str) -> String {
    let mut h: u32 = 0x811c_9dc5;
    for b in tag.bytes() {
        h ^= u32::from(b);
        h = h.wrapping_mul(0x0100_0193);
    }
    let folded = (h >> 16) ^ (h & 0xffff);
    format!("{:x}:", 1 + folded % 0xfffe)
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
    let built_in = |inject: String, undo: Option<String>, verify: Option<String>| FaultPlan {
        inject,
        undo,
        verify,
        refusable: true,
    };
    match &fault.spec {
        FaultSpec::Command {
            inject,
            rollback,
            verify,
        } => FaultPlan {
            inject: inject.clone(),
            undo: rollback.clone(),
            verify: verify.clone(),
            // Your own lines may exit 86 for their own reasons: never read as "nothing changed".
            refusable: false,
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
            netem(interface, &format!("delay {delay_ms}ms{jitter}"), &tag)
        }
        FaultSpec::Loss { interface, percent } => {
            netem(interface, &format!("loss {percent}%"), &tag)
        }
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
            &tag,
        ),
        FaultSpec::StopService { service } => {
            let u = q(service);
            built_in(
                format!(
                    "systemctl is-active --quiet -- {u} || {{ printf '%s is not active: nothing to stop\\n' {u} >&2; exit {REFUSED_EXIT}; }}; {}; systemctl stop -- {u}",
                    mark_changed(&tag)
                ),
                Some(only_if_changed(&tag, &format!("systemctl start -- {u}"))),
                Some(format!("systemctl is-active --quiet -- {u}")),
            )
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

fn netem(interface: &str, params: &str, tag: &str) -> FaultPlan {
    let i = q(interface);
    let h = netem_handle(tag);
    let ours = format!("'qdisc netem {h} root'*");
    FaultPlan {
        // A root qdisc with handle 0: is the kernel's default; anything else belongs to someone
        // (another run's netem included), so it is refused before anything changes.
        inject: format!(
            "cur=$(tc qdisc show dev {i} root) || {{ printf 'cannot read the root qdisc of %s: refusing\\n' {i} >&2; exit {REFUSED_EXIT}; }}; case \"$cur\" in ''|'qdisc '*' 0: root'*) ;; *) printf 'root qdisc on %s is not the default (%s): refusing to replace it\\n' {i} \"$cur\" >&2; exit {REFUSED_EXIT};; esac; tc qdisc add dev {i} root handle {h} netem {params}"
        ),
        // `del ... handle` makes the kernel itself refuse a root qdisc that is not ours.
        undo: Some(format!(
            "cur=$(tc qdisc show dev {i} root) || exit 3; case \"$cur\" in {ours}) tc qdisc del dev {i} root handle {h};; esac"
        )),
        verify: Some(format!(
            "cur=$(tc qdisc show dev {i} root) || exit 3; case \"$cur\" in {ours}) exit 1;; esac"
        )),
        refusable: true,
    }
}

/// An awk program over `iptables -S` lines that keeps the rules whose `--comment` is exactly `t`
/// (printed bare, or quoted by older iptables). With `as_delete`, it prints each as a `-D` rule
/// with the comment unquoted, last rule first (each chain's DROP goes before its SSH ACCEPT).
fn tagged_rules_awk(as_delete: bool) -> &'static str {
    if as_delete {
        "BEGIN { dq = sprintf(\"%c\", 34) } { for (i = 1; i < NF; i++) if ($i == \"--comment\" && ($(i+1) == t || $(i+1) == dq t dq)) { $(i+1) = t; $1 = \"-D\"; r[++n] = $0; next } } END { while (n > 0) print r[n--] }"
    } else {
        "BEGIN { dq = sprintf(\"%c\", 34) } { for (i = 1; i < NF; i++) if ($i == \"--comment\" && ($(i+1) == t || $(i+1) == dq t dq)) { print; next } }"
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
    let select = q(tagged_rules_awk(false));
    let ours = |on_fail: i32| {
        format!(
            "rules=$({ipt} -w -S) || exit {on_fail}; ours=$(printf '%s\\n' \"$rules\" | awk -v t={t} {select}) || exit {on_fail}"
        )
    };
    let check = format!("{}; [ -z \"$ours\" ] || exit 1", ours(3));
    // Deletes what the live list says is ours, as listed (a host name was resolved when the rule
    // went in; resolving it again may name someone else). Split on blanks without globbing, no eval.
    let delete = format!(
        "rules=$({ipt} -w -S) || exit 3; printf '%s\\n' \"$rules\" | awk -v t={t} {} | while IFS= read -r r; do set -f; set -- $r; {ipt} -w \"$@\"; done",
        q(tagged_rules_awk(true))
    );
    FaultPlan {
        inject: format!(
            "{}; [ -z \"$ours\" ] || {{ printf 'rules tagged %s already exist: refusing\\n' {t} >&2; exit {REFUSED_EXIT}; }}; {}",
            ours(REFUSED_EXIT),
            add.join(" && ")
        ),
        undo: Some(format!("{delete}; {check}")),
        verify: Some(check),
        refusable: true,
    }
}

fn kill(
    process: Option<&str>,
    pid_file: Option<&str>,
    signal: &str,
    restart: Option<&str>,
    tag: &str,
) -> FaultPlan {
    let sig = q(signal);
    let (inject, verify) = match (process, pid_file) {
        (Some(name), _) => {
            let n = q(name);
            (
                format!(
                    "{ALIVE_FN}; live=; for p in $(pgrep -x -- {n}); do gd_alive \"$p\" && live=\"$live $p\"; done; [ -n \"$live\" ] || {{ printf 'no live process named %s: nothing to kill\\n' {n} >&2; exit {REFUSED_EXIT}; }}; {}; pkill -{sig} -x -- {n}",
                    mark_changed(tag)
                ),
                Some(format!(
                    "{ALIVE_FN}; for p in $(pgrep -x -- {n}); do gd_alive \"$p\" && exit 0; done; exit 1"
                )),
            )
        }
        (None, Some(file)) => {
            let f = q(file);
            let read = |on_fail: i32| {
                format!(
                    "pid=$(cat -- {f}) || exit {on_fail}; case \"$pid\" in ''|0|*[!0-9]*) printf '%s does not hold a pid\\n' {f} >&2; exit {on_fail};; esac"
                )
            };
            (
                format!(
                    "{ALIVE_FN}; {}; gd_alive \"$pid\" || {{ printf 'process %s (from %s) is not running: nothing to kill\\n' \"$pid\" {f} >&2; exit {REFUSED_EXIT}; }}; {}; kill -s {sig} \"$pid\"",
                    read(REFUSED_EXIT),
                    mark_changed(tag)
                ),
                Some(format!("{ALIVE_FN}; {}; gd_alive \"$pid\"", read(1))),
            )
        }
        (None, None) => (
            format!("echo 'kill: neither process nor pid_file given' >&2; exit {REFUSED_EXIT}"),
            None,
        ),
    };
    // The restart runs in its own session with its output in a log: a daemon it backgrounds
    // neither holds the command's output open (which would time the undo out) nor shares the
    // process group a timeout kills.
    let undo = restart.map(|r| {
        only_if_changed(
            tag,
            &format!(
                "log=\"$gd\"/{tag}.restart.log; setsid -w sh -c {} </dev/null >\"$log\" 2>&1; rc=$?; head -n 20 -- \"$log\" >&2; (exit $rc)",
                q(r)
            ),
        )
    });
    FaultPlan {
        inject,
        verify: undo.as_ref().and(verify),
        undo,
        refusable: true,
    }
}

/// stress-ng in its own session (so it outlives the channel), its session id in a pid file in the
/// private directory; the undo stops exactly that session's stress-ng processes.
fn stress(tag: &str, args: &str, duration_s: u64) -> FaultPlan {
    let pf = |on_fail: i32| format!("{}; pf=\"$gd\"/{tag}.stress.pid", private_dir(on_fail));
    let only_ours = "-f '^stress-ng'";
    FaultPlan {
        inject: format!(
            "{}; [ ! -e \"$pf\" ] || {{ echo \"$pf exists: refusing to start a second stress\" >&2; exit {REFUSED_EXIT}; }}; command -v stress-ng >/dev/null || {{ echo 'stress-ng is not installed: refusing' >&2; exit {REFUSED_EXIT}; }}; setsid stress-ng {args} --timeout {duration_s}s </dev/null >/dev/null 2>&1 & echo $! > \"$pf\"",
            pf(REFUSED_EXIT)
        ),
        undo: Some(format!(
            "{}; [ -e \"$pf\" ] || exit 0; sid=$(cat \"$pf\"); case \"$sid\" in ''|0|*[!0-9]*) echo \"$pf does not hold a pid\" >&2; exit 3;; esac; pkill -TERM -s \"$sid\" {only_ours}; i=0; while pgrep -s \"$sid\" {only_ours} >/dev/null && [ $i -lt 50 ]; do i=$((i+1)); sleep 0.1; done; pkill -KILL -s \"$sid\" {only_ours}; if pgrep -s \"$sid\" {only_ours} >/dev/null; then exit 1; fi; rm -f \"$pf\"",
            pf(3)
        )),
        verify: Some(format!("{}; [ ! -e \"$pf\" ]", pf(3))),
        refusable: true,
    }
}

/// A marked file, never bigger than what leaves `keep_free` bytes free.
fn disk_fill(dir: &str, tag: &str, bytes: u64, keep_free: u64) -> FaultPlan {
    let d = q(dir);
    let file = format!("{}/.{tag}.fill", dir.trim_end_matches('/'));
    let f = q(&file);
    let want_k = bytes.div_ceil(1024);
    let keep_k = keep_free.div_ceil(1024);
    let r = REFUSED_EXIT;
    FaultPlan {
        inject: format!(
            "[ -d {d} ] || {{ printf '%s is not a directory\\n' {d} >&2; exit {r}; }}; [ ! -e {f} ] && [ ! -L {f} ] || {{ printf '%s exists: refusing\\n' {f} >&2; exit {r}; }}; avail=$(df -Pk -- {d} | awk 'NR==2 {{print $4}}'); case \"$avail\" in ''|*[!0-9]*) printf 'cannot read the free space of %s\\n' {d} >&2; exit {r};; esac; room=$((avail - {keep_k})); [ \"$room\" -gt 0 ] || {{ printf '%s has less than {keep_k} KiB free: not filling\\n' {d} >&2; exit {r}; }}; want={want_k}; [ \"$want\" -le \"$room\" ] || want=$room; fallocate -l \"${{want}}KiB\" -- {f}"
        ),
        undo: Some(format!("rm -f -- {f}")),
        verify: Some(format!("[ ! -e {f} ]")),
        refusable: true,
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
            select: None,
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
        assert!(p.refusable);
        assert_eq!(
            p.inject,
            "cur=$(tc qdisc show dev eth0 root) || { printf 'cannot read the root qdisc of %s: refusing\\n' eth0 >&2; exit 86; }; case \"$cur\" in ''|'qdisc '*' 0: root'*) ;; *) printf 'root qdisc on %s is not the default (%s): refusing to replace it\\n' eth0 \"$cur\" >&2; exit 86;; esac; tc qdisc add dev eth0 root handle c4ff: netem delay 100ms 20ms"
        );
        assert_eq!(
            p.undo.as_deref(),
            Some(
                "cur=$(tc qdisc show dev eth0 root) || exit 3; case \"$cur\" in 'qdisc netem c4ff: root'*) tc qdisc del dev eth0 root handle c4ff:;; esac"
            )
        );
        assert_eq!(
            p.verify.as_deref(),
            Some(
                "cur=$(tc qdisc show dev eth0 root) || exit 3; case \"$cur\" in 'qdisc netem c4ff: root'*) exit 1;; esac"
            )
        );
    }

    #[test]
    fn netem_handles_are_per_run_and_fault_never_0_or_ffff() {
        assert_eq!(netem_handle("gameday-20261123T204222Z-1a2b-f1"), "c4ff:");
        assert_ne!(
            netem_handle("gameday-runA-f1"),
            netem_handle("gameday-runB-f1")
        );
        assert_ne!(
            netem_handle("gameday-runA-f1"),
            netem_handle("gameday-runA-f10")
        );
        for i in 0..20_000 {
            let h = netem_handle(&format!("gameday-r{i}-f"));
            let major = u32::from_str_radix(h.trim_end_matches(':'), 16).unwrap();
            assert!((1..=0xfffe).contains(&major), "{h}");
            assert_eq!(h, format!("{major:x}:"), "written as tc prints it");
        }
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
                .ends_with("; tc qdisc add dev ens3 root handle c4ff: netem loss 2.5%"),
            "{}",
            p.inject
        );
        assert_eq!(
            p.undo.as_deref(),
            Some(
                "cur=$(tc qdisc show dev ens3 root) || exit 3; case \"$cur\" in 'qdisc netem c4ff: root'*) tc qdisc del dev ens3 root handle c4ff:;; esac"
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
        let sel = "'BEGIN { dq = sprintf(\"%c\", 34) } { for (i = 1; i < NF; i++) if ($i == \"--comment\" && ($(i+1) == t || $(i+1) == dq t dq)) { print; next } }'";
        let del = "'BEGIN { dq = sprintf(\"%c\", 34) } { for (i = 1; i < NF; i++) if ($i == \"--comment\" && ($(i+1) == t || $(i+1) == dq t dq)) { $(i+1) = t; $1 = \"-D\"; r[++n] = $0; next } } END { while (n > 0) print r[n--] }'";
        let check = format!(
            "rules=$(iptables -w -S) || exit 3; ours=$(printf '%s\\n' \"$rules\" | awk -v t={t} {sel}) || exit 3; [ -z \"$ours\" ] || exit 1"
        );
        assert_eq!(
            p.inject,
            format!(
                "rules=$(iptables -w -S) || exit 86; ours=$(printf '%s\\n' \"$rules\" | awk -v t={t} {sel}) || exit 86; [ -z \"$ours\" ] || {{ printf 'rules tagged %s already exist: refusing\\n' {t} >&2; exit 86; }}; \
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
                    "rules=$(iptables -w -S) || exit 3; printf '%s\\n' \"$rules\" | awk -v t={t} {del} | while IFS= read -r r; do set -f; set -- $r; iptables -w \"$@\"; done; {check}"
                )
                .as_str()
            )
        );
        assert_eq!(p.verify.as_deref(), Some(check.as_str()));
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
        assert!(v6.undo.unwrap().contains("ip6tables -w \"$@\""));
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
        assert_eq!(
            p.inject,
            format!(
                "{ALIVE_FN}; live=; for p in $(pgrep -x -- nginx); do gd_alive \"$p\" && live=\"$live $p\"; done; [ -n \"$live\" ] || {{ printf 'no live process named %s: nothing to kill\\n' nginx >&2; exit 86; }}; {}; pkill -KILL -x -- nginx",
                mark_changed("gameday-20261123T204222Z-1a2b-f1")
            )
        );
        assert_eq!(p.undo, None);
        assert_eq!(p.verify, None);
        let p = plan(
            &fault(FaultSpec::Kill {
                process: Some("nginx".into()),
                pid_file: None,
                signal: "TERM".into(),
                restart: Some("systemctl start nginx".into()),
            }),
            &ctx(),
        );
        assert_eq!(
            p.undo.as_deref(),
            Some(
only_if_changed(
                    "gameday-20261123T204222Z-1a2b-f1",
                    "log=\"$gd\"/gameday-20261123T204222Z-1a2b-f1.restart.log; setsid -w sh -c 'systemctl start nginx' </dev/null >\"$log\" 2>&1; rc=$?; head -n 20 -- \"$log\" >&2; (exit $rc)"
                )
                .as_str()
            )
        );
        assert_eq!(
            p.verify.as_deref(),
            Some(
                format!(
                    "{ALIVE_FN}; for p in $(pgrep -x -- nginx); do gd_alive \"$p\" && exit 0; done; exit 1"
                )
                .as_str()
            )
        );
    }

    /// An undo run for a fault that never went in (refused, or its result lost with a crashed
    /// console: `recover` and the lease undo every intent without a verified rollback) changes
    /// nothing; once the inject passed its checks, the undo runs, once.
    #[test]
    fn an_undo_without_the_change_mark_changes_nothing() {
        let dir = tempfile::tempdir().unwrap();
        let started = dir.path().join("started");
        let undo = only_if_changed(
            &format!("gameday-t{}-mark", std::process::id()),
            &format!("touch {}", q(&started.display().to_string())),
        );
        let mark = mark_changed(&format!("gameday-t{}-mark", std::process::id()));
        let sh = |c: &str| {
            std::process::Command::new("sh")
                .arg("-c")
                .arg(c)
                .stderr(std::process::Stdio::null())
                .status()
                .unwrap()
                .code()
        };
        assert_eq!(sh(&undo), Some(0));
        assert!(!started.exists(), "an unmarked undo acted");
        assert_eq!(sh(&mark), Some(0));
        assert_eq!(sh(&undo), Some(0));
        assert!(started.exists(), "a marked undo did not act");
        std::fs::remove_file(&started).unwrap();
        assert_eq!(sh(&undo), Some(0));
        assert!(!started.exists(), "the mark outlived a successful undo");
    }

    #[test]
    fn stop_service_refuses_before_stopping() {
        let p = plan(
            &fault(FaultSpec::StopService {
                service: "patroni".into(),
            }),
            &ctx(),
        );
        let tag = "gameday-20261123T204222Z-1a2b-f1";
        assert_eq!(
            p.inject,
            format!(
                "systemctl is-active --quiet -- patroni || {{ printf '%s is not active: nothing to stop\\n' patroni >&2; exit 86; }}; {}; systemctl stop -- patroni",
                mark_changed(tag)
            )
        );
        assert_eq!(
            p.undo.as_deref(),
            Some(only_if_changed(tag, "systemctl start -- patroni").as_str())
        );
    }

    #[test]
    fn command_faults_are_not_refusable() {
        let p = plan(
            &fault(FaultSpec::Command {
                inject: "exit 86".into(),
                rollback: Some("true".into()),
                verify: None,
            }),
            &ctx(),
        );
        assert!(!p.refusable);
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
        assert_eq!(
            sh(&p.inject),
            Some(REFUSED_EXIT),
            "a second inject must refuse"
        );
        assert_eq!(sh(p.verify.as_deref().unwrap()), Some(1));
        assert_eq!(sh(p.undo.as_deref().unwrap()), Some(0));
        assert_eq!(
            sh(p.undo.as_deref().unwrap()),
            Some(0),
            "undo is idempotent"
        );
        assert_eq!(sh(p.verify.as_deref().unwrap()), Some(0));
        assert!(!dir.path().join("pwned").exists());
        // Not a directory, or no room beyond keep_free: refused, nothing created.
        let missing = plan(
            &fault(FaultSpec::DiskFill {
                path: path.join("nope").display().to_string(),
                bytes: 1 << 20,
                keep_free_bytes: 0,
            }),
            &ctx(),
        );
        assert_eq!(sh(&missing.inject), Some(REFUSED_EXIT));
        let full = plan(
            &fault(FaultSpec::DiskFill {
                path: path.display().to_string(),
                bytes: 1 << 20,
                keep_free_bytes: u64::MAX / 4,
            }),
            &ctx(),
        );
        assert_eq!(sh(&full.inject), Some(REFUSED_EXIT));
        assert!(!file.exists());
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
        assert_eq!(
            sh(&p.inject),
            Some(REFUSED_EXIT),
            "a second stress must refuse"
        );
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
