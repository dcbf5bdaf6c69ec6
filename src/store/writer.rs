//! The log writer: request handlers append each exchange (and the risk endpoint each
//! prediction) to the durable [`Spool`] (one `write`, no waiting for the database) and move on. Two tasks do the rest: the syncer fsyncs the spool
//! every `[writer] fsync_ms` (≤ 50 ms) while records arrive, and the drainer stores synced
//! records in the database in batches, retrying for as long as the database is away. A batch the
//! database answers but refuses is split so one bad record cannot block the rest; only a record
//! refused while the database is up is skipped (and logged by request id, never content).
//!
//! Memory stays bounded whatever the database does: the backlog lives in the spool file, and the
//! drainer holds one batch at a time. Shutdown fsyncs, then drains until its deadline; whatever
//! is left stays in the spool and is stored by the next start.

use std::sync::Arc;
use std::time::Duration;

use tokio::sync::{Mutex as AsyncMutex, Notify, watch};
use tokio::task::JoinHandle;
use tokio::time::Instant;

use super::Store;
use super::config::WriterConfig;
use super::messages::Exchange;
use super::predictions::PredictionRecord;
use super::spool::{Spool, Spooled};

/// The syncer and the drainer, until `shutdown` takes them.
type Tasks = (JoinHandle<()>, JoinHandle<()>);

/// Handle to the spool and its two tasks. Cheap to clone.
#[derive(Clone)]
pub struct LogWriter {
    spool: Spool,
    /// Wakes the syncer when a record was appended.
    appended: Arc<Notify>,
    /// The drained offset, published by the drainer; `flush` waits on it.
    drained: watch::Receiver<u64>,
    /// Set by `shutdown`: the syncer does a last fsync and stops, the drainer stops when empty.
    closing: watch::Sender<bool>,
    tasks: Arc<AsyncMutex<Option<Tasks>>>,
}

impl LogWriter {
    /// Opens the spool under `[writer] spool_dir` (replaying what an earlier run left there) and
    /// starts the syncer and the drainer on the current runtime.
    pub fn spawn(store: Store, cfg: &WriterConfig) -> anyhow::Result<LogWriter> {
        let spool = Spool::open(&cfg.spool_dir, store.label())?;
        let start = spool.offsets();
        let appended = Arc::new(Notify::new());
        let (synced_tx, synced) = watch::channel(start.synced);
        let (drained_tx, drained) = watch::channel(start.drained);
        let (closing, closing_rx) = watch::channel(false);
        let syncer = tokio::spawn(sync_loop(
            spool.clone(),
            appended.clone(),
            synced_tx,
            closing_rx.clone(),
            cfg.fsync,
        ));
        let drainer = tokio::spawn(drain_loop(
            store,
            spool.clone(),
            synced,
            drained_tx,
            closing_rx,
            cfg.batch,
        ));
        Ok(LogWriter {
            spool,
            appended,
            drained,
            closing,
            tasks: Arc::new(AsyncMutex::new(Some((syncer, drainer)))),
        })
    }

    /// Appends an exchange to the spool. Never waits for the database.
    pub async fn record(&self, exchange: Exchange) {
        self.record_now(exchange);
    }

    /// [`LogWriter::record`] from synchronous code (a `Drop`): the same single `write`.
    pub fn record_now(&self, exchange: Exchange) {
        if let Err(e) = self.spool.append(&exchange) {
            let request_ids: Vec<&str> = exchange
                .messages
                .iter()
                .map(|m| m.request_id.as_str())
                .collect();
            tracing::error!(error = %e, ?request_ids, path = %self.spool.path().display(), "cannot append to the message spool; an exchange was not recorded");
            return;
        }
        self.appended.notify_one();
    }

