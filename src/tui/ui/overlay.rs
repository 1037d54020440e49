//! Things drawn over a screen: the help, the quit confirmation, the runbook pane, the text field.

use ratatui::Frame;
use ratatui::layout::{Constraint, Flex, Layout, Rect};
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Clear, Paragraph, Wrap};

use super::theme::Theme;
use crate::event::NoteKind;
use crate::tui::app::{App, Field, Overlay, Pending};
use crate::tui::keys::{Ctx, help_for};

fn centered(area: Rect, w: u16, h: u16) -> Rect {
    let [v] = Layout::vertical([Constraint::Length(h.min(area.height))])
        .flex(Flex::Center)
        .areas(area);
    let [r] = Layout::horizontal([Constraint::Length(w.min(area.width))])
        .flex(Flex::Center)
        .areas(v);
    r
}

pub fn render(frame: &mut Frame, area: Rect, app: &App, theme: &Theme) {
    match app.overlay {
        Overlay::None => {}
        Overlay::Help => help(frame, area, app, theme),
        Overlay::Detail(d) => super::detail::render(frame, area, app, theme, d),
        Overlay::Checks => checks(frame, area, app, theme),
        Overlay::Notes => notes(frame, area, app, theme),
        Overlay::Unverified => unverified(frame, area, app, theme),
        Overlay::ConfirmQuit => {
            let live = app.run.live_faults();
            let first = match live {
                0 => "No fault is live: quitting halts the run first.".to_string(),
                1 => "1 fault is live: quitting rolls it back first.".to_string(),
                n => format!("{n} faults are live: quitting rolls them back first."),
            };
            let text = vec![
                Line::styled(first, theme.title()),
                Line::raw("y: halt, roll every fault back, then quit"),
                Line::raw("n / Esc: stay"),
            ];
            dialog(frame, area, " Quit? ", text, theme);
        }
        Overlay::Confirm(p) => {
            let (title, text) = confirm_text(app, p);
            let mut lines: Vec<Line> = text
                .into_iter()
                .map(|(t, bold)| {
                    if bold {
                        Line::styled(t, theme.title())
                    } else {
                        Line::raw(t)
                    }
                })
                .collect();
            lines.push(Line::raw("y: yes · n / Esc: no"));
            dialog(frame, area, title, lines, theme);
        }
        Overlay::Runbook => {
            let r = centered(
                area,
                area.width.saturating_sub(8).max(20),
                area.height.saturating_sub(4).max(5),
            );
            frame.render_widget(Clear, r);
            let (text, style) = match &app.runbook {
                Some(Ok(t)) => (t.as_str(), theme.text()),
                Some(Err(e)) => (e.as_str(), theme.bad()),
                None => ("loading…", theme.dim()),
            };
            frame.render_widget(
                Paragraph::new(text)
                    .style(style)
                    .wrap(Wrap { trim: false })
                    .scroll((app.scroll.min(u16::MAX as usize) as u16, 0))
                    .block(Block::bordered().title(" Runbook (↑↓ scroll · Esc close) ")),
                r,
            );
        }
    }
    if let Some(f) = &app.field {
        let r = Rect {
            x: area.x,
            y: area.bottom().saturating_sub(3),
            width: area.width,
            height: 3.min(area.height),
        };
        frame.render_widget(Clear, r);
        let title = match f.field {
            Field::Note {
                kind: NoteKind::ActionItem,
            } => format!(
                " Action item as {} (@owner due:YYYY-MM-DD) · Tab kind · Enter save ",
                app.role.name()
            ),
            Field::Note { kind } => format!(
                " {} as {} · Tab kind · Shift-Tab role · Enter save · Esc cancel ",
                capitalized(kind.label()),
                app.role.name()
            ),
            Field::EditNote { seq, kind } => format!(
                " Edit note #{seq} as {}: {} · Tab kind · Enter save · Esc cancel ",
                app.role.name(),
                kind.label()
            ),
            Field::CheckFailed { .. } => format!(
                " Check FAILED: type why (sent as {}) · Enter send · Esc cancel ",
                app.role.name()
            ),
            Field::OverrideReason => {
                " Unchecked items: type why you start anyway (journaled) ".into()
            }
            Field::LiveOverride => {
                " Live checks FAILED: type why you start anyway (journaled) · Esc wait · Ctrl-X abort "
                    .into()
            }
        };
        let inner_w = r.width.saturating_sub(2) as usize;
        let scroll = f.input.visual_scroll(inner_w.saturating_sub(1));
        frame.render_widget(
            Paragraph::new(f.input.value())
                .scroll((0, scroll as u16))
                .block(Block::bordered().title(title).border_style(theme.warn())),
            r,
        );
        let x = (f.input.visual_cursor().saturating_sub(scroll)) as u16;
        frame.set_cursor_position((r.x + 1 + x.min(r.width.saturating_sub(3)), r.y + 1));
    }
}

