//! Metric panels: a line chart per metric with its abort threshold drawn and fault windows shaded,
//! the current value, and the rule's state with its countdown while breaching.

use ratatui::Frame;
use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::symbols::Marker;
use ratatui::text::{Line, Span};
use ratatui::widgets::{Axis, Block, Chart, Dataset, GraphType, Paragraph};

use super::secs_since;
use super::theme::Theme;
use crate::fmt;
use crate::fold::{Countdown, MetricState, RuleState, RunState};
use crate::scenario::{Condition, Rule};
use crate::tui::app::App;

/// Narrowest and shortest a panel may get before panels stack in fewer columns.
const MIN_W: u16 = 36;
const MIN_H: u16 = 5;

pub fn render(frame: &mut Frame, area: Rect, app: &App, theme: &Theme) {
    let names: Vec<&String> = app.run.metrics.keys().collect();
    let mut names: Vec<&String> = if names.is_empty() {
        app.scenario
            .as_ref()
            .map(|s| s.metrics.keys().collect())
            .unwrap_or_default()
    } else {
        names
    };
    // Panels whose rule breaches (or tripped) come first, so "+N more" never hides them.
    names.sort_by_key(|name| {
        let alarming = rules_for(app, name).iter().any(|(i, _)| {
            matches!(
                app.run.rules.get(i),
                Some(RuleState::Breaching { .. } | RuleState::Tripped)
            )
        });
        (!alarming, (*name).clone())
    });
    if names.is_empty() {
        frame.render_widget(Paragraph::new("no metrics").block(Block::bordered()), area);
        return;
    }
    let n = names.len() as u16;
    let cols = (area.width / MIN_W).clamp(1, n);
    let rows_fit = (area.height / MIN_H).max(1);
    let rows = n.div_ceil(cols).min(rows_fit);
    let shown = (rows * cols) as usize;
    let row_areas = Layout::vertical(vec![Constraint::Fill(1); rows as usize]).split(area);
    let empty = MetricState::default();
    for (r, row) in row_areas.iter().enumerate() {
        let cells = Layout::horizontal(vec![Constraint::Fill(1); cols as usize]).split(*row);
        for (c, cell) in cells.iter().enumerate() {
            let i = r * cols as usize + c;
            let Some(name) = names.get(i) else { continue };
            let hidden = names.len().saturating_sub(shown);
            let more = (i + 1 == shown && hidden > 0).then_some(hidden);
            let metric = app.run.metrics.get(*name).unwrap_or(&empty);
            panel(frame, *cell, app, theme, name, metric, more);
        }
    }
}

