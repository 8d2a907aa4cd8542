//! The charts of the HTML report, drawn by memwatch as inline SVG: a time chart (RSS and USS
//! over the session, with census ticks and finding marks), sparklines (a type's or a
//! container's history over the censuses) and a stacked bar (where the memory is).
//!
//! Every chart is bounded whatever the session holds: series are downsampled to
//! [`MAX_CHART_POINTS`] (sparklines to [`MAX_SPARK_POINTS`]), marks are merged per pixel
//! column, and non-finite values are dropped, so a day-long or corrupt session draws the same
//! few kilobytes as a minute-long one. Styling is left to the page's stylesheet (classes
//! only, no `style` attributes: the page's Content-Security-Policy allows its one stylesheet).
//! Every text from the target goes through [`escape`]; this module never emits a reference to
//! anything outside the page (no `xmlns`, no `href` but `#…` fragments).

use std::fmt::Write;

use super::html::escape;
use crate::units;

/// Most points of one line of a time chart.
pub const MAX_CHART_POINTS: usize = 400;
/// Most points of a sparkline.
pub const MAX_SPARK_POINTS: usize = 40;
/// Most finding marks on one chart (the findings list has them all).
const MAX_MARKS: usize = 40;

const WIDTH: f64 = 960.0;
const HEIGHT: f64 = 260.0;
const LEFT: f64 = 72.0;
const RIGHT: f64 = 30.0;
const TOP: f64 = 22.0;
const BOTTOM: f64 = 40.0;

/// One line of a time chart: (seconds, bytes) points, oldest first.
pub struct Line<'a> {
    /// The CSS class that colours it (`rss`, `uss`, `total`).
    pub class: &'a str,
    pub points: Vec<(f64, f64)>,
}

/// A finding drawn on a time chart: a triangle at the top, linking to its text.
pub struct Mark {
    pub at_s: f64,
    /// Shown as the triangle's tooltip (target text: escaped here).
    pub label: String,
    /// The id of the element it links to (`f3`), within the page.
    pub anchor: String,
    pub class: &'static str,
}

/// What a time chart shows.
pub struct Chart<'a> {
    /// The chart's accessible name.
    pub title: &'a str,
    pub lines: Vec<Line<'a>>,
    /// Times of the heap censuses, seconds: ticks under the plot.
    pub censuses: Vec<f64>,
    pub marks: Vec<Mark>,
}

/// At most `max` points of `points`, each the highest value of a run of neighbours (at the
/// run's last time): the peaks a leak report is about survive, and the shape stays.
pub fn downsample(points: &[(f64, f64)], max: usize) -> Vec<(f64, f64)> {
    let finite: Vec<(f64, f64)> = points
        .iter()
        .copied()
        .filter(|(t, v)| t.is_finite() && v.is_finite())
        .collect();
    let max = max.max(2);
    if finite.len() <= max {
        return finite;
    }
    let per = finite.len().div_ceil(max);
    finite
        .chunks(per)
        .map(|c| {
            let v = c.iter().map(|p| p.1).fold(f64::MIN, f64::max);
            (c[c.len() - 1].0, v)
        })
        .collect()
}

/// A step of 1, 2 or 5 × 10^k that cuts `range` in about `parts`.
fn nice_step(range: f64, parts: f64) -> f64 {
    if !(range.is_finite() && range > 0.0) {
        return 1.0;
    }
    let raw = range / parts;
    let mag = 10f64.powf(raw.log10().floor());
    let m = raw / mag;
    let nice = if m <= 1.0 {
        1.0
    } else if m <= 2.0 {
        2.0
    } else if m <= 5.0 {
        5.0
    } else {
        10.0
    };
    nice * mag
}

/// The unit a byte axis is labelled in: (divisor, name).
fn byte_unit(max: f64) -> (f64, &'static str) {
    if max >= 1024.0 * 1024.0 * 1024.0 {
        (1024.0 * 1024.0 * 1024.0, "GiB")
    } else if max >= 1024.0 * 1024.0 {
        (1024.0 * 1024.0, "MiB")
    } else {
        (1024.0, "KiB")
    }
}

