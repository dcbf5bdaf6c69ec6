//! The synthetic engagement generator (`powerbirth data synth-engagement`): an interaction log
//! for tests and for the sanity figure in docs/model-performance.md. It is NOT evidence of how
//! the recommender serves real women; it checks that the ranking uses the signals it is given.
//!
//! The model of a patient, deterministic per seed (ChaCha8):
//! - language pt-BR (60%) or en; gestational week uniform in 6–40;
//! - two distinct preferred topics, drawn from the topics her language's articles cover;
//! - every article has an appeal shared by all patients, Zipf(1) over a seeded shuffle of the
//!   catalogue (a few articles are read far more than the rest, as in any real catalogue);
//! - 4–12 reads, one per day. Each read is, with probability 0.8, an unread article in her
//!   language that has a preferred topic and fits her week (within 2 weeks of its range), drawn
//!   in proportion to its appeal; else
//!   (or when none is left) any unread article in her language, the nearer its weeks to hers the
//!   likelier.
//!
//! Output: JSON Lines, one read per line, `{"patient_id", "language", "gestational_week",
//! "content_id", "ts_ms"}`, patients in order and each patient's reads in time order.

use std::io::Write;

use rand::seq::SliceRandom;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use serde::{Deserialize, Serialize};

use super::catalogue::{Article, Catalogue, Lang};
use super::rank::Ranker;

/// One read in an interaction log.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Interaction {
    pub patient_id: String,
    pub language: String,
    pub gestational_week: u32,
    pub content_id: String,
    pub ts_ms: i64,
}

/// The log starts here (2026-01-01T00:00:00Z), so the same seed gives the same bytes.
const START_MS: i64 = 1_767_225_600_000;

/// Generates the log of `patients` patients over `catalogue`.
pub fn generate(catalogue: &Catalogue, seed: u64, patients: usize) -> Vec<Interaction> {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    // Appeal: a Zipf(1) weight per article from a seeded shuffle (some articles are read far
    // more than others, as in any real catalogue).
    let mut order: Vec<usize> = (0..catalogue.len()).collect();
    order.shuffle(&mut rng);
    let mut appeal = vec![0.0; catalogue.len()];
    for (rank, &i) in order.iter().enumerate() {
        appeal[i] = 1.0 / (rank as f64 + 1.0);
    }
    let appeal_of = |a: &Article| catalogue.position(&a.id).map_or(0.0, |i| appeal[i]);
    let mut out = Vec::new();
    for p in 0..patients {
        let lang = if rng.random_bool(0.6) {
            Lang::PtBr
        } else {
            Lang::En
        };
        let week: u32 = rng.random_range(6..=40);
        let own: Vec<&Article> = catalogue
            .articles()
            .iter()
            .filter(|a| a.language == lang)
            .collect();
        if own.is_empty() {
            continue;
        }
        let mut topics: Vec<&str> = own
            .iter()
            .flat_map(|a| a.topics.iter().map(String::as_str))
            .collect();
        topics.sort_unstable();
        topics.dedup();
        let prefs: Vec<&str> = (0..2)
            .map(|_| topics[rng.random_range(0..topics.len())])
            .collect();
        let reads = rng.random_range(4..=12usize);
        let mut read: Vec<&str> = Vec::new();
        for n in 0..reads {
            let unread = |a: &&&Article| !read.contains(&a.id.as_str());
            let fits = |a: &Article| a.weeks.0 <= week + 2 && week <= a.weeks.1 + 2;
            let preferred: Vec<&&Article> = own
                .iter()
                .filter(unread)
                .filter(|a| fits(a) && a.topics.iter().any(|t| prefs.contains(&t.as_str())))
                .collect();
            let pick = if !preferred.is_empty() && rng.random_bool(0.8) {
                let weights: Vec<f64> = preferred.iter().map(|a| appeal_of(a)).collect();
                preferred[pick_weighted(&weights, &mut rng)]
            } else {
                let rest: Vec<&&Article> = own.iter().filter(unread).collect();
                match weighted_by_week(&rest, week, &mut rng) {
                    Some(a) => a,
                    None => break,
                }
            };
            read.push(&pick.id);
            out.push(Interaction {
                patient_id: format!("synth-{seed}-{p:05}"),
                language: lang.tag().to_string(),
                gestational_week: week,
                content_id: pick.id.clone(),
                ts_ms: START_MS + (p as i64) * 1000 + (n as i64) * crate::core::calendar::DAY_MS,
            });
        }
    }
    out
}

