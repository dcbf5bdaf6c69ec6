//! `powerbirth eval recommend --interactions FILE [--json]`: the recommender (catalogue and
//! vectors from `[recommend]`) on an interaction log, beside two baselines in the same run.

use std::path::PathBuf;

use anyhow::Context;
use clap::Args;

use crate::config::Config;
use crate::ml::recommend::{Recommender, eval, synth};

#[derive(Debug, Args)]
pub struct RecommendArgs {
    /// Interaction log, JSON Lines (`patient_id`, `language`, `gestational_week`,
    /// `content_id`, `ts_ms`).
    #[arg(long, value_name = "FILE")]
    pub interactions: PathBuf,
    /// Print the report as JSON instead of a table.
    #[arg(long)]
    pub json: bool,
    /// Seed of the random baseline.
    #[arg(long, default_value_t = 0)]
    pub seed: u64,
}

pub async fn run(config: &Config, args: RecommendArgs) -> anyhow::Result<()> {
    let text = std::fs::read_to_string(&args.interactions)
        .with_context(|| format!("reading {}", args.interactions.display()))?;
    let log = synth::read_jsonl(&text)
        .map_err(|e| anyhow::anyhow!("{}: {e}", args.interactions.display()))?;
    let cfg = config.recommend.clone();
    let recommender = tokio::task::spawn_blocking(move || Recommender::load(&cfg))
        .await?
        .map_err(|e| anyhow::anyhow!("{e}"))?;
    let report = eval::evaluate(&recommender.ranker(), &log, args.seed);
    if args.json {
        println!("{}", serde_json::to_string_pretty(&report)?);
    } else {
        print!("{}", eval::render_table(&report));
        let model = recommender.model();
        println!("\nmodel {} {}", model.name, model.version);
    }
    Ok(())
}
