//! The cost ledger: assistant messages with their tokens and exact cost, read back as sums
//! (usage reports, today's spend of a key for its budget, the windows of the cost alert). The
//! queries, exact on both backends, are in [`crate::store::ledger`].
//!
//! A "message" of the ledger is an assistant message (one per request). `requests` counts them
//! all; `messages` counts those with a cost (a failed request that spent nothing has none), and
//! cost per message is `cost / messages`.

use std::collections::BTreeMap;

use rust_decimal::Decimal;
use serde::Serialize;

use crate::core::UsdCost;
use crate::core::calendar::DAY_MS;
pub use crate::store::ledger::GroupBy;
use crate::store::ledger::{self as rows, LedgerFilter, LedgerSums};
use crate::store::{DbError, Store};

/// Decimal places of a reported cost per message (a quotient, so not exact by nature).
const COST_PER_MESSAGE_DP: u32 = 18;

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

impl From<LedgerSums> for UsageTotals {
    fn from(s: LedgerSums) -> UsageTotals {
        UsageTotals {
            requests: s.requests,
            messages: s.messages,
            input_tokens: s.input_tokens,
            output_tokens: s.output_tokens,
            cached_tokens: s.cached_tokens,
            reasoning_tokens: s.reasoning_tokens,
            cost_usd: s.cost_usd,
            cost_per_message_usd: None,
        }
    }
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

/// Usage between `from_ms` (inclusive) and `to_ms` (exclusive), grouped by `group_by`, with
/// exact sums. Every assistant message in the range is counted once, in one group.
pub async fn usage_report(
    store: &Store,
    from_ms: i64,
    to_ms: i64,
    group_by: GroupBy,
) -> Result<UsageReport, DbError> {
    let filter = LedgerFilter {
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
        let key_name = group.as_ref().and_then(|id| key_names.get(id).cloned());
        groups.push(UsageGroup {
            group,
            key_name,
            totals: totals.finish(),
        });
    }
    // The store returns days as dates; sort so every grouping reads in ascending order.
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
) -> Result<UsdCost, DbError> {
    let filter = LedgerFilter {
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
) -> Result<BTreeMap<Option<String>, UsageTotals>, DbError> {
    let filter = LedgerFilter {
        from_ms,
        to_ms,
        key_id: None,
    };
    aggregate(store, filter, Some(GroupBy::Model)).await
}

/// Sums per group (days as `YYYY-MM-DD` for [`GroupBy::Day`]), as [`UsageTotals`].
async fn aggregate(
    store: &Store,
    filter: LedgerFilter<'_>,
    grouping: Option<GroupBy>,
) -> Result<BTreeMap<Option<String>, UsageTotals>, DbError> {
    Ok(rows::sums(store, filter, grouping)
        .await?
        .into_iter()
        .map(|(group, sums)| (group, UsageTotals::from(sums)))
        .collect())
}

/// The window of `DAY_MS` ending at `end_ms` (exclusive).
pub(crate) fn day_window(end_ms: i64) -> (i64, i64) {
    (end_ms - DAY_MS, end_ms)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cost_per_message_is_the_rounded_mean_and_absent_without_messages() {
        let third = mean("1".parse().unwrap(), 3).unwrap();
        assert_eq!(third.to_string(), "0.333333333333333333");
        assert_eq!(mean(UsdCost::ZERO, 0), None);
    }
}
