//! Persistence: one sqlx pool over SQLite (the embedded default) or PostgreSQL (shared by
//! replicas), chosen by URL, with the migrations of that backend applied at start-up. Query text
//! is written once with `$N` placeholders, which both backends accept through sqlx's `Any` driver.
//!
//! Every SQL query of the gateway lives here, one repository module per resource ([`messages`],
//! [`keys`], [`ledger`], [`eval_runs`], [`features`]); domain modules call them and never name sqlx. The store
//! imports only `core`.

pub mod canary;
pub mod config;
pub mod eval_runs;
pub mod features;
pub mod keys;
pub mod ledger;
pub mod materializations;
pub mod messages;
pub mod predictions;
pub mod recommendations;
pub mod reviews;
pub mod spool;
pub mod users;
pub mod writer;

use std::str::FromStr;

use anyhow::Context;
use sqlx::any::{AnyConnectOptions, AnyPoolOptions};
use sqlx::{AnyPool, ConnectOptions};

pub use config::{DatabaseConfig, WriterConfig};

/// A failed query. Domain code names this type, never sqlx's.
pub type DbError = sqlx::Error;

/// Which database engine a [`Store`] talks to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Postgres,
}

/// The connection pool and what it is connected to. Cheap to clone.
#[derive(Clone, Debug)]
pub struct Store {
    pool: AnyPool,
    backend: Backend,
    /// The URL without its password: names the database (the spool files are tagged with it).
    label: std::sync::Arc<str>,
}

static SQLITE_MIGRATIONS: sqlx::migrate::Migrator = sqlx::migrate!("migrations/sqlite");
static POSTGRES_MIGRATIONS: sqlx::migrate::Migrator = sqlx::migrate!("migrations/postgres");

impl Store {
    /// Connects to `url` (creating a SQLite file when missing) and applies pending migrations.
    pub async fn connect(url: &str, max_connections: u32) -> anyhow::Result<Store> {
        sqlx::any::install_default_drivers();
        let (backend, url) = if url.starts_with("sqlite:") {
            (Backend::Sqlite, sqlite_url(url))
        } else {
            (Backend::Postgres, url.to_string())
        };
        let options = AnyConnectOptions::from_str(&url)
            .with_context(|| format!("invalid database url {}", redact_url(&url)))?
            .disable_statement_logging();
        let pool = AnyPoolOptions::new()
            .max_connections(max_connections)
            .acquire_timeout(std::time::Duration::from_secs(10))
            .after_connect(move |conn, _| {
                Box::pin(async move {
                    if backend == Backend::Sqlite {
                        // WAL lets readers (key lookups) proceed while the writer commits; a busy
                        // timeout makes CLI writes wait for the server instead of failing.
                        sqlx::query("PRAGMA journal_mode = WAL")
                            .execute(&mut *conn)
                            .await?;
                        sqlx::query("PRAGMA busy_timeout = 5000")
                            .execute(&mut *conn)
                            .await?;
                        // FULL: a commit is on disk when it returns. The writer empties its spool
                        // once a batch is committed, so a commit that a power cut could undo
                        // (NORMAL, in WAL mode) would lose exchanges the spool no longer holds.
                        sqlx::query("PRAGMA synchronous = FULL")
                            .execute(&mut *conn)
                            .await?;
                    }
                    Ok(())
                })
            })
            .connect_with(options)
            .await
            .with_context(|| format!("cannot connect to {}", redact_url(&url)))?;
        let migrator = match backend {
            Backend::Sqlite => &SQLITE_MIGRATIONS,
            Backend::Postgres => &POSTGRES_MIGRATIONS,
        };
        migrator
            .run(&pool)
            .await
            .context("applying database migrations")?;
        Ok(Store {
            pool,
            backend,
            label: redact_url(&url).into(),
        })
    }

    /// The pool, for repositories in this module and for tests.
    pub fn pool(&self) -> &AnyPool {
        &self.pool
    }

    /// The database's URL without its password.
    pub fn label(&self) -> &str {
        &self.label
    }

    /// The engine behind the pool.
    pub fn backend(&self) -> Backend {
        self.backend
    }

    /// A trivial round trip, for `/readyz`.
    pub async fn ping(&self) -> Result<(), DbError> {
        sqlx::query("SELECT 1")
            .execute(&self.pool)
            .await
            .map(|_| ())
    }

    /// Closes every connection (after the writer has drained).
    pub async fn close(&self) {
        self.pool.close().await;
    }
}

/// `sqlite://file.db` means "create it if missing", as a newcomer expects of `make run`.
fn sqlite_url(url: &str) -> String {
    if url.contains("mode=") || url.contains(":memory:") {
        url.to_string()
    } else if url.contains('?') {
        format!("{url}&mode=rwc")
    } else {
        format!("{url}?mode=rwc")
    }
}

/// The URL without its password, for error messages.
pub fn redact_url(url: &str) -> String {
    match (url.find("://"), url.rfind('@')) {
        (Some(s), Some(at)) if at > s => {
            let creds = &url[s + 3..at];
            match creds.find(':') {
                Some(c) => format!("{}{}:***{}", &url[..s + 3], &creds[..c], &url[at..]),
                None => url.to_string(),
            }
        }
        _ => url.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn passwords_in_database_urls_are_hidden() {
        assert_eq!(
            redact_url("postgres://app:s3cret@db:5432/x"),
            "postgres://app:***@db:5432/x"
        );
        assert_eq!(
            redact_url("postgres://postgres@127.0.0.1/test"),
            "postgres://postgres@127.0.0.1/test"
        );
        assert_eq!(
            redact_url("sqlite://powerbirth.db"),
            "sqlite://powerbirth.db"
        );
    }

    #[test]
    fn a_sqlite_url_creates_its_file_unless_told_otherwise() {
        assert_eq!(sqlite_url("sqlite://a.db"), "sqlite://a.db?mode=rwc");
        assert_eq!(sqlite_url("sqlite://a.db?mode=ro"), "sqlite://a.db?mode=ro");
    }
}
