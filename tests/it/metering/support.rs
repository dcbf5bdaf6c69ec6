//! Helpers for the metering tests: stores on every backend, a metering over a test
//! configuration, and a synthetic ledger.

use std::collections::HashMap;
use std::path::Path;

use powerbirth::config::Config;
use powerbirth::core::UsdCost;
use powerbirth::metering::Metering;
use powerbirth::providers::Providers;
use powerbirth::store::Store;
use powerbirth::store::messages::{Exchange, MessageRecord};
use powerbirth::wire::ChatRequest;
use prometheus_client::registry::Registry;
use tempfile::TempDir;

use crate::common;

/// A store and what keeps it alive.
pub struct TestStore {
    pub name: &'static str,
    pub store: Store,
    pub url: String,
    _dir: Option<TempDir>,
    _db: Option<common::PgDatabase>,
}

/// A fresh SQLite database in a temporary directory.
pub async fn sqlite() -> TestStore {
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}", dir.path().join("ledger.db").display());
    TestStore {
        name: "sqlite",
        store: Store::connect(&url, 4).await.unwrap(),
        url,
        _dir: Some(dir),
        _db: None,
    }
}

/// A fresh PostgreSQL database, when the test server is configured.
pub async fn postgres() -> Option<TestStore> {
    let base = common::pg_url()?;
    let db = common::fresh_pg_database(&base).await;
    Some(TestStore {
        name: "postgres",
        store: Store::connect(&db.url, 4).await.unwrap(),
        url: db.url.clone(),
        _dir: None,
        _db: Some(db),
    })
}

/// SQLite, then PostgreSQL when configured.
pub async fn every_backend() -> Vec<TestStore> {
    let mut out = vec![sqlite().await];
    out.extend(postgres().await);
    out
}

/// A word-level `tokenizer.json` (one token per whitespace-separated word or punctuation mark)
/// written into `dir`.
pub fn word_tokenizer(dir: &Path) -> std::path::PathBuf {
    use tokenizers::models::wordlevel::WordLevel;
    use tokenizers::pre_tokenizers::whitespace::Whitespace;
    let words = [
        "[UNK]",
        "user",
        "assistant",
        "system",
        "oi",
        "tudo",
        "bem",
        "?",
        "sim",
        "beba",
        "água",
    ];
    let vocab: HashMap<String, u32> = words
        .iter()
        .enumerate()
        .map(|(i, w)| (w.to_string(), i as u32))
        .collect();
    let model = WordLevel::builder()
        .vocab(vocab.into_iter().collect())
        .unk_token("[UNK]".into())
        .build()
        .unwrap();
    let mut t = tokenizers::Tokenizer::new(model);
    t.with_pre_tokenizer(Some(Whitespace {}));
    let path = dir.join("tokenizer.json");
    t.save(&path, false).unwrap();
    path
}

/// Two priced OpenAI-compatible models (nothing listens at their address: metering never calls
/// them): `gpt-counted` has a tokenizer and a cached price and falls back to `gpt-dear`, which
/// has neither; `free-model` is free.
pub fn config(dir: &Path) -> Config {
    let tokenizer = word_tokenizer(dir);
    let text = format!(
        r#"
[[models]]
name = "gpt-counted"
provider = "openai"
api_base = "http://127.0.0.1:9/v1"
tokenizer = "{}"
fallbacks = ["gpt-dear"]
[models.price]
input = "0.15"
output = "0.60"
cached_input = "0.075"

[[models]]
name = "gpt-dear"
provider = "openai"
api_base = "http://127.0.0.1:9/v1"
[models.price]
input = "2.50"
output = "10.00"

[[models]]
name = "free-model"
provider = "openai"
api_base = "http://127.0.0.1:9/v1"
price = "free"
"#,
        tokenizer.display()
    );
    Config::from_toml_str(&text, &dir.join("powerbirth.toml"), &HashMap::new()).unwrap()
}

/// A metering over `store` with the test models, its providers and its registry.
pub struct TestMetering {
    pub metering: Metering,
    pub providers: Providers,
    pub registry: Registry,
    _dir: TempDir,
}

