//! The cost ledger's reads: sums of the assistant messages (one per request) over a time range,
//! optionally for one key and grouped by day, model, key or prompt; and, in [`alerts`], the
//! `cost_alerts` table. `metering` turns the sums into reports, budgets and alerts.
//!
//! Sums stay exact on both backends. PostgreSQL stores costs as `NUMERIC` and sums them in SQL
//! (`SUM(numeric)` is exact) and returns the sum as text. SQLite stores them as decimal strings
//! in a `TEXT` column and would sum those as floating point, so on SQLite the rows are streamed
//! and summed in Rust with `rust_decimal`; SQLite serves one machine, where that is cheap.

pub mod alerts;

use std::collections::BTreeMap;
use std::fmt;
use std::str::FromStr;

use futures_util::TryStreamExt;
use serde::Serialize;
use sqlx::Row;

use super::messages::decimal_column;
use super::{Backend, DbError, Store};
use crate::core::UsdCost;
use crate::core::calendar::date_of_day;

/// How a usage report groups messages.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum GroupBy {
    /// UTC day, `YYYY-MM-DD`.
    Day,
    /// The model that answered.
    Model,
    /// The API key (its id; the report adds the key's name).
    Key,
    /// The prompt reference (`id@version;lang=…;persona=…`); messages without one group as null.
    Prompt,
}

impl FromStr for GroupBy {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s {
            "day" => Ok(GroupBy::Day),
            "model" => Ok(GroupBy::Model),
            "key" => Ok(GroupBy::Key),
            "prompt" => Ok(GroupBy::Prompt),
            other => Err(format!(
                "group_by {other:?} is not one of day, model, key, prompt"
            )),
        }
    }
}

impl fmt::Display for GroupBy {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            GroupBy::Day => "day",
            GroupBy::Model => "model",
            GroupBy::Key => "key",
            GroupBy::Prompt => "prompt",
        })
    }
}

impl GroupBy {
    /// The SQL expression of the group, as text on both backends.
    fn sql(grouping: Option<GroupBy>) -> &'static str {
        match grouping {
            // Integer division by the day's milliseconds: the UTC day number, on both backends.
            Some(GroupBy::Day) => "CAST(created_at / 86400000 AS TEXT)",
            Some(GroupBy::Model) => "model",
            Some(GroupBy::Key) => "key_id",
            Some(GroupBy::Prompt) => "prompt_ref",
            None => "CAST(NULL AS TEXT)",
        }
    }
}

/// Which assistant messages to sum: created in `[from_ms, to_ms)`, by `key_id` when given.
#[derive(Debug, Clone, Copy)]
pub struct LedgerFilter<'a> {
    pub from_ms: i64,
    pub to_ms: i64,
    pub key_id: Option<&'a str>,
}

/// Plain sums over a set of assistant messages.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct LedgerSums {
    /// Assistant messages, failed ones included.
    pub requests: u64,
    /// Of those, the ones with a cost.
    pub messages: u64,
    pub input_tokens: u64,
    pub output_tokens: u64,
    pub cached_tokens: u64,
    pub reasoning_tokens: u64,
    pub cost_usd: UsdCost,
}

/// Sums per group, keyed by the group's value (`YYYY-MM-DD` for [`GroupBy::Day`]; `None` for
/// messages without one, or for everything when `grouping` is `None`). An empty or reversed
/// range sums nothing.
pub async fn sums(
    store: &Store,
    filter: LedgerFilter<'_>,
    grouping: Option<GroupBy>,
) -> Result<BTreeMap<Option<String>, LedgerSums>, DbError> {
    if filter.to_ms <= filter.from_ms {
        return Ok(BTreeMap::new());
    }
    let sums = match store.backend() {
        Backend::Postgres => sums_in_sql(store, filter, grouping).await?,
        Backend::Sqlite => sums_in_rust(store, filter, grouping).await?,
    };
    if grouping != Some(GroupBy::Day) {
        return Ok(sums);
    }
    // Day numbers (as the query groups them) become dates once, here.
    sums.into_iter()
        .map(|(day, s)| {
            let date = day
                .map(|d| d.parse::<i64>().map(date_of_day))
                .transpose()
                .map_err(|e| DbError::Decode(e.into()))?;
            Ok((date, s))
        })
        .collect()
}

/// The common WHERE clause: `$1` from, `$2` to, `$3` the key when filtered.
fn where_clause(filter: &LedgerFilter<'_>) -> &'static str {
    if filter.key_id.is_some() {
        "role = 'assistant' AND created_at >= $1 AND created_at < $2 AND key_id = $3"
    } else {
        "role = 'assistant' AND created_at >= $1 AND created_at < $2"
    }
}

fn bind_filter<'q>(
    query: sqlx::query::Query<'q, sqlx::Any, sqlx::any::AnyArguments<'q>>,
    filter: &LedgerFilter<'q>,
) -> sqlx::query::Query<'q, sqlx::Any, sqlx::any::AnyArguments<'q>> {
    let query = query.bind(filter.from_ms).bind(filter.to_ms);
    match filter.key_id {
        Some(key) => query.bind(key),
        None => query,
    }
}

fn parse_cost(text: &str) -> Result<UsdCost, DbError> {
    text.parse::<UsdCost>()
        .map_err(|e| DbError::Decode(e.into()))
}

fn tokens(value: Option<i64>) -> u64 {
    value.map_or(0, |v| v.max(0) as u64)
}

