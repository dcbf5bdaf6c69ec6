//! `powerbirth monitor drift --reference REF --current CUR [--method auto|psi]
//! [--format json|html] [--out DIR]`: the drift report on two CSV or Parquet files. Without
//! `--out` the report goes to standard output; with it, to `DIR/drift.json` or
//! `DIR/drift.html`.

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
        #[arg(long)]
        reference: PathBuf,
        /// Current data (.csv or .parquet).
        #[arg(long)]
        current: PathBuf,
        /// `auto`: Evidently's default test per column; `psi`: PSI everywhere.
        #[arg(long, value_enum, default_value = "auto")]
        method: Method,
        #[arg(long, value_enum, default_value = "json")]
        format: Format,
        /// Write `drift.json` / `drift.html` into this directory instead of printing.
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

/// Runs a monitor command.
pub fn run(command: MonitorCommand) -> anyhow::Result<()> {
    let MonitorCommand::Drift {
        reference,
        current,
        method,
        format,
        out,
    } = command
    else {
        anyhow::bail!("`monitor canary` reads the configuration: `cli::run` runs it");
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
