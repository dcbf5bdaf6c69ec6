//! Event ingestion: app events from a Redis Stream (consumer group, at-least-once) through
//! validation (`event`) and anonymisation (`anonymize`: keyed pseudonyms, the guard's PII code)
//! into Parquet partitions (`sink`, `columns`), exactly once in effect; events that fail their
//! schema go to a dead-letter stream with the reason. `backfill` applies the same rules to a
//! CSV or Parquet file (`powerbirth data anonymize`). See docs/ml.md, "Ingestion".

pub mod anonymize;
pub mod backfill;
pub mod columns;
pub mod config;
pub mod event;
pub mod materialize;
pub mod metrics;
pub mod sink;
pub mod source;
pub mod stream_id;

use std::future::Future;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

pub use anonymize::{Anonymizer, Row};
pub use config::{IngestConfig, RawIngestConfig};
pub use metrics::IngestMetrics;
pub use sink::{Sink, Written};
pub use source::{Batch, Entry, EventSource, RedisSource};

use metrics::EventLabels;

/// How [`run`] behaves.
#[derive(Debug, Clone, Copy, Default)]
pub struct RunOptions {
    /// Entries per batch (`[ingest] batch_size`).
    pub batch_size: usize,
    /// Drain what is there (own pending, claimable, new) and return.
    pub once: bool,
    /// Test hook for the crash the design must survive: exit the process after a batch is
    /// written and before it is acknowledged.
    pub exit_before_ack: bool,
}

/// Totals of one run.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Summary {
    pub batches: usize,
    pub rows: usize,
    pub duplicates: usize,
    pub dead_letters: usize,
    pub files: usize,
}

/// Valid events as anonymised rows, and the entries that failed with their reasons.
pub fn prepare(entries: &[Entry], anonymizer: &Anonymizer) -> (Vec<Row>, Vec<(Entry, String)>) {
    let mut rows = Vec::with_capacity(entries.len());
    let mut dead = Vec::new();
    for entry in entries {
        let Some(data) = &entry.data else {
            dead.push((entry.clone(), "data: the entry has no `data` field".into()));
            continue;
        };
        match event::parse(data) {
            Ok(e) => rows.push(anonymizer.row(entry.id.clone(), e)),
            Err(reason) => dead.push((entry.clone(), reason)),
        }
    }
    (rows, dead)
}

/// Reads batches until the source is drained (`once`) or `shutdown` resolves; the batch in
/// flight when it does is finished (written and acknowledged) first. `after_batch` runs after
/// every acknowledged batch (the CLI writes the metrics file there).
pub async fn run<S: EventSource>(
    source: &mut S,
    anonymizer: &Anonymizer,
    sink: &Sink,
    metrics: &IngestMetrics,
    options: RunOptions,
    shutdown: impl Future<Output = ()> + Send + 'static,
    mut after_batch: impl FnMut(&Summary),
) -> anyhow::Result<Summary> {
    let stop = Arc::new(AtomicBool::new(false));
    let flag = stop.clone();
    let watcher = tokio::spawn(async move {
        shutdown.await;
        flag.store(true, Ordering::SeqCst);
    });
    let mut total = Summary::default();
    while !stop.load(Ordering::SeqCst) {
        let Some(batch) = source
            .next_batch(options.batch_size.max(1), !options.once)
            .await?
        else {
            if options.once {
                break;
            }
            continue;
        };
        let entries = batch.entries;
        let ids: Vec<String> = entries.iter().map(|e| e.id.clone()).collect();
        let (a, s) = (anonymizer.clone(), sink.clone());
        let (written, dead) = tokio::task::spawn_blocking(move || {
            let (rows, dead) = prepare(&entries, &a);
            s.write(rows, batch.redelivered).map(|w| (w, dead))
        })
        .await??;
        record(metrics, &written);
        for (entry, reason) in &dead {
            source.dead_letter(entry, reason).await?;
            metrics.dead_letter(reason);
        }
        if options.exit_before_ack {
            eprintln!("exiting before XACK (--exit-before-ack)");
            std::process::exit(3);
        }
        source.ack(&ids).await?;
        metrics.batches.inc();
        total.batches += 1;
        total.rows += written.rows;
        total.duplicates += written.duplicates;
        total.dead_letters += dead.len();
        total.files += written.files.len();
        after_batch(&total);
    }
    watcher.abort();
    Ok(total)
}

/// Counts written and duplicate rows per event type, and files.
fn record(metrics: &IngestMetrics, w: &Written) {
    metrics.files.inc_by(w.files.len() as u64);
    for (kind, (written, duplicates)) in &w.per_event {
        for (outcome, n) in [("written", written), ("duplicate", duplicates)] {
            if *n > 0 {
                let labels = EventLabels {
                    event: kind.as_str().to_string(),
                    outcome,
                };
                metrics.events.get_or_create(&labels).inc_by(*n as u64);
            }
        }
    }
}
