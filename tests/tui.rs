//! The dashboard end to end in a real terminal: memwatch runs in a tmux pane (keys with
//! `send-keys`, the screen with `capture-pane`) against a leaky Python target
//! (tests/targets/growing_list.py, whose module-level list EVENTS grows).
//!
//! - live: the screen names the growing container within 30 s, `?` shows the help, `q` quits
//!   with exit 0, the terminal is restored (normal screen, cooked mode, cursor shown), the
//!   report is printed after it and the session reads back; `memwatch replay` on that session
//!   shows the same finding at the end of the timeline (End).
//! - `memwatch run --duration` closes the dashboard by itself and prints the report; when the
//!   target exits, the dashboard stays open, saying so, until `q`.
//! - SIGTERM (once: orderly; twice: at once) and a panic in the dashboard restore the terminal.
//!
//! Skipped, with the reason printed, when tmux is not installed.

mod common;

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use common::{Target, interpreter, report_json};

/// A tmux server of its own (its own socket), killed when dropped.
struct Tmux {
    socket: String,
}

impl Tmux {
    fn new(name: &str) -> Option<Tmux> {
        if Command::new("tmux").arg("-V").output().is_err() {
            eprintln!("skip: tmux is not installed (the end-to-end dashboard tests need it)");
            return None;
        }
        Some(Tmux {
            socket: format!("memwatch-test-{}-{name}", std::process::id()),
        })
    }

    fn tmux(&self) -> Command {
        let mut c = Command::new("tmux");
        c.args(["-L", &self.socket, "-f", "/dev/null"]);
        c
    }

