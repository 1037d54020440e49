//! Static Ansible inventories (INI and YAML) read at scenario load: a target written
//! `{ inventory: inventories/prod.ini, group: web }` gets the group's hosts, each with its address
//! (`ansible_host`, `ansible_port`), login user (`ansible_user`) and every other scalar variable as a
//! tag (group vars, child groups over parents, host vars over groups).
//!
//! Pure parsing: the file is read once, nothing is run. What is not supported (dynamic inventory
//! scripts and plugins, vaulted values, `group_vars/` directories, `ansible_connection` other than
//! ssh) is refused with INVENTORY_FILE:LINE:COLUMN and what to do, or documented as not read.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

use serde::Deserialize;
use serde_saphyr::Spanned;

use super::limits::{MAX_INVENTORY_BYTES, MAX_INVENTORY_HOSTS};
use super::{Diagnostic, HostAddr, is_safe_user, parse_host, plain_parse_message};

/// Where something was written in the inventory file (1-based).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
struct Pos {
    line: u64,
    column: u64,
}

#[derive(Debug, Clone, PartialEq)]
enum Val {
    Scalar(String),
    /// A list or a mapping: kept out of tags (they are strings), never an error.
    Complex,
}

type Vars = BTreeMap<String, (Val, Pos)>;

#[derive(Debug, Default)]
struct Group {
    pos: Pos,
    hosts: Vec<String>,
    children: Vec<(String, Pos)>,
    vars: Vars,
}

#[derive(Debug, Default)]
struct HostEntry {
    pos: Pos,
    /// The groups that list this host directly.
    groups: BTreeSet<String>,
    /// `name:port` in an INI host line.
    port: Option<u16>,
    vars: Vars,
}

/// A parsed static inventory.
#[derive(Debug)]
pub struct Inventory {
    file: PathBuf,
    groups: BTreeMap<String, Group>,
    hosts: BTreeMap<String, HostEntry>,
}

/// Connection variables read from the inventory; every other scalar variable becomes a tag.
const HOST_VARS: [&str; 2] = ["ansible_host", "ansible_ssh_host"];
const PORT_VARS: [&str; 2] = ["ansible_port", "ansible_ssh_port"];
const USER_VARS: [&str; 2] = ["ansible_user", "ansible_ssh_user"];
const KEY_VARS: [&str; 1] = ["ansible_ssh_private_key_file"];
/// Never used, never copied into tags (tags are journaled).
const SECRET_VARS: [&str; 6] = [
    "ansible_password",
    "ansible_ssh_pass",
    "ansible_ssh_password",
    "ansible_become_pass",
    "ansible_become_password",
    "ansible_sudo_pass",
];

/// Variable names that suggest a secret (`db_password`, `api_token`, `vault_secret`, …): never
/// copied into tags, which are journaled.
fn looks_secret(name: &str) -> bool {
    let n = name.to_ascii_lowercase();
    SECRET_VARS.contains(&n.as_str())
        || [
            "password",
            "passwd",
            "pass_",
            "_pass",
            "secret",
            "token",
            "credential",
            "private_key",
            "privatekey",
            "api_key",
            "apikey",
        ]
        .iter()
        .any(|s| n.contains(s))
}

const EXPORT_HINT: &str = "export it to a static file with `ansible-inventory -i SOURCE --list --yaml > inventory.yml` and point `inventory:` at that";

impl Inventory {
    /// Reads an inventory file: `.yml`, `.yaml` and `.json` as YAML, anything else as INI.
    pub fn load(path: &Path) -> Result<Inventory, Vec<Diagnostic>> {
        let at = |line, message: String| {
            vec![Diagnostic {
                file: path.to_path_buf(),
                line,
                column: 1,
                message,
            }]
        };
        let meta =
            std::fs::metadata(path).map_err(|e| at(1, format!("cannot read inventory: {e}")))?;
        if meta.is_dir() {
            return Err(at(
                1,
                format!("an inventory directory is not supported; {EXPORT_HINT}"),
            ));
        }
        if meta.len() > MAX_INVENTORY_BYTES {
            return Err(at(
                1,
                format!(
                    "inventory is {} bytes, over the {MAX_INVENTORY_BYTES}-byte limit",
                    meta.len()
                ),
            ));
        }
        let text = std::fs::read_to_string(path)
            .map_err(|e| at(1, format!("cannot read inventory: {e}")))?;
        if text.starts_with("#!") {
            return Err(at(
                1,
                format!("dynamic inventory scripts are not run by gameday; {EXPORT_HINT}"),
            ));
        }
        let yaml = matches!(
            path.extension().and_then(|e| e.to_str()),
            Some("yml" | "yaml" | "json")
        );
        if yaml {
            Inventory::parse_yaml(path, &text)
        } else {
            Inventory::parse_ini(path, &text)
        }
    }

