//! Chaos Toolkit experiments (`chaos run`'s JSON or YAML), read as they are: the model, and its
//! validation with FILE:LINE:COLUMN for every problem. Only what gameday can run exactly as
//! chaostoolkit-lib does is accepted (docs/chaos-toolkit.md lists it); anything else (python
//! providers, extensions, controls, unknown keys) is refused here, before anything runs.
//!
//! One tree for both formats: JSON is checked by serde_json first (its syntax errors keep their
//! line and column), then both are read by the YAML parser under serde-saphyr (JSON is YAML's flow
//! style), which gives every node its place.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde_json::Value;
use serde_saphyr::granit_parser::{Event as YamlEvent, Parser, ScalarStyle};

use super::limits;
use super::{Diagnostic, Invalid};

/// A node of the experiment as written, with its place (line and column, 1-based).
#[derive(Debug, Clone, PartialEq)]
pub struct Node {
    pub value: NodeValue,
    pub line: u64,
    pub column: u64,
}

#[derive(Debug, Clone, PartialEq)]
pub enum NodeValue {
    Null,
    Bool(bool),
    Int(i64),
    Float(f64),
    Str(String),
    Seq(Vec<Node>),
    /// Keys in the order written, each with its own place.
    Map(Vec<(Node, Node)>),
}

impl Node {
    /// The node as plain JSON (what chaostoolkit works on).
    pub fn to_json(&self) -> Value {
        match &self.value {
            NodeValue::Null => Value::Null,
            NodeValue::Bool(b) => Value::Bool(*b),
            NodeValue::Int(i) => Value::from(*i),
            NodeValue::Float(f) => {
                serde_json::Number::from_f64(*f).map_or(Value::Null, Value::Number)
            }
            NodeValue::Str(s) => Value::String(s.clone()),
            NodeValue::Seq(items) => Value::Array(items.iter().map(Node::to_json).collect()),
            NodeValue::Map(entries) => Value::Object(
                entries
                    .iter()
                    .map(|(k, v)| (k.key_text(), v.to_json()))
                    .collect(),
            ),
        }
    }

    fn key_text(&self) -> String {
        match &self.value {
            NodeValue::Str(s) => s.clone(),
            _ => self.to_json().to_string(),
        }
    }

    fn get(&self, key: &str) -> Option<&Node> {
        match &self.value {
            NodeValue::Map(entries) => entries
                .iter()
                .find(|(k, _)| matches!(&k.value, NodeValue::Str(s) if s == key))
                .map(|(_, v)| v),
            _ => None,
        }
    }

    fn str(&self) -> Option<&str> {
        match &self.value {
            NodeValue::Str(s) => Some(s),
            _ => None,
        }
    }

    fn number(&self) -> Option<f64> {
        match self.value {
            NodeValue::Int(i) => Some(i as f64),
            NodeValue::Float(f) => Some(f),
            _ => None,
        }
    }

    fn kind_name(&self) -> &'static str {
        match self.value {
            NodeValue::Null => "null",
            NodeValue::Bool(_) => "a boolean",
            NodeValue::Int(_) => "an integer",
            NodeValue::Float(_) => "a number",
            NodeValue::Str(_) => "a string",
            NodeValue::Seq(_) => "a list",
            NodeValue::Map(_) => "a mapping",
        }
    }
}

/// Whether `path`'s text is a Chaos Toolkit experiment rather than a gameday scenario: a top-level
/// mapping with `method` or `steady-state-hypothesis` and no gameday `steps`.
pub fn is_experiment(path: &Path, text: &str) -> bool {
    let Ok(tree) = parse_tree(path, text) else {
        // A JSON file is never a gameday scenario: say what is wrong with it as an experiment.
        return is_json(path);
    };
    (tree.get("method").is_some() || tree.get("steady-state-hypothesis").is_some())
        && tree.get("steps").is_none()
}

/// [`is_experiment`] of a file on disk; false when it cannot be read (the scenario loader says why).
pub fn is_file_an_experiment(path: &Path) -> bool {
    std::fs::read_to_string(path).is_ok_and(|t| is_experiment(path, &t))
}

fn is_json(path: &Path) -> bool {
    path.extension()
        .is_some_and(|e| e.eq_ignore_ascii_case("json"))
}

