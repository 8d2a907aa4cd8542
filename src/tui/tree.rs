//! The dashboard of a process tree (live and replay): the usual views over one process at a
//! time, and the process list (`w`): every process with its RSS, growth and findings; Enter
//! focuses one, and every view then shows that process.

use std::sync::Mutex;

use crossterm::event::{KeyCode, KeyEvent, KeyModifiers};
use ratatui::Frame;
use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::style::{Color, Modifier, Style};
use ratatui::text::{Line, Span};
use ratatui::widgets::{Clear, Paragraph};

use super::app::{App, Sel};
use super::views::{self, Ctx};
use super::widgets::{dim, panel, sanitize, selected_style, truncate};
use crate::analyzer::Analyzer;
use crate::event::ProcId;
use crate::tree::TreeAnalyzer;
use crate::tree::group::{self, ProcRow};
use crate::units;

/// Which process the views show, and the process list's state.
#[derive(Debug, Clone, Default)]
pub struct Focus {
    pub proc: Option<ProcId>,
    /// The process list is open (it opens by itself at the start).
    pub list_open: bool,
    pub sel: Sel,
}

impl Focus {
    pub fn new() -> Focus {
        Focus {
            proc: None,
            list_open: true,
            sel: Sel::default(),
        }
    }

    /// The process shown: the one chosen, else the first that grew, else the first.
    pub fn shown(&self, t: &TreeAnalyzer) -> Option<ProcId> {
        if let Some(p) = self.proc
            && t.get(p).is_some_and(|v| v.analyzer.is_some())
        {
            return Some(p);
        }
        let rows: Vec<ProcRow> = t
            .procs
            .iter()
            .filter(|p| p.analyzer.is_some())
            .map(group::proc_row)
            .collect();
        rows.iter()
            .find(|r| r.grew)
            .or(rows.first())
            .map(|r| r.proc)
    }

    /// A key for the process list; true if it took it.
    pub fn key(&mut self, k: KeyEvent, t: &TreeAnalyzer) -> bool {
        let toggle = matches!(k.code, KeyCode::Char('w') | KeyCode::Char('0'))
            && !k.modifiers.contains(KeyModifiers::CONTROL);
        if toggle {
            self.list_open = !self.list_open;
            return true;
        }
        if !self.list_open {
            return false;
        }
        let rows = list_rows(t);
        match k.code {
            KeyCode::Up | KeyCode::Char('k') => self.sel.index = self.sel.index.saturating_sub(1),
            KeyCode::Down | KeyCode::Char('j') => {
                self.sel.index = (self.sel.index + 1).min(rows.len().saturating_sub(1))
            }
            KeyCode::Enter => {
                if let Some(r) = rows.get(self.sel.index)
                    && r.not_sampled.is_none()
                {
                    self.proc = Some(r.proc);
                    self.list_open = false;
                }
            }
            KeyCode::Esc | KeyCode::Backspace => self.list_open = false,
            // q and ? go through to the dashboard
            KeyCode::Char('q') | KeyCode::Char('Q') | KeyCode::Char('?') => return false,
            _ => {}
        }
        self.sel.key = rows.get(self.sel.index).map(|r| r.proc.to_string());
        true
    }
}

/// The list's rows: sampled processes first (those with Important findings on top, then those
/// with any, then those that grew: a gunicorn master whose RSS stepped up at start-up comes
/// after the workers that leak), then the listed ones.
pub fn list_rows(t: &TreeAnalyzer) -> Vec<ProcRow> {
    use std::cmp::Reverse;
    let mut rows: Vec<ProcRow> = t.procs.iter().map(group::proc_row).collect();
    rows.sort_by_key(|r| {
        (
            r.not_sampled.is_some(),
            Reverse(r.important),
            Reverse(r.findings),
            !r.grew,
            r.proc,
        )
    });
    rows
}

