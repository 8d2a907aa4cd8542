//! The words of each finding, in the spec's Recommendations Format: issue, impact, fix (with
//! code using the target's own names), why, verification. The fixes are the spec's
//! (`shared/seed/memory-management.md`): bounded caches, `deque(maxlen=…)`, `None` defaults,
//! context managers, streaming, `"".join`, weak references.

use super::{Finding, Kind, code};
use crate::heap::census::{ContainerRow, CyclePattern, Origin};

fn short(name: &str) -> &str {
    name.rsplit('.').next().unwrap_or(name)
}

fn verification(name: &str, what: &str) -> String {
    format!(
        "Run the service under `memwatch --pid PID` again (or `memwatch run -- …`): {name} should {what}; \
         `memwatch report SESSION --format markdown` should no longer list this finding. \
         memory_profiler on the function shows the same at line level."
    )
}

pub fn explain_container(
    f: &mut Finding,
    row: &ContainerRow,
    src: Option<&std::sync::Arc<Vec<String>>>,
) {
    let name = &row.name;
    // a closure's cell is known to its code by its variable (`outer.<locals>.var`, an alias)
    let closure_var = name
        .contains(".__closure__[")
        .then(|| row.aliases.iter().find_map(|a| a.rsplit_once(".<locals>.")))
        .flatten();
    // bound in a `functools.partial` (`module.handler.args[0]`, `.keywords['k']`)
    let partial = name
        .rsplit_once(".args[")
        .or_else(|| name.rsplit_once(".keywords["))
        .map(|(p, _)| p);
    let var = match (closure_var, partial) {
        (Some((_, v)), _) => v.to_string(),
        (None, Some(_)) => "bound".to_string(),
        (None, None) => short(name).to_string(),
    };
    match f.kind {
        Kind::MutableDefault => {
            f.title = "Mutable Default Argument".into();
            let func = name
                .split(".__")
                .next()
                .map(short)
                .unwrap_or("func")
                .to_string();
            let index: usize = name
                .rsplit('[')
                .next()
                .and_then(|s| s.trim_end_matches(']').parse().ok())
                .unwrap_or(0);
            let def = match (src, f.line) {
                (Some(s), Some(n)) => s.get(n as usize - 1).map(|l| l.trim().to_string()),
                _ => None,
            };
            let param = def
                .as_deref()
                .and_then(|d| code::defaulted_parameter(d, index))
                .unwrap_or_else(|| "items".into());
            f.issue = format!(
                "The default value of `{param}` in `{func}()` is one {} shared by every call, and it keeps everything the calls put in it.",
                row.type_name
            );
            f.impact = "State leaks from one call into the next and the shared default grows for as long as the process lives.".into();
            let empty = if row.type_name == "dict" {
                "{}"
            } else if row.type_name == "set" {
                "set()"
            } else {
                "[]"
            };
            let fixed_def = def
                .as_deref()
                .map(|d| d.replace(&format!("{param}={empty}"), &format!("{param}=None")))
                .unwrap_or_else(|| format!("def {func}(…, {param}=None):"));
            f.fix_title = "None Default".into();
            f.fix =
                format!("{fixed_def}\n    if {param} is None:\n        {param} = {empty}\n    …");
            f.why = "A default is evaluated once, when the function is defined; `None` plus a fresh container per call gives every call its own.".into();
            f.verification = verification(
                name,
                "disappear from the named containers, or stay at the size of one call",
            );
        }
        Kind::GlobalAccumulation => {
            f.title = "Global State Accumulation".into();
            let what = match (closure_var, row.origin) {
                _ if partial.is_some() => format!(
                    "The {} bound in the `functools.partial` `{}` (`{name}`), which lives as long as the partial does,",
                    row.type_name,
                    partial.unwrap_or_default()
                ),
                (Some((scope, v)), _) => {
                    let func = name.split(".__closure__").next().map(short).unwrap_or("");
                    let outer = scope.rsplit('.').find(|p| *p != "<locals>").unwrap_or("");
                    format!(
                        "The {} `{v}` that `{func}()` keeps in its closure (a variable of `{outer}()`, reached as `{name}`)",
                        row.type_name
                    )
                }
                (None, crate::heap::census::Origin::ClassAttribute) => format!(
                    "The class attribute `{name}` (one {} shared by every instance)",
                    row.type_name
                ),
                _ => format!("The module-level {} `{name}`", row.type_name),
            };
            f.issue = format!("{what} only ever grows: nothing removes what is added to it.");
            f.impact = "Memory grows with the number of events for the lifetime of the process, until it runs out.".into();
            f.fix_title = "Bounded Global".into();
            f.fix = match partial {
                Some(p) => format!(
                    "from collections import deque\n\n{} = functools.partial(…, deque(maxlen=1000))  # bind a bounded container; or send them to logging",
                    short(p)
                ),
                None => format!(
                    "from collections import deque\n\n{var} = deque(maxlen=1000)  # keeps the newest 1000; or send them to logging"
                ),
            };
            f.why = "`deque(maxlen=…)` evicts the oldest entry on every append past the bound; logging hands the data off instead of keeping it.".into();
            f.verification = verification(name, "stop growing at its bound (verdict \"plateau\")");
        }
        _ if var == "__warningregistry__" => {
            f.title = "Warning Registry Growth".into();
            f.issue = format!(
                "`warnings.warn` remembers every distinct (message, category, line) in the calling module's `{name}` so that each warning is shown once; a message that carries a changing value (an id, a time) adds a key per call."
            );
            f.impact = "The registry grows with every distinct message for the lifetime of the module, and each new text is also printed once.".into();
            f.fix_title = "Constant Warning Text".into();
            let call = match (src, f.line) {
                (Some(s), Some(n)) => s.get(n as usize - 1).map(|l| l.trim().to_string()),
                _ => None,
            };
            f.fix = format!(
                "{}warnings.warn(\"slow upstream\")  # a constant text: one registry key\nlog.warning(\"slow upstream for request %d\", request_id)  # the changing part goes to logging",
                call.map(|c| format!("# was: {c}\n")).unwrap_or_default()
            );
            f.why = "The registry is keyed by the message text: a constant text is one key however often it is warned, and logging keeps nothing.".into();
            f.verification = verification(name, "stay at a few entries (verdict \"plateau\")");
        }
        _ => {
            let lru = row.type_name == "functools._lru_cache_wrapper";
            f.title = if lru || row.type_name != "list" {
                "Unbounded Cache".into()
            } else {
                "Unbounded Collection".into()
            };
            f.issue = if lru {
                format!(
                    "`{name}` is an `lru_cache` without `maxsize`: every distinct argument stays cached forever."
                )
            } else {
                format!(
                    "`{name}` ({}) is used like a cache or registry and has no size limit or eviction: entries are added and never removed.",
                    row.type_name
                )
            };
            f.impact = "With unique keys the cache grows with traffic until the process runs out of memory.".into();
            f.fix_title = "LRU Cache with Size Limit".into();
            let filler = match (src, f.line) {
                (Some(s), Some(n)) => code::enclosing_def(s, n).map(|(_, name)| name),
                _ => None,
            };
            f.fix = if lru {
                format!(
                    "from functools import lru_cache\n\n@lru_cache(maxsize=1000)  # was maxsize=None\ndef {}(…):\n    …",
                    short(name)
                )
            } else if let Some(func) = filler {
                format!(
                    "from functools import lru_cache\n\n@lru_cache(maxsize=1000)  # replaces {var}\ndef {func}(…):\n    …\n\n# or keep the dict, bounded and with a TTL:\nfrom cachetools import TTLCache\n{var} = TTLCache(maxsize=1000, ttl=3600)"
                )
            } else {
                format!(
                    "from cachetools import TTLCache\n\n{var} = TTLCache(maxsize=1000, ttl=3600)  # 1000 items, 1 hour"
                )
            };
            f.why = "A size limit turns unbounded growth into a fixed cost: the least recently used (or expired) entries make room for new ones.".into();
            f.verification = verification(name, "level off at its limit (verdict \"plateau\")");
        }
    }
    if row.origin == Origin::InstanceAttribute && f.kind == Kind::UnboundedContainer {
        f.issue.push_str(
            " It lives on an object reachable from a module global, so it is never freed.",
        );
    }
}

