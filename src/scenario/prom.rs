//! The Prometheus syntax a scenario is validated against: series selectors (`name{label="v"}`, as
//! scrape metrics read them), the text-format lexer they share with exposition parsing
//! (`metric::scrape`), and the grouping check for PromQL queries. Here, below `metric`, so that
//! validation needs nothing from the layers above it.

/// A metric or label name character (`[a-zA-Z0-9_:]`).
pub(crate) fn is_name_char(c: char) -> bool {
    c.is_ascii_alphanumeric() || c == '_' || c == ':'
}

/// At most 40 characters of `s`, for error messages.
pub(crate) fn short(s: &str) -> String {
    s.chars().take(40).collect()
}

/// A label matcher's operator: `=` or `!=`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Op {
    Eq,
    Ne,
}

/// A cursor over one line of the text format (a selector or an exposition sample line).
pub(crate) struct Cursor<'a> {
    pub(crate) s: &'a str,
    pub(crate) at: usize,
}

impl Cursor<'_> {
    pub(crate) fn rest(&self) -> &str {
        &self.s[self.at..]
    }
    pub(crate) fn peek(&self) -> Option<char> {
        self.rest().chars().next()
    }
    pub(crate) fn bump(&mut self) -> Option<char> {
        let c = self.peek()?;
        self.at += c.len_utf8();
        Some(c)
    }
    pub(crate) fn skip_ws(&mut self) {
        while matches!(self.peek(), Some(' ' | '\t')) {
            self.at += 1;
        }
    }
    pub(crate) fn token(&mut self) -> &str {
        let start = self.at;
        while self.peek().is_some_and(|c| c != ' ' && c != '\t') {
            self.bump();
        }
        &self.s[start..self.at]
    }
    pub(crate) fn name(&mut self) -> Result<String, String> {
        let start = self.at;
        while self.peek().is_some_and(is_name_char) {
            self.at += 1;
        }
        let name = &self.s[start..self.at];
        if name.is_empty() || name.starts_with(|c: char| c.is_ascii_digit()) {
            return Err(format!(
                "expected a metric name at `{}`",
                short(&self.s[start..])
            ));
        }
        Ok(name.to_string())
    }
    /// `{a="1",b!="2",}`; `!=` only when `matchers` (selectors), never in expositions.
    pub(crate) fn labels(&mut self, matchers: bool) -> Result<Vec<(String, Op, String)>, String> {
        self.bump(); // `{`
        let mut out = Vec::new();
        loop {
            self.skip_ws();
            if self.peek() == Some('}') {
                self.bump();
                return Ok(out);
            }
            let key = self
                .name()
                .map_err(|_| format!("expected a label name at `{}`", short(self.rest())))?;
            self.skip_ws();
            let op = match (self.bump(), self.peek()) {
                (Some('='), Some('~')) | (Some('!'), Some('~')) if matchers => {
                    return Err(format!(
                        "label `{key}`: regex matchers (=~, !~) are not supported here; use = or !="
                    ));
                }
                (Some('='), _) => Op::Eq,
                (Some('!'), Some('=')) if matchers => {
                    self.bump();
                    Op::Ne
                }
                _ => return Err(format!("label `{key}`: expected `=`")),
            };
            self.skip_ws();
            if self.bump() != Some('"') {
                return Err(format!("label `{key}`: the value must be in double quotes"));
            }
            let mut value = String::new();
            loop {
                match self.bump() {
                    None => return Err(format!("label `{key}`: unterminated value")),
                    Some('"') => break,
                    Some('\\') => match self.bump() {
                        Some('n') => value.push('\n'),
                        Some('\\') => value.push('\\'),
                        Some('"') => value.push('"'),
                        Some(c) => {
                            // Unknown escapes are kept as written, as Prometheus does.
                            value.push('\\');
                            value.push(c);
                        }
                        None => return Err(format!("label `{key}`: unterminated value")),
                    },
                    Some(c) => value.push(c),
                }
            }
            out.push((key, op, value));
            self.skip_ws();
            match self.bump() {
                Some(',') => continue,
                Some('}') => return Ok(out),
                _ => return Err("expected `,` or `}` after a label".into()),
            }
        }
    }
}

/// `name{label="v",other!="x"}`: which series a scrape metric reads.
#[derive(Debug, Clone, PartialEq)]
pub struct Selector {
    pub name: String,
    pub matchers: Vec<(String, Op, String)>,
}

