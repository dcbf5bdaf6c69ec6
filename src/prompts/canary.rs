//! The prompt canary: a `canary` label written as a table (`canary = { version = 3,
//! traffic_percent = 10, … }`) serves that share of the prompt's default traffic from the
//! candidate version, sticky per conversation, under a policy that the gateway's canary gate
//! (`crate::canary`) applies: roll back on a regression, promote or hold on success.
//!
//! What the gate decided is an in-database override of the labels ([`CanaryOverrides`], loaded
//! by every replica): a promoted candidate is served as `production` at once, a rolled-back one
//! gets no traffic. The files keep saying what they said until the pull request that moves the
//! label is merged.

use std::collections::HashMap;

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use super::model::Prompt;
use super::render::DEFAULT_LABEL;

/// The label that may carry a traffic share and a policy.
pub const CANARY_LABEL: &str = "canary";

/// Buckets a conversation falls into: 0..10,000, so a share has a resolution of 0.01 %.
pub const BUCKETS: u32 = 10_000;

/// What to do when the candidate is significantly worse on any metric.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum OnRegression {
    /// Stop serving the candidate (the override `rolled_back`).
    #[default]
    Rollback,
    /// Record the regression and keep serving the share (a person decides).
    Hold,
}

/// What to do when the candidate has enough samples everywhere and is worse nowhere.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum OnSuccess {
    /// Serve the candidate as `production` (the override `promoted`).
    Promote,
    /// Record the result and keep serving the share (a person moves the label).
    #[default]
    Hold,
}

/// A prompt's canary: the candidate version, its share of the traffic and the gate's policy.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct CanaryPolicy {
    pub version: u32,
    /// The share as written (percent of the prompt's default traffic).
    pub traffic_percent: f64,
    /// The share in buckets of [`BUCKETS`].
    #[serde(skip)]
    pub(crate) traffic_buckets: u32,
    pub on_regression: OnRegression,
    pub on_success: OnSuccess,
    /// Samples each side needs on a metric before the gate reads it.
    pub min_samples: u32,
}

/// `canary = { … }` as written in `prompt.toml`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawCanary {
    version: u32,
    traffic_percent: f64,
    #[serde(default)]
    on_regression: OnRegression,
    #[serde(default)]
    on_success: OnSuccess,
    #[serde(default = "default_min_samples")]
    min_samples: u32,
}

fn default_min_samples() -> u32 {
    200
}

impl RawCanary {
    /// The policy, or what is wrong with it (phrased for the prompt's author).
    pub(crate) fn validate(self) -> Result<CanaryPolicy, String> {
        let t = self.traffic_percent;
        if !(t > 0.0 && t <= 100.0) {
            return Err(format!(
                "`traffic_percent` must be above 0 and at most 100 (found {t})"
            ));
        }
        let buckets = (t * 100.0).round();
        if (t * 100.0 - buckets).abs() > 1e-6 {
            return Err(format!(
                "`traffic_percent` has a resolution of 0.01 (found {t})"
            ));
        }
        if self.min_samples < 2 {
            return Err("`min_samples` must be at least 2".into());
        }
        Ok(CanaryPolicy {
            version: self.version,
            traffic_percent: t,
            traffic_buckets: buckets as u32,
            on_regression: self.on_regression,
            on_success: self.on_success,
            min_samples: self.min_samples,
        })
    }
}

/// The bucket (0..[`BUCKETS`]) of a routing key: the first 8 bytes of its SHA-256, so every
/// replica and every release puts a conversation in the same bucket.
pub fn bucket(routing_key: &str) -> u32 {
    let digest = Sha256::digest(routing_key.as_bytes());
    let mut first = [0u8; 8];
    first.copy_from_slice(&digest[..8]);
    (u64::from_be_bytes(first) % u64::from(BUCKETS)) as u32
}

/// What the canary gate decided for a prompt, as stored.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum OverrideOutcome {
    Promoted,
    RolledBack,
}

/// One prompt's override of its file labels.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct LabelOverride {
    pub candidate: u32,
    pub baseline: u32,
    pub outcome: OverrideOutcome,
    pub decided_at: i64,
}

