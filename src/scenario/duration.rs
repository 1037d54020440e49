//! Human durations as written in scenarios: `500ms`, `30s`, `5m`, `1h`, and sums such as `1m30s`.

use std::fmt;
use std::time::Duration;

use serde::de::{self, Deserialize, Deserializer};

/// A duration parsed from the scenario's text form. Keeps `std::time::Duration` underneath.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct HumanDuration(pub Duration);

impl HumanDuration {
    pub fn parse(text: &str) -> Result<Self, String> {
        let s = text.trim();
        if s.is_empty() {
            return Err("empty duration; write e.g. 500ms, 30s, 5m or 1h".into());
        }
        let mut total = Duration::ZERO;
        let mut rest = s;
        while !rest.is_empty() {
            let digits = rest
                .find(|c: char| !c.is_ascii_digit())
                .unwrap_or(rest.len());
            if digits == 0 {
                return Err(format!(
                    "bad duration `{text}`: expected a number then a unit (ms, s, m, h), e.g. 30s"
                ));
            }
            let n: u64 = rest[..digits]
                .parse()
                .map_err(|_| format!("bad duration `{text}`: number too large"))?;
            rest = &rest[digits..];
            let unit_len = rest
                .find(|c: char| c.is_ascii_digit())
                .unwrap_or(rest.len());
            let unit = &rest[..unit_len];
            rest = &rest[unit_len..];
            let too_large = || {
                format!(
                    "bad duration `{text}`: too large; durations are limited per field, see the Limits table of docs/scenario-format.md"
                )
            };
            let secs_per_unit = match unit {
                "ms" => None,
                "s" => Some(1),
                "m" => Some(60),
                "h" => Some(3600),
                "" => {
                    return Err(format!(
                        "bad duration `{text}`: missing unit; write e.g. {n}s (units: ms, s, m, h)"
                    ));
                }
                other => {
                    return Err(format!(
                        "bad duration `{text}`: unknown unit `{other}` (units: ms, s, m, h)"
                    ));
                }
            };
            let part = match secs_per_unit {
                None => Duration::from_millis(n),
                Some(k) => Duration::from_secs(n.checked_mul(k).ok_or_else(too_large)?),
            };
            // Refused, not saturated: a clamped huge value would pass as a different number.
            total = total.checked_add(part).ok_or_else(too_large)?;
        }
        Ok(HumanDuration(total))
    }
}

impl fmt::Display for HumanDuration {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&crate::fmt::duration(self.0))
    }
}

impl<'de> Deserialize<'de> for HumanDuration {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct V;
        impl de::Visitor<'_> for V {
            type Value = HumanDuration;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a duration such as 500ms, 30s, 5m or 1h")
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<HumanDuration, E> {
                HumanDuration::parse(v).map_err(E::custom)
            }
            fn visit_u64<E: de::Error>(self, v: u64) -> Result<HumanDuration, E> {
                if v == 0 {
                    Ok(HumanDuration(Duration::ZERO))
                } else {
                    Err(E::custom(format!(
                        "bad duration `{v}`: missing unit; write e.g. {v}s (units: ms, s, m, h)"
                    )))
                }
            }
            fn visit_i64<E: de::Error>(self, v: i64) -> Result<HumanDuration, E> {
                match u64::try_from(v) {
                    Ok(u) => self.visit_u64(u),
                    Err(_) => Err(E::custom(format!(
                        "bad duration `{v}`: must not be negative"
                    ))),
                }
            }
        }
        deserializer.deserialize_any(V)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_units_and_sums() {
        let p = |s| HumanDuration::parse(s).map(|d| d.0);
        assert_eq!(p("500ms"), Ok(Duration::from_millis(500)));
        assert_eq!(p("30s"), Ok(Duration::from_secs(30)));
        assert_eq!(p("5m"), Ok(Duration::from_secs(300)));
        assert_eq!(p("1h"), Ok(Duration::from_secs(3600)));
        assert_eq!(p("1m30s"), Ok(Duration::from_secs(90)));
    }

    #[test]
    fn rejects_bad_forms_with_a_hint() {
        for bad in ["", "5", "5 minutes", "m5", "-3s", "1.5s", "3d"] {
            let err = HumanDuration::parse(bad).unwrap_err();
            assert!(
                err.contains("duration"),
                "{bad:?} should be rejected with a hint, got {err}"
            );
        }
    }

    #[test]
    fn refuses_overflow_instead_of_saturating() {
        for huge in [
            "99999999999999999h",
            "307445734561825861m",
            "18446744073709551615s1s",
            "99999999999999999999ms",
        ] {
            let err = HumanDuration::parse(huge).expect_err(huge);
            assert!(err.contains("too large"), "{huge}: {err}");
        }
        // The largest representable values still parse exactly.
        assert_eq!(
            HumanDuration::parse("18446744073709551615s").map(|d| d.0),
            Ok(Duration::from_secs(u64::MAX))
        );
    }
}