/// Reads `text` (JSON when the file ends in `.json`, else YAML) into a located tree.
pub fn parse_tree(path: &Path, text: &str) -> Result<Node, Invalid> {
    let diag = |line: u64, column: u64, message: String| {
        Invalid(vec![Diagnostic {
            file: path.to_path_buf(),
            line,
            column,
            message,
        }])
    };
    if is_json(path)
        && let Err(e) = serde_json::from_str::<Value>(text)
    {
        return Err(diag(
            e.line() as u64,
            e.column() as u64,
            format!("not valid JSON: {e}"),
        ));
    }
    let mut parser = Parser::new_from_str(text);
    let mut stack: Vec<Building> = Vec::new();
    let mut root: Option<Node> = None;
    for item in parser.by_ref() {
        let (event, span) = match item {
            Ok(e) => e,
            Err(e) => {
                let m = e.marker();
                return Err(diag(
                    m.line() as u64,
                    m.col() as u64 + 1,
                    format!("not valid YAML: {}", e.info()),
                ));
            }
        };
        let (line, column) = (span.start.line() as u64, span.start.col() as u64 + 1);
        let done = match event {
            YamlEvent::Scalar(text, style, _, _) => Some(Node {
                value: scalar(&text, style),
                line,
                column,
            }),
            YamlEvent::SequenceStart(..) => {
                stack.push(Building::Seq(line, column, Vec::new()));
                None
            }
            YamlEvent::MappingStart(..) => {
                stack.push(Building::Map(line, column, Vec::new(), None));
                None
            }
            YamlEvent::SequenceEnd | YamlEvent::MappingEnd => stack.pop().map(Building::finish),
            YamlEvent::Alias(_) => {
                return Err(diag(
                    line,
                    column,
                    "aliases (`*name`) are not supported in an experiment: write the value out"
                        .into(),
                ));
            }
            YamlEvent::DocumentStart(..) if root.is_some() => {
                return Err(diag(
                    line,
                    column,
                    "one experiment per file: a second YAML document starts here".into(),
                ));
            }
            _ => None,
        };
        if let Some(node) = done {
            match stack.last_mut() {
                Some(Building::Seq(_, _, items)) => items.push(node),
                Some(Building::Map(_, _, entries, key)) => match key.take() {
                    None => *key = Some(node),
                    Some(k) => entries.push((k, node)),
                },
                None => root = Some(node),
            }
        }
    }
    root.ok_or_else(|| diag(1, 1, "the file is empty: an experiment is a mapping".into()))
}

enum Building {
    Seq(u64, u64, Vec<Node>),
    Map(u64, u64, Vec<(Node, Node)>, Option<Node>),
}

impl Building {
    fn finish(self) -> Node {
        match self {
            Building::Seq(line, column, items) => Node {
                value: NodeValue::Seq(items),
                line,
                column,
            },
            Building::Map(line, column, entries, _) => Node {
                value: NodeValue::Map(entries),
                line,
                column,
            },
        }
    }
}

/// YAML 1.2 core schema for plain scalars; anything quoted or a block scalar is a string.
fn scalar(text: &str, style: ScalarStyle) -> NodeValue {
    if style != ScalarStyle::Plain {
        return NodeValue::Str(text.to_string());
    }
    match text {
        "" | "~" | "null" | "Null" | "NULL" => return NodeValue::Null,
        "true" | "True" | "TRUE" => return NodeValue::Bool(true),
        "false" | "False" | "FALSE" => return NodeValue::Bool(false),
        _ => {}
    }
    if let Ok(i) = text.parse::<i64>() {
        return NodeValue::Int(i);
    }
    let numeric = text
        .trim_start_matches(['-', '+'])
        .starts_with(|c: char| c.is_ascii_digit() || c == '.');
    if numeric && let Ok(f) = text.parse::<f64>() {
        return NodeValue::Float(f);
    }
    NodeValue::Str(text.to_string())
}

/// A validated experiment. Strings keep their `${name}` references: they are substituted at run
/// time, from the configuration and secrets, as chaostoolkit does.
#[derive(Debug, Clone, PartialEq)]
pub struct Experiment {
    pub file: PathBuf,
    pub title: String,
    pub description: Option<String>,
    pub tags: Vec<String>,
    pub configuration: Vec<(String, ConfigValue)>,
    /// (scope, name, environment variable): read at run time, never journaled.
    pub secrets: Vec<(String, String, String)>,
    pub hypothesis: Option<Hypothesis>,
    pub method: Vec<Activity>,
    pub rollbacks: Vec<Activity>,
    /// The whole experiment as JSON, for the CTK journal's `experiment`.
    pub raw: Value,
}

#[derive(Debug, Clone, PartialEq)]
pub enum ConfigValue {
    Static(Value),
    Env { key: String, default: Option<Value> },
}

#[derive(Debug, Clone, PartialEq)]
pub struct Hypothesis {
    pub title: String,
    pub probes: Vec<Activity>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Action,
    Probe,
}

impl Kind {
    pub fn name(self) -> &'static str {
        match self {
            Kind::Action => "action",
            Kind::Probe => "probe",
        }
    }
}

