//! The distributions the `tune` and `holdout` profiles draw their parameters from (counts,
//! sizes, hours, durations), so that no parameter is a constant a rule could sit just under.
//!
//! Bounded distributions redraw values outside their bounds rather than clamping them: a clamp
//! would pile probability on the bound itself, recreating the constant this module exists to
//! avoid. Only after many misses (a bound far in a tail) does a value fall back to a uniform
//! draw inside the bounds.

use rand::Rng;

/// A distribution of one real parameter.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Dist {
    /// Uniform in `[lo, hi)`.
    Uniform(f64, f64),
    /// Normal with this mean and standard deviation, kept inside `[lo, hi]`.
    Normal {
        /// Mean.
        mean: f64,
        /// Standard deviation.
        sd: f64,
        /// Smallest value.
        lo: f64,
        /// Largest value.
        hi: f64,
    },
    /// Log-normal with this median and shape (standard deviation of the logarithm), kept
    /// inside `[lo, hi]`: sizes, counts and durations, whose tails are long.
    LogNormal {
        /// Median.
        median: f64,
        /// Standard deviation of `ln(x)`.
        sigma: f64,
        /// Smallest value.
        lo: f64,
        /// Largest value.
        hi: f64,
    },
}

/// Shorthand for [`Dist::Normal`].
pub const fn normal(mean: f64, sd: f64, lo: f64, hi: f64) -> Dist {
    Dist::Normal { mean, sd, lo, hi }
}

/// Shorthand for [`Dist::LogNormal`].
pub const fn lognormal(median: f64, sigma: f64, lo: f64, hi: f64) -> Dist {
    Dist::LogNormal {
        median,
        sigma,
        lo,
        hi,
    }
}

/// Shorthand for [`Dist::Uniform`].
pub const fn uniform(lo: f64, hi: f64) -> Dist {
    Dist::Uniform(lo, hi)
}

const REDRAWS: usize = 16;

impl Dist {
    /// One value.
    pub fn sample(&self, rng: &mut impl Rng) -> f64 {
        match *self {
            Dist::Uniform(lo, hi) => {
                if hi > lo {
                    rng.gen_range(lo..hi)
                } else {
                    lo
                }
            }
            Dist::Normal { mean, sd, lo, hi } => {
                bounded(rng, lo, hi, |rng| mean + sd * standard_normal(rng))
            }
            Dist::LogNormal {
                median,
                sigma,
                lo,
                hi,
            } => bounded(rng, lo, hi, |rng| {
                median * (sigma * standard_normal(rng)).exp()
            }),
        }
    }

    /// One value rounded to a whole number (never negative).
    pub fn count(&self, rng: &mut impl Rng) -> u32 {
        self.sample(rng).round().max(0.0) as u32
    }

    /// One value rounded to whole minutes, seconds or milliseconds (whatever unit it is in).
    pub fn whole(&self, rng: &mut impl Rng) -> i64 {
        self.sample(rng).round() as i64
    }
}

fn bounded<R: Rng>(rng: &mut R, lo: f64, hi: f64, mut draw: impl FnMut(&mut R) -> f64) -> f64 {
    for _ in 0..REDRAWS {
        let v = draw(rng);
        if v >= lo && v <= hi {
            return v;
        }
    }
    if hi > lo {
        rng.gen_range(lo..hi)
    } else {
        lo
    }
}

/// A standard normal value (Box–Muller).
pub fn standard_normal(rng: &mut (impl Rng + ?Sized)) -> f64 {
    let u1: f64 = rng.gen_range(f64::EPSILON..1.0);
    let u2: f64 = rng.gen();
    (-2.0 * u1.ln()).sqrt() * (std::f64::consts::TAU * u2).cos()
}

