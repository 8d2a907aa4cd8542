//! View 2, Lines: the top lines by increment to pick from, and the memory_profiler-style table
//! (`Line # | Mem usage | Increment | Occurrences | Line Contents`) of the function the picked
//! line is in, with its source.

use ratatui::Frame;
use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::style::{Color, Modifier, Style};
use ratatui::text::Line;
use ratatui::widgets::{Cell, Paragraph, Row, Table};

use super::Ctx;
use crate::analyzer::Analyzer;
use crate::analyzer::lines::FunctionKey;
use crate::report::{self, LineRow};
use crate::tui::app::{App, matches};
use crate::tui::widgets::{
    dim, focused, header_style, panel, sanitize, selected_style, short_file, truncate_left,
};
use crate::units;

fn mib(bytes: i64) -> String {
    units::bytes(bytes as f64)
}

fn key(r: &LineRow) -> String {
    format!("{}:{}:{}", r.file, r.line, r.function)
}

pub fn draw(f: &mut Frame, area: Rect, app: &mut App, a: &Analyzer, _ctx: &Ctx) {
    let mut rows = if app.lines.all_code {
        report::top_lines(a, 200)
    } else {
        report::top_user_lines(a, 200)
    };
    let filter = app.lines.filter.clone();
    rows.retain(|r| {
        matches(&filter, &r.file)
            || matches(&filter, &r.function)
            || r.contents.as_deref().is_some_and(|c| matches(&filter, c))
    });
    if app.lines.sort_occurrences {
        rows.sort_by(|x, y| {
            y.occurrences
                .cmp(&x.occurrences)
                .then(y.increment_bytes.cmp(&x.increment_bytes))
        });
    }
    let (list_area, table_area) = if area.width >= 120 {
        let [l, t] = Layout::horizontal([Constraint::Percentage(45), Constraint::Percentage(55)])
            .areas(area);
        (l, t)
    } else {
        let list_h = if area.height >= 30 { 12 } else { 8 };
        let [l, t] = Layout::vertical([Constraint::Length(list_h), Constraint::Min(5)]).areas(area);
        (l, t)
    };
    let keys: Vec<String> = rows.iter().map(key).collect();
    let sel = app.lines.sel.settle(keys.iter().map(String::as_str));
    top_list(f, list_area, app, &rows, sel);
    match sel.and_then(|i| rows.get(i)) {
        Some(r) => function_table(f, table_area, app, a, r),
        None => {
            let block = panel("Line table");
            f.render_widget(
                Paragraph::new("no line has been sampled yet")
                    .style(dim())
                    .block(block),
                table_area,
            );
        }
    }
}

fn top_list(f: &mut Frame, area: Rect, app: &mut App, rows: &[LineRow], sel: Option<usize>) {
    let sort = if app.lines.sort_occurrences {
        "occurrences"
    } else {
        "increment"
    };
    let (scope, other) = if app.lines.all_code {
        ("innermost, all code", "your code")
    } else {
        ("your code", "all code")
    };
    let filter = if app.lines.filter.is_empty() {
        String::new()
    } else {
        format!(" — filter \"{}\"", app.lines.filter)
    };
    let block = focused(
        panel(format!(
            "Top lines by {sort} ({scope}, sampled){filter} — Enter: table, a: {other}"
        )),
        !app.lines.table_focus,
    );
    let inner = block.inner(area);
    f.render_widget(block, area);
    let h = (inner.height as usize).saturating_sub(1);
    app.page = h.max(1);
    let off = app.lines.sel.visible(h);
    let body: Vec<Row> = rows
        .iter()
        .enumerate()
        .skip(off)
        .take(h)
        .map(|(i, r)| {
            let loc = format!("{}:{} {}()", short_file(&r.file), r.line, r.function);
            let row = Row::new(vec![
                Cell::from(format!("{:>10}", mib(r.increment_bytes))),
                Cell::from(format!("{:>10}", mib(r.mem_usage_bytes as i64))),
                Cell::from(format!("{:>6}", units::count(r.occurrences))),
                Cell::from(loc),
                Cell::from(sanitize(r.contents.as_deref().unwrap_or(""))),
            ]);
            if Some(i) == sel {
                row.style(selected_style())
            } else {
                row
            }
        })
        .collect();
    let table = Table::new(
        body,
        [
            Constraint::Length(10),
            Constraint::Length(10),
            Constraint::Length(6),
            Constraint::Length(26),
            Constraint::Min(10),
        ],
    )
    .header(
        Row::new(vec![
            " Increment",
            " Mem usage",
            "Occur.",
            "Location (function)",
            "Line Contents",
        ])
        .style(header_style()),
    )
    .column_spacing(1);
    f.render_widget(table, inner);
}

