//! The Run screen's panes: which one has the focus (`Tab`), the timeline's filter (`/`) and
//! cursor, the selected fault and metric panel, the zoomed panel (`z`) and the detail view
//! (`Enter`). Pure, like the rest of `App::update`.

use super::{App, Overlay};
use crate::fold::{RuleState, Source, TimelineEntry};
use crate::scenario::Rule;
use crate::tui::action::Action;

/// A pane of the Run screen that arrow keys act on.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Pane {
    #[default]
    Timeline,
    Faults,
    Metrics,
}

impl Pane {
    pub fn next(self) -> Pane {
        match self {
            Pane::Timeline => Pane::Faults,
            Pane::Faults => Pane::Metrics,
            Pane::Metrics => Pane::Timeline,
        }
    }
}

/// Which timeline lines are shown.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Filter {
    #[default]
    All,
    Notes,
    Faults,
    Rules,
    Metrics,
}

impl Filter {
    pub fn next(self) -> Filter {
        match self {
            Filter::All => Filter::Notes,
            Filter::Notes => Filter::Faults,
            Filter::Faults => Filter::Rules,
            Filter::Rules => Filter::Metrics,
            Filter::Metrics => Filter::All,
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            Filter::All => "all",
            Filter::Notes => "notes",
            Filter::Faults => "faults",
            Filter::Rules => "rules",
            Filter::Metrics => "metrics",
        }
    }

    pub fn admits(self, e: &TimelineEntry) -> bool {
        match self {
            Filter::All => true,
            Filter::Notes => e.kind == Source::Notes,
            Filter::Faults => e.kind == Source::Faults,
            Filter::Rules => e.kind == Source::Rules,
            Filter::Metrics => e.kind == Source::Metrics,
        }
    }
}

/// What the detail view shows.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Detail {
    /// The timeline line of this journal record.
    Event { seq: u64 },
    /// This row of the faults table.
    Fault { index: usize },
}

/// The abort rules on a metric, with their index in the scenario.
pub fn rules_for<'a>(app: &'a App, metric: &str) -> Vec<(usize, &'a Rule)> {
    app.scenario
        .as_ref()
        .map(|s| {
            s.abort
                .iter()
                .enumerate()
                .filter(|(_, r)| r.metric == metric)
                .collect()
        })
        .unwrap_or_default()
}

impl App {
    /// The timeline lines the filter admits, oldest first.
    pub fn timeline_shown(&self) -> Vec<&TimelineEntry> {
        self.run
            .timeline
            .iter()
            .filter(|e| self.timeline_filter.admits(e))
            .collect()
    }

    /// The line under the timeline's cursor (`timeline_scroll` lines up from the newest shown).
    pub fn timeline_cursor(&self) -> Option<&TimelineEntry> {
        let shown = self.timeline_shown();
        let i = shown.len().checked_sub(1 + self.timeline_scroll)?;
        shown.get(i).copied()
    }

    /// The metric panels in the order they are laid out: breaching (or tripped) first, so "+N
    /// more" never hides them, then by name.
    pub fn panel_order(&self) -> Vec<String> {
        let mut names: Vec<String> = if self.run.metrics.is_empty() {
            self.scenario
                .as_ref()
                .map(|s| s.metrics.keys().cloned().collect())
                .unwrap_or_default()
        } else {
            self.run.metrics.keys().cloned().collect()
        };
        names.sort_by_key(|name| {
            let alarming = rules_for(self, name).iter().any(|(i, _)| {
                matches!(
                    self.run.rules.get(i),
                    Some(RuleState::Breaching { .. } | RuleState::Tripped)
                )
            });
            (!alarming, name.clone())
        });
        names
    }

    /// The selected metric panel (the first laid out until one is chosen).
    pub fn selected_panel(&self) -> Option<String> {
        let order = self.panel_order();
        self.selected_metric
            .clone()
            .filter(|m| order.contains(m))
            .or_else(|| order.into_iter().next())
    }

    /// `Tab`: the next pane takes the arrow keys.
    pub(super) fn focus_next(&mut self) {
        self.focus = self.focus.next();
    }

    /// `/`: the next timeline filter; the cursor goes back to the newest line.
    pub(super) fn cycle_filter(&mut self) {
        self.timeline_filter = self.timeline_filter.next();
        self.timeline_scroll = 0;
    }

