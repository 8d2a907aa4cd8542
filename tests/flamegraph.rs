//! `memwatch report --format flamegraph` and `--format speedscope` on sessions recorded from
//! real CPython processes: a program with one known allocating line (alloc_line.py's
//! bytearray line, 4 × 50 MiB) and a fork pool whose workers leak (a process tree).

mod common;

use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::process::Output;
use std::time::Duration;

use common::*;
use serde_json::Value;

/// `memwatch report SESSION --format FORMAT -o OUT`, which must succeed; OUT's text.
fn report_to(session: &Path, format: &str, out: &Path) -> String {
    let o = memwatch()
        .arg("report")
        .arg(session)
        .args(["--format", format, "-o"])
        .arg(out)
        .output()
        .unwrap();
    assert!(
        o.status.success(),
        "report --format {format}: {}",
        stderr_of(&o)
    );
    let mode = std::fs::metadata(out).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode, 0o600, "{} is owner-only", out.display());
    std::fs::read_to_string(out).unwrap()
}

/// One frame of an inferno flamegraph: its `<title>` (`NAME (N bytes, P%)`) and its box.
#[derive(Debug, Clone)]
struct Frame {
    name: String,
    bytes: u64,
    /// Left edge and width, percent of the picture; y grows downwards (the root is lowest).
    x: f64,
    width: f64,
    y: f64,
}

impl Frame {
    /// Does this frame's box hold `other`'s columns, below it: is it one of its callers?
    fn encloses(&self, other: &Frame) -> bool {
        self.y > other.y
            && self.x <= other.x + 1e-3
            && self.x + self.width >= other.x + other.width - 1e-3
    }
}

/// Parse the SVG as XML and read every frame: the `<g>` elements with a `<title>` and a
/// `<rect>`, inferno's frames.
fn flame_frames(svg: &str) -> Vec<Frame> {
    let doc = roxmltree::Document::parse_with_options(
        svg,
        roxmltree::ParsingOptions {
            allow_dtd: true,
            ..Default::default()
        },
    )
    .unwrap_or_else(|e| panic!("the flamegraph is not XML: {e}"));
    let mut frames = Vec::new();
    for g in doc.descendants().filter(|n| n.has_tag_name("g")) {
        let title = g.children().find(|c| c.has_tag_name("title"));
        let rect = g.children().find(|c| c.has_tag_name("rect"));
        let (Some(title), Some(rect)) = (title, rect) else {
            continue;
        };
        let text = title.text().unwrap_or_default();
        // `NAME (1,234 bytes, 5.00%)`
        let (name, tail) = text
            .rsplit_once(" (")
            .unwrap_or_else(|| panic!("frame title {text:?}"));
        let count = tail
            .split_once(" bytes")
            .unwrap_or_else(|| panic!("count name is bytes: {text:?}"))
            .0;
        let pct = |a: &str| -> f64 {
            rect.attribute(a)
                .unwrap()
                .trim_end_matches('%')
                .parse()
                .unwrap()
        };
        frames.push(Frame {
            name: name.to_string(),
            bytes: count.replace(',', "").parse().unwrap(),
            x: pct("x"),
            width: pct("width"),
            y: rect.attribute("y").unwrap().parse().unwrap(),
        });
    }
    frames
}

/// Every field the published speedscope schema requires
/// (https://www.speedscope.app/file-format-schema.json), one by one; the profiles.
fn check_speedscope(json: &str) -> Value {
    let f: Value = serde_json::from_str(json).expect("speedscope JSON");
    assert_eq!(
        f["$schema"], "https://www.speedscope.app/file-format-schema.json",
        "$schema"
    );
    let frames = f["shared"]["frames"].as_array().expect("shared.frames");
    for fr in frames {
        assert!(fr["name"].is_string(), "frame name: {fr}");
        assert!(fr["file"].is_null() || fr["file"].is_string(), "{fr}");
        assert!(fr["line"].is_null() || fr["line"].is_u64(), "{fr}");
    }
    let profiles = f["profiles"].as_array().expect("profiles");
    assert!(!profiles.is_empty());
    for p in profiles {
        assert_eq!(p["type"], "sampled", "type: {}", p["name"]);
        assert!(p["name"].is_string(), "name");
        let unit = p["unit"].as_str().expect("unit");
        assert!(unit == "bytes" || unit == "none", "unit {unit}");
        let start = p["startValue"].as_f64().expect("startValue");
        let end = p["endValue"].as_f64().expect("endValue");
        assert!(end >= start, "endValue {end} < startValue {start}");
        let samples = p["samples"].as_array().expect("samples");
        let weights = p["weights"].as_array().expect("weights");
        assert_eq!(
            samples.len(),
            weights.len(),
            "samples and weights of {}",
            p["name"]
        );
        let mut sum = 0.0;
        for (s, w) in samples.iter().zip(weights) {
            let s = s.as_array().expect("a sample is a list of frame indices");
            assert!(!s.is_empty());
            for i in s {
                let i = i.as_u64().expect("frame index") as usize;
                assert!(i < frames.len(), "frame index {i} of {}", frames.len());
            }
            let w = w.as_f64().expect("weight");
            assert!(w > 0.0, "weight {w}");
            sum += w;
        }
        assert_eq!(
            end - start,
            sum,
            "endValue is the weights' total: {}",
            p["name"]
        );
    }
    let active = f["activeProfileIndex"].as_u64().unwrap() as usize;
    assert!(active < profiles.len());
    f
}

