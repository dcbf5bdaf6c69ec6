//! The feature store as its users meet it: `PUT/GET /v1/features/{group}/{patient_id}` (keys,
//! validation), the Redis online copy (write-through, TTL, stale copies never served, a Redis
//! that dies mid-run), and `powerbirth features load|sync`. Database scenarios run on both
//! backends; Redis is the real one from `POWERBIRTH_TEST_REDIS_URL` (a unique key prefix per
//! test) or one the test starts itself.

mod api;
mod cli;
mod online;
mod outage;

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use serde_json::Value;

use crate::common::TestApp;

/// A key prefix no other test uses.
pub fn unique_prefix() -> String {
    format!("pbtest:{}", uuid::Uuid::new_v4().simple())
}

/// `[redis]` and `[features]` for a spawned app.
pub fn online_toml(redis: &str, prefix: &str) -> String {
    format!(
        "[redis]\nurl = \"{redis}\"\n\n[features]\nkey_prefix = \"{prefix}\"\nredis_ttl_s = 3600\nredis_retry_ms = 100\n"
    )
}

pub async fn put(app: &TestApp, key: &str, path: &str, body: &Value) -> reqwest::Response {
    app.http
        .put(app.url(&format!("/v1/features/{path}")))
        .bearer_auth(key)
        .json(body)
        .send()
        .await
        .unwrap()
}

pub async fn get(app: &TestApp, key: &str, path: &str) -> reqwest::Response {
    app.http
        .get(app.url(&format!("/v1/features/{path}")))
        .bearer_auth(key)
        .send()
        .await
        .unwrap()
}

/// The value of one series in `/metrics` (0 when absent).
pub fn metric(text: &str, series: &str) -> f64 {
    text.lines()
        .find_map(|l| l.strip_prefix(series)?.trim().parse().ok())
        .unwrap_or(0.0)
}

/// A direct Redis connection (to look at and tamper with the online copy).
pub async fn redis_conn(url: &str) -> redis::aio::ConnectionManager {
    redis::Client::open(url)
        .unwrap()
        .get_connection_manager()
        .await
        .unwrap()
}

/// Runs the CLI with `config`.
pub fn powerbirth(config: &Path, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_powerbirth"))
        .arg("--config")
        .arg(config)
        .args(args)
        .output()
        .unwrap()
}

/// A CLI config on the app's database (and Redis, with the same prefix, when given).
pub fn cli_config(dir: &Path, db_url: &str, online: Option<(&str, &str)>) -> PathBuf {
    let path = dir.join("cli.toml");
    let mut text = format!(
        "[database]\nurl = \"{db_url}\"\n\n[[models]]\nname = \"m\"\nprovider = \"openai\"\napi_base = \"http://127.0.0.1:9/v1\"\nprice = \"free\"\n\n"
    );
    if let Some((redis, prefix)) = online {
        text.push_str(&online_toml(redis, prefix));
    }
    std::fs::write(&path, text).unwrap();
    path
}
