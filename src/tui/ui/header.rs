//! One line: scenario, phase, step, T+, time left in the step and in max_duration.

use ratatui::Frame;
use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::text::{Line, Span};
use ratatui::widgets::Paragraph;

use super::theme::Theme;
use super::{secs_since, secs_until};
use crate::fmt::{clock, t_plus_secs};
use crate::fold::describe::phase_name;
use crate::tui::app::App;

pub fn render(frame: &mut Frame, area: Rect, app: &App, theme: &Theme) {
    let run = &app.run;
    let title = app
        .scenario
        .as_ref()
        .map(|s| s.title.as_str())
        .unwrap_or("no scenario");
    let phase = run.phase.map(phase_name).unwrap_or("not started");
    let sep = Span::styled(" │ ", theme.dim());
    let mut spans = vec![
        Span::styled(format!(" {title}"), theme.title()),
        sep.clone(),
        Span::raw(phase),
    ];
    if let Some(st) = &run.step {
        let n = app.scenario.as_ref().map(|s| s.steps.len()).unwrap_or(0);
        spans.push(sep.clone());
        spans.push(Span::raw(format!(
            "step {}/{} {}",
            st.index + 1,
            n,
            st.name
        )));
    }
    let mut right: Vec<Span> = vec![Span::raw(" ")];
    if app.replay.is_some() {
        right.push(Span::styled("REPLAY ", theme.warn()));
    }
    if let Some(start) = run.start {
        // A finished run's clock stops at its last event.
        let now = if run.ended {
            run.last_ts.unwrap_or(app.now)
        } else {
            app.now
        };
        right.push(Span::styled(
            t_plus_secs(secs_since(start, now)),
            theme.title(),
        ));
        if let Some(st) = run
            .step
            .as_ref()
            .filter(|s| !s.ended && !run.ended && run.halt.is_none())
        {
            let end = crate::fold::plus_ms(st.started, st.duration_ms);
            right.push(sep.clone());
            right.push(Span::raw(format!(
                "step {} left",
                clock(secs_until(now, end))
            )));
        }
        if let Some(s) = app
            .scenario
            .as_ref()
            .filter(|_| !run.ended && run.halt.is_none())
        {
            let max = chrono::Duration::from_std(s.max_duration).unwrap_or_default();
            right.push(sep.clone());
            right.push(Span::raw(format!(
                "max {} left",
                clock(secs_until(now, start + max))
            )));
        }
        right.push(Span::raw(" "));
    }
    let right = Line::from(right);
    let rw = (right.width() as u16).min(area.width);
    let [left_area, right_area] =
        Layout::horizontal([Constraint::Min(0), Constraint::Length(rw)]).areas(area);
    frame.render_widget(Paragraph::new(right), right_area);
    let area = left_area;
    frame.render_widget(Paragraph::new(Line::from(spans)), area);
}
