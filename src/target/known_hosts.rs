//! OpenSSH `known_hosts`: strict host key checking for the SSH transport.
//!
//! russh ships a known_hosts reader, but it splits lines on single spaces, ignores `@revoked` and
//! negated patterns, fails the whole file on one bad line, and treats a recorded key of another
//! algorithm as "unknown" rather than "changed". Host keys are the one thing between gameday's sudo
//! commands and a man in the middle, so this small reader follows OpenSSH instead: hashed entries
//! (`|1|salt|hash`, HMAC-SHA1), `[host]:port`, comma lists, `!negation`, `*`/`?` wildcards, markers.

use std::io::Write;
use std::path::{Path, PathBuf};

use data_encoding::BASE64;
use hmac::{Hmac, KeyInit, Mac};
use russh::keys::{Algorithm, HashAlg, PublicKey};
use sha1::Sha1;

/// What the known_hosts file says about the key a host presented.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum HostKeyStatus {
    /// A line for this host records exactly this key.
    Known,
    /// No line names this host.
    Unknown,
    /// Lines name this host, with other keys: a possible man in the middle. Always fatal.
    Changed { lines: Vec<usize> },
    /// The key is marked `@revoked`.
    Revoked { line: usize },
}

#[derive(Debug, thiserror::Error)]
pub enum KnownHostsError {
    #[error("cannot read {path}: {source}")]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("cannot write {path}: {source}")]
    Write {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("cannot encode the host key: {0}")]
    Encode(String),
}

/// The name a host has in known_hosts: `host` on port 22, `[host]:port` otherwise.
pub fn host_pattern(host: &str, port: u16) -> String {
    if port == 22 {
        host.to_string()
    } else {
        format!("[{host}]:{port}")
    }
}

/// `SHA256:…`, as `ssh-keygen -l` and OpenSSH's prompts print it.
pub fn fingerprint(key: &PublicKey) -> String {
    key.fingerprint(HashAlg::Sha256).to_string()
}

/// A host key `--accept-new` recorded while connecting: journaled once the run's journal starts
/// ([`crate::event::Event::HostKeyAccepted`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AcceptedKey {
    /// The address dialled, `host:port` (the name the key is recorded under).
    pub host: String,
    /// `ssh-ed25519`, `ecdsa-sha2-nistp256`, `ssh-rsa`, …
    pub key_type: String,
    /// `SHA256:…` ([`fingerprint`]).
    pub fingerprint: String,
    /// The known_hosts file the key was appended to.
    pub known_hosts: PathBuf,
}

impl AcceptedKey {
    pub fn new(host: String, key: &PublicKey, known_hosts: &Path) -> AcceptedKey {
        AcceptedKey {
            host,
            key_type: key.algorithm().to_string(),
            fingerprint: fingerprint(key),
            known_hosts: known_hosts.to_path_buf(),
        }
    }
}

/// Where the key checks of one run (or one `recover`) leave the keys they accepted, until the
/// journal takes them. Clones share the list; at most [`AcceptedKeys::MAX`] are kept (one per host
/// and bastion of a run: the most hosts an inventory may list).
#[derive(Debug, Clone, Default)]
pub struct AcceptedKeys(std::sync::Arc<std::sync::Mutex<Vec<AcceptedKey>>>);

impl AcceptedKeys {
    pub const MAX: usize = crate::scenario::limits::MAX_INVENTORY_HOSTS;

    pub fn push(&self, key: AcceptedKey) {
        if let Ok(mut keys) = self.0.lock()
            && keys.len() < Self::MAX
        {
            keys.push(key);
        }
    }

    /// Every key accepted since the last `take`, in the order accepted.
    pub fn take(&self) -> Vec<AcceptedKey> {
        self.0
            .lock()
            .map(|mut keys| std::mem::take(&mut *keys))
            .unwrap_or_default()
    }
}

/// The system-wide file OpenSSH reads beside the user's; gameday reads it too, never writes it.
pub const GLOBAL_PATH: &str = "/etc/ssh/ssh_known_hosts";

/// The default file: `~/.ssh/known_hosts`.
pub fn default_path() -> Option<PathBuf> {
    std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".ssh").join("known_hosts"))
}

struct Entry {
    line: usize,
    revoked: bool,
    key: PublicKey,
}

