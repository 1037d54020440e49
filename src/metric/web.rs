//! The HTTP side shared by the `prometheus`, `scrape` and `http` sources: one pooled client, auth
//! read from environment variables, and response bodies read with a size cap so that a body that
//! never ends becomes "no data" instead of unbounded memory.

use std::fmt;
use std::time::Duration;

use reqwest::header::HeaderValue;

/// Largest Prometheus or /metrics response read; more than this is no data.
pub const MAX_BODY: usize = 8 * 1024 * 1024;
/// How much of an `http` probe's body is kept to look for `expect_body`.
pub const MAX_PROBE_BODY: usize = 1024 * 1024;

#[derive(Debug, thiserror::Error)]
pub enum WebError {
    #[error("cannot build the HTTP client: {0}")]
    Client(String),
    #[error(
        "environment variable `{var}` (named by `{field}`) is not set: export it before the run, the scenario file only names it"
    )]
    MissingEnv { var: String, field: &'static str },
    #[error(
        "environment variable `{var}` (named by `{field}`) must hold `user:password`; its value is not shown"
    )]
    BadBasicAuth { var: String, field: &'static str },
    #[error(
        "environment variable `{var}` (named by `{field}`) holds characters that cannot go in an HTTP header; its value is not shown"
    )]
    BadHeader { var: String, field: &'static str },
    #[error(
        "url `{0}` carries credentials: name an environment variable with `basic_auth_env` instead"
    )]
    CredentialsInUrl(String),
    #[error("{0}")]
    BadSeries(String),
    #[error("url `{url}` is not a valid http(s) URL: {why}")]
    BadUrl { url: String, why: String },
}

/// Builds the one client every HTTP source of a run shares (connections are pooled per host).
///
/// - TLS is rustls with the ring provider: the only crypto provider in the build.
/// - No proxies, not even from `HTTP_PROXY`: a game day talks to the hosts it names, nothing else.
/// - No redirects: an `http` probe reports the status it got, and a query is not sent elsewhere.
pub fn client() -> Result<reqwest::Client, WebError> {
    build(builder())
}

/// [`client`] that accepts any server certificate: only for a Chaos Toolkit http activity that
/// says `verify_tls: false` (a self-signed test endpoint), never for a metric source.
pub fn client_accepting_any_certificate() -> Result<reqwest::Client, WebError> {
    build(builder().danger_accept_invalid_certs(true))
}

/// The settings every client shares (see [`client`]).
fn builder() -> reqwest::ClientBuilder {
    // Err means a provider is already installed for the process; with one provider in the build,
    // that is ring too.
    let _ = rustls::crypto::ring::default_provider().install_default();
    reqwest::Client::builder()
        .no_proxy()
        .redirect(reqwest::redirect::Policy::none())
        .connect_timeout(Duration::from_secs(10))
        .pool_idle_timeout(Duration::from_secs(90))
        .user_agent(concat!("gameday/", env!("CARGO_PKG_VERSION")))
}

fn build(b: reqwest::ClientBuilder) -> Result<reqwest::Client, WebError> {
    b.build().map_err(|e| WebError::Client(e.to_string()))
}

/// Checks a URL once, when probes are built, so each poll does not have to.
pub fn check_url(url: &str) -> Result<reqwest::Url, WebError> {
    let parsed = reqwest::Url::parse(url).map_err(|e| WebError::BadUrl {
        url: url.to_string(),
        why: e.to_string(),
    })?;
    if !parsed.username().is_empty() || parsed.password().is_some() {
        // The URL would then be in the journal (RunStarted carries the scenario) and in errors.
        return Err(WebError::CredentialsInUrl(redact_url(&parsed)));
    }
    if !matches!(parsed.scheme(), "http" | "https") {
        return Err(WebError::BadUrl {
            url: url.to_string(),
            why: "the scheme must be http or https".into(),
        });
    }
    Ok(parsed)
}

fn redact_url(u: &reqwest::Url) -> String {
    let mut u = u.clone();
    let _ = u.set_username("");
    let _ = u.set_password(None);
    u.to_string()
}

/// What replaces a credential in any text a probe returns.
pub const REDACTED: &str = "[REDACTED]";

/// Hides credentials in text a server or proxy may echo back (errors, bodies). Knows each value in
/// every form it may come back in: as is, and escaped inside a JSON string (Go also escapes `<`,
/// `>`, `&`).
#[derive(Clone, Default)]
pub struct Redactor {
    /// Longest first, so a value that contains another is hidden whole.
    secrets: Vec<String>,
}

