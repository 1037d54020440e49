//! The `ssh` transport: one authenticated russh connection per host, opened at run start and kept
//! warm for the whole run, a new channel per command. A halt never pays a handshake.
//!
//! Fast by design (see shared/ssh-facts.md): the TCP socket is opened here with TCP_NODELAY and
//! handed to `client::connect_stream`; curve25519-sha256 is preferred for key exchange.
//! Safe by design: strict known_hosts, key files or ssh-agent (never passwords, never agent
//! forwarding), every remote command under a remote `timeout`, sudo only as `sudo -n`.

use std::borrow::Cow;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use russh::client::{self, Handle};
use russh::keys::agent::client::AgentClient;
use russh::keys::{Algorithm, PrivateKeyWithHashAlg, PublicKey, PublicKeyOrCertificate};
use russh::{ChannelMsg, Preferred, kex};
use tokio::time::Instant;

use super::control::{self, FrameStream};
use super::known_hosts::{self, HostKeyStatus};
use super::outcome::CommandOutcome;
use super::{BoxFuture, CappedOutput, Exchange, ExchangeDone, ExchangeResult, Host, Pending};
use crate::fmt;
use crate::scenario::HostAddr;

use super::KILL_AFTER_S;
/// How much longer the console waits than the remote `timeout`, so the remote side answers first.
const LOCAL_GRACE: Duration = Duration::from_secs(KILL_AFTER_S + 5);
/// How long past its timeout (and the flow's pauses) a step of an exchange may take to report
/// before the client ends the exchange: the step has no remote `timeout` of its own.
const STEP_SLACK: Duration = Duration::from_secs(2);

/// How to reach and trust SSH hosts.
#[derive(Debug, Clone)]
pub struct SshOptions {
    /// The known_hosts file checked (and written by `--accept-new` / `gameday trust`).
    pub known_hosts: PathBuf,
    /// The system-wide known_hosts, read beside `known_hosts`, never written
    /// (default `/etc/ssh/ssh_known_hosts`; a missing file knows no host).
    pub global_known_hosts: Option<PathBuf>,
    /// Trust and record the key of a host that has no entry yet (OpenSSH `accept-new`).
    /// A changed key is refused all the same.
    pub accept_new: bool,
    /// Where the keys `accept_new` recorded wait for the run's journal (shared by clones).
    pub accepted: known_hosts::AcceptedKeys,
    pub connect_timeout: Duration,
    pub keepalive_interval: Duration,
    pub keepalive_max: usize,
    /// The user's ssh client config (`~/.ssh/config` or `--ssh-config`), applied when hosts are
    /// opened. `None` (the default, and every test that does not set one): the scenario alone.
    pub config: Option<Arc<super::ssh_config::SshConfig>>,
    /// Run commands on a control shell per host (the default); false: an exec channel per command
    /// (the bench's before/after comparison, and hosts whose `sh` must not stay running).
    pub control_shell: bool,
}

impl Default for SshOptions {
    fn default() -> Self {
        SshOptions {
            known_hosts: known_hosts::default_path()
                .unwrap_or_else(|| PathBuf::from(".ssh/known_hosts")),
            global_known_hosts: Some(PathBuf::from(known_hosts::GLOBAL_PATH)),
            accept_new: false,
            accepted: known_hosts::AcceptedKeys::default(),
            connect_timeout: Duration::from_secs(10),
            keepalive_interval: Duration::from_secs(5),
            keepalive_max: 3,
            config: None,
            control_shell: true,
        }
    }
}

/// One SSH host of a target, as the scenario names it.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct SshTarget {
    pub addr: HostAddr,
    pub user: String,
    pub sudo: bool,
    pub identity: Option<PathBuf>,
    /// Where the ssh config says this host is dialled (and through which bastion), when that
    /// differs from `addr`; `addr` stays the host's identity.
    pub route: Option<super::ssh_config::Route>,
}

#[derive(Debug, thiserror::Error)]
pub enum SshError {
    #[error("{host}: cannot connect: {why}; check that sshd runs there and the port is right")]
    Connect { host: String, why: String },
    #[error(
        "{host}: no answer within {}; check the address, port and firewall",
        fmt::duration(*.after)
    )]
    ConnectTimeout { host: String, after: Duration },
    #[error(
        "{host}: host key {fingerprint} is not in {}; if that is the host's key, trust it with `gameday trust {host} --known-hosts {}` (or run with --accept-new). Nothing was run on it",
        .known_hosts.display(), .known_hosts.display()
    )]
    UnknownHostKey {
        host: String,
        fingerprint: String,
        known_hosts: PathBuf,
    },
    #[error(
        "{host}: HOST KEY CHANGED: it presented {fingerprint}, which does not match line(s) {lines:?} of {}. Someone may be intercepting the connection, or the host was reinstalled: find out which before editing that file. Nothing was run on it",
        .known_hosts.display()
    )]
    ChangedHostKey {
        host: String,
        fingerprint: String,
        lines: Vec<usize>,
        known_hosts: PathBuf,
    },
    #[error(
        "{host}: host key {fingerprint} is marked @revoked in {} (line {line}); refusing it. Nothing was run on it",
        .known_hosts.display()
    )]
    RevokedHostKey {
        host: String,
        fingerprint: String,
        line: usize,
        known_hosts: PathBuf,
    },
    #[error("{host}: known_hosts: {why}")]
    KnownHosts { host: String, why: String },
    #[error("{host}: cannot log in as `{user}`: {why}")]
    Auth {
        host: String,
        user: String,
        why: String,
    },
    #[error(
        "{host}: `sudo -n true` failed ({why}); give `{user}` passwordless sudo there (NOPASSWD) or set `sudo: false`. No fault was run on it"
    )]
    Sudo {
        host: String,
        user: String,
        why: String,
    },
}

/// What the key check decided, kept by the handler because russh only sees `false`.
#[derive(Debug, Clone, Default)]
struct KeyCheck {
    refused: Option<Refusal>,
    key: Option<PublicKey>,
    /// The known_hosts file whose lines decided a refusal.
    file: Option<PathBuf>,
}

#[derive(Debug, Clone)]
enum Refusal {
    Unknown,
    Changed(Vec<usize>),
    Revoked(usize),
    Error(String),
    Certificate,
}

/// The russh client handler: checks the server's host key against known_hosts.
pub struct KeyChecker {
    addr: HostAddr,
    known_hosts: PathBuf,
    global_known_hosts: Option<PathBuf>,
    /// Write accepted keys hashed (the ssh config's `HashKnownHosts yes`).
    hash: bool,
    accept_new: bool,
    accepted: known_hosts::AcceptedKeys,
    /// Only record, never refuse: used by `gameday trust` to show a key before asking.
    probe_only: bool,
    seen: Arc<Mutex<KeyCheck>>,
    /// The bastion a `ProxyJump` connection rides on, kept alive exactly as long as this session.
    _bastion: Option<Arc<Handle<KeyChecker>>>,
}

