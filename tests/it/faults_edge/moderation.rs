//! Item 7: `/v1/moderations` counts each input against the key's rate limit and sends at most a
//! few of one key's inputs to the external provider at once.

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use axum::Json;
use axum::extract::State;
use axum::routing::post;
use serde_json::{Value, json};

use crate::common::{Spawn, TestApp, spawn_app_with};

/// An OpenAI-protocol moderation provider that takes 100 ms per call and records how many calls
/// it had in flight at most.
#[derive(Clone, Default)]
struct SlowProvider {
    now: Arc<AtomicUsize>,
    max: Arc<AtomicUsize>,
    calls: Arc<AtomicUsize>,
}

async fn moderate(State(p): State<SlowProvider>, Json(_): Json<Value>) -> Json<Value> {
    let now = p.now.fetch_add(1, Ordering::SeqCst) + 1;
    p.max.fetch_max(now, Ordering::SeqCst);
    p.calls.fetch_add(1, Ordering::SeqCst);
    tokio::time::sleep(Duration::from_millis(100)).await;
    p.now.fetch_sub(1, Ordering::SeqCst);
    Json(
        json!({"id": "modr-x", "model": "omni-moderation-latest", "results": [{
            "flagged": false, "categories": {"violence": false}, "category_scores": {"violence": 0.0},
        }]}),
    )
}

async fn provider() -> (SlowProvider, SocketAddr) {
    let p = SlowProvider::default();
    let router = axum::Router::new()
        .route("/v1/moderations", post(moderate))
        .with_state(p.clone());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, router).await.unwrap() });
    (p, addr)
}

async fn gateway(addr: SocketAddr, client_rpm: Option<u32>) -> TestApp {
    spawn_app_with(Spawn {
        extra_toml: format!(
            "[moderation]\nprovider = \"openai\"\napi_base = \"http://{addr}/v1\"\ntimeout_ms = 5000\non_error = \"fail_open\"\n"
        ),
        client_rpm,
        ..Spawn::default()
    })
    .await
}

fn inputs(n: usize) -> Value {
    json!({"input": (0..n).map(|i| format!("texto número {i}")).collect::<Vec<_>>()})
}

#[tokio::test]
async fn each_moderation_input_counts_against_the_keys_rate_limit() {
    let (provider, addr) = provider().await;
    let app = gateway(addr, Some(10)).await;
    let res = app.post("/v1/moderations", &inputs(20)).await;
    assert_eq!(res.status(), 429, "20 inputs on a 10-per-minute key");
    assert_eq!(
        provider.calls.load(Ordering::SeqCst),
        0,
        "refused before any call"
    );
    let res = app.post("/v1/moderations", &inputs(6)).await;
    assert_eq!(res.status(), 200);
    let res = app.post("/v1/moderations", &inputs(6)).await;
    assert_eq!(res.status(), 429, "6 + 6 inputs are more than 10");
    let body: Value = res.json().await.unwrap();
    assert_eq!(body["error"]["code"], "rate_limit_exceeded");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_key_never_has_more_than_eight_provider_calls_in_flight() {
    let (provider, addr) = provider().await;
    let app = gateway(addr, None).await;
    let body = inputs(40);
    let (a, b) = tokio::join!(
        app.post("/v1/moderations", &body),
        app.post("/v1/moderations", &body),
    );
    assert_eq!((a.status().as_u16(), b.status().as_u16()), (200, 200));
    assert_eq!(provider.calls.load(Ordering::SeqCst), 80);
    let max = provider.max.load(Ordering::SeqCst);
    assert!(max <= 8, "{max} provider calls at once for one key");
}