/// Every prompt's override, by prompt id: loaded from the database, swapped whole.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct CanaryOverrides {
    by_prompt: HashMap<String, LabelOverride>,
}

impl CanaryOverrides {
    pub fn new(by_prompt: HashMap<String, LabelOverride>) -> CanaryOverrides {
        CanaryOverrides { by_prompt }
    }

    pub fn get(&self, prompt_id: &str) -> Option<&LabelOverride> {
        self.by_prompt.get(prompt_id)
    }
}

impl Prompt {
    /// The prompt's canary, when its `canary` label is written as a table.
    pub fn canary(&self) -> Option<&CanaryPolicy> {
        self.canary.as_ref()
    }

    /// The version served as `production`: the file's label, unless the gate promoted a
    /// candidate (that version, while it exists).
    pub fn effective_production(&self, overrides: &CanaryOverrides) -> Option<u32> {
        let promoted = overrides
            .get(&self.id)
            .filter(|o| o.outcome == OverrideOutcome::Promoted)
            .map(|o| o.candidate)
            .filter(|v| self.versions.contains_key(v));
        promoted.or_else(|| self.labels.get(DEFAULT_LABEL).copied())
    }

    /// The canary still taking traffic: none once the gate decided on its version.
    pub fn running_canary(&self, overrides: &CanaryOverrides) -> Option<&CanaryPolicy> {
        let decided = overrides.get(&self.id).map(|o| o.candidate);
        self.canary
            .as_ref()
            .filter(|c| decided != Some(c.version))
            .filter(|c| self.effective_production(overrides) != Some(c.version))
    }

    /// The version a request that names no version is served when it asks for no label or for
    /// `production`: the candidate for conversations whose bucket falls in the canary's share,
    /// else the effective production version. `None` for other requests (resolved as written).
    pub fn routed_version(
        &self,
        label: Option<&str>,
        overrides: &CanaryOverrides,
        routing_key: &str,
    ) -> Option<u32> {
        if label.is_some_and(|l| l != DEFAULT_LABEL) {
            return None;
        }
        if let Some(c) = self.running_canary(overrides)
            && bucket(routing_key) < c.traffic_buckets
        {
            return Some(c.version);
        }
        self.effective_production(overrides)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn policy(percent: f64) -> CanaryPolicy {
        RawCanary {
            version: 2,
            traffic_percent: percent,
            on_regression: OnRegression::Rollback,
            on_success: OnSuccess::Promote,
            min_samples: 10,
        }
        .validate()
        .unwrap()
    }

    #[test]
    fn ten_percent_of_ten_thousand_conversations_fall_in_the_canary_within_two_points() {
        for percent in [1.0, 10.0, 25.0, 50.0] {
            let p = policy(percent);
            let n = 10_000;
            let hits = (0..n)
                .filter(|i| bucket(&format!("key-1:conversation-{i}")) < p.traffic_buckets)
                .count();
            let share = hits as f64 * 100.0 / n as f64;
            assert!(
                (share - percent).abs() <= 2.0,
                "{percent}% asked, {share}% served"
            );
        }
    }

    #[test]
    fn a_conversation_always_falls_in_the_same_bucket() {
        let b = bucket("key-1:c-42");
        assert!(b < BUCKETS);
        for _ in 0..10 {
            assert_eq!(bucket("key-1:c-42"), b);
        }
        assert_ne!(bucket("key-1:c-42"), bucket("key-2:c-42"));
    }

    #[test]
    fn a_share_out_of_range_or_finer_than_a_bucket_is_refused() {
        for bad in [0.0, -1.0, 100.5, f64::NAN, 0.001] {
            let raw = RawCanary {
                version: 2,
                traffic_percent: bad,
                on_regression: OnRegression::Rollback,
                on_success: OnSuccess::Hold,
                min_samples: 10,
            };
            assert!(raw.validate().is_err(), "{bad} accepted");
        }
        assert_eq!(policy(12.5).traffic_buckets, 1250);
    }
}
