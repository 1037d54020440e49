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

/// Fault rows (fault × host) up to which the panel names each one, as far as the line goes.
const FLEET: usize = 8;

/// `fault: verified 812/1000, failed 0, unknown 3` per fault (most hosts first), then `not verified:` and the hosts
/// whose rollback failed, is unknown or still runs, as many as the line holds.
fn fleet_progress<'a>(
    run: &'a crate::fold::RunState,
    width: usize,
    theme: &Theme,
) -> Vec<Span<'a>> {
    use crate::event::RollbackStatus;
    let mut spans = Vec::new();
    let mut counts = crate::fold::RollbackCount::per_fault(&run.faults);
    counts.sort_by_key(|(_, c)| std::cmp::Reverse(c.total));
    for (fault, c) in counts {
        let style = if c.failed + c.unknown > 0 {
            theme.bad()
        } else if c.verified == c.total {
            theme.ok()
        } else {
            theme.warn()
        };
        spans.push(Span::styled(
            format!(
                " {fault}: verified {}/{}, failed {}, unknown {} ",
                c.verified, c.total, c.failed, c.unknown
            ),
            style,
        ));
    }
    let rank = |s: FaultState| match s {
        FaultState::Done(RollbackStatus::Failed) => 0,
        FaultState::Done(RollbackStatus::Unknown) => 1,
        _ => 2,
    };
    let mut open: Vec<&crate::fold::FaultRow> = run
        .faults
        .iter()
        .filter(|f| matches!(f.state, FaultState::RollingBack | FaultState::Done(_)))
        .filter(|f| f.state != FaultState::Done(RollbackStatus::Verified))
        .collect();
    open.sort_by_key(|f| rank(f.state));
    if !open.is_empty() {
        let mut used: usize = spans.iter().map(|s| s.content.chars().count()).sum();
        let head = format!("· not verified ({}, v lists them):", open.len());
        used += head.chars().count();
        spans.push(Span::raw(head));
        for f in open {
            let item = format!(" {} {}", f.host_label(), f.state.label());
            used += item.chars().count();
            if used > width {
                break;
            }
            let style = if rank(f.state) < 2 {
                theme.bad()
            } else {
                theme.warn()
            };
            spans.push(Span::styled(item, style));
        }
    }
    spans
}

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
        } else if app.seat.as_ref().is_some_and(|s| !s.may("halt")) && app.run_live() {
            " the big red button is the IC's console: this seat cannot halt "
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
        // A Chaos Toolkit run has no faults: its rollbacks are activities.
        _ if run.is_ctk() => match (run.ctk_rollbacks(), run.ended) {
            ((n, 0), true) => format!("the experiment's rollbacks ran: {n}, all confirmed"),
            ((n, u), true) => {
                format!("ROLLBACK NOT CONFIRMED — {u} of {n}: check the system by hand")
            }
            ((n, _), false) => format!(
                "the method stopped; the experiment's rollbacks run… {n} done, {} s since halt",
                secs_since(h.ts, app.now)
            ),
        },
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
    // One span per fault and host while they fit on the line; a fleet gets one count per fault,
    // then the hosts not verified (worst first) as far as the line goes.
    let width: usize = progress.iter().map(|s| s.content.chars().count()).sum();
    let progress = if width <= area.width as usize || run.faults.len() <= FLEET {
        progress
    } else {
        fleet_progress(run, area.width as usize, theme)
    };
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
