//! Authentication of API keys on the request path: `Authorization: Bearer KEY` → the stored key,
//! through a short-lived in-memory cache so the database is asked about a given key at most once
//! per `[auth] key_cache_ms`. Unknown keys are cached too (briefly), and a client address that
//! sends more than `[auth] failed_per_minute` unknown keys is answered 429 before any lookup, so
//! a flood of bad keys cannot turn into a flood of queries. The cache holds at most
//! `[auth] key_cache_entries` keys, with O(1) reads and inserts. Keys created or revoked from the
//! CLI take effect within the TTL.

use std::collections::HashMap;
use std::hash::Hash;
use std::net::IpAddr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::http::HeaderMap;

use crate::error::ApiError;
use crate::store::Store;
use crate::store::keys::{ApiKey, ApiKeyHash, Role};

/// A map of at most `capacity` entries with O(1) lookups and inserts: two generations, the
/// current one taking inserts and the previous one read (and promoted) on a miss. When the
/// current generation is full it becomes the previous one and the oldest generation is dropped,
/// so recently used entries survive and the map never scans itself (an approximate LRU, as in
/// two-generation "segmented" caches).
struct BoundedMap<K, V> {
    current: HashMap<K, V>,
    previous: HashMap<K, V>,
    generation: usize,
}

impl<K: Hash + Eq + Clone, V: Clone> BoundedMap<K, V> {
    fn new(capacity: usize) -> Self {
        BoundedMap {
            current: HashMap::new(),
            previous: HashMap::new(),
            generation: (capacity / 2).max(1),
        }
    }

    fn get(&mut self, key: &K) -> Option<V> {
        if let Some(v) = self.current.get(key) {
            return Some(v.clone());
        }
        let v = self.previous.remove(key)?;
        self.insert(key.clone(), v.clone());
        Some(v)
    }

    fn insert(&mut self, key: K, value: V) {
        if self.current.len() >= self.generation && !self.current.contains_key(&key) {
            self.previous = std::mem::take(&mut self.current);
        }
        self.current.insert(key, value);
    }

    fn len(&self) -> usize {
        self.current.len() + self.previous.len()
    }
}

/// A cached lookup: the key (or `None` for an unknown one) and when it was read.
type CachedKey = (Option<Arc<ApiKey>>, Instant);

/// Looks keys up by hash, with a bounded TTL cache in front of the database, and refuses
/// addresses that keep presenting unknown keys before they reach it.
pub struct KeyCache {
    store: Store,
    ttl: Duration,
    entries: Mutex<BoundedMap<ApiKeyHash, CachedKey>>,
    failures: FailedAuthLimiter,
}

/// Failed authentications per client address in one-minute windows; past the limit the address
/// is answered 429 before its key is looked up, so inventing keys costs no database queries.
struct FailedAuthLimiter {
    per_minute: u32,
    windows: Mutex<BoundedMap<IpAddr, (u32, Instant)>>,
}

const WINDOW: Duration = Duration::from_secs(60);

impl FailedAuthLimiter {
    fn check(&self, ip: IpAddr) -> Result<(), Duration> {
        let entry = self
            .windows
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .get(&ip);
        match entry {
            Some((n, start)) if n >= self.per_minute && start.elapsed() < WINDOW => {
                Err(WINDOW.saturating_sub(start.elapsed()))
            }
            _ => Ok(()),
        }
    }

    fn failed(&self, ip: IpAddr) {
        let mut windows = self.windows.lock().unwrap_or_else(|e| e.into_inner());
        let next = match windows.get(&ip) {
            Some((n, start)) if start.elapsed() < WINDOW => (n.saturating_add(1), start),
            _ => (1, Instant::now()),
        };
        windows.insert(ip, next);
    }
}

/// The key that authenticated the current request (a request extension).
#[derive(Debug, Clone)]
pub struct AuthedKey(pub Arc<ApiKey>);

impl AuthedKey {
    /// Admin routes call this first.
    pub fn require_admin(&self) -> Result<(), ApiError> {
        if self.0.role == Role::Admin {
            Ok(())
        } else {
            Err(ApiError::Forbidden)
        }
    }
}