    fn new(file: &Path) -> Inventory {
        let mut groups = BTreeMap::new();
        groups.insert("all".to_string(), Group::default());
        groups.insert("ungrouped".to_string(), Group::default());
        Inventory {
            file: file.to_path_buf(),
            groups,
            hosts: BTreeMap::new(),
        }
    }

    fn diag(&self, pos: Pos, message: impl Into<String>) -> Diagnostic {
        Diagnostic {
            file: self.file.clone(),
            line: pos.line.max(1),
            column: pos.column.max(1),
            message: message.into(),
        }
    }

    /// Every group name, `all` and `ungrouped` included.
    pub fn group_names(&self) -> impl Iterator<Item = &str> {
        self.groups.keys().map(String::as_str)
    }

    pub fn has_group(&self, group: &str) -> bool {
        self.groups.contains_key(group)
    }

    fn group(&mut self, name: &str, pos: Pos) -> &mut Group {
        let g = self.groups.entry(name.to_string()).or_default();
        if g.pos == Pos::default() {
            g.pos = pos;
        }
        g
    }

    fn add_host(&mut self, group: &str, name: &str, pos: Pos, port: Option<u16>, vars: Vars) {
        let h = self.hosts.entry(name.to_string()).or_default();
        let new_in_group = h.groups.insert(group.to_string());
        let g = self.group(group, pos);
        if new_in_group {
            g.hosts.push(name.to_string());
        }
        let h = self.hosts.entry(name.to_string()).or_default();
        if h.pos == Pos::default() {
            h.pos = pos;
        }
        if port.is_some() {
            h.port = port;
        }
        h.vars.extend(vars);
    }

