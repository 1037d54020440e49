//! The user's ssh config applied when hosts are opened: an alias resolved to HostName, Port,
//! User and IdentityFile (in-process russh server), and ProxyJump through a real OpenSSH sshd
//! bastion to a second real sshd, both host keys checked strictly.

use std::process::Command;
use std::sync::Arc;
use std::time::Duration;

use gameday::scenario::Scenario;
use gameday::target::ssh::SshOptions;
use gameday::target::ssh_config::SshConfig;
use gameday::target::test_server::TestServer;
use gameday::target::{OpenOptions, known_hosts};

use crate::sshd_support::Sshd;

fn scenario(dir: &std::path::Path, target: &str, faults: &str) -> std::path::PathBuf {
    let path = dir.join("s.yaml");
    std::fs::write(
        &path,
        format!(
            "title: ssh config\nhypothesis: aliases resolve\nmax_duration: 5m\n\
             targets:\n  box: {target}\nsteps:\n  - name: fault\n    duration: 1s\n    faults:\n{faults}"
        ),
    )
    .unwrap();
    path
}

#[tokio::test]
async fn an_alias_is_dialled_at_its_hostname_port_as_its_user_with_its_key() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let (server, identity) = crate::keyed_server(&d.join("alias_key"), 9, 2).await;
    let kh = d.join("known_hosts");
    known_hosts::append(&kh, "127.0.0.1", server.port, &server.host_key).unwrap();
    let config = d.join("config");
    std::fs::write(
        &config,
        format!(
            "Host shop-*\n  HostName 127.0.0.1\n  Port {}\n  User alias-user\n  IdentityFile {}\n",
            server.port,
            identity.display()
        ),
    )
    .unwrap();
    let s = Scenario::load(&scenario(
        d,
        "{ hosts: [shop-1] }",
        "      - { kind: command, target: box, inject: 'true', rollback: 'true' }\n",
    ))
    .unwrap();
    let mut options = OpenOptions {
        ssh: SshOptions {
            known_hosts: kh.clone(),
            config: Some(Arc::new(SshConfig::load(&config).unwrap())),
            ..SshOptions::default()
        },
        ..OpenOptions::default()
    };
    let hosts = gameday::target::open(&s, &options).await.unwrap();
    let host = &hosts["box"][0];
    // The host keeps the name as written; where it was dialled is beside it.
    assert_eq!(host.name(), "shop-1");
    assert_eq!(
        host.route().as_deref(),
        Some(&*format!("127.0.0.1:{}", server.port))
    );
    assert_eq!(host.management_port(), Some(server.port));
    let out = host.exec("echo via-alias", Duration::from_secs(5)).await;
    assert!(out.success(), "{out:?}");
    // `recover` opens hosts by the name the journal holds, through the same config.
    let wanted = [("box".to_string(), "shop-1".to_string())];
    let each = gameday::target::open_each(&s, &wanted, &options).await;
    let again = &each[&wanted[0]];
    assert_eq!(again.unreachable(), None);
    assert!(again.exec("true", Duration::from_secs(5)).await.success());
    // Without the config the alias means nothing here: it is not opened.
    options.ssh.config = None;
    options.ssh.connect_timeout = Duration::from_secs(3);
    assert!(gameday::target::open(&s, &options).await.is_err());
}

fn gameday() -> Command {
    Command::new(env!("CARGO_BIN_EXE_gameday"))
}

/// Two real sshd: `bastion` and `inner`; `inner` is reached only as `ProxyJump bastion`.
struct Pair {
    /// `None` once stopped.
    bastion: Option<Sshd>,
    bastion_port: u16,
    bastion_known_hosts: String,
    inner: Sshd,
    config: std::path::PathBuf,
}