/// A Poisson count of mean `mean` (Knuth's method for small means, a normal approximation
/// above 30, where the two are indistinguishable for our purposes).
pub fn poisson(rng: &mut impl Rng, mean: f64) -> u32 {
    if mean <= 0.0 {
        return 0;
    }
    if mean > 30.0 {
        return (mean + mean.sqrt() * standard_normal(rng)).round().max(0.0) as u32;
    }
    let limit = (-mean).exp();
    let mut p = 1.0;
    let mut k = 0;
    loop {
        p *= rng.gen::<f64>();
        if p <= limit {
            return k;
        }
        k += 1;
    }
}

/// True with probability `p` (clamped into `[0, 1]`).
pub fn chance(rng: &mut impl Rng, p: f64) -> bool {
    rng.gen_bool(p.clamp(0.0, 1.0))
}

/// One of `items`, chosen with probability proportional to its weight; `None` when every
/// weight is zero.
pub fn pick<T: Copy>(rng: &mut impl Rng, items: &[(T, f64)]) -> Option<T> {
    let total: f64 = items.iter().map(|(_, w)| w.max(0.0)).sum();
    if total <= 0.0 {
        return None;
    }
    let mut x = rng.gen_range(0.0..total);
    for &(item, w) in items {
        let w = w.max(0.0);
        if x < w {
            return Some(item);
        }
        x -= w;
    }
    items.iter().rev().find(|(_, w)| *w > 0.0).map(|&(i, _)| i)
}

/// Great-circle distance in kilometres between two points given in degrees.
pub fn distance_km(lat1: f64, lon1: f64, lat2: f64, lon2: f64) -> f64 {
    let (p1, p2) = (lat1.to_radians(), lat2.to_radians());
    let dp = p2 - p1;
    let dl = (lon2 - lon1).to_radians();
    let a = (dp / 2.0).sin().powi(2) + p1.cos() * p2.cos() * (dl / 2.0).sin().powi(2);
    2.0 * 6371.0 * a.sqrt().asin()
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::rngs::SmallRng;
    use rand::SeedableRng;

    #[test]
    fn bounded_draws_stay_inside_without_piling_on_the_bounds() {
        let mut rng = SmallRng::seed_from_u64(3);
        let d = lognormal(100.0, 1.0, 20.0, 400.0);
        let v: Vec<f64> = (0..20_000).map(|_| d.sample(&mut rng)).collect();
        assert!(v.iter().all(|&x| (20.0..=400.0).contains(&x)));
        let at_hi = v.iter().filter(|&&x| x > 399.0).count();
        assert!(at_hi < 40, "{at_hi} values on the upper bound");
        let mut s = v.clone();
        s.sort_by(f64::total_cmp);
        let median = s[s.len() / 2];
        assert!((85.0..120.0).contains(&median), "median {median}");
    }

    #[test]
    fn poisson_and_normal_have_their_means() {
        let mut rng = SmallRng::seed_from_u64(4);
        for mean in [0.3, 4.0, 80.0] {
            let n = 20_000;
            let total: u64 = (0..n).map(|_| poisson(&mut rng, mean) as u64).sum();
            let m = total as f64 / n as f64;
            assert!((m - mean).abs() < mean * 0.05 + 0.02, "{m} vs {mean}");
        }
        let d = normal(480.0, 30.0, 0.0, 1440.0);
        let m: f64 = (0..20_000).map(|_| d.sample(&mut rng)).sum::<f64>() / 20_000.0;
        assert!((m - 480.0).abs() < 2.0, "{m}");
    }

    #[test]
    fn pick_follows_the_weights() {
        let mut rng = SmallRng::seed_from_u64(5);
        let items = [("a", 1.0), ("b", 3.0), ("c", 0.0)];
        let b = (0..8000)
            .filter(|_| pick(&mut rng, &items) == Some("b"))
            .count();
        assert!((5700..6300).contains(&b), "{b}");
        assert_eq!(pick(&mut rng, &[("x", 0.0)]), None);
    }

    #[test]
    fn paris_to_lyon_is_about_390_km() {
        let d = distance_km(48.8566, 2.3522, 45.7640, 4.8357);
        assert!((385.0..400.0).contains(&d), "{d}");
    }
}
