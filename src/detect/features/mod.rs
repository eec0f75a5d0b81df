//! The feature catalog: every name a rule's `when` may use, its type and meaning, and the
//! per-event values ([`EventFeatures`]) the detector computes once per event (`compute`, one
//! function per feature family).
//!
//! `rules/README.md` lists this catalog under `## Features`; [`markdown_table`] generates that
//! section and a test fails when the two disagree. Values are a fixed array of
//! [`Value`]s borrowing from the event and its enrichment: computing them allocates nothing.

use super::value::{FeatureDef, FeatureSource, Type, Value};

pub(crate) mod compute;

macro_rules! catalog {
    ($( $id:ident = $name:literal : $ty:ident, $doc:literal; )*) => {
        /// Every feature, in catalog order (index = `F as usize`).
        pub static FEATURES: &[FeatureDef] = &[
            $( FeatureDef { name: $name, ty: Type::$ty, doc: $doc }, )*
        ];

        /// Catalog indices by name, for the code that computes values.
        #[derive(Clone, Copy, Debug, PartialEq, Eq)]
        #[repr(usize)]
        #[allow(missing_docs)]
        pub enum F { $( $id, )* }

        /// Number of features in the catalog.
        pub const FEATURE_COUNT: usize = [$( $name, )*].len();

        impl F {
            /// Every feature, in catalog order (`F::ALL[i] as usize == i`).
            pub const ALL: [F; FEATURE_COUNT] = [$( F::$id, )*];
        }
    };
}

