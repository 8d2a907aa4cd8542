//! View 1, Overview: the header (target, RSS/USS/fds with their change per minute, sampling,
//! census), the RSS chart with census and finding markers, the current findings newest first,
//! and the named containers and types that grow, with sparklines.

use ratatui::Frame;
use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::style::{Color, Style};
use ratatui::symbols::Marker;
use ratatui::text::{Line, Span};
use ratatui::widgets::canvas::{Canvas, Line as CLine};
use ratatui::widgets::{Cell, Paragraph, Row, Table};

use super::Ctx;
use crate::analyzer::Analyzer;
use crate::tui::app::{App, Mode};
use crate::tui::data::{self, ContainerInfo, TypeInfo};
use crate::tui::widgets::{
    count_rate, dim, flex_width, focused, header_style, panel, sanitize, secs, selected_style,
    severity_style, short_count, spark, truncate, truncate_left, verdict_label, verdict_style,
};
use crate::units;

pub fn draw(f: &mut Frame, area: Rect, app: &mut App, a: &Analyzer, ctx: &Ctx) {
    let tall = area.height >= 34;
    let [head, rest] = Layout::vertical([Constraint::Length(5), Constraint::Min(4)]).areas(area);
    header(f, head, a, ctx);
    if area.width >= 120 {
        let [left, right] =
            Layout::horizontal([Constraint::Percentage(50), Constraint::Percentage(50)])
                .areas(rest);
        let extra = extra_panel(ctx, a);
        if tall && extra.is_some() {
            let [chart, bottom] =
                Layout::vertical([Constraint::Min(8), Constraint::Length(10)]).areas(left);
            rss_chart(f, chart, a, ctx);
            if let Some((title, lines)) = extra {
                text_panel(f, bottom, &title, lines);
            }
        } else {
            rss_chart(f, left, a, ctx);
        }
        let [fa, ga] =
            Layout::vertical([Constraint::Percentage(50), Constraint::Percentage(50)]).areas(right);
        findings(f, fa, app, a);
        growing(f, ga, app);
    } else {
        let (fl, gl) = if tall {
            (9, 9)
        } else if area.height < 21 {
            (4, 5)
        } else {
            (5, 5)
        };
        let [chart, fa, ga] = Layout::vertical([
            Constraint::Min(4),
            Constraint::Length(fl),
            Constraint::Length(gl),
        ])
        .areas(rest);
        rss_chart(f, chart, a, ctx);
        findings(f, fa, app, a);
        growing(f, ga, app);
    }
}

fn header(f: &mut Frame, area: Rect, a: &Analyzer, ctx: &Ctx) {
    let info = a.info.clone().unwrap_or_default();
    let t0 = a.rss.first.map(|p| p.0).unwrap_or(0);
    let watched = secs(ctx.now.saturating_sub(t0));
    let mut l1 = vec![
        Span::styled(format!("PID {}", info.pid), Style::new().fg(Color::Cyan)),
        Span::raw(format!(
            "  CPython {}{}{}",
            info.python_version,
            if info.debug_build { " dbg" } else { "" },
            match &info.target_root {
                Some(r) if r.root != "/" => "  chroot",
                Some(_) => "  container",
                None => "",
            }
        )),
    ];
    if let Some(age) = ctx.target_age_s {
        l1.push(Span::raw(format!(
            "  up {}",
            units::duration(age + secs(ctx.now))
        )));
    }
    l1.push(Span::raw(format!(
        "  watched {}  ",
        units::duration(watched)
    )));
    let used: usize = l1.iter().map(|s| s.width()).sum();
    let room = (area.width as usize).saturating_sub(used + 2);
    l1.push(Span::styled(
        truncate(&sanitize(&info.command_line), room),
        dim(),
    ));

    let rss = a.rss.last.map(|p| p.1);
    let per_min = |v: Option<f64>| {
        v.map(|d| format!(" Δ{}/min", units::signed_kib(d)))
            .unwrap_or_default()
    };
    let mut l2 = vec![Span::styled(
        format!("RSS {}", rss.map(units::kib).unwrap_or_else(|| "—".into())),
        Style::new().fg(Color::Green),
    )];
    l2.push(Span::raw(per_min(data::rss_per_min(&a.rss))));
    if let Some((_, uss)) = a.uss.last {
        l2.push(Span::raw(format!("  USS {}", units::kib(uss))));
        l2.push(Span::raw(per_min(data::recent_per_min(
            &a.uss,
            120_000_000,
        ))));
    }
    if let Some((_, fds)) = a.fds.last {
        let d = data::recent_per_min(&a.fds, 60_000_000)
            .map(|d| format!(" Δ{}/min", signed(d)))
            .unwrap_or_default();
        l2.push(Span::raw(format!("  fds {fds:.0}{d}")));
    }
    // where the memory is: Python objects (the last census) against native memory
    if let Some(m) = crate::report::breakdown(a) {
        let b = |v: u64| units::bytes(v as f64);
        l2.push(Span::styled(
            match m.python_objects_bytes {
                Some(p) => format!("  Python {} · native {}", b(p), b(m.native_bytes)),
                None => format!("  heap+anon {}", b(m.native_bytes)),
            },
            dim(),
        ));
    }

    let mut l3 = vec![Span::raw(format!(
        "samples {:.0}/s of {:.0}",
        data::achieved_rate(a),
        info.rate_hz
    ))];
    let dropped = if a.dropped > 0 {
        Style::new().fg(Color::Red)
    } else {
        Style::new()
    };
    l3.push(Span::styled(
        format!("  dropped {}", units::count(a.dropped)),
        dropped,
    ));
    match a.heap.last.as_ref() {
        Some(c) => l3.push(Span::raw(format!(
            "  census #{} {} ago, pause {:.1} ms{}",
            a.heap.censuses,
            units::duration(secs(ctx.now.saturating_sub(c.t))),
            c.pause_us as f64 / 1000.0,
            if c.approximate { " (approx.)" } else { "" }
        ))),
        None => l3.push(Span::styled("  census: none yet", dim())),
    }

    let title = match (&ctx.mode, &ctx.session) {
        (Mode::Replay, Some(s)) => format!("Replay of {}", truncate_left(s, 50)),
        (Mode::Replay, None) => "Replay".to_string(),
        (Mode::Live, _) => "Target (live; Δ = change per minute)".to_string(),
    };
    f.render_widget(
        Paragraph::new(vec![Line::from(l1), Line::from(l2), Line::from(l3)]).block(panel(title)),
        area,
    );
}

