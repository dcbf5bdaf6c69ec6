//! The `risk_features` and `engagement_features` tables: one row per pseudonymous patient and
//! feature group, the values as JSON text.
//!
//! Why JSON text rather than one column per feature: the store imports only `core`, so the
//! groups' shapes (owned by `features`) would otherwise be written twice; new optional features
//! need no migration; and the same repository serves both groups. TEXT rather than JSONB because
//! sqlx's `Any` driver binds text on both backends. The columns the store itself must compare
//! (`event_at_ms`, `updated_at_ms`) are real columns.
//!
//! Ordering rules, enforced in the upsert itself (one statement, so concurrent writers and
//! replicas agree without a lock):
//! - a write whose `event_at_ms` is older than the stored row's is not applied (ingestion
//!   replays an old event: the newer measurement stays);
//! - a write of the values already stored is a no-op (idempotent reloads and replays; the
//!   event time, when the values carry one, is part of the values);
//! - `updated_at_ms` strictly increases per row (the write's clock, or the stored value + 1 when
//!   a replica's clock is behind), so it is a version the Redis copy can be compared by.

use sqlx::Row;

use super::{DbError, Store};

/// One of the feature tables.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum FeatureTable {
    Risk,
    Engagement,
}

impl FeatureTable {
    fn name(self) -> &'static str {
        match self {
            FeatureTable::Risk => "risk_features",
            FeatureTable::Engagement => "engagement_features",
        }
    }
}

/// A stored row.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FeatureRow {
    pub patient_id: String,
    /// The group's values, as JSON text.
    pub values_json: String,
    /// The values' own time (Unix ms); a write older than this is not applied.
    pub event_at_ms: i64,
    /// The row's version (Unix ms of the write, strictly increasing per row).
    pub updated_at_ms: i64,
    pub schema_version: i64,
}

/// A row to write. `updated_at_ms` is the writer's clock; the stored version may end up higher.
#[derive(Debug, Clone, Copy)]
pub struct NewFeatureRow<'a> {
    pub patient_id: &'a str,
    pub values_json: &'a str,
    pub event_at_ms: i64,
    pub updated_at_ms: i64,
    pub schema_version: i64,
}

/// What an upsert did; both carry the row the table holds afterwards.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Upserted {
    /// The write was applied (a new row or a newer one).
    Applied(FeatureRow),
    /// The stored row was newer (or identical) and kept.
    Kept(FeatureRow),
}

impl Upserted {
    /// The row the table holds after the write.
    pub fn row(&self) -> &FeatureRow {
        match self {
            Upserted::Applied(r) | Upserted::Kept(r) => r,
        }
    }
}

const COLUMNS: &str = "patient_id, values_json, event_at_ms, updated_at_ms, schema_version";

fn upsert_sql(table: FeatureTable) -> String {
    let t = table.name();
    format!(
        "INSERT INTO {t} ({COLUMNS}) VALUES ($1, $2, $3, $4, $5) \
         ON CONFLICT (patient_id) DO UPDATE SET \
           values_json = excluded.values_json, \
           event_at_ms = excluded.event_at_ms, \
           updated_at_ms = CASE WHEN excluded.updated_at_ms > {t}.updated_at_ms \
             THEN excluded.updated_at_ms ELSE {t}.updated_at_ms + 1 END, \
           schema_version = excluded.schema_version \
         WHERE excluded.event_at_ms >= {t}.event_at_ms \
           AND excluded.values_json <> {t}.values_json \
         RETURNING {COLUMNS}"
    )
}

fn from_row(row: &sqlx::any::AnyRow) -> Result<FeatureRow, DbError> {
    Ok(FeatureRow {
        patient_id: row.try_get("patient_id")?,
        values_json: row.try_get("values_json")?,
        event_at_ms: row.try_get("event_at_ms")?,
        updated_at_ms: row.try_get("updated_at_ms")?,
        schema_version: row.try_get("schema_version")?,
    })
}

/// Writes one row unless the stored one is newer (see the module's ordering rules).
pub async fn upsert(
    store: &Store,
    table: FeatureTable,
    new: NewFeatureRow<'_>,
) -> Result<Upserted, DbError> {
    let mut tx = store.pool().begin().await?;
    let done = upsert_in(&mut tx, table, new).await?;
    tx.commit().await?;
    Ok(done)
}

/// Writes rows in one transaction (the loader's and ingestion's batches), each under the same
/// ordering rules; results in the input's order.
pub async fn upsert_many(
    store: &Store,
    table: FeatureTable,
    rows: &[NewFeatureRow<'_>],
) -> Result<Vec<Upserted>, DbError> {
    let mut tx = store.pool().begin().await?;
    let mut out = Vec::with_capacity(rows.len());
    for new in rows {
        out.push(upsert_in(&mut tx, table, *new).await?);
    }
    tx.commit().await?;
    Ok(out)
}

async fn upsert_in(
    tx: &mut sqlx::Transaction<'_, sqlx::Any>,
    table: FeatureTable,
    new: NewFeatureRow<'_>,
) -> Result<Upserted, DbError> {
    let applied = sqlx::query(&upsert_sql(table))
        .bind(new.patient_id)
        .bind(new.values_json)
        .bind(new.event_at_ms)
        .bind(new.updated_at_ms)
        .bind(new.schema_version)
        .fetch_optional(&mut **tx)
        .await?;
    if let Some(row) = applied {
        return Ok(Upserted::Applied(from_row(&row)?));
    }
    let kept = sqlx::query(&select_sql(table))
        .bind(new.patient_id)
        .fetch_one(&mut **tx)
        .await?;
    Ok(Upserted::Kept(from_row(&kept)?))
}

fn select_sql(table: FeatureTable) -> String {
    format!(
        "SELECT {COLUMNS} FROM {} WHERE patient_id = $1",
        table.name()
    )
}

/// The stored row of one patient.
pub async fn get(
    store: &Store,
    table: FeatureTable,
    patient_id: &str,
) -> Result<Option<FeatureRow>, DbError> {
    let row = sqlx::query(&select_sql(table))
        .bind(patient_id)
        .fetch_optional(store.pool())
        .await?;
    row.as_ref().map(from_row).transpose()
}

/// Up to `limit` rows with a patient id after `after`, in id order (keyset pages for
/// `features sync`, which never holds a whole table in memory).
pub async fn page(
    store: &Store,
    table: FeatureTable,
    after: &str,
    limit: u32,
) -> Result<Vec<FeatureRow>, DbError> {
    let rows = sqlx::query(&format!(
        "SELECT {COLUMNS} FROM {} WHERE patient_id > $1 ORDER BY patient_id LIMIT $2",
        table.name()
    ))
    .bind(after)
    .bind(i64::from(limit))
    .fetch_all(store.pool())
    .await?;
    rows.iter().map(from_row).collect()
}

/// How many rows the table holds.
pub async fn count(store: &Store, table: FeatureTable) -> Result<i64, DbError> {
    sqlx::query_scalar(&format!("SELECT COUNT(*) FROM {}", table.name()))
        .fetch_one(store.pool())
        .await
}
