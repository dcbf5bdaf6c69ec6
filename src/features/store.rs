//! [`FeatureStore`]: the database is the record, Redis the optional online copy.
//!
//! Write (`put_*`): validate, commit the row to the database (the upsert keeps a newer stored
//! row: see `store::features`), then one Redis round trip writes the committed row through
//! (version-guarded, with the TTL). If Redis fails after the commit, the write still succeeds:
//! `feature_redis_errors` counts it, a warning is logged, and the committed version is kept in
//! memory (`versions`) so this process never serves the older Redis copy; the next read of
//! that patient goes to the database and repairs Redis.
//!
//! Read (`risk`, `engagement`): Redis first (one HGETALL), served only when its version is not
//! older than any version this process knows; on a miss, a stale copy or a Redis error, the
//! database (a Redis error is counted and logged, never answered to the client). A database
//! hit found Redis missing or stale is written back in the background (read repair).

use std::sync::Arc;
use std::sync::atomic::{AtomicI64, Ordering};

use prometheus_client::registry::Registry;
use serde::Serialize;
use serde::de::DeserializeOwned;

use super::config::FeaturesConfig;
use super::metrics::{FeatureMetrics, ReadLabels};
use super::online::{Online, decode};
use super::validate::{FieldError, patient_id};
use super::versions::Versions;
use super::{EngagementFeatures, FeatureGroup, RiskFeatures, Stored};
use crate::core::now_ms;
use crate::store::Store;
use crate::store::features::{self as repo, FeatureRow, FeatureTable, NewFeatureRow};

/// What a feature store operation can fail with. A Redis problem is never one of them on the
/// read and write paths (the database answers); only `sync` reports it.
#[derive(Debug, thiserror::Error)]
pub enum FeatureError {
    /// A bad patient id or value, naming the field (422 on the API).
    #[error(transparent)]
    Invalid(#[from] FieldError),
    /// The database failed (500 on the API; the cause is logged, never sent).
    #[error("feature store database error: {0}")]
    Db(#[from] crate::store::DbError),
    /// A stored row no longer reads as its group (written by an incompatible build).
    #[error("stored {group} features of {patient_id} cannot be read: {message}")]
    Corrupt {
        group: &'static str,
        patient_id: String,
        message: String,
    },
    /// `features sync` could not write to Redis (or none is configured).
    #[error("Redis: {0}")]
    Online(String),
}

/// A feature group's values, as the store handles them.
pub trait Group: Serialize + DeserializeOwned + Clone + Send + Sync + 'static {
    const GROUP: FeatureGroup;
    /// The values' own time (a write older than the stored row's is not applied).
    fn event_at_ms(&self) -> Option<i64>;
    /// Plausibility, naming the field.
    fn check(&self) -> Result<(), FieldError>;
}

impl Group for RiskFeatures {
    const GROUP: FeatureGroup = FeatureGroup::Risk;
    fn event_at_ms(&self) -> Option<i64> {
        self.measured_at_ms
    }
    fn check(&self) -> Result<(), FieldError> {
        RiskFeatures::check(self)
    }
}

impl Group for EngagementFeatures {
    const GROUP: FeatureGroup = FeatureGroup::Engagement;
    fn event_at_ms(&self) -> Option<i64> {
        self.last_active_ms
    }
    fn check(&self) -> Result<(), FieldError> {
        EngagementFeatures::check(self)
    }
}

pub(super) fn table(group: FeatureGroup) -> FeatureTable {
    match group {
        FeatureGroup::Risk => FeatureTable::Risk,
        FeatureGroup::Engagement => FeatureTable::Engagement,
    }
}

/// The feature store. Cheap to clone.
#[derive(Clone)]
pub struct FeatureStore {
    pub(super) inner: Arc<Inner>,
}

pub(super) struct Inner {
    pub(super) db: Store,
    pub(super) online: Option<Online>,
    pub(super) config: FeaturesConfig,
    pub(super) metrics: FeatureMetrics,
    pub(super) versions: Versions,
    /// Unix ms until which reads skip Redis (set after a Redis error).
    skip_until: AtomicI64,
}

/// Versions remembered per process (see `versions`).
const KNOWN_VERSIONS: usize = 100_000;

impl FeatureStore {
    /// A store over `db`, with the online copy in `redis` when given; its metrics are
    /// registered in `registry`.
    pub fn new(
        db: Store,
        redis: Option<redis::aio::ConnectionManager>,
        config: FeaturesConfig,
        registry: &mut Registry,
    ) -> Self {
        Self::with_metrics(db, redis, config, FeatureMetrics::register(registry))
    }

