//! Offline evaluation of the recommender (`powerbirth eval recommend`): leave-last-out on an
//! interaction log. Each patient's last read is held out; her earlier reads become her
//! engagement features; the recommender and two baselines (most popular for her week, random)
//! each rank 5 articles and are scored on the held-out read: recall@5, precision@5, NDCG@5
//! (binary relevance, the definition scikit-learn's `ndcg_score` uses with `k=5`).

use std::collections::{BTreeMap, HashMap, HashSet};

use rand::SeedableRng;
use rand::seq::SliceRandom;
use rand_chacha::ChaCha8Rng;
use serde::Serialize;

use super::catalogue::Lang;
use super::rank::{Query, Ranker};
use super::synth::Interaction;
use crate::features::EngagementFeatures;

/// The cut-off every metric is taken at.
pub const K: usize = 5;

/// recall@k: the share of the relevant items found in the first k of `ranked`.
pub fn recall_at_k(ranked: &[&str], relevant: &HashSet<&str>, k: usize) -> f64 {
    if relevant.is_empty() {
        return 0.0;
    }
    hits(ranked, relevant, k) as f64 / relevant.len() as f64
}

/// precision@k: the share of the first k slots that hold a relevant item (k in the
/// denominator even when fewer were ranked).
pub fn precision_at_k(ranked: &[&str], relevant: &HashSet<&str>, k: usize) -> f64 {
    hits(ranked, relevant, k) as f64 / k as f64
}

/// NDCG@k with binary relevance: DCG = Σ rel_i / log2(i + 1) over positions i = 1..k, divided
/// by the DCG of the ideal order (all relevant items first).
pub fn ndcg_at_k(ranked: &[&str], relevant: &HashSet<&str>, k: usize) -> f64 {
    let dcg: f64 = ranked
        .iter()
        .take(k)
        .enumerate()
        .filter(|(_, id)| relevant.contains(*id))
        .map(|(i, _)| 1.0 / ((i + 2) as f64).log2())
        .sum();
    let ideal: f64 = (0..relevant.len().min(k))
        .map(|i| 1.0 / ((i + 2) as f64).log2())
        .sum();
    if ideal == 0.0 { 0.0 } else { dcg / ideal }
}

fn hits(ranked: &[&str], relevant: &HashSet<&str>, k: usize) -> usize {
    ranked
        .iter()
        .take(k)
        .filter(|id| relevant.contains(*id))
        .count()
}

/// Mean metrics of one ranker over the held-out reads.
#[derive(Debug, Clone, Default, Serialize, PartialEq)]
pub struct Scores {
    pub recall_at_5: f64,
    pub precision_at_5: f64,
    pub ndcg_at_5: f64,
}

/// The evaluation of one log: the recommender and both baselines on the same held-out reads.
#[derive(Debug, Clone, Serialize)]
pub struct Report {
    /// Patients with at least two reads (one to hold out, one of history).
    pub patients: usize,
    pub interactions: usize,
    pub recommender: Scores,
    pub most_popular_for_week: Scores,
    pub random: Scores,
}

struct Patient<'a> {
    reads: Vec<&'a Interaction>,
}

/// Her reads but the last (the held-out one).
fn history<'a>(p: &Patient<'a>) -> Vec<&'a Interaction> {
    p.reads[..p.reads.len() - 1].to_vec()
}

/// Evaluates `ranker` (its popularity is replaced by the log's own, counted without the
/// held-out reads) on `log`; `seed` drives the random baseline.
pub fn evaluate(ranker: &Ranker, log: &[Interaction], seed: u64) -> Report {
    let mut by_patient: BTreeMap<&str, Patient<'_>> = BTreeMap::new();
    for i in log {
        by_patient
            .entry(i.patient_id.as_str())
            .or_insert(Patient { reads: Vec::new() })
            .reads
            .push(i);
    }
    let patients: Vec<Patient<'_>> = by_patient
        .into_values()
        .filter(|p| p.reads.len() >= 2)
        .map(|mut p| {
            p.reads.sort_by_key(|r| r.ts_ms);
            p
        })
        .collect();
    let mut ranker = ranker.clone();
    let train: Vec<&Interaction> = patients.iter().flat_map(history).collect();
    ranker.popularity = popularity(&ranker, train.iter().map(|i| i.content_id.as_str()));
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let mut sums = [Scores::default(), Scores::default(), Scores::default()];
    for p in &patients {
        let (held, past) = (p.reads[p.reads.len() - 1], history(p));
        let features = features_from(&ranker, &past);
        let relevant: HashSet<&str> = [held.content_id.as_str()].into();
        let ours = ranker.recommend(Query {
            features: Some(&features),
            fallback_language: None,
            k: K,
        });
        let ours: Vec<&str> = ours.iter().map(|i| i.id.as_str()).collect();
        let popular = popular_for_week(&ranker, &train, &features, held.gestational_week);
        let random = random_unread(&ranker, &features, &mut rng);
        for (sum, ranked) in sums.iter_mut().zip([&ours, &popular, &random]) {
            sum.recall_at_5 += recall_at_k(ranked, &relevant, K);
            sum.precision_at_5 += precision_at_k(ranked, &relevant, K);
            sum.ndcg_at_5 += ndcg_at_k(ranked, &relevant, K);
        }
    }
    let n = patients.len().max(1) as f64;
    let [recommender, most_popular_for_week, random] = sums.map(|s| Scores {
        recall_at_5: s.recall_at_5 / n,
        precision_at_5: s.precision_at_5 / n,
        ndcg_at_5: s.ndcg_at_5 / n,
    });
    Report {
        patients: patients.len(),
        interactions: log.len(),
        recommender,
        most_popular_for_week,
        random,
    }
}