fn signed(v: f64) -> String {
    if v > 0.0 {
        format!("+{v:.0}")
    } else {
        format!("{v:.0}")
    }
}

fn rss_chart(f: &mut Frame, area: Rect, a: &Analyzer, ctx: &Ctx) {
    let block = panel("RSS over time (MiB) — ┴ census, ▲ finding");
    let inner = block.inner(area);
    f.render_widget(block, area);
    let pts = a.rss.points();
    if pts.is_empty() {
        f.render_widget(Paragraph::new("no samples yet").style(dim()), inner);
        return;
    }
    if inner.height < 3 || inner.width < 20 {
        return;
    }
    let t0 = a.rss.first.map(|p| p.0).unwrap_or(0);
    let (x0, x1) = match &ctx.timeline {
        Some(tl) => (tl.start, tl.end.max(tl.start + 1_000_000)),
        None => (t0, ctx.now.max(t0 + 1_000_000)),
    };
    let mib = |kib: f64| kib / 1024.0;
    let lo = mib(a.rss.min.unwrap_or(0.0));
    let hi = mib(a.rss.max.map(|m| m.1).unwrap_or(0.0));
    let pad = ((hi - lo) * 0.05).max(0.5);
    let (ylo, yhi) = ((lo - pad).max(0.0), hi + pad);
    let [labels, plot] =
        Layout::horizontal([Constraint::Length(10), Constraint::Min(10)]).areas(inner);
    // markers get a row of their own when there is room, else they share the axis row
    let [canvas_area, marks, axis] = Layout::vertical([
        Constraint::Min(1),
        Constraint::Length(if inner.height >= 6 { 1 } else { 0 }),
        Constraint::Length(1),
    ])
    .areas(plot);
    let marks = if marks.height == 0 { axis } else { marks };
    // y labels: top and bottom of the plot
    let mut ylines = vec![Line::from(format!("{yhi:>8.1} "))];
    for _ in 1..canvas_area.height.saturating_sub(1) {
        ylines.push(Line::from(""));
    }
    if canvas_area.height > 1 {
        ylines.push(Line::from(format!("{ylo:>8.1} ")));
    }
    f.render_widget(Paragraph::new(ylines).style(dim()), labels);
    let xs = |t: u64| secs(t.saturating_sub(x0));
    let width = secs(x1 - x0);
    let line: Vec<(f64, f64)> = pts.iter().map(|p| (xs(p.t), mib(p.last))).collect();
    let canvas = Canvas::default()
        .marker(Marker::Braille)
        .x_bounds([0.0, width])
        .y_bounds([ylo, yhi])
        .paint(move |c| {
            for w in line.windows(2) {
                c.draw(&CLine {
                    x1: w[0].0,
                    y1: w[0].1,
                    x2: w[1].0,
                    y2: w[1].1,
                    color: Color::Green,
                });
            }
            if let [only] = line.as_slice() {
                c.draw(&CLine {
                    x1: only.0,
                    y1: only.1,
                    x2: only.0,
                    y2: only.1,
                    color: Color::Green,
                });
            }
        });
    f.render_widget(canvas, canvas_area);
    // markers under the plot, in the plot's columns
    let w = marks.width as usize;
    let col = |t: u64| ((xs(t) / width) * (w.saturating_sub(1)) as f64).round() as usize;
    let mut cells: Vec<Span> = vec![Span::raw(" "); w];
    for p in a.heap.pauses.points() {
        if let Some(c) = cells.get_mut(col(p.t)) {
            *c = Span::styled("┴", Style::new().fg(Color::Cyan));
        }
    }
    for fi in &a.findings {
        if let Some(c) = cells.get_mut(col(fi.first_seen)) {
            *c = Span::styled("▲", Style::new().fg(Color::Red));
        }
    }
    let left = "0 s".to_string();
    let right = format!("{width:.0} s");
    if marks == axis {
        // one row: the time labels at both ends, the markers between them
        let n = cells.len();
        let ll = left.chars().count().min(n);
        let rl = right.chars().count().min(n - ll);
        for (i, ch) in left.chars().take(ll).enumerate() {
            cells[i] = Span::styled(ch.to_string(), dim());
        }
        for (i, ch) in right.chars().take(rl).enumerate() {
            cells[n - rl + i] = Span::styled(ch.to_string(), dim());
        }
        f.render_widget(Line::from(cells), axis);
        return;
    }
    f.render_widget(Line::from(cells), marks);
    let mid = "time since start";
    let w = axis.width as usize;
    let gap = w.saturating_sub(left.len() + right.len() + mid.chars().count());
    let axis_text = format!(
        "{left}{}{mid}{}{right}",
        " ".repeat(gap / 2),
        " ".repeat(gap - gap / 2)
    );
    f.render_widget(Paragraph::new(axis_text).style(dim()), axis);
}