    /// Appends a risk prediction to the spool, like [`LogWriter::record_now`]. Never waits for the
    /// database.
    pub fn record_prediction(&self, prediction: &PredictionRecord) {
        if let Err(e) = self.spool.append_prediction(prediction) {
            tracing::error!(error = %e, prediction_id = %prediction.id, path = %self.spool.path().display(), "cannot append to the spool; a prediction was not recorded");
            return;
        }
        self.appended.notify_one();
    }

    /// Records in the spool not yet in the database, for the queue-depth gauge.
    pub fn depth(&self) -> usize {
        self.spool.depth() as usize
    }

    /// Bytes in the spool file, for the spool-size gauge.
    pub fn spool_bytes(&self) -> u64 {
        self.spool.size_bytes()
    }

    /// Returns once everything recorded before the call is in the database (waits for as long
    /// as the database is away: for tests and `eval run`, not for the request path).
    pub async fn flush(&self) {
        let target = self.spool.offsets().written;
        self.appended.notify_one();
        let mut drained = self.drained.clone();
        let _ = drained.wait_for(|d| *d >= target).await;
    }

    /// Stops taking part: fsyncs what was recorded, drains it into the database until
    /// `deadline`, then stops both tasks. Anything not drained by then stays in the spool for the
    /// next start. Call after the server stopped taking requests.
    pub async fn shutdown(&self, deadline: Duration) {
        let Some((syncer, drainer)) = self.tasks.lock().await.take() else {
            return;
        };
        let _ = self.closing.send(true);
        self.appended.notify_one();
        let (syncer_abort, drainer_abort) = (syncer.abort_handle(), drainer.abort_handle());
        let finished = tokio::time::timeout(deadline, async {
            let _ = syncer.await;
            let _ = drainer.await;
        })
        .await;
        if finished.is_err() {
            syncer_abort.abort();
            drainer_abort.abort();
            tracing::warn!(
                records = self.spool.depth(),
                path = %self.spool.path().display(),
                "shutdown deadline reached with exchanges not yet in the database; they stay in the spool and are stored on the next start"
            );
        }
    }
}

/// Fsyncs the spool while records arrive: after the first new record, waits `every` for more to
/// join the batch, then one fsync for all of them. On closing, a last fsync, then stops.
async fn sync_loop(
    spool: Spool,
    appended: Arc<Notify>,
    synced_tx: watch::Sender<u64>,
    mut closing: watch::Receiver<bool>,
    every: Duration,
) {
    loop {
        let closed = *closing.borrow();
        let at = spool.offsets();
        if at.written == at.synced {
            if closed {
                return;
            }
            tokio::select! {
                _ = appended.notified() => {}
                _ = closing.changed() => {}
            }
            if !*closing.borrow() {
                tokio::time::sleep(every).await;
            }
            continue;
        }
        let s = spool.clone();
        match tokio::task::spawn_blocking(move || s.sync()).await {
            Ok(Ok(offset)) => {
                synced_tx.send_replace(offset);
            }
            Ok(Err(e)) => {
                tracing::error!(error = %e, "fsync of the message spool failed; retrying");
                tokio::time::sleep(every).await;
            }
            Err(e) => tracing::error!(error = %e, "the spool fsync task failed"),
        }
    }
}

/// Stores synced records in the database, one batch at a time, until closing and empty.
async fn drain_loop(
    store: Store,
    spool: Spool,
    mut synced: watch::Receiver<u64>,
    drained_tx: watch::Sender<u64>,
    closing: watch::Receiver<bool>,
    batch: usize,
) {
    loop {
        let at = spool.offsets();
        if at.drained >= at.synced {
            if *closing.borrow() && at.synced >= at.written {
                return;
            }
            // The syncer publishes every fsync; a closed channel means it stopped (closing).
            if synced.changed().await.is_err() && spool.offsets().synced <= at.drained {
                return;
            }
            continue;
        }
        let s = spool.clone();
        let read = tokio::task::spawn_blocking(move || s.read_batch(batch)).await;
        let (records, end, n) = match read {
            Ok(Ok(r)) => r,
            Ok(Err(e)) => {
                tracing::error!(error = %e, "cannot read the message spool; retrying");
                tokio::time::sleep(Duration::from_secs(1)).await;
                continue;
            }
            Err(e) => {
                tracing::error!(error = %e, "the spool read task failed");
                continue;
            }
        };
        let (mut exchanges, mut predictions) = split(records);
        store_batch(&store, &mut exchanges).await;
        store_batch(&store, &mut predictions).await;
        if let Err(e) = spool.drained(end, n) {
            tracing::warn!(error = %e, "cannot empty the drained message spool");
        }
        drained_tx.send_replace(end);
    }
}

