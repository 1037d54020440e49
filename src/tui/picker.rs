//! The scenario picker's state: every scenario file found, loaded and validated up front.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use crate::scenario::{FaultSpec, Scenario};

#[derive(Debug, Clone)]
pub struct Entry {
    pub path: PathBuf,
    /// The validated scenario, or every diagnostic as `line:column: message`.
    pub scenario: Result<Arc<Scenario>, Vec<String>>,
}

#[derive(Debug, Clone, Default)]
pub struct Picker {
    pub entries: Vec<Entry>,
    pub selected: usize,
}

impl Picker {
    /// Scenarios under `dir` (`*.yaml`, `*.yml`, sorted) and the given paths, each once.
    pub fn scan(dir: &Path, extra: &[PathBuf]) -> Picker {
        let mut paths: Vec<PathBuf> = extra.to_vec();
        if let Ok(rd) = std::fs::read_dir(dir) {
            let mut found: Vec<PathBuf> = rd
                .filter_map(|e| e.ok().map(|e| e.path()))
                .filter(|p| p.extension().is_some_and(|x| x == "yaml" || x == "yml"))
                .collect();
            found.sort();
            for p in found {
                let same = |q: &PathBuf| {
                    q == &p || std::fs::canonicalize(q).ok() == std::fs::canonicalize(&p).ok()
                };
                if !paths.iter().any(same) {
                    paths.push(p);
                }
            }
        }
        let entries = paths
            .into_iter()
            .map(|path| Entry {
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
