//! Cost metering through the API: the cost of every answer, streamed or not, is price × tokens to
//! the last decimal; budgets hold under concurrency; usage and alerts are admin reports.

use crate::common;
use crate::common::on_both_backends;

use std::str::FromStr;

use common::{Spawn, chat, spawn_app, spawn_app_with};
use powerbirth::core::UsdCost;
use powerbirth::store::keys::Role;
use rust_decimal::Decimal;
use serde_json::{Value, json};

/// The mock upstream reports 11 prompt and 7 completion tokens; the test models cost 0.15 and
/// 0.60 USD per 1M tokens: 11 × 0.15 / 1e6 + 7 × 0.60 / 1e6.
fn expected_cost() -> Decimal {
    let per_million = Decimal::from(1_000_000);
    Decimal::from(11) * Decimal::from_str("0.15").unwrap() / per_million
        + Decimal::from(7) * Decimal::from_str("0.60").unwrap() / per_million
}

async fn a_non_streamed_answer_carries_its_exact_cost_and_stores_it() {
    let app = spawn_app().await;
    let res = app
        .post("/v1/chat/completions", &chat("gpt-echo", "quanto custa?"))
        .await;
    assert_eq!(res.status(), 200);
    let header = res.headers()["x-powerbirth-cost-usd"]
        .to_str()
        .unwrap()
        .to_string();
    assert_eq!(Decimal::from_str(&header).unwrap(), expected_cost());
    assert_eq!(header, "0.00000585");
    let request_id = res.headers()["x-request-id"].to_str().unwrap().to_string();
    app.settle().await;
    let stored = app.store.request_messages(&request_id).await.unwrap();
    let answer = stored.iter().find(|m| m.role == "assistant").unwrap();
    assert_eq!(
        answer.cost_usd.as_ref().map(ToString::to_string).as_deref(),
        Some("0.00000585")
    );
    assert_eq!(answer.tokens_source.map(|s| s.as_str()), Some("upstream"));
}
on_both_backends!(a_non_streamed_answer_carries_its_exact_cost_and_stores_it);

fn chunks(sse: &str) -> Vec<Value> {
    sse.lines()
        .filter_map(|l| l.strip_prefix("data: "))
        .filter(|d| *d != "[DONE]")
        .map(|d| serde_json::from_str(d).unwrap())
        .collect()
}

async fn a_streamed_answer_ends_with_its_exact_cost_with_or_without_usage() {
    let app = spawn_app().await;
    let mut body = chat("gpt-echo", "oi");
    let sse = app.post_stream("/v1/chat/completions", &body).await;
    assert!(sse.ends_with("data: [DONE]\n\n"));
    let all = chunks(&sse);
    let last = all.last().unwrap();
    assert_eq!(
        Decimal::from_str(last["powerbirth"]["cost_usd"].as_str().unwrap()).unwrap(),
        expected_cost()
    );
    assert!(
        all.iter()
            .all(|c| c.get("usage").is_none_or(Value::is_null)),
        "usage was not asked for"
    );

    body["stream_options"] = json!({"include_usage": true});
    let sse = app.post_stream("/v1/chat/completions", &body).await;
    let all = chunks(&sse);
    let last = all.last().unwrap();
    assert_eq!(
        last["usage"]["completion_tokens"], 7,
        "the usage chunk comes last"
    );
    assert_eq!(last["powerbirth"]["cost_usd"], "0.00000585");
}
on_both_backends!(a_streamed_answer_ends_with_its_exact_cost_with_or_without_usage);

