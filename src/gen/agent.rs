//! User agents of the devices doctors and their staff really use, with browser versions that
//! follow the release calendar: a device on auto-update reports the version current a few days
//! before the event, so the same laptop's user agent changes during a month like in real logs.

use std::fmt::Write as _;

use crate::timefmt::days_from_civil;

/// Browser and platform of a device.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Family {
    /// Chrome on Windows 10/11.
    WindowsChrome,
    /// Edge on Windows.
    WindowsEdge,
    /// Firefox on Windows.
    WindowsFirefox,
    /// Safari on a Mac.
    MacSafari,
    /// Chrome on a Mac.
    MacChrome,
    /// Safari on an iPhone.
    IphoneSafari,
    /// Chrome on Android.
    AndroidChrome,
    /// Safari on an iPad (iPadOS asks for the desktop site: the Mac user agent).
    Ipad,
    /// Chrome on desktop Linux: rare among staff, common on attackers' servers.
    LinuxChrome,
    /// Firefox on Linux.
    LinuxFirefox,
}

impl Family {
    /// True for phones.
    pub fn is_phone(self) -> bool {
        matches!(self, Family::IphoneSafari | Family::AndroidChrome)
    }
}

// Release anchors: Chrome 142 shipped 2025-10-28, Firefox 145 on 2025-11-11, Safari 26.1 on
// 2025-11-03; Chrome and Firefox ship every four weeks, Safari point releases every ~6 weeks.
fn chrome_major(day: i64) -> i64 {
    (142 + (day - days_from_civil(2025, 10, 28)).div_euclid(28)).max(100)
}

fn firefox_major(day: i64) -> i64 {
    (145 + (day - days_from_civil(2025, 11, 11)).div_euclid(28)).max(100)
}

fn safari_version(day: i64) -> (i64, i64) {
    let steps = (day - days_from_civil(2025, 11, 3)).div_euclid(42) + 1;
    if steps < 0 {
        (18, 6)
    } else {
        (26 + steps / 6, steps % 6)
    }
}

/// A key that changes exactly when the user agent string of `family` changes, for `day`
/// (days since the epoch): lets callers cache formatted strings.
pub fn version_key(family: Family, day: i64) -> i64 {
    match family {
        Family::WindowsFirefox | Family::LinuxFirefox => firefox_major(day),
        Family::MacSafari | Family::IphoneSafari | Family::Ipad => {
            let (a, b) = safari_version(day);
            a * 100 + b
        }
        _ => chrome_major(day),
    }
}

/// The user agent `family` sends on `day` (days since the epoch), appended to `out`.
pub fn write_user_agent(family: Family, day: i64, out: &mut String) {
    let c = chrome_major(day);
    let f = firefox_major(day);
    let (sa, sb) = safari_version(day);
    let _ = match family {
        Family::WindowsChrome => write!(out, "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/{c}.0.0.0 Safari/537.36"),
        Family::WindowsEdge => write!(out, "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/{c}.0.0.0 Safari/537.36 Edg/{c}.0.0.0"),
        Family::WindowsFirefox => write!(out, "Mozilla/5.0 (Windows NT 10.0; Win64; x64; rv:{f}.0) Gecko/20100101 Firefox/{f}.0"),
        Family::MacSafari | Family::Ipad => write!(out, "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/{sa}.{sb} Safari/605.1.15"),
        Family::MacChrome => write!(out, "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/{c}.0.0.0 Safari/537.36"),
        // Safari 26 freezes the reported iOS version at 18_6.
        Family::IphoneSafari => write!(out, "Mozilla/5.0 (iPhone; CPU iPhone OS 18_6 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/{sa}.{sb} Mobile/15E148 Safari/604.1"),
        // Chrome's reduced user agent: Android version and model are frozen.
        Family::AndroidChrome => write!(out, "Mozilla/5.0 (Linux; Android 10; K) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/{c}.0.0.0 Mobile Safari/537.36"),
        Family::LinuxChrome => write!(out, "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/{c}.0.0.0 Safari/537.36"),
        Family::LinuxFirefox => write!(out, "Mozilla/5.0 (X11; Linux x86_64; rv:{f}.0) Gecko/20100101 Firefox/{f}.0"),
    };
}

/// Scripted clients seen in credential-stuffing and brute-force traffic.
pub const TOOL_AGENTS: &[&str] = &[
    "python-requests/2.32.3",
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0.0.0 Safari/537.36",
    "Go-http-client/2.0",
    "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) HeadlessChrome/139.0.0.0 Safari/537.36",
];

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn versions_advance_with_the_calendar() {
        let nov3 = days_from_civil(2025, 11, 3);
        let mut a = String::new();
        write_user_agent(Family::WindowsChrome, nov3, &mut a);
        assert!(a.contains("Chrome/142.0.0.0"), "{a}");
        let mut b = String::new();
        write_user_agent(Family::WindowsChrome, nov3 + 30, &mut b);
        assert!(b.contains("Chrome/143.0.0.0"), "{b}");
        assert_ne!(
            version_key(Family::WindowsFirefox, nov3),
            version_key(Family::WindowsFirefox, nov3 + 30)
        );
    }
}