pub fn explain_type(f: &mut Finding) {
    f.title = "Growing Type".into();
    f.issue = format!(
        "Objects of type `{}` keep accumulating and no named global container accounts for them.",
        f.name
    );
    f.impact = "They are alive, so something still refers to them: memory grows until the references are dropped.".into();
    f.fix_title = "Find and Bound the Holder".into();
    f.fix = format!(
        "# what keeps them alive is listed above (\"kept alive by\");\n# drop the reference when done, bound the holder, or refer weakly:\nimport weakref\nholder = weakref.WeakSet()  # entries of type {} vanish when nothing else uses them",
        short(&f.name)
    );
    f.why =
        "An object lives as long as one strong reference to it exists; the chain shows which one."
            .into();
    f.verification = verification(&format!("the count of `{}`", f.name), "level off");
}

pub fn explain_resource(f: &mut Finding, line: Option<&str>) {
    f.title = "Unclosed Resources".into();
    f.issue = "File descriptors are opened and not closed: their number keeps rising.".into();
    f.impact = "Each process may hold only so many (`ulimit -n`, often 1024): past that, `open()` and `accept()` fail with \"Too many open files\".".into();
    f.fix_title = "Context Manager".into();
    let opened = line.map(str::trim).and_then(|l| {
        let (lhs, rhs) = l.split_once('=')?;
        (rhs.contains("open(") || rhs.contains("connect(") || rhs.contains("socket("))
            .then(|| (lhs.trim().to_string(), rhs.trim().to_string()))
    });
    f.fix = match opened {
        Some((var, call)) => {
            format!("with {call} as {var}:\n    …  # closed when the block ends, even on errors")
        }
        None => {
            "with open(path) as f:\n    data = f.read()\n# or: try: … finally: f.close()".into()
        }
    };
    f.why = "A context manager closes the resource when the block ends, whatever happens in it; a reference kept in a list keeps the descriptor open until it is closed explicitly.".into();
    f.verification = verification("the open-fd count", "stay flat");
}

