//! `GET /v1/reviews/export`, on SQLite and PostgreSQL: conversations made by real requests to
//! the gateway, sampled, reviewed by two nurses, and exported as JSON lines and CSV by an admin
//! key; client keys, missing keys and unknown formats get OpenAI-style errors.

use crate::common;
use crate::common::on_both_backends;

use std::time::Duration;

use crate::common::review_seed::{self, nurse, rating, review};
use common::{TestApp, chat};
use powerbirth::core::now_ms;
use powerbirth::review::batches::Origin;
use powerbirth::review::sample::{SampleOptions, sample};
use serde_json::Value;

/// The gateway on the scenario's backend, with the review scheduler off (tests sample by hand).
async fn app() -> TestApp {
    common::spawn_app_with(common::Spawn {
        extra_toml: "[review]\nschedule = \"off\"\n".into(),
        ..Default::default()
    })
    .await
}

/// Two conversations through the gateway, sampled and reviewed: one by two nurses (with a
/// corrected answer that needs CSV quoting), one by one. Returns (item ids, nurse ids).
async fn reviewed(app: &TestApp) -> (Vec<String>, Vec<String>) {
    for text in ["Posso tomar café?", "Quantas consultas de pré-natal?"] {
        let res = app
            .post("/v1/chat/completions", &chat("gpt-echo", text))
            .await;
        assert_eq!(res.status(), 200);
    }
    app.settle().await;
    let batch = sample(
        &app.store,
        SampleOptions {
            n: 20,
            window: Duration::from_secs(86_400),
            seed: 5,
            now: now_ms() + 1,
            origin: Origin::Cli,
            overlap: 2,
            period: None,
        },
    )
    .await
    .unwrap();
    assert_eq!(batch.items.len(), 2);
    let ana = nurse(&app.store, "ana@example.org").await;
    let bia = nurse(&app.store, "bia@example.org").await;
    let items: Vec<String> = batch.items.iter().map(|i| i.id.clone()).collect();
    review(
        &app.store,
        &items[0],
        &ana,
        &rating(
            3,
            true,
            Some("Faltou dizer \"procure a UBS\", e rápido."),
            Some("Até 200 mg de cafeína por dia,\nou seja, \"duas xícaras\"."),
        ),
    )
    .await;
    review(&app.store, &items[0], &bia, &rating(4, false, None, None)).await;
    review(&app.store, &items[1], &ana, &rating(5, false, None, None)).await;
    (items, vec![ana, bia])
}

async fn export(app: &TestApp, key: Option<&str>, query: &str) -> reqwest::Response {
    let mut req = app.http.get(app.url(&format!("/v1/reviews/export{query}")));
    if let Some(key) = key {
        req = req.bearer_auth(key);
    }
    req.send().await.unwrap()
}

async fn only_an_admin_key_exports_and_a_bad_format_is_a_400() {
    let app = app().await;
    let none = export(&app, None, "?format=jsonl").await;
    assert_eq!(none.status(), 401);
    let body: Value = none.json().await.unwrap();
    assert_eq!(body["error"]["code"], "invalid_api_key");

    let client = export(&app, Some(&app.client_key), "?format=csv").await;
    assert_eq!(client.status(), 403);
    let body: Value = client.json().await.unwrap();
    assert_eq!(body["error"]["code"], "insufficient_permissions");
    assert_eq!(body["error"]["type"], "invalid_request_error");

    let bad = export(&app, Some(&app.admin_key), "?format=xml").await;
    assert_eq!(bad.status(), 400);
    let body: Value = bad.json().await.unwrap();
    assert_eq!(body["error"]["param"], "format");
    assert!(
        body["error"]["message"]
            .as_str()
            .unwrap()
            .contains("\"xml\"")
    );
}

