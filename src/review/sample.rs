//! Sampling a review batch: the conversations of a time window that nurses will read.
//!
//! Rules (documented for nurses and admins in `docs/review.md`, "Sampling"):
//! - **Candidates** are conversations with activity in the window (`updated_at` in
//!   `[now − window, now)`) that have an answer (an assistant message that is not an error) and
//!   that are in no batch yet. A conversation already queued (in an open batch) or reviewed is
//!   never drawn again, so no nurse reads the same conversation twice by accident.
//! - **Urgent first, all of them.** Every candidate with a message the guard flagged `urgent`
//!   (red flag, self-harm) is in the batch, even when there are more than `n`: a missed danger sign
//!   is the failure review exists to catch. They come first, oldest first.
//! - **The rest fill up to `n`** by a random draw stratified by (language, persona,
//!   prompt@version) parsed from `messages.prompt_ref` (conversations without a prompt form their
//!   own stratum, `no-prompt`), with proportional allocation by largest remainder (Hamilton), so
//!   every stratum gets its share of the sample within one conversation.
//! - **Deterministic by seed:** the same seed on the same data gives the same conversations in
//!   the same order (candidates are sorted before the seeded RNG draws).
//! - **Overlap:** `overlap` items, chosen at random, are marked for a second nurse (agreement,
//!   Cohen's kappa, on `/review/stats`).
//! - An empty window is an error that says why, not an empty batch.

use std::collections::BTreeMap;
use std::time::Duration;

use super::batches::{Origin, PromptUse};
use crate::core::new_id;
use crate::store::Store;
pub use crate::store::reviews::BatchItem;
use crate::store::reviews::{BatchInsertError, DbError, NewBatch};
use rand::SeedableRng;
use rand::rngs::StdRng;
use rand::seq::SliceRandom;
use serde::Serialize;

/// The stratum of conversations without a (parsable) prompt reference.
pub const NO_PROMPT: &str = "no-prompt";

/// What to sample.
#[derive(Debug, Clone)]
pub struct SampleOptions {
    /// Batch size to reach with the random draw (urgent conversations may exceed it).
    pub n: u32,
    /// How far back from `now` to look.
    pub window: Duration,
    pub seed: u64,
    /// End of the window, epoch ms.
    pub now: i64,
    pub origin: Origin,
    /// Items marked for a second review.
    pub overlap: u32,
    /// For scheduled batches: the period covered (unique; see `schedule`).
    pub period: Option<String>,
}

/// A stored batch and its items, in review order.
#[derive(Debug, Clone, Serialize)]
pub struct Batch {
    pub id: String,
    pub created_at: i64,
    pub window_start: i64,
    pub window_end: i64,
    pub seed: u64,
    pub requested: u32,
    pub origin: Origin,
    pub period: Option<String>,
    /// How many conversations the window offered (after exclusions).
    pub candidates: usize,
    pub items: Vec<BatchItem>,
}

impl Batch {
    pub fn urgent_count(&self) -> usize {
        self.items.iter().filter(|i| i.urgent).count()
    }

    /// Items per stratum, sorted by stratum.
    pub fn strata(&self) -> BTreeMap<&str, usize> {
        let mut out = BTreeMap::new();
        for i in &self.items {
            *out.entry(i.stratum.as_str()).or_insert(0) += 1;
        }
        out
    }
}

/// Why no batch was made.
#[derive(Debug, thiserror::Error)]
pub enum SampleError {
    /// Nothing to review in the window.
    #[error(
        "no conversation to review between {from} and {to} (UTC): none had an answer in that window, or all of them are already in a batch; no batch was created"
    )]
    Empty { from: String, to: String },
    /// A scheduled batch for this period exists already (another replica, or before a restart).
    #[error("the review batch for {0} exists already")]
    PeriodTaken(String),
    /// Another sampling took some of the same conversations at the same moment; nothing was
    /// stored. Sampling again draws from what is left.
    #[error(
        "another batch was sampled at the same moment and took some of these conversations; nothing was stored, sample again"
    )]
    Raced,
    #[error("database: {0}")]
    Database(#[from] DbError),
}

