//! The user's OpenSSH client config (`~/.ssh/config` or `--ssh-config FILE`): a host name written in
//! the scenario or the inventory that matches a `Host` pattern gets its `HostName`, `Port`, `User`,
//! `IdentityFile` and `ProxyJump` (one bastion); `Include` is followed. Values the scenario gives
//! win over the config's.
//!
//! A small strict reader rather than the `ssh2-config` crate: that crate has no `Match` keyword, so
//! with unknown keywords allowed the options under a `Match` line land in the `Host` block before
//! it (a wrong `HostName` is a wrong host faulted), and without, any keyword it does not know
//! refuses the whole file; its errors carry no line, and it does not expand `%h`. This reader knows
//! the handful of keywords gameday uses, skips every other one, refuses a `Match` block (but
//! `Match all`) that sets one of those keywords (it cannot evaluate the condition, and guessing
//! could dial the wrong host), and names FILE:LINE in every error.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use crate::scenario::HostAddr;

/// OpenSSH's own bound on nested `Include`s.
const MAX_INCLUDE_DEPTH: usize = 16;

#[derive(Debug, thiserror::Error, Clone, PartialEq)]
#[error("{}:{line}: {message}", .file.display())]
pub struct SshConfigError {
    pub file: PathBuf,
    pub line: usize,
    pub message: String,
}

#[derive(Debug, Clone, PartialEq)]
enum Entry {
    /// `Host` patterns: `(negated, lowercase pattern)`.
    Host(Vec<(bool, String)>),
    /// A `Match` line: `true` for `Match all`, else the block is not applied.
    Match(bool),
    /// Entering (`true`) or leaving an included file: its `Host` lines end with it.
    Include(bool),
    Opt {
        key: Key,
        value: String,
        at: Arc<(PathBuf, usize)>,
    },
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Key {
    HostName,
    Port,
    User,
    IdentityFile,
    ProxyJump,
    ProxyCommand,
    HashKnownHosts,
}

/// A parsed client config.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct SshConfig {
    entries: Vec<Entry>,
    /// Every file read, the config first.
    pub files: Vec<PathBuf>,
}

/// What the config says for one host name; `None` where it says nothing.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct HostConfig {
    pub host_name: Option<String>,
    pub port: Option<u16>,
    pub user: Option<String>,
    pub identity: Option<PathBuf>,
    /// `[user@]host[:port]`, one hop; `none` is read as no jump.
    pub proxy_jump: Option<String>,
    /// Where that `ProxyJump` is written.
    pub proxy_jump_at: Option<(PathBuf, usize)>,
    /// Where the `HostName` is written.
    pub host_name_at: Option<(PathBuf, usize)>,
    /// Where a `ProxyCommand` other than `none` is written (gameday does not run one).
    pub proxy_command_at: Option<(PathBuf, usize)>,
}

/// Where a host is actually dialled when the config rewrites it: the address (and the bastion) a
/// connection goes to and its host key is checked for, while the host keeps the address the
/// scenario wrote as its identity.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Route {
    pub host: String,
    pub port: u16,
    pub jump: Option<Jump>,
}

/// The one bastion a host is reached through (`ProxyJump`).
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Jump {
    /// Dialled address; `name` is the alias written in `ProxyJump` when it differs.
    pub addr: HostAddr,
    pub user: String,
    pub identity: Option<PathBuf>,
}

impl std::fmt::Display for Route {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}", HostAddr::new(self.host.clone(), self.port))?;
        if let Some(j) = &self.jump {
            write!(f, " via {}@{}", j.user, j.addr)?;
        }
        Ok(())
    }
}

fn home() -> Option<PathBuf> {
    std::env::var_os("HOME").map(PathBuf::from)
}

/// `~/.ssh/config`, if there is one.
pub fn default_path() -> Option<PathBuf> {
    home()
        .map(|h| h.join(".ssh").join("config"))
        .filter(|p| p.is_file())
}

