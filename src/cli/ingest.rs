//! `powerbirth ingest [--once] [--metrics-file FILE]`: the Redis Stream → Parquet consumer with
//! the `[ingest]` and `[redis]` sections of the configuration; the pseudonym key comes from the
//! environment variable `[ingest] pseudonym_key_env` names. Also `data anonymize` (back-fills).

use std::collections::HashMap;
use std::path::PathBuf;
use std::time::Instant;

use anyhow::Context;
use clap::Args;

use crate::config::Config;
use crate::ingest::{self, Anonymizer, IngestMetrics, RedisSource, RunOptions, Sink};

#[derive(Debug, Args)]
pub struct IngestArgs {
    /// Drain what is in the stream (own pending, claimable, new entries) and exit.
    #[arg(long)]
    pub once: bool,
    /// Write the Prometheus text format here after each batch (node_exporter's textfile
    /// collector) and at exit.
    #[arg(long, value_name = "FILE")]
    pub metrics_file: Option<PathBuf>,
    /// Test hook: exit (code 3) after a batch is written, before it is acknowledged.
    #[arg(long, hide = true)]
    pub exit_before_ack: bool,
}

/// Runs the consumer until drained (`--once`) or SIGTERM.
pub async fn run(config: &Config, args: IngestArgs) -> anyhow::Result<()> {
    let vars: HashMap<String, String> = std::env::vars().collect();
    let settings = &config.ingest;
    let key = settings.pseudonym_key(&vars).map_err(anyhow::Error::msg)?;
    let redis = config
        .redis
        .as_ref()
        .context("ingestion reads a Redis Stream: set [redis] url")?;
    let anonymizer = Anonymizer::new(key);
    let sink = Sink::new(
        settings.raw_dir.clone(),
        settings.stream.clone(),
        settings.row_group_size,
        anonymizer.key_id().to_string(),
    );
    let mut source = RedisSource::connect(&redis.url, settings)
        .await
        .with_context(|| format!("connecting to the stream {}", settings.stream))?;
    let metrics = IngestMetrics::default();
    let options = RunOptions {
        once: args.once,
        exit_before_ack: args.exit_before_ack,
    };
    let started = Instant::now();
    let mut last_write: Option<Instant> = None;
    let metrics_file = args.metrics_file.clone();
    let summary = ingest::run(
        &mut source,
        &anonymizer,
        &sink,
        settings.batch_size,
        &metrics,
        options,
        crate::app::shutdown_signal(),
        |_| {
            if let Some(path) = &metrics_file
                && last_write.is_none_or(|t| t.elapsed().as_secs() >= 1)
            {
                last_write = Some(Instant::now());
                if let Err(e) = write_metrics(path, &metrics.render()) {
                    tracing::warn!("metrics file {}: {e}", path.display());
                }
            }
        },
    )
    .await?;
    if let Some(path) = &args.metrics_file {
        write_metrics(path, &metrics.render())?;
    }
    let secs = started.elapsed().as_secs_f64();
    println!(
        "ingested {} events in {} files ({} batches, {} already written, {} dead letters) in {secs:.2} s",
        summary.rows, summary.files, summary.batches, summary.duplicates, summary.dead_letters
    );
    Ok(())
}

/// Writes the metrics file atomically (temp file and rename), as the textfile collector wants.
fn write_metrics(path: &std::path::Path, text: &str) -> anyhow::Result<()> {
    let tmp = path.with_extension("prom.tmp");
    std::fs::write(&tmp, text).with_context(|| format!("writing {}", tmp.display()))?;
    std::fs::rename(&tmp, path).with_context(|| format!("writing {}", path.display()))?;
    Ok(())
}

/// `data anonymize IN OUT`: reads with `ml::data` (the reader `data check` uses), applies
/// `ingest::backfill`, writes CSV or Parquet.
pub fn anonymize(
    input: &std::path::Path,
    output: &std::path::Path,
    key_env: &str,
) -> anyhow::Result<()> {
    use crate::ingest::backfill::{self, Cells, Column};
    use crate::ml::data::{Values, read_table};
    let key = std::env::var(key_env)
        .ok()
        .filter(|k| k.len() >= 16)
        .with_context(|| {
            format!("{key_env} must hold the pseudonym key (at least 16 characters)")
        })?;
    let anonymizer = Anonymizer::new(crate::core::Secret::new(key));
    let table = read_table(input)?;
    let columns = table
        .columns
        .into_iter()
        .map(|c| Column {
            name: c.name,
            cells: match c.values {
                Values::Number(v) => Cells::Number(v),
                Values::Text(v) => Cells::Text(v),
            },
        })
        .collect();
    let (columns, report) =
        backfill::anonymize_columns(columns, table.rows, &anonymizer, crate::core::now_ms());
    backfill::write_table(output, &columns, table.rows, anonymizer.key_id())?;
    println!(
        "anonymised {} rows into {}: dropped {:?}, pseudonymised {:?}, redacted {:?}{}",
        table.rows,
        output.display(),
        report.dropped,
        report.pseudonymised,
        report.redacted,
        report
            .aged
            .map_or(String::new(), |c| format!(", {c} → age_years"))
    );
    Ok(())
}
