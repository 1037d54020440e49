//! An in-process SSH server on 127.0.0.1 that runs each exec request with `sh -c`: fast
//! integration tests of the SSH transport without sshd, and the base of the embedded demo lab.
//!
//! Public-key authentication only, against the keys it was given; every command it ran is
//! recorded so a test can assert that a refused host ran nothing. A command's stdin is the
//! channel's data (what the client writes to a control shell), closed at the channel's EOF.

use std::collections::HashMap;
use std::process::Stdio;
use std::sync::{Arc, Mutex};

use russh::keys::ssh_key::private::Ed25519Keypair;
use russh::keys::{PrivateKey, PublicKey};
use russh::server::{self, Auth, Msg, Server as _, Session, VerifiedPublicKey};
use russh::{Channel, ChannelId};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;
use tokio::sync::mpsc;

/// An Ed25519 key from a 32-byte seed: deterministic keys for tests, no RNG needed.
pub fn key_from_seed(seed: [u8; 32]) -> PrivateKey {
    PrivateKey::from(Ed25519Keypair::from_seed(&seed))
}

/// A running server. Dropping it stops accepting new connections.
pub struct TestServer {
    pub port: u16,
    pub host_key: PublicKey,
    executed: Arc<Mutex<Vec<String>>>,
    written: Arc<Mutex<Vec<String>>>,
    task: tokio::task::JoinHandle<()>,
}

impl TestServer {
    /// Listens on 127.0.0.1 (a free port) with `host_key`, accepting clients holding `authorized`.
    pub async fn start(host_key: PrivateKey, authorized: Vec<PublicKey>) -> std::io::Result<Self> {
        Self::start_in(host_key, authorized, None).await
    }

    /// As [`TestServer::start`], running every command in `cwd` (the lab's per-host sandbox).
    pub async fn start_in(
        host_key: PrivateKey,
        authorized: Vec<PublicKey>,
        cwd: Option<std::path::PathBuf>,
    ) -> std::io::Result<Self> {
        let listener = TcpListener::bind(("127.0.0.1", 0)).await?;
        let port = listener.local_addr()?.port();
        let public = host_key.public_key().clone();
        let config = Arc::new(server::Config {
            keys: vec![host_key],
            auth_rejection_time: std::time::Duration::from_millis(10),
            auth_rejection_time_initial: Some(std::time::Duration::ZERO),
            nodelay: true,
            ..Default::default()
        });
        let executed = Arc::new(Mutex::new(Vec::new()));
        let written = Arc::new(Mutex::new(Vec::new()));
        let mut server = ShServer {
            authorized: Arc::new(authorized),
            executed: executed.clone(),
            written: written.clone(),
            cwd: cwd.map(Arc::new),
            stdin: Arc::default(),
        };
        let task = tokio::spawn(async move {
            let _ = server.run_on_socket(config, &listener).await;
        });
        Ok(TestServer {
            port,
            host_key: public,
            executed,
            written,
            task,
        })
    }

    /// Every exec request received, in order.
    pub fn executed(&self) -> Vec<String> {
        self.executed.lock().map(|e| e.clone()).unwrap_or_default()
    }

    /// Every chunk written to a running command's stdin (a control shell's frames), in order.
    pub fn written(&self) -> Vec<String> {
        self.written.lock().map(|e| e.clone()).unwrap_or_default()
    }
}

impl Drop for TestServer {
    fn drop(&mut self) {
        self.task.abort();
    }
}

#[derive(Clone)]
struct ShServer {
    authorized: Arc<Vec<PublicKey>>,
    executed: Arc<Mutex<Vec<String>>>,
    written: Arc<Mutex<Vec<String>>>,
    cwd: Option<Arc<std::path::PathBuf>>,
    /// The stdin of each running command, by channel (channel ids are per connection).
    stdin: Arc<Mutex<HashMap<ChannelId, mpsc::UnboundedSender<Vec<u8>>>>>,
}

impl server::Server for ShServer {
    type Handler = ShServer;
    fn new_client(&mut self, _: Option<std::net::SocketAddr>) -> ShServer {
        ShServer {
            stdin: Arc::default(),
            ..self.clone()
        }
    }
}

impl server::Handler for ShServer {
    type Error = russh::Error;

    async fn auth_publickey_offered(
        &mut self,
        _user: &str,
        offer: server::PublicKeyOffer<'_>,
    ) -> Result<Auth, Self::Error> {
        let _ = offer;
        Ok(Auth::Accept)
    }

