//! `powerbirth eval run | score | publish | guard`: what prompt authors and CI run on `evalsets/`.
//! (`score` is `eval_score`; `publish` is `crate::eval::publish`.)
//!
//! Exit codes of `eval run`: 0 the run finished (cases may have failed: without a baseline
//! nothing can regress); 1 a regression against `--baseline`; 2 nothing could be run (a bad eval
//! set, flag, model, baseline file, database, …) — so CI can tell "worse" from "broken".

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use clap::{Args, Subcommand};

use crate::chat::Pipeline;
use crate::config::Config;
use crate::core::Progress;
use crate::eval::assertions::Scorers;
use crate::eval::changed::{self, SetSource};
use crate::eval::judge::{Judge, Rubrics};
use crate::eval::results::{CaseStatus, RunResult};
use crate::eval::runner::{Needs, RunOptions, Runner};
use crate::eval::set::{self, LoadContext};
use crate::eval::{compare, report};
use crate::providers::Backend;
use crate::providers::ProviderSettings;
use crate::store::Store;

/// Exit code: a regression against the baseline.
pub const EXIT_REGRESSION: u8 = 1;
/// Exit code: nothing could be run (load or usage error).
pub const EXIT_UNUSABLE: u8 = 2;

#[derive(Debug, Subcommand)]
pub enum EvalCommand {
    /// Run eval sets through the gateway's pipeline and write metrics.json, report.md and
    /// junit.xml to OUT/<run_id>/; exit 1 on a regression against --baseline, 2 on a load error.
    Run(RunArgs),
    /// Score hypothesis lines against reference lines (BLEU, chrF, ROUGE-L, similarity) and
    /// print JSON.
    Score(super::eval_score::ScoreArgs),
    /// Regenerate docs/model-performance.md from the runs stored in the database.
    Publish(crate::eval::publish::PublishArgs),
    /// The guard's own eval sets (evalsets/guard: dev, held-out, output), each reported apart:
    /// precision and recall per category, the false-escalation rate on benign messages, and the
    /// output guard's dose recall and false blocks; exit 1 when a target is missed.
    Guard(super::eval_guard::GuardArgs),
    /// The recommender on an interaction log (JSON Lines, e.g. from `data synth-engagement`):
    /// recall@5, precision@5 and NDCG@5 on each patient's held-out last read, beside the
    /// most-popular-for-the-week and random baselines.
    Recommend(super::eval_recommend::RecommendArgs),
}

#[derive(Debug, Args)]
pub struct RunArgs {
    /// An eval set file, or a folder of them (repeatable; default: [eval] sets_dir).
    #[arg(long = "evalset", value_name = "PATH")]
    pub evalsets: Vec<PathBuf>,
    /// Only the sets whose own file or prompt changed since this git ref (says which and why).
    #[arg(long, value_name = "GIT_REF")]
    pub changed_since: Option<String>,
    /// The configured model to evaluate (default: [eval] model).
    #[arg(long, value_name = "NAME")]
    pub model: Option<String>,
    /// A previous run's metrics.json to compare with; regressions exit 1.
    #[arg(long, value_name = "metrics.json")]
    pub baseline: Option<PathBuf>,
    /// Where to write the run (default: [eval] out_dir).
    #[arg(long, value_name = "DIR")]
    pub out: Option<PathBuf>,
    /// Cases in flight at once, 1 to 64 (default: [eval] concurrency). The results do not
    /// depend on it (temperature 0, reported in the sets' order); a local model's batched decode
    /// shares its forward passes among them.
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u16).range(1..=64))]
    pub concurrency: Option<u16>,
}

/// Runs the command and returns its exit code.
pub async fn run(config: Config, command: EvalCommand) -> u8 {
    match command {
        EvalCommand::Run(args) => match run_sets(config, args).await {
            Ok(code) => code,
            Err(problems) => {
                for p in &problems {
                    eprintln!("{p}");
                }
                if problems.len() > 1 {
                    eprintln!("{} problem(s); nothing was run", problems.len());
                }
                EXIT_UNUSABLE
            }
        },
        EvalCommand::Score(args) => match super::eval_score::run(args) {
            Ok(()) => 0,
            Err(e) => {
                eprintln!("error: {e:#}");
                EXIT_UNUSABLE
            }
        },
        EvalCommand::Publish(args) => match crate::eval::publish::run(&config.database, args).await
        {
            Ok(()) => 0,
            Err(e) => {
                eprintln!("error: {e:#}");
                EXIT_UNUSABLE
            }
        },
        EvalCommand::Guard(args) => match super::eval_guard::triage_dir(&config, &args)
            .await
            .and_then(|triage| super::eval_guard::run(&config, args, triage))
        {
            Ok(()) => 0,
            Err(e) => {
                eprintln!("error: {e:#}");
                1
            }
        },
        EvalCommand::Recommend(args) => match super::eval_recommend::run(&config, args).await {
            Ok(()) => 0,
            Err(e) => {
                eprintln!("error: {e:#}");
                EXIT_UNUSABLE
            }
        },
    }
}

