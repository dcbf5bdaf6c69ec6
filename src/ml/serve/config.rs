//! `[risk]`: where the served risk model comes from, how often the `production` alias is polled,
//! and the weekly quality job.

use std::collections::HashMap;
use std::path::PathBuf;
use std::time::Duration;

use serde::Deserialize;

/// The validated `[risk]` section.
#[derive(Debug, Clone)]
pub struct RiskConfig {
    /// The registered model served (`risk`).
    pub model: String,
    /// The local registry's folder (`registry.json`), used when no MLflow tracking URI is set.
    pub models_dir: PathBuf,
    /// The MLflow tracking server, when the registry is MLflow's.
    pub mlflow_tracking_uri: Option<String>,
    /// How often the `production` alias is polled (`None`: only at start-up and on
    /// `POST /admin/models/reload`).
    pub reload_interval: Option<Duration>,
    /// How often the quality job runs (`None`: never).
    pub quality_interval: Option<Duration>,
    /// How far back the quality job looks for recorded outcomes.
    pub quality_window: Duration,
}

impl Default for RiskConfig {
    fn default() -> Self {
        RawRiskConfig::default()
            .validate(&|p| p, &HashMap::new())
            .expect("the default [risk] section is valid")
    }
}

/// `[risk]` exactly as written; every key is optional.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct RawRiskConfig {
    model: String,
    models_dir: PathBuf,
    mlflow_tracking_uri: Option<String>,
    reload_interval_s: u64,
    quality_interval_s: u64,
    quality_window_days: u32,
}

impl Default for RawRiskConfig {
    fn default() -> Self {
        RawRiskConfig {
            model: "risk".into(),
            models_dir: "models".into(),
            mlflow_tracking_uri: None,
            reload_interval_s: 30,
            quality_interval_s: 7 * 24 * 3600,
            quality_window_days: 7,
        }
    }
}

impl RawRiskConfig {
    /// Checks the section; `models_dir` is resolved against the configuration file's folder.
    /// Without `mlflow_tracking_uri`, `MLFLOW_TRACKING_URI` from the environment is used when
    /// set (as `powerbirth models` does), else the local registry.
    pub fn validate(
        self,
        resolve: &dyn Fn(PathBuf) -> PathBuf,
        vars: &HashMap<String, String>,
    ) -> Result<RiskConfig, String> {
        crate::ml::registry::check_model_name(&self.model).map_err(|_| {
            format!(
                "[risk] model = {:?}: a model name is 1–64 of a-z, 0-9, '-' and '_'",
                self.model
            )
        })?;
        let uri = self
            .mlflow_tracking_uri
            .or_else(|| vars.get("MLFLOW_TRACKING_URI").cloned())
            .filter(|u| !u.trim().is_empty());
        if let Some(u) = &uri
            && !(u.starts_with("http://") || u.starts_with("https://"))
        {
            return Err(format!(
                "[risk] mlflow_tracking_uri = {u:?} is not an http:// or https:// URL"
            ));
        }
        if self.quality_window_days == 0 {
            return Err("[risk] quality_window_days must be at least 1".into());
        }
        let every = |s: u64| (s > 0).then(|| Duration::from_secs(s));
        Ok(RiskConfig {
            model: self.model,
            models_dir: resolve(self.models_dir),
            mlflow_tracking_uri: uri,
            reload_interval: every(self.reload_interval_s),
            quality_interval: every(self.quality_interval_s),
            quality_window: Duration::from_secs(u64::from(self.quality_window_days) * 86_400),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str) -> Result<RiskConfig, String> {
        let raw: RawRiskConfig = toml::from_str(text).map_err(|e| e.to_string())?;
        raw.validate(&|p| PathBuf::from("/etc/pb").join(p), &HashMap::new())
    }

    #[test]
    fn the_defaults_poll_every_thirty_seconds_and_measure_weekly() {
        let c = parse("").unwrap();
        assert_eq!(c.reload_interval, Some(Duration::from_secs(30)));
        assert_eq!(c.quality_window, Duration::from_secs(7 * 86_400));
        assert_eq!(c.models_dir, PathBuf::from("/etc/pb/models"));
        assert!(c.mlflow_tracking_uri.is_none());
    }

    #[test]
    fn zero_switches_polling_off_and_unknown_keys_are_refused() {
        assert_eq!(
            parse("reload_interval_s = 0").unwrap().reload_interval,
            None
        );
        assert!(
            parse("reload_every = 3")
                .unwrap_err()
                .contains("reload_every")
        );
        assert!(
            parse("mlflow_tracking_uri = \"file:///x\"")
                .unwrap_err()
                .contains("http")
        );
    }
}
