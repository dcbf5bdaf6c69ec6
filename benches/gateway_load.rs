//! `make bench`: load through the real gateway binary vs straight to the upstream.
//!
//! Starts a fast mock OpenAI upstream (in this process, on its own thread), starts the release
//! `powerbirth serve` as a child process with logging to SQLite on, then drives closed-loop load
//! (C connections, each sending the next request when the last answer arrives) at concurrency 1
//! and 16, first straight to the upstream, then through the gateway. Prints requests/s and
//! p50/p99 latency for each, the gateway overhead (p50 through minus p50 direct), and the
//! gateway's idle RSS. Environment: BENCH_SECS (default 5) per run.

use std::io::{BufRead, BufReader};
use std::net::SocketAddr;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use axum::Router;
use axum::routing::post;

const BODY: &str = r#"{"model":"bench","messages":[{"role":"user","content":"Estou com 20 semanas, posso fazer caminhada?"}],"max_tokens":64}"#;

const ANSWER: &str = r#"{"id":"chatcmpl-bench","object":"chat.completion","created":1,"model":"bench","choices":[{"index":0,"message":{"role":"assistant","content":"Sim: caminhadas leves costumam ser seguras na gestação. Converse com a sua equipe de pré-natal."},"finish_reason":"stop"}],"usage":{"prompt_tokens":20,"completion_tokens":24,"total_tokens":44}}"#;

fn start_upstream() -> SocketAddr {
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        rt.block_on(async move {
            let app = Router::new().route(
                "/v1/chat/completions",
                post(|_body: axum::body::Bytes| async {
                    ([("content-type", "application/json")], ANSWER)
                }),
            );
            let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
            tx.send(listener.local_addr().unwrap()).unwrap();
            use axum::serve::ListenerExt;
            let listener = listener.tap_io(|t| {
                let _ = t.set_nodelay(true);
            });
            axum::serve(listener, app).await.unwrap();
        });
    });
    rx.recv().unwrap()
}

struct Gateway {
    child: Child,
    addr: String,
    key: String,
    _dir: tempfile::TempDir,
}

impl Drop for Gateway {
    fn drop(&mut self) {
        let _ = Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status();
        let _ = self.child.wait();
    }
}

fn start_gateway(upstream: SocketAddr) -> Gateway {
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("bench.toml");
    std::fs::write(
        &config,
        format!(
            "[server]\nlisten = \"127.0.0.1:0\"\n[database]\nurl = \"sqlite://{}\"\n[auth]\nbootstrap_admin_key = false\n\
             [ratelimit]\ndefault_rpm = 100000000\n\
             [[models]]\nname = \"bench\"\nprovider = \"openai\"\napi_base = \"http://{upstream}/v1\"\nprice = \"free\"\n",
            dir.path().join("bench.db").display()
        ),
    )
    .unwrap();
    let bin = env!("CARGO_BIN_EXE_powerbirth");
    let out = Command::new(bin)
        .arg("--config")
        .arg(&config)
        .args(["keys", "create", "--name", "bench"])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let key = String::from_utf8(out.stdout)
        .unwrap()
        .lines()
        .last()
        .unwrap()
        .trim()
        .to_string();
    let mut child = Command::new(bin)
        .arg("--config")
        .arg(&config)
        .arg("serve")
        .env("RUST_LOG", "warn")
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .unwrap();
    let stdout = child.stdout.take().unwrap();
    let mut addr = String::new();
    for line in BufReader::new(stdout).lines() {
        let line = line.unwrap();
        if let Some(a) = line.strip_prefix("PowerBirth gateway listening on ") {
            addr = a.trim().to_string();
            break;
        }
    }
    Gateway {
        child,
        addr,
        key,
        _dir: dir,
    }
}

fn rss_mb(pid: u32) -> f64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<f64>().ok())
        .map_or(f64::NAN, |kb| kb / 1024.0)
}

/// CPU seconds (user + system) the process has used so far.
fn cpu_secs(pid: u32) -> f64 {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
    // Fields after the command name (which may hold spaces) start after the last ')'.
    let fields: Vec<&str> = stat
        .rsplit_once(')')
        .map_or(vec![], |(_, rest)| rest.split_whitespace().collect());
    let ticks = |i: usize| {
        fields
            .get(i)
            .and_then(|v| v.parse::<f64>().ok())
            .unwrap_or(0.0)
    };
    // utime and stime are fields 14 and 15 of the full line: 11 and 12 after the name.
    (ticks(11) + ticks(12)) / 100.0
}

struct Run {
    rps: f64,
    p50_ms: f64,
    p99_ms: f64,
    errors: usize,
}

