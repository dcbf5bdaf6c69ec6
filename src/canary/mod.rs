//! Online evaluation: comparing what a candidate (a release, a prompt version, a model) serves
//! with a baseline over the message log, and the prompt canary gate built on it.
//!
//! - `compare`: selectors, windows and one metric's comparison with its verdict — the core of
//!   `powerbirth monitor canary` (exit 1 when the candidate is significantly worse);
//! - `effect`: the statistics' numbers put together (Mann–Whitney with Hodges–Lehmann and its
//!   95 % CI; the two-proportion z-test for rates);
//! - `gate`: the periodic task that compares every running prompt canary with its prompt's
//!   production version, promotes or rolls back per the prompt's policy, records the decision
//!   and refreshes every replica's label overrides; `state` for `GET /v1/prompts/{id}/canary`.
//!
//! `[canary]` is this module's configuration section. See `docs/monitoring.md`.

pub mod compare;
pub mod effect;
pub mod gate;

use std::time::Duration;

use serde::Deserialize;

pub use compare::{Comparison, Selector, Verdict, parse_window};
pub use gate::CanaryGate;

/// `[canary]`: when and how the prompt canary gate runs.
#[derive(Debug, Clone)]
pub struct CanaryConfig {
    /// Run the gate at all (the overrides are refreshed either way).
    pub enabled: bool,
    /// How often the gate compares every running canary.
    pub interval: Duration,
    /// How often every replica re-reads the label overrides from the database.
    pub refresh: Duration,
    /// The window compared (the last `window` before each run).
    pub window: Duration,
    /// The significance level of the gate's tests.
    pub alpha: f64,
}

/// `[canary]` exactly as written; every key is optional.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct RawCanaryConfig {
    enabled: bool,
    interval_s: u64,
    refresh_s: u64,
    window: String,
    alpha: f64,
}

impl Default for RawCanaryConfig {
    fn default() -> Self {
        RawCanaryConfig {
            enabled: true,
            interval_s: 600,
            refresh_s: 10,
            window: "24h".into(),
            alpha: 0.01,
        }
    }
}

impl RawCanaryConfig {
    pub fn validate(self) -> Result<CanaryConfig, String> {
        if self.interval_s == 0 || self.refresh_s == 0 {
            return Err("[canary] interval_s and refresh_s must be at least 1".into());
        }
        if !(self.alpha > 0.0 && self.alpha <= 0.5) {
            return Err(format!(
                "[canary] alpha = {} must be above 0 and at most 0.5",
                self.alpha
            ));
        }
        let window = parse_window(&self.window).map_err(|e| format!("[canary] window: {e}"))?;
        Ok(CanaryConfig {
            enabled: self.enabled,
            interval: Duration::from_secs(self.interval_s),
            refresh: Duration::from_secs(self.refresh_s),
            window,
            alpha: self.alpha,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_default_section_runs_every_ten_minutes_over_a_day_at_alpha_one_percent() {
        let c = RawCanaryConfig::default().validate().unwrap();
        assert!(c.enabled);
        assert_eq!(c.interval, Duration::from_secs(600));
        assert_eq!(c.window, Duration::from_secs(86_400));
        assert_eq!(c.alpha, 0.01);
    }

    #[test]
    fn a_bad_alpha_or_window_names_the_key() {
        let raw = RawCanaryConfig {
            alpha: 0.0,
            ..RawCanaryConfig::default()
        };
        assert!(raw.validate().unwrap_err().contains("[canary] alpha"));
        let raw = RawCanaryConfig {
            window: "1w".into(),
            ..RawCanaryConfig::default()
        };
        assert!(raw.validate().unwrap_err().contains("[canary] window"));
    }
}
