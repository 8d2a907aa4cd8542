//! `--format flamegraph`: the memory each stack was charged with, as an SVG flamegraph drawn
//! by the `inferno` crate (interactive in a browser: click to zoom, Ctrl-F to search).
//!
//! Widths are bytes: each stack's net growth (the sum of the RSS changes the analyzer charged
//! to it, when positive). A stack whose charges net to a decrease has no width; what such
//! stacks freed is said in the subtitle, with the change no stack could be charged with.
//! Frames are `function (file.py:line)`, root at the bottom; a tree's picture has a root frame
//! per process (`worker 4312 (…)`).
//!
//! It owns the folding into inferno's input and the picture's words; it never draws frames
//! itself, and never folds more than [`folded::FRAME_BUDGET`] frames whatever the session
//! holds.

use inferno::flamegraph::color::{BasicPalette, Palette};
use inferno::flamegraph::{self as inferno_fg, Options};
use quick_xml::Writer;
use quick_xml::events::{BytesDecl, BytesText, Event};

use super::View;
use super::folded::{self, Charged};
use crate::analyzer::Analyzer;
use crate::failure::{Failure, Result};
use crate::units;

/// inferno's default width, in pixels.
const WIDTH: usize = 1200;

/// Folded stacks (`root;…;leaf BYTES`, inferno's input) and what they leave out.
#[derive(Debug, Default)]
pub struct Fold {
    pub lines: Vec<String>,
    /// Bytes drawn (net growth of the stacks that grew, lumped ones included).
    pub grown: u64,
    pub growing_stacks: usize,
    /// Bytes freed by the stacks whose charges net to a decrease (not drawn).
    pub freed: u64,
    pub freeing_stacks: usize,
    /// RSS change charged to no stack (no readable Python stack), bytes.
    pub unattributed: i64,
    pub samples: u64,
    pub samples_with_stack: u64,
}

/// `1 stack`, `12 stacks`.
fn stacks(n: usize) -> String {
    let s = if n == 1 { "" } else { "s" };
    format!("{} stack{s}", units::count(n as u64))
}

/// A name made fit for a folded line, where `;` separates frames.
fn fold_safe(name: &str) -> String {
    name.replace(';', ",")
}

impl Fold {
    /// Fold one process's stacks, under `root` (a tree's process label) if given, drawing at
    /// most `budget` frames of it.
    pub fn add(&mut self, root: Option<&str>, a: &Analyzer, budget: usize) {
        self.samples += a.samples;
        self.samples_with_stack += a.samples_with_stack;
        self.unattributed = self
            .unattributed
            .saturating_add(a.lines.unattributed_kib.saturating_mul(1024));
        let stacks = folded::charged(a);
        for c in stacks.iter().filter(|c| c.bytes < 0) {
            self.freed = self.freed.saturating_add(c.bytes.unsigned_abs());
            self.freeing_stacks += 1;
        }
        let sel = folded::select(&stacks, Charged::growth, budget);
        let prefix = root
            .map(|r| fold_safe(&folded::clean(r)) + ";")
            .unwrap_or_default();
        for (c, w) in &sel.kept {
            let names: Vec<String> = c
                .frames
                .iter()
                .map(|f| fold_safe(&folded::frame_name(f)))
                .collect();
            self.lines.push(format!("{prefix}{} {w}", names.join(";")));
            self.grown = self.grown.saturating_add(*w);
        }
        if sel.lumped_stacks > 0 {
            self.lines.push(format!(
                "{prefix}{} {}",
                folded::lump_name(sel.lumped_stacks),
                sel.lumped_weight
            ));
            self.grown = self.grown.saturating_add(sel.lumped_weight);
        }
        self.growing_stacks += sel.kept.len() + sel.lumped_stacks;
    }

    /// How the widths were made and what they leave out, in one line.
    pub fn subtitle(&self) -> String {
        let mut s = format!(
            "widths: each stack's net growth, {} over {}",
            units::bytes(self.grown as f64),
            stacks(self.growing_stacks),
        );
        let mut left_out = Vec::new();
        if self.freeing_stacks > 0 {
            left_out.push(format!(
                "{} freed by {}",
                units::bytes(self.freed as f64),
                stacks(self.freeing_stacks),
            ));
        }
        if self.unattributed != 0 {
            left_out.push(format!(
                "{} with no readable stack",
                units::signed_kib(self.unattributed as f64 / 1024.0)
            ));
        }
        if !left_out.is_empty() {
            s += "; not drawn: ";
            s += &left_out.join(", ");
        }
        s
    }
}

