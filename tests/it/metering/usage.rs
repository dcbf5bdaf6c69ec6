//! Usage reports: requests, tokens and cost grouped by day, model, key or prompt, with sums that
//! are exact on both backends (SQLite would sum decimal text as floating point; it must not).
//! Also over what the running app logged.

use powerbirth::core::calendar::{DAY_MS, date_of_day};
use powerbirth::core::now_ms;
use powerbirth::metering::{GroupBy, UsageGroup, UsageReport, list_alerts, usage_report};
use powerbirth::store::Store;
use powerbirth::store::keys::{ApiKeyHash, Role};
use serde_json::json;

use super::support::{self, Bill, write_ledger};
use crate::common;

const DAY0: i64 = 20_000 * DAY_MS;
const H: i64 = 3_600_000;

/// (group, requests, messages, input, output, cached, reasoning, cost)
type Row = (Option<String>, u64, u64, u64, u64, u64, u64, String);

fn rows(groups: &[UsageGroup]) -> Vec<Row> {
    groups
        .iter()
        .map(|g| {
            let t = &g.totals;
            (
                g.group.clone(),
                t.requests,
                t.messages,
                t.input_tokens,
                t.output_tokens,
                t.cached_tokens,
                t.reasoning_tokens,
                t.cost_usd.to_string(),
            )
        })
        .collect()
}

fn s(text: &str) -> Option<String> {
    Some(text.to_string())
}

/// The ledger the report tests read: two keys over two days, one failed call, two rows outside
/// the range. Returns the two key ids.
async fn seed_usage_ledger(store: &Store) -> (String, String) {
    let a = store
        .create_key("key-a", Role::Client, None)
        .await
        .unwrap()
        .0;
    let b = store
        .create_key("key-b", Role::Client, None)
        .await
        .unwrap()
        .0;
    write_ledger(
        store,
        &[
            Bill::new("m1", DAY0 + H, "0.1")
                .key(&a.id)
                .prompt("p1@1")
                .tokens(10, 5, 2, 1),
            Bill::new("m1", DAY0 + 2 * H, "0.2")
                .key(&a.id)
                .prompt("p1@1")
                .tokens(20, 10, 0, 3),
            Bill::new("m2", DAY0 + DAY_MS + H, "0.000000000000000001")
                .key(&b.id)
                .prompt("p2@3")
                .tokens(1, 1, 0, 0),
            Bill::new("m1", DAY0 + DAY_MS + 2 * H, "1")
                .key(&b.id)
                .tokens(100, 50, 40, 0),
            Bill::new("m2", DAY0 + DAY_MS + 3 * H, "0")
                .key(&a.id)
                .prompt("p2@3")
                .failed(),
            // Outside [DAY0, DAY0 + 2 days).
            Bill::new("m1", DAY0 - 1, "1000").key(&a.id),
            Bill::new("m1", DAY0 + 2 * DAY_MS, "1000").key(&a.id),
        ],
    )
    .await;
    (a.id, b.id)
}

async fn reports_are_exact(store: &Store, name: &str) {
    let (a, b) = seed_usage_ledger(store).await;
    let (from, to) = (DAY0, DAY0 + 2 * DAY_MS);
    let by_day = reports_by_day_and_model_are_exact(store, name).await;
    reports_by_key_and_prompt_are_exact(store, name, &a, &b).await;

    // The JSON the admin route serves.
    let v = serde_json::to_value(&by_day).unwrap();
    assert_eq!(v["group_by"], "day");
    assert_eq!(v["from_ms"], DAY0);
    assert_eq!(
        v["groups"][0],
        json!({"group": "2024-10-04", "requests": 2, "messages": 2, "input_tokens": 30, "output_tokens": 15,
               "cached_tokens": 2, "reasoning_tokens": 4, "cost_usd": "0.3", "cost_per_message_usd": "0.15"})
    );

    // An empty or reversed range is an empty report.
    let empty = usage_report(store, to, from, GroupBy::Day).await.unwrap();
    assert!(empty.groups.is_empty());
    assert_eq!(empty.total.cost_per_message_usd, None);
}

