//! Sampling review batches, on SQLite and PostgreSQL: urgent conversations first, a draw
//! stratified by language, persona and prompt version, the same batch for the same seed, no
//! conversation drawn twice, and an empty window as a clear error; the CLI; and the server's own
//! schedule (once per period, even with two replicas).

use crate::common;
use crate::common::on_both_backends;

use std::sync::Arc;
use std::sync::atomic::{AtomicI64, Ordering};
use std::time::Duration;

use crate::common::review_seed::{
    self, Conv, DAY, HOUR, nurse, rating, review, store_conversations,
};
use powerbirth::core::now_ms;
use powerbirth::review::batches::{self, Origin};
use powerbirth::review::config::RawReviewConfig;
use powerbirth::review::sample::{SampleError, SampleOptions, sample};
use powerbirth::review::schedule::{ReviewScheduler, period_of};
use powerbirth::store::Store;

const GENERAL: &str = "assistant-general@2;lang=pt-BR;persona=doula";
const ALERT_EN: &str = "preeclampsia-alert@1;lang=en;persona=nurse";

fn opts(n: u32, seed: u64) -> SampleOptions {
    SampleOptions {
        n,
        window: Duration::from_secs(7 * 86_400),
        seed,
        now: now_ms(),
        origin: Origin::Cli,
        overlap: 0,
        period: None,
    }
}

fn conversation_ids(batch: &powerbirth::review::sample::Batch) -> Vec<String> {
    batch
        .items
        .iter()
        .map(|i| i.conversation_id.clone())
        .collect()
}

async fn every_urgent_conversation_comes_first_even_beyond_the_sample_size(store: &Store) {
    let now = now_ms();
    let mut convs: Vec<Conv> = (0..30)
        .map(|i| Conv::new(format!("calm-{i:02}"), now - (i + 1) * HOUR).prompt(GENERAL))
        .collect();
    convs.extend((0..5).map(|i| {
        Conv::new(format!("urgent-{i}"), now - (i + 2) * DAY)
            .prompt(ALERT_EN)
            .urgent()
    }));
    store_conversations(store, &convs).await;

    // Five urgent conversations and a sample of three: all five, nothing else.
    let batch = sample(store, opts(3, 1)).await.unwrap();
    assert_eq!(batch.items.len(), 5);
    assert_eq!(batch.urgent_count(), 5);
    // Oldest first, at the first positions.
    let ids = conversation_ids(&batch);
    assert_eq!(
        ids,
        ["urgent-4", "urgent-3", "urgent-2", "urgent-1", "urgent-0"]
    );

    // As stored, in order: what the pages read.
    let stored = batches::batch_items(store, &batch.id).await.unwrap();
    assert_eq!(
        stored
            .iter()
            .map(|i| i.conversation_id.clone())
            .collect::<Vec<_>>(),
        ids
    );
    assert!(stored.iter().all(|i| i.urgent));
    let summary = batches::batch(store, &batch.id).await.unwrap().unwrap();
    assert_eq!(
        (summary.items, summary.urgent_items, summary.requested),
        (5, 5, 3)
    );
    assert!(summary.is_open());

    // One new urgent conversation: it leads the next batch, then the draw fills up to n.
    store_conversations(
        store,
        &[Conv::new("urgent-late", now - HOUR)
            .prompt(GENERAL)
            .urgent()],
    )
    .await;
    let batch = sample(store, opts(6, 1)).await.unwrap();
    assert_eq!(batch.items.len(), 6);
    assert_eq!(batch.items[0].conversation_id, "urgent-late");
    assert!(batch.items[0].urgent);
    assert!(
        batch.items[1..]
            .iter()
            .all(|i| !i.urgent && i.conversation_id.starts_with("calm-"))
    );
}
on_both_backends!(store: every_urgent_conversation_comes_first_even_beyond_the_sample_size);

