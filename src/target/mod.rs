//! Transports: where commands run. Every host is an `Arc<dyn Host>` opened once at run start and
//! kept for the whole run, so rollback never waits on a new connection.

pub mod control;
pub mod jump;
pub mod known_hosts;
pub mod local;
pub mod outcome;
pub mod ssh;
pub mod ssh_config;
pub mod test_server;
pub mod trust;

use std::collections::BTreeMap;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;

use crate::scenario::{Scenario, Transport};

pub use outcome::CommandOutcome;

pub type BoxFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

/// Output kept per stream of one command; the rest is cut so the journal stays small.
pub const OUTPUT_CAP: usize = 16 * 1024;

/// Grace a host's `timeout` gives a command after TERM before it sends KILL.
pub const KILL_AFTER_S: u64 = 5;

/// The whole seconds a host's `timeout` gets for `timeout`: rounded up, at least 1.
pub fn bound_secs(timeout: Duration) -> u64 {
    timeout
        .as_secs()
        .saturating_add(u64::from(timeout.subsec_nanos() > 0))
        .max(1)
}

/// The longest a command gameday started (an inject, an undo) can still run on its host after
/// it started, whether or not gameday lives: every command runs under the host's own
/// `timeout -k 5` (`ssh::wrap_command`, the exchange's bound, `local`'s, which is one second
/// longer). What `recover` waits out before it trusts a rollback of an inject that was still
/// running when its run died.
pub fn host_bound(timeout: Duration) -> Duration {
    Duration::from_secs(
        bound_secs(timeout)
            .saturating_add(1)
            .saturating_add(KILL_AFTER_S),
    )
}

/// A place that runs shell commands.
pub trait Host: Send + Sync {
    /// How the journal and the screen name this host (`local`, `db-1:2222`).
    fn name(&self) -> &str;

    /// Runs one shell line, killed after `timeout`. Never fails: problems are in the outcome,
    /// and a missing exit status stays missing.
    fn exec<'a>(&'a self, command: &'a str, timeout: Duration) -> BoxFuture<'a, CommandOutcome>;

    /// How a person runs `command` on this host by hand, for the debrief's manual steps.
    fn manual(&self, command: &str) -> String {
        command.to_string()
    }

    /// The port of the connection gameday manages this host through (SSH), which network faults
    /// must never cut. `None` for the local host.
    fn management_port(&self) -> Option<u16> {
        None
    }

    /// Whether faults on this host get a dead-man lease (remote hosts do; the console's own
    /// machine and test doubles do not).
    fn leases(&self) -> bool {
        false
    }

    /// How long opening this host took (TCP + key exchange + authentication), for preflight.
    fn connect_ms(&self) -> Option<u64> {
        None
    }

    /// Where the host is really dialled when the ssh config rewrote it (`10.0.0.5:2222 via
    /// ops@bastion`), journaled with the preflight check beside the address as written.
    fn route(&self) -> Option<String> {
        None
    }

    /// Why this host could not be opened, for a host that stands in for one that was not reached
    /// ([`Unreachable`]): nothing is sent to it, and what it was meant to run is reported by hand.
    fn unreachable(&self) -> Option<&str> {
        None
    }

    /// Runs `exchange` as one round trip where the transport can (the SSH control shell, when it
    /// is up and free): each step as [`Host::exec`] would run it, the flow between them on the
    /// host. `None`: not run at all (the caller runs the steps one by one); `Some(Err)`: it broke
    /// part way (a step may have run; the caller decides).
    fn exchange<'a>(&'a self, exchange: &'a Exchange) -> BoxFuture<'a, ExchangeResult> {
        let _ = exchange;
        Box::pin(async { None })
    }
}

/// Several commands sent to a host as one round trip, with sh control flow between them on the
/// host (the rollback's undo retries, verify retries, then the lease cancel only when verified).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Exchange {
    /// `(name, command)`: `name` is `[a-z_]+`; the flow runs the step with `gd_step name`, which
    /// returns the step's exit status.
    pub steps: Vec<(&'static str, String)>,
    /// Plain sh text calling `gd_step NAME`; it must not read stdin or print anything itself.
    pub flow: String,
    /// Each step's timeout (as [`Host::exec`]'s).
    pub timeout: Duration,
    /// The most steps the flow can run, and its pauses in total: bound the wait for the whole.
    pub max_runs: u32,
    pub pauses: Duration,
    /// A step the flow may run last with `gd_step NAME d` whose outcome the caller does not wait
    /// for: the exchange answers once it starts (the lease cancel after a VERIFIED rollback, so
    /// the result is journaled without waiting on it) and [`Pending`] brings its outcome later.
    pub detached: Option<&'static str>,
}