/// Every usable line of `text` that names `host`:`port`. Unparsable lines are skipped, as OpenSSH does.
fn entries_for(text: &str, host: &str, port: u16) -> Vec<Entry> {
    let name = host_pattern(host, port);
    let mut out = Vec::new();
    for (i, raw) in text.lines().enumerate() {
        let line = raw.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let mut fields = line.split_whitespace();
        let mut first = fields.next().unwrap_or_default();
        let mut revoked = false;
        if let Some(marker) = first.strip_prefix('@') {
            match marker {
                "revoked" => revoked = true,
                // Certificate authorities are not used: gameday pins plain host keys.
                _ => continue,
            }
            first = fields.next().unwrap_or_default();
        }
        let (Some(kind), Some(b64)) = (fields.next(), fields.next()) else {
            continue;
        };
        if !patterns_match(first, &name) {
            continue;
        }
        if let Ok(key) = PublicKey::from_openssh(&format!("{kind} {b64}")) {
            out.push(Entry {
                line: i + 1,
                revoked,
                key,
            });
        }
    }
    out
}

/// Checks `key` for `host`:`port` against the text of a known_hosts file.
pub fn check_text(text: &str, host: &str, port: u16, key: &PublicKey) -> HostKeyStatus {
    let entries = entries_for(text, host, port);
    if let Some(e) = entries
        .iter()
        .find(|e| e.revoked && e.key.key_data() == key.key_data())
    {
        return HostKeyStatus::Revoked { line: e.line };
    }
    let plain: Vec<&Entry> = entries.iter().filter(|e| !e.revoked).collect();
    if plain.iter().any(|e| e.key.key_data() == key.key_data()) {
        HostKeyStatus::Known
    } else if plain.is_empty() {
        HostKeyStatus::Unknown
    } else {
        HostKeyStatus::Changed {
            lines: plain.iter().map(|e| e.line).collect(),
        }
    }
}

/// Checks `key` against the file at `path`; a missing file knows no host.
pub fn check(
    path: &Path,
    host: &str,
    port: u16,
    key: &PublicKey,
) -> Result<HostKeyStatus, KnownHostsError> {
    match std::fs::read_to_string(path) {
        Ok(text) => Ok(check_text(&text, host, port, key)),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(HostKeyStatus::Unknown),
        Err(source) => Err(KnownHostsError::Read {
            path: path.to_path_buf(),
            source,
        }),
    }
}

/// Checks `key` against the user's file and the system-wide one together, as OpenSSH does: a key
/// `@revoked` in either is refused; a key recorded in either is known; else lines naming the host
/// with other keys mean changed. Also returns the file that decided (for the message).
pub fn check_all(
    user: &Path,
    global: Option<&Path>,
    host: &str,
    port: u16,
    key: &PublicKey,
) -> Result<(HostKeyStatus, PathBuf), KnownHostsError> {
    let mut found = vec![(check(user, host, port, key)?, user)];
    if let Some(g) = global {
        found.push((check(g, host, port, key)?, g));
    }
    let rank = |s: &HostKeyStatus| match s {
        HostKeyStatus::Revoked { .. } => 0,
        HostKeyStatus::Known => 1,
        HostKeyStatus::Changed { .. } => 2,
        HostKeyStatus::Unknown => 3,
    };
    found.sort_by_key(|(s, _)| rank(s));
    let (status, file) = found.swap_remove(0);
    Ok((status, file.to_path_buf()))
}

/// [`recorded_algorithms`] of the user's file, then the system-wide one.
pub fn recorded_algorithms_all(
    user: &Path,
    global: Option<&Path>,
    host: &str,
    port: u16,
) -> Vec<Algorithm> {
    let mut algs = recorded_algorithms(user, host, port);
    for a in global
        .map(|g| recorded_algorithms(g, host, port))
        .unwrap_or_default()
    {
        if !algs.contains(&a) {
            algs.push(a);
        }
    }
    algs
}

/// The key algorithms recorded for a host, so that negotiation asks for a key we can check
/// (as OpenSSH orders HostKeyAlgorithms) instead of tripping over a key of another type.
pub fn recorded_algorithms(path: &Path, host: &str, port: u16) -> Vec<Algorithm> {
    let text = std::fs::read_to_string(path).unwrap_or_default();
    let mut algs: Vec<Algorithm> = Vec::new();
    for e in entries_for(&text, host, port) {
        let a = e.key.algorithm();
        if !e.revoked && !algs.contains(&a) {
            algs.push(a);
        }
    }
    algs
}

