//! One frame of the dashboard: the tab bar, the current view, the replay timeline, the status
//! bar and the help screen over them. Views draw from analyzer state and the [`App`]; they
//! own no data (what they derive is cached in the app).

pub mod containers;
pub mod findings;
pub mod help;
pub mod lines;
pub mod overview;
pub mod types;

use std::sync::Arc;

use ratatui::Frame;
use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::style::{Color, Modifier, Style};
use ratatui::text::{Line, Span};
use ratatui::widgets::Paragraph;

use super::app::{App, Mode, ViewId};
use super::widgets::{dim, secs};
use crate::analyzer::Analyzer;
use crate::event::Micros;
use crate::units;

/// The replay timeline as the views show it.
#[derive(Debug, Clone, Default)]
pub struct Timeline {
    pub start: Micros,
    pub end: Micros,
    pub cursor: Micros,
    pub playing: bool,
    pub speed: f64,
    pub step: Micros,
    /// The session is still being read (the end is not known yet).
    pub loading: bool,
    /// The state shown is not yet the cursor's (the replay is catching up).
    pub seeking: bool,
    pub censuses: Arc<Vec<Micros>>,
    pub findings: Arc<Vec<Micros>>,
}

/// What the driver tells the views besides analyzer state.
#[derive(Debug, Clone)]
pub struct Ctx {
    pub mode: Mode,
    /// Session time shown: the latest event (live) or the cursor (replay).
    pub now: Micros,
    /// Live: the display is frozen at `now`.
    pub paused: bool,
    /// Left of the status bar: the state of the watch, and its colour.
    pub status: Option<(String, Color)>,
    /// Age of the target when the session started, seconds (live only).
    pub target_age_s: Option<f64>,
    /// The last lines the target wrote (`memwatch run`).
    pub output: Option<Vec<String>>,
    /// The session file.
    pub session: Option<String>,
    pub timeline: Option<Timeline>,
}

impl Ctx {
    pub fn live(now: Micros) -> Ctx {
        Ctx {
            mode: Mode::Live,
            now,
            paused: false,
            status: None,
            target_age_s: None,
            output: None,
            session: None,
            timeline: None,
        }
    }
}

/// Draw the whole dashboard.
pub fn draw(f: &mut Frame, app: &mut App, a: &Analyzer, ctx: &Ctx) {
    let area = f.area();
    if area.width < 40 || area.height < 12 {
        f.render_widget(
            Paragraph::new(format!(
                "memwatch: the terminal is {}×{}; the dashboard needs 40×12 (80×24 or more is best). q quits.",
                area.width, area.height
            ))
            .wrap(ratatui::widgets::Wrap { trim: true }),
            area,
        );
        return;
    }
    app.heap.refresh(a);
    let timeline_rows = if ctx.timeline.is_some() { 2 } else { 0 };
    let [tabs, body, timeline, status] = Layout::vertical([
        Constraint::Length(1),
        Constraint::Min(5),
        Constraint::Length(timeline_rows),
        Constraint::Length(1),
    ])
    .areas(area);
    tab_bar(f, tabs, app, a);
    match app.view {
        ViewId::Overview => overview::draw(f, body, app, a, ctx),
        ViewId::Lines => lines::draw(f, body, app, a, ctx),
        ViewId::Types => types::draw(f, body, app, a, ctx),
        ViewId::Containers => containers::draw(f, body, app, a, ctx),
        ViewId::Findings => findings::draw(f, body, app, a, ctx),
    }
    if let Some(tl) = &ctx.timeline {
        timeline_bar(f, timeline, tl);
    }
    status_bar(f, status, app, ctx);
    if app.help {
        help::draw(f, area, ctx.mode);
    }
}

fn tab_bar(f: &mut Frame, area: Rect, app: &App, a: &Analyzer) {
    let mut spans = vec![Span::styled(
        " memwatch ",
        Style::new()
            .fg(Color::Black)
            .bg(Color::Cyan)
            .add_modifier(Modifier::BOLD),
    )];
    for (i, v) in ViewId::ALL.iter().enumerate() {
        let mut label = format!("{} {}", i + 1, v.title());
        if *v == ViewId::Findings && !a.findings.is_empty() {
            label = format!("{label} ({})", a.findings.len());
        }
        spans.push(Span::raw(" "));
        if *v == app.view {
            spans.push(Span::styled(
                format!("[{label}]"),
                Style::new().add_modifier(Modifier::BOLD | Modifier::REVERSED),
            ));
        } else {
            spans.push(Span::raw(format!(" {label} ")));
        }
    }
    f.render_widget(Line::from(spans), area);
}

