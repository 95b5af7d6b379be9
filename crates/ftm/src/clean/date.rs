//! Dates as FtM keeps them: an ISO 8601 prefix, as precise as the source (`2010`, `2010-05`,
//! `2010-05-15T10:20`), after prefixdate's rules as followthemoney 4.11.2 applies them.

use chrono::format::{Item, Parsed, StrftimeItems, parse};
use chrono::{Duration, NaiveDate};

/// How many components a date has: year, month, day, hour, minute, second.
type Parts = [u32; 6];

/// The first year prefixdate accepts without a format, and the first it refuses.
const YEARS: std::ops::Range<u32> = 1000..3000;

/// Reads one to `max` digits at `*pos`; `None` when there are none or more than `max`.
fn digits(bytes: &[u8], pos: &mut usize, max: usize) -> Option<u32> {
    let start = *pos;
    while *pos < bytes.len() && bytes[*pos].is_ascii_digit() {
        *pos += 1;
    }
    let count = *pos - start;
    if count == 0 || count > max {
        return None;
    }
    std::str::from_utf8(&bytes[start..*pos]).ok()?.parse().ok()
}

/// A date prefix without a format (`2010-5-15` → `2010-05-15`): a four-digit year, then each
/// further component in turn as long as its separator follows (`-`, `-`, `T` or space, `:`,
/// `:`). A zero month or day ends the prefix there; an hour, minute or second directly
/// followed by `Z` is dropped; an offset (`+02:00`, `-0500`) right after whole seconds is
/// taken to UTC; anything after the last component is ignored. `None` for an impossible date or
/// time.
pub(super) fn parse_prefix(text: &str) -> Option<String> {
    let bytes = text.as_bytes();
    let mut pos = 0;
    let mut parts: Parts = [0; 6];
    let year = digits(bytes, &mut pos, 4).filter(|_| pos == 4)?;
    if !YEARS.contains(&year) {
        return None;
    }
    parts[0] = year;
    let mut count = 1;
    const SEPARATORS: [&[u8]; 5] = [b"-", b"-", b"T ", b":", b":"];
    let mut offset = None;
    for (index, separators) in SEPARATORS.iter().enumerate() {
        if pos >= bytes.len() || !separators.contains(&bytes[pos]) {
            break;
        }
        let mut next = pos + 1;
        let Some(value) = digits(bytes, &mut next, 2) else {
            if next < bytes.len() && bytes[next].is_ascii_digit() {
                return None;
            }
            break;
        };
        pos = next;
        if index >= 2 && bytes.get(pos) == Some(&b'Z') {
            break;
        }
        parts[index + 1] = value;
        count = index + 2;
        if index == 4 {
            offset = utc_offset(&bytes[pos..]);
        }
    }
    let (parts, count) = checked(parts, count)?;
    if let Some(seconds) = offset {
        let day = NaiveDate::from_ymd_opt(parts[0] as i32, parts[1], parts[2])?;
        let local = day.and_hms_opt(parts[3], parts[4], parts[5])?;
        let utc = local - Duration::seconds(seconds);
        return Some(utc.format("%Y-%m-%dT%H:%M:%S").to_string());
    }
    Some(render(&parts, count))
}

/// A `+HH:MM`/`-HHMM` offset at the start of `rest`, in seconds east of UTC.
fn utc_offset(rest: &[u8]) -> Option<i64> {
    let sign = match rest.first()? {
        b'+' => 1,
        b'-' => -1,
        _ => return None,
    };
    let digits: Vec<u8> = rest[1..].iter().copied().filter(|b| *b != b':').take(4).collect();
    if digits.len() != 4 || !digits.iter().all(u8::is_ascii_digit) {
        return None;
    }
    let number = |d: &[u8]| i64::from(d[0] - b'0') * 10 + i64::from(d[1] - b'0');
    Some(sign * (number(&digits[..2]) * 3600 + number(&digits[2..]) * 60))
}

