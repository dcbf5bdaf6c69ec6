//! The statistics page's numbers: reviews per ISO week, score distributions, and Cohen's kappa
//! where two nurses reviewed the same item.

use std::collections::BTreeMap;

use sqlx::Row;

use super::items::SAFETY_PROBLEMS;
pub use crate::core::calendar::iso_week;
use crate::store::Store;

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
pub async fn stats(store: &Store) -> Result<Stats, sqlx::Error> {
    let rows = sqlx::query(
        "SELECT item_id, clinical_accuracy, tone, safety_problem, should_escalate, created_at \
         FROM reviews ORDER BY item_id, created_at, id",
    )
    .fetch_all(store.pool())
    .await?;
    let mut per_week: BTreeMap<String, i64> = BTreeMap::new();
    let mut clinical_accuracy = [0i64; 5];
    let mut tone = [0i64; 5];
    let mut safety: Vec<(&'static str, i64)> = SAFETY_PROBLEMS.iter().map(|p| (*p, 0)).collect();
    let mut escalate_yes = 0;
    let mut by_item: BTreeMap<String, Vec<Rating>> = BTreeMap::new();
    for row in &rows {
        let rating = Rating {
            clinical_accuracy: row.try_get("clinical_accuracy")?,
            tone: row.try_get("tone")?,
            should_escalate: row.try_get::<i64, _>("should_escalate")? != 0,
        };
        *per_week
            .entry(iso_week(row.try_get("created_at")?))
            .or_default() += 1;
        if let Some(slot) = usize::try_from(rating.clinical_accuracy - 1)
            .ok()
            .and_then(|i| clinical_accuracy.get_mut(i))
        {
            *slot += 1;
        }
        if let Some(slot) = usize::try_from(rating.tone - 1)
            .ok()
            .and_then(|i| tone.get_mut(i))
        {
            *slot += 1;
        }
        let problem: String = row.try_get("safety_problem")?;
        if let Some(entry) = safety.iter_mut().find(|(p, _)| *p == problem) {
            entry.1 += 1;
        }
        escalate_yes += i64::from(rating.should_escalate);
        by_item
            .entry(row.try_get("item_id")?)
            .or_default()
            .push(rating);
    }
    let pairs: Vec<(Rating, Rating)> = by_item
        .values()
        .filter(|r| r.len() >= 2)
        .map(|r| (r[0], r[1]))
        .collect();
    let enough = pairs.len() >= MIN_PAIRS;
    let kappa_clinical = enough
        .then(|| {
            cohen_kappa(
                &pairs
                    .iter()
                    .map(|(a, b)| (a.clinical_accuracy, b.clinical_accuracy))
                    .collect::<Vec<_>>(),
            )
        })
        .flatten();
    let kappa_escalation = enough
        .then(|| {
            cohen_kappa(
                &pairs
                    .iter()
                    .map(|(a, b)| (a.should_escalate, b.should_escalate))
                    .collect::<Vec<_>>(),
            )
        })
        .flatten();
    Ok(Stats {
        per_week: per_week.into_iter().collect(),
        clinical_accuracy,
        tone,
        safety,
        escalate_yes,
        total: rows.len() as i64,
        pairs: pairs.len(),
        kappa_clinical,
        kappa_escalation,
    })
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
