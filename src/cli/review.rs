//! `powerbirth review sample | promote`: drawing a review batch by hand, and turning a reviewed
//! conversation into an eval case.

use std::path::PathBuf;

use anyhow::Context;
use clap::Subcommand;

use crate::config::Config;
use crate::core::now_ms;
use crate::review::batches::Origin;
use crate::review::promote::{ReferenceSource, promote};
use crate::review::sample::{SampleOptions, parse_window, sample, utc};
use crate::store::Store;

#[derive(Debug, Subcommand)]
pub enum ReviewCommand {
    /// Sample a review batch: every urgent conversation of the window first, then a random draw
    /// stratified by language, persona and prompt version, up to N.
    Sample {
        /// Conversations to draw (default: [review] sample_size).
        #[arg(long, value_parser = clap::value_parser!(u32).range(1..=1000))]
        n: Option<u32>,
        /// How far back to look: `7d`, `24h`, `30d` (default: [review] window_days).
        #[arg(long, value_parser = parse_window)]
        window: Option<std::time::Duration>,
        /// Seed of the draw: the same seed on the same data draws the same batch (default: random,
        /// printed).
        #[arg(long)]
        seed: Option<u64>,
    },
    /// Append a reviewed conversation as a case of an eval set file.
    Promote {
        /// The review item's id (shown on its page).
        item_id: String,
        /// The eval set file; `{prompt}` in it is replaced by the prompt id (default: [review]
        /// evalset).
        #[arg(long, value_name = "PATH")]
        evalset: Option<PathBuf>,
    },
}

pub async fn run(config: &Config, action: ReviewCommand) -> anyhow::Result<()> {
    let store = Store::connect(&config.database.url, 2)
        .await
        .context("opening the database")?;
    let result = match action {
        ReviewCommand::Sample { n, window, seed } => {
            sample_command(&store, config, n, window, seed).await
        }
        ReviewCommand::Promote { item_id, evalset } => {
            promote_command(&store, config, &item_id, evalset).await
        }
    };
    store.close().await;
    result
}

async fn sample_command(
    store: &Store,
    config: &Config,
    n: Option<u32>,
    window: Option<std::time::Duration>,
    seed: Option<u64>,
) -> anyhow::Result<()> {
    let opts = SampleOptions {
        n: n.unwrap_or(config.review.sample_size),
        window: window.unwrap_or(config.review.window),
        seed: seed.unwrap_or_else(rand::random),
        now: now_ms(),
        origin: Origin::Cli,
        overlap: config.review.overlap,
        period: None,
    };
    let batch = sample(store, opts).await?;
    println!(
        "batch {}: {} conversations ({} urgent) of {} candidates, {} to {} UTC, seed {}",
        batch.id,
        batch.items.len(),
        batch.urgent_count(),
        batch.candidates,
        utc(batch.window_start),
        utc(batch.window_end),
        batch.seed
    );
    println!("strata:");
    for (stratum, count) in batch.strata() {
        println!("  {count:>4}  {stratum}");
    }
    let overlap = batch.items.iter().filter(|i| i.overlap).count();
    if overlap > 0 {
        println!("{overlap} item(s) marked for a second nurse (agreement)");
    }
    Ok(())
}

async fn promote_command(
    store: &Store,
    config: &Config,
    item_id: &str,
    evalset: Option<PathBuf>,
) -> anyhow::Result<()> {
    let prompts = crate::app::load_prompts(&config.prompts.dir).map_err(|problems| {
        anyhow::anyhow!(
            "the prompts have problems, fix them first:\n{}",
            problems.join("\n")
        )
    })?;
    let evalset = evalset.unwrap_or_else(|| config.review.evalset.clone());
    let case = promote(store, item_id, &evalset, &prompts).await?;
    println!(
        "{} case {} to {}{} (reference: {}{})",
        if case.created_file {
            "wrote"
        } else {
            "appended"
        },
        case.id,
        case.path.display(),
        if case.created_file {
            ", a new eval set"
        } else {
            ""
        },
        match case.reference_from {
            ReferenceSource::Corrected => "the nurse's corrected answer",
            ReferenceSource::Original => "the answer as it was, rated ≥ 4",
        },
        if case.escalated {
            "; must escalate"
        } else {
            ""
        }
    );
    Ok(())
}
