//! The `http` probe: the value is the response time in milliseconds, from sending the request to
//! the end of the body (at most [`web::MAX_PROBE_BODY`] of it is read). A status other than
//! `expect_status`, or a body without `expect_body`, is a failed sample with its reason.

use reqwest::Url;
use tokio::time::Instant;

use super::web::{self, WebError};
use super::{Probe, Reading};
use crate::target::BoxFuture;

pub struct HttpProbe {
    http: reqwest::Client,
    url: Url,
    expect_status: u16,
    expect_body: Option<String>,
}

impl HttpProbe {
    pub fn new(
        http: reqwest::Client,
        url: &str,
        expect_status: u16,
        expect_body: Option<String>,
    ) -> Result<HttpProbe, WebError> {
        Ok(HttpProbe {
            http,
            url: web::check_url(url)?,
            expect_status,
            expect_body,
        })
    }

    async fn probe(&self) -> Reading {
        let started = Instant::now();
        let resp = self
            .http
            .get(self.url.clone())
            .send()
            .await
            .map_err(|e| web::describe(&e))?;
        let status = resp.status().as_u16();
        let (body, cut) = web::read_head(resp, web::MAX_PROBE_BODY).await?;
        let ms = started.elapsed().as_secs_f64() * 1000.0;
        if status != self.expect_status {
            let hint = web::body_hint(&body);
            let hint = if hint.is_empty() {
                String::new()
            } else {
                format!(": {hint}")
            };
            return Err(format!(
                "status {status}, expected {} ({ms:.0} ms){hint}",
                self.expect_status
            ));
        }
        if let Some(want) = &self.expect_body
            && !contains(&body, want.as_bytes())
        {
            let read = if cut {
                format!("first {}", web::human_bytes(web::MAX_PROBE_BODY))
            } else {
                format!("{} bytes", body.len())
            };
            return Err(format!(
                "body ({read}) does not contain {want:?} ({ms:.0} ms)"
            ));
        }
        Ok(ms)
    }
}

fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    needle.is_empty() || haystack.windows(needle.len()).any(|w| w == needle)
}

impl Probe for HttpProbe {
    fn poll(&self) -> BoxFuture<'_, Reading> {
        Box::pin(self.probe())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn substring_search() {
        assert!(contains(b"status: ok\n", b"ok"));
        assert!(!contains(b"status: degraded", b"ok\n"));
        assert!(contains(b"", b""));
        assert!(!contains(b"o", b"ok"));
    }
}
