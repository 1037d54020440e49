//! `notify:` — where a run's moments are announced: Slack-compatible or generic JSON webhooks, and
//! Grafana annotations. Validated here; delivered by `crate::notify` (never blocking the engine).
//!
//! Secrets never sit in the scenario (it is copied into the journal): a webhook whose URL is a
//! secret (Slack's are) is named by `url_env`, a Grafana token by `token_env`.

use serde::{Deserialize, Serialize};
use serde_saphyr::Spanned;

use super::{Validator, is_http_url};

/// Most `notify:` entries in a scenario.
pub const MAX_NOTIFY: usize = 8;
/// Most tags on a Grafana entry, and the longest tag.
pub const MAX_TAGS: usize = 16;
pub const MAX_TAG_LEN: usize = 100;

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NotifySpec {
    #[serde(default)]
    pub webhook: Option<Spanned<String>>,
    /// The name of an environment variable holding the webhook's URL.
    #[serde(default)]
    pub url_env: Option<Spanned<String>>,
    #[serde(default)]
    pub format: Option<Spanned<String>>,
    #[serde(default)]
    pub grafana: Option<Spanned<String>>,
    #[serde(default)]
    pub token_env: Option<Spanned<String>>,
    #[serde(default)]
    pub dashboard_uid: Option<String>,
    #[serde(default)]
    pub tags: Vec<Spanned<String>>,
    #[serde(default)]
    pub on: Option<Spanned<Vec<Spanned<String>>>>,
}

/// One place a run is announced.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Notify {
    pub to: NotifyTo,
    /// Which moments are sent (default: all).
    pub on: Vec<NotifyOn>,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum NotifyTo {
    Webhook {
        /// The URL as written (not a secret), or none when it comes from `url_env`.
        url: Option<String>,
        url_env: Option<String>,
        format: WebhookFormat,
        /// A bearer token sent as `Authorization`, from this environment variable.
        token_env: Option<String>,
    },
    Grafana {
        url: String,
        token_env: String,
        dashboard_uid: Option<String>,
        tags: Vec<String>,
    },
}

#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum WebhookFormat {
    /// `{"text": "…"}`: Slack incoming webhooks and the many tools that take the same body.
    Slack,
    /// One JSON object per event: run, scenario, seq, ts, type, source, text.
    Json,
}

/// The moments a notification can be about.
#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq, Eq, PartialOrd, Ord)]
#[serde(rename_all = "snake_case")]
pub enum NotifyOn {
    /// The run started, and ended.
    Run,
    /// A step started.
    Step,
    /// A fault went in, and each rollback's result (Grafana: the fault's live window as a region).
    Fault,
    /// An abort rule began breaching.
    Breach,
    /// An abort rule tripped.
    Trip,
    /// A halt was requested.
    Halt,
    /// A step's result (its success criteria).
    StepResult,
    /// The verdict.
    Verdict,
}

impl NotifyOn {
    pub const ALL: [NotifyOn; 8] = [
        NotifyOn::Run,
        NotifyOn::Step,
        NotifyOn::Fault,
        NotifyOn::Breach,
        NotifyOn::Trip,
        NotifyOn::Halt,
        NotifyOn::StepResult,
        NotifyOn::Verdict,
    ];

    pub fn name(self) -> &'static str {
        match self {
            NotifyOn::Run => "run",
            NotifyOn::Step => "step",
            NotifyOn::Fault => "fault",
            NotifyOn::Breach => "breach",
            NotifyOn::Trip => "trip",
            NotifyOn::Halt => "halt",
            NotifyOn::StepResult => "step_result",
            NotifyOn::Verdict => "verdict",
        }
    }
}

impl Notify {
    /// How the journal and the console name this target: never a secret.
    pub fn label(&self) -> String {
        match &self.to {
            NotifyTo::Webhook {
                url: Some(u),
                format,
                ..
            } => format!("{} webhook {}", format_name(*format), host_of(u)),
            NotifyTo::Webhook {
                url_env, format, ..
            } => format!(
                "{} webhook ${}",
                format_name(*format),
                url_env.as_deref().unwrap_or("?")
            ),
            NotifyTo::Grafana { url, .. } => format!("grafana {}", host_of(url)),
        }
    }
}

fn format_name(f: WebhookFormat) -> &'static str {
    match f {
        WebhookFormat::Slack => "slack",
        WebhookFormat::Json => "json",
    }
}

/// `scheme://host[:port]` of a URL: its path may carry a token.
fn host_of(url: &str) -> String {
    match reqwest::Url::parse(url) {
        Ok(u) => format!(
            "{}://{}{}",
            u.scheme(),
            u.host_str().unwrap_or(""),
            u.port().map(|p| format!(":{p}")).unwrap_or_default()
        ),
        Err(_) => "(bad url)".into(),
    }
}

fn env_name_ok(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= 128
        && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
        && !name.starts_with(|c: char| c.is_ascii_digit())
}

impl Validator {
    pub(super) fn notify(&mut self, specs: &[Spanned<NotifySpec>]) -> Vec<Notify> {
        if let Some(extra) = specs.get(MAX_NOTIFY) {
            self.err(
                &extra.referenced,
                format!("at most {MAX_NOTIFY} notify entries, got {}", specs.len()),
            );
        }
        specs
            .iter()
            .take(MAX_NOTIFY)
            .filter_map(|s| self.notify_one(s))
            .collect()
    }

