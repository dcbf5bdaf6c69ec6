//! The feature store's Prometheus series, registered in the app's registry.

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::registry::Registry;

/// Labels of one read.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct ReadLabels {
    /// `risk` or `engagement`.
    pub group: &'static str,
    /// `redis`, `database` or `miss` (in neither).
    pub source: &'static str,
}

/// `powerbirth_feature_reads_total{group,source}` and `powerbirth_feature_redis_errors_total`.
#[derive(Clone, Debug, Default)]
pub struct FeatureMetrics {
    pub reads: Family<ReadLabels, Counter>,
    /// Redis round trips that failed (reads fell back to the database; writes were committed
    /// and the online copy of that patient is repaired later).
    pub redis_errors: Counter,
}

impl FeatureMetrics {
    /// New series, registered in `registry`.
    pub fn register(registry: &mut Registry) -> Self {
        let m = FeatureMetrics::default();
        registry.register(
            "feature_reads",
            "Feature store reads by group and source (redis, database, miss)",
            m.reads.clone(),
        );
        registry.register(
            "feature_redis_errors",
            "Failed Redis round trips of the feature store (answered from the database)",
            m.redis_errors.clone(),
        );
        m
    }
}