async fn jsonl_has_one_row_per_review_with_ids_not_emails() {
    let app = app().await;
    let (items, nurses) = reviewed(&app).await;
    let res = export(&app, Some(&app.admin_key), "?format=jsonl").await;
    assert_eq!(res.status(), 200);
    assert_eq!(res.headers()["content-type"], "application/x-ndjson");
    let text = res.text().await.unwrap();
    assert!(
        !text.contains("@example.org"),
        "reviewers are exported by id only"
    );
    let rows: Vec<Value> = text
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(rows.len(), 3);
    let first = rows
        .iter()
        .find(|r| r["item_id"] == items[0].as_str() && r["reviewer_id"] == nurses[0].as_str())
        .unwrap();
    assert_eq!(first["clinical_accuracy"], 3);
    assert_eq!(first["tone"], 4);
    assert_eq!(first["safety_problem"], "missed_red_flag");
    assert_eq!(first["should_escalate"], true);
    assert_eq!(first["model"], "gpt-echo");
    assert_eq!(first["prompt_ref"], Value::Null, "a raw chat has no prompt");
    assert_eq!(
        first["corrected_answer"],
        "Até 200 mg de cafeína por dia,\nou seja, \"duas xícaras\"."
    );
    for r in &rows {
        for field in [
            "review_id",
            "item_id",
            "batch_id",
            "conversation_id",
            "created_at",
        ] {
            assert!(!r[field].is_null(), "{field} in {r}");
        }
    }
    assert_eq!(
        rows.iter()
            .filter(|r| r["item_id"] == items[0].as_str())
            .count(),
        2
    );
}

async fn csv_is_quoted_and_reads_back_exactly() {
    let app = app().await;
    let (items, nurses) = reviewed(&app).await;
    let res = export(&app, Some(&app.admin_key), "?format=csv").await;
    assert_eq!(res.status(), 200);
    assert!(
        res.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/csv")
    );
    assert!(
        res.headers()["content-disposition"]
            .to_str()
            .unwrap()
            .contains("reviews.csv")
    );
    let text = res.text().await.unwrap();
    let mut reader = csv::Reader::from_reader(text.as_bytes());
    let header: Vec<String> = reader
        .headers()
        .unwrap()
        .iter()
        .map(str::to_string)
        .collect();
    assert_eq!(header[0], "review_id");
    assert!(header.contains(&"corrected_answer".to_string()));
    assert!(!header.iter().any(|h| h.contains("email")));
    let col = |name: &str| header.iter().position(|h| h == name).unwrap();
    let records: Vec<csv::StringRecord> = reader.records().map(Result::unwrap).collect();
    assert_eq!(records.len(), 3);
    let first = records
        .iter()
        .find(|r| r[col("item_id")] == items[0] && r[col("reviewer_id")] == nurses[0])
        .unwrap();
    assert_eq!(
        &first[col("comment")],
        "Faltou dizer \"procure a UBS\", e rápido."
    );
    assert_eq!(
        &first[col("corrected_answer")],
        "Até 200 mg de cafeína por dia,\nou seja, \"duas xícaras\"."
    );
    assert_eq!(&first[col("should_escalate")], "true");
    let second = records
        .iter()
        .find(|r| r[col("item_id")] == items[1])
        .unwrap();
    assert_eq!(
        &second[col("corrected_answer")],
        "",
        "no corrected answer: empty"
    );
}

on_both_backends!(only_an_admin_key_exports_and_a_bad_format_is_a_400);
on_both_backends!(jsonl_has_one_row_per_review_with_ids_not_emails);
on_both_backends!(csv_is_quoted_and_reads_back_exactly);

#[tokio::test]
async fn a_large_export_is_paged_without_losing_or_repeating_a_row() {
    // More reviews than one page (500): every one exported exactly once, in order.
    let app = app().await;
    let now = now_ms();
    let convs: Vec<review_seed::Conv> = (0..503)
        .map(|i| review_seed::Conv::new(format!("p{i:04}"), now - (i + 1) * 1000))
        .collect();
    review_seed::store_conversations(&app.store, &convs).await;
    let batch = sample(
        &app.store,
        SampleOptions {
            n: 1000,
            window: Duration::from_secs(86_400),
            seed: 1,
            now,
            origin: Origin::Cli,
            overlap: 0,
            period: None,
        },
    )
    .await
    .unwrap();
    assert_eq!(batch.items.len(), 503);
    let ana = nurse(&app.store, "ana@example.org").await;
    for item in &batch.items {
        review(&app.store, &item.id, &ana, &rating(4, false, None, None)).await;
    }
    let text = export(&app, Some(&app.admin_key), "?format=csv")
        .await
        .text()
        .await
        .unwrap();
    let mut reader = csv::Reader::from_reader(text.as_bytes());
    let ids: Vec<String> = reader
        .records()
        .map(|r| r.unwrap()[0].to_string())
        .collect();
    assert_eq!(ids.len(), 503);
    let unique: std::collections::BTreeSet<&String> = ids.iter().collect();
    assert_eq!(unique.len(), 503);
    assert_eq!(text.matches("review_id").count(), 1, "one header");
    let jsonl = export(&app, Some(&app.admin_key), "")
        .await
        .text()
        .await
        .unwrap();
    assert_eq!(jsonl.lines().count(), 503, "jsonl is the default");
}
