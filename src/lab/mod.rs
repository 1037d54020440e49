//! The embedded demo lab: lab hosts (`shop-1`, `shop-2`, …) on 127.0.0.1, each with an in-process SSH
//! server running commands in its own sandbox directory, a demo shop with fault knobs and a
//! Prometheus `/metrics` endpoint, and a load generator. Host keys are generated fresh and written to
//! a lab known_hosts file with a generated client key, so the demo goes through exactly the same SSH
//! path as production, with strict host-key checking.

pub mod demo;
pub mod load;
pub mod shop;

use std::fmt::Write as _;
use std::io::Read;
use std::path::{Path, PathBuf};

use russh::keys::PrivateKey;
use russh::keys::ssh_key::LineEnding;
use tokio::task::JoinSet;

use crate::scenario::{HostAddr, Scenario, Source, Transport};
use crate::target::test_server::{TestServer, key_from_seed};
use shop::Shop;

/// Checkouts per second the load generator sends to each shop.
pub const LOAD_PER_SECOND: u32 = 20;

/// Shops that get load (`shop-1` … `shop-16`): a bigger lab is for fan-out, and 2 cores cannot
/// serve 20 checkouts a second to each of 1,000 shops beside the fan-out being measured.
pub const LOAD_HOSTS: usize = 16;

/// Most lab hosts (`gameday lab --hosts N`): each is an SSH server and a shop on 127.0.0.1 with
/// about 10 open files once a run holds its connection and control shell (see
/// [`raise_open_files`]); 1,000 is the fleet size the fan-out bench measures.
pub const MAX_LAB_HOSTS: usize = 1000;

/// Open files a lab of `n` hosts and one run against it need: per host the SSH and shop
/// listeners, both ends of the client's connection, the control shell's three pipes and a
/// command's in flight; plus the process's own.
pub fn open_files_needed(n: usize) -> u64 {
    256 + 10 * n as u64
}

/// Raises the soft limit on open files to the hard limit when `needed` is above it (a shell's
/// default soft limit is often 1,024). Returns the limit in force; an error says what to run
/// when even the hard limit is too low.
pub fn raise_open_files(needed: u64) -> Result<u64, String> {
    let mut lim = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: getrlimit/setrlimit only read and write the struct passed.
    if unsafe { libc::getrlimit(libc::RLIMIT_NOFILE, &mut lim) } != 0 {
        return Err(format!(
            "cannot read the open-files limit: {}",
            std::io::Error::last_os_error()
        ));
    }
    if lim.rlim_cur >= needed {
        return Ok(lim.rlim_cur);
    }
    if lim.rlim_max < needed {
        return Err(format!(
            "needs {needed} open files but the hard limit is {}; raise it (ulimit -Hn, or LimitNOFILE) or use fewer hosts",
            lim.rlim_max
        ));
    }
    let raised = libc::rlimit {
        rlim_cur: lim.rlim_max,
        rlim_max: lim.rlim_max,
    };
    // SAFETY: as above.
    if unsafe { libc::setrlimit(libc::RLIMIT_NOFILE, &raised) } != 0 {
        return Err(format!(
            "cannot raise the open-files limit to {}: {}",
            lim.rlim_max,
            std::io::Error::last_os_error()
        ));
    }
    tracing::info!(
        from = lim.rlim_cur,
        to = lim.rlim_max,
        "raised the open-files limit"
    );
    Ok(lim.rlim_max)
}

/// One lab host: its SSH server and its shop share the sandbox directory.
pub struct LabHost {
    pub name: String,
    pub sandbox: PathBuf,
    pub shop: Shop,
    pub ssh: TestServer,
}

pub struct Lab {
    pub dir: PathBuf,
    pub hosts: Vec<LabHost>,
    pub known_hosts: PathBuf,
    pub client_key: PathBuf,
    _load: JoinSet<()>,
}

/// `gameday lab`: only the lab, until Ctrl-C, so you can point your own scenarios at it.
pub async fn serve(hosts: usize) -> u8 {
    if !(1..=MAX_LAB_HOSTS).contains(&hosts) {
        crate::errln!("gameday lab: --hosts must be 1 to {MAX_LAB_HOSTS}, not {hosts}");
        return crate::exit::INVALID;
    }
    if let Err(e) = raise_open_files(open_files_needed(hosts)) {
        crate::errln!("gameday lab: {hosts} hosts: {e}");
        return crate::exit::INVALID;
    }
    let dir = match demo::ScratchDir::create() {
        Ok(d) => d,
        Err(e) => {
            crate::errln!("gameday: cannot create the lab directory: {e}");
            return crate::exit::INVALID;
        }
    };
    let lab = match Lab::start(dir.path(), hosts).await {
        Ok(l) => l,
        Err(e) => {
            crate::errln!("gameday: cannot start the lab: {e}");
            return crate::exit::INVALID;
        }
    };
    {
        use std::io::Write;
        let _ = write!(std::io::stdout(), "{}", lab.describe());
    }
    crate::outln!("Ctrl-C stops the lab and removes its directory.");
    // Any of Ctrl-C, SIGTERM or SIGHUP (a closed terminal) stops the lab and removes its
    // directory, which holds the lab's client key.
    let _ = crate::signals().recv().await;
    drop(lab);
    crate::exit::HELD
}