/// What an exchange did: each step run before the detached one, in order, by name; the
/// detached step's outcome to come, when the flow started it.
#[derive(Debug)]
pub struct ExchangeDone {
    pub steps: Vec<(String, CommandOutcome)>,
    pub detached: Option<Pending>,
}

/// See [`Host::exchange`].
pub type ExchangeResult = Option<Result<ExchangeDone, String>>;

/// The outcome of a command still running on a host, read by the task that holds its shell.
#[derive(Clone)]
pub struct Pending(Arc<std::sync::Mutex<Option<tokio::sync::oneshot::Receiver<CommandOutcome>>>>);

impl Pending {
    pub fn new(rx: tokio::sync::oneshot::Receiver<CommandOutcome>) -> Pending {
        Pending(Arc::new(std::sync::Mutex::new(Some(rx))))
    }

    /// The outcome once it is known; no exit status when its reader ended without it (or when
    /// it was already taken).
    pub async fn wait(&self) -> CommandOutcome {
        let rx = self.0.lock().ok().and_then(|mut r| r.take());
        let lost = |why: &str| CommandOutcome {
            error: Some(why.to_string()),
            ..Default::default()
        };
        match rx {
            Some(rx) => rx
                .await
                .unwrap_or_else(|_| lost("no exit status (the control shell ended)")),
            None => lost("no exit status (already taken)"),
        }
    }
}

impl std::fmt::Debug for Pending {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Pending(..)")
    }
}

impl PartialEq for Pending {
    fn eq(&self, other: &Pending) -> bool {
        Arc::ptr_eq(&self.0, &other.0)
    }
}

/// A host that could not be opened (refused key, no route, not in the scenario any more). It runs
/// nothing; its [`Host::manual`] lines are what a person would run there once it is reachable.
pub struct Unreachable {
    name: String,
    why: String,
    ssh: Option<ssh::SshTarget>,
}

impl Unreachable {
    pub fn new(name: &str, why: String, ssh: Option<ssh::SshTarget>) -> Unreachable {
        Unreachable {
            name: name.to_string(),
            why,
            ssh,
        }
    }
}

impl Host for Unreachable {
    fn name(&self) -> &str {
        &self.name
    }

    fn exec<'a>(&'a self, _command: &'a str, _timeout: Duration) -> BoxFuture<'a, CommandOutcome> {
        let outcome = CommandOutcome {
            error: Some(format!("not sent: host not reached ({})", self.why)),
            ..Default::default()
        };
        Box::pin(async move { outcome })
    }

    fn manual(&self, command: &str) -> String {
        match &self.ssh {
            Some(t) => ssh::manual_command(t, command),
            None => command.to_string(),
        }
    }

    fn unreachable(&self) -> Option<&str> {
        Some(&self.why)
    }
}

/// The hosts of every target, by target name.
pub type HostMap = BTreeMap<String, Vec<Arc<dyn Host>>>;

#[derive(Debug, thiserror::Error)]
pub enum TargetError {
    #[error("{} host(s) could not be opened; nothing was run:\n  {}", .0.len(), .0.iter().map(ToString::to_string).collect::<Vec<_>>().join("\n  "))]
    Ssh(Vec<ssh::SshError>),
    #[error("ssh config: {0}; nothing was run")]
    Config(#[from] ssh_config::SshConfigError),
}

/// How targets are opened.
#[derive(Debug, Clone)]
pub struct OpenOptions {
    pub ssh: ssh::SshOptions,
    /// Most SSH handshakes in flight at once.
    pub fanout: usize,
    /// Told how far opening has got, so a front end never waits in silence.
    pub progress: OnConnect,
}

impl Default for OpenOptions {
    fn default() -> Self {
        OpenOptions {
            ssh: ssh::SshOptions::default(),
            fanout: 64,
            progress: OnConnect::default(),
        }
    }
}

/// How far opening the SSH hosts has got: `done` of `total` answered, `failed` of those not opened.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Connecting {
    pub done: usize,
    pub failed: usize,
    pub total: usize,
}

