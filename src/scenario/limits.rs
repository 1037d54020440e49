//! Bounds on every duration and number a scenario may hold, and the checks that apply them.
//!
//! Each bound is documented in the "Limits" table of docs/scenario-format.md. They exist so that
//! nothing downstream has to cope with absurd values: deadlines are `Instant + Duration` in the
//! engine and `$(date +%s) + N` on hosts, and a value that overflows there either panics the
//! console or arms a lease that never fires.

use std::time::Duration;

use serde_saphyr::{Location, Spanned};

use super::Validator;
use super::duration::HumanDuration;
use crate::fmt;

const HOUR: Duration = Duration::from_secs(3600);

/// `max_duration`: a game day is a supervised exercise; a week is already far past one.
pub const MAX_RUN: Duration = Duration::from_secs(7 * 24 * 3600);
/// Metric `every:` floor: faster polling only loads the source and the journal.
pub const MIN_EVERY: Duration = Duration::from_millis(100);
/// Metric `every:` ceiling: a metric sampled less often cannot guard a run.
pub const MAX_EVERY: Duration = HOUR;
/// Metric `timeout:` floor: below this a healthy source times out.
pub const MIN_METRIC_TIMEOUT: Duration = Duration::from_millis(100);
/// Metric `timeout:` ceiling: a hung poll becomes "no data" only when its timeout ends, so a long
/// timeout blinds the abort rules for that long.
pub const MAX_METRIC_TIMEOUT: Duration = Duration::from_secs(5 * 60);
/// Abort rule `for:` ceiling (it is also capped at `max_duration`, past which it could never trip).
pub const MAX_SUSTAINED: Duration = Duration::from_secs(24 * 3600);
/// Fault `timeout:` floor: starting a shell (over SSH: a channel) takes about this long.
pub const MIN_COMMAND_TIMEOUT: Duration = Duration::from_millis(100);
/// Fault `timeout:` ceiling: a rollback runs the undo and the verify up to 3 times each, so a halt
/// can wait six timeouts on one fault.
pub const MAX_COMMAND_TIMEOUT: Duration = Duration::from_secs(10 * 60);
/// Lease floor: the console renews every third of the lease and must get there in time.
pub const MIN_LEASE: Duration = Duration::from_secs(5);
/// Lease ceiling: how long an unattended fault may stay on a host after the console is gone.
pub const MAX_LEASE: Duration = Duration::from_secs(24 * 3600);
/// `latency` delay: netem takes more, but no service under test survives a minute per packet.
pub const MIN_DELAY: Duration = Duration::from_millis(1);
pub const MAX_DELAY: Duration = Duration::from_secs(60);
/// stress-ng's own `--timeout` (`duration:` of cpu and memory): a backstop behind the lease.
pub const MIN_STRESS: Duration = Duration::from_secs(1);
pub const MAX_STRESS: Duration = Duration::from_secs(24 * 3600);
/// `recovery_watch:` ceiling (it is also capped at `max_duration`): sampling after a halt shows
/// whether the system came back; past an hour no one is still watching.
pub const MAX_RECOVERY_WATCH: Duration = HOUR;
/// How far one press of postpone moves an agenda item (`gameday day`'s agenda screen).
pub const POSTPONE_STEP: Duration = Duration::from_secs(5 * 60);
/// The most one agenda item may be postponed in all.
pub const MAX_POSTPONE: Duration = Duration::from_secs(4 * 3600);
/// Success criteria per step.
pub const MAX_CRITERIA: usize = 32;
/// Characters of a criterion's `check:`, `name:` or `by:`.
pub const MAX_CRITERION_TEXT: usize = 500;
/// People per role (`observers: [...]`).
pub const MAX_PEOPLE: usize = 64;
/// `workers:` of cpu.
pub const MAX_WORKERS: u32 = 1024;
/// `size:` / `keep_free:` (1 PiB): keeps every size well inside the shell's signed 64-bit arithmetic.
pub const MAX_SIZE: u64 = 1 << 50;
/// `select: { count }` and `blast_radius: { max_hosts }`: far above any fleet one console drives.
pub const MAX_SELECT_HOSTS: u32 = 100_000;
/// Entries of `select: { tags }` and of `select: { exclude }`.
pub const MAX_SELECT_TAGS: usize = 32;
pub const MAX_SELECT_EXCLUDE: usize = 10_000;
/// Sizes of a step's `expand:` (rounds): each round runs the whole step again.
pub const MAX_EXPAND_ROUNDS: usize = 10;
/// `expect_status:` of an http metric: the HTTP status range.
/// Hosts one inventory file may hold (ranges expanded): far past any fleet one console drives.
pub const MAX_INVENTORY_HOSTS: usize = 100_000;
/// An inventory file's size: a static inventory of the host limit fits well within it.
pub const MAX_INVENTORY_BYTES: u64 = 64 << 20;
/// Chaos Toolkit: the longest pause (`pauses: {before, after}`) an activity may ask for.
pub const CTK_MAX_PAUSE: Duration = HOUR;
/// Chaos Toolkit: the time limit of an activity whose provider sets none (chaostoolkit has none:
/// gameday never waits without a bound).
pub const CTK_DEFAULT_TIMEOUT: Duration = Duration::from_secs(60);
/// Chaos Toolkit: added to the sum of pauses and timeouts for the run's default max duration.
pub const CTK_MARGIN: Duration = Duration::from_secs(30);
/// Chaos Toolkit: activities in one experiment (hypothesis probes, method, rollbacks).
pub const CTK_MAX_ACTIVITIES: usize = 1000;
pub const STATUS_RANGE: std::ops::RangeInclusive<u16> = 100..=599;

