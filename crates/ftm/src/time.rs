//! Timestamps as the reference writes and reads them.
//!
//! Statements carry UTC timestamps with microsecond precision (Delta `timestamp`, spec
//! `storage-format.md` §2.1). Exports spell them the way Python's `datetime.isoformat()` does
//! (spec `exports-and-operations.md` §2.1): `2024-01-01T00:00:00+00:00`, with `.ffffff` only when
//! the microseconds are non-zero.

use chrono::{DateTime, Datelike, NaiveDate, NaiveDateTime, Timelike, Utc};
use rustc_hash::FxHashMap;

/// A UTC point in time; stored and compared with microsecond precision.
pub type Timestamp = DateTime<Utc>;

/// Python `isoformat()` of a UTC time: `YYYY-MM-DDTHH:MM:SS[.ffffff]+00:00`.
pub fn isoformat(ts: &Timestamp) -> String {
    let mut out = Vec::with_capacity(32);
    push_isoformat(&mut out, ts);
    String::from_utf8(out).expect("ASCII")
}

/// [`isoformat`] appended to `out`, without an intermediate string (exports write millions).
pub fn push_isoformat(out: &mut Vec<u8>, ts: &Timestamp) {
    push_time(out, ts, b'T', false);
    out.extend_from_slice(b"+00:00");
}

/// [`push_isoformat`] for times in UTC microseconds, remembering the spelling of each time it
/// has spelled. The rows written in one batch share their times, so a lake holds few distinct
/// times and an export spells each of them millions of times, in an order that jumps between
/// batches (rows go out in entity-id order): a map, unlike a last-value cache, keeps them all.
/// It holds at most 4,096 spellings and starts over when full. A time chrono cannot hold spells
/// as nothing.
#[derive(Debug, Clone, Default)]
pub struct IsoSpeller {
    spellings: FxHashMap<i64, Box<[u8]>>,
}

impl IsoSpeller {
    /// Spellings kept at most; past them the memory starts over (a lake whose rows hold this
    /// many distinct times gains little from remembering them).
    const CAPACITY: usize = 4096;

    /// Appends the spelling of `micros` to `out`.
    pub fn push(&mut self, out: &mut Vec<u8>, micros: i64) {
        if let Some(text) = self.spellings.get(&micros) {
            out.extend_from_slice(text);
            return;
        }
        if self.spellings.len() == Self::CAPACITY {
            self.spellings.clear();
        }
        let mut text = Vec::with_capacity(32);
        if let Some(ts) = Timestamp::from_timestamp_micros(micros) {
            push_isoformat(&mut text, &ts);
        }
        out.extend_from_slice(&text);
        self.spellings.insert(micros, text.into_boxed_slice());
    }
}

/// The same time with `Z` (pydantic's spelling in job records, archive records and documents
/// CSVs, spec `exports-and-operations.md` §2.1): `2026-11-21T04:21:32.060275Z`, the fraction only
/// when non-zero.
pub fn iso_z(ts: &Timestamp) -> String {
    let mut out = Vec::with_capacity(32);
    push_time(&mut out, ts, b'T', false);
    out.push(b'Z');
    String::from_utf8(out).expect("ASCII")
}

/// Appends `YYYY-MM-DD<sep>HH:MM:SS` and the microseconds as `.ffffff` — always when `fraction`,
/// else only when non-zero — to `out`. Years outside 0–9999 are spelled by chrono
/// (`+10000-…`), as Python cannot hold them anyway.
pub fn push_time(out: &mut Vec<u8>, ts: &Timestamp, sep: u8, fraction: bool) {
    let micros = ts.nanosecond() % 1_000_000_000 / 1000;
    let with_fraction = fraction || micros != 0;
    if !(0..=9999).contains(&ts.year()) {
        let text = ts.format(if with_fraction { "%Y-%m-%d %H:%M:%S%.6f" } else { "%Y-%m-%d %H:%M:%S" }).to_string();
        out.extend(text.bytes().map(|b| if b == b' ' { sep } else { b }));
        return;
    }
    let fields = [(4, ts.year() as u32, b'-'), (2, ts.month(), b'-'), (2, ts.day(), sep)];
    let clock = [(2, ts.hour(), b':'), (2, ts.minute(), b':'), (2, ts.second(), b'.'), (6, micros, 0)];
    let count = if with_fraction { 7 } else { 6 };
    for (i, (width, mut value, after)) in fields.into_iter().chain(clock).take(count).enumerate() {
        let start = out.len();
        out.resize(start + width, b'0');
        for slot in out[start..].iter_mut().rev() {
            *slot = b'0' + (value % 10) as u8;
            value /= 10;
        }
        if i + 1 < count {
            out.push(after);
        }
    }
}