impl std::fmt::Display for Connecting {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        if self.done < self.total {
            write!(f, "connecting {}/{} hosts…", self.done, self.total)?;
        } else {
            write!(
                f,
                "connected {}/{} hosts",
                self.done - self.failed,
                self.total
            )?;
        }
        if self.failed > 0 {
            write!(f, " ({} failed)", self.failed)?;
        }
        Ok(())
    }
}

/// A callback for [`Connecting`] progress: called with 0 done before the first handshake, then
/// once per host answered. The default does nothing.
#[derive(Clone, Default)]
pub struct OnConnect(Option<Arc<dyn Fn(Connecting) + Send + Sync>>);

impl OnConnect {
    pub fn new(f: impl Fn(Connecting) + Send + Sync + 'static) -> OnConnect {
        OnConnect(Some(Arc::new(f)))
    }

    pub fn report(&self, c: Connecting) {
        if let Some(f) = &self.0 {
            f(c);
        }
    }
}

impl std::fmt::Debug for OnConnect {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(if self.0.is_some() {
            "OnConnect(..)"
        } else {
            "OnConnect(none)"
        })
    }
}

/// The SSH hosts of a target, resolved from the scenario (user: the target's, else the host's
/// inventory `ansible_user`, else `$USER`).
pub fn ssh_targets(transport: &Transport) -> Vec<ssh::SshTarget> {
    match transport {
        Transport::Local => Vec::new(),
        Transport::Ssh {
            hosts,
            user,
            sudo,
            identity,
        } => {
            let default_user = std::env::var("USER").unwrap_or_else(|_| "root".into());
            hosts
                .iter()
                .map(|addr| ssh::SshTarget {
                    addr: addr.clone(),
                    // The target's `user`, else the inventory's `ansible_user` for this host.
                    user: user
                        .clone()
                        .or_else(|| addr.user.clone())
                        .unwrap_or_else(|| default_user.clone()),
                    sudo: *sudo,
                    identity: identity.clone(),
                    route: None,
                })
                .collect()
        }
    }
}

/// Opens every target of a scenario: SSH hosts concurrently (at most `fanout` handshakes at once),
/// each once, authenticated and kept warm. Any host that cannot be opened fails the whole open,
/// with every failure named, before a single fault command is sent anywhere.
pub async fn open(scenario: &Scenario, options: &OpenOptions) -> Result<HostMap, TargetError> {
    let mut wanted: BTreeMap<ssh::SshTarget, Vec<String>> = BTreeMap::new();
    let mut of_target = BTreeMap::new();
    for (name, target) in &scenario.targets {
        let targets =
            ssh_config::configured_targets(&target.transport, options.ssh.config.as_deref())?;
        for t in &targets {
            wanted.entry(t.clone()).or_default().push(name.clone());
        }
        of_target.insert(name, targets);
    }
    let opened = connect_all(wanted.keys().cloned().collect(), options).await?;
    let mut map = HostMap::new();
    for (name, target) in &scenario.targets {
        let hosts: Vec<Arc<dyn Host>> = match &target.transport {
            Transport::Local => vec![Arc::new(local::LocalHost::new())],
            Transport::Ssh { .. } => of_target
                .get(name)
                .into_iter()
                .flatten()
                .filter_map(|t| opened.get(t).cloned())
                .collect(),
        };
        map.insert(name.clone(), hosts);
    }
    Ok(map)
}

/// Opens only the hosts `wanted` (target name, host name as the journal names it), each on its own,
/// through the same connection path as [`open`]: one host that cannot be opened (or whose key is
/// refused) does not hide the others; it comes back as an [`Unreachable`] that says why. For
/// `recover`, which must try every host a dead run left a fault on.
pub async fn open_each(
    scenario: &Scenario,
    wanted: &[(String, String)],
    options: &OpenOptions,
) -> BTreeMap<(String, String), Arc<dyn Host>> {
    // One connect per host: a count of 1 host at a time would say nothing.
    let options = OpenOptions {
        progress: OnConnect::default(),
        ..options.clone()
    };
    let config = options.ssh.config.clone();
    open_each_with(scenario, wanted, config.as_deref(), move |t| {
        let options = options.clone();
        Box::pin(async move {
            connect_all(vec![t.clone()], &options)
                .await
                .map_err(|e| e.to_string())
                .and_then(|mut m| m.remove(&t).ok_or_else(|| "not opened".to_string()))
        })
    })
    .await
}

