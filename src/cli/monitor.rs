//! `powerbirth monitor drift --reference REF --current CUR [--method auto|psi]
//! [--format json|html] [--out DIR]`: the drift report on two CSV or Parquet files. Without
//! `--out` the report goes to standard output; with it, to `DIR/drift.json` or
//! `DIR/drift.html`.
//!
//! `powerbirth monitor drift --model risk [--window 24h] [--out DIR]`: the daily drift job once
//! (the production version's training reference against its logged predictions of the window),
//! reading the configuration; reports saved as the server's job saves them.

use std::path::{Path, PathBuf};

use anyhow::Context;
use clap::{Subcommand, ValueEnum};

use crate::ml::data;
use crate::ml::drift::{self, DriftReport, MethodChoice, html, load};

#[derive(Debug, Subcommand)]
pub enum MonitorCommand {
    /// Data drift of CURRENT against REFERENCE, column by column (Evidently's defaults).
    Drift {
        /// Reference data (.csv or .parquet), e.g. the training data.
        #[arg(long, required_unless_present = "model", conflicts_with = "model")]
        reference: Option<PathBuf>,
        /// Current data (.csv or .parquet).
        #[arg(long, required_unless_present = "model", conflicts_with = "model")]
        current: Option<PathBuf>,
        /// Instead of two files: the registered model (`[risk] model`) whose production
        /// version's training reference is compared with its logged predictions.
        #[arg(long)]
        model: Option<String>,
        /// With `--model`: the windows of logged predictions (`24h`, `7d`; repeat for several;
        /// default `[drift] windows`).
        #[arg(long, requires = "model")]
        window: Vec<String>,
        /// `auto`: Evidently's default test per column; `psi`: PSI everywhere.
        #[arg(long, value_enum, default_value = "auto")]
        method: Method,
        #[arg(long, value_enum, default_value = "json")]
        format: Format,
        /// Write `drift.json` / `drift.html` into this directory instead of printing (with
        /// `--model`: instead of `[drift] dir/<date>`).
        #[arg(long, value_name = "DIR")]
        out: Option<PathBuf>,
    },
    /// Compare a candidate's logged answers with a baseline's on one metric (Mann–Whitney with
    /// Hodges–Lehmann and its 95% CI; the two-proportion z-test for guard_escalated); exit 1
    /// when the candidate is significantly worse. Reads the configured database.
    Canary(super::canary::CanaryArgs),
}

#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum Method {
    Auto,
    Psi,
}

#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum Format {
    Json,
    Html,
}

impl MonitorCommand {
    /// Whether it reads the server configuration (`monitor canary`, `monitor drift --model`).
    pub fn needs_config(&self) -> bool {
        match self {
            MonitorCommand::Drift { model, .. } => model.is_some(),
            MonitorCommand::Canary(_) => true,
        }
    }
}

/// Runs a monitor command on files.
pub fn run(command: MonitorCommand) -> anyhow::Result<()> {
    let MonitorCommand::Drift {
        reference: Some(reference),
        current: Some(current),
        method,
        format,
        out,
        ..
    } = command
    else {
        anyhow::bail!("this monitor command reads the configuration: `cli::run` runs it");
    };
    let method = match method {
        Method::Auto => MethodChoice::Auto,
        Method::Psi => MethodChoice::Psi,
    };
    let (report, page) = drift_files(&reference, &current, method)?;
    let (name, body) = match format {
        Format::Json => ("drift.json", serde_json::to_string_pretty(&report)? + "\n"),
        Format::Html => ("drift.html", page),
    };
    match out {
        Some(dir) => {
            std::fs::create_dir_all(&dir).with_context(|| format!("creating {}", dir.display()))?;
            let path = dir.join(name);
            std::fs::write(&path, body).with_context(|| format!("writing {}", path.display()))?;
            println!("{}", path.display());
        }
        None => print!("{body}"),
    }
    Ok(())
}

/// Reads both files and returns the report and its HTML page.
pub fn drift_files(
    reference: &Path,
    current: &Path,
    method: MethodChoice,
) -> anyhow::Result<(DriftReport, String)> {
    let ref_table = data::read_table(reference)?;
    let cur_table = data::read_table(current)?;
    let integer = load::integer_columns(current, &cur_table)?;
    let is_integer = |name: &str| integer.contains(name);
    let report = drift::compare(&ref_table, &cur_table, &is_integer, method)?;
    let prepared = drift::prepare(&ref_table, &cur_table, &is_integer)?;
    let page = html::render(
        &report,
        &prepared,
        &reference.display().to_string(),
        &current.display().to_string(),
    );
    Ok((report, page))
}

/// `monitor drift --model M`: the drift job once, printing each window's report JSON (and where
/// it was saved) or why there is none.
pub async fn run_job(
    config: &crate::config::Config,
    command: MonitorCommand,
) -> anyhow::Result<()> {
    let MonitorCommand::Drift {
        model: Some(model),
        window,
        method,
        out,
        ..
    } = command
    else {
        anyhow::bail!("not `monitor drift --model`");
    };
    if model != config.risk.model {
        anyhow::bail!(
            "--model {model:?}: the drift job watches the served risk model, [risk] model = {:?}",
            config.risk.model
        );
    }
    let mut drift = config.drift.clone();
    drift.method = match method {
        Method::Auto => MethodChoice::Auto,
        Method::Psi => MethodChoice::Psi,
    };
    let windows = match window.is_empty() {
        true => drift.windows.clone(),
        false => window
            .iter()
            .map(|w| drift::config::Window::parse(w).map_err(anyhow::Error::msg))
            .collect::<anyhow::Result<Vec<_>>>()?,
    };
    let store = crate::store::Store::connect(&config.database.url, 2)
        .await
        .context("opening the database")?;
    let job = drift::job::DriftJob::new(&drift, &config.risk, store.clone(), Default::default())?;
    let outcomes = job
        .run(&windows, crate::core::now_ms(), out.as_deref())
        .await;
    store.close().await;
    for outcome in outcomes? {
        match outcome {
            drift::job::Outcome::Saved { report, dir } => {
                println!("{}", serde_json::to_string(&report)?);
                eprintln!("saved {}", dir.display());
            }
            drift::job::Outcome::TooFew {
                window,
                rows,
                needed,
            } => eprintln!(
                "{window}: {rows} logged predictions, {needed} needed for a report; none saved"
            ),
        }
    }
    Ok(())
}
