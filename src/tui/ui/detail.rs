//! The detail view (`Enter` on a timeline line or a fault): the whole text, wrapped, and for a
//! fault everything the run knows of it: its commands, their output, its lease.

use ratatui::Frame;
use ratatui::layout::Rect;
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Clear, Paragraph, Wrap};

use super::theme::Theme;
use crate::event::CommandOutcome;
use crate::fmt::{self, t_plus, wall_clock};
use crate::fold::{FaultRow, RunState};
use crate::tui::app::{App, Detail};

pub fn render(frame: &mut Frame, area: Rect, app: &App, theme: &Theme, detail: Detail) {
    let r = Rect {
        x: area.x
            + area
                .width
                .saturating_sub(area.width.saturating_sub(4).max(20))
                / 2,
        y: area.y + 1.min(area.height),
        width: area.width.saturating_sub(4).max(20).min(area.width),
        height: area.height.saturating_sub(2).max(3).min(area.height),
    };
    frame.render_widget(Clear, r);
    let (title, lines) = match detail {
        Detail::Event { seq } => event_lines(app, theme, seq),
        Detail::Fault { index } => match app.run.faults.get(index) {
            Some(f) => (
                format!(" Fault {} on {} ", f.fault, f.host),
                fault_lines(&app.run, theme, f),
            ),
            None => (" Fault ".into(), vec![Line::raw("no such fault")]),
        },
    };
    frame.render_widget(
        Paragraph::new(lines)
            .wrap(Wrap { trim: false })
            .scroll((app.scroll.min(u16::MAX as usize) as u16, 0))
            .block(Block::bordered().title(title).title_bottom(Line::styled(
                " ↑↓ scroll · Enter or Esc close ",
                theme.dim(),
            ))),
        r,
    );
}

fn event_lines(app: &App, theme: &Theme, seq: u64) -> (String, Vec<Line<'static>>) {
    let run = &app.run;
    let Some(e) = run.timeline.iter().find(|e| e.seq == seq) else {
        return (
            " Event ".into(),
            vec![Line::raw(format!(
                "record #{seq} is no longer on screen (the journal has it)"
            ))],
        );
    };
    let origin = run.start.unwrap_or(e.ts);
    let mut lines = vec![
        Line::from(vec![
            Span::styled(t_plus(origin, e.ts), theme.title()),
            Span::styled(
                format!("  {} UTC · {} · record #{}", wall_clock(e.ts), e.src, e.seq),
                theme.dim(),
            ),
        ]),
        Line::raw(""),
        Line::raw(e.text.clone()),
    ];
    if let Some(f) = e
        .fault
        .as_ref()
        .and_then(|(f, h)| run.faults.iter().find(|r| r.fault == *f && r.host == *h))
    {
        lines.push(Line::raw(""));
        lines.extend(fault_lines(run, theme, f));
    }
    (format!(" {} ", e.src), lines)
}

fn fault_lines(run: &RunState, theme: &Theme, f: &FaultRow) -> Vec<Line<'static>> {
    let at = |t| fmt::t_plus_secs(run.secs(t) as i64);
    let head = |s: &str| Line::styled(s.to_string(), theme.title());
    let mut lines = vec![
        Line::from(vec![
            Span::styled(format!("{} ", f.fault), theme.title()),
            Span::raw(format!(
                "({}) on target {}, host {}, step {}: ",
                f.kind,
                f.target,
                f.host,
                f.step + 1
            )),
            Span::styled(f.state.label(), theme.warn()),
        ]),
        head("inject"),
        Line::raw(format!("  $ {}", f.inject)),
        head("undo"),
        Line::raw(match &f.undo {
            Some(u) => format!("  $ {u}"),
            None if f.irreversible => "  none: irreversible".into(),
            None => "  none".into(),
        }),
    ];
    if let Some(v) = &f.verify {
        lines.push(head("verify"));
        lines.push(Line::raw(format!("  $ {v}")));
    }
    match (f.injected, &f.not_injected) {
        (Some((t, ok)), _) => lines.push(head(&format!(
            "inject output ({} at {})",
            if ok { "went in" } else { "FAILED" },
            at(t)
        ))),
        (None, Some(why)) => lines.push(Line::styled(format!("not injected: {why}"), theme.warn())),
        (None, None) => lines.push(Line::styled("inject not answered yet", theme.dim())),
    }
    if let Some(o) = &f.inject_outcome {
        lines.extend(outcome_lines(o, theme));
    }
    match (f.lease_ms, f.lease_expiry(), f.lease_cancelled) {
        (Some(ms), Some(exp), _) if f.state.live() => lines.push(Line::raw(format!(
            "lease: {} s; the host reverts the fault by itself at {} ({} UTC) unless renewed",
            ms / 1000,
            at(exp),
            wall_clock(exp)
        ))),
        (Some(ms), _, Some(ok)) => lines.push(Line::raw(format!(
            "lease: {} s; {}",
            ms / 1000,
            if ok {
                "stood down"
            } else {
                "could not be cancelled (its undo may run again; harmless)"
            }
        ))),
        (Some(ms), _, None) => lines.push(Line::raw(format!("lease: {} s", ms / 1000))),
        (None, ..) => {}
    }
    if let Some(c) = &f.lease_cancel {
        lines.push(Line::styled(format!("  lease cancel: $ {c}"), theme.dim()));
    }
    if let Some(t) = f.rolled_back {
        lines.push(head(&format!(
            "rollback: {} at {} ({}, {} attempt(s))",
            f.state.label(),
            at(t),
            f.how,
            f.attempts
        )));
        if let Some(o) = &f.undo_outcome {
            lines.push(Line::styled("  undo:", theme.dim()));
            lines.extend(outcome_lines(o, theme));
        }
        if let Some(o) = &f.verify_outcome {
            lines.push(Line::styled("  verify:", theme.dim()));
            lines.extend(outcome_lines(o, theme));
        }
    }
    if let Some(m) = &f.manual {
        lines.push(Line::styled(format!("run by hand: {m}"), theme.bad()));
    }
    lines
}

fn outcome_lines(o: &CommandOutcome, theme: &Theme) -> Vec<Line<'static>> {
    let style = if o.success() { theme.ok() } else { theme.bad() };
    let mut lines = vec![Line::styled(
        format!("  {} in {}", o.summary(), fmt::millis(o.ms)),
        style,
    )];
    for (name, text) in [("stdout", &o.stdout), ("stderr", &o.stderr)] {
        if !text.trim().is_empty() {
            lines.push(Line::styled(format!("  {name}:"), theme.dim()));
            lines.extend(text.lines().map(|l| Line::raw(format!("    {l}"))));
        }
    }
    lines
}