catalog! {
    // Event
    LoginSuccess = "login.success": Bool, "The event is a successful login.";
    LoginFailure = "login.failure": Bool, "The event is a failed login.";
    LoginFirstTry = "login.first_try": Bool, "A successful login with no failed login for this account in the previous 30 minutes (a password that was known, not guessed).";
    MfaSuccess = "mfa.success": Bool, "The event is a successful second-factor step.";
    MfaFailure = "mfa.failure": Bool, "The event is a failed second-factor step.";
    MfaFailures10m = "mfa.failures_10m": Num, "For a second-factor step: failed second-factor steps on the account in about the last 10 minutes (this one included): push prompts denied or ignored, codes refused.";
    Access = "access": Bool, "The event is a data access within a session.";
    AccessAction = "access.action": Str, "What the access did: `read`, `search`, `export`, `print`, `update`, `delete` (missing for other events).";
    AccessCount = "access.count": Num, "Records the access touched (missing for other events).";
    EventType = "event.type": Str, "`login`, `mfa`, `access`, `logout` or `password_change`.";
    // Account
    Account = "account": Str, "The account name.";
    AccountKind = "account.kind": Str, "`user`, or `service` for a non-human identity signing in with a secret, a certificate or a token (an Entra ID service principal or managed identity, a Keycloak service account's client login; native events say so with `account_kind`). A leaked client secret is a stolen credential too, but a service has no browser, hours or travel: rules written for people's habits can leave it out, rules for services can single it out.";
    Tenant = "tenant": Str, "The tenant (practice, clinic, hospital) of the account, when the event names it.";
    AccountLogins = "account.logins": Num, "Trusted successful logins learned for the account before this event.";
    AccountLearning = "account.learning": Bool, "The account has fewer trusted logins than `detect.learning_logins` (default 5): its risk leans on population frequencies.";
    AccountDaysSinceLastLogin = "account.days_since_last_login": Num, "Days since the account's last trusted successful login (missing if none).";
    AccountAgeDays = "account.age_days": Num, "Days since the account was first seen.";
    AccountCredentialLeaked = "account.credential_leaked": Bool, "An identity provider said, within the last 90 days, that the account's password leaked (a Shared Signals RISC `credential-compromise` event), and no password change was seen since. A credential family of `evidence.families`: the password is known to someone else, so a login that is new in any other way is a stranger's as often as the owner's.";
    // Device
    DeviceNew = "device.new": Bool, "The device fingerprint (explicit `device_id` or user agent) was never seen for this account.";
    DeviceBrowserNew = "device.browser_new": Bool, "The browser family was never seen for this account.";
    DeviceOsNew = "device.os_new": Bool, "The OS family was never seen for this account.";
    DeviceType = "device.type": Str, "`desktop`, `mobile`, `tablet`, `bot` or `unknown`.";
    DeviceBot = "device.bot": Bool, "The user agent is a crawler, script or HTTP library.";
    DeviceExplicitId = "device.explicit_id": Bool, "The event carried a `device_id` (a stronger identity than the user agent).";
    DeviceBrowser = "device.browser": Str, "Browser family (`Chrome`, `Firefox`, `Other`...).";
    DeviceOs = "device.os": Str, "OS family (`Windows`, `iOS`, `Other`...).";
    // Network
    Ip = "ip": Ip, "The client address.";
    IpClass = "ip.class": Str, "`public`, `unlisted` (public, not in the GeoIP database), `private`, `cgnat`, `loopback`, `link_local`, `reserved` or `absent`.";
    IpNewPrefix = "ip.new_prefix": Bool, "The address's network (/24 IPv4, /64 IPv6) was never used by this account.";
    IpTenantKnown = "ip.tenant_known": Bool, "The network is used by several accounts of the same tenant, on more than one day (the clinic's NAT).";
    AsnNumber = "asn.number": Num, "Autonomous system number (missing without an ASN database).";
    AsnNew = "asn.new": Bool, "The ASN was never used by this account (false when the ASN is unknown).";
    AsnTenantKnown = "asn.tenant_known": Bool, "The ASN is used by several accounts of the same tenant, on more than one day (a hospital VPN, a regional carrier).";
    AsnShare = "asn.share": Num, "Share (0..1) of the account's logins from this ASN.";
    // Geo
    GeoKnown = "geo.known": Bool, "The address has a location in the GeoIP database.";
    GeoCountry = "geo.country": Str, "ISO country code of the address.";
    GeoCity = "geo.city": Str, "City of the address.";
    GeoNewCountry = "geo.new_country": Bool, "The country was never used by this account (false when unknown).";
    GeoNewCity = "geo.new_city": Bool, "The city was never used by this account (false when unknown).";
    GeoCountryShare = "geo.country_share": Num, "Share (0..1) of the account's logins from this country.";
    GeoDistanceKm = "geo.distance_km": Num, "Distance in km from the account's usual place (its most frequent city).";
    // Travel
    TravelDistanceKm = "travel.distance_km": Num, "Distance in km from the account's last trusted successful login.";
    TravelHours = "travel.hours": Num, "Hours since the account's last trusted successful login.";
    TravelSpeedKmh = "travel.speed_kmh": Num, "Implied speed from the last trusted login (km/h; time floored at one minute).";
    TravelSameAsn = "travel.same_asn": Bool, "The last trusted login came from the same ASN (a VPN or carrier moving its exit, not a traveller).";
    // Hour
    HourLocal = "hour.local": Num, "Hour of day (0..23) in the account's time zone (its usual place's, else `detect.default_timezone`).";
    HourWeekend = "hour.weekend": Bool, "Saturday or Sunday in the account's time zone.";
    HourShare = "hour.share": Num, "Share (0..1) of the account's logins around this hour (neighbouring hours count half, two hours away a quarter, the other kind of day 30%).";
    HourRare = "hour.rare": Bool, "The account has a profile (≥ 10 logins) and this hour's share is under 1%.";
    // Risk
    RiskScore = "risk.score": Num, "Risk in [0, 1] of the login: the Freeman et al. likelihood-ratio posterior, or the posterior of its `evidence.families` when higher (see `risk.rs`). The one number stored with the session and shown in alerts. For access events, the session's login risk.";
    RiskNetwork = "risk.network": Num, "Log-likelihood-ratio term of the network (prefix → ASN → country), natural log; > 0 is unusual for the account.";
    RiskDevice = "risk.device": Num, "Log-likelihood-ratio term of the device (fingerprint → browser → OS → type).";
    RiskHour = "risk.hour": Num, "Log-likelihood-ratio term of the local hour.";
    // Session and volume
    SessionKnown = "session.known": Bool, "The event's session is open (its login was seen).";
    SessionRisk = "session.risk": Num, "Risk of the login that opened this session (a risky login lowers the bar for what follows).";
    SessionFamilies = "session.families": Num, "Families of evidence against the owner its login carried (0..4): those of `evidence.families` but the hour (weak evidence, already in the login's score: a night shift's reading is not a stranger's), plus a dormant return (≥ 90 days since the last login, or an account never seen before in a tenant watched for ≥ 14 days with ≥ 10 accounts: a departed colleague's account from beyond the store's memory). What the session does is judged with them: an export beyond the account's history after a login with one family is a second, independent family.";
    SessionRecords = "session.records": Num, "Records touched in this session so far, this event included.";
    SessionExports = "session.exports": Num, "Records exported or printed in this session so far, this event included.";
    SessionAgeMin = "session.age_min": Num, "Minutes since the session's login.";
    SessionConcurrentDistant = "session.concurrent_distant": Bool, "Another session of the account, active in the last 30 minutes, started ≥ 500 km away from this event's place.";
    SessionConcurrentDistanceKm = "session.concurrent_distance_km": Num, "Largest distance in km between this event's place and another live session's login place.";
    SessionSameAsn = "session.same_asn": Bool, "For an access: same ASN as its session's login. For a login: every other live session came from this ASN (a carrier or VPN moving its exit, not a second person).";
    SessionIpChangedKm = "session.ip_changed_km": Num, "For an access: distance in km between this event's place and its session's login place.";
    SessionNewNetwork = "session.new_network": Bool, "Its login came from a network (/24, /64) the account never used that is no tenant network, relay, or carrier seen from a phone (not a family of evidence: addresses change; what the session then does is judged with it).";
    SessionSwitchSpeedKmh = "session.switch_speed_kmh": Num, "For an access from another ASN than its session's login and than its session's previous event: the implied speed in km/h from the login's place, over the time since that previous event (floored at one minute). Later events from the same network are not judged again. The owner used the session a moment ago; a cookie replayed elsewhere moves faster than anyone travels.";
    SessionInterleaved = "session.interleaved": Bool, "For an access or second factor in an open session, from its login's ASN: within the last 30 minutes the same session was used from another network that is new to the account (ASN and /24 or /64) and that no relay, commercial VPN, tenant network or, for a session opened on a phone or tablet, mobile carrier explains. One browser moves between networks (home to clinic, Wi-Fi to cellular); it does not use two at once, back and forth: a session cookie replayed by someone else while the owner keeps working does.";
    SessionOtherAsn = "session.other_asn": Num, "With `session.interleaved`: the ASN the session was used from meanwhile.";
    VolumeRecords10m = "volume.records_10m": Num, "Records touched by the account in about the last 10 minutes (all sessions; decayed counter).";
    VolumeExports1h = "volume.exports_1h": Num, "Records exported or printed by the account in about the last hour (decayed counter).";
    VolumeRatio = "volume.ratio": Num, "This session's records of this action ÷ the account's usual records of that action per session (usual floored at 1).";
    VolumeBaseline = "volume.baseline": Num, "The account's usual records of this action per session (missing before the first finished session).";
    VolumeP99 = "volume.p99": Num, "A high quantile (≈ p99) of the account's records of this action per session.";
    VolumeSessions = "volume.sessions": Num, "Finished sessions the account's volume baseline has learned (a p99 from a handful of sessions is noise).";
    VolumeRecordsP99 = "volume.records_p99": Num, "A high quantile (≈ p99) of the account's records per session, all tracked actions together (missing before the first finished session).";
    VolumeUnusualExportDays = "volume.unusual_export_days": Num, "For an export or print through a network (ASN, else /24) that carries under a fifth of the account's trusted logins (0 otherwise): days among the last 7 (this one included) on which at least 10 records were exported or printed through such networks (exfiltration spread over days).";
    // Authentication failures
    AuthFailuresAccount10m = "auth.failures_account_10m": Num, "Failed logins on this account in about the last 10 minutes (this event included).";
    AuthFailuresSource10m = "auth.failures_source_10m": Num, "Failed logins from this source (address, or /64) across accounts in about the last 10 minutes.";
    AuthSourceAccounts10m = "auth.source_accounts_10m": Num, "Distinct accounts with a failed login from this source in the last 10 minutes (saturates at 32).";
    AuthSourceAccounts1h = "auth.source_accounts_1h": Num, "Distinct accounts with a failed login from this source in the last hour (saturates at 32).";
    AuthFailuresAccountSource10m = "auth.failures_account_source_10m": Num, "Failed logins on this account from this source in about the last 10 minutes.";
    // Corroboration
    EvidenceFamilies = "evidence.families": Num, "For a successful login: how many independent families of evidence point away from the owner (0..4): credential (the source failed on ≥ 3 accounts in the hour and is neither the tenant's own network nor one the account used, on an account with a history; or ≥ 5 failures on the account in 10 minutes; or `account.credential_leaked`), network (an ASN and /24-/64 the account never used, not a relay or tenant network, nor a mobile carrier when the device is a phone or tablet), device (a never-seen desktop device whose browser or OS family is new: a browser update changes the user agent, and the owner's other computer or a cleared cookie a device id, not the browser and OS families; a new phone or tablet is the owner's own phone more often than not), hour (`hour.rare`). Network and device count only once the account has left learning. A single novelty is common among honest users; revocation wants two.";
    EvidenceNetwork = "evidence.network": Bool, "The network family of `evidence.families` holds: a never-seen ASN and network that is not a mobile carrier (`list.mobile_asns`) seen from a phone or tablet (a desktop browser there is the carrier's fixed broadband), a relay (`list.relay_asns`), a tenant network (`list.tenant_networks`) or shared by the tenant.";
    EvidenceDormant = "evidence.dormant": Bool, "For a successful login: the dormant family of `session.families` holds (≥ 90 days since the last trusted login, or an account never seen in a tenant watched for ≥ 14 days with ≥ 10 accounts). Not counted in `evidence.families`: at login a departed colleague's account looks like a new colleague's.";
    EvidenceDevice = "evidence.device": Bool, "The device family of `evidence.families` holds: a never-seen desktop device (not a phone or tablet) with a browser or OS family the account never used (a new `device_id` with the usual families is the owner's other computer or a cleared cookie as often as a stranger).";
    // Tenant and population
    TenantAccounts = "tenant.accounts": Num, "Distinct accounts of the tenant seen with a trusted login.";
    TenantWatchedDays = "tenant.watched_days": Num, "For a successful login: days since the first day of the oldest network the tenant still remembers (how long its staff have been watched).";
    PopulationCountryShare = "population.country_share": Num, "Share (0..1) of all accounts' logins from this country.";
    PopulationAsnShare = "population.asn_share": Num, "Share (0..1) of all accounts' logins from this ASN.";
}

