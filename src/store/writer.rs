//! The log writer: request handlers hand exchanges to a bounded queue and move on; one task
//! batches them into the database. Nothing on the request path waits for a write. A failed batch
//! is retried (the database may be restarting), then split so one bad record cannot block the
//! rest. Shutdown drains the queue before it returns: an accepted message is never lost.

use std::time::Duration;

use tokio::sync::{mpsc, oneshot};
use tokio::task::JoinHandle;

use super::Store;
use super::config::WriterConfig;
use super::messages::Exchange;

enum Msg {
    Record(Exchange),
    /// Write everything queued before this message, then answer.
    Flush(oneshot::Sender<()>),
    /// Flush, answer, and stop.
    Shutdown(oneshot::Sender<()>),
}

/// Handle to the writer task. Cheap to clone.
#[derive(Clone)]
pub struct LogWriter {
    tx: mpsc::Sender<Msg>,
    handle: std::sync::Arc<std::sync::Mutex<Option<JoinHandle<()>>>>,
}

impl LogWriter {
    /// Starts the writer task on the current runtime.
    pub fn spawn(store: Store, cfg: &WriterConfig) -> LogWriter {
        let (tx, rx) = mpsc::channel(cfg.queue);
        let handle = tokio::spawn(run(store, rx, cfg.batch, cfg.flush));
        LogWriter {
            tx,
            handle: std::sync::Arc::new(std::sync::Mutex::new(Some(handle))),
        }
    }

    /// Queues an exchange. Waits only when the queue is full (the database has fallen behind):
    /// backpressure rather than data loss.
    pub async fn record(&self, exchange: Exchange) {
        if self.tx.send(Msg::Record(exchange)).await.is_err() {
            tracing::error!("log writer is stopped; an exchange was not recorded");
        }
    }

    /// Queues an exchange from synchronous code (a `Drop`): immediately when there is room, else
    /// from a task that waits for room.
    pub fn record_now(&self, exchange: Exchange) {
        match self.tx.try_send(Msg::Record(exchange)) {
            Ok(()) => {}
            Err(mpsc::error::TrySendError::Full(msg)) => {
                let tx = self.tx.clone();
                tokio::spawn(async move {
                    if tx.send(msg).await.is_err() {
                        tracing::error!("log writer is stopped; an exchange was not recorded");
                    }
                });
            }
            Err(mpsc::error::TrySendError::Closed(_)) => {
                tracing::error!("log writer is stopped; an exchange was not recorded");
            }
        }
    }

    /// Records queued right now, for the metrics gauge.
    pub fn depth(&self) -> usize {
        self.tx.max_capacity() - self.tx.capacity()
    }

    /// Returns once everything queued before the call is in the database.
    pub async fn flush(&self) {
        let (done, wait) = oneshot::channel();
        if self.tx.send(Msg::Flush(done)).await.is_ok() {
            let _ = wait.await;
        }
    }

    /// Drains the queue and stops the task. Call after the server stopped taking requests.
    pub async fn shutdown(&self) {
        let (done, wait) = oneshot::channel();
        if self.tx.send(Msg::Shutdown(done)).await.is_ok() {
            let _ = wait.await;
        }
        let handle = self.handle.lock().ok().and_then(|mut h| h.take());
        if let Some(handle) = handle {
            let _ = handle.await;
        }
    }
}

async fn run(store: Store, mut rx: mpsc::Receiver<Msg>, batch_size: usize, flush_every: Duration) {
    let mut batch: Vec<Exchange> = Vec::with_capacity(batch_size);
    let mut inbox: Vec<Msg> = Vec::with_capacity(batch_size);
    loop {
        // Wait for the first message, then give the batch a short window to fill.
        if rx.recv_many(&mut inbox, batch_size).await == 0 {
            write_all(&store, &mut batch).await;
            return;
        }
        if inbox.len() < batch_size && !inbox.iter().any(|m| !matches!(m, Msg::Record(_))) {
            let _ = tokio::time::timeout(flush_every, async {
                while inbox.len() < batch_size {
                    let room = batch_size - inbox.len();
                    if rx.recv_many(&mut inbox, room).await == 0 {
                        break;
                    }
                    if inbox.iter().any(|m| !matches!(m, Msg::Record(_))) {
                        break;
                    }
                }
            })
            .await;
        }
        for msg in inbox.drain(..) {
            match msg {
                Msg::Record(e) => {
                    batch.push(e);
                    if batch.len() >= batch_size {
                        write_all(&store, &mut batch).await;
                    }
                }
                Msg::Flush(done) => {
                    write_all(&store, &mut batch).await;
                    let _ = done.send(());
                }
                Msg::Shutdown(done) => {
                    // Anything still in the channel was sent before shutdown was asked for.
                    rx.close();
                    while let Some(m) = rx.recv().await {
                        if let Msg::Record(e) = m {
                            batch.push(e);
                        }
                    }
                    write_all(&store, &mut batch).await;
                    let _ = done.send(());
                    return;
                }
            }
        }
        write_all(&store, &mut batch).await;
    }
}

/// Writes `batch` and empties it. Retries transient failures with backoff; if the batch still
/// fails, writes its exchanges one by one and reports (without content) the ones refused.
async fn write_all(store: &Store, batch: &mut Vec<Exchange>) {
    if batch.is_empty() {
        return;
    }
    let mut delay = Duration::from_millis(50);
    for attempt in 1..=5 {
        match store.write_exchanges(batch).await {
            Ok(()) => {
                batch.clear();
                return;
            }
            Err(e) => {
                tracing::warn!(attempt, records = batch.len(), error = %e, "log batch write failed; retrying");
                tokio::time::sleep(delay).await;
                delay = (delay * 2).min(Duration::from_secs(2));
            }
        }
    }
    for exchange in batch.drain(..) {
        if let Err(e) = store.write_exchanges(std::slice::from_ref(&exchange)).await {
            let request_ids: Vec<&str> = exchange
                .messages
                .iter()
                .map(|m| m.request_id.as_str())
                .collect();
            tracing::error!(error = %e, ?request_ids, "exchange could not be stored");
        }
    }
}