fn fmt_num(v: f64) -> String {
    // whole numbers and large ones without decimals; `2.5` for a half step
    if (v - v.round()).abs() < 1e-9 || v.abs() >= 10.0 {
        format!("{v:.0}")
    } else {
        format!("{v:.1}")
    }
}

/// A time axis label: `20 s`, `5 min`, `1.5 h`.
fn time_label(s: f64, step: f64) -> String {
    if step >= 3600.0 {
        format!("{} h", fmt_num(s / 3600.0))
    } else if step >= 60.0 {
        format!("{} min", fmt_num(s / 60.0))
    } else {
        format!("{} s", fmt_num(s))
    }
}

/// A time step that reads well (1, 2, 5, 10, 15, 30 s, whole minutes, hours) and cuts `span`
/// in at most 8.
fn time_step(span: f64) -> f64 {
    const STEPS: [f64; 18] = [
        1.0, 2.0, 5.0, 10.0, 15.0, 30.0, 60.0, 120.0, 300.0, 600.0, 900.0, 1800.0, 3600.0, 7200.0,
        10800.0, 21600.0, 43200.0, 86400.0,
    ];
    STEPS
        .into_iter()
        .find(|s| span / s <= 8.0)
        .unwrap_or_else(|| nice_step(span / 86400.0, 6.0).max(1.0) * 86400.0)
}