    fn env_name(&mut self, field: &str, v: &Spanned<String>) -> Option<String> {
        if env_name_ok(&v.value) {
            Some(v.value.clone())
        } else {
            self.err(
                &v.referenced,
                format!(
                    "notify: `{field}` names an environment variable (letters, digits, _), not a value: `{}`",
                    if v.value.len() > 40 { "…" } else { &v.value }
                ),
            );
            None
        }
    }

    fn http_url(&mut self, field: &str, v: &Spanned<String>) -> Option<String> {
        if !is_http_url(&v.value) || reqwest::Url::parse(&v.value).is_err() {
            self.err(
                &v.referenced,
                format!("notify: `{field}` must be an http:// or https:// URL"),
            );
            return None;
        }
        if !self.url_without_secrets(&format!("notify: `{field}`"), &v.value, &v.referenced) {
            return None;
        }
        Some(v.value.clone())
    }

    fn notify_one(&mut self, s: &Spanned<NotifySpec>) -> Option<Notify> {
        let at = &s.referenced;
        let spec = &s.value;
        let on = match &spec.on {
            None => NotifyOn::ALL.to_vec(),
            Some(list) => {
                if list.value.is_empty() {
                    self.err(
                        &list.referenced,
                        "notify: `on` lists nothing (leave it out for every moment)",
                    );
                }
                let mut on = Vec::new();
                for item in &list.value {
                    match NotifyOn::ALL.iter().find(|o| o.name() == item.value) {
                        Some(o) => on.push(*o),
                        None => self.err(
                            &item.referenced,
                            format!(
                                "notify: `on` takes {}; not `{}`",
                                NotifyOn::ALL.map(NotifyOn::name).join(", "),
                                item.value
                            ),
                        ),
                    }
                }
                on.sort();
                on.dedup();
                on
            }
        };
        let webhook = spec.webhook.is_some() || spec.url_env.is_some();
        match (webhook, &spec.grafana) {
            (true, Some(g)) => {
                self.err(
                    &g.referenced,
                    "notify: an entry is either a webhook (`webhook` / `url_env`) or `grafana`, not both",
                );
                None
            }
            (false, None) => {
                self.err(
                    at,
                    "notify: each entry needs `webhook: URL`, `url_env: VAR` (a secret URL) or `grafana: URL`",
                );
                None
            }
            (true, None) => {
                if let (Some(_), Some(e)) = (&spec.webhook, &spec.url_env) {
                    self.err(
                        &e.referenced,
                        "notify: `webhook` and `url_env` both give the URL: keep one",
                    );
                }
                if let Some(d) = &spec.dashboard_uid {
                    self.err(
                        at,
                        format!("notify: `dashboard_uid` ({d}) is for a `grafana` entry"),
                    );
                }
                if let Some(t) = spec.tags.first() {
                    self.err(&t.referenced, "notify: `tags` are for a `grafana` entry");
                }
                let url = match &spec.webhook {
                    Some(u) => Some(self.http_url("webhook", u)?),
                    None => None,
                };
                let url_env = match &spec.url_env {
                    Some(e) => Some(self.env_name("url_env", e)?),
                    None => None,
                };
                let token_env = match &spec.token_env {
                    Some(e) => Some(self.env_name("token_env", e)?),
                    None => None,
                };
                let format = match &spec.format {
                    None => WebhookFormat::Json,
                    Some(f) if f.value == "slack" => WebhookFormat::Slack,
                    Some(f) if f.value == "json" => WebhookFormat::Json,
                    Some(f) => {
                        self.err(
                            &f.referenced,
                            format!("notify: `format` is slack or json, not `{}`", f.value),
                        );
                        return None;
                    }
                };
                Some(Notify {
                    to: NotifyTo::Webhook {
                        url,
                        url_env,
                        format,
                        token_env,
                    },
                    on,
                })
            }
            (false, Some(g)) => {
                if let Some(f) = &spec.format {
                    self.err(&f.referenced, "notify: `format` is for a webhook entry");
                }
                let url = self.http_url("grafana", g)?;
                let Some(token) = &spec.token_env else {
                    self.err(
                        &g.referenced,
                        "notify: a `grafana` entry needs `token_env: VAR` (a service account token in that environment variable)",
                    );
                    return None;
                };
                let token_env = self.env_name("token_env", token)?;
                if let Some(t) = spec.tags.get(MAX_TAGS) {
                    self.err(&t.referenced, format!("notify: at most {MAX_TAGS} tags"));
                }
                for t in &spec.tags {
                    if t.value.is_empty() || t.value.chars().count() > MAX_TAG_LEN {
                        self.err(
                            &t.referenced,
                            format!("notify: a tag is 1 to {MAX_TAG_LEN} characters"),
                        );
                    }
                }
                Some(Notify {
                    to: NotifyTo::Grafana {
                        url,
                        token_env,
                        dashboard_uid: spec.dashboard_uid.clone(),
                        tags: spec.tags.iter().map(|t| t.value.clone()).collect(),
                    },
                    on,
                })
            }
        }
    }
}
