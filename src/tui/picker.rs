//! The scenario picker's state: every scenario file found, loaded and validated up front.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use crate::scenario::{FaultSpec, Scenario};

#[derive(Debug, Clone)]
pub struct Entry {
    pub path: PathBuf,
    /// From `templates/`: a starting point to copy and adapt, not a game day as it stands.
    pub template: bool,
    /// The validated scenario, or every diagnostic as `line:column: message`.
    pub scenario: Result<Arc<Scenario>, Vec<String>>,
}

#[derive(Debug, Clone, Default)]
pub struct Picker {
    pub entries: Vec<Entry>,
    pub selected: usize,
}

impl Picker {
    /// The given paths, then the scenarios under `dir` and then its templates (`dir/templates`,
    /// marked), `*.yaml` and `*.yml`, sorted; each scenario once. A file is the same scenario as
    /// one listed already when it is the same file, or has the same name and the same text (the
    /// demo runs a copy of `scenarios/demo-latency.yaml` from its lab directory).
    pub fn scan(dir: &Path, extra: &[PathBuf]) -> Picker {
        let mut paths: Vec<(PathBuf, bool)> = extra.iter().map(|p| (p.clone(), false)).collect();
        for (sub, template) in [(dir.to_path_buf(), false), (dir.join("templates"), true)] {
            let Ok(rd) = std::fs::read_dir(&sub) else {
                continue;
            };
            let mut found: Vec<PathBuf> = rd
                .filter_map(|e| e.ok().map(|e| e.path()))
                .filter(|p| p.is_file())
                .filter(|p| p.extension().is_some_and(|x| x == "yaml" || x == "yml"))
                .collect();
            found.sort();
            for p in found {
                if !paths.iter().any(|(q, _)| same_scenario(q, &p)) {
                    paths.push((p, template));
                }
            }
        }
        let entries = paths
            .into_iter()
            .map(|(path, template)| Entry {
                template,
                scenario: Scenario::load(&path).map(Arc::new).map_err(|inv| {
                    inv.0
                        .iter()
                        .map(|d| format!("{}:{}: {}", d.line, d.column, d.message))
                        .collect()
                }),
                path,
            })
            .collect();
        Picker {
            entries,
            selected: 0,
        }
    }

    pub fn from_entries(entries: Vec<Entry>) -> Picker {
        Picker {
            entries,
            selected: 0,
        }
    }

    pub fn current(&self) -> Option<&Entry> {
        self.entries.get(self.selected)
    }

    pub fn select_path(&mut self, path: &Path) {
        if let Some(i) = self.entries.iter().position(|e| e.path == path) {
            self.selected = i;
        }
    }
}

/// The same file, or a file of the same name with the same text.
fn same_scenario(a: &Path, b: &Path) -> bool {
    if a == b || std::fs::canonicalize(a).ok() == std::fs::canonicalize(b).ok() {
        return true;
    }
    a.file_name() == b.file_name()
        && matches!(
            (std::fs::read(a), std::fs::read(b)),
            (Ok(x), Ok(y)) if x == y
        )
}

/// Faults with no rollback that are not marked irreversible: the preflight check fails on these.
pub fn faults_without_rollback(s: &Scenario) -> Vec<String> {
    s.faults()
        .filter(|(_, f)| {
            !f.irreversible
                && match &f.spec {
                    FaultSpec::Command { rollback, .. } => {
                        rollback.as_deref().is_none_or(|r| r.trim().is_empty())
                    }
                    FaultSpec::Kill { restart, .. } => restart.is_none(),
                    // The other built-in kinds always generate their own undo.
                    _ => false,
                }
        })
        .map(|(_, f)| f.id.clone())
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The demo runs a copy of `scenarios/demo-latency.yaml` from its lab directory: the picker
    /// lists it once (the copy, which is the one being run), then the other scenarios, then every
    /// template, marked.
    #[test]
    fn each_scenario_once_then_the_templates_marked() {
        let dir = tempfile::tempdir().expect("tempdir");
        let copy = dir.path().join("demo-latency.yaml");
        std::fs::copy("scenarios/demo-latency.yaml", &copy).expect("copy");
        let picker = Picker::scan(Path::new("scenarios"), std::slice::from_ref(&copy));
        let names: Vec<(String, bool)> = picker
            .entries
            .iter()
            .map(|e| {
                let name = e.path.file_name().unwrap().to_string_lossy().into_owned();
                (name, e.template)
            })
            .collect();
        assert_eq!(picker.entries[0].path, copy);
        let latency = names
            .iter()
            .filter(|(n, _)| n == "demo-latency.yaml")
            .count();
        assert_eq!(latency, 1, "{names:?}");
        let templates = std::fs::read_dir("scenarios/templates").unwrap().count();
        assert_eq!(
            names.iter().filter(|(_, t)| *t).count(),
            templates,
            "{names:?}"
        );
        let first_template = names.iter().position(|(_, t)| *t).unwrap();
        assert!(names[first_template..].iter().all(|(_, t)| *t), "{names:?}");
        assert!(names.iter().any(|(n, t)| n == "disk-full.yaml" && *t));
        // Run from the repository: the named file and the one found are the same file.
        let picker = Picker::scan(
            Path::new("scenarios"),
            &[PathBuf::from("scenarios/demo-latency.yaml")],
        );
        assert_eq!(picker.entries.len(), names.len());
    }
}
