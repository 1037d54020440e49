//! The JSONPath subset of `jsonpath` tolerances, parsed at validation and evaluated at run time.

use serde_json::Value;

/// The JSONPath subset gameday evaluates: `$`, `.name`, `['name']` / `["name"]`, `[N]`, `[*]`,
/// `.*`. Filters, slices, unions and `..` are refused at validation.
#[derive(Debug, Clone, PartialEq)]
pub struct JsonPath(pub Vec<PathStep>);

#[derive(Debug, Clone, PartialEq)]
pub enum PathStep {
    Key(String),
    Index(i64),
    Wildcard,
}

impl JsonPath {
    pub fn parse(text: &str) -> Result<JsonPath, String> {
        let bad = |why: &str| {
            Err(format!(
                "JSONPath `{text}`: {why}; gameday supports `$`, `.name`, `['name']`, `[N]`, `[*]` and `.*` (docs/chaos-toolkit.md)"
            ))
        };
        let t = text.trim();
        let Some(mut rest) = t.strip_prefix('$') else {
            return bad("it must start with `$`");
        };
        let mut steps = Vec::new();
        while !rest.is_empty() {
            if rest.starts_with("..") {
                return bad("recursive descent `..` is not supported");
            }
            if let Some(r) = rest.strip_prefix(".*") {
                steps.push(PathStep::Wildcard);
                rest = r;
            } else if let Some(r) = rest.strip_prefix('.') {
                let end = r.find(['.', '[']).unwrap_or(r.len());
                let name = &r[..end];
                if name.is_empty()
                    || !name
                        .chars()
                        .all(|c| c.is_alphanumeric() || c == '_' || c == '-')
                {
                    return bad("a `.name` holds letters, digits, `_` and `-`");
                }
                steps.push(PathStep::Key(name.to_string()));
                rest = &r[end..];
            } else if let Some(r) = rest.strip_prefix('[') {
                let Some(end) = r.find(']') else {
                    return bad("a `[` is not closed");
                };
                let inner = r[..end].trim();
                rest = &r[end + 1..];
                if inner == "*" {
                    steps.push(PathStep::Wildcard);
                } else if let Ok(i) = inner.parse::<i64>() {
                    steps.push(PathStep::Index(i));
                } else if inner.len() >= 2
                    && ((inner.starts_with('\'') && inner.ends_with('\''))
                        || (inner.starts_with('"') && inner.ends_with('"')))
                {
                    steps.push(PathStep::Key(inner[1..inner.len() - 1].to_string()));
                } else {
                    return bad("filters, slices and unions are not supported");
                }
            } else {
                return bad("expected `.` or `[`");
            }
        }
        Ok(JsonPath(steps))
    }

    /// Every value the path matches in `v`, in document order.
    pub fn matches<'v>(&self, v: &'v Value) -> Vec<&'v Value> {
        let mut current = vec![v];
        for step in &self.0 {
            let mut next = Vec::new();
            for v in current {
                match (step, v) {
                    (PathStep::Key(k), Value::Object(m)) => next.extend(m.get(k)),
                    (PathStep::Index(i), Value::Array(a)) => {
                        let idx = if *i < 0 { a.len() as i64 + i } else { *i };
                        if let Ok(idx) = usize::try_from(idx) {
                            next.extend(a.get(idx));
                        }
                    }
                    (PathStep::Wildcard, Value::Array(a)) => next.extend(a.iter()),
                    (PathStep::Wildcard, Value::Object(m)) => next.extend(m.values()),
                    _ => {}
                }
            }
            current = next;
        }
        current
    }
}
