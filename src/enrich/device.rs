//! Device enrichment: what a client is (browser family, OS family, form factor) and a stable
//! fingerprint that baselines remember.
//!
//! Parsing is `woothee` (a small, table-driven parser with no regex file to load) plus a thin
//! layer of our own for what matters here and the parser leaves out: tablets (iPad, Android
//! without `Mobile`), and scripts and headless browsers, which are how stolen passwords get
//! used in bulk. Parsed user agents are cached by a hash of the string.
//!
//! # The fingerprint
//!
//! Baselines persist fingerprints, so their definition is a compatibility promise: the hash
//! input below is versioned (`ua.v1`, `device_id.v1`), and changing it means every account sees
//! a "new device" once. It is `xxh3_64` (`xxhash_rust`), whose output is fixed by its
//! specification, over:
//!
//! - the event's `device_id` when it has one — a cookie or certificate the SaaS issued is the
//!   only thing an attacker holding just the password cannot copy, so it always wins;
//! - otherwise the *stable* parts of the user agent: browser family, OS family, OS **major**
//!   version, form factor and device model (the Android model token, or iPhone/iPad/iPod).
//!
//! Left out on purpose: the browser version (Chrome and Firefox update every four weeks, and
//! each update would make every user "new"), and OS minor versions (iOS point releases are
//! monthly). The price: two different machines with the same browser on the same OS share a
//! fingerprint, and an attacker who copies the victim's exact user agent gets the victim's
//! fingerprint. That is why `device_id` wins when present, and why the detector weighs the
//! device together with the network, the place and the hour instead of trusting it alone.
//! No user agent and no `device_id`: fingerprint 0, which the detector treats as "unknown",
//! never as a device.

use std::sync::Arc;

use woothee::parser::Parser;
use xxhash_rust::xxh3::{xxh3_64, Xxh3};

use super::cache::{Interner, ShardedLru};
use super::{DeviceInfo, DeviceType};

/// User agents cached: distinct UAs per deployment are few (thousands), unlike addresses.
const UA_CACHE_ENTRIES: usize = 16_384;

/// Longest user agent parsed. Real ones stay under 512 bytes; longer ones are abuse, and the
/// parser's regexes should not run over megabytes. The whole string is still hashed.
const MAX_UA_PARSED: usize = 1024;

/// What a user agent says, once parsed.
#[derive(Clone, Debug)]
struct ParsedUa {
    browser: Arc<str>,
    os: Arc<str>,
    kind: DeviceType,
    fingerprint: u64,
}

/// User-agent parser with its cache. `Send + Sync`: share by reference.
pub struct DeviceParser {
    parser: Parser,
    cache: ShardedLru<u64, ParsedUa>,
    strings: Arc<Interner>,
    other: Arc<str>,
}

impl Default for DeviceParser {
    fn default() -> Self {
        DeviceParser::new(Arc::default())
    }
}

impl DeviceParser {
    /// A parser sharing `strings` with the rest of enrichment.
    pub fn new(strings: Arc<Interner>) -> Self {
        let other = strings.intern("Other");
        DeviceParser {
            parser: Parser::new(),
            cache: ShardedLru::new(UA_CACHE_ENTRIES),
            strings,
            other,
        }
    }

    /// Describes the client of an event from its `User-Agent` and `device_id` (either may be
    /// absent). A cache hit allocates nothing.
    pub fn describe(&self, user_agent: Option<&str>, device_id: Option<&str>) -> DeviceInfo {
        let parsed = user_agent
            .map(str::trim)
            .filter(|ua| !ua.is_empty())
            .map(|ua| self.parse_cached(ua));
        let explicit = device_id.map(str::trim).filter(|id| !id.is_empty());
        let fingerprint = match (explicit, &parsed) {
            (Some(id), _) => device_id_fingerprint(id),
            (None, Some(p)) => p.fingerprint,
            (None, None) => 0,
        };
        match parsed {
            Some(p) => DeviceInfo {
                fingerprint,
                explicit_id: explicit.is_some(),
                browser: p.browser,
                os: p.os,
                kind: p.kind,
            },
            None => DeviceInfo {
                fingerprint,
                explicit_id: explicit.is_some(),
                browser: self.other.clone(),
                os: self.other.clone(),
                kind: DeviceType::Unknown,
            },
        }
    }

