//! Evidently 0.7's drift tests (`evidently/legacy/calculations/stattests/`), one function per
//! test, each returning the drift score Evidently reports and whether it calls it drift at the
//! default threshold. Samples arrive cleaned, as Evidently cleans them (nulls and ±inf dropped).
//!
//! Binning (`utils.get_binned_data`): a numeric sample whose reference has more than 20
//! distinct values is cut into numpy's Sturges bins over both samples together; anything else
//! is counted per distinct value over the union of both samples' values. PSI then replaces
//! empty bins by 0.0001 (or, when the smallest non-empty share is at most 0.0001, by that
//! share / 10⁶); Jensen–Shannon uses the shares as they are.

use std::collections::{BTreeMap, BTreeSet};

use serde::Serialize;

use super::distance::{chisquare, jensen_shannon, pairwise_sum, wasserstein};
use super::{ks_2samp, two_proportions_z};

/// One column's cleaned values.
#[derive(Debug, Clone, Copy)]
pub enum Sample<'a> {
    /// Numbers; `integer` when the column's type is an integer one (numpy then keeps Sturges
    /// bins at least 1 wide).
    Numeric { values: &'a [f64], integer: bool },
    /// Category labels.
    Categorical(&'a [String]),
}

impl Sample<'_> {
    fn len(&self) -> usize {
        match self {
            Sample::Numeric { values, .. } => values.len(),
            Sample::Categorical(v) => v.len(),
        }
    }

    /// Value → count, keyed so that numbers sort numerically and labels as Python sorts them.
    fn counts(&self) -> BTreeMap<Key, usize> {
        let mut m = BTreeMap::new();
        match self {
            Sample::Numeric { values, .. } => {
                for v in *values {
                    *m.entry(Key::Num(OrdF64(*v))).or_default() += 1;
                }
            }
            Sample::Categorical(v) => {
                for s in *v {
                    *m.entry(Key::Label(s.clone())).or_default() += 1;
                }
            }
        }
        m
    }
}

/// A distinct value of a sample.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
enum Key {
    Num(OrdF64),
    Label(String),
}

#[derive(Debug, Clone, Copy, PartialEq)]
struct OrdF64(f64);
impl Eq for OrdF64 {}
impl PartialOrd for OrdF64 {
    fn partial_cmp(&self, o: &Self) -> Option<std::cmp::Ordering> {
        Some(self.cmp(o))
    }
}
impl Ord for OrdF64 {
    fn cmp(&self, o: &Self) -> std::cmp::Ordering {
        // -0.0 and 0.0 are one value, as in pandas.
        (self.0 + 0.0).total_cmp(&(o.0 + 0.0))
    }
}
impl std::hash::Hash for OrdF64 {
    fn hash<H: std::hash::Hasher>(&self, h: &mut H) {
        (self.0 + 0.0).to_bits().hash(h)
    }
}

/// A drift test's score and verdict.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct DriftScore {
    /// The score Evidently reports (a p-value for ks, chisquare and z; a distance otherwise).
    pub score: f64,
    /// Whether the score crosses the test's default threshold.
    pub drift: bool,
}

/// Number of distinct values in both samples together (`pd.concat([r, c]).nunique()`).
pub fn distinct_values(reference: Sample, current: Sample) -> usize {
    let mut all = reference.counts();
    all.extend(current.counts());
    all.len()
}

