//! The cost ledger: assistant messages with their tokens and exact cost, read back as sums
//! (usage reports, today's spend of a key for its budget, the windows of the cost alert).
//!
//! Sums stay exact on both backends. PostgreSQL stores costs as `NUMERIC` and sums them in SQL
//! (`SUM(numeric)` is exact) and returns the sum as text. SQLite stores them as decimal strings
//! in a `TEXT` column and would sum those as floating point, so on SQLite the rows are streamed
//! and summed in Rust with `rust_decimal`; SQLite serves one machine, where that is cheap.
//!
//! A "message" of the ledger is an assistant message (one per request). `requests` counts them
//! all; `messages` counts those with a cost (a failed request that spent nothing has none), and
//! cost per message is `cost / messages`.

use std::collections::BTreeMap;
use std::fmt;
use std::str::FromStr;

use futures_util::TryStreamExt;
use rust_decimal::Decimal;
use serde::Serialize;
use sqlx::Row;

use super::calendar::{DAY_MS, date_of_day};
use super::cost::UsdCost;
use crate::store::messages::decimal_column;
use crate::store::{Backend, Store};

/// Decimal places of a reported cost per message (a quotient, so not exact by nature).
const COST_PER_MESSAGE_DP: u32 = 18;

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

/// Sums over a set of assistant messages.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct UsageTotals {
    /// Assistant messages (one per request), failed ones included.
    pub requests: u64,
    /// Of those, the ones with a cost.
    pub messages: u64,
    pub input_tokens: u64,
    pub output_tokens: u64,
    /// Of `input_tokens`, those served from the provider's prompt cache.
    pub cached_tokens: u64,
    /// Of `output_tokens`, those spent on reasoning.
    pub reasoning_tokens: u64,
    pub cost_usd: UsdCost,
    /// `cost_usd / messages`, rounded to 18 decimal places; null without messages.
    pub cost_per_message_usd: Option<UsdCost>,
}

impl UsageTotals {
    fn add(&mut self, other: &UsageTotals) {
        self.requests += other.requests;
        self.messages += other.messages;
        self.input_tokens += other.input_tokens;
        self.output_tokens += other.output_tokens;
        self.cached_tokens += other.cached_tokens;
        self.reasoning_tokens += other.reasoning_tokens;
        self.cost_usd = self.cost_usd.plus(other.cost_usd);
    }

    fn finish(mut self) -> UsageTotals {
        self.cost_per_message_usd = mean(self.cost_usd, self.messages);
        self
    }
}

/// `total / count` to 18 decimal places, or `None` for no messages.
pub(crate) fn mean(total: UsdCost, count: u64) -> Option<UsdCost> {
    if count == 0 {
        return None;
    }
    total
        .amount()
        .checked_div(Decimal::from(count))
        .map(|d| d.round_dp(COST_PER_MESSAGE_DP))
        .and_then(|d| UsdCost::new(d).ok())
}

/// One group of a usage report.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct UsageGroup {
    /// The day, model, key id or prompt reference; null when the messages have none.
    pub group: Option<String>,
    /// With `group_by=key`: the key's name.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub key_name: Option<String>,
    #[serde(flatten)]
    pub totals: UsageTotals,
}

/// `GET /v1/usage`: usage and cost between two instants, grouped.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct UsageReport {
    /// Inclusive start, epoch milliseconds.
    pub from_ms: i64,
    /// Exclusive end, epoch milliseconds.
    pub to_ms: i64,
    pub group_by: GroupBy,
    /// Groups in ascending order of `group` (days chronologically), null first.
    pub groups: Vec<UsageGroup>,
    pub total: UsageTotals,
}

/// Which assistant messages to sum.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Filter<'a> {
    pub from_ms: i64,
    pub to_ms: i64,
    pub key_id: Option<&'a str>,
}

/// Usage between `from_ms` (inclusive) and `to_ms` (exclusive), grouped by `group_by`, with
/// exact sums. Every assistant message in the range is counted once, in one group.
pub async fn usage_report(
    store: &Store,
    from_ms: i64,
    to_ms: i64,
    group_by: GroupBy,
) -> Result<UsageReport, sqlx::Error> {
    let filter = Filter {
        from_ms,
        to_ms,
        key_id: None,
    };
    let sums = aggregate(store, filter, Some(group_by)).await?;
    let key_names = if group_by == GroupBy::Key {
        store
            .list_keys()
            .await?
            .into_iter()
            .map(|k| (k.id, k.name))
            .collect()
    } else {
        BTreeMap::new()
    };
    let mut total = UsageTotals::default();
    let mut groups = Vec::with_capacity(sums.len());
    for (group, totals) in sums {
        total.add(&totals);
        let group = match (group_by, group) {
            (GroupBy::Day, Some(day)) => Some(
                day.parse::<i64>()
                    .map(date_of_day)
                    .map_err(|e| sqlx::Error::Decode(e.into()))?,
            ),
            (_, g) => g,
        };
        let key_name = group.as_ref().and_then(|id| key_names.get(id).cloned());
        groups.push(UsageGroup {
            group,
            key_name,
            totals: totals.finish(),
        });
    }
    // Day numbers were ordered as text; dates order the same way, but sort to be sure.
    groups.sort_by(|a, b| a.group.cmp(&b.group));
    Ok(UsageReport {
        from_ms,
        to_ms,
        group_by,
        groups,
        total: total.finish(),
    })
}

