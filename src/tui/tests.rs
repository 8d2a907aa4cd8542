//! Rendering tests: every view drawn with ratatui's `TestBackend` at 80×24 and 160×48 from an
//! analyzer fed synthetic events (samples on two lines, fds, rollups, censuses in which a
//! named dict and a class grow, why-alive chains and a cycle pattern), asserting on the text
//! of the screen. Also the replay engine against a recorded fixture session.

use std::sync::Arc;
use std::time::Duration;

use ratatui::Terminal;
use ratatui::backend::TestBackend;

use super::app::{App, Mode, ViewId};
use super::input::Action;
use super::views::{self, Ctx, Timeline};
use crate::analyzer::Analyzer;
use crate::event::{
    EndReason, Event, FrameDef, MemRollup, Micros, Sample, SessionInfo, ThreadSample,
};
use crate::heap::census::{
    Census, ContainerRow, CyclePattern, CycleReport, GcState, Origin, TypeRow, WhyAlive,
};

const FILE: &str = "/srv/shop/app.py";
const SOURCE: &[&str] = &[
    "import time",
    "",
    "CACHE = {}",
    "SETTINGS = {'a': 1}",
    "",
    "",
    "class Order:",
    "    pass",
    "",
    "",
    "def load(n):",
    "    CACHE[n] = [0] * 1000",
    "    return Order()",
    "",
    "",
    "def main():",
    "    n = 0",
    "    while True:",
    "        n += 1",
    "        load(n)",
    "        time.sleep(0.01)",
];

fn census(i: u64, t: Micros) -> Census {
    let ty = |name: &str, count: u64, size: u64| TypeRow {
        name: name.into(),
        gc_count: count,
        gc_bytes: count * size,
        size_exact: true,
        ..TypeRow::default()
    };
    let orders = 2_000 + 1_500 * i;
    let cache = 100 + 400 * i;
    Census {
        t,
        pause_us: 3_000 + 100 * i,
        gc: GcState {
            enabled: true,
            thresholds: [700, 10, 10],
            ..GcState::default()
        },
        gc_objects: 20_000 + orders + cache,
        gc_bytes: 4_000_000 + orders * 56 + cache * 8_056,
        types: vec![
            ty("list", 1_000 + cache, 8_056),
            ty("app.Order", orders, 56),
            ty("dict", 3_000 + cache / 10, 232),
            ty("str", 9_000, 60),
        ],
        containers: vec![
            ContainerRow {
                name: "app.CACHE".into(),
                origin: Origin::Global,
                item_type: Some("list".into()),
                type_name: "dict".into(),
                len: cache,
                shallow_bytes: 36 * cache,
                items_bytes: 8_056 * cache,
                file: Some(FILE.into()),
                addr: 0x7f00_0000_1000,
                ..ContainerRow::default()
            },
            ContainerRow {
                name: "app.SETTINGS".into(),
                type_name: "dict".into(),
                len: 1,
                shallow_bytes: 184,
                items_bytes: 50,
                file: Some(FILE.into()),
                addr: 0x7f00_0000_2000,
                ..ContainerRow::default()
            },
        ],
        modules: vec![("app".into(), FILE.into())],
        // garbage the gc keeps collecting: a little more or less at each census
        cycles: Some(CycleReport {
            objects: 30 + 10 * (i % 2),
            bytes: 3_000 + 1_000 * (i % 2),
            patterns: vec![CyclePattern {
                name: "Order ↔ list via .lines/.order".into(),
                edges: vec!["Order.lines → list".into(), "list → Order".into()],
                attributes: vec!["lines".into(), "order".into()],
                objects: 30 + 10 * (i % 2),
                bytes: 3_000 + 1_000 * (i % 2),
            }],
            opaque: 0,
        }),
        why_alive: vec![WhyAlive {
            type_name: "app.Order".into(),
            chain: "app.HISTORY (list) → [12] Order".into(),
        }],
        ..Census::default()
    }
}

