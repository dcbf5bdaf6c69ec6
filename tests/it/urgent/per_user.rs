//! Limits per end user (the OpenAI `user` field, else the conversation id): one frontend key
//! serves many women, and one of them must not exhaust it for everyone. Shared by replicas
//! through a real Redis; they hold under concurrency, and an urgent turn is never refused.

use std::collections::HashMap;

use serde_json::{Value, json};

use super::{DANGER, PLAIN, expect_degraded};
use crate::common::{self, Spawn, TestApp, redis_url, spawn_app_with};

/// Two replicas sharing one database and one Redis, with `limits` in their configuration.
async fn replicas(redis: &str, limits: &str) -> (TestApp, TestApp, tempfile::TempDir) {
    let dir = tempfile::tempdir().unwrap();
    let db_url = format!("sqlite://{}", dir.path().join("shared.db").display());
    let extra = format!(
        "[ratelimit]\nbackend = \"redis\"\nuser_hash_key_env = \"TEST_USER_HASH_KEY\"\n{limits}\n[redis]\nurl = \"{redis}\"\n"
    );
    let spawn = || Spawn {
        extra_toml: extra.clone(),
        db_url: Some(db_url.clone()),
        env: HashMap::from([("TEST_USER_HASH_KEY".into(), "a-shared-secret".into())]),
        ..Spawn::default()
    };
    let a = spawn_app_with(spawn()).await;
    let b = spawn_app_with(spawn()).await;
    (a, b, dir)
}

/// `n` concurrent requests as end user `user` with `key`, alternating replicas; their statuses
/// and error codes.
async fn burst(apps: [&TestApp; 2], key: &str, user: &str, n: usize) -> Vec<(u16, Value)> {
    let mut tasks = Vec::new();
    for i in 0..n {
        let app = apps[i % 2];
        let (http, url, key) = (
            app.http.clone(),
            app.url("/v1/chat/completions"),
            key.to_string(),
        );
        let mut body = common::chat("gpt-echo", PLAIN);
        body["user"] = json!(user);
        tasks.push(tokio::spawn(async move {
            let res = http
                .post(url)
                .bearer_auth(key)
                .json(&body)
                .send()
                .await
                .unwrap();
            let status = res.status().as_u16();
            let v: Value = res.json().await.unwrap();
            (status, v["error"]["code"].clone())
        }));
    }
    let mut out = Vec::new();
    for t in tasks {
        out.push(t.await.unwrap());
    }
    out
}

fn count(results: &[(u16, Value)], status: u16) -> usize {
    results.iter().filter(|(s, _)| *s == status).count()
}

#[tokio::test]
async fn one_end_user_cannot_exceed_their_rate_across_replicas() {
    let Some(redis) = redis_url() else { return };
    let (a, b, _dir) = replicas(&redis, "per_user_rpm = 3\n").await;
    let key = a.client_key.clone();
    let results = burst([&a, &b], &key, "woman-1", 12).await;
    assert_eq!(count(&results, 200), 3, "{results:?}");
    assert_eq!(count(&results, 429), 9, "{results:?}");
    assert!(
        results
            .iter()
            .all(|(s, c)| *s == 200 || c == "rate_limit_exceeded")
    );
    let other = burst([&a, &b], &key, "woman-2", 1).await;
    assert_eq!(
        other[0].0, 200,
        "another end user of the same key is served"
    );
    let mut urgent = common::chat("gpt-echo", DANGER);
    urgent["user"] = json!("woman-1");
    expect_degraded(&a, &urgent, false, "rate_limit").await;
}

#[tokio::test]
async fn one_end_user_cannot_exceed_their_daily_budget_under_concurrency() {
    let Some(redis) = redis_url() else { return };
    // Below one answer's cost: the first admitted answer spends it all.
    let (a, b, _dir) = replicas(&redis, "\n[budgets]\nper_user_daily_usd = \"0.000001\"\n").await;
    let key = a.client_key.clone();
    let results = burst([&a, &b], &key, "woman-1", 10).await;
    assert_eq!(count(&results, 200), 1, "{results:?}");
    assert!(
        results
            .iter()
            .all(|(s, c)| *s == 200 || c == "insufficient_quota")
    );
    let other = burst([&a, &b], &key, "woman-2", 1).await;
    assert_eq!(
        other[0].0, 200,
        "another end user of the same key is served"
    );
    let mut urgent = common::chat("gpt-echo", DANGER);
    urgent["user"] = json!("woman-1");
    expect_degraded(&a, &urgent, true, "budget").await;
}
