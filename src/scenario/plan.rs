//! A game-day plan: several scenarios over a day, in order, with breaks (`gameday day PLAN`).
//!
//! ```yaml
//! title: Checkout resilience game day
//! date: 2026-12-04
//! roles: { incident_commander: Dana, scribe: Lee }
//! continue_on_failure: false
//! agenda:
//!   - { at: "10:00", scenario: scenarios/db-primary-failure.yaml }
//!   - { after: previous, break: 15m }
//!   - { demo: demo-latency }
//! ```
//!
//! Validated like a scenario: every problem at PLAN:LINE:COLUMN, and each scenario the agenda
//! names is validated too (its own problems at its own FILE:LINE:COLUMN). Nothing runs on a plan
//! with a problem.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::{Deserialize, Serialize};
use serde_saphyr::{Location, Spanned};

use super::duration::HumanDuration;
use super::{Diagnostic, Invalid, Scenario, Validator, yaml_error};

/// Most agenda items in a plan.
pub const MAX_ITEMS: usize = 32;
/// The longest break.
pub const MAX_BREAK: Duration = Duration::from_secs(4 * 3600);

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct PlanSpec {
    title: Spanned<String>,
    #[serde(default)]
    date: Option<Spanned<String>>,
    #[serde(default)]
    roles: BTreeMap<String, Spanned<super::spec::PeopleSpec>>,
    #[serde(default)]
    continue_on_failure: bool,
    agenda: Spanned<Vec<Spanned<ItemSpec>>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct ItemSpec {
    #[serde(default)]
    at: Option<Spanned<String>>,
    #[serde(default)]
    after: Option<Spanned<String>>,
    #[serde(default)]
    scenario: Option<Spanned<String>>,
    #[serde(default)]
    demo: Option<Spanned<String>>,
    #[serde(default, rename = "break")]
    pause: Option<Spanned<HumanDuration>>,
}

/// A validated plan.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Plan {
    pub file: PathBuf,
    pub title: String,
    /// `YYYY-MM-DD` as written.
    pub date: Option<String>,
    pub roles: BTreeMap<String, Vec<String>>,
    /// Go on after a scenario that did not hold (default: the day stops there).
    pub continue_on_failure: bool,
    pub agenda: Vec<Item>,
}

/// One agenda item: a scenario (a file or a built-in demo) or a break, with its planned start.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Item {
    /// `HH:MM` on the plan's date, or none (right after the previous item).
    pub at: Option<String>,
    pub what: What,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum What {
    /// A scenario file (resolved against the plan's directory, then the working directory).
    Scenario { path: PathBuf, title: String },
    /// A built-in demo scenario on the embedded lab.
    Demo { name: String },
    Break {
        #[serde(with = "super::duration_ms")]
        duration: Duration,
    },
}

impl Item {
    /// How the agenda names this item.
    pub fn label(&self) -> String {
        match &self.what {
            What::Scenario { title, .. } => title.clone(),
            What::Demo { name } => format!("demo {name}"),
            What::Break { duration } => format!("break {}", crate::fmt::duration(*duration)),
        }
    }
}

fn diag(file: &Path, at: &Location, message: impl Into<String>) -> Diagnostic {
    Diagnostic {
        file: file.to_path_buf(),
        line: at.line().max(1),
        column: at.column().max(1),
        message: message.into(),
    }
}

/// `HH:MM`, 00:00 to 23:59.
fn clock(s: &str) -> Option<u32> {
    let (h, m) = s.split_once(':')?;
    if h.len() != 2 || m.len() != 2 {
        return None;
    }
    let (h, m): (u32, u32) = (h.parse().ok()?, m.parse().ok()?);
    (h < 24 && m < 60).then_some(h * 60 + m)
}

impl Plan {
    /// Reads and validates a plan; `demos` are the names `demo:` may give.
    pub fn load(path: &Path, demos: &[&str]) -> Result<Plan, Invalid> {
        let text = std::fs::read_to_string(path).map_err(|e| {
            Invalid(vec![Diagnostic {
                file: path.to_path_buf(),
                line: 1,
                column: 1,
                message: format!("cannot read plan: {e}"),
            }])
        })?;
        Plan::parse(path, &text, demos)
    }