/// 60 s of a leaking target: samples at 10 Hz, fds every second, rollups every 5 s, a census
/// every 5 s.
pub fn fixture(end: bool) -> Vec<Event> {
    let mut ev = vec![
        Event::Start(Box::new(SessionInfo {
            pid: 4242,
            command_line: "python3 /srv/shop/app.py --port 8000".into(),
            python_version: "3.12.1".into(),
            python_binary: "/usr/bin/python3.12".into(),
            start_unix: 1.8e9,
            rate_hz: 10.0,
            memwatch_command: "memwatch --pid 4242".into(),
            memwatch_version: "0.1.0".into(),
            spawned: false,
            page_size: 4096,
            ..SessionInfo::default()
        })),
        Event::Frame(
            0,
            FrameDef {
                function: "main".into(),
                file: FILE.into(),
                line: 20,
            },
        ),
        Event::Frame(
            1,
            FrameDef {
                function: "load".into(),
                file: FILE.into(),
                line: 12,
            },
        ),
        Event::Frame(
            2,
            FrameDef {
                function: "main".into(),
                file: FILE.into(),
                line: 21,
            },
        ),
        Event::Stack(0, vec![1, 0]),
        Event::Stack(1, vec![2]),
        Event::Source {
            file: FILE.into(),
            text: Some(SOURCE.join("\n")),
        },
    ];
    let mut census_i = 0;
    for i in 0..=600u64 {
        let t = i * 100_000;
        let loading = i % 3 != 0;
        ev.push(Event::Sample(Sample {
            t,
            // 10 MiB, growing 1 MiB/s while in load()
            rss_kib: 10_240 + (i * 2 / 3) * 150,
            threads: vec![ThreadSample {
                thread: 0,
                stack: if loading { 0 } else { 1 },
                gil: loading,
                active: loading,
            }],
        }));
        if i % 10 == 0 {
            ev.push(Event::Fds {
                t,
                count: 12 + (i / 100) as u32,
            });
        }
        if i % 50 == 0 {
            ev.push(Event::Rollup {
                t,
                mem: MemRollup {
                    rss_kib: 10_240 + i * 100,
                    pss_kib: 9_000 + i * 100,
                    uss_kib: 8_000 + i * 100,
                    swap_kib: 0,
                    ..MemRollup::default()
                },
            });
            ev.push(Event::Census(Box::new(census(census_i, t + 50_000))));
            census_i += 1;
        }
    }
    if end {
        ev.push(Event::End {
            t: 60_100_000,
            reason: EndReason::TargetExited {
                code: Some(3),
                signal: None,
            },
        });
    }
    ev
}

pub fn analyzer(end: bool) -> Analyzer {
    let mut a = Analyzer::new();
    for e in fixture(end) {
        a.apply(&e);
    }
    a
}

/// The screen as text, one string per row.
fn render(app: &mut App, a: &Analyzer, ctx: &Ctx, w: u16, h: u16) -> String {
    let mut term = Terminal::new(TestBackend::new(w, h)).unwrap();
    term.draw(|f| views::draw(f, app, a, ctx)).unwrap();
    let buf = term.backend().buffer().clone();
    let mut out = String::new();
    for y in 0..h {
        for x in 0..w {
            out.push_str(buf.cell((x, y)).map_or(" ", |c| c.symbol()));
        }
        out.push('\n');
    }
    if std::env::var_os("MEMWATCH_SHOW_SCREENS").is_some() {
        eprintln!("{out}");
    }
    out
}

fn live_ctx(a: &Analyzer) -> Ctx {
    Ctx::live(a.now)
}

fn has(screen: &str, needles: &[&str]) {
    for n in needles {
        assert!(screen.contains(n), "{n:?} not on the screen:\n{screen}");
    }
}

const SIZES: [(u16, u16); 2] = [(80, 24), (160, 48)];

#[test]
fn the_fixture_makes_a_finding() {
    let a = analyzer(false);
    assert!(
        a.findings.iter().any(|f| f.name == "app.CACHE"),
        "{:#?}",
        a.findings.iter().map(|f| &f.id).collect::<Vec<_>>()
    );
}

