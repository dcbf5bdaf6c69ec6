//! `[review]`: how batches are sampled and how the review pages behave.

use std::time::Duration;

use serde::Deserialize;

/// How often the server samples a batch by itself.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Schedule {
    Off,
    Daily,
    Weekly,
}

/// When the session cookie carries `Secure`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SecureCookie {
    /// When the request arrived over TLS (`X-Forwarded-Proto: https` from the proxy in front).
    Auto,
    Always,
    Never,
}

/// The validated `[review]` section.
#[derive(Debug, Clone)]
pub struct ReviewConfig {
    /// Conversations per batch (urgent ones first, then a stratified random draw).
    pub sample_size: u32,
    pub schedule: Schedule,
    /// How far back a batch looks.
    pub window: Duration,
    /// How long `/review/next` holds an item for the nurse who took it.
    pub lock: Duration,
    /// How long a login lasts.
    pub session: Duration,
    pub secure_cookie: SecureCookie,
    /// Items per batch that a second nurse also reviews, so agreement (Cohen's kappa) can be
    /// measured.
    pub overlap: u32,
    /// Where the admin's "promote" button appends reviewed conversations as eval cases.
    pub evalset: std::path::PathBuf,
}

impl Default for ReviewConfig {
    fn default() -> Self {
        RawReviewConfig::default()
            .validate()
            .expect("the default [review] section is valid")
    }
}

/// `[review]` exactly as written; every key is optional.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct RawReviewConfig {
    sample_size: u32,
    schedule: String,
    window_days: u32,
    lock_minutes: u32,
    session_hours: u32,
    secure_cookie: String,
    overlap: u32,
    evalset: std::path::PathBuf,
}

impl Default for RawReviewConfig {
    fn default() -> Self {
        RawReviewConfig {
            sample_size: 20,
            schedule: "weekly".into(),
            window_days: 7,
            lock_minutes: 30,
            session_hours: 12,
            secure_cookie: "auto".into(),
            overlap: 2,
            evalset: "evalsets/{prompt}/reviewed.toml".into(),
        }
    }
}

impl RawReviewConfig {
    /// Validates the section; errors name the key, to be prefixed with the file by the caller.
    pub fn validate(self) -> Result<ReviewConfig, String> {
        let schedule = match self.schedule.as_str() {
            "off" => Schedule::Off,
            "daily" => Schedule::Daily,
            "weekly" => Schedule::Weekly,
            other => {
                return Err(format!(
                    "[review] schedule must be \"weekly\", \"daily\" or \"off\", not {other:?}"
                ));
            }
        };
        let secure_cookie = match self.secure_cookie.as_str() {
            "auto" => SecureCookie::Auto,
            "always" => SecureCookie::Always,
            "never" => SecureCookie::Never,
            other => {
                return Err(format!(
                    "[review] secure_cookie must be \"auto\", \"always\" or \"never\", not {other:?}"
                ));
            }
        };
        if self.sample_size == 0 || self.sample_size > 1000 {
            return Err("[review] sample_size must be between 1 and 1000".into());
        }
        if self.window_days == 0 || self.lock_minutes == 0 || self.session_hours == 0 {
            return Err(
                "[review] window_days, lock_minutes and session_hours must be positive".into(),
            );
        }
        if self.overlap > self.sample_size {
            return Err("[review] overlap cannot exceed sample_size".into());
        }
        Ok(ReviewConfig {
            sample_size: self.sample_size,
            schedule,
            window: Duration::from_secs(u64::from(self.window_days) * 86_400),
            lock: Duration::from_secs(u64::from(self.lock_minutes) * 60),
            session: Duration::from_secs(u64::from(self.session_hours) * 3_600),
            secure_cookie,
            overlap: self.overlap,
            evalset: self.evalset,
        })
    }
}
