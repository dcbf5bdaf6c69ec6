//! The growing delay after failed logins, per account and per client address, in memory.

use std::net::IpAddr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use dashmap::DashMap;
use tokio::sync::{OwnedSemaphorePermit, Semaphore};

use crate::review::accounts::Email;

/// The longest wait the throttle imposes.
const MAX_DELAY: Duration = Duration::from_secs(30);
/// Failures older than this are forgotten.
const FORGET_AFTER: Duration = Duration::from_secs(15 * 60);
/// Past this many tracked keys, forgotten ones are swept before inserting.
const MAX_TRACKED: usize = 50_000;

/// The wait required after `failures` consecutive failures: 0, 1, 2, 4, 8, 16, 30, 30… seconds.
pub fn delay_after(failures: u32) -> Duration {
    if failures <= 1 {
        return Duration::ZERO;
    }
    let secs = 1u64 << (failures - 2).min(5);
    Duration::from_secs(secs).min(MAX_DELAY)
}

/// Growing delay after failed logins, per account and per client address, in memory.
///
/// A login attempted before the delay is over is refused at once with "try again in N s"
/// (nothing sleeps while holding a connection). The attempt is counted *before* the password is
/// checked ([`LoginThrottle::begin`]), in the same step as the check, so parallel attempts cannot
/// all pass the check while the first hashes are still running; a good login takes its count
/// back. The account key is the normalised e-mail even when no such account exists, so refusals
/// do not reveal which accounts exist. Per replica: with several replicas an attacker gets one
/// schedule per replica, which still bounds guessing.
#[derive(Debug, Default)]
pub struct LoginThrottle {
    accounts: DashMap<String, (u32, Instant)>,
    addresses: DashMap<IpAddr, (u32, Instant)>,
}

/// How long an entry `(failures, last)` must still wait.
fn remaining(entry: &(u32, Instant)) -> Duration {
    let (n, at) = *entry;
    if at.elapsed() > FORGET_AFTER {
        return Duration::ZERO;
    }
    delay_after(n).saturating_sub(at.elapsed())
}

/// One more failure on an entry (a forgotten count starts again at one).
fn bump(entry: &mut (u32, Instant)) {
    let (n, at) = entry;
    *n = if at.elapsed() > FORGET_AFTER {
        1
    } else {
        n.saturating_add(1)
    };
    *at = Instant::now();
}

impl LoginThrottle {
    /// Takes a slot for one login attempt: `Err(wait)` when the account (if the e-mail parsed)
    /// or the address must still wait; otherwise the attempt is counted as a failure for both
    /// at once, until [`LoginThrottle::succeeded`] or [`LoginThrottle::cancel`] takes it back.
    pub fn begin(&self, email: Option<&Email>, ip: Option<IpAddr>) -> Result<(), Duration> {
        if self.accounts.len() + self.addresses.len() >= MAX_TRACKED {
            self.accounts.retain(|_, e| e.1.elapsed() < FORGET_AFTER);
            self.addresses.retain(|_, e| e.1.elapsed() < FORGET_AFTER);
        }
        // Both entries stay locked from the check to the count (accounts first, always).
        let mut account = email.map(|e| {
            self.accounts
                .entry(e.as_str().to_string())
                .or_insert((0, Instant::now()))
        });
        let mut address = ip.map(|ip| self.addresses.entry(ip).or_insert((0, Instant::now())));
        let wait = account
            .as_deref()
            .map_or(Duration::ZERO, remaining)
            .max(address.as_deref().map_or(Duration::ZERO, remaining));
        if !wait.is_zero() {
            return Err(wait);
        }
        if let Some(entry) = account.as_deref_mut() {
            bump(entry);
        }
        if let Some(entry) = address.as_deref_mut() {
            bump(entry);
        }
        Ok(())
    }

    /// The password was wrong: the delay runs from now, not from when the check began (a
    /// slow hash must not shorten it).
    pub fn refused(&self, email: &Email, ip: Option<IpAddr>) {
        if let Some(mut e) = self.accounts.get_mut(email.as_str()) {
            e.1 = Instant::now();
        }
        if let Some(ip) = ip
            && let Some(mut e) = self.addresses.get_mut(&ip)
        {
            e.1 = Instant::now();
        }
    }

    /// Takes back an attempt that was never checked (the hashing capacity was full).
    pub fn cancel(&self, email: &Email, ip: Option<IpAddr>) {
        if let Some(mut e) = self.accounts.get_mut(email.as_str()) {
            e.0 = e.0.saturating_sub(1);
        }
        self.succeeded_from(ip);
    }

    /// A good login clears the account's count and takes back this attempt's count on the
    /// address (a clinic behind one address logs in many times a day).
    pub fn succeeded(&self, email: &Email, ip: Option<IpAddr>) {
        self.accounts.remove(email.as_str());
        self.succeeded_from(ip);
    }

