//! Small drawing helpers shared by the views: titled blocks, text sparklines, colours for
//! severities and verdicts, figures with their units, truncation.

use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::style::{Color, Modifier, Style};
use ratatui::text::Span;
use ratatui::widgets::{Block, BorderType};

use crate::analyzer::trend::Verdict;
use crate::event::Micros;
use crate::findings::Severity;
use crate::units;

/// A bordered panel with its title.
pub fn panel(title: impl Into<String>) -> Block<'static> {
    Block::bordered()
        .border_type(BorderType::Plain)
        .border_style(Style::new().fg(Color::DarkGray))
        .title(Span::styled(
            format!(" {} ", title.into()),
            Style::new().add_modifier(Modifier::BOLD),
        ))
}

/// A panel drawn as the focus of the keys.
pub fn focused(block: Block<'static>, yes: bool) -> Block<'static> {
    if yes {
        block.border_style(Style::new().fg(Color::Cyan))
    } else {
        block
    }
}

const BARS: [char; 8] = ['▁', '▂', '▃', '▄', '▅', '▆', '▇', '█'];

/// The last `width` values as a text sparkline, scaled between their minimum and maximum.
pub fn spark(values: &[f64], width: usize) -> String {
    let v = &values[values.len().saturating_sub(width)..];
    if v.is_empty() {
        return String::new();
    }
    let lo = v.iter().cloned().fold(f64::INFINITY, f64::min);
    let hi = v.iter().cloned().fold(f64::NEG_INFINITY, f64::max);
    v.iter()
        .map(|x| {
            if hi - lo <= f64::EPSILON {
                BARS[0]
            } else {
                BARS[(((x - lo) / (hi - lo)) * 7.0).round().clamp(0.0, 7.0) as usize]
            }
        })
        .collect()
}

pub fn severity_style(s: Severity) -> Style {
    match s {
        Severity::Important => Style::new().fg(Color::Red).add_modifier(Modifier::BOLD),
        Severity::Suggestion => Style::new().fg(Color::Yellow),
    }
}

pub fn verdict_style(v: Verdict) -> Style {
    match v {
        Verdict::Growing | Verdict::SawtoothGrowing => {
            Style::new().fg(Color::Red).add_modifier(Modifier::BOLD)
        }
        Verdict::Plateau => Style::new().fg(Color::Yellow),
        Verdict::Sawtooth => Style::new().fg(Color::Blue),
        Verdict::Stable => Style::new().fg(Color::Green),
        Verdict::Unknown => Style::new().fg(Color::DarkGray),
    }
}

/// Short verdict labels for narrow columns.
pub fn verdict_label(v: Option<Verdict>) -> &'static str {
    match v {
        None => "—",
        Some(Verdict::Growing) => "growing",
        Some(Verdict::SawtoothGrowing) => "growing~",
        Some(Verdict::Plateau) => "plateau",
        Some(Verdict::Sawtooth) => "sawtooth",
        Some(Verdict::Stable) => "stable",
        Some(Verdict::Unknown) => "too few",
    }
}

/// `12.3k`, `4.1M`, `812`: a count in little room.
pub fn short_count(v: f64) -> String {
    let a = v.abs();
    if a >= 1e6 {
        format!("{:.1}M", v / 1e6)
    } else if a >= 1e4 {
        format!("{:.0}k", v / 1e3)
    } else if a >= 1e3 {
        format!("{:.1}k", v / 1e3)
    } else if a >= 10.0 || a == 0.0 {
        format!("{v:.0}")
    } else {
        format!("{v:.1}")
    }
}

/// A signed count rate: `+1.2k/min`.
pub fn count_rate(per_min: f64) -> String {
    let s = short_count(per_min);
    if per_min > 0.0 && !s.starts_with('+') {
        format!("+{s}/min")
    } else {
        format!("{s}/min")
    }
}

/// A signed byte rate: `+2.0 MiB/min`.
pub fn bytes_rate(per_min: f64) -> String {
    let s = units::bytes(per_min);
    if per_min >= 1.0 {
        format!("+{s}/min")
    } else {
        format!("{s}/min")
    }
}

/// Seconds of session time.
pub fn secs(t: Micros) -> f64 {
    t as f64 / 1e6
}

/// At most `width` characters, with `…` when cut.
pub fn truncate(s: &str, width: usize) -> String {
    if s.chars().count() <= width {
        return s.to_string();
    }
    if width == 0 {
        return String::new();
    }
    let mut out: String = s.chars().take(width - 1).collect();
    out.push('…');
    out
}

/// The last `width` characters, with `…` in front when cut (for paths and qualified names).
pub fn truncate_left(s: &str, width: usize) -> String {
    let n = s.chars().count();
    if n <= width {
        return s.to_string();
    }
    if width == 0 {
        return String::new();
    }
    let tail: String = s.chars().skip(n - (width - 1)).collect();
    format!("…{tail}")
}

/// The width left for the one flexible column of a table `total` wide whose other columns
/// are `fixed` wide, one space apart.
pub fn flex_width(total: u16, fixed: &[u16]) -> u16 {
    total
        .saturating_sub(fixed.iter().sum::<u16>())
        .saturating_sub(fixed.len() as u16)
        .max(8)
}

/// The file name of a path.
pub fn short_file(path: &str) -> &str {
    path.rsplit('/').next().unwrap_or(path)
}

/// Text from outside (the target's output, source lines) without control characters that
/// would move the cursor.
pub fn sanitize(s: &str) -> String {
    s.chars()
        .map(|c| if c == '\t' { ' ' } else { c })
        .filter(|c| !c.is_control())
        .collect()
}

/// A rectangle of `w`×`h` centred in `area` (clipped to it).
/// A list and its opened detail panel: side by side on wide terminals (the list taking
/// `list_pct` percent), else the list above the detail; the whole area when nothing is open.
pub fn split_detail(area: Rect, open: bool, list_pct: u16) -> (Rect, Option<Rect>) {
    if !open {
        return (area, None);
    }
    let [t, d] = if area.width >= 120 {
        Layout::horizontal([
            Constraint::Percentage(list_pct),
            Constraint::Percentage(100 - list_pct.min(100)),
        ])
        .areas(area)
    } else {
        Layout::vertical([Constraint::Percentage(40), Constraint::Percentage(60)]).areas(area)
    };
    (t, Some(d))
}

pub fn centered(area: Rect, w: u16, h: u16) -> Rect {
    let w = w.min(area.width);
    let h = h.min(area.height);
    Rect {
        x: area.x + (area.width - w) / 2,
        y: area.y + (area.height - h) / 2,
        width: w,
        height: h,
    }
}

pub fn dim() -> Style {
    Style::new().fg(Color::DarkGray)
}

pub fn header_style() -> Style {
    Style::new()
        .add_modifier(Modifier::BOLD)
        .fg(Color::White)
        .bg(Color::DarkGray)
}

pub fn selected_style() -> Style {
    Style::new().add_modifier(Modifier::REVERSED)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sparklines_and_figures() {
        assert_eq!(spark(&[1.0, 2.0, 3.0], 8), "▁▅█");
        assert_eq!(spark(&[5.0, 5.0], 8), "▁▁");
        assert_eq!(spark(&[0.0, 1.0, 2.0, 3.0], 2), "▁█");
        assert_eq!(count_rate(1234.0), "+1.2k/min");
        assert_eq!(count_rate(-50.0), "-50/min");
        assert_eq!(truncate("abcdef", 4), "abc…");
        assert_eq!(truncate_left("abcdef", 4), "…def");
        assert_eq!(sanitize("a\tb\x1b[2Jc"), "a b[2Jc");
    }
}
