//! Event-time arithmetic without a calendar library: RFC 3339 parsing and formatting in UTC,
//! allocation-free, and the lenient reading of the timestamps vendor exports really hold
//! ([`parse_lenient`]: space separators, zone-less UTC, `+hhmm` offsets, epoch numbers). Times
//! are `i64` milliseconds since the Unix epoch everywhere in Tocsin.

use std::io::Write;

/// Milliseconds in one hour.
pub const HOUR_MS: i64 = 3_600_000;
/// Milliseconds in one day.
pub const DAY_MS: i64 = 86_400_000;

/// Days since 1970-01-01 for a proleptic Gregorian date (Howard Hinnant's algorithm).
pub fn days_from_civil(y: i64, m: u32, d: u32) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = if y >= 0 { y } else { y - 399 } / 400;
    let yoe = y - era * 400;
    let mp = (m as i64 + 9) % 12;
    let doy = (153 * mp + 2) / 5 + d as i64 - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

/// The civil date (year, month, day) of a day number since the epoch.
pub fn civil_from_days(z: i64) -> (i64, u32, u32) {
    let z = z + 719_468;
    let era = if z >= 0 { z } else { z - 146_096 } / 146_097;
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let y = yoe + era * 400;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    (if m <= 2 { y + 1 } else { y }, m, d)
}

fn digits(b: &[u8]) -> Option<u32> {
    let mut v: u32 = 0;
    for &c in b {
        if !c.is_ascii_digit() {
            return None;
        }
        v = v * 10 + (c - b'0') as u32;
    }
    Some(v)
}

/// Parses an RFC 3339 timestamp (`2025-11-10T23:31:02Z`, `...02.123+01:00`, lower-case `t`/`z`
/// and a space separator accepted) into epoch milliseconds. Fractions beyond milliseconds are
/// truncated. Years outside 1970..=9999 are refused: no real sign-in log has them.
pub fn parse_rfc3339(s: &str) -> Option<i64> {
    let (local_ms, i) = civil_date_time(s.as_bytes())?;
    let b = &s.as_bytes()[i..];
    let offset_min = match b {
        [b'Z' | b'z'] => 0,
        [b'+' | b'-', _, _, b':', _, _] => zone_offset_minutes(b)?,
        _ => return None,
    };
    Some(local_ms - offset_min * 60_000)
}

/// The wall-clock instant (as if UTC, in milliseconds) of a `YYYY-MM-DD[T ]hh:mm:ss[.f{1,9}]`
/// prefix, and the index where the zone begins. Years outside 1970..=9999, impossible dates and
/// times are `None`; a leap second reads as the second before it.
fn civil_date_time(b: &[u8]) -> Option<(i64, usize)> {
    if b.len() < 19 || b[4] != b'-' || b[7] != b'-' || b[13] != b':' || b[16] != b':' {
        return None;
    }
    if !matches!(b[10], b'T' | b't' | b' ') {
        return None;
    }
    let year = digits(&b[0..4])? as i64;
    let month = digits(&b[5..7])?;
    let day = digits(&b[8..10])?;
    let hour = digits(&b[11..13])?;
    let min = digits(&b[14..16])?;
    let sec = digits(&b[17..19])?;
    if !civil_in_range(year, month, day, hour, min, sec, 60) {
        return None;
    }
    let mut i = 19;
    let mut millis: i64 = 0;
    if b.get(i) == Some(&b'.') {
        i += 1;
        let start = i;
        while i < b.len() && b[i].is_ascii_digit() {
            if i - start < 3 {
                millis = millis * 10 + (b[i] - b'0') as i64;
            }
            i += 1;
        }
        let n = i - start;
        if n == 0 || n > 9 {
            return None;
        }
        for _ in n..3 {
            millis *= 10;
        }
    }
    let days = days_from_civil(year, month, day);
    let secs = days * 86_400 + hour as i64 * 3600 + min as i64 * 60 + sec.min(59) as i64;
    Some((secs * 1000 + millis, i))
}

/// Epoch numbers below this are seconds, at or above it milliseconds. 10^11 seconds is the year
/// 5138; 10^11 milliseconds is March 1973, before any sign-in log this reads was written.
const EPOCH_SECONDS_BELOW: i64 = 100_000_000_000;
/// Epoch milliseconds at 9999-12-31T23:59:59.999Z: the last instant [`write_rfc3339`] writes.
pub const MAX_MS: i64 = 253_402_300_799_999;