impl client::Handler for KeyChecker {
    type Error = russh::Error;

    async fn check_server_key(
        &mut self,
        server_public_key: &PublicKeyOrCertificate,
    ) -> Result<bool, Self::Error> {
        let PublicKeyOrCertificate::PublicKey { key, .. } = server_public_key else {
            self.record(None, Some(Refusal::Certificate));
            return Ok(false);
        };
        if self.probe_only {
            self.record(Some(key.clone()), Some(Refusal::Unknown));
            return Ok(false);
        }
        let status = known_hosts::check_all(
            &self.known_hosts,
            self.global_known_hosts.as_deref(),
            &self.addr.host,
            self.addr.port,
            key,
        )
        .map(|(status, file)| {
            if let Ok(mut s) = self.seen.lock() {
                s.file = Some(file);
            }
            status
        });
        let append = if self.hash {
            known_hosts::append_hashed
        } else {
            known_hosts::append
        };
        let refusal = match status {
            Ok(HostKeyStatus::Known) => None,
            Ok(HostKeyStatus::Unknown) if self.accept_new => {
                match append(&self.known_hosts, &self.addr.host, self.addr.port, key) {
                    Ok(()) => {
                        tracing::warn!(host = %self.addr, fingerprint = %known_hosts::fingerprint(key), "accept-new: recorded a new host key");
                        self.accepted.push(known_hosts::AcceptedKey::new(
                            self.addr.to_string(),
                            key,
                            &self.known_hosts,
                        ));
                        None
                    }
                    Err(e) => Some(Refusal::Error(e.to_string())),
                }
            }
            Ok(HostKeyStatus::Unknown) => Some(Refusal::Unknown),
            Ok(HostKeyStatus::Changed { lines }) => Some(Refusal::Changed(lines)),
            Ok(HostKeyStatus::Revoked { line }) => Some(Refusal::Revoked(line)),
            Err(e) => Some(Refusal::Error(e.to_string())),
        };
        let ok = refusal.is_none();
        self.record(Some(key.clone()), refusal);
        Ok(ok)
    }
}

impl KeyChecker {
    fn record(&self, key: Option<PublicKey>, refused: Option<Refusal>) {
        if let Ok(mut s) = self.seen.lock() {
            s.key = key;
            s.refused = refused;
        }
    }
}

fn client_config(opts: &SshOptions, known_algs: Vec<Algorithm>) -> client::Config {
    let defaults = Preferred::default();
    // Ask first for the key types known_hosts records for this host, so the check is meaningful.
    let mut keys: Vec<Algorithm> = known_algs;
    for a in defaults.key.iter() {
        let same_family = keys
            .iter()
            .any(|k| matches!((k, a), (Algorithm::Rsa { .. }, Algorithm::Rsa { .. })) || k == a);
        if !same_family {
            keys.push(a.clone());
        }
    }
    // An RSA key recorded as `ssh-rsa` stands for all three RSA signature algorithms.
    if let Some(pos) = keys.iter().position(|k| matches!(k, Algorithm::Rsa { .. })) {
        let rsa: Vec<Algorithm> = defaults
            .key
            .iter()
            .filter(|a| matches!(a, Algorithm::Rsa { .. }))
            .cloned()
            .collect();
        keys.retain(|k| !matches!(k, Algorithm::Rsa { .. }));
        for (i, a) in rsa.into_iter().enumerate() {
            keys.insert(pos.min(keys.len()) + i, a);
        }
    }
    client::Config {
        preferred: Preferred {
            kex: Cow::Borrowed(&[
                kex::CURVE25519,
                kex::CURVE25519_PRE_RFC_8731,
                kex::DH_GEX_SHA256,
                kex::DH_G16_SHA512,
                kex::DH_G14_SHA256,
                kex::EXTENSION_SUPPORT_AS_CLIENT,
                kex::EXTENSION_OPENSSH_STRICT_KEX_AS_CLIENT,
            ]),
            key: Cow::Owned(keys),
            ..defaults
        },
        keepalive_interval: Some(opts.keepalive_interval),
        keepalive_max: opts.keepalive_max,
        inactivity_timeout: None,
        nodelay: true,
        ..Default::default()
    }
}

/// Opens the TCP socket ourselves (TCP_NODELAY) and runs the SSH handshake with the key check.
pub(super) async fn handshake(
    target: &SshTarget,
    opts: &SshOptions,
) -> Result<Handle<KeyChecker>, SshError> {
    let seen = Arc::new(Mutex::new(KeyCheck::default()));
    handshake_with(&target.addr, target.route.as_ref(), opts, false, seen).await
}

async fn handshake_with(
    addr: &HostAddr,
    route: Option<&super::ssh_config::Route>,
    opts: &SshOptions,
    probe_only: bool,
    seen: Arc<Mutex<KeyCheck>>,
) -> Result<Handle<KeyChecker>, SshError> {
    let host = addr.to_string();
    // The key is checked for the address dialled (OpenSSH checks the `HostName`).
    let dial = route.map_or_else(|| addr.clone(), |r| HostAddr::new(r.host.clone(), r.port));
    let mut checker = KeyChecker {
        addr: dial.clone(),
        known_hosts: opts.known_hosts.clone(),
        global_known_hosts: opts.global_known_hosts.clone(),
        hash: opts
            .config
            .as_ref()
            .is_some_and(|c| c.hash_known_hosts(&addr.host)),
        accept_new: opts.accept_new,
        accepted: opts.accepted.clone(),
        probe_only,
        seen: seen.clone(),
        _bastion: None,
    };
    let algs = known_hosts::recorded_algorithms_all(
        &opts.known_hosts,
        opts.global_known_hosts.as_deref(),
        &dial.host,
        dial.port,
    );
    let config = Arc::new(client_config(opts, algs));
    let connected = match route.and_then(|r| r.jump.as_ref()) {
        Some(jump) => {
            // Boxed: the bastion's own handshake comes back here (without a route).
            let (bastion, stream) = Box::pin(super::jump::through(jump, &dial, opts))
                .await
                .map_err(|e| match e {
                    super::jump::JumpError::Bastion(e) => e,
                    super::jump::JumpError::Channel(why) => SshError::Connect {
                        host: host.clone(),
                        why,
                    },
                })?;
            checker._bastion = Some(bastion);
            client::connect_stream(config, stream, checker).await
        }
        None => {
            let stream = tokio::net::TcpStream::connect((dial.host.as_str(), dial.port))
                .await
                .map_err(|e| SshError::Connect {
                    host: host.clone(),
                    why: e.to_string(),
                })?;
            // Without it each round trip waits on the delayed-ACK timer (~40 ms here).
            let _ = stream.set_nodelay(true);
            client::connect_stream(config, stream, checker).await
        }
    };
    // Key refusals name what `gameday trust` takes: the address whose key was checked, or for a
    // host behind a bastion its name as written (trust dials it through the bastion).
    let host = match route.and_then(|r| r.jump.as_ref()) {
        Some(_) => addr.to_string(),
        None => dial.to_string(),
    };
    match connected {
        Ok(h) => Ok(h),
        Err(e) => {
            let check = seen.lock().map(|s| s.clone()).unwrap_or_default();
            let fingerprint = check
                .key
                .as_ref()
                .map(known_hosts::fingerprint)
                .unwrap_or_else(|| "(none)".into());
            let known_hosts = check
                .file
                .clone()
                .unwrap_or_else(|| opts.known_hosts.clone());
            Err(match check.refused {
                Some(Refusal::Unknown) => SshError::UnknownHostKey {
                    host,
                    fingerprint,
                    known_hosts,
                },
                Some(Refusal::Changed(lines)) => SshError::ChangedHostKey {
                    host,
                    fingerprint,
                    lines,
                    known_hosts,
                },
                Some(Refusal::Revoked(line)) => SshError::RevokedHostKey {
                    host,
                    fingerprint,
                    line,
                    known_hosts,
                },
                Some(Refusal::Error(why)) => SshError::KnownHosts { host, why },
                Some(Refusal::Certificate) => SshError::KnownHosts {
                    host,
                    why: "the host presented a certificate; gameday pins plain host keys".into(),
                },
                None => SshError::Connect {
                    host,
                    why: e.to_string(),
                },
            })
        }
    }
}

