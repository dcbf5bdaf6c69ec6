//! The state every API route reads: one `Clone` struct of `Arc`s, built once by `App::build`;
//! nothing global and mutable. It lives with the routes (not in `app`) so the import graph runs
//! one way: `app` builds it and the router, `http` never imports `app`.

use std::sync::Arc;

use crate::auth::KeyCache;
use crate::chat::Pipeline;
use crate::config::Config;
use crate::metrics::Metrics;
use crate::ratelimit::RateLimiter;
use crate::store::Store;

/// Shared state: one `Clone` struct of `Arc`s, built once; nothing global and mutable.
#[derive(Clone)]
pub struct AppState {
    pub config: Arc<Config>,
    pub store: Store,
    pub keys: Arc<KeyCache>,
    pub limiter: Arc<RateLimiter>,
    pub metrics: Arc<Metrics>,
    pub pipeline: Pipeline,
    /// Per key, the moderation checks running at once (`/v1/moderations`).
    pub moderation_slots: Arc<crate::http::moderations::CheckSlots>,
    /// The served risk model (`/v1/risk/*`), hot-swapped when `production` moves.
    pub risk: Arc<crate::ml::serve::RiskService>,
    /// The triage classifier the guard consults (`[guard] triage_model`), for
    /// `POST /admin/triage/reload`; the guard holds it too, as its second opinion.
    pub triage: Option<Arc<crate::ml::triage::select::ServedTriage>>,
    /// `GET /v1/recommendations`: the recommender, its log and the feature lookup.
    pub recommend: crate::ml::recommend::service::Service,
    /// The feature store (database, and Redis when `[redis] url` is set).
    pub features: crate::features::FeatureStore,
}