    /// The INI form: `[group]` host lines (`name[:port] key=value …`), `[group:vars]`,
    /// `[group:children]`; hosts before any section are ungrouped.
    pub fn parse_ini(path: &Path, text: &str) -> Result<Inventory, Vec<Diagnostic>> {
        enum Section {
            Hosts(String),
            Vars(String),
            Children(String),
        }
        let mut inv = Inventory::new(path);
        let mut errors = Vec::new();
        let mut section = Section::Hosts("ungrouped".to_string());
        for (i, raw) in text.lines().enumerate() {
            let line_no = i as u64 + 1;
            let line = raw.trim();
            let indent = (raw.len() - raw.trim_start().len()) as u64;
            let pos = Pos {
                line: line_no,
                column: indent + 1,
            };
            let col_of = |token: &str| Pos {
                line: line_no,
                column: raw.find(token).map(|c| c as u64 + 1).unwrap_or(pos.column),
            };
            if line.is_empty() || line.starts_with('#') || line.starts_with(';') {
                continue;
            }
            if let Some(inner) = line.strip_prefix('[') {
                let Some(inner) = inner.split(['#', ';']).next().map(str::trim_end) else {
                    continue;
                };
                let Some(inner) = inner.strip_suffix(']') else {
                    errors.push(inv.diag(pos, "section header has no closing `]`"));
                    continue;
                };
                let (name, kind) = match inner.split_once(':') {
                    Some((n, k)) => (n.trim(), Some(k.trim())),
                    None => (inner.trim(), None),
                };
                if let Err(why) = check_group_name(name) {
                    errors.push(inv.diag(pos, why));
                    continue;
                }
                inv.group(name, pos);
                section = match kind {
                    None => Section::Hosts(name.to_string()),
                    Some("vars") => Section::Vars(name.to_string()),
                    Some("children") => Section::Children(name.to_string()),
                    Some(other) => {
                        errors.push(inv.diag(
                            pos,
                            format!("section `[{inner}]`: `:{other}` is not a section kind; use `[{name}]`, `[{name}:vars]` or `[{name}:children]`"),
                        ));
                        continue;
                    }
                };
                continue;
            }
            match &section {
                Section::Hosts(group) => {
                    let Some(tokens) = shlex::split(line) else {
                        errors.push(inv.diag(pos, "unbalanced quotes in host line"));
                        continue;
                    };
                    let Some((pattern, rest)) = tokens.split_first() else {
                        continue;
                    };
                    let mut vars = Vars::new();
                    for t in rest {
                        let Some((k, v)) = t.split_once('=') else {
                            errors.push(inv.diag(
                                col_of(t),
                                format!("`{t}` after host `{pattern}` is not `key=value`; put one host per line"),
                            ));
                            continue;
                        };
                        let p = col_of(k);
                        if let Err(why) = check_value(k, v) {
                            errors.push(inv.diag(p, why));
                            continue;
                        }
                        vars.insert(k.to_string(), (Val::Scalar(v.to_string()), p));
                    }
                    let (pattern, port) = match split_port(pattern) {
                        Ok(x) => x,
                        Err(why) => {
                            errors.push(inv.diag(pos, why));
                            continue;
                        }
                    };
                    match expand(pattern) {
                        Ok(names) => {
                            for n in names {
                                inv.add_host(group, &n, pos, port, vars.clone());
                            }
                        }
                        Err(why) => errors.push(inv.diag(pos, why)),
                    }
                }
                Section::Vars(group) => {
                    let Some((k, v)) = line.split_once('=') else {
                        errors.push(inv.diag(
                            pos,
                            format!("`[{group}:vars]` lines are `key=value`; `{line}` is not"),
                        ));
                        continue;
                    };
                    let (k, v) = (k.trim(), unquote(v.trim()));
                    if let Err(why) = check_value(k, v) {
                        errors.push(inv.diag(pos, why));
                        continue;
                    }
                    inv.group(group, pos)
                        .vars
                        .insert(k.to_string(), (Val::Scalar(v.to_string()), pos));
                }
                Section::Children(group) => {
                    if let Err(why) = check_group_name(line) {
                        errors.push(inv.diag(pos, why));
                        continue;
                    }
                    inv.group(line, pos);
                    inv.group(group, pos).children.push((line.to_string(), pos));
                }
            }
        }
        inv.finish(errors)
    }

    /// The YAML form: `group: { hosts: {name: vars}, children: {group: …}, vars: {…} }`, nested.
    pub fn parse_yaml(path: &Path, text: &str) -> Result<Inventory, Vec<Diagnostic>> {
        let mut inv = Inventory::new(path);
        if let Some(line) = text.lines().position(|l| l.starts_with("plugin:")) {
            return Err(vec![inv.diag(
                Pos {
                    line: line as u64 + 1,
                    column: 1,
                },
                format!("inventory plugins are not run by gameday; {EXPORT_HINT}"),
            )]);
        }
        if let Some(line) = text.lines().position(|l| l.contains("\"_meta\"")) {
            return Err(vec![inv.diag(
                Pos {
                    line: line as u64 + 1,
                    column: 1,
                },
                format!(
                    "this is `ansible-inventory --list` JSON, not an inventory file; {EXPORT_HINT}"
                ),
            )]);
        }
        let top: Option<BTreeMap<String, Spanned<Option<YGroup>>>> = serde_saphyr::from_str(text)
            .map_err(|e| {
            let (line, column) = e
                .location()
                .map(|l| (l.line().max(1), l.column().max(1)))
                .unwrap_or((1, 1));
            vec![inv.diag(
                Pos { line, column },
                plain_parse_message(&e.without_snippet().to_string()),
            )]
        })?;
        let mut errors = Vec::new();
        for (name, g) in top.unwrap_or_default() {
            inv.yaml_group(&name, &g, &mut errors);
        }
        inv.finish(errors)
    }