#[test]
fn overview_at_both_sizes() {
    let a = analyzer(false);
    for (w, h) in SIZES {
        let mut app = App::new(Mode::Live);
        let s = render(&mut app, &a, &live_ctx(&a), w, h);
        has(
            &s,
            &[
                "[1 Overview]",
                "5 Findings (",
                "Target (live",
                "PID 4242",
                "CPython 3.12.1",
                "RSS ",
                " MiB",
                "/min",
                "fds 18",
                "samples 10/s of 10",
                "dropped 0",
                "census #13",
                "RSS over time (MiB)",
                "0 s",
                "60 s",
                "┴",
                "▲",
                "Findings (",
                "[Important]",
                "app.CACHE",
                "Growing since the first census",
                "Δ/min",
                "items",
                "● LIVE",
            ],
        );
        assert_eq!(s.lines().count(), h as usize);
    }
}

#[test]
fn overview_names_growing_container_and_type() {
    let a = analyzer(false);
    let mut app = App::new(Mode::Live);
    let s = render(&mut app, &a, &live_ctx(&a), 160, 48);
    has(
        &s,
        &[
            "app.CACHE",
            "app.Order",
            "growing",
            "objs",
            "time since start",
            "Notes about the watch",
        ],
    );
}

#[test]
fn lines_view_at_both_sizes() {
    let a = analyzer(false);
    for (w, h) in SIZES {
        let mut app = App::new(Mode::Live);
        app.handle(Action::View(ViewId::Lines));
        let s = render(&mut app, &a, &live_ctx(&a), w, h);
        has(
            &s,
            &[
                "[2 Lines]",
                "Top lines by increment",
                "Increment",
                "Mem usage",
                "app.py:12 load()",
                "Function load in",
                "(lines 11–13)",
                "Line #",
                "Occurrences",
                "Line Contents",
                "CACHE[n] = [0] * 1000",
                "def load(n):",
                "MiB",
            ],
        );
        // drill into the table: Enter, move, back
        app.handle(Action::Enter);
        app.handle(Action::Down);
        let s = render(&mut app, &a, &live_ctx(&a), w, h);
        has(&s, &["return Order()"]);
        app.handle(Action::Back);
        // the other line's function: main
        app.handle(Action::Down);
        let s = render(&mut app, &a, &live_ctx(&a), w, h);
        has(&s, &["Function main in", "while True:", "time.sleep(0.01)"]);
        // a: from the program's own lines to the innermost lines of all code, and back
        has(&s, &["(your code, sampled)"]);
        app.handle(Action::Scope);
        let s = render(&mut app, &a, &live_ctx(&a), w, h);
        has(&s, &["(innermost, all code, sampled)", "app.py:12 load()"]);
        app.handle(Action::Scope);
        let s = render(&mut app, &a, &live_ctx(&a), w, h);
        has(&s, &["(your code, sampled)"]);
    }
}