/// Fetches the host key of `addr` (dialled by `route` when the ssh config gives one, through its
/// bastion, whose own key is checked strictly) without logging in, for `gameday trust`.
pub async fn probe_host_key(
    addr: &HostAddr,
    route: Option<&super::ssh_config::Route>,
    opts: &SshOptions,
) -> Result<PublicKey, SshError> {
    let host = addr.to_string();
    let seen = Arc::new(Mutex::new(KeyCheck::default()));
    let run = handshake_with(addr, route, opts, true, seen.clone());
    let result = tokio::time::timeout(opts.connect_timeout, run).await;
    let key = seen.lock().ok().and_then(|s| s.key.clone());
    match (key, result) {
        (Some(key), _) => Ok(key),
        (None, Err(_)) => Err(SshError::ConnectTimeout {
            host,
            after: opts.connect_timeout,
        }),
        (None, Ok(Err(e))) => Err(e),
        (None, Ok(Ok(_))) => Err(SshError::KnownHosts {
            host,
            why: "the host presented no key".into(),
        }),
    }
}

/// The authenticated connection to one host.
pub struct SshHost {
    name: String,
    target: SshTarget,
    /// Replaced when the link drops: a rollback after a network blip reconnects (host key
    /// checked again) instead of ending UNKNOWN. Held across a reconnect so callers queue.
    handle: tokio::sync::Mutex<Arc<Handle<KeyChecker>>>,
    opts: SshOptions,
    /// The control shell. Held for one command at a time; a command that finds it busy takes an
    /// exec channel instead, so nothing (a halt least of all) queues behind a long inject.
    control: Arc<tokio::sync::Mutex<Control>>,
    /// Connect + authenticate, for the preflight report and the bench.
    pub connect_ms: u64,
}

/// Why a shell is dropped when its connection is gone (not counted as a death).
const LINK_LOST: &str = "connection lost";

/// Shell deaths (or failed starts) after which a host uses exec channels for good.
pub const MAX_SHELL_DEATHS: u32 = 3;

/// The control shell of one host, or why there is none.
#[derive(Default)]
struct Control {
    shell: Option<Shell>,
    deaths: u32,
    /// Exec channels for good: the shell died or failed to start [`MAX_SHELL_DEATHS`] times.
    given_up: bool,
}

impl Control {
    /// The shell is gone (`why`): the next command starts a new one, or after too many deaths
    /// the host falls back to exec channels for good.
    async fn died(&mut self, host: &str, why: &str) {
        if let Some(shell) = self.shell.take() {
            // Closing its stdin ends the shell once the command in hand (under `timeout`) ends.
            let _ = shell.channel.close().await;
        }
        if why == LINK_LOST {
            // Not the shell's fault: the reconnect starts a new one, and it does not count.
            tracing::info!(
                host,
                "control shell gone with the connection; a new one starts with the next command"
            );
            return;
        }
        self.deaths = self.deaths.saturating_add(1);
        if self.deaths >= MAX_SHELL_DEATHS {
            self.given_up = true;
            tracing::warn!(
                host,
                why,
                deaths = self.deaths,
                "control shell: falling back to exec channels for good"
            );
        } else {
            tracing::warn!(
                host,
                why,
                deaths = self.deaths,
                "control shell lost; a new one starts with the next command"
            );
        }
    }
}

/// Shell text of an exchange, written to the control shell as one piece.
///
/// The whole exchange is ONE process tree on the host: `[sudo -n --] timeout -k 5 T sh -c INNER
/// NAME`, with `T` the exchange's whole bound (the caller's `limit`), so nothing of it outlives that
/// bound even if the connection is gone. INNER runs each step as `( eval "$step" )` in a
/// subshell with stdin `/dev/null` and no positional parameters (a fork, not the `timeout` + `sh`
/// execs a framed command costs: on a halt of many hosts each exec saved is one per host), framed
/// by `gd_step` as `M S K` lines (or `M S d` for the detached step); the client bounds each step
/// by its own timeout (see [`Shell::exchange`]). INNER reads `M S` from its stdin (a here-doc,
/// the first line) and then reads nothing more: the marker is on no command line and in no
/// environment, and a step's subshell has it cleared. `NAME` (`gd-x-` and random hex, not the
/// marker) names the process tree so a step that outlives its timeout can be ended
/// ([`kill_exchange`]). Then the last line `M S/end` on both streams, from the control shell.
fn exchange_text(
    marker: &str,
    seq: u64,
    ex: &Exchange,
    sudo: bool,
    limit: Duration,
    name: &str,
) -> String {
    let tag = format!("{marker} {seq}");
    let mut inner = String::from("IFS= read -r gd_tag || exit 125; exec </dev/null; gd_k=0; ");
    for (step, command) in &ex.steps {
        inner.push_str(&format!("gd_c_{step}={}; ", quote(command)));
    }
    inner.push_str(
        "gd_step() { if [ -n \"$2\" ]; then gd_t=$2; else gd_k=$((gd_k+1)); gd_t=$gd_k; fi; printf '%s %s\\n' \"$gd_tag\" \"$gd_t\"; printf '%s %s\\n' \"$gd_tag\" \"$gd_t\" >&2; eval \"gd_c=\\$gd_c_$1\"; ( gd_tag=; set --; eval \"$gd_c\" ) </dev/null; gd_s=$?; printf '\\n%s %s=%s %s\\n' \"$gd_tag\" \"$gd_t\" \"$gd_s\" \"$1\"; printf '\\n%s %s=\\n' \"$gd_tag\" \"$gd_t\" >&2; return $gd_s; }\n",
    );
    inner.push_str(&ex.flow);
    inner.push('\n');
    let secs = super::bound_secs(limit);
    let run = format!(
        "timeout -k {KILL_AFTER_S} {secs} sh -c {} {name}",
        quote(&inner)
    );
    let run = if sudo {
        format!("sudo -n -- {run}")
    } else {
        run
    };
    format!(
        "{{ {run} <<'GD_TAG'\n{tag}\nGD_TAG\n}}; printf '%s\\n' '{tag}/end'; printf '%s\\n' '{tag}/end' >&2\n"
    )
}

