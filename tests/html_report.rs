//! `memwatch report SESSION --format html`: one self-contained HTML file, from a real session
//! of a leaking program (tests/targets/html_leak.py, whose command line and leaking line carry
//! markup and URLs) and of a process tree (tests/targets/tree/pool_fork.py leak,
//! `--subprocesses`).
//!
//! "Nothing is fetched" is checked two ways: statically (every tag of the file is one the
//! report uses, no attribute names a resource other than a `#…` fragment or `data:`, no
//! `style` attribute, no `url(` or `@import` in the stylesheet, no `http:`/`https:` anywhere),
//! and in headless Chromium, whose network log must show no request made on the page's
//! behalf — the same check run on a control page that does refer to the network must find
//! its requests, so the check cannot pass by seeing nothing. Chromium also renders the page
//! (its DOM must hold the chart and every finding) and saves a screenshot to
//! /tmp/memwatch-html-screenshot.png. Without Chromium those checks are skipped, saying so.

mod common;

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::OnceLock;
use std::time::Duration;

use common::*;
use serde_json::Value;

const WATCH_SECS: &str = "20";
/// The target's arguments, shown in the report's header as its command line.
const TARGET_ARGS: [&str; 2] = ["--from", "https://example.invalid/<b>x</b>"];
/// The comment on the leaking line of html_leak.py.
const PLANTED: &str = "html-report-planted";
/// A report of a 20-s session is far smaller; an hour's is bounded in the unit tests.
const MAX_BYTES: u64 = 400_000;
const SCREENSHOT: &str = "/tmp/memwatch-html-screenshot.png";

/// A folder for this test process's files, under cargo's scratch folder for tests (folders of
/// earlier runs are removed first).
fn scratch() -> &'static Path {
    static DIR: OnceLock<PathBuf> = OnceLock::new();
    DIR.get_or_init(|| {
        let base = Path::new(env!("CARGO_TARGET_TMPDIR")).join("html_report");
        let _ = std::fs::remove_dir_all(&base);
        let dir = base.join(std::process::id().to_string());
        std::fs::create_dir_all(&dir).unwrap();
        dir
    })
}

/// `memwatch run --no-tui --duration 20 --record SESSION [extra] -- python3 SCRIPT ARGS`.
fn record(name: &str, script: &str, args: &[&str], extra: &[&str]) -> PathBuf {
    let py = interpreter("python3").unwrap();
    let session = scratch().join(format!("{name}.db"));
    let mut cmd = memwatch();
    cmd.args(["run", "--no-tui", "--duration", WATCH_SECS, "--record"])
        .arg(&session)
        .args(extra)
        .arg("--")
        .args(py.argv())
        .arg(py.script(script))
        .args(args);
    let out = output_within(cmd, Duration::from_secs(120));
    assert!(out.status.success(), "memwatch run: {}", stderr_of(&out));
    session
}

/// The single process's session, recorded once for every test of this file; beside it the
/// HTML report `memwatch run --report` wrote at the end of the watch.
fn single_session() -> &'static Path {
    static S: OnceLock<PathBuf> = OnceLock::new();
    S.get_or_init(|| {
        let live = scratch().join("live.html");
        let live = live.to_str().unwrap();
        record("single", "html_leak.py", &TARGET_ARGS, &["--report", live])
    })
}

/// `memwatch report SESSION --format html -o OUT [extra]`: the file's text.
fn render(session: &Path, out_name: &str, extra: &[&str]) -> (PathBuf, String) {
    let out = scratch().join(out_name);
    let o = memwatch()
        .arg("report")
        .arg(session)
        .args(["--format", "html", "-o"])
        .arg(&out)
        .args(extra)
        .output()
        .unwrap();
    assert!(o.status.success(), "report: {}", stderr_of(&o));
    assert!(o.stdout.is_empty(), "-o writes the file only");
    let html = std::fs::read_to_string(&out).unwrap();
    (out, html)
}

/// Text as the report writes it: markup characters as entities.
fn esc(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
        .replace('\'', "&#39;")
}

