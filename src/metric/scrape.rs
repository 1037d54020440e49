//! The `scrape` source: reads the Prometheus text exposition format straight from a `/metrics`
//! endpoint, for teams without a Prometheus server.
//!
//! - `series: 'name{label="v",other!="x"}'` picks series (`=` and `!=` matchers).
//! - A counter (or any series) can become a per-second rate with `rate: true`: the probe keeps the
//!   previous scrape and divides the increase by the time between the two scrapes (a drop counts as
//!   a counter reset, as in PromQL).
//! - A histogram becomes a quantile with `quantile: 0.99`, computed from its `_bucket{le=…}` series
//!   like PromQL's `histogram_quantile`; with `rate: true` it is the quantile of the observations
//!   made since the previous scrape.
//!
//! The parser is small and strict where it reads (labels, escapes, values) and ignores what it
//! does not need (HELP, exemplars, timestamps).

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::Duration;

use reqwest::header::ACCEPT;
use tokio::time::Instant;

use super::web::{self, WebError};
use super::{Probe, Reading};
use crate::scenario::prom::{Cursor, Op, Selector, is_name_char, short};
use crate::target::BoxFuture;

// ---- parsing ------------------------------------------------------------------------------------

/// One sample line of an exposition.
#[derive(Debug, Clone, PartialEq)]
pub struct Line {
    pub name: String,
    pub labels: Vec<(String, String)>,
    pub value: f64,
    pub timestamp_ms: Option<i64>,
}

#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("line {line}: {message}")]
pub struct ParseError {
    pub line: usize,
    pub message: String,
}

/// A parsed exposition: sample lines plus the `# TYPE` of each metric family.
#[derive(Debug, Default, Clone, PartialEq)]
pub struct Exposition {
    pub lines: Vec<Line>,
    pub types: HashMap<String, String>,
}

/// Parses a whole exposition; the first malformed line is an error.
pub fn parse(text: &str) -> Result<Exposition, ParseError> {
    parse_where(text, |_| true)
}

/// Parses only the sample lines whose metric name `want` accepts; other lines are skipped unread,
/// so a large /metrics page costs little when one series is wanted.
pub fn parse_where(text: &str, want: impl Fn(&str) -> bool) -> Result<Exposition, ParseError> {
    let mut out = Exposition::default();
    for (i, raw) in text.lines().enumerate() {
        let line = raw.trim_start();
        if line.is_empty() {
            continue;
        }
        if let Some(comment) = line.strip_prefix('#') {
            let mut words = comment.split_whitespace();
            if words.next() == Some("TYPE")
                && let (Some(name), Some(kind)) = (words.next(), words.next())
            {
                out.types.insert(name.to_string(), kind.to_string());
            }
            continue;
        }
        let name_end = line.find(|c: char| !is_name_char(c)).unwrap_or(line.len());
        let name = &line[..name_end];
        if !want(name) {
            continue;
        }
        let parsed = parse_line(line).map_err(|message| ParseError {
            line: i + 1,
            message,
        })?;
        out.lines.push(parsed);
    }
    Ok(out)
}

fn parse_line(line: &str) -> Result<Line, String> {
    let mut cur = Cursor { s: line, at: 0 };
    let name = cur.name()?;
    let labels = if cur.peek() == Some('{') {
        cur.labels(false)?
            .into_iter()
            .map(|(k, _, v)| (k, v))
            .collect()
    } else {
        Vec::new()
    };
    cur.skip_ws();
    let value_tok = cur.token();
    if value_tok.is_empty() {
        return Err(format!("`{name}` has no value"));
    }
    let value = parse_value(value_tok)?;
    cur.skip_ws();
    let timestamp_ms = match cur.token() {
        "" => None,
        t if t.starts_with('#') => None, // OpenMetrics exemplar
        t => Some(
            t.parse::<i64>()
                .or_else(|_| t.parse::<f64>().map(|f| (f * 1000.0) as i64))
                .map_err(|_| format!("timestamp `{t}` is not a number"))?,
        ),
    };
    Ok(Line {
        name,
        labels,
        value,
        timestamp_ms,
    })
}

/// Go's float syntax as the exposition format uses it: `1.5e3`, `NaN`, `+Inf`, `-Inf`.
fn parse_value(tok: &str) -> Result<f64, String> {
    match tok {
        "NaN" => Ok(f64::NAN),
        "+Inf" | "Inf" => Ok(f64::INFINITY),
        "-Inf" => Ok(f64::NEG_INFINITY),
        t => t
            .parse::<f64>()
            .ok()
            .filter(|v| v.is_finite())
            .ok_or_else(|| format!("value `{}` is not a number", short(t))),
    }
}

