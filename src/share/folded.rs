//! The stacks that the stack-drawing formats show ([`super::flame`], [`super::speedscope`]):
//! every stack the analyzer charged or sampled ([`crate::analyzer::stacks::StackTotals`]),
//! its frames resolved root first, with its bytes and samples; and, for one weight, the
//! heaviest of them within a budget of frames, the rest lumped into one entry that keeps the
//! totals right.
//!
//! It never decides what is charged to a stack (the analyzer did), and never lets what a
//! session file contains size what it builds: stacks are cut to the sampler's depth, names to
//! [`MAX_NAME_BYTES`], and what is drawn to [`FRAME_BUDGET`] frames, so a corrupt or
//! pathological session (a million distinct deep stacks) still gives a file of bounded size.

use super::View;
use crate::analyzer::Analyzer;
use crate::event::{FrameDef, StackId};

/// Deepest stack drawn (the innermost frames, as the sampler keeps them).
pub const MAX_DEPTH: usize = crate::sampler::stacks::MAX_FRAMES;
/// Most frames (summed over the stacks drawn) one rendering draws, shared evenly between the
/// processes (and a speedscope file's profiles): 8,000 stacks 30 frames deep, about 10 MiB of
/// folded lines or JSON at usual name lengths, 50 MiB at the longest. Sessions have a few
/// thousand stacks; past the budget, the lightest are lumped.
pub const FRAME_BUDGET: usize = 250_000;
/// Longest frame name drawn, in bytes (UTF-8).
pub const MAX_NAME_BYTES: usize = 200;
/// Longest command shown in a title, in bytes (a flamegraph's title line holds ~110
/// characters).
pub const TITLE_BYTES: usize = 100;

/// The sampled processes of a view, each with the root frame it is drawn under: none for a
/// single process, its label (`worker 4312 (gunicorn: worker [app])`) in a tree.
pub fn processes<'a>(view: View<'a>) -> Vec<(Option<String>, &'a Analyzer)> {
    match view {
        View::Single(a) => vec![(None, a)],
        View::Tree(t) => t.sampled().map(|(p, a)| (Some(p.label()), a)).collect(),
    }
}

/// The command that was watched (a tree's: its first process's), for a title: absolute paths
/// by their file name (`python3.12 app.py --port 8000`), cut at [`TITLE_BYTES`].
pub fn command(view: View) -> String {
    let cmd = match view {
        View::Single(a) => a.info.as_ref().map(|i| i.command_line.as_str()),
        View::Tree(t) => t.procs.first().map(|p| p.def.command_line.as_str()),
    };
    let short = cmd
        .unwrap_or_default()
        .split_whitespace()
        .map(|w| match w.strip_prefix('/') {
            Some(p) => p.rsplit('/').next().unwrap_or(p),
            None => w,
        })
        .collect::<Vec<_>>()
        .join(" ");
    if short.is_empty() {
        return "(command unknown)".to_string();
    }
    clip(&short, TITLE_BYTES)
}

/// One stack with what was charged to it.
#[derive(Debug, Clone)]
pub struct Charged<'a> {
    pub stack: StackId,
    /// Root first; at most [`MAX_DEPTH`], frame ids the session does not define left out.
    pub frames: Vec<&'a FrameDef>,
    /// Net RSS change charged to the stack, bytes (negative: it freed more than it grew).
    pub bytes: i64,
    pub samples: u64,
}

impl Charged<'_> {
    /// Its width in a picture of growth: only a net increase has one.
    pub fn growth(&self) -> u64 {
        self.bytes.max(0) as u64
    }
}

/// Every stack of `a` that took a charge or a sample, in the order first seen (stack ids are
/// interned in that order).
pub fn charged(a: &Analyzer) -> Vec<Charged<'_>> {
    let mut out: Vec<Charged<'_>> = a
        .stack_totals
        .iter()
        .filter_map(|(id, total)| {
            let ids = a.stacks.get(&id)?;
            let mut frames: Vec<&FrameDef> = ids
                .iter()
                .take(MAX_DEPTH)
                .filter_map(|f| a.frames.get(f))
                .collect();
            if frames.is_empty() {
                return None;
            }
            frames.reverse();
            Some(Charged {
                stack: id,
                frames,
                bytes: total.increment_kib.saturating_mul(1024),
                samples: total.samples,
            })
        })
        .collect();
    out.sort_unstable_by_key(|c| c.stack);
    out
}

