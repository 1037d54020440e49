//! A metric's samples, kept in bounded memory however long the run:
//! - [`Series`], for the console: a ring of the latest raw points plus min/max buckets at
//!   power-of-two sizes, so a frame never walks 14,400 raw points; it picks the coarsest level that
//!   still gives about one bucket per plot column and emits two points per bucket.
//! - [`Overview`], for the debrief's charts: the whole run at most [`Overview::MAX_POINTS`] points,
//!   exact while the run is short, then min/max (and gaps) per time column, columns doubling in width
//!   as the run grows.
//!
//! Times are seconds since the run started.

use std::collections::VecDeque;

/// Raw points kept per metric by the console: a little over 4 h of 1 s samples.
pub const CAPACITY: usize = 16_384;
/// Bucket levels: level j aggregates 4·2^j raw samples (4, 8, … 4096). Buckets of 2 are not
/// kept: a window that would use them is drawn from the raw points.
const LEVELS: usize = 11;

/// Stored as `f32`: a plot needs 7 digits, not 16, and the console keeps 50 metrics × 16k points.
/// A bucket's first sample is implied by its place in its level (buckets are aligned to their size).
#[derive(Debug, Clone, Copy, PartialEq)]
struct Bucket {
    t0: f32,
    t1: f32,
    min: f32,
    max: f32,
}

#[derive(Debug, Clone, Default)]
struct Level {
    buckets: VecDeque<Bucket>,
    /// Global index of the first sample of `buckets[0]`, a multiple of the level's size.
    first: u64,
}

/// Grows `q` by doubling, but never past `max` elements: the ring's memory is its bound, not twice it.
fn reserve_up_to<T>(q: &mut VecDeque<T>, max: usize) {
    if q.len() == q.capacity() && q.len() < max {
        let more = q.len().max(4).min(max - q.len());
        q.reserve_exact(more);
    }
}

#[derive(Debug, Clone, Default)]
pub struct Series {
    /// (seconds since run start, value); no-data readings are not stored (they are gaps).
    raw: VecDeque<(f32, f32)>,
    /// Global index of `raw[0]`.
    base: u64,
    levels: Vec<Level>,
}

impl Series {
    fn size(level: usize) -> u64 {
        4u64 << level
    }

    /// Most buckets a level holds: enough to cover the raw window at any alignment.
    fn max_buckets(level: usize) -> usize {
        CAPACITY / Self::size(level) as usize + 1
    }