/// Reads the timestamps vendor exports really hold, into epoch milliseconds:
///
/// - RFC 3339 / ISO 8601 date-times with `T`, `t` or a space between date and time, 1 to 9
///   fraction digits (Entra writes 7, data lakes 9), and a zone written `Z`, `UTC`, `GMT`,
///   `+01:00`, `+0100` or `+01`, optionally after one space;
/// - the same without a zone, read as UTC: every log this reads (Okta, Entra, CloudTrail, Auth0,
///   Google, Keycloak, ECS) documents its times as UTC, and SIEM exports drop the `Z`;
/// - epoch seconds or milliseconds as decimal text (`1712085457`, `1712085457621`,
///   `1712085457.621`), told apart by size ([`epoch`]).
///
/// Fractions beyond milliseconds are truncated. Anything else (a date alone, a time alone, a
/// month name, a year outside 1970..=9999) is `None`: refused, never guessed.
pub fn parse_lenient(s: &str) -> Option<i64> {
    let s = s.trim();
    let b = s.as_bytes();
    if b.first().is_some_and(u8::is_ascii_digit)
        && b.iter().all(|c| c.is_ascii_digit() || *c == b'.')
    {
        return parse_epoch_text(s);
    }
    let (local_ms, i) = civil_date_time(b)?;
    let ms = local_ms - zone_offset_minutes(&b[i..])? * 60_000;
    (0..=MAX_MS).contains(&ms).then_some(ms)
}

/// Reads the US-style date-times some Azure Monitor exports write in a record's `time`
/// (`12/12/2025 3:03:58 PM`, `1/9/2007 09:41:00`, `1/9/2007 10:41:00 AM +01:00`): month first,
/// then day and year; 12-hour clock with `AM`/`PM`, or 24-hour without; an optional zone as in
/// [`parse_lenient`], else UTC. Only for fields whose producer is known to write this shape: in
/// general `1/9/2007` could be either day first or month first.
pub fn parse_us_datetime(s: &str) -> Option<i64> {
    let s = s.trim();
    let (date, rest) = s.split_once(' ')?;
    let mut d = date.split('/');
    let (month, day, year) = (d.next()?, d.next()?, d.next()?);
    if d.next().is_some()
        || year.len() != 4
        || !(1..=2).contains(&month.len())
        || !(1..=2).contains(&day.len())
    {
        return None;
    }
    let (month, day, year) = (
        digits(month.as_bytes())?,
        digits(day.as_bytes())?,
        digits(year.as_bytes())? as i64,
    );
    let (clock, rest) = rest.split_once(' ').unwrap_or((rest, ""));
    let mut c = clock.split(':');
    let (h, m, sec) = (c.next()?, c.next()?, c.next()?);
    if c.next().is_some() || !(1..=2).contains(&h.len()) || m.len() != 2 || sec.len() != 2 {
        return None;
    }
    let (mut hour, min, sec) = (
        digits(h.as_bytes())?,
        digits(m.as_bytes())?,
        digits(sec.as_bytes())?,
    );
    let rest = rest.trim_start();
    let zone = match rest.get(..2) {
        Some(ampm) if ampm.eq_ignore_ascii_case("AM") || ampm.eq_ignore_ascii_case("PM") => {
            if !(1..=12).contains(&hour) {
                return None;
            }
            let pm = ampm.eq_ignore_ascii_case("PM");
            hour = hour % 12 + if pm { 12 } else { 0 };
            &rest[2..]
        }
        _ => rest,
    };
    let offset_min = zone_offset_minutes(zone.trim_start().as_bytes())?;
    if !civil_in_range(year, month, day, hour, min, sec, 59) {
        return None;
    }
    let secs = days_from_civil(year, month, day) * 86_400
        + hour as i64 * 3600
        + min as i64 * 60
        + sec as i64;
    let ms = (secs - offset_min * 60) * 1000;
    (0..=MAX_MS).contains(&ms).then_some(ms)
}