/// The line that ends an exchange's process tree named `name` on the host (its `timeout`,
/// which passes the signal to everything under it, and its `sh`): best effort, for a step that
/// outlived its timeout. The pattern's first letter in brackets keeps the line from matching
/// itself.
fn kill_exchange(name: &str, sudo: bool) -> String {
    let pattern = format!("[{}]{}", &name[..1], &name[1..]);
    let line = format!("pkill -TERM -f -- {}", quote(&pattern));
    if sudo {
        format!("sudo -n -- {line}")
    } else {
        line
    }
}

/// One stream of an exchange, step after step until its last line.
struct StepStreams {
    tag: String,
    k: u64,
    cur: FrameStream,
    /// (end-line suffix, output, when it ended) per step, in order.
    finished: Vec<(String, String, Instant)>,
}

impl StepStreams {
    fn new(tag: &str) -> StepStreams {
        StepStreams {
            tag: tag.to_string(),
            k: 1,
            cur: Self::frame(tag, 1),
            finished: Vec::new(),
        }
    }

    /// Step `k`, or (instead) the exchange's last line (0) or the detached step's start (1).
    fn frame(tag: &str, k: u64) -> FrameStream {
        FrameStream::tagged(
            &format!("{tag} {k}"),
            &[format!("{tag}/end"), format!("{tag} d")],
        )
    }

    fn push(&mut self, data: &[u8]) -> Result<(), String> {
        self.cur.push(data).map_err(|g| g.0)?;
        while let Some(suffix) = self.cur.ended().map(str::to_string) {
            let rest = self.cur.take_rest();
            self.k = self.k.saturating_add(1);
            let ended = std::mem::replace(&mut self.cur, Self::frame(&self.tag, self.k));
            self.finished
                .push((suffix, ended.out.into_text(), Instant::now()));
            self.cur.push(&rest).map_err(|g| g.0)?;
        }
        Ok(())
    }

    fn done(&self) -> Option<usize> {
        self.cur.done()
    }
}

/// Reads the detached step of an exchange to its end: `rest` what already came of each stream.
async fn read_detached(
    shell: &mut Shell,
    tag: &str,
    rest: (Vec<u8>, Vec<u8>),
    limit: Duration,
) -> Result<CommandOutcome, String> {
    let started = Instant::now();
    let mut out = FrameStream::in_body(&format!("{tag} d"));
    let mut err = FrameStream::in_body(&format!("{tag} d"));
    let channel = &mut shell.channel;
    let work = async {
        out.push(&rest.0).map_err(|g| g.0)?;
        err.push(&rest.1).map_err(|g| g.0)?;
        while out.ended().is_none() || err.ended().is_none() {
            let msg = channel.wait().await;
            match msg {
                Some(ChannelMsg::Data { data }) => out.push(&data).map_err(|g| g.0)?,
                Some(ChannelMsg::ExtendedData { data, .. }) => err.push(&data).map_err(|g| g.0)?,
                ref m if ends_shell(m) => return Err("the control shell ended".to_string()),
                _ => {}
            }
        }
        Ok::<_, String>(())
    };
    match tokio::time::timeout(limit, work).await {
        Ok(Ok(())) => {}
        Ok(Err(why)) => return Err(why),
        Err(_) => return Err(format!("timed out after {}", fmt::duration(limit))),
    }
    let suffix = out.ended().unwrap_or_default().to_string();
    let status = suffix.split_once(' ').map_or(suffix.as_str(), |(s, _)| s);
    let exit = control::exit_status(status).map_err(|g| g.0)?;
    Ok(CommandOutcome {
        exit: Some(exit),
        stdout: out.out.into_text(),
        stderr: err.out.into_text(),
        ms: ms(started.elapsed()),
        error: None,
    })
}

/// A message after which the control shell reads and writes nothing more.
fn ends_shell(msg: &Option<ChannelMsg>) -> bool {
    matches!(
        msg,
        None | Some(
            ChannelMsg::Eof
                | ChannelMsg::Close
                | ChannelMsg::ExitStatus { .. }
                | ChannelMsg::ExitSignal { .. }
                | ChannelMsg::Failure
        )
    )
}

/// An exchange read up to its end or its detached step.
struct ExchangeRead {
    steps: Vec<(String, CommandOutcome)>,
    tag: String,
    /// The detached step started: what already came of it on stdout and stderr.
    detached: Option<(Vec<u8>, Vec<u8>)>,
}

/// One running control shell.
struct Shell {
    channel: russh::Channel<client::Msg>,
    marker: String,
    seq: u64,
    /// The process-tree name of the last exchange written (see [`exchange_text`]).
    exchange: Option<String>,
}

/// What running a command on the control shell came to.
enum ShellRun {
    /// The frame came back whole.
    Done(CommandOutcome),
    /// The shell had ended before the frame was written: nothing was sent.
    NotSent(String),
    /// The shell ended before the command started (its start line never came on a live
    /// connection): the command did not run and may go over an exec channel.
    NotStarted(String),
    /// The command may have run, but its end was not seen: the outcome says so (no exit status).
    Lost(CommandOutcome, String),
}

