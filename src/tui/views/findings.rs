//! View 5, Findings: every finding, newest first, and the full text of the selected one in the
//! Recommendations Format (the text `memwatch report --format markdown` prints), scrollable.

use ratatui::Frame;
use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::style::{Color, Modifier, Style};
use ratatui::text::{Line, Span};
use ratatui::widgets::{Paragraph, Wrap};

use super::Ctx;
use crate::analyzer::Analyzer;
use crate::findings::Finding;
use crate::tui::app::{App, matches};
use crate::tui::data;
use crate::tui::widgets::{
    dim, focused, panel, sanitize, secs, selected_style, severity_style, truncate,
};
use crate::units;

pub fn draw(f: &mut Frame, area: Rect, app: &mut App, a: &Analyzer, _ctx: &Ctx) {
    let filter = app.findings.filter.clone();
    let list: Vec<&Finding> = data::findings_newest_first(a)
        .into_iter()
        .filter(|fi| matches(&filter, &fi.title) || matches(&filter, &fi.name))
        .collect();
    let sel = app.findings.sel.settle(list.iter().map(|f| f.id.as_str()));
    let (list_area, text_area) = if area.width >= 120 {
        let [l, t] = Layout::horizontal([Constraint::Percentage(38), Constraint::Percentage(62)])
            .areas(area);
        (l, t)
    } else {
        let h = (list.len() as u16 + 2).clamp(3, (area.height / 3).max(4));
        let [l, t] = Layout::vertical([Constraint::Length(h), Constraint::Min(4)]).areas(area);
        (l, t)
    };
    let filter_note = if filter.is_empty() {
        String::new()
    } else {
        format!(" — filter \"{filter}\"")
    };
    let block = focused(
        panel(format!(
            "Findings ({}){filter_note} — newest first; Enter: read",
            list.len()
        )),
        !app.findings.text_focus,
    );
    let inner = block.inner(area.intersection(list_area));
    f.render_widget(block, list_area);
    if list.is_empty() {
        let msg = if a.findings.is_empty() {
            "no finding: nothing grew without bound, no cyclic garbage piling up, no leaked \
             descriptors, no large single allocations — so far"
        } else {
            "no finding matches the filter"
        };
        f.render_widget(
            Paragraph::new(msg).style(dim()).wrap(Wrap { trim: true }),
            inner,
        );
        f.render_widget(panel("Finding"), text_area);
        return;
    }
    let h = inner.height as usize;
    if !app.findings.text_focus {
        app.page = h.max(1);
    }
    let off = app.findings.sel.visible(h);
    let t0 = a.rss.first.map(|p| p.0).unwrap_or(0);
    let lines: Vec<Line> = list
        .iter()
        .enumerate()
        .skip(off)
        .take(h)
        .map(|(i, fi)| {
            let when = format!(
                "{:>6} ",
                units::duration(secs(fi.first_seen.saturating_sub(t0)))
            );
            let sev = format!("[{}] ", fi.severity.label());
            let rest = format!("{} — {}", fi.title, fi.name);
            let room = (inner.width as usize).saturating_sub(when.len() + sev.len());
            let line = Line::from(vec![
                Span::styled(when, dim()),
                Span::styled(sev, severity_style(fi.severity)),
                Span::raw(truncate(&rest, room)),
            ]);
            if Some(i) == sel {
                line.style(selected_style())
            } else {
                line
            }
        })
        .collect();
    f.render_widget(Paragraph::new(lines), inner);
    if let Some(fi) = sel.and_then(|i| list.get(i)) {
        text(f, text_area, app, fi);
    }
}

/// A finding's Recommendations Format text, styled for the terminal.
pub fn styled_text(fi: &Finding) -> Vec<Line<'static>> {
    let mut md = String::new();
    crate::report::markdown::finding(&mut md, fi);
    let mut out = Vec::new();
    let mut in_code = false;
    let code = Style::new().fg(Color::Cyan);
    for raw in md.lines() {
        let l = sanitize(raw);
        if l.starts_with("```") {
            in_code = !in_code;
            continue;
        }
        if in_code {
            out.push(Line::styled(format!("    {l}"), code));
        } else if let Some(h) = l.strip_prefix("## ") {
            out.push(Line::styled(
                h.to_string(),
                severity_style(fi.severity).add_modifier(Modifier::UNDERLINED),
            ));
        } else if let Some(rest) = l.strip_prefix("**") {
            match rest.split_once("**") {
                Some((key, after)) => out.push(Line::from(vec![
                    Span::styled(key.to_string(), Style::new().add_modifier(Modifier::BOLD)),
                    Span::raw(after.replace('`', "")),
                ])),
                None => out.push(Line::from(l.clone())),
            }
        } else {
            out.push(Line::from(l.replace('`', "")));
        }
    }
    out
}

fn text(f: &mut Frame, area: Rect, app: &mut App, fi: &Finding) {
    let block = focused(
        panel(format!(
            "{}: {} — {}",
            fi.severity.label(),
            fi.title,
            if app.findings.text_focus {
                "↑↓ PgUp PgDn scroll, Esc back"
            } else {
                "Enter to scroll"
            }
        )),
        app.findings.text_focus,
    );
    let inner = block.inner(area);
    if app.findings.text_focus {
        app.page = (inner.height as usize).max(1);
    }
    let lines = styled_text(fi);
    // wrapped height is unknown here: allow scrolling to about the end of the text
    let approx: usize = lines
        .iter()
        .map(|l| l.width().max(1).div_ceil(inner.width.max(1) as usize))
        .sum();
    let max = approx.saturating_sub(inner.height as usize / 2) as u16;
    app.findings.scroll = app.findings.scroll.min(max);
    f.render_widget(
        Paragraph::new(lines)
            .block(block)
            .wrap(Wrap { trim: false })
            .scroll((app.findings.scroll, 0)),
        area,
    );
}
