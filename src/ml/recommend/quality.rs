//! The daily job (a [`crate::periodic::Periodic`] task started by the app): recomputes
//! popularity and measures recall@5 of what was recommended.
//!
//! Where the reads come from: the engagement features' `read_content_ids` (the feature store's
//! current row of each patient), compared with the `read_before` list logged with each
//! recommendation. The reads that followed a recommendation are the ids in her current list that
//! were not in `read_before`.
//! - **Recall@5**: over the recommendations made 8 to 7 days ago (yesterday's cohort, whose
//!   7-day window has just closed; a daily run sees each cohort once), the mean of
//!   |recommended top 5 ∩ reads that followed| / |reads that followed|, over the
//!   recommendations followed by at least one read → `powerbirth_recommendation_recall_at_5`.
//!   The features row is read now, so a read made on day 8 (between the window closing and this
//!   run) is counted too: at most one day of overshoot, stated rather than hidden.
//! - **Popularity**: reads per article over the patients who asked for recommendations in the
//!   last 30 days (their current read lists), scaled so the most read article is 1.
//!
//! Profiles are not precomputed: each request builds hers from the store's current row (at most
//! 20 vectors summed, microseconds), which is fresher than a daily copy.

use std::collections::{BTreeSet, HashMap};
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;

use super::Recommender;
use crate::core::calendar::DAY_MS;
use crate::features::EngagementFeatures;
use crate::store::Store;
use crate::store::recommendations::{self, RecommendationRow};

/// Looks a patient's engagement features up (the feature store; `None` when unknown or when the
/// store cannot answer).
pub type Lookup = Arc<
    dyn Fn(String) -> Pin<Box<dyn Future<Output = Option<EngagementFeatures>> + Send>>
        + Send
        + Sync,
>;

/// A lookup that knows no patient (every request a cold start): until the feature store is
/// wired in, and for tools that have no store.
pub fn no_features() -> Lookup {
    Arc::new(|_| Box::pin(async { None }))
}

/// The feature store as a lookup: an unknown patient, an id the store refuses, or a store that
/// cannot answer are all a cold start for the recommender (the last one logged), never an error
/// to the client.
pub fn feature_lookup(features: crate::features::FeatureStore) -> Lookup {
    Arc::new(move |patient_id: String| {
        let features = features.clone();
        Box::pin(async move {
            match features.engagement(&patient_id).await {
                Ok(row) => row.map(|r| r.values),
                Err(crate::features::FeatureError::Invalid(_)) => None,
                Err(e) => {
                    tracing::warn!(error = %e, "recommendations: the feature store cannot answer; serving a cold start");
                    None
                }
            }
        })
    })
}

/// Recall@5 of `rows` given each patient's current read list: the mean over the rows followed
/// by at least one read, and how many such rows there were. `None` when no row was followed by
/// a read.
pub fn recall_at_5(
    rows: &[RecommendationRow],
    current_reads: &HashMap<String, Vec<String>>,
) -> Option<(f64, usize)> {
    let mut sum = 0.0;
    let mut n = 0;
    for row in rows {
        let Some(now) = current_reads.get(&row.patient_pseudonym) else {
            continue;
        };
        let before: BTreeSet<&str> = row.read_before.iter().map(String::as_str).collect();
        let followed: BTreeSet<&str> = now
            .iter()
            .map(String::as_str)
            .filter(|id| !before.contains(id))
            .collect();
        if followed.is_empty() {
            continue;
        }
        let hits = row
            .item_ids
            .iter()
            .take(5)
            .filter(|id| followed.contains(id.as_str()))
            .count();
        sum += hits as f64 / followed.len() as f64;
        n += 1;
    }
    (n > 0).then(|| (sum / n as f64, n))
}

/// One run of the daily job: popularity, then recall@5 of yesterday's cohort. Errors are
/// logged; the next run tries again.
pub async fn run_once(
    recommender: &Recommender,
    store: &Store,
    lookup: &Lookup,
    metrics: &crate::metrics::Metrics,
    now_ms: i64,
) {
    let recent = match recommendations::between(store, now_ms - 30 * DAY_MS, now_ms).await {
        Ok(rows) => rows,
        Err(e) => {
            tracing::warn!(error = %e, "recommendation refresh: cannot read the recommendation log");
            Vec::new()
        }
    };
    let patients: BTreeSet<&str> = recent
        .iter()
        .map(|r| r.patient_pseudonym.as_str())
        .collect();
    let mut reads: HashMap<String, Vec<String>> = HashMap::new();
    for p in patients {
        if let Some(f) = lookup(p.to_string()).await {
            reads.insert(p.to_string(), f.read_content_ids);
        }
    }
    recommender.refresh(reads.values().flatten().map(String::as_str), now_ms);
    let cohort: Vec<RecommendationRow> = recent
        .into_iter()
        .filter(|r| r.created_at >= now_ms - 8 * DAY_MS && r.created_at < now_ms - 7 * DAY_MS)
        .collect();
    match recall_at_5(&cohort, &reads) {
        Some((recall, n)) => {
            metrics.recommendation_recall_at_5.set(recall);
            tracing::info!(
                recall_at_5 = recall,
                recommendations = n,
                "recommendation quality measured"
            );
        }
        None => tracing::info!(
            cohort = cohort.len(),
            "recommendation quality: no recommendation of 7 days ago was followed by a read; gauge unchanged"
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn row(patient: &str, items: &[&str], before: &[&str]) -> RecommendationRow {
        RecommendationRow {
            id: format!("rec-{patient}"),
            created_at: 0,
            patient_pseudonym: patient.into(),
            item_ids: items.iter().map(|s| s.to_string()).collect(),
            read_before: before.iter().map(|s| s.to_string()).collect(),
            model_version: "v".into(),
        }
    }

    fn reads(list: &[(&str, &[&str])]) -> HashMap<String, Vec<String>> {
        list.iter()
            .map(|(p, ids)| (p.to_string(), ids.iter().map(|s| s.to_string()).collect()))
            .collect()
    }

    #[test]
    fn recall_counts_only_reads_that_followed_the_recommendation() {
        let rows = [
            // She read a (before) and then b and z: b was recommended, z not → 1/2.
            row("p1", &["b", "c", "d", "e", "f"], &["a"]),
            // Read c afterwards, recommended → 1/1.
            row("p2", &["c", "x"], &[]),
            // Nothing read since: not counted.
            row("p3", &["a"], &["q"]),
        ];
        let current = reads(&[("p1", &["z", "b", "a"]), ("p2", &["c"]), ("p3", &["q"])]);
        let (recall, n) = recall_at_5(&rows, &current).unwrap();
        assert_eq!(n, 2);
        assert!((recall - 0.75).abs() < 1e-12, "{recall}");
    }

    #[test]
    fn no_read_after_any_recommendation_gives_no_figure() {
        let rows = [row("p1", &["b"], &["a"])];
        assert_eq!(recall_at_5(&rows, &reads(&[("p1", &["a"])])), None);
        assert_eq!(recall_at_5(&rows, &HashMap::new()), None);
    }
}