/// Drops sub-microsecond precision, which Delta and the journal cannot store.
pub fn truncate_micros(ts: &Timestamp) -> Timestamp {
    let nanos = ts.nanosecond() % 1_000_000_000;
    ts.with_nanosecond(nanos - nanos % 1000).unwrap_or(*ts)
}

/// Parses an ISO 8601 timestamp as ftmq's `iso_datetime` does: an offset (`Z`, `+02:00`,
/// `+0200`) is converted to UTC, a naive time is taken as UTC, a bare date is midnight UTC,
/// `T` or a space separates date and time, fractions are kept to the microsecond.
/// Returns `None` for anything else.
pub fn parse_iso(text: &str) -> Option<Timestamp> {
    let text = text.trim();
    if let Ok(ts) = DateTime::parse_from_rfc3339(text) {
        return Some(truncate_micros(&ts.with_timezone(&Utc)));
    }
    let with_t = text.replacen(' ', "T", 1);
    for format in ["%Y-%m-%dT%H:%M:%S%.f%#z", "%Y-%m-%dT%H:%M%#z"] {
        if let Ok(ts) = DateTime::parse_from_str(&with_t, format) {
            return Some(truncate_micros(&ts.with_timezone(&Utc)));
        }
    }
    for format in ["%Y-%m-%dT%H:%M:%S%.f", "%Y-%m-%dT%H:%M"] {
        if let Ok(ts) = NaiveDateTime::parse_from_str(&with_t, format) {
            return Some(truncate_micros(&ts.and_utc()));
        }
    }
    NaiveDate::parse_from_str(text, "%Y-%m-%d").ok().map(|d| d.and_hms_opt(0, 0, 0).unwrap().and_utc())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn speller_spells_every_time_past_its_capacity() {
        let mut speller = IsoSpeller::default();
        let start = parse_iso("2026-11-21T04:33:28.062356Z").unwrap().timestamp_micros();
        let times: Vec<i64> = (0..IsoSpeller::CAPACITY as i64 + 10).map(|i| start + i * 1_000_001).collect();
        for round in 0..2 {
            for &micros in times.iter().chain(&times[..3]) {
                let mut out = b"x".to_vec();
                speller.push(&mut out, micros);
                let want = isoformat(&Timestamp::from_timestamp_micros(micros).unwrap());
                assert_eq!(String::from_utf8(out).unwrap(), format!("x{want}"), "round {round}");
            }
        }
        assert!(speller.spellings.len() <= IsoSpeller::CAPACITY);
        let mut out = Vec::new();
        speller.push(&mut out, i64::MAX);
        assert!(out.is_empty(), "a time chrono cannot hold spells as nothing");
    }

    #[test]
    fn python_isoformat() {
        let ts = parse_iso("2021-06-01T12:30:00.5Z").unwrap();
        assert_eq!(isoformat(&ts), "2021-06-01T12:30:00.500000+00:00");
        let ts = parse_iso("2026-11-21T04:33:28.062356+00:00").unwrap();
        assert_eq!(isoformat(&ts), "2026-11-21T04:33:28.062356+00:00");
        let ts = parse_iso("2024-01-01").unwrap();
        assert_eq!(isoformat(&ts), "2024-01-01T00:00:00+00:00");
        assert_eq!(iso_z(&parse_iso("0999-12-31T23:59:59.000001Z").unwrap()), "0999-12-31T23:59:59.000001Z");
        assert_eq!(iso_z(&ts), "2024-01-01T00:00:00Z");
    }

    #[test]
    fn push_time_spells_like_chrono() {
        for text in ["2026-11-21T04:18:41.493270Z", "2019-01-02T03:04:05Z", "0999-12-31T23:59:59.000001Z"] {
            let t = parse_iso(text).unwrap();
            let mut out = Vec::new();
            push_time(&mut out, &t, b' ', true);
            assert_eq!(String::from_utf8(out).unwrap(), t.format("%Y-%m-%d %H:%M:%S%.6f").to_string(), "{text}");
        }
    }

    #[test]
    fn parse_variants() {
        let utc = parse_iso("2024-01-01T10:00:00+00:00").unwrap();
        assert_eq!(parse_iso("2024-01-01T12:00:00+02:00"), Some(utc));
        assert_eq!(parse_iso("2024-01-01T12:00:00+0200"), Some(utc));
        assert_eq!(parse_iso("2024-01-01 10:00:00"), Some(utc));
        assert_eq!(parse_iso("2024-01-01T10:00"), Some(utc));
        assert_eq!(parse_iso(" 2024-01-01T10:00:00Z "), Some(utc));
        assert_eq!(isoformat(&parse_iso("2024-01-01T10:00:00.1234567Z").unwrap()), "2024-01-01T10:00:00.123456+00:00");
        for bad in ["", "yesterday", "2024-13-01", "2024-01-01T25:00"] {
            assert_eq!(parse_iso(bad), None, "{bad}");
        }
    }
}
