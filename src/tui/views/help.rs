//! The help screen (`?`): every key, over the current view.

use ratatui::Frame;
use ratatui::layout::Rect;
use ratatui::style::{Color, Modifier, Style};
use ratatui::text::{Line, Span};
use ratatui::widgets::{Clear, Paragraph};

use crate::tui::app::Mode;
use crate::tui::input::HELP;
use crate::tui::widgets::{centered, dim, panel};

pub fn draw(f: &mut Frame, area: Rect, mode: Mode) {
    let key = Style::new().fg(Color::Cyan).add_modifier(Modifier::BOLD);
    let mut lines: Vec<Line> = Vec::new();
    let mut replay_header = false;
    for (keys, what, replay_only) in HELP {
        if *replay_only && !replay_header {
            replay_header = true;
            lines.push(Line::styled(
                if mode == Mode::Replay {
                    "Timeline"
                } else {
                    "Timeline (memwatch replay FILE only)"
                },
                Style::new().add_modifier(Modifier::BOLD),
            ));
        }
        let style = if *replay_only && mode != Mode::Replay {
            dim()
        } else {
            Style::new()
        };
        lines.push(Line::from(vec![
            Span::styled(format!(" {keys:<16}"), key),
            Span::styled(what.to_string(), style),
        ]));
    }
    lines.push(Line::styled(
        " Figures are sampled: sizes in KiB/MiB, rates per minute, times in s.",
        dim(),
    ));
    lines.push(Line::styled(
        " Verdicts rest on the census history (\"too few\": not enough censuses yet).",
        dim(),
    ));
    let w = lines.iter().map(|l| l.width()).max().unwrap_or(40) as u16 + 2;
    let h = lines.len() as u16 + 2;
    let r = centered(area, w, h);
    f.render_widget(Clear, r);
    f.render_widget(
        Paragraph::new(lines).block(panel("Help: keys (? or Esc closes)")),
        r,
    );
}