/// The tags the report is made of: anything else (img, link, script, iframe, object, …)
/// could fetch or run something.
const TAGS: &[&str] = &[
    "html", "head", "meta", "title", "style", "body", "main", "header", "footer", "nav", "section",
    "article", "h1", "h2", "h3", "h4", "p", "div", "span", "strong", "br", "a", "code", "pre",
    "dl", "dt", "dd", "ul", "li", "table", "thead", "tbody", "tr", "th", "td", "svg", "g", "line",
    "polyline", "path", "circle", "rect", "text",
];

/// Attributes that name something to load or go to.
const RESOURCE_ATTRS: &[&str] = &[
    "src",
    "href",
    "xlink:href",
    "srcset",
    "action",
    "formaction",
    "poster",
    "data",
    "background",
    "ping",
    "manifest",
    "codebase",
    "cite",
    "longdesc",
    "usemap",
    "lowsrc",
    "dynsrc",
    "icon",
];

/// Everything in `html` that could make a browser fetch something. Sound for memwatch's
/// output because every text it writes is escaped: each `<` starts a tag.
fn external_refs(html: &str) -> Vec<String> {
    let mut bad = Vec::new();
    let lower = html.to_ascii_lowercase();
    for scheme in ["http:", "https:"] {
        if lower.contains(scheme) {
            bad.push(format!("{scheme} in the file"));
        }
    }
    let mut rest = html;
    while let Some(i) = rest.find('<') {
        rest = &rest[i + 1..];
        let end = rest.find('>').unwrap_or(rest.len());
        let tag = &rest[..end];
        rest = &rest[end..];
        if tag.starts_with('!') || tag.starts_with('/') {
            continue;
        }
        let name_end = tag
            .find(|c: char| c.is_whitespace() || c == '/')
            .unwrap_or(tag.len());
        let name = tag[..name_end].to_ascii_lowercase();
        if !TAGS.contains(&name.as_str()) {
            bad.push(format!("<{name}>"));
        }
        if name == "style" {
            let css = rest[1.min(rest.len())..]
                .split("</style>")
                .next()
                .unwrap_or("");
            let css = css.to_ascii_lowercase();
            for fetches in ["url(", "@import", "image-set(", "src("] {
                if css.contains(fetches) {
                    bad.push(format!("{fetches} in a stylesheet"));
                }
            }
        }
        for (attr, value) in attributes(&tag[name_end..]) {
            let ok = if attr == "style" {
                false
            } else if attr == "http-equiv" {
                value.eq_ignore_ascii_case("content-security-policy")
            } else if RESOURCE_ATTRS.contains(&attr.as_str()) {
                value.starts_with('#') || value.starts_with("data:")
            } else {
                !attr.starts_with("on")
            };
            if !ok {
                bad.push(format!("<{name} {attr}=\"{value}\">"));
            }
        }
    }
    bad
}

/// `name=value` pairs of a tag's attribute text (names lower-cased).
fn attributes(mut s: &str) -> Vec<(String, String)> {
    let mut out = Vec::new();
    loop {
        s = s.trim_start_matches(|c: char| c.is_whitespace() || c == '/');
        if s.is_empty() {
            return out;
        }
        let n = s
            .find(|c: char| c.is_whitespace() || c == '=' || c == '/')
            .unwrap_or(s.len());
        let name = s[..n].to_ascii_lowercase();
        s = s[n..].trim_start();
        let mut value = String::new();
        if let Some(r) = s.strip_prefix('=') {
            let r = r.trim_start();
            let (v, after) = match r.chars().next() {
                Some(q @ ('"' | '\'')) => {
                    let close = r[1..].find(q).map_or(r.len(), |e| e + 1);
                    (&r[1..close], r.get(close + 1..).unwrap_or(""))
                }
                _ => {
                    let e = r.find(char::is_whitespace).unwrap_or(r.len());
                    (&r[..e], &r[e..])
                }
            };
            value = v.to_string();
            s = after;
        }
        out.push((name, value));
    }
}

