//! Validation of fault kinds and their typed parameters. Every parameter that ends up in a shell
//! line is checked here first (and quoted again in `fault::kinds`): names are restricted to the
//! characters such names have, paths must be absolute and free of control characters.

use serde_saphyr::{Location, Spanned};

use super::{FAULT_KINDS, FaultSpec, Validator};
use super::{limits, spec};

/// stress-ng's own --timeout when `duration:` is not given.
pub const DEFAULT_STRESS_S: u64 = 600;
/// Space disk_fill always leaves free when `keep_free:` is not given.
pub const DEFAULT_KEEP_FREE: u64 = 256 * 1024 * 1024;
const SIGNALS: &[&str] = &["KILL", "TERM", "INT", "HUP", "QUIT", "USR1", "USR2"];

/// The parameters each kind accepts, beyond kind/id/target/lease/timeout.
fn params_of(kind: &str) -> &'static [&'static str] {
    match kind {
        "command" => &["inject", "rollback", "verify", "irreversible"],
        "latency" => &["interface", "delay", "jitter"],
        "loss" => &["interface", "percent"],
        "partition" => &["peer"],
        "kill" => &["process", "pid_file", "signal", "restart", "irreversible"],
        "stop_service" => &["service"],
        "cpu" => &["workers", "duration"],
        "memory" => &["size", "duration"],
        "disk_fill" => &["path", "size", "keep_free"],
        _ => &[],
    }
}

/// Which optional parameters a fault spelled out, with where.
fn given(fs: &spec::FaultSpec, at: Location) -> Vec<(&'static str, Location)> {
    let mut v = Vec::new();
    macro_rules! check {
        ($($field:ident),*) => {$(
            if let Some(x) = &fs.$field {
                v.push((stringify!($field), x.referenced));
            }
        )*};
    }
    check!(
        inject, rollback, interface, delay, jitter, percent, peer, process, pid_file, signal,
        restart, service, workers, size, path, keep_free, duration
    );
    if fs.verify.is_some() {
        v.push(("verify", at));
    }
    if fs.irreversible {
        v.push(("irreversible", at));
    }
    v
}

