//! Faults an operator meets (issue 14): a client that hangs up mid-turn, a database that goes
//! away under load, a SIGKILL, an upstream that bills more than it was asked for. Each fault is
//! real: a raw socket closed early, a TCP proxy in front of PostgreSQL that the test stops, the
//! real binary killed with `kill -9`, a mock upstream that reports 50,000 completion tokens.

use std::net::SocketAddr;
use std::time::Duration;

use powerbirth::core::now_ms;
use powerbirth::store::Store;
use powerbirth::store::keys::Role;
use powerbirth::store::ledger::{LedgerFilter, LedgerSums, sums};
use serde_json::{Value, json};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::watch;
use tokio::task::JoinSet;

use crate::common::{self, Spawn, TestApp, chat, spawn_app, spawn_app_with};

/// Everything the ledger holds (assistant messages), over all keys or one.
async fn ledger(store: &Store, key_id: Option<&str>) -> LedgerSums {
    let filter = LedgerFilter {
        from_ms: 0,
        to_ms: now_ms() + 60_000,
        key_id,
    };
    sums(store, filter, None)
        .await
        .unwrap()
        .into_values()
        .next()
        .unwrap_or_default()
}

/// Sends `body` on a raw connection and closes it after `after`, before any answer.
async fn hang_up(app: &TestApp, body: &Value, after: Duration) {
    let mut sock = TcpStream::connect(app.addr).await.unwrap();
    let body = serde_json::to_vec(body).unwrap();
    let head = format!(
        "POST /v1/chat/completions HTTP/1.1\r\nHost: gw\r\nAuthorization: Bearer {}\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n",
        app.client_key,
        body.len()
    );
    sock.write_all(head.as_bytes()).await.unwrap();
    sock.write_all(&body).await.unwrap();
    tokio::time::sleep(after).await;
    let mut none = [0u8; 1];
    // Nothing came back yet (the upstream takes 300 ms): the client leaves without an answer.
    let read = tokio::time::timeout(Duration::from_millis(1), sock.read(&mut none)).await;
    assert!(read.is_err(), "an answer arrived before the client left");
    drop(sock);
}

#[tokio::test]
async fn a_client_that_hangs_up_mid_turn_still_gets_its_turn_logged_and_billed_once() {
    let app = spawn_app().await;
    let mut body = chat("gpt-medium", "estou com dor de cabeça");
    body["metadata"] = json!({"conversation_id": "conv-hung-up"});
    hang_up(&app, &body, Duration::from_millis(60)).await;
    // The turn goes on without the client: the upstream answers after 300 ms.
    tokio::time::sleep(Duration::from_millis(700)).await;
    app.settle().await;
    let messages = app.conversation_messages("conv-hung-up").await;
    let roles: Vec<_> = messages.iter().map(|m| m.role.as_str()).collect();
    assert_eq!(roles, ["user", "assistant"]);
    let answer = &messages[1];
    assert_eq!(answer.status, "ok");
    assert_eq!(answer.content, "echo: estou com dor de cabeça");
    // 11 prompt tokens at 0.15 and 7 answer tokens at 0.60 per million.
    assert_eq!(answer.cost_usd.unwrap().to_string(), "0.00000585");
    let total = ledger(&app.store, None).await;
    assert_eq!((total.requests, total.messages), (1, 1));
    assert_eq!(app.upstream.calls(), 1);
}

#[tokio::test]
async fn a_stream_left_before_its_first_byte_is_logged_once_as_client_closed() {
    let app = spawn_app().await;
    let mut body = chat("gpt-medium", "oi");
    body["stream"] = json!(true);
    body["metadata"] = json!({"conversation_id": "conv-left-stream"});
    hang_up(&app, &body, Duration::from_millis(60)).await;
    tokio::time::sleep(Duration::from_millis(700)).await;
    app.settle().await;
    let messages = app.conversation_messages("conv-left-stream").await;
    assert_eq!(messages.len(), 2, "{messages:?}");
    assert_eq!(messages[1].status, "client_closed");
    assert!(messages[1].cost_usd.is_some(), "the prompt is billed");
    assert_eq!(ledger(&app.store, None).await.requests, 1);
}

