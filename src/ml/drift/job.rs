//! The daily drift job: the served model's training reference (`reference.csv`, saved with the
//! model by `powerbirth train`) against the features of the predictions that version answered in
//! each window (`[drift] windows`, the last 24 h and 7 d by default), column by column as
//! `monitor drift` does. Each window's report is saved as `drift.json` and `drift.html` under
//! `[drift] dir/<date>/<model>-<window>/` and sets the drift gauges ([`super::metrics`]).
//! The server runs it at start-up and then every `[drift] interval_s` (a day); `powerbirth
//! monitor drift --model risk --window 24h` runs it once.

use std::collections::HashSet;
use std::path::{Path, PathBuf};

use serde::Serialize;

use super::config::{DriftConfig, Window};
use super::metrics::DriftMetrics;
use super::{DriftError, DriftReport, html};
use crate::ml::data::{Column, Table, Values};
use crate::ml::registry::RegistryError;
use crate::ml::serve::{ModelSource, RiskConfig, SourceError};
use crate::periodic::Periodic;
use crate::store::{DbError, Store};

/// What `drift.json` holds: the report (the shape of `monitor drift --format json`) with what it
/// compared.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct JobReport {
    pub model: String,
    pub version: String,
    pub window: String,
    /// `[start, end)` of the predictions compared, epoch ms.
    pub window_start: i64,
    pub window_end: i64,
    pub reference_rows: usize,
    /// Predictions compared (at most `[drift] max_rows`, spread evenly over the window).
    pub current_rows: usize,
    /// Predictions the window holds.
    pub logged_rows: usize,
    #[serde(flatten)]
    pub report: DriftReport,
}

/// What the job did for one window.
#[derive(Debug, Clone, PartialEq)]
pub enum Outcome {
    /// The report, saved in `dir` (`drift.json`, `drift.html`).
    Saved { report: JobReport, dir: PathBuf },
    /// Fewer predictions than `[drift] min_rows`: nothing saved, gauges untouched.
    TooFew {
        window: String,
        rows: usize,
        needed: usize,
    },
}

