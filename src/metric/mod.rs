//! Metrics: sources that produce a number (or a reason there is none), samplers that poll them on
//! their own tasks, and the trackers that turn samples into rule states.

pub mod http;
pub mod prometheus;
pub mod promql;
pub mod rule;
pub mod scrape;
pub mod web;

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::mpsc;
use tokio::task::JoinSet;
use tokio::time::{Instant, MissedTickBehavior};

use crate::scenario::{Metric, Scenario, Source};
use crate::target::{BoxFuture, Host, HostMap};

pub use rule::{RuleTracker, Transition};

/// One reading: a number, or why there is none.
pub type Reading = Result<f64, String>;

/// A metric source. `poll` must finish; the sampler still bounds it with the metric's timeout.
pub trait Probe: Send + Sync {
    fn poll(&self) -> BoxFuture<'_, Reading>;
}

/// The `command` source: the first number the command prints on stdout.
pub struct CommandProbe {
    pub host: Arc<dyn Host>,
    pub command: String,
    pub timeout: Duration,
}

impl Probe for CommandProbe {
    fn poll(&self) -> BoxFuture<'_, Reading> {
        Box::pin(async move {
            let out = self.host.exec(&self.command, self.timeout).await;
            if !out.success() {
                return Err(format!(
                    "`{}` on {}: {}",
                    self.command,
                    self.host.name(),
                    out.summary()
                ));
            }
            parse_number(&out.stdout)
        })
    }
}

/// The first whitespace-separated token of the output, as a number.
pub fn parse_number(text: &str) -> Reading {
    let token = text
        .split_whitespace()
        .next()
        .ok_or_else(|| "printed nothing".to_string())?;
    let v: f64 = token.parse().map_err(|_| {
        format!(
            "printed `{}`, not a number",
            token.chars().take(40).collect::<String>()
        )
    })?;
    if v.is_nan() {
        return Err("value is NaN".into());
    }
    if v.is_infinite() {
        // `inf`, `infinity` and `1e999` all parse; none is a measurement.
        return Err(format!("printed `{token}`: {v} is not a reading"));
    }
    Ok(v)
}

pub type ProbeMap = BTreeMap<String, Arc<dyn Probe>>;

#[derive(Debug, thiserror::Error)]
pub enum MetricError {
    #[error("metric `{metric}`: target `{target}` has no hosts")]
    NoHost { metric: String, target: String },
    #[error("metric `{metric}`: {source}")]
    Web {
        metric: String,
        #[source]
        source: web::WebError,
    },
}

/// Builds a probe for every metric of the scenario. Credentials named by the scenario are read
/// from the environment here, once, so a missing one stops the run before anything is touched.
pub fn probes(scenario: &Scenario, hosts: &HostMap) -> Result<ProbeMap, MetricError> {
    let mut map = ProbeMap::new();
    // One pooled client for every HTTP source; built only when some source needs it.
    let mut http: Option<reqwest::Client> = None;
    for (name, m) in &scenario.metrics {
        let web_err = |source| MetricError::Web {
            metric: name.clone(),
            source,
        };
        let mut client = || -> Result<reqwest::Client, MetricError> {
            if let Some(c) = &http {
                return Ok(c.clone());
            }
            let c = web::client().map_err(web_err)?;
            http = Some(c.clone());
            Ok(c)
        };
        let probe: Arc<dyn Probe> = match &m.source {
            Source::Command { command, target } => {
                let host = hosts.get(target).and_then(|h| h.first()).ok_or_else(|| {
                    MetricError::NoHost {
                        metric: name.clone(),
                        target: target.clone(),
                    }
                })?;
                Arc::new(CommandProbe {
                    host: host.clone(),
                    command: command.clone(),
                    timeout: m.timeout,
                })
            }
            Source::Prometheus {
                query,
                server,
                reduce,
                bearer_token_env,
                basic_auth_env,
            } => {
                let auth =
                    web::Auth::from_env(bearer_token_env.as_deref(), basic_auth_env.as_deref())
                        .map_err(web_err)?;
                Arc::new(
                    prometheus::PrometheusProbe::new(
                        client()?,
                        server,
                        query,
                        *reduce,
                        auth,
                        m.timeout,
                        m.every,
                    )
                    .map_err(web_err)?,
                )
            }
            Source::Scrape {
                url,
                series,
                rate,
                quantile,
            } => Arc::new(
                scrape::ScrapeProbe::new(client()?, url, series, *rate, *quantile, m.timeout)
                    .map_err(web_err)?,
            ),
            Source::Http {
                url,
                expect_status,
                expect_body,
            } => Arc::new(
                http::HttpProbe::new(client()?, url, *expect_status, expect_body.clone())
                    .map_err(web_err)?,
            ),
        };
        map.insert(name.clone(), probe);
    }
    Ok(map)
}