fn pair() -> Option<Pair> {
    let bastion = Sshd::start()?;
    let inner = Sshd::start()?;
    let config = inner.path("ssh_config");
    std::fs::write(
        &config,
        format!(
            "Host inner\n  HostName 127.0.0.1\n  Port {ip}\n  User {iu}\n  IdentityFile {ii}\n  ProxyJump bastion\n\
             Host bastion\n  HostName 127.0.0.1\n  Port {bp}\n  User {bu}\n  IdentityFile {bi}\n",
            ip = inner.port,
            iu = inner.user,
            ii = inner.identity.display(),
            bp = bastion.port,
            bu = bastion.user,
            bi = bastion.identity.display(),
        ),
    )
    .unwrap();
    Some(Pair {
        bastion_port: bastion.port,
        bastion_known_hosts: std::fs::read_to_string(&bastion.known_hosts).unwrap(),
        bastion: Some(bastion),
        inner,
        config,
    })
}

impl Pair {
    fn known_hosts(&self, bastion: bool, inner: bool) -> std::path::PathBuf {
        let mut text = String::new();
        if bastion {
            text += &self.bastion_known_hosts;
        }
        if inner {
            text += &std::fs::read_to_string(&self.inner.known_hosts).unwrap();
        }
        let p = self.inner.path(&format!("kh_{bastion}_{inner}"));
        std::fs::write(&p, text).unwrap();
        p
    }

    /// `gameday run` of a command fault on `inner`; (exit code, stdout + stderr, journal).
    fn run(&self, kh: &std::path::Path, tag: &str) -> (Option<i32>, String, String) {
        let marker = self.inner.path(&format!("ran-{tag}"));
        let s = scenario(
            self.inner.dir.path(),
            "{ hosts: [inner] }",
            &format!(
                "      - {{ kind: command, target: box, inject: \"touch {m}\", rollback: \"rm -f {m}\", verify: \"test ! -e {m}\" }}\n",
                m = marker.display()
            ),
        );
        let journal = self.inner.path(&format!("{tag}/journal.jsonl"));
        let out = gameday()
            .arg("run")
            .arg(&s)
            .arg("--headless")
            .arg("--journal")
            .arg(&journal)
            .arg("--known-hosts")
            .arg(kh)
            .arg("--ssh-config")
            .arg(&self.config)
            .output()
            .unwrap();
        let text = format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        (
            out.status.code(),
            text,
            std::fs::read_to_string(&journal).unwrap_or_default(),
        )
    }
}

#[test]
fn proxy_jump_through_a_bastion_sshd_to_a_second_sshd() {
    let Some(p) = pair() else { return };
    let (code, out, journal) = p.run(&p.known_hosts(true, true), "ok");
    assert_eq!(code, Some(0), "{out}\n{journal}");
    // Journaled as written, with where it was dialled and through which bastion.
    let route = format!(
        "dialled as 127.0.0.1:{} via {}@127.0.0.1:{}",
        p.inner.port, p.inner.user, p.bastion_port
    );
    assert!(journal.contains(&route), "{journal}");
    assert!(journal.contains("\"host\":\"inner\""), "{journal}");
    // The way in is the bastion: without it, `inner` (still up) is not reached, nothing runs.
    let mut p = p;
    drop(p.bastion.take());
    let (code, out, _) = p.run(&p.known_hosts(true, true), "down");
    assert_eq!(code, Some(2), "{out}");
    assert!(
        out.contains(&format!("127.0.0.1:{}", p.bastion_port)),
        "{out}"
    );
    assert!(!p.inner.path("ran-down").exists());
}

