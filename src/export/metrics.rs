//! What the endpoint says: a [`Snapshot`] of the analyzer's state (plain figures, taken under
//! the analyzer's lock once a second) and its OpenMetrics text, made with the official
//! `prometheus-client` crate at each scrape.
//!
//! Names follow the exporters' conventions for *another* process (the node and process
//! exporters' `namedprocess_*`, the blackbox exporter's `probe_*`): every figure of the
//! watched program is `memwatch_target_*` with a `pid` label (one label set per process of a
//! tree); `memwatch_*` are memwatch's own readings of it (samples, censuses, findings), and
//! `process_*` describe memwatch itself, as any exporter's do.
//!
//! Cardinality is bounded: at most [`TOP`] named containers and [`TOP`] types per process,
//! chosen by size and by growth, one series per finding kind and severity, and at most
//! `--max-processes` processes.

use std::sync::atomic::{AtomicI64, AtomicU64};

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::encoding::text::encode;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::info::Info;
use prometheus_client::registry::{Registry, Unit};

use crate::analyzer::Analyzer;
use crate::tree::TreeAnalyzer;
use crate::tui::data::HeapCache;

/// Named containers and types exposed per process: the largest, then the fastest growing
/// (at most this many of each list).
pub const TOP: usize = 10;

/// One process's figures.
#[derive(Debug, Clone, Default)]
pub struct ProcFigures {
    pub pid: i32,
    /// `main` (a root the user named, or the only process) or `worker`.
    pub role: &'static str,
    pub command: String,
    pub python_version: String,
    pub rss_bytes: Option<u64>,
    pub uss_bytes: Option<u64>,
    pub pss_bytes: Option<u64>,
    pub swap_bytes: Option<u64>,
    pub fds: Option<u64>,
    pub samples: u64,
    pub dropped: u64,
    pub censuses: u64,
    pub census_objects: Option<u64>,
    pub census_bytes: Option<u64>,
    pub census_pause_s: Option<f64>,
    pub census_age_s: Option<f64>,
    /// (name, type, length, bytes, length change per second).
    pub containers: Vec<(String, String, u64, u64, f64)>,
    /// (type, objects, bytes, objects per second).
    pub types: Vec<(String, u64, u64, f64)>,
    /// (kind, severity, count): every current finding counted.
    pub findings: Vec<(String, String, u64)>,
    /// Still watched (false: it exited; its last state is kept).
    pub alive: bool,
}

/// Everything a scrape shows.
#[derive(Debug, Clone, Default)]
pub struct Snapshot {
    pub procs: Vec<ProcFigures>,
    /// memwatch's own resident memory and CPU time.
    pub own_rss_bytes: Option<u64>,
    pub own_cpu_s: Option<f64>,
}

/// A cache of the heap rows per process (their trends cost O(n²) in the history, so they are
/// recomputed only when a census arrives).
#[derive(Default)]
pub struct Caches(Vec<(u32, HeapCache)>);

impl Caches {
    fn of(&mut self, proc: u32) -> &mut HeapCache {
        let i = match self.0.iter().position(|(p, _)| *p == proc) {
            Some(i) => i,
            None => {
                self.0.push((proc, HeapCache::default()));
                self.0.len() - 1
            }
        };
        &mut self.0[i].1
    }
}

fn kib(v: f64) -> u64 {
    (v.max(0.0) as u64).saturating_mul(1024)
}

