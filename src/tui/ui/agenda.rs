//! The agenda screen of `gameday day`: a pure function of `&AgendaApp` (time is `app.now`).

use chrono::{DateTime, FixedOffset};
use ratatui::Frame;
use ratatui::layout::{Constraint, Layout};
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Paragraph, Wrap};

use super::theme::Theme;
use crate::agenda::{Ran, Status, zone_label};
use crate::fmt;
use crate::scenario::plan::What;
use crate::tui::agenda::{AgendaApp, Mode};

/// Whole seconds from `now` to `t`, rounded up so a countdown never shows 0 before it is due.
fn secs_to(now: DateTime<FixedOffset>, t: DateTime<FixedOffset>) -> i64 {
    let ms = (t - now).num_milliseconds();
    if ms <= 0 { 0 } else { (ms + 999) / 1000 }
}

/// `1h 05m 03s` past an hour, `5m 03s` under.
fn countdown(secs: i64) -> String {
    if secs >= 3600 {
        let m = secs % 3600;
        format!("{}h {:02}m {:02}s", secs / 3600, m / 60, m % 60)
    } else {
        fmt::min_sec(secs)
    }
}

/// A run in the agenda's column: verdict, exit code and when it ran.
fn ran_short(r: &Ran, slot: &crate::agenda::Slot) -> String {
    let when = match (slot.started, slot.ended) {
        (Some(a), Some(b)) => format!(" · {}–{}", a.format("%H:%M"), b.format("%H:%M")),
        _ => String::new(),
    };
    format!(
        "{} exit {}{when}",
        r.verdict.as_deref().unwrap_or("NO VERDICT"),
        r.exit_code
    )
}

/// The selected item in full, under the agenda.
fn detail(app: &AgendaApp) -> String {
    let i = app.selected;
    let Some(slot) = app.agenda.slots.get(i) else {
        return String::new();
    };
    let head = format!("{} {}", i + 1, app.agenda.label(i));
    let postponed = if slot.postponed.is_zero() {
        String::new()
    } else {
        format!(" (postponed {})", fmt::duration(slot.postponed))
    };
    match &slot.status {
        Status::Ran(r) => format!(
            "{head}: {} · time to detect {} · mitigate {} · recover {}{}",
            ran_short(r, slot),
            fmt::elapsed_ms_or_dash(r.time_to_detect_ms),
            fmt::elapsed_ms_or_dash(r.time_to_mitigate_ms),
            fmt::elapsed_ms_or_dash(r.time_to_recover_ms),
            r.journal
                .as_ref()
                .map(|j| format!(" · journal {}", j.display()))
                .unwrap_or_default()
        ),
        Status::Skipped { why } => format!("{head}: skipped: {why}"),
        Status::Taken => format!("{head}: taken"),
        Status::Running { .. } => format!("{head}: now"),
        Status::Pending => match slot.due {
            Some(d) => format!("{head}: due {}{postponed}", d.format("%H:%M:%S")),
            None => format!("{head}: waits for the one before, then for s{postponed}"),
        },
    }
}

/// What the status column says of item `i`, and how it is styled.
fn status(app: &AgendaApp, i: usize, theme: &Theme) -> Span<'static> {
    let slot = &app.agenda.slots[i];
    let now = app.now;
    match &slot.status {
        Status::Ran(r) => Span::styled(ran_short(r, slot), theme.verdict(r.exit_code == 0)),
        Status::Taken => Span::styled("break taken", theme.dim()),
        Status::Skipped { why } => Span::styled(format!("skipped: {why}"), theme.dim()),
        Status::Running { until: Some(u) } => Span::styled(
            format!("on break · {} left", countdown(secs_to(now, *u))),
            theme.warn(),
        ),
        Status::Running { until: None } => Span::styled("running", theme.warn()),
        Status::Pending => {
            let next = app.agenda.next() == Some(i) && app.agenda.running().is_none();
            let text = match (slot.due, next) {
                (Some(d), true) if d > now => format!("next · in {}", countdown(secs_to(now, d))),
                (Some(d), true) => format!("next · was due {} · s starts it", d.format("%H:%M")),
                (None, true) => "next · waits for s".into(),
                (Some(d), false) => format!("at {}", d.format("%H:%M")),
                (None, false) => "after the one before".into(),
            };
            Span::styled(text, if next { theme.title() } else { theme.text() })
        }
    }
}

