//! Bounds how old a sample a PromQL instant query may answer with.
//!
//! Prometheus answers an instant vector selector with each series' last sample up to its lookback
//! (5 minutes by default), so a series nobody scrapes any more still looks healthy for minutes.
//! The `lookback_delta` query parameter that would shorten it exists only from Prometheus 2.43 on
//! (older servers ignore it silently), so the query itself is rewritten: every instant selector
//! `x` becomes `(x and last_over_time(x[W]))`, which keeps `x` as it is (name, labels, sample
//! timestamp) but only for series with a sample in the last `W`. `timestamp(x)` becomes
//! `(timestamp(x) and last_over_time(x[W]))`, since `timestamp` reads sample times only from a bare
//! selector. Range selectors (`x[5m]`) already bound their samples and are left alone.
//!
//! The lexer is small: it knows strings, comments, label matchers, brackets, modifiers and the
//! keywords that take label lists; it does not validate. A query it cannot read is sent unchanged
//! and the server reports the error.

/// One lexed token's kind and, for brackets, whether it is a subquery (`[5m:1m]`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Ident,
    Str,
    Num,
    Open,
    Close,
    /// A whole `{…}` label matcher list.
    Braces,
    /// A whole `[…]`; `true` for a subquery range.
    Bracket(bool),
    At,
    Other,
}

#[derive(Debug, Clone, Copy)]
struct Token {
    kind: Kind,
    start: usize,
    end: usize,
}

/// Keywords followed by a label list in parentheses, never by an expression.
const LABEL_LIST: [&str; 6] = [
    "by",
    "without",
    "on",
    "ignoring",
    "group_left",
    "group_right",
];
/// Words that are never a metric name where they stand.
const KEYWORDS: [&str; 8] = [
    "bool", "and", "or", "unless", "offset", "atan2", "inf", "nan",
];
/// Aggregation operators, which may take `by (…)` / `without (…)` before their parentheses.
const AGGREGATIONS: [&str; 14] = [
    "sum",
    "min",
    "max",
    "avg",
    "group",
    "stddev",
    "stdvar",
    "count",
    "count_values",
    "bottomk",
    "topk",
    "quantile",
    "limitk",
    "limit_ratio",
];

fn lex(q: &str) -> Option<Vec<Token>> {
    let b = q.as_bytes();
    let mut out = Vec::new();
    let mut i = 0;
    let name_start = |c: u8| c.is_ascii_alphabetic() || c == b'_' || c == b':';
    let name_char = |c: u8| c.is_ascii_alphanumeric() || c == b'_' || c == b':';
    while i < b.len() {
        let c = b[i];
        let start = i;
        let kind = match c {
            b' ' | b'\t' | b'\r' | b'\n' => {
                i += 1;
                continue;
            }
            b'#' => {
                while i < b.len() && b[i] != b'\n' {
                    i += 1;
                }
                continue;
            }
            b'"' | b'\'' | b'`' => {
                i = skip_string(b, i)?;
                Kind::Str
            }
            b'{' => {
                i += 1;
                loop {
                    match b.get(i)? {
                        b'}' => break,
                        b'"' | b'\'' | b'`' => i = skip_string(b, i)?,
                        _ => i += 1,
                    }
                }
                i += 1;
                Kind::Braces
            }
            b'[' => {
                let close = q[i..].find(']')? + i;
                let subquery = q[i..close].contains(':');
                i = close + 1;
                Kind::Bracket(subquery)
            }
            b'(' => {
                i += 1;
                Kind::Open
            }
            b')' => {
                i += 1;
                Kind::Close
            }
            b'@' => {
                i += 1;
                Kind::At
            }
            c if c.is_ascii_digit()
                || (c == b'.' && b.get(i + 1).is_some_and(u8::is_ascii_digit)) =>
            {
                while i < b.len() && (b[i].is_ascii_alphanumeric() || b[i] == b'.' || b[i] == b'_')
                {
                    i += 1;
                }
                Kind::Num
            }
            c if name_start(c) => {
                while i < b.len() && name_char(b[i]) {
                    i += 1;
                }
                Kind::Ident
            }
            _ => {
                // One character of an operator; UTF-8 continuation bytes ride along.
                i += 1;
                while i < b.len() && !q.is_char_boundary(i) {
                    i += 1;
                }
                Kind::Other
            }
        };
        out.push(Token {
            kind,
            start,
            end: i,
        });
    }
    Some(out)
}