impl Shell {
    /// Runs an exchange's text (see [`exchange_text`]) as one write and one read.
    async fn exchange(
        &mut self,
        ex: &Exchange,
        sudo: bool,
        limit: Duration,
    ) -> Result<ExchangeRead, (String, bool)> {
        self.seq = self.seq.wrapping_add(1);
        let started = Instant::now();
        let tag = format!("{} {}", self.marker, self.seq);
        let name = control::new_marker()
            .map(|m| format!("gd-x-{}", m.trim_start_matches("gd-")))
            .map_err(|why| (why, false))?;
        let text = exchange_text(&self.marker, self.seq, ex, sudo, limit, &name);
        let channel = &mut self.channel;
        while let Ok(msg) = tokio::time::timeout(Duration::ZERO, channel.wait()).await {
            if ends_shell(&msg) {
                return Err(("the control shell had ended".into(), false));
            }
        }
        let mut out = StepStreams::new(&tag);
        let mut err = StepStreams::new(&tag);
        // Each step is bounded here by its own timeout (the host bounds only the whole): from
        // its start line (or the previous step's end, with the flow's pauses between) to its end,
        // plus the slack a framed command's remote `timeout` would take to report.
        let step_limit = ex
            .timeout
            .saturating_add(STEP_SLACK)
            .saturating_add(ex.pauses);
        let work = async {
            channel
                .data(text.as_bytes())
                .await
                .map_err(|e| format!("cannot write to the control shell: {e}"))?;
            let mut progress = (out.k, false);
            let mut since = Instant::now();
            loop {
                let msg = match since.checked_add(step_limit) {
                    Some(deadline) => tokio::time::timeout_at(deadline, channel.wait())
                        .await
                        .map_err(|_| {
                            format!(
                                "step {} did not end within {} (its timeout)",
                                out.k,
                                fmt::duration(step_limit)
                            )
                        })?,
                    None => channel.wait().await,
                };
                match msg {
                    Some(ChannelMsg::Data { data }) => out.push(&data)?,
                    Some(ChannelMsg::ExtendedData { data, .. }) => err.push(&data)?,
                    ref m if ends_shell(m) => return Err("the control shell ended".to_string()),
                    _ => {}
                }
                if out.done().is_some() && err.done().is_some() {
                    return Ok::<_, String>(());
                }
                let now = (out.k, out.cur.started());
                if now != progress {
                    progress = now;
                    since = Instant::now();
                }
            }
        };
        let done = tokio::time::timeout(limit, work).await;
        let sent = !out.finished.is_empty() || out.cur.started();
        self.exchange = Some(name);
        match done {
            Ok(Ok(())) => {}
            Ok(Err(why)) => return Err((why, sent)),
            Err(_) => return Err((format!("timed out after {}", fmt::duration(limit)), sent)),
        }
        if out.finished.len() != err.finished.len() || out.done() != err.done() {
            return Err(("the exchange's streams disagree on its steps".into(), true));
        }
        let detached = (out.done() == Some(1)).then(|| (out.cur.take_rest(), err.cur.take_rest()));
        let mut steps = Vec::new();
        let mut since = started;
        for ((suffix, stdout, at), (_, stderr, _)) in out.finished.into_iter().zip(err.finished) {
            let (status, name) = suffix.split_once(' ').unwrap_or((suffix.as_str(), ""));
            let exit = control::exit_status(status).map_err(|g| (g.0, true))?;
            steps.push((
                name.to_string(),
                CommandOutcome {
                    exit: Some(exit),
                    stdout,
                    stderr,
                    ms: ms(at.saturating_duration_since(since)),
                    error: None,
                },
            ));
            since = at;
        }
        Ok(ExchangeRead {
            steps,
            tag,
            detached,
        })
    }

    async fn run(&mut self, line: &str, limit: Duration) -> (ShellRun, bool) {
        self.seq = self.seq.wrapping_add(1);
        let started = Instant::now();
        let mut out = FrameStream::new(&self.marker, self.seq);
        let mut err = FrameStream::new(&self.marker, self.seq);
        let bytes = control::frame(&self.marker, self.seq, line);
        let channel = &mut self.channel;
        // What the shell sent since the last frame: late output (dropped) or its end, in which
        // case nothing is written and the command may go elsewhere.
        while let Ok(msg) = tokio::time::timeout(Duration::ZERO, channel.wait()).await {
            if ends_shell(&msg) {
                return (
                    ShellRun::NotSent("the control shell had ended".into()),
                    false,
                );
            }
        }
        let work = async {
            channel
                .data(&bytes[..])
                .await
                .map_err(|e| format!("cannot write to the control shell: {e}"))?;
            loop {
                match channel.wait().await {
                    Some(ChannelMsg::Data { data }) => out.push(&data).map_err(|g| g.0)?,
                    Some(ChannelMsg::ExtendedData { data, .. }) => {
                        err.push(&data).map_err(|g| g.0)?
                    }
                    Some(ChannelMsg::Failure) => {
                        return Err("the host refused to start `sh`".to_string());
                    }
                    Some(
                        ChannelMsg::Eof
                        | ChannelMsg::Close
                        | ChannelMsg::ExitStatus { .. }
                        | ChannelMsg::ExitSignal { .. },
                    )
                    | None => return Err("the control shell ended".to_string()),
                    Some(_) => {}
                }
                if out.ended().is_some() && err.ended().is_some() {
                    return Ok::<_, String>(());
                }
            }
        };
        let done = tokio::time::timeout(limit, work).await;
        let started_cmd = out.started();
        let status = out.ended().map(control::exit_status);
        let (stdout, stderr) = (out.out.into_text(), err.out.into_text());
        let ms = ms(started.elapsed());
        let lost = |error: String| CommandOutcome {
            exit: None,
            stdout: stdout.clone(),
            stderr: stderr.clone(),
            ms,
            error: Some(error),
        };
        let run = match (done, status) {
            (Ok(Ok(())), Some(Ok(code))) => ShellRun::Done(CommandOutcome {
                exit: Some(code),
                stdout,
                stderr,
                ms,
                error: None,
            }),
            (Ok(Ok(())), _) => {
                let why = "the control shell sent an end marker without an exit status";
                ShellRun::Lost(lost(why.into()), why.into())
            }
            (Ok(Err(why)), _) if !started_cmd => ShellRun::NotStarted(why),
            (Ok(Err(why)), _) => {
                ShellRun::Lost(lost(format!("no exit status ({why} mid-command)")), why)
            }
            (Err(_), _) => {
                let why = format!("timed out after {}", fmt::duration(limit));
                ShellRun::Lost(lost(why.clone()), why)
            }
        };
        (run, started_cmd)
    }
}