/// Every sampled process of the view, folded.
pub fn fold(view: View) -> Fold {
    let procs = folded::processes(view);
    let budget = folded::FRAME_BUDGET / procs.len().max(1);
    let mut f = Fold::default();
    for (root, a) in &procs {
        f.add(root.as_deref(), a, budget);
    }
    f
}

/// The flamegraph of `view`, as SVG.
pub fn render(view: View) -> Result<Vec<u8>> {
    let fold = fold(view);
    let title = format!("sampled memory increments: {}", folded::command(view));
    if fold.lines.is_empty() {
        return nothing_to_draw(&title, &fold).map_err(Failure::internal);
    }
    let mut opt = Options::default();
    opt.title = title;
    opt.subtitle = Some(fold.subtitle());
    opt.count_name = "bytes".into();
    opt.name_type = "Frame:".into();
    opt.colors = Palette::Basic(BasicPalette::Mem);
    // colours from the names: the same file renders the same picture
    opt.hash = true;
    opt.image_width = Some(WIDTH);
    opt.notes = format!("memwatch {}", env!("CARGO_PKG_VERSION"));
    let mut out = Vec::new();
    inferno_fg::from_lines(&mut opt, fold.lines.iter().map(String::as_str), &mut out)
        .map_err(|e| Failure::Internal(format!("flamegraph: {e}")))?;
    Ok(out)
}

