//! Daily budgets per key: reserve a request's worst-case cost before the upstream call, settle
//! it with the actual cost after. A key whose spent plus reserved amount is at or over its
//! budget is refused; since every admitted request had the book under budget before adding its
//! own reservation, concurrent requests overshoot by at most one reservation (provided the
//! actual cost does not exceed the reservation, which is the request's worst case).
//!
//! The book is per key per UTC day, and lives either in this process (one replica) or in Redis
//! (replicas share it). Either way it starts from the ledger: the costs already stored for the
//! key today, so a restart does not hand out a fresh budget.
//!
//! Redis keeps integer nano-USD in a hash `powerbirth:budget:{key_id}:{YYYY-MM-DD}` (fields
//! `spent` and `reserved`), changed only by Lua scripts so admission is atomic across replicas;
//! amounts are rounded up and the budget down, so rounding never lets a key spend more.
//! If Redis cannot be reached, the replica falls back to its in-process book (and says so in the
//! log): an outage of the shared book must not become an outage of the assistant.

use std::sync::Arc;

use dashmap::DashMap;
use tokio::sync::Mutex;

use super::ledger;
use crate::core::UsdCost;
use crate::core::calendar::{DAY_MS, date_of_day, day_of, day_start_ms};
use crate::store::Store;

/// How long a day's Redis book lives: the day itself, plus a day for late settlements.
const REDIS_BOOK_TTL_MS: i64 = 2 * DAY_MS;

/// Admits a reservation atomically. KEYS[1] the day's book; ARGV: budget (nano), amount (nano),
/// TTL (ms), the ledger's spend for the day (nano) or "" when not looked up yet.
/// Returns {1, committed} when admitted, {0, committed} when refused, {-1, 0} when the book does
/// not exist and the ledger must be read first.
const ADMIT: &str = r#"
if redis.call('EXISTS', KEYS[1]) == 0 then
  if ARGV[4] == '' then return {-1, 0} end
  redis.call('HSET', KEYS[1], 'spent', ARGV[4], 'reserved', 0)
  redis.call('PEXPIRE', KEYS[1], ARGV[3])
end
local spent = tonumber(redis.call('HGET', KEYS[1], 'spent') or '0')
local reserved = tonumber(redis.call('HGET', KEYS[1], 'reserved') or '0')
if spent + reserved >= tonumber(ARGV[1]) then return {0, spent + reserved} end
local now_reserved = redis.call('HINCRBY', KEYS[1], 'reserved', ARGV[2])
return {1, spent + now_reserved}
"#;

/// Settles a reservation: ARGV[1] the reservation (nano, negated), ARGV[2] the actual cost (nano).
/// A book that has expired is not re-created.
const SETTLE: &str = r#"
if redis.call('EXISTS', KEYS[1]) == 0 then return 0 end
local reserved = redis.call('HINCRBY', KEYS[1], 'reserved', ARGV[1])
if reserved < 0 then redis.call('HSET', KEYS[1], 'reserved', 0) end
redis.call('HINCRBY', KEYS[1], 'spent', ARGV[2])
return 1
"#;

/// `[budgets]` as written.
#[derive(Debug, Default, serde::Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct RawBudgetsConfig {
    per_user_daily_usd: Option<String>,
}

/// `[budgets]`: the daily budget of each end user of a key (the OpenAI `user` field, else the
/// conversation id), on top of the key's own `daily_budget_usd`.
#[derive(Debug, Clone, Default)]
pub struct BudgetsConfig {
    pub per_user_daily_usd: Option<UsdCost>,
}

impl RawBudgetsConfig {
    pub fn validate(self) -> Result<BudgetsConfig, String> {
        let per_user_daily_usd = match self.per_user_daily_usd {
            None => None,
            Some(text) => Some(text.parse::<UsdCost>().map_err(|e| {
                format!("[budgets] per_user_daily_usd = {text:?} is not an amount in USD: {e}")
            })?),
        };
        Ok(BudgetsConfig { per_user_daily_usd })
    }
}

/// The budget book: in memory, or in Redis with the memory book as fallback.
pub(crate) struct BudgetBook {
    store: Store,
    memory: MemoryBook,
    redis: Option<RedisBook>,
}

/// A key at or over its budget: what it had committed (spent + reserved) when refused.
#[derive(Debug, Clone, Copy)]
pub(crate) struct OverBudget {
    pub committed: UsdCost,
}

/// Which book a reservation was taken from, so it is settled in the same one.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Via {
    Memory,
    Redis,
}