    fn parse_cached(&self, ua: &str) -> ParsedUa {
        let key = xxh3_64(ua.as_bytes());
        if let Some(hit) = self.cache.get(&key) {
            return hit;
        }
        let parsed = self.parse(ua);
        self.cache.put(key, parsed.clone());
        parsed
    }

    fn parse(&self, ua: &str) -> ParsedUa {
        let head = truncate(ua, MAX_UA_PARSED);
        let w = self.parser.parse(head);
        let (w_name, w_category, w_os, w_os_version) = match &w {
            Some(r) => (r.name, r.category, r.os, r.os_version.as_ref()),
            None => ("UNKNOWN", "UNKNOWN", "UNKNOWN", "UNKNOWN"),
        };
        let tool = automation_tool(head);
        let os = os_family(w_os);
        let model = device_model(head, w_os);
        let kind = if tool.is_some() || w_category == "crawler" {
            DeviceType::Bot
        } else {
            form_factor(w_category, w_os, head)
        };
        let browser = match tool {
            Some(t) => t,
            None => browser_family(w_name),
        };
        let os_major = if os == "Other" {
            ""
        } else {
            major_version(w_os_version)
        };
        let fingerprint = ua_fingerprint(browser, os, os_major, kind, model);
        ParsedUa {
            browser: self.strings.intern(browser),
            os: self.strings.intern(os),
            kind,
            fingerprint,
        }
    }
}

/// The fingerprint of an explicit device identifier.
pub fn device_id_fingerprint(device_id: &str) -> u64 {
    let mut h = Xxh3::new();
    h.update(b"device_id.v1\x1f");
    h.update(device_id.as_bytes());
    h.digest()
}

/// The fingerprint of a user agent's stable parts (see the module documentation). Fields are
/// separated by a byte that cannot appear in them, so `("ab", "c")` and `("a", "bc")` differ.
pub fn ua_fingerprint(
    browser: &str,
    os: &str,
    os_major: &str,
    kind: DeviceType,
    model: &str,
) -> u64 {
    let mut h = Xxh3::new();
    h.update(b"ua.v1");
    for part in [browser, os, os_major, kind.as_str(), model] {
        h.update(b"\x1f");
        h.update(part.as_bytes());
    }
    h.digest()
}

fn truncate(s: &str, max: usize) -> &str {
    if s.len() <= max {
        return s;
    }
    let mut end = max;
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    &s[..end]
}

/// HTTP libraries, command-line tools and browser automation, with the name reported as the
/// "browser". Matched case-insensitively as substrings; order matters where names nest.
const AUTOMATION: &[(&str, &str)] = &[
    ("headlesschrome", "HeadlessChrome"),
    ("phantomjs", "PhantomJS"),
    ("puppeteer", "Puppeteer"),
    ("playwright", "Playwright"),
    ("selenium", "Selenium"),
    ("curl/", "curl"),
    ("wget/", "Wget"),
    ("python-requests", "python-requests"),
    ("python-urllib", "Python-urllib"),
    ("python-httpx", "python-httpx"),
    ("aiohttp", "aiohttp"),
    ("go-http-client", "Go-http-client"),
    ("okhttp", "okhttp"),
    ("apache-httpclient", "Apache-HttpClient"),
    ("java/", "Java"),
    ("libwww-perl", "libwww-perl"),
    ("node-fetch", "node-fetch"),
    ("axios/", "axios"),
    ("undici", "undici"),
    ("postmanruntime", "PostmanRuntime"),
    ("insomnia", "Insomnia"),
    ("httpie", "HTTPie"),
    ("scrapy", "Scrapy"),
    ("powershell", "PowerShell"),
    ("hydra", "Hydra"),
    ("sqlmap", "sqlmap"),
];

fn automation_tool(ua: &str) -> Option<&'static str> {
    AUTOMATION
        .iter()
        .find(|(needle, _)| contains_ignore_case(ua, needle))
        .map(|&(_, name)| name)
}