/// A session with nothing to draw (no samples, or no stack that grew) still gives a valid
/// SVG, which says so: a CI job's `--report flame.svg` always has its artifact. inferno only
/// writes an error picture for an empty input.
fn nothing_to_draw(title: &str, fold: &Fold) -> std::io::Result<Vec<u8>> {
    let why = format!(
        "nothing to draw: no memory growth was charged to a Python stack ({} samples, {} with a stack)",
        units::count(fold.samples),
        units::count(fold.samples_with_stack)
    );
    let mut w = Writer::new(Vec::new());
    w.write_event(Event::Decl(BytesDecl::new("1.0", Some("UTF-8"), None)))?;
    let width = WIDTH.to_string();
    let view_box = format!("0 0 {WIDTH} 100");
    w.create_element("svg")
        .with_attributes([
            ("version", "1.1"),
            ("width", width.as_str()),
            ("height", "100"),
            ("viewBox", view_box.as_str()),
            ("xmlns", "http://www.w3.org/2000/svg"),
        ])
        .write_inner_content(|w| {
            let center = (WIDTH / 2).to_string();
            for (y, size, text) in [
                ("24", "17", title),
                ("50", "12", why.as_str()),
                ("72", "12", fold.subtitle().as_str()),
            ] {
                w.create_element("text")
                    .with_attributes([
                        ("x", center.as_str()),
                        ("y", y),
                        ("text-anchor", "middle"),
                        ("font-family", "monospace"),
                        ("font-size", size),
                    ])
                    .write_text_content(BytesText::new(text))?;
            }
            Ok(())
        })?;
    Ok(w.into_inner())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::share::folded::tests::analyzer;

    fn app() -> Analyzer {
        analyzer(
            &[
                ("load", "/srv/app.py", 45),
                ("main", "/srv/app.py", 60),
                ("<module>", "/srv/app.py", 70),
                ("free;all", "/srv/app.py", 50),
            ],
            &[&[0, 1, 2], &[1, 2], &[3, 1, 2]],
            &[(1, 1000), (0, 3000), (1, 3100), (2, 3100), (2, 2100)],
        )
    }

    #[test]
    fn folding_puts_the_root_first_and_weighs_net_growth_in_bytes() {
        let a = app();
        let f = fold(View::Single(&a));
        assert_eq!(
            f.lines,
            [
                "<module> (app.py:70);main (app.py:60);load (app.py:45) 2048000",
                "<module> (app.py:70);main (app.py:60) 102400",
            ]
        );
        assert_eq!((f.grown, f.growing_stacks), (2_150_400, 2));
        // the stack that freed has no width; `;` in a name does not split a frame
        assert_eq!((f.freed, f.freeing_stacks), (1000 * 1024, 1));
        assert_eq!(
            f.subtitle(),
            "widths: each stack's net growth, 2.1 MiB over 2 stacks; not drawn: 1000 KiB freed by 1 stack"
        );
    }

    #[test]
    fn the_subtitle_says_what_is_left_out() {
        let f = Fold {
            grown: 5 << 20,
            growing_stacks: 1,
            unattributed: -(200 << 20),
            ..Fold::default()
        };
        assert_eq!(
            f.subtitle(),
            "widths: each stack's net growth, 5.0 MiB over 1 stack; not drawn: -200.0 MiB with no readable stack"
        );
    }

    #[test]
    fn a_tree_has_a_root_frame_per_process() {
        let a = app();
        let mut t = crate::tree::TreeAnalyzer::new();
        for (proc, pid, root) in [(0, 4300, true), (1, 4312, false)] {
            t.procs.push(crate::tree::ProcView {
                def: crate::event::ProcessDef {
                    proc,
                    pid,
                    command_line: "python3 /srv/app.py --serve".into(),
                    root,
                    ..Default::default()
                },
                analyzer: Some(a.clone()),
                gone: None,
            });
        }
        let f = fold(View::Tree(&t));
        assert_eq!(f.lines.len(), 4);
        assert!(
            f.lines[0].starts_with("main 4300 (python3 /srv/app.py --serve);<module> (app.py:70);")
        );
        assert!(f.lines[2].starts_with("worker 4312 (python3 /srv/app.py --serve);<module>"));
        assert_eq!(f.grown, 2 * 2_150_400);
        let svg = String::from_utf8(render(View::Tree(&t)).unwrap()).unwrap();
        assert!(
            svg.contains(
                "<title>worker 4312 (python3 /srv/app.py --serve) (2,150,400 bytes, 50.00%)</title>"
            ),
            "{svg}"
        );
    }

    #[test]
    fn the_svg_names_the_lines_and_the_bytes() {
        let a = app();
        let svg = String::from_utf8(render(View::Single(&a)).unwrap()).unwrap();
        assert!(svg.contains("sampled memory increments"));
        assert!(
            svg.contains("<title>load (app.py:45) (2,048,000 bytes, 95.24%)</title>"),
            "{svg}"
        );
        assert!(svg.contains("not drawn: 1000 KiB freed by 1 stack"));
    }

    #[test]
    fn a_session_without_samples_gives_a_valid_svg_that_says_so() {
        let a = Analyzer::new();
        let svg = String::from_utf8(render(View::Single(&a)).unwrap()).unwrap();
        assert!(svg.starts_with("<?xml"));
        assert!(svg.contains("nothing to draw: no memory growth was charged to a Python stack (0 samples, 0 with a stack)"), "{svg}");
        assert!(svg.trim_end().ends_with("</svg>"));
        // a tree with no sampled process too
        let t = crate::tree::TreeAnalyzer::new();
        let svg = render(View::Tree(&t)).unwrap();
        assert!(String::from_utf8(svg).unwrap().contains("nothing to draw"));
    }

    #[test]
    fn the_folded_input_is_bounded() {
        // 3,000 stacks 256 frames deep: more than the budget
        let frames: Vec<(String, String, u32)> = (0..3000u32)
            .map(|i| (format!("f{i}"), "app.py".to_string(), i))
            .collect();
        let frames: Vec<(&str, &str, u32)> = frames
            .iter()
            .map(|(f, p, l)| (f.as_str(), p.as_str(), *l))
            .collect();
        let stacks: Vec<Vec<u32>> = (0..3000u32)
            .map(|i| (0..256).map(|d| (i + d) % 3000).collect())
            .collect();
        let stacks: Vec<&[u32]> = stacks.iter().map(|s| s.as_slice()).collect();
        let mut rss = 1_000_000u64;
        let charges: Vec<(u32, u64)> = (0..3000u32)
            .map(|i| {
                rss += 4;
                (i, rss)
            })
            .collect();
        let a = analyzer(&frames, &stacks, &charges);
        let f = fold(View::Single(&a));
        let drawn: usize = f.lines.iter().map(|l| l.matches(';').count() + 1).sum();
        assert!(drawn <= folded::FRAME_BUDGET + 1, "{drawn} frames");
        assert!(f.lines.last().unwrap().contains("lighter stacks, lumped"));
        // every byte is drawn somewhere
        assert_eq!(f.grown, 2999 * 4 * 1024);
    }
}