/// Labels as written in a selector, for reasons: `{code="500"}` (nothing when there are none).
fn show_labels(labels: &[(String, String)]) -> String {
    if labels.is_empty() {
        return String::new();
    }
    let pairs: Vec<String> = labels.iter().map(|(k, v)| format!("{k}={v:?}")).collect();
    format!("{{{}}}", pairs.join(","))
}

/// A series' identity for matching it across scrapes: its labels, sorted.
fn series_key(line: &Line) -> String {
    let mut labels: Vec<_> = line.labels.iter().collect();
    labels.sort();
    let mut key = line.name.clone();
    for (k, v) in labels {
        key.push('\u{1f}');
        key.push_str(k);
        key.push('=');
        key.push_str(v);
    }
    key
}

/// The values one scrape gives for a selector, by series key (with `le` for bucket series).
#[derive(Debug, Clone, Default)]
struct Points {
    values: HashMap<String, (Option<f64>, f64)>,
}

// ---- quantiles ------------------------------------------------------------------------------------

/// `histogram_quantile` over cumulative buckets `(le, count)`, in any order, as PromQL computes it:
/// linear interpolation inside the bucket holding the rank; the `+Inf` bucket answers with the
/// highest finite bound.
pub fn histogram_quantile(q: f64, buckets: &[(f64, f64)]) -> Result<f64, String> {
    let mut b: Vec<(f64, f64)> = buckets.to_vec();
    b.sort_by(|x, y| x.0.total_cmp(&y.0));
    // Same bound twice (several series summed) → one bucket.
    b.dedup_by(|next, kept| {
        if next.0 == kept.0 {
            kept.1 += next.1;
            true
        } else {
            false
        }
    });
    if b.last().map(|l| l.0) != Some(f64::INFINITY) {
        return Err("histogram has no le=\"+Inf\" bucket".into());
    }
    if b.len() < 2 {
        return Err("histogram has only the +Inf bucket".into());
    }
    // Scrapes are not atomic: make counts monotonic as PromQL does.
    let mut max = 0.0f64;
    for x in &mut b {
        max = max.max(x.1);
        x.1 = max;
    }
    let total = b[b.len() - 1].1;
    if total <= 0.0 {
        return Err("histogram has no observations".into());
    }
    let rank = q * total;
    let i = b.iter().position(|x| x.1 >= rank).unwrap_or(b.len() - 1);
    if i == b.len() - 1 {
        return Ok(b[b.len() - 2].0);
    }
    if i == 0 && b[0].0 <= 0.0 {
        return Ok(b[0].0);
    }
    let (start, below) = if i == 0 { (0.0, 0.0) } else { b[i - 1] };
    let (end, upto) = b[i];
    let count = upto - below;
    if count <= 0.0 {
        return Ok(start);
    }
    Ok(start + (end - start) * ((rank - below) / count))
}

// ---- the probe ------------------------------------------------------------------------------------

pub struct ScrapeProbe {
    http: reqwest::Client,
    url: reqwest::Url,
    selector: Selector,
    rate: bool,
    quantile: Option<f64>,
    /// Shortest time a rate is computed over; also the wait on the very first poll.
    min_window: Duration,
    previous: Mutex<Option<(Instant, Points)>>,
}

impl ScrapeProbe {
    pub fn new(
        http: reqwest::Client,
        url: &str,
        series: &str,
        rate: bool,
        quantile: Option<f64>,
        timeout: Duration,
    ) -> Result<ScrapeProbe, WebError> {
        let url = web::check_url(url)?;
        let selector = Selector::parse(series).map_err(WebError::BadSeries)?;
        Ok(ScrapeProbe {
            http,
            url,
            selector,
            rate,
            quantile,
            min_window: (timeout / 3).clamp(Duration::from_millis(10), Duration::from_secs(1)),
            previous: Mutex::new(None),
        })
    }

    /// The metric family the samples come from: `x_bucket` for a quantile of histogram `x`.
    fn wanted_name(&self) -> String {
        match self.quantile {
            Some(_) if !self.selector.name.ends_with("_bucket") => {
                format!("{}_bucket", self.selector.name)
            }
            _ => self.selector.name.clone(),
        }
    }