    /// As [`FeatureStore::new`] with metrics already made (the CLI keeps them unregistered).
    pub fn with_metrics(
        db: Store,
        redis: Option<redis::aio::ConnectionManager>,
        config: FeaturesConfig,
        metrics: FeatureMetrics,
    ) -> Self {
        let online = redis.map(|conn| {
            Online::new(
                conn,
                &config.key_prefix,
                config.schema_version,
                config.redis_ttl.as_secs(),
            )
        });
        FeatureStore {
            inner: Arc::new(Inner {
                db,
                online,
                config,
                metrics,
                versions: Versions::new(KNOWN_VERSIONS),
                skip_until: AtomicI64::new(0),
            }),
        }
    }

    /// Connects to the Redis at `url` (short timeouts, so a dead Redis fails fast and reads
    /// fall back to the database) and builds the store.
    pub async fn connect(
        db: Store,
        redis_url: Option<&str>,
        config: FeaturesConfig,
        registry: &mut Registry,
    ) -> anyhow::Result<Self> {
        let redis = match redis_url {
            Some(url) => Some(connect_redis(url).await?),
            None => None,
        };
        Ok(Self::new(db, redis, config, registry))
    }

    /// Whether an online copy is configured.
    pub fn has_online(&self) -> bool {
        self.inner.online.is_some()
    }

    /// The Redis key of a patient's group (for operators and tests).
    pub fn redis_key(&self, group: FeatureGroup, patient_id: &str) -> Option<String> {
        self.inner.online.as_ref().map(|o| o.key(group, patient_id))
    }

    /// The configuration in force.
    pub fn config(&self) -> &FeaturesConfig {
        &self.inner.config
    }

    /// The metrics (for tests and the CLI's summaries).
    pub fn metrics(&self) -> &FeatureMetrics {
        &self.inner.metrics
    }

    /// A patient's risk features, if any.
    pub async fn risk(
        &self,
        patient_id: &str,
    ) -> Result<Option<Stored<RiskFeatures>>, FeatureError> {
        self.get(patient_id).await
    }

    /// A patient's engagement features, if any.
    pub async fn engagement(
        &self,
        patient_id: &str,
    ) -> Result<Option<Stored<EngagementFeatures>>, FeatureError> {
        self.get(patient_id).await
    }

    /// Stores a patient's risk features; returns the row stored afterwards (the one already
    /// stored, when it was newer than these values: see `store::features`).
    pub async fn put_risk(
        &self,
        patient_id: &str,
        values: RiskFeatures,
    ) -> Result<Stored<RiskFeatures>, FeatureError> {
        self.put(patient_id, values).await
    }

    /// Stores a patient's engagement features; as [`FeatureStore::put_risk`].
    pub async fn put_engagement(
        &self,
        patient_id: &str,
        values: EngagementFeatures,
    ) -> Result<Stored<EngagementFeatures>, FeatureError> {
        self.put(patient_id, values).await
    }

    /// Reads one group of a patient: Redis, then the database (see the module doc).
    pub async fn get<T: Group>(&self, patient_id: &str) -> Result<Option<Stored<T>>, FeatureError> {
        self::patient_id(patient_id)?;
        let group = T::GROUP;
        let mut repair = false;
        if let Some(online) = self.online_for_reads() {
            let key = online.key(group, patient_id);
            match online.read(&key).await {
                Ok(Some(hash)) => match decode::<T>(patient_id, &hash) {
                    Ok(stored) if self.inner.versions.may_serve(&key, stored.updated_at_ms) => {
                        self.count(group, "redis");
                        return Ok(Some(stored));
                    }
                    Ok(_) => repair = true,
                    Err(problem) => {
                        tracing::warn!(%problem, group = group.as_str(), "unreadable feature hash in Redis; reading the database");
                        repair = true;
                    }
                },
                Ok(None) => repair = true,
                Err(e) => self.redis_failed("read", &e),
            }
        }
        let Some(row) = repo::get(&self.inner.db, table(group), patient_id).await? else {
            self.count(group, "miss");
            return Ok(None);
        };
        self.count(group, "database");
        let stored = to_stored::<T>(group, row.clone())?;
        if repair {
            self.spawn_repair(group, row);
        }
        Ok(Some(stored))
    }