/// One action or probe, with a `ref:` already resolved to the activity it names.
#[derive(Debug, Clone, PartialEq)]
pub struct Activity {
    pub kind: Kind,
    pub name: String,
    pub provider: Provider,
    pub tolerance: Option<Tolerance>,
    pub pause_before: Option<Pause>,
    pub pause_after: Option<Pause>,
    pub background: bool,
    /// Where it is used (the `ref:` for a reference).
    pub line: u64,
    pub column: u64,
    /// The activity as written (the referenced one for a `ref:`), for the CTK journal.
    pub raw: Value,
}

/// Seconds, or a `${name}` from the configuration resolved at run time.
#[derive(Debug, Clone, PartialEq)]
pub enum Pause {
    Seconds(f64),
    Var(String),
}

#[derive(Debug, Clone, PartialEq)]
pub enum Provider {
    /// `path` with `arguments` (a list: each one argument; a string: a shell line after the path).
    Process {
        path: String,
        arguments: Arguments,
        timeout: Option<Duration>,
    },
    Http {
        url: String,
        method: String,
        headers: Vec<(String, String)>,
        /// GET: query parameters; otherwise the body (JSON when Content-Type says so, else a form).
        arguments: Option<Value>,
        timeout: Option<Duration>,
        verify_tls: bool,
    },
}

impl Provider {
    pub fn type_name(&self) -> &'static str {
        match self {
            Provider::Process { .. } => "process",
            Provider::Http { .. } => "http",
        }
    }

    pub fn timeout(&self) -> Option<Duration> {
        match self {
            Provider::Process { timeout, .. } | Provider::Http { timeout, .. } => *timeout,
        }
    }
}

#[derive(Debug, Clone, PartialEq)]
pub enum Arguments {
    List(Vec<Value>),
    Line(String),
}

/// How a probe's output is judged (chaostoolkit's `within_tolerance`).
#[derive(Debug, Clone, PartialEq)]
pub enum Tolerance {
    /// The whole output equals it (never true for a process or http output, a mapping: as in CTK).
    Bool(bool),
    /// The output's `status` (exit code or HTTP status) equals it.
    Int(i64),
    /// The whole output equals it (as `Bool`).
    Str(String),
    /// Two numbers: `status` in `[lo, hi]`; otherwise `status` is one of them.
    List(Vec<Value>),
    Regex {
        pattern: String,
        target: String,
    },
    JsonPath {
        path: String,
        target: Option<String>,
        count: Option<u64>,
        expect: Option<Value>,
    },
    Range {
        lo: f64,
        hi: f64,
        target: String,
    },
}

const TOP_KEYS: &[&str] = &[
    "version",
    "title",
    "description",
    "tags",
    "contributions",
    "configuration",
    "secrets",
    "steady-state-hypothesis",
    "method",
    "rollbacks",
];

/// Keys chaostoolkit knows that gameday cannot honour, and what to do instead.
fn refused_key(key: &str) -> Option<&'static str> {
    Some(match key {
        "extensions" => {
            "extensions are not supported: remove `extensions` (gameday's journal and debrief keep the run's record)"
        }
        "controls" => {
            "controls are Python code run around activities: not supported; remove `controls` (gameday journals every activity itself)"
        }
        "runtime" => {
            "`runtime` settings are not supported: gameday always runs rollbacks and bounds the run with --max-duration"
        }
        "dry" => "dry runs are not supported: remove `dry`",
        _ => return None,
    })
}

struct Check<'a> {
    file: &'a Path,
    problems: Vec<Diagnostic>,
}

impl Check<'_> {
    fn at(&mut self, node: &Node, message: impl Into<String>) {
        self.problems.push(Diagnostic {
            file: self.file.to_path_buf(),
            line: node.line,
            column: node.column,
            message: message.into(),
        });
    }

    fn map<'n>(&mut self, node: &'n Node, what: &str) -> Option<&'n [(Node, Node)]> {
        match &node.value {
            NodeValue::Map(entries) => Some(entries),
            _ => {
                self.at(
                    node,
                    format!("{what} must be a mapping, not {}", node.kind_name()),
                );
                None
            }
        }
    }

    fn string(&mut self, node: &Node, what: &str) -> Option<String> {
        match &node.value {
            NodeValue::Str(s) => Some(s.clone()),
            _ => {
                self.at(
                    node,
                    format!("{what} must be a string, not {}", node.kind_name()),
                );
                None
            }
        }
    }

    /// Every key of `entries` must be in `allowed`; a refused one says what to do.
    fn keys(&mut self, entries: &[(Node, Node)], allowed: &[&str], what: &str) {
        for (k, _) in entries {
            let name = k.key_text();
            if allowed.contains(&name.as_str()) {
                continue;
            }
            match refused_key(&name) {
                Some(why) => self.at(k, why),
                None => self.at(
                    k,
                    format!(
                        "unknown key `{name}` in {what} (gameday runs experiments exactly or not at all; known here: {}); remove it",
                        allowed.join(", ")
                    ),
                ),
            }
        }
    }

    fn seconds(&mut self, node: &Node, what: &str, max: Duration) -> Option<Duration> {
        let Some(s) = node.number() else {
            self.at(
                node,
                format!(
                    "{what} must be a number of seconds, not {}",
                    node.kind_name()
                ),
            );
            return None;
        };
        let max_s = max.as_secs_f64();
        if !(s > 0.0 && s <= max_s) {
            self.at(
                node,
                format!(
                    "{what} must be more than 0 and at most {} seconds (docs/chaos-toolkit.md, limits)",
                    max_s
                ),
            );
            return None;
        }
        Some(Duration::from_secs_f64(s))
    }
}