fn rules_for<'a>(app: &'a App, metric: &str) -> Vec<(usize, &'a Rule)> {
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

fn panel(
    frame: &mut Frame,
    area: Rect,
    app: &App,
    theme: &Theme,
    name: &str,
    metric: &MetricState,
    more: Option<usize>,
) {
    let run = &app.run;
    let unit = app
        .scenario
        .as_ref()
        .and_then(|s| s.metrics.get(name))
        .and_then(|m| m.unit.clone())
        .unwrap_or_default();
    let value = match (&metric.last, &metric.last_error) {
        (Some(v), _) => format!("{} {unit}", fmt::value(Some(*v))),
        (None, Some(e)) => format!("no data: {e}"),
        (None, None) => "—".into(),
    };
    let rules = rules_for(app, name);
    let (state_text, state_style) = rule_state(app, &rules, theme);
    let mut block = Block::bordered()
        .title(Line::from(vec![
            Span::styled(format!(" {name} "), theme.title()),
            Span::raw(format!("{} ", value.trim_end())),
        ]))
        .title_bottom(Line::from(Span::styled(
            format!(" {state_text} "),
            state_style,
        )));
    if let Some(k) = more {
        block = block.title_top(Line::from(format!(" +{k} more ")).right_aligned());
    }
    let inner = block.inner(area);
    frame.render_widget(block, area);
    if inner.width < 2 || inner.height < 1 {
        return;
    }
    let now_t = run
        .start
        .map(|s| secs_since(s, app.now) as f64)
        .unwrap_or(0.0);
    let series = &metric.series;
    let x0 = series.first_t().unwrap_or(0.0).min(now_t);
    let x1 = now_t.max(x0 + 60.0);
    // Braille packs two points per column.
    let points = series.decimated(x0, x1, inner.width as usize * 2);
    let thresholds: Vec<f64> = rules
        .iter()
        .flat_map(|(_, r)| match r.condition {
            Condition::Above(t) | Condition::Below(t) => vec![t],
            Condition::Between(lo, hi) => vec![lo, hi],
        })
        .collect();
    let mut lo = metric.min.unwrap_or(0.0);
    let mut hi = metric.max.unwrap_or(1.0);
    for t in &thresholds {
        lo = lo.min(*t);
        hi = hi.max(*t);
    }
    let pad = ((hi - lo) * 0.05).max(1e-9);
    let (lo, hi) = (lo - pad, hi + pad);
    let lines: Vec<[(f64, f64); 2]> = thresholds.iter().map(|t| [(x0, *t), (x1, *t)]).collect();
    let mut datasets: Vec<Dataset> = lines
        .iter()
        .map(|l| {
            Dataset::default()
                .marker(Marker::Braille)
                .graph_type(GraphType::Line)
                .style(theme.threshold())
                .data(l)
        })
        .collect();
    datasets.push(
        Dataset::default()
            .marker(Marker::Braille)
            .graph_type(GraphType::Line)
            .style(theme.series())
            .data(&points),
    );
    let chart = Chart::new(datasets)
        .x_axis(Axis::default().bounds([x0, x1]))
        .y_axis(Axis::default().bounds([lo, hi]));
    frame.render_widget(chart, inner);
    shade_fault_windows(frame, inner, run, theme, x0, x1, now_t);
}

/// Fault windows: a darker background under the chart (or a baseline mark without colour).
fn shade_fault_windows(
    frame: &mut Frame,
    inner: Rect,
    run: &RunState,
    theme: &Theme,
    x0: f64,
    x1: f64,
    now_t: f64,
) {
    let span = (x1 - x0).max(1e-9);
    let w = inner.width as f64;
    let buf = frame.buffer_mut();
    for (from, to) in run.fault_windows() {
        let to = to.unwrap_or(now_t);
        let c0 = (((from - x0) / span) * w).floor().clamp(0.0, w) as u16;
        let c1 = (((to - x0) / span) * w).ceil().clamp(0.0, w) as u16;
        for x in inner.x + c0..inner.x + c1.max(c0) {
            if let Some(bg) = theme.shade() {
                for y in inner.y..inner.bottom() {
                    if let Some(cell) = buf.cell_mut((x, y)) {
                        cell.set_bg(bg);
                    }
                }
            } else if let Some(cell) = buf.cell_mut((x, inner.bottom().saturating_sub(1)))
                && cell.symbol() == " "
            {
                cell.set_symbol("▁");
            }
        }
    }
}

/// The worst rule state on this metric, with a countdown while breaching.
fn rule_state(
    app: &App,
    rules: &[(usize, &Rule)],
    theme: &Theme,
) -> (String, ratatui::style::Style) {
    if rules.is_empty() {
        return ("no abort rule".into(), theme.dim());
    }
    let mut out = ("ok".to_string(), theme.ok());
    for (i, rule) in rules {
        match app.run.rules.get(i) {
            Some(RuleState::Tripped) => {
                return (format!("TRIPPED {} — run halted", rule.label), theme.bad());
            }
            Some(RuleState::Breaching { .. }) if app.run.halt.is_some() => {
                out = (
                    format!("{} breaching — run halted", rule.label),
                    theme.warn(),
                );
            }
            Some(RuleState::Breaching { deadline }) => {
                let Countdown { held, of, left } =
                    Countdown::at(*deadline, rule.sustained, app.now);
                out = (
                    format!(
                        "{} for {held} s of {of} s — auto-abort in {left} s",
                        rule.label
                    ),
                    theme.bad(),
                );
            }
            _ => {}
        }
    }
    out
}
