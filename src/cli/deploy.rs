//! `powerbirth deploy check | probe | record | rollback`: the post-deploy check, the image's
//! health probe, the release history and the guided rollback (`docs/deploy.md`). None of them
//! reads the server configuration: they talk to a running gateway, `kubectl` and
//! `deploy/releases.json`.

use std::path::PathBuf;
use std::time::Duration;

use clap::{Args, Subcommand};

use crate::deploy::check::{self, CheckOptions};
use crate::deploy::junit::to_junit;
use crate::deploy::probe::probe;
use crate::deploy::releases::{
    CheckResult, Release, ReleaseKind, Releases, now_rfc3339, prompt_versions,
};
use crate::deploy::rollback::{self, RollbackOptions};

#[derive(Debug, Subcommand)]
pub enum DeployCommand {
    /// Send synthetic risk requests (extreme but possible, and impossible) and guarded chat turns
    /// (danger signs, dose questions) to a live gateway; exit 1 with the list of failures.
    Check(CheckArgs),
    /// Exit 0 when URL answers 2xx (the image's HEALTHCHECK on /readyz).
    Probe {
        #[arg(long, default_value = "http://127.0.0.1:8080/readyz")]
        url: String,
        #[arg(long, default_value_t = 3)]
        timeout_s: u64,
    },
    /// Append a rollout to the release history (the last 10 are kept).
    Record {
        #[arg(long, default_value = "deploy/releases.json")]
        file: PathBuf,
        /// The image, `registry/name:tag`.
        #[arg(long)]
        image: String,
        /// The risk model version baked into it.
        #[arg(long)]
        model_version: String,
        /// The prompts shipped with it: each prompt's `production` version is recorded.
        #[arg(long, default_value = "prompts")]
        prompts_dir: PathBuf,
        /// The Rollout revision the release became (`rollback --to` undoes to it).
        #[arg(long)]
        revision: Option<u64>,
        /// Who released it (default $GITHUB_ACTOR, then $USER).
        #[arg(long)]
        who: Option<String>,
        /// The post-deploy check's result.
        #[arg(long, value_enum)]
        check: CheckResult,
    },
    /// Roll back to a recorded release, wait for it, re-check, record; prints the elapsed time.
    Rollback(RollbackArgs),
}

#[derive(Debug, Args)]
pub struct CheckArgs {
    /// The gateway's base URL.
    #[arg(long)]
    url: String,
    /// A client API key (or POWERBIRTH_CHECK_KEY).
    #[arg(long, env = "POWERBIRTH_CHECK_KEY", hide_env_values = true)]
    key: String,
    /// Synthetic risk requests (0: chat turns only).
    #[arg(long, default_value_t = 50)]
    count: usize,
    #[arg(long, default_value_t = 22)]
    seed: u64,
    /// The chat model the turns name (default: the first of GET /v1/models).
    #[arg(long)]
    chat_model: Option<String>,
    /// The guard's fixed texts the answers must carry.
    #[arg(long, default_value = "guard/notices.toml")]
    notices: PathBuf,
    /// Write a JUnit XML report here.
    #[arg(long, value_name = "FILE")]
    junit: Option<PathBuf>,
    #[arg(long, default_value_t = 10)]
    timeout_s: u64,
}

impl CheckArgs {
    fn options(&self) -> CheckOptions {
        CheckOptions {
            url: self.url.clone(),
            key: self.key.clone(),
            count: self.count,
            seed: self.seed,
            chat_model: self.chat_model.clone(),
            notices: self.notices.clone(),
            timeout: Duration::from_secs(self.timeout_s),
        }
    }
}

