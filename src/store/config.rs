//! The `[database]` and `[writer]` configuration sections: read raw (`deny_unknown_fields`), then
//! validated into [`DatabaseConfig`] and [`WriterConfig`]. Hooked into the file by `src/config`.

use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::Deserialize;

/// Where the database is and how many connections the pool may open.
#[derive(Debug, Clone)]
pub struct DatabaseConfig {
    pub url: String,
    pub max_connections: u32,
}

/// The log writer: where its spool lives, how often it is fsynced, how many exchanges go to the
/// database per transaction.
#[derive(Debug, Clone)]
pub struct WriterConfig {
    pub spool_dir: PathBuf,
    pub batch: usize,
    /// The fsync batch window: a SIGKILL loses at most this much traffic.
    pub fsync: Duration,
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
    spool_dir: Option<PathBuf>,
    batch: usize,
    flush_ms: u64,
}

impl Default for RawWriterConfig {
    fn default() -> Self {
        RawWriterConfig {
            spool_dir: None,
            batch: 512,
            flush_ms: 20,
        }
    }
}

/// The longest fsync window allowed: what a SIGKILL may lose is documented as ≤ 50 ms.
const MAX_FLUSH_MS: u64 = 50;

impl RawWriterConfig {
    /// Validates the section; errors name the key, to be prefixed with the file by the caller.
    /// Without `spool_dir` the spool goes next to a SQLite file (`<dir>/spool`), else to
    /// `data/spool`; `resolve` turns a path as written into the one to open.
    pub fn validate(
        self,
        database: &DatabaseConfig,
        resolve: &dyn Fn(PathBuf) -> PathBuf,
    ) -> Result<WriterConfig, String> {
        if self.batch == 0 {
            return Err("[writer] batch must be positive".into());
        }
        if self.flush_ms == 0 || self.flush_ms > MAX_FLUSH_MS {
            return Err(format!(
                "[writer] flush_ms must be between 1 and {MAX_FLUSH_MS}, got {}",
                self.flush_ms
            ));
        }
        let spool_dir = match self.spool_dir {
            Some(dir) => resolve(dir),
            None => default_spool_dir(&database.url),
        };
        Ok(WriterConfig {
            spool_dir,
            batch: self.batch,
            fsync: Duration::from_millis(self.flush_ms),
        })
    }
}

/// `<directory of the SQLite file>/spool`, or `data/spool` (PostgreSQL, in-memory SQLite).
fn default_spool_dir(url: &str) -> PathBuf {
    let file = url
        .strip_prefix("sqlite://")
        .or_else(|| url.strip_prefix("sqlite:"))
        .map(|rest| rest.split('?').next().unwrap_or(rest))
        .filter(|f| !f.is_empty() && !f.contains(":memory:"));
    match file.map(Path::new).and_then(Path::parent) {
        Some(parent) => parent.join("spool"),
        None => PathBuf::from("data/spool"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_spool_sits_next_to_a_sqlite_file_by_default() {
        assert_eq!(
            default_spool_dir("sqlite:///var/lib/pb/gw.db?mode=rwc"),
            PathBuf::from("/var/lib/pb/spool")
        );
        assert_eq!(
            default_spool_dir("sqlite://powerbirth.db"),
            PathBuf::from("spool")
        );
        assert_eq!(
            default_spool_dir("sqlite::memory:"),
            PathBuf::from("data/spool")
        );
        assert_eq!(
            default_spool_dir("postgres://db/x"),
            PathBuf::from("data/spool")
        );
    }
}