    async fn auth_publickey(
        &mut self,
        _user: &str,
        key: VerifiedPublicKey<'_>,
    ) -> Result<Auth, Self::Error> {
        if self
            .authorized
            .iter()
            .any(|k| k.key_data() == key.public_key.key_data())
        {
            Ok(Auth::Accept)
        } else {
            Ok(Auth::reject())
        }
    }

    async fn channel_open_session(
        &mut self,
        _channel: Channel<Msg>,
        reply: server::ChannelOpenHandle,
        _session: &mut Session,
    ) -> Result<(), Self::Error> {
        reply.accept().await;
        Ok(())
    }

    async fn exec_request(
        &mut self,
        channel: ChannelId,
        data: &[u8],
        session: &mut Session,
    ) -> Result<(), Self::Error> {
        let command = String::from_utf8_lossy(data).into_owned();
        if let Ok(mut e) = self.executed.lock() {
            e.push(command.clone());
        }
        session.channel_success(channel)?;
        let handle = session.handle();
        let cwd = self.cwd.clone();
        let (feed, mut input) = mpsc::unbounded_channel::<Vec<u8>>();
        if let Ok(mut m) = self.stdin.lock() {
            m.insert(channel, feed);
        }
        let stdins = self.stdin.clone();
        tokio::spawn(async move {
            let mut sh = tokio::process::Command::new("sh");
            if let Some(dir) = cwd.as_deref() {
                sh.current_dir(dir);
            }
            let child = sh
                .arg("-c")
                .arg(&command)
                .stdin(Stdio::piped())
                .stdout(Stdio::piped())
                .stderr(Stdio::piped())
                .spawn();
            let status = match child {
                Ok(mut child) => {
                    // The channel's data, in order, until its EOF (the sender is dropped).
                    if let Some(mut pipe) = child.stdin.take() {
                        tokio::spawn(async move {
                            while let Some(chunk) = input.recv().await {
                                if pipe.write_all(&chunk).await.is_err() {
                                    return;
                                }
                            }
                        });
                    }
                    // Streamed as it comes, like sshd: a command printing without end is
                    // forwarded chunk by chunk, never held whole in memory.
                    tokio::join!(
                        pump(child.stdout.take(), &handle, channel, None),
                        pump(child.stderr.take(), &handle, channel, Some(1)),
                    );
                    child.wait().await.ok().and_then(|s| s.code())
                }
                Err(_) => Some(127),
            };
            // A command killed by a signal gets no exit status, like sshd sends exit-signal instead.
            if let Some(code) = status.and_then(|c| u32::try_from(c).ok()) {
                let _ = handle.exit_status_request(channel, code).await;
            }
            if let Ok(mut m) = stdins.lock() {
                m.remove(&channel);
            }
            let _ = handle.eof(channel).await;
            let _ = handle.close(channel).await;
        });
        Ok(())
    }

    async fn data(
        &mut self,
        channel: ChannelId,
        data: &[u8],
        _session: &mut Session,
    ) -> Result<(), Self::Error> {
        if let Ok(mut w) = self.written.lock() {
            w.push(String::from_utf8_lossy(data).into_owned());
        }
        if let Ok(m) = self.stdin.lock()
            && let Some(feed) = m.get(&channel)
        {
            let _ = feed.send(data.to_vec());
        }
        Ok(())
    }

    async fn channel_eof(
        &mut self,
        channel: ChannelId,
        _session: &mut Session,
    ) -> Result<(), Self::Error> {
        if let Ok(mut m) = self.stdin.lock() {
            m.remove(&channel);
        }
        Ok(())
    }

    async fn channel_close(
        &mut self,
        channel: ChannelId,
        _session: &mut Session,
    ) -> Result<(), Self::Error> {
        if let Ok(mut m) = self.stdin.lock() {
            m.remove(&channel);
        }
        Ok(())
    }
}

/// Forwards one pipe of a command to the channel (`ext` 1 is stderr) until it ends or the
/// client is gone.
async fn pump(
    pipe: Option<impl tokio::io::AsyncRead + Unpin>,
    handle: &server::Handle,
    channel: ChannelId,
    ext: Option<u32>,
) {
    let Some(mut pipe) = pipe else { return };
    let mut buf = vec![0u8; 32 * 1024];
    loop {
        let n = match pipe.read(&mut buf).await {
            Ok(0) | Err(_) => return,
            Ok(n) => n,
        };
        let chunk = buf[..n].to_vec();
        let sent = match ext {
            None => handle.data(channel, chunk).await,
            Some(ext) => handle.extended_data(channel, ext, chunk).await,
        };
        if sent.is_err() {
            return;
        }
    }
}