impl fmt::Debug for Redactor {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Redactor({} values hidden)", self.secrets.len())
    }
}

impl Redactor {
    pub fn new(values: impl IntoIterator<Item = String>) -> Redactor {
        let mut secrets: Vec<String> = values.into_iter().flat_map(|v| echoed_forms(&v)).collect();
        secrets.sort_by(|a, b| b.len().cmp(&a.len()).then_with(|| a.cmp(b)));
        secrets.dedup();
        Redactor { secrets }
    }

    /// Every value hidden, in every form: what a journal-level redactor should hide too.
    pub fn values(&self) -> &[String] {
        &self.secrets
    }

    pub fn scrub(&self, text: &str) -> String {
        let mut out = text.to_string();
        for s in &self.secrets {
            if out.contains(s.as_str()) {
                out = out.replace(s.as_str(), REDACTED);
            }
        }
        out
    }

    /// As [`Redactor::scrub`], on a raw body, before anything cuts it short (a cut could leave a
    /// prefix of the value that no longer matches).
    pub fn scrub_bytes(&self, body: &[u8]) -> Vec<u8> {
        let mut out = body.to_vec();
        for s in &self.secrets {
            let needle = s.as_bytes();
            if !out.windows(needle.len()).any(|w| w == needle) {
                continue;
            }
            let mut next = Vec::with_capacity(out.len());
            let mut i = 0;
            while i < out.len() {
                if out[i..].starts_with(needle) {
                    next.extend_from_slice(REDACTED.as_bytes());
                    i += needle.len();
                } else {
                    next.push(out[i]);
                    i += 1;
                }
            }
            out = next;
        }
        out
    }
}

/// A value as it may come back: as is, JSON-escaped, and JSON-escaped the way Go's encoder does
/// it (`<`, `>`, `&` as `\u003c`, `\u003e`, `\u0026`). Empty values hide nothing and are dropped.
fn echoed_forms(value: &str) -> Vec<String> {
    if value.is_empty() {
        return vec![];
    }
    let mut forms = vec![value.to_string()];
    let json = serde_json::to_string(value).unwrap_or_default();
    let json = json
        .strip_prefix('"')
        .and_then(|j| j.strip_suffix('"'))
        .unwrap_or(value)
        .to_string();
    let go = json
        .replace('<', "\\u003c")
        .replace('>', "\\u003e")
        .replace('&', "\\u0026");
    for f in [json, go] {
        if !forms.contains(&f) {
            forms.push(f);
        }
    }
    forms
}

/// The values a credential read from `bearer_token_env` / `basic_auth_env` puts on the wire or
/// could be echoed as: the token; the `user:password` pair, its base64 form and the password alone.
/// Variables that are unset contribute nothing.
pub fn credential_values(
    bearer: Option<&str>,
    basic: Option<&str>,
    lookup: impl Fn(&str) -> Option<String>,
) -> Vec<String> {
    let mut out = Vec::new();
    if let Some(token) = bearer.and_then(&lookup) {
        out.push(token.trim().to_string());
    }
    if let Some(pair) = basic.and_then(&lookup) {
        let pair = pair.trim_end_matches('\n');
        out.push(pair.to_string());
        out.push(basic_b64::encode(pair));
        if let Some((_, password)) = pair.split_once(':') {
            out.push(password.to_string());
        }
    }
    out.retain(|v| !v.is_empty());
    out
}

/// An `Authorization` header built from an environment variable the scenario names.
/// The value is marked sensitive and never printed: `Debug` shows only the variable's name.
#[derive(Clone)]
pub struct Auth {
    var: String,
    header: HeaderValue,
    redactor: Redactor,
}

impl fmt::Debug for Auth {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Auth(from ${}, value hidden)", self.var)
    }
}

impl Auth {
    /// Reads the variables named by `bearer_token_env` / `basic_auth_env` (at most one is used;
    /// bearer wins). `None` when neither is named.
    pub fn from_env(bearer: Option<&str>, basic: Option<&str>) -> Result<Option<Auth>, WebError> {
        Auth::from_lookup(bearer, basic, |v| std::env::var(v).ok())
    }

