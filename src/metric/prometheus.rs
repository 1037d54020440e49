//! The `prometheus` source: an instant query through the HTTP API (`/api/v1/query`).
//!
//! A sample older than 2 × the metric's `every` is no data: the query is sent with its instant
//! selectors bounded to that age ([`promql::bound_lookback`], for every server version) and with
//! `lookback_delta` (honoured from Prometheus 2.43), instead of Prometheus' 5-minute lookback.
//!
//! Requests are built by the `prometheus-http-query` crate and answers are decoded into its types,
//! but the body is read by [`web::read_capped`]: the crate's own `get()` reads a body of any size,
//! and a body that never ends must become "no data", not a memory spike.

use std::time::Duration;

use prometheus_http_query::error::PrometheusError;
use prometheus_http_query::response::{Data, PromqlResult};
use reqwest::header::AUTHORIZATION;
use serde::Deserialize;

use super::web::{self, Auth, WebError};
use super::{Probe, Reading, promql};
use crate::scenario::Reduce;
use crate::target::BoxFuture;

pub struct PrometheusProbe {
    client: prometheus_http_query::Client,
    /// As the scenario wrote it, for reasons.
    query: String,
    /// As sent: instant selectors bounded to `max_age`.
    sent: String,
    reduce: Option<Reduce>,
    auth: Option<Auth>,
    timeout: Duration,
    /// Oldest sample that still counts: 2 × `every`.
    max_age: Duration,
}

/// The reason for an empty answer.
const EMPTY: &str = "empty vector: no series matched the query";

impl PrometheusProbe {
    /// `every` is the metric's poll interval: a sample older than twice that is no data.
    pub fn new(
        http: reqwest::Client,
        server: &str,
        query: &str,
        reduce: Option<Reduce>,
        auth: Option<Auth>,
        timeout: Duration,
        every: Duration,
    ) -> Result<PrometheusProbe, WebError> {
        web::check_url(server)?;
        let client =
            prometheus_http_query::Client::from(http, server).map_err(|e| WebError::BadUrl {
                url: server.to_string(),
                why: e.to_string(),
            })?;
        let max_age = every.saturating_mul(2).max(Duration::from_millis(1));
        Ok(PrometheusProbe {
            client,
            query: query.to_string(),
            sent: promql::bound_lookback(query, &promql::duration(max_age)),
            reduce,
            auth,
            timeout,
            max_age,
        })
    }

    /// The query as sent to the server.
    pub fn sent_query(&self) -> &str {
        &self.sent
    }

    async fn fetch(&self) -> Reading {
        // Ask the server to give up a little before we do, so a slow query says so itself.
        let server_ms = (self.timeout.as_millis() * 9 / 10).max(1);
        let mut q = self
            .client
            .query(&self.sent)
            .timeout(i64::try_from(server_ms).unwrap_or(i64::MAX))
            .query("lookback_delta", self.max_age.as_secs_f64());
        if let Some(auth) = &self.auth {
            q = q.header(AUTHORIZATION, auth.header());
        }
        let resp = q.get_raw().await.map_err(|e| match &e {
            prometheus_http_query::Error::Client(c) => match c.inner() {
                Some(inner) => web::describe(inner),
                None => e.to_string(),
            },
            other => other.to_string(),
        })?;
        let status = resp.status().as_u16();
        let mut body = web::read_capped(resp, web::MAX_BODY).await?;
        if let Some(auth) = &self.auth
            && !(200..300).contains(&status)
        {
            // Before a hint cuts the body short, which could leave a prefix of the credential.
            // A success body is left alone: a short password could match a value in it.
            body = auth.redactor().scrub_bytes(&body);
        }
        interpret(status, &body, self.reduce).map_err(|e| self.explain(e))
    }

    /// Adds what the raw reason cannot know: the age bound behind an empty answer, and the query
    /// as sent when the server's error may point into it.
    fn explain(&self, e: String) -> String {
        if e == EMPTY {
            return format!(
                "{EMPTY}, or none has a sample newer than {} (2 × every)",
                crate::fmt::duration(self.max_age)
            );
        }
        if e.contains("bad_data") && self.sent != self.query {
            return format!("{e} (query as sent: `{}`)", self.sent);
        }
        e
    }
}

impl Probe for PrometheusProbe {
    fn poll(&self) -> BoxFuture<'_, Reading> {
        Box::pin(async move {
            // A server or proxy may echo the request, header included, in its error.
            self.fetch().await.map_err(|e| match &self.auth {
                Some(auth) => auth.redactor().scrub(&e),
                None => e,
            })
        })
    }
}

