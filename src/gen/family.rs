//! The honest look-alike families: things account owners do that look like a takeover to a
//! naive detector (a new network, device, country or hour; many records at once). The `tune`
//! and `holdout` profiles label every honest session that belongs to one or more of them, so
//! `tocsin eval` can say which family a detector hurts. A session with no family is ordinary.
//!
//! A family that is about something *new* (a device, a cookie, an account) labels the sessions
//! of the first [`NOVELTY_DAYS`] days after the change — the time a baseline needs to learn it
//! — except [`Lookalike::BrowserUpdate`], which labels the first session on the new version
//! only, and [`Lookalike::MovingHouse`], which labels the first three sessions from the new
//! home, however late they come.

/// Days after a change during which sessions still count as "new" for the families about
/// novelty (moving house, new device, cookie reset, new account, dormant account returning).
pub const NOVELTY_DAYS: u32 = 7;

/// One honest look-alike family.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Lookalike {
    /// A service account of the tenant's integration (lab import, billing export) logging in
    /// nightly from a cloud network with a scripted user agent and exporting records.
    Integration,
    /// A legitimate bulk export (registry submission, patient list for a successor, quarterly
    /// report) from the owner's usual device, network and hours.
    BulkExport,
    /// A holiday abroad with the owner's own phone or laptop: hotel Wi-Fi, roaming or a local
    /// SIM, at local hours of another time zone.
    VacationAbroad,
    /// A conference abroad: hotel Wi-Fi in the evening, the phone in the morning.
    ConferenceAbroad,
    /// Moved house: a new city and often a new ISP, for good.
    MovingHouse,
    /// A commercial VPN (often exiting in another country) from home.
    PersonalVpn,
    /// Apple iCloud Private Relay: Safari traffic leaves from Akamai, Cloudflare or Fastly,
    /// a new address per session, located in the user's region.
    PrivateRelay,
    /// A phone on a mobile carrier: CGNAT addresses that jump between pools located in other
    /// cities, sometimes in the middle of a session.
    MobileCarrier,
    /// A dual-stack home whose IPv6 privacy address rotates, or that falls back between IPv6
    /// and IPv4, in the middle of a session.
    Ipv6Privacy,
    /// A laptop tethered through the owner's phone: a desktop browser on a carrier address.
    Tethering,
    /// Night-shift work (nurses' nights, on-call doctors' nights).
    NightShift,
    /// Late-night work from home outside any shift (paperwork after 22:00).
    LateNight,
    /// A shared ward PC: one device (and device id) used by many accounts, each logging in and
    /// out several times a shift.
    SharedWardPc,
    /// A locum working from another practice's network.
    Locum,
    /// Hospital staff at home through the hospital's VPN concentrator.
    HospitalVpn,
    /// A device that lost its cookie: the same browser without its device id, or a new id.
    CookieReset,
    /// A new phone or laptop (sometimes another platform).
    NewDevice,
    /// The first session after the browser updated itself (a new user-agent version).
    BrowserUpdate,
    /// An account that had been silent since before the run coming back.
    DormantReturn,
    /// Several failed passwords (sometimes a reset) before the right one.
    ForgottenPassword,
    /// A missed or refused MFA prompt before the accepted one.
    MfaRetry,
    /// An account created during the run.
    NewAccount,
}

impl Lookalike {
    /// Every family, in a fixed order.
    pub const ALL: [Lookalike; 22] = [
        Lookalike::Integration,
        Lookalike::BulkExport,
        Lookalike::VacationAbroad,
        Lookalike::ConferenceAbroad,
        Lookalike::MovingHouse,
        Lookalike::PersonalVpn,
        Lookalike::PrivateRelay,
        Lookalike::MobileCarrier,
        Lookalike::Ipv6Privacy,
        Lookalike::Tethering,
        Lookalike::NightShift,
        Lookalike::LateNight,
        Lookalike::SharedWardPc,
        Lookalike::Locum,
        Lookalike::HospitalVpn,
        Lookalike::CookieReset,
        Lookalike::NewDevice,
        Lookalike::BrowserUpdate,
        Lookalike::DormantReturn,
        Lookalike::ForgottenPassword,
        Lookalike::MfaRetry,
        Lookalike::NewAccount,
    ];

    /// The name used in the truth and by `tocsin eval`.
    pub fn as_str(self) -> &'static str {
        match self {
            Lookalike::Integration => "integration",
            Lookalike::BulkExport => "bulk_export",
            Lookalike::VacationAbroad => "vacation_abroad",
            Lookalike::ConferenceAbroad => "conference_abroad",
            Lookalike::MovingHouse => "moving_house",
            Lookalike::PersonalVpn => "personal_vpn",
            Lookalike::PrivateRelay => "private_relay",
            Lookalike::MobileCarrier => "mobile_carrier",
            Lookalike::Ipv6Privacy => "ipv6_privacy",
            Lookalike::Tethering => "tethering",
            Lookalike::NightShift => "night_shift",
            Lookalike::LateNight => "late_night",
            Lookalike::SharedWardPc => "shared_ward_pc",
            Lookalike::Locum => "locum",
            Lookalike::HospitalVpn => "hospital_vpn",
            Lookalike::CookieReset => "cookie_reset",
            Lookalike::NewDevice => "new_device",
            Lookalike::BrowserUpdate => "browser_update",
            Lookalike::DormantReturn => "dormant_return",
            Lookalike::ForgottenPassword => "forgotten_password",
            Lookalike::MfaRetry => "mfa_retry",
            Lookalike::NewAccount => "new_account",
        }
    }

    /// Parses a name (see [`Lookalike::as_str`]).
    pub fn parse(s: &str) -> Option<Lookalike> {
        Lookalike::ALL.into_iter().find(|f| f.as_str() == s)
    }

    /// The family's bit in a session's family set.
    pub fn bit(self) -> u32 {
        1 << (self as u32)
    }

    /// The names of the families in `bits`, in [`Lookalike::ALL`] order.
    pub fn names(bits: u32) -> Vec<String> {
        Lookalike::ALL
            .into_iter()
            .filter(|f| bits & f.bit() != 0)
            .map(|f| f.as_str().to_string())
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip_and_bits_are_distinct() {
        let mut all = 0u32;
        for f in Lookalike::ALL {
            assert_eq!(Lookalike::parse(f.as_str()), Some(f));
            assert_eq!(all & f.bit(), 0);
            all |= f.bit();
        }
        assert_eq!(
            Lookalike::names(Lookalike::Locum.bit() | Lookalike::Integration.bit()),
            vec!["integration", "locum"]
        );
    }
}
