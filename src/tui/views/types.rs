//! View 3, Types: the latest census by type (objects, bytes, change per minute, trend
//! verdict), sortable and filterable; Enter opens why the selected type's objects are alive
//! (back-reference chains) and the cycle patterns it is part of.

use ratatui::Frame;
use ratatui::layout::{Constraint, Rect};
use ratatui::style::{Color, Modifier, Style};
use ratatui::text::{Line, Span};
use ratatui::widgets::{Cell, Paragraph, Row, Table, Wrap};

use super::Ctx;
use crate::analyzer::Analyzer;
use crate::tui::app::{App, TypeSort, matches};
use crate::tui::data::TypeInfo;
use crate::tui::widgets::{
    bytes_rate, count_rate, dim, flex_width, focused, header_style, panel, selected_style,
    severity_style, spark, split_detail, truncate_left, verdict_label, verdict_style,
};
use crate::units;

fn sorted<'a>(app: &App, rows: &'a [TypeInfo]) -> Vec<&'a TypeInfo> {
    let st = &app.types;
    let mut v: Vec<&TypeInfo> = rows
        .iter()
        .filter(|t| matches(&st.filter, &t.name))
        .collect();
    v.sort_by(|x, y| {
        let o = match st.sort {
            TypeSort::Bytes => x.bytes.cmp(&y.bytes),
            TypeSort::Count => x.count.cmp(&y.count),
            TypeSort::Growth => x
                .bytes_per_min
                .total_cmp(&y.bytes_per_min)
                .then(x.count_per_min.total_cmp(&y.count_per_min)),
            TypeSort::Name => x.name.cmp(&y.name),
        };
        let o = if st.ascending { o } else { o.reverse() };
        o.then(x.name.cmp(&y.name))
    });
    v
}

fn arrow(app: &App, col: TypeSort) -> &'static str {
    if app.types.sort != col {
        ""
    } else if app.types.ascending {
        " ▲"
    } else {
        " ▼"
    }
}

pub fn draw(f: &mut Frame, area: Rect, app: &mut App, a: &Analyzer, _ctx: &Ctx) {
    let cache = app.heap.types.clone();
    let rows = sorted(app, &cache);
    let sel = app.types.sel.settle(rows.iter().map(|t| t.name.as_str()));
    let (table_area, detail_area) = split_detail(area, app.types.detail, 50);
    table(f, table_area, app, a, &rows, sel);
    if let Some(d) = detail_area {
        match sel.and_then(|i| rows.get(i)) {
            Some(t) => detail(f, d, app, a, t),
            None => f.render_widget(panel("Why alive"), d),
        }
    }
}

fn table(
    f: &mut Frame,
    area: Rect,
    app: &mut App,
    a: &Analyzer,
    rows: &[&TypeInfo],
    sel: Option<usize>,
) {
    let census = match a.heap.last.as_ref() {
        Some(c) => format!(
            "census #{} at {}",
            a.heap.censuses,
            units::duration(c.t as f64 / 1e6)
        ),
        None => "no census yet".into(),
    };
    let filter = if app.types.filter.is_empty() {
        String::new()
    } else {
        format!(" — filter \"{}\"", app.types.filter)
    };
    let block = focused(
        panel(format!(
            "Types ({} of {}), {census}{filter} — s sort, Enter: why alive",
            rows.len(),
            app.heap.types.len()
        )),
        !app.types.detail,
    );
    let inner = block.inner(area);
    f.render_widget(block, area);
    if app.heap.types.is_empty() {
        f.render_widget(
            Paragraph::new("no heap census yet (memwatch takes one every few seconds; --no-heap turns them off)")
                .style(dim())
                .wrap(Wrap { trim: true }),
            inner,
        );
        return;
    }
    let h = (inner.height as usize).saturating_sub(1);
    app.page = h.max(1);
    let off = app.types.sel.visible(h);
    let wide = inner.width >= 100;
    let fixed: &[u16] = if wide {
        &[11, 11, 11, 14, 8, 20]
    } else {
        &[11, 11, 11, 14, 8]
    };
    let name_w = flex_width(inner.width, fixed);
    let body: Vec<Row> = rows
        .iter()
        .enumerate()
        .skip(off)
        .take(h)
        .map(|(i, t)| {
            let verdict = t.trend.as_ref().map(|t| t.verdict);
            let mut cells = vec![
                Cell::from(truncate_left(&t.name, name_w as usize)),
                Cell::from(format!("{:>11}", units::count(t.count))),
                Cell::from(format!(
                    "{:>10}{}",
                    units::bytes(t.bytes as f64),
                    if t.size_exact { " " } else { "~" }
                )),
                Cell::from(format!("{:>11}", count_rate(t.count_per_min))),
                Cell::from(format!("{:>14}", bytes_rate(t.bytes_per_min))),
                Cell::from(verdict_label(verdict)).style(verdict.map_or(dim(), verdict_style)),
            ];
            if wide {
                cells.push(Cell::from(spark(&t.history, 20)).style(Style::new().fg(Color::Cyan)));
            }
            let row = Row::new(cells);
            if Some(i) == sel {
                row.style(selected_style())
            } else {
                row
            }
        })
        .collect();
    let mut widths = vec![
        Constraint::Length(name_w),
        Constraint::Length(11),
        Constraint::Length(11),
        Constraint::Length(11),
        Constraint::Length(14),
        Constraint::Length(8),
    ];
    let mut header = vec![
        format!("Type{}", arrow(app, TypeSort::Name)),
        format!("{:>11}", format!("Objects{}", arrow(app, TypeSort::Count))),
        format!("{:>11}", format!("Bytes{}", arrow(app, TypeSort::Bytes))),
        format!("{:>11}", "Δ objs/min"),
        format!(
            "{:>14}",
            format!("Δ bytes/min{}", arrow(app, TypeSort::Growth))
        ),
        "Verdict".to_string(),
    ];
    if wide {
        widths.push(Constraint::Length(20));
        header.push("History (objects)".into());
    }
    let table = Table::new(body, widths)
        .header(Row::new(header).style(header_style()))
        .column_spacing(1);
    f.render_widget(table, inner);
}

