//! The `[guard]` configuration section: where the guard's data (lexicons, rules, notices) lives,
//! whether a client's `store: true` may reach the upstream, and the triage classifier installed
//! as its second opinion (a version folder or a registry selector).
//! Read raw (`deny_unknown_fields`), then validated into [`GuardConfig`]; hooked into the file by
//! `src/config`.

use std::path::{Path, PathBuf};

use serde::Deserialize;

/// Where the guard's data lives, and what it lets through.
#[derive(Debug, Clone)]
pub struct GuardConfig {
    pub dir: PathBuf,
    /// Forward a client's `"store": true` (the provider keeps the exchange). Off by default: the
    /// exchange may hold a pregnant woman's health data.
    pub allow_store: bool,
    /// The triage classifier installed as the second opinion, if any; `app` loads it (issue
    /// #19).
    pub triage_model: Option<TriageModelRef>,
    /// The encoder that version was trained on (`models/base/all-minilm-l6-v2`).
    pub triage_encoder: PathBuf,
}

/// Where `[guard] triage_model` points.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TriageModelRef {
    /// A trained version folder (`models/triage/<version>`).
    Path(PathBuf),
    /// `model@alias` (`triage@production`): the version the alias points at in the model
    /// registry the risk model uses (`[risk] models_dir` / MLflow), resolved at start-up.
    Registry { model: String, alias: String },
}

impl TriageModelRef {
    /// `name@alias` where both are 1–64 of `a-z`, `0-9`, `-`, `_` is a registry selector;
    /// anything else (a path with `/`, say `./triage@production`) is a path.
    pub fn parse(written: &Path) -> TriageModelRef {
        let selector = written
            .to_str()
            .and_then(|s| s.split_once('@'))
            .filter(|(m, a)| {
                let word = |w: &str| {
                    !w.is_empty()
                        && w.len() <= 64
                        && w.bytes().all(|b| {
                            b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-' || b == b'_'
                        })
                };
                word(m) && word(a)
            });
        match selector {
            Some((model, alias)) => TriageModelRef::Registry {
                model: model.into(),
                alias: alias.into(),
            },
            None => TriageModelRef::Path(written.to_path_buf()),
        }
    }
}

impl std::fmt::Display for TriageModelRef {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            TriageModelRef::Path(p) => write!(f, "{}", p.display()),
            TriageModelRef::Registry { model, alias } => write!(f, "{model}@{alias}"),
        }
    }
}

/// `[guard]` exactly as written; every key is optional.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct RawGuardConfig {
    dir: PathBuf,
    allow_store: bool,
    triage_model: Option<PathBuf>,
    triage_encoder: PathBuf,
}

impl Default for RawGuardConfig {
    fn default() -> Self {
        RawGuardConfig {
            dir: PathBuf::from("guard"),
            allow_store: false,
            triage_model: None,
            triage_encoder: PathBuf::from("models/base/all-minilm-l6-v2"),
        }
    }
}

impl RawGuardConfig {
    /// `resolve` turns the directory as written into the one to read (the configuration file's
    /// rule for relative paths).
    pub fn validate(self, resolve: &dyn Fn(PathBuf) -> PathBuf) -> GuardConfig {
        GuardConfig {
            dir: resolve(self.dir),
            allow_store: self.allow_store,
            triage_model: self
                .triage_model
                .filter(|p| !p.as_os_str().is_empty())
                .map(|p| match TriageModelRef::parse(&p) {
                    TriageModelRef::Path(p) => TriageModelRef::Path(resolve(p)),
                    selector => selector,
                }),
            triage_encoder: resolve(self.triage_encoder),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_registry_selector_is_told_from_a_path() {
        assert_eq!(
            TriageModelRef::parse(Path::new("triage@production")),
            TriageModelRef::Registry {
                model: "triage".into(),
                alias: "production".into()
            }
        );
        for path in [
            "models/triage/c23de1f563e5",
            "./triage@production",
            "Triage@production",
            "triage@",
            "@production",
        ] {
            assert_eq!(
                TriageModelRef::parse(Path::new(path)),
                TriageModelRef::Path(path.into()),
                "{path}"
            );
        }
    }
}