impl Selector {
    pub fn parse(text: &str) -> Result<Selector, String> {
        let text = text.trim();
        let mut cur = Cursor { s: text, at: 0 };
        let name = cur
            .name()
            .map_err(|_| format!("series `{text}` must start with a metric name"))?;
        let matchers = if cur.peek() == Some('{') {
            cur.labels(true)
                .map_err(|e| format!("series `{text}`: {e}"))?
        } else {
            Vec::new()
        };
        cur.skip_ws();
        if !cur.rest().is_empty() {
            return Err(format!(
                "series `{text}`: unexpected `{}` after the selector",
                short(cur.rest())
            ));
        }
        Ok(Selector { name, matchers })
    }

    /// Whether a line's labels satisfy every matcher (a missing label reads as "").
    pub fn matches_labels(&self, labels: &[(String, String)]) -> bool {
        self.matchers.iter().all(|(k, op, v)| {
            let have = labels
                .iter()
                .find(|(lk, _)| lk == k)
                .map(|(_, lv)| lv.as_str())
                .unwrap_or("");
            match op {
                Op::Eq => have == v,
                Op::Ne => have != v,
            }
        })
    }
}

/// Whether a query visibly keeps several series apart (`sum by (code) (…)`, `… without (pod)`),
/// so validation can ask for `reduce:` before the run. A query without grouping may still return
/// several series; that is caught at run time with a clear reason.
pub fn groups_series(query: &str) -> bool {
    let q = query.as_bytes();
    let word = |c: u8| c.is_ascii_alphanumeric() || c == b'_';
    let mut quote: Option<u8> = None;
    let mut i = 0;
    while i < q.len() {
        let c = q[i];
        if let Some(open) = quote {
            if c == b'\\' {
                i += 1;
            } else if c == open {
                quote = None;
            }
            i += 1;
            continue;
        }
        if matches!(c, b'"' | b'\'' | b'`') {
            quote = Some(c);
        } else if i == 0 || !word(q[i - 1]) {
            for kw in [&b"by"[..], &b"without"[..]] {
                let end = i + kw.len();
                if end <= q.len() && q[i..end].eq_ignore_ascii_case(kw) {
                    let rest = &query[end..];
                    let Some(list) = rest.trim_start().strip_prefix('(') else {
                        continue;
                    };
                    if kw == b"without" {
                        return true;
                    }
                    // `by ()` keeps one series, and `by (le)` feeds histogram_quantile, which
                    // consumes `le`: neither keeps series apart. Any other label does.
                    let labels = list.split(')').next().unwrap_or("");
                    if labels
                        .split(',')
                        .map(str::trim)
                        .any(|l| !l.is_empty() && l != "le")
                    {
                        return true;
                    }
                }
            }
        }
        i += 1;
    }
    false
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn grouping_heuristic_knows_histogram_quantile() {
        assert!(groups_series("sum by (code) (rate(x[1m]))"));
        assert!(groups_series("sum(rate(x[1m])) without (pod)"));
        assert!(groups_series(
            "histogram_quantile(0.99, sum by (le, job) (rate(h_bucket[1m])))"
        ));
        assert!(!groups_series(
            "histogram_quantile(0.99, sum by (le) (rate(h_bucket[1m])))"
        ));
        assert!(!groups_series("sum by () (up)"));
        assert!(!groups_series("sum(rate(x{by=\"by (a)\"}[1m]))"));
        assert!(!groups_series("rate(standby(x)[1m])"));
    }

    #[test]
    fn grouping_is_spotted_for_validation() {
        assert!(groups_series(
            "sum by (code) (rate(http_requests_total[1m]))"
        ));
        assert!(groups_series("sum(rate(x[1m])) BY(code)"));
        assert!(groups_series("max without (pod) (up)"));
        assert!(!groups_series("sum(rate(http_requests_total[1m]))"));
        assert!(!groups_series(r#"up{job="by"}"#));
        assert!(!groups_series("standby_replicas"));
    }

    #[test]
    fn selectors_parse_or_say_why() {
        let s = Selector::parse(r#" up{job="a", code!="500",} "#).unwrap();
        assert_eq!(s.name, "up");
        assert_eq!(
            s.matchers,
            vec![
                ("job".to_string(), Op::Eq, "a".to_string()),
                ("code".to_string(), Op::Ne, "500".to_string())
            ]
        );
        assert!(s.matches_labels(&[("job".into(), "a".into())]));
        assert!(!s.matches_labels(&[("job".into(), "a".into()), ("code".into(), "500".into())]));
        assert!(!s.matches_labels(&[]));
        for bad in [
            "",
            "9up",
            r#"up{job=~"a"}"#,
            r#"up{job="a""#,
            r#"up{job=a}"#,
            "up x",
        ] {
            assert!(Selector::parse(bad).is_err(), "{bad:?}");
        }
    }
}
