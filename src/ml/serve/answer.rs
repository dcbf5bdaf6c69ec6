//! One answer: the model's reading, the clinical overrides it can never lower, the urgent-care
//! notice (the chat guard's own wording from `guard/notices.toml`, in the negotiated language),
//! and the record the prediction log keeps.

use std::time::Duration;

use serde::Serialize;
use serde_json::json;

use super::input::Measurements;
use super::model::{Contribution, Level, ServedModel};
use crate::guard::{Guard, Lang, NoticeKind};
use crate::store::predictions::PredictionRecord;

/// Severe hypertension (systolic ≥ 160 or diastolic ≥ 110 mmHg) is high risk and urgent whatever
/// the model says.
pub const SEVERE_SYSTOLIC: f64 = 160.0;
pub const SEVERE_DIASTOLIC: f64 = 110.0;

/// The answer's JSON body.
#[derive(Debug, Clone, Serialize)]
pub struct RiskAnswer {
    pub prediction_id: String,
    pub risk_level: Level,
    pub probabilities: Probabilities,
    pub model: ModelRef,
    pub contributions: Vec<Contribution>,
    pub escalate: bool,
    /// The clinical override applied (`severe_hypertension`), if any.
    #[serde(rename = "override")]
    pub override_: Option<&'static str>,
    pub notices: Vec<Notice>,
}

#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct Probabilities {
    pub low: f64,
    pub mid: f64,
    pub high: f64,
}

#[derive(Debug, Clone, Serialize)]
pub struct ModelRef {
    pub name: String,
    pub version: String,
}

/// A fixed text the client shows as it is.
#[derive(Debug, Clone, Serialize)]
pub struct Notice {
    /// `urgent_care`.
    pub code: &'static str,
    pub language: &'static str,
    pub text: String,
}

/// An answer and what its log record needs.
#[derive(Debug, Clone)]
pub struct Assessment {
    pub answer: RiskAnswer,
    /// The model's inputs by feature name, in its units.
    features: serde_json::Value,
    gestational_week: Option<f64>,
}

/// Scores `m` with `model`, then applies the overrides.
pub fn assess(model: &ServedModel, m: &Measurements, guard: &Guard, lang: Lang) -> Assessment {
    let scored = model.score(m);
    let contributions = model.contributions(&scored);
    let severe = m.systolic_bp_mmhg >= SEVERE_SYSTOLIC || m.diastolic_bp_mmhg >= SEVERE_DIASTOLIC;
    let (risk_level, override_, notices) = if severe {
        let notice = Notice {
            code: "urgent_care",
            language: lang.as_str(),
            text: guard.notice(NoticeKind::Urgent, lang).to_string(),
        };
        (Level::High, Some("severe_hypertension"), vec![notice])
    } else {
        (scored.level, None, Vec::new())
    };
    let [low, mid, high] = scored.probabilities;
    let features: serde_json::Map<String, serde_json::Value> = model
        .model
        .file
        .features
        .iter()
        .zip(&scored.row)
        .map(|(f, v)| (f.name.clone(), json!(v)))
        .collect();
    Assessment {
        answer: RiskAnswer {
            prediction_id: uuid::Uuid::now_v7().to_string(),
            risk_level,
            probabilities: Probabilities { low, mid, high },
            model: ModelRef {
                name: model.name.clone(),
                version: model.version.clone(),
            },
            contributions,
            escalate: severe,
            override_,
            notices,
        },
        features: serde_json::Value::Object(features),
        gestational_week: m.gestational_week,
    }
}

impl Assessment {
    /// The prediction log's row (the patient id is already a pseudonym).
    pub fn record(&self, patient_id: Option<String>, latency: Duration) -> PredictionRecord {
        let a = &self.answer;
        let mut features = self.features.clone();
        if let (Some(week), Some(map)) = (self.gestational_week, features.as_object_mut()) {
            map.insert("gestational_week".into(), json!(week));
        }
        PredictionRecord {
            id: a.prediction_id.clone(),
            created_at: crate::core::now_ms(),
            patient_id,
            features: features.to_string(),
            probabilities: serde_json::to_string(&a.probabilities).unwrap_or_default(),
            risk_level: a.risk_level.as_str().to_string(),
            escalate: a.escalate,
            model_name: a.model.name.clone(),
            model_version: a.model.version.clone(),
            latency_ms: latency.as_secs_f64() * 1000.0,
            release: None,
        }
    }
}