/// A fresh Ed25519 key from the OS's random source.
fn random_key() -> std::io::Result<PrivateKey> {
    let mut seed = [0u8; 32];
    std::fs::File::open("/dev/urandom")?.read_exact(&mut seed)?;
    Ok(key_from_seed(seed))
}

fn write_private(path: &Path, text: &str) -> std::io::Result<()> {
    use std::io::Write;
    use std::os::unix::fs::OpenOptionsExt;
    let mut f = std::fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(0o600)
        .open(path)?;
    f.write_all(text.as_bytes())
}

impl Lab {
    /// Starts `n` lab hosts under `dir`, writes `known_hosts` and the client key there, and starts
    /// the load (on the first [`LOAD_HOSTS`] shops).
    pub async fn start(dir: &Path, n: usize) -> std::io::Result<Lab> {
        std::fs::create_dir_all(dir)?;
        let client = random_key()?;
        let client_key = dir.join("id_ed25519");
        let pem = client
            .to_openssh(LineEnding::LF)
            .map_err(|e| std::io::Error::other(format!("cannot encode the lab client key: {e}")))?;
        write_private(&client_key, &pem)?;
        let mut known = String::new();
        let mut hosts = Vec::with_capacity(n);
        for i in 1..=n {
            let name = format!("shop-{i}");
            let sandbox = dir.join(&name);
            let shop = Shop::start(&name, &sandbox).await?;
            let ssh = TestServer::start_in(
                random_key()?,
                vec![client.public_key().clone()],
                Some(sandbox.clone()),
            )
            .await?;
            let key = ssh
                .host_key
                .to_openssh()
                .map_err(|e| std::io::Error::other(format!("cannot encode a lab host key: {e}")))?;
            let _ = writeln!(known, "[127.0.0.1]:{} {key}", ssh.port);
            hosts.push(LabHost {
                name,
                sandbox,
                shop,
                ssh,
            });
        }
        let known_hosts = dir.join("known_hosts");
        std::fs::write(&known_hosts, known)?;
        let ports: Vec<u16> = hosts.iter().take(LOAD_HOSTS).map(|h| h.shop.port).collect();
        let load = load::start(&ports, LOAD_PER_SECOND, 64);
        Ok(Lab {
            dir: dir.to_path_buf(),
            hosts,
            known_hosts,
            client_key,
            _load: load,
        })
    }

    pub fn host(&self, name: &str) -> Option<&LabHost> {
        self.hosts.iter().find(|h| h.name == name)
    }

    /// Points a scenario written for lab host names (`shop-1`, `http://shop-1/metrics`) at this
    /// lab's real addresses, and gives its SSH targets the lab's client key. The journal then records
    /// exactly where every command and probe went.
    pub fn localize(&self, scenario: &mut Scenario) {
        for target in scenario.targets.values_mut() {
            if let Transport::Ssh {
                hosts, identity, ..
            } = &mut target.transport
            {
                let mut any = false;
                for h in hosts.iter_mut() {
                    if let Some(lab) = self.host(&h.host) {
                        // The name stays what the scenario wrote: that is how people know it.
                        *h = HostAddr {
                            name: Some(h.label()),
                            tags: std::mem::take(&mut h.tags),
                            ..HostAddr::new("127.0.0.1", lab.ssh.port)
                        };
                        any = true;
                    }
                }
                if any && identity.is_none() {
                    *identity = Some(self.client_key.clone());
                }
            }
        }
        for metric in scenario.metrics.values_mut() {
            let url = match &mut metric.source {
                Source::Scrape { url, .. } | Source::Http { url, .. } => url,
                Source::Prometheus { server, .. } => server,
                Source::Command { .. } => continue,
            };
            if let Some(local) = self.localize_url(url) {
                *url = local;
            }
        }
    }

    /// `http://shop-1/metrics` → `http://127.0.0.1:<port>/metrics`.
    fn localize_url(&self, url: &str) -> Option<String> {
        let rest = url.strip_prefix("http://")?;
        let (authority, path) = match rest.find('/') {
            Some(i) => (&rest[..i], &rest[i..]),
            None => (rest, "/"),
        };
        let host = self.host(authority)?;
        Some(format!("http://127.0.0.1:{}{path}", host.shop.port))
    }

