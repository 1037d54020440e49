//! Human formatting shared by every layer: metric values, durations, `T+` offsets, clocks. The
//! lowest layer: it imports nothing from the crate, so anything may use it.

use std::time::Duration;

use chrono::{DateTime, Utc};

/// A metric value as people read it: whole numbers without decimals, others to at most three
/// places; `None` is `no data`.
pub fn value(v: Option<f64>) -> String {
    match v {
        None => "no data".into(),
        Some(v) if v.fract() == 0.0 && v.abs() < 1e15 => format!("{v:.0}"),
        Some(v) => format!("{v:.3}").trim_end_matches('0').to_string(),
    }
}

/// A duration the way scenarios write it: `1h5m`, `30s`, `1500ms`.
pub fn duration(d: Duration) -> String {
    let ms = d.as_millis();
    if ms == 0 {
        return "0s".into();
    }
    if !ms.is_multiple_of(1000) {
        return format!("{ms}ms");
    }
    let mut secs = ms / 1000;
    let mut out = String::new();
    for (unit, size) in [("h", 3600), ("m", 60)] {
        if secs >= size {
            out.push_str(&format!("{}{unit}", secs / size));
            secs %= size;
        }
    }
    if secs > 0 {
        out.push_str(&format!("{secs}s"));
    }
    out
}

/// [`duration`] of a number of milliseconds.
pub fn duration_ms(ms: u64) -> String {
    duration(Duration::from_millis(ms))
}

/// A measured duration for people: `850ms`, `5s`, `5.3s`, `12m40s` (tenths below a minute).
pub fn elapsed(d: Duration) -> String {
    let ms = d.as_millis();
    if ms < 1000 {
        format!("{ms}ms")
    } else if ms < 60_000 {
        let tenths = (ms + 50) / 100;
        if tenths.is_multiple_of(10) {
            format!("{}s", tenths / 10)
        } else {
            format!("{}.{}s", tenths / 10, tenths % 10)
        }
    } else {
        duration(Duration::from_secs(
            u64::try_from((ms + 500) / 1000).unwrap_or(u64::MAX),
        ))
    }
}

/// [`elapsed`] of a number of milliseconds.
pub fn elapsed_ms(ms: u64) -> String {
    elapsed(Duration::from_millis(ms))
}

/// A measured time, or `—` when there is none (not marked, not measured).
pub fn elapsed_ms_or_dash(ms: Option<u64>) -> String {
    ms.map(elapsed_ms).unwrap_or_else(|| "—".into())
}

/// A short duration for people, with a space before the unit: `850 ms`, `12.3 s`.
pub fn millis(ms: u64) -> String {
    if ms < 1000 {
        format!("{ms} ms")
    } else {
        format!("{:.1} s", ms as f64 / 1000.0)
    }
}

/// A span in whole minutes and seconds: `0m 00s`, `12m 05s`, `90m 00s` (negative reads as 0).
pub fn min_sec(secs: i64) -> String {
    let s = secs.max(0);
    format!("{}m {:02}s", s / 60, s % 60)
}

/// `mm:ss` (or `h:mm:ss`) of a number of seconds (negative reads as 0).
pub fn clock(secs: i64) -> String {
    let s = secs.max(0);
    if s >= 3600 {
        format!("{}:{:02}:{:02}", s / 3600, (s % 3600) / 60, s % 60)
    } else {
        format!("{:02}:{:02}", s / 60, s % 60)
    }
}

/// `T+mm:ss` (or `T+h:mm:ss`) of a number of seconds since the run started.
pub fn t_plus_secs(secs: i64) -> String {
    format!("T+{}", clock(secs))
}

/// `T+mm:ss` (or `T+h:mm:ss`) of `ts` since the run started at `start` (before it reads as T+00:00).
pub fn t_plus(start: DateTime<Utc>, ts: DateTime<Utc>) -> String {
    t_plus_secs((ts - start).num_seconds())
}

/// The wall clock of an instant, UTC: `HH:MM:SS`.
pub fn wall_clock(ts: DateTime<Utc>) -> String {
    ts.format("%H:%M:%S").to_string()
}

