//! The statistics page's numbers: reviews per ISO week, score distributions, and Cohen's kappa
//! where two nurses reviewed the same item.

use crate::core::calendar::iso_week;
use std::collections::BTreeMap;

use super::items::SAFETY_PROBLEMS;
use crate::store::Store;
use crate::store::reviews::{DbError, RatingRow};

/// Ratings of one review, as the statistics need them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Rating {
    pub clinical_accuracy: i64,
    pub tone: i64,
    pub should_escalate: bool,
}

/// What `/review/stats` shows.
#[derive(Debug, Clone, PartialEq)]
pub struct Stats {
    /// `(2026-W48, reviews)`, oldest week first.
    pub per_week: Vec<(String, i64)>,
    /// Count of each score 1–5.
    pub clinical_accuracy: [i64; 5],
    pub tone: [i64; 5],
    /// Count per safety problem, in [`SAFETY_PROBLEMS`] order.
    pub safety: Vec<(&'static str, i64)>,
    pub escalate_yes: i64,
    pub total: i64,
    /// Items two nurses reviewed (the first two reviews of each).
    pub pairs: usize,
    /// Cohen's kappa over the pairs; `None` with fewer than 2 pairs or when agreement by chance
    /// is already certain (every rating the same category).
    pub kappa_clinical: Option<f64>,
    pub kappa_escalation: Option<f64>,
}

/// Pairs needed before kappa means anything.
pub const MIN_PAIRS: usize = 2;

/// Computes every statistic over all reviews.
pub async fn stats(store: &Store) -> Result<Stats, DbError> {
    Ok(summarise(&store.reviews().ratings().await?))
}

/// Every statistic of these ratings (ordered by item, then oldest first).
fn summarise(rows: &[RatingRow]) -> Stats {
    let mut counts = Counts::default();
    let mut by_item: BTreeMap<&str, Vec<Rating>> = BTreeMap::new();
    for row in rows {
        let rating = Rating {
            clinical_accuracy: row.clinical_accuracy,
            tone: row.tone,
            should_escalate: row.should_escalate,
        };
        counts.add(row, rating);
        by_item
            .entry(row.item_id.as_str())
            .or_default()
            .push(rating);
    }
    // The first two reviews of each item reviewed twice.
    let pairs: Vec<(Rating, Rating)> = by_item
        .values()
        .filter(|r| r.len() >= 2)
        .map(|r| (r[0], r[1]))
        .collect();
    let enough = pairs.len() >= MIN_PAIRS;
    let kappa_of = |f: fn(&Rating) -> i64| {
        enough
            .then(|| cohen_kappa(&pairs.iter().map(|(a, b)| (f(a), f(b))).collect::<Vec<_>>()))
            .flatten()
    };
    Stats {
        kappa_clinical: kappa_of(|r| r.clinical_accuracy),
        kappa_escalation: kappa_of(|r| i64::from(r.should_escalate)),
        per_week: counts.per_week.into_iter().collect(),
        clinical_accuracy: counts.clinical_accuracy,
        tone: counts.tone,
        safety: counts.safety,
        escalate_yes: counts.escalate_yes,
        total: rows.len() as i64,
        pairs: pairs.len(),
    }
}

/// The running counts of [`summarise`].
struct Counts {
    per_week: BTreeMap<String, i64>,
    clinical_accuracy: [i64; 5],
    tone: [i64; 5],
    safety: Vec<(&'static str, i64)>,
    escalate_yes: i64,
}

impl Default for Counts {
    fn default() -> Self {
        Counts {
            per_week: BTreeMap::new(),
            clinical_accuracy: [0; 5],
            tone: [0; 5],
            safety: SAFETY_PROBLEMS.iter().map(|p| (*p, 0)).collect(),
            escalate_yes: 0,
        }
    }
}

impl Counts {
    fn add(&mut self, row: &RatingRow, rating: Rating) {
        *self.per_week.entry(iso_week(row.created_at)).or_default() += 1;
        // Scores outside 1–5 (none are stored) are left out rather than miscounted.
        for (score, histogram) in [
            (rating.clinical_accuracy, &mut self.clinical_accuracy),
            (rating.tone, &mut self.tone),
        ] {
            if let Some(slot) = usize::try_from(score - 1)
                .ok()
                .and_then(|i| histogram.get_mut(i))
            {
                *slot += 1;
            }
        }
        if let Some(entry) = self
            .safety
            .iter_mut()
            .find(|(p, _)| *p == row.safety_problem)
        {
            entry.1 += 1;
        }
        self.escalate_yes += i64::from(rating.should_escalate);
    }
}

/// Cohen's kappa of two raters over the same items (unweighted: every disagreement counts the
/// same): κ = (p_o − p_e) / (1 − p_e), with p_o the observed agreement and p_e the agreement
/// expected by chance from each rater's own distribution (Cohen 1960). `None` for no pairs, or
/// when p_e = 1 (both raters always gave one and the same category: κ is undefined).
pub fn cohen_kappa<T: Ord + Copy>(pairs: &[(T, T)]) -> Option<f64> {
    if pairs.is_empty() {
        return None;
    }
    let n = pairs.len() as f64;
    let observed = pairs.iter().filter(|(a, b)| a == b).count() as f64 / n;
    let mut first: BTreeMap<T, f64> = BTreeMap::new();
    let mut second: BTreeMap<T, f64> = BTreeMap::new();
    for (a, b) in pairs {
        *first.entry(*a).or_default() += 1.0;
        *second.entry(*b).or_default() += 1.0;
    }
    let expected: f64 = first
        .iter()
        .map(|(k, a)| a * second.get(k).copied().unwrap_or(0.0))
        .sum::<f64>()
        / (n * n);
    if (1.0 - expected).abs() < f64::EPSILON {
        return None;
    }
    Some((observed - expected) / (1.0 - expected))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kappa_is_one_for_perfect_agreement_and_zero_at_chance() {
        let perfect = [(1, 1), (2, 2), (3, 3), (2, 2)];
        assert_eq!(cohen_kappa(&perfect), Some(1.0));
        // Observed 0.5, each rater half yes: expected 0.5 → κ = 0.
        let chance = [(true, true), (true, false), (false, true), (false, false)];
        assert_eq!(cohen_kappa(&chance), Some(0.0));
    }

    #[test]
    fn kappa_matches_a_worked_example() {
        // 50 items: both yes 20, A yes/B no 5, A no/B yes 10, both no 15 (Wikipedia's example):
        // p_o = 0.7, p_e = 0.5 → κ = 0.4.
        let mut pairs = Vec::new();
        pairs.extend(std::iter::repeat_n((true, true), 20));
        pairs.extend(std::iter::repeat_n((true, false), 5));
        pairs.extend(std::iter::repeat_n((false, true), 10));
        pairs.extend(std::iter::repeat_n((false, false), 15));
        let k = cohen_kappa(&pairs).unwrap();
        assert!((k - 0.4).abs() < 1e-9, "{k}");
    }

    #[test]
    fn kappa_is_undefined_when_everyone_always_says_the_same() {
        assert_eq!(cohen_kappa(&[(5, 5), (5, 5)]), None);
        assert_eq!(cohen_kappa::<i64>(&[]), None);
    }
}