/// Whether a line loads a whole input at once (a file, a query's rows, a response): smell 4.
pub fn reads_whole(line: &str) -> bool {
    [
        ".read()",
        ".readlines()",
        ".fetchall()",
        ".all()",
        "list(",
        ".read_bytes()",
        ".read_text()",
        ".json()",
        ".content",
        "json.load(",
        "pickle.load(",
        "read_csv(",
        "read_parquet(",
        "np.load(",
        "numpy.load(",
        "fromfile(",
    ]
    .iter()
    .any(|p| line.contains(p))
}

pub fn explain_large_line(f: &mut Finding, line: Option<&str>, function: &str) {
    f.title = "Large Data Structure in Memory".into();
    let text = line.unwrap_or("").trim();
    let reads_all = reads_whole(text);
    f.issue = if reads_all {
        format!("`{text}` in `{function}()` loads the whole input into memory at once.")
    } else {
        format!("`{text}` in `{function}()` allocates a large block of memory in one go.")
    };
    f.impact = "Peak memory grows with the size of the input; a large enough input crashes the process (OOM).".into();
    if reads_all {
        f.fix_title = "Stream Processing".into();
        f.fix = if text.contains(".readlines()") || text.contains(".read()") {
            "with open(filename) as f:\n    for line in f:  # one line at a time\n        process(line)".into()
        } else if text.contains(".fetchall()") {
            "cursor.execute(query)\nwhile rows := cursor.fetchmany(1000):  # a page at a time\n    for row in rows:\n        process(row)".into()
        } else {
            "for item in query.iterator():  # stream instead of materialising\n    process(item)"
                .into()
        };
        f.why = "Streaming keeps one line, row or page in memory instead of all of them.".into();
    } else {
        f.fix_title = "Smaller Pieces".into();
        f.fix = "# allocate in chunks, reuse one buffer, or use memoryview/numpy views instead of copies".into();
        f.why = "Memory that is allocated piecewise and released can be reused; one large block stays resident.".into();
    }
    f.verification = verification("the line's increment", "drop in the memory_profiler table");
}