async fn reports_by_day_and_model_are_exact(store: &Store, name: &str) -> UsageReport {
    let (from, to) = (DAY0, DAY0 + 2 * DAY_MS);
    let by_day = usage_report(store, from, to, GroupBy::Day).await.unwrap();
    assert_eq!(
        rows(&by_day.groups),
        vec![
            (Some(date_of_day(20_000)), 2, 2, 30, 15, 2, 4, "0.3".into()),
            (
                Some(date_of_day(20_001)),
                3,
                2,
                101,
                51,
                40,
                0,
                "1.000000000000000001".into()
            ),
        ],
        "{name}"
    );
    assert_eq!(date_of_day(20_000), "2024-10-04");
    let total = &by_day.total;
    assert_eq!(
        (
            total.requests,
            total.messages,
            total.input_tokens,
            total.output_tokens
        ),
        (5, 4, 131, 66),
        "{name}"
    );
    assert_eq!(total.cost_usd.to_string(), "1.300000000000000001", "{name}");
    assert_eq!(
        total.cost_per_message_usd.unwrap().to_string(),
        "0.325",
        "{name}"
    );

    let by_model = usage_report(store, from, to, GroupBy::Model).await.unwrap();
    assert_eq!(
        rows(&by_model.groups),
        vec![
            (s("m1"), 3, 3, 130, 65, 42, 4, "1.3".into()),
            (s("m2"), 2, 1, 1, 1, 0, 0, "0.000000000000000001".into()),
        ],
        "{name}"
    );
    assert_eq!(by_model.total, by_day.total);
    by_day
}

async fn reports_by_key_and_prompt_are_exact(store: &Store, name: &str, a: &str, b: &str) {
    let (from, to) = (DAY0, DAY0 + 2 * DAY_MS);
    let by_key = usage_report(store, from, to, GroupBy::Key).await.unwrap();
    let mut expected = vec![
        (s(a), 3, 2, 30, 15, 2, 4, "0.3".to_string()),
        (
            s(b),
            2,
            2,
            101,
            51,
            40,
            0,
            "1.000000000000000001".to_string(),
        ),
    ];
    expected.sort();
    assert_eq!(rows(&by_key.groups), expected, "{name}");
    let names: Vec<_> = by_key
        .groups
        .iter()
        .map(|g| g.key_name.clone().unwrap())
        .collect();
    let want_names: Vec<String> = expected
        .iter()
        .map(|r| {
            if r.0 == s(a) {
                "key-a".into()
            } else {
                "key-b".into()
            }
        })
        .collect();
    assert_eq!(names, want_names);
    assert_eq!(
        serde_json::to_value(&by_key).unwrap()["groups"][0]["key_name"]
            .as_str()
            .map(|n| n.starts_with("key-")),
        Some(true)
    );

    let by_prompt = usage_report(store, from, to, GroupBy::Prompt)
        .await
        .unwrap();
    assert_eq!(
        rows(&by_prompt.groups),
        vec![
            (None, 1, 1, 100, 50, 40, 0, "1".into()),
            (s("p1@1"), 2, 2, 30, 15, 2, 4, "0.3".into()),
            (s("p2@3"), 2, 1, 1, 1, 0, 0, "0.000000000000000001".into()),
        ],
        "{name}"
    );
}

#[tokio::test]
async fn usage_reports_group_by_day_model_key_and_prompt_with_exact_sums_on_every_backend() {
    for db in support::every_backend().await {
        reports_are_exact(&db.store, db.name).await;
    }
}

#[tokio::test]
async fn usage_over_the_running_app_counts_each_answer_under_the_key_that_asked() {
    let mut app = common::spawn_app().await;
    let client = app
        .store
        .find_active_key(&ApiKeyHash::of(&app.client_key))
        .await
        .unwrap()
        .unwrap();
    let admin = app
        .store
        .find_active_key(&ApiKeyHash::of(&app.admin_key))
        .await
        .unwrap()
        .unwrap();
    // Both keys in one conversation: each answer belongs to the key that asked for it.
    let body = json!({"model": "gpt-echo", "messages": [{"role": "user", "content": "oi"}], "metadata": {"conversation_id": "shared-1"}});
    for key in [&app.client_key, &app.client_key, &app.admin_key] {
        let res = app
            .http
            .post(app.url("/v1/chat/completions"))
            .bearer_auth(key)
            .json(&body)
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), 200);
    }
    app.settle().await;
    let report = usage_report(&app.store, 0, now_ms() + 1, GroupBy::Key)
        .await
        .unwrap();
    let of = |id: &str| {
        report
            .groups
            .iter()
            .find(|g| g.group.as_deref() == Some(id))
            .unwrap()
            .totals
            .clone()
    };
    // The mock upstream reports 11 prompt and 7 completion tokens per answer.
    let c = of(&client.id);
    assert_eq!((c.requests, c.input_tokens, c.output_tokens), (2, 22, 14));
    let a = of(&admin.id);
    assert_eq!((a.requests, a.input_tokens, a.output_tokens), (1, 11, 7));
    let by_model = usage_report(&app.store, 0, now_ms() + 1, GroupBy::Model)
        .await
        .unwrap();
    assert_eq!(by_model.groups.len(), 1);
    assert_eq!(by_model.groups[0].group.as_deref(), Some("gpt-echo"));
    assert_eq!(by_model.total.requests, 3);
    // The app's database has the alerts table, empty.
    assert!(list_alerts(&app.store).await.unwrap().is_empty());
    app.shutdown().await;
}
