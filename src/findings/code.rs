//! Reading the target's source for findings: where a container is filled, where a function
//! with a mutable default is defined, whether a line is inside a loop, what a `+=` adds.
//! Heuristics over text, bounded by the source's length; they only ever add a line number
//! and a snippet to a finding whose evidence comes from the target's memory.

/// Longest source searched.
const MAX_LINES: usize = 200_000;

fn indent(s: &str) -> usize {
    s.len() - s.trim_start().len()
}

/// 1-based line numbers of lines that add to `name` (a global, or an attribute when
/// `name` starts with '.'), best first: assignments into it, then appends/adds/updates.
pub fn mutation_lines(lines: &[String], name: &str) -> Vec<u32> {
    let mut strong = Vec::new();
    let mut weak = Vec::new();
    for (i, l) in lines.iter().take(MAX_LINES).enumerate() {
        let code = l.split('#').next().unwrap_or("");
        let Some(pos) = find_word(code, name) else {
            continue;
        };
        let rest = &code[pos + name.len()..];
        let rest_t = rest.trim_start();
        let assigns_item = rest_t.starts_with('[')
            && rest_t
                .find(']')
                .map(|e| {
                    let after = rest_t[e + 1..].trim_start();
                    (after.starts_with('=') && !after.starts_with("==")) || after.starts_with("+=")
                })
                .unwrap_or(false);
        let adds = [
            ".append(",
            ".add(",
            ".extend(",
            ".setdefault(",
            ".update(",
            ".appendleft(",
            ".insert(",
            "+=",
        ]
        .iter()
        .any(|m| rest_t.starts_with(m));
        if assigns_item {
            strong.push(i as u32 + 1);
        } else if adds {
            weak.push(i as u32 + 1);
        }
    }
    strong.extend(weak);
    strong
}

/// Lines (1-based) that call one of `funcs` (`warnings.warn`, `warn`: whole names, not
/// methods of something else such as `logger.warn`).
pub fn call_lines(lines: &[String], funcs: &[&str]) -> Vec<u32> {
    lines
        .iter()
        .take(MAX_LINES)
        .enumerate()
        .filter(|(_, l)| {
            let code = l.split('#').next().unwrap_or("");
            funcs.iter().any(|f| {
                find_word(code, f)
                    .is_some_and(|at| code[at + f.len()..].trim_start().starts_with('('))
            })
        })
        .map(|(i, _)| i as u32 + 1)
        .collect()
}

/// Position of `word` in `code` as a whole identifier (not part of a longer name).
fn find_word(code: &str, word: &str) -> Option<usize> {
    let ident = |c: char| c.is_alphanumeric() || c == '_';
    let mut from = 0;
    while let Some(p) = code[from..].find(word) {
        let at = from + p;
        let before_ok = if word.starts_with('.') {
            true
        } else {
            code[..at]
                .chars()
                .next_back()
                .is_none_or(|c| !ident(c) && c != '.')
        };
        let after_ok = code[at + word.len()..]
            .chars()
            .next()
            .is_none_or(|c| !ident(c));
        if before_ok && after_ok {
            return Some(at);
        }
        from = at + word.len().max(1);
    }
    None
}

/// The line defining function `func` (bare name), 1-based.
pub fn def_line(lines: &[String], func: &str) -> Option<u32> {
    lines.iter().take(MAX_LINES).enumerate().find_map(|(i, l)| {
        let t = l.trim_start();
        let t = t.strip_prefix("async ").unwrap_or(t);
        let rest = t.strip_prefix("def ")?.trim_start();
        (rest.starts_with(func) && rest[func.len()..].trim_start().starts_with('('))
            .then_some(i as u32 + 1)
    })
}

/// The name of the `index`-th parameter that has a default in a `def` line.
pub fn defaulted_parameter(def: &str, index: usize) -> Option<String> {
    let open = def.find('(')?;
    let close = def.rfind(')').unwrap_or(def.len());
    let params = &def[open + 1..close.max(open + 1)];
    params
        .split(',')
        .map(str::trim)
        .filter(|p| p.contains('=') && !p.starts_with('*'))
        .nth(index)
        .map(|p| p.split(['=', ':']).next().unwrap_or("").trim().to_string())
}

/// Is line `n` (1-based) inside a `for` or `while` loop of its function?
pub fn in_loop(lines: &[String], n: u32) -> bool {
    let Some(idx) = (n as usize).checked_sub(1) else {
        return false;
    };
    let Some(line) = lines.get(idx) else {
        return false;
    };
    let mut level = indent(line);
    for l in lines[..idx].iter().rev().take(500) {
        let t = l.trim_start();
        if t.is_empty() || t.starts_with('#') {
            continue;
        }
        let i = indent(l);
        if i < level {
            if t.starts_with("for ") || t.starts_with("while ") || t.starts_with("async for ") {
                return true;
            }
            if t.starts_with("def ") || t.starts_with("async def ") || t.starts_with("class ") {
                return false;
            }
            level = i;
        }
    }
    false
}