    fn yaml_group(
        &mut self,
        name: &str,
        g: &Spanned<Option<YGroup>>,
        errors: &mut Vec<Diagnostic>,
    ) {
        let pos = pos_of(&g.referenced);
        if let Err(why) = check_group_name(name) {
            errors.push(self.diag(pos, why));
            return;
        }
        self.group(name, pos);
        let Some(group) = &g.value else {
            return;
        };
        for (k, v) in group.vars.iter().flatten() {
            match yaml_var(k, v) {
                Ok(var) => {
                    self.group(name, pos).vars.insert(k.clone(), var);
                }
                Err(d) => errors.push(self.diag(d.0, d.1)),
            }
        }
        for (pattern, h) in group.hosts.iter().flatten() {
            let hpos = pos_of(&h.referenced);
            let mut vars = Vars::new();
            for (k, v) in h.value.iter().flatten() {
                match yaml_var(k, v) {
                    Ok(var) => {
                        vars.insert(k.clone(), var);
                    }
                    Err(d) => errors.push(self.diag(d.0, d.1)),
                }
            }
            match expand(pattern) {
                Ok(names) => {
                    for n in names {
                        self.add_host(name, &n, hpos, None, vars.clone());
                    }
                }
                Err(why) => errors.push(self.diag(hpos, why)),
            }
        }
        for (child, c) in group.children.iter().flatten() {
            let cpos = pos_of(&c.referenced);
            self.yaml_group(child, c, errors);
            self.group(name, pos).children.push((child.clone(), cpos));
        }
    }

    /// Checks what every later question relies on: no cycle among `children`, a bounded count.
    fn finish(self, mut errors: Vec<Diagnostic>) -> Result<Inventory, Vec<Diagnostic>> {
        if self.hosts.len() > MAX_INVENTORY_HOSTS {
            errors.push(self.diag(
                Pos::default(),
                format!(
                    "inventory holds {} hosts, over the limit of {MAX_INVENTORY_HOSTS}",
                    self.hosts.len()
                ),
            ));
        }
        if let Some((path, pos)) = self.cycle() {
            errors.push(self.diag(
                pos,
                format!(
                    "group `children` form a cycle: {}; a group cannot contain itself, remove one of these entries",
                    path.join(" → ")
                ),
            ));
        }
        if errors.is_empty() {
            Ok(self)
        } else {
            errors.sort_by_key(|d| (d.line, d.column));
            errors.dedup_by(|a, b| a.line == b.line && a.message == b.message);
            Err(errors)
        }
    }

    /// The first cycle in `children`, as the path of group names and where its last edge is written.
    fn cycle(&self) -> Option<(Vec<String>, Pos)> {
        // 0 unvisited, 1 on the path, 2 done.
        fn visit(
            inv: &Inventory,
            g: &str,
            state: &mut BTreeMap<String, u8>,
            path: &mut Vec<String>,
        ) -> Option<(Vec<String>, Pos)> {
            state.insert(g.to_string(), 1);
            path.push(g.to_string());
            for (c, pos) in inv.groups.get(g).map(|g| &g.children[..]).unwrap_or(&[]) {
                match state.get(c.as_str()).copied().unwrap_or(0) {
                    1 => {
                        let start = path.iter().position(|p| p == c).unwrap_or(0);
                        let mut cycle = path[start..].to_vec();
                        cycle.push(c.clone());
                        return Some((cycle, *pos));
                    }
                    0 => {
                        if let Some(found) = visit(inv, c, state, path) {
                            return Some(found);
                        }
                    }
                    _ => {}
                }
            }
            path.pop();
            state.insert(g.to_string(), 2);
            None
        }
        let mut state = BTreeMap::new();
        for g in self.groups.keys() {
            if state.get(g.as_str()).copied().unwrap_or(0) == 0 {
                let mut path = Vec::new();
                if let Some(found) = visit(self, g, &mut state, &mut path) {
                    return Some(found);
                }
            }
        }
        None
    }

    /// Parents of each group; groups with none (but `all`) are children of `all`.
    fn parents(&self) -> BTreeMap<&str, Vec<&str>> {
        let mut parents: BTreeMap<&str, Vec<&str>> = BTreeMap::new();
        for (name, g) in &self.groups {
            for (c, _) in &g.children {
                parents.entry(c.as_str()).or_default().push(name.as_str());
            }
        }
        for name in self.groups.keys() {
            if name != "all" {
                let p = parents.entry(name.as_str()).or_default();
                if p.is_empty() {
                    p.push("all");
                }
            }
        }
        parents
    }

