//! The `cost_alerts` table: alerts opened and cleared by `metering`'s monitor, listed by
//! `GET /v1/alerts`.
//! A partial unique index keeps at most one open alert per scope, so replicas that check at the
//! same moment cannot open it twice: the one whose insert lands is the one that notifies.

use rust_decimal::Decimal;
use serde::Serialize;
use sqlx::Row;

use crate::core::UsdCost;
use crate::store::messages::{decimal_column, decimal_param};
use crate::store::{Backend, DbError, Store};

/// Whether an alert still holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum AlertStatus {
    Open,
    Cleared,
}

/// One cost alert: the mean cost per message of `scope` rose by `change_ratio` (over
/// `threshold`) from the previous 24 h to the 24 h before `opened_at_ms`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct CostAlert {
    pub id: String,
    /// `*` for all models together, else the model's name.
    pub scope: String,
    pub status: AlertStatus,
    pub opened_at_ms: i64,
    pub cleared_at_ms: Option<i64>,
    /// `cost_rise_ratio` at the time.
    pub threshold: Decimal,
    /// `current / previous − 1` of the mean cost per message.
    pub change_ratio: Decimal,
    pub previous_cost_per_message_usd: UsdCost,
    pub current_cost_per_message_usd: UsdCost,
    pub previous_messages: u64,
    pub current_messages: u64,
}

/// Most alerts listed at once.
const LIST_LIMIT: i64 = 1000;

fn columns(backend: Backend) -> String {
    [
        "id".to_string(),
        "scope".into(),
        "opened_at".into(),
        "cleared_at".into(),
        decimal_column(backend, "threshold"),
        decimal_column(backend, "change_ratio"),
        decimal_column(backend, "previous_cost_per_message"),
        decimal_column(backend, "current_cost_per_message"),
        "previous_messages".into(),
        "current_messages".into(),
    ]
    .join(", ")
}

fn decimal(row: &sqlx::any::AnyRow, column: &str) -> Result<Decimal, DbError> {
    let text: String = row.try_get(column)?;
    text.parse::<Decimal>()
        .map_err(|e| DbError::Decode(e.into()))
}

fn cost(row: &sqlx::any::AnyRow, column: &str) -> Result<UsdCost, DbError> {
    let text: String = row.try_get(column)?;
    text.parse::<UsdCost>()
        .map_err(|e| DbError::Decode(e.into()))
}

fn from_row(row: &sqlx::any::AnyRow) -> Result<CostAlert, DbError> {
    let cleared_at: Option<i64> = row.try_get("cleared_at")?;
    let count = |c: &str| -> Result<u64, DbError> { Ok(row.try_get::<i64, _>(c)?.max(0) as u64) };
    Ok(CostAlert {
        id: row.try_get("id")?,
        scope: row.try_get("scope")?,
        status: if cleared_at.is_some() {
            AlertStatus::Cleared
        } else {
            AlertStatus::Open
        },
        opened_at_ms: row.try_get("opened_at")?,
        cleared_at_ms: cleared_at,
        threshold: decimal(row, "threshold")?,
        change_ratio: decimal(row, "change_ratio")?,
        previous_cost_per_message_usd: cost(row, "previous_cost_per_message")?,
        current_cost_per_message_usd: cost(row, "current_cost_per_message")?,
        previous_messages: count("previous_messages")?,
        current_messages: count("current_messages")?,
    })
}

/// Every alert, newest first (at most 1000).
pub async fn list_alerts(store: &Store) -> Result<Vec<CostAlert>, DbError> {
    let rows = sqlx::query(&format!(
        "SELECT {} FROM cost_alerts ORDER BY opened_at DESC, id DESC LIMIT $1",
        columns(store.backend())
    ))
    .bind(LIST_LIMIT)
    .fetch_all(store.pool())
    .await?;
    rows.iter().map(from_row).collect()
}

/// The alerts still open, oldest first.
pub async fn open_alerts(store: &Store) -> Result<Vec<CostAlert>, DbError> {
    let rows = sqlx::query(&format!(
        "SELECT {} FROM cost_alerts WHERE cleared_at IS NULL ORDER BY opened_at, id",
        columns(store.backend())
    ))
    .fetch_all(store.pool())
    .await?;
    rows.iter().map(from_row).collect()
}

/// Opens `alert` unless its scope already has an open one; true when this call opened it.
pub async fn open(store: &Store, alert: &CostAlert) -> Result<bool, DbError> {
    let b = store.backend();
    let sql = format!(
        "INSERT INTO cost_alerts (id, scope, opened_at, cleared_at, threshold, change_ratio, \
         previous_cost_per_message, current_cost_per_message, previous_messages, current_messages) \
         VALUES ($1, $2, $3, NULL, {}, {}, {}, {}, $8, $9) ON CONFLICT DO NOTHING",
        decimal_param(b, 4),
        decimal_param(b, 5),
        decimal_param(b, 6),
        decimal_param(b, 7),
    );
    let done = sqlx::query(&sql)
        .bind(&alert.id)
        .bind(&alert.scope)
        .bind(alert.opened_at_ms)
        .bind(alert.threshold.to_string())
        .bind(alert.change_ratio.to_string())
        .bind(alert.previous_cost_per_message_usd.to_string())
        .bind(alert.current_cost_per_message_usd.to_string())
        .bind(alert.previous_messages as i64)
        .bind(alert.current_messages as i64)
        .execute(store.pool())
        .await?;
    Ok(done.rows_affected() == 1)
}

/// Clears the open alert of `scope`, if any; returns it as cleared when this call cleared it.
pub async fn clear(
    store: &Store,
    open: &CostAlert,
    at_ms: i64,
) -> Result<Option<CostAlert>, DbError> {
    let done =
        sqlx::query("UPDATE cost_alerts SET cleared_at = $1 WHERE id = $2 AND cleared_at IS NULL")
            .bind(at_ms)
            .bind(&open.id)
            .execute(store.pool())
            .await?;
    Ok((done.rows_affected() == 1).then(|| CostAlert {
        status: AlertStatus::Cleared,
        cleared_at_ms: Some(at_ms),
        ..open.clone()
    }))
}
