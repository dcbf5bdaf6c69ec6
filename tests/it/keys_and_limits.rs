//! API keys and per-key rate limits against the running app: keys created or revoked elsewhere
//! take effect within a second; limits answer 429 with Retry-After, in memory and shared through
//! Redis by several replicas.

use crate::common;

use std::time::{Duration, Instant};

use common::{Spawn, chat, redis_url, spawn_app, spawn_app_with};
use powerbirth::store::keys::Role;

async fn status_with(app: &common::TestApp, key: &str) -> u16 {
    app.http
        .get(app.url("/v1/models"))
        .bearer_auth(key)
        .send()
        .await
        .unwrap()
        .status()
        .as_u16()
}

/// Polls until `want` or 1 s has passed; returns how long it took.
async fn becomes(app: &common::TestApp, key: &str, want: u16) -> Duration {
    let started = Instant::now();
    while started.elapsed() < Duration::from_secs(1) {
        if status_with(app, key).await == want {
            return started.elapsed();
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    panic!("key did not become {want} within a second");
}

#[tokio::test]
async fn a_key_created_or_revoked_elsewhere_takes_effect_within_a_second() {
    let app = spawn_app().await;
    // Unknown keys are remembered briefly too; this one is then created "from the CLI".
    let other = powerbirth::store::Store::connect(&app.db_url, 1)
        .await
        .unwrap();
    let (_, key) = other
        .create_key("late-frontend", Role::Client, None)
        .await
        .unwrap();
    becomes(&app, &key, 200).await;
    other.revoke_key("late-frontend").await.unwrap();
    becomes(&app, &key, 401).await;
}

#[tokio::test]
async fn a_key_over_its_rate_gets_429_with_retry_after_and_no_upstream_call() {
    let app = spawn_app_with(Spawn {
        client_rpm: Some(2),
        ..Spawn::default()
    })
    .await;
    for _ in 0..2 {
        assert_eq!(
            app.post("/v1/chat/completions", &chat("gpt-echo", "x"))
                .await
                .status(),
            200
        );
    }
    let res = app
        .post("/v1/chat/completions", &chat("gpt-echo", "x"))
        .await;
    assert_eq!(res.status(), 429);
    let retry: u64 = res.headers()["retry-after"]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!((1..=30).contains(&retry), "retry-after {retry}");
    let body: serde_json::Value = res.json().await.unwrap();
    assert_eq!(body["error"]["code"], "rate_limit_exceeded");
    assert_eq!(app.upstream.requests().len(), 2);
    // Another key is not affected.
    assert_eq!(status_with(&app, &app.admin_key).await, 200);
}

#[tokio::test]
async fn replicas_sharing_redis_never_allow_more_than_the_limit_together() {
    let Some(redis) = redis_url() else { return };
    let dir = tempfile::tempdir().unwrap();
    let db_url = format!("sqlite://{}", dir.path().join("shared.db").display());
    let extra = format!("[ratelimit]\nbackend = \"redis\"\n\n[redis]\nurl = \"{redis}\"\n");
    let spawn = || Spawn {
        extra_toml: extra.clone(),
        db_url: Some(db_url.clone()),
        ..Spawn::default()
    };
    let a = spawn_app_with(spawn()).await;
    let b = spawn_app_with(spawn()).await;
    let (_, key) = a
        .store
        .create_key("shared-limit", Role::Client, Some(5))
        .await
        .unwrap();
    let mut ok = 0;
    let mut limited = 0;
    for i in 0..12 {
        let replica = if i % 2 == 0 { &a } else { &b };
        match status_with(replica, &key).await {
            200 => ok += 1,
            429 => limited += 1,
            other => panic!("unexpected {other}"),
        }
    }
    assert_eq!(
        (ok, limited),
        (5, 7),
        "two replicas must share one limit of 5"
    );
}
