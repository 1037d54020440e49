//! SVG line charts for the debrief, one per metric: samples, abort thresholds, fault windows shaded,
//! gaps where there was no data. Pure functions of the folded run: its whole length is in each
//! metric's bounded [`crate::fold::series::Overview`].

use std::fmt::Write as _;

use chrono::{DateTime, Utc};

use crate::fold::RunState;
use crate::scenario::{Condition, Scenario};

const W: f64 = 720.0;
const H: f64 = 200.0;
const LEFT: f64 = 56.0;
const RIGHT: f64 = 12.0;
const TOP: f64 = 24.0;
const BOTTOM: f64 = 28.0;

pub struct Chart {
    pub metric: String,
    pub svg: String,
}

/// One chart per metric that has samples.
pub fn charts(run: &RunState) -> Vec<Chart> {
    let (Some(start), Some(end)) = (run.start, run.last_ts) else {
        return vec![];
    };
    let scenario: Option<&Scenario> = run.scenario.as_deref();
    let total = secs(start, end).max(1.0);
    let windows: Vec<(f64, f64)> = run
        .fault_windows()
        .map(|(from, to)| (from.max(0.0), to.unwrap_or(total)))
        .collect();
    run.metrics
        .iter()
        .filter(|(_, m)| m.samples > 0)
        .map(|(metric, m)| {
            let thresholds: Vec<(String, f64)> = scenario
                .map(|s| {
                    s.abort
                        .iter()
                        .chain(s.steady_state.iter())
                        .filter(|r| &r.metric == metric)
                        .flat_map(|r| match r.condition {
                            Condition::Above(t) | Condition::Below(t) => vec![(r.label.clone(), t)],
                            Condition::Between(a, b) => {
                                vec![(r.label.clone(), a), (r.label.clone(), b)]
                            }
                        })
                        .collect()
                })
                .unwrap_or_default();
            let unit = scenario
                .and_then(|s| s.metrics.get(metric))
                .and_then(|m| m.unit.clone())
                .unwrap_or_default();
            Chart {
                metric: metric.to_string(),
                svg: render(
                    metric,
                    &unit,
                    &m.overview.points(),
                    &thresholds,
                    &windows,
                    total,
                ),
            }
        })
        .collect()
}

fn secs(start: DateTime<Utc>, ts: DateTime<Utc>) -> f64 {
    (ts - start).num_milliseconds().max(0) as f64 / 1000.0
}