/// `s` in at most `width` characters: whole when it fits, else its head and tail joined by `…` (the
/// middle goes: `checkout-db-primary-1` in 15 → `checkou…imary-1`), so a name is never silently cut into
/// something that reads like another (`127.0.0.1:34`). A width of 0 is empty.
pub fn middle(s: &str, width: usize) -> String {
    let len = s.chars().count();
    if len <= width {
        return s.to_string();
    }
    if width == 0 {
        return String::new();
    }
    let keep = width - 1;
    let tail = keep / 2;
    let head = keep - tail;
    let mut out: String = s.chars().take(head).collect();
    out.push('…');
    out.extend(s.chars().skip(len - tail));
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn middle_keeps_what_fits_and_shortens_the_middle() {
        assert_eq!(middle("shop-1", 10), "shop-1");
        assert_eq!(middle("shop-1", 6), "shop-1");
        assert_eq!(middle("checkout-db-primary-1", 15), "checkou…imary-1");
        assert_eq!(middle("127.0.0.1:45271", 12), "127.0.…45271");
        assert_eq!(middle("abcdef", 5), "ab…ef");
        assert_eq!(middle("abcdef", 2), "a…");
        assert_eq!(middle("abcdef", 1), "…");
        assert_eq!(middle("abcdef", 0), "");
        assert_eq!(middle("héllo-wörld", 7).chars().count(), 7);
        for w in 0..30 {
            assert!(middle("checkout-db-primary-1", w).chars().count() <= w);
        }
    }

    use chrono::TimeZone;

    #[test]
    fn values() {
        assert_eq!(value(None), "no data");
        assert_eq!(value(Some(0.0)), "0");
        assert_eq!(value(Some(-0.0)), "-0");
        assert_eq!(value(Some(42.0)), "42");
        assert_eq!(value(Some(-7.0)), "-7");
        assert_eq!(value(Some(1.5)), "1.5");
        assert_eq!(value(Some(-2.25)), "-2.25");
        assert_eq!(value(Some(0.1234)), "0.123");
        assert_eq!(value(Some(999_999_999_999_999.0)), "999999999999999");
        assert_eq!(value(Some(f64::NAN)), "NaN");
        assert_eq!(value(Some(f64::INFINITY)), "inf");
        assert_eq!(value(Some(f64::NEG_INFINITY)), "-inf");
        // Kept exactly as before the move (the trailing dot included): whole numbers from 1e15
        // and values that round to zero at three places.
        assert_eq!(value(Some(1e15)), "1000000000000000.");
        assert_eq!(value(Some(0.0001)), "0.");
        assert!(value(Some(f64::MAX)).starts_with("1797693134862315"));
    }

    #[test]
    fn durations_as_scenarios_write_them() {
        assert_eq!(duration(Duration::ZERO), "0s");
        assert_eq!(duration(Duration::from_millis(1)), "1ms");
        assert_eq!(duration(Duration::from_millis(1500)), "1500ms");
        assert_eq!(duration(Duration::from_secs(30)), "30s");
        assert_eq!(duration(Duration::from_secs(60)), "1m");
        assert_eq!(duration(Duration::from_secs(3600)), "1h");
        assert_eq!(duration(Duration::from_secs(3900)), "1h5m");
        assert_eq!(duration(Duration::from_secs(3661)), "1h1m1s");
        assert_eq!(
            duration(Duration::from_secs(u64::MAX)),
            "5124095576030431h15s"
        );
        assert_eq!(duration(Duration::MAX), "18446744073709551615999ms");
        assert_eq!(duration_ms(0), "0s");
        assert_eq!(duration_ms(90_000), "1m30s");
        assert_eq!(duration_ms(u64::MAX), "18446744073709551615ms");
    }

    #[test]
    fn measured_times() {
        assert_eq!(elapsed(Duration::ZERO), "0ms");
        assert_eq!(elapsed(Duration::from_millis(850)), "850ms");
        assert_eq!(elapsed(Duration::from_millis(999)), "999ms");
        assert_eq!(elapsed(Duration::from_millis(1000)), "1s");
        assert_eq!(elapsed(Duration::from_millis(5001)), "5s");
        assert_eq!(elapsed(Duration::from_millis(5260)), "5.3s");
        assert_eq!(elapsed(Duration::from_millis(59_999)), "60s");
        assert_eq!(elapsed(Duration::from_millis(760_400)), "12m40s");
        assert_eq!(elapsed(Duration::MAX), "5124095576030431h15s");
        assert_eq!(elapsed_ms(0), "0ms");
        assert_eq!(elapsed_ms(30_000), "30s");
        assert_eq!(elapsed_ms(u64::MAX), "5124095576030h25m52s");
    }

    #[test]
    fn millis_for_people() {
        assert_eq!(millis(0), "0 ms");
        assert_eq!(millis(850), "850 ms");
        assert_eq!(millis(1000), "1.0 s");
        assert_eq!(millis(12_345), "12.3 s");
        assert_eq!(millis(u64::MAX), "18446744073709552.0 s");
    }

    #[test]
    fn minutes_and_seconds() {
        assert_eq!(min_sec(0), "0m 00s");
        assert_eq!(min_sec(-5), "0m 00s");
        assert_eq!(min_sec(65), "1m 05s");
        assert_eq!(min_sec(5400), "90m 00s");
        assert_eq!(min_sec(i64::MAX), "153722867280912930m 07s");
    }

    #[test]
    fn clocks_and_offsets() {
        assert_eq!(clock(0), "00:00");
        assert_eq!(clock(-1), "00:00");
        assert_eq!(clock(i64::MIN), "00:00");
        assert_eq!(clock(59), "00:59");
        assert_eq!(clock(3599), "59:59");
        assert_eq!(clock(3600), "1:00:00");
        assert_eq!(clock(i64::MAX), "2562047788015215:30:07");
        assert_eq!(t_plus_secs(0), "T+00:00");
        assert_eq!(t_plus_secs(-3), "T+00:00");
        assert_eq!(t_plus_secs(3725), "T+1:02:05");

        let start = Utc.with_ymd_and_hms(2026, 12, 1, 23, 59, 58).unwrap();
        let at = |ms: i64| start + chrono::TimeDelta::milliseconds(ms);
        assert_eq!(t_plus(start, start), "T+00:00");
        assert_eq!(t_plus(start, at(-1500)), "T+00:00");
        assert_eq!(t_plus(start, at(999)), "T+00:00");
        assert_eq!(t_plus(start, at(61_000)), "T+01:01");
        assert_eq!(t_plus(start, at(36_000_000)), "T+10:00:00");
        assert_eq!(
            t_plus(start, DateTime::<Utc>::MAX_UTC),
            "T+2280130752:00:01"
        );
        assert_eq!(t_plus(DateTime::<Utc>::MAX_UTC, start), "T+00:00");
        assert_eq!(wall_clock(start), "23:59:58");
        assert_eq!(wall_clock(at(2000)), "00:00:00");
    }
}
