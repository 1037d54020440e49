//! The abort countdown, on the top line of every screen while a rule breaches: the rule nearest to
//! tripping, countdown first, so a narrow terminal cuts the tail and never the countdown. Drawn
//! last, over any overlay.

use ratatui::Frame;
use ratatui::layout::Rect;
use ratatui::text::{Line, Span};
use ratatui::widgets::Paragraph;

use super::theme::Theme;
use crate::fold::{Countdown, RuleState};
use crate::tui::app::App;

/// The countdown line, or `None` when no rule is counting down (none breaching, or already halted).
pub fn text(app: &App) -> Option<String> {
    let run = &app.run;
    if run.halt.is_some() || run.ended {
        return None;
    }
    let scenario = app.scenario.as_ref()?;
    let mut breaching: Vec<(Countdown, &str, chrono::DateTime<chrono::Utc>)> = run
        .rules
        .iter()
        .filter_map(|(i, st)| match st {
            RuleState::Breaching { deadline } => {
                let rule = scenario.abort.get(*i)?;
                Some((
                    Countdown::at(*deadline, rule.sustained, app.now),
                    rule.label.as_str(),
                    *deadline,
                ))
            }
            _ => None,
        })
        .collect();
    breaching.sort_by_key(|(_, label, deadline)| (*deadline, *label));
    let (c, label, _) = breaching.first()?;
    let mut s = format!(
        "▲ AUTO-ABORT IN {} s — {label}, {} of {} s",
        c.left, c.held, c.of
    );
    if breaching.len() > 1 {
        s.push_str(&format!(" (+{} more breaching)", breaching.len() - 1));
    }
    Some(s)
}

pub fn render(frame: &mut Frame, area: Rect, text: &str, theme: &Theme) {
    let line = Line::from(Span::styled(
        format!(" {text:<w$}", w = (area.width as usize).saturating_sub(1)),
        theme.button(),
    ));
    frame.render_widget(Paragraph::new(line), area);
}