/// Reference and current shares per bin (`get_binned_data`), with PSI's zero filling when
/// `fill_zeroes`.
fn binned(reference: Sample, current: Sample, fill_zeroes: bool) -> (Vec<f64>, Vec<f64>) {
    let (nr, nc) = (reference.len() as f64, current.len() as f64);
    let (mut r, mut c): (Vec<f64>, Vec<f64>) = match (reference, current) {
        (
            Sample::Numeric {
                values: rv,
                integer,
            },
            Sample::Numeric { values: cv, .. },
        ) if reference.counts().len() > 20 => {
            let all: Vec<f64> = rv.iter().chain(cv).copied().collect();
            let edges = sturges_edges(&all, integer);
            let share = |v: &[f64], n: f64| -> Vec<f64> {
                histogram(v, &edges)
                    .into_iter()
                    .map(|k| k as f64 / n)
                    .collect()
            };
            (share(rv, nr), share(cv, nc))
        }
        _ => {
            let (rc, cc) = (reference.counts(), current.counts());
            let keys: Vec<&Key> = rc
                .keys()
                .chain(cc.keys())
                .collect::<BTreeSet<_>>()
                .into_iter()
                .collect();
            let share =
                |m: &BTreeMap<Key, usize>, n: f64, k: &Key| *m.get(k).unwrap_or(&0) as f64 / n;
            (
                keys.iter().map(|k| share(&rc, nr, k)).collect(),
                keys.iter().map(|k| share(&cc, nc, k)).collect(),
            )
        }
    };
    if fill_zeroes {
        fill_zero_shares(&mut r);
        fill_zero_shares(&mut c);
    }
    (r, c)
}

fn fill_zero_shares(p: &mut [f64]) {
    let min = p
        .iter()
        .copied()
        .filter(|&x| x != 0.0)
        .fold(f64::INFINITY, f64::min);
    let fill = if min <= 0.0001 { min / 1e6 } else { 0.0001 };
    for x in p.iter_mut().filter(|x| **x == 0.0) {
        *x = fill;
    }
}

/// `np.histogram_bin_edges(a, bins="sturges")`.
pub fn sturges_edges(a: &[f64], integer: bool) -> Vec<f64> {
    let (mut lo, mut hi) = a
        .iter()
        .fold((f64::INFINITY, f64::NEG_INFINITY), |(l, h), &x| {
            (l.min(x), h.max(x))
        });
    if lo == hi {
        lo -= 0.5;
        hi += 0.5;
    }
    let ptp = a.iter().fold(f64::NEG_INFINITY, |m, &x| m.max(x))
        - a.iter().fold(f64::INFINITY, |m, &x| m.min(x));
    let mut width = ptp / ((a.len() as f64).log2() + 1.0);
    let bins = if width != 0.0 {
        if integer && width < 1.0 {
            width = 1.0;
        }
        ((hi - lo) / width).ceil() as usize
    } else {
        1
    };
    // np.linspace(lo, hi, bins + 1): i·step + lo, the last edge exactly hi.
    let step = (hi - lo) / bins as f64;
    let mut edges: Vec<f64> = (0..=bins).map(|i| i as f64 * step + lo).collect();
    edges[bins] = hi;
    edges
}

/// `np.histogram(a, edges)` counts: [e_i, e_{i+1}), the last bin closed.
pub fn histogram(a: &[f64], edges: &[f64]) -> Vec<usize> {
    let mut sorted = a.to_vec();
    sorted.sort_by(f64::total_cmp);
    let left = |e: f64| sorted.partition_point(|&x| x < e);
    let last = edges[edges.len() - 1];
    let mut cum: Vec<usize> = edges[..edges.len() - 1].iter().map(|&e| left(e)).collect();
    cum.push(sorted.partition_point(|&x| x <= last));
    cum.windows(2).map(|w| w[1] - w[0]).collect()
}

/// Evidently's `psi` (drift at ≥ 0.1).
pub fn psi(reference: Sample, current: Sample) -> DriftScore {
    let (r, c) = binned(reference, current, true);
    let terms: Vec<f64> = r
        .iter()
        .zip(&c)
        .map(|(a, b)| (a - b) * (a / b).ln())
        .collect();
    let score = pairwise_sum(&terms);
    DriftScore {
        score,
        drift: score >= 0.1,
    }
}

/// Evidently's `jensenshannon` (drift at ≥ 0.1).
pub fn jensenshannon(reference: Sample, current: Sample) -> DriftScore {
    let (r, c) = binned(reference, current, false);
    let score = jensen_shannon(&r, &c).unwrap_or(f64::NAN);
    DriftScore {
        score,
        drift: score >= 0.1,
    }
}

