//! The 24-hour cost alert on a synthetic ledger: it fires on a 25% rise and not on 15%, counts
//! messages on the right side of each window boundary, needs `min_messages` in both windows,
//! keeps one open alert per model until it clears, notifies a real webhook (with retries), and
//! runs as a monitor task that shuts down cleanly.

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::Json;
use axum::Router;
use axum::extract::State;
use axum::http::StatusCode;
use axum::routing::post;
use powerbirth::core::Secret;
use powerbirth::core::calendar::DAY_MS;
use powerbirth::core::now_ms;
use powerbirth::metering::{
    AlertChange, AlertMonitor, AlertStatus, AlertsConfig, CostAlerts, list_alerts,
};
use powerbirth::store::Store;
use serde_json::Value;

use super::support::{self, Bill, TestMetering, write_ledger};

/// A fixed "now" for checks on the synthetic ledger.
const NOW: i64 = 1_800_000_000_000;
const H: i64 = 3_600_000;

fn config(min_messages: u64) -> AlertsConfig {
    AlertsConfig {
        min_messages,
        ..AlertsConfig::default()
    }
}

/// Four answers of `model` in each window, the previous ones at `previous` USD and the current
/// ones at `current`, placed on the windows' edges: both windows hold exactly four messages only
/// if `[now − 48 h, now − 24 h)` and `[now − 24 h, now)` are read as half-open intervals. Two
/// more answers lie just outside, priced to hide any rise if they were counted.
fn windows(model: &str, now: i64, previous: &str, current: &str) -> Vec<Bill> {
    let mut bills: Vec<Bill> = [
        now - 2 * DAY_MS,
        now - 40 * H,
        now - 30 * H,
        now - DAY_MS - 1,
    ]
    .into_iter()
    .map(|at| Bill::new(model, at, previous))
    .collect();
    bills.extend(
        [now - DAY_MS, now - 10 * H, now - H, now - 1]
            .into_iter()
            .map(|at| Bill::new(model, at, current)),
    );
    // Before the previous window (would raise the previous mean) and at `now` (would lower the
    // current one): a check that counted either would see no rise.
    bills.push(Bill::new(model, now - 2 * DAY_MS - 1, "100"));
    bills.push(Bill::new(model, now, "0"));
    // A failed request costs nothing and is not a billed message.
    bills.push(Bill::new(model, now - 2 * H, "0").failed());
    bills
}

/// Four answers in each window, away from the edges (for checks at the real time, which moves).
fn rise_before(model: &str, now: i64) -> Vec<Bill> {
    let mut bills: Vec<Bill> = (0..4)
        .map(|i| Bill::new(model, now - 30 * H + i, "0.001"))
        .collect();
    bills.extend((0..4).map(|i| Bill::new(model, now - H + i, "0.00125")));
    bills
}

async fn check(m: &TestMetering, cfg: AlertsConfig, now: i64) -> Vec<AlertChange> {
    CostAlerts::new(&m.metering, cfg)
        .unwrap()
        .check_at(now)
        .await
        .unwrap()
}

fn opened(changes: &[AlertChange]) -> Vec<String> {
    changes
        .iter()
        .filter_map(|c| {
            if let AlertChange::Opened(a) = c {
                Some(a.scope.clone())
            } else {
                None
            }
        })
        .collect()
}

fn cleared(changes: &[AlertChange]) -> Vec<String> {
    changes
        .iter()
        .filter_map(|c| {
            if let AlertChange::Cleared(a) = c {
                Some(a.scope.clone())
            } else {
                None
            }
        })
        .collect()
}