    /// As [`Auth::from_env`], with the environment given (for tests).
    pub fn from_lookup(
        bearer: Option<&str>,
        basic: Option<&str>,
        lookup: impl Fn(&str) -> Option<String>,
    ) -> Result<Option<Auth>, WebError> {
        if let Some(var) = bearer {
            let field = "bearer_token_env";
            let token = lookup(var)
                .filter(|t| !t.trim().is_empty())
                .ok_or_else(|| WebError::MissingEnv {
                    var: var.into(),
                    field,
                })?;
            return Ok(Some(Auth {
                var: var.into(),
                header: sensitive(&format!("Bearer {}", token.trim()), var, field)?,
                redactor: Redactor::new(credential_values(Some(var), None, |_| {
                    Some(token.clone())
                })),
            }));
        }
        if let Some(var) = basic {
            let field = "basic_auth_env";
            let pair = lookup(var).ok_or_else(|| WebError::MissingEnv {
                var: var.into(),
                field,
            })?;
            if !pair.contains(':') {
                return Err(WebError::BadBasicAuth {
                    var: var.into(),
                    field,
                });
            }
            use basic_b64::encode;
            return Ok(Some(Auth {
                var: var.into(),
                header: sensitive(
                    &format!("Basic {}", encode(pair.trim_end_matches('\n'))),
                    var,
                    field,
                )?,
                redactor: Redactor::new(credential_values(None, Some(var), |_| Some(pair.clone()))),
            }));
        }
        Ok(None)
    }

    pub fn header(&self) -> HeaderValue {
        self.header.clone()
    }

    /// Hides this credential, in every form it may be echoed in.
    pub fn redactor(&self) -> &Redactor {
        &self.redactor
    }
}

fn sensitive(value: &str, var: &str, field: &'static str) -> Result<HeaderValue, WebError> {
    let mut h = HeaderValue::from_str(value).map_err(|_| WebError::BadHeader {
        var: var.into(),
        field,
    })?;
    h.set_sensitive(true);
    Ok(h)
}

/// Standard base64 (RFC 4648, padded) of a short string, for the Basic auth header: the
/// `data-encoding` crate russh already brings.
mod basic_b64 {
    pub fn encode(s: &str) -> String {
        data_encoding::BASE64.encode(s.as_bytes())
    }
}

/// Why a request gave nothing usable, in words for the sample's reason. Never includes the URL's
/// query (it is in the scenario already) nor any header.
pub fn describe(e: &reqwest::Error) -> String {
    let kind = if e.is_timeout() {
        "timed out"
    } else if e.is_connect() {
        "cannot connect"
    } else if e.is_body() || e.is_decode() {
        "response body broke off"
    } else if e.is_request() {
        "request failed"
    } else {
        "HTTP error"
    };
    // The innermost cause says the most (connection refused, reset by peer…).
    let mut detail = None;
    let mut cur = std::error::Error::source(e);
    while let Some(c) = cur {
        detail = Some(c.to_string());
        cur = c.source();
    }
    match detail {
        Some(d) if !d.is_empty() => format!("{kind}: {d}"),
        _ => kind.to_string(),
    }
}

/// Reads a response body, stopping with an error once it passes `cap` bytes.
pub async fn read_capped(mut resp: reqwest::Response, cap: usize) -> Result<Vec<u8>, String> {
    let mut body = Vec::new();
    while let Some(chunk) = resp.chunk().await.map_err(|e| describe(&e))? {
        if body.len() + chunk.len() > cap {
            return Err(format!(
                "response body larger than {} (cut off)",
                human_bytes(cap)
            ));
        }
        body.extend_from_slice(&chunk);
    }
    Ok(body)
}

/// Reads at most `cap` bytes of a body and stops there without error (`true` = cut short).
pub async fn read_head(mut resp: reqwest::Response, cap: usize) -> Result<(Vec<u8>, bool), String> {
    let mut body = Vec::new();
    while let Some(chunk) = resp.chunk().await.map_err(|e| describe(&e))? {
        let room = cap - body.len();
        if chunk.len() >= room {
            body.extend_from_slice(&chunk[..room]);
            return Ok((body, true));
        }
        body.extend_from_slice(&chunk);
    }
    Ok((body, false))
}

pub fn human_bytes(n: usize) -> String {
    if n >= 1024 * 1024 && n.is_multiple_of(1024 * 1024) {
        format!("{} MiB", n / (1024 * 1024))
    } else if n >= 1024 && n.is_multiple_of(1024) {
        format!("{} KiB", n / 1024)
    } else {
        format!("{n} bytes")
    }
}

