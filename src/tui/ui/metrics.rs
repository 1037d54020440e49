//! Metric panels: a line chart per metric with its y bounds and time axis labelled, its abort
//! thresholds drawn dashed and named ("abort > 5"), fault windows marked on the time axis (and
//! shaded where there is colour), a legend, the current value, and the rule's state with its
//! countdown while breaching. Data (Braille), thresholds (`╌`) and fault windows (`━`) keep
//! distinct glyphs without colour. `z` zooms the selected panel to the whole metrics area.

use ratatui::Frame;
use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::style::Style;
use ratatui::symbols::Marker;
use ratatui::text::{Line, Span};
use ratatui::widgets::{Axis, Block, Chart, Dataset, GraphType, Paragraph};

use super::secs_since;
use super::theme::Theme;
use crate::fmt;
use crate::fold::{Countdown, MetricState, RuleState};
use crate::scenario::{Condition, Rule};
use crate::tui::app::{App, Pane, rules_for};

/// Narrowest and shortest a panel may get before panels stack in fewer columns.
const MIN_W: u16 = 36;
const MIN_H: u16 = 5;

/// Glyphs that tell the lines apart without colour.
const THRESHOLD: &str = "╌";
const WINDOW: &str = "━";
const AXIS: &str = "─";

pub fn render(frame: &mut Frame, area: Rect, app: &App, theme: &Theme) {
    let names = app.panel_order();
    if names.is_empty() {
        frame.render_widget(Paragraph::new("no metrics").block(Block::bordered()), area);
        return;
    }
    let selected = app.selected_panel();
    let focused = app.focus == Pane::Metrics;
    let empty = MetricState::default();
    let metric = |name: &str| app.run.metrics.get(name).unwrap_or(&empty);
    if app.zoom
        && let Some(name) = &selected
    {
        let corner = Some(" zoomed · z / Esc: all panels ".to_string());
        panel(frame, area, app, theme, name, metric(name), corner, focused);
        return;
    }
    let n = names.len() as u16;
    let cols = (area.width / MIN_W).clamp(1, n);
    let rows_fit = (area.height / MIN_H).max(1);
    let rows = n.div_ceil(cols).min(rows_fit);
    let shown = (rows * cols) as usize;
    let hidden = names.len().saturating_sub(shown);
    // The selected panel is always on screen: in the last place when it would be hidden.
    let mut laid_out: Vec<&String> = names.iter().take(shown).collect();
    if let Some(sel) = names.iter().position(|m| Some(m) == selected.as_ref())
        && sel >= shown
        && let Some(last) = laid_out.last_mut()
    {
        *last = &names[sel];
    }
    let row_areas = Layout::vertical(vec![Constraint::Fill(1); rows as usize]).split(area);
    for (r, row) in row_areas.iter().enumerate() {
        let cells = Layout::horizontal(vec![Constraint::Fill(1); cols as usize]).split(*row);
        for (c, cell) in cells.iter().enumerate() {
            let i = r * cols as usize + c;
            let Some(name) = laid_out.get(i) else {
                continue;
            };
            let more = (i + 1 == shown && hidden > 0).then(|| format!(" +{hidden} more "));
            let chosen = focused && Some(*name) == selected.as_ref();
            panel(frame, *cell, app, theme, name, metric(name), more, chosen);
        }
    }
}