fn status_bar(f: &mut Frame, area: Rect, app: &App, ctx: &Ctx) {
    let (text, color) = if app.typing {
        (
            format!("filter: {}▏ (Enter keeps, Esc clears)", app.filter()),
            Color::Cyan,
        )
    } else if ctx.paused {
        (
            format!(
                "❚❚ PAUSED at {} — sampling and recording continue; p resumes",
                units::duration(secs(ctx.now))
            ),
            Color::Yellow,
        )
    } else if let Some((s, c)) = &ctx.status {
        (s.clone(), *c)
    } else {
        match ctx.mode {
            Mode::Live => ("● LIVE".to_string(), Color::Green),
            Mode::Replay => ("REPLAY".to_string(), Color::Cyan),
        }
    };
    let hints: &[&str] = match ctx.mode {
        Mode::Live => &[
            "Tab view  ↑↓ move  Enter open  s sort  / filter  p pause  ? help  q quit",
            "Tab view  Enter open  p pause  ? help  q quit",
            "? help  q quit",
        ],
        Mode::Replay => &[
            "←→ step  space play  Home/End  Tab view  Enter open  ? help  q quit",
            "←→ step  space play  ? help  q quit",
            "? help  q quit",
        ],
    };
    let left = Span::styled(
        format!(" {text} "),
        Style::new()
            .fg(Color::Black)
            .bg(color)
            .add_modifier(Modifier::BOLD),
    );
    let room = (area.width as usize).saturating_sub(left.width() + 1);
    let hints = hints
        .iter()
        .find(|h| h.chars().count() <= room)
        .map(|h| format!("{h:>room$}"))
        .unwrap_or_default();
    f.render_widget(Line::from(vec![left, Span::styled(hints, dim())]), area);
}

fn timeline_bar(f: &mut Frame, area: Rect, tl: &Timeline) {
    let [bar, info] = Layout::vertical([Constraint::Length(1), Constraint::Length(1)]).areas(area);
    let w = (bar.width as usize).saturating_sub(2).max(1);
    let span = tl.end.saturating_sub(tl.start).max(1) as f64;
    let col = |t: Micros| -> usize {
        ((t.saturating_sub(tl.start) as f64 / span) * (w - 1) as f64)
            .round()
            .clamp(0.0, (w - 1) as f64) as usize
    };
    let mut cells: Vec<(char, Style)> = vec![('─', dim()); w];
    let cur = col(tl.cursor);
    for c in cells.iter_mut().take(cur) {
        *c = ('━', Style::new().fg(Color::Cyan));
    }
    for &t in tl.censuses.iter() {
        let i = col(t);
        cells[i].0 = '┴';
    }
    for &t in tl.findings.iter() {
        let i = col(t);
        cells[i] = ('▲', Style::new().fg(Color::Red));
    }
    cells[cur] = (
        '●',
        Style::new().fg(Color::White).add_modifier(Modifier::BOLD),
    );
    let mut spans = vec![Span::styled("├", dim())];
    spans.extend(
        cells
            .into_iter()
            .map(|(c, s)| Span::styled(c.to_string(), s)),
    );
    spans.push(Span::styled("┤", dim()));
    f.render_widget(Line::from(spans), bar);
    let state = if tl.loading {
        "⟳ reading the session…".to_string()
    } else if tl.playing {
        format!("▶ playing {}×", speed_label(tl.speed))
    } else {
        format!("❚❚ paused ({}×)", speed_label(tl.speed))
    };
    let seeking = if tl.seeking && !tl.loading {
        "  (catching up…)"
    } else {
        ""
    };
    let text = format!(
        " {state}  time {} / {}  step {}{seeking}  ┴ census ▲ finding",
        units::duration(secs(tl.cursor.saturating_sub(tl.start))),
        units::duration(secs(tl.end.saturating_sub(tl.start))),
        units::duration(secs(tl.step)),
    );
    f.render_widget(
        Line::from(Span::styled(text, Style::new().fg(Color::Cyan))),
        info,
    );
}

pub fn speed_label(s: f64) -> String {
    if s >= 1.0 {
        format!("{s:.0}")
    } else {
        format!("{s}")
    }
}