/// What is drawn for one weight.
#[derive(Debug)]
pub struct Selection<'s, 'a> {
    /// The stacks drawn with their weights, in the order first seen.
    pub kept: Vec<(&'s Charged<'a>, u64)>,
    /// Stacks of non-zero weight past the budget, lumped.
    pub lumped_stacks: usize,
    pub lumped_weight: u64,
}

/// The stacks of non-zero `weight`, heaviest first, as long as their frames fit in `budget`;
/// the others lumped.
pub fn select<'s, 'a>(
    stacks: &'s [Charged<'a>],
    weight: impl Fn(&Charged<'a>) -> u64,
    budget: usize,
) -> Selection<'s, 'a> {
    let mut weighed: Vec<(&'s Charged<'a>, u64)> = stacks
        .iter()
        .map(|c| (c, weight(c)))
        .filter(|(_, w)| *w > 0)
        .collect();
    weighed.sort_unstable_by(|x, y| y.1.cmp(&x.1).then(x.0.stack.cmp(&y.0.stack)));
    let mut used = 0usize;
    let fit = weighed
        .iter()
        .position(|(c, _)| {
            used = used.saturating_add(c.frames.len());
            used > budget
        })
        .unwrap_or(weighed.len());
    let rest = weighed.split_off(fit);
    weighed.sort_unstable_by_key(|(c, _)| c.stack);
    Selection {
        kept: weighed,
        lumped_stacks: rest.len(),
        lumped_weight: rest.iter().fold(0u64, |s, (_, w)| s.saturating_add(*w)),
    }
}

/// Text from the session made fit to show: control characters (a corrupt or hostile name)
/// become `?`, and it is cut at [`MAX_NAME_BYTES`].
pub fn clean(s: &str) -> String {
    clip(s, MAX_NAME_BYTES)
}

/// `s` without control characters, cut to at most `max` bytes at a character boundary (then
/// ending with `…`).
fn clip(s: &str, max: usize) -> String {
    let mut out = String::with_capacity(s.len().min(max + 3));
    for c in s.chars() {
        if out.len() + c.len_utf8() > max {
            out.push('…');
            break;
        }
        out.push(if c.is_control() { '?' } else { c });
    }
    out
}

/// `load (app.py:45)`: the function and the line, so that the line is seen in the picture.
pub fn frame_name(f: &FrameDef) -> String {
    clean(&format!(
        "{} ({})",
        f.function,
        crate::report::text::location(&f.file, f.line)
    ))
}

