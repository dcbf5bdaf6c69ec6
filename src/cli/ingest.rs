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
        batch_size: settings.batch_size,
        once: args.once,
        exit_before_ack: args.exit_before_ack,
    };
    let started = Instant::now();
    let mut last_write: Option<Instant> = None;
    let metrics_file = args.metrics_file.clone();
    // Draining has an end a person waits for; the long-running consumer logs instead.
    let progress = if args.once {
        crate::core::Progress::start("ingest", "events", None)
    } else {
        crate::core::Progress::hidden()
    };
    let summary = ingest::run(
        &mut source,
        &anonymizer,
        &sink,
        &metrics,
        options,
        crate::app::shutdown_signal(),
        |total| {
            progress.set_phase(format!("{} batches, {} files", total.batches, total.files));
            progress.set_done(total.rows as u64);
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
    .await;
    progress.finish();
    let summary = summary?;
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

/// The job name materialisation remembers its last day under.
const MATERIALIZE_JOB: &str = "features";

/// `features materialize`: day by day, `data check` on the measurement partition, then the risk
/// and engagement rows into the store, then the day remembered. A failing `error` expectation
/// stops at that day (earlier days stay materialised) and says why.
pub async fn materialize(
    config: &Config,
    db: &crate::store::Store,
    store: &crate::features::FeatureStore,
    from: Option<String>,
    to: &str,
) -> anyhow::Result<()> {
    use crate::core::calendar::{date_of_day, day_of, parse_instant};
    use crate::store::materializations;
    let day = |d: &str| -> anyhow::Result<i64> {
        parse_instant(d)
            .ok()
            .filter(|_| d.len() == 10)
            .map(day_of)
            .with_context(|| format!("{d:?} is not a date (YYYY-MM-DD)"))
    };
    let first = match from {
        Some(f) => day(&f)?,
        None => match materializations::last_date(db, MATERIALIZE_JOB).await? {
            Some(last) => day(&last)? + 1,
            None => anyhow::bail!("nothing materialised yet: give --from"),
        },
    };
    let last = day(to)?;
    let topics = catalogue_topics(&config.recommend.content_dir);
    if first > last {
        println!(
            "nothing to materialise: already up to {}",
            date_of_day(first - 1)
        );
        return Ok(());
    }
    let raw = &config.ingest.raw_dir;
    let suite_path = config.ingest.expectations_dir.join("measurement.yaml");
    let suite = crate::ml::data::Suite::load(&suite_path)?;
    for d in first..=last {
        let date = date_of_day(d);
        check_partition(raw, &date, &suite)?;
        let (risk, engagement) = materialize_day(raw, &date, store, &topics).await?;
        materializations::set_last_date(db, MATERIALIZE_JOB, &date, crate::core::now_ms()).await?;
        println!("{date}: {risk} risk rows, {engagement} engagement rows");
    }
    Ok(())
}

/// Runs the measurement suite on every file of the day's partition.
fn check_partition(
    raw: &std::path::Path,
    date: &str,
    suite: &crate::ml::data::Suite,
) -> anyhow::Result<()> {
    use crate::ingest::event::EventKind;
    let dir = crate::ingest::materialize::partition(raw, EventKind::Measurement, date);
    for file in crate::ingest::sink::parquet_files(&dir)? {
        let table = crate::ml::data::read_table(&file)?;
        let sha = crate::ml::data::sha256_file(&file)?;
        let report = crate::ml::data::run_suite(suite, &table, &file.display().to_string(), &sha);
        if !report.success {
            print!("{}", crate::ml::data::check::render_table(&report));
            let failed: Vec<String> = report
                .expectations
                .iter()
                .filter(|e| !e.success && e.severity == crate::ml::data::Severity::Error)
                .map(|e| match &e.column {
                    Some(c) => format!("{} on {c}: {}", e.expectation_type, e.summary),
                    None => format!("{}: {}", e.expectation_type, e.summary),
                })
                .collect();
            anyhow::bail!(
                "measurement/date={date} fails its checks ({}): {}; materialisation stopped before this day",
                file.display(),
                failed.join("; ")
            );
        }
    }
    Ok(())
}

/// One day's features into the store; returns the rows written per group.
async fn materialize_day(
    raw: &std::path::Path,
    date: &str,
    store: &crate::features::FeatureStore,
    topics: &crate::ingest::materialize::Topics,
) -> anyhow::Result<(usize, usize)> {
    use crate::core::calendar::{date_of_day, day_of, parse_instant};
    use crate::ingest::materialize::{self as m, MeasurementRow};
    let rows = m::read_measurements(raw, date)?;
    let mut by_patient: std::collections::BTreeMap<&str, Vec<&MeasurementRow>> =
        std::collections::BTreeMap::new();
    for r in &rows {
        by_patient.entry(r.patient_id.as_str()).or_default().push(r);
    }
    for (patient, rows) in &by_patient {
        let stored = store.risk(patient).await?.map(|s| s.values);
        store.put_risk(patient, m::merge_risk(stored, rows)).await?;
    }
    let end = day_of(parse_instant(date).map_err(anyhow::Error::msg)?);
    let mut views = Vec::new();
    for d in end - 29..=end {
        views.extend(m::read_views(raw, &date_of_day(d))?);
    }
    let engagement = m::engagement(&views, date, topics);
    for (patient, mut values) in engagement.clone() {
        if let Some(stored) = store.engagement(&patient).await? {
            values.language = stored.values.language;
        }
        if let Some(r) = store.risk(&patient).await? {
            values.gestational_week = r.values.gestational_week.map(|w| w as u32);
        }
        store.put_engagement(&patient, values).await?;
    }
    Ok((by_patient.len(), engagement.len()))
}

/// Each article's topics from the content catalogue (`[recommend] content_dir`), so content views
/// count under the same topics the recommender ranks by. A catalogue that does not load is
/// reported and views then count under their id's first path segment.
fn catalogue_topics(dir: &std::path::Path) -> crate::ingest::materialize::Topics {
    match crate::ml::recommend::catalogue::Catalogue::load(dir) {
        Ok(c) => c
            .articles()
            .iter()
            .map(|a| (a.id.clone(), a.topics.clone()))
            .collect(),
        Err(errors) => {
            for e in &errors {
                eprintln!("warning: content catalogue: {e}");
            }
            crate::ingest::materialize::Topics::new()
        }
    }
}
