//! The two database backends a test runs on: a fresh SQLite file, or a fresh, migrated
//! PostgreSQL database copied from a template and dropped in the background when the test is
//! done, and `on_both_backends!`, the one macro that runs a scenario on each.

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
    /// The drop runs on a thread of its own and the test does not wait for it: PostgreSQL
    /// checkpoints on every `DROP DATABASE` (1–2 s here), which nothing in the test needs. A drop
    /// cut short by the end of the test process leaves a database that the next run's
    /// [`sweep_stale_databases`] removes (its name carries its creation time).
    fn drop(&mut self) {
        let (base, name) = (self.base.clone(), self.name.clone());
        std::thread::spawn(move || {
            let dropped = on_own_runtime({
                let name = name.clone();
                async move { drop_database(&base, &name).await }
            });
            if let Err(e) = dropped.and_then(|r| r) {
                eprintln!("could not drop the test database {name}: {e}");
            }
        });
    }
}

/// Runs `work` to completion on a current-thread runtime of its own (callers are often inside a
/// test's runtime, where blocking on it would stall that runtime).
fn on_own_runtime<F>(work: F) -> Result<F::Output, String>
where
    F: Future + Send + 'static,
    F::Output: Send + 'static,
{
    std::thread::spawn(move || {
        tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .map(|rt| rt.block_on(work))
            .map_err(|e| e.to_string())
    })
    .join()
    .map_err(|_| "panicked".to_string())?
}

async fn drop_database(base: &str, name: &str) -> Result<(), String> {
    let mut conn = sqlx::PgConnection::connect(base)
        .await
        .map_err(|e| e.to_string())?;
    sqlx::query(&format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"))
        .execute(&mut conn)
        .await
        .map_err(|e| e.to_string())?;
    conn.close().await.map_err(|e| e.to_string())
}

/// The URL of database `name` on the server at `base`.
fn database_url(base: &str, name: &str) -> String {
    match base.rfind('/') {
        Some(i) if base[..i].contains("://") && i > base.find("://").unwrap() + 2 => {
            format!("{}/{name}", &base[..i])
        }
        _ => format!("{base}/{name}"),
    }
}

/// A fresh PostgreSQL database with every migration applied, so tests never see each other's
/// rows; it is dropped with the returned guard. It is a copy of a template database migrated
/// once per set of migrations (`pb_tpl_<hash of migrations/postgres>`): `CREATE DATABASE …
/// TEMPLATE` copies the schema in a fraction of the time running the migrations takes, and the
/// gateway then finds nothing left to apply, exactly as on a database it migrated itself.
pub async fn fresh_pg_database(base: &str) -> PgDatabase {
    let template = template_database(base);
    let name = format!(
        "pb_test_{}_{}",
        now_s(),
        &uuid::Uuid::new_v4().simple().to_string()[..12]
    );
    let mut conn = sqlx::PgConnection::connect(base).await.unwrap();
    sqlx::query(&format!("CREATE DATABASE {name} TEMPLATE {template}"))
        .execute(&mut conn)
        .await
        .unwrap();
    conn.close().await.unwrap();
    PgDatabase {
        url: database_url(base, &name),
        base: base.to_string(),
        name,
    }
}

fn now_s() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

/// The migrated template for this checkout's migrations, made once per test process (and kept
/// between runs: its name changes when a migration does). Built under a temporary name and
/// renamed when complete, so a concurrent run never copies a half-migrated template.
fn template_database(base: &str) -> String {
    static TEMPLATE: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    TEMPLATE
        .get_or_init(|| {
            let base = base.to_string();
            on_own_runtime(async move { build_template(&base).await })
                .and_then(|r| r)
                .unwrap_or_else(|e| panic!("cannot prepare the PostgreSQL template: {e}"))
        })
        .clone()
}

async fn build_template(base: &str) -> Result<String, String> {
    use sha2::{Digest, Sha256};
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("migrations/postgres");
    let mut files: Vec<_> = std::fs::read_dir(&dir)
        .map_err(|e| e.to_string())?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .collect();
    files.sort();
    let mut hash = Sha256::new();
    for f in &files {
        hash.update(f.file_name().unwrap().as_encoded_bytes());
        hash.update(std::fs::read(f).map_err(|e| e.to_string())?);
    }
    let name = format!("pb_tpl_{}", &hex::encode(hash.finalize())[..16]);
    let mut conn = sqlx::PgConnection::connect(base)
        .await
        .map_err(|e| e.to_string())?;
    sweep_stale_databases(&mut conn).await;
    let exists: Option<i32> = sqlx::query_scalar("SELECT 1 FROM pg_database WHERE datname = $1")
        .bind(&name)
        .fetch_optional(&mut conn)
        .await
        .map_err(|e| e.to_string())?;
    if exists.is_none() {
        let building = format!("{name}_{}", &uuid::Uuid::new_v4().simple().to_string()[..8]);
        sqlx::query(&format!("CREATE DATABASE {building}"))
            .execute(&mut conn)
            .await
            .map_err(|e| e.to_string())?;
        let store = powerbirth::store::Store::connect(&database_url(base, &building), 1)
            .await
            .map_err(|e| format!("{e:#}"))?;
        store.close().await;
        let renamed = sqlx::query(&format!("ALTER DATABASE {building} RENAME TO {name}"))
            .execute(&mut conn)
            .await;
        if renamed.is_err() {
            // Another run finished the same template first: use theirs.
            let _ = drop_database(base, &building).await;
        }
    }
    conn.close().await.map_err(|e| e.to_string())?;
    Ok(name)
}

/// Drops the test databases of earlier runs (older than two hours) whose drop was cut short
/// when their test process ended.
async fn sweep_stale_databases(conn: &mut sqlx::PgConnection) {
    let names: Vec<String> =
        sqlx::query_scalar("SELECT datname FROM pg_database WHERE datname LIKE 'pb\\_test\\_%'")
            .fetch_all(&mut *conn)
            .await
            .unwrap_or_default();
    let cutoff = now_s().saturating_sub(2 * 3600);
    for name in names {
        let created = name
            .strip_prefix("pb_test_")
            .and_then(|rest| rest.split('_').next())
            .and_then(|t| t.parse::<u64>().ok());
        if created.is_some_and(|t| t < cutoff) {
            let _ = sqlx::query(&format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"))
                .execute(&mut *conn)
                .await;
        }
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