/// The first line of a body, short, for reasons (`503: upstream down`).
pub fn body_hint(body: &[u8]) -> String {
    let text = String::from_utf8_lossy(body);
    let line = text
        .lines()
        .map(str::trim)
        .find(|l| !l.is_empty())
        .unwrap_or("");
    let mut s: String = line.chars().take(120).collect();
    if line.chars().count() > 120 {
        s.push('…');
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The build has no Unicode tables for host names (`idna_adapter` 1.0 in Cargo.lock): an
    /// internationalized name is written in its ASCII (punycode) form, as docs/scenario-format.md says.
    #[test]
    fn host_names_in_urls_are_ascii() {
        assert!(reqwest::Url::parse("http://xn--bcher-kva.example:9090/metrics").is_ok());
        assert!(reqwest::Url::parse("http://Prom.Example:9090/").is_ok());
        assert!(reqwest::Url::parse("http://bücher.example:9090/metrics").is_err());
    }

    #[test]
    fn base64_matches_rfc4648() {
        use basic_b64::encode;
        assert_eq!(encode(""), "");
        assert_eq!(encode("f"), "Zg==");
        assert_eq!(encode("fo"), "Zm8=");
        assert_eq!(encode("foo"), "Zm9v");
        assert_eq!(encode("foob"), "Zm9vYg==");
        assert_eq!(
            encode("Aladdin:open sesame"),
            "QWxhZGRpbjpvcGVuIHNlc2FtZQ=="
        );
    }

    #[test]
    fn auth_comes_from_the_named_variable_and_never_shows() {
        let env = |v: &str| (v == "PROM_TOKEN").then(|| "s3cr3t".to_string());
        let a = Auth::from_lookup(Some("PROM_TOKEN"), None, env)
            .unwrap()
            .unwrap();
        assert_eq!(a.header().to_str().unwrap(), "Bearer s3cr3t");
        assert!(a.header().is_sensitive());
        let shown = format!("{a:?}");
        assert!(
            shown.contains("PROM_TOKEN") && !shown.contains("s3cr3t"),
            "{shown}"
        );

        let err = Auth::from_lookup(Some("NOPE"), None, env)
            .unwrap_err()
            .to_string();
        assert!(err.contains("`NOPE`") && err.contains("not set"), "{err}");

        let basic = |_: &str| Some("Aladdin:open sesame".to_string());
        let a = Auth::from_lookup(None, Some("PROM_BASIC"), basic)
            .unwrap()
            .unwrap();
        assert_eq!(
            a.header().to_str().unwrap(),
            "Basic QWxhZGRpbjpvcGVuIHNlc2FtZQ=="
        );
        let bad = |_: &str| Some("no-colon-here".to_string());
        let err = Auth::from_lookup(None, Some("PROM_BASIC"), bad)
            .unwrap_err()
            .to_string();
        assert!(!err.contains("no-colon-here"), "{err}");
        assert!(Auth::from_lookup(None, None, env).unwrap().is_none());
    }

    #[test]
    fn the_redactor_hides_every_form_even_where_a_hint_cuts() {
        let r = Redactor::new(credential_values(Some("T"), None, |_| {
            Some("tok-<9f8e7d6c>".to_string())
        }));
        assert!(!format!("{r:?}").contains("tok"));
        assert_eq!(
            r.scrub(r#"a tok-<9f8e7d6c> b tok-\u003c9f8e7d6c\u003e c"#),
            "a [REDACTED] b [REDACTED] c"
        );
        // The token straddles the 120th character, where body_hint cuts: scrubbing first leaves
        // no prefix of it behind.
        let body = format!("{}Bearer tok-<9f8e7d6c> rejected", "x".repeat(110));
        let hint = body_hint(&r.scrub_bytes(body.as_bytes()));
        assert!(!hint.contains("tok-"), "{hint}");
        assert!(hint.ends_with("Bearer [RE…"), "{hint}");
        assert!(Redactor::new([String::new()]).values().is_empty());
    }

    #[test]
    fn urls_with_credentials_are_refused_without_echoing_them() {
        let err = check_url("http://bob:hunter2@127.0.0.1:9090")
            .unwrap_err()
            .to_string();
        assert!(
            !err.contains("hunter2") && err.contains("basic_auth_env"),
            "{err}"
        );
        assert!(check_url("http://127.0.0.1:9090/").is_ok());
        assert!(check_url("ftp://x").is_err());
    }
}