/// A conversation that may be drawn.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Candidate {
    conversation_id: String,
    /// Last activity, epoch ms: urgent conversations are ordered by it.
    updated_at: i64,
    urgent: bool,
    stratum: String,
}

/// Draws a batch and stores it (batch and items in one transaction).
pub async fn sample(store: &Store, opts: SampleOptions) -> Result<Batch, SampleError> {
    let window_ms = i64::try_from(opts.window.as_millis()).unwrap_or(i64::MAX);
    let window_start = opts.now.saturating_sub(window_ms);
    let candidates = candidates(store, window_start, opts.now).await?;
    if candidates.is_empty() {
        return Err(SampleError::Empty {
            from: utc(window_start),
            to: utc(opts.now),
        });
    }
    let total = candidates.len();
    let items = draw(
        candidates,
        opts.n as usize,
        opts.overlap as usize,
        opts.seed,
    );
    let batch = Batch {
        id: new_id(),
        created_at: crate::core::now_ms(),
        window_start,
        window_end: opts.now,
        seed: opts.seed,
        requested: opts.n,
        origin: opts.origin,
        period: opts.period,
        candidates: total,
        items,
    };
    insert(store, &batch).await?;
    Ok(batch)
}

/// Conversations of the window that are in no batch and have an answer, sorted by id (in Rust:
/// a database collation must not change the draw). `eval run`'s own turns (key `eval`) are test
/// cases, never sampled.
async fn candidates(store: &Store, from: i64, to: i64) -> Result<Vec<Candidate>, DbError> {
    let rows = store
        .reviews()
        .candidates(from, to, crate::chat::Origin::EVAL_KEY_ID)
        .await?;
    let mut candidates: Vec<Candidate> = rows
        .into_iter()
        .map(|r| Candidate {
            stratum: stratum(r.prompt_ref.as_deref()),
            conversation_id: r.conversation_id,
            updated_at: r.updated_at,
            urgent: r.urgent,
        })
        .collect();
    candidates.sort_by(|a, b| a.conversation_id.cmp(&b.conversation_id));
    Ok(candidates)
}

/// `lang|persona|prompt@version`, or [`NO_PROMPT`].
pub fn stratum(prompt_ref: Option<&str>) -> String {
    match prompt_ref.and_then(|r| r.parse::<PromptUse>().ok()) {
        Some(u) => format!("{}|{}|{}", u.language, u.persona, u.prompt),
        None => NO_PROMPT.to_string(),
    }
}

/// The batch from sorted candidates: urgent ones first (all), then the stratified draw, then
/// the overlap marks. Pure, so determinism is testable without a database.
fn draw(candidates: Vec<Candidate>, n: usize, overlap: usize, seed: u64) -> Vec<BatchItem> {
    let mut rng = StdRng::seed_from_u64(seed);
    let (mut urgent, rest): (Vec<Candidate>, Vec<Candidate>) =
        candidates.into_iter().partition(|c| c.urgent);
    urgent.sort_by(|a, b| {
        (a.updated_at, &a.conversation_id).cmp(&(b.updated_at, &b.conversation_id))
    });
    let mut strata: BTreeMap<String, Vec<Candidate>> = BTreeMap::new();
    for c in rest {
        strata.entry(c.stratum.clone()).or_default().push(c);
    }
    let sizes: Vec<usize> = strata.values().map(Vec::len).collect();
    let quotas = allocate(&sizes, n.saturating_sub(urgent.len()));
    let mut drawn = Vec::new();
    for (members, quota) in strata.into_values().zip(quotas) {
        let mut members = members;
        members.shuffle(&mut rng);
        drawn.extend(members.into_iter().take(quota));
    }
    // Mixed, so a nurse does not read one stratum after the other.
    drawn.shuffle(&mut rng);
    let mut items: Vec<BatchItem> = urgent
        .into_iter()
        .chain(drawn)
        .enumerate()
        .map(|(i, c)| BatchItem {
            id: new_id(),
            conversation_id: c.conversation_id,
            position: i as i64,
            urgent: c.urgent,
            stratum: c.stratum,
            overlap: false,
        })
        .collect();
    let marks = overlap.min(items.len());
    for i in rand::seq::index::sample(&mut rng, items.len(), marks) {
        items[i].overlap = true;
    }
    items
}