/// The only event kind for which the bool feature `index` can be true, if there is one: the
/// detector computes `login.*` as false except on logins, `mfa.*` except on second-factor
/// steps and `access` except on accesses, so a rule requiring one of them
/// (`rules::Expr::required`) is skipped on other events without being evaluated.
pub fn only_true_for(index: usize) -> Option<crate::event::EventKind> {
    use crate::event::EventKind;
    const LOGIN: [F; 3] = [F::LoginSuccess, F::LoginFailure, F::LoginFirstTry];
    if LOGIN.iter().any(|&f| f as usize == index) {
        Some(EventKind::Login)
    } else if [F::MfaSuccess, F::MfaFailure]
        .iter()
        .any(|&f| f as usize == index)
    {
        Some(EventKind::Mfa)
    } else if F::Access as usize == index {
        Some(EventKind::Access)
    } else {
        None
    }
}

impl F {
    /// The feature of a catalog index.
    pub fn of_index(index: usize) -> Option<F> {
        F::ALL.get(index).copied()
    }

    /// Its catalog definition.
    pub fn def(self) -> &'static FeatureDef {
        &FEATURES[self as usize]
    }
}

/// The catalog index of a feature name.
pub fn index_of(name: &str) -> Option<usize> {
    FEATURES.iter().position(|f| f.name == name)
}