/// The time chart: lines over a shared time axis (0 = the session's first sample) and a byte
/// axis, census ticks along the bottom, finding triangles along the top.
pub fn chart(c: &Chart) -> String {
    let lines: Vec<(&str, Vec<(f64, f64)>)> = c
        .lines
        .iter()
        .map(|l| (l.class, downsample(&l.points, MAX_CHART_POINTS)))
        .collect();
    let all = || lines.iter().flat_map(|(_, p)| p.iter());
    let mut out = String::new();
    let _ = write!(
        out,
        "<svg class=\"chart\" viewBox=\"0 0 {WIDTH} {HEIGHT}\" role=\"img\" aria-label=\"{}\">",
        escape(c.title)
    );
    let _ = write!(out, "<title>{}</title>", escape(c.title));
    if all().next().is_none() {
        let _ = write!(
            out,
            "<text class=\"empty\" x=\"{}\" y=\"{}\" text-anchor=\"middle\">no samples recorded</text></svg>",
            WIDTH / 2.0,
            HEIGHT / 2.0
        );
        return out;
    }
    let span = all()
        .map(|p| p.0)
        .chain(c.censuses.iter().copied())
        .chain(c.marks.iter().map(|m| m.at_s))
        .filter(|t| t.is_finite())
        .fold(0.0f64, f64::max)
        .max(1.0);
    // the axis ends on a tick: 19.9 s of samples on an axis to 20 s
    let tstep = time_step(span);
    let span = (span / tstep).ceil() * tstep;
    let vmax = all().map(|p| p.1).fold(0.0f64, f64::max);
    let vmin = all().map(|p| p.1).fold(f64::MAX, f64::min);
    let (div, unit) = byte_unit(vmax);
    // from zero unless the lines sit high above it: growth of 5 MiB on 200 MiB must show
    let step = nice_step(
        (vmax - if vmin < vmax * 0.4 { 0.0 } else { vmin }) / div,
        4.0,
    );
    let lo = if vmin < vmax * 0.4 {
        0.0
    } else {
        ((vmin / div) / step).floor() * step
    };
    let hi = (((vmax / div) / step).ceil() * step).max(lo + step);
    let plot_w = WIDTH - LEFT - RIGHT;
    let plot_h = HEIGHT - TOP - BOTTOM;
    let x = |t: f64| LEFT + (t.clamp(0.0, span) / span) * plot_w;
    let y = |v: f64| TOP + plot_h - ((v / div - lo) / (hi - lo)).clamp(0.0, 1.0) * plot_h;

    // grid and axes
    out.push_str("<g class=\"grid\">");
    let mut v = lo;
    let mut n = 0;
    while v <= hi + step * 0.01 && n < 12 {
        let yy = TOP + plot_h - (v - lo) / (hi - lo) * plot_h;
        let _ = write!(
            out,
            "<line x1=\"{LEFT}\" x2=\"{}\" y1=\"{yy:.1}\" y2=\"{yy:.1}\"/>",
            WIDTH - RIGHT
        );
        let _ = write!(
            out,
            "<text class=\"axis\" x=\"{}\" y=\"{:.1}\" text-anchor=\"end\">{} {unit}</text>",
            LEFT - 6.0,
            yy + 4.0,
            fmt_num(v)
        );
        v += step;
        n += 1;
    }
    let mut t = 0.0;
    let mut n = 0;
    while t <= span + tstep * 0.01 && n < 14 {
        let xx = x(t);
        let _ = write!(
            out,
            "<line class=\"tick\" x1=\"{xx:.1}\" x2=\"{xx:.1}\" y1=\"{}\" y2=\"{}\"/>",
            TOP + plot_h,
            TOP + plot_h + 4.0
        );
        let _ = write!(
            out,
            "<text class=\"axis\" x=\"{xx:.1}\" y=\"{}\" text-anchor=\"middle\">{}</text>",
            TOP + plot_h + 16.0,
            time_label(t, tstep)
        );
        t += tstep;
        n += 1;
    }
    out.push_str("</g>");

    // census ticks: one short stroke per pixel column that has a census
    let mut cols: Vec<i64> = c
        .censuses
        .iter()
        .filter(|t| t.is_finite())
        .map(|t| x(*t).round() as i64)
        .collect();
    cols.sort_unstable();
    cols.dedup();
    if !cols.is_empty() {
        out.push_str("<path class=\"census\" d=\"");
        for cx in &cols {
            let _ = write!(out, "M{cx} {}v6", TOP + plot_h + 22.0);
        }
        let _ = write!(
            out,
            "\"><title>{} heap census(es)</title></path>",
            units::count(c.censuses.len() as u64)
        );
    }

    for (class, pts) in &lines {
        if pts.is_empty() {
            continue;
        }
        let _ = write!(out, "<polyline class=\"line {}\" points=\"", escape(class));
        for (i, (t, v)) in pts.iter().enumerate() {
            if i > 0 {
                out.push(' ');
            }
            let _ = write!(out, "{:.1},{:.1}", x(*t), y(*v));
        }
        out.push_str("\"/>");
    }

    // findings: a dashed rule and a triangle linking to the finding's text
    for m in c
        .marks
        .iter()
        .filter(|m| m.at_s.is_finite())
        .take(MAX_MARKS)
    {
        let mx = x(m.at_s);
        let _ = write!(
            out,
            "<a href=\"#{}\" class=\"mark {}\"><title>{}</title><line x1=\"{mx:.1}\" x2=\"{mx:.1}\" y1=\"{TOP}\" y2=\"{}\"/><path d=\"M{:.1} {}l6 -10h-12z\"/></a>",
            escape(&m.anchor),
            m.class,
            escape(&m.label),
            TOP + plot_h,
            mx,
            TOP - 1.0
        );
    }
    out.push_str("</svg>");
    out
}