/// The name of the entry that stands for the stacks past the budget.
pub fn lump_name(stacks: usize) -> String {
    format!(
        "({} lighter stacks, lumped)",
        crate::units::count(stacks as u64)
    )
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use crate::event::{Event, FrameId, Sample, ThreadSample};

    /// An analyzer fed a small session: `charges` are (stack, RSS after it in KiB), each a
    /// running sample on that stack; stacks are `frames` ids innermost first. Growth goes to
    /// the stack running at the end of an interval, a decrease to the one running at its start
    /// ([`crate::analyzer::lines`]): a stack that frees is sampled before and after.
    pub fn analyzer(
        frames: &[(&str, &str, u32)],
        stacks: &[&[FrameId]],
        charges: &[(StackId, u64)],
    ) -> Analyzer {
        let mut a = Analyzer::new();
        for (i, (function, file, line)) in frames.iter().enumerate() {
            a.apply(&Event::Frame(
                i as FrameId,
                FrameDef {
                    function: function.to_string(),
                    file: file.to_string(),
                    line: *line,
                },
            ));
        }
        for (i, s) in stacks.iter().enumerate() {
            a.apply(&Event::Stack(i as StackId, s.to_vec()));
        }
        for (t, (stack, rss)) in charges.iter().enumerate() {
            a.apply(&Event::Sample(Sample {
                t: t as u64 * 10_000,
                rss_kib: *rss,
                threads: vec![ThreadSample {
                    thread: 0,
                    stack: *stack,
                    gil: true,
                    active: true,
                }],
            }));
        }
        a
    }

    #[test]
    fn stacks_resolve_root_first_with_bytes_and_samples() {
        let a = analyzer(
            &[
                ("load", "/srv/app.py", 45),
                ("main", "/srv/app.py", 60),
                ("<module>", "/srv/app.py", 70),
            ],
            &[&[0, 1, 2], &[1, 2], &[0, 7, 2]],
            &[
                (1, 1000),
                (0, 1500),
                (0, 2000),
                (1, 2000),
                (1, 1900),
                (2, 1910),
            ],
        );
        let c = charged(&a);
        assert_eq!(c.len(), 3);
        let names = |c: &Charged| c.frames.iter().map(|f| frame_name(f)).collect::<Vec<_>>();
        assert_eq!(
            names(&c[0]),
            [
                "<module> (app.py:70)",
                "main (app.py:60)",
                "load (app.py:45)"
            ]
        );
        assert_eq!((c[0].bytes, c[0].samples), (1000 * 1024, 2));
        assert_eq!(
            (c[1].bytes, c[1].samples, c[1].growth()),
            (-100 * 1024, 3, 0)
        );
        // an undefined frame id is left out, the rest of the stack stays
        assert_eq!(names(&c[2]), ["<module> (app.py:70)", "load (app.py:45)"]);
    }

    #[test]
    fn the_heaviest_stacks_fit_the_budget_and_the_rest_is_lumped() {
        let frames: Vec<(String, String, u32)> = (0..10)
            .map(|i| (format!("f{i}"), "app.py".to_string(), i))
            .collect();
        let frames: Vec<(&str, &str, u32)> = frames
            .iter()
            .map(|(f, p, l)| (f.as_str(), p.as_str(), *l))
            .collect();
        // stack i is frames i..10: depth 10 - i
        let stacks: Vec<Vec<FrameId>> = (0..10).map(|i| (i..10).collect()).collect();
        let stacks: Vec<&[FrameId]> = stacks.iter().map(|s| s.as_slice()).collect();
        // stack i grows by (i + 1) MiB
        let mut rss = 100_000;
        let mut charges = vec![(0, rss)];
        for i in 0..10 {
            rss += (i as u64 + 1) * 1024;
            charges.push((i, rss));
        }
        let a = analyzer(&frames, &stacks, &charges);
        let c = charged(&a);
        let all = select(&c, Charged::growth, FRAME_BUDGET);
        assert_eq!(all.kept.len(), 10);
        assert_eq!(all.lumped_stacks, 0);
        // the heaviest are the shallowest here: 9 (1 frame), 8 (2), 7 (3) fit in 6 frames
        let s = select(&c, Charged::growth, 6);
        let kept: Vec<StackId> = s.kept.iter().map(|(c, _)| c.stack).collect();
        assert_eq!(kept, [7, 8, 9]);
        assert_eq!(s.lumped_stacks, 7);
        let total: u64 = (1..=10).map(|m| m * 1024 * 1024).sum();
        let drawn: u64 = s.kept.iter().map(|(_, w)| w).sum();
        assert_eq!(drawn + s.lumped_weight, total);
        // a budget smaller than any stack lumps everything, totals intact
        let none = select(&c, Charged::growth, 0);
        assert!(none.kept.is_empty());
        assert_eq!(none.lumped_weight, total);
    }

    #[test]
    fn names_from_a_session_are_cleaned_and_cut() {
        let f = FrameDef {
            function: "evil\nname\u{1b}[2J".into(),
            file: "/x/a.py".into(),
            line: 3,
        };
        assert_eq!(frame_name(&f), "evil?name?[2J (a.py:3)");
        let long = "x".repeat(5000);
        let cut = clean(&long);
        assert_eq!(cut.chars().count(), MAX_NAME_BYTES + 1);
        assert!(cut.ends_with('…'));
        // cut by bytes, at a character boundary
        let wide = clean(&"é".repeat(5000));
        assert_eq!(wide, "é".repeat(MAX_NAME_BYTES / 2) + "…");
    }

    #[test]
    fn the_command_is_short_and_bounded() {
        let mut a = Analyzer::new();
        a.apply(&Event::Start(Box::new(crate::event::SessionInfo {
            command_line: "/usr/bin/python3.12 /srv/app/main.py --config=/etc/app.toml".into(),
            ..Default::default()
        })));
        assert_eq!(
            command(View::Single(&a)),
            "python3.12 main.py --config=/etc/app.toml"
        );
        a.info.as_mut().unwrap().command_line = "x ".repeat(1000);
        assert_eq!(command(View::Single(&a)).chars().count(), TITLE_BYTES + 1);
        assert_eq!(command(View::Single(&Analyzer::new())), "(command unknown)");
    }

    #[test]
    fn an_empty_session_has_no_stacks() {
        let a = Analyzer::new();
        assert!(charged(&a).is_empty());
        let s = select(&[], Charged::growth, FRAME_BUDGET);
        assert!(s.kept.is_empty() && s.lumped_stacks == 0 && s.lumped_weight == 0);
    }
}