fn expand_tilde(p: &str) -> PathBuf {
    match (p.strip_prefix("~/"), home()) {
        (Some(rest), Some(h)) => h.join(rest),
        _ if p == "~" => home().unwrap_or_else(|| PathBuf::from(p)),
        _ => PathBuf::from(p),
    }
}

/// `*` and `?` wildcards, ASCII case-insensitive (as OpenSSH matches host names).
pub fn wildcard(pattern: &str, text: &str) -> bool {
    let (p, t): (Vec<char>, Vec<char>) = (
        pattern.to_ascii_lowercase().chars().collect(),
        text.to_ascii_lowercase().chars().collect(),
    );
    let (mut pi, mut ti, mut star, mut mark) = (0, 0, None, 0);
    while ti < t.len() {
        if pi < p.len() && (p[pi] == '?' || p[pi] == t[ti]) {
            pi += 1;
            ti += 1;
        } else if pi < p.len() && p[pi] == '*' {
            star = Some(pi);
            mark = ti;
            pi += 1;
        } else if let Some(s) = star {
            pi = s + 1;
            mark += 1;
            ti = mark;
        } else {
            return false;
        }
    }
    while pi < p.len() && p[pi] == '*' {
        pi += 1;
    }
    pi == p.len()
}

/// Arguments split on whitespace, double quotes keeping spaces.
fn split_args(s: &str) -> Option<Vec<String>> {
    let mut out = Vec::new();
    let (mut cur, mut quoted, mut has) = (String::new(), false, false);
    for c in s.chars() {
        match c {
            '"' => {
                quoted = !quoted;
                has = true;
            }
            c if c.is_whitespace() && !quoted => {
                if has {
                    out.push(std::mem::take(&mut cur));
                    has = false;
                }
            }
            c => {
                cur.push(c);
                has = true;
            }
        }
    }
    if quoted {
        return None;
    }
    if has {
        out.push(cur);
    }
    Some(out)
}

impl SshConfig {
    /// Reads `path` and every file it includes.
    pub fn load(path: &Path) -> Result<SshConfig, SshConfigError> {
        let mut config = SshConfig::default();
        config.read(path, 0, 0, path, None)?;
        Ok(config)
    }

    /// Parses config text as if read from `path` (includes are read from disk).
    pub fn parse(path: &Path, text: &str) -> Result<SshConfig, SshConfigError> {
        let mut config = SshConfig::default();
        config.files.push(path.to_path_buf());
        config.parse_text(path, text, 0, None)?;
        Ok(config)
    }

    fn read(
        &mut self,
        path: &Path,
        depth: usize,
        line: usize,
        from: &Path,
        in_match: Option<usize>,
    ) -> Result<(), SshConfigError> {
        let text = std::fs::read_to_string(path).map_err(|e| SshConfigError {
            file: from.to_path_buf(),
            line,
            message: format!("cannot read ssh config {}: {e}", path.display()),
        })?;
        self.files.push(path.to_path_buf());
        self.parse_text(path, &text, depth, in_match)
    }