/// The frame name of one frame index.
fn frame<'a>(f: &'a Value, i: &Value) -> &'a Value {
    &f["shared"]["frames"][i.as_u64().unwrap() as usize]
}

/// `memwatch run --report live.svg` on alloc_line.py (4 × 50 MiB at the planted line), then
/// the flamegraph and the speedscope profile of the recorded session.
fn stacks_name_the_planted_line(label: &str) {
    let _one = heavy();
    let Some(py) = interpreter(label) else { return };
    let dir = tempfile::tempdir().unwrap();
    let session = dir.path().join("s.db");
    let live = dir.path().join("live.svg");
    let mut cmd = memwatch();
    cmd.args(["run", "--no-tui", "--record"])
        .arg(&session)
        .arg("--report")
        .arg(&live)
        .arg("--")
        .args(py.argv())
        .arg(py.script("alloc_line.py"))
        .arg("bytearray");
    let out: Output = output_within(cmd, Duration::from_secs(60));
    assert!(out.status.success(), "{}: {}", py.label, stderr_of(&out));
    let line = marker_line("alloc_line.py", "# ALLOC:bytearray");
    let planted = format!("big_buffers (alloc_line.py:{line})");
    let r = report_json(&session, &[]);
    let top = &r["top_lines"][0];
    assert_eq!(top["line"], line, "{}: top line {top}", py.label);
    let top_bytes = top["increment_bytes"].as_u64().unwrap();

    // the flamegraph
    let svg = report_to(&session, "flamegraph", &dir.path().join("f.svg"));
    // the live watch's analyzer and the session read back draw the same picture
    assert_eq!(
        std::fs::read_to_string(&live).unwrap(),
        svg,
        "{}: --report of the live watch and report of its session differ",
        py.label
    );
    assert!(svg.contains("sampled memory increments: "), "title");
    assert!(
        svg.contains("alloc_line.py bytearray"),
        "the command in the title"
    );
    let frames = flame_frames(&svg);
    let all = frames.iter().find(|f| f.name == "all").expect("root frame");
    let leaf = frames
        .iter()
        .find(|f| f.name == planted)
        .unwrap_or_else(|| panic!("{}: no frame {planted}: {frames:#?}", py.label));
    // its width is the line's increment in the report (the one stack it is the innermost of)
    assert_eq!(leaf.bytes, top_bytes, "{}: {leaf:?}", py.label);
    // sampled: under load a sample can miss one of the four memsets (see line_attribution.rs)
    assert!(
        leaf.bytes >= 100 << 20 && leaf.bytes * 2 > all.bytes,
        "{}: {leaf:?} of {all:?}",
        py.label
    );
    // the largest share: every frame with more bytes is one of its callers
    for f in frames.iter().filter(|f| f.bytes > leaf.bytes) {
        assert!(f.encloses(leaf), "{}: {f:?} outweighs {leaf:?}", py.label);
    }
    assert!(
        frames
            .iter()
            .any(|f| f.name.starts_with("main (alloc_line.py:") && f.encloses(leaf)),
        "{}: its caller is drawn below it",
        py.label
    );

    // the speedscope profile
    let json = report_to(
        &session,
        "speedscope",
        &dir.path().join("p.speedscope.json"),
    );
    let f = check_speedscope(&json);
    let profiles = f["profiles"].as_array().unwrap();
    assert_eq!(profiles.len(), 2, "bytes and samples");
    let bytes = &profiles[0];
    assert_eq!(bytes["unit"], "bytes");
    assert_eq!(f["activeProfileIndex"], 0);
    let weights = bytes["weights"].as_array().unwrap();
    let heaviest = (0..weights.len())
        .max_by_key(|&i| weights[i].as_u64().unwrap())
        .expect("a stack that grew");
    assert_eq!(
        weights[heaviest].as_u64().unwrap(),
        top_bytes,
        "{}",
        py.label
    );
    let stack = bytes["samples"][heaviest].as_array().unwrap();
    let leaf = frame(&f, stack.last().unwrap());
    assert_eq!(
        leaf["line"], line,
        "{}: heaviest stack ends at {leaf}",
        py.label
    );
    assert_eq!(leaf["name"], planted.as_str());
    assert!(leaf["file"].as_str().unwrap().ends_with("alloc_line.py"));
    // root first: the module, then main
    assert_eq!(
        frame(&f, &stack[0])["name"]
            .as_str()
            .unwrap()
            .split(' ')
            .next(),
        Some("<module>")
    );
    let samples = &profiles[1];
    assert_eq!(samples["unit"], "none");
    // every sample whose stack was read, less those on a stack with no frame (thread start
    // and exit)
    let seen = samples["endValue"].as_u64().unwrap();
    let with_stack = r["summary"]["samples_with_stack"].as_u64().unwrap();
    assert!(
        seen <= with_stack && seen * 10 >= with_stack * 9,
        "{}: {seen} samples on stacks of {with_stack}",
        py.label
    );
}