#[test]
fn the_reference_check_finds_what_would_be_fetched() {
    // the static check of the other tests must be able to fail
    for page in [
        "<p><img src=\"x.png\"></p>",
        "<a href=\"page2.html\">x</a>",
        "<a href='//cdn.invalid/x'>x</a>",
        "<div style=\"background:red\">x</div>",
        "<svg><image href=\"a.svg\"/></svg>",
        "<link rel=stylesheet href=a.css>",
        "<style>@import 'a.css';</style>",
        "<meta http-equiv=\"refresh\" content=\"0; url=x\">",
        "<p onclick=\"go()\">x</p>",
        "<p>see https&#58;//x.invalid</p> <p>http://x.invalid</p>",
    ] {
        assert!(!external_refs(page).is_empty(), "not caught: {page}");
    }
    assert!(
        external_refs(
            "<!DOCTYPE html><meta http-equiv=\"Content-Security-Policy\" content=\"default-src 'none'\"><p><a href=\"#f1\">x</a> &lt;img src=x&gt;</p>"
        )
        .is_empty()
    );
}

#[test]
fn a_leaking_session_renders_one_self_contained_page() {
    let session = single_session();
    let (out, html) = render(session, "report.html", &[]);
    let meta = std::fs::metadata(&out).unwrap();
    assert_eq!(meta.permissions().mode() & 0o777, 0o600, "owner-only");
    assert!(meta.len() < MAX_BYTES, "{} bytes", meta.len());
    assert!(html.starts_with("<!DOCTYPE html>"));
    assert_eq!(external_refs(&html), Vec::<String>::new());

    // the header: the command line, escaped (its URL too), the figures
    assert!(html.contains("&lt;b&gt;x&lt;/b&gt;"), "command line");
    for fact in ["Python", "PID", "Duration", "Samples", "duration elapsed"] {
        assert!(html.contains(fact), "{fact}");
    }
    // the chart, with its RSS line, census ticks and finding marks
    assert!(html.contains("<svg class=\"chart\""));
    assert!(html.contains("<polyline class=\"line rss\""));
    assert!(html.contains("class=\"census\""));
    assert!(html.contains("<a href=\"#f1\" class=\"mark"));
    assert!(html.contains("Where the memory is") && html.contains("Python objects"));

    // every finding, in the Recommendations Format; the leak the target has among them
    let report = report_json(session, &[]);
    let findings = report["findings"].as_array().unwrap();
    assert!(
        findings
            .iter()
            .any(|f| f["kind"] == "unbounded_container" && f["name"] == "__main__._PAGES"),
        "{findings:#?}"
    );
    for (i, f) in findings.iter().enumerate() {
        let id = format!("id=\"f{}\"", i + 1);
        let article = html.split(&id).nth(1).unwrap_or_else(|| panic!("{id}"));
        let article = article.split("</article>").next().unwrap();
        for field in ["title", "name", "evidence"] {
            let v = f[field].as_str().unwrap();
            let v = esc(v)
                .replace("http:", "http&#58;")
                .replace("https:", "https&#58;");
            assert!(article.contains(&v), "{field} of finding {i}: {v}");
        }
        for label in [
            "Category",
            "Severity",
            "Issue",
            "Impact",
            "Fix",
            "Why",
            "Verification",
        ] {
            assert!(article.contains(label), "{label} of finding {i}");
        }
    }
    // the lines, the memory_profiler tables with their source (the planted line, escaped)
    for col in [
        "Line #",
        "Mem usage",
        "Increment",
        "Occurrences",
        "Line Contents",
    ] {
        assert!(html.contains(&format!(">{col}</th>")), "{col}");
    }
    assert!(
        html.contains("Function <code>render</code>")
            || html.contains("Function <code>main</code>")
    );
    assert!(html.contains(PLANTED));
    assert!(
        html.contains("&lt;script&gt;fetch("),
        "the planted line, escaped"
    );
    // the heap: named containers and types with sparklines
    assert!(html.contains("<code>__main__._PAGES</code> (dict)"));
    assert!(html.contains("<code>__main__.Session</code>"));
    assert!(html.contains("<svg class=\"spark\""));

    // the report written at the end of the watch (`run --report live.html`) is one too
    let live = scratch().join("live.html");
    let live_html = std::fs::read_to_string(&live).unwrap();
    let mode = std::fs::metadata(&live).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode, 0o600);
    assert!(live_html.contains("<svg class=\"chart\""));
    assert_eq!(external_refs(&live_html), Vec::<String>::new());
}

