//! View 4, Containers: the named containers of the latest census (module globals, class and
//! instance attributes, function defaults) with length, size, slope and verdict; Enter opens
//! where the selected one hangs, what it holds and what memwatch concluded about it.

use ratatui::Frame;
use ratatui::layout::{Constraint, Rect};
use ratatui::style::{Color, Modifier, Style};
use ratatui::text::{Line, Span};
use ratatui::widgets::{Cell, Paragraph, Row, Table, Wrap};

use super::Ctx;
use crate::analyzer::Analyzer;
use crate::heap::census::Origin;
use crate::tui::app::{App, ContainerSort, matches};
use crate::tui::data::ContainerInfo;
use crate::tui::widgets::{
    bytes_rate, count_rate, dim, flex_width, focused, header_style, panel, selected_style,
    severity_style, spark, split_detail, truncate_left, verdict_label, verdict_style,
};
use crate::units;

fn sorted<'a>(app: &App, rows: &'a [ContainerInfo]) -> Vec<&'a ContainerInfo> {
    let st = &app.containers;
    let mut v: Vec<&ContainerInfo> = rows
        .iter()
        .filter(|c| matches(&st.filter, &c.row.name) || matches(&st.filter, &c.row.type_name))
        .collect();
    v.sort_by(|x, y| {
        let o = match st.sort {
            ContainerSort::Length => x.row.len.cmp(&y.row.len),
            ContainerSort::Size => x.bytes.cmp(&y.bytes),
            ContainerSort::Growth => x
                .len_per_min
                .total_cmp(&y.len_per_min)
                .then(x.bytes_per_min.total_cmp(&y.bytes_per_min)),
            ContainerSort::Name => x.row.name.cmp(&y.row.name),
        };
        let o = if st.ascending { o } else { o.reverse() };
        o.then(x.row.name.cmp(&y.row.name))
    });
    v
}

fn arrow(app: &App, col: ContainerSort) -> &'static str {
    if app.containers.sort != col {
        ""
    } else if app.containers.ascending {
        " ▲"
    } else {
        " ▼"
    }
}

pub fn draw(f: &mut Frame, area: Rect, app: &mut App, a: &Analyzer, _ctx: &Ctx) {
    let cache = app.heap.containers.clone();
    let rows = sorted(app, &cache);
    let sel = app
        .containers
        .sel
        .settle(rows.iter().map(|c| c.row.name.as_str()));
    let (table_area, detail_area) = split_detail(area, app.containers.detail, 55);
    table(f, table_area, app, a, &rows, sel);
    if let Some(d) = detail_area {
        match sel.and_then(|i| rows.get(i)) {
            Some(c) => detail(f, d, app, a, c),
            None => f.render_widget(panel("Container"), d),
        }
    }
}