impl Validator {
    pub(super) fn fault_spec(
        &mut self,
        id: &str,
        f: &Spanned<spec::FaultSpec>,
    ) -> Option<FaultSpec> {
        let fs = &f.value;
        let at = f.referenced;
        let kind = fs.kind.value.as_str();
        if !FAULT_KINDS.contains(&kind) {
            self.err(
                &fs.kind.referenced,
                format!(
                    "unknown fault kind `{kind}`; known kinds: {}",
                    FAULT_KINDS.join(", ")
                ),
            );
            return None;
        }
        let allowed = params_of(kind);
        let mut ok = true;
        for (name, loc) in given(fs, at) {
            if !allowed.contains(&name) {
                let why = if matches!(name, "rollback" | "verify" | "inject") {
                    " (built-in kinds generate their own inject, undo and verify)"
                } else {
                    ""
                };
                self.err(
                    &loc,
                    format!(
                        "fault `{id}`: `{name}` is not a parameter of kind {kind}{why}; it takes: {}",
                        allowed.join(", ")
                    ),
                );
                ok = false;
            }
        }
        let spec = match kind {
            "command" => self.command(id, fs, at),
            "latency" => {
                let interface = self.interface(id, fs, at);
                let delay = self.required(id, kind, "delay", &fs.delay, at).map(|d| {
                    let ms = millis(d.value.0);
                    if ms < millis(limits::MIN_DELAY) || ms > millis(limits::MAX_DELAY) {
                        self.err(
                            &d.referenced,
                            format!("fault `{id}`: delay must be from 1ms to 60s"),
                        );
                    }
                    ms
                });
                let jitter_ms = fs.jitter.as_ref().map_or(0, |j| {
                    let ms = millis(j.value.0);
                    if delay.is_some_and(|d| ms > d) {
                        self.err(
                            &j.referenced,
                            format!("fault `{id}`: jitter must not exceed delay"),
                        );
                    }
                    ms
                });
                Some(FaultSpec::Latency {
                    interface: interface?,
                    delay_ms: delay?,
                    jitter_ms,
                })
            }
            "loss" => {
                let interface = self.interface(id, fs, at);
                let percent = self
                    .required(id, kind, "percent", &fs.percent, at)
                    .and_then(|p| {
                        // False for NaN too, so only finite percentages pass.
                        if p.value > 0.0 && p.value <= 100.0 {
                            Some(p.value)
                        } else {
                            self.err(
                                &p.referenced,
                                format!(
                                    "fault `{id}`: percent must be more than 0 and at most 100, got {}",
                                    p.value
                                ),
                            );
                            None
                        }
                    });
                Some(FaultSpec::Loss {
                    interface: interface?,
                    percent: percent?,
                })
            }
            "partition" => {
                let peer = self.required(id, kind, "peer", &fs.peer, at).and_then(|p| {
                    match check_peer(&p.value) {
                        Ok(()) => Some(p.value.clone()),
                        Err(why) => {
                            self.err(&p.referenced, format!("fault `{id}`: {why}"));
                            None
                        }
                    }
                });
                Some(FaultSpec::Partition { peer: peer? })
            }
            "kill" => self.kill(id, fs, at),
            "stop_service" => {
                let service = self
                    .required(id, kind, "service", &fs.service, at)
                    .and_then(|s| {
                        if is_name(&s.value, 256, "_.:@\\-") {
                            Some(s.value.clone())
                        } else {
                            self.err(
                                &s.referenced,
                                format!(
                                    "fault `{id}`: service `{}` is not a unit name (letters, digits, `_ . : @ - \\`)",
                                    s.value.escape_debug()
                                ),
                            );
                            None
                        }
                    });
                Some(FaultSpec::StopService { service: service? })
            }
            "cpu" => {
                let workers = fs.workers.as_ref().map_or(Some(1), |w| {
                    if (1..=limits::MAX_WORKERS).contains(&w.value) {
                        Some(w.value)
                    } else {
                        self.err(
                            &w.referenced,
                            format!("fault `{id}`: workers must be from 1 to 1024"),
                        );
                        None
                    }
                });
                let duration_s = self.stress_duration(id, fs);
                Some(FaultSpec::Cpu {
                    workers: workers?,
                    duration_s: duration_s?,
                })
            }
            "memory" => {
                let bytes = self.size(id, kind, "size", &fs.size, at);
                let duration_s = self.stress_duration(id, fs);
                Some(FaultSpec::Memory {
                    bytes: bytes?,
                    duration_s: duration_s?,
                })
            }
            "disk_fill" => {
                let path = self.required(id, kind, "path", &fs.path, at).and_then(|p| {
                    match check_path(&p.value) {
                        Ok(()) => Some(p.value.clone()),
                        Err(why) => {
                            self.err(&p.referenced, format!("fault `{id}`: path {why}"));
                            None
                        }
                    }
                });
                let bytes = self.size(id, kind, "size", &fs.size, at);
                let keep_free_bytes = match &fs.keep_free {
                    None => Some(DEFAULT_KEEP_FREE),
                    Some(_) => self.size(id, kind, "keep_free", &fs.keep_free, at),
                };
                Some(FaultSpec::DiskFill {
                    path: path?,
                    bytes: bytes?,
                    keep_free_bytes: keep_free_bytes?,
                })
            }
            _ => None,
        };
        if ok { spec } else { None }
    }

