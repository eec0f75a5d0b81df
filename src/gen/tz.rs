//! Local time for the places of the fixture world, so that people work at their own hours and
//! a traveller in Mexico logs in at Mexican hours. A small table of the zones `world.rs` uses,
//! with the EU and US summer-time rules: the generator must give the same bytes on every
//! machine, whatever time-zone database it has.

use crate::timefmt::{self, days_from_civil, DAY_MS};

/// When a zone moves its clocks.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Summer {
    /// Never.
    None,
    /// EU rule: +1 h from the last Sunday of March to the last Sunday of October, 01:00 UTC.
    Eu,
    /// US and Canada: +1 h from the second Sunday of March to the first Sunday of November,
    /// 02:00 local.
    Us,
}

/// A time zone: standard offset and summer rule.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Zone {
    standard_min: i64,
    summer: Summer,
}

impl Zone {
    /// UTC, for names the table does not know.
    pub const UTC: Zone = Zone {
        standard_min: 0,
        summer: Summer::None,
    };

    /// The zone of an IANA name used in `world.rs`.
    pub fn of(name: &str) -> Zone {
        let (standard_min, summer) = match name {
            "Europe/Paris" | "Europe/Brussels" | "Europe/Zurich" | "Europe/Madrid"
            | "Europe/Berlin" | "Europe/Amsterdam" | "Europe/Rome" | "Europe/Vienna"
            | "Europe/Stockholm" => (60, Summer::Eu),
            "Europe/Lisbon" | "Atlantic/Canary" | "Europe/London" => (0, Summer::Eu),
            "Europe/Helsinki" | "Europe/Bucharest" | "Europe/Athens" => (120, Summer::Eu),
            "Europe/Moscow" => (180, Summer::None),
            "Africa/Casablanca" | "Africa/Lagos" => (60, Summer::None),
            "Indian/Reunion" => (240, Summer::None),
            "Asia/Ho_Chi_Minh" => (420, Summer::None),
            "America/New_York" | "America/Toronto" => (-300, Summer::Us),
            "America/Mexico_City" => (-360, Summer::None),
            "America/Cancun" | "America/Bogota" => (-300, Summer::None),
            "America/Santo_Domingo" => (-240, Summer::None),
            "America/Argentina/Buenos_Aires" | "America/Sao_Paulo" => (-180, Summer::None),
            _ => return Zone::UTC,
        };
        Zone {
            standard_min,
            summer,
        }
    }

    /// Offset from UTC at `ms`, in minutes.
    pub fn offset_min(&self, ms: i64) -> i64 {
        let summer = match self.summer {
            Summer::None => false,
            Summer::Eu => {
                let y = year(ms);
                let start = last_sunday(y, 3) * DAY_MS + 3_600_000;
                let end = last_sunday(y, 10) * DAY_MS + 3_600_000;
                ms >= start && ms < end
            }
            Summer::Us => {
                let y = year(ms);
                let local_2am = 2 * 3_600_000 - self.standard_min * 60_000;
                let start = nth_sunday(y, 3, 2) * DAY_MS + local_2am;
                let end = nth_sunday(y, 11, 1) * DAY_MS + local_2am - 3_600_000;
                ms >= start && ms < end
            }
        };
        self.standard_min + if summer { 60 } else { 0 }
    }

    /// Epoch milliseconds of local minute `minute` of the UTC day starting at `midnight_ms`
    /// (minutes past 24 h fall on the next day).
    pub fn at(&self, midnight_ms: i64, minute: i64) -> i64 {
        let guess = midnight_ms + minute * 60_000;
        guess - self.offset_min(guess - self.standard_min * 60_000) * 60_000
    }

    /// Local minute of the day (0..1440) at `ms`.
    pub fn minute_of_day(&self, ms: i64) -> i64 {
        (ms + self.offset_min(ms) * 60_000).rem_euclid(DAY_MS) / 60_000
    }
}

fn year(ms: i64) -> i64 {
    timefmt::civil_from_days(ms.div_euclid(DAY_MS)).0
}

fn weekday(day: i64) -> i64 {
    (day + 3).rem_euclid(7)
}

fn last_sunday(y: i64, m: u32) -> i64 {
    let d31 = days_from_civil(y, m, 31);
    d31 - (weekday(d31) + 1) % 7
}

fn nth_sunday(y: i64, m: u32, n: i64) -> i64 {
    let first = days_from_civil(y, m, 1);
    let to_sunday = (6 - weekday(first)).rem_euclid(7);
    first + to_sunday + 7 * (n - 1)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn zones_follow_their_summer_rules() {
        let paris = Zone::of("Europe/Paris");
        let lisbon = Zone::of("Atlantic/Canary");
        let ny = Zone::of("America/New_York");
        let mexico = Zone::of("America/Mexico_City");
        let oct25 = days_from_civil(2025, 10, 25) * DAY_MS;
        let nov3 = days_from_civil(2025, 11, 3) * DAY_MS;
        assert_eq!(paris.offset_min(oct25), 120);
        assert_eq!(paris.offset_min(nov3), 60);
        assert_eq!(lisbon.offset_min(nov3), 0);
        // US summer time ended on Sunday 2025-11-02.
        assert_eq!(ny.offset_min(days_from_civil(2025, 11, 1) * DAY_MS), -240);
        assert_eq!(ny.offset_min(nov3), -300);
        assert_eq!(mexico.offset_min(nov3), -360);
        assert_eq!(Zone::of("Nowhere/Special"), Zone::UTC);
    }

    #[test]
    fn local_minutes_map_to_utc_and_back() {
        let nov3 = days_from_civil(2025, 11, 3) * DAY_MS;
        let paris = Zone::of("Europe/Paris");
        // 08:30 in Paris in November is 07:30 UTC.
        assert_eq!(paris.at(nov3, 510), nov3 + 450 * 60_000);
        assert_eq!(paris.minute_of_day(paris.at(nov3, 510)), 510);
        // 22:00 in Mexico City is 04:00 UTC the next day.
        let mx = Zone::of("America/Mexico_City");
        assert_eq!(mx.at(nov3, 1320), nov3 + DAY_MS + 240 * 60_000);
    }
}
