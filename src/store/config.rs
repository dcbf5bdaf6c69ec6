//! The `[database]` and `[writer]` configuration sections: read raw (`deny_unknown_fields`), then
//! validated into [`DatabaseConfig`] and [`WriterConfig`]. Hooked into the file by `src/config`.

use std::time::Duration;

use serde::Deserialize;

/// Where the database is and how many connections the pool may open.
#[derive(Debug, Clone)]
pub struct DatabaseConfig {
    pub url: String,
    pub max_connections: u32,
}

/// The log writer's bounded queue and batches.
#[derive(Debug, Clone)]
pub struct WriterConfig {
    pub queue: usize,
    pub batch: usize,
    pub flush: Duration,
}

/// `[database]` exactly as written; every key is optional.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct RawDatabaseConfig {
    url: String,
    max_connections: u32,
}

impl Default for RawDatabaseConfig {
    fn default() -> Self {
        RawDatabaseConfig {
            url: "sqlite://powerbirth.db".into(),
            max_connections: 8,
        }
    }
}

impl RawDatabaseConfig {
    /// Validates the section; errors name the key, to be prefixed with the file by the caller.
    pub fn validate(self) -> Result<DatabaseConfig, String> {
        let url = self.url.trim().to_string();
        if !(url.starts_with("sqlite:")
            || url.starts_with("postgres://")
            || url.starts_with("postgresql://"))
        {
            return Err(format!(
                "[database] url must start with sqlite:, postgres:// or postgresql://, got {url:?}"
            ));
        }
        Ok(DatabaseConfig {
            url,
            max_connections: self.max_connections.max(1),
        })
    }
}

/// `[writer]` exactly as written; every key is optional.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct RawWriterConfig {
    queue: usize,
    batch: usize,
    flush_ms: u64,
}

impl Default for RawWriterConfig {
    fn default() -> Self {
        RawWriterConfig {
            queue: 16_384,
            batch: 512,
            flush_ms: 20,
        }
    }
}

impl RawWriterConfig {
    /// Validates the section; errors name the key, to be prefixed with the file by the caller.
    pub fn validate(self) -> Result<WriterConfig, String> {
        if self.queue == 0 || self.batch == 0 {
            return Err("[writer] queue and batch must be positive".into());
        }
        Ok(WriterConfig {
            queue: self.queue,
            batch: self.batch,
            flush: Duration::from_millis(self.flush_ms.max(1)),
        })
    }
}
