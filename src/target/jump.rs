//! `ProxyJump` through one bastion: an authenticated russh session to the bastion (its host key
//! checked strictly, like any host), a `direct-tcpip` channel from it to the target, and the
//! target's own SSH session run over that channel (`client::connect_stream`), its key checked too.
//!
//! Hosts behind one bastion share one bastion session (a tunnel each), as long as one of them
//! holds it: a fleet of N hosts costs the bastion one login, not N (OpenSSH's `MaxStartups`
//! would start refusing a burst of them).

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::{Arc, LazyLock, Weak};

use russh::ChannelStream;
use russh::client::{Handle, Msg};

use super::ssh::{KeyChecker, SshError, SshOptions, SshTarget, authenticate, handshake};
use super::ssh_config::Jump;
use crate::scenario::HostAddr;

pub enum JumpError {
    /// The bastion itself could not be opened (its error names it).
    Bastion(SshError),
    /// The bastion would not open a tunnel to the target.
    Channel(String),
}

/// A bastion session is shared only under the same trust: the same known_hosts files.
type PoolKey = (Jump, PathBuf, Option<PathBuf>);
type Slot = Arc<tokio::sync::Mutex<Weak<Handle<KeyChecker>>>>;

static BASTIONS: LazyLock<std::sync::Mutex<HashMap<PoolKey, Slot>>> =
    LazyLock::new(Default::default);

/// The open session to `jump`, or a new one (host key checked, authenticated). Concurrent callers
/// for one bastion wait on its slot, so a burst opens it once.
pub async fn bastion(jump: &Jump, opts: &SshOptions) -> Result<Arc<Handle<KeyChecker>>, SshError> {
    let key = (
        jump.clone(),
        opts.known_hosts.clone(),
        opts.global_known_hosts.clone(),
    );
    let slot = BASTIONS
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .entry(key)
        .or_default()
        .clone();
    let mut held = slot.lock().await;
    if let Some(h) = held.upgrade().filter(|h| !h.is_closed()) {
        return Ok(h);
    }
    let target = SshTarget {
        addr: jump.addr.clone(),
        user: jump.user.clone(),
        sudo: false,
        identity: jump.identity.clone(),
        route: None,
    };
    let mut handle = handshake(&target, opts).await?;
    authenticate(&mut handle, &target).await?;
    let handle = Arc::new(handle);
    *held = Arc::downgrade(&handle);
    Ok(handle)
}

/// Opens (or reuses) the bastion and a tunnel through it to `dest`; the bastion's session must
/// outlive the stream (the caller keeps the handle with the target's session).
pub async fn through(
    jump: &Jump,
    dest: &HostAddr,
    opts: &SshOptions,
) -> Result<(Arc<Handle<KeyChecker>>, ChannelStream<Msg>), JumpError> {
    let handle = bastion(jump, opts).await.map_err(JumpError::Bastion)?;
    let channel = handle
        .channel_open_direct_tcpip(dest.host.clone(), u32::from(dest.port), "127.0.0.1", 0)
        .await
        .map_err(|e| {
            JumpError::Channel(format!(
                "bastion {}@{} would not open a tunnel to {dest}: {e}",
                jump.user, jump.addr
            ))
        })?;
    Ok((handle, channel.into_stream()))
}