async fn the_draw_is_stratified_in_proportion_to_each_stratum(store: &Store) {
    let now = now_ms();
    let mut convs = Vec::new();
    for i in 0..60 {
        convs.push(Conv::new(format!("a-{i:02}"), now - (i + 1) * 60_000).prompt(GENERAL));
    }
    for i in 0..30 {
        convs.push(Conv::new(format!("b-{i:02}"), now - (i + 1) * 60_000).prompt(ALERT_EN));
    }
    for i in 0..10 {
        convs.push(Conv::new(format!("c-{i:02}"), now - (i + 1) * 60_000));
    }
    store_conversations(store, &convs).await;

    let batch = sample(store, opts(10, 7)).await.unwrap();
    assert_eq!(batch.candidates, 100);
    let strata = batch.strata();
    assert_eq!(
        strata.get("pt-BR|doula|assistant-general@2"),
        Some(&6),
        "{strata:?}"
    );
    assert_eq!(
        strata.get("en|nurse|preeclampsia-alert@1"),
        Some(&3),
        "{strata:?}"
    );
    assert_eq!(strata.get("no-prompt"), Some(&1), "{strata:?}");
    // Each item's stratum matches the conversation it came from.
    for item in batches::batch_items(store, &batch.id).await.unwrap() {
        let expected = match &item.conversation_id[..2] {
            "a-" => "pt-BR|doula|assistant-general@2",
            "b-" => "en|nurse|preeclampsia-alert@1",
            _ => "no-prompt",
        };
        assert_eq!(item.stratum, expected);
    }
}
on_both_backends!(store: the_draw_is_stratified_in_proportion_to_each_stratum);

async fn the_same_seed_on_the_same_data_draws_the_same_batch(store: &Store) {
    // Two stores with the same conversations: this one and a second SQLite file.
    let now = now_ms();
    let convs = || -> Vec<Conv<'static>> {
        (0..80)
            .map(|i| {
                let c = Conv::new(format!("conv-{i:03}"), now - (i + 1) * 60_000);
                if i % 4 == 0 {
                    c.prompt(ALERT_EN)
                } else {
                    c.prompt(GENERAL)
                }
            })
            .collect()
    };
    store_conversations(store, &convs()).await;
    let dir = tempfile::tempdir().unwrap();
    let (twin, _) = review_seed::sqlite_store(&dir).await;
    store_conversations(&twin, &convs()).await;
    let dir2 = tempfile::tempdir().unwrap();
    let (other, _) = review_seed::sqlite_store(&dir2).await;
    store_conversations(&other, &convs()).await;

    let first = sample(store, opts(12, 2026)).await.unwrap();
    let again = sample(&twin, opts(12, 2026)).await.unwrap();
    assert_eq!(conversation_ids(&first), conversation_ids(&again));
    let reseeded = sample(&other, opts(12, 2027)).await.unwrap();
    assert_ne!(conversation_ids(&first), conversation_ids(&reseeded));
    // The seed is kept with the batch, so a batch can be explained later.
    let stored = batches::batch(store, &first.id).await.unwrap().unwrap();
    assert_eq!(stored.seed, 2026);
}
on_both_backends!(store: the_same_seed_on_the_same_data_draws_the_same_batch);

async fn reviewed_and_queued_conversations_are_never_drawn_again(store: &Store) {
    let now = now_ms();
    store_conversations(
        store,
        &[
            Conv::new("one", now - HOUR).prompt(GENERAL),
            Conv::new("two", now - 2 * HOUR).prompt(GENERAL),
            Conv::new("three", now - 3 * HOUR).urgent(),
        ],
    )
    .await;
    let first = sample(store, opts(20, 1)).await.unwrap();
    assert_eq!(first.items.len(), 3);
    // One reviewed, two still queued: none of them comes back.
    let nurse = nurse(store, "ana@example.org").await;
    review(
        store,
        &first.items[0].id,
        &nurse,
        &rating(5, false, None, None),
    )
    .await;
    let again = sample(store, opts(20, 2)).await.unwrap_err();
    assert!(matches!(again, SampleError::Empty { .. }), "{again}");
    // A new conversation is drawn alone.
    store_conversations(store, &[Conv::new("four", now - 30 * 60_000)]).await;
    let next = sample(store, opts(20, 3)).await.unwrap();
    assert_eq!(conversation_ids(&next), ["four"]);
    let listed = batches::list_batches(store).await.unwrap();
    assert_eq!(listed.len(), 2);
    assert_eq!(listed[0].id, next.id, "newest first");
    assert_eq!(listed[1].reviews, 1);
    assert_eq!(listed[1].done_items, 1);
}
on_both_backends!(store: reviewed_and_queued_conversations_are_never_drawn_again);

