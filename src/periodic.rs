//! A background check that runs now, then every interval, until it is shut down; the cost alert
//! monitor and the review sampling schedule are two of them. A check in progress finishes before
//! shutdown returns; dropped without shutdown (a failed start-up), or with its shutdown cut short
//! by a deadline, the task is aborted, not leaked.

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

    /// Stops the task and waits for a check in progress to finish. Dropped before that (a
    /// shutdown deadline), it aborts the check rather than leave it running: a check stuck in a
    /// slow query must not outlive the process's grace period or hold a database connection.
    pub async fn shutdown(mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(task) = self.task.as_mut() {
            let _ = task.await;
        }
        self.task = None;
    }
}

impl Drop for Periodic {
    fn drop(&mut self) {
        if let Some(task) = self.task.take() {
            task.abort();
        }
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use super::*;

    #[tokio::test]
    async fn a_shutdown_cut_short_aborts_the_check_in_progress() {
        let held = Arc::new(());
        let in_check = held.clone();
        let periodic = Periodic::spawn(Duration::from_secs(3600), move || {
            let in_check = in_check.clone();
            async move {
                let _held = in_check;
                std::future::pending::<()>().await;
            }
        });
        tokio::time::sleep(Duration::from_millis(20)).await;
        let shutdown = tokio::time::timeout(Duration::from_millis(50), periodic.shutdown()).await;
        assert!(shutdown.is_err(), "the check never ends");
        for _ in 0..100 {
            if Arc::strong_count(&held) == 1 {
                return;
            }
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        panic!("the check still runs after its shutdown was cut short");
    }
}