#[test]
fn no_source_leaves_the_planted_line_out() {
    let session = single_session();
    let (_, html) = render(session, "no-source.html", &["--no-source"]);
    assert!(!html.contains(PLANTED), "the planted line's comment");
    assert!(!html.contains("fetch("), "the planted line's code");
    // the tables are still there, without their source
    assert!(html.contains(">Line Contents</th>"));
    assert!(html.contains("source left out"));
    assert!(html.contains("__main__._PAGES"));
}

#[test]
fn chromium_renders_the_page_and_nothing_leaves_it() {
    let Some(chromium) = chromium() else { return };
    let session = single_session();
    let (page, _) = render(session, "chromium.html", &[]);
    let report = report_json(session, &[]);

    let (dom, requests) = dom_and_requests(&chromium, &page, "single");
    assert!(dom.contains("<svg class=\"chart\""), "the chart in the DOM");
    assert!(dom.contains("<polyline class=\"line rss\""));
    for (i, f) in report["findings"].as_array().unwrap().iter().enumerate() {
        assert!(dom.contains(&format!("id=\"f{}\"", i + 1)), "finding {i}");
        assert!(dom.contains(&esc(f["title"].as_str().unwrap())));
        assert!(dom.contains(&esc(f["name"].as_str().unwrap())));
    }
    assert_eq!(requests, Vec::<String>::new(), "requests made by the page");

    // the control: a page that refers to the network is seen doing so
    let control = scratch().join("control.html");
    std::fs::write(
        &control,
        "<!DOCTYPE html><p>control</p><img src=\"https://memwatch-canary.invalid/x.png\"><link rel=\"stylesheet\" href=\"http://memwatch-canary.invalid/a.css\">",
    )
    .unwrap();
    let (_, requests) = dom_and_requests(&chromium, &control, "control");
    assert!(
        requests
            .iter()
            .any(|r| r.contains("memwatch-canary.invalid")),
        "the network log check sees a page's requests: {requests:?}"
    );

    // a screenshot, to look at
    let profile = scratch().join("profile-shot");
    let shot = format!("--screenshot={SCREENSHOT}");
    let out = run_chromium(
        &chromium,
        &page,
        &profile,
        &[&shot, "--window-size=1280,2000"],
    );
    assert!(out.status.success(), "{}", stderr_of(&out));
    let png = std::fs::read(SCREENSHOT).unwrap();
    assert_eq!(&png[1..4], b"PNG");
    let (w, h) = (
        u32::from_be_bytes(png[16..20].try_into().unwrap()),
        u32::from_be_bytes(png[20..24].try_into().unwrap()),
    );
    assert_eq!((w, h), (1280, 2000));
    // a blank page compresses to a few KB
    assert!(png.len() > 50_000, "{} bytes: blank?", png.len());
    eprintln!("screenshot: {SCREENSHOT}");
}