/// The line under the agenda: what comes next and when, or why nothing will.
fn next_line(app: &AgendaApp) -> String {
    let a = &app.agenda;
    if let Some(i) = a.running()
        && let Status::Running { until: Some(u) } = a.slots[i].status
    {
        let after = a
            .next()
            .map(|n| format!("; then {}", a.label(n)))
            .unwrap_or_default();
        return format!(
            "On break until {} ({} left){after}. s ends it now.",
            u.format("%H:%M:%S"),
            countdown(secs_to(app.now, u))
        );
    }
    if let Some(why) = &a.stop {
        return format!("The day is stopped: {why}.");
    }
    match a.next() {
        None => "Every agenda item is done.".into(),
        Some(n) => match a.slots[n].due {
            Some(d) if d > app.now => format!(
                "Next: {} at {} (in {}), or s to start it now.",
                a.label(n),
                d.format("%H:%M:%S"),
                countdown(secs_to(app.now, d))
            ),
            Some(d) => format!(
                "Next: {}, due since {}: s starts it.",
                a.label(n),
                d.format("%H:%M")
            ),
            None => format!("Next: {}: s starts it.", a.label(n)),
        },
    }
}

pub fn render(frame: &mut Frame, app: &AgendaApp) {
    let theme = Theme::new(app.no_color);
    let plan = &app.agenda.plan;
    let area = frame.area();
    let prompt_h = u16::from(app.mode != Mode::Browse);
    let [head, roles, list, detail_area, next, message, prompt, keys] = Layout::vertical([
        Constraint::Length(1),
        Constraint::Length(1),
        Constraint::Min(3),
        Constraint::Length(2),
        Constraint::Length(2),
        Constraint::Length(1),
        Constraint::Length(prompt_h),
        Constraint::Length(1),
    ])
    .areas(area);

    let head_text = format!(
        " {}{} · now {} local time ({})",
        plan.title,
        plan.date
            .as_deref()
            .map(|d| format!(" · {d}"))
            .unwrap_or_default(),
        app.now.format("%H:%M:%S"),
        zone_label(app.agenda.offset),
    );
    frame.render_widget(Paragraph::new(Line::styled(head_text, theme.title())), head);
    let roles_text = if plan.roles.is_empty() {
        " Roles: none in the plan".to_string()
    } else {
        let r: Vec<String> = plan
            .roles
            .iter()
            .map(|(role, people)| format!("{}: {}", role.replace('_', " "), people.join(", ")))
            .collect();
        format!(" {}", r.join(" · "))
    };
    frame.render_widget(Paragraph::new(Line::styled(roles_text, theme.dim())), roles);

    let label_w = plan
        .agenda
        .iter()
        .map(|i| i.label().chars().count())
        .max()
        .unwrap_or(0)
        .clamp(8, 32);
    let lines: Vec<Line> = plan
        .agenda
        .iter()
        .enumerate()
        .map(|(i, item)| {
            let when = match (&item.at, &item.what) {
                (Some(at), _) => at.clone(),
                (None, _) if i == 0 => "first".into(),
                (None, What::Break { .. }) | (None, _) => "after".into(),
            };
            let mark = if i == app.selected { "▶" } else { " " };
            let lead = format!(
                "{mark}{:>2}  {when:<5}  {:<label_w$}  ",
                i + 1,
                fmt::middle(&item.label(), label_w)
            );
            let style = if i == app.selected {
                theme.selected()
            } else {
                theme.text()
            };
            Line::from(vec![Span::styled(lead, style), status(app, i, &theme)])
        })
        .collect();
    frame.render_widget(
        Paragraph::new(lines).block(Block::bordered().title(format!(
            " Agenda · {} item(s){} ",
            plan.agenda.len(),
            if plan.continue_on_failure {
                " · continue_on_failure"
            } else {
                ""
            }
        ))),
        list,
    );
    frame.render_widget(
        Paragraph::new(Line::styled(format!(" {}", detail(app)), theme.dim()))
            .wrap(Wrap { trim: false }),
        detail_area,
    );
    frame.render_widget(
        Paragraph::new(Line::styled(format!(" {}", next_line(app)), theme.title()))
            .wrap(Wrap { trim: false }),
        next,
    );
    if let Some(m) = &app.message {
        frame.render_widget(
            Paragraph::new(Line::styled(format!(" {m}"), theme.warn())),
            message,
        );
    }
    match &app.mode {
        Mode::SkipWhy(why) => frame.render_widget(
            Paragraph::new(Line::styled(
                format!(
                    " Skip {}: why? {why}▏ (Enter: skip · Esc: keep it)",
                    app.agenda.label(app.selected)
                ),
                theme.button(),
            )),
            prompt,
        ),
        Mode::ConfirmQuit => frame.render_widget(
            Paragraph::new(Line::styled(
                " End the day now? Items not run are journaled as skipped. y: end · n: go on",
                theme.button(),
            )),
            prompt,
        ),
        Mode::Browse => {}
    }
    frame.render_widget(
        Paragraph::new(Line::styled(
            format!(
                " s start next now · x skip · p postpone {} · ↑↓ select · q end the day",
                fmt::duration(crate::scenario::limits::POSTPONE_STEP)
            ),
            theme.dim(),
        )),
        keys,
    );
}