/// The figures of one process's analyzer.
pub fn proc_figures(a: &Analyzer, cache: &mut HeapCache, role: &'static str) -> ProcFigures {
    cache.refresh(a);
    let info = a.info.clone().unwrap_or_default();
    let last = a.heap.last.as_ref();
    let mut by_size: Vec<_> = cache.containers.iter().collect();
    by_size.sort_by(|x, y| y.bytes.cmp(&x.bytes).then(x.row.name.cmp(&y.row.name)));
    let mut by_growth: Vec<_> = cache
        .containers
        .iter()
        .filter(|c| c.len_per_min > 0.0)
        .collect();
    by_growth.sort_by(|x, y| y.len_per_min.total_cmp(&x.len_per_min));
    let mut containers: Vec<(String, String, u64, u64, f64)> = Vec::new();
    for c in by_size
        .into_iter()
        .take(TOP)
        .chain(by_growth.into_iter().take(TOP))
    {
        if !containers.iter().any(|x| x.0 == c.row.name) {
            containers.push((
                c.row.name.clone(),
                c.row.type_name.clone(),
                c.row.len,
                c.bytes,
                c.len_per_min / 60.0,
            ));
        }
    }
    let mut types_by_size: Vec<_> = cache.types.iter().collect();
    types_by_size.sort_by(|x, y| y.bytes.cmp(&x.bytes).then(x.name.cmp(&y.name)));
    let mut types_by_growth: Vec<_> = cache
        .types
        .iter()
        .filter(|t| t.count_per_min > 0.0)
        .collect();
    types_by_growth.sort_by(|x, y| y.count_per_min.total_cmp(&x.count_per_min));
    let mut types: Vec<(String, u64, u64, f64)> = Vec::new();
    for t in types_by_size
        .into_iter()
        .take(TOP)
        .chain(types_by_growth.into_iter().take(TOP))
    {
        if !types.iter().any(|x| x.0 == t.name) {
            types.push((t.name.clone(), t.count, t.bytes, t.count_per_min / 60.0));
        }
    }
    let mut findings: Vec<(String, String, u64)> = Vec::new();
    for f in &a.findings {
        let kind = serde_json::to_value(f.kind)
            .ok()
            .and_then(|v| v.as_str().map(str::to_string))
            .unwrap_or_default();
        let severity = f.severity.label().to_lowercase();
        match findings.iter_mut().find(|x| x.0 == kind && x.1 == severity) {
            Some(x) => x.2 += 1,
            None => findings.push((kind, severity, 1)),
        }
    }
    ProcFigures {
        pid: info.pid,
        role,
        command: info.command_line.clone(),
        python_version: info.python_version.clone(),
        rss_bytes: a.rss.last.map(|(_, v)| kib(v)),
        uss_bytes: a.last_rollup.map(|(_, r)| r.uss_kib * 1024),
        pss_bytes: a.last_rollup.map(|(_, r)| r.pss_kib * 1024),
        swap_bytes: a.last_rollup.map(|(_, r)| r.swap_kib * 1024),
        fds: a.fds.last.map(|(_, v)| v as u64),
        samples: a.samples,
        dropped: a.dropped,
        censuses: a.heap.censuses,
        census_objects: last.map(|c| c.gc_objects + c.other_objects),
        census_bytes: last.map(|c| c.gc_bytes + c.other_bytes),
        census_pause_s: last.map(|c| c.pause_us as f64 / 1e6),
        census_age_s: last.map(|c| a.now.saturating_sub(c.t) as f64 / 1e6),
        containers,
        types,
        findings,
        alive: a.end.is_none(),
    }
}

/// The snapshot of a single process's watch.
pub fn single(a: &Analyzer, caches: &mut Caches) -> Snapshot {
    Snapshot {
        procs: vec![proc_figures(a, caches.of(0), "main")],
        ..own()
    }
}

/// The snapshot of a tree: every sampled process (exited ones keep their last state).
pub fn tree(t: &TreeAnalyzer, caches: &mut Caches) -> Snapshot {
    let procs = t
        .sampled()
        .map(|(p, a)| {
            let role = if p.is_root() { "main" } else { "worker" };
            proc_figures(a, caches.of(p.def.proc), role)
        })
        .collect();
    Snapshot { procs, ..own() }
}