fn short(name: &str) -> &str {
    name.rsplit('.').next().unwrap_or(name)
}

fn detail(f: &mut Frame, area: Rect, app: &mut App, a: &Analyzer, t: &TypeInfo) {
    let block = focused(
        panel(format!("Why alive: {} — Esc back, ↑↓ scroll", t.name)),
        true,
    );
    let mut lines: Vec<Line> = Vec::new();
    let bold = Style::new().add_modifier(Modifier::BOLD);
    lines.push(Line::from(format!(
        "{} objects now ({} at the first census); {}{} ({} at the first census)",
        units::count(t.count),
        units::count(t.first_count),
        units::bytes(t.bytes as f64),
        if t.size_exact { "" } else { " (lower bound)" },
        units::bytes(t.first_bytes as f64)
    )));
    match &t.trend {
        Some(tr) => lines.push(Line::from(vec![
            Span::raw(format!(
                "Δ {} objects, {}; verdict ",
                count_rate(t.count_per_min),
                bytes_rate(t.bytes_per_min)
            )),
            Span::styled(tr.verdict.label(), verdict_style(tr.verdict)),
            Span::raw(format!(
                " ({:.1}% confidence, {} censuses over {:.0} s)",
                (tr.confidence * 100.0).min(99.9),
                tr.points,
                tr.window_s()
            )),
        ])),
        None => lines.push(Line::from("no verdict: too few censuses so far")),
    }
    lines.push(Line::from(vec![
        Span::raw("history (objects): "),
        Span::styled(spark(&t.history, 48), Style::new().fg(Color::Cyan)),
    ]));
    lines.push(Line::from(""));
    lines.push(Line::styled(
        "Why alive — back-reference chains from module globals and classes:",
        bold,
    ));
    let last = a.heap.last.as_ref();
    let chains: Vec<&str> = last
        .map(|c| {
            c.why_alive
                .iter()
                .filter(|w| w.type_name == t.name)
                .map(|w| w.chain.as_str())
                .collect()
        })
        .unwrap_or_default();
    if chains.is_empty() {
        lines.push(Line::styled(
            "  none recorded: a census traces the few types that grew most since the one before \
             (the object graph is analysed at most every 10 s)",
            dim(),
        ));
    }
    for c in chains {
        lines.push(Line::from(format!("  • {c}")));
    }
    lines.push(Line::from(""));
    lines.push(Line::styled(
        format!(
            "Cycle patterns involving {} (cyclic garbage the gc would free):",
            short(&t.name)
        ),
        bold,
    ));
    match last.and_then(|c| c.cycles.as_ref()) {
        None => lines.push(Line::styled(
            "  no cycle analysis in the latest census",
            dim(),
        )),
        Some(cy) => {
            let s = short(&t.name);
            let mine: Vec<_> = cy
                .patterns
                .iter()
                .filter(|p| p.name.contains(s) || p.edges.iter().any(|e| e.contains(s)))
                .collect();
            if mine.is_empty() {
                lines.push(Line::styled("  none", dim()));
            }
            for p in mine {
                lines.push(Line::from(format!(
                    "  • {}: {} objects, {}",
                    p.name,
                    units::count(p.objects),
                    units::bytes(p.bytes as f64)
                )));
                for e in &p.edges {
                    lines.push(Line::styled(format!("      {e}"), dim()));
                }
            }
        }
    }
    let largest: Vec<_> = last
        .map(|c| c.largest.iter().filter(|o| o.type_name == t.name).collect())
        .unwrap_or_default();
    if !largest.is_empty() {
        lines.push(Line::from(""));
        lines.push(Line::styled("Largest objects of this type:", bold));
        for o in largest {
            lines.push(Line::from(format!(
                "  {:>10}{}  {}",
                units::bytes(o.bytes as f64),
                o.len
                    .map(|n| format!("  length {}", units::count(n)))
                    .unwrap_or_default(),
                o.name
                    .clone()
                    .unwrap_or_else(|| format!("at {:#x}", o.addr))
            )));
        }
    }
    let related: Vec<_> = a
        .findings
        .iter()
        .filter(|fi| fi.name == t.name || fi.evidence.contains(&format!("{} objects", t.name)))
        .collect();
    if !related.is_empty() {
        lines.push(Line::from(""));
        lines.push(Line::styled("Findings:", bold));
        for fi in related {
            lines.push(Line::from(vec![
                Span::styled(
                    format!("  [{}] ", fi.severity.label()),
                    severity_style(fi.severity),
                ),
                Span::raw(format!("{} — {}", fi.title, fi.evidence)),
            ]));
        }
    }
    let inner_h = block.inner(area).height;
    let total = lines.len() as u16;
    app.types.detail_scroll = app
        .types
        .detail_scroll
        .min(total.saturating_sub(inner_h.max(1)) + inner_h / 2);
    f.render_widget(
        Paragraph::new(lines)
            .block(block)
            .wrap(Wrap { trim: false })
            .scroll((app.types.detail_scroll, 0)),
        area,
    );
}