/// The index just past the string starting at `i`, or `None` if it never ends.
fn skip_string(b: &[u8], i: usize) -> Option<usize> {
    let quote = b[i];
    let mut j = i + 1;
    while j < b.len() {
        if b[j] == b'\\' && quote != b'`' {
            j += 2;
            continue;
        }
        if b[j] == quote {
            return Some(j + 1);
        }
        j += 1;
    }
    None
}

/// `query` with every instant selector limited to samples at most `window` old (a PromQL
/// duration such as `2000ms`). See the module documentation.
pub fn bound_lookback(query: &str, window: &str) -> String {
    let Some(toks) = lex(query) else {
        return query.to_string();
    };
    let word = |t: &Token| query[t.start..t.end].to_ascii_lowercase();
    let kind = |j: usize| toks.get(j).map(|t| t.kind);
    let mut out = String::with_capacity(query.len() * 2);
    let mut copied = 0;
    let mut i = 0;
    while i < toks.len() {
        let t = toks[i];
        let first = i;
        let sel_end = match t.kind {
            Kind::Braces => t.end,
            Kind::Ident => {
                let w = word(&t);
                if LABEL_LIST.contains(&w.as_str()) {
                    i += 1;
                    if kind(i) == Some(Kind::Open) {
                        while i < toks.len() && toks[i].kind != Kind::Close {
                            i += 1;
                        }
                        i += 1;
                    }
                    continue;
                }
                let next_is_label_list = toks.get(i + 1).is_some_and(|n| {
                    n.kind == Kind::Ident && matches!(word(n).as_str(), "by" | "without")
                });
                if KEYWORDS.contains(&w.as_str())
                    || kind(i + 1) == Some(Kind::Open)
                    || (AGGREGATIONS.contains(&w.as_str()) && next_is_label_list)
                {
                    i += 1;
                    continue;
                }
                if kind(i + 1) == Some(Kind::Braces) {
                    i += 1;
                    toks[i].end
                } else {
                    t.end
                }
            }
            _ => {
                i += 1;
                continue;
            }
        };
        let sel_start = t.start;
        let mut j = i + 1;
        if kind(j) == Some(Kind::Bracket(false)) {
            // A range selector: its own range bounds it.
            i = j + 1;
            continue;
        }
        // Modifiers: `offset [-]d`, `@ t`, `@ start()`, `@ end()`, in either order.
        let mut mods_end = sel_end;
        loop {
            let sign = |j: usize| {
                toks.get(j).is_some_and(|s| {
                    s.kind == Kind::Other && matches!(&query[s.start..s.end], "-" | "+")
                })
            };
            let is_offset = toks
                .get(j)
                .is_some_and(|m| m.kind == Kind::Ident && word(m) == "offset");
            if is_offset || kind(j) == Some(Kind::At) {
                let mut k = j + 1;
                if sign(k) {
                    k += 1;
                }
                match kind(k) {
                    Some(Kind::Num) => k += 1,
                    Some(Kind::Ident)
                        if kind(k + 1) == Some(Kind::Open) && kind(k + 2) == Some(Kind::Close) =>
                    {
                        k += 3
                    }
                    _ => break,
                }
                mods_end = toks[k - 1].end;
                j = k;
            } else {
                break;
            }
        }
        let sel = &query[sel_start..sel_end];
        let mods = &query[sel_end..mods_end];
        let fresh = format!("last_over_time({sel}[{window}]{mods})");
        // `timestamp(x)` reads sample times only from a bare selector: bound it from outside.
        let in_timestamp = first >= 2
            && toks[first - 1].kind == Kind::Open
            && toks[first - 2].kind == Kind::Ident
            && word(&toks[first - 2]) == "timestamp"
            && kind(j) == Some(Kind::Close);
        let (from, to, with) = if in_timestamp {
            let call_start = toks[first - 2].start;
            let call = &query[call_start..toks[j].end];
            (call_start, toks[j].end, format!("({call} and {fresh})"))
        } else {
            (sel_start, mods_end, format!("({sel}{mods} and {fresh})"))
        };
        out.push_str(&query[copied..from]);
        out.push_str(&with);
        copied = to;
        i = if in_timestamp { j + 1 } else { j };
    }
    out.push_str(&query[copied..]);
    out
}