impl SshHost {
    /// Connects, checks the host key, authenticates. A refused host runs nothing.
    pub async fn connect(target: &SshTarget, opts: &SshOptions) -> Result<SshHost, SshError> {
        let host = target.addr.to_string();
        let started = Instant::now();
        let work = async {
            let mut handle = handshake(target, opts).await?;
            authenticate(&mut handle, target).await?;
            Ok::<_, SshError>(handle)
        };
        let handle = tokio::time::timeout(opts.connect_timeout, work)
            .await
            .map_err(|_| SshError::ConnectTimeout {
                host: host.clone(),
                after: opts.connect_timeout,
            })??;
        let h = SshHost {
            name: host,
            target: target.clone(),
            handle: tokio::sync::Mutex::new(Arc::new(handle)),
            opts: opts.clone(),
            control: Arc::new(tokio::sync::Mutex::new(Control::default())),
            connect_ms: ms(started.elapsed()),
        };
        if target.sudo {
            let out = h.exec_raw("sudo -n true", opts.connect_timeout).await;
            if !out.success() {
                return Err(SshError::Sudo {
                    host: h.name.clone(),
                    user: target.user.clone(),
                    why: out.summary(),
                });
            }
        }
        // The control shell starts now, so the first fault command (and a halt) finds it warm.
        // A host where it cannot start still works, over exec channels.
        if !opts.control_shell {
            h.control.lock().await.given_up = true;
        } else {
            let mut control = h.control.lock().await;
            match h.start_shell().await {
                Ok(shell) => control.shell = Some(shell),
                Err(why) => control.died(&h.name, &why).await,
            }
        }
        Ok(h)
    }

    /// Whether the next command that finds it free runs on the control shell (tests, the bench).
    pub async fn control_shell_up(&self) -> bool {
        self.control.lock().await.shell.is_some()
    }

    /// Whether this host uses exec channels for good, its control shell having died or failed to
    /// start [`MAX_SHELL_DEATHS`] times.
    pub async fn control_shell_given_up(&self) -> bool {
        self.control.lock().await.given_up
    }

    /// Starts `sh` on a session channel and proves it frames (`true` round trip).
    async fn start_shell(&self) -> Result<Shell, String> {
        let marker = control::new_marker()?;
        let channel = self.channel().await?;
        channel
            .exec(true, "sh")
            .await
            .map_err(|e| format!("cannot start the control shell: {e}"))?;
        let mut shell = Shell {
            channel,
            marker,
            seq: 0,
            exchange: None,
        };
        match shell.run("true", self.opts.connect_timeout).await.0 {
            ShellRun::Done(o) if o.success() => Ok(shell),
            ShellRun::Done(o) => Err(format!(
                "the control shell's first command: {}",
                o.summary()
            )),
            ShellRun::NotSent(why) | ShellRun::NotStarted(why) | ShellRun::Lost(_, why) => {
                Err(format!("the control shell did not start: {why}"))
            }
        }
    }

    /// Makes sure `control` has a shell that is up (a link that went down between commands, or a
    /// shell that ended, gets a new one; nothing was sent on the old); `false` when this host has
    /// given up on its shell or one cannot start now.
    async fn shell_ready(&self, control: &mut Control) -> bool {
        if control.given_up {
            return false;
        }
        if control.shell.is_some() && self.handle.lock().await.is_closed() {
            control.died(&self.name, LINK_LOST).await;
        }
        if control.shell.is_none() {
            match self.start_shell().await {
                Ok(shell) => control.shell = Some(shell),
                Err(why) => {
                    control.died(&self.name, &why).await;
                    return false;
                }
            }
        }
        true
    }

    /// Runs `line` on the control shell when it is free and up; `None`: it did not run there
    /// (busy, given up, or the shell ended before it started) and goes over an exec channel.
    async fn on_shell(&self, line: &str, limit: Duration) -> Option<CommandOutcome> {
        let mut control = self.control.try_lock().ok()?;
        if !self.shell_ready(&mut control).await {
            return None;
        }
        let shell = control.shell.as_mut()?;
        let (run, _) = shell.run(line, limit).await;
        match run {
            ShellRun::Done(outcome) => Some(outcome),
            ShellRun::NotSent(why) => {
                let why = if self.handle.lock().await.is_closed() {
                    LINK_LOST.to_string()
                } else {
                    why
                };
                control.died(&self.name, &why).await;
                None
            }
            ShellRun::NotStarted(why) => {
                // Its start line never came: on a live link the command did not run. On a lost
                // link it may have, and is not sent again (an inject must not go in twice).
                let link_lost = self.handle.lock().await.is_closed();
                control.died(&self.name, &why).await;
                if link_lost {
                    Some(CommandOutcome {
                        error: Some(format!(
                            "no exit status ({why}; connection lost) (on {})",
                            self.name
                        )),
                        ..Default::default()
                    })
                } else {
                    None
                }
            }
            ShellRun::Lost(outcome, why) => {
                control.died(&self.name, &why).await;
                Some(outcome)
            }
        }
    }

    pub fn target(&self) -> &SshTarget {
        &self.target
    }

    /// Wraps `command` the way every remote command runs: under `timeout`, through `sudo -n`.
    pub fn wrap(&self, command: &str, timeout: Duration) -> String {
        wrap_command(command, timeout, self.target.sudo)
    }

    /// The warm connection; reconnected first when `broken` or when russh reports it closed.
    async fn connection(&self, broken: bool) -> Result<Arc<Handle<KeyChecker>>, String> {
        let mut slot = self.handle.lock().await;
        if !broken && !slot.is_closed() {
            return Ok(slot.clone());
        }
        tracing::warn!(host = %self.name, "ssh connection lost; reconnecting");
        let work = async {
            let mut handle = handshake(&self.target, &self.opts).await?;
            authenticate(&mut handle, &self.target).await?;
            Ok::<_, SshError>(handle)
        };
        match tokio::time::timeout(self.opts.connect_timeout, work).await {
            Ok(Ok(h)) => {
                *slot = Arc::new(h);
                Ok(slot.clone())
            }
            Ok(Err(e)) => Err(format!("connection lost and reconnect failed: {e}")),
            Err(_) => Err(format!(
                "connection lost and reconnect timed out after {}",
                fmt::duration(self.opts.connect_timeout)
            )),
        }
    }

    /// Opens a channel; if the connection turns out dead (nothing was sent yet), reconnects once.
    async fn channel(&self) -> Result<russh::Channel<client::Msg>, String> {
        let handle = self.connection(false).await?;
        match handle.channel_open_session().await {
            Ok(c) => Ok(c),
            Err(first) => {
                let handle = self
                    .connection(true)
                    .await
                    .map_err(|e| format!("cannot open a channel ({first}); {e}"))?;
                handle
                    .channel_open_session()
                    .await
                    .map_err(|e| format!("cannot open a channel: {e}"))
            }
        }
    }

    /// Drops the connection (tests: a link that went away).
    #[cfg(any(test, feature = "test-support"))]
    pub async fn disconnect_for_test(&self) {
        let handle = self.handle.lock().await.clone();
        let _ = handle
            .disconnect(russh::Disconnect::ByApplication, "test", "en")
            .await;
    }

