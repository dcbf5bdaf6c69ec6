//! `cargo bench --bench cooldown`: time to answer during an outage, with and without the cooldown.
//!
//! A mock OpenAI upstream in this process serves two models: `dead` never answers (the outage:
//! every call waits out the 1 s timeout) and `echo` answers at once. `primary` names `dead` with
//! `echo` as its fallback; the same 20 requests go through the real provider chain
//! (`Providers::complete`) once with the cooldown off and once with `cooldown_after = 3`. Prints
//! mean, p50 and p95 time to answer for each. Environment: BENCH_REQUESTS (default 20; 4 under
//! `cargo test`, which passes no `--bench`: each request of the outage waits a second).

use std::collections::HashMap;
use std::path::Path;
use std::time::{Duration, Instant};

use axum::Router;
use axum::routing::post;
use powerbirth::config::Config;
use powerbirth::metrics::Metrics;
use powerbirth::providers::{LocalModels, Providers};
use powerbirth::wire::ChatRequest;

const ANSWER: &str = r#"{"id":"c","object":"chat.completion","created":1,"model":"echo","choices":[{"index":0,"message":{"role":"assistant","content":"ok"},"finish_reason":"stop"}],"usage":{"prompt_tokens":1,"completion_tokens":1,"total_tokens":2}}"#;

async fn upstream(body: String) -> ([(&'static str, &'static str); 1], &'static str) {
    if body.contains("\"model\":\"dead\"") {
        tokio::time::sleep(Duration::from_secs(30)).await;
    }
    ([("content-type", "application/json")], ANSWER)
}

fn config(base: &str, cooldown: &str) -> Config {
    let model = |name: &str, up: &str, extra: &str| {
        format!(
            "[[models]]\nname = \"{name}\"\nprovider = \"openai\"\napi_base = \"{base}\"\nupstream_model = \"{up}\"\ntimeout_ms = 1000\nmax_retries = 0\n{extra}\nprice = \"free\"\n\n"
        )
    };
    let text = [
        model(
            "primary",
            "dead",
            &format!("fallbacks = [\"echo\"]\n{cooldown}"),
        ),
        model("echo", "echo", ""),
    ]
    .concat();
    Config::from_toml_str(&text, Path::new("bench.toml"), &HashMap::new()).unwrap()
}

async fn run(base: &str, cooldown: &str, n: usize) -> Vec<Duration> {
    let config = config(base, cooldown);
    let http = reqwest::Client::builder()
        .tcp_nodelay(true)
        .build()
        .unwrap();
    let providers = Providers::build(&config.models, http, &LocalModels::default())
        .await
        .unwrap();
    let metrics = Metrics::new();
    let body = r#"{"model":"primary","messages":[{"role":"user","content":"oi"}]}"#;
    let req = ChatRequest::parse(body.as_bytes()).unwrap();
    let mut times = Vec::with_capacity(n);
    for _ in 0..n {
        let started = Instant::now();
        let answer = providers.complete(&req, &metrics).await.unwrap();
        assert_eq!(answer.served_by, "echo");
        times.push(started.elapsed());
    }
    times
}

fn report(label: &str, mut times: Vec<Duration>) {
    let mean = times.iter().sum::<Duration>() / times.len() as u32;
    times.sort();
    let at = |q: f64| times[((times.len() - 1) as f64 * q).round() as usize];
    println!(
        "{label:<32} n={:<3} mean {:>8.1} ms  p50 {:>8.1} ms  p95 {:>8.1} ms",
        times.len(),
        mean.as_secs_f64() * 1e3,
        at(0.5).as_secs_f64() * 1e3,
        at(0.95).as_secs_f64() * 1e3,
    );
}

fn main() {
    let n = std::env::var("BENCH_REQUESTS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(if std::env::args().any(|a| a == "--bench") {
            20
        } else {
            4
        });
    let rt = tokio::runtime::Runtime::new().unwrap();
    rt.block_on(async move {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let base = format!("http://{}/v1", listener.local_addr().unwrap());
        let app = Router::new().route("/v1/chat/completions", post(upstream));
        tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
        report("outage, no cooldown", run(&base, "", n).await);
        let cooldown = "cooldown_after = 3\ncooldown_ms = 60000";
        report("outage, cooldown_after = 3", run(&base, cooldown, n).await);
    });
}