    /// `in_match`: the line of the `Match` block (not `all`) the text sits in, whose conditions
    /// gameday does not evaluate.
    fn parse_text(
        &mut self,
        path: &Path,
        text: &str,
        depth: usize,
        mut in_match: Option<usize>,
    ) -> Result<(), SshConfigError> {
        for (i, raw) in text.lines().enumerate() {
            let line = i + 1;
            let err = |message: String| SshConfigError {
                file: path.to_path_buf(),
                line,
                message,
            };
            let l = raw.trim();
            if l.is_empty() || l.starts_with('#') {
                continue;
            }
            // `Keyword value`, `Keyword=value` or `Keyword = value`.
            let split = l
                .find(|c: char| c.is_whitespace() || c == '=')
                .unwrap_or(l.len());
            let (keyword, rest) = l.split_at(split);
            let rest = rest.trim_start();
            let rest = rest.strip_prefix('=').unwrap_or(rest).trim();
            let Some(args) = split_args(rest) else {
                return Err(err("unbalanced quotes".into()));
            };
            let keyword = keyword.to_ascii_lowercase();
            if let Some(m) = in_match
                && matches!(
                    keyword.as_str(),
                    "hostname" | "port" | "user" | "identityfile" | "proxyjump" | "proxycommand"
                )
            {
                return Err(err(format!(
                    "`{}` under the `Match` of line {m}: gameday does not evaluate `Match` conditions, so it cannot tell which hosts this applies to; move it under a `Host` block, or pass --ssh-config a file without it",
                    keyword_as_written(l)
                )));
            }
            let one = |what: &str| -> Result<String, SshConfigError> {
                match &args[..] {
                    [v] => Ok(v.clone()),
                    [] => Err(err(format!("`{what}` needs a value"))),
                    [v, ..] => Ok(v.clone()),
                }
            };
            let opt = |key, value: String| Entry::Opt {
                key,
                value,
                at: Arc::new((path.to_path_buf(), line)),
            };
            match keyword.as_str() {
                "host" => {
                    if args.is_empty() {
                        return Err(err("`Host` needs at least one pattern".into()));
                    }
                    let pats = args
                        .iter()
                        .flat_map(|a| a.split(','))
                        .filter(|p| !p.is_empty())
                        .map(|p| match p.strip_prefix('!') {
                            Some(n) => (true, n.to_ascii_lowercase()),
                            None => (false, p.to_ascii_lowercase()),
                        })
                        .collect();
                    self.entries.push(Entry::Host(pats));
                    in_match = None;
                }
                "match" => {
                    let all = args.len() == 1 && args[0].eq_ignore_ascii_case("all");
                    in_match = (!all).then_some(line);
                    self.entries.push(Entry::Match(all));
                }
                "include" => {
                    if depth >= MAX_INCLUDE_DEPTH {
                        return Err(err(format!(
                            "`Include` nested deeper than {MAX_INCLUDE_DEPTH} files (a loop?)"
                        )));
                    }
                    if args.is_empty() {
                        return Err(err("`Include` needs a file".into()));
                    }
                    for a in &args {
                        let p = expand_tilde(a);
                        // Relative paths are under ~/.ssh, as OpenSSH reads a user config.
                        let p = if p.is_absolute() {
                            p
                        } else {
                            home().unwrap_or_default().join(".ssh").join(p)
                        };
                        for file in glob_files(&p) {
                            self.entries.push(Entry::Include(true));
                            self.read(&file, depth + 1, line, path, in_match)?;
                            self.entries.push(Entry::Include(false));
                        }
                    }
                }
                "hostname" => self.entries.push(opt(Key::HostName, one("HostName")?)),
                "port" => {
                    let v = one("Port")?;
                    if v.parse::<u16>().ok().filter(|p| *p > 0).is_none() {
                        return Err(err(format!("Port `{v}` is not a number from 1 to 65535")));
                    }
                    self.entries.push(opt(Key::Port, v));
                }
                "user" => {
                    let v = one("User")?;
                    if !v.contains('%') && !safe_user(&v) {
                        return Err(err(format!(
                            "User `{}` is not a user name gameday accepts (letters, digits, `.`, `_`, `-`, `@`)",
                            v.escape_debug()
                        )));
                    }
                    self.entries.push(opt(Key::User, v));
                }
                "identityfile" => self
                    .entries
                    .push(opt(Key::IdentityFile, one("IdentityFile")?)),
                "proxyjump" => self.entries.push(opt(Key::ProxyJump, one("ProxyJump")?)),
                // Kept only to refuse it: ignored, the host would be dialled directly.
                "proxycommand" => self.entries.push(opt(Key::ProxyCommand, rest.to_string())),
                "hashknownhosts" => {
                    let v = one("HashKnownHosts")?.to_ascii_lowercase();
                    if v != "yes" && v != "no" {
                        return Err(err(format!("HashKnownHosts `{v}` is not yes or no")));
                    }
                    self.entries.push(opt(Key::HashKnownHosts, v));
                }
                _ => {}
            }
        }
        Ok(())
    }