    /// Runs `line` exactly as given (no wrapping) on a new channel of the warm connection.
    async fn exec_raw(&self, line: &str, limit: Duration) -> CommandOutcome {
        let started = Instant::now();
        // Outside the timed future so that a timed-out command still shows what it printed.
        let (mut out, mut err) = (CappedOutput::new(), CappedOutput::new());
        let run = async {
            let mut channel = self.channel().await?;
            channel
                .exec(true, line)
                .await
                .map_err(|e| format!("cannot start the command: {e}"))?;
            // Nothing is ever written to a command: its stdin ends at once, as on the control
            // shell (</dev/null), so a command that reads it does not wait for its timeout.
            let _ = channel.eof().await;
            let mut exit = None;
            let mut signal = None;
            // Every message is consumed (the window stays open, the remote command runs to its
            // end); past the cap the data is counted and dropped.
            while let Some(msg) = channel.wait().await {
                match msg {
                    ChannelMsg::Data { data } => out.push(&data),
                    ChannelMsg::ExtendedData { data, .. } => err.push(&data),
                    ChannelMsg::ExitStatus { exit_status } => {
                        exit = i32::try_from(exit_status).ok();
                    }
                    ChannelMsg::ExitSignal { signal_name, .. } => {
                        signal = Some(format!("{signal_name:?}"));
                    }
                    ChannelMsg::Close => break,
                    _ => {}
                }
            }
            Ok::<_, String>((exit, signal))
        };
        let done = tokio::time::timeout(limit, run).await;
        let (stdout, stderr) = (out.into_text(), err.into_text());
        match done {
            Ok(Ok((exit, signal))) => CommandOutcome {
                exit,
                stdout,
                stderr,
                ms: ms(started.elapsed()),
                error: match (exit, signal) {
                    (Some(_), _) => None,
                    (None, Some(s)) => Some(format!("killed by signal {s}")),
                    // The channel closed without a status: the link or sshd went away.
                    (None, None) => Some("no exit status (connection lost?)".into()),
                },
            },
            Ok(Err(why)) => CommandOutcome {
                exit: None,
                ms: ms(started.elapsed()),
                error: Some(format!("{why} (on {})", self.name)),
                ..Default::default()
            },
            Err(_) => CommandOutcome {
                exit: None,
                stdout,
                stderr,
                ms: ms(started.elapsed()),
                error: Some(format!("timed out after {}", fmt::duration(limit))),
            },
        }
    }
}

impl Host for SshHost {
    fn name(&self) -> &str {
        &self.name
    }

    fn exec<'a>(&'a self, command: &'a str, timeout: Duration) -> BoxFuture<'a, CommandOutcome> {
        Box::pin(async move {
            let line = self.wrap(command, timeout);
            let limit = timeout.saturating_add(LOCAL_GRACE);
            match self.on_shell(&line, limit).await {
                Some(outcome) => outcome,
                None => self.exec_raw(&line, limit).await,
            }
        })
    }

    fn manual(&self, command: &str) -> String {
        manual_command(&self.target, command)
    }

    fn exchange<'a>(&'a self, ex: &'a Exchange) -> BoxFuture<'a, ExchangeResult> {
        Box::pin(async move {
            let mut control = self.control.clone().try_lock_owned().ok()?;
            if !self.shell_ready(&mut control).await {
                return None;
            }
            let per_run = ex.timeout.saturating_add(LOCAL_GRACE);
            let limit = per_run
                .saturating_mul(ex.max_runs.max(1))
                .saturating_add(ex.pauses);
            let shell = control.shell.as_mut()?;
            match shell.exchange(ex, self.target.sudo, limit).await {
                Ok(ExchangeRead {
                    steps,
                    tag,
                    detached,
                }) => {
                    let Some(rest) = detached else {
                        return Some(Ok(ExchangeDone {
                            steps,
                            detached: None,
                        }));
                    };
                    // The detached step runs on: a task that holds the shell reads it to its end,
                    // so the caller has its steps now and the shell takes no command meanwhile.
                    let (tx, rx) = tokio::sync::oneshot::channel();
                    let name = self.name.clone();
                    tokio::spawn(async move {
                        let Some(shell) = control.shell.as_mut() else {
                            return;
                        };
                        match read_detached(shell, &tag, rest, per_run).await {
                            Ok(outcome) => {
                                let _ = tx.send(outcome);
                            }
                            Err(why) => {
                                let _ = tx.send(CommandOutcome {
                                    error: Some(format!("no exit status ({why}) (on {name})")),
                                    ..Default::default()
                                });
                                control.died(&name, &why).await;
                            }
                        }
                    });
                    Some(Ok(ExchangeDone {
                        steps,
                        detached: Some(Pending::new(rx)),
                    }))
                }
                Err((why, sent)) => {
                    let tree = shell.exchange.take();
                    let why = if !sent && self.handle.lock().await.is_closed() {
                        LINK_LOST.to_string()
                    } else {
                        why
                    };
                    control.died(&self.name, &why).await;
                    if !sent {
                        return None;
                    }
                    // What runs of it on the host (a step past its timeout, a shell that died
                    // under a running step) is ended before the caller runs the steps again one
                    // by one: never two undos at once. Best effort: the host's own bound on the
                    // whole exchange ends it anyway.
                    if let Some(tree) = tree {
                        let kill = kill_exchange(&tree, self.target.sudo);
                        let o = self.exec_raw(&kill, self.opts.connect_timeout).await;
                        tracing::info!(
                            host = self.name,
                            outcome = o.summary(),
                            "ended the broken exchange's processes"
                        );
                    }
                    Some(Err(format!("{why} (on {})", self.name)))
                }
            }
        })
    }

    fn management_port(&self) -> Option<u16> {
        Some(
            self.target
                .route
                .as_ref()
                .map_or(self.target.addr.port, |r| r.port),
        )
    }

    fn leases(&self) -> bool {
        true
    }

    fn connect_ms(&self) -> Option<u64> {
        Some(self.connect_ms)
    }

    fn route(&self) -> Option<String> {
        self.target.route.as_ref().map(ToString::to_string)
    }
}

/// `timeout -k 5 <secs> sh -c '<command>'`, inside `sudo -n --` when asked: a closed channel does
/// not kill a non-PTY command, so the host itself bounds it.
pub fn wrap_command(command: &str, timeout: Duration, sudo: bool) -> String {
    let secs = super::bound_secs(timeout);
    let inner = format!("timeout -k {KILL_AFTER_S} {secs} sh -c {}", quote(command));
    if sudo {
        format!("sudo -n -- {inner}")
    } else {
        inner
    }
}

