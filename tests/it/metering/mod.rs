//! Cost metering against real databases: SQLite always, PostgreSQL and Redis when
//! `POWERBIRTH_TEST_PG_URL` / `POWERBIRTH_TEST_REDIS_URL` are set (always in CI).
//!
//! - `cost`: price × tokens to the last decimal, counted tokens, exact storage on both backends;
//! - `budget`: daily budgets hold under 50 concurrent requests, in memory and shared in Redis;
//! - `alerts`: the 24-hour cost alert on a synthetic ledger, its webhook and its monitor task;
//! - `usage`: usage reports with exact sums, also over what the running app logged.

mod alerts;
mod budget;
mod cost;
pub(crate) mod support;
mod usage;