fn table(
    f: &mut Frame,
    area: Rect,
    app: &mut App,
    a: &Analyzer,
    rows: &[&ContainerInfo],
    sel: Option<usize>,
) {
    let filter = if app.containers.filter.is_empty() {
        String::new()
    } else {
        format!(" — filter \"{}\"", app.containers.filter)
    };
    let block = focused(
        panel(format!(
            "Named containers ({} of {}){filter} — s sort, Enter: details",
            rows.len(),
            app.heap.containers.len()
        )),
        !app.containers.detail,
    );
    let inner = block.inner(area);
    f.render_widget(block, area);
    if app.heap.containers.is_empty() {
        let msg = if a.heap.last.is_some() {
            "the latest census found no named container"
        } else {
            "no heap census yet (memwatch takes one every few seconds; --no-heap turns them off)"
        };
        f.render_widget(
            Paragraph::new(msg).style(dim()).wrap(Wrap { trim: true }),
            inner,
        );
        return;
    }
    let h = (inner.height as usize).saturating_sub(1);
    app.page = h.max(1);
    let off = app.containers.sel.visible(h);
    let wide = inner.width >= 110;
    let fixed: &[u16] = if wide {
        &[10, 10, 10, 10, 8, 20]
    } else {
        &[10, 10, 10, 10, 8]
    };
    let name_w = flex_width(inner.width, fixed);
    let body: Vec<Row> = rows
        .iter()
        .enumerate()
        .skip(off)
        .take(h)
        .map(|(i, c)| {
            let verdict = c.trend.as_ref().map(|t| t.verdict);
            let mut cells = vec![
                Cell::from(truncate_left(&c.row.name, name_w as usize)),
                Cell::from(truncate_left(&c.row.type_name, 10)),
                Cell::from(format!("{:>10}", units::count(c.row.len))),
                Cell::from(format!("{:>10}", units::bytes(c.bytes as f64))),
                Cell::from(format!("{:>10}", count_rate(c.len_per_min))),
                Cell::from(if c.row.bound.is_some() {
                    "bounded".to_string()
                } else {
                    verdict_label(verdict).to_string()
                })
                .style(verdict.map_or(dim(), verdict_style)),
            ];
            if wide {
                cells.push(Cell::from(spark(&c.history, 20)).style(Style::new().fg(Color::Cyan)));
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
        Constraint::Length(10),
        Constraint::Length(10),
        Constraint::Length(10),
        Constraint::Length(10),
        Constraint::Length(8),
    ];
    let mut header = vec![
        format!("Name{}", arrow(app, ContainerSort::Name)),
        "Type".to_string(),
        format!(
            "{:>10}",
            format!("Length{}", arrow(app, ContainerSort::Length))
        ),
        format!("{:>10}", format!("Size{}", arrow(app, ContainerSort::Size))),
        format!(
            "{:>10}",
            format!("Δ len/min{}", arrow(app, ContainerSort::Growth))
        ),
        "Verdict".to_string(),
    ];
    if wide {
        widths.push(Constraint::Length(20));
        header.push("History (length)".into());
    }
    let table = Table::new(body, widths)
        .header(Row::new(header).style(header_style()))
        .column_spacing(1);
    f.render_widget(table, inner);
}

fn origin_label(o: Origin) -> &'static str {
    match o {
        Origin::Global => "module global",
        Origin::ClassAttribute => "class attribute",
        Origin::InstanceAttribute => "attribute of an instance held in a global",
        Origin::Default => "default argument value of a function",
    }
}

fn detail(f: &mut Frame, area: Rect, app: &mut App, a: &Analyzer, c: &ContainerInfo) {
    let block = focused(panel(format!("{} — Esc back, ↑↓ scroll", c.row.name)), true);
    let bold = Style::new().add_modifier(Modifier::BOLD);
    let r = &c.row;
    let mut lines: Vec<Line> = vec![
        Line::from(format!(
            "{} ({}), a {}",
            r.name,
            r.type_name,
            origin_label(r.origin)
        )),
        Line::from(format!(
            "length {} ({} at the first census), size {} (the container {} + its items {})",
            units::count(r.len),
            units::count(c.first_len),
            units::bytes(c.bytes as f64),
            units::bytes(r.shallow_bytes as f64),
            units::bytes(r.items_bytes as f64)
        )),
    ];
    match &c.trend {
        Some(tr) => lines.push(Line::from(vec![
            Span::raw(format!(
                "Δ {} items, {}; verdict ",
                count_rate(c.len_per_min),
                bytes_rate(c.bytes_per_min)
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
        Span::raw("history (length): "),
        Span::styled(spark(&c.history, 48), Style::new().fg(Color::Cyan)),
    ]));
    if let Some(b) = r.bound {
        lines.push(Line::from(format!(
            "bounded: cannot hold more than {} items",
            units::count(b)
        )));
    }
    if let Some(it) = &r.item_type {
        lines.push(Line::from(format!("holds mostly {it} objects")));
    }
    if let Some(file) = &r.file {
        lines.push(Line::from(format!("defined in {file}")));
    }
    if !r.aliases.is_empty() {
        lines.push(Line::from(format!(
            "also reachable as {}",
            r.aliases.join(", ")
        )));
    }
    lines.push(Line::styled(format!("address {:#x}", r.addr), dim()));
    let related: Vec<_> = a.findings.iter().filter(|fi| fi.name == r.name).collect();
    lines.push(Line::from(""));
    lines.push(Line::styled("Findings:", bold));
    if related.is_empty() {
        lines.push(Line::styled("  none about this container", dim()));
    }
    for fi in related {
        let at = match (&fi.file, fi.line) {
            (Some(file), Some(l)) => format!(" ({file}:{l})"),
            _ => String::new(),
        };
        lines.push(Line::from(vec![
            Span::styled(
                format!("  [{}] ", fi.severity.label()),
                severity_style(fi.severity),
            ),
            Span::raw(format!("{}{at} — {}", fi.title, fi.evidence)),
        ]));
        if let Some(code) = &fi.current_code {
            for l in code.lines() {
                lines.push(Line::styled(format!("      {l}"), dim()));
            }
        }
        lines.push(Line::styled(
            "  the full text with the fix: view 5 (Findings)",
            dim(),
        ));
    }
    let inner_h = block.inner(area).height;
    let total = lines.len() as u16;
    app.containers.detail_scroll = app
        .containers
        .detail_scroll
        .min(total.saturating_sub(inner_h.max(1)) + inner_h / 2);
    f.render_widget(
        Paragraph::new(lines)
            .block(block)
            .wrap(Wrap { trim: false })
            .scroll((app.containers.detail_scroll, 0)),
        area,
    );
}
