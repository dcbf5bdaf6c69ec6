//! `[ingest]`: which Redis Stream and consumer group events come from, how large a batch and a
//! Parquet row group are, where the Parquet files go, when another consumer's pending entries are
//! claimed, and which environment variable holds the pseudonym key. Read raw
//! (`deny_unknown_fields`), validated here; hooked into the file by `src/config`.

use std::collections::HashMap;
use std::path::PathBuf;
use std::time::Duration;

use serde::Deserialize;

use crate::core::Secret;

/// The validated `[ingest]` section.
#[derive(Debug, Clone)]
pub struct IngestConfig {
    /// The Redis Stream events arrive on (`powerbirth:events`); dead letters go to
    /// `<stream>:dead`.
    pub stream: String,
    /// The consumer group (`ingest`): every consumer of one group shares the work.
    pub group: String,
    /// This consumer's name in the group (default: host name and process id). A restarted
    /// consumer with the same name takes its own pending entries back first.
    pub consumer: String,
    /// Entries read and written per batch: the memory bound (one batch is in memory at a time).
    pub batch_size: usize,
    /// Rows per Parquet row group.
    pub row_group_size: usize,
    /// Where `<event>/date=YYYY-MM-DD/part-….parquet` files go.
    pub raw_dir: PathBuf,
    /// Another consumer's entries pending longer than this are claimed (`XAUTOCLAIM`).
    pub claim_timeout: Duration,
    /// How long one blocking read waits for new entries.
    pub block: Duration,
    /// Most entries kept in the dead-letter stream (`XADD … MAXLEN ~`).
    pub dead_letter_maxlen: usize,
    /// The environment variable holding the pseudonym key.
    pub pseudonym_key_env: String,
    /// Where `data check` finds the expectation suites (`<event>.yaml`).
    pub expectations_dir: PathBuf,
}

impl Default for IngestConfig {
    fn default() -> Self {
        RawIngestConfig::default()
            .validate()
            .expect("the default [ingest] section is valid")
    }
}

impl IngestConfig {
    /// The data paths resolved as the rest of the configuration resolves paths.
    pub fn resolved(mut self, resolve: &dyn Fn(PathBuf) -> PathBuf) -> IngestConfig {
        self.raw_dir = resolve(self.raw_dir);
        self.expectations_dir = resolve(self.expectations_dir);
        self
    }

    /// The pseudonym key from the environment. There is no default: without a key every run
    /// would pseudonymise differently (or, with a fixed one, guessably), so ingestion refuses to
    /// start. The key is never logged ([`Secret`]).
    pub fn pseudonym_key(&self, vars: &HashMap<String, String>) -> Result<Secret, String> {
        match vars.get(&self.pseudonym_key_env) {
            Some(k) if k.len() >= 16 => Ok(Secret::new(k.clone())),
            Some(_) => Err(format!(
                "{} must hold at least 16 characters (a random key: `openssl rand -hex 32`)",
                self.pseudonym_key_env
            )),
            None => Err(format!(
                "{} is not set: ingestion needs the pseudonym key (see docs/ml.md, \"Pseudonyms\")",
                self.pseudonym_key_env
            )),
        }
    }

    /// The dead-letter stream's name.
    pub fn dead_stream(&self) -> String {
        format!("{}:dead", self.stream)
    }
}

/// `[ingest]` exactly as written; every key is optional.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct RawIngestConfig {
    stream: String,
    group: String,
    consumer: Option<String>,
    batch_size: usize,
    row_group_size: usize,
    raw_dir: PathBuf,
    claim_timeout_ms: u64,
    block_ms: u64,
    dead_letter_maxlen: usize,
    pseudonym_key_env: String,
    expectations_dir: PathBuf,
}

impl Default for RawIngestConfig {
    fn default() -> Self {
        RawIngestConfig {
            stream: "powerbirth:events".into(),
            group: "ingest".into(),
            consumer: None,
            batch_size: 5_000,
            row_group_size: 50_000,
            raw_dir: "data/raw".into(),
            claim_timeout_ms: 60_000,
            block_ms: 1_000,
            dead_letter_maxlen: 100_000,
            pseudonym_key_env: "POWERBIRTH_PSEUDONYM_KEY".into(),
            expectations_dir: "data/expectations".into(),
        }
    }
}

impl RawIngestConfig {
    /// Checks every key; errors name it.
    pub fn validate(self) -> Result<IngestConfig, String> {
        if self.stream.trim().is_empty() || self.group.trim().is_empty() {
            return Err("[ingest] stream and group must not be empty".into());
        }
        if !(1..=1_000_000).contains(&self.batch_size) {
            return Err("[ingest] batch_size must be between 1 and 1000000".into());
        }
        if self.row_group_size == 0 {
            return Err("[ingest] row_group_size must be positive".into());
        }
        if self.claim_timeout_ms == 0 || self.block_ms == 0 {
            return Err("[ingest] claim_timeout_ms and block_ms must be positive".into());
        }
        let consumer = match self.consumer {
            Some(c) if c.trim().is_empty() => {
                return Err("[ingest] consumer must not be empty".into());
            }
            Some(c) => c,
            None => default_consumer(),
        };
        Ok(IngestConfig {
            stream: self.stream,
            group: self.group,
            consumer,
            batch_size: self.batch_size,
            row_group_size: self.row_group_size,
            raw_dir: self.raw_dir,
            claim_timeout: Duration::from_millis(self.claim_timeout_ms),
            block: Duration::from_millis(self.block_ms),
            dead_letter_maxlen: self.dead_letter_maxlen.max(1),
            pseudonym_key_env: self.pseudonym_key_env,
            expectations_dir: self.expectations_dir,
        })
    }
}

/// `<host>-<pid>`: unique per running process, so two replicas never share pending entries.
fn default_consumer() -> String {
    let host = std::fs::read_to_string("/etc/hostname")
        .ok()
        .map(|h| h.trim().to_string())
        .filter(|h| !h.is_empty())
        .unwrap_or_else(|| "ingest".into());
    format!("{host}-{}", std::process::id())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_defaults_are_the_documented_ones() {
        let c = IngestConfig::default();
        assert_eq!(c.stream, "powerbirth:events");
        assert_eq!(c.group, "ingest");
        assert_eq!(c.dead_stream(), "powerbirth:events:dead");
        assert_eq!(c.raw_dir, PathBuf::from("data/raw"));
    }

    #[test]
    fn ingestion_refuses_to_run_without_a_real_key() {
        let c = IngestConfig::default();
        let mut vars = HashMap::new();
        assert!(c.pseudonym_key(&vars).unwrap_err().contains("not set"));
        vars.insert("POWERBIRTH_PSEUDONYM_KEY".into(), "short".into());
        assert!(c.pseudonym_key(&vars).unwrap_err().contains("16"));
        vars.insert("POWERBIRTH_PSEUDONYM_KEY".into(), "0123456789abcdef".into());
        assert!(c.pseudonym_key(&vars).is_ok());
    }

    #[test]
    fn a_zero_batch_is_refused_by_name() {
        let raw: RawIngestConfig = toml::from_str("batch_size = 0").unwrap();
        assert!(raw.validate().unwrap_err().contains("batch_size"));
    }
}
