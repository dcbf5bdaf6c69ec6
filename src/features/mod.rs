//! The feature store: per-patient feature groups in the database (the record) with an optional
//! online copy in Redis (write-through, read first, never served over a newer database row).
//!
//! Patient ids arrive pseudonymised (keyed HMAC, see the ingestion docs); the store never holds
//! names or documents. These are the types every user of the store (the risk and recommendation
//! endpoints, ingestion's materialisation, `features load`) shares; the store itself is built on
//! them.

pub mod batch;
pub mod config;
pub mod load;
pub mod metrics;
mod online;
mod store;
pub mod validate;
pub mod values;
mod versions;

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

pub use batch::{PutSummary, SyncCounts};
pub use config::{FeaturesConfig, RawFeaturesConfig};
pub use metrics::FeatureMetrics;
pub use store::{FeatureError, FeatureStore, Group, connect_redis};
pub use validate::FieldError;
pub use values::{FeatureValues, FeatureWrite, parse_json};

/// A feature group: one row per patient in its own table, one Redis hash per patient.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum FeatureGroup {
    /// `risk_features`: the latest measurements the risk model reads.
    Risk,
    /// `engagement_features`: content views and completions per topic, language, week.
    Engagement,
}

impl FeatureGroup {
    pub const ALL: [FeatureGroup; 2] = [FeatureGroup::Risk, FeatureGroup::Engagement];

    /// The name in URLs (`PUT /v1/features/{group}/{patient_id}`), files and Redis keys.
    pub fn as_str(self) -> &'static str {
        match self {
            FeatureGroup::Risk => "risk",
            FeatureGroup::Engagement => "engagement",
        }
    }

    pub fn parse(name: &str) -> Option<FeatureGroup> {
        Self::ALL.into_iter().find(|g| g.as_str() == name)
    }
}

/// The latest measurements of one patient, in the risk endpoint's units. Every measurement is
/// optional: a request's own values override and fill what the store lacks.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RiskFeatures {
    pub age_years: Option<f64>,
    pub systolic_bp_mmhg: Option<f64>,
    pub diastolic_bp_mmhg: Option<f64>,
    pub blood_glucose_mmol_l: Option<f64>,
    pub body_temperature_c: Option<f64>,
    pub heart_rate_bpm: Option<f64>,
    pub gestational_week: Option<f64>,
    /// When the measurements were taken (Unix milliseconds, UTC).
    pub measured_at_ms: Option<i64>,
}

/// Counts per topic (topic → count).
pub type TopicCounts = BTreeMap<String, u32>;

/// What one patient read, per topic, over 7 and 30 days, and what the recommender needs to
/// know about her.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EngagementFeatures {
    #[serde(default)]
    pub views_7d: TopicCounts,
    #[serde(default)]
    pub completions_7d: TopicCounts,
    #[serde(default)]
    pub views_30d: TopicCounts,
    #[serde(default)]
    pub completions_30d: TopicCounts,
    /// Content ids she has opened (most recent first, at most 200): never recommended again.
    #[serde(default)]
    pub read_content_ids: Vec<String>,
    /// Last activity (Unix milliseconds, UTC).
    pub last_active_ms: Option<i64>,
    /// `pt-BR` or `en`.
    pub language: Option<String>,
    pub gestational_week: Option<u32>,
}

/// One stored row: the group's values for a patient and when the row was written (the store
/// compares `updated_at_ms` to never serve a Redis copy older than the database's row).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Stored<T> {
    /// The pseudonymous patient id.
    pub patient_id: String,
    pub values: T,
    /// When this row was written (Unix milliseconds, UTC).
    pub updated_at_ms: i64,
}