/// Proportional allocation of `k` draws over strata of `sizes`, by largest remainder: each
/// stratum gets ⌊k·Nₕ/N⌋, and the draws left go to the largest fractional parts (ties: the
/// earlier stratum). Never more than a stratum holds; all of them when `k ≥ N`.
pub fn allocate(sizes: &[usize], k: usize) -> Vec<usize> {
    let total: usize = sizes.iter().sum();
    if k >= total {
        return sizes.to_vec();
    }
    // Exact integer arithmetic: quota = k·Nₕ / N with remainder k·Nₕ mod N.
    let mut quotas: Vec<usize> = sizes.iter().map(|&s| k * s / total).collect();
    let mut order: Vec<usize> = (0..sizes.len()).collect();
    order.sort_by_key(|&h| std::cmp::Reverse(k * sizes[h] % total));
    let mut left = k - quotas.iter().sum::<usize>();
    for h in order {
        if left == 0 {
            break;
        }
        if quotas[h] < sizes[h] {
            quotas[h] += 1;
            left -= 1;
        }
    }
    quotas
}

async fn insert(store: &Store, batch: &Batch) -> Result<(), SampleError> {
    let new = NewBatch {
        id: &batch.id,
        created_at: batch.created_at,
        window_start: batch.window_start,
        window_end: batch.window_end,
        seed: batch.seed,
        requested: i64::from(batch.requested),
        origin: batch.origin,
        period: batch.period.as_deref(),
    };
    store
        .reviews()
        .insert_batch(&new, &batch.items)
        .await
        .map_err(|e| match e {
            BatchInsertError::PeriodTaken => {
                SampleError::PeriodTaken(batch.period.clone().unwrap_or_default())
            }
            BatchInsertError::Raced => SampleError::Raced,
            BatchInsertError::Db(e) => SampleError::Database(e),
        })
}

/// `2026-11-27 14:00` (UTC) for messages.
pub(crate) fn utc(ms: i64) -> String {
    use crate::core::calendar::{DAY_MS, date_of_day, day_of};
    let in_day = ms.rem_euclid(DAY_MS) / 60_000;
    format!(
        "{} {:02}:{:02}",
        date_of_day(day_of(ms)),
        in_day / 60,
        in_day % 60
    )
}