    /// Parses and validates plan text; `demos` are the names `demo:` may give.
    pub fn parse(path: &Path, text: &str, demos: &[&str]) -> Result<Plan, Invalid> {
        let spec: PlanSpec = serde_saphyr::from_str(text).map_err(|e| yaml_error(path, &e))?;
        let mut diags = Vec::new();
        let mut err = |at: &Location, m: String| diags.push(diag(path, at, m));
        if spec.title.value.trim().is_empty() {
            err(&spec.title.referenced, "title is empty".into());
        }
        if let Some(d) = &spec.date
            && chrono::NaiveDate::parse_from_str(&d.value, "%Y-%m-%d").is_err()
        {
            err(
                &d.referenced,
                format!("date `{}` is not YYYY-MM-DD", d.value),
            );
        }
        if spec.agenda.value.is_empty() {
            err(&spec.agenda.referenced, "agenda lists nothing".into());
        }
        if let Some(extra) = spec.agenda.value.get(MAX_ITEMS) {
            err(
                &extra.referenced,
                format!(
                    "at most {MAX_ITEMS} agenda items, got {}",
                    spec.agenda.value.len()
                ),
            );
        }
        let base = path.parent().unwrap_or(Path::new("."));
        let mut agenda = Vec::new();
        let mut last_at: Option<(u32, &Spanned<String>)> = None;
        let mut nested = Vec::new();
        for (i, item) in spec.agenda.value.iter().enumerate().take(MAX_ITEMS) {
            let it = &item.value;
            let at = &item.referenced;
            let kinds = [it.scenario.is_some(), it.demo.is_some(), it.pause.is_some()];
            if kinds.iter().filter(|k| **k).count() != 1 {
                err(
                    at,
                    format!(
                        "agenda item {}: give exactly one of `scenario: FILE`, `demo: NAME` or `break: DURATION`",
                        i + 1
                    ),
                );
                continue;
            }
            if let Some(a) = &it.after
                && a.value != "previous"
            {
                err(
                    &a.referenced,
                    format!("`after` takes `previous` only, not `{}`", a.value),
                );
            }
            if let (Some(t), Some(a)) = (&it.at, &it.after) {
                err(
                    &a.referenced,
                    format!(
                        "agenda item {}: `at: {}` and `after` both say when: keep one",
                        i + 1,
                        t.value
                    ),
                );
            }
            if i == 0
                && let Some(a) = &it.after
            {
                err(
                    &a.referenced,
                    "the first agenda item has no previous one".into(),
                );
            }
            if let Some(t) = &it.at {
                match clock(&t.value) {
                    None => err(
                        &t.referenced,
                        format!(
                            "`at: {}` is not a time of day HH:MM (00:00 to 23:59)",
                            t.value
                        ),
                    ),
                    Some(m) => {
                        if let Some((prev, p)) = last_at
                            && m < prev
                        {
                            err(
                                &t.referenced,
                                format!(
                                    "`at: {}` is before the previous item's `at: {}`: the agenda runs in order",
                                    t.value, p.value
                                ),
                            );
                        }
                        last_at = Some((m, t));
                    }
                }
            }
            let what = if let Some(s) = &it.scenario {
                let written = PathBuf::from(&s.value);
                let path = [base.join(&written), written.clone()]
                    .into_iter()
                    .find(|p| p.is_file());
                let Some(path) = path else {
                    err(
                        &s.referenced,
                        format!(
                            "scenario `{}` not found (looked beside the plan, in {}, and in the working directory)",
                            s.value,
                            base.display()
                        ),
                    );
                    continue;
                };
                match Scenario::load(&path) {
                    Ok(sc) => What::Scenario {
                        path,
                        title: sc.title,
                    },
                    Err(Invalid(d)) => {
                        err(
                            &s.referenced,
                            format!(
                                "scenario `{}` is invalid ({} problem(s), listed below)",
                                s.value,
                                d.len()
                            ),
                        );
                        nested.extend(d);
                        continue;
                    }
                }
            } else if let Some(d) = &it.demo {
                if !demos.contains(&d.value.as_str()) {
                    err(
                        &d.referenced,
                        format!("no demo `{}`: the demos are {}", d.value, demos.join(", ")),
                    );
                    continue;
                }
                What::Demo {
                    name: d.value.clone(),
                }
            } else if let Some(b) = &it.pause {
                let d = b.value.0;
                if d.is_zero() || d > MAX_BREAK {
                    err(
                        &b.referenced,
                        format!(
                            "a break is more than 0s and at most {}",
                            crate::fmt::duration(MAX_BREAK)
                        ),
                    );
                }
                What::Break { duration: d }
            } else {
                continue;
            };
            agenda.push(Item {
                at: it.at.as_ref().map(|t| t.value.clone()),
                what,
            });
        }
        // Roles as a scenario reads them (the same bounds and messages).
        let mut v = Validator {
            file: path.to_path_buf(),
            diags: Vec::new(),
            at_once: Vec::new(),
        };
        let roles = v.roles(&spec.roles);
        diags.extend(v.diags);
        diags.extend(nested);
        if !diags.is_empty() {
            return Err(Invalid(diags));
        }
        Ok(Plan {
            file: path.to_path_buf(),
            title: spec.title.value,
            date: spec.date.map(|d| d.value),
            roles,
            continue_on_failure: spec.continue_on_failure,
            agenda,
        })
    }

