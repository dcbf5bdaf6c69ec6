//! The command line: `serve`, `keys …`, `prompts …`, `eval …`, `review …`, `users …`, `features …`,
//! `data check`, `train`, `models …`, `stats …`, `monitor drift`, `monitor canary`
//! and `deploy …`. Every subcommand takes
//! `--config FILE` and reads the same file and environment overrides as the server. `main.rs`
//! only calls [`run`].

pub mod bootstrap;
mod canary;
mod deploy;
mod eval;
mod eval_guard;
mod eval_recommend;
mod eval_score;
mod features;
mod finetune;
mod ingest;
mod ml;
mod models;
mod monitor;
mod prompts;
mod review;
mod stats;
mod users;

use std::path::PathBuf;

use anyhow::Context;
use clap::{Parser, Subcommand};

use crate::app::{App, shutdown_signal};
use crate::config::Config;
use crate::store::Store;
use crate::store::keys::Role;
use bootstrap::{bootstrap_admin_key, show_bootstrap_key};

/// PowerBirth LLMOps gateway.
#[derive(Debug, Parser)]
#[command(name = "powerbirth", version, about)]
pub struct Cli {
    /// Configuration file.
    #[arg(
        long,
        global = true,
        default_value = "powerbirth.toml",
        env = "POWERBIRTH_CONFIG"
    )]
    pub config: PathBuf,
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Serve the API until SIGTERM or Ctrl-C.
    Serve,
    /// Manage API keys.
    Keys {
        #[command(subcommand)]
        action: KeysCommand,
    },
    /// Check, render and compare the versioned prompts.
    Prompts {
        #[command(subcommand)]
        action: prompts::PromptsCommand,
    },
    /// Run eval sets and compare with a baseline.
    Eval {
        #[command(subcommand)]
        action: eval::EvalCommand,
    },
    /// Nurse review: sample a batch, promote a reviewed conversation into an eval set.
    Review {
        #[command(subcommand)]
        action: review::ReviewCommand,
    },
    /// Accounts for the review pages (nurses and admins).
    Users {
        #[command(subcommand)]
        action: users::UsersCommand,
    },
    /// The model registry: register trained versions, promote one to production, list, history.
    Models(models::ModelsArgs),
    /// The feature store: bulk load, rebuild the Redis online copy.
    Features {
        #[command(subcommand)]
        action: features::FeaturesCommand,
    },
    /// Check a data file against an expectation suite.
    Data {
        #[command(subcommand)]
        action: ml::DataCommand,
    },
    /// After a release: the post-deploy check, the release history, the guided rollback.
    Deploy {
        #[command(subcommand)]
        action: deploy::DeployCommand,
    },
    /// Train a model from a training config (YAML, given with `--config`, default
    /// training/configs/risk.yaml) and write its artifacts.
    Train {
        /// Artifacts go to OUT/<version>/ and OUT/<task>-<version>.tar.gz.
        #[arg(long, default_value = "models/risk")]
        out: PathBuf,
        /// Register the trained version: always when `MLFLOW_TRACKING_URI` is set (a run with
        /// its params, metrics and artifacts, then a model version), else in
        /// `<models-dir>/registry.json` when this flag is given.
        #[arg(long)]
        register: bool,
        /// The local registry's directory (without MLflow).
        #[arg(long, default_value = "models", value_name = "DIR")]
        models_dir: PathBuf,
    },
    /// The monitors' statistics on files of numbers or CSV/Parquet columns, as JSON.
    Stats {
        #[command(subcommand)]
        action: stats::StatsCommand,
    },
    /// Monitoring: `monitor drift` compares current data with a reference; `monitor canary`
    /// compares a candidate's logged answers with a baseline's.
    Monitor {
        #[command(subcommand)]
        action: monitor::MonitorCommand,
    },
    /// Consume app events from the Redis Stream into anonymised Parquet (`[ingest]`).
    Ingest(ingest::IngestArgs),
    /// The triage classifier: prepare its dataset, train it (`--config`, default
    /// training/configs/triage.yaml).
    Finetune {
        #[command(subcommand)]
        action: finetune::FinetuneCommand,
    },
}

#[derive(Debug, Subcommand)]
pub enum KeysCommand {
    /// Create a key; it is printed once, alone on the last line, and only its hash is stored.
    Create {
        #[arg(long)]
        name: String,
        #[arg(long, default_value = "client", value_parser = ["client", "admin", "ingest"])]
        role: String,
        /// Requests per minute (default: [ratelimit] default_rpm).
        #[arg(long, value_parser = clap::value_parser!(u32).range(1..))]
        rpm: Option<u32>,
        /// Spending limit per UTC day in USD (e.g. 5 or 0.50); past it requests get 429
        /// insufficient_quota.
        #[arg(long, value_name = "USD")]
        daily_budget_usd: Option<crate::core::UsdCost>,
    },
    /// List keys (never their secret).
    List,
    /// Revoke the active key with this name.
    Revoke { name: String },
}