#[derive(Debug, Args)]
pub struct RollbackArgs {
    #[arg(long, default_value = "deploy/releases.json")]
    file: PathBuf,
    /// The release id to return to (default: the newest earlier rollout that passed its check
    /// and runs another image than the live one).
    #[arg(long, value_name = "N")]
    to: Option<u64>,
    #[arg(long, short = 'n', default_value = "powerbirth")]
    namespace: String,
    /// The Rollout (or, with --deployment, the Deployment).
    #[arg(long, default_value = "powerbirth-powerbirth")]
    name: String,
    /// A plain Deployment: `kubectl rollout undo` instead of `kubectl argo rollouts undo`.
    #[arg(long)]
    deployment: bool,
    #[arg(long, default_value_t = 300)]
    timeout_s: u64,
    #[arg(long, default_value = "kubectl", env = "KUBECTL")]
    kubectl: String,
    #[arg(long)]
    who: Option<String>,
    /// Print the plan; run nothing, change nothing.
    #[arg(long)]
    dry_run: bool,
    /// Re-run the post-deploy check against this URL (with --key) once the rollback is live.
    #[arg(long)]
    url: Option<String>,
    #[arg(long, env = "POWERBIRTH_CHECK_KEY", hide_env_values = true)]
    key: Option<String>,
    #[arg(long, default_value_t = 50)]
    count: usize,
    #[arg(long, default_value = "guard/notices.toml")]
    notices: PathBuf,
}

/// Runs a deploy command; the exit code is 1 when a check (or rollback) failed.
pub async fn run(action: DeployCommand) -> anyhow::Result<u8> {
    match action {
        DeployCommand::Check(args) => {
            let report = check::run(&args.options())
                .await
                .map_err(anyhow::Error::msg)?;
            print!("{}", report.summary());
            if let Some(path) = &args.junit {
                std::fs::write(path, to_junit(&report))
                    .map_err(|e| anyhow::anyhow!("{}: {e}", path.display()))?;
            }
            Ok(if report.passed() { 0 } else { 1 })
        }
        DeployCommand::Probe { url, timeout_s } => {
            match probe(&url, Duration::from_secs(timeout_s)).await {
                Ok(()) => Ok(0),
                Err(e) => {
                    eprintln!("{e}");
                    Ok(1)
                }
            }
        }
        DeployCommand::Record {
            file,
            image,
            model_version,
            prompts_dir,
            revision,
            who,
            check,
        } => {
            let mut releases = Releases::load(&file).map_err(anyhow::Error::msg)?;
            let id = releases.push(Release {
                id: 0,
                kind: ReleaseKind::Rollout,
                image,
                model_version,
                prompt_versions: prompt_versions(&prompts_dir).map_err(anyhow::Error::msg)?,
                revision,
                who: who.unwrap_or_else(default_who),
                at: now_rfc3339(),
                check,
                note: None,
            });
            releases.save(&file).map_err(anyhow::Error::msg)?;
            println!("recorded release #{id} in {}", file.display());
            Ok(0)
        }
        DeployCommand::Rollback(args) => rollback(args).await,
    }
}

async fn rollback(args: RollbackArgs) -> anyhow::Result<u8> {
    let check = match (&args.url, &args.key) {
        (Some(url), Some(key)) => Some(CheckOptions {
            url: url.clone(),
            key: key.clone(),
            count: args.count,
            seed: 22,
            chat_model: None,
            notices: args.notices.clone(),
            timeout: Duration::from_secs(10),
        }),
        (Some(_), None) => {
            anyhow::bail!("--url needs --key (or POWERBIRTH_CHECK_KEY) to re-run the check")
        }
        _ => None,
    };
    let opts = RollbackOptions {
        file: args.file,
        to: args.to,
        namespace: args.namespace,
        name: args.name,
        deployment: args.deployment,
        timeout: Duration::from_secs(args.timeout_s),
        kubectl: args.kubectl,
        who: args.who.unwrap_or_else(default_who),
        dry_run: args.dry_run,
        check,
    };
    let outcome = rollback::run(&opts).await.map_err(anyhow::Error::msg)?;
    if opts.dry_run {
        return Ok(0);
    }
    if let Some(summary) = &outcome.check_summary {
        print!("{summary}");
    }
    let id = outcome
        .recorded
        .map_or_else(|| "-".into(), |id| id.to_string());
    println!(
        "rollback finished in {:.1} s (target: under 300 s); check {:?}; recorded as release #{id}",
        outcome.elapsed.as_secs_f64(),
        outcome.check
    );
    Ok(if outcome.check == CheckResult::Failed {
        1
    } else {
        0
    })
}

fn default_who() -> String {
    ["GITHUB_ACTOR", "USER"]
        .iter()
        .find_map(|v| std::env::var(v).ok().filter(|s| !s.is_empty()))
        .unwrap_or_else(|| "unknown".into())
}