/// A sparkline of `values` (oldest first), scaled to its own range; its tooltip says first →
/// last. Fewer than two finite values draw nothing but the tooltip's frame.
pub fn sparkline(values: &[f64], tooltip: &str) -> String {
    const W: f64 = 120.0;
    const H: f64 = 22.0;
    let pts: Vec<(f64, f64)> = downsample(
        &values
            .iter()
            .enumerate()
            .map(|(i, v)| (i as f64, *v))
            .collect::<Vec<_>>(),
        MAX_SPARK_POINTS,
    );
    let lo = pts.iter().map(|p| p.1).fold(f64::MAX, f64::min);
    let hi = pts.iter().map(|p| p.1).fold(f64::MIN, f64::max);
    // a history that never moved is drawn grey: the eye goes to what changed
    let mut out = format!(
        "<svg class=\"spark{1}\" viewBox=\"0 0 {W} {H}\" role=\"img\" aria-label=\"{0}\"><title>{0}</title>",
        escape(tooltip),
        if hi > lo { "" } else { " flat" }
    );
    if pts.len() >= 2 {
        let (t0, t1) = (pts[0].0, pts[pts.len() - 1].0);
        let x = |t: f64| 1.0 + (t - t0) / (t1 - t0).max(1e-9) * (W - 4.0);
        let y = |v: f64| {
            if hi > lo {
                H - 2.0 - (v - lo) / (hi - lo) * (H - 4.0)
            } else {
                H / 2.0
            }
        };
        out.push_str("<polyline points=\"");
        for (i, (t, v)) in pts.iter().enumerate() {
            if i > 0 {
                out.push(' ');
            }
            let _ = write!(out, "{:.0},{:.1}", x(*t), y(*v));
        }
        let (lt, lv) = pts[pts.len() - 1];
        let _ = write!(
            out,
            "\"/><circle cx=\"{:.1}\" cy=\"{:.1}\" r=\"2\"/>",
            x(lt),
            y(lv)
        );
    }
    out.push_str("</svg>");
    out
}

/// One part of a stacked bar.
pub struct Part<'a> {
    pub label: &'a str,
    pub class: &'a str,
    pub bytes: u64,
}

