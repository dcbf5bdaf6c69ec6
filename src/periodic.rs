//! A background check that runs now, then every interval, until it is shut down; the cost alert
//! monitor and the review sampling schedule are two of them. A check in progress finishes before
//! shutdown returns; dropped without shutdown (a failed start-up), the task is aborted, not leaked.

use std::future::Future;
use std::time::Duration;

use tokio::sync::oneshot;
use tokio::task::JoinHandle;

pub struct Periodic {
    stop: Option<oneshot::Sender<()>>,
    task: Option<JoinHandle<()>>,
}

impl Periodic {
    /// Runs `check` now and then every `interval` (a late tick delays the next ones rather than
    /// bunching them). `check` reports its own errors: a failed check is retried at the next tick.
    pub fn spawn<F, Fut>(interval: Duration, mut check: F) -> Periodic
    where
        F: FnMut() -> Fut + Send + 'static,
        Fut: Future<Output = ()> + Send + 'static,
    {
        let (stop, mut stopped) = oneshot::channel::<()>();
        let task = tokio::spawn(async move {
            let mut tick = tokio::time::interval(interval);
            tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            loop {
                tokio::select! {
                    biased;
                    _ = &mut stopped => break,
                    _ = tick.tick() => check().await,
                }
            }
        });
        Periodic {
            stop: Some(stop),
            task: Some(task),
        }
    }

    /// A check that is switched off: nothing runs, shutdown returns at once.
    pub fn off() -> Periodic {
        Periodic {
            stop: None,
            task: None,
        }
    }

    /// Stops the task and waits for a check in progress to finish.
    pub async fn shutdown(mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(task) = self.task.take() {
            let _ = task.await;
        }
    }
}

impl Drop for Periodic {
    fn drop(&mut self) {
        if let Some(task) = self.task.take() {
            task.abort();
        }
    }
}