impl TestMetering {
    pub async fn new(store: &Store, redis: Option<redis::aio::ConnectionManager>) -> TestMetering {
        let dir = tempfile::tempdir().unwrap();
        let cfg = config(dir.path());
        let providers = Providers::build(&cfg.models, reqwest::Client::new(), &Default::default())
            .await
            .unwrap();
        let mut registry = Registry::with_prefix("powerbirth");
        let metering =
            Metering::new(store.clone(), &cfg.models, &providers, redis, &mut registry).unwrap();
        TestMetering {
            metering,
            providers,
            registry,
            _dir: dir,
        }
    }

    /// Prometheus text of the registry.
    pub fn exposition(&self) -> String {
        let mut out = String::new();
        prometheus_client::encoding::text::encode(&mut out, &self.registry).unwrap();
        out
    }
}

/// A chat request body for `model`.
pub fn request(model: &str, text: &str, max_tokens: Option<u32>) -> ChatRequest {
    let mut body =
        serde_json::json!({"model": model, "messages": [{"role": "user", "content": text}]});
    if let Some(n) = max_tokens {
        body["max_tokens"] = n.into();
    }
    ChatRequest::parse(body.to_string().as_bytes()).unwrap()
}

pub fn usd(s: &str) -> UsdCost {
    s.parse().unwrap()
}

/// One logged answer of the synthetic ledger.
#[derive(Debug, Clone)]
pub struct Bill {
    pub key_id: String,
    pub model: Option<String>,
    pub at: i64,
    pub cost: Option<UsdCost>,
    pub prompt_ref: Option<String>,
    pub tokens: (i64, i64, i64, i64),
    pub status: &'static str,
}

impl Bill {
    /// An answer of `model` at `at` costing `cost`, by key `k`, with 10/5/0/0 tokens.
    pub fn new(model: &str, at: i64, cost: &str) -> Bill {
        Bill {
            key_id: "k".into(),
            model: Some(model.into()),
            at,
            cost: Some(usd(cost)),
            prompt_ref: None,
            tokens: (10, 5, 0, 0),
            status: "ok",
        }
    }
    pub fn key(mut self, key_id: &str) -> Bill {
        self.key_id = key_id.into();
        self
    }
    pub fn prompt(mut self, prompt_ref: &str) -> Bill {
        self.prompt_ref = Some(prompt_ref.into());
        self
    }
    pub fn tokens(mut self, input: i64, output: i64, cached: i64, reasoning: i64) -> Bill {
        self.tokens = (input, output, cached, reasoning);
        self
    }
    /// A failed request: no cost and no tokens.
    pub fn failed(mut self) -> Bill {
        self.cost = None;
        self.status = "error";
        self
    }
}

/// A message record with every metering field empty.
pub fn record(role: &str, at: i64) -> MessageRecord {
    MessageRecord::new(
        "c",
        &powerbirth::core::new_id(),
        role.parse().unwrap(),
        "…".into(),
        at,
    )
}

/// Writes the bills as exchanges (each with its user message, which costs nothing).
pub async fn write_ledger(store: &Store, bills: &[Bill]) {
    let exchanges: Vec<Exchange> = bills
        .iter()
        .map(|b| {
            let conversation_id = powerbirth::core::new_id();
            let user = MessageRecord {
                conversation_id: conversation_id.clone(),
                ..record("user", b.at)
            };
            let answer = MessageRecord {
                conversation_id: conversation_id.clone(),
                request_id: user.request_id.clone(),
                model: b.model.clone(),
                status: b.status.parse().unwrap(),
                prompt_tokens: (b.status == "ok").then_some(b.tokens.0),
                completion_tokens: (b.status == "ok").then_some(b.tokens.1),
                cached_tokens: (b.status == "ok").then_some(b.tokens.2),
                reasoning_tokens: (b.status == "ok").then_some(b.tokens.3),
                cost_usd: b.cost,
                prompt_ref: b.prompt_ref.clone(),
                ..record("assistant", b.at)
            };
            Exchange {
                conversation_id,
                key_id: b.key_id.clone(),
                at: b.at,
                messages: vec![user, answer],
            }
        })
        .collect();
    store.write_exchanges(&exchanges).await.unwrap();
}