/// The offset east of UTC, in minutes, of a zone suffix: empty (UTC), `Z`, `UTC`, `GMT`,
/// `±hh:mm`, `±hhmm` or `±hh`, after at most one space.
fn zone_offset_minutes(z: &[u8]) -> Option<i64> {
    let z = z.strip_prefix(b" ").unwrap_or(z);
    match z {
        [] | [b'Z' | b'z'] | b"UTC" | b"GMT" => return Some(0),
        _ => {}
    }
    let (sign, rest) = match z.split_first()? {
        (b'+', rest) => (1, rest),
        (b'-', rest) => (-1, rest),
        _ => return None,
    };
    let (oh, om) = match rest {
        [h1, h2] => (digits(&[*h1, *h2])?, 0),
        [h1, h2, b':', m1, m2] | [h1, h2, m1, m2] => (digits(&[*h1, *h2])?, digits(&[*m1, *m2])?),
        _ => return None,
    };
    if oh > 23 || om > 59 {
        return None;
    }
    Some(sign * (oh as i64 * 60 + om as i64))
}

/// Epoch seconds or milliseconds as decimal text, with an optional fraction (of the unit the
/// integer part is in).
fn parse_epoch_text(s: &str) -> Option<i64> {
    let (int, frac) = match s.split_once('.') {
        Some((i, f)) => (i, Some(f)),
        None => (s, None),
    };
    // Nine digits at least: epoch seconds since 1973. A short number ("2024") is not a time.
    if int.len() < 9 || int.len() > 15 {
        return None;
    }
    let whole: i64 = int.parse().ok()?;
    let frac_ms = match frac {
        None => 0,
        Some(f) if f.is_empty() || f.len() > 9 || !f.bytes().all(|c| c.is_ascii_digit()) => {
            return None
        }
        // A fraction of a second adds milliseconds; a fraction of a millisecond is dropped.
        Some(f) if whole < EPOCH_SECONDS_BELOW => {
            let mut ms = 0;
            for (k, c) in f.bytes().take(3).enumerate() {
                ms += (c - b'0') as i64 * [100, 10, 1][k];
            }
            ms
        }
        Some(_) => 0,
    };
    epoch(whole)
        .map(|ms| ms + frac_ms)
        .filter(|ms| *ms <= MAX_MS)
}

/// An epoch number as milliseconds: seconds below 10^11 (until the year 5138), milliseconds
/// from there to [`MAX_MS`]. Negative numbers and anything larger are `None`.
pub fn epoch(n: i64) -> Option<i64> {
    match n {
        0..EPOCH_SECONDS_BELOW => Some(n * 1000),
        EPOCH_SECONDS_BELOW..=MAX_MS => Some(n),
        _ => None,
    }
}

/// A calendar date and time Tocsin can hold: years 1970 to 9999, a real day of the month, and
/// seconds up to `max_sec` (60 where the format allows a leap second).
fn civil_in_range(
    year: i64,
    month: u32,
    day: u32,
    hour: u32,
    min: u32,
    sec: u32,
    max_sec: u32,
) -> bool {
    (1970..=9999).contains(&year)
        && (1..=12).contains(&month)
        && day >= 1
        && day <= days_in_month(year, month)
        && hour <= 23
        && min <= 59
        && sec <= max_sec
}

fn days_in_month(y: i64, m: u32) -> u32 {
    match m {
        1 | 3 | 5 | 7 | 8 | 10 | 12 => 31,
        4 | 6 | 9 | 11 => 30,
        _ if (y % 4 == 0 && y % 100 != 0) || y % 400 == 0 => 29,
        _ => 28,
    }
}

/// Writes `ms` as `YYYY-MM-DDTHH:MM:SSZ`, or with `.mmm` when the milliseconds are not zero.
/// Digits are written by hand: this runs once per generated or decoded event, and `core::fmt`
/// dominated the cost.
pub fn write_rfc3339(ms: i64, out: &mut impl Write) -> std::io::Result<()> {
    let days = ms.div_euclid(DAY_MS);
    let rem = ms.rem_euclid(DAY_MS);
    let (y, m, d) = civil_from_days(days);
    let secs = rem / 1000;
    let frac = rem % 1000;
    let y = y.clamp(0, 9999) as u32;
    let mut b = *b"0000-00-00T00:00:00.000Z";
    put2(&mut b[0..2], y / 100);
    put2(&mut b[2..4], y % 100);
    put2(&mut b[5..7], m);
    put2(&mut b[8..10], d);
    put2(&mut b[11..13], (secs / 3600) as u32);
    put2(&mut b[14..16], ((secs / 60) % 60) as u32);
    put2(&mut b[17..19], (secs % 60) as u32);
    if frac == 0 {
        b[19] = b'Z';
        out.write_all(&b[..20])
    } else {
        let f = frac as u32;
        b[20] = b'0' + (f / 100) as u8;
        put2(&mut b[21..23], f % 100);
        out.write_all(&b)
    }
}

