//! Trend verdicts for a time series: is it leaking (growing without sign of stopping), filling
//! up to a plateau (a bounded cache), going up and down in a sawtooth (batch work), or just
//! noise? Robust statistics only: the Mann–Kendall test for a monotonic trend and the
//! Theil–Sen estimator for its slope, so a few outliers neither make nor hide a leak.
//!
//! Cost: O(n²) in the number of points, which callers keep small (≤ [`MAX_POINTS`]).

use serde::{Deserialize, Serialize};

use crate::event::Micros;

/// Points considered (the most recent ones).
pub const MAX_POINTS: usize = 240;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Verdict {
    /// Growing steadily and still growing at the end: a leak.
    Growing,
    /// Grew, then stopped: a bounded cache or a warm-up.
    Plateau,
    /// Repeated rises and falls.
    Sawtooth,
    /// Repeated rises and falls whose lows keep rising: a leak under batch work.
    SawtoothGrowing,
    /// No significant trend.
    Stable,
    /// Too few points to say.
    Unknown,
}

impl Verdict {
    pub fn is_leak(self) -> bool {
        matches!(self, Verdict::Growing | Verdict::SawtoothGrowing)
    }
    pub fn label(self) -> &'static str {
        match self {
            Verdict::Growing => "growing",
            Verdict::Plateau => "plateau",
            Verdict::Sawtooth => "sawtooth",
            Verdict::SawtoothGrowing => "growing sawtooth",
            Verdict::Stable => "stable",
            Verdict::Unknown => "not enough data",
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Trend {
    pub verdict: Verdict,
    /// Theil–Sen slope over the window, units per second.
    pub slope_per_s: f64,
    /// 1 − p of the Mann–Kendall test for the verdict's direction (0 when unknown).
    pub confidence: f64,
    /// The window the verdict rests on.
    pub from: Micros,
    pub to: Micros,
    pub first: f64,
    pub last: f64,
    pub min: f64,
    pub max: f64,
    pub points: usize,
}

impl Trend {
    pub fn slope_per_min(&self) -> f64 {
        self.slope_per_s * 60.0
    }
    pub fn window_s(&self) -> f64 {
        (self.to.saturating_sub(self.from)) as f64 / 1e6
    }
}

/// Mann–Kendall S and its variance (with the correction for ties).
fn mann_kendall(v: &[f64]) -> (f64, f64) {
    let n = v.len();
    let mut s = 0i64;
    for i in 0..n {
        for j in i + 1..n {
            s += match v[j].partial_cmp(&v[i]) {
                Some(std::cmp::Ordering::Greater) => 1,
                Some(std::cmp::Ordering::Less) => -1,
                _ => 0,
            };
        }
    }
    let mut sorted: Vec<f64> = v.to_vec();
    sorted.sort_by(|a, b| a.partial_cmp(b).unwrap_or(std::cmp::Ordering::Equal));
    let mut ties = 0f64;
    let mut i = 0;
    while i < n {
        let mut j = i;
        while j + 1 < n && sorted[j + 1] == sorted[i] {
            j += 1;
        }
        let t = (j - i + 1) as f64;
        if t > 1.0 {
            ties += t * (t - 1.0) * (2.0 * t + 5.0);
        }
        i = j + 1;
    }
    let nf = n as f64;
    let var = (nf * (nf - 1.0) * (2.0 * nf + 5.0) - ties) / 18.0;
    (s as f64, var)
}

/// One-sided p-value that the series increases (or decreases, with `down`).
fn mk_p(v: &[f64], down: bool) -> f64 {
    mk_both(v).map_or(1.0, |(up, dn)| if down { dn } else { up })
}

/// Both one-sided p-values from one Mann–Kendall pass (None: fewer than 3 points).
fn mk_both(v: &[f64]) -> Option<(f64, f64)> {
    if v.len() < 3 {
        return None;
    }
    let (s, var) = mann_kendall(v);
    let p = |s: f64| {
        if var <= 0.0 || s <= 0.0 {
            return 1.0;
        }
        // continuity correction
        let z = (s - 1.0) / var.sqrt();
        1.0 - normal_cdf(z)
    };
    Some((p(s), p(-s)))
}

/// Φ(z), Abramowitz–Stegun 7.1.26 (error < 1.5e-7).
fn normal_cdf(z: f64) -> f64 {
    let x = z.abs() / std::f64::consts::SQRT_2;
    let t = 1.0 / (1.0 + 0.327_591_1 * x);
    let y = 1.0
        - (((((1.061_405_429 * t - 1.453_152_027) * t) + 1.421_413_741) * t - 0.284_496_736) * t
            + 0.254_829_592)
            * t
            * (-x * x).exp();
    if z >= 0.0 {
        0.5 * (1.0 + y)
    } else {
        0.5 * (1.0 - y)
    }
}

/// Median of the pairwise slopes (per second).
fn theil_sen(t: &[f64], v: &[f64]) -> f64 {
    let mut slopes = Vec::with_capacity(t.len() * (t.len().saturating_sub(1)) / 2);
    for i in 0..t.len() {
        for j in i + 1..t.len() {
            let dt = t[j] - t[i];
            if dt > 0.0 {
                slopes.push((v[j] - v[i]) / dt);
            }
        }
    }
    if slopes.is_empty() {
        return 0.0;
    }
    let mid = slopes.len() / 2;
    let (_, m, _) = slopes.select_nth_unstable_by(mid, |a, b| {
        a.partial_cmp(b).unwrap_or(std::cmp::Ordering::Equal)
    });
    *m
}

/// Significance for the verdicts.
const ALPHA: f64 = 0.01;

/// The verdict on `(t, value)` points, oldest first. `min_change` is the smallest total rise
/// that matters for this quantity (below it, growth is noise whatever the statistics say).
pub fn analyze(points: &[(Micros, f64)], min_change: f64) -> Trend {
    let pts = &points[points.len().saturating_sub(MAX_POINTS)..];
    let n = pts.len();
    let t: Vec<f64> = pts.iter().map(|p| p.0 as f64 / 1e6).collect();
    let v: Vec<f64> = pts.iter().map(|p| p.1).collect();
    let min = v.iter().cloned().fold(f64::INFINITY, f64::min);
    let max = v.iter().cloned().fold(f64::NEG_INFINITY, f64::max);
    let mut trend = Trend {
        verdict: Verdict::Unknown,
        slope_per_s: 0.0,
        confidence: 0.0,
        from: pts.first().map(|p| p.0).unwrap_or(0),
        to: pts.last().map(|p| p.0).unwrap_or(0),
        first: v.first().copied().unwrap_or(0.0),
        last: v.last().copied().unwrap_or(0.0),
        min: if n > 0 { min } else { 0.0 },
        max: if n > 0 { max } else { 0.0 },
        points: n,
    };
    if n < 4 {
        return trend;
    }
    let range = max - min;
    if range == 0.0 {
        // a constant series (most containers and many types): nothing to test, O(n)
        trend.verdict = Verdict::Stable;
        return trend;
    }
    trend.slope_per_s = theil_sen(&t, &v);
    let (p_up, p_down) = mk_both(&v).unwrap_or((1.0, 1.0));
    trend.confidence = 1.0 - p_up;
    if range < min_change {
        trend.verdict = Verdict::Stable;
        trend.confidence = 1.0 - p_up.min(p_down);
        return trend;
    }

    // sawtooth: several falls, each at least `min_change` and a good part of the range, after
    // rises of several points (noise goes up and down point by point)
    let big_fall = min_change.max(range * 0.15);
    let mut falls = 0;
    let mut peak = v[0];
    let mut peak_at = 0usize;
    let mut since_fall = 0usize;
    let mut lows: Vec<(f64, f64)> = Vec::new();
    let mut low = (t[0], v[0]);
    for i in 1..n {
        since_fall += 1;
        if v[i] > peak {
            peak = v[i];
            peak_at = i;
        }
        if peak - v[i] >= big_fall {
            if peak_at + 1 >= 3 && since_fall >= 3 {
                falls += 1;
            }
            since_fall = 0;
            peak = v[i];
            peak_at = i;
            lows.push(low);
            low = (t[i], v[i]);
        }
        if v[i] < low.1 {
            low = (t[i], v[i]);
        }
    }
    lows.push(low);
    if falls >= 2 {
        // a leak hiding in batch work shows in the lows
        let lt: Vec<f64> = lows.iter().map(|l| l.0).collect();
        let lv: Vec<f64> = lows.iter().map(|l| l.1).collect();
        let low_rise = lv.last().copied().unwrap_or(0.0) - lv.first().copied().unwrap_or(0.0);
        if lows.len() >= 4 && mk_p(&lv, false) < 0.05 && low_rise >= min_change {
            trend.verdict = Verdict::SawtoothGrowing;
            trend.slope_per_s = theil_sen(&lt, &lv);
            trend.confidence = 1.0 - mk_p(&lv, false);
        } else {
            trend.verdict = Verdict::Sawtooth;
        }
        return trend;
    }

    if p_up < ALPHA && trend.slope_per_s > 0.0 {
        // still growing at the end? compare the last third with the whole
        let tail = n - n / 3;
        let tv = &v[tail..];
        let tt = &t[tail..];
        let tail_rise = tv.last().copied().unwrap_or(0.0) - tv.first().copied().unwrap_or(0.0);
        let tail_slope = if tv.len() >= 3 {
            theil_sen(tt, tv)
        } else {
            0.0
        };
        // flat: it rose by next to nothing, or slowly and without a significant trend
        let tail_flat = tv.len() >= 3
            && (tail_rise.abs() < min_change * 0.25
                || (tail_slope <= trend.slope_per_s * 0.1 && mk_p(tv, false) > 0.05));
        trend.verdict = if tail_flat {
            Verdict::Plateau
        } else {
            Verdict::Growing
        };
        return trend;
    }
    trend.verdict = Verdict::Stable;
    trend
}

#[cfg(test)]
mod tests {
    use super::*;

    fn series(f: impl Fn(f64) -> f64, n: usize, step_s: f64) -> Vec<(Micros, f64)> {
        (0..n)
            .map(|i| {
                let t = i as f64 * step_s;
                ((t * 1e6) as Micros, f(t))
            })
            .collect()
    }

    /// Deterministic noise in [-1, 1].
    fn noise(i: f64) -> f64 {
        ((i * 12.9898).sin() * 43758.5453).rem_euclid(1.0) * 2.0 - 1.0
    }

    #[test]
    fn steady_growth_is_a_leak_with_its_slope() {
        let pts = series(|t| 1000.0 + 50.0 * t + 20.0 * noise(t), 30, 1.0);
        let tr = analyze(&pts, 100.0);
        assert_eq!(tr.verdict, Verdict::Growing);
        assert!((tr.slope_per_s - 50.0).abs() < 5.0, "{}", tr.slope_per_s);
        assert!(tr.confidence > 0.99);
        assert_eq!(tr.window_s(), 29.0);
    }

    #[test]
    fn few_points_of_clean_growth_are_enough() {
        // five censuses 2 s apart, each one larger
        let pts = series(|t| 100.0 + 1000.0 * t, 6, 2.0);
        assert_eq!(analyze(&pts, 100.0).verdict, Verdict::Growing);
    }

    #[test]
    fn filling_up_to_a_bound_is_a_plateau() {
        let pts = series(|t| (t * 100.0).min(1000.0) + noise(t), 40, 1.0);
        assert_eq!(analyze(&pts, 100.0).verdict, Verdict::Plateau);
    }

    #[test]
    fn batch_work_is_a_sawtooth() {
        let pts = series(|t| 100.0 + 500.0 * ((t % 5.0) / 5.0), 60, 0.5);
        assert_eq!(analyze(&pts, 100.0).verdict, Verdict::Sawtooth);
    }

    #[test]
    fn batch_work_over_a_leak_is_a_growing_sawtooth() {
        let pts = series(|t| 100.0 + 40.0 * t + 500.0 * ((t % 5.0) / 5.0), 80, 0.5);
        let tr = analyze(&pts, 100.0);
        assert_eq!(tr.verdict, Verdict::SawtoothGrowing, "{tr:?}");
        assert!((tr.slope_per_s - 40.0).abs() < 10.0, "{}", tr.slope_per_s);
    }

    #[test]
    fn noise_and_tiny_changes_are_stable() {
        let pts = series(|t| 1000.0 + 30.0 * noise(t), 50, 1.0);
        assert_eq!(analyze(&pts, 100.0).verdict, Verdict::Stable);
        // a real but negligible rise
        let pts = series(|t| 1000.0 + t, 50, 1.0);
        assert_eq!(analyze(&pts, 100.0).verdict, Verdict::Stable);
        assert_eq!(analyze(&pts[..3], 1.0).verdict, Verdict::Unknown);
    }

    #[test]
    fn a_constant_series_is_stable_without_a_slope() {
        let pts = series(|_| 4096.0, 240, 2.0);
        let tr = analyze(&pts, 100.0);
        assert_eq!(tr.verdict, Verdict::Stable);
        assert_eq!(tr.slope_per_s, 0.0);
        assert_eq!(tr.confidence, 0.0);
        assert_eq!(tr.points, 240);
    }

    #[test]
    fn outliers_do_not_make_a_leak() {
        let mut pts = series(|t| 1000.0 + 5.0 * noise(t), 40, 1.0);
        pts[10].1 = 5000.0;
        pts[30].1 = 6000.0;
        assert_ne!(analyze(&pts, 100.0).verdict, Verdict::Growing);
    }
}