    /// Every host name in `group` and its descendants (`all`: every host; `ungrouped`: hosts in
    /// no group but `all` and `ungrouped`), in the order written.
    fn members(&self, group: &str) -> Vec<&str> {
        if group == "all" {
            return self.hosts.keys().map(String::as_str).collect();
        }
        if group == "ungrouped" {
            return self
                .hosts
                .iter()
                .filter(|(_, e)| e.groups.iter().all(|g| g == "all" || g == "ungrouped"))
                .map(|(h, _)| h.as_str())
                .collect();
        }
        let mut seen = BTreeSet::new();
        let mut out = Vec::new();
        let mut stack = vec![group];
        let mut visited = BTreeSet::new();
        while let Some(g) = stack.pop() {
            if !visited.insert(g) {
                continue;
            }
            let Some(grp) = self.groups.get(g) else {
                continue;
            };
            for h in &grp.hosts {
                if seen.insert(h.as_str()) {
                    out.push(h.as_str());
                }
            }
            for (c, _) in grp.children.iter().rev() {
                stack.push(c);
            }
        }
        out
    }

    /// Every group `host` belongs to (directly or through `children`), ordered by precedence:
    /// `all` first, parents before children, by name at equal depth.
    fn groups_of<'a>(
        &'a self,
        host: &str,
        parents: &BTreeMap<&'a str, Vec<&'a str>>,
    ) -> Vec<&'a str> {
        let direct: Vec<&str> = self
            .hosts
            .get(host)
            .map(|e| e.groups.iter().map(String::as_str).collect())
            .unwrap_or_default();
        let mut all = BTreeSet::new();
        let mut stack = direct;
        stack.push("all");
        while let Some(g) = stack.pop() {
            if all.insert(g) {
                stack.extend(parents.get(g).into_iter().flatten().copied());
            }
        }
        let mut depth: BTreeMap<&'a str, usize> = BTreeMap::new();
        fn depth_of<'a>(
            g: &'a str,
            parents: &BTreeMap<&'a str, Vec<&'a str>>,
            memo: &mut BTreeMap<&'a str, usize>,
        ) -> usize {
            if g == "all" {
                return 0;
            }
            if let Some(d) = memo.get(g) {
                return *d;
            }
            // Acyclic (checked at load): the recursion ends at `all`.
            let d = parents
                .get(g)
                .into_iter()
                .flatten()
                .map(|p| depth_of(p, parents, memo) + 1)
                .max()
                .unwrap_or(1);
            memo.insert(g, d);
            d
        }
        let mut out: Vec<&'a str> = all.into_iter().collect();
        out.sort_by_key(|g| (depth_of(g, parents, &mut depth), *g));
        out
    }

    /// The addresses of `group`'s hosts. `identity_given`: the target sets `identity`, which then
    /// stands for any `ansible_ssh_private_key_file`. Errors point into the inventory.
    pub fn hosts(
        &self,
        group: &str,
        identity_given: bool,
    ) -> Result<Vec<HostAddr>, Vec<Diagnostic>> {
        let parents = self.parents();
        let mut out: Vec<HostAddr> = Vec::new();
        let mut seen: std::collections::HashMap<(String, u16), String> = Default::default();
        let mut errors = Vec::new();
        for name in self.members(group) {
            let Some(entry) = self.hosts.get(name) else {
                continue;
            };
            let mut vars: BTreeMap<&str, &(Val, Pos)> = BTreeMap::new();
            for g in self.groups_of(name, &parents) {
                if let Some(grp) = self.groups.get(g) {
                    vars.extend(grp.vars.iter().map(|(k, v)| (k.as_str(), v)));
                }
            }
            vars.extend(entry.vars.iter().map(|(k, v)| (k.as_str(), v)));
            match self.address(name, entry, &vars, identity_given) {
                Ok(addr) => {
                    let key = (addr.host.clone(), addr.port);
                    if let Some(other) = seen.get(&key) {
                        errors.push(self.diag(
                            entry.pos,
                            format!(
                                "hosts `{other}` and `{name}` both reach {addr}; one address can be faulted once"
                            ),
                        ));
                    } else {
                        seen.insert(key, addr.label());
                        out.push(addr);
                    }
                }
                Err(d) => errors.push(d),
            }
        }
        if errors.is_empty() {
            Ok(out)
        } else {
            Err(errors)
        }
    }

    fn address(
        &self,
        name: &str,
        entry: &HostEntry,
        vars: &BTreeMap<&str, &(Val, Pos)>,
        identity_given: bool,
    ) -> Result<HostAddr, Diagnostic> {
        let scalar = |keys: &[&str]| -> Result<Option<(&str, Pos)>, Diagnostic> {
            for k in keys {
                match vars.get(k) {
                    Some((Val::Scalar(v), p)) => return Ok(Some((v.as_str(), *p))),
                    Some((Val::Complex, p)) => {
                        return Err(
                            self.diag(*p, format!("host `{name}`: `{k}` must be a single value"))
                        );
                    }
                    None => {}
                }
            }
            Ok(None)
        };
        if let Some((conn, p)) = scalar(&["ansible_connection"])?
            && !matches!(conn, "ssh" | "smart" | "paramiko")
        {
            return Err(self.diag(
                p,
                format!("host `{name}`: ansible_connection={conn} is not supported; gameday reaches inventory hosts over SSH (use a `local: true` target for this machine)"),
            ));
        }
        if let Some((_, p)) = scalar(&KEY_VARS)?
            && !identity_given
        {
            return Err(self.diag(
                p,
                format!("host `{name}`: ansible_ssh_private_key_file is not read; set `identity:` on the target (or IdentityFile in your ssh config)"),
            ));
        }
        let (host, host_pos) = scalar(&HOST_VARS)?.unwrap_or((name, entry.pos));
        let mut addr =
            parse_host(host).map_err(|why| self.diag(host_pos, format!("host `{name}`: {why}")))?;
        if host.contains(':') && !host.contains("::") && host.matches(':').count() == 1 {
            return Err(self.diag(
                host_pos,
                format!("host `{name}`: give the port as ansible_port, not in `{host}`"),
            ));
        }
        if let Some(port) = entry.port {
            addr.port = port;
        }
        if let Some((port, p)) = scalar(&PORT_VARS)? {
            addr.port = port.parse::<u16>().ok().filter(|p| *p > 0).ok_or_else(|| {
                self.diag(
                    p,
                    format!("host `{name}`: ansible_port `{port}` is not a number from 1 to 65535"),
                )
            })?;
        }
        if let Some((user, p)) = scalar(&USER_VARS)? {
            if !is_safe_user(user) {
                return Err(self.diag(
                    p,
                    format!("host `{name}`: ansible_user `{user}` is not a valid user name"),
                ));
            }
            addr.user = Some(user.to_string());
        }
        let skip = |k: &str| {
            HOST_VARS.contains(&k)
                || PORT_VARS.contains(&k)
                || USER_VARS.contains(&k)
                || KEY_VARS.contains(&k)
                || looks_secret(k)
                || k == "ansible_connection"
        };
        addr.tags = vars
            .iter()
            .filter(|(k, _)| !skip(k))
            .filter_map(|(k, (v, _))| match v {
                Val::Scalar(s) => Some((k.to_string(), s.clone())),
                Val::Complex => None,
            })
            .collect();
        if name != addr.to_string() {
            addr.name = Some(name.to_string());
        }
        Ok(addr)
    }
}