/// Adds a row's count to a total; a sum past `u64::MAX` is an error, never a wrapped total
/// (a debug build would panic, a release build would report a tiny number).
fn add_tokens(total: &mut u64, value: Option<i64>) -> Result<(), DbError> {
    *total = total
        .checked_add(tokens(value))
        .ok_or_else(|| DbError::Decode("a token sum overflows 64 bits".into()))?;
    Ok(())
}

/// PostgreSQL: `GROUP BY` with exact `SUM(numeric)`, returned as text.
async fn sums_in_sql(
    store: &Store,
    filter: LedgerFilter<'_>,
    grouping: Option<GroupBy>,
) -> Result<BTreeMap<Option<String>, LedgerSums>, DbError> {
    // SUM(bigint) is NUMERIC on PostgreSQL; cast back so the Any driver can read it.
    let sql = format!(
        "SELECT {group} AS g, COUNT(*) AS requests, COUNT(cost_usd) AS messages, \
         CAST(COALESCE(SUM(prompt_tokens), 0) AS BIGINT) AS input_tokens, \
         CAST(COALESCE(SUM(completion_tokens), 0) AS BIGINT) AS output_tokens, \
         CAST(COALESCE(SUM(cached_tokens), 0) AS BIGINT) AS cached_tokens, \
         CAST(COALESCE(SUM(reasoning_tokens), 0) AS BIGINT) AS reasoning_tokens, \
         CAST(COALESCE(SUM(cost_usd), 0) AS TEXT) AS cost_usd \
         FROM messages WHERE {filter} GROUP BY 1",
        group = GroupBy::sql(grouping),
        filter = where_clause(&filter),
    );
    let rows = bind_filter(sqlx::query(&sql), &filter)
        .fetch_all(store.pool())
        .await?;
    let mut out = BTreeMap::new();
    for row in rows {
        let group: Option<String> = row.try_get("g")?;
        let cost: String = row.try_get("cost_usd")?;
        let sums = LedgerSums {
            requests: tokens(Some(row.try_get("requests")?)),
            messages: tokens(Some(row.try_get("messages")?)),
            input_tokens: tokens(Some(row.try_get("input_tokens")?)),
            output_tokens: tokens(Some(row.try_get("output_tokens")?)),
            cached_tokens: tokens(Some(row.try_get("cached_tokens")?)),
            reasoning_tokens: tokens(Some(row.try_get("reasoning_tokens")?)),
            cost_usd: parse_cost(&cost)?,
        };
        out.insert(group, sums);
    }
    Ok(out)
}

/// SQLite: stream the rows and sum in Rust, so decimal strings are never summed as REAL.
async fn sums_in_rust(
    store: &Store,
    filter: LedgerFilter<'_>,
    grouping: Option<GroupBy>,
) -> Result<BTreeMap<Option<String>, LedgerSums>, DbError> {
    let sql = format!(
        "SELECT {group} AS g, prompt_tokens, completion_tokens, cached_tokens, reasoning_tokens, {cost} \
         FROM messages WHERE {filter}",
        group = GroupBy::sql(grouping),
        cost = decimal_column(store.backend(), "cost_usd"),
        filter = where_clause(&filter),
    );
    let mut rows = bind_filter(sqlx::query(&sql), &filter).fetch(store.pool());
    let mut out: BTreeMap<Option<String>, LedgerSums> = BTreeMap::new();
    while let Some(row) = rows.try_next().await? {
        let group: Option<String> = row.try_get("g")?;
        let cost: Option<String> = row.try_get("cost_usd")?;
        let t = out.entry(group).or_default();
        t.requests = t.requests.saturating_add(1);
        add_tokens(&mut t.input_tokens, row.try_get("prompt_tokens")?)?;
        add_tokens(&mut t.output_tokens, row.try_get("completion_tokens")?)?;
        add_tokens(&mut t.cached_tokens, row.try_get("cached_tokens")?)?;
        add_tokens(&mut t.reasoning_tokens, row.try_get("reasoning_tokens")?)?;
        if let Some(cost) = cost {
            t.messages = t.messages.saturating_add(1);
            t.cost_usd = t.cost_usd.plus(parse_cost(&cost)?);
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn group_by_parses_the_four_groupings_and_names_a_wrong_one() {
        for g in ["day", "model", "key", "prompt"] {
            assert_eq!(g.parse::<GroupBy>().unwrap().to_string(), g);
        }
        assert!("user".parse::<GroupBy>().unwrap_err().contains("user"));
    }

    #[test]
    fn a_token_sum_that_would_overflow_is_an_error_not_a_wrapped_total() {
        let mut total = 0u64;
        add_tokens(&mut total, Some(i64::MAX)).unwrap();
        add_tokens(&mut total, Some(i64::MAX)).unwrap();
        add_tokens(&mut total, Some(-5)).unwrap();
        assert_eq!(total, u64::MAX - 1);
        assert!(add_tokens(&mut total, Some(2)).is_err());
        assert_eq!(total, u64::MAX - 1, "the total is left as it was");
    }

    #[test]
    fn the_key_filter_adds_the_third_parameter() {
        let mut f = LedgerFilter {
            from_ms: 0,
            to_ms: 1,
            key_id: None,
        };
        assert!(!where_clause(&f).contains("$3"));
        f.key_id = Some("k");
        assert!(where_clause(&f).ends_with("key_id = $3"));
    }
}