#[test]
fn a_process_tree_renders_with_a_section_per_process_that_grew() {
    // one tree at a time: a tree is many processes on a 2-core machine
    let _one = heavy();
    let session = record(
        "tree",
        "tree/pool_fork.py",
        &["leak"],
        &["--subprocesses", "--status-interval", "5"],
    );
    let (out, html) = render(&session, "tree.html", &[]);
    let meta = std::fs::metadata(&out).unwrap();
    assert_eq!(meta.permissions().mode() & 0o777, 0o600);
    assert!(meta.len() < MAX_BYTES, "{} bytes", meta.len());
    assert_eq!(external_refs(&html), Vec::<String>::new());
    assert!(html.contains("Memory report: process tree"));
    assert!(
        html.contains("Total RSS over time") && html.contains("<polyline class=\"line total\"")
    );

    let report = report_json(&session, &[]);
    assert_eq!(report["kind"], "tree");
    // the process table: every process, by PID
    for p in report["processes"].as_array().unwrap() {
        let pid = p["pid"].as_i64().unwrap();
        assert!(
            html.contains(&format!("<td class=\"n\">{pid}</td>")),
            "PID {pid}"
        );
    }
    assert!(html.contains("grow alike"), "the groups");
    // the tree's findings, naming their processes: the workers' leak
    let findings = report["findings"].as_array().unwrap();
    let leak = findings
        .iter()
        .find(|f| f["name"].as_str().is_some_and(|n| n.ends_with("_AUDIT")))
        .unwrap_or_else(|| panic!("the workers' leak: {findings:#?}"));
    let procs = leak["processes"].as_array().unwrap();
    assert!(procs.len() >= 2, "{leak:#}");
    assert!(
        html.contains("<dt>Process</dt><dd>2 workers"),
        "the finding names its workers"
    );
    // each process that grew, in full, with its own chart
    let grew: Vec<&Value> = report["reports"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|p| p["grew"] == true)
        .collect();
    assert!(!grew.is_empty());
    for p in &grew {
        let id = format!("<section class=\"proc\" id=\"p{}\">", p["proc"]);
        let section = html.split(&id).nth(1).unwrap_or_else(|| panic!("{id}"));
        let section = section.split("</section>").next().unwrap();
        assert!(section.contains("<svg class=\"chart\""), "{id}");
        assert!(section.contains(">Line Contents</th>"), "{id}");
    }

    if let Some(chromium) = chromium() {
        let (dom, requests) = dom_and_requests(&chromium, &out, "tree");
        assert!(dom.contains("<polyline class=\"line total\""));
        assert!(dom.contains(&esc(leak["title"].as_str().unwrap())));
        assert_eq!(requests, Vec::<String>::new());
    }
}

/// Debian's `chromium`, or None (the reason printed).
fn chromium() -> Option<PathBuf> {
    let found = ["/usr/bin/chromium", "/usr/bin/chromium-browser"]
        .iter()
        .map(PathBuf::from)
        .find(|p| p.exists());
    if found.is_none() {
        eprintln!(
            "skip: no chromium at /usr/bin/chromium (apt-get install chromium): the page is not rendered"
        );
    }
    found
}

/// Headless Chromium on `page`, offline: every host name resolves to nothing.
fn run_chromium(chromium: &Path, page: &Path, profile: &Path, extra: &[&str]) -> Output {
    let _ = std::fs::remove_dir_all(profile);
    let mut cmd = Command::new(chromium);
    cmd.args([
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-quic",
        "--no-first-run",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        "--host-resolver-rules=MAP * ~NOTFOUND",
    ])
    .arg(format!("--user-data-dir={}", profile.display()))
    .args(extra)
    .arg(format!("file://{}", page.display()));
    output_within(cmd, Duration::from_secs(90))
}

/// The DOM Chromium made of `page`, and the requests it made on the page's behalf that were
/// not for a `file:` or `data:` URL (its own background requests are told apart by their
/// network isolation key, which names the page's site, `file://`).
fn dom_and_requests(chromium: &Path, page: &Path, name: &str) -> (String, Vec<String>) {
    let log = scratch().join(format!("{name}-netlog.json"));
    let out = run_chromium(
        chromium,
        page,
        &scratch().join(format!("profile-{name}")),
        &[
            "--dump-dom",
            &format!("--log-net-log={}", log.display()),
            "--net-log-capture-mode=Default",
        ],
    );
    assert!(out.status.success(), "chromium: {}", stderr_of(&out));
    let dom = String::from_utf8_lossy(&out.stdout).to_string();
    let text = std::fs::read_to_string(&log).expect("chromium's network log");
    let net: Value = serde_json::from_str(&text).expect("network log JSON");
    let start_job = net["constants"]["logEventTypes"]["URL_REQUEST_START_JOB"].clone();
    assert!(
        start_job.is_number(),
        "network log has URL_REQUEST_START_JOB"
    );
    let requests = net["events"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["type"] == start_job)
        .filter(|e| {
            e["params"]["network_isolation_key"]
                .as_str()
                .is_some_and(|k| k.contains("file://"))
        })
        .filter_map(|e| e["params"]["url"].as_str())
        .filter(|u| !u.starts_with("file:") && !u.starts_with("data:"))
        .map(str::to_string)
        .collect();
    (dom, requests)
}
