//! `powerbirth data check --suite FILE DATA [--report FILE]` and `powerbirth train --config FILE
//! [--out DIR]`. Neither reads `powerbirth.toml`: `train` takes the global `--config` as its
//! training config (YAML), which is why it is handled before the server configuration loads.

use std::path::{Path, PathBuf};

use anyhow::Context;
use clap::Subcommand;

use crate::ml::data::{self, Suite};
use crate::ml::train;

#[derive(Debug, Subcommand)]
pub enum DataCommand {
    /// Run an expectation suite on a CSV or Parquet file; exit 1 when an `error` check fails.
    Check {
        /// Expectation suite (YAML).
        #[arg(long)]
        suite: PathBuf,
        /// Data file (.csv or .parquet).
        data: PathBuf,
        /// Write the dataset report (JSON) here.
        #[arg(long)]
        report: Option<PathBuf>,
    },
    /// Apply ingestion's anonymisation rules to a CSV or Parquet file (back-fills): identifier
    /// columns dropped, patient ids pseudonymised, dates of birth made ages, text redacted.
    Anonymize {
        /// Input file (.csv or .parquet).
        input: PathBuf,
        /// Output file (.csv or .parquet; need not match the input's format).
        output: PathBuf,
        /// The environment variable holding the pseudonym key (as `[ingest] pseudonym_key_env`).
        #[arg(long, default_value = "POWERBIRTH_PSEUDONYM_KEY", value_name = "VAR")]
        key_env: String,
    },
    /// Write a synthetic engagement log (JSON Lines) over the content catalogue, deterministic
    /// per seed; see `ml::recommend::synth` for the patient model. A sanity check, not evidence.
    SynthEngagement {
        #[arg(long, default_value_t = 0)]
        seed: u64,
        #[arg(long, default_value_t = 500)]
        patients: usize,
        #[arg(long, value_name = "FILE")]
        out: PathBuf,
        /// The content catalogue (topics.yaml, articles/).
        #[arg(long, default_value = "content", value_name = "DIR")]
        content: PathBuf,
    },
}

/// Runs `data check`; the exit code is 0 when no `error` expectation failed, else 1.
pub fn data(action: DataCommand) -> anyhow::Result<u8> {
    let (suite, path, report) = match action {
        DataCommand::Check {
            suite,
            data,
            report,
        } => (suite, data, report),
        DataCommand::Anonymize {
            input,
            output,
            key_env,
        } => return super::ingest::anonymize(&input, &output, &key_env).map(|()| 0),
        DataCommand::SynthEngagement {
            seed,
            patients,
            out,
            content,
        } => return synth_engagement(seed, patients, &out, &content),
    };
    let suite = Suite::load(&suite)?;
    let table = data::read_table(&path)?;
    let sha = data::sha256_file(&path)?;
    let name = path.display().to_string();
    let result = data::run_suite(&suite, &table, &name, &sha);
    print!("{}", data::check::render_table(&result));
    if let Some(report) = report {
        let bytes = crate::ml::models::canonical_json(&result);
        std::fs::write(&report, bytes).with_context(|| format!("writing {}", report.display()))?;
        println!("report written to {}", report.display());
    }
    Ok(u8::from(!result.success))
}

/// `data synth-engagement`: writes the log and says how much it wrote.
fn synth_engagement(seed: u64, patients: usize, out: &Path, content: &Path) -> anyhow::Result<u8> {
    use crate::ml::recommend::{Catalogue, synth};
    let catalogue = Catalogue::load(content).map_err(|problems| {
        let list: Vec<String> = problems.iter().map(ToString::to_string).collect();
        anyhow::anyhow!("{}", list.join("\n"))
    })?;
    anyhow::ensure!(
        !catalogue.is_empty(),
        "no articles under {}",
        content.display()
    );
    let log = synth::generate(&catalogue, seed, patients);
    let mut file = std::io::BufWriter::new(
        std::fs::File::create(out).with_context(|| format!("creating {}", out.display()))?,
    );
    synth::write_jsonl(&log, &mut file).with_context(|| format!("writing {}", out.display()))?;
    std::io::Write::flush(&mut file)?;
    println!(
        "{} interactions of {patients} patients written to {}",
        log.len(),
        out.display()
    );
    Ok(0)
}

/// Runs `train` and prints where the artifacts went and the cross-validated figures.
/// Trains and prints the CV figures; returns the task and the version directory written.
pub fn train(config: &Path, out: &Path) -> anyhow::Result<(String, std::path::PathBuf)> {
    let progress = crate::core::Progress::start("train", "steps", None);
    let outcome = train::run_with(config, out, &progress);
    progress.finish();
    let outcome = outcome?;
    let cv = &outcome.metrics.cv;
    println!(
        "trained {} version {}",
        outcome.metrics.model_kind, outcome.version
    );
    println!(
        "grouped {}-fold CV ({} rows, {} distinct measurement vectors):",
        outcome.metrics.fold_rows.len(),
        outcome.metrics.rows,
        outcome.metrics.distinct_feature_vectors
    );
    for (name, s) in [
        ("ROC AUC high vs rest", &cv.roc_auc_high),
        ("ROC AUC macro OvR", &cv.roc_auc_macro_ovr),
        ("F1 macro", &cv.f1_macro),
        ("F1 high", &cv.f1_high),
        ("Brier (high)", &cv.brier),
        ("ECE (high)", &cv.ece),
    ] {
        println!("  {name:<22} {:.4} ± {:.4}", s.mean, s.sd);
    }
    println!("artifacts: {}", outcome.dir.display());
    println!("package:   {}", outcome.tarball.display());
    println!("took {:.2} s", outcome.metrics.timings.total_seconds);
    Ok((outcome.metrics.task, outcome.dir))
}