#[test]
fn types_view_sorts_and_explains() {
    let a = analyzer(false);
    for (w, h) in SIZES {
        let mut app = App::new(Mode::Live);
        app.handle(Action::View(ViewId::Types));
        let s = render(&mut app, &a, &live_ctx(&a), w, h);
        has(
            &s,
            &[
                "[3 Types]",
                "Types (4 of 4)",
                "census #13",
                "Objects",
                "Bytes ▼",
                "Δ objs/min",
                "Δ bytes/min",
                "Verdict",
                "app.Order",
                "20,000",
                "growing",
                "stable",
                "/min",
            ],
        );
        // sorted by bytes: list first
        let first_row = s.lines().nth(3).unwrap();
        assert!(first_row.contains("list"), "{first_row}");
        // s: by count → str (9,000) is not first, app.Order (20,000) is
        app.handle(Action::Sort);
        let s = render(&mut app, &a, &live_ctx(&a), w, h);
        has(&s, &["Objects ▼"]);
        assert!(s.lines().nth(3).unwrap().contains("app.Order"), "{s}");
        // Enter: why alive (the selection stayed on its row when the order changed)
        app.handle(Action::Top);
        app.handle(Action::Enter);
        let s = render(&mut app, &a, &live_ctx(&a), w, h);
        has(
            &s,
            &[
                "Why alive: app.Order",
                "app.HISTORY (list) → [12] Order",
                "Cycle patterns involving Order",
            ],
        );
        // filter
        app.handle(Action::Back);
        app.handle(Action::Filter);
        for c in "dic".chars() {
            app.handle(Action::FilterChar(c));
        }
        let s = render(&mut app, &a, &live_ctx(&a), w, h);
        has(&s, &["Types (1 of 4)", "filter: dic"]);
        app.handle(Action::FilterDone);
        let s = render(&mut app, &a, &live_ctx(&a), w, h);
        has(&s, &["filter \"dic\""]);
        assert!(!s.contains("app.Order"), "{s}");
    }
}

#[test]
fn containers_view_at_both_sizes() {
    let a = analyzer(false);
    for (w, h) in SIZES {
        let mut app = App::new(Mode::Live);
        app.handle(Action::View(ViewId::Containers));
        let s = render(&mut app, &a, &live_ctx(&a), w, h);
        has(
            &s,
            &[
                "[4 Containers]",
                "Named containers (2 of 2)",
                "Length ▼",
                "Size",
                "Δ len/min",
                "Verdict",
                "app.CACHE",
                "app.SETTINGS",
                "4,900",
                "growing",
                "/min",
            ],
        );
        app.handle(Action::Enter);
        let s = render(&mut app, &a, &live_ctx(&a), w, h);
        has(
            &s,
            &[
                "app.CACHE (dict), a module global",
                "holds mostly list objects",
                "Findings:",
            ],
        );
    }
}

#[test]
fn findings_view_shows_the_recommendations_format() {
    let a = analyzer(false);
    for (w, h) in SIZES {
        let mut app = App::new(Mode::Live);
        app.handle(Action::View(ViewId::Findings));
        let s = render(&mut app, &a, &live_ctx(&a), w, h);
        has(
            &s,
            &[
                "[5 Findings (",
                "newest first",
                "[Important]",
                "app.CACHE",
                "Category: Memory Management",
                "Severity: Important",
                "Issue:",
            ],
        );
        // scroll down to the fix
        app.handle(Action::Enter);
        for _ in 0..3 {
            app.handle(Action::PageDown);
        }
        let s = render(&mut app, &a, &live_ctx(&a), w, h);
        has(&s, &["↑↓ PgUp PgDn scroll"]);
        assert!(s.contains("Fix") || s.contains("Verification"), "{s}");
    }
}

#[test]
fn overview_enter_opens_the_finding() {
    let a = analyzer(false);
    let mut app = App::new(Mode::Live);
    let _ = render(&mut app, &a, &live_ctx(&a), 80, 24);
    app.handle(Action::Enter);
    assert_eq!(app.view, ViewId::Findings);
    let s = render(&mut app, &a, &live_ctx(&a), 80, 24);
    has(&s, &["Category: Memory Management"]);
}

#[test]
fn help_lists_every_key() {
    let a = analyzer(false);
    for (w, h) in SIZES {
        let mut app = App::new(Mode::Live);
        app.handle(Action::Help);
        let s = render(&mut app, &a, &live_ctx(&a), w, h);
        has(
            &s,
            &[
                "Help: keys",
                "Tab  Shift-Tab",
                "1 2 3 4 5",
                "Enter",
                "Esc",
                "s  S",
                "Lines: your code",
                "/",
                "p  space",
                "q  Ctrl-C",
                "Home End",
                "+ -",
                "[ ]",
            ],
        );
    }
}

