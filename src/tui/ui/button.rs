//! The big red button: always on screen. Before a halt it says which key stops everything; after,
//! it shows the rollback progress per host and the halt → all-verified time.

use ratatui::Frame;
use ratatui::layout::Rect;
use ratatui::text::{Line, Span};
use ratatui::widgets::Paragraph;

use super::secs_since;
use super::theme::Theme;
use crate::fmt::{self, clock};
use crate::fold::FaultState;
use crate::tui::app::App;

/// The verdict, once the run has one: green HELD, red otherwise; a symbol and the words carry it
/// without colour too.
fn verdict_banner(frame: &mut Frame, area: Rect, v: &crate::fold::VerdictView, theme: &Theme) {
    let held = v.verdict == crate::event::Verdict::Held;
    let mark = if held { "✔" } else { "✖" };
    let text = format!(
        " {mark} {} — {} (exit {})",
        v.verdict.label(),
        v.reason,
        v.exit_code
    );
    let line = Line::from(Span::styled(
        format!("{text:<w$}", w = area.width as usize),
        theme.verdict(held),
    ));
    frame.render_widget(Paragraph::new(line), area);
}

pub fn render(frame: &mut Frame, area: Rect, app: &App, theme: &Theme) {
    let run = &app.run;
    let area = match &run.verdict {
        Some(v) if area.height > 0 => {
            verdict_banner(frame, Rect { height: 1, ..area }, v, theme);
            Rect {
                y: area.y + 1,
                height: area.height - 1,
                ..area
            }
        }
        _ => area,
    };
    let Some(h) = &run.halt else {
        let text = if app.replay.is_some() {
            " REPLAY of a finished run — nothing here touches a system "
        } else if app.run_live() {
            " [X] BIG RED BUTTON — press X to halt now and roll every fault back "
        } else if run.ended {
            " run ended — D: debrief "
        } else {
            " [X] big red button: armed once the run starts "
        };
        let line = Line::from(Span::styled(
            format!("{text:<w$}", w = area.width as usize),
            theme.button(),
        ));
        frame.render_widget(Paragraph::new(line), area);
        return;
    };
    let start = run.start.unwrap_or(h.ts);
    let total = run
        .faults
        .iter()
        .filter(|f| {
            f.state != FaultState::NotInjected
                && (f.injected.is_some() || f.state != FaultState::Arming)
        })
        .count();
    let verified = run
        .faults
        .iter()
        .filter(|f| f.state == FaultState::Done(crate::event::RollbackStatus::Verified))
        .count();
    let status = match h.finished {
        Some((true, _, _)) if total == 0 => "no fault was live: nothing to roll back".into(),
        None if total == 0 => "no fault is live: nothing to roll back".into(),
        Some((true, _, ms)) => format!(
            "ALL VERIFIED — halt → all verified {}",
            ms.map(fmt::millis).unwrap_or_else(|| "—".into())
        ),
        Some((false, _, _)) => "ROLLBACK NOT VERIFIED — manual action needed (see faults)".into(),
        None if run.rollbacks.total > 0 => format!(
            "rolling back… {}, {} s since halt",
            run.rollbacks,
            secs_since(h.ts, app.now)
        ),
        None => format!(
            "rolling back… {verified}/{total} verified, {} s since halt",
            secs_since(h.ts, app.now)
        ),
    };
    let first = format!(
        " HALTED at T+{} by {}: {} ",
        clock(secs_since(start, h.ts)),
        h.by,
        h.reason
    );
    let progress: Vec<Span> = run
        .faults
        .iter()
        .flat_map(|f| {
            let style = match f.state {
                FaultState::Done(crate::event::RollbackStatus::Verified) => theme.ok(),
                FaultState::Done(_) | FaultState::InjectFailed => theme.bad(),
                _ => theme.warn(),
            };
            [
                Span::raw(format!(" {}@{} ", f.fault, f.host_label())),
                Span::styled(f.state.label(), style),
                Span::raw(" "),
            ]
        })
        .collect();
    let status_style = match h.finished {
        Some((true, _, _)) => theme.ok(),
        Some((false, _, _)) => theme.bad(),
        None => theme.warn(),
    };
    let lines = vec![
        Line::from(Span::styled(
            format!("{first:<w$}", w = area.width as usize),
            theme.button(),
        )),
        Line::from(Span::styled(format!(" {status}"), status_style)),
        Line::from(progress),
    ];
    frame.render_widget(Paragraph::new(lines), area);
}