/// [`open_each`] with the SSH connection made by `connect` (tests fault it).
async fn open_each_with(
    scenario: &Scenario,
    wanted: &[(String, String)],
    config: Option<&ssh_config::SshConfig>,
    connect: impl Fn(ssh::SshTarget) -> BoxFuture<'static, Result<Arc<dyn Host>, String>>,
) -> BTreeMap<(String, String), Arc<dyn Host>> {
    let ssh_of = |target: &str, host: &str| {
        scenario.targets.get(target).and_then(|t| {
            let plain = ssh_targets(&t.transport)
                .into_iter()
                .find(|s| s.addr.to_string() == host)?;
            // A config that cannot be applied costs only this host, which then says why.
            let Some(c) = config else {
                return Some((plain, None));
            };
            Some(
                match ssh_config::configure(&t.transport, plain.clone(), c) {
                    Ok(configured) => (configured, None),
                    Err(e) => (plain, Some(format!("ssh config: {e}"))),
                },
            )
        })
    };
    let mut out: BTreeMap<(String, String), Arc<dyn Host>> = BTreeMap::new();
    let mut dial = Vec::new();
    for (target, host) in wanted {
        let key = (target.clone(), host.clone());
        let opened: Arc<dyn Host> = match scenario.targets.get(target).map(|t| &t.transport) {
            Some(Transport::Local) => Arc::new(local::LocalHost::new()),
            Some(Transport::Ssh { .. }) => match ssh_of(target, host) {
                Some((t, None)) => {
                    dial.push((key, t));
                    continue;
                }
                Some((t, Some(why))) => Arc::new(Unreachable::new(host, why, Some(t))),
                None => Arc::new(Unreachable::new(
                    host,
                    format!("host {host} is not in target `{target}` of the journal's scenario"),
                    None,
                )),
            },
            None => Arc::new(Unreachable::new(
                host,
                format!("target `{target}` is not in the journal's scenario"),
                None,
            )),
        };
        out.insert(key, opened);
    }
    let mut distinct: Vec<ssh::SshTarget> = dial.iter().map(|(_, t)| t.clone()).collect();
    distinct.sort();
    distinct.dedup();
    // One connect_all per host, so one refused host does not fail the others.
    let mut tasks = tokio::task::JoinSet::new();
    let mut by_task = std::collections::HashMap::new();
    for t in distinct {
        let handle = tasks.spawn(connect(t.clone()));
        by_task.insert(handle.id(), t);
    }
    let mut reached: BTreeMap<ssh::SshTarget, Result<Arc<dyn Host>, String>> = BTreeMap::new();
    while let Some(joined) = tasks.join_next_with_id().await {
        // A connect task that died costs only its own host.
        let (id, h) = match joined {
            Ok((id, r)) => (id, r),
            Err(e) => (e.id(), Err(format!("connect task failed: {e}"))),
        };
        let Some(t) = by_task.remove(&id) else {
            continue;
        };
        reached.insert(t, h);
    }
    for ((target, host), t) in dial {
        let opened = match reached.get(&t) {
            Some(Ok(h)) => h.clone(),
            Some(Err(why)) => Arc::new(Unreachable::new(&host, why.clone(), Some(t))),
            None => Arc::new(Unreachable::new(&host, "not opened".into(), Some(t))),
        };
        out.insert((target, host), opened);
    }
    out
}

