//! The login risk score (Freeman et al., NDSS 2016, "Who Are You?").
//!
//! For a login with values x = (network, device, hour), the likelihood ratio of attack vs the
//! account's owner is `S = Π_k p(x_k) / p(x_k | u)`: how much more common the value is in the
//! population than in this account's history. We work in natural log, one term per family:
//!
//! - network: levels /24-or-/64 → ASN → country weighted 0.6 / 0.3 / 0.1 (a new address in a
//!   known ASN of a known country is mildly unusual, a new country is not rescued by anything);
//! - device: levels fingerprint → browser → OS → type weighted 0.54 / 0.27 / 0.19 / 0.005 (the
//!   reference weights; the fingerprint replaces the full user agent);
//! - hour: the local hour bucket (24 hours × weekday/weekend), neighbouring hours counting half.
//!
//! A family's term is the weighted sum of its levels' log ratios (a weighted geometric mixture).
//!
//! Smoothing: `p(x | u) = (n_u(x) + α·p(x)) / (n_u + α)` with α = 1, so a value never seen for the
//! account gets a fraction of its population frequency, never zero, and an account with few
//! logins is scored mostly on population priors (every term tends to 0). Population frequencies
//! are themselves add-one smoothed. A family whose value is unknown (no address, no user agent)
//! contributes 0.
//!
//! Mapping to [0, 1]: posterior odds = S × prior odds, with a prior probability of attack per
//! login of [`PRIOR_ATTACK`] (1 in 1,000), so `risk = 1 / (1 + exp(-(ln S + ln(π/(1-π)))))`. A
//! login that is new on network, device and hour for an account with 30 logins scores ≈ 0.9
//! (each fully new family adds about ln(n + 1)); a known device and network at a usual hour ≈ 0.

use crate::baseline::account::hour_bucket;
use crate::baseline::{AccountBaseline, Population};
use crate::enrich::DeviceType;

/// Prior probability that a login is an attack, before looking at it.
pub const PRIOR_ATTACK: f64 = 1e-3;
/// Likelihood ratio of one strong, independent family of evidence (`evidence.families`): the
/// same scale as the score's own terms, where a fully new family for an account with about 40
/// logins adds ln(41) ≈ 3.7. So one family leaves a login at a few percent, two make it more
/// likely an attack than not (≈ 0.6), three near certain.
pub const FAMILY_LIKELIHOOD_RATIO: f64 = 40.0;

/// Posterior risk of a login with `families` independent strong families of evidence, from the
/// prior [`PRIOR_ATTACK`] (naive Bayes: the families are chosen to be independent).
pub fn corroborated(families: f64) -> f64 {
    let log_odds =
        (PRIOR_ATTACK / (1.0 - PRIOR_ATTACK)).ln() + families * FAMILY_LIKELIHOOD_RATIO.ln();
    1.0 / (1.0 + (-log_odds).exp())
}

/// Dirichlet prior strength of the account model, in logins.
const ALPHA: f64 = 1.0;

/// What the score looks at, as table keys (see `baseline::*_key`).
#[derive(Clone, Copy, Debug, Default)]
pub struct LoginKeys {
    /// Network key, when the event has an address.
    pub prefix: Option<u32>,
    /// ASN, when known.
    pub asn: Option<u32>,
    /// Country key, when known.
    pub country: Option<u32>,
    /// Device fingerprint (0 = none).
    pub fingerprint: u64,
    /// Browser family key.
    pub browser: u32,
    /// OS family key.
    pub os: u32,
    /// Device type.
    pub kind: DeviceType,
    /// Local hour of week (0 = Monday 00:00).
    pub hour_of_week: u8,
}

/// The score and its terms (natural-log likelihood ratios; > 0 means unusual for the account).
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct RiskScore {
    /// Network term.
    pub network: f64,
    /// Device term.
    pub device: f64,
    /// Hour term.
    pub hour: f64,
    /// Sum of the terms: ln S.
    pub log_ratio: f64,
    /// Risk in [0, 1].
    pub score: f64,
}