/// Parses a window: a whole number of days (`7d`) or hours (`24h`), at most a year.
pub fn parse_window(text: &str) -> Result<Duration, String> {
    let t = text.trim();
    let bad = || {
        format!(
            "{text:?} is not a window: give a whole number of days or hours, like 7d, 30d or 24h"
        )
    };
    let Some((at, unit)) = t.char_indices().last() else {
        return Err(bad());
    };
    let count: u64 = t[..at].parse().map_err(|_| bad())?;
    let secs = match unit {
        'd' | 'D' => count.checked_mul(86_400),
        'h' | 'H' => count.checked_mul(3_600),
        _ => return Err(bad()),
    }
    .ok_or_else(bad)?;
    if secs == 0 || secs > 366 * 86_400 {
        return Err(format!("{text:?}: the window must be between 1h and 366d"));
    }
    Ok(Duration::from_secs(secs))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn candidate(id: usize, urgent: bool, stratum: &str) -> Candidate {
        Candidate {
            conversation_id: format!("c{id:04}"),
            updated_at: id as i64,
            urgent,
            stratum: stratum.into(),
        }
    }

    #[test]
    fn allocation_is_proportional_and_sums_to_the_sample() {
        assert_eq!(allocate(&[60, 30, 10], 10), vec![6, 3, 1]);
        // 20 over 3 equal strata: 7, 7, 6 (the remainder goes to the earlier strata).
        assert_eq!(allocate(&[10, 10, 10], 20), vec![7, 7, 6]);
        // A small stratum still gets its share when its remainder is the largest.
        assert_eq!(allocate(&[97, 3], 10), vec![10, 0]);
        assert_eq!(allocate(&[90, 5, 5], 20).iter().sum::<usize>(), 20);
        // More asked than exists: everything.
        assert_eq!(allocate(&[2, 1], 5), vec![2, 1]);
        assert_eq!(allocate(&[], 5), Vec::<usize>::new());
    }

    #[test]
    fn urgent_conversations_all_come_first_even_beyond_the_sample_size() {
        let mut c: Vec<Candidate> = (0..30).map(|i| candidate(i, false, "a")).collect();
        c.extend((30..33).map(|i| candidate(i, true, "a")));
        let items = draw(c, 2, 0, 1);
        assert_eq!(items.len(), 3);
        assert!(items.iter().all(|i| i.urgent));
        let items = draw(
            (0..10)
                .map(|i| candidate(i, i == 7, "a"))
                .collect::<Vec<_>>(),
            4,
            0,
            1,
        );
        assert_eq!(items.len(), 4);
        assert_eq!(items[0].conversation_id, "c0007");
        assert!(items[1..].iter().all(|i| !i.urgent));
    }

    #[test]
    fn the_same_seed_draws_the_same_batch_and_another_seed_another() {
        let pool = || -> Vec<Candidate> {
            (0..200)
                .map(|i| candidate(i, false, if i % 3 == 0 { "a" } else { "b" }))
                .collect()
        };
        let ids = |seed| -> Vec<String> {
            draw(pool(), 20, 2, seed)
                .into_iter()
                .map(|i| i.conversation_id)
                .collect()
        };
        assert_eq!(ids(42), ids(42));
        assert_ne!(ids(42), ids(43));
    }

    #[test]
    fn overlap_marks_exactly_that_many_items() {
        let c: Vec<Candidate> = (0..50).map(|i| candidate(i, false, "a")).collect();
        let items = draw(c, 20, 3, 9);
        assert_eq!(items.iter().filter(|i| i.overlap).count(), 3);
        let few: Vec<Candidate> = (0..1).map(|i| candidate(i, false, "a")).collect();
        assert_eq!(draw(few, 20, 3, 9).iter().filter(|i| i.overlap).count(), 1);
    }

    #[test]
    fn conversations_without_a_prompt_form_their_own_stratum() {
        assert_eq!(stratum(None), NO_PROMPT);
        assert_eq!(stratum(Some("garbage")), NO_PROMPT);
        assert_eq!(
            stratum(Some("birth-plan@1;lang=en;persona=nurse")),
            "en|nurse|birth-plan@1"
        );
    }

    #[test]
    fn windows_are_days_or_hours() {
        assert_eq!(parse_window("7d").unwrap(), Duration::from_secs(7 * 86_400));
        assert_eq!(parse_window("24h").unwrap(), Duration::from_secs(86_400));
        assert_eq!(
            parse_window("30d").unwrap(),
            Duration::from_secs(30 * 86_400)
        );
        for bad in [
            "",
            "7",
            "d",
            "7é",
            "7w",
            "-1d",
            "0d",
            "1.5d",
            "400d",
            "99999999999999999999d",
        ] {
            let e = parse_window(bad).unwrap_err();
            assert!(e.contains(bad), "{e}");
        }
    }
}
