//! `[drift]`: the daily drift job — how often it runs, the windows of logged predictions it
//! compares with the model's training reference, where the reports go.

use std::path::PathBuf;
use std::time::Duration;

use serde::Deserialize;

use super::MethodChoice;

/// One window of logged predictions, by its label (`24h`, `7d`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Window {
    pub label: String,
    pub length: Duration,
}

impl Window {
    /// Parses `24h`, `7d`, `30m` (the label is the text as written).
    pub fn parse(text: &str) -> Result<Window, String> {
        Ok(Window {
            label: text.to_string(),
            length: parse_length(text)?,
        })
    }
}

/// A whole number and a unit, `m`, `h` or `d` (the canary's windows, written the same way).
fn parse_length(text: &str) -> Result<Duration, String> {
    let bad = || format!("`{text}` is not a window (e.g. 24h, 7d)");
    let split = text.len().checked_sub(1).ok_or_else(bad)?;
    let (n, unit) = text.split_at(split);
    let n: u64 = n.parse().map_err(|_| bad())?;
    let secs = match unit {
        "m" => 60,
        "h" => 3_600,
        "d" => 86_400,
        _ => return Err(bad()),
    };
    if n == 0 || n > 366 * 86_400 / secs {
        return Err(bad());
    }
    Ok(Duration::from_secs(n * secs))
}

/// The validated `[drift]` section.
#[derive(Debug, Clone)]
pub struct DriftConfig {
    /// Run the job in the server at all (`monitor drift --model` works either way).
    pub enabled: bool,
    /// How often the server runs it (at start-up, then every `interval`).
    pub interval: Duration,
    /// Reports go to `dir/<date>/<model>-<window>/drift.{json,html}`.
    pub dir: PathBuf,
    pub windows: Vec<Window>,
    /// Fewer logged predictions than this in a window: no report for it.
    pub min_rows: usize,
    /// More than this: every k-th prediction in time order, at most this many.
    pub max_rows: usize,
    pub method: MethodChoice,
}

impl Default for DriftConfig {
    fn default() -> Self {
        RawDriftConfig::default()
            .validate(&|p| p)
            .expect("the default [drift] section is valid")
    }
}

/// `[drift]` exactly as written; every key is optional.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct RawDriftConfig {
    enabled: bool,
    interval_s: u64,
    dir: PathBuf,
    windows: Vec<String>,
    min_rows: usize,
    max_rows: usize,
    method: String,
}

impl Default for RawDriftConfig {
    fn default() -> Self {
        RawDriftConfig {
            enabled: true,
            interval_s: 86_400,
            dir: "monitoring/drift".into(),
            windows: vec!["24h".into(), "7d".into()],
            min_rows: 30,
            max_rows: 100_000,
            method: "auto".into(),
        }
    }
}

impl RawDriftConfig {
    /// Checks the section; `dir` is resolved against the configuration file's folder.
    pub fn validate(self, resolve: &dyn Fn(PathBuf) -> PathBuf) -> Result<DriftConfig, String> {
        if self.interval_s == 0 {
            return Err("[drift] interval_s must be at least 1".into());
        }
        if self.windows.is_empty() {
            return Err("[drift] windows is empty (e.g. [\"24h\", \"7d\"])".into());
        }
        let windows = self
            .windows
            .iter()
            .map(|w| Window::parse(w).map_err(|e| format!("[drift] windows: {e}")))
            .collect::<Result<Vec<_>, _>>()?;
        let method = match self.method.as_str() {
            "auto" => MethodChoice::Auto,
            "psi" => MethodChoice::Psi,
            other => return Err(format!("[drift] method = {other:?}: auto or psi")),
        };
        Ok(DriftConfig {
            enabled: self.enabled,
            interval: Duration::from_secs(self.interval_s),
            dir: resolve(self.dir),
            windows,
            min_rows: self.min_rows.max(1),
            max_rows: self.max_rows.max(self.min_rows).max(1),
            method,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_default_section_runs_daily_over_a_day_and_a_week() {
        let c = DriftConfig::default();
        assert!(c.enabled);
        assert_eq!(c.interval, Duration::from_secs(86_400));
        assert_eq!(c.dir, PathBuf::from("monitoring/drift"));
        let labels: Vec<&str> = c.windows.iter().map(|w| w.label.as_str()).collect();
        assert_eq!(labels, ["24h", "7d"]);
        assert_eq!(c.windows[1].length, Duration::from_secs(7 * 86_400));
    }

    #[test]
    fn a_bad_window_or_method_names_the_key() {
        let raw = RawDriftConfig {
            windows: vec!["1w".into()],
            ..RawDriftConfig::default()
        };
        assert!(
            raw.validate(&|p| p)
                .unwrap_err()
                .contains("[drift] windows")
        );
        let raw = RawDriftConfig {
            method: "kl".into(),
            ..RawDriftConfig::default()
        };
        assert!(raw.validate(&|p| p).unwrap_err().contains("[drift] method"));
    }
}
