//! `ProxyJump` through one bastion: an authenticated russh session to the bastion (its host key
//! checked strictly, like any host), a `direct-tcpip` channel from it to the target, and the
//! target's own SSH session run over that channel (`client::connect_stream`), its key checked too.

use std::sync::Arc;

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

/// Opens the bastion and a tunnel through it to `dest`; the bastion's session must outlive the
/// stream (the caller keeps the handle with the target's session).
pub async fn through(
    jump: &Jump,
    dest: &HostAddr,
    opts: &SshOptions,
) -> Result<(Arc<Handle<KeyChecker>>, ChannelStream<Msg>), JumpError> {
    let bastion = SshTarget {
        addr: jump.addr.clone(),
        user: jump.user.clone(),
        sudo: false,
        identity: jump.identity.clone(),
        route: None,
    };
    let mut handle = handshake(&bastion, opts)
        .await
        .map_err(JumpError::Bastion)?;
    authenticate(&mut handle, &bastion)
        .await
        .map_err(JumpError::Bastion)?;
    let channel = handle
        .channel_open_direct_tcpip(dest.host.clone(), u32::from(dest.port), "127.0.0.1", 0)
        .await
        .map_err(|e| {
            JumpError::Channel(format!(
                "bastion {}@{} would not open a tunnel to {dest}: {e}",
                jump.user, jump.addr
            ))
        })?;
    Ok((Arc::new(handle), channel.into_stream()))
}