/// `eval run`: every check that needs no model first (sets, models named, baseline), then the
/// models, the run, the outputs and the database.
async fn run_sets(config: Config, args: RunArgs) -> Result<u8, Vec<String>> {
    let one = |e: String| vec![format!("error: {e}")];
    let paths = set_paths(&config, &args).map_err(one)?;
    let prompts = crate::app::load_prompts(&config.prompts.dir).map_err(|p| {
        let mut out = vec!["error: the prompts have problems:".to_string()];
        out.extend(p);
        out
    })?;
    let rubrics = Rubrics::load(&config.eval.rubrics_dir)?;
    let ctx = LoadContext {
        prompts: &prompts,
        rubrics: &rubrics,
    };
    let sets = set::load_sets(&paths, &ctx)?;
    let model = args
        .model
        .clone()
        .unwrap_or_else(|| config.eval.model.clone());
    let needs = Needs::of(&sets);
    check_models(&config, &model, needs).map_err(one)?;
    let baseline = match &args.baseline {
        Some(path) => Some(report::read_metrics(path).map_err(|e| one(e.to_string()))?),
        None => None,
    };
    let cases: usize = sets.iter().map(|s| s.cases.len()).sum();
    let in_flight = concurrency(&config, &model, args.concurrency);
    eprintln!(
        "eval: {} set(s), {cases} case(s), model `{model}`, {in_flight} at once",
        sets.len(),
    );

    let store = Store::connect(&config.database.url, 2)
        .await
        .map_err(|e| one(format!("opening the database: {e:#}")))?;
    let pipeline = crate::app::build_pipeline(&config, &store, &Default::default())
        .await
        .map_err(|e| one(format!("{e:#}")))?;
    let scorers = scorers(&config, &pipeline, &model, needs, rubrics)
        .await
        .map_err(one)?;
    let options = RunOptions {
        model,
        concurrency: in_flight,
        max_tokens: config.eval.max_tokens,
        progress: Progress::start("eval", "cases", Some(cases as u64)),
    };
    let runner = Runner::new(pipeline.clone(), scorers);
    let mut run = runner.run(&sets, &options).await;
    run.git_sha = git_sha();
    // The eval turns' log records reach the database before the run is reported.
    pipeline.writer.shutdown(Duration::from_secs(60)).await;

    let comparison = baseline.as_ref().map(|b| compare::compare(b, &run));
    let out_dir = args
        .out
        .clone()
        .unwrap_or_else(|| config.eval.out_dir.clone());
    let written = report::write_outputs(&out_dir, &run, comparison.as_ref());
    let stored = store.save_eval_run(&run, comparison.as_ref()).await;
    store.close().await;
    let dir = written.map_err(|e| one(e.to_string()))?;
    stored.map_err(|e| one(format!("storing the run: {e}")))?;
    print_summary(&run, &dir);
    match comparison {
        Some(c) if c.regressions() > 0 => {
            println!(
                "{} regression(s) against {} (see report.md)",
                c.regressions(),
                c.baseline_run_id
            );
            Ok(EXIT_REGRESSION)
        }
        _ => Ok(0),
    }
}

/// Cases in flight: `--concurrency`, else `[eval] concurrency`; for a local model at most what
/// its workers and queue hold (each case has one model call in flight at a time), so none is
/// refused as busy.
fn concurrency(config: &Config, model: &str, flag: Option<u16>) -> usize {
    let wanted = flag.map_or(config.eval.concurrency, usize::from);
    match config.model(model).map(|m| &m.provider) {
        Some(ProviderSettings::Local(l)) => wanted.min(l.workers.max(1) + l.queue),
        _ => wanted,
    }
}

/// The set files to run: `--evalset` files and folders, else `[eval] sets_dir`; then, with
/// `--changed-since`, only those a change touches (printed with the reasons).
fn set_paths(config: &Config, args: &RunArgs) -> Result<Vec<PathBuf>, String> {
    let mut paths = Vec::new();
    if args.evalsets.is_empty() {
        paths = set::discover(&config.eval.sets_dir)?;
    }
    for p in &args.evalsets {
        if p.is_dir() {
            paths.extend(set::discover(p)?);
        } else if p.is_file() {
            paths.push(p.clone());
        } else {
            return Err(format!("--evalset {}: no such file or folder", p.display()));
        }
    }
    let mut paths: Vec<PathBuf> = paths.into_iter().map(|p| relative_to_cwd(&p)).collect();
    paths.dedup();
    let Some(git_ref) = &args.changed_since else {
        return Ok(paths);
    };
    let mut sources = Vec::with_capacity(paths.len());
    for path in &paths {
        sources.push(SetSource {
            prompt: set::peek_prompt(path)?,
            path: path.clone(),
        });
    }
    let selected = changed::select(Path::new("."), git_ref, &sources).map_err(|e| e.to_string())?;
    if selected.is_empty() {
        eprintln!("eval: no eval set is touched by changes since {git_ref}");
    }
    for s in &selected {
        eprintln!(
            "eval: {} selected: {}",
            s.path.display(),
            s.reasons.join("; ")
        );
    }
    Ok(selected.into_iter().map(|s| s.path).collect())
}

