//! `gameday trust HOST[:PORT]`: show a host's key fingerprint, ask, and add it to known_hosts.

use std::path::PathBuf;

use crate::exit;

/// `gameday trust HOST[:PORT]`: shows the key's fingerprint, asks, appends to known_hosts.
pub async fn trust(host: &str, known_hosts: Option<PathBuf>, yes: bool) -> u8 {
    use super::{known_hosts as kh, ssh};
    let addr = match crate::scenario::parse_host(host) {
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
    let key = match ssh::probe_host_key(&addr, &opts).await {
        Ok(k) => k,
        Err(e) => {
            crate::errln!("gameday: {e}");
            return exit::INVALID;
        }
    };
    let fp = kh::fingerprint(&key);
    match kh::check(&opts.known_hosts, &addr.host, addr.port, &key) {
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
    match kh::append(&opts.known_hosts, &addr.host, addr.port, &key) {
        Ok(()) => {
            crate::outln!("added {addr} to {}", opts.known_hosts.display());
            exit::HELD
        }
        Err(e) => {
            crate::errln!("gameday: {e}");
            exit::INVALID
        }
    }
}