#[tokio::test]
async fn an_open_ended_answer_is_capped_upstream_so_twenty_requests_stay_within_one_reservation() {
    let app = spawn_app().await;
    let budget = "0.003";
    let (key, plaintext) = app
        .store
        .create_key_with_budget("tiny", Role::Client, None, Some(budget.parse().unwrap()))
        .await
        .unwrap();
    let body = chat("gpt-verbose", "conte uma história longa");
    let request =
        powerbirth::wire::ChatRequest::parse(&serde_json::to_vec(&body).unwrap()).unwrap();
    let reservation = app.metering.worst_case("gpt-verbose", &request);
    let mut set = JoinSet::new();
    for _ in 0..20 {
        let (http, url, key, body) = (
            app.http.clone(),
            app.url("/v1/chat/completions"),
            plaintext.clone(),
            body.clone(),
        );
        set.spawn(async move {
            let res = http
                .post(url)
                .bearer_auth(key)
                .json(&body)
                .send()
                .await
                .unwrap();
            res.status().as_u16()
        });
    }
    let statuses: Vec<u16> = set.join_all().await;
    assert!(
        statuses.contains(&200) && statuses.contains(&429),
        "{statuses:?}"
    );
    // The cap the reservation assumed went upstream with every answered request.
    for r in app.upstream.requests() {
        assert_eq!(r.body["max_tokens"], 4096, "{}", r.body);
    }
    app.settle().await;
    let spent = ledger(&app.store, Some(&key.id)).await.cost_usd;
    let bound = budget
        .parse::<powerbirth::core::UsdCost>()
        .unwrap()
        .plus(reservation);
    assert!(
        spent <= bound,
        "spent {spent} over budget {budget} + one reservation {reservation}"
    );
    // A client's own cap is sent unchanged.
    let mut capped = chat("gpt-verbose", "curta");
    capped["max_tokens"] = json!(12);
    assert_eq!(
        app.post("/v1/chat/completions", &capped).await.status(),
        200
    );
    assert_eq!(
        app.upstream.requests().last().unwrap().body["max_tokens"],
        12
    );
}

/// A model configured as OpenAI's reasoning models need: the answer length in
/// `max_completion_tokens` (they refuse `max_tokens`).
const REASONING_MODEL: &str = "[[models]]\nname = \"gpt-reasoning\"\nprovider = \"openai\"\napi_base = \"{api_base}\"\nupstream_model = \"verbose\"\nlimit_field = \"max_completion_tokens\"\nmax_output_tokens = 300\n[models.price]\ninput = \"0.15\"\noutput = \"0.60\"\n";

#[tokio::test]
async fn the_answer_length_goes_upstream_in_the_one_field_the_model_takes() {
    let app = spawn_app_with(Spawn {
        extra_toml: REASONING_MODEL.into(),
        ..Spawn::default()
    })
    .await;
    // (model, the client's limit field and value, the field expected upstream and its value)
    let cases = [
        ("gpt-reasoning", None, "max_completion_tokens", 300),
        (
            "gpt-reasoning",
            Some(("max_tokens", 12)),
            "max_completion_tokens",
            12,
        ),
        (
            "gpt-verbose",
            Some(("max_completion_tokens", 15)),
            "max_tokens",
            15,
        ),
        ("gpt-verbose", Some(("max_tokens", 9)), "max_tokens", 9),
    ];
    for (model, limit, field, expected) in cases {
        let mut body = chat(model, "conte uma história longa");
        if let Some((name, n)) = limit {
            body[name] = json!(n);
        }
        let res = app.post("/v1/chat/completions", &body).await;
        assert_eq!(res.status(), 200, "{model} {limit:?}");
        let answer: Value = res.json().await.unwrap();
        assert_eq!(answer["usage"]["completion_tokens"], expected, "{answer}");
        let sent = app.upstream.requests().last().unwrap().body.clone();
        assert_eq!(sent[field], expected, "{model} {limit:?}: {sent}");
        let other = if field == "max_tokens" {
            "max_completion_tokens"
        } else {
            "max_tokens"
        };
        assert!(sent.get(other).is_none(), "{model} {limit:?}: {sent}");
    }
}

/// A TCP proxy in front of a server, that the test stops (every connection cut) and restarts.
struct Proxy {
    addr: SocketAddr,
    stop: watch::Sender<bool>,
    task: tokio::task::JoinHandle<()>,
}

impl Proxy {
    async fn start(listen: SocketAddr, target: SocketAddr) -> Proxy {
        let listener = TcpListener::bind(listen).await.unwrap();
        let addr = listener.local_addr().unwrap();
        let (stop, stopped) = watch::channel(false);
        let task = tokio::spawn(async move {
            let mut conns = JoinSet::new();
            let mut stopped_accept = stopped.clone();
            loop {
                tokio::select! {
                    accepted = listener.accept() => {
                        let Ok((mut client, _)) = accepted else { continue };
                        let mut stopped = stopped.clone();
                        conns.spawn(async move {
                            let Ok(mut server) = TcpStream::connect(target).await else { return };
                            tokio::select! {
                                _ = tokio::io::copy_bidirectional(&mut client, &mut server) => {}
                                _ = stopped.changed() => {}
                            }
                        });
                    }
                    _ = stopped_accept.changed() => break,
                }
            }
            conns.shutdown().await;
        });
        Proxy { addr, stop, task }
    }

