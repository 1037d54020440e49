//! [`RunLog`]: a whole run kept compactly so that a [`RunState`] can be rebuilt at any instant
//! (the replay slider). Metric samples, nearly every record of a long run, are packed into 16 bytes
//! each (time, metric index, error index, value); every other record is kept as its [`Envelope`]
//! (they are few). A 4-hour run of 53 metrics sampled every second is about 12 MiB here, against
//! roughly 300 bytes a sample as envelopes.
//!
//! Refolding a log gives exactly the state that folding the journal's envelopes gives: sequence
//! numbers, timestamps (to the millisecond, as journaled), run ids and error texts are all kept;
//! a sample that does not fit the packing is kept as an envelope instead.

use std::collections::HashMap;
use std::path::Path;

use chrono::{DateTime, TimeDelta, Utc};

use super::RunState;
use crate::event::{Envelope, Event};
use crate::journal::{JournalError, Reader, Record, SampleRecord, TornTail};

/// One sample: milliseconds since the log's first record, metric and error (index + 1, 0 for
/// none) in the log's tables, and the value (NaN for no data).
#[derive(Debug, Clone, Copy)]
struct Packed {
    value: f64,
    t_ms: u32,
    metric: u16,
    error: u16,
}

/// Samples are stored in chunks: the log never reallocates (and briefly doubles) its largest part.
const CHUNK: usize = 16_384;

#[derive(Debug, Clone, Default)]
pub struct RunLog {
    /// Time and run id of the first record: samples are stored relative to the one, under the other.
    base: Option<(DateTime<Utc>, String)>,
    first_ts: Option<DateTime<Utc>>,
    last_ts: Option<DateTime<Utc>>,
    metrics: Vec<String>,
    metric_index: HashMap<String, u16>,
    errors: Vec<String>,
    error_index: HashMap<String, u16>,
    samples: Vec<Vec<Packed>>,
    sample_count: usize,
    /// Every record that is not a packed sample, after how many packed samples it came.
    others: Vec<(usize, Envelope)>,
    /// Packed samples whose sequence number is not the previous record's plus one: (sample, seq).
    seq_breaks: Vec<(usize, u64)>,
    last_seq: Option<u64>,
}

impl RunLog {
    /// Streams a journal into a log (samples on the reader's fast path); never modifies the file.
    /// Also returns a torn last line that was skipped.
    pub fn from_journal(path: &Path) -> Result<(RunLog, Option<TornTail>), JournalError> {
        let mut reader = Reader::open(path)?;
        let mut log = RunLog::default();
        while let Some(r) = reader.next_record() {
            log.push_record(&r?);
        }
        let torn = reader.torn().cloned();
        Ok((log, torn))
    }

    pub fn from_events(events: impl IntoIterator<Item = Envelope>) -> RunLog {
        let mut log = RunLog::default();
        for e in events {
            log.push_envelope(e);
        }
        log
    }