/// A fork pool whose two workers fill a dict, watched with --subprocesses: one flamegraph
/// with a root frame per process, and two speedscope profiles per process.
#[test]
fn a_tree_session_renders_both() {
    let _one = heavy();
    let py = interpreter("python3").expect("the machine's python3");
    let dir = tempfile::tempdir().unwrap();
    let session = dir.path().join("tree.db");
    let mut cmd = memwatch();
    cmd.args([
        "run",
        "--subprocesses",
        "--no-tui",
        "--duration",
        "8",
        "--record",
    ])
    .arg(&session)
    .arg("--")
    .args(py.argv())
    .arg(py.script("tree/pool_fork.py"))
    .arg("leak");
    let out = output_within(cmd, Duration::from_secs(90));
    assert!(out.status.success(), "{}", stderr_of(&out));
    let r = report_json(&session, &[]);
    assert_eq!(r["kind"], "tree");
    let labels: Vec<String> = r["reports"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["label"].as_str().unwrap().to_string())
        .collect();
    assert!(
        labels.len() >= 3,
        "parent and 2 workers sampled: {labels:?}"
    );

    let svg = report_to(&session, "flamegraph", &dir.path().join("tree.svg"));
    let frames = flame_frames(&svg);
    let all = frames.iter().find(|f| f.name == "all").expect("root frame");
    // the frames just above `all` are the processes, each named as the report names it
    let roots: Vec<&Frame> = frames
        .iter()
        .filter(|f| f.name != "all" && f.y < all.y && all.y - f.y < 20.0)
        .collect();
    for f in &roots {
        assert!(
            labels.contains(&f.name),
            "root frame {f:?} is not a process of {labels:?}"
        );
    }
    let workers = roots
        .iter()
        .filter(|f| f.name.starts_with("worker "))
        .count();
    assert!(
        workers >= 2,
        "the growing workers have a root frame each: {roots:#?}"
    );
    // the processes make up the whole (inferno leaves out frames under 0.01 % wide)
    let drawn: u64 = roots.iter().map(|f| f.bytes).sum();
    assert!(
        drawn <= all.bytes && drawn * 1000 >= all.bytes * 999,
        "{drawn} of {all:?}"
    );

    let json = report_to(
        &session,
        "speedscope",
        &dir.path().join("tree.speedscope.json"),
    );
    let f = check_speedscope(&json);
    let profiles = f["profiles"].as_array().unwrap();
    assert_eq!(profiles.len(), 2 * labels.len(), "two profiles per process");
    for (pair, label) in profiles.chunks(2).zip(&labels) {
        assert_eq!(pair[0]["name"], format!("{label}: memory increments"));
        assert_eq!(pair[0]["unit"], "bytes");
        assert_eq!(pair[1]["name"], format!("{label}: samples"));
        assert_eq!(pair[1]["unit"], "none");
        assert!(
            pair[1]["endValue"].as_u64().unwrap() > 10,
            "{label} was sampled"
        );
    }
    // a worker's bytes profile carries its growth
    assert!(
        profiles
            .chunks(2)
            .zip(&labels)
            .any(|(p, l)| l.starts_with("worker ") && p[0]["endValue"].as_u64().unwrap() > 0),
        "no worker grew"
    );
}

macro_rules! per_interpreter {
    ($($name:ident => $label:expr),* $(,)?) => {
        $( #[test] fn $name() { stacks_name_the_planted_line($label) } )*
    };
}

per_interpreter! {
    python3 => "python3",
    py3_8 => "3.8",
    py3_13 => "3.13",
    sid_3_15 => "sid-3.15",
}
