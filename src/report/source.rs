//! Finding a function's lines in its source text, for the memory_profiler table: from its
//! decorators and `def` down to the last line of its body, judged by indentation.

use crate::analyzer::Analyzer;
use crate::event::Event;

/// Largest local file read to fill in a missing source.
const MAX_LOCAL_SOURCE: u64 = 4 << 20;

/// For a session that lacks the source text of some files (memwatch was killed before it wrote
/// them, or the target's files were unreadable), read them from this machine where the same
/// absolute path exists. Returns the files read this way.
pub fn fill_missing_sources(a: &mut Analyzer) -> Vec<String> {
    use std::io::Read;
    let mut files: Vec<String> = a
        .frames
        .values()
        .map(|f| f.file.clone())
        .filter(|f| f.starts_with('/') && a.source(f).is_none())
        .collect();
    files.sort();
    files.dedup();
    let mut read = Vec::new();
    for file in files {
        let Ok(f) = std::fs::File::open(&file) else {
            continue;
        };
        let mut text = String::new();
        if f.take(MAX_LOCAL_SOURCE).read_to_string(&mut text).is_ok() {
            a.apply(&Event::Source {
                file: file.clone(),
                text: Some(text),
            });
            read.push(file);
        }
    }
    read
}

/// Longest table shown for one function; longer bodies are cut around the sampled lines.
const MAX_TABLE_LINES: u32 = 400;
/// How far above the first sampled line to look for the `def`.
const MAX_DEF_SEARCH: usize = 5000;

fn indent(s: &str) -> usize {
    s.len() - s.trim_start().len()
}

fn is_code(s: &str) -> bool {
    let t = s.trim();
    !t.is_empty() && !t.starts_with('#')
}

/// `(first, last)` line numbers (1-based, inclusive) to show for `function`, whose samples
/// fell on lines `lo..=hi`. Falls back to `lo..=hi` when no `def` is found (module code,
/// lambdas, comprehensions) and never returns an empty or inverted range.
pub fn function_range(lines: &[String], function: &str, lo: u32, hi: u32) -> (u32, u32) {
    let n = lines.len() as u32;
    if n == 0 {
        let lo = lo.max(1);
        return (lo, hi.max(lo));
    }
    let lo = lo.clamp(1, n);
    let hi = hi.clamp(lo, n.max(lo));
    let name = function.rsplit('.').next().unwrap_or(function);
    if name.starts_with('<') {
        return (lo, hi);
    }
    let is_def = |s: &str| {
        let t = s.trim_start();
        let t = t.strip_prefix("async ").map(str::trim_start).unwrap_or(t);
        t.strip_prefix("def ")
            .map(|rest| {
                let rest = rest.trim_start();
                rest.starts_with(name) && rest[name.len()..].trim_start().starts_with(['(', '['])
            })
            .unwrap_or(false)
    };
    // the nearest def above the first sampled line, indented less than that line
    let lo_idx = (lo - 1) as usize;
    let body_indent = indent(&lines[lo_idx]);
    let def_idx = (0..=lo_idx)
        .rev()
        .take(MAX_DEF_SEARCH)
        .find(|&i| is_def(&lines[i]) && (indent(&lines[i]) < body_indent || i == lo_idx));
    let Some(def_idx) = def_idx else {
        return (lo, hi);
    };
    let def_indent = indent(&lines[def_idx]);
    // decorators directly above
    let mut first = def_idx;
    while first > 0 {
        let above = lines[first - 1].trim_start();
        if above.starts_with('@') && indent(&lines[first - 1]) == def_indent {
            first -= 1;
        } else {
            break;
        }
    }
    // the body ends before the next code line indented no deeper than the def
    let mut last = def_idx;
    let mut i = def_idx + 1;
    let mut open_brackets = bracket_depth(&lines[def_idx]);
    while i < lines.len() {
        let l = &lines[i];
        if is_code(l) && open_brackets <= 0 && indent(l) <= def_indent && i > (hi as usize - 1) {
            break;
        }
        open_brackets += bracket_depth(l);
        if is_code(l) {
            last = i;
        }
        i += 1;
    }
    let (mut first, mut last) = (first as u32 + 1, (last as u32 + 1).max(hi));
    if last - first + 1 > MAX_TABLE_LINES {
        first = first.max(lo.saturating_sub(5).max(1));
        last = last.min(hi + 5).min(first + MAX_TABLE_LINES - 1);
    }
    (first, last.max(first))
}

/// Net open brackets on a line (multi-line signatures), ignoring strings roughly.
fn bracket_depth(line: &str) -> i32 {
    let code = line.split('#').next().unwrap_or("");
    code.chars()
        .map(|c| match c {
            '(' | '[' | '{' => 1,
            ')' | ']' | '}' => -1,
            _ => 0,
        })
        .sum()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn src(s: &str) -> Vec<String> {
        s.lines().map(str::to_string).collect()
    }

    const APP: &str = "import os

CACHE = {}

@decorator
def load(path,
         size):
    with open(path) as f:
        data = f.read()

    # comment
    return data

class Svc:
    async def handle(self, x):
        y = x * 2
        return y

main()
";

    #[test]
    fn finds_def_decorators_and_body() {
        let lines = src(APP);
        assert_eq!(function_range(&lines, "load", 9, 9), (5, 12));
        assert_eq!(function_range(&lines, "Svc.handle", 16, 16), (15, 17));
    }

    #[test]
    fn module_code_and_missing_defs_use_sampled_range() {
        let lines = src(APP);
        assert_eq!(function_range(&lines, "<module>", 19, 19), (19, 19));
        assert_eq!(function_range(&lines, "nothere", 9, 12), (9, 12));
        assert_eq!(function_range(&[], "load", 3, 4), (3, 4));
        // out-of-range sampled lines are clamped, never panic
        assert_eq!(function_range(&lines, "load", 900, 901), (19, 19));
    }
}
