//! The soak test's helpers, driven by `scripts/soak.sh` (loopback only, bounded in time):
//!
//! - `soak upstream PORT`: a fast OpenAI-compatible mock upstream (complete and streamed answers,
//!   with usage), run as its own process so the script can kill and restart it;
//! - `soak load URL KEY SECONDS CONCURRENCY IDS_FILE`: closed-loop mixed load (answers, streams,
//!   a danger sign that escalates) for SECONDS; prints `requests N errors N exchanges N …` and
//!   writes the request id of every exchange the gateway filed (it answered with
//!   `x-request-id`) to IDS_FILE;
//! - `soak check DATABASE_URL IDS_FILE`: prints how many of those request ids have no stored
//!   answer in the database (`lost N`).

use std::io::Write;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use axum::Router;
use axum::response::IntoResponse;
use axum::routing::post;
use serde_json::{Value, json};

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let arg = |i: usize| -> anyhow::Result<&str> {
        args.get(i)
            .map(String::as_str)
            .ok_or_else(|| anyhow::anyhow!("usage: see the doc comment of examples/soak.rs"))
    };
    match arg(0)? {
        "upstream" => upstream(arg(1)?.parse()?).await,
        "load" => {
            let secs = arg(3)?.parse()?;
            let conc = arg(4)?.parse()?;
            load(arg(1)?, arg(2)?, secs, conc, arg(5)?).await
        }
        "check" => check(arg(1)?, arg(2)?).await,
        other => anyhow::bail!("unknown mode {other:?}: upstream, load or check"),
    }
}

async fn upstream(port: u16) -> anyhow::Result<()> {
    let app = Router::new().route("/v1/chat/completions", post(answer));
    let listener = tokio::net::TcpListener::bind(("127.0.0.1", port)).await?;
    axum::serve(listener, app).await?;
    Ok(())
}

async fn answer(body: axum::body::Bytes) -> axum::response::Response {
    let req: Value = serde_json::from_slice(&body).unwrap_or(Value::Null);
    tokio::time::sleep(Duration::from_millis(5)).await;
    let text = "Caminhadas leves costumam ser seguras na gestação. Converse com a sua equipe.";
    let usage = json!({"prompt_tokens": 20, "completion_tokens": 16, "total_tokens": 36});
    if req["stream"] == true {
        let chunk = |delta: Value, finish: Value| {
            json!({"id":"c","object":"chat.completion.chunk","created":1,"model":"soak",
                   "choices":[{"index":0,"delta":delta,"finish_reason":finish}]})
        };
        let mut out = String::new();
        for c in [
            chunk(json!({"role":"assistant","content":""}), Value::Null),
            chunk(json!({"content": text}), Value::Null),
            chunk(json!({}), json!("stop")),
            json!({"id":"c","object":"chat.completion.chunk","created":1,"model":"soak","choices":[],"usage":usage}),
        ] {
            out.push_str(&format!("data: {c}\n\n"));
        }
        out.push_str("data: [DONE]\n\n");
        return ([("content-type", "text/event-stream")], out).into_response();
    }
    axum::Json(json!({
        "id": "c", "object": "chat.completion", "created": 1, "model": "soak",
        "choices": [{"index": 0, "message": {"role": "assistant", "content": text}, "finish_reason": "stop"}],
        "usage": usage
    }))
    .into_response()
}

#[derive(Default)]
struct Counts {
    requests: AtomicU64,
    errors: AtomicU64,
    /// Of the errors: no answer at all (connection refused or reset, timeout), 4xx, 5xx.
    transport: AtomicU64,
    client: AtomicU64,
    server: AtomicU64,
}

impl Counts {
    fn error(&self, status: Option<reqwest::StatusCode>) {
        self.errors.fetch_add(1, Ordering::Relaxed);
        let class = match status {
            None => &self.transport,
            Some(s) if s.is_client_error() => &self.client,
            Some(_) => &self.server,
        };
        class.fetch_add(1, Ordering::Relaxed);
    }
}

/// The i-th request of the mix: mostly answers, a third streamed, one in ten a danger sign.
fn body(i: u64) -> Value {
    let text = if i % 10 == 9 {
        "estou com sangramento forte e dor de cabeça que não passa"
    } else {
        "posso fazer caminhada com 20 semanas?"
    };
    json!({"model": "soak", "stream": i.is_multiple_of(3),
           "messages": [{"role": "user", "content": text}]})
}

async fn load(url: &str, key: &str, secs: u64, conc: usize, ids: &str) -> anyhow::Result<()> {
    let http = reqwest::Client::builder()
        .timeout(Duration::from_secs(15))
        .build()?;
    let counts = Arc::new(Counts::default());
    let end = Instant::now() + Duration::from_secs(secs);
    let url = format!("{url}/v1/chat/completions");
    let mut workers = tokio::task::JoinSet::new();
    for w in 0..conc as u64 {
        let (http, counts, url, key) = (http.clone(), counts.clone(), url.clone(), key.to_string());
        workers.spawn(async move {
            let mut filed = Vec::new();
            let mut i = w;
            while Instant::now() < end {
                i += conc as u64;
                counts.requests.fetch_add(1, Ordering::Relaxed);
                let res = http
                    .post(&url)
                    .bearer_auth(&key)
                    .json(&body(i))
                    .send()
                    .await;
                let failed = match res {
                    Ok(res) => {
                        let id = res
                            .headers()
                            .get("x-request-id")
                            .and_then(|v| v.to_str().ok())
                            .map(str::to_string);
                        let status = res.status();
                        let read = res.bytes().await.is_ok();
                        filed.extend(id);
                        match (status.is_success(), read) {
                            (true, true) => None,
                            (true, false) => Some(None),
                            (false, _) => Some(Some(status)),
                        }
                    }
                    Err(e) => {
                        let at = secs.saturating_sub(
                            end.saturating_duration_since(Instant::now()).as_secs(),
                        );
                        eprintln!("soak: no answer at +{at}s: {e:#}");
                        Some(None)
                    }
                };
                if let Some(status) = failed {
                    counts.error(status);
                    tokio::time::sleep(Duration::from_millis(50)).await;
                }
            }
            filed
        });
    }
    let mut out = std::io::BufWriter::new(std::fs::File::create(ids)?);
    let mut exchanges = 0;
    for filed in workers.join_all().await {
        exchanges += filed.len();
        for id in filed {
            writeln!(out, "{id}")?;
        }
    }
    let n = |c: &AtomicU64| c.load(Ordering::Relaxed);
    println!(
        "requests {} errors {} exchanges {exchanges} no_answer {} 4xx {} 5xx {}",
        n(&counts.requests),
        n(&counts.errors),
        n(&counts.transport),
        n(&counts.client),
        n(&counts.server)
    );
    Ok(())
}

async fn check(database: &str, ids: &str) -> anyhow::Result<()> {
    let store = powerbirth::store::Store::connect(database, 2).await?;
    let mut lost = 0;
    for id in std::fs::read_to_string(ids)?.lines() {
        let stored = store.request_messages(id).await?;
        if !stored.iter().any(|m| m.role == "assistant") {
            lost += 1;
        }
    }
    println!("lost {lost}");
    Ok(())
}