    /// Run `script` (sh) in a new `w`×`h` window named `name`.
    fn start(&self, name: &str, w: u16, h: u16, script: &str) {
        let out = self
            .tmux()
            .args([
                "new-session",
                "-d",
                "-s",
                name,
                "-x",
                &w.to_string(),
                "-y",
                &h.to_string(),
                "sh",
                "-c",
                script,
            ])
            .env_remove("TMUX")
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "tmux: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }

    fn capture(&self, name: &str) -> String {
        let out = self
            .tmux()
            .args(["capture-pane", "-p", "-t", name])
            .output()
            .unwrap();
        String::from_utf8_lossy(&out.stdout).to_string()
    }

    /// The screen and the lines scrolled off it.
    fn capture_all(&self, name: &str) -> String {
        let out = self
            .tmux()
            .args(["capture-pane", "-p", "-S", "-", "-t", name])
            .output()
            .unwrap();
        String::from_utf8_lossy(&out.stdout).to_string()
    }

    /// Press keys one at a time (Escape followed at once by a key reads as Alt-key).
    fn keys(&self, name: &str, keys: &[&str]) {
        for k in keys {
            let st = self
                .tmux()
                .args(["send-keys", "-t", name, k])
                .status()
                .unwrap();
            assert!(st.success());
            std::thread::sleep(Duration::from_millis(150));
        }
    }

    fn format(&self, name: &str, fmt: &str) -> String {
        let out = self
            .tmux()
            .args(["display-message", "-p", "-t", name, fmt])
            .output()
            .unwrap();
        String::from_utf8_lossy(&out.stdout).trim().to_string()
    }

    /// Press `key` until the screen shows `needle` (up to `tries` presses, 3 s each); the screen.
    fn press_until(&self, name: &str, key: &str, needle: &str, tries: u32) -> String {
        for _ in 1..tries {
            self.keys(name, &[key]);
            let start = Instant::now();
            while start.elapsed() < Duration::from_secs(3) {
                let screen = self.capture(name);
                if screen.contains(needle) {
                    return screen;
                }
                std::thread::sleep(Duration::from_millis(100));
            }
        }
        self.keys(name, &[key]);
        self.wait_for(name, &[needle], Duration::from_secs(5))
    }

    /// Wait until the screen shows every needle; the screen.
    fn wait_for(&self, name: &str, needles: &[&str], limit: Duration) -> String {
        let start = Instant::now();
        loop {
            let screen = self.capture(name);
            if needles.iter().all(|n| screen.contains(n)) {
                return screen;
            }
            if start.elapsed() > limit {
                panic!("after {limit:?}, {needles:?} not all on the screen of {name}:\n{screen}");
            }
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    /// The terminal as a shell finds it after memwatch: normal screen, cursor shown, cooked
    /// mode with echo (the script ran `stty -a` into `stty`).
    fn assert_restored(&self, name: &str, stty: &Path) {
        assert_eq!(
            self.format(name, "#{alternate_on}"),
            "0",
            "still on the alternate screen"
        );
        assert_eq!(self.format(name, "#{cursor_flag}"), "1", "cursor hidden");
        let start = Instant::now();
        let modes = loop {
            let s = std::fs::read_to_string(stty).unwrap_or_default();
            if !s.is_empty() || start.elapsed() > Duration::from_secs(5) {
                break s;
            }
            std::thread::sleep(Duration::from_millis(50));
        };
        let words: Vec<&str> = modes.split_whitespace().collect();
        for m in ["icanon", "echo", "isig", "opost"] {
            assert!(words.contains(&m), "{m} is off after memwatch: {modes}");
        }
    }
}

impl Drop for Tmux {
    fn drop(&mut self) {
        let _ = self.tmux().arg("kill-server").output();
    }
}

fn memwatch() -> &'static str {
    env!("CARGO_BIN_EXE_memwatch")
}

/// The shell script of a pane: run `cmd`, print its exit code, record the terminal modes,
/// then stay (so the pane can be read).
fn script(cmd: &str, dir: &Path, tag: &str) -> String {
    format!(
        "{cmd}; echo {tag}-exit=$?; stty -a > {}; sleep 600",
        dir.join(format!("{tag}.stty")).display()
    )
}

fn python() -> PathBuf {
    interpreter("python3").unwrap().path
}

fn python3() -> common::Interp {
    interpreter("python3").unwrap()
}

#[test]
fn live_dashboard_then_replay_of_its_session() {
    let Some(tmux) = Tmux::new("live") else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let session = dir.path().join("live.db");
    let target = Target::start(&python3(), "growing_list.py", &[]);
    let cmd = format!(
        "{} --pid {} --heap-interval 0.5 --record {}",
        memwatch(),
        target.pid(),
        session.display()
    );
    tmux.start("live", 100, 30, &script(&cmd, dir.path(), "live"));
    // the growing container is named, on the overview, within 30 s
    let screen = tmux.wait_for(
        "live",
        &["[1 Overview]", "__main__.EVENTS"],
        Duration::from_secs(30),
    );
    assert!(screen.contains("RSS over time (MiB)"), "{screen}");
    assert_eq!(tmux.format("live", "#{alternate_on}"), "1");
    // and by the findings once the censuses say it only grows
    tmux.wait_for(
        "live",
        &["Global State Accumulation — __main__.EVENTS"],
        Duration::from_secs(30),
    );
    // ? shows the help, Esc closes it
    tmux.keys("live", &["?"]);
    let help = tmux.wait_for(
        "live",
        &["Help: keys", "q  Ctrl-C", "p  space"],
        Duration::from_secs(5),
    );
    assert!(help.contains("pause the display"), "{help}");
    tmux.keys("live", &["Escape"]);
    std::thread::sleep(Duration::from_millis(500));
    assert!(!tmux.capture("live").contains("Help: keys"));
    // the containers view lists it with its verdict
    tmux.keys("live", &["4"]);
    tmux.wait_for(
        "live",
        &["[4 Containers]", "__main__.EVENTS", "growing"],
        Duration::from_secs(5),
    );
    // q: orderly stop, the terminal back, then the report
    tmux.keys("live", &["q"]);
    let end = tmux.wait_for("live", &["live-exit="], Duration::from_secs(20));
    assert!(end.contains("live-exit=0"), "{end}");
    assert!(end.contains("session recorded to"), "{end}");
    tmux.assert_restored("live", &dir.path().join("live.stty"));
    drop(target);

    // the session reads back, with the finding
    let report = report_json(&session, &[]);
    let names: Vec<&str> = report["findings"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|f| f["name"].as_str())
        .collect();
    assert!(names.contains(&"__main__.EVENTS"), "{names:?}");
    assert_eq!(report["summary"]["end_reason"], "interrupted");

    // replay: the same finding at the end of the timeline
    let cmd = format!("{} replay {}", memwatch(), session.display());
    tmux.start("replay", 100, 30, &script(&cmd, dir.path(), "replay"));
    tmux.wait_for("replay", &["Replay of", "time "], Duration::from_secs(10));
    // (under load the terminal can deliver Home's escape sequence in two reads, which reads
    // as Esc, '[', 'H'; pressed again, as a user would, it arrives whole)
    tmux.press_until("replay", "Home", "time 0.0 s /", 3);
    tmux.keys("replay", &["End"]);
    let at_end = tmux.wait_for(
        "replay",
        &[
            "Global State Accumulation — __main__.EVENTS",
            "session end: interrupted",
        ],
        Duration::from_secs(10),
    );
    assert!(at_end.contains("__main__.EVENTS"), "{at_end}");
    tmux.keys("replay", &["5"]);
    tmux.wait_for(
        "replay",
        &["[5 Findings", "Category: Memory Management"],
        Duration::from_secs(5),
    );
    tmux.keys("replay", &["q"]);
    let end = tmux.wait_for("replay", &["replay-exit="], Duration::from_secs(10));
    assert!(end.contains("replay-exit=0"), "{end}");
    tmux.assert_restored("replay", &dir.path().join("replay.stty"));

    // without a terminal, replay prints the report
    let out = Command::new(memwatch())
        .arg("replay")
        .arg(&session)
        .output()
        .unwrap();
    assert!(out.status.success());
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        text.contains("Global State Accumulation — __main__.EVENTS"),
        "{text}"
    );
    assert!(String::from_utf8_lossy(&out.stderr).contains("not a terminal"));
}

#[test]
fn run_with_duration_closes_the_dashboard_and_prints_the_report() {
    let Some(tmux) = Tmux::new("run") else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let session = dir.path().join("run.db");
    let cmd = format!(
        "{} run --duration 5 --heap-interval 0.5 --record {} -- {} {}",
        memwatch(),
        session.display(),
        python().display(),
        common::target_script("growing_list.py").display()
    );
    tmux.start("run", 100, 30, &script(&cmd, dir.path(), "run"));
    tmux.wait_for("run", &["[1 Overview]", "PID "], Duration::from_secs(10));
    // nothing pressed: it ends by itself
    let end = tmux.wait_for("run", &["run-exit="], Duration::from_secs(25));
    assert!(end.contains("run-exit=0"), "{end}");
    assert!(end.contains("session recorded to"), "{end}");
    tmux.assert_restored("run", &dir.path().join("run.stty"));
    let report = report_json(&session, &[]);
    assert_eq!(report["summary"]["end_reason"], "duration");
}

#[test]
fn target_exit_keeps_the_dashboard_open_until_q() {
    let Some(tmux) = Tmux::new("exit") else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let session = dir.path().join("exit.db");
    let cmd = format!(
        "{} run --heap-interval 0.5 --record {} -- {} {} --seconds 3",
        memwatch(),
        session.display(),
        python().display(),
        common::target_script("growing_list.py").display()
    );
    tmux.start("exit", 100, 30, &script(&cmd, dir.path(), "exit"));
    let screen = tmux.wait_for(
        "exit",
        &["target exited (code 0)", "q quits"],
        Duration::from_secs(20),
    );
    assert!(screen.contains("[1 Overview]"), "{screen}");
    // it stays: still the dashboard a while later
    std::thread::sleep(Duration::from_secs(1));
    let screen = tmux.capture("exit");
    assert!(
        screen.contains("target exited (code 0)") && !screen.contains("exit-exit="),
        "{screen}"
    );
    tmux.keys("exit", &["q"]);
    let end = tmux.wait_for("exit", &["exit-exit="], Duration::from_secs(10));
    assert!(end.contains("exit-exit=0"), "{end}");
    tmux.assert_restored("exit", &dir.path().join("exit.stty"));
    let report = report_json(&session, &[]);
    assert_eq!(report["summary"]["end_reason"], "target_exited");
    assert_eq!(report["summary"]["exit_code"], 0);
}

/// memwatch's PID: the pane's `sh -c 'echo $$ > F; exec memwatch …'` wrote it.
fn pid_from(file: &Path) -> i32 {
    let start = Instant::now();
    loop {
        if let Ok(s) = std::fs::read_to_string(file)
            && let Ok(p) = s.trim().parse()
        {
            return p;
        }
        assert!(start.elapsed() < Duration::from_secs(10), "no pid file");
        std::thread::sleep(Duration::from_millis(50));
    }
}

#[test]
fn sigterm_and_panic_restore_the_terminal() {
    let Some(tmux) = Tmux::new("signals") else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let target = Target::start(&python3(), "growing_list.py", &[]);
    let run = |tag: &str, env: &str| {
        let pidfile = dir.path().join(format!("{tag}.pid"));
        let cmd = format!(
            "sh -c 'echo $$ > {}; exec env {env} {} --pid {} --no-record'",
            pidfile.display(),
            memwatch(),
            target.pid()
        );
        tmux.start(tag, 90, 26, &script(&cmd, dir.path(), tag));
        pidfile
    };

    // one SIGTERM: the orderly stop of Ctrl-C, the report after the terminal is back
    let pidfile = run("term1", "MEMWATCH_X=1");
    tmux.wait_for("term1", &["[1 Overview]", "PID "], Duration::from_secs(10));
    let pid = pid_from(&pidfile);
    nix::sys::signal::kill(
        nix::unistd::Pid::from_raw(pid),
        nix::sys::signal::Signal::SIGTERM,
    )
    .unwrap();
    let end = tmux.wait_for("term1", &["term1-exit="], Duration::from_secs(15));
    assert!(end.contains("term1-exit=0"), "{end}");
    assert!(end.contains("Sampled figures, not a trace"), "{end}");
    tmux.assert_restored("term1", &dir.path().join("term1.stty"));

    // two (SIGTERM, SIGINT): memwatch leaves at once (130), the terminal restored by the signal
    // handler
    let pidfile = run("term2", "MEMWATCH_X=1");
    tmux.wait_for("term2", &["[1 Overview]", "PID "], Duration::from_secs(10));
    let pid = nix::unistd::Pid::from_raw(pid_from(&pidfile));
    // back to back, and of two kinds: a second SIGTERM still pending would merge with the
    // first, and after a pause the orderly stop may already be over (both count alike)
    nix::sys::signal::kill(pid, nix::sys::signal::Signal::SIGTERM).unwrap();
    nix::sys::signal::kill(pid, nix::sys::signal::Signal::SIGINT).unwrap();
    let end = tmux.wait_for("term2", &["term2-exit="], Duration::from_secs(15));
    assert!(end.contains("term2-exit=130"), "{end}");
    tmux.assert_restored("term2", &dir.path().join("term2.stty"));

    // a panic in the dashboard: the terminal first, then the message, the watch stopped
    let _ = run("panic", "MEMWATCH_TEST_TUI_PANIC=1");
    tmux.wait_for("panic", &["panic-exit="], Duration::from_secs(15));
    let end = tmux.capture_all("panic");
    assert!(
        end.contains("memwatch: internal error (a bug, please report it): MEMWATCH_TEST_TUI_PANIC"),
        "{end}"
    );
    // the message is on the normal screen, before the report
    assert!(
        end.find("internal error") < end.find("Sampled figures"),
        "{end}"
    );
    // and memwatch says so once more after the report, with the internal-error code
    assert!(
        end.contains("memwatch: internal error: the dashboard failed"),
        "{end}"
    );
    assert!(end.contains("panic-exit=1"), "{end}");
    tmux.assert_restored("panic", &dir.path().join("panic.stty"));
    drop(target);
}

/// A fork pool whose two workers leak: the process list opens at the start, names the
/// workers that grow, Enter focuses one and every view shows it (its finding); `w` reopens
/// the list; the replay of the session has the same list, and choosing the parent shows it.
#[test]
fn tree_dashboard_lists_processes_and_focuses_one() {
    let Some(tmux) = Tmux::new("tree") else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let session = dir.path().join("tree.db");
    let py = python3();
    let mut cmd = py.command();
    cmd.arg(py.script("tree/pool_fork.py")).arg("leak");
    use std::os::unix::process::CommandExt;
    cmd.process_group(0);
    let target = Target::start_command(cmd, &[]);
    let pgid = target.pid();
    let _kill_group = scopeguard(move || {
        let _ = nix::sys::signal::killpg(
            nix::unistd::Pid::from_raw(pgid),
            nix::sys::signal::Signal::SIGKILL,
        );
    });
    let cmd = format!(
        "{} --pid {} --subprocesses --record {}",
        memwatch(),
        target.pid(),
        session.display()
    );
    tmux.start("tree", 120, 32, &script(&cmd, dir.path(), "tree"));
    let screen = tmux.wait_for(
        "tree",
        &["Processes (3)", "worker", " grew "],
        Duration::from_secs(30),
    );
    assert!(
        screen.contains(&format!("main {}", target.pid())),
        "{screen}"
    );
    // the first row is a worker that grew: Enter focuses it
    tmux.keys("tree", &["Enter"]);
    let screen = tmux.wait_for("tree", &["w: processes"], Duration::from_secs(5));
    assert!(!screen.contains("Processes (3)"), "list closed: {screen}");
    let status = screen
        .lines()
        .find(|l| l.contains("w: processes"))
        .unwrap()
        .to_string();
    assert!(status.contains("worker "), "{status}");
    tmux.keys("tree", &["5"]);
    tmux.wait_for(
        "tree",
        &["5 Findings (1)]", "__main__._AUDIT"],
        Duration::from_secs(30),
    );
    tmux.keys("tree", &["w"]);
    tmux.wait_for("tree", &["Processes (3)"], Duration::from_secs(5));
    tmux.keys("tree", &["Escape", "q"]);
    let end = tmux.wait_for("tree", &["tree-exit="], Duration::from_secs(20));
    assert!(end.contains("tree-exit=0"), "{end}");
    let all = tmux.capture_all("tree");
    assert!(all.contains("(process tree)"), "{all}");
    // the replay: the same list; the parent is chosen (↓ to its row, Enter)
    let cmd = format!("{} replay {}", memwatch(), session.display());
    tmux.start(
        "treereplay",
        120,
        32,
        &script(&cmd, dir.path(), "treereplay"),
    );
    let list = tmux.wait_for(
        "treereplay",
        &["Processes (3)", " grew "],
        Duration::from_secs(20),
    );
    // the rows, in the list's order (those that grew first): move to the parent's
    let rows: Vec<&str> = list
        .lines()
        .filter(|l| l.contains(" worker ") || l.contains(" main "))
        .collect();
    let at = rows
        .iter()
        .position(|l| l.contains(&format!("main {}", target.pid())))
        .unwrap_or_else(|| panic!("the parent in the list:\n{list}"));
    let mut keys = vec!["Down"; at];
    keys.push("Enter");
    tmux.keys("treereplay", &keys);
    let screen = tmux.wait_for(
        "treereplay",
        &[&format!("REPLAY — main {}", target.pid())],
        Duration::from_secs(20),
    );
    assert!(!screen.contains("Processes (3)"), "{screen}");
    tmux.keys("treereplay", &["q"]);
    let end = tmux.wait_for("treereplay", &["treereplay-exit="], Duration::from_secs(10));
    assert!(end.contains("treereplay-exit=0"), "{end}");
}

/// Run `f` when dropped.
fn scopeguard(f: impl FnOnce()) -> impl Drop {
    struct Guard<F: FnOnce()>(Option<F>);
    impl<F: FnOnce()> Drop for Guard<F> {
        fn drop(&mut self) {
            if let Some(f) = self.0.take() {
                f();
            }
        }
    }
    Guard(Some(f))
}

/// The README's process-tree demo as a new user runs it: `python3 demo/load.py ADDR &` and
/// `memwatch run --subprocesses --duration 40 -- gunicorn -w 4 -b ADDR --chdir demo app:app`
/// (a real gunicorn from the test venv, `gunicorn` found on PATH). Within 30 s of the start
/// the dashboard's process list shows workers with a finding, and the finding, in a worker's
/// view, names the module-level dict `app._RECENT`; when the duration is up the report names
/// it as one finding of the 4 workers.
#[test]
fn readme_gunicorn_demo_names_a_worker_leak_in_the_dashboard_and_the_report() {
    let Some(venv) = common::gunicorn_venv() else {
        return;
    };
    let Some(tmux) = Tmux::new("gunicorn") else {
        return;
    };
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let dir = tempfile::tempdir().unwrap();
    let session = dir.path().join("gunicorn.db");
    let addr = format!("127.0.0.1:{}", common::free_port());
    let mut load = Command::new(python())
        .arg(root.join("demo/load.py"))
        .args([&addr, "--seconds", "60"])
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let _stop_load = scopeguard(move || {
        let _ = load.kill();
        let _ = load.wait();
    });
    let cmd = format!(
        "cd {} && PATH={}:$PATH {} run --subprocesses --duration 40 --record {} -- gunicorn -w 4 -b {addr} --chdir demo app:app",
        root.display(),
        venv.join("bin").display(),
        memwatch(),
        session.display()
    );
    let started = Instant::now();
    tmux.start("gunicorn", 140, 36, &script(&cmd, dir.path(), "gunicorn"));
    // the process list (open at the start): a worker row whose Findings column is not 0
    let worker_with_finding = |screen: &str| {
        screen.lines().any(|l| {
            let w: Vec<&str> = l.split_whitespace().collect();
            w.windows(3).any(|x| {
                x[1] == "grew" && x[2] == "worker" && x[0].parse::<u32>().is_ok_and(|n| n > 0)
            })
        })
    };
    let list = loop {
        let screen = tmux.capture("gunicorn");
        if screen.contains("Processes (5)") && worker_with_finding(&screen) {
            break screen;
        }
        assert!(
            started.elapsed() < Duration::from_secs(30),
            "no worker with a finding within 30 s:\n{screen}"
        );
        std::thread::sleep(Duration::from_millis(200));
    };
    // workers with findings head the list: Enter focuses the first, view 5 shows the finding
    let first = list
        .lines()
        .find(|l| l.contains(" worker ") || l.contains(" main "))
        .unwrap_or_default();
    assert!(first.contains(" worker "), "first row: {first}\n{list}");
    tmux.keys("gunicorn", &["Enter", "5"]);
    tmux.wait_for(
        "gunicorn",
        &["app._RECENT", "Unbounded Cache"],
        Duration::from_secs(10),
    );
    let end = tmux.wait_for("gunicorn", &["gunicorn-exit="], Duration::from_secs(60));
    assert!(end.contains("gunicorn-exit=0"), "{end}");
    let all = tmux.capture_all("gunicorn");
    assert!(all.contains("(process tree)"), "{all}");
    let r = report_json(&session, &[]);
    let found: Vec<&serde_json::Value> = r["findings"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|f| f["name"] == "app._RECENT")
        .collect();
    assert_eq!(found.len(), 1, "one finding for the 4 workers: {r:#}");
    let procs = found[0]["processes"].as_array().unwrap();
    assert_eq!(procs.len(), 4, "{procs:?}");
    assert!(
        procs
            .iter()
            .all(|p| p.as_str().unwrap().starts_with("worker "))
    );
    assert!(
        found[0]["first_seen"].as_u64().unwrap() < 30_000_000,
        "named after 30 s: {}",
        found[0]["first_seen"]
    );
    // the tree's total RSS at the end still counts the workers gunicorn took down as the
    // watch stopped it (not the master's alone)
    let total = r["total_rss"].as_array().unwrap();
    let last = total.last().unwrap()[1].as_u64().unwrap();
    let peak = r["total_rss_peak_bytes"].as_u64().unwrap();
    assert!(
        last * 2 > peak,
        "total RSS at the end {last} of peak {peak}"
    );
}