#[test]
fn status_bar_says_paused_ended_and_stopping() {
    let a = analyzer(true);
    let mut app = App::new(Mode::Live);
    let mut ctx = live_ctx(&a);
    ctx.paused = true;
    let s = render(&mut app, &a, &ctx, 80, 24);
    has(&s, &["PAUSED", "sampling and recording continue"]);
    ctx.paused = false;
    ctx.status = Some((
        "target exited (code 3) — q quits".into(),
        ratatui::style::Color::Red,
    ));
    let s = render(&mut app, &a, &ctx, 80, 24);
    has(&s, &["target exited (code 3)"]);
}

#[test]
fn replay_timeline_at_both_sizes() {
    let a = analyzer(true);
    for (w, h) in SIZES {
        let mut app = App::new(Mode::Replay);
        let ctx = Ctx {
            mode: Mode::Replay,
            now: a.now,
            paused: false,
            status: Some((
                "REPLAY — session end: target exited (code 3)".into(),
                ratatui::style::Color::Cyan,
            )),
            target_age_s: None,
            output: None,
            session: Some("/tmp/memwatch-4242.db".into()),
            timeline: Some(Timeline {
                start: 0,
                end: 60_100_000,
                cursor: 30_000_000,
                playing: true,
                speed: 2.0,
                step: 1_000_000,
                loading: false,
                seeking: false,
                censuses: Arc::new(vec![5_000_000, 10_000_000]),
                findings: Arc::new(vec![20_000_000]),
            }),
        };
        let s = render(&mut app, &a, &ctx, w, h);
        has(
            &s,
            &[
                "Replay of /tmp/memwatch-4242.db",
                "▶ playing 2×",
                "time 30.0 s / 1m 00s",
                "step 1.0 s",
                "●",
                "session end: target exited (code 3)",
            ],
        );
    }
}

#[test]
fn tiny_terminal_says_so() {
    let a = analyzer(false);
    let mut app = App::new(Mode::Live);
    let s = render(&mut app, &a, &live_ctx(&a), 30, 8);
    has(&s, &["the terminal is", "needs", "q quits."]);
}

#[test]
fn empty_analyzer_renders_every_view() {
    let a = Analyzer::new();
    for v in ViewId::ALL {
        for (w, h) in SIZES {
            let mut app = App::new(Mode::Live);
            app.handle(Action::View(v));
            app.handle(Action::Enter);
            let s = render(&mut app, &a, &live_ctx(&a), w, h);
            assert!(s.contains(v.title()), "{s}");
        }
    }
}

/// Write the fixture as a session file.
fn fixture_session(dir: &std::path::Path) -> std::path::PathBuf {
    let path = dir.join("fixture.db");
    let mut w = crate::session::writer::SessionWriter::create(&path, false).unwrap();
    let mut a = Analyzer::new();
    for e in fixture(true) {
        a.apply(&e);
        w.write(&e);
    }
    w.finish(&a).unwrap()
}

