//! Daily budgets: a key at its budget gets 429 `insufficient_quota` before any upstream call, and
//! 50 concurrent requests never overshoot it by more than one reservation, whether the book is in
//! this process or shared by two replicas through Redis.

use std::sync::Arc;
use std::time::Duration;

use axum::response::IntoResponse;
use powerbirth::core::UsdCost;
use powerbirth::core::calendar::{DAY_MS, date_of_day, day_of};
use powerbirth::core::now_ms;
use powerbirth::error::ApiError;
use powerbirth::metering::Metering;
use powerbirth::providers::ModelEntry;
use powerbirth::store::Store;
use powerbirth::store::keys::{ApiKey, Role};
use tokio::task::JoinSet;

use super::support::{self, Bill, TestMetering, request, usd, write_ledger};
use crate::common;

/// The worst case of `request()` below on `gpt-counted`: 11 prompt tokens at the dearest input
/// price of its fallback chain (gpt-dear, 2.50) + 100 output tokens at 10.00, per million.
const RESERVATION: &str = "0.0010275";

fn budgeted_request() -> powerbirth::wire::ChatRequest {
    request("gpt-counted", "oi tudo bem?", Some(100))
}

async fn key_with_budget(store: &Store, budget: &str) -> ApiKey {
    let name = format!("budget-{}", uuid::Uuid::new_v4().simple());
    store
        .create_key_with_budget(&name, Role::Client, None, Some(usd(budget)))
        .await
        .unwrap()
        .0
}

async fn redis_manager() -> Option<redis::aio::ConnectionManager> {
    let url = common::redis_url()?;
    let client = redis::Client::open(url).unwrap();
    Some(redis::aio::ConnectionManager::new(client).await.unwrap())
}

/// Removes the key's Redis book of today.
async fn forget_redis_book(conn: &mut redis::aio::ConnectionManager, key: &ApiKey) {
    let name = format!(
        "powerbirth:budget:{}:{}",
        key.id,
        date_of_day(day_of(now_ms()))
    );
    let _: () = redis::cmd("DEL").arg(name).query_async(conn).await.unwrap();
}

#[tokio::test]
async fn a_reservation_is_the_worst_case_of_the_request_over_its_fallback_chain() {
    let db = support::sqlite().await;
    let m = TestMetering::new(&db.store, None).await;
    assert_eq!(
        m.metering.worst_case("gpt-counted", &budgeted_request()),
        usd(RESERVATION)
    );
    // No max_tokens: OpenAI-compatible models reserve 4096 answer tokens.
    let open_ended = request("gpt-dear", "oi", None);
    // Prompt bound: 3 + 3 + "user" (4 bytes) + "oi" (2 bytes) = 12 tokens at 2.50; 4096 at 10.
    assert_eq!(
        m.metering.worst_case("gpt-dear", &open_ended),
        usd("0.04099")
    );
    assert_eq!(
        m.metering.worst_case("free-model", &open_ended),
        UsdCost::ZERO
    );
}

#[tokio::test]
async fn a_key_without_a_budget_is_admitted_without_reserving_anything() {
    let db = support::sqlite().await;
    let m = TestMetering::new(&db.store, None).await;
    let (key, _) = db
        .store
        .create_key("unlimited", Role::Client, None)
        .await
        .unwrap();
    let model = m.providers.get("gpt-counted").unwrap();
    let admission = m
        .metering
        .admit(&key, model, &budgeted_request())
        .await
        .unwrap();
    assert!(!admission.is_budgeted());
    assert_eq!(admission.reserved(), UsdCost::ZERO);
    m.metering.settle(admission, &usd("5")).await;
}

#[tokio::test]
async fn insufficient_quota_is_a_429_with_openais_type_and_code() {
    let res = ApiError::InsufficientQuota {
        daily_budget_usd: usd("2.50"),
    }
    .into_response();
    assert_eq!(res.status().as_u16(), 429);
    let body = axum::body::to_bytes(res.into_body(), usize::MAX)
        .await
        .unwrap();
    let v: serde_json::Value = serde_json::from_slice(&body).unwrap();
    assert_eq!(v["error"]["type"], "insufficient_quota");
    assert_eq!(v["error"]["code"], "insufficient_quota");
    assert!(
        v["error"]["message"].as_str().unwrap().contains("2.5 USD"),
        "{v}"
    );
}

/// Today's spend in the ledger counts; yesterday's does not.
async fn the_book_starts_from_todays_ledger(m: &TestMetering, store: &Store) {
    let model = m.providers.get("gpt-counted").unwrap();
    let spent_yesterday = key_with_budget(store, "1").await;
    let spent_today = key_with_budget(store, "1").await;
    let now = now_ms();
    write_ledger(
        store,
        &[
            Bill::new("gpt-counted", now - DAY_MS - 1000, "5").key(&spent_yesterday.id),
            Bill::new("gpt-counted", now - 1000, "0.6").key(&spent_today.id),
            Bill::new("gpt-counted", now - 500, "0.4").key(&spent_today.id),
        ],
    )
    .await;
    let admitted = m
        .metering
        .admit(&spent_yesterday, model, &budgeted_request())
        .await
        .unwrap();
    m.metering.settle(admitted, &UsdCost::ZERO).await;
    let refused = m
        .metering
        .admit(&spent_today, model, &budgeted_request())
        .await
        .unwrap_err();
    assert_eq!(refused.status().as_u16(), 429);
    assert_eq!(refused.code(), Some("insufficient_quota"));
    assert!(
        m.exposition()
            .contains("powerbirth_budget_rejections_total 1")
    );
}