fn capitalized(s: &str) -> String {
    let mut c = s.chars();
    c.next()
        .map(|f| f.to_uppercase().chain(c).collect())
        .unwrap_or_default()
}

/// The human checks still open, the selected one marked; `p` / `f` decide it.
fn checks(frame: &mut Frame, area: Rect, app: &App, theme: &Theme) {
    let list = app.check_list();
    let mut lines = vec![Line::styled(
        format!("Ticked as {}; the first tick decides.", app.role.name()),
        theme.dim(),
    )];
    for (i, c) in list.iter().enumerate() {
        let selected = i == app.check_selected.min(list.len().saturating_sub(1));
        let mut spans = vec![
            Span::raw(if selected { "▶ " } else { "  " }),
            Span::styled(
                format!("Step {}: {}", c.step + 1, c.label),
                if selected {
                    theme.selected()
                } else {
                    theme.text()
                },
            ),
        ];
        if let Some(b) = &c.check_by {
            spans.push(Span::styled(format!(" (by {b})"), theme.dim()));
        }
        if app.check_sent(c) {
            spans.push(Span::styled("  sent, waiting for the engine", theme.warn()));
        }
        lines.push(Line::from(spans));
    }
    let r = centered(
        area,
        area.width.saturating_sub(8).clamp(20, 90),
        lines.len() as u16 + 2,
    );
    frame.render_widget(Clear, r);
    frame.render_widget(
        Paragraph::new(lines).wrap(Wrap { trim: false }).block(
            Block::bordered()
                .title(" Human checks (↑↓ · p passed · f failed · Esc close) ")
                .border_style(theme.warn()),
        ),
        r,
    );
}

/// The fault rows not verified rolled back, worst first, the selected one marked; the rows
/// around the selection that fit.
fn unverified(frame: &mut Frame, area: Rect, app: &App, theme: &Theme) {
    use crate::event::RollbackStatus;
    use crate::fold::FaultState;
    let list = app.unverified_list();
    let total = app
        .run
        .faults
        .iter()
        .filter(|f| matches!(f.state, FaultState::RollingBack | FaultState::Done(_)))
        .count();
    let selected = app.unverified_selected.min(list.len().saturating_sub(1));
    let rows = area.height.saturating_sub(6).max(1) as usize;
    let first = selected.saturating_sub(rows.saturating_sub(1));
    let mut lines = vec![Line::styled(
        format!(
            "{} of {total} not verified · Enter: its commands and manual command",
            list.len()
        ),
        theme.dim(),
    )];
    for (i, &index) in list.iter().enumerate().skip(first).take(rows) {
        let Some(f) = app.run.faults.get(index) else {
            continue;
        };
        let style = match f.state {
            FaultState::Done(RollbackStatus::Failed | RollbackStatus::Unknown) => theme.bad(),
            _ => theme.warn(),
        };
        lines.push(Line::from(vec![
            Span::raw(if i == selected { "▶ " } else { "  " }),
            Span::styled(format!("{:<12} ", f.state.label()), style),
            Span::styled(
                format!("{} on {}", f.fault, f.host_label()),
                if i == selected {
                    theme.selected()
                } else {
                    theme.text()
                },
            ),
        ]));
    }
    let width = area.width.saturating_sub(8).clamp(20, 100);
    let r = centered(area, width, lines.len() as u16 + 2);
    frame.render_widget(Clear, r);
    frame.render_widget(
        Paragraph::new(lines).block(
            Block::bordered()
                .title(" Not verified (↑↓ · Enter details · Esc close) ")
                .border_style(theme.bad()),
        ),
        r,
    );
}

