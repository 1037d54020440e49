//! Rendering: free functions of `&App`, one file per screen region. Nothing here reads a clock or
//! a file: time is `app.now`, so a frame is a pure function of the state.

mod activities;
pub mod agenda;
mod alert;
mod button;
mod debrief;
mod detail;
mod faults;
mod footer;
mod header;
mod metrics;
mod overlay;
mod picker;
mod preflight;
mod results;
mod review;
mod steps;
pub mod theme;
mod timeline;

use chrono::{DateTime, Utc};
use ratatui::Frame;
use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::widgets::{Block, BorderType};

use super::app::{App, Pane, Screen};
use theme::Theme;

pub fn render(frame: &mut Frame, app: &App) {
    let theme = Theme::new(app.no_color);
    let area = frame.area();
    // A rule counting down to an auto-abort takes the top line, on every screen.
    let alert = alert::text(app);
    let [alert_area, screen_area] = Layout::vertical([
        Constraint::Length(alert.is_some() as u16),
        Constraint::Min(0),
    ])
    .areas(area);
    let [body, footer_area] =
        Layout::vertical([Constraint::Min(1), Constraint::Length(1)]).areas(screen_area);
    match app.screen {
        Screen::Picker => picker::render(frame, body, app, &theme),
        Screen::Preflight => preflight::render(frame, body, app, &theme),
        Screen::Run => render_run(frame, body, app, &theme),
        Screen::Debrief => debrief::render(frame, body, app, &theme),
        Screen::Review => review::render(frame, body, app, &theme),
    }
    footer::render(frame, footer_area, app, &theme);
    overlay::render(frame, area, app, &theme);
    // Last: nothing drawn over the screen hides the countdown.
    if let Some(text) = &alert {
        alert::render(frame, alert_area, text, &theme);
    }
}

/// The countdown line shown on top while an abort rule breaches (see `alert`).
pub fn alert_text(app: &App) -> Option<String> {
    alert::text(app)
}

/// The main screen: header, big red button, steps + metric panels, faults + timeline.
fn render_run(frame: &mut Frame, area: Rect, app: &App, theme: &Theme) {
    let button_h = if app.run.halt.is_some() { 3 } else { 1 } + app.run.verdict.is_some() as u16;
    let [head, button_area, middle, bottom] = Layout::vertical([
        Constraint::Length(1),
        Constraint::Length(button_h),
        Constraint::Fill(3),
        Constraint::Fill(2),
    ])
    .areas(area);
    header::render(frame, head, app, theme);
    button::render(frame, button_area, app, theme);
    let steps_w = (middle.width / 4).clamp(18, 40);
    let [steps_area, metrics_area] =
        Layout::horizontal([Constraint::Length(steps_w), Constraint::Min(10)]).areas(middle);
    steps::render(frame, steps_area, app, theme);
    // A Chaos Toolkit run has no metrics: its activities take their place.
    if app.run.is_ctk() {
        activities::render(frame, metrics_area, app, theme);
    } else {
        metrics::render(frame, metrics_area, app, theme);
    }
    let [faults_area, timeline_area] =
        Layout::horizontal([Constraint::Percentage(40), Constraint::Percentage(60)]).areas(bottom);
    faults::render(frame, faults_area, app, theme);
    timeline::render(frame, timeline_area, app, theme);
}

/// A pane's bordered block; the focused one (the pane `Tab` gave the arrow keys) is drawn thick.
pub fn pane_block<'a>(app: &App, pane: Pane, theme: &Theme) -> Block<'a> {
    focus_block(app.focus == pane, theme)
}

pub fn focus_block<'a>(focused: bool, theme: &Theme) -> Block<'a> {
    let block = Block::bordered();
    if focused {
        block
            .border_type(BorderType::Thick)
            .border_style(theme.focus())
    } else {
        block
    }
}

/// Whole seconds from `a` to `b`, rounding up so a countdown never shows 0 before it is due.
pub fn secs_until(a: DateTime<Utc>, b: DateTime<Utc>) -> i64 {
    let ms = (b - a).num_milliseconds();
    if ms <= 0 { 0 } else { (ms + 999) / 1000 }
}

pub fn secs_since(a: DateTime<Utc>, b: DateTime<Utc>) -> i64 {
    (b - a).num_milliseconds().max(0) / 1000
}
