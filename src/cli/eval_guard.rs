//! `powerbirth eval guard`: the guard's own eval set (`evalsets/guard/*.jsonl`) through the
//! guard the configuration loads; precision and recall per category and the false-escalation
//! rate on benign messages, against the targets of docs/guard.md. Exit 1 when a target is missed.

use std::path::PathBuf;

use anyhow::{Context, bail};

use crate::config::Config;
use crate::guard::Guard;
use crate::guard::eval::{Targets, run_guard_eval};

#[derive(Debug, clap::Args)]
pub struct GuardArgs {
    /// Folder of labelled `*.jsonl` files.
    #[arg(long, default_value = "evalsets/guard")]
    pub evalset: PathBuf,
    /// Also list every message the guard got wrong (id, expected, got).
    #[arg(long)]
    pub misses: bool,
}

pub fn run(config: &Config, args: GuardArgs) -> anyhow::Result<()> {
    let guard = Guard::load(&config.guard.dir)
        .map_err(|e| anyhow::anyhow!("the guard data has a problem: {e}"))?;
    let report = run_guard_eval(&guard, &args.evalset)
        .map_err(|e| anyhow::anyhow!("{}", e.0))
        .with_context(|| format!("reading the eval set in {}", args.evalset.display()))?;
    print!("{report}");
    if args.misses {
        for m in &report.misses {
            let names = |cs: &[crate::guard::Category]| {
                cs.iter().map(|c| c.as_str()).collect::<Vec<_>>().join(",")
            };
            println!(
                "miss {}: expected [{}] got [{}]",
                m.id,
                names(&m.expected),
                names(&m.got)
            );
        }
    }
    let failures = report.failures(&Targets::default());
    if !failures.is_empty() {
        bail!("guard targets not met: {}", failures.join("; "));
    }
    Ok(())
}
