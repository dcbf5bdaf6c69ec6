//! The drift report as Prometheus gauges, for the daily job and the dataset-drift alert:
//! `powerbirth_drift_column_score{column,method}`, `powerbirth_drift_share_drifted` and
//! `powerbirth_drift_dataset_drift` (1 when the share of drifted columns is ≥ 0.5, else 0).

use std::sync::atomic::{AtomicI64, AtomicU64};

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::registry::Registry;

use super::DriftReport;

/// Labels of one column's score.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct DriftLabels {
    pub column: String,
    pub method: String,
}

/// The drift gauges, registered once in the app's registry (`Metrics::registry_mut`).
#[derive(Clone, Default)]
pub struct DriftMetrics {
    pub column_score: Family<DriftLabels, Gauge<f64, AtomicU64>>,
    pub share_drifted: Gauge<f64, AtomicU64>,
    pub dataset_drift: Gauge<i64, AtomicI64>,
}

impl DriftMetrics {
    /// Creates the gauges and registers them (the registry adds the `powerbirth_` prefix).
    pub fn register(registry: &mut Registry) -> DriftMetrics {
        let m = DriftMetrics::default();
        registry.register(
            "drift_column_score",
            "Latest drift score per column and method (a p-value for ks, chisquare and z; a distance otherwise)",
            m.column_score.clone(),
        );
        registry.register(
            "drift_share_drifted",
            "Share of columns that drifted in the latest drift report",
            m.share_drifted.clone(),
        );
        registry.register(
            "drift_dataset_drift",
            "1 when the latest drift report found dataset drift (share of drifted columns >= 0.5), else 0",
            m.dataset_drift.clone(),
        );
        m
    }

    /// Sets every gauge from `report` (series of columns no longer reported are dropped).
    pub fn record(&self, report: &DriftReport) {
        self.column_score.clear();
        for c in &report.columns {
            let labels = DriftLabels {
                column: c.column.clone(),
                method: c.method.to_string(),
            };
            self.column_score.get_or_create(&labels).set(c.score);
        }
        self.share_drifted.set(report.share_drifted);
        self.dataset_drift.set(i64::from(report.dataset_drift));
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ml::drift::ColumnDrift;

    #[test]
    fn a_report_becomes_the_three_series() {
        let mut registry = Registry::with_prefix("powerbirth");
        let m = DriftMetrics::register(&mut registry);
        m.record(&DriftReport {
            columns: vec![ColumnDrift {
                column: "Age".into(),
                method: "ks",
                score: 0.01,
                threshold: 0.05,
                drift: true,
            }],
            share_drifted: 1.0,
            dataset_drift: true,
        });
        let mut text = String::new();
        prometheus_client::encoding::text::encode(&mut text, &registry).unwrap();
        assert!(
            text.contains("powerbirth_drift_column_score{column=\"Age\",method=\"ks\"} 0.01"),
            "{text}"
        );
        assert!(
            text.contains("powerbirth_drift_share_drifted 1.0"),
            "{text}"
        );
        assert!(text.contains("powerbirth_drift_dataset_drift 1"), "{text}");
    }
}