/// Why the job could not run.
#[derive(Debug, thiserror::Error)]
pub enum JobError {
    #[error("model {0:?} has no production version: nothing to compare")]
    NoProduction(String),
    #[error(transparent)]
    Source(#[from] SourceError),
    #[error(transparent)]
    Registry(#[from] RegistryError),
    #[error("the training reference of {model} {version} (reference.csv): {message}")]
    Reference {
        model: String,
        version: String,
        message: String,
    },
    #[error("reading the logged predictions: {0}")]
    Db(#[from] DbError),
    #[error(transparent)]
    Drift(#[from] DriftError),
    #[error("writing {path}: {source}")]
    Write {
        path: PathBuf,
        source: std::io::Error,
    },
}

/// The production version's training reference, read once per run.
struct Reference {
    model: String,
    version: String,
    table: Table,
    /// Its integer columns.
    integer: HashSet<String>,
}

/// The job for the risk model `[risk]` serves.
pub struct DriftJob {
    source: ModelSource,
    store: Store,
    metrics: DriftMetrics,
    config: DriftConfig,
}

impl DriftJob {
    pub fn new(
        config: &DriftConfig,
        risk: &RiskConfig,
        store: Store,
        metrics: DriftMetrics,
    ) -> Result<DriftJob, RegistryError> {
        Ok(DriftJob {
            source: ModelSource::new(risk)?,
            store,
            metrics,
            config: config.clone(),
        })
    }

    /// The registered model it watches.
    pub fn model(&self) -> &str {
        &self.source.model
    }

    /// Compares the production version's reference with its predictions of each window ending
    /// at `now_ms`; saves each report under `out` (default `[drift] dir/<date of now>`) and sets
    /// the gauges.
    pub async fn run(
        &self,
        windows: &[Window],
        now_ms: i64,
        out: Option<&Path>,
    ) -> Result<Vec<Outcome>, JobError> {
        let model = self.source.model.clone();
        let version = self
            .source
            .production()
            .await?
            .ok_or_else(|| JobError::NoProduction(model.clone()))?;
        let bytes = self.source.artifact(&version, "reference.csv").await?;
        let (reference, integer) =
            parse_reference(&bytes).map_err(|message| JobError::Reference {
                model: model.clone(),
                version: version.version.clone(),
                message,
            })?;
        let day = crate::core::calendar::day_of(now_ms);
        let base = out.map_or_else(
            || {
                self.config
                    .dir
                    .join(crate::core::calendar::date_of_day(day))
            },
            Path::to_path_buf,
        );
        let reference = Reference {
            model,
            version: version.version,
            table: reference,
            integer,
        };
        let mut outcomes = Vec::new();
        for w in windows {
            outcomes.push(self.window(&reference, w, now_ms, &base).await?);
        }
        Ok(outcomes)
    }

    /// One window's report, saved in `base/<model>-<window>/`, and its gauges.
    async fn window(
        &self,
        reference: &Reference,
        w: &Window,
        now_ms: i64,
        base: &Path,
    ) -> Result<Outcome, JobError> {
        let start = now_ms - w.length.as_millis() as i64;
        let (logged, logged_rows) = self
            .store
            .prediction_features(
                &reference.model,
                &reference.version,
                (start, now_ms),
                self.config.max_rows,
            )
            .await?;
        if logged.len() < self.config.min_rows {
            return Ok(Outcome::TooFew {
                window: w.label.clone(),
                rows: logged.len(),
                needed: self.config.min_rows,
            });
        }
        let current = current_table(&reference.table, &logged);
        let meta = JobReport {
            model: reference.model.clone(),
            version: reference.version.clone(),
            window: w.label.clone(),
            window_start: start,
            window_end: now_ms,
            reference_rows: reference.table.rows,
            current_rows: current.rows,
            logged_rows,
            report: DriftReport {
                columns: Vec::new(),
                share_drifted: 0.0,
                dataset_drift: false,
            },
        };
        let dir = base.join(format!("{}-{}", reference.model, w.label));
        let (table, integer, method) = (
            reference.table.clone(),
            reference.integer.clone(),
            self.config.method,
        );
        let (report, dir) = tokio::task::spawn_blocking(move || {
            compare_and_save(&table, &current, &integer, method, meta, &dir).map(|r| (r, dir))
        })
        .await
        .map_err(|e| JobError::Write {
            path: base.to_path_buf(),
            source: std::io::Error::other(e.to_string()),
        })??;
        self.metrics
            .record(&reference.model, &w.label, &report.report);
        Ok(Outcome::Saved { report, dir })
    }

    /// [`DriftJob::run`] over the configured windows now, logging what it did (the periodic
    /// job). No production model is not an error here: the server may start before one exists.
    pub async fn run_logged(&self) {
        match self
            .run(&self.config.windows, crate::core::now_ms(), None)
            .await
        {
            Ok(outcomes) => {
                for o in outcomes {
                    match o {
                        Outcome::Saved { report, dir } => tracing::info!(model = %report.model,
                            version = %report.version, window = %report.window,
                            rows = report.current_rows, share_drifted = report.report.share_drifted,
                            dataset_drift = report.report.dataset_drift, dir = %dir.display(),
                            "drift report saved"),
                        Outcome::TooFew {
                            window,
                            rows,
                            needed,
                        } => tracing::info!(%window, rows,
                            needed, "too few logged predictions for a drift report"),
                    }
                }
            }
            Err(JobError::NoProduction(model)) => {
                tracing::info!(%model, "no production model: no drift report")
            }
            Err(e @ JobError::Source(_)) => tracing::warn!(error = %e,
                "no training reference for the drift job (versions trained before reference.csv existed have none: retrain to get one)"),
            Err(e) => tracing::error!(error = %e, "the drift job failed"),
        }
    }

    /// Runs the job at start-up and then every `[drift] interval_s` (off when `enabled = false`).
    pub fn spawn(self) -> Periodic {
        if !self.config.enabled {
            return Periodic::off();
        }
        let every = self.config.interval;
        let job = std::sync::Arc::new(self);
        Periodic::spawn(every, move || {
            let job = job.clone();
            async move { job.run_logged().await }
        })
    }
}

/// Compares, writes `drift.json` and `drift.html` into `dir`, and returns the report.
fn compare_and_save(
    reference: &Table,
    current: &Table,
    integer: &HashSet<String>,
    method: super::MethodChoice,
    mut meta: JobReport,
    dir: &Path,
) -> Result<JobReport, JobError> {
    // Evidently types columns on the current data: an integer column of the training file stays
    // one only while every served value is whole.
    let is_integer = |name: &str| {
        integer.contains(name)
            && current.column(name).is_some_and(|c| match &c.values {
                Values::Number(v) => v.iter().flatten().all(|x| x.fract() == 0.0),
                Values::Text(_) => false,
            })
    };
    meta.report = super::compare(reference, current, &is_integer, method)?;
    let prepared = super::prepare(reference, current, &is_integer)?;
    let page = html::render(
        &meta.report,
        &prepared,
        &format!(
            "{} {}: reference.csv ({} rows)",
            meta.model, meta.version, meta.reference_rows
        ),
        &format!(
            "predictions of the last {} ({} rows)",
            meta.window, meta.current_rows
        ),
    );
    let write = |name: &str, body: &[u8]| {
        let path = dir.join(name);
        std::fs::create_dir_all(dir)
            .and_then(|()| std::fs::write(&path, body))
            .map_err(|source| JobError::Write { path, source })
    };
    let json = serde_json::to_vec_pretty(&meta).unwrap_or_default();
    write("drift.json", &json)?;
    write("drift.html", page.as_bytes())?;
    Ok(meta)
}

/// `reference.csv` as a table of numbers, and the names of its integer columns (every cell an
/// integer literal, as `powerbirth train` writes them).
pub fn parse_reference(bytes: &[u8]) -> Result<(Table, HashSet<String>), String> {
    let mut reader = csv::Reader::from_reader(bytes);
    let names: Vec<String> = reader
        .headers()
        .map_err(|e| e.to_string())?
        .iter()
        .map(|h| h.trim().to_string())
        .collect();
    let mut cells: Vec<Vec<Option<f64>>> = vec![Vec::new(); names.len()];
    let mut integer = vec![true; names.len()];
    for (line, record) in reader.records().enumerate() {
        let record = record.map_err(|e| e.to_string())?;
        for (i, column) in cells.iter_mut().enumerate() {
            let cell = record.get(i).map(str::trim).unwrap_or("");
            let value = cell
                .parse::<f64>()
                .map_err(|_| format!("line {}: {:?} is not a number", line + 2, cell))?;
            integer[i] &= !cell.contains(['.', 'e', 'E']);
            column.push(Some(value));
        }
    }
    let rows = cells.first().map_or(0, Vec::len);
    if rows == 0 {
        return Err("no rows".into());
    }
    let ints = names
        .iter()
        .zip(&integer)
        .filter(|(_, i)| **i)
        .map(|(n, _)| n.clone())
        .collect();
    let columns = names
        .into_iter()
        .zip(cells)
        .map(|(name, v)| Column {
            name,
            values: Values::Number(v),
        })
        .collect();
    Ok((Table { columns, rows }, ints))
}

/// The logged features as a table with the reference's columns (a feature a row lacks, or a
/// row that is not a JSON object, is a null cell; other logged keys are left out).
pub fn current_table(reference: &Table, logged: &[String]) -> Table {
    let parsed: Vec<serde_json::Value> = logged
        .iter()
        .map(|f| serde_json::from_str(f).unwrap_or(serde_json::Value::Null))
        .collect();
    let columns = reference
        .columns
        .iter()
        .map(|c| Column {
            name: c.name.clone(),
            values: Values::Number(parsed.iter().map(|p| p[&c.name].as_f64()).collect()),
        })
        .collect();
    Table {
        columns,
        rows: parsed.len(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_reference_keeps_its_integer_columns() {
        let (t, ints) = parse_reference(b"Age,BS\n25,15.0\n35,7.5\n").unwrap();
        assert_eq!(t.rows, 2);
        assert_eq!(ints, HashSet::from(["Age".to_string()]));
        assert!(
            parse_reference(b"Age\nold\n")
                .unwrap_err()
                .contains("line 2")
        );
        assert!(parse_reference(b"Age\n").is_err());
    }

    #[test]
    fn the_current_table_takes_the_reference_columns_from_the_logged_json() {
        let (reference, _) = parse_reference(b"Age,BS\n25,15.0\n").unwrap();
        let logged = [
            r#"{"Age":30,"BS":7.1,"gestational_week":20}"#.to_string(),
            r#"{"Age":31}"#.to_string(),
            "not json".to_string(),
        ];
        let t = current_table(&reference, &logged);
        assert_eq!(t.rows, 3);
        assert_eq!(t.columns.len(), 2);
        assert_eq!(
            t.column("BS").unwrap().values,
            Values::Number(vec![Some(7.1), None, None])
        );
    }
}
