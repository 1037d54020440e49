//! `gameday trust HOST[:PORT]`: show a host's key fingerprint, ask, and add it to known_hosts.

use std::path::PathBuf;
use std::sync::Arc;

use super::ssh_config::SshConfig;
use crate::scenario::HostAddr;

use crate::exit;

/// `gameday trust HOST[:PORT]`: shows the key's fingerprint, asks, appends to known_hosts. An
/// ssh config alias is dialled where the config says (through its bastion); the entry is written
/// for the address dialled, hashed when the config says `HashKnownHosts yes`.
pub async fn trust(
    host: &str,
    known_hosts: Option<PathBuf>,
    ssh_config: Option<Arc<SshConfig>>,
    yes: bool,
) -> u8 {
    use super::{known_hosts as kh, ssh};
    let written = match crate::scenario::parse_host(host) {
        Ok(a) => a,
        Err(e) => {
            crate::errln!("gameday: {e}");
            return exit::INVALID;
        }
    };
    let mut opts = ssh::SshOptions::default();
    if let Some(k) = known_hosts {
        opts.known_hosts = k;
    }
    let hash = ssh_config
        .as_ref()
        .is_some_and(|c| c.hash_known_hosts(&written.host));
    let transport = crate::scenario::Transport::Ssh {
        hosts: vec![written.clone()],
        user: None,
        sudo: false,
        identity: None,
    };
    let route = match super::ssh_config::configured_targets(&transport, ssh_config.as_deref()) {
        Ok(mut t) => t.pop().and_then(|t| t.route),
        Err(e) => {
            crate::errln!("gameday: ssh config: {e}");
            return exit::INVALID;
        }
    };
    opts.config = ssh_config;
    // The key is the one of the address dialled; that is what known_hosts records.
    let addr = route.as_ref().map_or_else(
        || written.clone(),
        |r| HostAddr::new(r.host.clone(), r.port),
    );
    let key = match ssh::probe_host_key(&written, route.as_ref(), &opts).await {
        Ok(k) => k,
        Err(e) => {
            crate::errln!("gameday: {e}");
            return exit::INVALID;
        }
    };
    let fp = kh::fingerprint(&key);
    let checked = kh::check_all(
        &opts.known_hosts,
        opts.global_known_hosts.as_deref(),
        &addr.host,
        addr.port,
        &key,
    );
    match checked.map(|(status, _)| status) {
        Ok(kh::HostKeyStatus::Known) => {
            crate::outln!("{addr} is already trusted with {fp}");
            return exit::HELD;
        }
        Ok(kh::HostKeyStatus::Unknown) => {}
        Ok(other) => {
            crate::errln!(
                "gameday: {addr} presents {fp} but {} records another key or revokes it ({other:?}); refusing. Find out why before editing that file by hand",
                opts.known_hosts.display()
            );
            return exit::MANUAL;
        }
        Err(e) => {
            crate::errln!("gameday: {e}");
            return exit::INVALID;
        }
    }
    crate::outln!(
        "{addr} presents a {} key with fingerprint {fp}",
        key.algorithm()
    );
    if !yes {
        crate::outln!(
            "Compare it with the host's own `ssh-keygen -lf /etc/ssh/ssh_host_*_key.pub`."
        );
        use std::io::Write;
        let _ = write!(
            std::io::stdout(),
            "Add it to {}? [y/N] ",
            opts.known_hosts.display()
        );
        let _ = std::io::stdout().flush();
        let mut answer = String::new();
        if std::io::stdin().read_line(&mut answer).is_err()
            || !matches!(answer.trim(), "y" | "Y" | "yes")
        {
            crate::outln!("not added");
            return exit::ABORTED;
        }
    }
    let append = if hash { kh::append_hashed } else { kh::append };
    match append(&opts.known_hosts, &addr.host, addr.port, &key) {
        Ok(()) => {
            let hashed = if hash {
                " (hashed: HashKnownHosts yes)"
            } else {
                ""
            };
            crate::outln!("added {addr} to {}{hashed}", opts.known_hosts.display());
            exit::HELD
        }
        Err(e) => {
            crate::errln!("gameday: {e}");
            exit::INVALID
        }
    }
}
