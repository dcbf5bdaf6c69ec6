//! The recommendation log: handlers hand each answer to a bounded channel (`try_send`, never
//! awaited) and one task stores them in batches; shutdown drains what is queued.
//!
//! Why not the message log's durable spool: the spool's record type is the chat exchange, and the
//! recommendation log feeds only the daily recall@5 figure, for which losing the records of the
//! last few milliseconds before a crash changes nothing measurable. A full queue (the database
//! away for long) drops records with a warning and a counter rather than holding memory.

use std::time::Duration;

use tokio::sync::{mpsc, oneshot};
use tokio::task::JoinHandle;

use crate::store::Store;
use crate::store::recommendations::{self, RecommendationRow};

/// Records stored per transaction.
const BATCH: usize = 256;

/// The sending half; cheap to clone.
#[derive(Clone)]
pub struct RecommendationLog {
    tx: mpsc::Sender<RecommendationRow>,
    dropped: std::sync::Arc<std::sync::atomic::AtomicU64>,
}

/// The task storing the records, until [`LogTask::shutdown`].
pub struct LogTask {
    task: Option<JoinHandle<()>>,
    stop: Option<oneshot::Sender<()>>,
}

impl RecommendationLog {
    /// Starts the storing task with a queue of `capacity` records.
    pub fn spawn(store: Store, capacity: usize) -> (RecommendationLog, LogTask) {
        let (tx, rx) = mpsc::channel(capacity.max(1));
        let (stop, stopped) = oneshot::channel();
        let task = tokio::spawn(store_loop(store, rx, stopped));
        let log = RecommendationLog {
            tx,
            dropped: Default::default(),
        };
        (
            log,
            LogTask {
                task: Some(task),
                stop: Some(stop),
            },
        )
    }

    /// Queues one record; never waits. A full queue drops it (logged, counted).
    pub fn record(&self, row: RecommendationRow) {
        if self.tx.try_send(row).is_err() {
            let n = self
                .dropped
                .fetch_add(1, std::sync::atomic::Ordering::Relaxed)
                + 1;
            tracing::warn!(
                dropped = n,
                "recommendation log queue full; a record was dropped"
            );
        }
    }

    /// Records dropped because the queue was full.
    pub fn dropped(&self) -> u64 {
        self.dropped.load(std::sync::atomic::Ordering::Relaxed)
    }
}

async fn store_loop(
    store: Store,
    mut rx: mpsc::Receiver<RecommendationRow>,
    mut stopped: oneshot::Receiver<()>,
) {
    let mut batch = Vec::with_capacity(BATCH);
    loop {
        let n = tokio::select! {
            biased;
            _ = &mut stopped => break,
            n = rx.recv_many(&mut batch, BATCH) => n,
        };
        if n == 0 {
            return;
        }
        store_batch(&store, &mut batch).await;
    }
    // Shutdown: take what is queued, then store it.
    rx.close();
    while rx.recv_many(&mut batch, BATCH).await > 0 {
        store_batch(&store, &mut batch).await;
    }
}

async fn store_batch(store: &Store, batch: &mut Vec<RecommendationRow>) {
    for attempt in 0..3u32 {
        match recommendations::insert_batch(store, batch).await {
            Ok(()) => break,
            Err(e) if attempt == 2 => {
                tracing::error!(error = %e, records = batch.len(), "cannot store recommendation records; dropped")
            }
            Err(e) => {
                tracing::warn!(error = %e, "storing recommendation records failed; retrying");
                tokio::time::sleep(Duration::from_millis(200 << attempt)).await;
            }
        }
    }
    batch.clear();
}

impl LogTask {
    /// Stores what is queued (until `deadline`) and stops.
    pub async fn shutdown(mut self, deadline: Duration) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(task) = self.task.take() {
            let abort = task.abort_handle();
            if tokio::time::timeout(deadline, task).await.is_err() {
                abort.abort();
                tracing::warn!("recommendation log not drained before the deadline");
            }
        }
    }
}

impl Drop for LogTask {
    fn drop(&mut self) {
        if let Some(task) = self.task.take() {
            task.abort();
        }
    }
}
