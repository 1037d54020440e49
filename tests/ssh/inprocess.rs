//! The SSH transport against the in-process russh server: exec, exit status, host key refusal.

use std::path::{Path, PathBuf};
use std::time::Duration;

use gameday::scenario::HostAddr;
use gameday::target::Host;
use gameday::target::known_hosts;
use gameday::target::ssh::{SshError, SshHost, SshOptions, SshTarget};
use gameday::target::test_server::{TestServer, key_from_seed};
use russh::keys::ssh_key::LineEnding;

struct Fixture {
    _dir: tempfile::TempDir,
    dir: PathBuf,
    server: TestServer,
    identity: PathBuf,
    known_hosts: PathBuf,
}

async fn fixture(trust: bool) -> Fixture {
    let dir = tempfile::tempdir().unwrap();
    let (server, identity) = crate::keyed_server(&dir.path().join("id_ed25519"), 7, 1).await;
    let known_hosts = dir.path().join("known_hosts");
    if trust {
        known_hosts::append(&known_hosts, "127.0.0.1", server.port, &server.host_key).unwrap();
    }
    Fixture {
        dir: dir.path().to_path_buf(),
        _dir: dir,
        server,
        identity,
        known_hosts,
    }
}

fn target(f: &Fixture) -> SshTarget {
    SshTarget {
        addr: HostAddr::new("127.0.0.1", f.server.port),
        user: "tester".into(),
        sudo: false,
        identity: Some(f.identity.clone()),
        route: None,
    }
}

fn options(known_hosts: &Path) -> SshOptions {
    SshOptions {
        known_hosts: known_hosts.to_path_buf(),
        ..SshOptions::default()
    }
}

#[tokio::test]
async fn runs_commands_over_a_warm_connection() {
    let f = fixture(true).await;
    let host = SshHost::connect(&target(&f), &options(&f.known_hosts))
        .await
        .unwrap();
    let out = host
        .exec("echo out; echo err >&2; exit 3", Duration::from_secs(10))
        .await;
    assert_eq!(out.exit, Some(3), "{out:?}");
    assert_eq!(out.stdout.trim(), "out");
    assert_eq!(out.stderr.trim(), "err");
    for _ in 0..5 {
        assert!(host.exec("true", Duration::from_secs(5)).await.success());
    }
    // One session for the control shell; each command framed over its stdin, wrapped as before.
    assert_eq!(f.server.executed(), ["sh"]);
    let written = f.server.written();
    assert!(
        written
            .iter()
            .any(|w| w.contains("{ timeout -k 5 10 sh -c 'echo out; echo err >&2; exit 3'\n}")),
        "{written:?}"
    );
}

#[tokio::test]
async fn remote_timeout_leaves_no_exit_zero() {
    let f = fixture(true).await;
    let host = SshHost::connect(&target(&f), &options(&f.known_hosts))
        .await
        .unwrap();
    let out = host.exec("sleep 5", Duration::from_secs(1)).await;
    assert_ne!(out.exit, Some(0), "{out:?}");
    assert!(!out.success());
}

/// Output past the cap is read and dropped as it arrives: the outcome keeps the head of each
/// stream, says exactly how much was cut, and the command's own exit status comes through.
#[tokio::test]
async fn huge_output_is_capped_with_an_exact_cut_count() {
    let f = fixture(true).await;
    let host = SshHost::connect(&target(&f), &options(&f.known_hosts))
        .await
        .unwrap();
    let out = host
        .exec(
            "yes | head -c 10000000; yes e | head -c 3000000 >&2; exit 4",
            Duration::from_secs(60),
        )
        .await;
    assert_eq!(out.exit, Some(4), "{:?}", out.error);
    let cap = gameday::target::OUTPUT_CAP;
    for (text, total) in [(&out.stdout, 10_000_000), (&out.stderr, 3_000_000)] {
        let marker = format!("… [{} bytes cut]", total - cap);
        assert!(text.ends_with(&marker), "{}", &text[cap..]);
        assert_eq!(text.len(), cap + marker.len());
    }
    assert!(out.stdout.starts_with("y\ny\n") && out.stderr.starts_with("e\ne\n"));
}

