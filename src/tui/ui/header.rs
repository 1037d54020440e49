//! One line: scenario, phase, step, T+, time left in the step and in max_duration.

use ratatui::Frame;
use ratatui::layout::Rect;
use ratatui::text::{Line, Span};
use ratatui::widgets::Paragraph;

use super::theme::Theme;
use super::{clock, secs_since, secs_until};
use crate::report::phase_name;
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
    if let Some(start) = run.start {
        spans.push(sep.clone());
        spans.push(Span::styled(
            format!("T+{}", clock(secs_since(start, app.now))),
            theme.title(),
        ));
        if let Some(st) = run.step.as_ref().filter(|s| !s.ended && !run.ended) {
            let end = st.started + chrono::Duration::milliseconds(st.duration_ms as i64);
            spans.push(sep.clone());
            spans.push(Span::raw(format!(
                "step left {}",
                clock(secs_until(app.now, end))
            )));
        }
        if let Some(s) = app.scenario.as_ref().filter(|_| !run.ended) {
            let max = chrono::Duration::from_std(s.max_duration).unwrap_or_default();
            spans.push(sep.clone());
            spans.push(Span::raw(format!(
                "max left {}",
                clock(secs_until(app.now, start + max))
            )));
        }
    }
    if app.replay.is_some() {
        spans.push(sep);
        spans.push(Span::styled("REPLAY", theme.warn()));
    }
    frame.render_widget(Paragraph::new(Line::from(spans)), area);
}