impl KeyCache {
    /// A cache trusting lookups for `ttl`, holding at most `capacity` keys, and allowing
    /// `failed_per_minute` failed authentications per client address.
    pub fn new(store: Store, ttl: Duration, capacity: usize, failed_per_minute: u32) -> Self {
        KeyCache {
            store,
            ttl,
            entries: Mutex::new(BoundedMap::new(capacity)),
            failures: FailedAuthLimiter {
                per_minute: failed_per_minute.max(1),
                windows: Mutex::new(BoundedMap::new(capacity)),
            },
        }
    }

    /// How many lookups are cached (at most the capacity).
    pub fn cached(&self) -> usize {
        self.entries.lock().unwrap_or_else(|e| e.into_inner()).len()
    }

    /// The active key presented in `headers` by the client at `client`, or 401. A key read
    /// within the TTL is answered from the cache; otherwise, an address that failed
    /// `failed_per_minute` times this minute gets 429 before the database is asked (so a client
    /// with a good, cached key behind the same address keeps working).
    pub async fn authenticate(
        &self,
        headers: &HeaderMap,
        client: Option<IpAddr>,
    ) -> Result<Arc<ApiKey>, ApiError> {
        let found = self.lookup(headers, client).await;
        if let (Err(ApiError::Unauthorized(_)), Some(ip)) = (&found, client) {
            self.failures.failed(ip);
        }
        found
    }

    async fn lookup(
        &self,
        headers: &HeaderMap,
        client: Option<IpAddr>,
    ) -> Result<Arc<ApiKey>, ApiError> {
        let presented = bearer(headers)?;
        let hash = ApiKeyHash::of(presented);
        let cached = self
            .entries
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .get(&hash);
        if let Some((key, at)) = cached
            && at.elapsed() < self.ttl
        {
            return key.ok_or_else(invalid_key);
        }
        if let Some(ip) = client
            && let Err(wait) = self.failures.check(ip)
        {
            return Err(ApiError::AuthThrottled {
                retry_after_secs: wait.as_secs() + u64::from(wait.subsec_nanos() > 0),
            });
        }
        let found = self
            .store
            .find_active_key(&hash)
            .await
            .map_err(ApiError::from)?
            .map(Arc::new);
        self.entries
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .insert(hash, (found.clone(), Instant::now()));
        found.ok_or_else(invalid_key)
    }
}

fn invalid_key() -> ApiError {
    ApiError::Unauthorized("Incorrect API key provided.".into())
}

fn bearer(headers: &HeaderMap) -> Result<&str, ApiError> {
    let missing = || {
        ApiError::Unauthorized(
            "You didn't provide an API key. Send it as `Authorization: Bearer KEY` (create one with `powerbirth keys create`).".into(),
        )
    };
    let value = headers
        .get(axum::http::header::AUTHORIZATION)
        .ok_or_else(missing)?;
    let value = value.to_str().map_err(|_| invalid_key())?;
    let (scheme, key) = value.split_once(' ').ok_or_else(missing)?;
    if !scheme.eq_ignore_ascii_case("bearer") || key.trim().is_empty() {
        return Err(missing());
    }
    Ok(key.trim())
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::HeaderValue;

    fn headers(auth: &str) -> HeaderMap {
        let mut h = HeaderMap::new();
        h.insert("authorization", HeaderValue::from_str(auth).unwrap());
        h
    }

    #[test]
    fn the_bearer_scheme_is_read_case_insensitively() {
        assert_eq!(bearer(&headers("Bearer pb-1")).unwrap(), "pb-1");
        assert_eq!(bearer(&headers("bearer  pb-1 ")).unwrap(), "pb-1");
    }

    #[test]
    fn the_bounded_map_keeps_recent_entries_and_never_exceeds_its_capacity() {
        let mut map = BoundedMap::new(100);
        for i in 0..10_000u32 {
            map.insert(i, i);
            // Entry 0 is read all along, so it stays however many others come and go.
            assert_eq!(map.get(&0), Some(0));
            assert!(map.len() <= 100, "{} entries", map.len());
        }
        assert_eq!(map.get(&9_999), Some(9_999));
        assert_eq!(map.get(&5), None, "old entries are dropped");
    }

    #[test]
    fn other_schemes_and_empty_keys_are_refused() {
        assert!(bearer(&headers("Basic abc")).is_err());
        assert!(bearer(&headers("Bearer ")).is_err());
        assert!(bearer(&HeaderMap::new()).is_err());
    }
}
