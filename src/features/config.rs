//! `[features]`: the feature store's online copy in Redis (used when `[redis] url` is set).

use std::time::Duration;

use serde::Deserialize;

/// The validated `[features]` section.
#[derive(Debug, Clone)]
pub struct FeaturesConfig {
    /// How long a patient's Redis hash lives after its last write (the database keeps the row).
    pub redis_ttl: Duration,
    /// Part of every Redis key (`…:v1:…`): bump it when a group's shape changes incompatibly,
    /// so old hashes are never read as new ones (they expire; `features sync` fills the new keys).
    pub schema_version: u32,
    /// Start of every Redis key, e.g. `pb:features` → `pb:features:v1:risk:<patient>`.
    pub key_prefix: String,
    /// After a Redis error, reads go straight to the database for this long, so an outage
    /// costs one failed round trip per interval rather than one per read.
    pub redis_retry: Duration,
}

impl Default for FeaturesConfig {
    fn default() -> Self {
        RawFeaturesConfig::default()
            .validate()
            .expect("the default [features] section is valid")
    }
}

/// `[features]` exactly as written; every key is optional.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct RawFeaturesConfig {
    redis_ttl_s: u64,
    schema_version: u32,
    key_prefix: String,
    redis_retry_ms: u64,
}

impl Default for RawFeaturesConfig {
    fn default() -> Self {
        RawFeaturesConfig {
            redis_ttl_s: 7 * 24 * 3600,
            schema_version: 1,
            key_prefix: "pb:features".into(),
            redis_retry_ms: 1000,
        }
    }
}

impl RawFeaturesConfig {
    /// Checks every key; the error names it.
    pub fn validate(self) -> Result<FeaturesConfig, String> {
        if self.redis_ttl_s == 0 {
            return Err("[features] redis_ttl_s must be at least 1".into());
        }
        if self.schema_version == 0 {
            return Err("[features] schema_version must be at least 1".into());
        }
        let prefix_ok = !self.key_prefix.is_empty()
            && self.key_prefix.len() <= 64
            && self
                .key_prefix
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || matches!(c, ':' | '_' | '-' | '.'));
        if !prefix_ok {
            return Err(format!(
                "[features] key_prefix = {:?}: use 1-64 letters, digits, ':', '_', '-' or '.'",
                self.key_prefix
            ));
        }
        Ok(FeaturesConfig {
            redis_ttl: Duration::from_secs(self.redis_ttl_s),
            schema_version: self.schema_version,
            key_prefix: self.key_prefix,
            redis_retry: Duration::from_millis(self.redis_retry_ms),
        })
    }
}
