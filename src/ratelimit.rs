//! Per-key request rate limits (requests per minute, bursts up to the same number). In memory
//! with governor for one replica; in Redis with an atomic GCRA script when replicas share the
//! limit, so N replicas never allow N× the rate. Both use the same algorithm (GCRA), so a limit
//! behaves the same whichever backend enforces it.

use std::num::NonZeroU32;
use std::sync::Arc;
use std::time::Duration;

use dashmap::DashMap;
use governor::clock::{Clock, DefaultClock};
use governor::{DefaultDirectRateLimiter, Quota};

/// Where the limit state lives.
pub enum RateLimiter {
    Memory(MemoryLimiter),
    Redis(RedisLimiter),
}

/// One governor limiter per key, created on the key's first request.
#[derive(Default)]
pub struct MemoryLimiter {
    limiters: DashMap<String, (u32, Arc<DefaultDirectRateLimiter>)>,
}

/// GCRA in Redis; the clock is Redis's own `TIME`, so replicas with skewed clocks agree.
pub struct RedisLimiter {
    conn: redis::aio::ConnectionManager,
    script: redis::Script,
}

/// State per key: the theoretical arrival time (µs) of the next request. Allowed when that time,
/// minus the burst allowance, is not in the future. Returns {allowed, retry_after_µs}.
const GCRA: &str = r#"
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000000 + tonumber(t[2])
local interval = tonumber(ARGV[1])
local burst = tonumber(ARGV[2])
local tat = tonumber(redis.call('GET', KEYS[1]) or now)
if tat < now then tat = now end
local new_tat = tat + interval
local allow_at = new_tat - burst * interval
if allow_at > now then
  return {0, allow_at - now}
end
redis.call('SET', KEYS[1], new_tat, 'PX', math.ceil((new_tat - now) / 1000) + 1000)
return {1, 0}
"#;

/// Timeouts for a Redis that dies without closing its connections: without them a request
/// waits on the dead connection (measured by `scripts/soak.sh`: 15 s, the client's timeout) instead of
/// failing open at once. Budgets use the same ones.
pub fn redis_timeouts() -> redis::aio::ConnectionManagerConfig {
    redis::aio::ConnectionManagerConfig::new()
        .set_connection_timeout(std::time::Duration::from_millis(500))
        .set_response_timeout(std::time::Duration::from_millis(500))
        .set_number_of_retries(1)
}

impl RateLimiter {
    /// In-process limits.
    pub fn memory() -> Self {
        RateLimiter::Memory(MemoryLimiter::default())
    }

    /// Limits shared through the Redis at `url`.
    pub async fn redis(url: &str) -> anyhow::Result<Self> {
        let client = redis::Client::open(url)?;
        let conn = client
            .get_connection_manager_with_config(redis_timeouts())
            .await?;
        Ok(RateLimiter::Redis(RedisLimiter {
            conn,
            script: redis::Script::new(GCRA),
        }))
    }

    /// `Ok` when the key may make one more request now; else how long until it may.
    ///
    /// If Redis cannot be reached the request is let through (and logged): an outage of the
    /// limiter must not become an outage of the assistant.
    pub async fn check(&self, key_id: &str, rpm: u32) -> Result<(), Duration> {
        let rpm = NonZeroU32::new(rpm).unwrap_or(NonZeroU32::MIN);
        match self {
            RateLimiter::Memory(m) => m.check(key_id, rpm),
            RateLimiter::Redis(r) => match r.check(key_id, rpm).await {
                Ok(decision) => decision,
                Err(e) => {
                    tracing::warn!(error = %e, "redis rate limiter unreachable; allowing the request");
                    Ok(())
                }
            },
        }
    }
}

impl MemoryLimiter {
    fn check(&self, key_id: &str, rpm: NonZeroU32) -> Result<(), Duration> {
        let limiter = match self.limiters.get(key_id) {
            Some(entry) if entry.0 == rpm.get() => entry.1.clone(),
            _ => {
                let limiter = Arc::new(DefaultDirectRateLimiter::direct(Quota::per_minute(rpm)));
                self.limiters
                    .insert(key_id.to_string(), (rpm.get(), limiter.clone()));
                limiter
            }
        };
        limiter
            .check()
            .map_err(|not_until| not_until.wait_time_from(DefaultClock::default().now()))
    }
}

impl RedisLimiter {
    async fn check(
        &self,
        key_id: &str,
        rpm: NonZeroU32,
    ) -> redis::RedisResult<Result<(), Duration>> {
        let interval_us = 60_000_000 / u64::from(rpm.get());
        let mut conn = self.conn.clone();
        let (allowed, retry_us): (i64, i64) = self
            .script
            .key(format!("powerbirth:ratelimit:{key_id}"))
            .arg(interval_us)
            .arg(rpm.get())
            .invoke_async(&mut conn)
            .await?;
        Ok(if allowed == 1 {
            Ok(())
        } else {
            Err(Duration::from_micros(retry_us.max(0) as u64))
        })
    }
}

/// Requests that cost more than one (a moderation call with several inputs).
impl RateLimiter {
    /// As [`RateLimiter::check`], counting `n` requests at once against the same per-key
    /// limit: all are allowed or none. More than the key's burst (`rpm`) is never allowed.
    pub async fn check_n(&self, key_id: &str, rpm: u32, n: u32) -> Result<(), Duration> {
        let Some(n) = NonZeroU32::new(n) else {
            return Ok(());
        };
        let rpm = NonZeroU32::new(rpm).unwrap_or(NonZeroU32::MIN);
        if n > rpm {
            return Err(Duration::from_secs(60));
        }
        match self {
            RateLimiter::Memory(m) => m.check_n(key_id, rpm, n),
            RateLimiter::Redis(r) => match r.check_n(key_id, rpm, n).await {
                Ok(decision) => decision,
                Err(e) => {
                    tracing::warn!(error = %e, "redis rate limiter unreachable; allowing the request");
                    Ok(())
                }
            },
        }
    }
}