/// The spool's records by kind, each kept in order.
fn split(records: Vec<Spooled>) -> (Vec<Exchange>, Vec<PredictionRecord>) {
    let (mut exchanges, mut predictions) = (Vec::new(), Vec::new());
    for r in records {
        match r {
            Spooled::Exchange(e) => exchanges.push(e),
            Spooled::Prediction { prediction } => predictions.push(prediction),
        }
    }
    (exchanges, predictions)
}

/// A kind of spooled record the drainer stores: its batch write and how a refused one is named
/// in the log (ids only, never content).
trait Stored: Sized + Send + Sync {
    fn write<'a>(
        store: &'a Store,
        batch: &'a [Self],
    ) -> futures_util::future::BoxFuture<'a, Result<(), super::DbError>>;
    fn log_refused(&self, e: &super::DbError);
}

impl Stored for Exchange {
    fn write<'a>(
        store: &'a Store,
        batch: &'a [Self],
    ) -> futures_util::future::BoxFuture<'a, Result<(), super::DbError>> {
        Box::pin(store.write_exchanges(batch))
    }
    fn log_refused(&self, e: &super::DbError) {
        log_refused(self, e);
    }
}

impl Stored for PredictionRecord {
    fn write<'a>(
        store: &'a Store,
        batch: &'a [Self],
    ) -> futures_util::future::BoxFuture<'a, Result<(), super::DbError>> {
        Box::pin(store.write_predictions(batch))
    }
    fn log_refused(&self, e: &super::DbError) {
        tracing::error!(error = %e, prediction_id = %self.id, "the database refused a prediction; it is skipped");
    }
}

/// Stores `batch`, however long the database is away. A batch that fails while the database
/// answers is written record by record, and a record refused then is logged and skipped.
async fn store_batch<T: Stored>(store: &Store, batch: &mut Vec<T>) {
    let mut delay = Duration::from_millis(50);
    let mut failures = 0u32;
    let since = Instant::now();
    while !batch.is_empty() {
        let Err(e) = T::write(store, batch).await else {
            if failures > 0 {
                tracing::info!(
                    records = batch.len(),
                    waited_ms = since.elapsed().as_millis() as u64,
                    "the database is back; the message log caught up"
                );
            }
            batch.clear();
            return;
        };
        if store.ping().await.is_ok() {
            let mut kept = Vec::with_capacity(batch.len());
            for record in batch.drain(..) {
                match T::write(store, std::slice::from_ref(&record)).await {
                    Ok(()) => {}
                    Err(e) if store.ping().await.is_ok() => record.log_refused(&e),
                    Err(_) => kept.push(record),
                }
            }
            *batch = kept;
            if batch.is_empty() {
                return;
            }
        }
        // Every 16th failure is logged: an outage of minutes must not flood the log.
        if failures.is_multiple_of(16) {
            tracing::warn!(records = batch.len(), error = %e, "the database is unavailable; exchanges wait in the spool");
        }
        failures += 1;
        tokio::time::sleep(delay).await;
        delay = (delay * 2).min(Duration::from_secs(2));
    }
}

fn log_refused(exchange: &Exchange, e: &super::DbError) {
    let request_ids: Vec<&str> = exchange
        .messages
        .iter()
        .map(|m| m.request_id.as_str())
        .collect();
    tracing::error!(error = %e, ?request_ids, "the database refused an exchange; it is skipped");
}