/// `needle` must be lower-case ASCII.
fn contains_ignore_case(haystack: &str, needle: &str) -> bool {
    let (h, n) = (haystack.as_bytes(), needle.as_bytes());
    n.is_empty()
        || h.windows(n.len())
            .any(|w| w.iter().zip(n).all(|(a, b)| a.to_ascii_lowercase() == *b))
}

fn browser_family(name: &str) -> &'static str {
    match name {
        "Chrome" => "Chrome",
        "Firefox" => "Firefox",
        "Safari" => "Safari",
        "Edge" => "Edge",
        "Internet Explorer" => "IE",
        "Opera" => "Opera",
        "Vivaldi" => "Vivaldi",
        "Yandex Browser" => "Yandex",
        "SamsungBrowser" => "Samsung Internet",
        "Webview" => "WebView",
        "GSA" => "Google App",
        "Sleipnir" => "Sleipnir",
        _ => "Other",
    }
}

fn os_family(os: &str) -> &'static str {
    match os {
        o if o.starts_with("Windows") => "Windows",
        "Mac OSX" | "Mac OS Classic" => "macOS",
        "iPhone" | "iPad" | "iPod" | "iOS" => "iOS",
        "Android" => "Android",
        "ChromeOS" => "ChromeOS",
        "Linux" => "Linux",
        "FreeBSD" | "NetBSD" | "OpenBSD" => "BSD",
        "BlackBerry" | "BlackBerry 10" => "BlackBerry",
        _ => "Other",
    }
}

fn form_factor(category: &str, os: &str, ua: &str) -> DeviceType {
    match category {
        "pc" => DeviceType::Desktop,
        "smartphone" | "mobilephone" => {
            // Android tablets drop the `Mobile` token; that is the convention Google documents.
            let android_tablet = os == "Android" && !ua.contains("Mobile");
            if os == "iPad" || android_tablet {
                DeviceType::Tablet
            } else {
                DeviceType::Mobile
            }
        }
        _ => DeviceType::Unknown,
    }
}

/// The first number of an OS version (`NT 10.0` → `10`, `17.1.2` → `17`, `10_15_7` → `10`).
fn major_version(v: &str) -> &str {
    let start = v.find(|c: char| c.is_ascii_digit());
    match start {
        Some(s) => {
            let rest = &v[s..];
            let end = rest
                .find(|c: char| !c.is_ascii_digit())
                .unwrap_or(rest.len());
            &rest[..end]
        }
        None => "",
    }
}

/// The hardware model: the Android model token (`SM-S911B`, or `K` in Chrome's reduced user
/// agent), or the Apple device class.
fn device_model<'a>(ua: &'a str, os: &'a str) -> &'a str {
    match os {
        "iPhone" | "iPad" | "iPod" => os,
        "Android" => android_model(ua).unwrap_or(""),
        _ => "",
    }
}

fn android_model(ua: &str) -> Option<&str> {
    // `(Linux; Android 13; SM-S911B Build/TP1A) ...` or `(Linux; U; Android 4.4; fr-fr; GT-I9505 Build/...)`.
    let open = ua.find('(')?;
    let close = open + ua[open..].find(')')?;
    let platform = &ua[open + 1..close];
    let mut parts = platform.split(';').map(str::trim);
    parts.find(|p| p.starts_with("Android"))?;
    parts
        .filter(|p| !p.is_empty() && !is_locale(p) && *p != "wv")
        .map(|p| p.split(" Build/").next().unwrap_or(p).trim())
        .find(|p| !p.is_empty())
}