    /// Writes one group of a patient: database commit, then Redis (see the module doc).
    pub async fn put<T: Group>(
        &self,
        patient_id: &str,
        values: T,
    ) -> Result<Stored<T>, FeatureError> {
        self::patient_id(patient_id)?;
        values.check()?;
        let now = now_ms();
        let json = serde_json::to_string(&values).map_err(|e| FeatureError::Corrupt {
            group: T::GROUP.as_str(),
            patient_id: patient_id.to_string(),
            message: e.to_string(),
        })?;
        let new = NewFeatureRow {
            patient_id,
            values_json: &json,
            event_at_ms: values.event_at_ms().unwrap_or(now),
            updated_at_ms: now,
            schema_version: i64::from(self.inner.config.schema_version),
        };
        let done = repo::upsert(&self.inner.db, table(T::GROUP), new).await?;
        let row = done.row().clone();
        self.write_through(T::GROUP, &row).await;
        to_stored(T::GROUP, row)
    }

    /// Writes a committed row to Redis; a failure is counted and remembered, never returned.
    pub(super) async fn write_through(&self, group: FeatureGroup, row: &FeatureRow) {
        let Some(online) = &self.inner.online else {
            return;
        };
        let key = online.key(group, &row.patient_id);
        match online.write(&key, row).await {
            Ok(_) => self.inner.versions.record(&key, row.updated_at_ms, true),
            Err(e) => {
                self.inner.versions.record(&key, row.updated_at_ms, false);
                self.redis_failed("write", &e);
            }
        }
    }

    fn spawn_repair(&self, group: FeatureGroup, row: FeatureRow) {
        if self.online_for_reads().is_none() {
            return;
        }
        let store = self.clone();
        tokio::spawn(async move { store.write_through(group, &row).await });
    }

    /// Redis, unless none is configured or it failed less than `redis_retry` ago.
    fn online_for_reads(&self) -> Option<&Online> {
        let online = self.inner.online.as_ref()?;
        (now_ms() >= self.inner.skip_until.load(Ordering::Relaxed)).then_some(online)
    }

    pub(super) fn redis_failed(&self, op: &'static str, e: &redis::RedisError) {
        self.inner.metrics.redis_errors.inc();
        let retry_ms = i64::try_from(self.inner.config.redis_retry.as_millis()).unwrap_or(i64::MAX);
        self.inner
            .skip_until
            .store(now_ms().saturating_add(retry_ms), Ordering::Relaxed);
        tracing::warn!(op, error = %e, "feature store: Redis failed; the database answers (online copy repaired later)");
    }

    fn count(&self, group: FeatureGroup, source: &'static str) {
        self.inner
            .metrics
            .reads
            .get_or_create(&ReadLabels {
                group: group.as_str(),
                source,
            })
            .inc();
    }
}

/// A Redis connection with the gateway's short timeouts (the same as the rate limiter's).
pub async fn connect_redis(url: &str) -> anyhow::Result<redis::aio::ConnectionManager> {
    use anyhow::Context;
    let config = redis::aio::ConnectionManagerConfig::new()
        .set_connection_timeout(std::time::Duration::from_millis(500))
        .set_response_timeout(std::time::Duration::from_millis(500))
        .set_number_of_retries(1);
    redis::Client::open(url)
        .context("invalid [redis] url")?
        .get_connection_manager_with_config(config)
        .await
        .context("connecting to Redis for the feature store")
}

pub(super) fn to_stored<T: Group>(
    group: FeatureGroup,
    row: FeatureRow,
) -> Result<Stored<T>, FeatureError> {
    let values = serde_json::from_str(&row.values_json).map_err(|e| FeatureError::Corrupt {
        group: group.as_str(),
        patient_id: row.patient_id.clone(),
        message: e.to_string(),
    })?;
    Ok(Stored {
        patient_id: row.patient_id,
        values,
        updated_at_ms: row.updated_at_ms,
    })
}