impl Experiment {
    /// Reads and validates an experiment file. Touches nothing but the file read.
    pub fn load(path: &Path) -> Result<Experiment, Invalid> {
        let text = std::fs::read_to_string(path).map_err(|e| {
            Invalid(vec![Diagnostic {
                file: path.to_path_buf(),
                line: 1,
                column: 1,
                message: format!("cannot read: {e}"),
            }])
        })?;
        Experiment::parse(path, &text)
    }

    pub fn parse(path: &Path, text: &str) -> Result<Experiment, Invalid> {
        let tree = parse_tree(path, text)?;
        let mut c = Check {
            file: path,
            problems: Vec::new(),
        };
        let exp = read_experiment(&mut c, path, &tree);
        match exp {
            Some(e) if c.problems.is_empty() => Ok(e),
            _ => {
                if c.problems.is_empty() {
                    c.at(&tree, "not a valid experiment");
                }
                Err(Invalid(c.problems))
            }
        }
    }

    /// Every activity in the order `chaos run` may run them (hypothesis twice: before and after).
    pub fn activities(&self) -> impl Iterator<Item = &Activity> {
        let probes = self.hypothesis.iter().flat_map(|h| h.probes.iter());
        probes
            .clone()
            .chain(self.method.iter())
            .chain(probes)
            .chain(self.rollbacks.iter())
    }

    /// The default bound on the whole run: every pause written as seconds, every activity's
    /// timeout (the default one where none is written), plus [`limits::CTK_MARGIN`]. Pauses given
    /// as `${name}` count at their run-time value (see [`Experiment::max_duration_with`]).
    pub fn max_duration_with(&self, mut pause_of: impl FnMut(&Pause) -> Duration) -> Duration {
        let mut total = limits::CTK_MARGIN;
        for a in self.activities() {
            for p in [&a.pause_before, &a.pause_after].into_iter().flatten() {
                total = total.saturating_add(pause_of(p));
            }
            total =
                total.saturating_add(a.provider.timeout().unwrap_or(limits::CTK_DEFAULT_TIMEOUT));
        }
        total.min(limits::MAX_RUN)
    }
}