fn findings(f: &mut Frame, area: Rect, app: &mut App, a: &Analyzer) {
    let list = data::findings_newest_first(a);
    let block = focused(
        panel(format!(
            "Findings ({}) — newest first; Enter opens",
            list.len()
        )),
        true,
    );
    let inner = block.inner(area);
    f.render_widget(block, area);
    if list.is_empty() {
        let msg = if a.heap.censuses < 4 {
            "none yet: trends need a few heap censuses (one every few seconds)"
        } else {
            "none: nothing grows without bound so far"
        };
        f.render_widget(Paragraph::new(msg).style(dim()), inner);
        return;
    }
    let sel = app.overview.settle(list.iter().map(|f| f.id.as_str()));
    // two lines a finding (title, then evidence) when they all fit so
    let two = inner.height as usize >= 2 * list.len() && inner.width >= 60;
    let per = if two { 2 } else { 1 };
    let h = (inner.height as usize / per).max(1);
    let off = app.overview.visible(h);
    let t0 = a.rss.first.map(|p| p.0).unwrap_or(0);
    let width = inner.width as usize;
    let mut lines: Vec<Line> = Vec::new();
    for (i, fi) in list.iter().enumerate().skip(off).take(h) {
        let when = format!(
            "{:>6} ",
            units::duration(secs(fi.first_seen.saturating_sub(t0)))
        );
        let sev = format!("[{}] ", fi.severity.label());
        let evidence = fi
            .evidence
            .strip_prefix(&format!("{}: ", fi.name))
            .unwrap_or(&fi.evidence);
        let room = width.saturating_sub(when.len() + sev.len());
        let head = if two {
            format!("{} — {}", fi.title, fi.name)
        } else {
            format!("{} — {}: {evidence}", fi.title, fi.name)
        };
        let style = if Some(i) == sel {
            selected_style()
        } else {
            Style::new()
        };
        lines.push(
            Line::from(vec![
                Span::styled(when, dim()),
                Span::styled(sev, severity_style(fi.severity)),
                Span::raw(truncate(&head, room)),
            ])
            .style(style),
        );
        if two {
            lines.push(
                Line::from(Span::styled(
                    format!("       {}", truncate(evidence, width.saturating_sub(7))),
                    dim(),
                ))
                .style(style),
            );
        }
    }
    f.render_widget(Paragraph::new(lines), inner);
}