    async fn stop(self) -> SocketAddr {
        let _ = self.stop.send(true);
        self.task.await.unwrap();
        self.addr
    }
}

/// Sends `n` turns at once (a third streamed) and checks that every one is answered.
async fn burst_of_turns(app: &TestApp, n: usize) {
    let mut set = JoinSet::new();
    for i in 0..n {
        let (http, url, key) = (
            app.http.clone(),
            app.url("/v1/chat/completions"),
            app.client_key.clone(),
        );
        let mut body = chat("gpt-echo", &format!("durante {i}"));
        body["stream"] = json!(i.is_multiple_of(3));
        set.spawn(async move {
            let res = http
                .post(url)
                .bearer_auth(key)
                .json(&body)
                .send()
                .await
                .unwrap();
            (res.status().as_u16(), res.text().await.unwrap())
        });
    }
    for (status, text) in set.join_all().await {
        assert_eq!(status, 200, "{text}");
        // A stream's answer arrives in several chunks: read it as the client would.
        let answer = match text.starts_with("data:") {
            true => common::sse_text(&text),
            false => text.clone(),
        };
        assert!(answer.contains("echo: durante"), "{text}");
    }
}

#[tokio::test]
async fn a_database_outage_under_load_loses_no_exchange_and_answers_keep_flowing() {
    let Some(base) = common::pg_url() else { return };
    let db = common::fresh_pg_database(&base).await;
    let mut url = reqwest::Url::parse(&db.url).unwrap();
    let target: SocketAddr = format!(
        "{}:{}",
        url.host_str().unwrap().replace("localhost", "127.0.0.1"),
        url.port().unwrap_or(5432)
    )
    .parse()
    .unwrap();
    let proxy = Proxy::start("127.0.0.1:0".parse().unwrap(), target).await;
    url.set_port(Some(proxy.addr.port())).unwrap();
    let env = [(
        "POWERBIRTH_AUTH__KEY_CACHE_MS".to_string(),
        "600000".to_string(),
    )];
    let mut app = spawn_app_with(Spawn {
        db_url: Some(url.to_string()),
        env: env.into_iter().collect(),
        ..Spawn::default()
    })
    .await;
    assert_eq!(
        app.post("/v1/chat/completions", &chat("gpt-echo", "antes"))
            .await
            .status(),
        200
    );
    app.settle().await;

    let addr = proxy.stop().await; // the database is gone
    burst_of_turns(&app, 30).await; // every one answered
    let metrics = app.metrics_text().await;
    assert!(
        metrics.contains("powerbirth_log_queue_depth 30"),
        "{metrics}"
    );
    assert!(
        !metrics.contains("powerbirth_log_spool_bytes 0\n"),
        "{metrics}"
    );

    tokio::time::sleep(Duration::from_millis(1500)).await;
    let proxy = Proxy::start(addr, target).await; // back
    tokio::time::timeout(Duration::from_secs(40), app.settle())
        .await
        .expect("the log caught up once the database was back");
    let store = Store::connect(&db.url, 1).await.unwrap();
    assert_eq!(store.count_messages("assistant").await.unwrap(), 31);
    assert_eq!(store.count_messages("user").await.unwrap(), 31);
    assert!(
        app.metrics_text()
            .await
            .contains("powerbirth_log_spool_bytes 0\n")
    );
    app.shutdown().await;
    store.close().await;
    proxy.stop().await;
}

#[tokio::test]
async fn a_sigkilled_gateway_loses_no_answered_exchange() {
    let upstream = common::MockUpstream::start().await;
    let dir = tempfile::tempdir().unwrap();
    let db_url = format!("sqlite://{}", dir.path().join("gw.db").display());
    let store = Store::connect(&db_url, 1).await.unwrap();
    let (_, key) = store
        .create_key("killed", Role::Client, None)
        .await
        .unwrap();
    let config = dir.path().join("powerbirth.toml");
    std::fs::write(&config, common::test_config(&upstream, &db_url, "")).unwrap();

    let (mut child, addr, _) = common::spawn_binary(&config);
    let http = reqwest::Client::new();
    let mut answered: i64 = 0;
    for i in 0..40 {
        let res = http
            .post(format!("{addr}/v1/chat/completions"))
            .bearer_auth(&key)
            .json(&chat("gpt-echo", &format!("p{i}")))
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), 200);
        answered += 1;
    }
    common::signal(&child, "KILL"); // right after the last answer: no drain, no flush
    child.wait().unwrap();

    let (mut child, _, _) = common::spawn_binary(&config); // replays the spool
    let mut stored = 0;
    for _ in 0..100 {
        stored = store.count_messages("assistant").await.unwrap();
        if stored >= answered {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    common::signal(&child, "TERM");
    child.wait().unwrap();
    assert_eq!(stored, answered);
    assert_eq!(store.count_messages("user").await.unwrap(), answered);
}
