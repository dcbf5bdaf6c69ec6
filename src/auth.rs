//! Authentication of API keys on the request path: `Authorization: Bearer KEY` → the stored key,
//! through a short-lived in-memory cache so the database is asked about a given key at most once
//! per `[auth] key_cache_ms`. Unknown keys are cached too (briefly), so a flood of bad keys cannot
//! turn into a flood of queries; keys created or revoked from the CLI take effect within the TTL.

use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::http::HeaderMap;
use dashmap::DashMap;

use crate::error::ApiError;
use crate::store::Store;
use crate::store::keys::{ApiKey, ApiKeyHash, Role};

/// Past this many cached entries, expired ones are swept before inserting.
const MAX_ENTRIES: usize = 100_000;

/// Looks keys up by hash, with a TTL cache in front of the database.
pub struct KeyCache {
    store: Store,
    ttl: Duration,
    entries: DashMap<ApiKeyHash, (Option<Arc<ApiKey>>, Instant)>,
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
    pub fn new(store: Store, ttl: Duration) -> Self {
        KeyCache {
            store,
            ttl,
            entries: DashMap::new(),
        }
    }

    /// The active key presented in `headers`, or 401.
    pub async fn authenticate(&self, headers: &HeaderMap) -> Result<Arc<ApiKey>, ApiError> {
        let presented = bearer(headers)?;
        let hash = ApiKeyHash::of(presented);
        if let Some(entry) = self.entries.get(&hash) {
            let (key, at) = entry.value();
            if at.elapsed() < self.ttl {
                return key.clone().ok_or_else(invalid_key);
            }
        }
        let found = self
            .store
            .find_active_key(&hash)
            .await
            .map_err(ApiError::from)?
            .map(Arc::new);
        if self.entries.len() >= MAX_ENTRIES {
            let ttl = self.ttl;
            self.entries.retain(|_, (_, at)| at.elapsed() < ttl);
        }
        self.entries.insert(hash, (found.clone(), Instant::now()));
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
    fn other_schemes_and_empty_keys_are_refused() {
        assert!(bearer(&headers("Basic abc")).is_err());
        assert!(bearer(&headers("Bearer ")).is_err());
        assert!(bearer(&HeaderMap::new()).is_err());
    }
}
