//! Graceful shutdown: every request accepted before SIGTERM is answered and every exchange is in
//! the database afterwards — in process, and for the real binary receiving a real SIGTERM.

use crate::common;

use std::time::Duration;

use common::{MockUpstream, chat, spawn_app, test_config};
use powerbirth::store::Store;
use serde_json::json;

#[tokio::test]
async fn shutdown_finishes_in_flight_requests_and_drains_the_log() {
    let mut app = spawn_app().await;
    let mut in_flight = Vec::new();
    for i in 0..20 {
        let http = app.http.clone();
        let url = app.url("/v1/chat/completions");
        let key = app.client_key.clone();
        let mut body = chat("gpt-medium", &format!("pergunta {i}"));
        if i % 2 == 0 {
            body["stream"] = json!(true);
        }
        in_flight.push(tokio::spawn(async move {
            let res = http
                .post(url)
                .bearer_auth(key)
                .json(&body)
                .send()
                .await
                .unwrap();
            (res.status().as_u16(), res.text().await.unwrap())
        }));
    }
    tokio::time::sleep(Duration::from_millis(120)).await; // all accepted, none answered (300 ms upstream)
    let db_url = app.db_url.clone();
    let addr = app.addr;
    app.shutdown().await;
    for r in in_flight {
        let (status, text) = r.await.unwrap();
        assert_eq!(status, 200, "{text}");
        assert!(
            text.contains("echo: pergunta")
                || common::sse_text(&text).starts_with("echo: pergunta"),
            "{text}"
        );
    }
    // Not accepting any more.
    assert!(
        reqwest::get(format!("http://{addr}/healthz"))
            .await
            .is_err()
    );
    let store = Store::connect(&db_url, 1).await.unwrap();
    assert_eq!(store.count_messages("assistant").await.unwrap(), 20);
    assert_eq!(store.count_messages("user").await.unwrap(), 20);
}

#[tokio::test]
async fn the_binary_prints_a_first_admin_key_and_drains_on_sigterm() {
    let upstream = MockUpstream::start().await;
    let dir = tempfile::tempdir().unwrap();
    let db_url = format!("sqlite://{}", dir.path().join("gw.db").display());
    let text = test_config(&upstream, &db_url, "")
        .replace("bootstrap_admin_key = false", "bootstrap_admin_key = true");
    let config = dir.path().join("powerbirth.toml");
    std::fs::write(&config, text).unwrap();

    let (mut child, addr, key) = common::spawn_binary(&config);
    let key = key.expect("admin key printed");

    let http = reqwest::Client::new();
    let mut in_flight = Vec::new();
    for i in 0..5 {
        let (http, key) = (http.clone(), key.clone());
        let url = format!("{addr}/v1/chat/completions");
        in_flight.push(tokio::spawn(async move {
            let mut body = chat("gpt-medium", &format!("p{i}"));
            body["stream"] = json!(i % 2 == 0);
            let res = http
                .post(url)
                .bearer_auth(key)
                .json(&body)
                .send()
                .await
                .unwrap();
            (res.status().as_u16(), res.text().await.unwrap())
        }));
    }
    tokio::time::sleep(Duration::from_millis(150)).await;
    common::signal(&child, "TERM");
    for r in in_flight {
        let (status, text) = r.await.unwrap();
        assert_eq!(status, 200, "{text}");
    }
    let exit = tokio::task::spawn_blocking(move || child.wait())
        .await
        .unwrap()
        .unwrap();
    assert!(exit.success(), "exit status {exit:?}");
    let store = Store::connect(&db_url, 1).await.unwrap();
    assert_eq!(store.count_messages("assistant").await.unwrap(), 5);
    // The second start does not print another key.
    assert_eq!(store.count_keys().await.unwrap(), 1);
}
