//! The server samples review batches by itself on `[review] schedule`: once per ISO week
//! (`weekly`, Monday to Sunday, UTC) or once per UTC day (`daily`).
//!
//! A task checks every few minutes whether the current period has its batch; the batch records
//! its period (`review_batches.period`, unique), so the check is idempotent across restarts,
//! and two replicas on one PostgreSQL database cannot both create it: the second insert hits the
//! unique index and its whole transaction rolls back. A period whose window has nothing to review
//! is tried again at the next check (new conversations may arrive). Started by `App::build`,
//! stopped by `App::run_until` on shutdown like the cost alert monitor.

use std::sync::Arc;
use std::time::Duration;

use super::batches::Origin;
use super::config::{ReviewConfig, Schedule};
use super::sample::{Batch, SampleError, SampleOptions, sample};
use crate::core::calendar::{date_of_day, day_of};
use crate::core::now_ms;
use crate::periodic::Periodic;
use crate::store::Store;
use crate::store::reviews::DbError;

/// How often the server checks whether the current period has its batch.
pub const CHECK_INTERVAL: Duration = Duration::from_secs(300);

/// The current time in epoch ms; a parameter so tests can move through weeks without waiting.
pub type Clock = Arc<dyn Fn() -> i64 + Send + Sync>;

/// The period `now_ms` falls in: `2026-W48` (ISO 8601 week) or `2026-11-27`; `None` when off.
pub fn period_of(schedule: Schedule, now_ms: i64) -> Option<String> {
    let day = day_of(now_ms);
    match schedule {
        Schedule::Off => None,
        Schedule::Daily => Some(date_of_day(day)),
        // ISO 8601 week, as the statistics page counts weeks.
        Schedule::Weekly => Some(crate::core::calendar::iso_week(now_ms)),
    }
}

/// One check at `now`: samples the period's batch unless it exists. `Ok(None)` when the
/// schedule is off, the batch exists, or the window has nothing to review yet.
pub async fn run_once(
    store: &Store,
    cfg: &ReviewConfig,
    now: i64,
) -> Result<Option<Batch>, DbError> {
    let Some(period) = period_of(cfg.schedule, now) else {
        return Ok(None);
    };
    if store.reviews().period_has_batch(&period).await? {
        return Ok(None);
    }
    let opts = SampleOptions {
        n: cfg.sample_size,
        window: cfg.window,
        seed: rand::random(),
        now,
        origin: Origin::Schedule,
        overlap: cfg.overlap,
        period: Some(period.clone()),
    };
    match sample(store, opts).await {
        Ok(batch) => {
            tracing::info!(
                batch = %batch.id,
                %period,
                items = batch.items.len(),
                urgent = batch.urgent_count(),
                "review batch sampled"
            );
            Ok(Some(batch))
        }
        Err(SampleError::PeriodTaken(_)) => Ok(None),
        Err(SampleError::Empty { .. }) => {
            tracing::debug!(%period, "nothing to review yet; will try again");
            Ok(None)
        }
        Err(SampleError::Raced) => {
            tracing::info!(%period, "another sampling took the same conversations; trying again at the next check");
            Ok(None)
        }
        Err(SampleError::Database(e)) => Err(e),
    }
}

/// The scheduled sampling task; stops on [`ReviewScheduler::shutdown`] (a check in progress
/// finishes first).
pub struct ReviewScheduler(Periodic);

impl ReviewScheduler {
    /// Checks now, then every [`CHECK_INTERVAL`], on the wall clock. With `schedule = "off"` it
    /// does nothing.
    pub fn spawn(store: Store, cfg: ReviewConfig) -> ReviewScheduler {
        Self::spawn_with(store, cfg, CHECK_INTERVAL, Arc::new(now_ms))
    }

    /// [`ReviewScheduler::spawn`] with another interval and clock (for tests).
    pub fn spawn_with(
        store: Store,
        cfg: ReviewConfig,
        interval: Duration,
        clock: Clock,
    ) -> ReviewScheduler {
        if cfg.schedule == Schedule::Off {
            return ReviewScheduler(Periodic::off());
        }
        ReviewScheduler(Periodic::spawn(interval, move || {
            let (store, cfg, clock) = (store.clone(), cfg.clone(), clock.clone());
            async move {
                if let Err(e) = run_once(&store, &cfg, clock()).await {
                    tracing::warn!(error = %e, "scheduled review sampling failed; retrying at the next check");
                }
            }
        }))
    }

    /// Stops the task and waits for it.
    pub async fn shutdown(self) {
        self.0.shutdown().await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn weekly_periods_are_iso_weeks() {
        // Friday 2026-11-27 12:00 UTC.
        assert_eq!(
            period_of(Schedule::Weekly, 1_795_780_800_000).as_deref(),
            Some("2026-W48")
        );
        // Sunday 23:59:59 is still week 48; Monday 00:00 is week 49.
        assert_eq!(
            period_of(Schedule::Weekly, 1_795_996_799_000).as_deref(),
            Some("2026-W48")
        );
        assert_eq!(
            period_of(Schedule::Weekly, 1_795_996_800_000).as_deref(),
            Some("2026-W49")
        );
        // 2027-01-01 belongs to 2026's 53rd week; 2024-12-30 to 2025's first.
        assert_eq!(
            period_of(Schedule::Weekly, 1_798_761_600_000).as_deref(),
            Some("2026-W53")
        );
        assert_eq!(
            period_of(Schedule::Weekly, 1_735_516_800_000).as_deref(),
            Some("2025-W01")
        );
    }

    #[test]
    fn daily_periods_are_utc_dates_and_off_has_none() {
        assert_eq!(
            period_of(Schedule::Daily, 1_795_780_800_000).as_deref(),
            Some("2026-11-27")
        );
        assert_eq!(period_of(Schedule::Off, 1_795_780_800_000), None);
    }
}
