//! `memwatch layout`: the interpreter layout memwatch uses for one target, as text or JSON.
//! The JSON is what `tests/heap_layout.rs` hands to the target to check against itself.

use std::fmt::Write;

use serde::Serialize;

use crate::heap::layout::Layout;
use crate::target::TargetRoot;

#[derive(Debug, Clone, Serialize)]
pub struct LayoutView {
    pub pid: i32,
    pub version: String,
    pub debug_build: bool,
    pub python_binary: String,
    pub command_line: String,
    pub root: TargetRoot,
    /// Why memwatch will not take a census of this target, if it will not.
    pub error: Option<String>,
    /// What the checks at attach said (figures taken from the interpreter, newer patch, …).
    pub notes: Vec<String>,
    /// The layout in use (or, with `error`, the table before the checks refused it).
    pub layout: Option<Layout>,
}

pub fn render(v: &LayoutView) -> String {
    let mut out = String::new();
    let _ = writeln!(
        out,
        "memwatch layout — PID {}, CPython {}{}: {}",
        v.pid,
        v.version,
        if v.debug_build { " (debug build)" } else { "" },
        v.command_line
    );
    let _ = writeln!(out, "  interpreter: {}", v.python_binary);
    let _ = writeln!(out, "  target:      {}", v.root.describe());
    match &v.error {
        Some(e) => {
            let _ = writeln!(out, "  census:      refused: {e}");
        }
        None => {
            let _ = writeln!(out, "  census:      layout checked at attach");
        }
    }
    for n in &v.notes {
        let _ = writeln!(out, "  note: {n}");
    }
    if let Some(l) = &v.layout {
        let _ = writeln!(
            out,
            "\nLayout{}:",
            if v.error.is_some() {
                " (memwatch's table, unchecked)"
            } else {
                ""
            }
        );
        // the table as its JSON field names: one line each, in declaration order
        if let Ok(serde_json::Value::Object(fields)) = serde_json::to_value(l) {
            for (k, val) in fields {
                let _ = writeln!(out, "  {k:<28} {val}");
            }
        }
    }
    out
}
