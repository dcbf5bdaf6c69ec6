//! `powerbirth features load FILE` (JSON Lines or CSV, checked whole before anything is written,
//! idempotent) and `powerbirth features sync` (rebuild the Redis online copy from the database).

use std::path::PathBuf;

use anyhow::Context;
use clap::Subcommand;

use crate::config::Config;
use crate::features::{FeatureMetrics, FeatureStore, PutSummary};
use crate::store::Store;

#[derive(Debug, Subcommand)]
pub enum FeaturesCommand {
    /// Load feature rows from a .jsonl/.ndjson or .csv file (patient_id, group, values); every
    /// line is checked first (problems name file:line), then written in batches. Loading the
    /// same file again changes nothing.
    Load {
        file: PathBuf,
        /// Rows per database transaction and Redis round trip.
        #[arg(long, default_value_t = 500, value_parser = clap::value_parser!(u32).range(1..))]
        batch: u32,
    },
    /// Rebuild the Redis online copy from the database (after a Redis outage, a flush or a
    /// schema_version change), in pipelined batches; prints the counts.
    Sync {
        /// Rows per Redis round trip.
        #[arg(long, default_value_t = 500, value_parser = clap::value_parser!(u32).range(1..))]
        batch: u32,
    },
}

/// Runs a `features` subcommand.
pub async fn run(config: &Config, action: FeaturesCommand) -> anyhow::Result<()> {
    let db = Store::connect(&config.database.url, 2)
        .await
        .context("opening the database")?;
    let redis = match &config.redis {
        Some(r) => Some(crate::features::connect_redis(&r.url).await?),
        None => None,
    };
    let store = FeatureStore::with_metrics(
        db.clone(),
        redis,
        config.features.clone(),
        FeatureMetrics::default(),
    );
    let result = match action {
        FeaturesCommand::Load { file, batch } => load(&store, &file, batch as usize).await,
        FeaturesCommand::Sync { batch } => sync(&store, batch).await,
    };
    db.close().await;
    result
}

async fn load(store: &FeatureStore, file: &std::path::Path, batch: usize) -> anyhow::Result<()> {
    let writes = match crate::features::load::read(file) {
        Ok(w) => w,
        Err(problems) => {
            for p in &problems {
                eprintln!("{p}");
            }
            anyhow::bail!(
                "{}: {} problem(s) (at most 20 shown); nothing was loaded",
                file.display(),
                problems.len()
            );
        }
    };
    let mut total = PutSummary::default();
    for chunk in writes.chunks(batch) {
        let done = store
            .put_many(chunk)
            .await
            .with_context(|| format!("writing {}", file.display()))?;
        total.applied += done.applied;
        total.kept += done.kept;
    }
    println!(
        "{}: {} rows, {} written, {} kept (the stored row was newer or identical)",
        file.display(),
        writes.len(),
        total.applied,
        total.kept
    );
    let redis_errors = store.metrics().redis_errors.get();
    if redis_errors > 0 {
        eprintln!(
            "warning: Redis failed {redis_errors} time(s); the database has every row. Run `powerbirth features sync` when Redis is back."
        );
    } else if !store.has_online() {
        println!("(no [redis] url configured: database only)");
    }
    Ok(())
}

async fn sync(store: &FeatureStore, batch: u32) -> anyhow::Result<()> {
    let report = store.sync(batch).await?;
    let (mut rows, mut written) = (0, 0);
    for (group, counts) in &report {
        println!(
            "{}: {} rows, {} hashes written ({} already current)",
            group.as_str(),
            counts.rows,
            counts.written,
            counts.rows - counts.written
        );
        rows += counts.rows;
        written += counts.written;
    }
    println!("synced {rows} rows to Redis, {written} written");
    Ok(())
}