    /// The values for `name` (as written in the scenario or the inventory), OpenSSH's way: the
    /// first value obtained for each keyword wins.
    pub fn query(&self, name: &str) -> Result<HostConfig, SshConfigError> {
        let mut out = HostConfig::default();
        // ProxyJump and ProxyCommand: whichever comes first wins, as in OpenSSH.
        let mut proxy_decided = false;
        self.each(name, |key, value, at| {
            let slot = match key {
                Key::HostName => {
                    if out.host_name.is_none() {
                        out.host_name = Some(percent(value, name, at)?);
                        out.host_name_at = Some(at.clone());
                    }
                    return Ok(());
                }
                Key::User => &mut out.user,
                Key::ProxyJump => {
                    if !proxy_decided {
                        proxy_decided = true;
                        out.proxy_jump = Some(percent(value, name, at)?);
                        out.proxy_jump_at = Some(at.clone());
                    }
                    return Ok(());
                }
                Key::Port => {
                    if out.port.is_none() {
                        out.port = value.parse().ok();
                    }
                    return Ok(());
                }
                Key::IdentityFile => {
                    if out.identity.is_none() {
                        out.identity = Some(expand_tilde(&percent(value, name, at)?));
                    }
                    return Ok(());
                }
                Key::HashKnownHosts => return Ok(()),
                Key::ProxyCommand => {
                    if !proxy_decided {
                        proxy_decided = true;
                        out.proxy_command_at =
                            (!value.eq_ignore_ascii_case("none")).then(|| at.clone());
                    }
                    return Ok(());
                }
            };
            if slot.is_none() {
                *slot = Some(percent(value, name, at)?);
            }
            Ok(())
        })?;
        if out
            .proxy_jump
            .as_deref()
            .is_some_and(|j| j.eq_ignore_ascii_case("none"))
        {
            out.proxy_jump = None;
        }
        Ok(out)
    }

    /// Whether `HashKnownHosts yes` applies to `name` (the first value obtained wins).
    pub fn hash_known_hosts(&self, name: &str) -> bool {
        let mut found = None;
        let _ = self.each(name, |key, value, _| {
            if key == Key::HashKnownHosts && found.is_none() {
                found = Some(value == "yes");
            }
            Ok(())
        });
        found.unwrap_or(false)
    }

    fn each(
        &self,
        name: &str,
        mut f: impl FnMut(Key, &str, &(PathBuf, usize)) -> Result<(), SshConfigError>,
    ) -> Result<(), SshConfigError> {
        let mut active = true;
        // An Include read inside a block that does not apply never applies, whatever its own
        // `Host` lines say (OpenSSH's SSHCONF_NEVERMATCH).
        let mut never = false;
        let mut saved = Vec::new();
        for e in &self.entries {
            match e {
                Entry::Host(pats) => active = !never && host_matches(pats, name),
                Entry::Match(all) => active = !never && *all,
                Entry::Include(true) => {
                    saved.push((active, never));
                    never = never || !active;
                }
                Entry::Include(false) => {
                    (active, never) = saved.pop().unwrap_or((active, never));
                }
                Entry::Opt { key, value, at } if active => f(*key, value, at)?,
                Entry::Opt { .. } => {}
            }
        }
        Ok(())
    }
}

fn keyword_as_written(line: &str) -> &str {
    line.split(|c: char| c.is_whitespace() || c == '=')
        .next()
        .unwrap_or(line)
}

fn safe_user(u: &str) -> bool {
    !u.is_empty()
        && !u.starts_with('-')
        && u.len() <= 64
        && u.chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-' | '@'))
}

fn host_matches(pats: &[(bool, String)], name: &str) -> bool {
    let name = name.to_ascii_lowercase();
    if pats.iter().any(|(neg, p)| *neg && wildcard(p, &name)) {
        return false;
    }
    pats.iter().any(|(neg, p)| !*neg && wildcard(p, &name))
}

