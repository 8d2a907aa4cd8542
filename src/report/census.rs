//! One heap census as `memwatch snapshot` writes it: text, or JSON (the census, with the
//! process it was taken of under `target`, so that `memwatch diff` can say what it compares).

use std::fmt::Write;

use serde::{Deserialize, Serialize};

use crate::heap::census::Census;
use crate::units;

/// The process a snapshot was taken of: the `target` field of `memwatch snapshot --format
/// json`, beside the census's own fields. Snapshots of older memwatch versions lack it.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct SnapshotTarget {
    pub pid: i32,
    pub command_line: String,
    pub python_version: String,
    /// Wall clock when the census was taken, seconds since the Unix epoch.
    pub taken_unix: f64,
    /// RSS right after the census (None: unreadable).
    pub rss_bytes: Option<u64>,
}

/// The JSON of `memwatch snapshot --format json`: the census's fields and `target`.
#[derive(Serialize)]
struct SnapshotJson<'a> {
    #[serde(flatten)]
    census: &'a Census,
    target: &'a SnapshotTarget,
}

pub fn render_json(c: &Census, target: &SnapshotTarget) -> serde_json::Result<String> {
    serde_json::to_string_pretty(&SnapshotJson { census: c, target }).map(|s| s + "\n")
}

fn ms(us: u64) -> String {
    format!("{:.1} ms", us as f64 / 1000.0)
}

pub fn render(c: &Census, command: &str, version: &str, pid: i32, top: usize) -> String {
    let mut out = String::new();
    let _ = writeln!(
        out,
        "memwatch snapshot — PID {pid}, CPython {version}: {command}"
    );
    let _ = writeln!(
        out,
        "  Objects:   {} on the GC lists ({}), {} untracked reached from them ({})",
        units::count(c.gc_objects),
        units::bytes(c.gc_bytes as f64),
        units::count(c.other_objects),
        units::bytes(c.other_bytes as f64)
    );
    let g = &c.gc;
    let _ = writeln!(
        out,
        "  GC:        {}; thresholds {}/{}/{}; counts {}/{}/{}; generations {} / {} / {}, permanent {}{}",
        if g.enabled { "enabled" } else { "DISABLED" },
        g.thresholds[0],
        g.thresholds[1],
        g.thresholds[2],
        g.counts[0],
        g.counts[1],
        g.counts[2],
        units::count(g.generation_objects[0]),
        units::count(g.generation_objects[1]),
        units::count(g.generation_objects[2]),
        units::count(g.generation_objects[3]),
        if g.collecting {
            "; a collection was running"
        } else {
            ""
        }
    );
    let _ = writeln!(
        out,
        "  Timing:    target paused {}, copied {}, walk {}, total {}{}",
        ms(c.pause_us),
        units::bytes(c.copy_bytes as f64),
        ms(c.walk_us),
        ms(c.total_us),
        if c.attempts > 1 {
            format!(" ({} attempts)", c.attempts)
        } else {
            String::new()
        }
    );
    for n in &c.notes {
        let _ = writeln!(out, "  note: {n}");
    }
    let _ = writeln!(out);
    let _ = writeln!(out, "Types by size:");
    let _ = writeln!(
        out,
        "  {:>12}  {:>11}  {:>11}  {:>11}  Type",
        "Bytes", "Objects", "GC-tracked", "Untracked"
    );
    for t in c.types.iter().take(top) {
        let _ = writeln!(
            out,
            "  {:>12}  {:>11}  {:>11}  {:>11}  {}{}",
            units::bytes(t.bytes() as f64),
            units::count(t.count()),
            units::count(t.gc_count + t.frozen_count),
            units::count(t.other_count),
            t.name,
            if t.size_exact {
                ""
            } else {
                " (size approximate)"
            }
        );
    }
    let _ = writeln!(out);
    let _ = writeln!(out, "Named containers by length:");
    if c.containers.is_empty() {
        let _ = writeln!(out, "  (none found)");
    } else {
        let _ = writeln!(
            out,
            "  {:>11}  {:>12}  {:>12}  {:<24}  Name",
            "Length", "Shallow", "Items", "Type"
        );
        for r in c.containers.iter().take(top) {
            let mut name = r.name.clone();
            if let Some(b) = r.bound {
                let _ = write!(name, " (bounded: {})", units::count(b));
            }
            if let Some(f) = &r.file {
                let _ = write!(name, " [{f}]");
            }
            if !r.aliases.is_empty() {
                let _ = write!(name, " (also {})", r.aliases.join(", "));
            }
            let _ = writeln!(
                out,
                "  {:>11}  {:>12}  {:>12}  {:<24}  {}",
                units::count(r.len),
                units::bytes(r.shallow_bytes as f64),
                units::bytes(r.items_bytes as f64),
                r.type_name,
                name
            );
        }
    }
    let _ = writeln!(out);
    if let Some(cy) = &c.cycles {
        let _ = writeln!(
            out,
            "Cyclic garbage: {} objects ({}) unreachable except through cycles (freed by the next collection){}",
            units::count(cy.objects),
            units::bytes(cy.bytes as f64),
            if cy.objects == 0 { "" } else { ":" }
        );
        for p in &cy.patterns {
            let _ = writeln!(
                out,
                "  {:>11}  {:>12}  {}  [{}]",
                units::count(p.objects),
                units::bytes(p.bytes as f64),
                p.name,
                p.edges.join(", ")
            );
        }
        let _ = writeln!(out);
    }
    for w in &c.why_alive {
        let _ = writeln!(out, "Why alive: {} ← {}", w.type_name, w.chain);
    }
    let _ = writeln!(out, "Largest objects:");
    for o in c.largest.iter().take(top) {
        let _ = writeln!(
            out,
            "  {:>12}  {:<24}  {:>#14x}  {}{}",
            units::bytes(o.bytes as f64),
            o.type_name,
            o.addr,
            o.len
                .map(|n| format!("len {}  ", units::count(n)))
                .unwrap_or_default(),
            o.name.clone().unwrap_or_default()
        );
    }
    out
}
