//! Live faults: one row per fault and host, with its state (arming … VERIFIED / FAILED / UNKNOWN).

use ratatui::Frame;
use ratatui::layout::{Constraint, Rect};
use ratatui::widgets::{Cell, Row, Table, TableState};

use super::theme::Theme;
use crate::event::RollbackStatus;
use crate::fmt::t_plus_secs;
use crate::fold::FaultState;
use crate::tui::app::App;

pub fn render(frame: &mut Frame, area: Rect, app: &App, theme: &Theme) {
    let run = &app.run;
    let live = run.live_faults();
    let title = format!(" Faults ({live} live) ");
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
                Cell::from(f.fault.clone()),
                Cell::from(f.host.clone()),
                Cell::from(state).style(style),
                Cell::from(when),
            ])
        })
        .collect();
    let table = Table::new(
        rows,
        [
            Constraint::Fill(1),
            Constraint::Fill(1),
            Constraint::Length(12),
            // Narrow panes give the "since" column to the names.
            Constraint::Length(if area.width < 44 { 0 } else { 7 }),
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
