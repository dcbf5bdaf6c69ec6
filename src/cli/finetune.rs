//! `powerbirth finetune prepare | run`: the triage classifier's dataset and training
//! (`ml::triage`). `--config` names the training config (default
//! `training/configs/triage.yaml`); neither reads the server's configuration.

use std::path::{Path, PathBuf};

use clap::Subcommand;

use crate::core::Progress;
use crate::embed::Embedder;
use crate::ml::triage::{TriageConfig, prepare, run};

/// The config used when `--config` is left at the server's default.
pub const DEFAULT_CONFIG: &str = "training/configs/triage.yaml";

#[derive(Debug, Subcommand)]
pub enum FinetuneCommand {
    /// Build the dataset (redacted, deduplicated, split) with dataset_report.json.
    Prepare {
        /// The folder name under the config's `processed` (default: the UTC time).
        #[arg(long)]
        name: Option<String>,
    },
    /// Train the head on a prepared dataset and package the version.
    Run {
        /// The prepared dataset (default: the newest under the config's `processed`).
        #[arg(long)]
        data: Option<PathBuf>,
        /// Register the version: always with `MLFLOW_TRACKING_URI`, else in
        /// `<models-dir>/registry.json` when given.
        #[arg(long)]
        register: bool,
        #[arg(long, default_value = "models", value_name = "DIR")]
        models_dir: PathBuf,
    },
}

/// Runs a `finetune` command with the training config `config`.
pub async fn run_command(config: &Path, action: FinetuneCommand) -> anyhow::Result<()> {
    let (parsed, _) = TriageConfig::load(config)?;
    // Phases and elapsed time on stderr while the encoder loads, embeds and trains.
    let progress = match action {
        FinetuneCommand::Run { .. } => Progress::start("finetune", "", None),
        FinetuneCommand::Prepare { .. } => Progress::hidden(),
    };
    progress.set_phase(format!("loading {}", parsed.base_model.display()));
    let embedder = Embedder::load(&parsed.base_model);
    let embedder = match embedder {
        Ok(e) => e,
        Err(e) => {
            progress.finish();
            return Err(e.into());
        }
    };
    match action {
        FinetuneCommand::Prepare { name } => {
            let p = prepare::prepare(config, name.as_deref(), &embedder)?;
            let r = &p.report;
            println!(
                "prepared {} ({} read, {} redacted, {} exact and {} near duplicates removed)",
                p.dir.display(),
                r.read,
                r.redacted,
                r.exact_duplicates_removed,
                r.near_duplicates_removed
            );
            for (split, counts) in &r.counts {
                println!("  {split}: {counts:?}");
            }
        }
        FinetuneCommand::Run {
            data,
            register,
            models_dir,
        } => {
            progress.set_phase("embedding the splits and training the head");
            let out = run::run(config, data.as_deref(), &embedder);
            progress.finish();
            let out = out?;
            let m = &out.metrics;
            println!(
                "trained {} version {} in {:.1} CPU s: validation macro-F1 {:.3}, test macro-F1 \
                 {:.3}, thresholds {}",
                parsed.task,
                out.version,
                m["cpu_seconds"].as_f64().unwrap_or(0.0),
                m["validation"]["f1_macro"].as_f64().unwrap_or(0.0),
                m["test"]["f1_macro"].as_f64().unwrap_or(0.0),
                m["thresholds"]
            );
            println!("  {} and {}", out.dir.display(), out.tarball.display());
            if register || std::env::var_os("MLFLOW_TRACKING_URI").is_some() {
                super::models::register(&models_dir, &parsed.task, &out.dir).await?;
            }
        }
    }
    Ok(())
}