#[allow(clippy::too_many_arguments)]
fn panel(
    frame: &mut Frame,
    area: Rect,
    app: &App,
    theme: &Theme,
    name: &str,
    metric: &MetricState,
    corner: Option<String>,
    focused: bool,
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
    let thresholds = thresholds(&rules);
    let windows: Vec<(f64, Option<f64>)> = run.fault_windows().collect();
    let mut legend = vec![Span::styled("⠤ value", theme.series())];
    if !thresholds.is_empty() {
        legend.push(Span::styled(
            format!(" {THRESHOLD} abort"),
            theme.threshold(),
        ));
    }
    if !windows.is_empty() {
        legend.push(Span::styled(
            format!(" {WINDOW} fault"),
            theme.fault_window(),
        ));
    }
    legend.insert(0, Span::raw(" "));
    legend.push(Span::raw(" "));
    let title = Line::from(vec![
        Span::styled(format!(" {name} "), theme.title()),
        Span::raw(format!("{} ", value.trim_end())),
    ]);
    // The name and the value come first: the legend shows only where both fit beside it.
    let room = usize::from(area.width.saturating_sub(2));
    let legend = Line::from(legend).right_aligned();
    let show_legend = title.width() + legend.width() < room;
    let mut block = super::focus_block(focused, theme).title(title);
    if show_legend {
        block = block.title_top(legend);
    }
    let mut block = block.title_bottom(Line::from(Span::styled(
        format!(" {state_text} "),
        state_style,
    )));
    if let Some(text) = corner {
        block = block.title_bottom(Line::styled(text, theme.dim()).right_aligned());
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
    let mut lo = metric.min.unwrap_or(0.0);
    let mut hi = metric.max.unwrap_or(1.0);
    for (t, _) in &thresholds {
        lo = lo.min(*t);
        hi = hi.max(*t);
    }
    let (lo, hi) = nice_bounds(lo, hi);
    // The y bounds on the left and the time axis on the bottom row, where there is room.
    let (hi_s, lo_s) = (axis_label(hi), axis_label(lo));
    let gutter = hi_s.chars().count().max(lo_s.chars().count()) as u16 + 1;
    let labelled = inner.height >= 3 && inner.width >= gutter + 16;
    let plot = if labelled {
        Rect {
            x: inner.x + gutter,
            width: inner.width - gutter,
            height: inner.height - 1,
            ..inner
        }
    } else {
        inner
    };
    // Braille packs two points per column.
    let points = series.decimated(x0, x1, plot.width as usize * 2);
    let chart = Chart::new(vec![
        Dataset::default()
            .marker(Marker::Braille)
            .graph_type(GraphType::Line)
            .style(theme.series())
            .data(&points),
    ])
    .x_axis(Axis::default().bounds([x0, x1]))
    .y_axis(Axis::default().bounds([lo, hi]));
    frame.render_widget(chart, plot);
    let span = Span2 { x0, x1, lo, hi };
    shade_fault_windows(frame, plot, theme, &windows, &span, now_t, !labelled);
    draw_thresholds(frame, plot, theme, &thresholds, &span);
    if !labelled {
        return;
    }
    let buf = frame.buffer_mut();
    let dim = theme.dim();
    let w = gutter as usize - 1;
    buf.set_string(inner.x, plot.y, format!("{hi_s:>w$}"), dim);
    buf.set_string(inner.x, plot.bottom() - 1, format!("{lo_s:>w$}"), dim);
    let axis = Rect {
        y: inner.bottom() - 1,
        height: 1,
        ..plot
    };
    time_axis(buf, axis, theme, &windows, &span, now_t);
}

/// The x (seconds since the start) and y ranges a chart shows.
struct Span2 {
    x0: f64,
    x1: f64,
    lo: f64,
    hi: f64,
}

impl Span2 {
    /// The column (from the left of `width`) of `t` seconds.
    fn col(&self, t: f64, width: u16) -> u16 {
        let w = width as f64;
        (((t - self.x0) / (self.x1 - self.x0).max(1e-9)) * w)
            .floor()
            .clamp(0.0, w) as u16
    }

    /// The row (from the top of `height`) the chart draws `v` in.
    fn row(&self, v: f64, height: u16) -> u16 {
        let dots = (height as f64 * 4.0 - 1.0).max(0.0);
        let y = (self.hi - v) / (self.hi - self.lo).max(1e-12) * dots;
        ((y / 4.0).floor().max(0.0) as u16).min(height.saturating_sub(1))
    }
}

/// Each abort threshold on this metric, with its label (on one line of a range).
fn thresholds(rules: &[(usize, &Rule)]) -> Vec<(f64, String)> {
    let v = |t: f64| fmt::value(Some(t));
    rules
        .iter()
        .flat_map(|(_, r)| match r.condition {
            Condition::Above(t) => vec![(t, format!("abort > {}", v(t)))],
            Condition::Below(t) => vec![(t, format!("abort < {}", v(t)))],
            Condition::Between(lo, hi) => vec![
                (hi, format!("abort in [{}, {}]", v(lo), v(hi))),
                (lo, String::new()),
            ],
        })
        .collect()
}

/// Bounds that hold `lo..=hi` with a margin, on round numbers; never below 0 for data that is not.
fn nice_bounds(lo: f64, hi: f64) -> (f64, f64) {
    if !(lo.is_finite() && hi.is_finite()) {
        return (0.0, 1.0);
    }
    if hi <= lo {
        let d = if lo == 0.0 { 1.0 } else { lo.abs() * 0.1 };
        let low = if lo >= 0.0 { (lo - d).max(0.0) } else { lo - d };
        return (low, hi + d);
    }
    let pad = (hi - lo) * 0.05;
    let plo = if lo >= 0.0 {
        (lo - pad).max(0.0)
    } else {
        lo - pad
    };
    let phi = hi + pad;
    let mut step = 10f64.powf((phi - plo).log10().floor());
    if (phi - plo) / step < 5.0 {
        step /= 2.0;
    }
    ((plo / step).floor() * step, (phi / step).ceil() * step)
}

/// A bound for the y axis: at most three decimals, no trailing zeros.
fn axis_label(v: f64) -> String {
    let s = format!("{v:.3}");
    let s = s.trim_end_matches('0').trim_end_matches('.');
    if s == "-0" { "0".into() } else { s.into() }
}

/// Thresholds: a dashed line where the data is not, named at its left end.
fn draw_thresholds(
    frame: &mut Frame,
    plot: Rect,
    theme: &Theme,
    thresholds: &[(f64, String)],
    span: &Span2,
) {
    let buf = frame.buffer_mut();
    let style = theme.threshold();
    for (t, label) in thresholds {
        if *t < span.lo || *t > span.hi || plot.height == 0 {
            continue;
        }
        let y = plot.y + span.row(*t, plot.height);
        for x in plot.x..plot.right() {
            if let Some(cell) = buf.cell_mut((x, y))
                && cell.symbol() == " "
            {
                cell.set_symbol(THRESHOLD).set_style(style);
            }
        }
        let text = format!(" {label} ");
        if !label.is_empty() && (text.chars().count() as u16) + 2 <= plot.width {
            buf.set_string(plot.x + 1, y, text, style);
        }
    }
}

/// Fault windows: a darker background under the chart where there is colour; without it, and
/// when the panel is too small for a time axis, a baseline mark.
fn shade_fault_windows(
    frame: &mut Frame,
    plot: Rect,
    theme: &Theme,
    windows: &[(f64, Option<f64>)],
    span: &Span2,
    now_t: f64,
    baseline: bool,
) {
    let buf = frame.buffer_mut();
    for (from, to) in windows {
        let to = to.unwrap_or(now_t);
        let c0 = span.col(*from, plot.width);
        let c1 = span.col(to, plot.width).max(c0 + 1).min(plot.width);
        for x in plot.x + c0..plot.x + c1 {
            if let Some(bg) = theme.shade() {
                for y in plot.y..plot.bottom() {
                    if let Some(cell) = buf.cell_mut((x, y)) {
                        cell.set_bg(bg);
                    }
                }
            } else if baseline
                && let Some(cell) = buf.cell_mut((x, plot.bottom().saturating_sub(1)))
                && cell.symbol() == " "
            {
                cell.set_symbol("▁");
            }
        }
    }
}

/// The time axis: a rule with each fault window drawn heavy (`┣━ fault ━┫`: injected → rolled
/// back; open-ended while the fault is in), the start and end times at its ends.
fn time_axis(
    buf: &mut ratatui::buffer::Buffer,
    axis: Rect,
    theme: &Theme,
    windows: &[(f64, Option<f64>)],
    span: &Span2,
    now_t: f64,
) {
    let dim = theme.dim();
    let w = axis.width;
    for x in axis.x..axis.right() {
        buf.set_string(x, axis.y, AXIS, dim);
    }
    let mark: Style = theme.fault_window();
    let cols: Vec<(u16, u16)> = windows
        .iter()
        .map(|(from, to)| {
            let c0 = span.col(*from, w);
            (c0, span.col(to.unwrap_or(now_t), w).max(c0 + 1).min(w))
        })
        .collect();
    // The T+ labels at the ends yield to a fault window: the window is what the IC looks for.
    let left = fmt::t_plus_secs(span.x0 as i64);
    let right = fmt::t_plus_secs(span.x1 as i64);
    let (lw, rw) = (left.len() as u16, right.len() as u16);
    if lw + rw + 2 <= w {
        if cols.iter().all(|(c0, _)| *c0 > lw) {
            buf.set_string(axis.x, axis.y, &left, dim);
        }
        if cols.iter().all(|(_, c1)| *c1 + rw < w) {
            buf.set_string(axis.right() - rw, axis.y, &right, dim);
        }
    }
    for ((_, to), (c0, c1)) in windows.iter().zip(cols) {
        for x in c0..c1 {
            buf.set_string(axis.x + x, axis.y, WINDOW, mark);
        }
        if c1 > c0 + 1 {
            buf.set_string(axis.x + c0, axis.y, "┣", mark);
            if to.is_some() {
                buf.set_string(axis.x + c1 - 1, axis.y, "┫", mark);
            }
        }
        let label = " fault ";
        let len = label.len() as u16;
        if c1 - c0 >= len + 2 {
            buf.set_string(axis.x + c0 + (c1 - c0 - len) / 2, axis.y, label, mark);
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