/// Connects to each SSH target concurrently, bounded by `fanout`.
pub async fn connect_all(
    targets: Vec<ssh::SshTarget>,
    options: &OpenOptions,
) -> Result<BTreeMap<ssh::SshTarget, Arc<dyn Host>>, TargetError> {
    let permits = Arc::new(tokio::sync::Semaphore::new(options.fanout.max(1)));
    let mut progress = Connecting {
        done: 0,
        failed: 0,
        total: targets.len(),
    };
    if progress.total > 0 {
        options.progress.report(progress);
    }
    let mut tasks = tokio::task::JoinSet::new();
    for t in targets {
        let (permits, opts) = (permits.clone(), options.ssh.clone());
        tasks.spawn(async move {
            let _permit = permits.acquire_owned().await.ok();
            let r = ssh::SshHost::connect(&t, &opts).await;
            (t, r)
        });
    }
    let mut opened = BTreeMap::new();
    let mut errors = Vec::new();
    while let Some(joined) = tasks.join_next().await {
        progress.done += 1;
        if !matches!(joined, Ok((_, Ok(_)))) {
            progress.failed += 1;
        }
        options.progress.report(progress);
        match joined {
            Ok((t, Ok(h))) => {
                tracing::info!(host = %t.addr, ms = h.connect_ms, "ssh connected");
                opened.insert(t, Arc::new(h) as Arc<dyn Host>);
            }
            Ok((_, Err(e))) => errors.push(e),
            Err(e) => errors.push(ssh::SshError::Connect {
                host: "?".into(),
                why: format!("connect task failed: {e}"),
            }),
        }
    }
    if errors.is_empty() {
        Ok(opened)
    } else {
        errors.sort_by_key(ToString::to_string);
        Err(TargetError::Ssh(errors))
    }
}

/// Keeps the head of a stream's output, cut at a character boundary.
pub fn capped(bytes: &[u8]) -> String {
    let mut out = CappedOutput::new();
    out.push(bytes);
    out.into_text()
}

/// One output stream of a command, read while it arrives: the first [`OUTPUT_CAP`] bytes are kept,
/// the rest is counted and dropped at once, so a command printing without end costs no memory and
/// is still read (a child blocked on a full pipe would never exit).
#[derive(Debug, Default)]
pub struct CappedOutput {
    head: Vec<u8>,
    dropped: u64,
}

impl CappedOutput {
    pub fn new() -> Self {
        CappedOutput::default()
    }

    /// Takes one chunk: what fits under the cap is kept, the rest only counted.
    pub fn push(&mut self, chunk: &[u8]) {
        let room = OUTPUT_CAP.saturating_sub(self.head.len());
        let keep = room.min(chunk.len());
        if keep > 0 {
            // Exactly the cap, once: the buffer never grows past it.
            if self.head.capacity() == 0 {
                self.head.reserve_exact(OUTPUT_CAP);
            }
            self.head.extend_from_slice(&chunk[..keep]);
        }
        let cut = u64::try_from(chunk.len() - keep).unwrap_or(u64::MAX);
        self.dropped = self.dropped.saturating_add(cut);
    }

    /// Bytes kept so far (at most [`OUTPUT_CAP`]).
    pub fn kept(&self) -> usize {
        self.head.len()
    }

    /// Bytes received past the cap and dropped.
    pub fn dropped(&self) -> u64 {
        self.dropped
    }

    /// Memory held for the kept bytes.
    pub fn capacity(&self) -> usize {
        self.head.capacity()
    }

    /// Reads `reader` to its end (or until the caller stops polling), keeping only the head.
    pub async fn read_from<R>(&mut self, reader: &mut R) -> std::io::Result<()>
    where
        R: tokio::io::AsyncRead + Unpin + ?Sized,
    {
        use tokio::io::AsyncReadExt;
        let mut chunk = vec![0u8; READ_CHUNK];
        loop {
            let n = reader.read(&mut chunk).await?;
            if n == 0 {
                return Ok(());
            }
            self.push(&chunk[..n]);
        }
    }