fn pos_of(l: &serde_saphyr::Location) -> Pos {
    Pos {
        line: l.line(),
        column: l.column(),
    }
}

type YVars = BTreeMap<String, Spanned<YVal>>;

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct YGroup {
    #[serde(default)]
    hosts: Option<BTreeMap<String, Spanned<Option<YVars>>>>,
    #[serde(default)]
    children: Option<BTreeMap<String, Spanned<Option<YGroup>>>>,
    #[serde(default)]
    vars: Option<YVars>,
}

/// A variable's value in YAML: scalars as text, anything else `Complex`.
#[derive(Debug)]
struct YVal(Val);

impl<'de> Deserialize<'de> for YVal {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> serde::de::Visitor<'de> for V {
            type Value = Val;
            fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                f.write_str("a variable value")
            }
            fn visit_bool<E>(self, v: bool) -> Result<Val, E> {
                Ok(Val::Scalar(v.to_string()))
            }
            fn visit_i64<E>(self, v: i64) -> Result<Val, E> {
                Ok(Val::Scalar(v.to_string()))
            }
            fn visit_u64<E>(self, v: u64) -> Result<Val, E> {
                Ok(Val::Scalar(v.to_string()))
            }
            fn visit_f64<E>(self, v: f64) -> Result<Val, E> {
                Ok(Val::Scalar(v.to_string()))
            }
            fn visit_str<E>(self, v: &str) -> Result<Val, E> {
                Ok(Val::Scalar(v.to_string()))
            }
            fn visit_unit<E>(self) -> Result<Val, E> {
                Ok(Val::Scalar(String::new()))
            }
            fn visit_none<E>(self) -> Result<Val, E> {
                Ok(Val::Scalar(String::new()))
            }
            fn visit_seq<A: serde::de::SeqAccess<'de>>(self, mut a: A) -> Result<Val, A::Error> {
                while a.next_element::<serde::de::IgnoredAny>()?.is_some() {}
                Ok(Val::Complex)
            }
            fn visit_map<A: serde::de::MapAccess<'de>>(self, mut a: A) -> Result<Val, A::Error> {
                while a
                    .next_entry::<serde::de::IgnoredAny, serde::de::IgnoredAny>()?
                    .is_some()
                {}
                Ok(Val::Complex)
            }
        }
        d.deserialize_any(V).map(YVal)
    }
}

