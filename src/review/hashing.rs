//! The threads password hashes run on: a fixed pool, one thread per core, at a lower scheduling
//! priority than the rest of the process. Fixed, because each argon2 check takes ~19 MiB and the
//! allocator keeps one such block per thread that ever hashed (hashing on tokio's blocking pool,
//! up to 512 threads, kept ~19 MiB per thread it happened to use); lower priority, because a
//! flood of logins must not slow down the gateway's answers and probes (`nice` 10 on Linux).
//! How many hashes may *wait* is bounded by the caller (`web::throttle::HashGate`).

use std::sync::mpsc;
use std::sync::{Arc, Mutex};

type Job = Box<dyn FnOnce() + Send>;

/// A fixed pool of hashing threads; cheap to clone. The threads end when the last clone goes.
#[derive(Clone, Debug)]
pub struct HashPool {
    jobs: mpsc::Sender<Job>,
}

impl HashPool {
    /// `threads` hashing threads (at least one).
    pub fn new(threads: usize) -> HashPool {
        let (jobs, queue) = mpsc::channel::<Job>();
        let queue = Arc::new(Mutex::new(queue));
        for i in 0..threads.max(1) {
            let queue = queue.clone();
            let spawned = std::thread::Builder::new()
                .name(format!("argon2-{i}"))
                .spawn(move || {
                    lower_priority();
                    loop {
                        // The lock is held only to take the next job, never while it runs.
                        let job = match queue.lock() {
                            Ok(q) => q.recv(),
                            Err(_) => return,
                        };
                        match job {
                            Ok(job) => job(),
                            Err(_) => return,
                        }
                    }
                });
            if let Err(e) = spawned {
                tracing::warn!(error = %e, "cannot start a password-hashing thread");
            }
        }
        HashPool { jobs }
    }

    /// One thread per core.
    pub fn per_core() -> HashPool {
        HashPool::new(std::thread::available_parallelism().map_or(1, std::num::NonZeroUsize::get))
    }

    /// Runs `f` on a hashing thread and returns its result; `None` only if the job was lost
    /// (its thread panicked). If no hashing thread could be started, `f` runs on tokio's
    /// blocking pool instead.
    pub async fn run<T: Send + 'static>(
        &self,
        f: impl FnOnce() -> T + Send + 'static,
    ) -> Option<T> {
        let (tx, rx) = tokio::sync::oneshot::channel();
        let job: Job = Box::new(move || {
            let _ = tx.send(f());
        });
        if let Err(mpsc::SendError(job)) = self.jobs.send(job) {
            tokio::task::spawn_blocking(job);
        }
        rx.await.ok()
    }
}

/// Linux: `nice` 10 for the calling thread (a thread's own id is a valid `PRIO_PROCESS` target).
fn lower_priority() {
    #[cfg(target_os = "linux")]
    // SAFETY: `gettid` has no preconditions; `setpriority` only reads its integer arguments.
    unsafe {
        let tid = libc::gettid();
        libc::setpriority(libc::PRIO_PROCESS, tid as libc::id_t, 10);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn jobs_run_on_the_pool_and_return_their_result() {
        let pool = HashPool::new(2);
        let names = futures_util::future::join_all((0..8).map(|i| {
            let pool = pool.clone();
            async move {
                pool.run(move || (i * 2, std::thread::current().name().map(str::to_string)))
                    .await
                    .unwrap()
            }
        }))
        .await;
        for (i, (double, name)) in names.into_iter().enumerate() {
            assert_eq!(double, i * 2);
            assert!(name.unwrap().starts_with("argon2-"));
        }
    }
}