impl MemoryLimiter {
    /// The key's limiter, made (or remade, when its rpm changed) on first use.
    fn limiter_for(&self, key_id: &str, rpm: NonZeroU32) -> Arc<DefaultDirectRateLimiter> {
        match self.limiters.get(key_id) {
            Some(entry) if entry.0 == rpm.get() => entry.1.clone(),
            _ => {
                let limiter = Arc::new(DefaultDirectRateLimiter::direct(Quota::per_minute(rpm)));
                self.limiters
                    .insert(key_id.to_string(), (rpm.get(), limiter.clone()));
                limiter
            }
        }
    }

    fn check_n(&self, key_id: &str, rpm: NonZeroU32, n: NonZeroU32) -> Result<(), Duration> {
        match self.limiter_for(key_id, rpm).check_n(n) {
            Ok(Ok(())) => Ok(()),
            Ok(Err(not_until)) => Err(not_until.wait_time_from(DefaultClock::default().now())),
            Err(_) => Err(Duration::from_secs(60)),
        }
    }
}

impl RedisLimiter {
    /// The same GCRA script with a cost of `n`: an emission interval `n` times as long and a
    /// burst `n` times as small keep `burst × interval` (the bucket) and add `n` intervals.
    async fn check_n(
        &self,
        key_id: &str,
        rpm: NonZeroU32,
        n: NonZeroU32,
    ) -> redis::RedisResult<Result<(), Duration>> {
        let interval_us = 60_000_000 / u64::from(rpm.get()) * u64::from(n.get());
        let burst = f64::from(rpm.get()) / f64::from(n.get());
        let mut conn = self.conn.clone();
        let (allowed, retry_us): (i64, i64) = self
            .script
            .key(format!("powerbirth:ratelimit:{key_id}"))
            .arg(interval_us)
            .arg(burst)
            .invoke_async(&mut conn)
            .await?;
        Ok(if allowed == 1 {
            Ok(())
        } else {
            Err(Duration::from_micros(retry_us.max(0) as u64))
        })
    }
}

/// The id an end user's limits are kept under: HMAC-SHA256 of the API key's id and the end
/// user's own id (the OpenAI `user` field or the conversation id), keyed with `[ratelimit]
/// user_hash_key_env`, first 128 bits in hex. Per key, since two frontends' "user-1" are two
/// different people; keyed, so the ids in Redis cannot be checked against guessed names.
pub fn end_user_id(hash_key: &crate::core::Secret, key_id: &str, user: &str) -> String {
    crate::core::keyed_pseudonym(hash_key, &[key_id, user])
}

/// Whole seconds for `Retry-After`, rounded up and at least 1.
pub fn retry_after_secs(wait: Duration) -> u64 {
    wait.as_secs() + u64::from(wait.subsec_nanos() > 0).max(u64::from(wait.is_zero()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_key_gets_its_burst_then_is_told_when_to_retry() {
        let limiter = MemoryLimiter::default();
        let rpm = NonZeroU32::new(3).unwrap();
        for _ in 0..3 {
            assert!(limiter.check("k", rpm).is_ok());
        }
        let wait = limiter.check("k", rpm).unwrap_err();
        assert!(
            wait > Duration::from_secs(15) && wait <= Duration::from_secs(20),
            "{wait:?}"
        );
    }

    #[test]
    fn a_request_costing_n_takes_n_from_the_same_limit() {
        let limiter = MemoryLimiter::default();
        let rpm = NonZeroU32::new(10).unwrap();
        assert!(limiter.check("k", rpm).is_ok());
        assert!(
            limiter
                .check_n("k", rpm, NonZeroU32::new(9).unwrap())
                .is_ok()
        );
        assert!(limiter.check("k", rpm).is_err(), "the ten are spent");
    }

    #[test]
    fn keys_do_not_share_a_limit() {
        let limiter = MemoryLimiter::default();
        let rpm = NonZeroU32::new(1).unwrap();
        assert!(limiter.check("a", rpm).is_ok());
        assert!(limiter.check("a", rpm).is_err());
        assert!(limiter.check("b", rpm).is_ok());
    }

    #[test]
    fn an_end_user_id_depends_on_the_key_the_user_and_the_secret() {
        let secret = crate::core::Secret::new("s1".to_string());
        let id = end_user_id(&secret, "key-a", "user-1");
        assert_eq!(id.len(), 32);
        assert_eq!(id, end_user_id(&secret, "key-a", "user-1"));
        assert_ne!(id, end_user_id(&secret, "key-b", "user-1"));
        assert_ne!(id, end_user_id(&secret, "key-a", "user-2"));
        let other = crate::core::Secret::new("s2".to_string());
        assert_ne!(id, end_user_id(&other, "key-a", "user-1"));
    }

    #[test]
    fn retry_after_rounds_up_to_whole_seconds() {
        assert_eq!(retry_after_secs(Duration::from_millis(1)), 1);
        assert_eq!(retry_after_secs(Duration::from_millis(19_999)), 20);
        assert_eq!(retry_after_secs(Duration::from_secs(3)), 3);
        assert_eq!(retry_after_secs(Duration::ZERO), 1);
    }
}