fn read_experiment(c: &mut Check<'_>, path: &Path, tree: &Node) -> Option<Experiment> {
    let entries = c.map(tree, "an experiment")?;
    c.keys(entries, TOP_KEYS, "the experiment");
    let title = match tree.get("title") {
        Some(t) => c.string(t, "`title`").unwrap_or_default(),
        None => {
            c.at(tree, "an experiment needs a `title`");
            String::new()
        }
    };
    // chaostoolkit refuses an experiment without a description, or without `method` (which may be
    // empty): gameday refuses what `chaos run` refuses.
    let description = match tree.get("description") {
        Some(d) => c.string(d, "`description`").filter(|d| !d.is_empty()),
        None => None,
    };
    if description.is_none() {
        c.at(
            tree.get("description").unwrap_or(tree),
            "an experiment needs a non-empty `description` (chaos run refuses one without)",
        );
    }
    if tree.get("method").is_none() {
        c.at(tree, "an experiment needs `method` (a list of activities; `[]` to check the steady state only)");
    }
    let mut tags = Vec::new();
    if let Some(t) = tree.get("tags") {
        match &t.value {
            NodeValue::Seq(items) => {
                for i in items {
                    match c.string(i, "a tag") {
                        Some(s) if s.is_empty() => c.at(i, "a tag cannot be empty"),
                        Some(s) => tags.push(s),
                        None => {}
                    }
                }
            }
            _ => c.at(t, "`tags` must be a list of strings"),
        }
    }
    let configuration = tree
        .get("configuration")
        .map(|n| read_configuration(c, n))
        .unwrap_or_default();
    let secrets = tree
        .get("secrets")
        .map(|n| read_secrets(c, n))
        .unwrap_or_default();
    // Activities by name, for `ref:` (chaostoolkit looks a reference up among them all).
    let mut named: BTreeMap<String, &Node> = BTreeMap::new();
    let lists: Vec<&Node> = [
        tree.get("steady-state-hypothesis")
            .and_then(|h| h.get("probes")),
        tree.get("method"),
        tree.get("rollbacks"),
    ]
    .into_iter()
    .flatten()
    .collect();
    for list in &lists {
        if let NodeValue::Seq(items) = &list.value {
            for a in items {
                if a.get("ref").is_none()
                    && let Some(name) = a.get("name").and_then(Node::str)
                {
                    named.entry(name.to_string()).or_insert(a);
                }
            }
        }
    }
    let hypothesis = tree.get("steady-state-hypothesis").and_then(|h| {
        let entries = c.map(h, "`steady-state-hypothesis`")?;
        c.keys(entries, &["title", "probes"], "`steady-state-hypothesis`");
        let title = match h.get("title") {
            Some(t) => c.string(t, "the hypothesis `title`").unwrap_or_default(),
            None => {
                c.at(h, "`steady-state-hypothesis` needs a `title`");
                String::new()
            }
        };
        let probes = h
            .get("probes")
            .map(|p| read_activities(c, p, &named, Section::Hypothesis))
            .unwrap_or_default();
        Some(Hypothesis { title, probes })
    });
    let method = match tree.get("method") {
        Some(m) => read_activities(c, m, &named, Section::Method),
        None => Vec::new(),
    };
    let rollbacks = tree
        .get("rollbacks")
        .map(|r| read_activities(c, r, &named, Section::Rollbacks))
        .unwrap_or_default();
    let n = hypothesis.as_ref().map_or(0, |h| h.probes.len()) + method.len() + rollbacks.len();
    if n > limits::CTK_MAX_ACTIVITIES {
        c.at(
            tree,
            format!(
                "{n} activities: at most {} (docs/chaos-toolkit.md, limits)",
                limits::CTK_MAX_ACTIVITIES
            ),
        );
    }
    Some(Experiment {
        file: path.to_path_buf(),
        title,
        description,
        tags,
        configuration,
        secrets,
        hypothesis,
        method,
        rollbacks,
        raw: tree.to_json(),
    })
}

fn read_configuration(c: &mut Check<'_>, node: &Node) -> Vec<(String, ConfigValue)> {
    let Some(entries) = c.map(node, "`configuration`") else {
        return Vec::new();
    };
    let mut out = Vec::new();
    for (k, v) in entries {
        let name = k.key_text();
        let value = match &v.value {
            NodeValue::Map(inner) => {
                let Some(kind) = v.get("type") else {
                    c.at(v, format!("configuration `{name}`: a mapping needs `type: env` (or write the value itself)"));
                    continue;
                };
                if kind.str() != Some("env") {
                    c.at(kind, format!("configuration `{name}`: only `type: env` is supported (vault and other loaders are extensions)"));
                    continue;
                }
                c.keys(inner, &["type", "key", "default"], "an env configuration");
                let Some(key) = v.get("key").and_then(|k| c.string(k, "`key`")) else {
                    if v.get("key").is_none() {
                        c.at(v, format!("configuration `{name}`: `type: env` needs `key` (the environment variable)"));
                    }
                    continue;
                };
                ConfigValue::Env {
                    key,
                    default: v.get("default").map(Node::to_json),
                }
            }
            _ => ConfigValue::Static(v.to_json()),
        };
        out.push((name, value));
    }
    out
}

