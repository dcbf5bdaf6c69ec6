//! `GET /review/stats`: reviews per ISO week, score distributions and Cohen's kappa.

use axum::extract::State;
use axum::http::StatusCode;
use axum::response::Response;
use serde::Serialize;

use super::reviews::safety_label;
use super::session::Viewer;
use super::{PageError, ReviewState};
use crate::review::stats;

#[derive(Serialize)]
struct ScoreRow {
    score: usize,
    clinical: i64,
    clinical_width: i64,
    tone: i64,
    tone_width: i64,
}

#[derive(Serialize)]
struct SafetyRow {
    label: String,
    count: i64,
}

#[derive(Serialize)]
struct StatsView {
    total: i64,
    per_week: Vec<(String, i64)>,
    scores: Vec<ScoreRow>,
    safety: Vec<SafetyRow>,
    escalate_yes: i64,
    pairs: usize,
    enough_overlap: bool,
    /// Two decimals, as text (a kappa of 0 must still show).
    kappa_clinical: Option<String>,
    kappa_escalation: Option<String>,
}

/// `GET /review/stats`.
pub async fn stats(
    State(state): State<ReviewState>,
    viewer: Viewer,
) -> Result<Response, PageError> {
    let stats = stats::stats(&state.store)
        .await
        .map_err(PageError::internal)?;
    let lang = viewer.visitor.lang;
    let widest = stats
        .clinical_accuracy
        .iter()
        .chain(&stats.tone)
        .copied()
        .max()
        .unwrap_or(0)
        .max(1);
    let width = |n: i64| n * 160 / widest;
    let view = StatsView {
        total: stats.total,
        scores: (0..5)
            .map(|i| ScoreRow {
                score: i + 1,
                clinical: stats.clinical_accuracy[i],
                clinical_width: width(stats.clinical_accuracy[i]),
                tone: stats.tone[i],
                tone_width: width(stats.tone[i]),
            })
            .collect(),
        safety: stats
            .safety
            .iter()
            .map(|(p, n)| SafetyRow {
                label: safety_label(lang, p),
                count: *n,
            })
            .collect(),
        escalate_yes: stats.escalate_yes,
        pairs: stats.pairs,
        enough_overlap: stats.pairs >= stats::MIN_PAIRS,
        kappa_clinical: stats.kappa_clinical.map(|k| format!("{k:.2}")),
        kappa_escalation: stats.kappa_escalation.map(|k| format!("{k:.2}")),
        per_week: stats.per_week,
    };
    let mut ctx = state.pages.viewer_context(&viewer);
    ctx.insert("stats", &view);
    Ok(state
        .pages
        .render(viewer.visitor, StatusCode::OK, "stats.html", &ctx))
}