    async fn scrape(&self) -> Result<(Points, Option<String>), String> {
        let resp = self
            .http
            .get(self.url.clone())
            // Plain text: some clients answer protobuf or OpenMetrics when asked for them.
            .header(ACCEPT, "text/plain;version=0.0.4;q=1,*/*;q=0.1")
            .send()
            .await
            .map_err(|e| web::describe(&e))?;
        let status = resp.status();
        let body = web::read_capped(resp, web::MAX_BODY).await?;
        if !status.is_success() {
            let hint = web::body_hint(&body);
            return Err(if hint.is_empty() {
                format!("HTTP {}", status.as_u16())
            } else {
                format!("HTTP {}: {hint}", status.as_u16())
            });
        }
        let text = String::from_utf8_lossy(&body);
        let name = self.wanted_name();
        let exp = parse_where(&text, |n| n == name).map_err(|e| format!("bad exposition: {e}"))?;
        let family = name.strip_suffix("_bucket").unwrap_or(&name);
        let kind = exp
            .types
            .get(&name)
            .or_else(|| exp.types.get(family))
            .cloned();
        let mut points = Points::default();
        for line in exp
            .lines
            .iter()
            .filter(|l| self.selector.matches_labels(&l.labels))
        {
            let le = if self.quantile.is_some() {
                let le =
                    line.labels.iter().find(|(k, _)| k == "le").ok_or_else(|| {
                        format!("`{}` has a series without an `le` label", line.name)
                    })?;
                Some(parse_value(&le.1).map_err(|e| format!("le: {e}"))?)
            } else {
                None
            };
            if !line.value.is_finite() {
                // Summed or rated with the others it would be hidden or poison the result.
                return Err(format!(
                    "`{}{}` is {}: not a reading",
                    line.name,
                    show_labels(&line.labels),
                    line.value
                ));
            }
            points.values.insert(series_key(line), (le, line.value));
        }
        if points.values.is_empty() {
            return Err(format!(
                "no series matches `{}` ({} `{name}` series on the page)",
                self.selector_text(),
                exp.lines.len()
            ));
        }
        Ok((points, kind))
    }

    fn selector_text(&self) -> String {
        let m: Vec<String> = self
            .selector
            .matchers
            .iter()
            .map(|(k, op, v)| {
                let op = if *op == Op::Eq { "=" } else { "!=" };
                format!("{k}{op}{v:?}")
            })
            .collect();
        if m.is_empty() {
            self.selector.name.clone()
        } else {
            format!("{}{{{}}}", self.selector.name, m.join(","))
        }
    }

    async fn read(&self) -> Reading {
        let (points, kind) = self.scrape().await?;
        if !self.rate {
            return self.value(&points, kind.as_deref());
        }
        let now = Instant::now();
        let prev = self.lock().clone();
        let (base_at, base, at, current) = match prev {
            Some((t0, p)) if now.duration_since(t0) >= self.min_window => (t0, p, now, points),
            prev => {
                // No baseline yet, or one too recent for a meaningful rate: wait out the window
                // from the baseline, then read again.
                let (t0, base) = prev.unwrap_or((now, points));
                tokio::time::sleep_until(t0 + self.min_window).await;
                let (again, _) = self.scrape().await?;
                (t0, base, Instant::now(), again)
            }
        };
        let deltas = increase(&base, &current);
        self.store(at, current);
        let secs = at.saturating_duration_since(base_at).as_secs_f64();
        if secs <= 0.0 {
            return Err("no time between scrapes to compute a rate".into());
        }
        match self.quantile {
            Some(q) => histogram_quantile(q, &deltas.buckets()),
            None => {
                if deltas.values.is_empty() {
                    return Err(format!(
                        "`{}` had no series in both of the last two scrapes",
                        self.selector_text()
                    ));
                }
                Ok(deltas.values.values().map(|(_, v)| v).sum::<f64>() / secs)
            }
        }
    }