/// Query parameter names that carry credentials (compared lowercased, `-` read as `_`).
const SECRET_PARAMS: &[&str] = &[
    "token",
    "access_token",
    "api_key",
    "apikey",
    "key",
    "secret",
    "password",
    "passwd",
    "auth",
    "signature",
    "sig",
];
/// Suffixes that make a parameter name a credential too (`client_secret`, `X-Amz-Signature`).
const SECRET_SUFFIXES: &[&str] = &[
    "_token",
    "_secret",
    "_password",
    "_passwd",
    "_apikey",
    "_api_key",
    "_signature",
];

impl Validator {
    /// Reports `what` at its location unless `min <= d <= max` (`min` zero means "more than 0s"
    /// when `zero_ok` is false). Returns whether it is within.
    pub(super) fn duration_within(
        &mut self,
        what: &str,
        d: &Spanned<HumanDuration>,
        min: Duration,
        max: Duration,
        zero_ok: bool,
    ) -> bool {
        let v = d.value.0;
        let ok = v >= min && v <= max && (zero_ok || !v.is_zero());
        if !ok {
            let range = if min.is_zero() && zero_ok {
                format!("at most {}", fmt::duration(max))
            } else if min.is_zero() {
                format!("more than 0s and at most {}", fmt::duration(max))
            } else {
                format!("from {} to {}", fmt::duration(min), fmt::duration(max))
            };
            self.err(
                &d.referenced,
                format!(
                    "{what} must be {range}, got {} (see Limits in docs/scenario-format.md)",
                    fmt::duration(v)
                ),
            );
        }
        ok
    }

    /// Refuses a metric URL that carries credentials: the scenario is copied into the journal and
    /// the report, so a secret in it would end up there.
    pub(super) fn url_without_secrets(&mut self, what: &str, url: &str, at: &Location) -> bool {
        match url_secret(url) {
            None => true,
            Some(found) => {
                self.err(
                    at,
                    format!(
                        "{what} carries credentials ({found}); the scenario is copied into the journal and the report, so name an environment variable with `bearer_token_env` / `basic_auth_env` on the scenario's `prometheus:` server instead (scrape and http sources take no credentials)"
                    ),
                );
                false
            }
        }
    }
}

/// What in `url` looks like a credential: userinfo, or a query parameter named like one.
/// Only the names are returned, never the values.
pub fn url_secret(url: &str) -> Option<String> {
    let parsed = reqwest::Url::parse(url).ok()?;
    if !parsed.username().is_empty() || parsed.password().is_some() {
        return Some("user:password@ in the address".into());
    }
    let names: Vec<String> = parsed
        .query_pairs()
        .map(|(k, _)| k.into_owned())
        .filter(|k| is_secret_param(k))
        .collect();
    (!names.is_empty()).then(|| format!("query parameter `{}`", names.join("`, `")))
}

fn is_secret_param(name: &str) -> bool {
    let n = name.trim().to_ascii_lowercase().replace('-', "_");
    SECRET_PARAMS.contains(&n.as_str()) || SECRET_SUFFIXES.iter().any(|s| n.ends_with(s))
}

/// The seat socket (`gameday join`): longest request or reply line, in bytes.
pub const MAX_SEAT_LINE: usize = 16 * 1024;
/// Longest note, edit or halt reason a seat may send, in characters.
pub const MAX_SEAT_TEXT: usize = 2000;
/// Longest role or name a seat gives in its hello, in characters.
pub const MAX_SEAT_NAME: usize = 64;
/// Most seats connected to one run at once; more are refused.
pub const MAX_SEATS: usize = 32;
/// Refused connections journaled per run (the rest are only logged), so a flood cannot fill the
/// journal.
pub const MAX_SEAT_REFUSALS_JOURNALED: u32 = 16;
/// How long a connection has to say hello.
pub const SEAT_HELLO_TIMEOUT: Duration = Duration::from_secs(10);
/// How long a reply may wait for the seat to read it; a seat that cannot keep up is dropped.
pub const SEAT_WRITE_TIMEOUT: Duration = Duration::from_secs(5);

#[cfg(test)]
mod unit {
    use super::*;

    #[test]
    fn secrets_in_urls() {
        for bad in [
            "http://user:pw@prom:9090",
            "https://user@prom:9090/",
            "http://prom/metrics?token=abc",
            "http://prom/metrics?a=1&Access_Token=abc",
            "http://prom/metrics?API-KEY=abc",
            "http://prom/metrics?apikey=abc",
            "http://prom/metrics?key=abc",
            "http://prom/metrics?SECRET=abc",
            "http://prom/metrics?password=abc",
            "http://prom/metrics?passwd=abc",
            "http://prom/metrics?auth=abc",
            "http://prom/metrics?signature=abc",
            "http://prom/metrics?sig=abc",
            "http://prom/metrics?client_secret=abc",
            "http://prom/metrics?X-Amz-Signature=abc",
            "http://prom/metrics?%74oken=abc",
        ] {
            assert!(url_secret(bad).is_some(), "{bad} should be refused");
        }
        for good in [
            "http://prom:9090",
            "http://127.0.0.1:9100/metrics?name[]=up&format=text",
            "http://shop/health?monkey=1&keys=2",
            "http://shop/health#token=x",
        ] {
            assert_eq!(url_secret(good), None, "{good} is fine");
        }
        let found = url_secret("http://a:hunter2@prom/?token=s3cr3t").unwrap();
        assert!(!found.contains("hunter2") && !found.contains("s3cr3t"));
    }
}