    fn required<'a, T>(
        &mut self,
        id: &str,
        kind: &str,
        name: &str,
        v: &'a Option<Spanned<T>>,
        at: Location,
    ) -> Option<&'a Spanned<T>> {
        if v.is_none() {
            self.err(&at, format!("fault `{id}` of kind {kind} needs `{name}:`"));
        }
        v.as_ref()
    }

    fn command(&mut self, id: &str, fs: &spec::FaultSpec, at: Location) -> Option<FaultSpec> {
        let Some(inject) = &fs.inject else {
            self.err(&at, format!("fault `{id}` of kind command needs `inject:`"));
            return None;
        };
        if inject.value.trim().is_empty() {
            self.err(
                &inject.referenced,
                format!("fault `{id}`: inject must not be empty"),
            );
        }
        for (name, text, loc) in [
            ("inject", Some(&inject.value), inject.referenced),
            (
                "rollback",
                fs.rollback.as_ref().map(|r| &r.value),
                fs.rollback.as_ref().map_or(at, |r| r.referenced),
            ),
            ("verify", fs.verify.as_ref(), at),
        ] {
            if text.is_some_and(|t| t.contains('\0')) {
                self.err(&loc, format!("fault `{id}`: {name} must not contain NUL"));
            }
        }
        match (&fs.rollback, fs.irreversible) {
            (None, false) => self.err(
                &at,
                format!("fault `{id}` has neither `rollback:` nor `irreversible: true`: say how to undo it, or say that it cannot be undone"),
            ),
            (Some(r), true) => self.err(
                &r.referenced,
                format!("fault `{id}` is `irreversible: true` but has a rollback: keep one of the two"),
            ),
            _ => {}
        }
        Some(FaultSpec::Command {
            inject: inject.value.clone(),
            rollback: fs.rollback.as_ref().map(|r| r.value.clone()),
            verify: fs.verify.clone(),
        })
    }

    fn kill(&mut self, id: &str, fs: &spec::FaultSpec, at: Location) -> Option<FaultSpec> {
        let mut ok = true;
        let process = fs.process.as_ref().and_then(|p| {
            if is_name(&p.value, 15, "_.:+@-") {
                Some(p.value.clone())
            } else {
                self.err(
                    &p.referenced,
                    format!(
                        "fault `{id}`: process `{}` is not a process name (up to 15 letters, digits, `_ . : + @ -`, not starting with `-`)",
                        p.value.escape_debug()
                    ),
                );
                ok = false;
                None
            }
        });
        let pid_file = fs
            .pid_file
            .as_ref()
            .and_then(|p| match check_path(&p.value) {
                Ok(()) => Some(p.value.clone()),
                Err(why) => {
                    self.err(&p.referenced, format!("fault `{id}`: pid_file {why}"));
                    ok = false;
                    None
                }
            });
        if fs.process.is_some() == fs.pid_file.is_some() {
            self.err(
                &at,
                format!(
                    "fault `{id}` of kind kill needs exactly one of `process:` and `pid_file:`"
                ),
            );
            ok = false;
        }
        let signal = match &fs.signal {
            None => "KILL".to_string(),
            Some(s) => {
                let name = s.value.trim_start_matches("SIG").to_ascii_uppercase();
                if !SIGNALS.contains(&name.as_str()) {
                    self.err(
                        &s.referenced,
                        format!(
                            "fault `{id}`: signal `{}` is not one of {}",
                            s.value.escape_debug(),
                            SIGNALS.join(", ")
                        ),
                    );
                    ok = false;
                }
                name
            }
        };
        if let Some(r) = &fs.restart
            && (r.value.trim().is_empty() || r.value.contains('\0'))
        {
            self.err(
                &r.referenced,
                format!("fault `{id}`: restart must be a non-empty command without NUL"),
            );
            ok = false;
        }
        match (&fs.restart, fs.irreversible) {
            (None, false) => {
                self.err(
                    &at,
                    format!("fault `{id}`: a kill without `restart:` cannot be undone; add `restart:` or say `irreversible: true`"),
                );
                ok = false;
            }
            (Some(r), true) => {
                self.err(
                    &r.referenced,
                    format!("fault `{id}` is `irreversible: true` but has a restart: keep one of the two"),
                );
                ok = false;
            }
            _ => {}
        }
        ok.then(|| FaultSpec::Kill {
            process,
            pid_file,
            signal,
            restart: fs.restart.as_ref().map(|r| r.value.clone()),
        })
    }

    fn interface(&mut self, id: &str, fs: &spec::FaultSpec, at: Location) -> Option<String> {
        let kind = fs.kind.value.clone();
        let i = self.required(id, &kind, "interface", &fs.interface, at)?;
        if is_name(&i.value, 15, "_.:@-") {
            Some(i.value.clone())
        } else {
            self.err(
                &i.referenced,
                format!(
                    "fault `{id}`: interface `{}` is not an interface name (up to 15 letters, digits, `_ . : @ -`, not starting with `-`)",
                    i.value.escape_debug()
                ),
            );
            None
        }
    }

    fn stress_duration(&mut self, id: &str, fs: &spec::FaultSpec) -> Option<u64> {
        match &fs.duration {
            None => Some(DEFAULT_STRESS_S),
            Some(d) => self
                .duration_within(
                    &format!("fault `{id}`: duration"),
                    d,
                    limits::MIN_STRESS,
                    limits::MAX_STRESS,
                    false,
                )
                .then_some(d.value.0.as_secs()),
        }
    }

    fn size(
        &mut self,
        id: &str,
        kind: &str,
        name: &str,
        v: &Option<Spanned<String>>,
        at: Location,
    ) -> Option<u64> {
        let s = self.required(id, kind, name, v, at)?;
        match parse_size(&s.value) {
            Some(b) if b > 0 && b <= limits::MAX_SIZE => Some(b),
            Some(b) if b > 0 => {
                self.err(
                    &s.referenced,
                    format!(
                        "fault `{id}`: {name} must be at most 1024T (1 PiB), got {b} bytes (see Limits in docs/scenario-format.md)"
                    ),
                );
                None
            }
            _ => {
                self.err(
                    &s.referenced,
                    format!(
                        "fault `{id}`: {name} `{}` is not a size like 512M, 2G or 1048576",
                        s.value.escape_debug()
                    ),
                );
                None
            }
        }
    }
}

