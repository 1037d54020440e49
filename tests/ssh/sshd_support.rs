//! A real OpenSSH sshd for tests: its own host key, config and authorized key, on a free loopback
//! port, stopped when dropped. Skips (returns None) when /usr/sbin/sshd is not installed.

#![allow(dead_code)]

use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

pub struct Sshd {
    pub dir: tempfile::TempDir,
    pub port: u16,
    pub user: String,
    pub identity: PathBuf,
    /// known_hosts holding this server's real key.
    pub known_hosts: PathBuf,
    pub host_pub: String,
    children: Vec<Child>,
}

fn keygen(path: &Path) {
    let ok = Command::new("ssh-keygen")
        .args(["-q", "-t", "ed25519", "-N", "", "-C", "", "-f"])
        .arg(path)
        .status()
        .expect("ssh-keygen")
        .success();
    assert!(ok, "ssh-keygen failed");
}

pub const SSHD: &str = "/usr/sbin/sshd";

impl Sshd {
    pub fn start() -> Option<Sshd> {
        Sshd::start_many(1)
    }

    /// One port on 127.0.0.1 ..= 127.0.0.n (sshd takes at most 16 ListenAddress entries, so
    /// one sshd process per 16 addresses). known_hosts covers them with `[127.0.0.*]:PORT`.
    pub fn start_many(n: usize) -> Option<Sshd> {
        if !Path::new(SSHD).exists() {
            eprintln!("skipping: {SSHD} is not installed (apt-get install openssh-server)");
            return None;
        }
        // Privilege separation directory; sshd refuses to start without it.
        let _ = std::fs::create_dir_all("/run/sshd");
        let dir = tempfile::tempdir().unwrap();
        let d = dir.path();
        let host_key = d.join("host_ed25519");
        keygen(&host_key);
        let identity = d.join("id_ed25519");
        keygen(&identity);
        std::fs::copy(d.join("id_ed25519.pub"), d.join("authorized_keys")).unwrap();
        // A plain HOME so the remote shell does not run root's pyenv .bashrc (+330 ms a command).
        let home = d.join("home");
        std::fs::create_dir_all(&home).unwrap();
        std::fs::write(home.join(".bashrc"), "").unwrap();
        let port = {
            let l = TcpListener::bind("127.0.0.1:0").unwrap();
            l.local_addr().unwrap().port()
        };
        let addrs: Vec<String> = (1..=n.max(1)).map(|i| format!("127.0.0.{i}")).collect();
        let mut children = Vec::new();
        for (k, chunk) in addrs.chunks(16).enumerate() {
            let listen: String = chunk
                .iter()
                .map(|a| format!("ListenAddress {a}\n"))
                .collect();
            let config = d.join(format!("sshd_config{k}"));
            std::fs::write(
            &config,
            format!(
                "Port {port}\n{listen}HostKey {hk}\nPidFile {pid}\nAuthorizedKeysFile {ak}\n\
                 PubkeyAuthentication yes\nPasswordAuthentication no\nKbdInteractiveAuthentication no\n\
                 UsePAM no\nStrictModes no\nPermitRootLogin prohibit-password\nAllowAgentForwarding no\n\
                 SetEnv HOME={home}\nLogLevel ERROR\nMaxStartups 200\nMaxSessions 200\n",
                hk = host_key.display(),
                pid = d.join(format!("sshd{k}.pid")).display(),
                ak = d.join("authorized_keys").display(),
                home = home.display(),
            ),
        )
        .unwrap();
            let child = Command::new(SSHD)
                .arg("-D")
                .arg("-e")
                .arg("-f")
                .arg(&config)
                .stdin(Stdio::null())
                .stdout(Stdio::null())
                // sshd's own complaints (e.g. the readiness probe's bare TCP connect) go to a file.
                .stderr(std::fs::File::create(d.join(format!("sshd{k}.log"))).unwrap())
                .spawn()
                .expect("start sshd");
            children.push(child);
        }
        let host_pub = std::fs::read_to_string(d.join("host_ed25519.pub"))
            .unwrap()
            .trim()
            .to_string();
        let known_hosts = d.join("known_hosts");
        let pattern = if n > 1 { "127.0.0.*" } else { "127.0.0.1" };
        std::fs::write(&known_hosts, format!("[{pattern}]:{port} {host_pub}\n")).unwrap();
        let user = String::from_utf8(Command::new("id").arg("-un").output().unwrap().stdout)
            .unwrap()
            .trim()
            .to_string();
        let sshd = Sshd {
            dir,
            port,
            user,
            identity,
            known_hosts,
            host_pub,
            children,
        };
        // sshd is a real external process: wait (bounded) until it accepts connections.
        for a in &addrs {
            let up = poll(Duration::from_secs(10), || {
                std::net::TcpStream::connect((a.as_str(), port)).is_ok()
            });
            assert!(up, "sshd did not start listening on {a}:{port}");
        }
        Some(sshd)
    }

    pub fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    /// A target block for scenario YAML.
    pub fn target_yaml(&self) -> String {
        format!(
            "{{ hosts: [\"127.0.0.1:{}\"], user: {}, identity: \"{}\" }}",
            self.port,
            self.user,
            self.identity.display()
        )
    }
}

impl Drop for Sshd {
    fn drop(&mut self) {
        for c in &mut self.children {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

/// Bounded polling for real external processes (sshd, a detached lease watcher).
pub fn poll(limit: Duration, mut ok: impl FnMut() -> bool) -> bool {
    let start = Instant::now();
    loop {
        if ok() {
            return true;
        }
        if start.elapsed() >= limit {
            return false;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}