/// Draw the dashboard of the focused process, and the process list over it when open.
pub fn draw(
    f: &mut Frame,
    app: &mut App,
    t: &TreeAnalyzer,
    focus: &mut Focus,
    mut ctx: Ctx,
    empty: &Analyzer,
) {
    let shown = focus.shown(t);
    let view = shown.and_then(|p| t.get(p));
    let a = view.and_then(|v| v.analyzer.as_ref()).unwrap_or(empty);
    if ctx.status.is_none() {
        let sampled = t.sampled().count();
        ctx.status = Some((
            format!(
                "{} — {} of {} processes sampled — w: processes",
                view.map(|v| v.label())
                    .unwrap_or_else(|| "no process yet".into()),
                sampled,
                t.procs.len()
            ),
            Color::Green,
        ));
    }
    views::draw(f, app, a, &ctx);
    if focus.list_open && !app.help {
        draw_list(f, t, focus, shown);
    }
}

/// The process list over whatever is drawn (also the replay's dashboard).
pub fn draw_list(f: &mut Frame, t: &TreeAnalyzer, focus: &mut Focus, shown: Option<ProcId>) {
    let area = f.area();
    let h = (t.procs.len() as u16 + 5).clamp(6, area.height.saturating_sub(4).max(6));
    let w = area.width.saturating_sub(4).min(120);
    let r = Rect {
        x: area.x + (area.width - w) / 2,
        y: area.y + 2,
        width: w,
        height: h.min(area.height.saturating_sub(2)),
    };
    process_list(f, r, t, focus, shown);
}

fn process_list(
    f: &mut Frame,
    area: Rect,
    t: &TreeAnalyzer,
    focus: &mut Focus,
    shown: Option<ProcId>,
) {
    f.render_widget(Clear, area);
    let block = panel(format!(
        "Processes ({}) — ↑↓ choose, Enter: show in every view, w/Esc: close",
        t.procs.len()
    ));
    let inner = block.inner(area);
    f.render_widget(block, area);
    let rows = list_rows(t);
    focus.sel.index = focus.sel.index.min(rows.len().saturating_sub(1));
    let [head, body] = Layout::vertical([Constraint::Length(1), Constraint::Min(1)]).areas(inner);
    let header = format!(
        "  {:>7} {:>10} {:>11} {:>8} {:<5} Process",
        "PID", "RSS", "Δ/min", "Findings", ""
    );
    f.render_widget(
        Paragraph::new(header).style(Style::new().add_modifier(Modifier::BOLD)),
        head,
    );
    let height = body.height as usize;
    let offset = focus.sel.index.saturating_sub(height.saturating_sub(1));
    let width = body.width as usize;
    let lines: Vec<Line> = rows
        .iter()
        .enumerate()
        .skip(offset)
        .take(height)
        .map(|(i, r)| {
            let mark = if Some(r.proc) == shown { "▶ " } else { "  " };
            let rate = r
                .rss_per_min_bytes
                .map(|v| {
                    format!(
                        "{}{}",
                        if v >= 0.0 { "+" } else { "-" },
                        units::bytes(v.abs())
                    )
                })
                .unwrap_or_else(|| "".into());
            let state = match (&r.not_sampled, r.ended_at_s) {
                (Some(why), _) => format!(" [{why}]"),
                (None, Some(e)) => format!(" [ended {e:.0} s]"),
                _ => String::new(),
            };
            let text = format!(
                "{mark}{:>7} {:>10} {:>11} {:>8} {:<5} {}{}",
                r.pid,
                r.rss_end_bytes
                    .map(|b| units::bytes(b as f64))
                    .unwrap_or_default(),
                rate,
                if r.not_sampled.is_some() {
                    "-".into()
                } else {
                    r.findings.to_string()
                },
                if r.grew { "grew" } else { "" },
                sanitize(&r.label),
                state
            );
            let style = if i == focus.sel.index {
                selected_style()
            } else if r.not_sampled.is_some() {
                dim()
            } else if r.important > 0 {
                Style::new().fg(Color::Red)
            } else {
                Style::new()
            };
            Line::from(Span::styled(truncate(&text, width), style))
        })
        .collect();
    f.render_widget(Paragraph::new(lines), body);
}

/// Lock a shared tree analyzer.
pub fn lock(t: &Mutex<TreeAnalyzer>) -> std::sync::MutexGuard<'_, TreeAnalyzer> {
    crate::tree::watch::lock(t)
}