/// A path under the working directory, relative to it: results pair sets by file name, so a
/// run from a base checkout and one from the head must name the same set the same way.
fn relative_to_cwd(path: &Path) -> PathBuf {
    let Ok(cwd) = std::env::current_dir() else {
        return path.to_path_buf();
    };
    match path.strip_prefix(&cwd) {
        Ok(rel) => rel.to_path_buf(),
        Err(_) => path.strip_prefix("./").unwrap_or(path).to_path_buf(),
    }
}

/// The evaluated model, and the judge and a local model when the sets need them, must be
/// configured.
fn check_models(config: &Config, model: &str, needs: Needs) -> Result<(), String> {
    let names = || {
        config
            .models
            .iter()
            .map(|m| m.name.as_str())
            .collect::<Vec<_>>()
            .join(", ")
    };
    if config.model(model).is_none() {
        return Err(format!(
            "model `{model}` is not configured (models: {})",
            names()
        ));
    }
    if needs.judge
        && let Some(judge) = &config.eval.judge_model
        && config.model(judge).is_none()
    {
        return Err(format!(
            "[eval] judge_model `{judge}` is not configured (models: {})",
            names()
        ));
    }
    if needs.local_model
        && !config
            .models
            .iter()
            .any(|m| matches!(m.provider, ProviderSettings::Local(_)))
    {
        return Err("a `perplexity` assertion needs a local model in [[models]]".into());
    }
    if needs.embedder && !config.eval.embedding_model.is_dir() {
        return Err(format!(
            "a `similarity` assertion needs all-MiniLM-L6-v2 in {} ([eval] embedding_model; `make models` fetches it)",
            config.eval.embedding_model.display()
        ));
    }
    Ok(())
}

/// Loads what the sets' assertions need, once: the embedder, a local model, the judge.
async fn scorers(
    config: &Config,
    pipeline: &Pipeline,
    model: &str,
    needs: Needs,
    rubrics: Rubrics,
) -> Result<Scorers, String> {
    let providers = &pipeline.providers;
    let mut scorers = Scorers {
        rubrics: Arc::new(rubrics),
        ..Scorers::default()
    };
    if needs.embedder {
        let dir = config.eval.embedding_model.clone();
        let embedder = tokio::task::spawn_blocking(move || {
            crate::eval::metrics::similarity::Embedder::load(&dir)
        })
        .await
        .map_err(|e| e.to_string())?
        .map_err(|e| format!("loading the embedding model: {e}"))?;
        scorers.embedder = Some(Arc::new(embedder));
    }
    if needs.local_model {
        // The evaluated model when it is local, else the first local one.
        let is_local = |name: &str| {
            providers
                .get(name)
                .filter(|m| matches!(m.backend, Backend::Local(_)))
                .cloned()
        };
        scorers.local = is_local(model).or_else(|| {
            providers
                .all()
                .iter()
                .find(|m| matches!(m.backend, Backend::Local(_)))
                .cloned()
        });
    }
    if needs.judge
        && let Some(name) = &config.eval.judge_model
    {
        scorers.judge = Some(Judge {
            providers: providers.clone(),
            metrics: pipeline.metrics.clone(),
            model: name.clone(),
        });
    }
    Ok(scorers)
}

/// The commit of the working directory, when it is a git checkout.
fn git_sha() -> Option<String> {
    let out = std::process::Command::new("git")
        .args(["rev-parse", "HEAD"])
        .output()
        .ok()?;
    let sha = String::from_utf8(out.stdout).ok()?.trim().to_string();
    (out.status.success() && !sha.is_empty()).then_some(sha)
}

fn print_summary(run: &RunResult, dir: &Path) {
    for set in &run.sets {
        let count = |s: CaseStatus| set.cases.iter().filter(|c| c.status == s).count();
        println!(
            "{}: {} passed, {} failed, {} errored",
            set.file,
            count(CaseStatus::Passed),
            count(CaseStatus::Failed),
            count(CaseStatus::Errored)
        );
    }
    println!("{} written to {}", run.run_id, dir.display());
}