/// Account-side smoothed probability of a value with decayed count `c` among `n`.
fn p_account(c: f64, n: f64, p_pop: f64) -> f64 {
    (c + ALPHA * p_pop) / (n + ALPHA)
}

/// A family's term: the weighted sum of its levels' log ratios `ln(p(x) / p(x | u))`, weights
/// renormalised over the levels whose value is known. (A linear mixture of probabilities would
/// let the coarsest level — "Windows" — drown the finest — this exact device.)
fn family_term(parts: &[(f64, Option<(f64, f64)>)]) -> f64 {
    let (mut wsum, mut acc) = (0.0, 0.0);
    for &(w, v) in parts {
        if let Some((pu, pp)) = v {
            if pu > 0.0 && pp > 0.0 {
                wsum += w;
                acc += w * (pp / pu).ln();
            }
        }
    }
    if wsum == 0.0 {
        0.0
    } else {
        acc / wsum
    }
}

/// Scores one login against the account's baseline (as it was before the login).
pub fn score(acct: &AccountBaseline, pop: &Population, k: &LoginKeys, today: u16) -> RiskScore {
    // Network.
    let n_prefix = acct.prefixes.total(today) as f64;
    let n_asn = acct.asns.total(today) as f64;
    let n_country = acct.countries.total(today) as f64;
    let network = family_term(&[
        (
            0.6,
            k.prefix.map(|p| {
                let pp = pop.p_prefix(p);
                (
                    p_account(acct.prefixes.count(p, today) as f64, n_prefix, pp),
                    pp,
                )
            }),
        ),
        (
            0.3,
            k.asn.map(|a| {
                let pp = pop.asns.p(a);
                (p_account(acct.asns.count(a, today) as f64, n_asn, pp), pp)
            }),
        ),
        (
            0.1,
            k.country.map(|c| {
                let pp = pop.countries.p(c);
                (
                    p_account(acct.countries.count(c, today) as f64, n_country, pp),
                    pp,
                )
            }),
        ),
    ]);

    // Device.
    let n_dev = acct.devices.total(today) as f64;
    let n_browser = acct.browsers.total(today) as f64;
    let n_os = acct.oses.total(today) as f64;
    let kind_bit = 1u8 << (k.kind as u8);
    let kinds_seen = acct.device_kinds.count_ones().max(1) as f64;
    let p_kind = pop.kinds.p(k.kind as u32 + 1);
    let kind_count = if acct.device_kinds & kind_bit != 0 {
        n_browser / kinds_seen
    } else {
        0.0
    };
    let device = family_term(&[
        (
            0.54,
            (k.fingerprint != 0).then(|| {
                let pp = pop.p_device(k.fingerprint);
                let c = acct
                    .devices
                    .count(crate::baseline::device_key(k.fingerprint), today);
                (p_account(c as f64, n_dev, pp), pp)
            }),
        ),
        (0.27, {
            let pp = pop.browsers.p(k.browser);
            Some((
                p_account(acct.browsers.count(k.browser, today) as f64, n_browser, pp),
                pp,
            ))
        }),
        (0.19, {
            let pp = pop.oses.p(k.os);
            Some((p_account(acct.oses.count(k.os, today) as f64, n_os, pp), pp))
        }),
        (
            0.005,
            Some((p_account(kind_count, n_browser, p_kind), p_kind)),
        ),
    ]);

    // Hour.
    let bucket = hour_bucket(k.hour_of_week);
    let n_hours = acct.hours.total() as f64;
    let p_hour = pop.hours.p(bucket as u32 + 1);
    let hour = family_term(&[(
        1.0,
        Some((
            p_account(acct.hours.share(bucket) as f64 * n_hours, n_hours, p_hour),
            p_hour,
        )),
    )]);

    let log_ratio = network + device + hour;
    let prior = (PRIOR_ATTACK / (1.0 - PRIOR_ATTACK)).ln();
    let score = 1.0 / (1.0 + (-(log_ratio + prior)).exp());
    RiskScore {
        network,
        device,
        hour,
        log_ratio,
        score,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::baseline::{country_key, device_key, key32, prefix_key};
    use crate::enrich::Country;

    fn keys(prefix: &str, asn: u32, country: &str, fp: u64, browser: &str, how: u8) -> LoginKeys {
        LoginKeys {
            prefix: Some(prefix_key(prefix.parse().unwrap())),
            asn: Some(asn),
            country: Country::parse(country).map(country_key),
            fingerprint: fp,
            browser: key32(browser.as_bytes()),
            os: key32(b"Windows"),
            kind: DeviceType::Desktop,
            hour_of_week: how,
        }
    }

    fn learn(acct: &mut AccountBaseline, pop: &mut Population, k: &LoginKeys, day: u16) {
        acct.prefixes.add(k.prefix.unwrap(), 1.0, day);
        acct.asns.add(k.asn.unwrap(), 1.0, day);
        acct.countries.add(k.country.unwrap(), 1.0, day);
        acct.devices.add(device_key(k.fingerprint), 1.0, day);
        acct.browsers.add(k.browser, 1.0, day);
        acct.oses.add(k.os, 1.0, day);
        acct.device_kinds |= 1 << (k.kind as u8);
        acct.hours.add(hour_bucket(k.hour_of_week), day);
        acct.logins += 1;
        pop.add_login(
            k.country,
            k.asn,
            k.prefix,
            k.fingerprint,
            k.browser,
            k.os,
            k.kind,
            hour_bucket(k.hour_of_week),
        );
    }

    fn history() -> (AccountBaseline, Population) {
        let mut acct = AccountBaseline::default();
        let mut pop = Population::default();
        // Other accounts, for population frequencies.
        for i in 0..200u32 {
            let ip = format!("90.0.{}.9", i % 200);
            let k = keys(
                &ip,
                3215,
                "FR",
                1000 + i as u64,
                "Chrome",
                9 + (i % 9) as u8,
            );
            pop.add_login(
                k.country,
                k.asn,
                k.prefix,
                k.fingerprint,
                k.browser,
                k.os,
                k.kind,
                hour_bucket(k.hour_of_week),
            );
        }
        for d in 0..30u16 {
            let k = keys("81.250.4.10", 3215, "FR", 77, "Chrome", 9 + (d % 3) as u8);
            learn(&mut acct, &mut pop, &k, 20_000 + d);
        }
        (acct, pop)
    }

    #[test]
    fn familiar_login_scores_near_zero() {
        let (acct, pop) = history();
        let r = score(
            &acct,
            &pop,
            &keys("81.250.4.99", 3215, "FR", 77, "Chrome", 10),
            20_030,
        );
        assert!(r.score < 0.01, "{r:?}");
        assert!(r.network < 0.0 && r.device < 0.0, "{r:?}");
    }

    #[test]
    fn infostealer_login_scores_high_and_every_term_says_why() {
        let (acct, pop) = history();
        // Hosting network abroad, new device, 03:00.
        let r = score(
            &acct,
            &pop,
            &keys("188.166.3.4", 14061, "NL", 999_999, "Firefox", 3),
            20_030,
        );
        assert!(r.score > 0.85, "{r:?}");
        assert!(r.network > 2.0 && r.device > 2.0 && r.hour > 1.0, "{r:?}");
    }

    #[test]
    fn a_new_phone_on_the_usual_network_stays_low() {
        let (acct, pop) = history();
        let mut k = keys("81.250.4.10", 3215, "FR", 4242, "Safari", 10);
        k.os = key32(b"iOS");
        k.kind = DeviceType::Mobile;
        let r = score(&acct, &pop, &k, 20_030);
        assert!(r.device > 1.0, "{r:?}");
        assert!(r.score < 0.1, "{r:?}");
    }

    #[test]
    fn a_new_account_leans_on_population_priors() {
        let (_, pop) = history();
        let empty = AccountBaseline::default();
        let r = score(
            &empty,
            &pop,
            &keys("90.0.1.9", 3215, "FR", 1001, "Chrome", 10),
            20_030,
        );
        assert!(r.log_ratio.abs() < 1.0, "{r:?}");
    }
}