fn yaml_var(k: &str, v: &Spanned<YVal>) -> Result<(Val, Pos), (Pos, String)> {
    let pos = pos_of(&v.referenced);
    if let Val::Scalar(s) = &v.value.0 {
        check_value(k, s).map_err(|why| (pos, why))?;
    }
    Ok((v.value.0.clone(), pos))
}

/// Refuses vaulted values (gameday does not decrypt them) and odd variable names.
fn check_value(key: &str, value: &str) -> Result<(), String> {
    if key.is_empty() || !key.chars().all(|c| c.is_ascii_alphanumeric() || c == '_') {
        return Err(format!(
            "`{key}` is not a variable name (letters, digits, `_`)"
        ));
    }
    if value.trim_start().starts_with("$ANSIBLE_VAULT") {
        return Err(format!(
            "`{key}` is vaulted; gameday does not decrypt Ansible Vault values: remove it from this inventory, or {EXPORT_HINT}"
        ));
    }
    Ok(())
}

fn check_group_name(name: &str) -> Result<(), String> {
    if name.is_empty()
        || !name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '.'))
    {
        return Err(format!(
            "`{name}` is not a group name (letters, digits, `_`, `-`, `.`)"
        ));
    }
    Ok(())
}

fn unquote(v: &str) -> &str {
    for q in ['"', '\''] {
        if let Some(inner) = v.strip_prefix(q).and_then(|s| s.strip_suffix(q)) {
            return inner;
        }
    }
    v
}

/// `name:port` (INI), with ranges' own colons left alone.
fn split_port(pattern: &str) -> Result<(&str, Option<u16>), String> {
    let Some((name, port)) = pattern.rsplit_once(':') else {
        return Ok((pattern, None));
    };
    if port.ends_with(']') || name.matches(':').count() > 0 && !name.contains('[') {
        // A range `[1:3]`, or a bare IPv6 address.
        return Ok((pattern, None));
    }
    if name.rfind('[') > name.rfind(']') {
        return Ok((pattern, None));
    }
    match port.parse::<u16>() {
        Ok(p) if p > 0 => Ok((name, Some(p))),
        _ => Err(format!(
            "host `{pattern}`: port `{port}` is not a number from 1 to 65535"
        )),
    }
}