/// A horizontal bar split in `parts`, each as wide as its share of the total; each part's
/// tooltip gives its name and size.
pub fn stacked_bar(title: &str, parts: &[Part]) -> String {
    const W: f64 = 960.0;
    const H: f64 = 26.0;
    let total: f64 = parts.iter().map(|p| p.bytes as f64).sum();
    let mut out = format!(
        "<svg class=\"bar\" viewBox=\"0 0 {W} {H}\" preserveAspectRatio=\"none\" role=\"img\" aria-label=\"{0}\"><title>{0}</title>",
        escape(title)
    );
    if total > 0.0 {
        let mut x = 0.0;
        for p in parts.iter().filter(|p| p.bytes > 0) {
            let w = p.bytes as f64 / total * W;
            let _ = write!(
                out,
                "<rect class=\"{}\" x=\"{x:.1}\" y=\"0\" width=\"{w:.1}\" height=\"{H}\"><title>{}: {}</title></rect>",
                escape(p.class),
                escape(p.label),
                units::bytes(p.bytes as f64)
            );
            x += w;
        }
    }
    out.push_str("</svg>");
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn polyline_points(svg: &str) -> Vec<usize> {
        svg.match_indices("<polyline")
            .map(|(i, _)| {
                let rest = &svg[i..];
                let start = rest.find("points=\"").unwrap() + 8;
                let end = rest[start..].find('"').unwrap();
                rest[start..start + end].split(' ').count()
            })
            .collect()
    }

    #[test]
    fn a_long_series_is_drawn_with_a_bounded_number_of_points() {
        // an hour at 100 Hz
        let rss: Vec<(f64, f64)> = (0..360_000)
            .map(|i| (i as f64 / 100.0, 1e8 + i as f64 * 100.0))
            .collect();
        let censuses: Vec<f64> = (0..1800).map(|i| i as f64 * 2.0).collect();
        let marks = (0..500)
            .map(|i| Mark {
                at_s: i as f64,
                label: format!("finding {i}"),
                anchor: format!("f{i}"),
                class: "important",
            })
            .collect();
        let svg = chart(&Chart {
            title: "RSS",
            lines: vec![Line {
                class: "rss",
                points: rss,
            }],
            censuses,
            marks,
        });
        let counts = polyline_points(&svg);
        assert_eq!(counts.len(), 1);
        assert!(
            counts[0] <= MAX_CHART_POINTS && counts[0] > 100,
            "{counts:?}"
        );
        assert_eq!(svg.matches("<a href=").count(), MAX_MARKS);
        assert!(svg.len() < 40_000, "{} bytes", svg.len());
        // census ticks are merged per pixel column: at most the plot's width
        let census = svg.split("class=\"census\" d=\"").nth(1).unwrap();
        let census = census.split('"').next().unwrap();
        let ticks = census.matches('M').count();
        assert!(
            ticks > 100 && ticks <= (WIDTH - LEFT - RIGHT) as usize + 1,
            "{ticks}"
        );
    }

    #[test]
    fn downsampling_keeps_the_peak_and_the_last_time() {
        let mut pts: Vec<(f64, f64)> = (0..10_000).map(|i| (i as f64, 1.0)).collect();
        pts[4321].1 = 99.0;
        let d = downsample(&pts, 100);
        assert!(d.len() <= 100);
        assert!(d.iter().any(|p| p.1 == 99.0));
        assert_eq!(d.last().unwrap().0, 9_999.0);
        assert!(d.windows(2).all(|w| w[0].0 < w[1].0));
    }

    #[test]
    fn an_empty_series_draws_a_labelled_empty_chart() {
        let svg = chart(&Chart {
            title: "RSS and USS",
            lines: vec![
                Line {
                    class: "rss",
                    points: Vec::new(),
                },
                Line {
                    class: "uss",
                    points: vec![(f64::NAN, 1.0), (1.0, f64::INFINITY)],
                },
            ],
            censuses: Vec::new(),
            marks: Vec::new(),
        });
        assert!(svg.starts_with("<svg") && svg.ends_with("</svg>"), "{svg}");
        assert!(svg.contains("no samples recorded"));
        assert!(!svg.contains("<polyline"));
        assert!(!svg.contains("NaN") && !svg.contains("inf"));
    }

    #[test]
    fn one_point_and_a_flat_series_do_not_divide_by_zero() {
        for pts in [vec![(0.0, 5e6)], vec![(0.0, 5e6), (10.0, 5e6)]] {
            let svg = chart(&Chart {
                title: "RSS",
                lines: vec![Line {
                    class: "rss",
                    points: pts,
                }],
                censuses: vec![0.0],
                marks: Vec::new(),
            });
            assert!(!svg.contains("NaN") && !svg.contains("inf"), "{svg}");
            assert!(svg.contains("<polyline"));
        }
        let s = sparkline(&[3.0, 3.0, 3.0], "flat");
        assert!(!s.contains("NaN"), "{s}");
        let s = sparkline(&[], "none");
        assert!(!s.contains("<polyline"), "{s}");
    }

    #[test]
    fn target_text_in_a_chart_is_escaped() {
        let svg = chart(&Chart {
            title: "RSS of <script>",
            lines: vec![Line {
                class: "rss",
                points: vec![(0.0, 1e6), (5.0, 2e6)],
            }],
            censuses: Vec::new(),
            marks: vec![Mark {
                at_s: 2.0,
                label: "Unbounded Cache — a</title><script>x()</script> https://example.invalid"
                    .into(),
                anchor: "f1".into(),
                class: "important",
            }],
        });
        assert!(!svg.contains("<script"), "{svg}");
        assert!(!svg.contains("https:"), "{svg}");
        assert!(svg.contains("&lt;/title&gt;&lt;script&gt;"), "{svg}");
        let s = sparkline(&[1.0, 2.0], "<b>");
        assert!(s.contains("&lt;b&gt;") && !s.contains("<b>"));
    }

    #[test]
    fn axes_read_in_binary_units_and_sensible_times() {
        let svg = chart(&Chart {
            title: "RSS",
            lines: vec![Line {
                class: "rss",
                points: vec![(0.0, 100.0 * 1048576.0), (3600.0, 180.0 * 1048576.0)],
            }],
            censuses: Vec::new(),
            marks: Vec::new(),
        });
        assert!(svg.contains(" MiB</text>"), "{svg}");
        assert!(
            svg.contains("10 min</text>") || svg.contains("15 min</text>"),
            "{svg}"
        );
    }
}