async fn a_25_percent_rise_fires_and_15_does_not(store: &Store, name: &str) {
    let m = TestMetering::new(store, None).await;
    let mut bills = windows("gpt-rising", NOW, "0.001", "0.00125");
    bills.extend(windows("gpt-steady", NOW, "0.001", "0.00115"));
    write_ledger(store, &bills).await;
    let changes = check(&m, config(4), NOW).await;
    // gpt-rising +25%: alert. gpt-steady +15%: none. Together +20% exactly: not *over* 20%.
    assert_eq!(opened(&changes), ["gpt-rising"], "{name}");
    let AlertChange::Opened(alert) = &changes[0] else {
        unreachable!()
    };
    assert_eq!(alert.change_ratio.to_string(), "0.25");
    assert_eq!(alert.threshold.to_string(), "0.2");
    assert_eq!(alert.previous_cost_per_message_usd.to_string(), "0.001");
    assert_eq!(alert.current_cost_per_message_usd.to_string(), "0.00125");
    assert_eq!((alert.previous_messages, alert.current_messages), (4, 4));
    let listed = list_alerts(store).await.unwrap();
    assert_eq!(listed, vec![alert.clone()], "{name}");
    let text = m.exposition();
    for line in [
        r#"powerbirth_cost_per_message_change_ratio{model="gpt-rising"} 0.25"#,
        r#"powerbirth_cost_per_message_change_ratio{model="*"} 0.2"#,
    ] {
        assert!(text.contains(line), "missing {line:?} in\n{text}");
    }
    let steady: f64 = text
        .lines()
        .find_map(|l| {
            l.strip_prefix(r#"powerbirth_cost_per_message_change_ratio{model="gpt-steady"} "#)
        })
        .unwrap()
        .parse()
        .unwrap();
    assert!((steady - 0.15).abs() < 1e-9, "{steady}");
}

#[tokio::test]
async fn the_alert_fires_on_a_25_percent_rise_and_not_on_a_15_percent_rise_on_every_backend() {
    for db in support::every_backend().await {
        a_25_percent_rise_fires_and_15_does_not(&db.store, db.name).await;
    }
}

#[tokio::test]
async fn a_window_with_fewer_than_min_messages_is_not_judged() {
    let db = support::sqlite().await;
    let m = TestMetering::new(&db.store, None).await;
    write_ledger(&db.store, &windows("gpt-rising", NOW, "0.001", "0.002")).await;
    // Four billed messages per window: five are required.
    assert!(check(&m, config(5), NOW).await.is_empty());
    assert!(!m.exposition().contains("change_ratio{"));
    assert!(list_alerts(&db.store).await.unwrap().is_empty());
    // One more in the previous window is not enough either: both windows need them.
    write_ledger(&db.store, &[Bill::new("gpt-rising", NOW - 36 * H, "0.001")]).await;
    assert!(check(&m, config(5), NOW).await.is_empty());
    write_ledger(&db.store, &[Bill::new("gpt-rising", NOW - 12 * H, "0.002")]).await;
    assert_eq!(
        opened(&check(&m, config(5), NOW).await),
        ["*", "gpt-rising"]
    );
}

#[tokio::test]
async fn one_alert_stays_open_per_model_until_the_cost_is_back_under_then_it_can_reopen() {
    let db = support::sqlite().await;
    let m = TestMetering::new(&db.store, None).await;
    write_ledger(&db.store, &windows("gpt-rising", NOW, "0.001", "0.00125")).await;
    assert_eq!(
        opened(&check(&m, config(4), NOW).await),
        ["*", "gpt-rising"]
    );
    // Still rising at the next check: no second alert.
    assert!(check(&m, config(4), NOW).await.is_empty());
    assert_eq!(list_alerts(&db.store).await.unwrap().len(), 2);
    // Cheaper answers bring the current mean back to +10%: both clear.
    let cheap: Vec<Bill> = (0..4)
        .map(|i| Bill::new("gpt-rising", NOW - 5 * H + i, "0.00095"))
        .collect();
    write_ledger(&db.store, &cheap).await;
    let changes = check(&m, config(4), NOW).await;
    assert_eq!(cleared(&changes), ["*", "gpt-rising"]);
    let listed = list_alerts(&db.store).await.unwrap();
    assert!(
        listed
            .iter()
            .all(|a| a.status == AlertStatus::Cleared && a.cleared_at_ms == Some(NOW))
    );
    // A new rise opens a new alert; the cleared ones stay listed.
    let dear: Vec<Bill> = (0..8)
        .map(|i| Bill::new("gpt-rising", NOW - 4 * H + i, "0.002"))
        .collect();
    write_ledger(&db.store, &dear).await;
    assert_eq!(
        opened(&check(&m, config(4), NOW).await),
        ["*", "gpt-rising"]
    );
    let listed = list_alerts(&db.store).await.unwrap();
    assert_eq!(listed.len(), 4);
    assert_eq!(
        listed
            .iter()
            .filter(|a| a.status == AlertStatus::Open)
            .count(),
        2
    );
}

#[tokio::test]
async fn two_replicas_checking_at_once_open_one_alert() {
    let Some(db) = support::postgres().await else {
        return;
    };
    write_ledger(&db.store, &windows("gpt-rising", NOW, "0.001", "0.00125")).await;
    let a = TestMetering::new(&db.store, None).await;
    let other = Store::connect(&db.url, 4).await.unwrap();
    let b = TestMetering::new(&other, None).await;
    let (x, y) = tokio::join!(check(&a, config(4), NOW), check(&b, config(4), NOW));
    assert_eq!(opened(&x).len() + opened(&y).len(), 2, "{x:?} {y:?}");
    assert_eq!(list_alerts(&db.store).await.unwrap().len(), 2);
}

/// A webhook receiver that fails its first `failures` calls with 503.
#[derive(Clone, Default)]
struct Hook {
    received: Arc<Mutex<Vec<Value>>>,
    failures: Arc<Mutex<usize>>,
}

async fn receive(State(hook): State<Hook>, Json(body): Json<Value>) -> StatusCode {
    let mut failures = hook.failures.lock().unwrap();
    if *failures > 0 {
        *failures -= 1;
        return StatusCode::SERVICE_UNAVAILABLE;
    }
    hook.received.lock().unwrap().push(body);
    StatusCode::NO_CONTENT
}

async fn start_hook(failures: usize) -> (Hook, String) {
    let hook = Hook {
        failures: Arc::new(Mutex::new(failures)),
        ..Hook::default()
    };
    let router = Router::new()
        .route("/hooks/cost", post(receive))
        .with_state(hook.clone());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/hooks/cost", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, router).await.unwrap() });
    (hook, url)
}

#[tokio::test]
async fn the_webhook_receives_each_alert_as_json_even_after_failures() {
    let db = support::sqlite().await;
    let m = TestMetering::new(&db.store, None).await;
    let (hook, url) = start_hook(2).await;
    let cfg = AlertsConfig {
        webhook_url: Some(Secret::new(url)),
        webhook_retries: 3,
        ..config(4)
    };
    write_ledger(&db.store, &windows("gpt-rising", NOW, "0.001", "0.00125")).await;
    check(&m, cfg.clone(), NOW).await;
    let received = hook.received.lock().unwrap().clone();
    assert_eq!(received.len(), 2, "{received:?}");
    let alert = received
        .iter()
        .find(|v| v["scope"] == "gpt-rising")
        .unwrap();
    assert_eq!(alert["kind"], "cost_per_message_rise");
    assert_eq!(alert["event"], "opened");
    assert_eq!(alert["status"], "open");
    assert_eq!(alert["change_ratio"], "0.25");
    assert_eq!(alert["threshold"], "0.2");
    assert_eq!(alert["previous_cost_per_message_usd"], "0.001");
    assert_eq!(alert["current_cost_per_message_usd"], "0.00125");
    assert_eq!(alert["current_messages"], 4);
    assert_eq!(alert["opened_at_ms"], NOW);
    assert_eq!(alert["window_hours"], 24);
    // Clearing is announced too.
    let cheap: Vec<Bill> = (0..12)
        .map(|i| Bill::new("gpt-rising", NOW - 5 * H + i, "0.001"))
        .collect();
    write_ledger(&db.store, &cheap).await;
    check(&m, cfg, NOW).await;
    let received = hook.received.lock().unwrap().clone();
    assert_eq!(
        received.iter().filter(|v| v["event"] == "cleared").count(),
        2
    );
}

#[tokio::test]
async fn a_webhook_that_stays_down_does_not_stop_the_alert() {
    let db = support::sqlite().await;
    let m = TestMetering::new(&db.store, None).await;
    let (hook, url) = start_hook(usize::MAX).await;
    let cfg = AlertsConfig {
        webhook_url: Some(Secret::new(url)),
        webhook_retries: 1,
        ..config(4)
    };
    write_ledger(&db.store, &windows("gpt-rising", NOW, "0.001", "0.00125")).await;
    assert_eq!(opened(&check(&m, cfg, NOW).await).len(), 2);
    assert!(hook.received.lock().unwrap().is_empty());
    assert_eq!(list_alerts(&db.store).await.unwrap().len(), 2);
}

#[tokio::test]
async fn the_monitor_checks_every_interval_and_shuts_down_cleanly() {
    let db = support::sqlite().await;
    let m = TestMetering::new(&db.store, None).await;
    let (hook, url) = start_hook(0).await;
    let cfg = AlertsConfig {
        interval: Duration::from_millis(50),
        webhook_url: Some(Secret::new(url)),
        ..config(4)
    };
    let monitor = AlertMonitor::spawn(&m.metering, cfg).unwrap();
    // The rise appears after the monitor started: a later tick finds it.
    tokio::time::sleep(Duration::from_millis(120)).await;
    write_ledger(&db.store, &rise_before("gpt-rising", now_ms())).await;
    let started = Instant::now();
    while hook.received.lock().unwrap().len() < 2 {
        assert!(
            started.elapsed() < Duration::from_secs(5),
            "no alert within 5 s"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    tokio::time::timeout(Duration::from_secs(5), monitor.shutdown())
        .await
        .expect("the monitor stops");
    assert_eq!(list_alerts(&db.store).await.unwrap().len(), 2);
}

#[tokio::test]
async fn a_disabled_monitor_never_checks() {
    let db = support::sqlite().await;
    let m = TestMetering::new(&db.store, None).await;
    write_ledger(&db.store, &rise_before("gpt-rising", now_ms())).await;
    let monitor = AlertMonitor::spawn(
        &m.metering,
        AlertsConfig {
            enabled: false,
            interval: Duration::from_millis(10),
            ..config(4)
        },
    )
    .unwrap();
    tokio::time::sleep(Duration::from_millis(100)).await;
    monitor.shutdown().await;
    assert!(list_alerts(&db.store).await.unwrap().is_empty());
}
