//! Prometheus metrics, owned by the app state (no global registry, so tests can run several apps
//! in one process). Every series is prefixed `powerbirth_`.

use std::sync::atomic::{AtomicI64, AtomicU64};

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::Histogram;
use prometheus_client::registry::Registry;

/// Labels of a finished HTTP request.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct HttpLabels {
    pub route: String,
    pub model: String,
    pub status: u16,
}

/// Labels of one upstream attempt.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct UpstreamLabels {
    pub model: String,
    pub provider: &'static str,
    /// `ok`, `error`, `timeout`.
    pub outcome: &'static str,
}

/// Labels with just a model.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct ModelLabels {
    pub model: String,
}

/// Labels with just a route.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct RouteLabels {
    pub route: String,
}

type HistogramFamily<L> = Family<L, Histogram, fn() -> Histogram>;

/// Latency buckets from 100 µs to ~50 s: gateway overhead lives at the bottom, generation at the top.
fn latency_histogram() -> Histogram {
    Histogram::new([
        0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5,
        5.0, 10.0, 25.0, 50.0,
    ])
}

/// All of the gateway's metrics.
pub struct Metrics {
    registry: Registry,
    pub requests: Family<HttpLabels, Counter>,
    pub request_duration: HistogramFamily<HttpLabels>,
    pub upstream_duration: HistogramFamily<UpstreamLabels>,
    pub overhead: HistogramFamily<RouteLabels>,
    pub in_flight: Gauge<i64, AtomicI64>,
    pub ratelimit_rejections: Counter,
    pub log_queue_depth: Gauge<i64, AtomicI64>,
    /// 1 while a model is cooling down after repeated failures (skipped by the chain), else 0.
    pub upstream_cooldown: Family<ModelLabels, Gauge<i64, AtomicI64>>,
    pub log_spool_bytes: Gauge<i64, AtomicI64>,
    /// The risk endpoint's series.
    pub risk: RiskMetrics,
    /// Recall@5 of the recommendations made 7 days ago (the daily quality job).
    pub recommendation_recall_at_5: Gauge<f64, AtomicU64>,
}

/// Labels of a risk answer's latency.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct ModelVersionLabels {
    pub model_version: String,
}

/// Labels of an answered risk level.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct RiskLevelLabels {
    pub risk_level: String,
}

/// Labels of a model-quality figure.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct ModelQualityLabels {
    pub model: String,
    pub version: String,
    pub window: String,
}

/// The risk endpoint's series: latency per model version, answers per risk level, and the
/// weekly quality job's AUC and macro F1 per model version.
#[derive(Clone)]
pub struct RiskMetrics {
    pub request_duration: HistogramFamily<ModelVersionLabels>,
    pub predictions: Family<RiskLevelLabels, Counter>,
    pub auc: Family<ModelQualityLabels, Gauge<f64, std::sync::atomic::AtomicU64>>,
    pub f1: Family<ModelQualityLabels, Gauge<f64, std::sync::atomic::AtomicU64>>,
}

impl RiskMetrics {
    fn register(registry: &mut Registry) -> RiskMetrics {
        let m = RiskMetrics {
            request_duration: Family::new_with_constructor(latency_histogram),
            predictions: Family::default(),
            auc: Family::default(),
            f1: Family::default(),
        };
        registry.register(
            "risk_request_duration_seconds",
            "Risk endpoint: time from parsed request to answer (inference, overrides, log append), by model version",
            m.request_duration.clone(),
        );
        registry.register(
            "risk_predictions",
            "Risk answers by risk level (clinical overrides included)",
            m.predictions.clone(),
        );
        registry.register(
            "model_auc",
            "ROC AUC (high risk against the rest) of predictions with outcomes recorded in the window",
            m.auc.clone(),
        );
        registry.register(
            "model_f1",
            "Macro F1 (arg-max class) of predictions with outcomes recorded in the window",
            m.f1.clone(),
        );
        m
    }
}

impl Default for Metrics {
    fn default() -> Self {
        Self::new()
    }
}

impl Metrics {
    /// Every series, registered in one place (long because each registration is its own
    /// statement, and splitting them would scatter the registry).
    pub fn new() -> Self {
        let mut registry = Registry::with_prefix("powerbirth");
        let requests = Family::<HttpLabels, Counter>::default();
        registry.register(
            "http_requests",
            "HTTP requests by route, model and status",
            requests.clone(),
        );
        let request_duration: HistogramFamily<HttpLabels> =
            Family::new_with_constructor(latency_histogram);
        registry.register(
            "http_request_duration_seconds",
            "Time from request to response headers, by route, model and status",
            request_duration.clone(),
        );
        let upstream_duration: HistogramFamily<UpstreamLabels> =
            Family::new_with_constructor(latency_histogram);
        registry.register(
            "upstream_duration_seconds",
            "Time waiting for an upstream model (per attempt; first byte for streams)",
            upstream_duration.clone(),
        );
        let overhead: HistogramFamily<RouteLabels> =
            Family::new_with_constructor(latency_histogram);
        registry.register(
            "gateway_overhead_seconds",
            "Gateway time: total time to response headers minus time waiting for upstreams",
            overhead.clone(),
        );
        let in_flight = Gauge::<i64, AtomicI64>::default();
        registry.register(
            "http_requests_in_flight",
            "Requests being served now",
            in_flight.clone(),
        );
        let ratelimit_rejections = Counter::default();
        registry.register(
            "ratelimit_rejections",
            "Requests refused by a per-key rate limit",
            ratelimit_rejections.clone(),
        );
        let log_queue_depth = Gauge::<i64, AtomicI64>::default();
        registry.register(
            "log_queue_depth",
            "Exchanges in the spool not yet stored in the database",
            log_queue_depth.clone(),
        );
        let upstream_cooldown = Family::<ModelLabels, Gauge<i64, AtomicI64>>::default();
        registry.register(
            "upstream_cooldown",
            "1 while a model is skipped after repeated failures (cooldown), else 0",
            upstream_cooldown.clone(),
        );
        let log_spool_bytes = Gauge::<i64, AtomicI64>::default();
        registry.register(
            "log_spool_bytes",
            "Size of this process's message spool file (emptied when fully drained)",
            log_spool_bytes.clone(),
        );
        let risk = RiskMetrics::register(&mut registry);
        let recommendation_recall_at_5 = Gauge::<f64, AtomicU64>::default();
        // NaN until the first measurement: a 0 would fire the `< 0.73` alert on every start.
        recommendation_recall_at_5.set(f64::NAN);
        registry.register(
            "recommendation_recall_at_5",
            "Recall@5 of the recommendations made 7 days ago against the reads that followed",
            recommendation_recall_at_5.clone(),
        );
        Metrics {
            risk,
            registry,
            recommendation_recall_at_5,
            upstream_cooldown,
            requests,
            request_duration,
            upstream_duration,
            overhead,
            in_flight,
            ratelimit_rejections,
            log_queue_depth,
            log_spool_bytes,
        }
    }

    /// Records whether `model` is cooling down.
    pub fn set_cooldown(&self, model: &str, cooling: bool) {
        self.upstream_cooldown
            .get_or_create(&ModelLabels {
                model: model.to_string(),
            })
            .set(i64::from(cooling));
    }

    /// The registry, for modules that add their own series (metering, guard, …).
    pub fn registry_mut(&mut self) -> &mut Registry {
        &mut self.registry
    }

    /// Prometheus text exposition.
    pub fn render(&self) -> String {
        let mut out = String::new();
        if prometheus_client::encoding::text::encode(&mut out, &self.registry).is_err() {
            out.clear();
        }
        out
    }
}