/// A line a person can paste: `ssh -p PORT user@host '<command>'`.
pub fn manual_command(target: &SshTarget, command: &str) -> String {
    let remote = if target.sudo {
        format!("sudo -n -- sh -c {}", quote(command))
    } else {
        command.to_string()
    };
    // Where the ssh config sent it, written out: the line works without that config.
    let (dial, port) = target
        .route
        .as_ref()
        .map_or((&target.addr.host, target.addr.port), |r| (&r.host, r.port));
    let host = if dial.contains(':') {
        format!("[{dial}]")
    } else {
        dial.clone()
    };
    let mut identity = target
        .identity
        .as_ref()
        .map(|p| format!(" -i {}", quote(&p.display().to_string())))
        .unwrap_or_default();
    if let Some(j) = target.route.as_ref().and_then(|r| r.jump.as_ref()) {
        identity.push_str(&format!(" -J {}@{}", j.user, j.addr));
    }
    format!(
        "ssh -p {port}{identity} {}@{host} {}",
        target.user,
        quote(&remote)
    )
}

/// Single-quotes for sh. Commands reaching here never hold NUL (validation refuses it); if one
/// did, the line becomes a command that fails loudly instead of running something else.
fn quote(s: &str) -> String {
    match shlex::try_quote(s) {
        Ok(q) => q.into_owned(),
        Err(_) => "'gameday: refused a command containing NUL'; false".to_string(),
    }
}

pub(super) async fn authenticate(
    handle: &mut Handle<KeyChecker>,
    target: &SshTarget,
) -> Result<(), SshError> {
    let host = target.addr.to_string();
    let fail = |why: String| SshError::Auth {
        host: host.clone(),
        user: target.user.clone(),
        why,
    };
    let rsa_hash = handle
        .best_supported_rsa_hash()
        .await
        .ok()
        .flatten()
        .flatten();
    if let Some(path) = &target.identity {
        let key = load_key(path).map_err(&fail)?;
        return try_key(handle, &target.user, key, rsa_hash)
            .await
            .map_err(|why| fail(format!("key {}: {why}", path.display())));
    }
    let mut tried = Vec::new();
    if std::env::var_os("SSH_AUTH_SOCK").is_some() {
        match AgentClient::connect_env().await {
            Ok(mut agent) => {
                let ids = agent.request_identities().await.unwrap_or_default();
                for id in ids {
                    let key = id.public_key().into_owned();
                    let hash = matches!(key.algorithm(), Algorithm::Rsa { .. })
                        .then_some(rsa_hash)
                        .flatten();
                    match handle
                        .authenticate_publickey_with(&target.user, key, hash, &mut agent)
                        .await
                    {
                        Ok(r) if r.success() => return Ok(()),
                        Ok(_) => tried.push("an ssh-agent key".to_string()),
                        Err(e) => tried.push(format!("ssh-agent ({e})")),
                    }
                }
            }
            Err(e) => tried.push(format!("ssh-agent unreachable ({e})")),
        }
    }
    let home = std::env::var_os("HOME").map(PathBuf::from);
    for name in ["id_ed25519", "id_ecdsa", "id_rsa"] {
        let Some(path) = home.as_ref().map(|h| h.join(".ssh").join(name)) else {
            break;
        };
        if !path.exists() {
            continue;
        }
        match load_key(&path) {
            Ok(key) => match try_key(handle, &target.user, key, rsa_hash).await {
                Ok(()) => return Ok(()),
                Err(why) => tried.push(format!("{} ({why})", path.display())),
            },
            Err(why) => tried.push(why),
        }
    }
    Err(fail(if tried.is_empty() {
        "no key: set `identity:` on the target, load a key into ssh-agent, or create ~/.ssh/id_ed25519".into()
    } else {
        format!(
            "the server accepted none of: {}; add the public key to ~{}/.ssh/authorized_keys there",
            tried.join(", "),
            target.user
        )
    }))
}

fn load_key(path: &Path) -> Result<russh::keys::PrivateKey, String> {
    russh::keys::load_secret_key(path, None).map_err(|e| {
        format!(
            "cannot use key {}: {e} (passphrase-protected keys must be loaded into ssh-agent)",
            path.display()
        )
    })
}

async fn try_key(
    handle: &mut Handle<KeyChecker>,
    user: &str,
    key: russh::keys::PrivateKey,
    rsa_hash: Option<russh::keys::HashAlg>,
) -> Result<(), String> {
    let hash = matches!(key.algorithm(), Algorithm::Rsa { .. })
        .then_some(rsa_hash)
        .flatten();
    match handle
        .authenticate_publickey(user, PrivateKeyWithHashAlg::new(Arc::new(key), hash))
        .await
    {
        Ok(r) if r.success() => Ok(()),
        Ok(_) => Err("rejected".into()),
        Err(e) => Err(e.to_string()),
    }
}

fn ms(d: Duration) -> u64 {
    u64::try_from(d.as_millis()).unwrap_or(u64::MAX)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn target(sudo: bool, port: u16) -> SshTarget {
        SshTarget {
            addr: HostAddr::new("db-1", port),
            user: "ops".into(),
            sudo,
            identity: None,
            route: None,
        }
    }

    #[test]
    fn commands_are_wrapped_in_remote_timeout_and_sudo() {
        let cmd = "echo 'a b' \"$(id)\" `x`; rm -f x";
        let line = wrap_command(cmd, Duration::from_millis(2500), false);
        assert_eq!(
            shlex::split(&line).unwrap(),
            ["timeout", "-k", "5", "3", "sh", "-c", cmd]
        );
        assert_eq!(
            wrap_command("true", Duration::from_secs(30), true),
            "sudo -n -- timeout -k 5 30 sh -c true"
        );
    }

    #[test]
    fn known_key_types_are_asked_for_first_and_curve25519_leads_kex() {
        let c = client_config(&SshOptions::default(), vec![Algorithm::Rsa { hash: None }]);
        let keys = c.preferred.key.to_vec();
        assert!(matches!(keys[0], Algorithm::Rsa { .. }), "{keys:?}");
        assert!(matches!(keys[1], Algorithm::Rsa { .. }), "{keys:?}");
        assert!(keys.contains(&Algorithm::Ed25519));
        let plain = client_config(&SshOptions::default(), vec![]);
        assert_eq!(plain.preferred.key[0], Algorithm::Ed25519);
        assert_eq!(plain.preferred.kex[0], kex::CURVE25519);
        assert!(plain.nodelay);
    }

    #[test]
    fn manual_line_is_pasteable() {
        let line = manual_command(&target(false, 2222), "rm -f '/tmp/x y'");
        assert_eq!(
            shlex::split(&line).unwrap(),
            ["ssh", "-p", "2222", "ops@db-1", "rm -f '/tmp/x y'"]
        );
        assert_eq!(
            manual_command(&target(true, 22), "true"),
            "ssh -p 22 ops@db-1 'sudo -n -- sh -c true'"
        );
    }
}
