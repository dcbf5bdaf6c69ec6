//! The `[alerts]` configuration section: read raw (`deny_unknown_fields`), then validated into
//! [`AlertsConfig`]. Hooked into the configuration file by `src/config`.

use std::str::FromStr;
use std::time::Duration;

use rust_decimal::Decimal;
use serde::Deserialize;

use crate::core::Secret;

/// How the cost alert runs.
#[derive(Debug, Clone)]
pub struct AlertsConfig {
    /// Whether the monitor runs at all.
    pub enabled: bool,
    /// Time between two checks.
    pub interval: Duration,
    /// An alert opens when the mean cost per message rises by more than this fraction (0.20 is
    /// 20%) from the previous 24 h to the last 24 h.
    pub cost_rise_ratio: Decimal,
    /// Messages each window needs before a scope is judged (fewer is noise, not a trend).
    pub min_messages: u64,
    /// Where alerts are POSTed as JSON, if anywhere. A secret: such URLs often carry a token.
    pub webhook_url: Option<Secret>,
    /// Further attempts after a failed POST (with exponential backoff).
    pub webhook_retries: u32,
    /// Time limit of one POST.
    pub webhook_timeout: Duration,
}

impl Default for AlertsConfig {
    fn default() -> Self {
        RawAlertsConfig::default()
            .validate()
            .expect("the default [alerts] section is valid")
    }
}

/// `[alerts]` exactly as written; every key is optional.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct RawAlertsConfig {
    enabled: bool,
    interval_ms: u64,
    cost_rise_ratio: RawRatio,
    min_messages: u64,
    webhook_url: Option<String>,
    webhook_retries: u32,
    webhook_timeout_ms: u64,
}

impl Default for RawAlertsConfig {
    fn default() -> Self {
        RawAlertsConfig {
            enabled: true,
            interval_ms: 5 * 60 * 1000,
            cost_rise_ratio: RawRatio::Text("0.20".into()),
            min_messages: 20,
            webhook_url: None,
            webhook_retries: 3,
            webhook_timeout_ms: 5_000,
        }
    }
}

/// A ratio written as a TOML number (`0.2`) or a decimal string (`"0.2"`).
#[derive(Debug, Deserialize)]
#[serde(untagged)]
enum RawRatio {
    Float(f64),
    Integer(i64),
    Text(String),
}

impl RawRatio {
    /// The decimal the operator wrote: `0.2` stays 0.2 exactly (read through its shortest
    /// text form, not the binary float).
    fn to_decimal(&self) -> Option<Decimal> {
        match self {
            // Rust prints floats in their shortest round-tripping form, never in exponent form.
            RawRatio::Float(f) if f.is_finite() => Decimal::from_str(&f.to_string()).ok(),
            RawRatio::Float(_) => None,
            RawRatio::Integer(i) => Some(Decimal::from(*i)),
            RawRatio::Text(t) => Decimal::from_str(t.trim()).ok(),
        }
    }
}

impl RawAlertsConfig {
    /// Validates the section; errors name the key, to be prefixed with the file by the caller.
    pub fn validate(self) -> Result<AlertsConfig, String> {
        if self.interval_ms == 0 {
            return Err("[alerts] interval_ms must be positive".into());
        }
        let ratio = self.cost_rise_ratio.to_decimal().ok_or_else(|| {
            format!(
                "[alerts] cost_rise_ratio = {:?} is not a number",
                self.cost_rise_ratio
            )
        })?;
        if ratio <= Decimal::ZERO {
            return Err(format!(
                "[alerts] cost_rise_ratio = {ratio} must be above 0 (0.20 means a 20% rise)"
            ));
        }
        if self.min_messages == 0 {
            return Err("[alerts] min_messages must be at least 1".into());
        }
        if self.webhook_timeout_ms == 0 {
            return Err("[alerts] webhook_timeout_ms must be positive".into());
        }
        let webhook_url = match self.webhook_url.map(|u| u.trim().to_string()) {
            None => None,
            Some(u) if u.is_empty() => None,
            Some(u) if u.starts_with("http://") || u.starts_with("https://") => {
                Some(Secret::new(u))
            }
            Some(_) => {
                return Err("[alerts] webhook_url must start with http:// or https://".into());
            }
        };
        Ok(AlertsConfig {
            enabled: self.enabled,
            interval: Duration::from_millis(self.interval_ms),
            cost_rise_ratio: ratio.normalize(),
            min_messages: self.min_messages,
            webhook_url,
            webhook_retries: self.webhook_retries,
            webhook_timeout: Duration::from_millis(self.webhook_timeout_ms),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str) -> Result<AlertsConfig, String> {
        toml::from_str::<RawAlertsConfig>(text)
            .map_err(|e| e.to_string())?
            .validate()
    }

    #[test]
    fn the_defaults_are_a_20_percent_rise_checked_every_five_minutes() {
        let c = parse("").unwrap();
        assert!(c.enabled);
        assert_eq!(c.interval, Duration::from_secs(300));
        assert_eq!(c.cost_rise_ratio, Decimal::from_str("0.2").unwrap());
        assert_eq!(c.min_messages, 20);
        assert!(c.webhook_url.is_none());
    }

    #[test]
    fn a_ratio_reads_exactly_from_a_number_or_a_string() {
        assert_eq!(
            parse("cost_rise_ratio = 0.2")
                .unwrap()
                .cost_rise_ratio
                .to_string(),
            "0.2"
        );
        assert_eq!(
            parse("cost_rise_ratio = \"0.35\"")
                .unwrap()
                .cost_rise_ratio
                .to_string(),
            "0.35"
        );
        assert_eq!(
            parse("cost_rise_ratio = 1")
                .unwrap()
                .cost_rise_ratio
                .to_string(),
            "1"
        );
    }

    #[test]
    fn bad_values_are_refused_with_the_key_named() {
        assert!(
            parse("cost_rise_ratio = -0.1")
                .unwrap_err()
                .contains("cost_rise_ratio")
        );
        assert!(
            parse("cost_rise_ratio = \"lots\"")
                .unwrap_err()
                .contains("cost_rise_ratio")
        );
        assert!(
            parse("interval_ms = 0")
                .unwrap_err()
                .contains("interval_ms")
        );
        assert!(
            parse("min_messages = 0")
                .unwrap_err()
                .contains("min_messages")
        );
        assert!(
            parse("webhook_url = \"ftp://x\"")
                .unwrap_err()
                .contains("webhook_url")
        );
        assert!(parse("window = 3").unwrap_err().contains("window"));
    }

    #[test]
    fn the_webhook_url_never_shows_in_debug_output() {
        let c = parse("webhook_url = \"https://hooks.example/T0KEN\"").unwrap();
        assert!(!format!("{c:?}").contains("T0KEN"));
        assert_eq!(
            c.webhook_url.unwrap().expose(),
            "https://hooks.example/T0KEN"
        );
    }
}