/// The ML, registry, statistics and deploy commands, which do not read the server
/// configuration (the registry reads MLFLOW_TRACKING_URI or models/; `train` and `finetune`
/// take `--config` as their training config). Gives the command back when it is not one of them.
async fn run_without_server_config(cli: Cli) -> anyhow::Result<Option<Cli>> {
    let default_config = cli.config == std::path::Path::new("powerbirth.toml");
    match cli.command {
        Command::Data { action } => match ml::data(action)? {
            0 => Ok(None),
            code => std::process::exit(i32::from(code)),
        },
        Command::Train {
            out,
            register,
            models_dir,
        } => {
            let config = if default_config {
                PathBuf::from("training/configs/risk.yaml")
            } else {
                cli.config
            };
            let (task, dir) = ml::train(&config, &out)?;
            if register || std::env::var_os("MLFLOW_TRACKING_URI").is_some() {
                models::register(&models_dir, &task, &dir).await?;
            }
            Ok(None)
        }
        Command::Models(args) => models::run(args).await.map(|()| None),
        Command::Stats { action } => stats::run(action).map(|()| None),
        // `monitor canary` reads the database: it goes on with the configuration.
        Command::Monitor { action } if !action.needs_config() => {
            monitor::run(action).map(|()| None)
        }
        Command::Deploy { action } => match deploy::run(action).await? {
            0 => Ok(None),
            code => std::process::exit(i32::from(code)),
        },
        Command::Finetune { action } => {
            let config = if default_config {
                PathBuf::from(finetune::DEFAULT_CONFIG)
            } else {
                cli.config
            };
            finetune::run_command(&config, action).await.map(|()| None)
        }
        command => Ok(Some(Cli { command, ..cli })),
    }
}

/// Runs the parsed command.
pub async fn run(cli: Cli) -> anyhow::Result<()> {
    let Some(cli) = run_without_server_config(cli).await? else {
        return Ok(());
    };
    let command = cli.command;
    let config = match Config::load(&cli.config) {
        Ok(c) => c,
        // `eval` exit codes carry meaning for CI: a configuration it cannot use is 2, not 1.
        Err(e) if matches!(command, Command::Eval { .. } | Command::Monitor { .. }) => {
            eprintln!("error: {e}");
            std::process::exit(2);
        }
        Err(e) => return Err(e.into()),
    };
    match command {
        Command::Serve => serve(config).await,
        Command::Keys { action } => keys(config, action).await,
        Command::Prompts { action } => prompts::run(&config, action),
        Command::Eval { action } => match eval::run(config, action).await {
            0 => Ok(()),
            // Exit codes carry meaning for CI (1 regression, 2 unusable); errors were printed.
            code => std::process::exit(i32::from(code)),
        },
        Command::Review { action } => review::run(&config, action).await,
        Command::Users { action } => users::run(&config, action).await,
        Command::Ingest(args) => ingest::run(&config, args).await,
        Command::Features { action } => features::run(&config, action).await,
        Command::Monitor {
            action: monitor::MonitorCommand::Canary(args),
        } => match canary::run(&config, args).await {
            0 => Ok(()),
            // 1: the candidate is significantly worse; 2: it could not run (printed).
            code => std::process::exit(i32::from(code)),
        },
        Command::Monitor {
            action: action @ monitor::MonitorCommand::Drift { .. },
        } => monitor::run_job(&config, action).await,
        Command::Data { .. }
        | Command::Train { .. }
        | Command::Models(_)
        | Command::Stats { .. }
        | Command::Deploy { .. }
        | Command::Finetune { .. } => {
            unreachable!("handled above")
        }
    }
}

async fn serve(config: Config) -> anyhow::Result<()> {
    let bootstrap = config.auth.bootstrap_admin_key;
    let key_file = config.auth.bootstrap_key_file.clone();
    let app = App::build(config).await?;
    if bootstrap && let Some(key) = bootstrap_admin_key(&app.state().store).await? {
        show_bootstrap_key(&key, key_file.as_deref())?;
    }
    crate::app::reload_prompts_on_sighup(app.state().clone());
    println!(
        "PowerBirth gateway listening on http://{}",
        app.local_addr()
    );
    app.run_until(shutdown_signal()).await
}

async fn keys(config: Config, action: KeysCommand) -> anyhow::Result<()> {
    let store = Store::connect(&config.database.url, 2)
        .await
        .context("opening the database")?;
    match action {
        KeysCommand::Create {
            name,
            role,
            rpm,
            daily_budget_usd,
        } => {
            let role: Role = role.parse().map_err(anyhow::Error::msg)?;
            let (key, plaintext) = store
                .create_key_with_budget(&name, role, rpm, daily_budget_usd)
                .await?;
            println!(
                "created {} key {:?} ({}…); it is shown only this once:",
                key.role.as_str(),
                key.name,
                key.prefix
            );
            println!("{plaintext}");
        }
        KeysCommand::List => {
            let keys = store.list_keys().await?;
            println!(
                "{:<24} {:<7} {:<10} {:>6} {:>12}  STATUS",
                "NAME", "ROLE", "PREFIX", "RPM", "BUDGET/DAY"
            );
            for k in keys {
                println!(
                    "{:<24} {:<7} {:<10} {:>6} {:>12}  {}",
                    k.name,
                    k.role.as_str(),
                    k.prefix,
                    k.rpm.map_or_else(|| "-".to_string(), |r| r.to_string()),
                    k.daily_budget_usd
                        .map_or_else(|| "-".to_string(), |b| b.to_string()),
                    if k.revoked_at.is_some() {
                        "revoked"
                    } else {
                        "active"
                    }
                );
            }
        }
        KeysCommand::Revoke { name } => {
            store.revoke_key(&name).await?;
            println!("revoked {name:?}");
        }
    }
    store.close().await;
    Ok(())
}
