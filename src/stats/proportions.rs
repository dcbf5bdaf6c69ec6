//! The two-proportion z-test with pooled variance, as Evidently 0.7 computes it
//! (`evidently/legacy/calculations/stattests/z_stattest.py`: `proportions_diff_z_stat_ind` and
//! `proportions_diff_z_test`, two-sided p = 2·(1 − Φ(|z|))).

use serde::Serialize;

use super::normal_cdf;

/// The z statistic of p1 − p2 and its two-sided p-value.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct ProportionsZ {
    /// Proportion of successes in the first sample.
    pub p1: f64,
    /// Proportion of successes in the second sample.
    pub p2: f64,
    /// (p1 − p2) / √(P(1 − P)(1/n1 + 1/n2)), P the pooled proportion. NaN when P is 0 or 1
    /// and the proportions are equal (as numpy gives); ±inf when P is 0 or 1 otherwise cannot
    /// happen (equal pooled extremes imply equal proportions).
    pub z: f64,
    /// Two-sided p-value, 2·(1 − Φ(|z|)); NaN when z is NaN.
    pub p_value: f64,
}

/// Compares `successes1` of `n1` with `successes2` of `n2`. `None` when a sample is empty or
/// holds more successes than trials.
pub fn two_proportions_z(
    successes1: u64,
    n1: u64,
    successes2: u64,
    n2: u64,
) -> Option<ProportionsZ> {
    if n1 == 0 || n2 == 0 || successes1 > n1 || successes2 > n2 {
        return None;
    }
    let (n1f, n2f) = (n1 as f64, n2 as f64);
    // Evidently's order of operations, so the floats agree bit for bit where they can.
    let p1 = successes1 as f64 / n1f;
    let p2 = successes2 as f64 / n2f;
    let pooled = (p1 * n1f + p2 * n2f) / (n1f + n2f);
    let z = (p1 - p2) / (pooled * (1.0 - pooled) * (1.0 / n1f + 1.0 / n2f)).sqrt();
    Some(ProportionsZ {
        p1,
        p2,
        z,
        p_value: 2.0 * (1.0 - normal_cdf(z.abs())),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn equal_proportions_give_z_zero_and_p_one() {
        let r = two_proportions_z(10, 100, 20, 200).unwrap();
        assert_eq!(r.z, 0.0);
        assert_eq!(r.p_value, 1.0);
    }

    #[test]
    fn more_successes_than_trials_is_refused() {
        assert!(two_proportions_z(3, 2, 0, 1).is_none());
        assert!(two_proportions_z(0, 0, 0, 1).is_none());
    }
}