async fn drive(url: String, key: Option<String>, concurrency: usize, secs: f64) -> Run {
    let client = reqwest::Client::builder()
        .tcp_nodelay(true)
        .pool_max_idle_per_host(concurrency)
        .build()
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs_f64(secs);
    let warmup = Instant::now() + Duration::from_millis(500);
    let mut tasks = Vec::new();
    for _ in 0..concurrency {
        let (client, url, key) = (client.clone(), url.clone(), key.clone());
        tasks.push(tokio::spawn(async move {
            let mut lat = Vec::with_capacity(100_000);
            let mut errors = 0;
            while Instant::now() < deadline {
                let started = Instant::now();
                let mut rb = client
                    .post(&url)
                    .header("content-type", "application/json")
                    .body(BODY);
                if let Some(k) = &key {
                    rb = rb.bearer_auth(k);
                }
                match rb.send().await {
                    Ok(res) if res.status().is_success() => {
                        let _ = res.bytes().await;
                        if started >= warmup {
                            lat.push(started.elapsed().as_micros() as u32);
                        }
                    }
                    _ => errors += 1,
                }
            }
            (lat, errors)
        }));
    }
    let mut all = Vec::new();
    let mut errors = 0;
    for t in tasks {
        let (lat, e) = t.await.unwrap();
        all.extend(lat);
        errors += e;
    }
    all.sort_unstable();
    let pct = |p: f64| {
        all.get(((all.len() as f64 * p) as usize).min(all.len().saturating_sub(1)))
            .copied()
            .unwrap_or(0) as f64
            / 1000.0
    };
    Run {
        rps: all.len() as f64 / (secs - 0.5),
        p50_ms: pct(0.50),
        p99_ms: pct(0.99),
        errors,
    }
}

/// Seconds per run. `cargo bench` passes `--bench`; without it (`cargo test --all-targets`) this
/// is a smoke run: one second per run, to prove the benchmark still works, not to measure
/// anything.
fn run_secs() -> f64 {
    let measuring = std::env::args().any(|a| a == "--bench");
    match std::env::var("BENCH_SECS")
        .ok()
        .and_then(|s| s.parse().ok())
    {
        Some(s) if measuring => s,
        _ if measuring => 5.0,
        _ => 1.0,
    }
}

fn main() {
    let secs = run_secs();
    let upstream = start_upstream();
    let gateway = start_gateway(upstream);
    std::thread::sleep(Duration::from_secs(1));
    let idle_rss = rss_mb(gateway.child.id());

    println!(
        "\nPowerBirth gateway load benchmark ({secs} s per run, closed loop, logging to SQLite on)\n"
    );
    println!(
        "{:<10} {:>4} {:>12} {:>10} {:>10} {:>7} {:>12}",
        "path", "conc", "requests/s", "p50 ms", "p99 ms", "errors", "gw CPU µs/req"
    );
    let p50 = measure(upstream, &gateway, secs);
    println!();
    println!(
        "gateway overhead p50 at concurrency 1:  {:.3} ms (target <= 0.25)",
        p50[0][1] - p50[0][0]
    );
    println!(
        "gateway overhead p50 at concurrency 16: {:.3} ms",
        p50[1][1] - p50[1][0]
    );
    println!("gateway idle RSS (no local model):      {idle_rss:.1} MB (target <= 60)");
    println!(
        "gateway RSS after load:                 {:.1} MB",
        rss_mb(gateway.child.id())
    );
}

/// Runs each path (direct to the upstream, through the gateway) at concurrency 1 and 16,
/// printing a row per run; returns p50 in ms as `[concurrency][path]`.
fn measure(upstream: SocketAddr, gateway: &Gateway, secs: f64) -> [[f64; 2]; 2] {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let direct_url = format!("http://{upstream}/v1/chat/completions");
    let gateway_url = format!("{}/v1/chat/completions", gateway.addr);
    let mut p50 = [[0.0; 2]; 2];
    for (ci, concurrency) in [1usize, 16].into_iter().enumerate() {
        for (pi, (name, url, key)) in [
            ("direct", &direct_url, None),
            ("gateway", &gateway_url, Some(gateway.key.clone())),
        ]
        .into_iter()
        .enumerate()
        {
            let cpu_before = cpu_secs(gateway.child.id());
            let run = rt.block_on(drive(url.clone(), key, concurrency, secs));
            let gateway_cpu = cpu_secs(gateway.child.id()) - cpu_before;
            p50[ci][pi] = run.p50_ms;
            // Gateway CPU per request (all requests of the run, warm-up included).
            let cpu_us = (pi == 1).then(|| gateway_cpu * 1e6 / (run.rps * (secs - 0.5)).max(1.0));
            print_row(name, concurrency, &run, cpu_us);
        }
    }
    p50
}

fn print_row(name: &str, concurrency: usize, run: &Run, cpu_us: Option<f64>) {
    println!(
        "{:<10} {:>4} {:>12.0} {:>10.3} {:>10.3} {:>7} {:>12}",
        name,
        concurrency,
        run.rps,
        run.p50_ms,
        run.p99_ms,
        run.errors,
        cpu_us.map_or("-".to_string(), |us| format!("{us:.0}"))
    );
}
