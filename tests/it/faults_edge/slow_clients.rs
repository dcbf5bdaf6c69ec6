//! Item 5: slow-loris clients. A connection that never finishes its request head is closed after
//! `[server] request_header_timeout_ms`; a body that never finishes is answered 408 after
//! `[server] body_timeout_ms`; normal requests are served throughout.

use std::time::{Duration, Instant};

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use super::env;
use crate::common::{Spawn, spawn_app_with};

/// Within `wait`, whether the server closed `stream` (EOF, a reset, or an answer then EOF).
async fn closed_by_server(mut stream: TcpStream, wait: Duration) -> bool {
    let mut buf = [0u8; 1024];
    let read_to_end = async {
        loop {
            match stream.read(&mut buf).await {
                Ok(0) | Err(_) => return,
                Ok(_) => {}
            }
        }
    };
    tokio::time::timeout(wait, read_to_end).await.is_ok()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_thousand_slow_loris_connections_are_closed_and_never_stop_normal_requests() {
    let app = spawn_app_with(Spawn {
        env: env(&[("POWERBIRTH_SERVER__REQUEST_HEADER_TIMEOUT_MS", "1000")]),
        ..Spawn::default()
    })
    .await;
    // 2,000 connections here and 2,000 in the app: 4,000 descriptors (`ulimit -n` is larger).
    let mut idle = Vec::with_capacity(2_000);
    for _ in 0..2_000 {
        let mut s = TcpStream::connect(app.addr).await.unwrap();
        s.write_all(b"GET /healthz HTTP/1.1\r\nHost: gateway\r\nX-Slow: ")
            .await
            .unwrap();
        idle.push(s);
    }
    let http = reqwest::Client::new();
    for _ in 0..20 {
        let started = Instant::now();
        let res = http.get(app.url("/healthz")).send().await.unwrap();
        assert_eq!(res.status(), 200);
        assert!(started.elapsed() < Duration::from_millis(500));
    }
    let started = Instant::now();
    let closed = futures_util::future::join_all(
        idle.into_iter()
            .map(|s| closed_by_server(s, Duration::from_secs(5))),
    )
    .await;
    let still_open = closed.iter().filter(|c| !**c).count();
    eprintln!(
        "slow loris: 2000 idle connections, {still_open} still open {:?} later",
        started.elapsed()
    );
    assert_eq!(still_open, 0, "the server keeps slow clients' connections");
    let res = app
        .post(
            "/v1/chat/completions",
            &crate::common::chat("gpt-echo", "oi"),
        )
        .await;
    assert_eq!(res.status(), 200);
}

#[tokio::test]
async fn a_body_that_never_finishes_is_answered_408() {
    let app = spawn_app_with(Spawn {
        env: env(&[("POWERBIRTH_SERVER__BODY_TIMEOUT_MS", "500")]),
        ..Spawn::default()
    })
    .await;
    let mut s = TcpStream::connect(app.addr).await.unwrap();
    let head = format!(
        "POST /v1/chat/completions HTTP/1.1\r\nHost: gateway\r\nAuthorization: Bearer {}\r\nContent-Type: application/json\r\nContent-Length: 100\r\n\r\n{{\"model\":",
        app.client_key
    );
    s.write_all(head.as_bytes()).await.unwrap();
    let mut answer = Vec::new();
    let read = tokio::time::timeout(Duration::from_secs(5), async {
        let mut buf = [0u8; 4096];
        while !String::from_utf8_lossy(&answer).contains("\r\n\r\n") {
            match s.read(&mut buf).await {
                Ok(0) | Err(_) => break,
                Ok(n) => answer.extend_from_slice(&buf[..n]),
            }
        }
    })
    .await;
    assert!(read.is_ok(), "no answer 5 s after the body stalled");
    let text = String::from_utf8_lossy(&answer);
    assert!(text.starts_with("HTTP/1.1 408"), "{text}");
}