/// The API's envelope: `{"status":"success","data":…}` or `{"status":"error","errorType":…,"error":…}`.
#[derive(Deserialize)]
#[serde(tag = "status", rename_all = "lowercase")]
enum Envelope {
    Success { data: PromqlResult },
    Error(PrometheusError),
}

/// An error answer whose `errorType` the client crate does not know yet.
#[derive(Deserialize)]
struct LooseError {
    status: String,
    #[serde(default, rename = "errorType")]
    error_type: Option<String>,
    #[serde(default)]
    error: Option<String>,
}

/// Turns one HTTP answer into a reading. Pure, so every failure mode is unit-tested.
pub fn interpret(status: u16, body: &[u8], reduce: Option<Reduce>) -> Reading {
    let parsed = serde_json::from_slice::<Envelope>(body);
    let ok_status = (200..300).contains(&status);
    let data = match parsed {
        Ok(Envelope::Success { data }) if ok_status => data,
        Ok(Envelope::Success { .. }) => return Err(format!("HTTP {status}")),
        Ok(Envelope::Error(e)) => {
            return Err(format!("Prometheus error (HTTP {status}): {e}"));
        }
        Err(parse_err) => {
            if let Ok(loose) = serde_json::from_slice::<LooseError>(body)
                && loose.status == "error"
            {
                return Err(format!(
                    "Prometheus error (HTTP {status}): {}: {}",
                    loose.error_type.as_deref().unwrap_or("unknown"),
                    loose.error.as_deref().unwrap_or("no message")
                ));
            }
            if !ok_status {
                let hint = web::body_hint(body);
                return Err(if hint.is_empty() {
                    format!("HTTP {status}")
                } else {
                    format!("HTTP {status}: {hint}")
                });
            }
            return Err(format!("not a Prometheus API answer: {parse_err}"));
        }
    };
    let (data, _stats) = data.into_inner();
    match data {
        Data::Scalar(s) => finite(s.value()),
        Data::Matrix(_) => Err(
            "the query returned a range vector; query an instant vector (drop the `[5m]` or wrap it in rate())"
                .into(),
        ),
        Data::Vector(v) => {
            if v.is_empty() {
                return Err(EMPTY.into());
            }
            if v.len() == 1 {
                return finite(v[0].sample().value());
            }
            let Some(reduce) = reduce else {
                let mut names: Vec<String> = v.iter().take(3).map(|s| labels(s.metric())).collect();
                if v.len() > 3 {
                    names.push("…".into());
                }
                return Err(format!(
                    "the query returned {} series ({}); set `reduce: max|min|sum|avg` to combine them",
                    v.len(),
                    names.join(", ")
                ));
            };
            // One broken series is no data for the whole reading: `max` over the rest would hide it.
            let mut values = Vec::with_capacity(v.len());
            for s in &v {
                let x = s.sample().value();
                if !x.is_finite() {
                    return Err(format!(
                        "value is {x} in series {} ({} series in all)",
                        labels(s.metric()),
                        v.len()
                    ));
                }
                values.push(x);
            }
            finite(apply(reduce, &values))
        }
    }
}

/// Only a finite number is a reading; NaN and ±Inf are no data.
fn finite(v: f64) -> Reading {
    if v.is_nan() {
        Err("value is NaN".into())
    } else if v.is_infinite() {
        Err(format!(
            "value is {}, not a reading",
            if v > 0.0 { "+Inf" } else { "-Inf" }
        ))
    } else {
        Ok(v)
    }
}

pub fn apply(reduce: Reduce, values: &[f64]) -> f64 {
    match reduce {
        Reduce::Max => values.iter().copied().fold(f64::NEG_INFINITY, f64::max),
        Reduce::Min => values.iter().copied().fold(f64::INFINITY, f64::min),
        Reduce::Sum => values.iter().sum(),
        Reduce::Avg => values.iter().sum::<f64>() / values.len() as f64,
    }
}