    fn succeeded_from(&self, ip: Option<IpAddr>) {
        if let Some(ip) = ip
            && let Some(mut e) = self.addresses.get_mut(&ip)
        {
            e.0 = e.0.saturating_sub(1);
        }
    }
}

/// Bounds the password hashes running at once (each argon2 check takes ~19 MiB and a core for
/// tens of milliseconds): one per core; a login arriving when all are busy is answered 429 at
/// once instead of queueing threads and memory.
#[derive(Debug)]
pub struct HashGate {
    permits: Arc<Semaphore>,
    /// When the last "slots busy" warning was logged, and the refusals counted since.
    refusals: Mutex<(Option<Instant>, u64)>,
}

impl Default for HashGate {
    fn default() -> Self {
        let cores = std::thread::available_parallelism().map_or(1, std::num::NonZeroUsize::get);
        HashGate::new(cores)
    }
}

impl HashGate {
    pub fn new(concurrent: usize) -> Self {
        HashGate {
            permits: Arc::new(Semaphore::new(concurrent.max(1))),
            refusals: Mutex::new((None, 0)),
        }
    }

    /// A permit to hash now, or `None` when every slot is taken.
    pub fn try_enter(&self) -> Option<OwnedSemaphorePermit> {
        self.permits.clone().try_acquire_owned().ok()
    }

    /// Whether every slot is taken right now (a login arriving now would be refused).
    pub fn is_full(&self) -> bool {
        self.permits.available_permits() == 0
    }

    /// Counts a login refused for want of a slot, with one warning a second at most: under a
    /// flood these are most requests, and a log line each would cost more than the refusal.
    pub fn refused(&self) {
        if let Some(refused) = self.count_refusal(Instant::now()) {
            tracing::warn!(
                refused,
                "review logins refused: every password-hashing slot is busy"
            );
        }
    }

    /// The refusals to report at `now` (this one included), if a second has passed since the
    /// last report (or none was made).
    fn count_refusal(&self, now: Instant) -> Option<u64> {
        let mut r = self
            .refusals
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        r.1 += 1;
        if r.0
            .is_some_and(|at| now.duration_since(at) < Duration::from_secs(1))
        {
            return None;
        }
        let refused = r.1;
        *r = (Some(now), 0);
        Some(refused)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_login_delay_doubles_and_stops_at_thirty_seconds() {
        let secs: Vec<u64> = (0..9).map(|n| delay_after(n).as_secs()).collect();
        assert_eq!(secs, [0, 0, 1, 2, 4, 8, 16, 30, 30]);
    }

    #[test]
    fn the_throttle_refuses_during_the_delay_and_forgets_on_success() {
        let throttle = LoginThrottle::default();
        let email = Email::parse("ana@x.org").unwrap();
        let other = Email::parse("bia@x.org").unwrap();
        let ip: IpAddr = "10.0.0.7".parse().unwrap();
        assert!(throttle.begin(Some(&email), Some(ip)).is_ok());
        assert!(
            throttle.begin(Some(&email), Some(ip)).is_ok(),
            "one failure costs nothing"
        );
        assert!(
            throttle.begin(Some(&email), None).is_err(),
            "the account waits"
        );
        assert!(
            throttle.begin(Some(&other), Some(ip)).is_err(),
            "the address waits"
        );
        throttle.succeeded(&email, None);
        assert!(throttle.begin(Some(&email), None).is_ok());
    }

    #[test]
    fn parallel_attempts_take_their_slot_before_any_password_is_checked() {
        let throttle = LoginThrottle::default();
        let email = Email::parse("ana@x.org").unwrap();
        let passed = (0..50)
            .filter(|_| throttle.begin(Some(&email), None).is_ok())
            .count();
        assert_eq!(
            passed, 2,
            "only the attempts the delay allows get to hashing"
        );
    }

    #[test]
    fn the_hash_gate_admits_only_its_size() {
        let gate = HashGate::new(2);
        let a = gate.try_enter();
        let b = gate.try_enter();
        assert!(a.is_some() && b.is_some());
        assert!(gate.try_enter().is_none());
        assert!(gate.is_full());
        drop(a);
        assert!(!gate.is_full());
        assert!(gate.try_enter().is_some());
    }

    #[test]
    fn busy_slots_are_reported_once_a_second_with_the_count() {
        let gate = HashGate::new(1);
        let t0 = Instant::now();
        assert_eq!(
            gate.count_refusal(t0),
            Some(1),
            "the first is reported at once"
        );
        let quiet: Vec<_> = (1..=300)
            .map(|ms| gate.count_refusal(t0 + Duration::from_millis(ms)))
            .collect();
        assert!(quiet.iter().all(Option::is_none));
        assert_eq!(gate.count_refusal(t0 + Duration::from_secs(1)), Some(301));
        assert_eq!(gate.count_refusal(t0 + Duration::from_millis(1500)), None);
    }
}
