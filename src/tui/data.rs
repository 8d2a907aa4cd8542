//! Figures the views derive from analyzer state: per-type and per-container rows with their
//! rates and trend verdicts (cached per census, since a verdict costs O(n²) in the history),
//! RSS change per minute, the findings newest first.

use std::sync::Arc;

use crate::analyzer::Analyzer;
use crate::analyzer::series::Series;
use crate::analyzer::trend::{self, Trend};
use crate::event::Micros;
use crate::findings::Finding;
use crate::heap::census::ContainerRow;

/// Smallest rise (objects, items) a verdict calls growth; the findings use the same bar for
/// containers.
pub const MIN_GROWTH: f64 = 64.0;
/// Types and containers whose verdict is computed at each census (the largest ones).
const MAX_VERDICTS: usize = 400;
/// Points kept for a row's sparkline.
const HISTORY: usize = 48;

#[derive(Debug, Clone)]
pub struct TypeInfo {
    pub name: String,
    pub count: u64,
    pub bytes: u64,
    pub first_count: u64,
    pub first_bytes: u64,
    /// Objects per minute (Theil–Sen over the census history when there are enough points).
    pub count_per_min: f64,
    /// Bytes per minute, on average since the first census.
    pub bytes_per_min: f64,
    pub trend: Option<Trend>,
    /// Object counts, oldest first.
    pub history: Vec<f64>,
    pub size_exact: bool,
}

#[derive(Debug, Clone)]
pub struct ContainerInfo {
    pub row: ContainerRow,
    pub bytes: u64,
    pub first_len: u64,
    pub len_per_min: f64,
    pub bytes_per_min: f64,
    pub trend: Option<Trend>,
    /// Lengths, oldest first.
    pub history: Vec<f64>,
}

/// Type and container rows of the latest census; recomputed when a census arrives.
#[derive(Debug, Default, Clone)]
pub struct HeapCache {
    key: Option<(u64, Micros)>,
    pub types: Arc<Vec<TypeInfo>>,
    pub containers: Arc<Vec<ContainerInfo>>,
}

fn points(s: &Series) -> Vec<(Micros, f64)> {
    s.points().iter().map(|p| (p.t, p.last)).collect()
}

/// The verdict of a history. Mann–Kendall cannot call fewer than five points significant
/// (at the analyzer's 1 %, a steady rise needs six or more), so a short history, or a short
/// one that rose, is "too few" rather than "stable".
fn verdict_of(pts: &[(Micros, f64)]) -> Trend {
    let mut tr = trend::analyze(pts, MIN_GROWTH);
    let rose = tr.last - tr.first >= MIN_GROWTH;
    if tr.verdict == trend::Verdict::Stable && (tr.points < 5 || (tr.points < 8 && rose)) {
        tr.verdict = trend::Verdict::Unknown;
    }
    tr
}

/// Per-minute change over the points: the trend's robust slope when it has one, else the
/// average since the first point.
fn per_min(pts: &[(Micros, f64)], tr: Option<&Trend>) -> f64 {
    if let Some(tr) = tr
        && tr.points >= 4
    {
        return tr.slope_per_min();
    }
    average_per_min(pts)
}

fn average_per_min(pts: &[(Micros, f64)]) -> f64 {
    match (pts.first(), pts.last()) {
        (Some(a), Some(b)) if b.0 > a.0 => (b.1 - a.1) / ((b.0 - a.0) as f64 / 60e6),
        _ => 0.0,
    }
}

fn history(pts: &[(Micros, f64)]) -> Vec<f64> {
    pts[pts.len().saturating_sub(HISTORY)..]
        .iter()
        .map(|p| p.1)
        .collect()
}

impl HeapCache {
    /// Bring the rows up to date with the analyzer's latest census.
    pub fn refresh(&mut self, a: &Analyzer) {
        let key = a.heap.last.as_ref().map(|c| (a.heap.censuses, c.t));
        if key == self.key {
            return;
        }
        self.key = key;
        let Some(last) = a.heap.last.as_ref() else {
            self.types = Arc::default();
            self.containers = Arc::default();
            return;
        };
        let first = a.heap.first.as_ref();
        let types = last
            .types
            .iter()
            .enumerate()
            .map(|(i, row)| {
                let h = a.heap.types.get(&row.name);
                let cp = h.map(|h| points(&h.count)).unwrap_or_default();
                let bp = h.map(|h| points(&h.bytes)).unwrap_or_default();
                let tr = (i < MAX_VERDICTS && cp.len() >= 2).then(|| verdict_of(&cp));
                let f = first.and_then(|c| c.types.iter().find(|t| t.name == row.name));
                TypeInfo {
                    name: row.name.clone(),
                    count: row.count(),
                    bytes: row.bytes(),
                    first_count: f.map(|f| f.count()).unwrap_or(0),
                    first_bytes: f.map(|f| f.bytes()).unwrap_or(0),
                    count_per_min: per_min(&cp, tr.as_ref()),
                    bytes_per_min: average_per_min(&bp),
                    trend: tr,
                    history: history(&cp),
                    size_exact: row.size_exact,
                }
            })
            .collect();
        let containers = last
            .containers
            .iter()
            .enumerate()
            .map(|(i, row)| {
                let h = a.heap.containers.get(&row.name);
                let lp = h.map(|h| points(&h.count)).unwrap_or_default();
                let bp = h.map(|h| points(&h.bytes)).unwrap_or_default();
                let tr = (i < MAX_VERDICTS && lp.len() >= 2).then(|| verdict_of(&lp));
                ContainerInfo {
                    bytes: row.shallow_bytes + row.items_bytes,
                    first_len: lp.first().map(|p| p.1 as u64).unwrap_or(row.len),
                    len_per_min: per_min(&lp, tr.as_ref()),
                    bytes_per_min: average_per_min(&bp),
                    trend: tr,
                    history: history(&lp),
                    row: row.clone(),
                }
            })
            .collect();
        self.types = Arc::new(types);
        self.containers = Arc::new(containers);
    }
}

/// RSS change per minute over the last minute of the series (or all of it if shorter), KiB.
pub fn rss_per_min(s: &Series) -> Option<f64> {
    recent_per_min(s, 60_000_000)
}

/// Change per minute of a series over its last `window` µs.
pub fn recent_per_min(s: &Series, window: Micros) -> Option<f64> {
    let pts = s.points();
    let last = pts.last()?;
    let from = pts
        .iter()
        .find(|p| p.t + window >= last.t)
        .unwrap_or(&pts[0]);
    let dt = last.t.saturating_sub(from.t);
    (dt >= 1_000_000).then(|| (last.last - from.last) / (dt as f64 / 60e6))
}

/// The findings, newest first (then Important first).
pub fn findings_newest_first(a: &Analyzer) -> Vec<&Finding> {
    let mut f: Vec<&Finding> = a.findings.iter().collect();
    f.sort_by(|x, y| {
        y.first_seen
            .cmp(&x.first_seen)
            .then(x.severity.cmp(&y.severity))
            .then(x.id.cmp(&y.id))
    });
    f
}

/// Samples per second achieved over the whole watch.
pub fn achieved_rate(a: &Analyzer) -> f64 {
    match (a.rss.first, a.rss.last) {
        (Some((t0, _)), Some((t1, _))) if t1 > t0 && a.samples > 1 => {
            (a.samples - 1) as f64 / ((t1 - t0) as f64 / 1e6)
        }
        _ => 0.0,
    }
}