async fn an_empty_window_is_a_clear_error_and_no_batch(store: &Store) {
    let now = now_ms();
    store_conversations(
        store,
        &[
            // Outside the window.
            Conv::new("old", now - 9 * DAY).prompt(GENERAL),
            // In the window, but its only call failed: nothing to review.
            Conv::new("failed", now - HOUR).turns(vec![("user", "oi"), ("assistant", "")]),
            // `eval run`'s own turns are test cases, not conversations of real women.
            Conv::new("eval-case", now - HOUR)
                .prompt(GENERAL)
                .key("eval")
                .urgent(),
        ],
    )
    .await;
    let err = sample(store, opts(20, 1)).await.unwrap_err();
    let text = err.to_string();
    assert!(matches!(err, SampleError::Empty { .. }), "{text}");
    assert!(text.contains("no conversation to review"), "{text}");
    assert!(text.contains("no batch was created"), "{text}");
    assert!(batches::list_batches(store).await.unwrap().is_empty());
}
on_both_backends!(store: an_empty_window_is_a_clear_error_and_no_batch);

async fn overlap_items_are_marked_for_a_second_nurse(store: &Store) {
    let now = now_ms();
    let convs: Vec<Conv> = (0..10)
        .map(|i| Conv::new(format!("c{i}"), now - (i + 1) * HOUR))
        .collect();
    store_conversations(store, &convs).await;
    let batch = sample(
        store,
        SampleOptions {
            overlap: 2,
            ..opts(5, 11)
        },
    )
    .await
    .unwrap();
    let stored = batches::batch_items(store, &batch.id).await.unwrap();
    assert_eq!(stored.len(), 5);
    assert_eq!(stored.iter().filter(|i| i.overlap).count(), 2);
    assert_eq!(
        stored
            .iter()
            .filter(|i| i.overlap)
            .map(|i| i.reviews_needed())
            .sum::<i64>(),
        4
    );
}
on_both_backends!(store: overlap_items_are_marked_for_a_second_nurse);

/// The schedule configuration: weekly, 20 conversations, no overlap.
fn weekly() -> powerbirth::review::ReviewConfig {
    let raw: RawReviewConfig = toml::from_str("schedule = \"weekly\"\noverlap = 0").unwrap();
    raw.validate().unwrap()
}