/// Truncates at a zero month or day and checks the rest is a real date and time.
fn checked(parts: Parts, mut count: usize) -> Option<(Parts, usize)> {
    for index in [1, 2] {
        if count > index && parts[index] == 0 {
            count = index;
        }
    }
    if count > 1 && parts[1] > 12 {
        return None;
    }
    if count > 2 && NaiveDate::from_ymd_opt(parts[0] as i32, parts[1], parts[2]).is_none() {
        return None;
    }
    let limits = [24, 60, 60];
    for (index, limit) in (3..6).zip(limits) {
        if count > index && parts[index] >= limit {
            return None;
        }
    }
    Some((parts, count))
}

/// `count` components of `parts` as an ISO 8601 prefix.
fn render(parts: &Parts, count: usize) -> String {
    let mut out = format!("{:04}", parts[0]);
    for (index, separator) in ["-", "-", "T", ":", ":"].iter().enumerate().take(count.saturating_sub(1)) {
        out.push_str(separator);
        out.push_str(&format!("{:02}", parts[index + 1]));
    }
    out
}

/// A date read with a `strptime` format (`15.05.2010` with `%d.%m.%Y` → `2010-05-15`): the
/// whole text must match; the result is as precise as the format (`%m/%Y` gives a month);
/// two-digit years follow Python (`69`–`99` → 19xx, else 20xx).
pub(super) fn parse_format(text: &str, format: &str) -> Option<String> {
    let mut parsed = Parsed::new();
    parse(&mut parsed, text, StrftimeItems::new(format)).ok()?;
    let year = match (parsed.year(), parsed.year_mod_100()) {
        (Some(year), _) => year,
        (None, Some(short)) if short < 69 => 2000 + short,
        (None, Some(short)) => 1900 + short,
        (None, None) => 1900,
    };
    let hour = parsed.hour_div_12().unwrap_or(0) * 12 + parsed.hour_mod_12().unwrap_or(0);
    let parts: Parts = [
        u32::try_from(year).ok()?,
        parsed.month().unwrap_or(1),
        parsed.day().unwrap_or(1),
        hour,
        parsed.minute().unwrap_or(0),
        parsed.second().unwrap_or(0),
    ];
    let (parts, _) = checked(parts, 6)?;
    Some(render(&parts, format_precision(format)))
}

/// How many components a format yields: seconds, minutes, hours, days, months, else a year.
fn format_precision(format: &str) -> usize {
    let has = |codes: &[&str]| codes.iter().any(|code| format.contains(code));
    if has(&["%S", "%T"]) {
        6
    } else if has(&["%M", "%R"]) {
        5
    } else if has(&["%H", "%I"]) {
        4
    } else if has(&["%d", "%j", "%e", "%F", "%D"]) {
        3
    } else if has(&["%m", "%b", "%B", "%h"]) {
        2
    } else {
        1
    }
}

/// Whether `format` is a `strptime` format this crate can read (the mapping checks each
/// `format` when it loads).
pub fn check_format(format: &str) -> bool {
    !StrftimeItems::new(format).any(|item| matches!(item, Item::Error))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn prefixes() {
        assert_eq!(parse_prefix("2010-5-15").as_deref(), Some("2010-05-15"));
        assert_eq!(parse_prefix("2010-05-15T10:20:30+0200").as_deref(), Some("2010-05-15T08:20:30"));
        assert_eq!(parse_prefix("2018-11-30T10:20Z").as_deref(), Some("2018-11-30T10"));
        assert_eq!(parse_prefix("2010-01-00").as_deref(), Some("2010-01"));
        assert_eq!(parse_prefix("20100515"), None);
    }

    #[test]
    fn formats() {
        assert_eq!(parse_format("15.05.2010", "%d.%m.%Y").as_deref(), Some("2010-05-15"));
        assert_eq!(parse_format("May 2010", "%b %Y").as_deref(), Some("2010-05"));
        assert_eq!(parse_format("15.05.10", "%d.%m.%y").as_deref(), Some("2010-05-15"));
        assert_eq!(parse_format("15.05.2010x", "%d.%m.%Y"), None);
        assert!(check_format("%d.%m.%Y") && !check_format("%Q"));
    }
}