/// Expands host ranges: `web[01:20].example` (zero-padded as written), `db-[a:c]`, an optional
/// stride `[1:9:2]`; several ranges in one name multiply.
fn expand(pattern: &str) -> Result<Vec<String>, String> {
    let Some(open) = pattern.find('[') else {
        return Ok(vec![pattern.to_string()]);
    };
    let Some(close) = pattern[open..].find(']').map(|c| c + open) else {
        return Err(format!("host `{pattern}`: range has no closing `]`"));
    };
    let (head, inner, tail) = (
        &pattern[..open],
        &pattern[open + 1..close],
        &pattern[close + 1..],
    );
    let parts: Vec<&str> = inner.split(':').collect();
    let bad = || {
        format!(
            "host `{pattern}`: range `[{inner}]` must be `[START:END]` or `[START:END:STEP]` with numbers or single letters, START ≤ END"
        )
    };
    if !(2..=3).contains(&parts.len()) {
        return Err(bad());
    }
    let step: usize = match parts.get(2) {
        Some(s) => s.parse().ok().filter(|s| *s > 0).ok_or_else(bad)?,
        None => 1,
    };
    let (start, end) = (parts[0], parts[1]);
    let items: Vec<String> = if let (Ok(a), Ok(b)) = (start.parse::<u64>(), end.parse::<u64>()) {
        if a > b || (b - a) / step as u64 >= MAX_INVENTORY_HOSTS as u64 {
            return Err(bad());
        }
        let width = if start.len() > 1 && start.starts_with('0') {
            start.len()
        } else {
            0
        };
        (a..=b)
            .step_by(step)
            .map(|n| format!("{n:0width$}"))
            .collect()
    } else {
        let (Some(a), Some(b)) = (single_letter(start), single_letter(end)) else {
            return Err(bad());
        };
        if a > b {
            return Err(bad());
        }
        (a..=b).step_by(step).map(|c| c.to_string()).collect()
    };
    let rest = expand(tail)?;
    let mut out = Vec::new();
    for i in &items {
        for r in &rest {
            out.push(format!("{head}{i}{r}"));
            if out.len() > MAX_INVENTORY_HOSTS {
                return Err(format!(
                    "host `{pattern}` expands to more than {MAX_INVENTORY_HOSTS} hosts"
                ));
            }
        }
    }
    Ok(out)
}

fn single_letter(s: &str) -> Option<char> {
    let mut c = s.chars();
    match (c.next(), c.next()) {
        (Some(ch), None) if ch.is_ascii_alphabetic() => Some(ch),
        _ => None,
    }
}

#[cfg(test)]
mod tests;

impl super::Validator {
    /// The hosts of a target written `{ inventory: FILE, group: NAME }` (FILE relative to the
    /// scenario). Inventory errors point into the inventory; the rest at the target.
    pub(super) fn inventory_hosts(
        &mut self,
        name: &str,
        spec: &super::spec::TargetSpec,
        at: &serde_saphyr::Location,
    ) -> Option<Vec<HostAddr>> {
        let (Some(file), Some(group)) = (&spec.inventory, &spec.group) else {
            self.err(
                at,
                format!("target `{name}`: `inventory:` and `group:` go together (`group: all` for every host)"),
            );
            return None;
        };
        if !spec.hosts.is_empty() {
            self.err(
                at,
                format!("target `{name}`: give `hosts:` or `inventory:`, not both"),
            );
            return None;
        }
        let Some(path) = super::resolve_relative(&self.file, Path::new(&file.value)) else {
            self.err(
                &file.referenced,
                format!(
                    "target `{name}`: inventory `{}` not found (looked beside the scenario and in its parent directories; inventory directories are not supported)",
                    file.value
                ),
            );
            return None;
        };
        let inv = match Inventory::load(&path) {
            Ok(inv) => inv,
            Err(diags) => {
                self.diags.extend(diags);
                return None;
            }
        };
        if !inv.has_group(&group.value) {
            let known: Vec<&str> = inv.group_names().collect();
            self.err(
                &group.referenced,
                format!(
                    "target `{name}`: inventory `{}` has no group `{}`; its groups: {}",
                    file.value,
                    group.value,
                    known.join(", ")
                ),
            );
            return None;
        }
        match inv.hosts(&group.value, spec.identity.is_some()) {
            Ok(hosts) if hosts.is_empty() => {
                self.err(
                    &group.referenced,
                    format!(
                        "target `{name}`: group `{}` of inventory `{}` has no hosts",
                        group.value, file.value
                    ),
                );
                None
            }
            Ok(hosts) => Some(hosts),
            Err(diags) => {
                self.diags.extend(diags);
                None
            }
        }
    }
}