#[test]
fn both_host_keys_are_checked_strictly() {
    let Some(p) = pair() else { return };
    // The bastion's key unknown: refused at the bastion, nothing run on inner.
    let (code, out, _) = p.run(&p.known_hosts(false, true), "nob");
    assert_eq!(code, Some(2), "{out}");
    assert!(
        out.contains(&format!("127.0.0.1:{}: host key", p.bastion_port)),
        "{out}"
    );
    assert!(!p.inner.path("ran-nob").exists());
    // inner's key unknown: refused, named as written, with the trust command that works.
    let kh = p.known_hosts(true, false);
    let (code, out, _) = p.run(&kh, "noi");
    assert_eq!(code, Some(2), "{out}");
    assert!(
        out.contains("inner: host key") && out.contains("gameday trust inner "),
        "{out}"
    );
    assert!(!p.inner.path("ran-noi").exists());
    // That command fetches inner's key through the bastion and records it for the address
    // dialled; then the run goes through.
    let trusted = gameday()
        .args(["trust", "inner", "--yes", "--known-hosts"])
        .arg(&kh)
        .arg("--ssh-config")
        .arg(&p.config)
        .output()
        .unwrap();
    assert_eq!(
        trusted.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&trusted.stderr)
    );
    let inner_key = std::fs::read_to_string(&p.inner.known_hosts).unwrap();
    let inner_key = inner_key.split_whitespace().nth(2).unwrap();
    let text = std::fs::read_to_string(&kh).unwrap();
    assert!(
        text.contains(&format!(
            "[127.0.0.1]:{} ssh-ed25519 {inner_key}",
            p.inner.port
        )),
        "{text}"
    );
    let (code, out, _) = p.run(&kh, "after-trust");
    assert_eq!(code, Some(0), "{out}");
}

/// An in-process server whose key is in no user known_hosts.
async fn untrusted() -> (
    tempfile::TempDir,
    TestServer,
    gameday::target::ssh::SshTarget,
) {
    let dir = tempfile::tempdir().unwrap();
    let (server, identity) = crate::keyed_server(&dir.path().join("id"), 4, 5).await;
    let target = gameday::target::ssh::SshTarget {
        addr: gameday::scenario::HostAddr::new("127.0.0.1", server.port),
        user: "t".into(),
        sudo: false,
        identity: Some(identity),
        route: None,
    };
    (dir, server, target)
}

#[tokio::test]
async fn the_system_wide_known_hosts_is_read_beside_the_users() {
    use gameday::target::Host;
    use gameday::target::ssh::{SshError, SshHost};
    let (dir, server, target) = untrusted().await;
    let global = dir.path().join("ssh_known_hosts");
    known_hosts::append(&global, "127.0.0.1", server.port, &server.host_key).unwrap();
    let opts = SshOptions {
        known_hosts: dir.path().join("user_known_hosts"),
        global_known_hosts: Some(global.clone()),
        ..SshOptions::default()
    };
    let host = SshHost::connect(&target, &opts).await.unwrap();
    assert!(host.exec("true", Duration::from_secs(5)).await.success());
    assert!(!opts.known_hosts.exists(), "the user's file is not written");
    let before = std::fs::read_to_string(&global).unwrap();
    // Not there: refused, as before.
    let opts = SshOptions {
        global_known_hosts: Some(dir.path().join("empty")),
        ..opts
    };
    match SshHost::connect(&target, &opts).await {
        Err(SshError::UnknownHostKey { .. }) => {}
        other => panic!("expected an unknown key, got {:?}", other.err()),
    }
    assert_eq!(
        std::fs::read_to_string(&global).unwrap(),
        before,
        "read-only"
    );
}

#[tokio::test]
async fn accept_new_writes_a_hashed_entry_when_the_config_says_hash_known_hosts() {
    use gameday::target::ssh::SshHost;
    let (dir, server, target) = untrusted().await;
    let kh = dir.path().join("known_hosts");
    let config =
        SshConfig::parse(&dir.path().join("config"), "Host *\n  HashKnownHosts yes\n").unwrap();
    let opts = SshOptions {
        known_hosts: kh.clone(),
        global_known_hosts: None,
        accept_new: true,
        config: Some(Arc::new(config)),
        ..SshOptions::default()
    };
    SshHost::connect(&target, &opts).await.unwrap();
    let text = std::fs::read_to_string(&kh).unwrap();
    assert!(
        text.starts_with("|1|") && !text.contains("127.0.0.1"),
        "{text}"
    );
    assert_eq!(
        known_hosts::check(&kh, "127.0.0.1", server.port, &server.host_key).unwrap(),
        known_hosts::HostKeyStatus::Known
    );
}