/// One row of the growing list.
enum Grower<'a> {
    Container(&'a ContainerInfo),
    Type(&'a TypeInfo),
}

fn growing(f: &mut Frame, area: Rect, app: &App) {
    let block = panel("Growing since the first census: named containers, then types");
    let inner = block.inner(area);
    f.render_widget(block, area);
    let rows_room = (inner.height as usize).saturating_sub(1);
    if rows_room == 0 {
        return;
    }
    let mut conts: Vec<&ContainerInfo> = app
        .heap
        .containers
        .iter()
        .filter(|c| c.row.len > c.first_len && c.len_per_min > 0.0)
        .collect();
    conts.sort_by(|x, y| {
        y.bytes_per_min
            .total_cmp(&x.bytes_per_min)
            .then(y.len_per_min.total_cmp(&x.len_per_min))
    });
    let mut types: Vec<&TypeInfo> = app
        .heap
        .types
        .iter()
        .filter(|t| t.count > t.first_count && t.count_per_min > 0.0)
        .collect();
    types.sort_by(|x, y| y.bytes_per_min.total_cmp(&x.bytes_per_min));
    if conts.is_empty() && types.is_empty() {
        let msg = if app.heap.types.is_empty() {
            "no heap census yet"
        } else {
            "nothing has grown since the first census"
        };
        f.render_widget(Paragraph::new(msg).style(dim()), inner);
        return;
    }
    let n_conts = conts.len().min(
        rows_room
            .div_ceil(2)
            .max(rows_room.saturating_sub(types.len())),
    );
    let mut rows: Vec<Grower> = conts
        .into_iter()
        .take(n_conts)
        .map(Grower::Container)
        .collect();
    let left = rows_room - rows.len();
    rows.extend(types.into_iter().take(left).map(Grower::Type));
    let spark_w = if inner.width >= 100 {
        24
    } else if inner.width >= 76 {
        10
    } else {
        8
    };
    let fixed = [5, 11, 9, 10, 8, spark_w as u16];
    let name_w = flex_width(inner.width, &fixed);
    let name = |n: &str| Cell::from(truncate_left(n, name_w as usize));
    let table_rows: Vec<Row> = rows
        .iter()
        .map(|g| match g {
            Grower::Container(c) => Row::new(vec![
                name(&c.row.name),
                Cell::from(c.row.type_name.clone()),
                Cell::from(format!("{} items", short_count(c.row.len as f64))),
                Cell::from(units::bytes(c.bytes as f64)),
                Cell::from(count_rate(c.len_per_min)),
                Cell::from(verdict_label(c.trend.as_ref().map(|t| t.verdict)))
                    .style(c.trend.as_ref().map_or(dim(), |t| verdict_style(t.verdict))),
                Cell::from(spark(&c.history, spark_w)).style(Style::new().fg(Color::Cyan)),
            ]),
            Grower::Type(t) => Row::new(vec![
                name(&t.name),
                Cell::from("type"),
                Cell::from(format!("{} objs", short_count(t.count as f64))),
                Cell::from(units::bytes(t.bytes as f64)),
                Cell::from(count_rate(t.count_per_min)),
                Cell::from(verdict_label(t.trend.as_ref().map(|t| t.verdict)))
                    .style(t.trend.as_ref().map_or(dim(), |t| verdict_style(t.verdict))),
                Cell::from(spark(&t.history, spark_w)).style(Style::new().fg(Color::Cyan)),
            ]),
        })
        .collect();
    let table = Table::new(
        table_rows,
        [
            Constraint::Length(name_w),
            Constraint::Length(5),
            Constraint::Length(11),
            Constraint::Length(9),
            Constraint::Length(10),
            Constraint::Length(8),
            Constraint::Length(spark_w as u16),
        ],
    )
    .header(
        Row::new(vec![
            "Name", "Type", "Now", "Size", "Δ/min", "Verdict", "History",
        ])
        .style(header_style()),
    )
    .column_spacing(1);
    f.render_widget(table, inner);
}

/// The bottom-left panel of a tall, wide overview: the target's output (memwatch run) or the
/// notes about the watch.
fn extra_panel(ctx: &Ctx, a: &Analyzer) -> Option<(String, Vec<String>)> {
    if let Some(out) = &ctx.output {
        return Some((
            "Target output (stdout and stderr, last lines)".into(),
            out.clone(),
        ));
    }
    let t0 = a.rss.first.map(|p| p.0).unwrap_or(0);
    Some((
        "Notes about the watch".into(),
        if a.notes.is_empty() {
            vec!["none".into()]
        } else {
            a.notes
                .iter()
                .map(|(t, n)| format!("{:>7}  {n}", units::duration(secs(t.saturating_sub(t0)))))
                .collect()
        },
    ))
}

fn text_panel(f: &mut Frame, area: Rect, title: &str, lines: Vec<String>) {
    let block = panel(title);
    let h = block.inner(area).height as usize;
    let shown: Vec<Line> = lines[lines.len().saturating_sub(h)..]
        .iter()
        .map(|l| Line::from(sanitize(l)))
        .collect();
    f.render_widget(Paragraph::new(shown).block(block), area);
}