    /// What `gameday lab` prints: how to point your own scenarios at the lab.
    pub fn describe(&self) -> String {
        let mut s = String::new();
        let _ = writeln!(s, "gameday lab is running in {}", self.dir.display());
        let _ = writeln!(s, "  known_hosts: {}", self.known_hosts.display());
        let _ = writeln!(s, "  client key:  {}", self.client_key.display());
        for h in &self.hosts {
            let _ = writeln!(
                s,
                "  {}: ssh 127.0.0.1:{} (any user; commands run in {}), shop http://127.0.0.1:{}/ (/checkout /health /metrics)",
                h.name,
                h.ssh.port,
                h.sandbox.display(),
                h.shop.port
            );
        }
        let _ = writeln!(
            s,
            "  fault knobs per host: faults/latency_ms, faults/error_pct, faults/stopped (relative to the host's directory)"
        );
        let _ = writeln!(
            s,
            "  in a scenario: targets: {{ shop: {{ hosts: [\"127.0.0.1:{}\"], user: you, identity: {} }} }}",
            self.hosts.first().map(|h| h.ssh.port).unwrap_or(0),
            self.client_key.display()
        );
        let _ = writeln!(
            s,
            "  and run with: gameday run FILE --known-hosts {}",
            self.known_hosts.display()
        );
        s
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[tokio::test]
    async fn load_reaches_every_shop_and_knobs_show_in_metrics() {
        let dir = tempfile::tempdir().unwrap();
        let lab = Lab::start(dir.path(), 2).await.unwrap();
        std::fs::write(lab.dir.join("shop-2/faults/error_pct"), "100").unwrap();
        // Bounded wait for traffic: real sockets, real time.
        let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
        while lab.hosts.iter().any(|h| h.shop.stats_total() < 5)
            && tokio::time::Instant::now() < deadline
        {
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        assert!(
            lab.hosts.iter().all(|h| h.shop.stats_total() >= 5),
            "load reached every shop"
        );
        let (_, m1) = shop::get(lab.host("shop-1").unwrap().shop.port, "/metrics")
            .await
            .unwrap();
        let (_, m2) = shop::get(lab.host("shop-2").unwrap().shop.port, "/metrics")
            .await
            .unwrap();
        assert!(m1.contains("code=\"500\"} 0"), "{m1}");
        assert!(
            !m2.contains("code=\"500\"} 0"),
            "shop-2 serves errors: {m2}"
        );
    }

    #[tokio::test]
    async fn localize_points_lab_names_at_real_ports() {
        let dir = tempfile::tempdir().unwrap();
        let lab = Lab::start(dir.path(), 2).await.unwrap();
        let yaml = r#"
title: t
hypothesis: h
max_duration: 1m
targets:
  s: { hosts: [shop-2, other-host], user: u }
metrics:
  m: { scrape: "http://shop-1/metrics", series: x }
  h: { http: "http://shop-2", every: 1s }
  o: { http: "http://elsewhere/health" }
steps:
  - { name: a, duration: 1s }
"#;
        let mut s = Scenario::parse(&dir.path().join("s.yaml"), yaml).unwrap();
        lab.localize(&mut s);
        let Transport::Ssh {
            hosts, identity, ..
        } = &s.targets["s"].transport
        else {
            panic!()
        };
        assert_eq!(hosts[0], HostAddr::new("127.0.0.1", lab.hosts[1].ssh.port));
        assert_eq!(
            hosts[0].to_string(),
            format!("127.0.0.1:{}", lab.hosts[1].ssh.port)
        );
        assert_eq!(
            hosts[0].label(),
            "shop-2",
            "the name the scenario wrote stays"
        );
        assert_eq!(hosts[1].name, None);
        assert_eq!(hosts[1].host, "other-host", "non-lab hosts are left alone");
        assert_eq!(identity.as_deref(), Some(lab.client_key.as_path()));
        let url = |n: &str| match &s.metrics[n].source {
            Source::Scrape { url, .. } | Source::Http { url, .. } => url.clone(),
            _ => unreachable!(),
        };
        assert_eq!(
            url("m"),
            format!("http://127.0.0.1:{}/metrics", lab.hosts[0].shop.port)
        );
        assert_eq!(
            url("h"),
            format!("http://127.0.0.1:{}/", lab.hosts[1].shop.port)
        );
        assert_eq!(url("o"), "http://elsewhere/health");
        let kh = std::fs::read_to_string(&lab.known_hosts).unwrap();
        assert_eq!(kh.lines().count(), 2);
        assert!(kh.starts_with(&format!(
            "[127.0.0.1]:{} ssh-ed25519 ",
            lab.hosts[0].ssh.port
        )));
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(&lab.client_key)
            .unwrap()
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o600);
    }
}