    /// Records kept.
    pub fn len(&self) -> usize {
        self.sample_count + self.others.len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Times of the first and the last record, in file order.
    pub fn bounds(&self) -> Option<(DateTime<Utc>, DateTime<Utc>)> {
        Some((self.first_ts?, self.last_ts?))
    }

    pub fn push_record(&mut self, r: &Record) {
        match r {
            Record::Sample(s) => {
                if !self.try_pack(s) {
                    self.push_other(s.to_envelope());
                }
            }
            Record::Event(e) => self.push_other((**e).clone()),
        }
    }

    pub fn push_envelope(&mut self, env: Envelope) {
        if let Event::Sample {
            metric,
            value,
            error,
        } = &env.event
        {
            let s = SampleRecord {
                seq: env.seq,
                ts: env.ts,
                run: &env.run,
                metric,
                value: *value,
                error: error.as_deref(),
            };
            if self.try_pack(&s) {
                return;
            }
        }
        self.push_other(env);
    }

    fn note(&mut self, seq: u64, ts: DateTime<Utc>, run: &str) {
        if self.base.is_none() {
            self.base = Some((ts, run.to_string()));
        }
        self.first_ts.get_or_insert(ts);
        self.last_ts = Some(ts);
        self.last_seq = Some(seq);
    }

    fn push_other(&mut self, env: Envelope) {
        self.note(env.seq, env.ts, &env.run);
        self.others.push((self.sample_count, env));
    }

    fn intern(
        names: &mut Vec<String>,
        index: &mut HashMap<String, u16>,
        name: &str,
        offset: usize,
    ) -> Option<u16> {
        if let Some(i) = index.get(name) {
            return Some(*i);
        }
        let i = u16::try_from(names.len() + offset).ok()?;
        names.push(name.to_string());
        index.insert(name.to_string(), i);
        Some(i)
    }

    /// Packs a sample; false when it does not fit (it is then kept as an envelope).
    fn try_pack(&mut self, s: &SampleRecord) -> bool {
        let base = match &self.base {
            Some((ts, run)) => {
                if run != s.run {
                    return false;
                }
                *ts
            }
            None => s.ts,
        };
        let delta = s.ts - base;
        let Some(t_ms) = u32::try_from(delta.num_milliseconds())
            .ok()
            .filter(|_| delta.subsec_nanos() % 1_000_000 == 0)
        else {
            return false;
        };
        let value = match s.value {
            Some(v) if v.is_nan() => return false,
            Some(v) => v,
            None => f64::NAN,
        };
        let Some(metric) = Self::intern(&mut self.metrics, &mut self.metric_index, s.metric, 0)
        else {
            return false;
        };
        let error = match s.error {
            None => 0,
            Some(e) => match Self::intern(&mut self.errors, &mut self.error_index, e, 1) {
                Some(i) => i,
                None => return false,
            },
        };
        let expected = self.last_seq.and_then(|q| q.checked_add(1));
        if expected != Some(s.seq) {
            self.seq_breaks.push((self.sample_count, s.seq));
        }
        self.note(s.seq, s.ts, s.run);
        if self.samples.last().is_none_or(|c| c.len() == CHUNK) {
            self.samples.push(Vec::with_capacity(CHUNK));
        }
        if let Some(chunk) = self.samples.last_mut() {
            chunk.push(Packed {
                value,
                t_ms,
                metric,
                error,
            });
        }
        self.sample_count += 1;
        true
    }

    /// Folds every record stamped at or before `at` into `into`, in file order: the same as
    /// folding the journal's envelopes filtered by `ts <= at`.
    pub fn fold_until(&self, into: &mut RunState, at: DateTime<Utc>) {
        let Some((base, run)) = &self.base else {
            return;
        };
        let mut others = self.others.iter().peekable();
        let mut breaks = self.seq_breaks.iter().peekable();
        let mut prev_seq: Option<u64> = None;
        let apply_other = |into: &mut RunState, prev: &mut Option<u64>, env: &Envelope| {
            *prev = Some(env.seq);
            if env.ts <= at {
                into.apply(env);
            }
        };
        for (i, p) in self.samples.iter().flatten().enumerate() {
            while let Some((_, env)) = others.next_if(|(before, _)| *before == i) {
                apply_other(into, &mut prev_seq, env);
            }
            let seq = match breaks.next_if(|(at_sample, _)| *at_sample == i) {
                Some((_, seq)) => *seq,
                None => prev_seq.map_or(0, |q| q.wrapping_add(1)),
            };
            prev_seq = Some(seq);
            let ts = *base + TimeDelta::milliseconds(i64::from(p.t_ms));
            if ts > at {
                continue;
            }
            into.apply_sample_record(&SampleRecord {
                seq,
                ts,
                run,
                metric: &self.metrics[usize::from(p.metric)],
                value: (!p.value.is_nan()).then_some(p.value),
                error: (p.error > 0).then(|| self.errors[usize::from(p.error) - 1].as_str()),
            });
        }
        for (_, env) in others {
            apply_other(into, &mut prev_seq, env);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    fn at(ms: i64) -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2026, 12, 1, 10, 0, 0)
            .single()
            .unwrap()
            + TimeDelta::milliseconds(ms)
    }

    fn env(seq: u64, ms: i64, run: &str, event: Event) -> Envelope {
        Envelope {
            seq,
            ts: at(ms),
            run: run.into(),
            event,
        }
    }

    fn sample(m: &str, v: Option<f64>, err: Option<&str>) -> Event {
        Event::Sample {
            metric: m.into(),
            value: v,
            error: err.map(str::to_string),
        }
    }

    /// Every awkward case at once: gaps in seq, a duplicate seq, an error text, no data, a sample
    /// before the first record's time, one of another run, sub-millisecond time.
    fn events() -> Vec<Envelope> {
        let mut v = vec![
            env(1, 0, "r", Event::RunEnded),
            env(2, 10, "r", sample("a", Some(1.5), None)),
            env(3, 20, "r", sample("b", None, Some("timeout"))),
            env(7, 30, "r", sample("a", Some(2.5), None)),
            env(7, 31, "r", sample("a", Some(99.0), None)),
            env(8, 40, "r", sample("b", None, Some("timeout"))),
            env(
                9,
                45,
                "r",
                Event::Milestone {
                    kind: crate::event::MilestoneKind::Detected,
                    role: "IC".into(),
                },
            ),
            env(10, -5, "r", sample("a", Some(-1.0), None)),
            env(11, 50, "other", sample("a", Some(3.0), None)),
            env(12, 60, "r", sample("c", Some(4.0), Some("partial"))),
        ];
        v[9].ts += TimeDelta::microseconds(1);
        v.push(env(13, 70, "r", sample("a", Some(5.0), None)));
        v
    }

    fn same(a: &RunState, b: &RunState) {
        assert_eq!(a.records, b.records);
        assert_eq!(a.last_seq, b.last_seq);
        assert_eq!(a.start, b.start);
        assert_eq!(a.last_ts, b.last_ts);
        assert_eq!(a.timeline, b.timeline);
        assert_eq!(a.milestones, b.milestones);
        assert_eq!(a.metrics.len(), b.metrics.len());
        for ((ka, ma), (kb, mb)) in a.metrics.iter().zip(&b.metrics) {
            assert_eq!(ka, kb);
            assert_eq!(
                (
                    ma.samples,
                    ma.no_data,
                    ma.last,
                    &ma.last_error,
                    ma.min,
                    ma.max
                ),
                (
                    mb.samples,
                    mb.no_data,
                    mb.last,
                    &mb.last_error,
                    mb.min,
                    mb.max
                ),
                "{ka}"
            );
            assert_eq!(ma.overview.points(), mb.overview.points(), "{ka}");
            assert_eq!(
                ma.series.decimated(-1e9, 1e9, 100),
                mb.series.decimated(-1e9, 1e9, 100)
            );
        }
    }

    #[test]
    fn refolding_the_log_is_folding_the_envelopes() {
        let events = events();
        let log = RunLog::from_events(events.clone());
        assert_eq!(log.len(), events.len());
        assert!(log.others.len() < 6, "samples are packed: {:?}", log.others);
        for cut in [-10, 0, 10, 25, 30, 31, 45, 60, 1_000] {
            let mut refolded = RunState::console();
            log.fold_until(&mut refolded, at(cut));
            let direct = RunState::console_from(events.iter().filter(|e| e.ts <= at(cut)));
            same(&refolded, &direct);
        }
        assert_eq!(log.bounds(), Some((at(0), at(70))));
    }
}