/// Evidently's `chisquare`: current counts against reference counts scaled to the current
/// size, p-value (drift at < 0.05).
pub fn chisquare_test(reference: Sample, current: Sample) -> DriftScore {
    let (rc, cc) = (reference.counts(), current.counts());
    let k_norm = current.len() as f64 / reference.len() as f64;
    let keys: Vec<&Key> = rc
        .keys()
        .chain(cc.keys())
        .collect::<BTreeSet<_>>()
        .into_iter()
        .collect();
    let exp: Vec<f64> = keys
        .iter()
        .map(|k| *rc.get(*k).unwrap_or(&0) as f64 * k_norm)
        .collect();
    let obs: Vec<f64> = keys
        .iter()
        .map(|k| *cc.get(*k).unwrap_or(&0) as f64)
        .collect();
    let (_, p) = chisquare(&obs, &exp);
    DriftScore {
        score: p,
        drift: p < 0.05,
    }
}

/// Evidently's `z`: the share of values other than the smallest key, two-proportion z-test,
/// p-value (drift at < 0.05); 1 when both samples hold one and the same value.
pub fn z_test(reference: Sample, current: Sample) -> DriftScore {
    let (rc, cc) = (reference.counts(), current.counts());
    if rc.len() == 1 && cc.len() == 1 && rc.keys().next() == cc.keys().next() {
        return DriftScore {
            score: 1.0,
            drift: false,
        };
    }
    let first = rc.keys().chain(cc.keys()).min().cloned();
    let others = |m: &BTreeMap<Key, usize>, n: usize| {
        n - first.as_ref().and_then(|k| m.get(k)).copied().unwrap_or(0)
    };
    let (nr, nc) = (reference.len(), current.len());
    let p = two_proportions_z(
        others(&rc, nr) as u64,
        nr as u64,
        others(&cc, nc) as u64,
        nc as u64,
    )
    .map_or(f64::NAN, |r| r.p_value);
    DriftScore {
        score: p,
        drift: p < 0.05,
    }
}

/// Evidently's `ks`: `ks_2samp` p-value (drift at ≤ 0.05).
pub fn ks_test(reference: &[f64], current: &[f64]) -> DriftScore {
    let p = ks_2samp(reference, current).map_or(f64::NAN, |r| r.p_value);
    DriftScore {
        score: p,
        drift: p <= 0.05,
    }
}

/// Evidently's `wasserstein`: the distance over the reference's population standard deviation
/// (at least 0.001) (drift at ≥ 0.1).
pub fn wasserstein_normed(reference: &[f64], current: &[f64]) -> DriftScore {
    let norm = population_std(reference).max(0.001);
    let score = wasserstein(reference, current).map_or(f64::NAN, |d| d / norm);
    DriftScore {
        score,
        drift: score >= 0.1,
    }
}

/// `np.std(x)` (ddof 0, mean first, pairwise sums).
pub fn population_std(x: &[f64]) -> f64 {
    let n = x.len() as f64;
    let mean = pairwise_sum(x) / n;
    let sq: Vec<f64> = x.iter().map(|v| (v - mean) * (v - mean)).collect();
    (pairwise_sum(&sq) / n).sqrt()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sturges_bins_span_both_samples() {
        let e = sturges_edges(&[0.0, 1.0, 2.0, 3.0, 4.0, 5.0, 6.0, 7.0], false);
        assert_eq!(e.len(), 5); // log2(8) + 1 = 4 bins
        assert_eq!((e[0], e[4]), (0.0, 7.0));
        assert_eq!(histogram(&[0.0, 7.0, 3.5], &e), vec![1, 0, 1, 1]);
    }

    #[test]
    fn one_and_the_same_value_is_no_drift_for_z() {
        let a = vec!["x".to_string(); 3];
        let r = z_test(Sample::Categorical(&a), Sample::Categorical(&a));
        assert_eq!(
            r,
            DriftScore {
                score: 1.0,
                drift: false
            }
        );
    }
}