/// Appends `host`:`port` with `key`, creating the file (and `~/.ssh`) when needed.
pub fn append(path: &Path, host: &str, port: u16, key: &PublicKey) -> Result<(), KnownHostsError> {
    append_as(path, &host_pattern(host, port), key)
}

/// [`append`] with the host name hashed (`|1|salt|HMAC-SHA1(salt, name)`, a fresh 20-byte salt),
/// as OpenSSH writes entries under `HashKnownHosts yes`: the file does not list the hosts.
pub fn append_hashed(
    path: &Path,
    host: &str,
    port: u16,
    key: &PublicKey,
) -> Result<(), KnownHostsError> {
    let mut salt = [0u8; 20];
    std::io::Read::read_exact(
        &mut std::fs::File::open("/dev/urandom").map_err(|source| KnownHostsError::Read {
            path: PathBuf::from("/dev/urandom"),
            source,
        })?,
        &mut salt,
    )
    .map_err(|source| KnownHostsError::Read {
        path: PathBuf::from("/dev/urandom"),
        source,
    })?;
    append_as(path, &hashed_name(&host_pattern(host, port), &salt)?, key)
}

/// `|1|base64(salt)|base64(HMAC-SHA1(salt, name))`.
fn hashed_name(name: &str, salt: &[u8]) -> Result<String, KnownHostsError> {
    let mut mac = <Hmac<Sha1> as KeyInit>::new_from_slice(salt)
        .map_err(|e| KnownHostsError::Encode(e.to_string()))?;
    mac.update(name.as_bytes());
    Ok(format!(
        "|1|{}|{}",
        BASE64.encode(salt),
        BASE64.encode(&mac.finalize().into_bytes())
    ))
}

fn append_as(path: &Path, name: &str, key: &PublicKey) -> Result<(), KnownHostsError> {
    let write_err = |source| KnownHostsError::Write {
        path: path.to_path_buf(),
        source,
    };
    let line = key
        .to_openssh()
        .map_err(|e| KnownHostsError::Encode(e.to_string()))?;
    // Only the algorithm and key: no comment from the remote side reaches the file.
    let mut parts = line.split_whitespace();
    let (Some(kind), Some(b64)) = (parts.next(), parts.next()) else {
        return Err(KnownHostsError::Encode("unexpected key encoding".into()));
    };
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir).map_err(write_err)?;
    }
    let existing = std::fs::read(path).unwrap_or_default();
    let mut f = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(path)
        .map_err(write_err)?;
    let sep = if existing.is_empty() || existing.ends_with(b"\n") {
        ""
    } else {
        "\n"
    };
    // One write of the whole line on an O_APPEND file: concurrent `--accept-new` connects
    // cannot interleave their lines.
    let line = format!("{sep}{name} {kind} {b64}\n");
    f.write_all(line.as_bytes()).map_err(write_err)?;
    f.sync_all().map_err(write_err)
}

/// A comma list of patterns matches when some pattern matches and no negated one does.
fn patterns_match(list: &str, name: &str) -> bool {
    let mut matched = false;
    for pat in list.split(',') {
        if let Some(neg) = pat.strip_prefix('!') {
            if pattern_matches(neg, name) {
                return false;
            }
        } else if pattern_matches(pat, name) {
            matched = true;
        }
    }
    matched
}

fn pattern_matches(pat: &str, name: &str) -> bool {
    if let Some(rest) = pat.strip_prefix("|1|") {
        return hashed_matches(rest, name);
    }
    glob(
        pat.to_ascii_lowercase().as_bytes(),
        name.to_ascii_lowercase().as_bytes(),
    )
}

/// `|1|base64(salt)|base64(HMAC-SHA1(salt, name))`.
fn hashed_matches(rest: &str, name: &str) -> bool {
    let Some((salt, hash)) = rest.split_once('|') else {
        return false;
    };
    let (Ok(salt), Ok(hash)) = (
        BASE64.decode(salt.as_bytes()),
        BASE64.decode(hash.as_bytes()),
    ) else {
        return false;
    };
    let Ok(mut mac) = <Hmac<Sha1> as KeyInit>::new_from_slice(&salt) else {
        return false;
    };
    mac.update(name.as_bytes());
    mac.verify_slice(&hash).is_ok()
}