    pub fn push(&mut self, t: f64, v: f64) {
        if !v.is_finite() {
            return;
        }
        let (t, v) = (t as f32, v as f32);
        if self.levels.is_empty() {
            self.levels = vec![Level::default(); LEVELS];
        }
        if self.raw.len() == CAPACITY {
            // Evict before pushing, so the ring never outgrows its bound.
            self.raw.pop_front();
            self.base += 1;
            for (k, level) in self.levels.iter_mut().enumerate() {
                let size = Self::size(k);
                while !level.buckets.is_empty() && level.first + size <= self.base {
                    level.buckets.pop_front();
                    level.first += size;
                }
            }
        }
        let index = self.base + self.raw.len() as u64;
        reserve_up_to(&mut self.raw, CAPACITY);
        self.raw.push_back((t, v));
        for (k, level) in self.levels.iter_mut().enumerate() {
            let size = Self::size(k);
            if level.buckets.is_empty() {
                level.first = index - index % size;
            }
            let last_first = level.first + (level.buckets.len() as u64).saturating_sub(1) * size;
            match level.buckets.back_mut() {
                Some(b) if index - last_first < size => {
                    b.t1 = t;
                    b.min = b.min.min(v);
                    b.max = b.max.max(v);
                }
                _ => {
                    reserve_up_to(&mut level.buckets, Self::max_buckets(k));
                    level.buckets.push_back(Bucket {
                        t0: t,
                        t1: t,
                        min: v,
                        max: v,
                    })
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
        self.raw.front().map(|p| f64::from(p.0))
    }

    /// At most about `2 * columns` points covering `[from, to]` seconds: raw points when they fit,
    /// else min and max of each bucket of the coarsest level that keeps one bucket per column.
    pub fn decimated(&self, from: f64, to: f64, columns: usize) -> Vec<(f64, f64)> {
        let columns = columns.max(1);
        let start = self.raw.partition_point(|p| f64::from(p.0) < from);
        let end = self.raw.partition_point(|p| f64::from(p.0) <= to);
        let n = end.saturating_sub(start);
        let wide = |(t, v): (f32, f32)| (f64::from(t), f64::from(v));
        if n <= 2 * columns + 1 {
            return self
                .raw
                .range(start..end.max(start))
                .copied()
                .map(wide)
                .collect();
        }
        // Buckets of 2^(k+1) samples, k ≥ 1: level k - 1.
        let mut k = 1;
        while k < LEVELS && (n >> (k + 1)) > columns {
            k += 1;
        }
        let level = &self.levels[k - 1].buckets;
        let lo = level.partition_point(|b| f64::from(b.t1) < from);
        let hi = level.partition_point(|b| f64::from(b.t0) <= to);
        let mut out = Vec::with_capacity(2 * (hi.saturating_sub(lo)));
        for b in level.range(lo..hi.max(lo)) {
            out.push(wide((b.t0, b.min)));
            out.push(wide((b.t1.max(b.t0), b.max)));
        }
        out
    }

    /// Bytes held, for tests of the bound.
    #[cfg(test)]
    fn held(&self) -> usize {
        self.raw.capacity() * std::mem::size_of::<(f32, f32)>()
            + self
                .levels
                .iter()
                .map(|l| l.buckets.capacity() * std::mem::size_of::<Bucket>())
                .sum::<usize>()
    }
}

/// One time column of an [`Overview`]: its lowest and highest reading (with their times) and the
/// time of a no-data reading in it, if any.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
struct Column {
    min: Option<(f64, f64)>,
    max: Option<(f64, f64)>,
    gap: Option<f64>,
}

impl Column {
    fn add(&mut self, t: f64, v: Option<f64>) {
        match v {
            Some(v) => {
                if self.min.is_none_or(|(_, m)| v < m) {
                    self.min = Some((t, v));
                }
                if self.max.is_none_or(|(_, m)| v > m) {
                    self.max = Some((t, v));
                }
            }
            None => {
                self.gap.get_or_insert(t);
            }
        }
    }

    fn merge(mut self, other: Column) -> Column {
        for (t, v) in [other.min, other.max].into_iter().flatten() {
            self.add(t, Some(v));
        }
        if self.gap.is_none() {
            self.gap = other.gap;
        }
        self
    }
}

/// The whole run of one metric in bounded memory, for the debrief's chart.
#[derive(Debug, Clone, Default)]
pub struct Overview {
    /// Every point while there are at most `MAX_POINTS`; `None` values are gaps.
    raw: Vec<(f64, Option<f64>)>,
    /// After that: columns of `width` seconds, column i covering `[i·width, (i+1)·width)`.
    columns: Vec<Column>,
    width: f64,
}

impl Overview {
    /// Most points a chart draws; more are reduced to min/max per column.
    pub const MAX_POINTS: usize = 1200;
    const COLUMNS: usize = Self::MAX_POINTS / 2;

    pub fn push(&mut self, t: f64, v: Option<f64>) {
        let t = if t.is_finite() { t.max(0.0) } else { 0.0 };
        let v = v.filter(|v| v.is_finite());
        if self.width == 0.0 {
            if self.raw.len() < Self::MAX_POINTS {
                self.raw.push((t, v));
                return;
            }
            // Too many for raw: switch to columns wide enough for the run so far, twice over.
            let span = self.raw.iter().map(|p| p.0).fold(t, f64::max);
            self.width = (span * 2.0 / Self::COLUMNS as f64).max(1e-3);
            for (pt, pv) in std::mem::take(&mut self.raw) {
                self.add_column(pt, pv);
            }
        }
        self.add_column(t, v);
    }

    fn add_column(&mut self, t: f64, v: Option<f64>) {
        // Widen until t fits: each doubling merges neighbouring columns pairwise.
        while t / self.width >= Self::COLUMNS as f64 {
            self.width *= 2.0;
            let old = std::mem::take(&mut self.columns);
            self.columns = old
                .chunks(2)
                .map(|pair| pair.iter().copied().fold(Column::default(), Column::merge))
                .collect();
        }
        let i = ((t / self.width) as usize).min(Self::COLUMNS - 1);
        if self.columns.len() <= i {
            self.columns.resize(i + 1, Column::default());
        }
        self.columns[i].add(t, v);
    }

    /// At most `MAX_POINTS` points in time order within each column; `None` marks a gap.
    pub fn points(&self) -> Vec<(f64, Option<f64>)> {
        if self.width == 0.0 {
            return self.raw.clone();
        }
        let mut out = Vec::with_capacity(Self::MAX_POINTS);
        for c in &self.columns {
            let mut col: Vec<(f64, Option<f64>)> = [c.min, c.max]
                .into_iter()
                .flatten()
                .map(|(t, v)| (t, Some(v)))
                .collect();
            col.sort_by(|a, b| a.0.total_cmp(&b.0));
            col.dedup_by(|a, b| a.0 == b.0);
            if let Some(t) = c.gap {
                col.push((t, None));
            }
            out.extend(col);
        }
        out
    }

    pub fn is_empty(&self) -> bool {
        self.raw.is_empty() && self.columns.is_empty()
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
            s.push(i as f64, v);
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
            s.push(i as f64, 1.0);
        }
        assert_eq!(s.len(), CAPACITY);
        assert_eq!(s.first_t(), Some(100.0));
        let pts = s.decimated(0.0, 1e9, 50);
        assert!(pts.len() <= 104);
        assert!(pts[0].0 >= 100.0 - 4096.0);
    }

    #[test]
    fn memory_is_bounded_by_the_ring_not_twice_it() {
        let mut s = Series::default();
        for i in 0..(3 * CAPACITY) {
            s.push(i as f64, (i % 13) as f64);
        }
        // 16k raw points of 8 bytes and about 8k buckets of 16 bytes.
        assert!(s.held() <= 300 * 1024, "{} bytes", s.held());
        for (k, l) in s.levels.iter().enumerate() {
            assert!(l.buckets.len() <= Series::max_buckets(k));
            assert_eq!(l.first % Series::size(k), 0);
        }
    }

    #[test]
    fn no_data_is_not_a_point() {
        let mut s = Series::default();
        s.push(0.0, f64::NAN);
        assert!(s.is_empty());
    }

    #[test]
    fn a_short_run_keeps_every_point() {
        let mut o = Overview::default();
        for i in 0..100 {
            o.push(i as f64, (i != 50).then_some(i as f64));
        }
        let pts = o.points();
        assert_eq!(pts.len(), 100);
        assert_eq!(pts[50], (50.0, None));
    }

    #[test]
    fn a_long_run_is_bounded_and_keeps_extremes_and_gaps_from_its_whole_length() {
        let mut o = Overview::default();
        for i in 0..(8 * 3_600 * 10) {
            let t = i as f64 / 10.0;
            let v = match i {
                5 => Some(-7.0),      // the first minute
                250_000 => None,      // a gap near the end
                270_000 => Some(1e6), // a spike at the very end
                _ => Some((i % 7) as f64),
            };
            o.push(t, v);
        }
        let pts = o.points();
        assert!(
            pts.len() <= Overview::MAX_POINTS + Overview::COLUMNS,
            "{}",
            pts.len()
        );
        assert!(pts.iter().any(|p| p.1 == Some(-7.0)), "early minimum kept");
        assert!(pts.iter().any(|p| p.1 == Some(1e6)), "late spike kept");
        assert!(pts.iter().any(|p| p.1.is_none()), "gap kept");
        assert!(pts.iter().all(|p| p.0 <= 28_800.0));
    }
}