/// `x += <something string-like>` (or `x = x + …`): the variable, if the line builds a
/// string. String-like: a string literal or f-string, `str(…)`, `%`/`.format(` formatting,
/// or a variable started as `""` earlier in the function.
pub fn string_append(lines: &[String], n: u32) -> Option<String> {
    let line = lines.get((n as usize).checked_sub(1)?)?;
    let code = line.split('#').next()?.trim();
    let (var, rhs) = if let Some((l, r)) = code.split_once("+=") {
        (l.trim(), r.trim())
    } else {
        let (l, r) = code.split_once('=')?;
        let l = l.trim();
        let r = r.trim().strip_prefix(l)?.trim_start().strip_prefix('+')?;
        (l, r.trim())
    };
    if var.is_empty()
        || !var
            .chars()
            .all(|c| c.is_alphanumeric() || c == '_' || c == '.')
    {
        return None;
    }
    let stringy = rhs.contains('"')
        || rhs.contains('\'')
        || rhs.contains("str(")
        || rhs.contains(".format(")
        || rhs.contains(".join(");
    let started_empty = lines[..(n as usize - 1)].iter().rev().take(200).any(|l| {
        let t = l.trim();
        t.starts_with(&format!("{var} = \"\"")) || t.starts_with(&format!("{var} = ''"))
    });
    (stringy || started_empty).then(|| var.to_string())
}

/// Lines `n-before ..= n+after` (1-based, clamped), without common indentation.
pub fn snippet(lines: &[String], n: u32, before: u32, after: u32) -> String {
    let lo = n.saturating_sub(before).max(1) as usize;
    let hi = ((n + after) as usize).min(lines.len());
    if lo > hi {
        return String::new();
    }
    let chunk = &lines[lo - 1..hi];
    let common = chunk
        .iter()
        .filter(|l| !l.trim().is_empty())
        .map(|l| indent(l))
        .min()
        .unwrap_or(0);
    chunk
        .iter()
        .map(|l| l.get(common..).unwrap_or("").trim_end().to_string())
        .collect::<Vec<_>>()
        .join("\n")
}

/// The function a line is in: its `def` line (1-based) and name.
pub fn enclosing_def(lines: &[String], n: u32) -> Option<(u32, String)> {
    let idx = (n as usize).checked_sub(1)?;
    let level = indent(lines.get(idx)?);
    lines[..idx]
        .iter()
        .enumerate()
        .rev()
        .take(2000)
        .find_map(|(i, l)| {
            let t = l.trim_start();
            let t2 = t.strip_prefix("async ").unwrap_or(t);
            let rest = t2.strip_prefix("def ")?;
            (indent(l) < level).then(|| {
                let name: String = rest
                    .chars()
                    .take_while(|c| c.is_alphanumeric() || *c == '_')
                    .collect();
                (i as u32 + 1, name)
            })
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn src(s: &str) -> Vec<String> {
        s.lines().map(str::to_string).collect()
    }

    const APP: &str = r#"import time
_CACHE = {}
ERRORS = []
MY_CACHE = {}

def price(sku):
    if sku not in _CACHE:
        _CACHE[sku] = compute(sku)
    return _CACHE[sku]

def log_error(e):
    ERRORS.append(e)  # never cleared

def add_item(item, items=[], *, seen={}):
    items.append(item)
    return items

def render(items):
    html = ""
    for item in items:
        html += f"<li>{item}</li>"
        count += 1
    return html
"#;

    #[test]
    fn finds_where_containers_are_filled() {
        let l = src(APP);
        assert_eq!(mutation_lines(&l, "_CACHE"), vec![8]);
        assert_eq!(mutation_lines(&l, "ERRORS"), vec![12]);
        // MY_CACHE is not _CACHE
        assert!(mutation_lines(&l, "MY_CACHE").is_empty());
    }

    #[test]
    fn defaults_and_defs() {
        let l = src(APP);
        assert_eq!(def_line(&l, "add_item"), Some(14));
        assert_eq!(defaulted_parameter(&l[13], 0).as_deref(), Some("items"));
        assert_eq!(enclosing_def(&l, 15), Some((14, "add_item".into())));
    }

    #[test]
    fn string_building_in_loops() {
        let l = src(APP);
        assert!(in_loop(&l, 21));
        assert!(!in_loop(&l, 12));
        assert_eq!(string_append(&l, 21).as_deref(), Some("html"));
        assert_eq!(string_append(&l, 22), None);
        assert_eq!(
            snippet(&l, 21, 1, 0),
            "for item in items:\n    html += f\"<li>{item}</li>\""
        );
    }
}