fn labels(metric: &std::collections::HashMap<String, String>) -> String {
    let mut pairs: Vec<_> = metric
        .iter()
        .filter(|(k, _)| k.as_str() != "__name__")
        .map(|(k, v)| format!("{k}=\"{v}\""))
        .collect();
    pairs.sort();
    format!("{{{}}}", pairs.join(","))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn vector(samples: &[(&str, &str)]) -> String {
        let result: Vec<String> = samples
            .iter()
            .map(|(code, v)| {
                format!(r#"{{"metric":{{"__name__":"up","code":"{code}"}},"value":[1700000000.123,"{v}"]}}"#)
            })
            .collect();
        format!(
            r#"{{"status":"success","data":{{"resultType":"vector","result":[{}]}}}}"#,
            result.join(",")
        )
    }

    #[test]
    fn one_sample_is_its_value() {
        assert_eq!(
            interpret(200, vector(&[("200", "42.5")]).as_bytes(), None),
            Ok(42.5)
        );
        let scalar =
            r#"{"status":"success","data":{"resultType":"scalar","result":[1700000000,"7"]}}"#;
        assert_eq!(interpret(200, scalar.as_bytes(), None), Ok(7.0));
    }

    #[test]
    fn several_series_need_a_reduce() {
        let body = vector(&[("200", "1"), ("500", "5"), ("503", "3")]);
        let err = interpret(200, body.as_bytes(), None).unwrap_err();
        assert!(err.contains("3 series") && err.contains("reduce:"), "{err}");
        assert!(err.contains(r#"code="500""#), "{err}");
        assert_eq!(interpret(200, body.as_bytes(), Some(Reduce::Max)), Ok(5.0));
        assert_eq!(interpret(200, body.as_bytes(), Some(Reduce::Min)), Ok(1.0));
        assert_eq!(interpret(200, body.as_bytes(), Some(Reduce::Sum)), Ok(9.0));
        assert_eq!(interpret(200, body.as_bytes(), Some(Reduce::Avg)), Ok(3.0));
        let all_nan = vector(&[("200", "NaN"), ("500", "NaN")]);
        assert!(interpret(200, all_nan.as_bytes(), Some(Reduce::Max)).is_err());
    }

    /// One broken series is no data for the whole reading: `max` over the others would hide it.
    #[test]
    fn a_non_finite_series_is_no_data_and_named() {
        for bad in ["NaN", "+Inf", "-Inf"] {
            let body = vector(&[("200", "1"), ("503", bad), ("500", "4")]);
            for reduce in [Reduce::Max, Reduce::Min, Reduce::Sum, Reduce::Avg] {
                let e = interpret(200, body.as_bytes(), Some(reduce)).unwrap_err();
                assert!(e.contains(r#"code="503""#), "{bad} {reduce:?}: {e}");
            }
        }
    }

    #[test]
    fn infinity_is_not_a_reading() {
        for bad in ["+Inf", "-Inf"] {
            let e = interpret(200, vector(&[("200", bad)]).as_bytes(), None).unwrap_err();
            assert!(e.contains("Inf"), "{e}");
            let scalar = format!(
                r#"{{"status":"success","data":{{"resultType":"scalar","result":[1700000000,"{bad}"]}}}}"#
            );
            assert!(interpret(200, scalar.as_bytes(), None).is_err());
        }
    }

    #[test]
    fn every_failure_is_no_data_with_its_reason() {
        let empty = vector(&[]);
        let e = interpret(200, empty.as_bytes(), None).unwrap_err();
        assert!(e.contains("empty vector"), "{e}");

        let nan = vector(&[("200", "NaN")]);
        assert_eq!(
            interpret(200, nan.as_bytes(), None),
            Err("value is NaN".into())
        );

        let error = r#"{"status":"error","errorType":"bad_data","error":"1:5: parse error: unexpected end of input"}"#;
        let e = interpret(400, error.as_bytes(), None).unwrap_err();
        assert!(
            e.contains("bad_data") && e.contains("parse error") && e.contains("HTTP 400"),
            "{e}"
        );

        let odd = r#"{"status":"error","errorType":"something_new","error":"boom"}"#;
        let e = interpret(500, odd.as_bytes(), None).unwrap_err();
        assert!(e.contains("something_new: boom"), "{e}");

        let e = interpret(503, b"upstream connect error\n", None).unwrap_err();
        assert_eq!(e, "HTTP 503: upstream connect error");
        assert_eq!(interpret(502, b"", None).unwrap_err(), "HTTP 502");

        let e = interpret(200, b"<html>login</html>", None).unwrap_err();
        assert!(e.starts_with("not a Prometheus API answer"), "{e}");

        let matrix = r#"{"status":"success","data":{"resultType":"matrix","result":[{"metric":{},"values":[[1,"1"]]}]}}"#;
        let e = interpret(200, matrix.as_bytes(), None).unwrap_err();
        assert!(e.contains("range vector"), "{e}");
    }
}