fn read_secrets(c: &mut Check<'_>, node: &Node) -> Vec<(String, String, String)> {
    let Some(scopes) = c.map(node, "`secrets`") else {
        return Vec::new();
    };
    let mut out = Vec::new();
    for (scope, values) in scopes {
        let scope = scope.key_text();
        let Some(values) = c.map(values, "a secrets scope") else {
            continue;
        };
        for (k, v) in values {
            let name = k.key_text();
            if v.get("type").and_then(Node::str) != Some("env") {
                c.at(
                    v,
                    format!("secret `{scope}.{name}`: only `{{type: env, key: VAR}}` is supported; a secret is never written in the file (put it in an environment variable)"),
                );
                continue;
            }
            if let NodeValue::Map(inner) = &v.value {
                c.keys(inner, &["type", "key"], "an env secret");
            }
            match v.get("key").and_then(|k| c.string(k, "`key`")) {
                Some(key) => out.push((scope.clone(), name, key)),
                None => c.at(
                    v,
                    format!("secret `{scope}.{name}` needs `key` (the environment variable)"),
                ),
            }
        }
    }
    out
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Section {
    Hypothesis,
    Method,
    Rollbacks,
}

fn read_activities(
    c: &mut Check<'_>,
    list: &Node,
    named: &BTreeMap<String, &Node>,
    section: Section,
) -> Vec<Activity> {
    let NodeValue::Seq(items) = &list.value else {
        c.at(
            list,
            format!("must be a list of activities, not {}", list.kind_name()),
        );
        return Vec::new();
    };
    let mut out = Vec::new();
    for item in items {
        let (node, at) = match item.get("ref") {
            Some(r) => {
                if let Some(entries) = c.map(item, "an activity") {
                    c.keys(entries, &["ref"], "a `ref:` activity");
                }
                let Some(name) = c.string(r, "`ref`") else {
                    continue;
                };
                match named.get(&name) {
                    Some(n) => (*n, item),
                    None => {
                        c.at(r, format!("`ref: {name}` names no activity of this experiment (refs name an activity's `name`)"));
                        continue;
                    }
                }
            }
            None => (item, item),
        };
        if let Some(a) = read_activity(c, node, at, section) {
            out.push(a);
        }
    }
    out
}

const ACTIVITY_KEYS: &[&str] = &[
    "type",
    "name",
    "provider",
    "tolerance",
    "pauses",
    "background",
];

fn read_activity(c: &mut Check<'_>, node: &Node, at: &Node, section: Section) -> Option<Activity> {
    let entries = c.map(node, "an activity")?;
    c.keys(entries, ACTIVITY_KEYS, "an activity");
    let kind = match node.get("type").map(|t| (t, t.str())) {
        Some((_, Some("action"))) => Kind::Action,
        Some((_, Some("probe"))) => Kind::Probe,
        Some((t, _)) => {
            c.at(t, "`type` must be `action` or `probe`");
            return None;
        }
        None => {
            c.at(node, "an activity needs `type: action` or `type: probe`");
            return None;
        }
    };
    let name = match node.get("name") {
        Some(n) => c.string(n, "`name`").filter(|s| !s.is_empty()),
        None => None,
    };
    let Some(name) = name else {
        c.at(node, "an activity needs a non-empty `name`");
        return None;
    };
    let provider = match node.get("provider") {
        Some(p) => read_provider(c, p)?,
        None => {
            c.at(node, format!("activity `{name}` needs a `provider`"));
            return None;
        }
    };
    let tolerance = match node.get("tolerance") {
        Some(t) => Some(read_tolerance(c, t)?),
        None if section == Section::Hypothesis => {
            c.at(
                node,
                format!("hypothesis probe `{name}` needs a `tolerance`"),
            );
            return None;
        }
        None => None,
    };
    if section == Section::Hypothesis && kind != Kind::Probe {
        c.at(
            node,
            format!("`{name}`: the steady-state hypothesis holds probes only"),
        );
    }
    let (mut pause_before, mut pause_after) = (None, None);
    if let Some(p) = node.get("pauses") {
        if let Some(entries) = c.map(p, "`pauses`") {
            c.keys(entries, &["before", "after"], "`pauses`");
        }
        pause_before = p.get("before").and_then(|n| read_pause(c, n));
        pause_after = p.get("after").and_then(|n| read_pause(c, n));
    }
    let background = match node.get("background").map(|b| &b.value) {
        None => false,
        Some(NodeValue::Bool(b)) => *b,
        Some(_) => {
            c.at(
                node.get("background")?,
                "`background` must be true or false",
            );
            false
        }
    };
    if background && section == Section::Hypothesis {
        c.at(node, "a hypothesis probe cannot run in the background");
    }
    Some(Activity {
        kind,
        name,
        provider,
        tolerance,
        pause_before,
        pause_after,
        background,
        line: at.line,
        column: at.column,
        raw: node.to_json(),
    })
}

fn read_pause(c: &mut Check<'_>, node: &Node) -> Option<Pause> {
    if let Some(s) = node.str() {
        if let Some(var) = s.strip_prefix("${").and_then(|v| v.strip_suffix('}')) {
            return Some(Pause::Var(var.to_string()));
        }
        c.at(
            node,
            "a pause is a number of seconds or `${name}` from the configuration",
        );
        return None;
    }
    let max = limits::CTK_MAX_PAUSE;
    let Some(s) = node.number() else {
        c.at(
            node,
            "a pause is a number of seconds or `${name}` from the configuration",
        );
        return None;
    };
    if !(0.0..=max.as_secs_f64()).contains(&s) {
        c.at(
            node,
            format!(
                "a pause is 0 to {} seconds (docs/chaos-toolkit.md, limits)",
                max.as_secs()
            ),
        );
        return None;
    }
    Some(Pause::Seconds(s))
}

fn read_provider(c: &mut Check<'_>, node: &Node) -> Option<Provider> {
    let entries = c.map(node, "`provider`")?;
    let Some(kind) = node.get("type") else {
        c.at(node, "a provider needs `type: process` or `type: http`");
        return None;
    };
    match kind.str() {
        Some("process") => {
            c.keys(
                entries,
                &["type", "path", "arguments", "timeout"],
                "a process provider",
            );
            let path = match node.get("path") {
                Some(p) => c.string(p, "`path`").filter(|s| !s.is_empty()),
                None => None,
            };
            let Some(path) = path else {
                c.at(
                    node,
                    "a process provider needs a non-empty `path` (the program)",
                );
                return None;
            };
            let arguments = match node.get("arguments").map(|a| (a, &a.value)) {
                None | Some((_, NodeValue::Null)) => Arguments::List(Vec::new()),
                Some((_, NodeValue::Str(s))) => Arguments::Line(s.clone()),
                Some((a, NodeValue::Seq(items))) => {
                    for i in items {
                        if matches!(i.value, NodeValue::Seq(_) | NodeValue::Map(_)) {
                            c.at(i, "each argument is a string or a number");
                        }
                    }
                    Arguments::List(a.to_json().as_array().cloned().unwrap_or_default())
                }
                Some((a, _)) => {
                    c.at(a, "`arguments` of a process is a list (one argument each) or a string (a shell line)");
                    return None;
                }
            };
            let timeout = node
                .get("timeout")
                .and_then(|t| c.seconds(t, "`timeout`", limits::MAX_COMMAND_TIMEOUT));
            Some(Provider::Process {
                path,
                arguments,
                timeout,
            })
        }
        Some("http") => {
            c.keys(
                entries,
                &[
                    "type",
                    "url",
                    "method",
                    "headers",
                    "arguments",
                    "timeout",
                    "verify_tls",
                    "expected_status",
                ],
                "an http provider",
            );
            let url = node.get("url").and_then(|u| c.string(u, "`url`"));
            let Some(url) = url.filter(|u| !u.is_empty()) else {
                c.at(node, "an http provider needs a `url`");
                return None;
            };
            if !url.contains("${")
                && let Some(why) = http_url_problem(&url)
            {
                c.at(node.get("url")?, why);
            }
            let method = match node.get("method") {
                Some(m) => c.string(m, "`method`")?.to_ascii_uppercase(),
                None => "GET".to_string(),
            };
            if reqwest::Method::from_bytes(method.as_bytes()).is_err() {
                c.at(
                    node.get("method")?,
                    format!("`{method}` is not an HTTP method"),
                );
            }
            let mut headers = Vec::new();
            if let Some(h) = node.get("headers")
                && let Some(entries) = c.map(h, "`headers`")
            {
                for (k, v) in entries {
                    if let Some(v) = c.string(v, "a header value") {
                        headers.push((k.key_text(), v));
                    }
                }
            }
            let timeout = match node.get("timeout") {
                None => None,
                // requests' (connect, read) pair: gameday bounds the whole call by their sum.
                Some(Node {
                    value: NodeValue::Seq(pair),
                    ..
                }) if pair.len() == 2 => {
                    let a = c.seconds(&pair[0], "the connect timeout", limits::MAX_COMMAND_TIMEOUT);
                    let b = c.seconds(&pair[1], "the read timeout", limits::MAX_COMMAND_TIMEOUT);
                    Some(a?.saturating_add(b?).min(limits::MAX_COMMAND_TIMEOUT))
                }
                Some(t) => c.seconds(t, "`timeout`", limits::MAX_COMMAND_TIMEOUT),
            };
            let verify_tls = match node.get("verify_tls").map(|v| &v.value) {
                None => true,
                Some(NodeValue::Bool(b)) => *b,
                Some(_) => {
                    c.at(
                        node.get("verify_tls")?,
                        "`verify_tls` must be true or false",
                    );
                    true
                }
            };
            if let Some(s) = node.get("expected_status")
                && !matches!(s.value, NodeValue::Int(_))
            {
                c.at(s, "`expected_status` must be an integer");
            }
            Some(Provider::Http {
                url,
                method,
                headers,
                arguments: node.get("arguments").map(Node::to_json),
                timeout,
                verify_tls,
            })
        }
        Some("python") => {
            c.at(
                kind,
                "python providers run Python modules: not supported by gameday; use a `process` provider calling a script (e.g. `path: python3`, `arguments: [script.py]`) or an `http` provider",
            );
            None
        }
        _ => {
            c.at(kind, "the provider `type` must be `process` or `http`");
            None
        }
    }
}

fn http_url_problem(url: &str) -> Option<String> {
    let parsed = match reqwest::Url::parse(url) {
        Ok(u) => u,
        Err(e) => return Some(format!("`{url}` is not a valid URL: {e}")),
    };
    if !matches!(parsed.scheme(), "http" | "https") {
        return Some("the URL's scheme must be http or https".into());
    }
    if !parsed.username().is_empty() || parsed.password().is_some() {
        return Some(
            "the URL carries credentials: put them in a header from a secret (`${name}`)".into(),
        );
    }
    None
}

fn read_tolerance(c: &mut Check<'_>, node: &Node) -> Option<Tolerance> {
    Some(match &node.value {
        NodeValue::Bool(b) => Tolerance::Bool(*b),
        NodeValue::Int(i) => Tolerance::Int(*i),
        NodeValue::Str(s) => Tolerance::Str(s.clone()),
        NodeValue::Seq(_) => {
            Tolerance::List(node.to_json().as_array().cloned().unwrap_or_default())
        }
        NodeValue::Float(_) | NodeValue::Null => {
            c.at(
                node,
                "a tolerance is true/false, an integer, a string, a list, or a mapping with `type: regex | jsonpath | range` (for a number in bounds use `type: range`)",
            );
            return None;
        }
        NodeValue::Map(entries) => {
            let kind = node.get("type").and_then(Node::str);
            let target = node.get("target").and_then(|t| c.string(t, "`target`"));
            match kind {
                Some("regex") => {
                    c.keys(entries, &["type", "pattern", "target"], "a regex tolerance");
                    let pattern = node.get("pattern").and_then(|p| c.string(p, "`pattern`"));
                    let Some(pattern) = pattern else {
                        c.at(node, "a regex tolerance needs `pattern`");
                        return None;
                    };
                    if !pattern.contains("${")
                        && let Err(e) = regex::Regex::new(&pattern)
                    {
                        c.at(
                            node.get("pattern")?,
                            format!("the pattern does not compile ({e}); gameday uses Rust regex syntax: no look-around, no backreferences"),
                        );
                    }
                    let Some(target) = target else {
                        c.at(node, "a regex tolerance needs `target` (stdout, stderr, or body): a process or http output is a mapping, which chaostoolkit cannot search");
                        return None;
                    };
                    Tolerance::Regex { pattern, target }
                }
                Some("jsonpath") => {
                    c.keys(
                        entries,
                        &["type", "path", "target", "count", "expect"],
                        "a jsonpath tolerance",
                    );
                    let path = node.get("path").and_then(|p| c.string(p, "`path`"));
                    let Some(path) = path else {
                        c.at(node, "a jsonpath tolerance needs `path`");
                        return None;
                    };
                    if let Err(e) = JsonPath::parse(&path) {
                        c.at(node.get("path")?, e);
                    }
                    let count = match node.get("count") {
                        None => None,
                        Some(n) => match n.value {
                            NodeValue::Int(i) if i >= 0 => Some(i as u64),
                            _ => {
                                c.at(n, "`count` must be a whole number");
                                None
                            }
                        },
                    };
                    Tolerance::JsonPath {
                        path,
                        target,
                        count,
                        expect: node.get("expect").map(Node::to_json),
                    }
                }
                Some("range") => {
                    c.keys(entries, &["type", "range", "target"], "a range tolerance");
                    let bounds = match node.get("range").map(|r| (r, &r.value)) {
                        Some((_, NodeValue::Seq(pair))) if pair.len() == 2 => {
                            match (pair[0].number(), pair[1].number()) {
                                (Some(lo), Some(hi)) => Some((lo, hi)),
                                _ => None,
                            }
                        }
                        _ => None,
                    };
                    let Some((lo, hi)) = bounds else {
                        c.at(
                            node.get("range").unwrap_or(node),
                            "`range` must be two numbers: [low, high]",
                        );
                        return None;
                    };
                    let Some(target) = target else {
                        c.at(node, "a range tolerance needs `target` (status, stdout, or body): a process or http output is a mapping, not a number");
                        return None;
                    };
                    Tolerance::Range { lo, hi, target }
                }
                Some("probe") => {
                    c.at(
                        node.get("type")?,
                        "a probe tolerance calls a Python function: not supported; use `type: regex`, `jsonpath` or `range`",
                    );
                    return None;
                }
                _ => {
                    c.at(
                        node,
                        "a tolerance mapping needs `type: regex`, `jsonpath` or `range`",
                    );
                    return None;
                }
            }
        }
    })
}

mod import;
mod jsonpath;
#[cfg(test)]
mod tests;

pub use import::{import, substitute_static};
pub use jsonpath::{JsonPath, PathStep};
