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

/// Cuts `s` to `w` columns, ending in `…` when cut.
fn cut(s: &str, w: usize) -> String {
    if s.chars().count() <= w {
        return s.to_string();
    }
    if w == 0 {
        return String::new();
    }
    let mut out: String = s.chars().take(w - 1).collect();
    out.push('…');
    out
}

/// Phase and step stay whole: the clocks on the right go first (max left, then step left), then
/// the title is shortened.
pub fn render(frame: &mut Frame, area: Rect, app: &App, theme: &Theme) {
    let run = &app.run;
    let title = app
        .scenario
        .as_ref()
        .map(|s| s.title.as_str())
        .unwrap_or("no scenario");
    let phase = run.phase.map(phase_name).unwrap_or("not started");
    let sep = Span::styled(" │ ", theme.dim());
    let mut core = format!(" │ {phase}");
    if let Some(st) = &run.step {
        let n = app.scenario.as_ref().map(|s| s.steps.len()).unwrap_or(0);
        core.push_str(&format!(" │ step {}/{} {}", st.index + 1, n, st.name));
    }
    // Right-hand parts, most important first.
    let mut right: Vec<Span> = Vec::new();
    if app.replay.is_some() {
        right.push(Span::styled("REPLAY ", theme.warn()));
    }
    if let Some(seat) = &app.seat {
        let mode = if seat.may.is_empty() {
            " read-only"
        } else {
            ""
        };
        right.push(Span::styled(
            format!("JOINED as {}{mode} ", seat.tag),
            theme.warn(),
        ));
    }
    let mut optional: Vec<String> = Vec::new();
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
            optional.push(format!("step {} left", clock(secs_until(now, end))));
        }
        if let Some(s) = app
            .scenario
            .as_ref()
            .filter(|_| !run.ended && run.halt.is_none())
        {
            let max = chrono::Duration::from_std(s.max_duration).unwrap_or_default();
            optional.push(format!("max {} left", clock(secs_until(now, start + max))));
        }
    }
    // Who else sits at this run (`gameday join`), for the IC.
    if app.seat.is_none() && !run.seats.is_empty() && !run.ended {
        let n = run.seats.len();
        optional.push(format!("{n} seat{} joined", if n == 1 { "" } else { "s" }));
    }
    // Lowest priority: where the journal is, for a second seat (`gameday follow PATH`).
    if let Some(j) = &app.journal_path {
        optional.push(format!("journal {}", j.display()));
    }
    let width = area.width as usize;
    let core_w = core.chars().count();
    let base_w = 1 + Line::from(right.clone()).width() + 1;
    // Drop clocks from the end until the title keeps at least a few columns.
    let mut keep = optional.len();
    let extra = |k: usize| -> usize { optional[..k].iter().map(|o| o.chars().count() + 3).sum() };
    while keep > 0 && base_w + extra(keep) + core_w + 1 + 12 > width {
        keep -= 1;
    }
    for o in optional.into_iter().take(keep) {
        right.push(sep.clone());
        right.push(Span::raw(o));
    }
    if run.start.is_some() || app.replay.is_some() {
        right.insert(0, Span::raw(" "));
        right.push(Span::raw(" "));
    }
    let right = Line::from(right);
    let rw = right.width();
    let title_w = width.saturating_sub(rw + core_w + 1);
    let spans = vec![
        Span::styled(format!(" {}", cut(title, title_w)), theme.title()),
        Span::raw(core),
    ];
    let rw = (rw as u16).min(area.width);
    let [left_area, right_area] =
        Layout::horizontal([Constraint::Min(0), Constraint::Length(rw)]).areas(area);
    frame.render_widget(Paragraph::new(right), right_area);
    frame.render_widget(Paragraph::new(Line::from(spans)), left_area);
}
