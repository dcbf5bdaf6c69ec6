//! Honest validation: stratified k-fold where every row with the same measurement vector falls
//! in the same fold (grouped), so a duplicate never sits on both sides of a split. This is
//! scikit-learn's `StratifiedGroupKFold` idea with a simpler, documented greedy assignment:
//! groups in a seeded random order (largest first), each into the fold whose class counts move
//! least away from an even share.

use std::collections::HashMap;

use rand::SeedableRng;
use rand::seq::SliceRandom;
use rand_chacha::ChaCha8Rng;

/// Group id for each row: rows with identical `keys` share one.
pub fn groups_of<K: std::hash::Hash + Eq + Clone>(keys: &[K]) -> Vec<usize> {
    let mut ids: HashMap<K, usize> = HashMap::new();
    keys.iter()
        .map(|k| {
            let next = ids.len();
            *ids.entry(k.clone()).or_insert(next)
        })
        .collect()
}

/// The fold (0..k) of each row; all rows of a group share a fold, and each fold's class mix is
/// close to the whole set's.
pub fn grouped_stratified_folds(
    groups: &[usize],
    labels: &[usize],
    n_classes: usize,
    k: usize,
    seed: u64,
) -> Vec<usize> {
    let n_groups = groups.iter().max().map_or(0, |m| m + 1);
    let mut counts = vec![vec![0usize; n_classes]; n_groups];
    for (&g, &y) in groups.iter().zip(labels) {
        counts[g][y] += 1;
    }
    let mut order: Vec<usize> = (0..n_groups).collect();
    order.shuffle(&mut ChaCha8Rng::seed_from_u64(seed));
    // Stable: ties in size keep the seeded order.
    order.sort_by_key(|&g| std::cmp::Reverse(counts[g].iter().sum::<usize>()));

    let mut totals = vec![0usize; n_classes];
    for &y in labels {
        totals[y] += 1;
    }
    let target: Vec<f64> = totals.iter().map(|&t| t as f64 / k as f64).collect();
    let mut fold_counts = vec![vec![0usize; n_classes]; k];
    let mut fold_of_group = vec![0usize; n_groups];
    for g in order {
        let cost = |f: usize| -> f64 {
            (0..n_classes)
                .map(|c| {
                    let before = fold_counts[f][c] as f64 - target[c];
                    let after = before + counts[g][c] as f64;
                    after * after - before * before
                })
                .sum()
        };
        let size = |f: usize| fold_counts[f].iter().sum::<usize>();
        let best = (0..k)
            .min_by(|&a, &b| {
                cost(a)
                    .total_cmp(&cost(b))
                    .then(size(a).cmp(&size(b)))
                    .then(a.cmp(&b))
            })
            .unwrap_or(0);
        for c in 0..n_classes {
            fold_counts[best][c] += counts[g][c];
        }
        fold_of_group[g] = best;
    }
    groups.iter().map(|&g| fold_of_group[g]).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn duplicates_never_straddle_folds_and_classes_spread_evenly() {
        let keys: Vec<u32> = (0..300).map(|i| i % 90).collect();
        let labels: Vec<usize> = keys.iter().map(|k| (*k % 3) as usize).collect();
        let groups = groups_of(&keys);
        let folds = grouped_stratified_folds(&groups, &labels, 3, 5, 7);
        for (i, j) in (0..300).zip(90..300) {
            if keys[i] == keys[j] {
                assert_eq!(folds[i], folds[j]);
            }
        }
        for f in 0..5 {
            let n = folds.iter().filter(|&&x| x == f).count();
            assert!((50..=70).contains(&n), "fold {f} has {n} rows");
        }
        assert_eq!(folds, grouped_stratified_folds(&groups, &labels, 3, 5, 7));
    }
}