/// memwatch's own figures.
fn own() -> Snapshot {
    let rss = std::fs::read_to_string("/proc/self/statm")
        .ok()
        .and_then(|s| {
            let pages: u64 = s.split_whitespace().nth(1)?.parse().ok()?;
            Some(pages * crate::sampler::proc::page_size())
        });
    let cpu = nix::time::clock_gettime(nix::time::ClockId::CLOCK_PROCESS_CPUTIME_ID)
        .ok()
        .map(|t| std::time::Duration::from(t).as_secs_f64());
    Snapshot {
        procs: Vec::new(),
        own_rss_bytes: rss,
        own_cpu_s: cpu,
    }
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct Target {
    pid: String,
    role: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct TargetInfo {
    pid: String,
    role: String,
    command: String,
    python_version: String,
    memwatch_version: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct Named {
    pid: String,
    name: String,
    r#type: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct TypeOnly {
    pid: String,
    r#type: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct FindingLabels {
    pid: String,
    kind: String,
    severity: String,
}

/// Counts and bytes.
type G = Gauge<i64, AtomicI64>;
/// Rates and seconds.
type GF = Gauge<f64, AtomicU64>;
/// The info metric's own labels: none (the family's carry everything).
type InfoLabels = Vec<(String, String)>;

/// A gauge family registered under `name`, with a unit when it has one.
fn gauge<L, M>(r: &mut Registry, name: &str, help: &str, unit: Option<Unit>) -> Family<L, M>
where
    L: Clone + std::hash::Hash + Eq + EncodeLabelSet + std::fmt::Debug + Send + Sync + 'static,
    M: prometheus_client::metrics::TypedMetric
        + prometheus_client::encoding::EncodeMetric
        + Default
        + std::fmt::Debug
        + Send
        + Sync
        + 'static,
{
    let f = Family::<L, M>::default();
    match unit {
        Some(u) => r.register_with_unit(name, help, u, f.clone()),
        None => r.register(name, help, f.clone()),
    }
    f
}

fn counter<L>(r: &mut Registry, name: &str, help: &str) -> Family<L, Counter>
where
    L: Clone + std::hash::Hash + Eq + EncodeLabelSet + std::fmt::Debug + Send + Sync + 'static,
{
    let f = Family::<L, Counter>::default();
    r.register(name, help, f.clone());
    f
}

/// The OpenMetrics text of a snapshot.
pub fn encode_text(s: &Snapshot) -> String {
    let mut r = Registry::default();
    let target = |p: &ProcFigures| Target {
        pid: p.pid.to_string(),
        role: p.role.to_string(),
    };
    let info =
        Family::<TargetInfo, Info<InfoLabels>, fn() -> Info<InfoLabels>>::new_with_constructor(
            || Info::new(Vec::new()),
        );
    r.register(
        "memwatch",
        "a watched process: its command line and Python version, and memwatch's version",
        info.clone(),
    );
    for p in &s.procs {
        let _ = info.get_or_create(&TargetInfo {
            pid: p.pid.to_string(),
            role: p.role.to_string(),
            command: truncate(&p.command, 200),
            python_version: p.python_version.clone(),
            memwatch_version: env!("CARGO_PKG_VERSION").to_string(),
        });
    }
    let up = gauge::<Target, G>(
        &mut r,
        "memwatch_target_up",
        "1 while the process is watched, 0 once it exited (its last figures stay)",
        None,
    );
    let rss = gauge::<Target, G>(
        &mut r,
        "memwatch_target_resident_memory",
        "resident set size of the watched process (/proc/PID/statm), at the latest sample",
        Some(Unit::Bytes),
    );
    let uss = gauge::<Target, G>(
        &mut r,
        "memwatch_target_unique_memory",
        "unique set size (private clean + dirty, /proc/PID/smaps), every 5 s",
        Some(Unit::Bytes),
    );
    let pss = gauge::<Target, G>(
        &mut r,
        "memwatch_target_proportional_memory",
        "proportional set size (/proc/PID/smaps), every 5 s",
        Some(Unit::Bytes),
    );
    let swap = gauge::<Target, G>(
        &mut r,
        "memwatch_target_swap",
        "swapped-out memory (/proc/PID/smaps), every 5 s",
        Some(Unit::Bytes),
    );
    let fds = gauge::<Target, G>(
        &mut r,
        "memwatch_target_open_fds",
        "open file descriptors of the watched process",
        None,
    );
    let samples = counter::<Target>(
        &mut r,
        "memwatch_samples",
        "samples taken of the process (RSS and Python stacks)",
    );
    let dropped = counter::<Target>(
        &mut r,
        "memwatch_dropped_samples",
        "samples dropped because memwatch's consumers were behind",
    );
    let censuses = counter::<Target>(&mut r, "memwatch_censuses", "heap censuses taken");
    let objects = gauge::<Target, G>(
        &mut r,
        "memwatch_census_objects",
        "Python objects counted at the latest census",
        None,
    );
    let bytes = gauge::<Target, G>(
        &mut r,
        "memwatch_census_objects",
        "bytes of the Python objects counted at the latest census (sys.getsizeof)",
        Some(Unit::Bytes),
    );
    let pause = gauge::<Target, GF>(
        &mut r,
        "memwatch_census_pause",
        "how long the latest census stopped the process",
        Some(Unit::Seconds),
    );
    let age = gauge::<Target, GF>(
        &mut r,
        "memwatch_census_age",
        "time since the latest census",
        Some(Unit::Seconds),
    );
    let c_len = gauge::<Named, G>(
        &mut r,
        "memwatch_container_length",
        "length of a named container (module global, class attribute, default), the largest and fastest growing ones",
        None,
    );
    let c_bytes = gauge::<Named, G>(
        &mut r,
        "memwatch_container",
        "bytes of a named container and its direct items",
        Some(Unit::Bytes),
    );
    let c_growth = gauge::<Named, GF>(
        &mut r,
        "memwatch_container_growth_per_second",
        "change of the container's length per second (robust slope over its census history)",
        None,
    );
    let t_objects = gauge::<TypeOnly, G>(
        &mut r,
        "memwatch_type_objects",
        "objects of a type at the latest census, the largest and fastest growing types",
        None,
    );
    let t_bytes = gauge::<TypeOnly, G>(
        &mut r,
        "memwatch_type",
        "bytes of a type's objects at the latest census",
        Some(Unit::Bytes),
    );
    let t_growth = gauge::<TypeOnly, GF>(
        &mut r,
        "memwatch_type_growth_per_second",
        "change of the type's object count per second",
        None,
    );
    let findings = gauge::<FindingLabels, G>(
        &mut r,
        "memwatch_findings",
        "current findings by kind and severity (see memwatch's report for each)",
        None,
    );
    for p in &s.procs {
        let l = target(p);
        up.get_or_create(&l).set(i64::from(p.alive));
        let set = |f: &Family<Target, G>, v: Option<u64>| {
            if let Some(v) = v {
                f.get_or_create(&l).set(int(v));
            }
        };
        set(&rss, p.rss_bytes);
        set(&uss, p.uss_bytes);
        set(&pss, p.pss_bytes);
        set(&swap, p.swap_bytes);
        set(&fds, p.fds);
        set(&objects, p.census_objects);
        set(&bytes, p.census_bytes);
        samples.get_or_create(&l).inc_by(p.samples);
        dropped.get_or_create(&l).inc_by(p.dropped);
        censuses.get_or_create(&l).inc_by(p.censuses);
        if let Some(v) = p.census_pause_s {
            pause.get_or_create(&l).set(v);
        }
        if let Some(v) = p.census_age_s {
            age.get_or_create(&l).set(v);
        }
        for (name, ty, len, b, growth) in &p.containers {
            let n = Named {
                pid: l.pid.clone(),
                name: name.clone(),
                r#type: ty.clone(),
            };
            c_len.get_or_create(&n).set(int(*len));
            c_bytes.get_or_create(&n).set(int(*b));
            c_growth.get_or_create(&n).set(*growth);
        }
        for (name, count, b, growth) in &p.types {
            let n = TypeOnly {
                pid: l.pid.clone(),
                r#type: name.clone(),
            };
            t_objects.get_or_create(&n).set(int(*count));
            t_bytes.get_or_create(&n).set(int(*b));
            t_growth.get_or_create(&n).set(*growth);
        }
        for (kind, severity, n) in &p.findings {
            findings
                .get_or_create(&FindingLabels {
                    pid: l.pid.clone(),
                    kind: kind.clone(),
                    severity: severity.clone(),
                })
                .set(int(*n));
        }
    }
    if let Some(v) = s.own_rss_bytes {
        let g = G::default();
        g.set(int(v));
        r.register_with_unit(
            "process_resident_memory",
            "memwatch's own resident memory",
            Unit::Bytes,
            g,
        );
    }
    if let Some(v) = s.own_cpu_s {
        let c = Counter::<f64, AtomicU64>::default();
        c.inc_by(v);
        r.register_with_unit(
            "process_cpu",
            "memwatch's own CPU time (user and system)",
            Unit::Seconds,
            c,
        );
    }
    let mut out = String::new();
    // encoding into a String cannot fail
    let _ = encode(&mut out, &r);
    out
}

/// The same exposition in the classic Prometheus text format (0.0.4), for clients that do not
/// ask for OpenMetrics (`curl`, `promtool check metrics`, older scrapers): a counter's family
/// is named with its `_total`, an info family is a gauge named `…_info`, and the `# UNIT`
/// and `# EOF` lines, which that format does not have, are left out.
pub fn classic_text(openmetrics: &str) -> String {
    let mut rename: Vec<(String, String, &str)> = Vec::new();
    for line in openmetrics.lines() {
        if let Some(rest) = line.strip_prefix("# TYPE ") {
            let mut w = rest.split_whitespace();
            if let (Some(name), Some(kind)) = (w.next(), w.next()) {
                match kind {
                    "counter" if !name.ends_with("_total") => {
                        rename.push((name.to_string(), format!("{name}_total"), "counter"))
                    }
                    "info" => rename.push((name.to_string(), format!("{name}_info"), "gauge")),
                    _ => {}
                }
            }
        }
    }
    let mut out = String::with_capacity(openmetrics.len());
    for line in openmetrics.lines() {
        if line == "# EOF" || line.starts_with("# UNIT ") {
            continue;
        }
        let meta = ["# HELP ", "# TYPE "]
            .iter()
            .find_map(|p| line.strip_prefix(p).map(|rest| (*p, rest)));
        match meta {
            Some((prefix, rest)) => {
                let name = rest.split_whitespace().next().unwrap_or("");
                match rename.iter().find(|r| r.0 == name) {
                    Some((_, new, kind)) if prefix == "# TYPE " => {
                        out.push_str(&format!("# TYPE {new} {kind}"))
                    }
                    Some((_, new, _)) => {
                        out.push_str(prefix);
                        out.push_str(new);
                        out.push_str(&rest[name.len()..]);
                    }
                    None => out.push_str(line),
                }
            }
            None => out.push_str(line),
        }
        out.push('\n');
    }
    out
}

fn int(v: u64) -> i64 {
    i64::try_from(v).unwrap_or(i64::MAX)
}

/// At most `n` characters of `s` (a command line can be long).
fn truncate(s: &str, n: usize) -> String {
    match s.char_indices().nth(n) {
        Some((i, _)) => format!("{}…", &s[..i]),
        None => s.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn figures() -> ProcFigures {
        ProcFigures {
            pid: 4242,
            role: "main",
            command: "python3 app.py".into(),
            python_version: "3.12.1".into(),
            rss_bytes: Some(50 << 20),
            uss_bytes: Some(40 << 20),
            fds: Some(12),
            samples: 1000,
            censuses: 3,
            census_objects: Some(120_000),
            census_bytes: Some(9 << 20),
            census_pause_s: Some(0.004),
            census_age_s: Some(1.5),
            containers: vec![(
                "orders._CACHE".into(),
                "dict".into(),
                48_210,
                3 << 20,
                1600.0,
            )],
            types: vec![("dict".into(), 50_000, 4 << 20, 1600.0)],
            findings: vec![("unbounded_container".into(), "important".into(), 1)],
            alive: true,
            ..Default::default()
        }
    }

    #[test]
    fn the_exposition_names_the_target_and_its_leak() {
        let text = encode_text(&Snapshot {
            procs: vec![figures()],
            own_rss_bytes: Some(20 << 20),
            own_cpu_s: Some(1.25),
        });
        for want in [
            "memwatch_target_resident_memory_bytes{pid=\"4242\",role=\"main\"} 52428800",
            "memwatch_container_length{pid=\"4242\",name=\"orders._CACHE\",type=\"dict\"} 48210",
            "memwatch_findings{pid=\"4242\",kind=\"unbounded_container\",severity=\"important\"} 1",
            "memwatch_samples_total{pid=\"4242\",role=\"main\"} 1000",
            "memwatch_info{pid=\"4242\",role=\"main\",command=\"python3 app.py\"",
            "process_resident_memory_bytes 20971520",
            "process_cpu_seconds_total 1.25",
            "# EOF",
        ] {
            assert!(text.contains(want), "{want} not in:\n{text}");
        }
        // no series describes another process as process_*
        assert!(!text.contains("process_resident_memory_bytes{pid"));
    }

    #[test]
    fn a_tree_has_one_label_set_per_process() {
        let mut w = figures();
        w.pid = 4312;
        w.role = "worker";
        let text = encode_text(&Snapshot {
            procs: vec![figures(), w],
            ..Default::default()
        });
        assert!(text.contains("memwatch_target_up{pid=\"4242\",role=\"main\"} 1"));
        assert!(text.contains("memwatch_target_up{pid=\"4312\",role=\"worker\"} 1"));
    }

    #[test]
    fn the_classic_format_names_counters_and_infos_as_prometheus_expects() {
        let om = encode_text(&Snapshot {
            procs: vec![figures()],
            own_rss_bytes: Some(1),
            own_cpu_s: Some(1.0),
        });
        let text = classic_text(&om);
        assert!(
            text.contains("# TYPE memwatch_samples_total counter\n"),
            "{text}"
        );
        assert!(
            text.contains("# HELP memwatch_samples_total samples"),
            "{text}"
        );
        assert!(text.contains("# TYPE memwatch_info gauge\n"), "{text}");
        assert!(
            text.contains("# TYPE process_cpu_seconds_total counter\n"),
            "{text}"
        );
        assert!(
            !text.contains("# EOF") && !text.contains("# UNIT"),
            "{text}"
        );
        // every sample line is kept
        let samples = |t: &str| t.lines().filter(|l| !l.starts_with('#')).count();
        assert_eq!(samples(&text), samples(&om));
    }

    #[test]
    fn long_commands_are_cut() {
        let s = truncate(&"x".repeat(500), 200);
        assert_eq!(s.chars().count(), 201);
    }
}
