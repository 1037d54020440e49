//! The SSH transport: an in-process russh server and a real OpenSSH sshd on loopback.

mod accept_new;
mod control;
mod inprocess;
mod lease_engine;
mod metachar;
mod select_lab;
mod ssh_config;
mod sshd;
mod sshd_support;

/// An in-process SSH server (host key from `server_seed`) that accepts the client key from
/// `client_seed`, written as an OpenSSH private key at `identity`.
pub async fn keyed_server(
    identity: &std::path::Path,
    client_seed: u8,
    server_seed: u8,
) -> (gameday::target::test_server::TestServer, std::path::PathBuf) {
    use gameday::target::test_server::{TestServer, key_from_seed};
    let client = key_from_seed([client_seed; 32]);
    let pem = client
        .to_openssh(russh::keys::ssh_key::LineEnding::LF)
        .expect("an ed25519 key encodes");
    std::fs::write(identity, pem.as_bytes()).expect("the identity file is written");
    let server = TestServer::start(
        key_from_seed([server_seed; 32]),
        vec![client.public_key().clone()],
    )
    .await
    .expect("the in-process server starts");
    (server, identity.to_path_buf())
}