    fn value(&self, points: &Points, kind: Option<&str>) -> Reading {
        if let Some(q) = self.quantile {
            return histogram_quantile(q, &points.buckets());
        }
        let values: Vec<f64> = points.values.values().map(|(_, v)| *v).collect();
        let v = match (values.len(), kind) {
            (1, _) => values[0],
            (_, Some("counter" | "histogram" | "summary")) => values.iter().sum(),
            (n, _) => {
                return Err(format!(
                    "`{}` matches {n} series; add labels to pick one (only counters are summed)",
                    self.selector_text()
                ));
            }
        };
        if v.is_finite() {
            Ok(v)
        } else {
            Err(format!("value is {v}, not a reading"))
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Option<(Instant, Points)>> {
        // A poisoned lock only means another poll panicked mid-update; the data is still usable.
        self.previous.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Keeps the newest scrape as the next baseline.
    fn store(&self, at: Instant, points: Points) {
        let mut prev = self.lock();
        if prev.as_ref().is_none_or(|(t, _)| *t <= at) {
            *prev = Some((at, points));
        }
    }
}

impl Points {
    /// Cumulative bucket counts summed by bound.
    fn buckets(&self) -> Vec<(f64, f64)> {
        let mut by_le: Vec<(f64, f64)> = Vec::new();
        for (le, v) in self.values.values() {
            let Some(le) = le else { continue };
            match by_le.iter_mut().find(|(b, _)| b == le) {
                Some(slot) => slot.1 += v,
                None => by_le.push((*le, *v)),
            }
        }
        by_le
    }
}

/// Per-series increase from `base` to `now`; a drop is a counter reset (the new value is the
/// increase). Series absent from the baseline are left out until they have two scrapes.
fn increase(base: &Points, now: &Points) -> Points {
    let mut out = Points::default();
    for (key, (le, v)) in &now.values {
        if let Some((_, old)) = base.values.get(key) {
            let d = if v >= old { v - old } else { *v };
            out.values.insert(key.clone(), (*le, d));
        }
    }
    out
}

impl Probe for ScrapeProbe {
    fn poll(&self) -> BoxFuture<'_, Reading> {
        Box::pin(self.read())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The example from the Prometheus exposition format documentation, plus a labelled histogram.
    pub const EXPOSITION: &str = r#"# HELP http_requests_total The total number of HTTP requests.
# TYPE http_requests_total counter
http_requests_total{method="post",code="200"} 1027 1395066363000
http_requests_total{method="post",code="400"}    3 1395066363000

# Escaping in label values:
msdos_file_access_time_seconds{path="C:\\DIR\\FILE.TXT",error="Cannot find file:\n\"FILE.TXT\""} 1.458255915e9

# Minimalistic line:
metric_without_timestamp_and_labels 12.47

# A weird metric from before the epoch:
something_weird{problem="division by zero"} +Inf -3982045

# A histogram, which has a pretty complex representation in the text format:
# HELP http_request_duration_seconds A histogram of the request duration.
# TYPE http_request_duration_seconds histogram
http_request_duration_seconds_bucket{le="0.05"} 24054
http_request_duration_seconds_bucket{le="0.1"} 33444
http_request_duration_seconds_bucket{le="0.2"} 100392
http_request_duration_seconds_bucket{le="0.5"} 129389
http_request_duration_seconds_bucket{le="1"} 133988
http_request_duration_seconds_bucket{le="+Inf"} 144320
http_request_duration_seconds_sum 53423
http_request_duration_seconds_count 144320

# Finally a summary, which has a complex representation, too:
# HELP rpc_duration_seconds A summary of the RPC duration in seconds.
# TYPE rpc_duration_seconds summary
rpc_duration_seconds{quantile="0.01"} 3102
rpc_duration_seconds{quantile="0.05"} 3272
rpc_duration_seconds{quantile="0.5"} 4773
rpc_duration_seconds{quantile="0.9"} 9001
rpc_duration_seconds{quantile="0.99"} 76656
rpc_duration_seconds_sum 1.7560473e+07
rpc_duration_seconds_count 2693
# TYPE api_latency_seconds histogram
api_latency_seconds_bucket{route="/pay",le="0.1",} 90
api_latency_seconds_bucket{route="/pay",le="0.5",} 99
api_latency_seconds_bucket{route="/pay",le="+Inf",} 100
api_latency_seconds_bucket{route="/home",le="0.1"} 10
api_latency_seconds_bucket{route="/home",le="0.5"} 10
api_latency_seconds_bucket{route="/home",le="+Inf"} 10
	go_goroutines 42
process_resident_memory_bytes 1.2345678e+07
"#;

    #[test]
    fn parses_the_documented_exposition() {
        let exp = parse(EXPOSITION).unwrap();
        assert_eq!(exp.types.get("http_requests_total").unwrap(), "counter");
        assert_eq!(exp.types.get("rpc_duration_seconds").unwrap(), "summary");
        let first = &exp.lines[0];
        assert_eq!(first.name, "http_requests_total");
        assert_eq!(
            first.labels,
            vec![
                ("method".to_string(), "post".to_string()),
                ("code".to_string(), "200".to_string())
            ]
        );
        assert_eq!(first.value, 1027.0);
        assert_eq!(first.timestamp_ms, Some(1395066363000));
        assert_eq!(exp.lines[1].value, 3.0, "several blanks before the value");

        let msdos = exp
            .lines
            .iter()
            .find(|l| l.name == "msdos_file_access_time_seconds")
            .unwrap();
        assert_eq!(msdos.labels[0].1, r"C:\DIR\FILE.TXT");
        assert_eq!(msdos.labels[1].1, "Cannot find file:\n\"FILE.TXT\"");
        assert_eq!(msdos.value, 1.458255915e9);

        let weird = exp
            .lines
            .iter()
            .find(|l| l.name == "something_weird")
            .unwrap();
        assert_eq!(weird.value, f64::INFINITY);
        assert_eq!(weird.timestamp_ms, Some(-3982045));

        let plain = exp
            .lines
            .iter()
            .find(|l| l.name == "metric_without_timestamp_and_labels")
            .unwrap();
        assert_eq!((plain.value, plain.timestamp_ms), (12.47, None));
        assert!(plain.labels.is_empty());

        let trailing_comma = exp
            .lines
            .iter()
            .find(|l| l.name == "api_latency_seconds_bucket")
            .unwrap();
        assert_eq!(trailing_comma.labels.len(), 2);
        assert!(
            exp.lines.iter().any(|l| l.name == "go_goroutines"),
            "leading tab"
        );
        assert_eq!(exp.lines.len(), 28);
    }

    #[test]
    fn malformed_lines_say_where() {
        let e = parse("ok 1\nbad{x=\"1} 2\n").unwrap_err();
        assert_eq!(e.line, 2);
        assert!(e.message.contains("unterminated"), "{e}");
        let e = parse("# TYPE a gauge\na{b=1} 2").unwrap_err();
        assert!(e.message.contains("double quotes"), "{e}");
        let e = parse("a twelve").unwrap_err();
        assert!(e.message.contains("not a number"), "{e}");
        let e = parse("a").unwrap_err();
        assert!(e.message.contains("no value"), "{e}");
        // Lines not asked for are not even read.
        assert!(parse_where("a twelve\nb 1\n", |n| n == "b").is_ok());
    }

    #[test]
    fn selectors_match_labels() {
        let s = Selector::parse(r#"http_requests_total{code="200", method!="get"}"#).unwrap();
        assert_eq!(s.name, "http_requests_total");
        let exp = parse(EXPOSITION).unwrap();
        let hits: Vec<_> = exp
            .lines
            .iter()
            .filter(|l| l.name == s.name && s.matches_labels(&l.labels))
            .collect();
        assert_eq!(hits.len(), 1);
        assert_eq!(hits[0].value, 1027.0);
        assert!(Selector::parse("up").unwrap().matchers.is_empty());
        let e = Selector::parse(r#"up{job=~"a.*"}"#).unwrap_err();
        assert!(e.contains("regex"), "{e}");
        assert!(Selector::parse(r#"{job="a"}"#).is_err());
        assert!(Selector::parse(r#"up{job="a"} extra"#).is_err());
    }

    #[test]
    fn quantiles_follow_histogram_quantile() {
        let exp = parse(EXPOSITION).unwrap();
        let buckets: Vec<(f64, f64)> = exp
            .lines
            .iter()
            .filter(|l| l.name == "http_request_duration_seconds_bucket")
            .map(|l| (parse_value(&l.labels[0].1).unwrap(), l.value))
            .collect();
        // rank 0.5 * 144320 = 72160 falls in (0.1, 0.2]: 0.1 + 0.1 * (72160-33444)/(100392-33444).
        let p50 = histogram_quantile(0.5, &buckets).unwrap();
        let want = 0.1 + 0.1 * (72160.0 - 33444.0) / (100392.0 - 33444.0);
        assert!((p50 - want).abs() < 1e-12, "{p50} vs {want}");
        // rank 0.99 lands in +Inf: the highest finite bound.
        assert_eq!(histogram_quantile(0.99, &buckets).unwrap(), 1.0);
        // In the first bucket, interpolation starts at 0.
        let p10 = histogram_quantile(0.1, &buckets).unwrap();
        assert!((p10 - 0.05 * 14432.0 / 24054.0).abs() < 1e-9, "{p10}");
        assert!(histogram_quantile(0.5, &[(0.1, 1.0)]).is_err(), "no +Inf");
        assert!(histogram_quantile(0.5, &[(0.1, 0.0), (f64::INFINITY, 0.0)]).is_err());
    }

    #[test]
    fn rates_handle_resets_and_new_series() {
        let mut base = Points::default();
        base.values.insert("a".into(), (None, 100.0));
        base.values.insert("b".into(), (None, 50.0));
        let mut now = Points::default();
        now.values.insert("a".into(), (None, 130.0));
        now.values.insert("b".into(), (None, 5.0)); // reset: 5 since restart
        now.values.insert("c".into(), (None, 999.0)); // new: no baseline yet
        let d = increase(&base, &now);
        let total: f64 = d.values.values().map(|(_, v)| v).sum();
        assert_eq!(total, 35.0);
    }
}
