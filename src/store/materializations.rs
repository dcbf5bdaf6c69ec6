//! `ingest_materializations`: per materialisation job, the last partition date written into the
//! feature store (`features materialize` is incremental).

use sqlx::Row;

use super::{DbError, Store};

/// The last date (`YYYY-MM-DD`) materialised by `job`, if any.
pub async fn last_date(store: &Store, job: &str) -> Result<Option<String>, DbError> {
    let row = sqlx::query("SELECT last_date FROM ingest_materializations WHERE job = $1")
        .bind(job)
        .fetch_optional(store.pool())
        .await?;
    Ok(match row {
        Some(r) => Some(r.try_get("last_date")?),
        None => None,
    })
}

/// Records `date` as `job`'s last materialised partition.
pub async fn set_last_date(
    store: &Store,
    job: &str,
    date: &str,
    now_ms: i64,
) -> Result<(), DbError> {
    sqlx::query(
        "INSERT INTO ingest_materializations (job, last_date, updated_at_ms) VALUES ($1, $2, $3) \
         ON CONFLICT (job) DO UPDATE SET last_date = excluded.last_date, \
         updated_at_ms = excluded.updated_at_ms",
    )
    .bind(job)
    .bind(date)
    .bind(now_ms)
    .execute(store.pool())
    .await?;
    Ok(())
}
