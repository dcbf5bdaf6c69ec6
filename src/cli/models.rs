//! `powerbirth models register | promote | list | history`: the model registry from the command
//! line. MLflow when `MLFLOW_TRACKING_URI` is set, else `<models-dir>/registry.json`.

use std::fmt::Write as _;
use std::path::PathBuf;

use clap::{Args, Subcommand};

use crate::ml::registry::{Approver, ModelVersion, Promotion, PromotionRequest, Registry};

#[derive(Debug, Args)]
pub struct ModelsArgs {
    /// Where the local registry (`registry.json`) and the trained versions live.
    #[arg(long, global = true, default_value = "models", value_name = "DIR")]
    models_dir: PathBuf,
    #[command(subcommand)]
    action: ModelsCommand,
}

#[derive(Debug, Subcommand)]
enum ModelsCommand {
    /// Register a trained version (with MLflow: log a run with its params, metrics, tags and
    /// artifacts, then create a model version from it).
    Register {
        /// The model (`risk`).
        model: String,
        /// The version directory training wrote (`models/risk/<version>`).
        #[arg(long)]
        dir: PathBuf,
    },
    /// Make a version `production`: only when its CV AUC is at least production's, with the
    /// approver recorded on the version and the move in the history.
    Promote {
        model: String,
        /// Training's version string (or, with MLflow, the registry's version number).
        #[arg(long)]
        version: String,
        /// The email of the person who approved the promotion.
        #[arg(long, value_name = "EMAIL", value_parser = Approver::parse)]
        approved_by: Approver,
        /// Why, kept with the approval and in the history.
        #[arg(long)]
        reason: Option<String>,
    },
    /// Versions with their CV metrics, aliases and approver.
    List { model: String },
    /// Every promotion: when, which version, from which, who approved, why.
    History { model: String },
    /// Base models under `<models-dir>/base/<name>/`: `sync` verifies their files against
    /// `modelcard.yaml` (writing it the first time, or with `--update` after a new version).
    Base {
        #[command(subcommand)]
        action: BaseCommand,
    },
    /// Make sure the risk model has a production version: when none exists, train the shipped
    /// config (`training/configs/risk.yaml`), register it and promote it with the approval
    /// `bootstrap`. `make run` runs it before `serve`; a no-op once production exists.
    Bootstrap,
}

#[derive(Debug, Subcommand)]
enum BaseCommand {
    /// Verify (or write) `<models-dir>/base/<name>/modelcard.yaml`.
    Sync {
        /// The base model's folder name (`all-minilm-l6-v2`).
        name: String,
        /// The descriptive card (source, licence, languages, limitations).
        #[arg(long, value_name = "FILE")]
        card: Option<PathBuf>,
        /// Accept changed files (a new version installed on purpose) and record them.
        #[arg(long)]
        update: bool,
    },
}

/// `models base sync`.
fn base(models_dir: &std::path::Path, action: BaseCommand) -> anyhow::Result<()> {
    use crate::ml::triage::base::{Sync, sync};
    let BaseCommand::Sync { name, card, update } = action;
    let card = card.unwrap_or_else(|| PathBuf::from(format!("training/base/{name}.yaml")));
    let dir = models_dir.join("base").join(&name);
    match sync(&name, &dir, &card, update)? {
        Sync::Written => println!("{}: manifest written", dir.display()),
        Sync::Verified => println!("{}: every file matches the manifest", dir.display()),
        Sync::Updated(files) => {
            println!("{}: manifest updated ({})", dir.display(), files.join(", "))
        }
    }
    Ok(())
}