#[tokio::test]
async fn a_key_that_spent_its_budget_today_is_refused_in_memory() {
    let db = support::sqlite().await;
    let m = TestMetering::new(&db.store, None).await;
    the_book_starts_from_todays_ledger(&m, &db.store).await;
}

#[tokio::test]
async fn a_key_that_spent_its_budget_today_is_refused_by_the_redis_book() {
    let Some(redis) = redis_manager().await else {
        return;
    };
    let db = support::sqlite().await;
    let m = TestMetering::new(&db.store, Some(redis)).await;
    the_book_starts_from_todays_ledger(&m, &db.store).await;
}

/// Two admitted, the third refused; settling one for nothing lets the next one in.
async fn settling_below_the_reservation_frees_the_difference(m: &TestMetering, key: &ApiKey) {
    let model = m.providers.get("gpt-counted").unwrap();
    let req = budgeted_request();
    let a = m.metering.admit(key, model, &req).await.unwrap();
    let b = m.metering.admit(key, model, &req).await.unwrap();
    assert_eq!(a.reserved(), usd(RESERVATION));
    assert!(m.metering.admit(key, model, &req).await.is_err());
    m.metering.settle(a, &UsdCost::ZERO).await;
    let c = m.metering.admit(key, model, &req).await.unwrap();
    m.metering.settle(b, &usd(RESERVATION)).await;
    m.metering.settle(c, &usd(RESERVATION)).await;
    // Spent 2 × RESERVATION = the budget: at it is refused.
    assert!(m.metering.admit(key, model, &req).await.is_err());
}

#[tokio::test]
async fn settling_for_less_than_reserved_frees_the_budget_in_memory() {
    let db = support::sqlite().await;
    let m = TestMetering::new(&db.store, None).await;
    let key = key_with_budget(&db.store, "0.002055").await;
    settling_below_the_reservation_frees_the_difference(&m, &key).await;
}

#[tokio::test]
async fn settling_for_less_than_reserved_frees_the_budget_in_redis() {
    let Some(mut redis) = redis_manager().await else {
        return;
    };
    let db = support::sqlite().await;
    let m = TestMetering::new(&db.store, Some(redis.clone())).await;
    let key = key_with_budget(&db.store, "0.002055").await;
    settling_below_the_reservation_frees_the_difference(&m, &key).await;
    forget_redis_book(&mut redis, &key).await;
}

/// 50 requests at once, spread over `replicas`, each spending its whole reservation after a
/// short, different delay. With a budget of 6.5 reservations exactly 7 get through: never more
/// than one reservation over the budget.
async fn fifty_concurrent_requests(replicas: &[Metering], model: Arc<ModelEntry>, key: &ApiKey) {
    let reservation = usd(RESERVATION);
    let budget = key.daily_budget_usd.unwrap();
    assert_eq!(budget, usd("0.00667875"));
    let mut tasks = JoinSet::new();
    for i in 0..50 {
        let (metering, model, key) = (
            replicas[i % replicas.len()].clone(),
            model.clone(),
            key.clone(),
        );
        tasks.spawn(async move {
            match metering.admit(&key, &model, &budgeted_request()).await {
                Ok(admission) => {
                    let spent = admission.reserved();
                    tokio::time::sleep(Duration::from_millis((i as u64 * 7) % 23)).await;
                    metering.settle(admission, &spent).await;
                    Some(spent)
                }
                Err(e) => {
                    assert_eq!(e.code(), Some("insufficient_quota"));
                    None
                }
            }
        });
    }
    let spent: Vec<UsdCost> = tasks.join_all().await.into_iter().flatten().collect();
    let total: UsdCost = spent.iter().copied().sum();
    assert_eq!(spent.len(), 7, "admitted {} requests", spent.len());
    assert!(
        total <= budget.plus(reservation),
        "spent {total} against a budget of {budget}"
    );
    assert!(total >= budget);
    // Everything settled: the key stays refused for the rest of the day.
    assert!(
        replicas[0]
            .admit(key, &model, &budgeted_request())
            .await
            .is_err()
    );
}

#[tokio::test]
async fn fifty_concurrent_requests_never_overshoot_the_budget_by_more_than_one_reservation_in_memory()
 {
    let db = support::sqlite().await;
    let m = TestMetering::new(&db.store, None).await;
    let key = key_with_budget(&db.store, "0.00667875").await;
    let model = m.providers.get("gpt-counted").unwrap().clone();
    fifty_concurrent_requests(std::slice::from_ref(&m.metering), model, &key).await;
    assert!(
        m.exposition()
            .contains("powerbirth_budget_rejections_total 44")
    );
}

#[tokio::test]
async fn two_replicas_share_the_budget_through_redis_and_never_overshoot_by_more_than_one_reservation()
 {
    let Some(mut redis) = redis_manager().await else {
        return;
    };
    let db = match support::postgres().await {
        Some(pg) => pg,
        None => support::sqlite().await,
    };
    // Two replicas: their own pools on the same database, their own metering, one Redis.
    let other_store = Store::connect(&db.url, 4).await.unwrap();
    let a = TestMetering::new(&db.store, Some(redis.clone())).await;
    let b = TestMetering::new(&other_store, Some(redis.clone())).await;
    let key = key_with_budget(&db.store, "0.00667875").await;
    let model = a.providers.get("gpt-counted").unwrap().clone();
    fifty_concurrent_requests(&[a.metering.clone(), b.metering.clone()], model, &key).await;
    forget_redis_book(&mut redis, &key).await;
}