fn millis(d: std::time::Duration) -> u64 {
    u64::try_from(d.as_millis()).unwrap_or(u64::MAX)
}

/// Letters, digits and `extra`, at most `max` long, not starting with `-`.
fn is_name(s: &str, max: usize, extra: &str) -> bool {
    !s.is_empty()
        && s.len() <= max
        && !s.starts_with('-')
        && s.chars()
            .all(|c| c.is_ascii_alphanumeric() || extra.contains(c))
}

/// An absolute path without control characters (no newline, no NUL).
pub fn check_path(p: &str) -> Result<(), String> {
    if !p.starts_with('/') {
        return Err(format!("`{}` must be an absolute path", p.escape_debug()));
    }
    if p.len() > 4096 || p.chars().any(char::is_control) {
        return Err(format!(
            "`{}` must not contain control characters",
            p.escape_debug()
        ));
    }
    Ok(())
}

/// An IPv4/IPv6 address or CIDR, or a host name.
pub fn check_peer(p: &str) -> Result<(), String> {
    let (addr, prefix) = match p.split_once('/') {
        Some((a, n)) => (a, Some(n)),
        None => (p, None),
    };
    let bad = || {
        format!(
            "peer `{}` is not an address, CIDR or host name",
            p.escape_debug()
        )
    };
    let max = if addr.parse::<std::net::Ipv4Addr>().is_ok() {
        32
    } else if addr.parse::<std::net::Ipv6Addr>().is_ok() {
        128
    } else if prefix.is_none() && is_name(addr, 253, ".-") {
        return Ok(());
    } else {
        return Err(bad());
    };
    if let Some(n) = prefix {
        match n.parse::<u8>() {
            Ok(0) => {
                return Err(format!(
                    "peer `{p}` covers every address: name the peer to cut off"
                ));
            }
            Ok(n) if n <= max => {}
            _ => return Err(bad()),
        }
    }
    Ok(())
}

/// `512M`, `2G`, `100k`, `1048576` (binary units).
pub fn parse_size(s: &str) -> Option<u64> {
    let s = s.trim();
    let split = s.find(|c: char| !c.is_ascii_digit()).unwrap_or(s.len());
    let (num, unit) = s.split_at(split);
    let n: u64 = num.parse().ok()?;
    let mult: u64 = match unit.trim().to_ascii_uppercase().as_str() {
        "" | "B" => 1,
        "K" | "KB" | "KIB" => 1 << 10,
        "M" | "MB" | "MIB" => 1 << 20,
        "G" | "GB" | "GIB" => 1 << 30,
        "T" | "TB" | "TIB" => 1 << 40,
        _ => return None,
    };
    n.checked_mul(mult)
}

#[cfg(test)]
mod unit {
    use super::*;

    #[test]
    fn sizes() {
        assert_eq!(parse_size("512M"), Some(512 << 20));
        assert_eq!(parse_size("2G"), Some(2 << 30));
        assert_eq!(parse_size("100"), Some(100));
        assert_eq!(parse_size("1x"), None);
        assert_eq!(parse_size("-1"), None);
        assert_eq!(parse_size("$(id)"), None);
    }

    #[test]
    fn peers() {
        assert!(check_peer("10.0.0.0/8").is_ok());
        assert!(check_peer("db-1.internal").is_ok());
        assert!(check_peer("fd00::1/64").is_ok());
        for bad in [
            "0.0.0.0/0",
            "10.0.0.1/33",
            "-x",
            "a;b",
            "$(id)",
            "a\nb",
            "{a,b}",
            "`id`",
        ] {
            assert!(check_peer(bad).is_err(), "{bad}");
        }
    }
}
