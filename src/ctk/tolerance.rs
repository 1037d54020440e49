//! chaostoolkit's value handling: `${name}` substitution, Python's `str()`, `==` and `json.dumps`,
//! and `within_tolerance`.

use serde_json::{Map, Value};

use crate::scenario::ctk::Tolerance;

/// chaostoolkit's `substitute`: `${name}` (or `$name`) from the values, recursively; a string that
/// is one reference becomes the value itself, typed; unknown names stay as written.
pub fn substitute(v: &Value, values: &Map<String, Value>) -> Value {
    match v {
        Value::String(s) => substitute_str(s, values),
        Value::Array(a) => Value::Array(a.iter().map(|x| substitute(x, values)).collect()),
        Value::Object(m) => Value::Object(
            m.iter()
                .map(|(k, x)| (k.clone(), substitute(x, values)))
                .collect(),
        ),
        other => other.clone(),
    }
}

pub(super) fn substitute_str(s: &str, values: &Map<String, Value>) -> Value {
    if let Some(name) = s.strip_prefix("${").and_then(|r| r.strip_suffix('}'))
        && is_identifier(name)
        && let Some(v) = values.get(name)
    {
        return v.clone();
    }
    let mut out = String::with_capacity(s.len());
    let mut rest = s;
    while let Some(i) = rest.find('$') {
        out.push_str(&rest[..i]);
        let after = &rest[i + 1..];
        if let Some(r) = after.strip_prefix('$') {
            out.push('$');
            rest = r;
            continue;
        }
        let (name, len) = if let Some(r) = after.strip_prefix('{') {
            match r.find('}') {
                Some(end) if is_identifier(&r[..end]) => (&r[..end], end + 2),
                _ => ("", 0),
            }
        } else {
            let end = after
                .find(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
                .unwrap_or(after.len());
            let name = &after[..end];
            if is_identifier(name) {
                (name, end)
            } else {
                ("", 0)
            }
        };
        match values.get(name).filter(|_| len > 0) {
            Some(v) => {
                out.push_str(&python_str(v));
                rest = &after[len..];
            }
            None => {
                out.push('$');
                rest = after;
            }
        }
    }
    out.push_str(rest);
    Value::String(out)
}

fn is_identifier(s: &str) -> bool {
    let mut chars = s.chars();
    chars
        .next()
        .is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_')
}

/// How Python's `str()` writes a value (what chaostoolkit puts into a string or an argument).
pub(super) fn python_str(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        Value::Bool(true) => "True".into(),
        Value::Bool(false) => "False".into(),
        Value::Null => "None".into(),
        other => other.to_string(),
    }
}

/// JSON as Python's `json.dumps` writes it by default (what `requests` sends for `json=`): `", "` and
/// `": "` separators, non-ASCII escaped as `\uXXXX`.
pub(super) fn python_json(v: &Value) -> String {
    let mut out = String::new();
    write_python_json(v, &mut out);
    out
}

fn write_python_json(v: &Value, out: &mut String) {
    match v {
        Value::String(s) => {
            out.push('"');
            for c in s.chars() {
                match c {
                    '"' => out.push_str("\\\""),
                    '\\' => out.push_str("\\\\"),
                    '\n' => out.push_str("\\n"),
                    '\r' => out.push_str("\\r"),
                    '\t' => out.push_str("\\t"),
                    '\u{8}' => out.push_str("\\b"),
                    '\u{c}' => out.push_str("\\f"),
                    c if c.is_ascii() && !c.is_ascii_control() => out.push(c),
                    c => {
                        let mut units = [0u16; 2];
                        for u in c.encode_utf16(&mut units) {
                            out.push_str(&format!("\\u{u:04x}"));
                        }
                    }
                }
            }
            out.push('"');
        }
        Value::Array(items) => {
            out.push('[');
            for (i, x) in items.iter().enumerate() {
                if i > 0 {
                    out.push_str(", ");
                }
                write_python_json(x, out);
            }
            out.push(']');
        }
        Value::Object(m) => {
            out.push('{');
            for (i, (k, x)) in m.iter().enumerate() {
                if i > 0 {
                    out.push_str(", ");
                }
                write_python_json(&Value::String(k.clone()), out);
                out.push_str(": ");
                write_python_json(x, out);
            }
            out.push('}');
        }
        other => out.push_str(&other.to_string()),
    }
}

