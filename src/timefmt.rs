//! Event-time arithmetic without a calendar library: RFC 3339 parsing and formatting in UTC,
//! allocation-free. Times are `i64` milliseconds since the Unix epoch everywhere in Tocsin.

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
    let b = s.as_bytes();
    if b.len() < 20 || b[4] != b'-' || b[7] != b'-' || b[13] != b':' || b[16] != b':' {
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
    if !(1970..=9999).contains(&year)
        || !(1..=12).contains(&month)
        || day < 1
        || day > days_in_month(year, month)
        || hour > 23
        || min > 59
        || sec > 60
    {
        return None;
    }
    let mut i = 19;
    let mut millis: i64 = 0;
    if b[i] == b'.' {
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
    let offset_min: i64 = match b.get(i)? {
        b'Z' | b'z' if i + 1 == b.len() => 0,
        c @ (b'+' | b'-') if i + 6 == b.len() && b[i + 3] == b':' => {
            let oh = digits(&b[i + 1..i + 3])? as i64;
            let om = digits(&b[i + 4..i + 6])? as i64;
            if oh > 23 || om > 59 {
                return None;
            }
            let o = oh * 60 + om;
            if *c == b'-' {
                -o
            } else {
                o
            }
        }
        _ => return None,
    };
    let days = days_from_civil(year, month, day);
    let secs = days * 86_400 + hour as i64 * 3600 + min as i64 * 60 + sec.min(59) as i64;
    Some((secs - offset_min * 60) * 1000 + millis)
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
}
