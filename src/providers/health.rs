//! Each model's recent health, for the cooldown (a circuit breaker): `cooldown_after` failures in a
//! row and the model is skipped for `cooldown_ms`, so during an outage requests go straight to its
//! fallbacks instead of each one waiting out the dead model's retries and timeout. When the
//! cooldown ends the next request tries the model again (one failure starts a new cooldown, one
//! success ends the streak).

use std::sync::Mutex;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant};

use super::failover::CooldownPolicy;

/// One model's failure streak and cooldown.
#[derive(Debug)]
pub struct Health {
    policy: CooldownPolicy,
    failures: AtomicU32,
    until: Mutex<Option<Instant>>,
}

impl Health {
    pub fn new(policy: CooldownPolicy) -> Health {
        Health {
            policy,
            failures: AtomicU32::new(0),
            until: Mutex::new(None),
        }
    }

    /// How much of the cooldown is left, when the model is cooling down.
    pub fn cooling(&self) -> Option<Duration> {
        let until = *self.until.lock().unwrap_or_else(|e| e.into_inner());
        until.and_then(|t| t.checked_duration_since(Instant::now()))
    }

    /// Failures in a row since the last success.
    pub fn consecutive_failures(&self) -> u32 {
        self.failures.load(Ordering::Relaxed)
    }

    /// One more failure; returns whether it started a cooldown.
    pub fn failed(&self) -> bool {
        let n = self
            .failures
            .fetch_add(1, Ordering::Relaxed)
            .saturating_add(1);
        if self.policy.after == 0 || n < self.policy.after {
            return false;
        }
        let mut until = self.until.lock().unwrap_or_else(|e| e.into_inner());
        *until = Some(Instant::now() + self.policy.duration);
        true
    }

    /// An answer: the streak is over.
    pub fn succeeded(&self) {
        self.failures.store(0, Ordering::Relaxed);
        *self.until.lock().unwrap_or_else(|e| e.into_inner()) = None;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn policy(after: u32, ms: u64) -> CooldownPolicy {
        CooldownPolicy {
            after,
            duration: Duration::from_millis(ms),
        }
    }

    #[test]
    fn a_model_cools_down_after_its_failures_in_a_row_and_recovers_on_success() {
        let h = Health::new(policy(3, 60_000));
        assert!(!h.failed() && !h.failed());
        assert!(h.cooling().is_none(), "two failures are not an outage yet");
        assert!(h.failed(), "the third one is");
        assert!(h.cooling().is_some_and(|d| d > Duration::from_secs(50)));
        h.succeeded();
        assert!(h.cooling().is_none());
        assert_eq!(h.consecutive_failures(), 0);
    }

    #[test]
    fn without_a_policy_a_model_never_cools_down() {
        let h = Health::new(CooldownPolicy::default());
        for _ in 0..100 {
            assert!(!h.failed());
        }
        assert!(h.cooling().is_none());
    }

    #[test]
    fn the_cooldown_ends_by_itself() {
        let h = Health::new(policy(1, 1));
        assert!(h.failed());
        std::thread::sleep(Duration::from_millis(5));
        assert!(h.cooling().is_none());
    }
}