/// `%h` (the host name as written) and `%%`; any other token is refused (gameday would have to
/// guess it).
fn percent(value: &str, name: &str, at: &(PathBuf, usize)) -> Result<String, SshConfigError> {
    let mut out = String::new();
    let mut chars = value.chars();
    while let Some(c) = chars.next() {
        if c != '%' {
            out.push(c);
            continue;
        }
        match chars.next() {
            Some('h') => out.push_str(name),
            Some('%') => out.push('%'),
            Some('d') => out.push_str(&home().unwrap_or_default().display().to_string()),
            other => {
                return Err(SshConfigError {
                    file: at.0.clone(),
                    line: at.1,
                    message: format!(
                        "`%{}` in `{value}` is not expanded by gameday (only %h, %d, %%); write the value out",
                        other.map(String::from).unwrap_or_default()
                    ),
                });
            }
        }
    }
    Ok(out)
}

/// The files a path names, `*` and `?` allowed in its last component, in name order.
fn glob_files(p: &Path) -> Vec<PathBuf> {
    let name = p
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    if !name.contains(['*', '?']) {
        return if p.is_file() {
            vec![p.to_path_buf()]
        } else {
            Vec::new()
        };
    }
    let dir = p.parent().unwrap_or(Path::new("."));
    let mut out: Vec<PathBuf> = std::fs::read_dir(dir)
        .into_iter()
        .flatten()
        .flatten()
        .map(|e| e.path())
        .filter(|f| {
            f.is_file()
                && f.file_name()
                    .is_some_and(|n| wildcard(&name, &n.to_string_lossy()))
        })
        .collect();
    out.sort();
    out
}

/// Splits `[user@]host[:port]` (or `[v6]:port`) of a `ProxyJump`.
pub fn parse_jump(spec: &str) -> Result<(Option<String>, HostAddr), String> {
    if spec.contains(',') {
        return Err(format!(
            "ProxyJump `{spec}` has more than one hop; gameday goes through one bastion"
        ));
    }
    let spec = spec.strip_prefix("ssh://").unwrap_or(spec);
    let (user, rest) = match spec.rsplit_once('@') {
        Some((u, r)) => (Some(u.to_string()), r),
        None => (None, spec),
    };
    let addr = crate::scenario::parse_host(rest).map_err(|e| format!("ProxyJump: {e}"))?;
    Ok((user, addr))
}

#[cfg(test)]
mod tests;

/// The SSH hosts of a target with the config applied (see [`apply`]); without a config, as the
/// scenario wrote them.
pub fn configured_targets(
    transport: &crate::scenario::Transport,
    config: Option<&SshConfig>,
) -> Result<Vec<super::ssh::SshTarget>, SshConfigError> {
    let targets = super::ssh_targets(transport);
    let Some(config) = config else {
        return Ok(targets);
    };
    targets
        .into_iter()
        .map(|t| configure(transport, t, config))
        .collect()
}

/// [`apply`] to one host of `transport` (its user is written when the target or the inventory
/// gives one).
pub fn configure(
    transport: &crate::scenario::Transport,
    t: super::ssh::SshTarget,
    config: &SshConfig,
) -> Result<super::ssh::SshTarget, SshConfigError> {
    let written = matches!(
        transport,
        crate::scenario::Transport::Ssh { user: Some(_), .. }
    ) || t.addr.user.is_some();
    apply(config, t, written)
}

