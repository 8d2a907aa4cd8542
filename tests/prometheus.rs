//! Always-on watching, scraped by a real Prometheus (Debian's `prometheus` package, which
//! .ci/run installs; skipped, saying so, where it is absent): memwatch watches a leaking
//! program with `--serve`, Prometheus scrapes it every second on loopback, and its HTTP API
//! shows the container's length series rising and the findings series naming the leak.
//! `promtool check metrics` passes on the endpoint's text.

mod common;

use std::io::{Read, Write};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use common::*;
use serde_json::Value;

fn http_get(port: u16, path: &str) -> Option<String> {
    let mut s = std::net::TcpStream::connect(("127.0.0.1", port)).ok()?;
    s.set_read_timeout(Some(Duration::from_secs(5))).ok()?;
    write!(
        s,
        "GET {path} HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n"
    )
    .ok()?;
    let mut text = String::new();
    s.read_to_string(&mut text).ok()?;
    let (head, body) = text.split_once("\r\n\r\n")?;
    head.starts_with("HTTP/1.1 200").then(|| body.to_string())
}

/// Percent-encode a PromQL query for a URL.
fn encode(q: &str) -> String {
    q.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'_' | b'.' | b'-' => (b as char).to_string(),
            _ => format!("%{b:02X}"),
        })
        .collect()
}

/// The values of an instant query's vector result.
fn query(port: u16, q: &str) -> Vec<f64> {
    let Some(body) = http_get(port, &format!("/api/v1/query?query={}", encode(q))) else {
        return Vec::new();
    };
    let v: Value = serde_json::from_str(&body).unwrap_or(Value::Null);
    v["data"]["result"]
        .as_array()
        .map(|r| {
            r.iter()
                .filter_map(|s| s["value"][1].as_str()?.parse().ok())
                .collect()
        })
        .unwrap_or_default()
}

struct Killed(Child);

impl Drop for Killed {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

#[test]
fn prometheus_scrapes_the_leak_as_a_rising_series_and_a_finding() {
    if Command::new("prometheus")
        .arg("--version")
        .output()
        .is_err()
    {
        eprintln!(
            "skip: no prometheus on PATH (Debian's `prometheus` package; .ci/run installs it)"
        );
        return;
    }
    let py = interpreter("python3").unwrap();
    let dir = tempfile::tempdir().unwrap();
    let (serve, web) = (free_port(), free_port());
    let config = dir.path().join("prometheus.yml");
    std::fs::write(
        &config,
        format!(
            "global:\n  scrape_interval: 1s\n  scrape_timeout: 1s\nscrape_configs:\n  - job_name: memwatch\n    static_configs:\n      - targets: ['127.0.0.1:{serve}']\n"
        ),
    )
    .unwrap();
    let _prometheus = Killed(
        Command::new("prometheus")
            .arg(format!("--config.file={}", config.display()))
            .arg(format!(
                "--storage.tsdb.path={}",
                dir.path().join("data").display()
            ))
            .arg(format!("--web.listen-address=127.0.0.1:{web}"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap(),
    );
    let mut cmd = memwatch();
    cmd.args([
        "run",
        "--no-tui",
        "--duration",
        "60",
        "--no-record",
        "--serve",
    ])
    .arg(serve.to_string())
    .arg("--")
    .arg(&py.path)
    .arg(py.script("smells/leak_cache.py"))
    .stdout(Stdio::null())
    .stderr(Stdio::null());
    let _watch = Killed(cmd.spawn().unwrap());

    // promtool on the endpoint's text, once it has a census
    let start = Instant::now();
    let text = loop {
        if let Some(t) = http_get(serve, "/metrics")
            && t.contains("memwatch_container_length{")
        {
            break t;
        }
        assert!(
            start.elapsed() < Duration::from_secs(30),
            "no container series on the endpoint"
        );
        std::thread::sleep(Duration::from_millis(250));
    };
    let metrics = dir.path().join("metrics.txt");
    std::fs::write(&metrics, &text).unwrap();
    if Command::new("promtool").arg("--version").output().is_ok() {
        let out = Command::new("sh")
            .arg("-c")
            .arg(format!("promtool check metrics < {}", metrics.display()))
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "promtool check metrics: {}{}\n{text}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
    } else {
        eprintln!("skip: no promtool (the prometheus package has it)");
    }

    // Prometheus's view: the cache's length rose over the last 15 s, and the finding is there
    let length = r#"memwatch_container_length{name="__main__._PRICE_CACHE"}"#;
    let rise = format!("delta({length}[15s])");
    let finding = r#"memwatch_findings{kind="unbounded_container",severity="important"}"#;
    let mut seen = (Vec::new(), Vec::new());
    while start.elapsed() < Duration::from_secs(50) {
        seen = (query(web, &rise), query(web, finding));
        if seen.0.iter().any(|&d| d > 100.0) && seen.1.iter().any(|&n| n >= 1.0) {
            break;
        }
        std::thread::sleep(Duration::from_secs(1));
    }
    assert!(
        seen.0.iter().any(|&d| d > 100.0),
        "no rise of the container's length in Prometheus: {:?}",
        seen.0
    );
    assert!(
        seen.1.iter().any(|&n| n >= 1.0),
        "no finding series in Prometheus: {:?}",
        seen.1
    );
    // and the scrape was healthy
    assert_eq!(query(web, r#"up{job="memwatch"}"#), vec![1.0]);
}

/// The alerting rules the README gives are valid Prometheus rules.
#[test]
fn the_readme_alerting_rules_pass_promtool() {
    if Command::new("promtool").arg("--version").output().is_err() {
        eprintln!("skip: no promtool (Debian's `prometheus` package; .ci/run installs it)");
        return;
    }
    let readme =
        std::fs::read_to_string(std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("README.md"))
            .unwrap();
    let start = readme
        .find("```yaml\n")
        .expect("a yaml block in the README")
        + 8;
    let end = start + readme[start..].find("```").unwrap();
    let dir = tempfile::tempdir().unwrap();
    let rules = dir.path().join("rules.yml");
    std::fs::write(&rules, &readme[start..end]).unwrap();
    let out = Command::new("promtool")
        .args(["check", "rules"])
        .arg(&rules)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    let said = String::from_utf8_lossy(&out.stdout);
    assert!(said.contains("SUCCESS: 2 rules found"), "{said}");
}