    /// The kept head as text, then `… [N bytes cut]` when anything was cut. The text itself is at
    /// most [`OUTPUT_CAP`] bytes (invalid UTF-8 is replaced, and never makes it longer).
    pub fn into_text(self) -> String {
        let CappedOutput { mut head, dropped } = self;
        // The cap may have split a character: its first bytes go with the cut part.
        let partial = if dropped > 0 {
            incomplete_utf8_tail(&head)
        } else {
            0
        };
        head.truncate(head.len() - partial);
        let mut text = String::with_capacity(head.len().min(OUTPUT_CAP));
        let mut used = 0;
        'chunks: for chunk in head.utf8_chunks() {
            let valid = chunk.valid();
            if text.len() + valid.len() <= OUTPUT_CAP {
                text.push_str(valid);
                used += valid.len();
            } else {
                for c in valid.chars() {
                    if text.len() + c.len_utf8() > OUTPUT_CAP {
                        break 'chunks;
                    }
                    text.push(c);
                    used += c.len_utf8();
                }
            }
            if !chunk.invalid().is_empty() {
                // U+FFFD takes 3 bytes where the invalid sequence may have taken 1.
                if text.len() + 3 > OUTPUT_CAP {
                    break;
                }
                text.push(char::REPLACEMENT_CHARACTER);
                used += chunk.invalid().len();
            }
        }
        let unshown = u64::try_from(head.len() - used + partial).unwrap_or(u64::MAX);
        let cut = dropped.saturating_add(unshown);
        if cut == 0 {
            text
        } else {
            text.push_str(&format!("… [{cut} bytes cut]"));
            text
        }
    }
}

/// Size of one read from a command's pipe or channel.
const READ_CHUNK: usize = 64 * 1024;