async fn wait_for_batches(store: &Store, count: usize) -> Vec<batches::BatchSummary> {
    for _ in 0..200 {
        let listed = batches::list_batches(store).await.unwrap();
        if listed.len() >= count {
            return listed;
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    panic!("expected {count} batch(es)");
}

async fn the_schedule_samples_once_per_week_even_with_two_replicas(store: &Store) {
    // A clock the test moves: Friday of ISO week 2026-W48, then the next week.
    let friday = 1_795_780_800_000_i64;
    store_conversations(
        store,
        &(0..8)
            .map(|i| Conv::new(format!("w48-{i}"), friday - (i + 1) * HOUR).prompt(GENERAL))
            .collect::<Vec<_>>(),
    )
    .await;
    let clock = Arc::new(AtomicI64::new(friday));
    let read = {
        let clock = clock.clone();
        Arc::new(move || clock.load(Ordering::SeqCst))
    };
    let tick = Duration::from_millis(20);
    // Two replicas on one database, checking every 20 ms.
    let a = ReviewScheduler::spawn_with(store.clone(), weekly(), tick, read.clone());
    let b = ReviewScheduler::spawn_with(store.clone(), weekly(), tick, read.clone());
    let listed = wait_for_batches(store, 1).await;
    // Many more checks: still one batch for the week.
    tokio::time::sleep(Duration::from_millis(300)).await;
    let listed_later = batches::list_batches(store).await.unwrap();
    assert_eq!(listed_later.len(), 1, "{listed_later:?}");
    assert_eq!(listed[0].period.as_deref(), Some("2026-W48"));
    assert_eq!(listed[0].origin, Origin::Schedule);
    assert_eq!(listed[0].items, 8);

    // Next week, with new conversations: one more batch, for W49.
    let monday = friday + 3 * DAY;
    assert_eq!(
        period_of(weekly().schedule, monday).as_deref(),
        Some("2026-W49")
    );
    store_conversations(
        store,
        &(0..3)
            .map(|i| Conv::new(format!("w49-{i}"), monday - (i + 1) * 60_000))
            .collect::<Vec<_>>(),
    )
    .await;
    clock.store(monday, Ordering::SeqCst);
    let listed = wait_for_batches(store, 2).await;
    tokio::time::sleep(Duration::from_millis(200)).await;
    a.shutdown().await;
    b.shutdown().await;
    let listed_later = batches::list_batches(store).await.unwrap();
    assert_eq!(listed_later.len(), 2);
    assert_eq!(listed[0].period.as_deref(), Some("2026-W49"));
    assert_eq!(
        listed[0].items, 3,
        "the W48 conversations are already in a batch"
    );
}
on_both_backends!(store: the_schedule_samples_once_per_week_even_with_two_replicas);

#[tokio::test]
async fn the_server_samples_on_its_schedule_at_start_up_and_a_restart_does_not_sample_again() {
    let dir = tempfile::tempdir().unwrap();
    let (store, url) = review_seed::sqlite_store(&dir).await;
    let now = now_ms();
    store_conversations(
        &store,
        &[
            Conv::new("s1", now - HOUR).prompt(GENERAL),
            Conv::new("s2", now - 2 * HOUR).urgent(),
        ],
    )
    .await;
    let spawn = || {
        common::spawn_app_with(common::Spawn {
            db_url: Some(url.clone()),
            extra_toml: "[review]\nschedule = \"daily\"\n".into(),
            ..Default::default()
        })
    };
    let mut app = spawn().await;
    let listed = wait_for_batches(&store, 1).await;
    assert_eq!(listed[0].origin, Origin::Schedule);
    assert_eq!(listed[0].items, 2);
    assert_eq!(listed[0].urgent_items, 1);
    app.shutdown().await;
    // A restart the same day: the day's batch exists, nothing new is sampled.
    store_conversations(&store, &[Conv::new("s3", now - 60_000)]).await;
    let mut again = spawn().await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    again.shutdown().await;
    assert_eq!(batches::list_batches(&store).await.unwrap().len(), 1);
}

fn cli(config: &std::path::Path, args: &[&str]) -> std::process::Output {
    std::process::Command::new(env!("CARGO_BIN_EXE_powerbirth"))
        .arg("--config")
        .arg(config)
        .args(args)
        .output()
        .unwrap()
}

#[tokio::test]
async fn the_cli_prints_the_batch_and_refuses_a_bad_window_or_an_empty_one() {
    let dir = tempfile::tempdir().unwrap();
    let (store, url) = review_seed::sqlite_store(&dir).await;
    let upstream = common::MockUpstream::start().await;
    let config = dir.path().join("powerbirth.toml");
    std::fs::write(&config, common::test_config(&upstream, &url, "")).unwrap();
    let now = now_ms();
    let mut convs: Vec<Conv> = (0..12)
        .map(|i| Conv::new(format!("k{i:02}"), now - (i + 1) * HOUR).prompt(GENERAL))
        .collect();
    convs.push(
        Conv::new("k-urgent", now - 3 * DAY)
            .prompt(ALERT_EN)
            .urgent(),
    );
    store_conversations(&store, &convs).await;

    let bad = cli(&config, &["review", "sample", "--window", "7w"]);
    assert!(!bad.status.success());
    let err = String::from_utf8_lossy(&bad.stderr);
    assert!(err.contains("\"7w\" is not a window"), "{err}");

    let out = cli(
        &config,
        &[
            "review", "sample", "--n", "5", "--window", "7d", "--seed", "42",
        ],
    );
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        text.contains("5 conversations (1 urgent) of 13 candidates"),
        "{text}"
    );
    assert!(text.contains("seed 42"), "{text}");
    assert!(
        text.contains("4  pt-BR|doula|assistant-general@2"),
        "{text}"
    );
    assert!(text.contains("1  en|nurse|preeclampsia-alert@1"), "{text}");

    let out = cli(
        &config,
        &["review", "sample", "--window", "24h", "--n", "20"],
    );
    assert!(out.status.success());
    // Everything of the last day is in a batch now: the next run says so and fails.
    let empty = cli(&config, &["review", "sample", "--window", "24h"]);
    assert!(!empty.status.success());
    let err = String::from_utf8_lossy(&empty.stderr);
    assert!(err.contains("no conversation to review"), "{err}");
}