/// The permission to call the upstream, holding the request's reservation until it is settled.
///
/// Settle it with [`super::Metering::settle`] (or `settle_detached` from synchronous code). One
/// dropped unsettled keeps its whole reservation as spent, the safe side, and logs a warning.
#[must_use = "an admission must be settled with the actual cost"]
pub struct Admission {
    reservation: Option<Reservation>,
    /// The end user's reservation in their own book (`[budgets] per_user_daily_usd`), settled
    /// with the key's.
    pub(super) user: Option<Reservation>,
}

pub(super) struct Reservation {
    book: Arc<BudgetBook>,
    key_id: String,
    day: i64,
    amount: UsdCost,
    via: Via,
}

impl Admission {
    /// An admission without a budget (keys with no `daily_budget_usd`): nothing to settle.
    pub fn unbudgeted() -> Admission {
        Admission {
            reservation: None,
            user: None,
        }
    }

    /// The amount reserved for this request (zero when the key has no budget).
    pub fn reserved(&self) -> UsdCost {
        self.reservation
            .as_ref()
            .map_or(UsdCost::ZERO, |r| r.amount)
    }

    /// Whether the key has a budget and this admission holds a reservation in it.
    pub fn is_budgeted(&self) -> bool {
        self.reservation.is_some() || self.user.is_some()
    }

    /// The reservation itself, to move into another admission (the end user's into the key's).
    pub(super) fn take_reservation(&mut self) -> Option<Reservation> {
        self.reservation.take()
    }

    /// Releases the reservations and books `actual` instead.
    pub(crate) async fn settle(mut self, actual: &UsdCost) {
        for r in [self.reservation.take(), self.user.take()]
            .into_iter()
            .flatten()
        {
            r.book
                .settle(&r.key_id, r.day, r.via, r.amount, *actual)
                .await;
        }
    }
}

impl std::fmt::Debug for Admission {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match &self.reservation {
            None => f.write_str("Admission(unbudgeted)"),
            Some(r) => f
                .debug_struct("Admission")
                .field("key_id", &r.key_id)
                .field("day", &date_of_day(r.day))
                .field("reserved", &r.amount.to_string())
                .finish(),
        }
    }
}

impl Drop for Admission {
    fn drop(&mut self) {
        if let Some(r) = self.user.take() {
            keep_as_spent(r);
        }
        if let Some(r) = self.reservation.take() {
            keep_as_spent(r);
        }
    }
}

/// A reservation dropped unsettled: booked as spent in full (the safe side).
fn keep_as_spent(r: Reservation) {
    tracing::warn!(key_id = %r.key_id, reserved = %r.amount, "budget admission dropped without settling; its reservation is kept as spent");
    if let Ok(rt) = tokio::runtime::Handle::try_current() {
        rt.spawn(async move {
            r.book
                .settle(&r.key_id, r.day, r.via, r.amount, r.amount)
                .await;
        });
    }
}

impl BudgetBook {
    pub(crate) fn new(store: Store, redis: Option<redis::aio::ConnectionManager>) -> BudgetBook {
        BudgetBook {
            store,
            memory: MemoryBook::default(),
            redis: redis.map(|conn| RedisBook {
                conn,
                admit: redis::Script::new(ADMIT),
                settle: redis::Script::new(SETTLE),
            }),
        }
    }

    /// Reserves `amount` against `key_id`'s `budget` for the UTC day of `now_ms`.
    pub(crate) async fn reserve(
        self: &Arc<Self>,
        key_id: &str,
        budget: UsdCost,
        amount: UsdCost,
        now_ms: i64,
    ) -> Result<Admission, OverBudget> {
        let day = day_of(now_ms);
        let via = match &self.redis {
            Some(redis) => match redis
                .reserve(&self.store, key_id, day, budget, amount)
                .await
            {
                Ok(decision) => {
                    decision?;
                    Via::Redis
                }
                Err(e) => {
                    tracing::warn!(error = %e, key_id, "redis budget book unreachable; using this replica's own book");
                    self.memory
                        .reserve(&self.store, key_id, day, budget, amount)
                        .await?;
                    Via::Memory
                }
            },
            None => {
                self.memory
                    .reserve(&self.store, key_id, day, budget, amount)
                    .await?;
                Via::Memory
            }
        };
        Ok(Admission {
            reservation: Some(Reservation {
                book: Arc::clone(self),
                key_id: key_id.to_string(),
                day,
                amount,
                via,
            }),
            user: None,
        })
    }

    async fn settle(&self, key_id: &str, day: i64, via: Via, reserved: UsdCost, actual: UsdCost) {
        match (via, &self.redis) {
            (Via::Redis, Some(redis)) => {
                if let Err(e) = redis.settle(key_id, day, reserved, actual).await {
                    tracing::warn!(error = %e, key_id, "cannot settle a budget reservation in redis; it stays reserved until the day ends");
                }
            }
            _ => self.memory.settle(key_id, day, reserved, actual).await,
        }
    }
}