/// Python's `==` on JSON values: numbers by value (1 == 1.0, True == 1).
fn py_eq(a: &Value, b: &Value) -> bool {
    let num = |v: &Value| match v {
        Value::Number(n) => n.as_f64(),
        Value::Bool(b) => Some(if *b { 1.0 } else { 0.0 }),
        _ => None,
    };
    match (a, b) {
        (Value::Array(x), Value::Array(y)) => {
            x.len() == y.len() && x.iter().zip(y).all(|(p, q)| py_eq(p, q))
        }
        (Value::Object(x), Value::Object(y)) => {
            x.len() == y.len() && x.iter().all(|(k, p)| y.get(k).is_some_and(|q| py_eq(p, q)))
        }
        _ => match (num(a), num(b)) {
            (Some(x), Some(y)) => x == y,
            _ => a == b,
        },
    }
}

/// chaostoolkit's `within_tolerance` for the tolerances gameday accepts.
pub fn within_tolerance(t: &Tolerance, output: &Value, values: &Map<String, Value>) -> bool {
    let status = output.as_object().and_then(|o| o.get("status"));
    let target = |name: &str| output.get(name).unwrap_or(output);
    match t {
        Tolerance::Bool(b) => py_eq(output, &Value::Bool(*b)),
        Tolerance::Int(i) => match status {
            Some(s) => py_eq(s, &Value::from(*i)),
            None => py_eq(output, &Value::from(*i)),
        },
        Tolerance::Str(s) => py_eq(output, &substitute_str(s, values)),
        Tolerance::List(items) => match status {
            Some(s) => items.iter().any(|i| py_eq(s, i)),
            None if items.len() == 2 => {
                match (output.as_f64(), items[0].as_f64(), items[1].as_f64()) {
                    (Some(v), Some(lo), Some(hi)) => lo <= v && v <= hi,
                    _ => false,
                }
            }
            None => items.iter().any(|i| py_eq(output, i)),
        },
        Tolerance::Regex { pattern, target: t } => {
            let pattern = python_str(&substitute_str(pattern, values));
            match (regex::Regex::new(&pattern), target(t)) {
                // Python's `$` also matches before a final newline (`echo` output): try both.
                (Ok(rx), Value::String(s)) => {
                    rx.is_match(s) || s.strip_suffix('\n').is_some_and(|t| rx.is_match(t))
                }
                _ => false,
            }
        }
        Tolerance::JsonPath {
            path,
            target: t,
            count,
            expect,
        } => {
            let path = python_str(&substitute_str(path, values));
            let Ok(px) = crate::scenario::ctk::JsonPath::parse(&path) else {
                return false;
            };
            let mut value = t.as_deref().map_or(output, target).clone();
            if let Value::String(s) = &value
                && let Ok(parsed) = serde_json::from_str::<Value>(s)
            {
                value = parsed;
            }
            let found: Vec<Value> = px.matches(&value).into_iter().cloned().collect();
            let mut result = !found.is_empty();
            if let Some(n) = count {
                result = found.len() as u64 == *n;
            }
            if let Some(expect) = expect {
                let expect = substitute(expect, values);
                let want = match expect {
                    Value::Array(a) => a,
                    other => vec![other],
                };
                result = py_eq(&Value::Array(found), &Value::Array(want));
            }
            result
        }
        Tolerance::Range { lo, hi, target: t } => {
            let v = match target(t) {
                Value::Number(n) => n.as_f64(),
                Value::Bool(b) => Some(if *b { 1.0 } else { 0.0 }),
                Value::String(s) => s.trim().parse::<f64>().ok(),
                _ => None,
            };
            v.is_some_and(|v| *lo <= v && v <= *hi)
        }
    }
}