/// A command that never stops printing ends at its remote `timeout` (exit 124) while the
/// console keeps reading and dropping: what it printed is kept up to the cap.
#[tokio::test]
async fn endless_output_ends_at_the_remote_timeout() {
    let f = fixture(true).await;
    let host = SshHost::connect(&target(&f), &options(&f.known_hosts))
        .await
        .unwrap();
    let out = host.exec("yes", Duration::from_secs(1)).await;
    assert_eq!(out.exit, Some(124), "{:?}", out.error);
    let (head, marker) = out.stdout.split_once('…').expect("a cut marker");
    assert_eq!(head.len(), gameday::target::OUTPUT_CAP);
    assert!(marker.ends_with(" bytes cut]"), "{marker}");
}

#[tokio::test]
async fn unknown_host_is_refused_and_runs_nothing() {
    let f = fixture(false).await;
    let err = SshHost::connect(&target(&f), &options(&f.known_hosts))
        .await
        .err()
        .unwrap();
    let msg = err.to_string();
    assert!(matches!(err, SshError::UnknownHostKey { .. }), "{msg}");
    assert!(msg.contains("SHA256:"), "{msg}");
    assert!(msg.contains("gameday trust 127.0.0.1:"), "{msg}");
    assert!(f.server.executed().is_empty());
}

#[tokio::test]
async fn accept_new_records_the_key_then_it_is_known() {
    let f = fixture(false).await;
    let mut opts = options(&f.known_hosts);
    opts.accept_new = true;
    let host = SshHost::connect(&target(&f), &opts).await.unwrap();
    assert!(host.exec("true", Duration::from_secs(5)).await.success());
    let text = std::fs::read_to_string(&f.known_hosts).unwrap();
    assert!(text.starts_with(&format!("[127.0.0.1]:{} ssh-ed25519 ", f.server.port)));
    SshHost::connect(&target(&f), &options(&f.known_hosts))
        .await
        .unwrap();
}

#[tokio::test]
async fn changed_key_is_fatal_even_with_accept_new() {
    let f = fixture(false).await;
    let other = key_from_seed([9; 32]);
    known_hosts::append(
        &f.known_hosts,
        "127.0.0.1",
        f.server.port,
        other.public_key(),
    )
    .unwrap();
    let mut opts = options(&f.known_hosts);
    opts.accept_new = true;
    let err = SshHost::connect(&target(&f), &opts).await.err().unwrap();
    assert!(matches!(err, SshError::ChangedHostKey { .. }), "{err}");
    assert!(err.to_string().contains("HOST KEY CHANGED"));
    assert!(f.server.executed().is_empty());
}

#[tokio::test]
async fn wrong_client_key_is_an_auth_error_naming_host_and_user() {
    let f = fixture(true).await;
    let other = f.dir.join("other");
    std::fs::write(
        &other,
        key_from_seed([3; 32])
            .to_openssh(LineEnding::LF)
            .unwrap()
            .as_bytes(),
    )
    .unwrap();
    let mut t = target(&f);
    t.identity = Some(other);
    let err = SshHost::connect(&t, &options(&f.known_hosts))
        .await
        .err()
        .unwrap();
    let msg = err.to_string();
    assert!(
        msg.contains("127.0.0.1:") && msg.contains("tester"),
        "{msg}"
    );
    assert!(f.server.executed().is_empty());
}

#[tokio::test]
async fn a_dropped_connection_is_reopened_with_the_host_key_checked_again() {
    let f = fixture(true).await;
    let host = SshHost::connect(&target(&f), &options(&f.known_hosts))
        .await
        .unwrap();
    assert!(host.exec("true", Duration::from_secs(5)).await.success());
    host.disconnect_for_test().await;
    let out = host.exec("echo again", Duration::from_secs(5)).await;
    assert_eq!(out.exit, Some(0), "{out:?}");
    assert_eq!(out.stdout.trim(), "again");
}