    /// `z`: the selected panel fills the metrics area; again, back. The metrics pane takes the
    /// focus, so ↑↓ move the zoom from panel to panel.
    pub(super) fn toggle_zoom(&mut self) {
        self.zoom = !self.zoom;
        if self.zoom {
            self.focus = Pane::Metrics;
            self.selected_metric = self.selected_panel();
        }
    }

    /// Arrow keys on the Run screen act on the focused pane.
    pub(super) fn navigate_run(
        &mut self,
        a: &Action,
        step: impl Fn(usize, &Action, usize) -> usize,
    ) {
        match self.focus {
            Pane::Timeline => {
                // The timeline scrolls from its newest line: "up" means older.
                let inverted = match a {
                    Action::Up => Action::Down,
                    Action::Down => Action::Up,
                    Action::PageUp => Action::PageDown,
                    Action::PageDown => Action::PageUp,
                    Action::Top => Action::Bottom,
                    _ => Action::Top,
                };
                let len = self.timeline_shown().len();
                self.timeline_scroll = step(self.timeline_scroll, &inverted, len);
            }
            Pane::Faults => {
                let len = self.run.faults.len();
                self.fault_selected = step(self.fault_selected, a, len);
            }
            Pane::Metrics => {
                let order = self.panel_order();
                let now = self
                    .selected_panel()
                    .and_then(|m| order.iter().position(|o| *o == m))
                    .unwrap_or(0);
                let to = step(now, a, order.len());
                self.selected_metric = order.get(to).cloned();
            }
        }
    }

    /// `Enter` on the Run screen: the detail of the selected line or fault, or the zoom of the
    /// selected panel; again, closes it.
    pub(super) fn select_in_run(&mut self) {
        if matches!(self.overlay, Overlay::Detail(_)) {
            self.overlay = Overlay::None;
            self.scroll = 0;
            return;
        }
        if self.overlay != Overlay::None {
            return;
        }
        match self.focus {
            Pane::Timeline => {
                if let Some(e) = self.timeline_cursor() {
                    self.overlay = Overlay::Detail(Detail::Event { seq: e.seq });
                    self.scroll = 0;
                }
            }
            Pane::Faults => {
                if self.fault_selected < self.run.faults.len() {
                    self.overlay = Overlay::Detail(Detail::Fault {
                        index: self.fault_selected,
                    });
                    self.scroll = 0;
                }
            }
            Pane::Metrics => self.toggle_zoom(),
        }
    }
}

impl App {
    /// The fault rows whose rollback is not verified: failed first, then unknown, then still
    /// rolling back (a fault not yet being rolled back is not listed); by fault and host within.
    pub fn unverified_list(&self) -> Vec<usize> {
        use crate::event::RollbackStatus;
        use crate::fold::FaultState;
        let rank = |s: FaultState| match s {
            FaultState::Done(RollbackStatus::Failed) => Some(0),
            FaultState::Done(RollbackStatus::Unknown) => Some(1),
            FaultState::RollingBack => Some(2),
            _ => None,
        };
        let mut rows: Vec<(u8, usize)> = self
            .run
            .faults
            .iter()
            .enumerate()
            .filter_map(|(i, f)| rank(f.state).map(|r| (r, i)))
            .collect();
        rows.sort_by(|a, b| {
            let (fa, fb) = (&self.run.faults[a.1], &self.run.faults[b.1]);
            (a.0, &fa.fault, fa.host_label()).cmp(&(b.0, &fb.fault, fb.host_label()))
        });
        rows.into_iter().map(|(_, i)| i).collect()
    }

    /// `v`: the list, or why there is none.
    pub(super) fn open_unverified(&mut self) {
        let n = self.unverified_list().len();
        if n == 0 {
            let any = self.run.faults.iter().any(|f| {
                matches!(
                    f.state,
                    crate::fold::FaultState::RollingBack | crate::fold::FaultState::Done(_)
                )
            });
            self.status = Some(
                if any {
                    "every rollback so far is verified"
                } else {
                    "no rollback has started: nothing to list"
                }
                .into(),
            );
            return;
        }
        self.unverified_selected = self.unverified_selected.min(n - 1);
        self.overlay = Overlay::Unverified;
    }

    /// Enter in the list: the selected row's detail (commands, output, the manual command); Esc
    /// goes back to the run.
    pub(super) fn unverified_detail(&mut self) {
        let list = self.unverified_list();
        if let Some(&index) = list.get(self.unverified_selected.min(list.len().saturating_sub(1))) {
            self.fault_selected = index;
            self.overlay = Overlay::Detail(Detail::Fault { index });
            self.scroll = 0;
        }
    }
}