/// The run's notes, the selected one marked; Enter opens it for editing.
fn notes(frame: &mut Frame, area: Rect, app: &App, theme: &Theme) {
    let list = app.note_list();
    let width = area.width.saturating_sub(8).clamp(20, 100);
    let mut lines = vec![Line::styled(
        format!(
            "Edited as {}; the journal keeps what each note said before.",
            app.role.name()
        ),
        theme.dim(),
    )];
    let selected = app.note_selected.min(list.len().saturating_sub(1));
    // Only the rows around the selection that fit: a long run has more notes than lines.
    let rows = area.height.saturating_sub(5).max(1) as usize;
    let first = selected.saturating_sub(rows.saturating_sub(1));
    for (i, n) in list.iter().enumerate().skip(first).take(rows) {
        let mut spans = vec![
            Span::raw(if i == selected { "▶ " } else { "  " }),
            Span::styled(format!("{:<11} ", n.kind.label()), theme.dim()),
            Span::styled(
                format!("[{}] {}", n.role, n.text),
                if i == selected {
                    theme.selected()
                } else {
                    theme.text()
                },
            ),
        ];
        if let Some(o) = &n.owner {
            spans.push(Span::styled(format!(" @{o}"), theme.dim()));
        }
        if !n.edits.is_empty() {
            spans.push(Span::styled(" (edited)", theme.dim()));
        }
        lines.push(Line::from(spans));
    }
    let r = centered(area, width, lines.len() as u16 + 2);
    frame.render_widget(Clear, r);
    frame.render_widget(
        Paragraph::new(lines).block(
            Block::bordered()
                .title(" Notes (↑↓ · Enter edit · Esc close) ")
                .border_style(theme.warn()),
        ),
        r,
    );
}

fn dialog(frame: &mut Frame, area: Rect, title: &str, text: Vec<Line>, theme: &Theme) {
    let r = centered(area, 64, text.len() as u16 + 3);
    frame.render_widget(Clear, r);
    frame.render_widget(
        Paragraph::new(text)
            .wrap(Wrap { trim: true })
            .block(Block::bordered().title(title).border_style(theme.bad())),
        r,
    );
}

/// The question for a pending command: its title and lines (bold or not).
fn confirm_text(app: &App, p: Pending) -> (&'static str, Vec<(String, bool)>) {
    let run = &app.run;
    match p {
        Pending::Milestone(kind) => (
            " Mark a milestone? ",
            vec![
                (
                    format!(
                        "No fault has been injected yet: {} would be journaled but not counted.",
                        crate::fold::describe::milestone_name(kind)
                    ),
                    true,
                ),
                (
                    "Time to detect / mitigate count from the first fault.".into(),
                    false,
                ),
            ],
        ),
        Pending::Advance => {
            let scenario = app.scenario.as_deref();
            let now = run.step.as_ref().map(|s| s.index).unwrap_or(0);
            let next = scenario.and_then(|s| s.steps.get(now + 1).map(|st| (now + 1, st)));
            let lines = match (next, scenario) {
                (Some((i, st)), Some(s)) => {
                    let n = st.faults.len();
                    vec![
                        (
                            format!(
                                "End this step now and start step {}/{} \"{}\"?",
                                i + 1,
                                s.steps.len(),
                                st.name
                            ),
                            true,
                        ),
                        (
                            match n {
                                0 => "It injects no fault.".to_string(),
                                1 => "It injects 1 fault.".to_string(),
                                n => format!("It injects {n} faults."),
                            },
                            false,
                        ),
                    ]
                }
                _ => vec![(
                    "End the last step now? The steady-state check after the steps follows.".into(),
                    true,
                )],
            };
            (" Next step? ", lines)
        }
        Pending::Retract { seq } => {
            let what = run
                .last_retractable()
                .filter(|(s, _)| *s == seq)
                .map(|(_, w)| w)
                .unwrap_or_else(|| format!("record #{seq}"));
            (
                " Undo? ",
                vec![
                    (format!("Retract the {what}?"), true),
                    (
                        "It stays in the journal, marked retracted, and no longer counts.".into(),
                        false,
                    ),
                ],
            )
        }
    }
}

fn help(frame: &mut Frame, area: Rect, app: &App, theme: &Theme) {
    let r = centered(area, 76, area.height.saturating_sub(2).max(5));
    frame.render_widget(Clear, r);
    let screen = match app.ctx() {
        Ctx::Typing | Ctx::Confirm | Ctx::Any => Ctx::Run,
        c => c,
    };
    let mut lines: Vec<Line> = vec![Line::styled(
        format!("Keys on the {} screen", screen.title()),
        theme.title(),
    )];
    let mut group = None;
    for (g, b) in help_for(screen, app.replay.is_some()) {
        if group != Some(g) {
            group = Some(g);
            lines.push(Line::styled(format!("  {}", g.title()), theme.dim()));
        }
        lines.push(Line::from(vec![
            Span::styled(format!("{:>14}  ", b.keys), theme.title()),
            Span::raw(b.help),
        ]));
    }
    frame.render_widget(
        Paragraph::new(lines)
            .scroll((app.scroll.min(u16::MAX as usize) as u16, 0))
            .block(Block::bordered().title(" Keys (↑↓ scroll · ? or Esc close) ")),
        r,
    );
}