/// Runs a `models` command; a refused promotion is an error (exit 1) that says why.
pub async fn run(args: ModelsArgs) -> anyhow::Result<()> {
    if let ModelsCommand::Base { action } = args.action {
        return base(&args.models_dir, action);
    }
    let registry = Registry::from_env(&args.models_dir)?;
    match args.action {
        ModelsCommand::Base { .. } => unreachable!("handled above"),
        ModelsCommand::Bootstrap => bootstrap(&args.models_dir, &registry).await?,
        ModelsCommand::Register { model, dir } => registered(&registry, &model, &dir).await?,
        ModelsCommand::Promote {
            model,
            version,
            approved_by,
            reason,
        } => {
            let request = PromotionRequest {
                version,
                approver: approved_by,
                reason,
            };
            let p = registry.promote(&model, &request).await?;
            let from = p.previous.as_deref().unwrap_or("none");
            println!(
                "{model} production: {from} -> {} (approved by {})",
                p.version, p.approved_by
            );
        }
        ModelsCommand::List { model } => {
            print!("{}", list_table(&registry.versions(&model).await?))
        }
        ModelsCommand::History { model } => {
            print!("{}", history_table(&registry.history(&model).await?));
        }
    }
    Ok(())
}

/// The `models list` table.
fn list_table(versions: &[ModelVersion]) -> String {
    let metric = |v: &ModelVersion, name: &str| {
        v.metrics
            .get(name)
            .map_or_else(|| "-".to_string(), |m| format!("{m:.4}"))
    };
    let mut out = format!(
        "{:<28} {:>5} {:>9} {:>10} {:>9} {:>7} {:<11} APPROVED BY\n",
        "VERSION", "REG", "AUC HIGH", "AUC MACRO", "F1 MACRO", "BRIER", "ALIASES"
    );
    for v in versions {
        let aliases = if v.aliases.is_empty() {
            "-".to_string()
        } else {
            v.aliases.join(",")
        };
        let _ = writeln!(
            out,
            "{:<28} {:>5} {:>9} {:>10} {:>9} {:>7} {:<11} {}",
            v.version,
            v.registry_version,
            metric(v, "roc_auc_high"),
            metric(v, "roc_auc_macro_ovr"),
            metric(v, "f1_macro"),
            metric(v, "brier"),
            aliases,
            v.approved_by().unwrap_or("-")
        );
    }
    if versions.is_empty() {
        out.push_str("(no versions registered)\n");
    }
    out
}

/// The `models history` table.
fn history_table(history: &[Promotion]) -> String {
    let mut out = format!(
        "{:<24} {:<11} {:<28} {:<28} {:<28} REASON\n",
        "AT", "ALIAS", "VERSION", "FROM", "APPROVED BY"
    );
    for p in history {
        let _ = writeln!(
            out,
            "{:<24} {:<11} {:<28} {:<28} {:<28} {}",
            p.at,
            p.alias,
            p.version,
            p.previous.as_deref().unwrap_or("-"),
            p.approved_by,
            p.reason.as_deref().unwrap_or("-")
        );
    }
    out
}

/// `train --register` (or `train` with MLflow configured): the version just trained into the
/// registry of the environment.
pub async fn register(
    models_dir: &std::path::Path,
    model: &str,
    dir: &std::path::Path,
) -> anyhow::Result<()> {
    registered(&Registry::from_env(models_dir)?, model, dir).await
}

async fn registered(registry: &Registry, model: &str, dir: &std::path::Path) -> anyhow::Result<()> {
    let v = registry.register(model, dir).await?;
    println!(
        "registered {model} version {} (registry version {}) in {}",
        v.version,
        v.registry_version,
        registry.describe()
    );
    Ok(())
}

/// `models bootstrap`: the shipped risk config trained into `<models-dir>/risk/` and promoted
/// with the approval `bootstrap`, unless a production version exists.
async fn bootstrap(models_dir: &std::path::Path, registry: &Registry) -> anyhow::Result<()> {
    use crate::ml::registry::{Bootstrap, RISK_TRAINING_CONFIG, ensure_production};
    let train = |config: &std::path::Path, out: &std::path::Path| {
        crate::ml::train::run(config, &out.join("risk"))
            .map(|outcome| outcome.dir)
            .map_err(|e| e.into())
    };
    let config = std::path::Path::new(RISK_TRAINING_CONFIG);
    match ensure_production("risk", config, models_dir, registry, train).await? {
        Bootstrap::Existing(v) => println!("risk production: {} (already there)", v.version),
        Bootstrap::Trained(p) => println!(
            "risk production: {} (trained from {RISK_TRAINING_CONFIG}, approved by {})",
            p.version, p.approved_by
        ),
    }
    Ok(())
}
