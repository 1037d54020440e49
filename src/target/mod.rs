//! Transports: where commands run. Every host is an `Arc<dyn Host>` opened once at run start and
//! kept for the whole run, so rollback never waits on a new connection.

pub mod known_hosts;
pub mod local;
pub mod ssh;
pub mod test_server;

use std::collections::BTreeMap;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;

use crate::event::CommandOutcome;
use crate::scenario::{Scenario, Transport};

pub type BoxFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

/// Output kept per stream of one command; the rest is cut so the journal stays small.
pub const OUTPUT_CAP: usize = 16 * 1024;

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
}

/// The hosts of every target, by target name.
pub type HostMap = BTreeMap<String, Vec<Arc<dyn Host>>>;

#[derive(Debug, thiserror::Error)]
pub enum TargetError {
    #[error("{} host(s) could not be opened; nothing was run:\n  {}", .0.len(), .0.iter().map(ToString::to_string).collect::<Vec<_>>().join("\n  "))]
    Ssh(Vec<ssh::SshError>),
}

/// How targets are opened.
#[derive(Debug, Clone)]
pub struct OpenOptions {
    pub ssh: ssh::SshOptions,
    /// Most SSH handshakes in flight at once.
    pub fanout: usize,
}

impl Default for OpenOptions {
    fn default() -> Self {
        OpenOptions {
            ssh: ssh::SshOptions::default(),
            fanout: 64,
        }
    }
}

/// The SSH hosts of a target, resolved from the scenario (user defaults to `$USER`).
pub fn ssh_targets(transport: &Transport) -> Vec<ssh::SshTarget> {
    match transport {
        Transport::Local => Vec::new(),
        Transport::Ssh {
            hosts,
            user,
            sudo,
            identity,
        } => {
            let user = user
                .clone()
                .or_else(|| std::env::var("USER").ok())
                .unwrap_or_else(|| "root".into());
            hosts
                .iter()
                .map(|addr| ssh::SshTarget {
                    addr: addr.clone(),
                    user: user.clone(),
                    sudo: *sudo,
                    identity: identity.clone(),
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
    for (name, target) in &scenario.targets {
        for t in ssh_targets(&target.transport) {
            wanted.entry(t).or_default().push(name.clone());
        }
    }
    let opened = connect_all(wanted.keys().cloned().collect(), options).await?;
    let mut map = HostMap::new();
    for (name, target) in &scenario.targets {
        let hosts: Vec<Arc<dyn Host>> = match &target.transport {
            Transport::Local => vec![Arc::new(local::LocalHost::new())],
            Transport::Ssh { .. } => ssh_targets(&target.transport)
                .iter()
                .filter_map(|t| opened.get(t).cloned())
                .collect(),
        };
        map.insert(name.clone(), hosts);
    }
    Ok(map)
}

/// [`open`] for synchronous callers (the console's launcher). Local-only scenarios need no
/// runtime; SSH targets are opened on the current multi-threaded tokio runtime.
pub fn open_blocking(scenario: &Scenario, options: &OpenOptions) -> Result<HostMap, TargetError> {
    let any_ssh = scenario
        .targets
        .values()
        .any(|t| matches!(t.transport, Transport::Ssh { .. }));
    if !any_ssh {
        return Ok(scenario
            .targets
            .keys()
            .map(|name| {
                let hosts: Vec<Arc<dyn Host>> = vec![Arc::new(local::LocalHost::new())];
                (name.clone(), hosts)
            })
            .collect());
    }
    match tokio::runtime::Handle::try_current() {
        Ok(rt) if rt.runtime_flavor() == tokio::runtime::RuntimeFlavor::MultiThread => {
            tokio::task::block_in_place(|| rt.block_on(open(scenario, options)))
        }
        _ => Err(TargetError::Ssh(vec![ssh::SshError::Connect {
            host: "(all SSH targets)".into(),
            why: "SSH targets need gameday's multi-threaded runtime".into(),
        }])),
    }
}

/// Connects to each SSH target concurrently, bounded by `fanout`.
pub async fn connect_all(
    targets: Vec<ssh::SshTarget>,
    options: &OpenOptions,
) -> Result<BTreeMap<ssh::SshTarget, Arc<dyn Host>>, TargetError> {
    let permits = Arc::new(tokio::sync::Semaphore::new(options.fanout.max(1)));
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
    let s = String::from_utf8_lossy(bytes);
    if s.len() <= OUTPUT_CAP {
        return s.into_owned();
    }
    let mut end = OUTPUT_CAP;
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    format!("{}… [{} bytes cut]", &s[..end], s.len() - end)
}