    /// The scenarios and demos, in order.
    pub fn runs(&self) -> impl Iterator<Item = (usize, &Item)> {
        self.agenda
            .iter()
            .enumerate()
            .filter(|(_, i)| !matches!(i.what, What::Break { .. }))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const SCENARIO: &str = "title: Local\nhypothesis: h\nmax_duration: 1m\ntargets:\n  here: { local: true }\nsteps:\n  - { name: s, duration: 1s }\n";
    const DEMOS: &[&str] = &["demo-latency", "demo-error-storm"];

    fn dir() -> tempfile::TempDir {
        let d = tempfile::tempdir().expect("tmp");
        std::fs::create_dir_all(d.path().join("scenarios")).expect("dir");
        std::fs::write(d.path().join("scenarios/a.yaml"), SCENARIO).expect("write");
        std::fs::write(
            d.path().join("scenarios/bad.yaml"),
            SCENARIO.replace("max_duration: 1m", "max_duration: soon"),
        )
        .expect("write");
        d
    }

    fn parse(d: &Path, text: &str) -> Result<Plan, Invalid> {
        Plan::parse(&d.join("plan.yaml"), text, DEMOS)
    }

    /// (line, column) of the `skip`-th byte after `needle`.
    fn pos(text: &str, needle: &str) -> (u64, u64) {
        let i = text
            .find(needle)
            .unwrap_or_else(|| panic!("{needle} not in text"));
        let line = text[..i].matches('\n').count() + 1;
        let col = i - text[..i].rfind('\n').map_or(0, |n| n + 1) + 1;
        (line as u64, col as u64)
    }

    fn has(r: &Result<Plan, Invalid>, file_ends: &str, at: (u64, u64), needle: &str) {
        let Err(Invalid(d)) = r else {
            panic!("should be invalid")
        };
        assert!(
            d.iter().any(|x| x.file.ends_with(file_ends)
                && (x.line, x.column) == at
                && x.message.contains(needle)),
            "no `{needle}` at {file_ends}:{}:{} in {d:#?}",
            at.0,
            at.1
        );
    }

    #[test]
    fn a_plan_is_read_with_its_agenda() {
        let d = dir();
        let p = parse(
            d.path(),
            "title: Day\ndate: 2026-12-04\nroles: { incident_commander: Dana, observers: [Ana, Raj] }\nagenda:\n  - { at: \"10:00\", scenario: scenarios/a.yaml }\n  - { after: previous, break: 15m }\n  - { at: \"11:00\", demo: demo-latency }\n",
        )
        .expect("valid");
        assert_eq!(p.agenda.len(), 3);
        assert_eq!(p.agenda[0].label(), "Local");
        assert_eq!(p.agenda[1].label(), "break 15m");
        assert_eq!(p.agenda[2].label(), "demo demo-latency");
        assert_eq!(p.roles["observers"], vec!["Ana".to_string(), "Raj".into()]);
        assert_eq!(p.runs().count(), 2);
        assert!(!p.continue_on_failure);
    }

    #[test]
    fn every_problem_is_pinned_to_its_place() {
        let d = dir();
        let text = "title: Day\ndate: 2026-13-04\nagenda:\n  - { after: previous, scenario: scenarios/a.yaml }\n  - { at: \"25:00\", demo: demo-latency }\n  - { at: \"10:00\", demo: demo-nope }\n  - { scenario: scenarios/a.yaml, demo: demo-latency }\n  - { scenario: scenarios/missing.yaml }\n  - { scenario: scenarios/bad.yaml }\n  - { break: 9h }\n  - { at: \"11:00\", after: previous, demo: demo-latency }\n";
        let r = parse(d.path(), text);
        has(&r, "plan.yaml", pos(text, "2026-13-04"), "YYYY-MM-DD");
        has(
            &r,
            "plan.yaml",
            pos(text, "previous, scenario"),
            "no previous one",
        );
        has(&r, "plan.yaml", pos(text, "\"25:00\""), "HH:MM");
        has(
            &r,
            "plan.yaml",
            pos(text, "demo-nope"),
            "no demo `demo-nope`",
        );
        has(
            &r,
            "plan.yaml",
            pos(text, "{ scenario: scenarios/a.yaml, demo"),
            "exactly one",
        );
        has(
            &r,
            "plan.yaml",
            pos(text, "scenarios/missing.yaml"),
            "not found",
        );
        has(
            &r,
            "plan.yaml",
            pos(text, "scenarios/bad.yaml"),
            "is invalid",
        );
        // The scenario's own problem, at its own place.
        has(&r, "scenarios/bad.yaml", (3, 15), "soon");
        has(&r, "plan.yaml", pos(text, "9h"), "at most 4h");
        has(&r, "plan.yaml", pos(text, "previous, demo"), "keep one");
        // Times go forward.
        let text = "title: Day\nagenda:\n  - { at: \"11:00\", demo: demo-latency }\n  - { at: \"10:30\", demo: demo-latency }\n";
        let r = parse(d.path(), text);
        has(
            &r,
            "plan.yaml",
            pos(text, "\"10:30\""),
            "before the previous",
        );
        // Roles are read as a scenario reads them.
        let text = "title: Day\nroles: { scribe: \"\" }\nagenda:\n  - { demo: demo-latency }\n";
        let r = parse(d.path(), text);
        has(&r, "plan.yaml", pos(text, "\"\""), "must not be empty");
        // Unknown keys: the parser says where.
        let text = "title: Day\nagenda:\n  - { demo: demo-latency, when: now }\n";
        let r = parse(d.path(), text);
        let Err(Invalid(diags)) = r else {
            panic!("unknown key accepted")
        };
        assert_eq!(diags[0].line, 3, "{diags:?}");
    }
}
