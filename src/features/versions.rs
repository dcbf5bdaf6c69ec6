//! The newest database version this process knows of each patient's group, so a Redis copy
//! older than it is never served (the cheap half of "never serve Redis over a newer row").
//!
//! Why it is needed at all: every Redis write is version-guarded (see `online`), so Redis only
//! goes stale when a write-through fails *after* the database commit (Redis down or slow for
//! that round trip) and Redis keeps the previous hash. The writer records the committed version
//! here as unconfirmed; a read that finds an older hash in Redis goes to the database and
//! rewrites Redis (read repair), which confirms it. Memory stays bounded: past `capacity`
//! entries the confirmed ones are dropped (Redis holds at least their version); if unconfirmed
//! ones alone overflow (a long outage with many writes), this process stops trusting Redis for
//! reads altogether until `features sync` has rebuilt it from this process.

use std::collections::HashMap;
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, Ordering};

/// Known versions by Redis key.
pub(super) struct Versions {
    map: Mutex<HashMap<String, Known>>,
    capacity: usize,
    distrust: AtomicBool,
}

#[derive(Clone, Copy)]
struct Known {
    version: i64,
    /// Redis was seen to hold at least this version.
    confirmed: bool,
}

impl Versions {
    pub(super) fn new(capacity: usize) -> Self {
        Versions {
            map: Mutex::new(HashMap::new()),
            capacity: capacity.max(1),
            distrust: AtomicBool::new(false),
        }
    }

    /// Whether a Redis copy at `version` may be served for `key`.
    pub(super) fn may_serve(&self, key: &str, version: i64) -> bool {
        if self.distrust.load(Ordering::Relaxed) {
            return false;
        }
        let map = self.map.lock().unwrap_or_else(|e| e.into_inner());
        map.get(key).is_none_or(|k| version >= k.version)
    }

    /// Records that the database holds `version` of `key`, and whether Redis was seen to hold
    /// it too. Never lowers a known version.
    pub(super) fn record(&self, key: &str, version: i64, confirmed: bool) {
        let mut map = self.map.lock().unwrap_or_else(|e| e.into_inner());
        match map.get_mut(key) {
            Some(k) if k.version > version => {}
            Some(k) if k.version == version => k.confirmed |= confirmed,
            _ => {
                if map.len() >= self.capacity {
                    map.retain(|_, k| !k.confirmed);
                    if map.len() >= self.capacity {
                        map.clear();
                        if !self.distrust.swap(true, Ordering::Relaxed) {
                            tracing::error!(
                                capacity = self.capacity,
                                "too many feature writes missed Redis; this process now reads features from the database only (run `powerbirth features sync`)"
                            );
                        }
                    }
                }
                map.insert(key.to_string(), Known { version, confirmed });
            }
        }
    }

    /// After a full rebuild of Redis from the database: everything written before is there.
    pub(super) fn trust_again(&self) {
        self.map.lock().unwrap_or_else(|e| e.into_inner()).clear();
        self.distrust.store(false, Ordering::Relaxed);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_older_copy_than_a_known_version_is_not_served() {
        let v = Versions::new(10);
        assert!(v.may_serve("k", 1), "unknown keys trust Redis");
        v.record("k", 5, false);
        assert!(!v.may_serve("k", 4));
        assert!(v.may_serve("k", 5));
        v.record("k", 3, true);
        assert!(!v.may_serve("k", 4), "a known version is never lowered");
    }

    #[test]
    fn overflowing_with_unconfirmed_versions_stops_trusting_redis() {
        let v = Versions::new(2);
        v.record("a", 1, true);
        v.record("b", 1, false);
        v.record("c", 1, false);
        assert!(v.may_serve("x", 1), "confirmed entries are dropped first");
        v.record("d", 1, false);
        assert!(!v.may_serve("x", 1));
        v.trust_again();
        assert!(v.may_serve("x", 1));
    }
}
