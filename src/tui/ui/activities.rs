//! A Chaos Toolkit run's activities, where a scenario's metric panels go (an experiment has no
//! metrics): one row per activity as it ended — phase, name, status with the tolerance's result,
//! what it returned, how long it took — and the method's activity running now. The newest rows
//! stay in view.

use ratatui::Frame;
use ratatui::layout::{Constraint, Rect};
use ratatui::widgets::{Cell, Row, Table};

use super::theme::Theme;
use crate::event::Phase;
use crate::fmt::{elapsed_ms, middle, t_plus_secs};
use crate::tui::app::App;

fn phase(p: Phase) -> &'static str {
    match p {
        Phase::SteadyStateBefore => "before",
        Phase::SteadyStateAfter => "after",
        Phase::Rollback => "rollback",
        _ => "method",
    }
}

pub fn render(frame: &mut Frame, area: Rect, app: &App, theme: &Theme) {
    let run = &app.run;
    let title = format!(" Activities ({}) ", run.ctk.len());
    let name_w = run
        .ctk
        .iter()
        .map(|r| r.name.chars().count() + if r.background { 5 } else { 0 })
        .chain(run.step.iter().map(|s| s.name.chars().count()))
        .max()
        .unwrap_or(0)
        .clamp(8, 28);
    let mut rows: Vec<Row> = run
        .ctk
        .iter()
        .map(|r| {
            let (state, style) = match (r.status.as_str(), r.tolerance_met) {
                ("succeeded", Some(true)) => ("tolerance met".to_string(), theme.ok()),
                ("succeeded", Some(false)) => ("tolerance NOT met".to_string(), theme.bad()),
                ("succeeded", None) => ("succeeded".to_string(), theme.ok()),
                (other, _) => (other.to_uppercase(), theme.bad()),
            };
            let returned = match (&r.error, r.output_status) {
                (Some(e), _) => e.clone(),
                (None, Some(s)) => format!("status {s}"),
                (None, None) => String::new(),
            };
            Row::new(vec![
                Cell::from(phase(r.phase)),
                Cell::from(middle(
                    &format!("{}{}", r.name, if r.background { " (bg)" } else { "" }),
                    name_w,
                )),
                Cell::from(state).style(style),
                Cell::from(elapsed_ms(r.ms)),
                Cell::from(t_plus_secs(run.secs(r.ts) as i64)),
                Cell::from(returned).style(theme.dim()),
            ])
        })
        .collect();
    if let Some(s) = run.step.as_ref().filter(|s| !s.ended && !run.ended) {
        let since = (app.now - s.started).num_milliseconds().max(0);
        rows.push(Row::new(vec![
            Cell::from("method"),
            Cell::from(middle(&s.name, name_w)),
            Cell::from("running…").style(theme.warn()),
            Cell::from(elapsed_ms(u64::try_from(since).unwrap_or(0))),
            Cell::from(t_plus_secs(run.secs(s.started) as i64)),
            Cell::from(""),
        ]));
    }
    // The newest rows in view: inside the borders, less the header.
    let room = usize::from(area.height).saturating_sub(3);
    let skip = rows.len().saturating_sub(room);
    let rows: Vec<Row> = rows.into_iter().skip(skip).collect();
    let table = Table::new(
        rows,
        [
            Constraint::Length(8),
            Constraint::Length(name_w as u16),
            Constraint::Length(17),
            Constraint::Length(7),
            Constraint::Length(7),
            Constraint::Min(0),
        ],
    )
    .header(
        Row::new(["phase", "activity", "status", "took", "ended", "returned"]).style(theme.dim()),
    )
    .block(super::pane_block(app, crate::tui::app::Pane::Metrics, theme).title(title));
    frame.render_widget(table, area);
}