pub fn explain_native_growth(
    f: &mut Finding,
    line: Option<&str>,
    function: Option<&str>,
    explained: f64,
) {
    f.title = "Native Memory Growth".into();
    let at = match (line, function) {
        (Some(l), Some(func)) => format!(" `{}` in `{func}()` is where it grows.", l.trim()),
        _ => String::new(),
    };
    f.issue = format!(
        "Resident memory keeps growing and Python objects explain only {:.0} % of it: memory that C code holds (an extension's allocations, buffers not freed).{at}",
        explained * 100.0
    );
    f.impact = "The process grows until it runs out of memory, and no Python-level view (gc, tracemalloc of objects) shows why.".into();
    f.fix_title = "Free What C Allocates".into();
    f.fix = "# release native resources deterministically: a context manager, or the library's close/free
with native_resource() as r:
    use(r)
# ctypes: pair every malloc with free; keep a bounded pool instead of one buffer per call".into();
    f.why = "Memory a C library allocates is freed only by its own free or close; the gc never sees it.".into();
    f.verification = verification("RSS", "stop growing (verdict \"plateau\" or \"stable\")");
}

pub fn explain_large_object(f: &mut Finding, type_name: &str) {
    f.title = "Large Data Structure in Memory".into();
    f.issue = format!("A single `{type_name}` object holds a large share of the heap.");
    f.impact = "Everything it holds stays resident as long as it is referenced.".into();
    f.fix_title = "Stream or Page".into();
    f.fix = "# process the data in pages or as a stream instead of holding it whole\nfor chunk in iter(lambda: f.read(1 << 20), b\"\"):\n    process(chunk)".into();
    f.why = "Streaming bounds memory by the chunk size instead of the data size.".into();
    f.verification = verification("the largest objects", "be small");
}

pub fn explain_string_churn(f: &mut Finding, var: &str, src: &[String], line: u32) {
    f.title = "String Building in Loop".into();
    f.issue = format!("`{var} += …` inside a loop builds a new string on every iteration.");
    f.impact = "Each step copies everything so far: quadratic time and a stream of short-lived strings (memory churn).".into();
    f.fix_title = "List Join".into();
    let added = src
        .get(line as usize - 1)
        .and_then(|l| l.split_once("+=").map(|(_, r)| r.trim().to_string()))
        .unwrap_or_else(|| "piece".into());
    f.fix = format!(
        "parts = []\n# in the loop:\n    parts.append({added})\n# after it:\n{var} = \"\".join(parts)\n# or io.StringIO().write(…)"
    );
    f.why = "`\"\".join` computes the total size once and copies each piece once.".into();
    f.verification = verification("the line", "no longer be among the hot lines");
}

pub fn explain_cycle(f: &mut Finding, p: &CyclePattern, accumulating: bool, gc_enabled: bool) {
    f.title = "Memory Leak (Circular References)".into();
    f.issue = format!(
        "Objects refer to each other in a cycle ({}): when the program drops them, only the cycle collector can free them.",
        p.edges.join(", ")
    );
    f.impact = if accumulating && !gc_enabled {
        "The garbage collector is disabled (gc.disable()), so the cycles are never freed: memory grows indefinitely.".into()
    } else if accumulating {
        "The cycles pile up faster than the garbage collector frees them: memory grows.".into()
    } else {
        "The gc frees them, but only in its periodic collections: memory churns and collections get slower.".into()
    };
    let back = p
        .attributes
        .get(1)
        .or(p.attributes.first())
        .cloned()
        .unwrap_or_else(|| "parent".into());
    f.fix_title = "Weak Reference".into();
    f.fix = format!(
        "import weakref\n\n# hold the back-reference weakly:\nchild.{back} = weakref.ref(self)\n# and read it through the call:\nparent = child.{back}() if child.{back} else None"
    );
    f.why = "A weak reference does not keep its target alive, so the parent/child pair is freed by reference counting alone, without waiting for the collector.".into();
    f.verification = verification("the cyclic garbage", "stay at zero");
}