/// `*` and `?` wildcards, as in OpenSSH's match_pattern.
fn glob(pat: &[u8], s: &[u8]) -> bool {
    match pat.split_first() {
        None => s.is_empty(),
        Some((b'*', rest)) => (0..=s.len()).any(|i| glob(rest, &s[i..])),
        Some((b'?', rest)) => !s.is_empty() && glob(rest, &s[1..]),
        Some((c, rest)) => s.first() == Some(c) && glob(rest, &s[1..]),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const KEY_A: &str =
        "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIJdD7y3aLq454yWBdwLWbieU1ebz9/cu7/QEXn9OIeZJ";
    const KEY_B: &str =
        "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIHYCrWAF6pjdHa5LgEPOn0UdpN4awiZ1eyEHLtfB9CvE";

    fn key(s: &str) -> PublicKey {
        PublicKey::from_openssh(s).unwrap()
    }

    fn hashed(name: &str, salt: &[u8]) -> String {
        let mut mac = <Hmac<Sha1> as KeyInit>::new_from_slice(salt).unwrap();
        mac.update(name.as_bytes());
        let hash = mac.finalize().into_bytes();
        format!("|1|{}|{}", BASE64.encode(salt), BASE64.encode(&hash))
    }

    #[test]
    fn plain_entry_on_port_22() {
        let text = format!("db-1,10.0.0.5 {KEY_A}\n");
        assert_eq!(
            check_text(&text, "db-1", 22, &key(KEY_A)),
            HostKeyStatus::Known
        );
        assert_eq!(
            check_text(&text, "10.0.0.5", 22, &key(KEY_A)),
            HostKeyStatus::Known
        );
        assert_eq!(
            check_text(&text, "db-2", 22, &key(KEY_A)),
            HostKeyStatus::Unknown
        );
    }

    #[test]
    fn bracketed_port_is_its_own_host() {
        let text = format!("[localhost]:2222 {KEY_A}\n");
        assert_eq!(
            check_text(&text, "localhost", 2222, &key(KEY_A)),
            HostKeyStatus::Known
        );
        assert_eq!(
            check_text(&text, "localhost", 22, &key(KEY_A)),
            HostKeyStatus::Unknown
        );
        assert_eq!(
            check_text(&text, "localhost", 2223, &key(KEY_A)),
            HostKeyStatus::Unknown
        );
    }

    #[test]
    fn hashed_entries_match_host_and_bracketed_port() {
        let text = format!(
            "{} {KEY_A}\n{} {KEY_B}\n",
            hashed("db-1", b"0123456789abcdefghij"),
            hashed("[127.0.0.1]:2222", b"saltsaltsaltsaltsalt")
        );
        assert_eq!(
            check_text(&text, "db-1", 22, &key(KEY_A)),
            HostKeyStatus::Known
        );
        assert_eq!(
            check_text(&text, "127.0.0.1", 2222, &key(KEY_B)),
            HostKeyStatus::Known
        );
        assert_eq!(
            check_text(&text, "127.0.0.1", 22, &key(KEY_B)),
            HostKeyStatus::Unknown
        );
    }

    #[test]
    fn another_key_is_changed_even_of_another_type_line_numbers_kept() {
        let text = format!("# comment\n\n[h]:2222\t{KEY_A}\n");
        assert_eq!(
            check_text(&text, "h", 2222, &key(KEY_B)),
            HostKeyStatus::Changed { lines: vec![3] }
        );
    }

    #[test]
    fn revoked_negated_wildcards_and_garbage() {
        let text = format!(
            "garbage line\n@revoked * {KEY_B}\n*.prod,!db-9.prod {KEY_A}\n@cert-authority * {KEY_A}\n"
        );
        assert_eq!(
            check_text(&text, "db-1.prod", 22, &key(KEY_A)),
            HostKeyStatus::Known
        );
        assert_eq!(
            check_text(&text, "db-9.prod", 22, &key(KEY_A)),
            HostKeyStatus::Unknown
        );
        assert_eq!(
            check_text(&text, "db-1.prod", 22, &key(KEY_B)),
            HostKeyStatus::Revoked { line: 2 }
        );
    }

    #[test]
    fn hashed_append_hides_the_name_and_checks_as_known() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("known_hosts");
        append_hashed(&path, "db-1.prod", 22, &key(KEY_A)).unwrap();
        append_hashed(&path, "db-1.prod", 2222, &key(KEY_B)).unwrap();
        let text = std::fs::read_to_string(&path).unwrap();
        assert!(!text.contains("db-1"), "{text}");
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(lines.len(), 2);
        for l in &lines {
            let name = l.split_whitespace().next().unwrap();
            // |1|salt|hash with a 20-byte salt and a 20-byte HMAC-SHA1, as OpenSSH writes.
            let parts: Vec<&str> = name.split('|').collect();
            assert_eq!(parts[..2], ["", "1"], "{l}");
            assert_eq!(BASE64.decode(parts[2].as_bytes()).unwrap().len(), 20);
            assert_eq!(BASE64.decode(parts[3].as_bytes()).unwrap().len(), 20);
        }
        assert_ne!(
            lines[0].split('|').nth(2),
            lines[1].split('|').nth(2),
            "fresh salts"
        );
        assert_eq!(
            check(&path, "db-1.prod", 22, &key(KEY_A)).unwrap(),
            HostKeyStatus::Known
        );
        assert_eq!(
            check(&path, "db-1.prod", 2222, &key(KEY_B)).unwrap(),
            HostKeyStatus::Known
        );
        assert_eq!(
            check(&path, "db-1.prod", 22, &key(KEY_B)).unwrap(),
            HostKeyStatus::Changed { lines: vec![1] }
        );
        assert_eq!(
            check(&path, "db-2.prod", 22, &key(KEY_A)).unwrap(),
            HostKeyStatus::Unknown
        );
        // The same name hashed with a known salt is the value ssh-keygen -H computes.
        assert_eq!(
            hashed_name("db-1.prod", b"salt").unwrap(),
            hashed("db-1.prod", b"salt")
        );
    }

    #[test]
    fn the_system_wide_file_is_read_beside_the_users() {
        let dir = tempfile::tempdir().unwrap();
        let (user, global) = (dir.path().join("user"), dir.path().join("ssh_known_hosts"));
        let none = dir.path().join("missing");
        std::fs::write(&global, format!("h {KEY_A}\n")).unwrap();
        // Known through the system-wide file alone; a missing file knows nothing.
        let (s, _) = check_all(&user, Some(&global), "h", 22, &key(KEY_A)).unwrap();
        assert_eq!(s, HostKeyStatus::Known);
        let (s, _) = check_all(&user, Some(&none), "h", 22, &key(KEY_A)).unwrap();
        assert_eq!(s, HostKeyStatus::Unknown);
        // Another key there is a changed key, and the message names that file.
        let (s, file) = check_all(&user, Some(&global), "h", 22, &key(KEY_B)).unwrap();
        assert_eq!(
            (s, file),
            (HostKeyStatus::Changed { lines: vec![1] }, global.clone())
        );
        // Recorded in either file is known (OpenSSH merges both).
        std::fs::write(&user, format!("h {KEY_B}\n")).unwrap();
        let (s, _) = check_all(&user, Some(&global), "h", 22, &key(KEY_B)).unwrap();
        assert_eq!(s, HostKeyStatus::Known);
        // Revoked in the system-wide file wins over the user's record.
        std::fs::write(&global, format!("@revoked * {KEY_B}\n")).unwrap();
        let (s, file) = check_all(&user, Some(&global), "h", 22, &key(KEY_B)).unwrap();
        assert_eq!(
            (s, file),
            (HostKeyStatus::Revoked { line: 1 }, global.clone())
        );
        assert_eq!(
            recorded_algorithms_all(&user, Some(&global), "h", 22).len(),
            1,
            "revoked keys are not asked for"
        );
    }

    #[test]
    fn append_then_check() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("sub/known_hosts");
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(&path, format!("other {KEY_B}")).unwrap();
        append(&path, "127.0.0.1", 2222, &key(KEY_A)).unwrap();
        assert_eq!(
            check(&path, "127.0.0.1", 2222, &key(KEY_A)).unwrap(),
            HostKeyStatus::Known
        );
        assert_eq!(
            check(&path, "other", 22, &key(KEY_B)).unwrap(),
            HostKeyStatus::Known
        );
        assert!(fingerprint(&key(KEY_A)).starts_with("SHA256:"));
        assert_eq!(
            recorded_algorithms(&path, "127.0.0.1", 2222),
            vec![Algorithm::Ed25519]
        );
    }
}