fn function_table(f: &mut Frame, area: Rect, app: &mut App, a: &Analyzer, picked: &LineRow) {
    let key = FunctionKey {
        file: picked.file.clone(),
        function: picked.function.clone(),
    };
    let Some(t) = report::function_table(a, &key) else {
        f.render_widget(panel("Line table"), area);
        return;
    };
    let title = format!(
        "Function {} in {} (lines {}–{}): {} on the stack, {} own, {} samples",
        t.function,
        truncate_left(&t.file, 40),
        t.first_line,
        t.last_line,
        mib(t.increment_bytes),
        mib(t.own_increment_bytes),
        units::count(t.occurrences)
    );
    let block = focused(panel(title), app.lines.table_focus).title_bottom(Line::styled(
        " sampled: Increment = RSS change charged while the line (or what it called) ran ",
        dim(),
    ));
    let inner = block.inner(area);
    f.render_widget(block, area);
    let h = (inner.height as usize).saturating_sub(2);
    let picked_idx = t.lines.iter().position(|r| r.line == picked.line);
    let cursor = if app.lines.table_focus {
        let keys: Vec<String> = t.lines.iter().map(|r| r.line.to_string()).collect();
        if app.lines.table.key.is_none() && app.lines.table.index == 0 {
            // entering the table: start on the picked line
            if let Some(i) = picked_idx {
                app.lines.table.index = i;
            }
        }
        let c = app.lines.table.settle(keys.iter().map(String::as_str));
        app.page = h.max(1);
        app.lines.table.visible(h);
        c
    } else {
        // keep the picked line in view
        app.lines.table.index = picked_idx.unwrap_or(0);
        app.lines.table.key = None;
        app.lines.table.offset = picked_idx.map(|i| i.saturating_sub(h / 2)).unwrap_or(0);
        None
    };
    let off = app
        .lines
        .table
        .offset
        .min(t.lines.len().saturating_sub(h.max(1)));
    let body: Vec<Row> = t
        .lines
        .iter()
        .enumerate()
        .skip(off)
        .take(h)
        .map(|(i, r)| {
            let opt = |v: Option<String>| v.unwrap_or_default();
            let row = Row::new(vec![
                Cell::from(format!("{:>6}", r.line)),
                Cell::from(format!(
                    "{:>12}",
                    opt(r.mem_usage_bytes.map(|b| mib(b as i64)))
                )),
                Cell::from(format!("{:>12}", opt(r.increment_bytes.map(mib)))),
                Cell::from(format!(
                    "{:>11}",
                    if r.occurrences > 0 {
                        units::count(r.occurrences)
                    } else {
                        String::new()
                    }
                )),
                Cell::from(sanitize(r.contents.as_deref().unwrap_or(""))),
            ]);
            if Some(i) == cursor {
                row.style(selected_style())
            } else if Some(i) == picked_idx {
                row.style(Style::new().fg(Color::Yellow).add_modifier(Modifier::BOLD))
            } else if r.increment_bytes.is_none() {
                row.style(dim())
            } else {
                row
            }
        })
        .collect();
    let table = Table::new(
        body,
        [
            Constraint::Length(6),
            Constraint::Length(12),
            Constraint::Length(12),
            Constraint::Length(11),
            Constraint::Min(10),
        ],
    )
    .header(
        Row::new(vec![
            "Line #",
            "   Mem usage",
            "   Increment",
            "Occurrences",
            "Line Contents",
        ])
        .style(header_style()),
    )
    .column_spacing(1);
    f.render_widget(table, inner);
    if !t.source_available && inner.height > 2 {
        let note = Rect {
            y: inner.y + inner.height - 1,
            height: 1,
            ..inner
        };
        f.render_widget(
            Paragraph::new("source not recorded in the session").style(dim()),
            note,
        );
    }
}
