//! `powerbirth prompts lint | render | diff`: what prompt authors and CI run on `prompts/`.

use std::path::PathBuf;

use anyhow::{Context, bail};
use clap::Subcommand;
use serde_json::Value;

use crate::config::Config;
use crate::prompts::{self, PromptRegistry, VariableKind};
use crate::wire::PromptSelector;

#[derive(Debug, Subcommand)]
pub enum PromptsCommand {
    /// Check every prompt; print each problem as `path:line: message`; exit 1 on any.
    Lint {
        /// Also fail when a version that exists at this git ref was changed (released versions
        /// are immutable: a change in behaviour needs a new version).
        #[arg(long)]
        base: Option<String>,
        /// Prompts directory (default: [prompts] dir of the configuration).
        #[arg(long)]
        dir: Option<PathBuf>,
    },
    /// Print the messages a prompt renders to, as JSON.
    Render {
        id: String,
        #[arg(long, conflicts_with = "label")]
        version: Option<u32>,
        #[arg(long)]
        label: Option<String>,
        #[arg(long)]
        lang: Option<String>,
        #[arg(long)]
        persona: Option<String>,
        /// A variable, `name=value` (repeatable); typed by the prompt's declaration.
        #[arg(long = "var", value_name = "NAME=VALUE")]
        vars: Vec<String>,
    },
    /// Unified diff of two versions of a prompt.
    Diff { id: String, a: u32, b: u32 },
}

pub fn run(config: &Config, action: PromptsCommand) -> anyhow::Result<()> {
    match action {
        PromptsCommand::Lint { base, dir } => {
            let dir = dir.unwrap_or_else(|| config.prompts.dir.clone());
            let problems = prompts::lint(&dir, base.as_deref());
            for p in &problems {
                println!("{p}");
            }
            if !problems.is_empty() {
                bail!("{} problem(s) in {}", problems.len(), dir.display());
            }
            println!("prompts: {} ok", dir.display());
            Ok(())
        }
        PromptsCommand::Render {
            id,
            version,
            label,
            lang,
            persona,
            vars,
        } => {
            let registry = load(config)?;
            let variables = typed_variables(&registry, &id, version, label.as_deref(), &vars)?;
            let selector = PromptSelector {
                id,
                version,
                label,
                language: lang,
                persona,
                variables,
            };
            let rendered = registry.render(&selector, None)?;
            let out = serde_json::json!({
                "prompt_ref": rendered.prompt_ref.to_string(),
                "language": rendered.language,
                "persona": rendered.persona,
                "messages": rendered.messages,
                "sha256": rendered.sha256,
            });
            println!("{}", serde_json::to_string_pretty(&out)?);
            Ok(())
        }
        PromptsCommand::Diff { id, a, b } => {
            let registry = load(config)?;
            print!("{}", prompts::diff(&registry, &id, a, b)?);
            Ok(())
        }
    }
}

fn load(config: &Config) -> anyhow::Result<PromptRegistry> {
    PromptRegistry::load(&config.prompts.dir).map_err(|problems| {
        let lines: Vec<String> = problems.iter().map(ToString::to_string).collect();
        anyhow::anyhow!("the prompts have problems:\n{}", lines.join("\n"))
    })
}

/// `name=value` pairs, typed by the declaration of the version that will render (integers and
/// booleans parsed, everything else a string), so `--var gestational_week=34` is a number.
fn typed_variables(
    registry: &PromptRegistry,
    id: &str,
    version: Option<u32>,
    label: Option<&str>,
    vars: &[String],
) -> anyhow::Result<serde_json::Map<String, Value>> {
    let declared = registry
        .get(id)
        .and_then(|p| p.resolve_version(version, label).ok());
    let mut out = serde_json::Map::new();
    for pair in vars {
        let (name, raw) = pair
            .split_once('=')
            .with_context(|| format!("--var {pair:?} is not NAME=VALUE"))?;
        let kind = declared.and_then(|v| v.variable(name)).map(|s| s.kind());
        let value = match kind {
            Some(VariableKind::Integer { .. }) => raw
                .parse::<i64>()
                .map(Value::from)
                .with_context(|| format!("--var {name}: {raw:?} is not an integer"))?,
            Some(VariableKind::Bool) => raw
                .parse::<bool>()
                .map(Value::from)
                .with_context(|| format!("--var {name}: {raw:?} is not true or false"))?,
            _ => Value::String(raw.to_string()),
        };
        out.insert(name.to_string(), value);
    }
    Ok(out)
}
