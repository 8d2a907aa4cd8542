//! A time series of bounded size: once full, neighbouring points are merged pairwise, so a
//! day-long session keeps the same number of points as a minute-long one (at coarser
//! resolution) while first/last/min/max stay exact.

use crate::event::Micros;

/// One stored point: the last raw value of its bucket and the largest.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Point {
    pub t: Micros,
    pub last: f64,
    pub max: f64,
}

#[derive(Debug, Clone)]
pub struct Series {
    points: Vec<Point>,
    cap: usize,
    /// Raw values per stored point (doubles at each merge).
    stride: u64,
    /// Raw values in the newest stored point.
    fill: u64,
    pub first: Option<(Micros, f64)>,
    pub last: Option<(Micros, f64)>,
    pub min: Option<f64>,
    pub max: Option<(Micros, f64)>,
    pub count: u64,
}

impl Default for Series {
    fn default() -> Self {
        Series::with_capacity(4096)
    }
}

impl Series {
    pub fn with_capacity(cap: usize) -> Series {
        Series {
            points: Vec::new(),
            cap: cap.max(2),
            stride: 1,
            fill: 0,
            first: None,
            last: None,
            min: None,
            max: None,
            count: 0,
        }
    }

    /// The stored points, oldest first (each stands for `stride` raw values).
    pub fn points(&self) -> &[Point] {
        &self.points
    }

    pub fn push(&mut self, t: Micros, v: f64) {
        self.count += 1;
        if self.first.is_none() {
            self.first = Some((t, v));
        }
        self.last = Some((t, v));
        self.min = Some(self.min.map_or(v, |m| m.min(v)));
        if self.max.is_none_or(|(_, m)| v > m) {
            self.max = Some((t, v));
        }
        match self.points.last_mut() {
            Some(p) if self.fill < self.stride => {
                p.t = t;
                p.last = v;
                p.max = p.max.max(v);
                self.fill += 1;
            }
            _ => {
                if self.points.len() >= self.cap {
                    self.halve();
                }
                self.points.push(Point { t, last: v, max: v });
                self.fill = 1;
            }
        }
    }

    fn halve(&mut self) {
        let merged: Vec<Point> = self
            .points
            .chunks(2)
            .map(|c| {
                let b = c[c.len() - 1];
                Point {
                    t: b.t,
                    last: b.last,
                    max: c.iter().map(|p| p.max).fold(f64::MIN, f64::max),
                }
            })
            .collect();
        self.points = merged;
        self.stride *= 2;
        self.fill = self.stride;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stays_bounded_and_keeps_extremes() {
        let mut s = Series::with_capacity(64);
        for i in 0..10_000u64 {
            let v = if i == 5_000 { 1e9 } else { i as f64 };
            s.push(i, v);
        }
        assert!(s.points.len() <= 64);
        assert_eq!(s.first, Some((0, 0.0)));
        assert_eq!(s.last, Some((9_999, 9_999.0)));
        assert_eq!(s.max, Some((5_000, 1e9)));
        assert_eq!(s.min, Some(0.0));
        assert_eq!(s.count, 10_000);
        // the spike survives merging in the bucket maxima
        assert!(s.points.iter().any(|p| p.max == 1e9));
        // times stay ordered
        assert!(s.points.windows(2).all(|w| w[0].t < w[1].t));
    }
}