/// Every credential value the scenario's metric sources read from the environment, in every form
/// it may be echoed in (see [`web::Redactor`]): what a journal or console redactor should hide.
/// Variables that are unset contribute nothing. Values can be short (a password of a few
/// characters), so a redactor should replace them only in free text, not in numbers it parses.
pub fn secret_values(scenario: &Scenario) -> Vec<String> {
    secret_values_from(scenario, |v| std::env::var(v).ok())
}

/// As [`secret_values`], with the environment given (for tests).
pub fn secret_values_from(
    scenario: &Scenario,
    lookup: impl Fn(&str) -> Option<String>,
) -> Vec<String> {
    let mut values = Vec::new();
    for m in scenario.metrics.values() {
        if let Source::Prometheus {
            bearer_token_env,
            basic_auth_env,
            ..
        } = &m.source
        {
            values.extend(web::credential_values(
                bearer_token_env.as_deref(),
                basic_auth_env.as_deref(),
                &lookup,
            ));
        }
    }
    // Notification secrets: a webhook URL from `url_env`, tokens from `token_env`.
    for n in &scenario.notify {
        let vars: Vec<&String> = match &n.to {
            crate::scenario::NotifyTo::Webhook {
                url_env, token_env, ..
            } => url_env.iter().chain(token_env.iter()).collect(),
            crate::scenario::NotifyTo::Grafana { token_env, .. } => vec![token_env],
        };
        values.extend(vars.into_iter().filter_map(|v| lookup(v)));
    }
    web::Redactor::new(values).values().to_vec()
}

/// A sample as it arrives at the engine.
#[derive(Debug, Clone)]
pub struct Sample {
    pub metric: String,
    pub reading: Reading,
    pub at: Instant,
}

/// Polls once, bounded by `timeout`: a hung source becomes "no data", never a hang. A non-finite
/// number is no data too, whichever source gave it.
pub async fn poll_once(probe: &dyn Probe, timeout: Duration) -> Reading {
    match tokio::time::timeout(timeout, probe.poll()).await {
        Ok(Ok(v)) if !v.is_finite() => Err(format!("value is {v}, not a reading")),
        Ok(r) => r,
        Err(_) => Err(format!("timed out after {}", crate::fmt::duration(timeout))),
    }
}

/// Starts one sampler task per metric. Each runs on its own, so a slow source delays only itself.
/// Dropping the returned set stops them all.
pub fn spawn_samplers(
    metrics: &BTreeMap<String, Metric>,
    probes: &ProbeMap,
    tx: mpsc::Sender<Sample>,
) -> JoinSet<()> {
    let mut set = JoinSet::new();
    for (name, m) in metrics {
        let Some(probe) = probes.get(name).cloned() else {
            continue;
        };
        let (name, every, timeout, tx) = (name.clone(), m.every, m.timeout, tx.clone());
        set.spawn(async move {
            let mut tick = tokio::time::interval(every);
            tick.set_missed_tick_behavior(MissedTickBehavior::Delay);
            loop {
                tick.tick().await;
                let reading = poll_once(probe.as_ref(), timeout).await;
                let sample = Sample {
                    metric: name.clone(),
                    reading,
                    at: Instant::now(),
                };
                if tx.send(sample).await.is_err() {
                    return;
                }
            }
        });
    }
    set
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbers_are_read_fail_closed() {
        assert_eq!(parse_number("42\n"), Ok(42.0));
        assert_eq!(parse_number(" 3.5 ms"), Ok(3.5));
        assert!(parse_number("").is_err());
        assert!(parse_number("NaN").is_err());
        assert!(parse_number("error: nope").is_err());
    }

    #[test]
    fn infinity_is_not_a_number_read() {
        for bad in ["inf", "-inf", "+infinity", "Inf", "1e999", "-nan"] {
            assert!(
                parse_number(bad).is_err(),
                "{bad} read as {:?}",
                parse_number(bad)
            );
        }
    }

    struct Says(f64);
    impl Probe for Says {
        fn poll(&self) -> BoxFuture<'_, Reading> {
            let v = self.0;
            Box::pin(async move { Ok(v) })
        }
    }

    /// Whatever a source returns, a non-finite number never reaches a rule as a reading.
    #[tokio::test(start_paused = true)]
    async fn a_non_finite_reading_is_no_data() {
        for v in [f64::NAN, f64::INFINITY, f64::NEG_INFINITY] {
            let r = poll_once(&Says(v), Duration::from_secs(1)).await;
            assert!(r.is_err(), "{v} passed as {r:?}");
        }
        assert_eq!(poll_once(&Says(2.5), Duration::from_secs(1)).await, Ok(2.5));
    }

    struct Hangs;
    impl Probe for Hangs {
        fn poll(&self) -> BoxFuture<'_, Reading> {
            Box::pin(std::future::pending())
        }
    }

    #[tokio::test(start_paused = true)]
    async fn a_hung_source_is_no_data_after_its_timeout() {
        let r = poll_once(&Hangs, Duration::from_secs(2)).await;
        assert!(r.unwrap_err().contains("timed out after 2s"));
    }
}