/// Applies the config to one host: the scenario's values win (its `user` or the inventory's
/// `ansible_user` when `user_written`, its `identity`, a port other than 22); the config supplies
/// `HostName`, `Port`, `User`, `IdentityFile` and one `ProxyJump` bastion (itself looked up in the
/// config). The host keeps its address as written; where it is dialled goes in `route`.
pub fn apply(
    config: &SshConfig,
    mut t: super::ssh::SshTarget,
    user_written: bool,
) -> Result<super::ssh::SshTarget, SshConfigError> {
    let name = t.addr.host.clone();
    let found = config.query(&name)?;
    let err = |at: &Option<(PathBuf, usize)>, message: String| SshConfigError {
        file: at.as_ref().map(|a| a.0.clone()).unwrap_or_default(),
        line: at.as_ref().map(|a| a.1).unwrap_or(0),
        message,
    };
    if found.proxy_command_at.is_some() && found.proxy_jump.is_none() {
        return Err(err(
            &found.proxy_command_at,
            format!(
                "host `{name}`: ProxyCommand is not run by gameday; use `ProxyJump` (one bastion)"
            ),
        ));
    }
    let host = found.host_name.clone().unwrap_or_else(|| name.clone());
    // The address reaches known_hosts lines and manual `ssh` lines: the scenario's own rules.
    if let Err(why) = crate::scenario::parse_host(&host).and_then(|a| {
        if a.host == host {
            Ok(())
        } else {
            Err(format!(
                "HostName `{host}` must be a bare host name or address"
            ))
        }
    }) {
        return Err(err(&found.host_name_at, format!("host `{name}`: {why}")));
    }
    for (who, u) in [("User", found.user.as_deref())] {
        if let Some(u) = u
            && !safe_user(u)
        {
            return Err(err(
                &None,
                format!(
                    "host `{name}`: {who} `{}` is not a valid user name",
                    u.escape_debug()
                ),
            ));
        }
    }
    let port = if t.addr.port != 22 {
        t.addr.port
    } else {
        found.port.unwrap_or(22)
    };
    if !user_written && let Some(u) = &found.user {
        t.user = u.clone();
    }
    if t.identity.is_none() {
        t.identity = found.identity.clone();
    }
    let default_user = std::env::var("USER").unwrap_or_else(|_| "root".into());
    let jump = match &found.proxy_jump {
        None => None,
        Some(spec) => {
            let (user, alias) = parse_jump(spec)
                .map_err(|why| err(&found.proxy_jump_at, format!("host `{name}`: {why}")))?;
            let b = config.query(&alias.host)?;
            if b.proxy_jump.is_some() {
                return Err(err(
                    &b.proxy_jump_at,
                    format!(
                        "host `{name}` goes through `{}`, which has a ProxyJump of its own; gameday goes through one bastion",
                        alias.host
                    ),
                ));
            }
            let mut addr = HostAddr::new(
                b.host_name.clone().unwrap_or_else(|| alias.host.clone()),
                if alias.port != 22 {
                    alias.port
                } else {
                    b.port.unwrap_or(22)
                },
            );
            if crate::scenario::parse_host(&addr.host).map(|a| a.host) != Ok(addr.host.clone()) {
                return Err(err(
                    &b.host_name_at,
                    format!(
                        "bastion `{}`: HostName `{}` must be a bare host name or address",
                        alias.host,
                        addr.host.escape_debug()
                    ),
                ));
            }
            if addr.host != alias.host {
                addr.name = Some(alias.host.clone());
            }
            let user = user.or(b.user).unwrap_or(default_user);
            if !safe_user(&user) {
                return Err(err(
                    &found.proxy_jump_at,
                    format!(
                        "host `{name}`: ProxyJump user `{}` is not a valid user name",
                        user.escape_debug()
                    ),
                ));
            }
            Some(Jump {
                addr,
                user,
                identity: b.identity.or_else(|| t.identity.clone()),
            })
        }
    };
    if host != t.addr.host || port != t.addr.port || jump.is_some() {
        t.route = Some(Route { host, port, jump });
    }
    Ok(t)
}

/// Applies the config to every SSH host of `scenario` without connecting, for `gameday validate
/// --ssh-config`: one line per host it cannot be applied to (`target `web`: …`).
pub fn check_scenario(config: &SshConfig, scenario: &crate::scenario::Scenario) -> Vec<String> {
    let mut problems = Vec::new();
    for (name, target) in &scenario.targets {
        for t in super::ssh_targets(&target.transport) {
            let host = t.addr.to_string();
            if let Err(e) = configure(&target.transport, t, config) {
                problems.push(format!("target `{name}`, host `{host}`: ssh config {e}"));
            }
        }
    }
    problems
}