fn render(
    metric: &str,
    unit: &str,
    points: &[(f64, Option<f64>)],
    thresholds: &[(String, f64)],
    windows: &[(f64, f64)],
    total: f64,
) -> String {
    let values = points
        .iter()
        .filter_map(|p| p.1)
        .chain(thresholds.iter().map(|t| t.1));
    let (mut lo, mut hi) = values.fold((f64::INFINITY, f64::NEG_INFINITY), |(lo, hi), v| {
        (lo.min(v), hi.max(v))
    });
    if !lo.is_finite() {
        (lo, hi) = (0.0, 1.0);
    }
    if lo > 0.0 && lo < hi * 0.5 {
        lo = 0.0;
    }
    if (hi - lo).abs() < f64::EPSILON {
        hi = lo + 1.0;
    }
    let pad = (hi - lo) * 0.08;
    let (lo, hi) = (lo - if lo == 0.0 { 0.0 } else { pad }, hi + pad);
    let x = |t: f64| LEFT + (W - LEFT - RIGHT) * (t / total).clamp(0.0, 1.0);
    let y = |v: f64| TOP + (H - TOP - BOTTOM) * (1.0 - (v - lo) / (hi - lo));

    let mut s = String::new();
    let _ = write!(
        s,
        r##"<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {W} {H}" width="{W}" height="{H}" font-family="sans-serif" font-size="11">"##
    );
    let _ = write!(s, r##"<rect width="{W}" height="{H}" fill="#ffffff"/>"##);
    let title = if unit.is_empty() {
        metric.to_string()
    } else {
        format!("{metric} ({unit})")
    };
    let _ = write!(
        s,
        r##"<text x="{LEFT}" y="15" font-weight="bold">{}</text>"##,
        xml(&title)
    );
    for (a, b) in windows {
        let _ = write!(
            s,
            r##"<rect x="{:.1}" y="{TOP}" width="{:.1}" height="{:.1}" fill="#f5a623" fill-opacity="0.18"><title>fault live</title></rect>"##,
            x(*a),
            (x(*b) - x(*a)).max(1.0),
            H - TOP - BOTTOM
        );
    }
    // Axes and labels.
    let _ = write!(
        s,
        r##"<line x1="{LEFT}" y1="{}" x2="{}" y2="{}" stroke="#999"/><line x1="{LEFT}" y1="{TOP}" x2="{LEFT}" y2="{}" stroke="#999"/>"##,
        H - BOTTOM,
        W - RIGHT,
        H - BOTTOM,
        H - BOTTOM
    );
    for v in [lo, (lo + hi) / 2.0, hi] {
        let _ = write!(
            s,
            r##"<text x="{}" y="{:.1}" text-anchor="end" fill="#555">{}</text>"##,
            LEFT - 4.0,
            y(v) + 4.0,
            short(v)
        );
    }
    for frac in [0.0, 0.25, 0.5, 0.75, 1.0] {
        let t = total * frac;
        let anchor = match frac {
            0.0 => "start",
            1.0 => "end",
            _ => "middle",
        };
        let _ = write!(
            s,
            r##"<text x="{:.1}" y="{}" text-anchor="{anchor}" fill="#555">T+{:02}:{:02}</text>"##,
            x(t),
            H - 10.0,
            (t as u64) / 60,
            (t as u64) % 60
        );
    }
    for (label, v) in thresholds {
        let _ = write!(
            s,
            r##"<line x1="{LEFT}" y1="{0:.1}" x2="{1}" y2="{0:.1}" stroke="#d0021b" stroke-dasharray="5,3"><title>{2}</title></line><text x="{1}" y="{3:.1}" text-anchor="end" fill="#d0021b">{2}</text>"##,
            y(*v),
            W - RIGHT,
            xml(label),
            y(*v) - 3.0
        );
    }
    // The series, broken at every no-data reading.
    let mut path = String::new();
    let mut pen_down = false;
    for (t, v) in points.iter() {
        match v {
            Some(v) => {
                let _ = write!(
                    path,
                    "{}{:.1},{:.1} ",
                    if pen_down { "L" } else { "M" },
                    x(*t),
                    y(*v)
                );
                pen_down = true;
            }
            None => {
                pen_down = false;
                let _ = write!(
                    s,
                    r##"<line x1="{0:.1}" y1="{TOP}" x2="{0:.1}" y2="{1}" stroke="#d0021b" stroke-opacity="0.35"><title>no data</title></line>"##,
                    x(*t),
                    H - BOTTOM
                );
            }
        }
    }
    if !path.is_empty() {
        let _ = write!(
            s,
            r##"<path d="{}" fill="none" stroke="#1f6feb" stroke-width="1.5"/>"##,
            path.trim_end()
        );
    }
    s.push_str("</svg>\n");
    s
}

fn short(v: f64) -> String {
    if v.abs() >= 100.0 || v == v.trunc() {
        format!("{v:.0}")
    } else {
        format!("{v:.2}")
    }
}

fn xml(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn svg_escapes_labels() {
        let svg = render(
            "a<b",
            "",
            &[(0.0, Some(1.0)), (1.0, None), (2.0, Some(2.0))],
            &[("x > 1 & y".into(), 1.0)],
            &[(0.5, 1.5)],
            2.0,
        );
        assert!(svg.contains("a&lt;b"));
        assert!(svg.contains("x &gt; 1 &amp; y"));
        assert_eq!(svg.matches("<path").count(), 1);
        assert!(svg.contains("M") && svg.contains("no data"));
    }
}
