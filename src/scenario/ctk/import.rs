//! `gameday import`: the gameday scenario YAML closest to an experiment.

use std::time::Duration;

use serde_json::Value;

use super::{Activity, Arguments, ConfigValue, Experiment, Kind, Pause, Provider, Tolerance};
use crate::scenario::limits;

/// `gameday import`: the gameday scenario YAML closest to `exp`, with a `#` comment wherever the
/// mapping is not one to one. What maps: the title, description and hypothesis; a `local: true`
/// target; each hypothesis probe with an integer tolerance (exit code or HTTP status) or a `range`
/// on `status` / `stdout` becomes a metric and a steady-state rule; each method action becomes a
/// step with a `command` fault (an http action as a `curl` line), the CTK rollbacks becoming the
/// last action's `rollback:`.
pub fn import(exp: &Experiment) -> String {
    let statics: serde_json::Map<String, Value> = exp
        .configuration
        .iter()
        .filter_map(|(k, v)| match v {
            ConfigValue::Static(v) => Some((k.clone(), v.clone())),
            ConfigValue::Env { .. } => None,
        })
        .collect();
    let q = |s: &str| Value::String(s.to_string()).to_string();
    let mut out = String::new();
    let mut notes: Vec<String> = Vec::new();
    out.push_str(&format!(
        "# Imported from the Chaos Toolkit experiment {} by `gameday import`.\n",
        exp.file.display()
    ));
    out.push_str("# Read every `#` comment: each marks something that does not map one to one.\n");
    for (name, v) in &exp.configuration {
        if let ConfigValue::Env { key, .. } = v {
            notes.push(format!(
                "configuration `{name}` comes from ${key}: gameday scenarios have no configuration; `${{{name}}}` is left as written below, replace it"
            ));
        }
    }
    if !exp.secrets.is_empty() {
        notes.push("secrets are not imported: a command that needs one reads its environment variable itself".into());
    }
    out.push_str(&format!("title: {}\n", q(&exp.title)));
    if let Some(d) = &exp.description {
        out.push_str(&format!("description: {}\n", q(d)));
    }
    let hypothesis = exp.hypothesis.as_ref().map_or_else(
        || "(the experiment has no steady-state hypothesis)".to_string(),
        |h| h.title.clone(),
    );
    out.push_str(&format!("hypothesis: {}\n", q(&hypothesis)));
    let line_of = |p: &Provider| -> String {
        let sub = |v: &Value| substitute_static(v, &statics);
        match p {
            Provider::Process {
                path, arguments, ..
            } => {
                let mut line = shell_word(path);
                match arguments {
                    Arguments::List(args) => {
                        for a in args {
                            let a = sub(a);
                            let text = match &a {
                                Value::String(s) => s.clone(),
                                Value::Null => continue,
                                other => other.to_string(),
                            };
                            line.push(' ');
                            line.push_str(&shell_word(&text));
                        }
                    }
                    Arguments::Line(text) => {
                        if let Value::String(t) = sub(&Value::String(text.clone())) {
                            line.push(' ');
                            line.push_str(&t);
                        }
                    }
                }
                line
            }
            Provider::Http { url, method, .. } => {
                let url = match sub(&Value::String(url.clone())) {
                    Value::String(u) => u,
                    other => other.to_string(),
                };
                format!("curl -sS -o /dev/null -X {method} {}", shell_word(&url))
            }
        }
    };
    let secs = |d: Duration| format!("{}s", d.as_secs().max(1));
    let mut metrics = String::new();
    let mut rules = String::new();
    for (i, p) in exp
        .hypothesis
        .iter()
        .flat_map(|h| h.probes.iter())
        .enumerate()
    {
        let id = format!("probe_{}", i + 1);
        let timeout = p
            .provider
            .timeout()
            .unwrap_or(limits::CTK_DEFAULT_TIMEOUT)
            .min(limits::MAX_METRIC_TIMEOUT);
        let mapped = match (&p.provider, &p.tolerance) {
            (Provider::Process { .. }, Some(Tolerance::Int(code))) => Some((
                format!(
                    "{{ command: {}, target: here, timeout: {} }}",
                    q(&format!(
                        "{} >/dev/null 2>&1; echo $?",
                        line_of(&p.provider)
                    )),
                    secs(timeout)
                ),
                format!("between: [{code}, {code}]"),
            )),
            (Provider::Process { .. }, Some(Tolerance::Range { lo, hi, target }))
                if target == "stdout" || target == "status" =>
            {
                Some((
                    if target == "status" {
                        format!(
                            "{{ command: {}, target: here, timeout: {} }}",
                            q(&format!(
                                "{} >/dev/null 2>&1; echo $?",
                                line_of(&p.provider)
                            )),
                            secs(timeout)
                        )
                    } else {
                        format!(
                            "{{ command: {}, target: here, timeout: {} }}",
                            q(&line_of(&p.provider)),
                            secs(timeout)
                        )
                    },
                    format!("between: [{lo}, {hi}]"),
                ))
            }
            (Provider::Http { url, method, .. }, Some(Tolerance::Int(code)))
                if method == "GET" && !url.contains('$') =>
            {
                Some((
                    format!(
                        "{{ http: {}, expect_status: {code}, timeout: {} }}",
                        q(url),
                        secs(timeout)
                    ),
                    format!("below: {}", timeout.as_millis()),
                ))
            }
            _ => None,
        };
        match mapped {
            Some((source, cond)) => {
                metrics.push_str(&format!("  {id}: {source}  # CTK probe `{}`\n", p.name));
                rules.push_str(&format!("  - {{ metric: {id}, {cond}, name: {} }}\n", q(&p.name)));
            }
            None => notes.push(format!(
                "hypothesis probe `{}` ({} provider, its tolerance) has no gameday metric that judges it the same way: add a metric and a steady_state rule, or a human check",
                p.name,
                p.provider.type_name()
            )),
        }
    }
    let process_anywhere =
        !metrics.is_empty() || !exp.method.is_empty() || !exp.rollbacks.is_empty();
    let rollback: Vec<String> = exp.rollbacks.iter().map(|r| line_of(&r.provider)).collect();
    if exp.rollbacks.iter().any(|r| r.background) {
        notes.push("background rollbacks run one after another in the imported rollback".into());
    }
    let actions: Vec<&Activity> = exp
        .method
        .iter()
        .filter(|a| a.kind == Kind::Action)
        .collect();
    let mut steps = String::new();
    let mut total = Duration::ZERO;
    for (i, a) in exp.method.iter().enumerate() {
        let pause = |p: &Option<Pause>| match p {
            Some(Pause::Seconds(s)) => Duration::from_secs_f64(*s),
            _ => Duration::ZERO,
        };
        let timeout = a.provider.timeout().unwrap_or(limits::CTK_DEFAULT_TIMEOUT);
        let step = (pause(&a.pause_before)
            .saturating_add(pause(&a.pause_after))
            .saturating_add(Duration::from_secs(1)))
        .max(Duration::from_secs(1));
        total = total.saturating_add(step).saturating_add(timeout);
        steps.push_str(&format!(
            "  - name: {}\n    duration: {}\n",
            q(&a.name),
            secs(step)
        ));
        if matches!(a.pause_before, Some(Pause::Var(_)))
            || matches!(a.pause_after, Some(Pause::Var(_)))
        {
            steps.push_str(
                "    # a pause from the configuration is not counted in this duration: set it\n",
            );
        }
        if a.kind == Kind::Probe {
            steps.push_str(&format!(
                "    # CTK method probe `{}` ({}) is not imported: gameday steps observe through metrics and success criteria\n",
                a.name,
                a.provider.type_name()
            ));
            continue;
        }
        let last = actions.last().is_some_and(|l| std::ptr::eq(*l, a));
        if a.background {
            steps.push_str(
                "    # CTK ran this action in the background; here the step waits for its inject\n",
            );
        }
        if matches!(a.provider, Provider::Http { .. }) {
            steps
                .push_str("    # an http action, as a curl command (install curl where it runs)\n");
        }
        steps.push_str(&format!(
            "    faults:\n      - kind: command\n        id: {}\n        target: here\n        inject: {}\n        timeout: {}\n",
            q(&format!("a{}", i + 1)),
            q(&line_of(&a.provider)),
            secs(timeout.min(limits::MAX_COMMAND_TIMEOUT))
        ));
        if last && !rollback.is_empty() {
            steps.push_str("        # the CTK rollbacks, in order: gameday runs them when this step ends (CTK at the very end)\n");
            steps.push_str(&format!("        rollback: {}\n", q(&rollback.join("\n"))));
        } else {
            steps.push_str("        irreversible: true  # CTK actions have no undo of their own\n");
        }
    }
    if actions.is_empty() && !rollback.is_empty() {
        notes.push(
            "the experiment has rollbacks but no action to attach them to: they are not imported"
                .into(),
        );
    }
    if steps.is_empty() {
        steps.push_str("  - { name: Method, duration: 1s }  # the experiment's method is empty\n");
        total = Duration::from_secs(1);
    }
    let max = total
        .saturating_add(limits::CTK_MARGIN)
        .min(limits::MAX_RUN);
    out.push_str(&format!("max_duration: {}\n", secs(max)));
    if process_anywhere {
        out.push_str(
            "targets:\n  here: { local: true }  # CTK process providers run on this machine\n",
        );
    }
    if !metrics.is_empty() {
        out.push_str("metrics:\n");
        out.push_str(&metrics);
        out.push_str("steady_state:\n");
        out.push_str(&rules);
    }
    out.push_str("steps:\n");
    out.push_str(&steps);
    if !notes.is_empty() {
        out.push_str("# Not mapped one to one:\n");
        for n in notes {
            out.push_str(&format!("#   - {n}\n"));
        }
    }
    out
}

/// A word for `sh -c`, quoted when it needs to be (a NUL cannot be written: dropped).
fn shell_word(s: &str) -> String {
    let clean: String = s.chars().filter(|c| *c != '\0').collect();
    shlex::try_quote(&clean).map_or(clean.clone(), |q| q.into_owned())
}

/// `${name}` replaced by static configuration values only (for `import`); the rest as written.
pub fn substitute_static(v: &Value, statics: &serde_json::Map<String, Value>) -> Value {
    match v {
        Value::String(s) => {
            if let Some(name) = s.strip_prefix("${").and_then(|r| r.strip_suffix('}'))
                && let Some(val) = statics.get(name)
            {
                return val.clone();
            }
            let mut out = s.clone();
            for (k, val) in statics {
                let text = match val {
                    Value::String(t) => t.clone(),
                    other => other.to_string(),
                };
                out = out.replace(&format!("${{{k}}}"), &text);
            }
            Value::String(out)
        }
        other => other.clone(),
    }
}