async fn a_budget_holds_under_fifty_concurrent_requests() {
    let app = spawn_app().await;
    let body = json!({"model": "gpt-medium", "max_tokens": 20, "messages": [{"role": "user", "content": "oi"}]});
    let req = powerbirth::wire::ChatRequest::parse(body.to_string().as_bytes()).unwrap();
    let reservation = app.metering.worst_case("gpt-medium", &req).amount();
    // Room for ten reservations.
    let budget = reservation * Decimal::from(10);
    let (_, key) = app
        .store
        .create_key_with_budget(
            "budgeted",
            Role::Client,
            None,
            Some(UsdCost::new(budget).unwrap()),
        )
        .await
        .unwrap();
    let mut tasks = Vec::new();
    for _ in 0..50 {
        let (http, url, key, body) = (
            app.http.clone(),
            app.url("/v1/chat/completions"),
            key.clone(),
            body.clone(),
        );
        tasks.push(tokio::spawn(async move {
            let res = http
                .post(url)
                .bearer_auth(key)
                .json(&body)
                .send()
                .await
                .unwrap();
            let status = res.status().as_u16();
            let cost = res
                .headers()
                .get("x-powerbirth-cost-usd")
                .map(|v| Decimal::from_str(v.to_str().unwrap()).unwrap());
            let code = if status == 429 {
                res.json::<Value>().await.unwrap()["error"]["code"].clone()
            } else {
                Value::Null
            };
            (status, cost, code)
        }));
    }
    let mut served = 0;
    let mut refused = 0;
    let mut spent = Decimal::ZERO;
    for t in tasks {
        let (status, cost, code) = t.await.unwrap();
        match status {
            200 => {
                served += 1;
                spent += cost.unwrap();
            }
            429 => {
                refused += 1;
                assert_eq!(code, "insufficient_quota");
            }
            other => panic!("unexpected status {other}"),
        }
    }
    assert!(
        served >= 10 && refused > 0,
        "served {served}, refused {refused}"
    );
    assert!(
        served <= 11,
        "at most one reservation over the budget: served {served}"
    );
    assert!(
        spent <= budget + reservation,
        "spent {spent} over budget {budget} + {reservation}"
    );
}
on_both_backends!(a_budget_holds_under_fifty_concurrent_requests);

async fn usage_and_alerts_are_admin_reports() {
    let app = spawn_app().await;
    for _ in 0..2 {
        assert_eq!(
            app.post("/v1/chat/completions", &chat("gpt-echo", "x"))
                .await
                .status(),
            200
        );
    }
    app.settle().await;
    let get = |path: &str, key: &str| {
        let (http, url, key) = (app.http.clone(), app.url(path), key.to_string());
        async move { http.get(url).bearer_auth(key).send().await.unwrap() }
    };
    assert_eq!(
        get("/v1/usage?group_by=model", &app.client_key)
            .await
            .status(),
        403
    );
    let res = get("/v1/usage?group_by=model", &app.admin_key).await;
    assert_eq!(res.status(), 200);
    let report: Value = res.json().await.unwrap();
    let text = report.to_string();
    assert!(text.contains("gpt-echo"), "{text}");
    assert!(
        text.contains("0.0000117"),
        "two answers at 0.00000585: {text}"
    );

    let res = get("/v1/usage?group_by=colour", &app.admin_key).await;
    assert_eq!(res.status(), 400);
    let err: Value = res.json().await.unwrap();
    assert_eq!(err["error"]["param"], "group_by");

    let res = get("/v1/alerts", &app.admin_key).await;
    assert_eq!(res.status(), 200);
    let alerts: Value = res.json().await.unwrap();
    assert_eq!(alerts["object"], "list");
    assert_eq!(get("/v1/alerts", &app.client_key).await.status(), 403);
}
on_both_backends!(usage_and_alerts_are_admin_reports);

async fn metering_series_are_exported() {
    let app = spawn_app_with(Spawn::default()).await;
    app.post("/v1/chat/completions", &chat("gpt-echo", "x"))
        .await;
    let text = app.metrics_text().await;
    for series in [
        "powerbirth_tokens_total",
        "powerbirth_cost_usd_total",
        "powerbirth_budget_rejections_total",
    ] {
        assert!(text.contains(series), "missing {series}");
    }
}
on_both_backends!(metering_series_are_exported);