/// What `key_id` has spent between two instants (its budget's starting point).
pub(crate) async fn key_spend(
    store: &Store,
    key_id: &str,
    from_ms: i64,
    to_ms: i64,
) -> Result<UsdCost, sqlx::Error> {
    let filter = Filter {
        from_ms,
        to_ms,
        key_id: Some(key_id),
    };
    let sums = aggregate(store, filter, None).await?;
    Ok(sums.values().map(|t| t.cost_usd).sum())
}

/// Sums per model between two instants (the cost alert's windows).
pub(crate) async fn model_totals(
    store: &Store,
    from_ms: i64,
    to_ms: i64,
) -> Result<BTreeMap<Option<String>, UsageTotals>, sqlx::Error> {
    let filter = Filter {
        from_ms,
        to_ms,
        key_id: None,
    };
    aggregate(store, filter, Some(GroupBy::Model)).await
}

/// The common WHERE clause: `$1` from, `$2` to, `$3` the key when filtered.
fn where_clause(filter: &Filter<'_>) -> &'static str {
    if filter.key_id.is_some() {
        "role = 'assistant' AND created_at >= $1 AND created_at < $2 AND key_id = $3"
    } else {
        "role = 'assistant' AND created_at >= $1 AND created_at < $2"
    }
}

/// Sums per group (group keys as stored: day numbers as text for [`GroupBy::Day`]).
pub(crate) async fn aggregate(
    store: &Store,
    filter: Filter<'_>,
    grouping: Option<GroupBy>,
) -> Result<BTreeMap<Option<String>, UsageTotals>, sqlx::Error> {
    if filter.to_ms <= filter.from_ms {
        return Ok(BTreeMap::new());
    }
    match store.backend() {
        Backend::Postgres => aggregate_in_sql(store, filter, grouping).await,
        Backend::Sqlite => aggregate_in_rust(store, filter, grouping).await,
    }
}

fn bind_filter<'q>(
    query: sqlx::query::Query<'q, sqlx::Any, sqlx::any::AnyArguments<'q>>,
    filter: &Filter<'q>,
) -> sqlx::query::Query<'q, sqlx::Any, sqlx::any::AnyArguments<'q>> {
    let query = query.bind(filter.from_ms).bind(filter.to_ms);
    match filter.key_id {
        Some(key) => query.bind(key),
        None => query,
    }
}

fn parse_cost(text: &str) -> Result<UsdCost, sqlx::Error> {
    text.parse::<UsdCost>()
        .map_err(|e| sqlx::Error::Decode(e.into()))
}

fn tokens(value: Option<i64>) -> u64 {
    value.map_or(0, |v| v.max(0) as u64)
}

/// PostgreSQL: `GROUP BY` with exact `SUM(numeric)`, returned as text.
async fn aggregate_in_sql(
    store: &Store,
    filter: Filter<'_>,
    grouping: Option<GroupBy>,
) -> Result<BTreeMap<Option<String>, UsageTotals>, sqlx::Error> {
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
        let totals = UsageTotals {
            requests: tokens(Some(row.try_get("requests")?)),
            messages: tokens(Some(row.try_get("messages")?)),
            input_tokens: tokens(Some(row.try_get("input_tokens")?)),
            output_tokens: tokens(Some(row.try_get("output_tokens")?)),
            cached_tokens: tokens(Some(row.try_get("cached_tokens")?)),
            reasoning_tokens: tokens(Some(row.try_get("reasoning_tokens")?)),
            cost_usd: parse_cost(&cost)?,
            cost_per_message_usd: None,
        };
        out.insert(group, totals);
    }
    Ok(out)
}

/// SQLite: stream the rows and sum in Rust, so decimal strings are never summed as REAL.
async fn aggregate_in_rust(
    store: &Store,
    filter: Filter<'_>,
    grouping: Option<GroupBy>,
) -> Result<BTreeMap<Option<String>, UsageTotals>, sqlx::Error> {
    let sql = format!(
        "SELECT {group} AS g, prompt_tokens, completion_tokens, cached_tokens, reasoning_tokens, {cost} \
         FROM messages WHERE {filter}",
        group = GroupBy::sql(grouping),
        cost = decimal_column(store.backend(), "cost_usd"),
        filter = where_clause(&filter),
    );
    let mut rows = bind_filter(sqlx::query(&sql), &filter).fetch(store.pool());
    let mut out: BTreeMap<Option<String>, UsageTotals> = BTreeMap::new();
    while let Some(row) = rows.try_next().await? {
        let group: Option<String> = row.try_get("g")?;
        let cost: Option<String> = row.try_get("cost_usd")?;
        let t = out.entry(group).or_default();
        t.requests += 1;
        t.input_tokens += tokens(row.try_get("prompt_tokens")?);
        t.output_tokens += tokens(row.try_get("completion_tokens")?);
        t.cached_tokens += tokens(row.try_get("cached_tokens")?);
        t.reasoning_tokens += tokens(row.try_get("reasoning_tokens")?);
        if let Some(cost) = cost {
            t.messages += 1;
            t.cost_usd = t.cost_usd.plus(parse_cost(&cost)?);
        }
    }
    Ok(out)
}

/// The window of `DAY_MS` ending at `end_ms` (exclusive).
pub(crate) fn day_window(end_ms: i64) -> (i64, i64) {
    (end_ms - DAY_MS, end_ms)
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
    fn cost_per_message_is_the_rounded_mean_and_absent_without_messages() {
        let third = mean("1".parse().unwrap(), 3).unwrap();
        assert_eq!(third.to_string(), "0.333333333333333333");
        assert_eq!(mean(UsdCost::ZERO, 0), None);
    }
}