/// One event's feature values, by catalog index. Missing until set.
#[derive(Clone, Debug)]
pub struct EventFeatures<'a> {
    values: [Value<'a>; FEATURE_COUNT],
}

impl Default for EventFeatures<'_> {
    fn default() -> Self {
        EventFeatures {
            values: [Value::Missing; FEATURE_COUNT],
        }
    }
}

impl<'a> EventFeatures<'a> {
    /// Sets a value.
    pub fn set(&mut self, f: F, v: Value<'a>) {
        self.values[f as usize] = v;
    }

    /// Sets a boolean.
    pub fn bool(&mut self, f: F, v: bool) {
        self.set(f, Value::Bool(v));
    }

    /// Sets a number (NaN and infinities become missing: they compare false anyway, and they
    /// must never reach a reason).
    pub fn num(&mut self, f: F, v: f64) {
        self.set(
            f,
            if v.is_finite() {
                Value::Num(v)
            } else {
                Value::Missing
            },
        );
    }

    /// Sets a number when there is one.
    pub fn opt_num(&mut self, f: F, v: Option<f64>) {
        if let Some(v) = v {
            self.num(f, v);
        }
    }

    /// Sets a string.
    pub fn str(&mut self, f: F, v: &'a str) {
        self.set(f, Value::Str(v));
    }