/// An index drawn with probability proportional to its weight.
fn pick_weighted(weights: &[f64], rng: &mut ChaCha8Rng) -> usize {
    let total: f64 = weights.iter().sum();
    let mut x = rng.random_range(0.0..total.max(f64::MIN_POSITIVE));
    for (i, w) in weights.iter().enumerate() {
        x -= w;
        if x <= 0.0 {
            return i;
        }
    }
    weights.len() - 1
}

/// An article drawn with weight 1 / (1 + weeks outside its range).
fn weighted_by_week<'a>(
    articles: &[&&'a Article],
    week: u32,
    rng: &mut ChaCha8Rng,
) -> Option<&'a Article> {
    let weight = |a: &Article| {
        let d = if week < a.weeks.0 {
            a.weeks.0 - week
        } else {
            week.saturating_sub(a.weeks.1)
        };
        1.0 / (1.0 + f64::from(d))
    };
    let total: f64 = articles.iter().map(|a| weight(a)).sum();
    if total <= 0.0 {
        return None;
    }
    let mut x = rng.random_range(0.0..total);
    for a in articles {
        x -= weight(a);
        if x <= 0.0 {
            return Some(**a);
        }
    }
    articles.last().map(|a| **a)
}

/// Writes the log as JSON Lines.
pub fn write_jsonl(log: &[Interaction], out: &mut impl Write) -> std::io::Result<()> {
    for i in log {
        serde_json::to_writer(&mut *out, i)?;
        out.write_all(b"\n")?;
    }
    Ok(())
}

/// Reads a JSON Lines log; an error names the line.
pub fn read_jsonl(text: &str) -> Result<Vec<Interaction>, String> {
    text.lines()
        .enumerate()
        .filter(|(_, l)| !l.trim().is_empty())
        .map(|(n, l)| serde_json::from_str(l).map_err(|e| format!("line {}: {e}", n + 1)))
        .collect()
}

/// A synthetic catalogue of `n` articles with fixed pseudo-random unit vectors of `dim`
/// dimensions (benchmarks and tests: no model needed).
pub fn synthetic_ranker(n: usize, dim: usize, seed: u64) -> Ranker {
    use super::catalogue::Topic;
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let topics: Vec<Topic> = (0..12)
        .map(|t| Topic {
            id: format!("topic-{t}"),
            pt_br: format!("Tema {t}"),
            en: format!("Topic {t}"),
        })
        .collect();
    let mut articles = Vec::with_capacity(n);
    let mut vectors = Vec::with_capacity(n);
    for i in 0..n {
        let from: u32 = rng.random_range(1..=38);
        let to = (from + rng.random_range(2..=10)).min(42);
        let t1 = rng.random_range(0..topics.len());
        articles.push(Article {
            id: format!("article-{i:05}"),
            title: format!("Article {i}"),
            language: if i % 2 == 0 { Lang::PtBr } else { Lang::En },
            topics: vec![topics[t1].id.clone()],
            weeks: (from, to),
            reading_minutes: 3,
            published_day: 20_000 + rng.random_range(0..400),
            translation_of: None,
            reviewed: None,
            body: String::new(),
            content_hash: format!("{i:064}"),
        });
        let v: Vec<f32> = (0..dim).map(|_| rng.random_range(-1.0f32..1.0)).collect();
        let norm = v.iter().map(|x| x * x).sum::<f32>().sqrt();
        vectors.push(v.into_iter().map(|x| x / norm).collect());
    }
    let popularity = (0..n).map(|_| rng.random_range(0.0..1.0)).collect();
    Ranker {
        catalogue: Catalogue::from_parts(articles, topics),
        vectors,
        popularity,
        today: 20_400,
    }
}
