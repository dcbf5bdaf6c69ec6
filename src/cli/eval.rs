//! `powerbirth eval …`: the evaluation commands.

use clap::Subcommand;

use super::eval_guard;
use crate::config::Config;

#[derive(Debug, Subcommand)]
pub enum EvalCommand {
    /// The guard's own eval set: precision and recall per category, false escalations.
    Guard(eval_guard::GuardArgs),
}

pub async fn run(config: &Config, action: EvalCommand) -> anyhow::Result<()> {
    match action {
        EvalCommand::Guard(args) => eval_guard::run(config, args),
    }
}