#[test]
fn replay_engine_state_follows_the_cursor() {
    let dir = tempfile::tempdir().unwrap();
    let path = fixture_session(dir.path());
    let reader = crate::session::reader::SessionReader::open(&path).unwrap();
    let engine = super::replay::Engine::start(reader).unwrap();
    assert!(engine.wait_loaded(Duration::from_secs(20)));
    let p = engine.progress();
    assert_eq!(p.start, 0);
    assert_eq!(p.end, 60_100_000);
    assert_eq!(p.censuses.len(), 13);
    assert!(p.checkpoints >= 2 && p.checkpoints <= super::replay::MAX_CHECKPOINTS);
    // at the end: what `memwatch report` sees
    let mut report = Analyzer::new();
    crate::session::reader::SessionReader::open(&path)
        .unwrap()
        .replay(&mut |e| report.apply(e));
    let ids = |a: &Analyzer| a.findings.iter().map(|f| f.id.clone()).collect::<Vec<_>>();
    {
        let a = crate::watch::lock(&engine.analyzer);
        assert_eq!(ids(&a), ids(&report));
        assert_eq!(a.samples, report.samples);
    }
    // state as of a time = the events up to it, applied to a fresh analyzer
    let expect = |t: Micros| {
        let mut a = Analyzer::new();
        crate::session::reader::SessionReader::open(&path)
            .unwrap()
            .replay(&mut |e| {
                if e.time().is_none_or(|et| et <= t) {
                    a.apply(e)
                }
            });
        a
    };
    for t in [
        12_345_678, 2_000_000, 2_000_000, 45_000_000, 7_500_000, 60_100_000, 0,
    ] {
        engine.seek(t);
        assert!(engine.wait_settled(Duration::from_secs(20)), "seek {t}");
        let want = expect(t);
        let a = crate::watch::lock(&engine.analyzer);
        assert_eq!(a.samples, want.samples, "samples at {t}");
        assert_eq!(a.heap.censuses, want.heap.censuses, "censuses at {t}");
        assert_eq!(a.rss.last, want.rss.last, "rss at {t}");
        assert_eq!(ids(&a), ids(&want), "findings at {t}");
        assert_eq!(a.end.is_some(), want.end.is_some(), "end at {t}");
    }
    let warnings = engine.stop();
    assert!(warnings.is_empty(), "{warnings:?}");
}

#[test]
fn player_keys_move_the_cursor() {
    use super::replay::{Player, Progress};
    let p = Progress {
        loaded: true,
        start: 0,
        end: 60_000_000,
        censuses: Arc::new(vec![5_000_000, 10_000_000, 15_000_000]),
        ..Progress::default()
    };
    let mut pl = Player {
        cursor: 60_000_000,
        ..Player::default()
    };
    pl.key(Action::StepBack, &p);
    assert_eq!(pl.cursor, 59_000_000);
    pl.key(Action::BigStepBack, &p);
    assert_eq!(pl.cursor, 49_000_000);
    pl.key(Action::PrevCensus, &p);
    assert_eq!(pl.cursor, 15_000_000);
    pl.key(Action::PrevCensus, &p);
    assert_eq!(pl.cursor, 10_000_000);
    pl.key(Action::NextCensus, &p);
    assert_eq!(pl.cursor, 15_000_000);
    pl.key(Action::Start, &p);
    assert_eq!(pl.cursor, 0);
    pl.key(Action::Faster, &p);
    assert_eq!(pl.speed, 2.0);
    pl.key(Action::PlayPause, &p);
    assert!(pl.playing);
    pl.tick(Duration::from_secs(2), &p);
    assert_eq!(pl.cursor, 4_000_000);
    pl.key(Action::End, &p);
    assert_eq!(pl.cursor, 60_000_000);
    assert!(!pl.playing);
    // play at the end starts over
    pl.key(Action::PlayPause, &p);
    assert_eq!(pl.cursor, 0);
    assert!(pl.playing);
}

/// A long session: `secs` of samples at `hz`, a census every 10 s with `types` types.
fn long_session(dir: &std::path::Path, secs: u64, hz: u64, types: u64) -> std::path::PathBuf {
    let path = dir.join("long.db");
    let mut w = crate::session::writer::SessionWriter::create(&path, false).unwrap();
    let mut a = Analyzer::new();
    let mut put = |e: Event, a: &mut Analyzer| {
        a.apply(&e);
        w.write(&e);
    };
    for e in fixture(false).into_iter().take(7) {
        put(e, &mut a);
    }
    let step = 1_000_000 / hz;
    for i in 0..secs * hz {
        let t = i * step;
        put(
            Event::Sample(Sample {
                t,
                rss_kib: 10_240 + i / 10,
                threads: vec![ThreadSample {
                    thread: 0,
                    stack: (i % 2) as u32,
                    gil: true,
                    active: true,
                }],
            }),
            &mut a,
        );
        if i % (10 * hz) == 0 {
            let k = i / (10 * hz);
            let mut c = census(k, t + 1);
            for j in 0..types {
                c.types.push(TypeRow {
                    name: format!("mod{}.T{j}", j % 7),
                    gc_count: 100 + j + (k * j) % 50,
                    gc_bytes: 5_000 + j * 10,
                    size_exact: true,
                    ..TypeRow::default()
                });
            }
            put(Event::Census(Box::new(c)), &mut a);
        }
    }
    put(
        Event::End {
            t: secs * 1_000_000,
            reason: EndReason::Interrupted,
        },
        &mut a,
    );
    w.finish(&a).unwrap()
}

