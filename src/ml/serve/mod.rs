//! Serving the obstetric risk model: the registry's `production` version held in memory and
//! swapped atomically (`arc-swap`) when the alias moves — polled every `[risk] reload_interval_s`
//! and on `POST /admin/models/reload` — so no request ever waits for a load or sees half a model.
//! A prediction is the model's reading plus the clinical overrides it can never lower, logged
//! through the same durable, non-blocking spool as the chat log.
//!
//! - [`input`]: the request, checked at the edge (422 naming the field);
//! - [`model`]: the served model, unit conversion into its features, contributions;
//! - [`source`]: the registry (local file or MLflow) and `model.json`;
//! - [`answer`]: overrides, notices, the answer and its log record;
//! - [`quality`]: the weekly ROC AUC and macro F1 per model version over recorded outcomes.

pub mod answer;
pub mod config;
pub mod input;
pub mod model;
pub mod quality;
pub mod source;

use std::sync::Arc;

use arc_swap::ArcSwapOption;

pub use answer::{Assessment, RiskAnswer};
pub use config::{RawRiskConfig, RiskConfig};
pub use input::{FieldError, Measurements, RiskRequest};
pub use model::{Contribution, Level, ServedModel};
pub use source::{ModelSource, SourceError};

use crate::guard::Guard;
use crate::metrics::RiskMetrics;
use crate::periodic::Periodic;
use crate::store::Store;
use crate::store::writer::LogWriter;

/// What a reload did.
#[derive(Debug, Clone, PartialEq)]
pub enum Reloaded {
    /// `production` moved (or a first model was loaded): `from` → `to`.
    Swapped { from: Option<String>, to: String },
    /// `production` is the version already served.
    Unchanged(String),
    /// The registry has no `production` version (the current model, if any, keeps serving).
    NoProduction,
}

/// The risk endpoint's model and what a prediction needs. Shared as one `Arc`.
pub struct RiskService {
    current: ArcSwapOption<ServedModel>,
    source: ModelSource,
    /// One reload at a time (the poll and an admin's call must not load the same file twice).
    reloading: tokio::sync::Mutex<()>,
    guard: Guard,
    writer: LogWriter,
    metrics: RiskMetrics,
    /// `[server] release`, written on every prediction row (the canary comparisons select on it).
    release: Option<Arc<str>>,
}

impl RiskService {
    pub fn new(
        config: &RiskConfig,
        guard: Guard,
        writer: LogWriter,
        metrics: RiskMetrics,
    ) -> Result<RiskService, crate::ml::registry::RegistryError> {
        Ok(RiskService {
            current: ArcSwapOption::empty(),
            source: ModelSource::new(config)?,
            reloading: tokio::sync::Mutex::new(()),
            guard,
            writer,
            metrics,
            release: None,
        })
    }

    /// Names the release every logged prediction belongs to.
    pub fn with_release(mut self, release: Arc<str>) -> RiskService {
        self.release = Some(release);
        self
    }

    /// The model served now, if any.
    pub fn current(&self) -> Option<Arc<ServedModel>> {
        self.current.load_full()
    }

    /// Serves `model` from now on (tests and benchmarks that hold a model of their own).
    pub fn serve(&self, model: ServedModel) {
        self.current.store(Some(Arc::new(model)));
    }

    /// The metrics it reports into.
    pub fn metrics(&self) -> &RiskMetrics {
        &self.metrics
    }

    /// Reads `production` from the registry and, when it is not the version served, loads it
    /// and swaps it in. Requests in flight finish on the model they started with.
    pub async fn reload(&self) -> Result<Reloaded, SourceError> {
        let _one = self.reloading.lock().await;
        let Some(version) = self.source.production().await? else {
            return Ok(Reloaded::NoProduction);
        };
        let from = self.current().map(|m| m.version.clone());
        if from.as_deref() == Some(version.version.as_str()) {
            return Ok(Reloaded::Unchanged(version.version));
        }
        let served = self.source.load(&version).await?;
        self.current.store(Some(Arc::new(served)));
        tracing::info!(model = %self.source.model, from = from.as_deref().unwrap_or("none"),
            to = %version.version, registry = %self.source.describe(), "risk model swapped in");
        Ok(Reloaded::Swapped {
            from,
            to: version.version,
        })
    }