/// `fr-fr`, `en-US`, `de`: old Android user agents put the locale before the model.
fn is_locale(s: &str) -> bool {
    let b = s.as_bytes();
    match b.len() {
        2 => b.iter().all(u8::is_ascii_alphabetic),
        5 => {
            b[..2].iter().all(u8::is_ascii_alphabetic)
                && (b[2] == b'-' || b[2] == b'_')
                && b[3..].iter().all(u8::is_ascii_alphabetic)
        }
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const WIN_CHROME_130: &str = "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/130.0.0.0 Safari/537.36";
    const WIN_CHROME_131: &str = "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.6778.86 Safari/537.36";
    const WIN_FIREFOX: &str =
        "Mozilla/5.0 (Windows NT 10.0; Win64; x64; rv:132.0) Gecko/20100101 Firefox/132.0";
    const WIN_EDGE: &str = "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36 Edg/131.0.0.0";
    const MAC_SAFARI: &str = "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.6 Safari/605.1.15";
    const IPHONE_17_1: &str = "Mozilla/5.0 (iPhone; CPU iPhone OS 17_1_2 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.1.2 Mobile/15E148 Safari/604.1";
    const IPHONE_17_5: &str = "Mozilla/5.0 (iPhone; CPU iPhone OS 17_5 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.5 Mobile/15E148 Safari/604.1";
    const IPAD: &str = "Mozilla/5.0 (iPad; CPU OS 16_6 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/16.6 Mobile/15E148 Safari/604.1";
    const ANDROID_PHONE: &str = "Mozilla/5.0 (Linux; Android 14; SM-S911B) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Mobile Safari/537.36";
    const ANDROID_OTHER_PHONE: &str = "Mozilla/5.0 (Linux; Android 14; Pixel 8) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Mobile Safari/537.36";
    const ANDROID_TABLET: &str = "Mozilla/5.0 (Linux; Android 13; SM-X710) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36";
    const LINUX_FIREFOX: &str =
        "Mozilla/5.0 (X11; Linux x86_64; rv:128.0) Gecko/20100101 Firefox/128.0";

    fn d(ua: &str) -> DeviceInfo {
        DeviceParser::default().describe(Some(ua), None)
    }

    #[test]
    fn desktop_browsers_and_systems() {
        for (ua, browser, os) in [
            (WIN_CHROME_131, "Chrome", "Windows"),
            (WIN_FIREFOX, "Firefox", "Windows"),
            (WIN_EDGE, "Edge", "Windows"),
            (MAC_SAFARI, "Safari", "macOS"),
            (LINUX_FIREFOX, "Firefox", "Linux"),
        ] {
            let i = d(ua);
            assert_eq!(
                (&*i.browser, &*i.os, i.kind),
                (browser, os, DeviceType::Desktop),
                "{ua}"
            );
        }
    }

    #[test]
    fn phones_and_tablets() {
        assert_eq!(d(IPHONE_17_1).kind, DeviceType::Mobile);
        assert_eq!(&*d(IPHONE_17_1).os, "iOS");
        assert_eq!(d(ANDROID_PHONE).kind, DeviceType::Mobile);
        assert_eq!(&*d(ANDROID_PHONE).os, "Android");
        assert_eq!(d(IPAD).kind, DeviceType::Tablet);
        assert_eq!(d(ANDROID_TABLET).kind, DeviceType::Tablet);
    }

    #[test]
    fn scripts_crawlers_and_headless_browsers_are_bots() {
        for (ua, name) in [
            ("curl/8.5.0", "curl"),
            ("python-requests/2.31.0", "python-requests"),
            ("Go-http-client/1.1", "Go-http-client"),
            ("Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) HeadlessChrome/120.0.6099.71 Safari/537.36", "HeadlessChrome"),
            ("okhttp/4.12.0", "okhttp"),
        ] {
            let i = d(ua);
            assert_eq!((i.kind, &*i.browser), (DeviceType::Bot, name), "{ua}");
        }
        let google = d("Mozilla/5.0 (compatible; Googlebot/2.1; +http://www.google.com/bot.html)");
        assert_eq!(google.kind, DeviceType::Bot);
    }

    #[test]
    fn browser_updates_keep_the_fingerprint() {
        assert_eq!(d(WIN_CHROME_130).fingerprint, d(WIN_CHROME_131).fingerprint);
        // An iOS point release is not a new device either.
        assert_eq!(d(IPHONE_17_1).fingerprint, d(IPHONE_17_5).fingerprint);
    }

    #[test]
    fn different_devices_get_different_fingerprints() {
        let prints = [
            WIN_CHROME_131,
            WIN_FIREFOX,
            WIN_EDGE,
            MAC_SAFARI,
            IPHONE_17_1,
            IPAD,
            ANDROID_PHONE,
            ANDROID_OTHER_PHONE,
            ANDROID_TABLET,
            LINUX_FIREFOX,
        ]
        .map(|ua| d(ua).fingerprint);
        for (i, a) in prints.iter().enumerate() {
            assert_ne!(*a, 0);
            for b in &prints[i + 1..] {
                assert_ne!(a, b);
            }
        }
    }

    #[test]
    fn device_id_wins_over_the_user_agent() {
        let p = DeviceParser::default();
        let with_id = p.describe(Some(WIN_CHROME_131), Some("dev-42"));
        let other_ua_same_id = p.describe(Some(MAC_SAFARI), Some("dev-42"));
        assert!(with_id.explicit_id);
        assert_eq!(with_id.fingerprint, other_ua_same_id.fingerprint);
        assert_ne!(
            with_id.fingerprint,
            p.describe(Some(WIN_CHROME_131), None).fingerprint
        );
        // The user agent still describes the client.
        assert_eq!(&*with_id.browser, "Chrome");
    }

    #[test]
    fn nothing_known_gives_fingerprint_zero() {
        let p = DeviceParser::default();
        let none = p.describe(None, None);
        assert_eq!(none.fingerprint, 0);
        assert!(!none.explicit_id);
        assert_eq!(
            (&*none.browser, &*none.os, none.kind),
            ("Other", "Other", DeviceType::Unknown)
        );
        assert_eq!(p.describe(Some("  "), Some("")).fingerprint, 0);
    }

    #[test]
    fn fingerprints_are_pinned_across_versions() {
        // Baselines persist these numbers: if this test fails, the fingerprint definition
        // changed and every account would see its devices as new. Bump the `v1` tags instead,
        // and migrate baselines.
        assert_eq!(device_id_fingerprint("dev-42"), 4_747_987_317_236_354_857);
        assert_eq!(
            ua_fingerprint("Chrome", "Windows", "10", DeviceType::Desktop, ""),
            16_124_134_172_693_140_006
        );
        // What the parser contributes is pinned too: a Windows 10/11 Chrome desktop.
        assert_eq!(
            d(WIN_CHROME_131).fingerprint,
            ua_fingerprint("Chrome", "Windows", "10", DeviceType::Desktop, "")
        );
        // The definition is plain xxh3-64 over the tagged, separated parts, so any other
        // implementation of the specification can recompute a stored fingerprint.
        assert_eq!(
            device_id_fingerprint("dev-42"),
            xxh3_64(b"device_id.v1\x1fdev-42")
        );
        assert_eq!(
            ua_fingerprint("Chrome", "Windows", "10", DeviceType::Desktop, ""),
            xxh3_64(b"ua.v1\x1fChrome\x1fWindows\x1f10\x1fdesktop\x1f")
        );
    }

    #[test]
    fn garbage_and_huge_user_agents_do_not_panic() {
        let p = DeviceParser::default();
        let huge = "é".repeat(600_000);
        let i = p.describe(Some(&huge), None);
        assert_ne!(i.fingerprint, 0);
        let _ = p.describe(Some("(((;;;)))Android ;"), None);
        let _ = p.describe(Some("\u{0}\u{1}\u{ffff}"), None);
    }

    #[test]
    fn os_major_versions() {
        assert_eq!(major_version("NT 10.0"), "10");
        assert_eq!(major_version("17.1.2"), "17");
        assert_eq!(major_version("10_15_7"), "10");
        assert_eq!(major_version("UNKNOWN"), "");
    }

    #[test]
    fn android_models() {
        assert_eq!(android_model(ANDROID_PHONE), Some("SM-S911B"));
        assert_eq!(
            android_model("Mozilla/5.0 (Linux; U; Android 4.4.2; fr-fr; GT-I9505 Build/KOT49H) AppleWebKit/534.30"),
            Some("GT-I9505")
        );
        assert_eq!(android_model(WIN_CHROME_131), None);
    }
}
