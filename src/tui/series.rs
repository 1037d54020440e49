//! A metric's samples for charting: a bounded ring of raw points plus min/max buckets at power-of-two
//! sizes, kept up to date on every push. A frame never walks 14,400 raw points: it picks the coarsest
//! level that still gives about one bucket per plot column and emits two points per bucket.

use std::collections::VecDeque;

/// Raw points kept per metric: a little over 4 h of 1 s samples.
pub const CAPACITY: usize = 16_384;
/// Bucket levels: level k aggregates 2^(k+1) raw samples (2, 4, … 4096).
const LEVELS: usize = 12;

#[derive(Debug, Clone, Copy, PartialEq)]
struct Bucket {
    /// Global index of the first sample in the bucket.
    first: u64,
    t0: f64,
    t1: f64,
    min: f64,
    max: f64,
}

#[derive(Debug, Clone, Default)]
pub struct Series {
    /// (seconds since run start, value); `None` values are not stored, only counted as gaps.
    raw: VecDeque<(f64, f64)>,
    /// Global index of `raw[0]`.
    base: u64,
    levels: Vec<VecDeque<Bucket>>,
    pub last: Option<f64>,
    pub last_error: Option<String>,
    pub min: Option<f64>,
    pub max: Option<f64>,
}

impl Series {
    pub fn push(&mut self, t: f64, value: Option<f64>, error: Option<String>) {
        self.last = value;
        self.last_error = error;
        let Some(v) = value.filter(|v| v.is_finite()) else {
            return;
        };
        self.min = Some(self.min.map_or(v, |m| m.min(v)));
        self.max = Some(self.max.map_or(v, |m| m.max(v)));
        if self.levels.is_empty() {
            self.levels = vec![VecDeque::new(); LEVELS];
        }
        let index = self.base + self.raw.len() as u64;
        self.raw.push_back((t, v));
        for (k, level) in self.levels.iter_mut().enumerate() {
            let size = 2u64 << k;
            match level.back_mut() {
                Some(b) if index - b.first < size => {
                    b.t1 = t;
                    b.min = b.min.min(v);
                    b.max = b.max.max(v);
                }
                _ => level.push_back(Bucket {
                    first: index,
                    t0: t,
                    t1: t,
                    min: v,
                    max: v,
                }),
            }
        }
        if self.raw.len() > CAPACITY {
            self.raw.pop_front();
            self.base += 1;
            for (k, level) in self.levels.iter_mut().enumerate() {
                let size = 2u64 << k;
                while level.front().is_some_and(|b| b.first + size <= self.base) {
                    level.pop_front();
                }
            }
        }
    }

    pub fn len(&self) -> usize {
        self.raw.len()
    }

    pub fn is_empty(&self) -> bool {
        self.raw.is_empty()
    }

    /// Time of the first kept point.
    pub fn first_t(&self) -> Option<f64> {
        self.raw.front().map(|p| p.0)
    }

    /// At most about `2 * columns` points covering `[from, to]` seconds: raw points when they fit,
    /// else min and max of each bucket of the coarsest level that keeps one bucket per column.
    pub fn decimated(&self, from: f64, to: f64, columns: usize) -> Vec<(f64, f64)> {
        let columns = columns.max(1);
        let start = self.raw.partition_point(|p| p.0 < from);
        let end = self.raw.partition_point(|p| p.0 <= to);
        let n = end.saturating_sub(start);
        if n <= 2 * columns {
            return self.raw.range(start..end).copied().collect();
        }
        let mut k = 0;
        while k + 1 < LEVELS && (n >> (k + 1)) > columns {
            k += 1;
        }
        let level = &self.levels[k];
        let lo = level.partition_point(|b| b.t1 < from);
        let hi = level.partition_point(|b| b.t0 <= to);
        let mut out = Vec::with_capacity(2 * (hi.saturating_sub(lo)));
        for b in level.range(lo..hi.max(lo)) {
            out.push((b.t0, b.min));
            out.push((b.t1.max(b.t0), b.max));
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decimation_bounds_points_and_keeps_extremes() {
        let mut s = Series::default();
        for i in 0..14_400 {
            let v = if i == 7_000 { 999.0 } else { (i % 10) as f64 };
            s.push(i as f64, Some(v), None);
        }
        let pts = s.decimated(0.0, 14_400.0, 100);
        assert!(pts.len() <= 2 * 100 + 4, "{} points", pts.len());
        assert!(pts.iter().any(|p| p.1 == 999.0));
        assert_eq!(s.decimated(0.0, 10.0, 100).len(), 11);
    }

    #[test]
    fn ring_evicts_oldest() {
        let mut s = Series::default();
        for i in 0..(CAPACITY + 100) {
            s.push(i as f64, Some(1.0), None);
        }
        assert_eq!(s.len(), CAPACITY);
        assert_eq!(s.first_t(), Some(100.0));
        let pts = s.decimated(0.0, 1e9, 50);
        assert!(pts.len() <= 104);
        assert!(pts[0].0 >= 100.0 - 4096.0);
    }

    #[test]
    fn missing_values_are_gaps() {
        let mut s = Series::default();
        s.push(0.0, None, Some("timeout".into()));
        assert!(s.is_empty());
        assert_eq!(s.last_error.as_deref(), Some("timeout"));
    }
}
