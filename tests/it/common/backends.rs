//! The two database backends a test runs on: a fresh SQLite file, or a fresh PostgreSQL database
//! that is dropped when the test is done (no `pb_test_*` database outlives its test), and
//! `on_both_backends!`, the one macro that runs a scenario on each.

use std::future::Future;

use sqlx::Connection;

/// Where a test's gateway keeps its data. Set for a scenario by [`on_both_backends!`] and read by
/// `spawn_app_with` when the test names no database of its own.
#[derive(Debug, Clone)]
pub enum Backend {
    Sqlite,
    /// A server to create fresh databases on (`POWERBIRTH_TEST_PG_URL`).
    Postgres {
        base: String,
    },
}

tokio::task_local! {
    static BACKEND: Backend;
}

impl Backend {
    /// The backend the running scenario was given; SQLite for a test outside `on_both_backends!`.
    pub fn current() -> Backend {
        BACKEND.try_with(Backend::clone).unwrap_or(Backend::Sqlite)
    }

    /// Runs `scenario` with `self` as [`Backend::current`].
    pub async fn run<F: Future>(self, scenario: F) -> F::Output {
        BACKEND.scope(self, scenario).await
    }
}

/// A fresh PostgreSQL database, dropped (with `FORCE`, closing the connections a test's app
/// still holds) when this guard is dropped.
pub struct PgDatabase {
    pub url: String,
    base: String,
    name: String,
}

impl Drop for PgDatabase {
    fn drop(&mut self) {
        let (base, name) = (self.base.clone(), self.name.clone());
        // Dropped inside a test's runtime, where blocking on it would stall that runtime: a plain
        // thread with a runtime of its own drops the database.
        let dropped = std::thread::spawn(move || -> Result<(), String> {
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .map_err(|e| e.to_string())?;
            runtime
                .block_on(async {
                    let mut conn = sqlx::PgConnection::connect(&base).await?;
                    sqlx::query(&format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"))
                        .execute(&mut conn)
                        .await?;
                    conn.close().await
                })
                .map_err(|e| e.to_string())
        })
        .join();
        if let Ok(Err(e)) | Err(e) = dropped.map_err(|_| "panicked".to_string()) {
            eprintln!("could not drop the test database {}: {e}", self.name);
        }
    }
}

/// A fresh, empty PostgreSQL database on the server at `base`, so tests never see each other's
/// rows; it is dropped with the returned guard.
pub async fn fresh_pg_database(base: &str) -> PgDatabase {
    let name = format!("pb_test_{}", uuid::Uuid::new_v4().simple());
    let mut conn = sqlx::PgConnection::connect(base).await.unwrap();
    sqlx::query(&format!("CREATE DATABASE {name}"))
        .execute(&mut conn)
        .await
        .unwrap();
    conn.close().await.unwrap();
    let url = match base.rfind('/') {
        Some(i) if base[..i].contains("://") && i > base.find("://").unwrap() + 2 => {
            format!("{}/{name}", &base[..i])
        }
        _ => format!("{base}/{name}"),
    };
    PgDatabase {
        url,
        base: base.to_string(),
        name,
    }
}

/// Runs a scenario on SQLite and on PostgreSQL, as two tests `<scenario>::on_sqlite` and
/// `<scenario>::on_postgres` (the latter skips outside CI without `POWERBIRTH_TEST_PG_URL`).
/// - `on_both_backends!(scenario)`: `async fn scenario()` spawns its app as usual; the app lands
///   on the scenario's backend ([`Backend::current`]).
/// - `on_both_backends!(store: scenario)`: `async fn scenario(store: &Store)` gets a fresh store.
macro_rules! on_both_backends {
    ($scenario:ident) => {
        mod $scenario {
            #[tokio::test]
            async fn on_sqlite() {
                crate::common::Backend::Sqlite.run(super::$scenario()).await;
            }

            #[tokio::test]
            async fn on_postgres() {
                let Some(base) = crate::common::pg_url() else {
                    return;
                };
                crate::common::Backend::Postgres { base }
                    .run(super::$scenario())
                    .await;
            }
        }
    };
    (store: $scenario:ident) => {
        mod $scenario {
            #[tokio::test]
            async fn on_sqlite() {
                let dir = tempfile::tempdir().unwrap();
                let (store, _) = crate::common::review_seed::sqlite_store(&dir).await;
                super::$scenario(&store).await;
            }

            #[tokio::test]
            async fn on_postgres() {
                let Some((store, _db)) = crate::common::review_seed::postgres_store().await else {
                    return;
                };
                super::$scenario(&store).await;
            }
        }
    };
}
pub(crate) use on_both_backends;