fn put2(dst: &mut [u8], v: u32) {
    dst[0] = b'0' + (v / 10) as u8;
    dst[1] = b'0' + (v % 10) as u8;
}

/// `ms` as an owned RFC 3339 string (for alerts and reports, not the hot path).
pub fn rfc3339(ms: i64) -> String {
    let mut v = Vec::with_capacity(24);
    write_rfc3339(ms, &mut v).expect("writing to a Vec cannot fail");
    String::from_utf8(v).expect("ASCII")
}

/// Hour of the week (0 = Monday 00:00 .. 167 = Sunday 23:00) of a UTC instant shifted by
/// `offset_min` minutes.
pub fn hour_of_week(ms: i64, offset_min: i32) -> u8 {
    let local = ms + offset_min as i64 * 60_000;
    let days = local.div_euclid(DAY_MS);
    // 1970-01-01 was a Thursday (weekday 3 when Monday is 0).
    let weekday = (days + 3).rem_euclid(7);
    let hour = local.rem_euclid(DAY_MS) / HOUR_MS;
    (weekday * 24 + hour) as u8
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips_whole_and_fractional_seconds() {
        for s in [
            "2025-11-10T23:31:02Z",
            "1970-01-01T00:00:00Z",
            "2024-02-29T12:00:00.250Z",
        ] {
            let ms = parse_rfc3339(s).unwrap();
            assert_eq!(rfc3339(ms), s);
        }
    }

    #[test]
    fn offsets_and_nanoseconds() {
        let a = parse_rfc3339("2025-11-10T23:31:02.123456789+01:00").unwrap();
        assert_eq!(rfc3339(a), "2025-11-10T22:31:02.123Z");
        assert_eq!(
            parse_rfc3339("2025-11-10 23:31:02z"),
            parse_rfc3339("2025-11-10T23:31:02Z")
        );
    }

    #[test]
    fn rejects_impossible_dates() {
        for s in [
            "2025-02-30T00:00:00Z",
            "2025-13-01T00:00:00Z",
            "2025-11-10T24:00:00Z",
            "2025-11-10T23:31:02",
            "yesterday",
            "2025-11-10T23:31:02+0100",
        ] {
            assert_eq!(parse_rfc3339(s), None, "{s}");
        }
    }

    #[test]
    fn hour_of_week_starts_monday() {
        // 2025-11-10 was a Monday.
        assert_eq!(
            hour_of_week(parse_rfc3339("2025-11-10T00:30:00Z").unwrap(), 0),
            0
        );
        assert_eq!(
            hour_of_week(parse_rfc3339("2025-11-16T23:30:00Z").unwrap(), 0),
            167
        );
        assert_eq!(
            hour_of_week(parse_rfc3339("2025-11-16T23:30:00Z").unwrap(), 60),
            0
        );
    }

    #[test]
    fn lenient_reads_what_exports_hold() {
        let z = parse_rfc3339("2024-04-02T19:17:37.621Z").unwrap();
        for s in [
            "2024-04-02T19:17:37.621Z",
            "2024-04-02 19:17:37.621000000",
            "2024-04-02T19:17:37.6210000Z",
            "2024-04-02T19:17:37.6210000",
            "2024-04-02T21:17:37.621+0200",
            "2024-04-02T21:17:37.621+02",
            "2024-04-02 21:17:37.621 +02:00",
            "2024-04-02 19:17:37.621 UTC",
            "1712085457.621",
            "1712085457621",
            " 1712085457621 ",
        ] {
            assert_eq!(parse_lenient(s), Some(z), "{s}");
        }
        assert_eq!(parse_lenient("1712085457"), Some(z - 621));
        for s in [
            "",
            "2024",
            "yesterday",
            "2024-04-02",
            "19:17:37",
            "2024-04-02T19:17",
            "2024-02-30 00:00:00",
            "2024-04-02T19:17:37.",
            "2024-04-02T19:17:37.1234567890Z",
            "2024-04-02T19:17:37+2400",
            "2024-04-02T19:17:37 PST",
            "2024-04-02T19:17:37ZZ",
            "1712085457.62.1",
            "1712085457.",
            "999999999999999999",
            "1969-12-31T23:59:59Z",
        ] {
            assert_eq!(parse_lenient(s), None, "{s:?}");
        }
    }

    #[test]
    fn us_date_times_as_azure_monitor_writes_them() {
        for (us, utc) in [
            ("12/12/2025 3:03:58 PM", "2025-12-12T15:03:58Z"),
            ("11/14/2025 1:48:53 AM", "2025-11-14T01:48:53Z"),
            ("1/9/2007 12:41:00 AM", "2007-01-09T00:41:00Z"),
            ("1/9/2007 12:41:00 PM", "2007-01-09T12:41:00Z"),
            ("01/09/2007 09:41:00", "2007-01-09T09:41:00Z"),
            ("1/9/2007 10:41:00 AM +01:00", "2007-01-09T09:41:00Z"),
        ] {
            assert_eq!(
                parse_us_datetime(us).map(rfc3339).as_deref(),
                Some(utc),
                "{us}"
            );
        }
        for bad in [
            "13/1/2007 09:41:00",
            "1/9/07 09:41:00",
            "1/9/2007 13:41:00 PM",
            "1/9/2007",
            "2/30/2024 00:00:00",
            "1/9/2007 0:41:00 AM",
        ] {
            assert_eq!(parse_us_datetime(bad), None, "{bad}");
        }
    }

    #[test]
    fn epoch_numbers_by_size() {
        assert_eq!(epoch(1_712_085_457), Some(1_712_085_457_000));
        assert_eq!(epoch(1_712_085_457_621), Some(1_712_085_457_621));
        assert_eq!(epoch(-1), None);
        assert_eq!(epoch(MAX_MS + 1), None);
    }

    mod against_jiff {
        use super::super::*;
        use jiff::{tz::Offset, Timestamp};
        use proptest::prelude::*;

        // jiff writes each shape; the lenient parser must read the instant back to the
        // millisecond (truncated), whatever the offset and fraction digits.
        const SHAPES: &[(&str, bool)] = &[
            ("%Y-%m-%dT%H:%M:%S%.f%:z", true),
            ("%Y-%m-%dT%H:%M:%S%.f%z", true),
            ("%Y-%m-%d %H:%M:%S%.f %:z", true),
            ("%Y-%m-%d %H:%M:%S%.9f", false),
            ("%Y-%m-%dT%H:%M:%S%.7fZ", false),
            ("%Y-%m-%dT%H:%M:%S%.1f", false),
            ("%Y-%m-%d %H:%M:%S", false),
        ];

        proptest! {
            #[test]
            fn reads_back_what_jiff_writes(
                secs in 0i64..253_402_214_400,
                nanos in 0i32..1_000_000_000,
                offset_min in -(23 * 60 + 59)..=(23 * 60 + 59i32),
                shape in 0..SHAPES.len(),
            ) {
                let ts = Timestamp::new(secs, nanos).unwrap();
                let (pattern, zoned) = SHAPES[shape];
                // Zone-less shapes are UTC wall clocks.
                let offset = if zoned { Offset::from_seconds(offset_min * 60).unwrap() } else { Offset::UTC };
                let zdt = ts.to_zoned_datetime(offset.to_time_zone());
                let text = zdt.strftime(pattern).to_string();
                // What the shape keeps of the fraction, in nanoseconds.
                let kept = match pattern {
                    p if p.contains("%.1f") => nanos / 100_000_000 * 100_000_000,
                    p if p.ends_with("%S") => 0,
                    _ => nanos,
                };
                let want = secs * 1000 + (kept / 1_000_000) as i64;
                if (1970..=9999).contains(&(zdt.year() as i32)) {
                    prop_assert_eq!(parse_lenient(&text), Some(want), "{}", text);
                }
                // jiff's own RFC 3339 (`Display`) and epoch text.
                prop_assert_eq!(parse_lenient(&ts.to_string()), Some(secs * 1000 + (nanos / 1_000_000) as i64));
                if (100_000_000..100_000_000_000).contains(&secs) {
                    prop_assert_eq!(parse_lenient(&ts.as_millisecond().to_string()), Some(ts.as_millisecond()));
                    prop_assert_eq!(parse_lenient(&ts.as_second().to_string()), Some(secs * 1000));
                }
            }
        }
    }
}