/// How many bytes at the end of `b` are the start of a UTF-8 character whose other bytes are
/// missing.
fn incomplete_utf8_tail(b: &[u8]) -> usize {
    for back in 1..=b.len().min(3) {
        let byte = b[b.len() - back];
        if byte & 0xC0 != 0x80 {
            let len = match byte {
                0xF0..=0xF7 => 4,
                0xE0..=0xEF => 3,
                0xC0..=0xDF => 2,
                _ => 1,
            };
            return if len > back { back } else { 0 };
        }
    }
    0
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Opening says how far it has got: 0 of N before the first handshake, then once per host,
    /// failures counted.
    #[tokio::test]
    async fn connect_all_reports_progress_per_host() {
        // Ports nothing listens on: refused at once.
        let closed = || {
            std::net::TcpListener::bind("127.0.0.1:0")
                .unwrap()
                .local_addr()
                .unwrap()
                .port()
        };
        let targets: Vec<ssh::SshTarget> = (0..3)
            .map(|_| ssh::SshTarget {
                addr: crate::scenario::HostAddr::new("127.0.0.1", closed()),
                user: "u".into(),
                sudo: false,
                identity: None,
                route: None,
            })
            .collect();
        let seen = Arc::new(std::sync::Mutex::new(Vec::new()));
        let options = OpenOptions {
            progress: OnConnect::new({
                let seen = seen.clone();
                move |c| seen.lock().unwrap().push(c)
            }),
            ..OpenOptions::default()
        };
        assert!(connect_all(targets, &options).await.is_err());
        let seen = seen.lock().unwrap().clone();
        let shown: Vec<String> = seen.iter().map(ToString::to_string).collect();
        assert_eq!(
            shown,
            [
                "connecting 0/3 hosts…",
                "connecting 1/3 hosts… (1 failed)",
                "connecting 2/3 hosts… (2 failed)",
                "connected 0/3 hosts (3 failed)"
            ]
        );
    }

    #[test]
    fn capped_output_keeps_the_head_and_counts_the_rest() {
        let mut out = CappedOutput::new();
        for _ in 0..1000 {
            out.push(&[b'y'; 1000]);
        }
        assert_eq!(out.kept(), OUTPUT_CAP);
        assert_eq!(out.dropped(), 1_000_000 - OUTPUT_CAP as u64);
        assert_eq!(
            out.capacity(),
            OUTPUT_CAP,
            "the buffer never grows past the cap"
        );
        let text = out.into_text();
        let marker = format!("… [{} bytes cut]", 1_000_000 - OUTPUT_CAP);
        assert!(text.ends_with(&marker), "{}", &text[OUTPUT_CAP..]);
        assert_eq!(text.len(), OUTPUT_CAP + marker.len());
    }

    #[test]
    fn short_output_is_kept_whole() {
        assert_eq!(capped(b"hello\n"), "hello\n");
        assert_eq!(capped(b""), "");
        assert_eq!(CappedOutput::new().capacity(), 0, "no output, no buffer");
    }

    #[test]
    fn a_character_split_by_the_cap_goes_with_the_cut() {
        let mut bytes = vec![b'a'; OUTPUT_CAP - 1];
        bytes.extend_from_slice("é and more".as_bytes());
        let text = capped(&bytes);
        assert!(!text.contains('\u{FFFD}'), "no replacement character");
        let cut = bytes.len() - (OUTPUT_CAP - 1);
        assert!(
            text.ends_with(&format!("a… [{cut} bytes cut]")),
            "{}",
            &text[OUTPUT_CAP - 8..]
        );
    }

    #[test]
    fn invalid_bytes_never_make_the_text_longer_than_the_cap() {
        let text = capped(&vec![0xFF; OUTPUT_CAP * 2]);
        let (kept, marker) = text.split_once('…').unwrap();
        assert!(kept.len() <= OUTPUT_CAP);
        // Each 0xFF shows as one 3-byte U+FFFD; every input byte not shown is counted.
        let shown = kept.chars().count();
        assert_eq!(marker, format!(" [{} bytes cut]", OUTPUT_CAP * 2 - shown));
    }

    /// An endless stream (`yes`) read through the cap: memory stays at the cap, every byte is
    /// counted, and the read goes on until the stream ends.
    #[tokio::test]
    async fn reading_a_huge_stream_holds_only_the_cap() {
        use tokio::io::AsyncReadExt;
        let total: u64 = 32 * 1024 * 1024;
        let mut endless = tokio::io::repeat(b'y').take(total);
        let mut out = CappedOutput::new();
        out.read_from(&mut endless).await.unwrap();
        assert_eq!(out.kept(), OUTPUT_CAP);
        assert_eq!(out.capacity(), OUTPUT_CAP);
        assert_eq!(out.dropped(), total - OUTPUT_CAP as u64);
    }

    /// `recover` must try every host: a connect that panics costs only its own host, which comes
    /// back unreachable (with its manual `ssh …` line), and the others are still opened.
    #[tokio::test]
    async fn open_each_survives_a_connect_task_that_panics() {
        let yaml = r#"title: t
description: d
hypothesis: h
roles: { incident_commander: A, scribe: B }
max_duration: 5m
targets:
  db: { hosts: [db-1, "db-2:2222"], user: ops, sudo: true }
  here: { local: true }
metrics:
  m: { command: "echo 1", target: here, every: 2s }
steady_state:
  - { metric: m, below: 100 }
steps:
  - { name: s, duration: 1m }
"#;
        let scenario = Scenario::parse(std::path::Path::new("scenarios/t.yaml"), yaml)
            .unwrap_or_else(|e| panic!("{e}"));
        let wanted = vec![
            ("db".to_string(), "db-1".to_string()),
            ("db".to_string(), "db-2:2222".to_string()),
            ("here".to_string(), "local".to_string()),
            ("gone".to_string(), "x".to_string()),
        ];
        let opened = open_each_with(&scenario, &wanted, None, |t| {
            Box::pin(async move {
                if t.addr.port == 2222 {
                    panic!("injected: connect task dies");
                }
                Ok(Arc::new(local::LocalHost::new()) as Arc<dyn Host>)
            })
        })
        .await;
        assert_eq!(opened.len(), 4, "every wanted host has an answer");
        let db1 = &opened[&wanted[0]];
        assert!(
            db1.unreachable().is_none(),
            "the other host was still opened: {:?}",
            db1.unreachable()
        );
        let db2 = &opened[&wanted[1]];
        let why = db2.unreachable().expect("the panicked host is unreachable");
        assert!(why.contains("connect task failed"), "{why}");
        assert_eq!(db2.name(), "db-2:2222");
        assert_eq!(
            db2.manual("true"),
            "ssh -p 2222 ops@db-2 'sudo -n -- sh -c true'"
        );
        let out = db2.exec("true", Duration::from_secs(1)).await;
        assert!(out.exit.is_none() && !out.success(), "nothing runs on it");
        assert!(opened[&wanted[2]].unreachable().is_none());
        let gone = opened[&wanted[3]].unreachable().expect("unknown target");
        assert!(
            gone.contains("`gone` is not in the journal's scenario"),
            "{gone}"
        );
    }
}
