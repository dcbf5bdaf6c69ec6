//! A closed-loop HTTP load generator for the risk endpoint (and its FastAPI peer, measured by the
//! same code in the same run): CONCURRENCY connections kept alive, each sending the next request
//! as soon as the previous answer is read, for SECONDS after a one-second warm-up. Prints one
//! line: `name rps N p50_ms N p99_ms N requests N errors N`.
//!
//! ```sh
//! cargo run --release --example risk_load -- NAME URL KEY SECONDS CONCURRENCY
//! ```
//! KEY `-` sends no `Authorization` header (the peer has none). The body is one woman's six
//! measurements, varied per request (systolic 100–139) so no cache can answer.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use axum::body::Body;
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioExecutor;

fn main() -> anyhow::Result<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let [name, url, key, secs, conc] = args.as_slice() else {
        anyhow::bail!("usage: risk_load NAME URL KEY SECONDS CONCURRENCY");
    };
    let (secs, conc): (u64, usize) = (secs.parse()?, conc.parse()?);
    // One thread: the generator takes one core's worth at most, leaving the rest to the server.
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    let (latencies, errors) = runtime.block_on(run(url, key, secs, conc))?;
    let mut l = latencies;
    l.sort_unstable();
    let pct = |q: f64| {
        l.get(((l.len() as f64 * q) as usize).min(l.len().saturating_sub(1)))
            .map_or(f64::NAN, |&us| us as f64 / 1000.0)
    };
    println!(
        "{name} rps {:.0} p50_ms {:.3} p99_ms {:.3} requests {} errors {errors}",
        l.len() as f64 / secs as f64,
        pct(0.50),
        pct(0.99),
        l.len()
    );
    Ok(())
}

async fn run(url: &str, key: &str, secs: u64, conc: usize) -> anyhow::Result<(Vec<u32>, u64)> {
    let mut connector = HttpConnector::new();
    connector.set_nodelay(true);
    let client: Client<HttpConnector, Body> = Client::builder(TokioExecutor::new())
        .pool_max_idle_per_host(conc)
        .build(connector);
    let measuring = Arc::new(AtomicBool::new(false));
    let stop = Arc::new(AtomicBool::new(false));
    let mut workers = Vec::new();
    for w in 0..conc {
        let (client, url, key) = (client.clone(), url.to_string(), key.to_string());
        let (measuring, stop) = (measuring.clone(), stop.clone());
        workers.push(tokio::spawn(async move {
            let (mut lat, mut errors, mut i) = (Vec::with_capacity(200_000), 0u64, w);
            while !stop.load(Ordering::Relaxed) {
                i += 1;
                let body = format!(
                    "{{\"age_years\":29,\"systolic_bp_mmhg\":{},\"diastolic_bp_mmhg\":80,\"blood_glucose_mmol_l\":7.5,\"body_temperature_c\":36.9,\"heart_rate_bpm\":76}}",
                    100 + i % 40
                );
                let mut req = http::Request::post(url.as_str())
                    .header("content-type", "application/json");
                if key != "-" {
                    req = req.header("authorization", format!("Bearer {key}"));
                }
                let req = req.body(Body::from(body)).expect("a valid request");
                let t = Instant::now();
                let ok = match client.request(req).await {
                    Ok(res) => {
                        let ok = res.status().is_success();
                        let read = axum::body::to_bytes(Body::new(res.into_body()), 1 << 20).await;
                        ok && read.is_ok()
                    }
                    Err(_) => false,
                };
                if measuring.load(Ordering::Relaxed) {
                    if ok {
                        lat.push(t.elapsed().as_micros() as u32);
                    } else {
                        errors += 1;
                    }
                }
            }
            (lat, errors)
        }));
    }
    tokio::time::sleep(Duration::from_secs(1)).await;
    measuring.store(true, Ordering::Relaxed);
    tokio::time::sleep(Duration::from_secs(secs)).await;
    measuring.store(false, Ordering::Relaxed);
    stop.store(true, Ordering::Relaxed);
    let (mut all, mut errors) = (Vec::new(), 0);
    for w in workers {
        let (l, e) = w.await?;
        all.extend(l);
        errors += e;
    }
    Ok((all, errors))
}