/// Reads per article, scaled so the most read is 1.
pub fn popularity<'a>(ranker: &Ranker, reads: impl Iterator<Item = &'a str>) -> Vec<f64> {
    let mut counts = vec![0.0; ranker.catalogue.len()];
    for id in reads {
        if let Some(i) = ranker.catalogue.position(id) {
            counts[i] += 1.0;
        }
    }
    let max = counts.iter().copied().fold(0.0, f64::max);
    if max > 0.0 {
        counts.iter_mut().for_each(|c| *c /= max);
    }
    counts
}

/// Engagement features as the feature store would hold them after `past` (most recent first).
fn features_from(ranker: &Ranker, past: &[&Interaction]) -> EngagementFeatures {
    let mut f = EngagementFeatures::default();
    for r in past.iter().rev() {
        f.read_content_ids.push(r.content_id.clone());
        if let Some(a) = ranker.catalogue.get(&r.content_id) {
            for t in &a.topics {
                *f.views_30d.entry(t.clone()).or_default() += 1;
            }
        }
    }
    let last = past.last();
    f.language = last.map(|r| r.language.clone());
    f.gestational_week = last.map(|r| r.gestational_week);
    f.last_active_ms = last.map(|r| r.ts_ms);
    f
}

/// Baseline: the articles read most by patients within two weeks of hers, in her language,
/// that she has not read.
fn popular_for_week<'a>(
    ranker: &'a Ranker,
    train: &[&Interaction],
    f: &EngagementFeatures,
    week: u32,
) -> Vec<&'a str> {
    let mut counts: HashMap<&str, usize> = HashMap::new();
    for r in train
        .iter()
        .filter(|r| r.gestational_week.abs_diff(week) <= 2)
    {
        *counts.entry(r.content_id.as_str()).or_default() += 1;
    }
    let lang = f.language.as_deref().and_then(Lang::parse);
    let mut candidates: Vec<(usize, &str)> = unread(ranker, f, lang)
        .into_iter()
        .map(|id| (counts.get(id).copied().unwrap_or(0), id))
        .collect();
    candidates.sort_by(|a, b| b.0.cmp(&a.0).then(a.1.cmp(b.1)));
    candidates.into_iter().take(K).map(|(_, id)| id).collect()
}

/// Baseline: k unread articles in her language, uniformly at random.
fn random_unread<'a>(
    ranker: &'a Ranker,
    f: &EngagementFeatures,
    rng: &mut ChaCha8Rng,
) -> Vec<&'a str> {
    let lang = f.language.as_deref().and_then(Lang::parse);
    let mut ids = unread(ranker, f, lang);
    ids.shuffle(rng);
    ids.truncate(K);
    ids
}

fn unread<'a>(ranker: &'a Ranker, f: &EngagementFeatures, lang: Option<Lang>) -> Vec<&'a str> {
    ranker
        .catalogue
        .articles()
        .iter()
        .filter(|a| lang.is_none_or(|l| a.language == l))
        .filter(|a| !f.read_content_ids.contains(&a.id))
        .map(|a| a.id.as_str())
        .collect()
}

/// The report as a table for the terminal.
pub fn render_table(r: &Report) -> String {
    let mut out = format!(
        "{} patients, {} interactions (last read per patient held out)\n\n{:<24} {:>9} {:>12} {:>8}\n",
        r.patients, r.interactions, "ranker", "recall@5", "precision@5", "NDCG@5"
    );
    for (name, s) in [
        ("recommender", &r.recommender),
        ("most popular for week", &r.most_popular_for_week),
        ("random", &r.random),
    ] {
        out.push_str(&format!(
            "{name:<24} {:>9.4} {:>12.4} {:>8.4}\n",
            s.recall_at_5, s.precision_at_5, s.ndcg_at_5
        ));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ndcg_equals_the_hand_computed_value() {
        // Relevant b and d, ranked 2nd and 4th of five.
        // DCG = 1/log2(3) + 1/log2(5) = 0.630930 + 0.430677 = 1.061606
        // IDCG = 1/log2(2) + 1/log2(3) = 1.630930; NDCG = 0.650921.
        let ranked = ["a", "b", "c", "d", "e"];
        let relevant: HashSet<&str> = ["b", "d"].into();
        let ndcg = ndcg_at_k(&ranked, &relevant, 5);
        assert!((ndcg - 0.650_920_9).abs() < 1e-6, "{ndcg}");
        assert!((recall_at_k(&ranked, &relevant, 5) - 1.0).abs() < 1e-12);
        assert!((precision_at_k(&ranked, &relevant, 5) - 0.4).abs() < 1e-12);
    }

    #[test]
    fn one_relevant_item_scores_its_rank() {
        let relevant: HashSet<&str> = ["c"].into();
        let ndcg = ndcg_at_k(&["a", "b", "c"], &relevant, 5);
        assert!((ndcg - 0.5).abs() < 1e-12, "1/log2(4) = 0.5, got {ndcg}");
        assert_eq!(ndcg_at_k(&["a", "b"], &relevant, 5), 0.0);
        assert_eq!(recall_at_k(&["a", "b", "c"], &relevant, 2), 0.0);
    }
}
