//! The preflight checklist: built-in items, the scenario's own items, and what the IC ticked.

use super::picker::faults_without_rollback;
use crate::scenario::Scenario;

#[derive(Debug, Clone, PartialEq)]
pub enum ItemKind {
    /// Decided from the scenario itself.
    Auto { ok: bool },
    /// Ticked by the IC.
    Manual { ticked: bool },
}

#[derive(Debug, Clone, PartialEq)]
pub struct Item {
    pub label: String,
    pub detail: String,
    pub kind: ItemKind,
}

impl Item {
    pub fn ok(&self) -> bool {
        matches!(
            self.kind,
            ItemKind::Auto { ok: true } | ItemKind::Manual { ticked: true }
        )
    }
}

#[derive(Debug, Clone, PartialEq)]
pub struct Checklist {
    pub items: Vec<Item>,
    pub selected: usize,
}

impl Checklist {
    pub fn for_scenario(s: &Scenario) -> Checklist {
        let no_rollback = faults_without_rollback(s);
        let manual = |label: &str, detail: String| Item {
            label: label.to_string(),
            detail,
            kind: ItemKind::Manual { ticked: false },
        };
        let mut items = vec![
            Item {
                label: "Hypothesis written".into(),
                detail: s.hypothesis.clone(),
                kind: ItemKind::Auto {
                    ok: !s.hypothesis.trim().is_empty(),
                },
            },
            Item {
                label: "Rollback defined for every fault".into(),
                detail: if no_rollback.is_empty() {
                    format!("{} fault(s), all with a rollback", s.faults().count())
                } else {
                    format!("no rollback: {}", no_rollback.join(", "))
                },
                kind: ItemKind::Auto {
                    ok: no_rollback.is_empty(),
                },
            },
            manual(
                "Monitoring live",
                format!(
                    "dashboards open for {}",
                    s.metrics.keys().cloned().collect::<Vec<_>>().join(", ")
                ),
            ),
            manual(
                "Team notified",
                "on-call and stakeholders know a game day is on".into(),
            ),
            manual(
                "Abort thresholds reviewed",
                s.abort
                    .iter()
                    .map(|r| r.label.clone())
                    .collect::<Vec<_>>()
                    .join("; "),
            ),
        ];
        items.extend(s.checklist.iter().map(|c| manual(c, String::new())));
        Checklist { items, selected: 0 }
    }

    pub fn toggle(&mut self) {
        if let Some(Item {
            kind: ItemKind::Manual { ticked },
            ..
        }) = self.items.get_mut(self.selected)
        {
            *ticked = !*ticked;
        }
    }

    /// Items not ok, by label: starting with any of these needs a typed reason.
    pub fn failing(&self) -> Vec<&str> {
        self.items
            .iter()
            .filter(|i| !i.ok())
            .map(|i| i.label.as_str())
            .collect()
    }
}