/// A window as a PromQL duration, in whole milliseconds (at least 1 ms).
pub fn duration(d: std::time::Duration) -> String {
    format!("{}ms", d.as_millis().max(1))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn b(q: &str) -> String {
        bound_lookback(q, "2s")
    }

    #[test]
    fn instant_selectors_are_bounded() {
        assert_eq!(b("up"), "(up and last_over_time(up[2s]))");
        assert_eq!(
            b(r#"max(demo{job="a}b"}) > 0.5"#),
            r#"max((demo{job="a}b"} and last_over_time(demo{job="a}b"}[2s]))) > 0.5"#
        );
        assert_eq!(
            b(r#"{__name__="up"}"#),
            r#"({__name__="up"} and last_over_time({__name__="up"}[2s]))"#
        );
        assert_eq!(
            b("job:errors:ratio5m"),
            "(job:errors:ratio5m and last_over_time(job:errors:ratio5m[2s]))"
        );
    }

    #[test]
    fn range_selectors_and_non_selectors_are_left_alone() {
        for q in [
            "sum(rate(x[5m]))",
            "histogram_quantile(0.99, sum by (le, job) (rate(h_bucket[1m])))",
            "rate(x[5m] offset 1m)",
            "vector(1)",
            "time()",
            r#"count_values("up", vector(1))"#,
            "1 + 2",
            "-1e-3",
            "Inf",
        ] {
            assert_eq!(b(q), q);
        }
    }

    #[test]
    fn label_lists_and_keywords_are_not_selectors() {
        assert_eq!(
            b("sum by (code, job) (x)"),
            "sum by (code, job) ((x and last_over_time(x[2s])))"
        );
        assert_eq!(
            b("sum(x) without (pod)"),
            "sum((x and last_over_time(x[2s]))) without (pod)"
        );
        assert_eq!(
            b("a > bool on(job) group_left(team) b unless c"),
            "(a and last_over_time(a[2s])) > bool on(job) group_left(team) (b and last_over_time(b[2s])) unless (c and last_over_time(c[2s]))"
        );
        assert_eq!(
            b(r#"label_replace(up, "x", "$1", "job", "(.*)")"#),
            r#"label_replace((up and last_over_time(up[2s])), "x", "$1", "job", "(.*)")"#
        );
    }

    #[test]
    fn modifiers_move_with_the_selector() {
        assert_eq!(
            b("x offset -5m"),
            "(x offset -5m and last_over_time(x[2s] offset -5m))"
        );
        assert_eq!(
            b("x @ end() offset 1h"),
            "(x @ end() offset 1h and last_over_time(x[2s] @ end() offset 1h))"
        );
        assert_eq!(
            b("max_over_time(x[10m:1m])"),
            "max_over_time((x and last_over_time(x[2s]))[10m:1m])"
        );
    }

    #[test]
    fn timestamp_keeps_sample_times() {
        assert_eq!(
            b("time() - timestamp(backup_done)"),
            "time() - (timestamp(backup_done) and last_over_time(backup_done[2s]))"
        );
        assert_eq!(
            b("timestamp(x offset 1m)"),
            "(timestamp(x offset 1m) and last_over_time(x[2s] offset 1m))"
        );
    }

    #[test]
    fn comments_and_unreadable_queries() {
        assert_eq!(
            b("up # the targets\n+ 1"),
            "(up and last_over_time(up[2s])) # the targets\n+ 1"
        );
        assert_eq!(b("# only up\n"), "# only up\n");
        assert_eq!(b(r#"up{job="unterminated"#), r#"up{job="unterminated"#);
        assert_eq!(b("x[5m"), "x[5m");
    }

    #[test]
    fn durations_are_milliseconds() {
        assert_eq!(duration(std::time::Duration::from_secs(2)), "2000ms");
        assert_eq!(duration(std::time::Duration::ZERO), "1ms");
    }
}