    /// [`RiskService::reload`], logging the outcome (start-up and the poll).
    pub async fn reload_logged(&self) {
        match self.reload().await {
            Ok(Reloaded::NoProduction) if self.current().is_none() => {
                tracing::warn!(model = %self.source.model, registry = %self.source.describe(),
                    "no production risk model yet: /v1/risk/obstetric answers 503 until one is promoted (`powerbirth models bootstrap`)");
            }
            Ok(_) => {}
            Err(e) => {
                tracing::error!(error = %e, "risk model reload failed; the current model keeps serving")
            }
        }
    }

    /// Predicts for `request` (over `stored` features of its patient, if any), applies the
    /// clinical overrides, appends the prediction to the log and returns the answer.
    pub fn assess(
        &self,
        request: &RiskRequest,
        stored: Option<&crate::features::RiskFeatures>,
        accept_language: Option<&str>,
        started: std::time::Instant,
    ) -> Result<Assessment, AssessError> {
        let model = self.current().ok_or(AssessError::NoModel)?;
        let measurements = request
            .merge(stored)
            .map_err(|e| AssessError::Field(e, Some(model.clone())))?;
        let lang = crate::chat::guarded::negotiate_language(accept_language)
            .unwrap_or(crate::guard::Lang::PtBr);
        let assessment = answer::assess(&model, &measurements, &self.guard, lang);
        let mut record = assessment.record(request.patient_id.clone(), started.elapsed());
        record.release = self.release.as_deref().map(str::to_string);
        self.writer.record_prediction(&record);
        self.metrics
            .request_duration
            .get_or_create(&crate::metrics::ModelVersionLabels {
                model_version: model.version.clone(),
            })
            .observe(started.elapsed().as_secs_f64());
        self.metrics
            .predictions
            .get_or_create(&crate::metrics::RiskLevelLabels {
                risk_level: assessment.answer.risk_level.as_str().to_string(),
            })
            .inc();
        Ok(assessment)
    }
}

/// Why no answer could be given.
pub enum AssessError {
    /// 422: a field (with the model that would have answered, for `x-model-version`).
    Field(FieldError, Option<Arc<ServedModel>>),
    /// 503: no production model has been loaded yet.
    NoModel,
}

/// The model registry's background work: the risk model's alias poll and quality job, and the
/// poll of the triage classifier's selector (`[guard] triage_model = "triage@production"`).
pub struct RiskJobs {
    poll: Periodic,
    quality: Periodic,
    triage: Periodic,
}

impl RiskJobs {
    /// Starts the polls (every `reload_interval`; the triage one only for a registry selector)
    /// and the quality job (every `quality_interval`).
    pub fn spawn(
        service: Arc<RiskService>,
        triage: Option<Arc<crate::ml::triage::select::ServedTriage>>,
        store: Store,
        config: &RiskConfig,
    ) -> RiskJobs {
        let poll = match config.reload_interval {
            Some(every) => {
                let s = service.clone();
                Periodic::spawn(every, move || {
                    let s = s.clone();
                    async move { s.reload_logged().await }
                })
            }
            None => Periodic::off(),
        };
        let quality = match config.quality_interval {
            Some(every) => {
                let (window, metrics) = (config.quality_window, service.metrics.clone());
                Periodic::spawn(every, move || {
                    let (store, metrics) = (store.clone(), metrics.clone());
                    async move { quality::run_logged(&store, &metrics, window).await }
                })
            }
            None => Periodic::off(),
        };
        let triage = match (config.reload_interval, triage) {
            (Some(every), Some(t)) if t.follows_registry() => Periodic::spawn(every, move || {
                let t = t.clone();
                async move { t.reload_logged().await }
            }),
            _ => Periodic::off(),
        };
        RiskJobs {
            poll,
            quality,
            triage,
        }
    }

    /// Stops both, letting a run in progress finish.
    pub async fn shutdown(self) {
        self.poll.shutdown().await;
        self.quality.shutdown().await;
        self.triage.shutdown().await;
    }
}