    /// Reads a value.
    pub fn get(&self, f: F) -> Value<'a> {
        self.values[f as usize]
    }

    /// A number, if set.
    pub fn num_of(&self, f: F) -> Option<f64> {
        match self.get(f) {
            Value::Num(n) => Some(n),
            _ => None,
        }
    }

    /// A boolean (missing = false, as in rules).
    pub fn is(&self, f: F) -> bool {
        matches!(self.get(f), Value::Bool(true))
    }
}

impl FeatureSource for EventFeatures<'_> {
    fn feature(&self, index: usize) -> Value<'_> {
        self.values.get(index).copied().unwrap_or(Value::Missing)
    }
}

fn type_name(t: Type) -> &'static str {
    match t {
        Type::Bool => "bool",
        Type::Num => "num",
        Type::Str => "str",
        Type::Ip => "ip",
    }
}

/// The `## Features` section of `rules/README.md`, generated from the catalog.
pub fn markdown_table() -> String {
    let mut s = String::from("| feature | type | meaning |\n|---|---|---|\n");
    for f in FEATURES {
        s.push_str(&format!(
            "| `{}` | {} | {} |\n",
            f.name,
            type_name(f.ty),
            f.doc.replace('|', "\\|")
        ));
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn catalog_names_are_unique_and_indices_match() {
        for (i, f) in FEATURES.iter().enumerate() {
            assert_eq!(index_of(f.name), Some(i), "duplicate {}", f.name);
        }
        assert_eq!(FEATURES[F::GeoCountry as usize].name, "geo.country");
        assert_eq!(FEATURES.len(), FEATURE_COUNT);
        for (i, f) in F::ALL.iter().enumerate() {
            assert_eq!(*f as usize, i);
            assert_eq!(F::of_index(i), Some(*f));
        }
        assert_eq!(F::of_index(FEATURE_COUNT), None);
    }

    #[test]
    fn rules_readme_lists_the_catalog() {
        let readme =
            std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/rules/README.md"))
                .expect("rules/README.md exists");
        let section = readme
            .split("## Features\n")
            .nth(1)
            .expect("rules/README.md has a `## Features` section");
        let table: String = section
            .trim_start_matches('\n')
            .lines()
            .take_while(|l| l.starts_with('|'))
            .map(|l| format!("{l}\n"))
            .collect();
        assert_eq!(
            table,
            markdown_table(),
            "rules/README.md `## Features` is out of date: paste `detect::features::markdown_table()`"
        );
    }
}
