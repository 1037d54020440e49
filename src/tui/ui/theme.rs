//! Colours, or none: with NO_COLOR set every style falls back to bold / reverse / plain.

use ratatui::style::{Color, Modifier, Style};

#[derive(Debug, Clone, Copy)]
pub struct Theme {
    pub color: bool,
}

impl Theme {
    pub fn new(no_color: bool) -> Theme {
        Theme { color: !no_color }
    }

    fn pick(&self, colored: Style, plain: Style) -> Style {
        if self.color { colored } else { plain }
    }

    pub fn text(&self) -> Style {
        Style::default()
    }

    pub fn dim(&self) -> Style {
        self.pick(Style::default().fg(Color::DarkGray), Style::default())
    }

    pub fn title(&self) -> Style {
        Style::default().add_modifier(Modifier::BOLD)
    }

    pub fn ok(&self) -> Style {
        self.pick(Style::default().fg(Color::Green), Style::default())
    }

    pub fn warn(&self) -> Style {
        self.pick(
            Style::default()
                .fg(Color::Yellow)
                .add_modifier(Modifier::BOLD),
            Style::default().add_modifier(Modifier::BOLD),
        )
    }

    pub fn bad(&self) -> Style {
        self.pick(
            Style::default().fg(Color::Red).add_modifier(Modifier::BOLD),
            Style::default().add_modifier(Modifier::BOLD | Modifier::UNDERLINED),
        )
    }

    pub fn selected(&self) -> Style {
        self.pick(
            Style::default().bg(Color::Blue).fg(Color::White),
            Style::default().add_modifier(Modifier::REVERSED),
        )
    }

    pub fn button(&self) -> Style {
        self.pick(
            Style::default()
                .bg(Color::Red)
                .fg(Color::White)
                .add_modifier(Modifier::BOLD),
            Style::default().add_modifier(Modifier::REVERSED | Modifier::BOLD),
        )
    }

    /// The verdict banner: green when the hypothesis held, red otherwise.
    pub fn verdict(&self, held: bool) -> Style {
        let bg = if held { Color::Green } else { Color::Red };
        self.pick(
            Style::default()
                .bg(bg)
                .fg(Color::Black)
                .add_modifier(Modifier::BOLD),
            Style::default().add_modifier(Modifier::REVERSED | Modifier::BOLD),
        )
    }

    /// The border of the pane the arrow keys act on (drawn thick too, so it shows without colour).
    pub fn focus(&self) -> Style {
        self.pick(
            Style::default()
                .fg(Color::Cyan)
                .add_modifier(Modifier::BOLD),
            Style::default().add_modifier(Modifier::BOLD),
        )
    }

    /// A fault window's mark on a chart's time axis.
    pub fn fault_window(&self) -> Style {
        self.pick(Style::default().fg(Color::Yellow), Style::default())
    }

    pub fn series(&self) -> Style {
        self.pick(Style::default().fg(Color::Cyan), Style::default())
    }

    pub fn threshold(&self) -> Style {
        self.pick(Style::default().fg(Color::Red), Style::default())
    }

    /// Background of a fault window on a chart.
    pub fn shade(&self) -> Option<Color> {
        self.color.then_some(Color::Indexed(236))
    }
}

#[cfg(test)]
mod tests {
    use super::Theme;

    #[test]
    fn no_color_uses_no_colour_at_all() {
        let t = Theme::new(true);
        for s in [
            t.text(),
            t.dim(),
            t.title(),
            t.ok(),
            t.warn(),
            t.bad(),
            t.selected(),
            t.button(),
            t.verdict(true),
            t.verdict(false),
            t.series(),
            t.threshold(),
            t.focus(),
            t.fault_window(),
        ] {
            assert!(s.fg.is_none() && s.bg.is_none(), "{s:?}");
        }
        assert!(t.shade().is_none());
        assert!(Theme::new(false).bad().fg.is_some());
    }
}