/// One key's book for one day, in this process.
#[derive(Debug, Default)]
struct DayBook {
    day: i64,
    spent: UsdCost,
    reserved: UsdCost,
    /// Whether `spent` has been read from the ledger for `day`.
    loaded: bool,
}

/// Per-key books in this process. A key's book is behind its own async lock, so the first
/// request of the day reads the ledger once while the key's other requests wait for it.
#[derive(Default)]
struct MemoryBook {
    keys: DashMap<String, Arc<Mutex<DayBook>>>,
}

impl MemoryBook {
    async fn reserve(
        &self,
        store: &Store,
        key_id: &str,
        day: i64,
        budget: UsdCost,
        amount: UsdCost,
    ) -> Result<(), OverBudget> {
        let cell = self
            .keys
            .entry(key_id.to_string())
            .or_insert_with(|| {
                Arc::new(Mutex::new(DayBook {
                    day: i64::MIN,
                    ..DayBook::default()
                }))
            })
            .clone();
        let mut book = cell.lock().await;
        if book.day != day {
            *book = DayBook {
                day,
                ..DayBook::default()
            };
        }
        if !book.loaded {
            match ledger::key_spend(store, key_id, day_start_ms(day), day_start_ms(day + 1)).await {
                Ok(spent) => {
                    book.spent = spent;
                    book.loaded = true;
                }
                // Without the ledger the book starts from what this process has seen; it is
                // read again on the key's next request.
                Err(e) => {
                    tracing::warn!(error = %e, key_id, "cannot read today's spend from the ledger")
                }
            }
        }
        let committed = book.spent.plus(book.reserved);
        if committed >= budget {
            return Err(OverBudget { committed });
        }
        book.reserved = book.reserved.plus(amount);
        Ok(())
    }

    async fn settle(&self, key_id: &str, day: i64, reserved: UsdCost, actual: UsdCost) {
        let Some(cell) = self.keys.get(key_id).map(|c| Arc::clone(&c)) else {
            return;
        };
        let mut book = cell.lock().await;
        // After midnight the book is the new day's: yesterday's reservation is gone with it.
        if book.day == day {
            book.reserved = book.reserved.saturating_minus(reserved);
            book.spent = book.spent.plus(actual);
        }
    }
}

/// The shared book in Redis.
struct RedisBook {
    conn: redis::aio::ConnectionManager,
    admit: redis::Script,
    settle: redis::Script,
}

fn redis_key(key_id: &str, day: i64) -> String {
    format!("powerbirth:budget:{key_id}:{}", date_of_day(day))
}

impl RedisBook {
    async fn reserve(
        &self,
        store: &Store,
        key_id: &str,
        day: i64,
        budget: UsdCost,
        amount: UsdCost,
    ) -> anyhow::Result<Result<(), OverBudget>> {
        let key = redis_key(key_id, day);
        let mut conn = self.conn.clone();
        let mut ledger_nanos = String::new();
        // At most two rounds: the book exists, or it is created from the ledger.
        for _ in 0..2 {
            let (decision, committed): (i64, i64) = self
                .admit
                .key(&key)
                .arg(budget.to_nanos_floor())
                .arg(amount.to_nanos_ceil())
                .arg(REDIS_BOOK_TTL_MS)
                .arg(&ledger_nanos)
                .invoke_async(&mut conn)
                .await?;
            match decision {
                1 => return Ok(Ok(())),
                0 => {
                    return Ok(Err(OverBudget {
                        committed: UsdCost::from_nanos(committed),
                    }));
                }
                _ => {
                    let spent =
                        ledger::key_spend(store, key_id, day_start_ms(day), day_start_ms(day + 1))
                            .await?;
                    ledger_nanos = spent.to_nanos_ceil().to_string();
                }
            }
        }
        anyhow::bail!("redis budget book {key} could not be created")
    }

    async fn settle(
        &self,
        key_id: &str,
        day: i64,
        reserved: UsdCost,
        actual: UsdCost,
    ) -> redis::RedisResult<()> {
        let mut conn = self.conn.clone();
        let _: i64 = self
            .settle
            .key(redis_key(key_id, day))
            .arg(-reserved.to_nanos_ceil())
            .arg(actual.to_nanos_ceil())
            .invoke_async(&mut conn)
            .await?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn redis_books_are_per_key_and_utc_day() {
        assert_eq!(redis_key("k1", 20_395), "powerbirth:budget:k1:2025-11-03");
    }

    #[test]
    fn an_unbudgeted_admission_reserves_nothing() {
        let a = Admission::unbudgeted();
        assert!(!a.is_budgeted());
        assert_eq!(a.reserved(), UsdCost::ZERO);
    }
}