/// `gameday trust ALIAS --ssh-config` with `HashKnownHosts yes`: the entry is hashed, for the
/// address dialled, and OpenSSH's own `ssh-keygen -F` finds it.
#[test]
fn trust_writes_a_hashed_entry_openssh_reads() {
    let Some(sshd) = Sshd::start() else { return };
    let config = sshd.path("ssh_config");
    std::fs::write(
        &config,
        format!(
            "Host box\n  HostName 127.0.0.1\n  Port {}\nHost *\n  HashKnownHosts yes\n",
            sshd.port
        ),
    )
    .unwrap();
    let kh = sshd.path("kh_hashed");
    let out = gameday()
        .args(["trust", "box", "--yes", "--known-hosts"])
        .arg(&kh)
        .arg("--ssh-config")
        .arg(&config)
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{stdout}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(stdout.contains("hashed"), "{stdout}");
    let text = std::fs::read_to_string(&kh).unwrap();
    assert!(
        text.starts_with("|1|") && !text.contains("127.0.0.1"),
        "{text}"
    );
    let key = sshd.host_pub.split_whitespace().nth(1).unwrap();
    assert!(text.contains(key), "{text}");
    let found = Command::new("ssh-keygen")
        .arg("-F")
        .arg(format!("[127.0.0.1]:{}", sshd.port))
        .arg("-f")
        .arg(&kh)
        .output()
        .unwrap();
    assert!(
        found.status.success() && String::from_utf8_lossy(&found.stdout).contains(key),
        "ssh-keygen -F did not find the hashed entry: {}",
        String::from_utf8_lossy(&found.stdout)
    );
}

/// Established TCP connections this process holds to 127.0.0.1:`port` (its own sockets' inodes
/// matched in /proc/net/tcp).
fn connections_to(port: u16) -> usize {
    let ours: std::collections::HashSet<String> = std::fs::read_dir("/proc/self/fd")
        .into_iter()
        .flatten()
        .flatten()
        .filter_map(|e| std::fs::read_link(e.path()).ok())
        .filter_map(|l| {
            l.to_string_lossy()
                .strip_prefix("socket:[")
                .and_then(|r| r.strip_suffix(']'))
                .map(String::from)
        })
        .collect();
    let text = std::fs::read_to_string("/proc/net/tcp").unwrap_or_default();
    text.lines()
        .skip(1)
        .filter(|l| {
            let f: Vec<&str> = l.split_whitespace().collect();
            f.len() > 9
                && f[3] == "01"
                && ours.contains(f[9])
                && f[2]
                    .split(':')
                    .nth(1)
                    .and_then(|p| u16::from_str_radix(p, 16).ok())
                    == Some(port)
        })
        .count()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hosts_behind_one_bastion_share_one_bastion_login() {
    let Some(p) = pair() else { return };
    let config = p.inner.path("ssh_config_many");
    let text = std::fs::read_to_string(&p.config).unwrap();
    // Three names for the one inner sshd, so three hosts (identities) behind one bastion.
    std::fs::write(&config, text.replacen("Host inner\n", "Host inner-*\n", 1)).unwrap();
    let s = Scenario::load(&scenario(
        p.inner.dir.path(),
        "{ hosts: [inner-1, inner-2, inner-3] }",
        "      - { kind: command, target: box, inject: 'true', rollback: 'true' }\n",
    ))
    .unwrap();
    let options = OpenOptions {
        ssh: SshOptions {
            known_hosts: p.known_hosts(true, true),
            global_known_hosts: None,
            config: Some(Arc::new(SshConfig::load(&config).unwrap())),
            ..SshOptions::default()
        },
        ..OpenOptions::default()
    };
    let hosts = gameday::target::open(&s, &options).await.unwrap();
    assert_eq!(hosts["box"].len(), 3);
    for h in &hosts["box"] {
        assert!(
            h.exec("true", Duration::from_secs(5)).await.success(),
            "{}",
            h.name()
        );
    }
    assert_eq!(
        connections_to(p.bastion_port),
        1,
        "one bastion login for three hosts"
    );
    assert_eq!(
        connections_to(p.inner.port),
        0,
        "inner is never dialled directly"
    );
    drop(hosts);
}
