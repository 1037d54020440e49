//! Live faults: one row per fault and host, with its state (arming … VERIFIED / FAILED / UNKNOWN).
//! Hosts go by the name the scenario wrote (the address is in the debrief); the fault and host
//! columns are as wide as their longest entry, and a name that does not fit is shortened in the
//! middle with `…`, never cut.

use ratatui::Frame;
use ratatui::layout::{Constraint, Rect};
use ratatui::widgets::{Cell, Row, Table, TableState};

use super::theme::Theme;
use crate::event::RollbackStatus;
use crate::fmt::{middle, t_plus_secs};
use crate::fold::FaultState;
use crate::tui::app::App;

pub fn render(frame: &mut Frame, area: Rect, app: &App, theme: &Theme) {
    let run = &app.run;
    let live = run.live_faults();
    let title = format!(" Faults ({live} live) ");
    let since = if area.width < 44 { 0 } else { 7 };
    let widest = |len: &dyn Fn(&crate::fold::FaultRow) -> usize, header: usize| {
        run.faults.iter().map(len).max().unwrap_or(0).max(header)
    };
    let (fault_w, host_w) = fit(
        widest(&|f| f.fault.chars().count(), 5),
        widest(&|f| f.host_label().chars().count(), 4),
        // Inside the borders, less the state column, "since" and the three column gaps.
        usize::from(area.width).saturating_sub(2 + STATE + since + 3),
    );
    let rows: Vec<Row> = run
        .faults
        .iter()
        .map(|f| {
            let style = match f.state {
                FaultState::Done(RollbackStatus::Verified) => theme.ok(),
                FaultState::Done(_) | FaultState::InjectFailed => theme.bad(),
                FaultState::Injected | FaultState::RollingBack => theme.warn(),
                FaultState::Arming | FaultState::NotInjected => theme.text(),
            };
            let when = f
                .rolled_back
                .or(f.injected.map(|(t, _)| t))
                .map(|t| t_plus_secs(run.secs(t) as i64))
                .unwrap_or_default();
            let mut state = f.state.label().to_string();
            if let Some(m) = f
                .manual
                .as_ref()
                .filter(|_| !matches!(f.state, FaultState::Done(RollbackStatus::Verified)))
            {
                state = format!("{state}: run {m}");
            }
            Row::new(vec![
                Cell::from(middle(&f.fault, fault_w)),
                Cell::from(middle(f.host_label(), host_w)),
                Cell::from(state).style(style),
                Cell::from(when),
            ])
        })
        .collect();
    let table = Table::new(
        rows,
        [
            Constraint::Length(fault_w as u16),
            Constraint::Length(host_w as u16),
            Constraint::Min(STATE as u16),
            // Narrow panes give the "since" column to the names.
            Constraint::Length(since as u16),
        ],
    )
    .header(Row::new(["fault", "host", "state", "since"]).style(theme.dim()))
    .block(super::pane_block(app, crate::tui::app::Pane::Faults, theme).title(title));
    // The selected row (Enter: its detail) shows while the pane has the focus.
    let mut state = TableState::default();
    if app.focus == crate::tui::app::Pane::Faults {
        state.select(Some(app.fault_selected));
    }
    frame.render_stateful_widget(
        table.row_highlight_style(theme.selected()),
        area,
        &mut state,
    );
}

/// The state column's least width (`rolling back`).
const STATE: usize = 12;

/// Widths for two columns that want `a` and `b` in `room`: both whole when they fit, else the
/// narrower keeps its width up to half the room and the other gets the rest.
fn fit(a: usize, b: usize, room: usize) -> (usize, usize) {
    if a + b <= room {
        return (a, b);
    }
    let half = room / 2;
    if a <= half {
        (a, room - a)
    } else if b <= half {
        (room - b, b)
    } else {
        (room - half, half)
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn fit_keeps_what_fits_and_shares_the_rest() {
        assert_eq!(super::fit(5, 6, 20), (5, 6));
        assert_eq!(super::fit(4, 30, 20), (4, 16));
        assert_eq!(super::fit(30, 4, 20), (16, 4));
        assert_eq!(super::fit(30, 30, 21), (11, 10));
        assert_eq!(super::fit(30, 30, 0), (0, 0));
    }
}