#[test]
fn replay_checkpoints_stay_bounded() {
    use super::replay::{Engine, MAX_CHECKPOINTS};
    let dir = tempfile::tempdir().unwrap();
    // 10 minutes at 10 Hz: 600 one-second grid points, thinned
    let path = long_session(dir.path(), 600, 10, 20);
    let reader = crate::session::reader::SessionReader::open(&path).unwrap();
    let engine = Engine::start(reader).unwrap();
    assert!(engine.wait_loaded(Duration::from_secs(60)));
    let p = engine.progress();
    assert!(p.checkpoints <= MAX_CHECKPOINTS, "{}", p.checkpoints);
    assert!(p.checkpoints >= MAX_CHECKPOINTS / 2, "{}", p.checkpoints);
    assert_eq!(p.end, 600_000_000);
    for t in [300_000_000u64, 12_000_000, 599_000_000] {
        engine.seek(t);
        assert!(engine.wait_settled(Duration::from_secs(60)));
        let a = crate::watch::lock(&engine.analyzer);
        assert_eq!(a.samples, t / 100_000 + 1, "samples at {t}");
        // census k is taken at k × 10 s + 1 µs
        assert_eq!(a.heap.censuses, (t - 1) / 10_000_000 + 1, "censuses at {t}");
    }
    engine.stop();
}

/// How long a long session takes to load and seek in (run by hand:
/// `cargo test --release --lib replay_timing -- --ignored --nocapture`).
#[test]
#[ignore]
fn replay_timing_of_a_long_session() {
    use super::replay::{Engine, approx_bytes};
    use std::time::Instant;
    let dir = tempfile::tempdir().unwrap();
    let t0 = Instant::now();
    let path = long_session(dir.path(), 3600, 100, 300);
    eprintln!(
        "1 h at 100 Hz, 360 censuses of 300+ types: written in {:?}, {} MiB",
        t0.elapsed(),
        std::fs::metadata(&path).unwrap().len() >> 20
    );
    let t0 = Instant::now();
    let mut plain = Analyzer::new();
    crate::session::reader::SessionReader::open(&path)
        .unwrap()
        .replay(&mut |e| plain.apply(e));
    eprintln!("plain replay (memwatch report): {:?}", t0.elapsed());
    let t0 = Instant::now();
    let mut n = 0u64;
    crate::session::reader::SessionReader::open(&path)
        .unwrap()
        .replay(&mut |_| n += 1);
    eprintln!("reading only: {:?} ({n} events)", t0.elapsed());
    let t0 = Instant::now();
    let engine =
        Engine::start(crate::session::reader::SessionReader::open(&path).unwrap()).unwrap();
    assert!(engine.wait_loaded(Duration::from_secs(600)));
    let p = engine.progress();
    eprintln!(
        "first pass {:?}, {} checkpoints of about {} KiB each",
        t0.elapsed(),
        p.checkpoints,
        approx_bytes(&crate::watch::lock(&engine.analyzer)) >> 10
    );
    for (what, t) in [
        ("back to 30 min", 1_800_000_000u64),
        ("forward 1 s", 1_801_000_000),
        ("forward 5 min", 2_101_000_000),
        ("back 1 s", 2_100_000_000),
        ("back to 1 min", 60_000_000),
        ("end", 3_600_000_000),
    ] {
        let t0 = Instant::now();
        engine.seek(t);
        assert!(engine.wait_settled(Duration::from_secs(600)));
        eprintln!("{what}: {:?}", t0.elapsed());
    }
    engine.stop();
}
