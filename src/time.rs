//! Dates on the wire. Confab stores unix seconds; the Conversations API speaks
//! `YYYY-MM-DDTHH:MM:SSZ` exactly (twilio-python parses that format and no other).

use chrono::{DateTime, NaiveDate, SecondsFormat, Utc};

pub fn now() -> i64 {
    Utc::now().timestamp()
}

/// Unix time in milliseconds (leases, schedules).
pub fn now_ms() -> i64 {
    Utc::now().timestamp_millis()
}

/// `2015-12-16T22:18:37Z`
pub fn format(ts: i64) -> String {
    DateTime::<Utc>::from_timestamp(ts, 0).unwrap_or_default().to_rfc3339_opts(SecondsFormat::Secs, true)
}

pub fn format_opt(ts: Option<i64>) -> Option<String> {
    ts.map(format)
}

/// 0001-01-01T00:00:00Z and 9999-12-31T23:59:59Z: the dates the wire format can spell.
const EARLIEST: i64 = -62_135_596_800;
const LATEST: i64 = 253_402_300_799;

/// Longest timer accepted (ten years): keeps `now + timer` far from overflow.
pub const MAX_DURATION_SECS: i64 = 10 * 366 * 86_400;

/// RFC 3339 / ISO 8601 with a zone (`Z` or an offset); fractions are dropped.
/// A bare date (`2020-07-01`) is midnight UTC, as list filters use. Dates
/// outside years 1–9999 (after the offset) are refused.
pub fn parse(raw: &str) -> Option<i64> {
    let raw = raw.trim();
    let ts = match DateTime::parse_from_rfc3339(raw) {
        Ok(dt) => dt.timestamp(),
        Err(_) => {
            NaiveDate::parse_from_str(raw, "%Y-%m-%d").ok()?.and_hms_opt(0, 0, 0)?.and_utc().timestamp()
        }
    };
    (EARLIEST..=LATEST).contains(&ts).then_some(ts)
}

/// ISO 8601 durations as Twilio timers use them (`PT1M`, `P1DT12H`, `PT90S`, `P2W`).
/// Returns whole seconds; rejects empty, fractional and year/month forms
/// (their length is not fixed).
pub fn parse_duration(raw: &str) -> Option<i64> {
    let rest = raw.trim().strip_prefix('P')?;
    let (date_part, time_part) = match rest.split_once('T') {
        Some((d, t)) => {
            if t.is_empty() {
                return None;
            }
            (d, Some(t))
        }
        None => (rest, None),
    };
    let mut total: i64 = 0;
    let mut any = false;
    let mut add = |part: &str, units: &[(char, i64)]| -> Option<()> {
        let mut num = String::new();
        let mut next_unit = 0;
        for c in part.chars() {
            if c.is_ascii_digit() {
                num.push(c);
                continue;
            }
            let idx = units.iter().position(|(u, _)| *u == c)?;
            // Units must come in order and each at most once.
            if idx < next_unit || num.is_empty() {
                return None;
            }
            let n: i64 = num.parse().ok()?;
            total = total.checked_add(n.checked_mul(units[idx].1)?)?;
            num.clear();
            next_unit = idx + 1;
            any = true;
        }
        num.is_empty().then_some(())
    };
    add(date_part, &[('W', 7 * 86_400), ('D', 86_400)])?;
    if let Some(t) = time_part {
        add(t, &[('H', 3_600), ('M', 60), ('S', 1)])?;
    }
    any.then_some(total)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formats_second_precision_z() {
        assert_eq!(format(1_450_304_317), "2015-12-16T22:18:37Z");
    }

    #[test]
    fn parses_rfc3339_and_dates() {
        assert_eq!(parse("2015-12-16T22:18:37Z"), Some(1_450_304_317));
        assert_eq!(parse("2015-12-16T22:18:37.123Z"), Some(1_450_304_317));
        assert_eq!(parse("2015-12-16T23:18:37+01:00"), Some(1_450_304_317));
        assert_eq!(parse("2015-12-16"), Some(1_450_224_000));
        assert_eq!(parse("yesterday"), None);
        assert_eq!(parse("9999-12-31T23:59:59-23:59"), None);
        assert_eq!(parse("0000-01-01T00:00:00+23:59"), None);
        assert!(parse("9999-12-31T23:59:59Z").is_some());
    }

    #[test]
    fn parses_durations() {
        assert_eq!(parse_duration("PT1M"), Some(60));
        assert_eq!(parse_duration("PT10M"), Some(600));
        assert_eq!(parse_duration("P1DT1H1M1S"), Some(90_061));
        assert_eq!(parse_duration("P2W"), Some(1_209_600));
        assert_eq!(parse_duration("P"), None);
        assert_eq!(parse_duration("PT"), None);
        assert_eq!(parse_duration("PT1M1H"), None);
        assert_eq!(parse_duration("P1Y"), None);
        assert_eq!(parse_duration("10 minutes"), None);
    }
}
