//! The growing delay after failed logins, per account and per client address, in memory.

use std::net::IpAddr;
use std::time::{Duration, Instant};

use dashmap::DashMap;

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
/// (nothing sleeps while holding a connection). The account key is the normalised e-mail even
/// when no such account exists, so refusals do not reveal which accounts exist. Per replica:
/// with several replicas an attacker gets one schedule per replica, which still bounds guessing.
#[derive(Debug, Default)]
pub struct LoginThrottle {
    accounts: DashMap<String, (u32, Instant)>,
    addresses: DashMap<IpAddr, (u32, Instant)>,
}

impl LoginThrottle {
    /// `Err(wait)` when either the account or the address must still wait.
    pub fn check(&self, email: &Email, ip: Option<IpAddr>) -> Result<(), Duration> {
        let remaining = |entry: Option<(u32, Instant)>| {
            entry.map_or(Duration::ZERO, |(n, at)| {
                delay_after(n).saturating_sub(at.elapsed())
            })
        };
        let by_account = remaining(self.accounts.get(email.as_str()).map(|e| *e));
        let by_address = remaining(ip.and_then(|ip| self.addresses.get(&ip).map(|e| *e)));
        let wait = by_account.max(by_address);
        if wait.is_zero() { Ok(()) } else { Err(wait) }
    }

    /// Counts one more failure for the account and the address.
    pub fn failed(&self, email: &Email, ip: Option<IpAddr>) {
        if self.accounts.len() + self.addresses.len() >= MAX_TRACKED {
            self.accounts
                .retain(|_, (_, at)| at.elapsed() < FORGET_AFTER);
            self.addresses
                .retain(|_, (_, at)| at.elapsed() < FORGET_AFTER);
        }
        let bump = |(n, at): &mut (u32, Instant)| {
            *n = if at.elapsed() > FORGET_AFTER {
                1
            } else {
                n.saturating_add(1)
            };
            *at = Instant::now();
        };
        bump(
            &mut self
                .accounts
                .entry(email.as_str().to_string())
                .or_insert((0, Instant::now())),
        );
        if let Some(ip) = ip {
            bump(&mut self.addresses.entry(ip).or_insert((0, Instant::now())));
        }
    }

    /// A good login clears the account's count (the address keeps its own).
    pub fn succeeded(&self, email: &Email) {
        self.accounts.remove(email.as_str());
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
        throttle.failed(&email, Some(ip));
        assert!(
            throttle.check(&email, Some(ip)).is_ok(),
            "one failure costs nothing"
        );
        throttle.failed(&email, Some(ip));
        assert!(throttle.check(&email, None).is_err(), "the account waits");
        assert!(
            throttle.check(&other, Some(ip)).is_err(),
            "the address waits"
        );
        assert!(throttle.check(&other, None).is_ok());
        throttle.succeeded(&email);
        assert!(throttle.check(&email, None).is_ok());
    }
}
