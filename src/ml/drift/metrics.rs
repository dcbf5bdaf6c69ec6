//! The daily drift reports as Prometheus gauges, for the dashboard and the dataset-drift alert,
//! one set per model and window (`24h`, `7d`):
//!
//! - `powerbirth_drift_column_score{model,window,column,method}`: the column's score (a p-value
//!   for ks, chisquare and z; a distance otherwise);
//! - `powerbirth_drift_column_drifted{model,window,column,method}`: 1 when the column drifted;
//! - `powerbirth_drift_share_drifted{model,window}`: the share of drifted columns;
//! - `powerbirth_drift_dataset_drift{model,window}`: 1 when that share is ≥ 0.5, else 0.

use std::collections::HashMap;
use std::sync::atomic::{AtomicI64, AtomicU64};
use std::sync::{Arc, Mutex};

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::registry::Registry;

use super::DriftReport;

/// Labels of one report.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct ReportLabels {
    pub model: String,
    pub window: String,
}

/// Labels of one column of a report.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct DriftLabels {
    pub model: String,
    pub window: String,
    pub column: String,
    pub method: String,
}

/// The drift gauges, registered once in the app's registry (`Metrics::registry_mut`).
#[derive(Clone, Default)]
pub struct DriftMetrics {
    pub column_score: Family<DriftLabels, Gauge<f64, AtomicU64>>,
    pub column_drifted: Family<DriftLabels, Gauge<i64, AtomicI64>>,
    pub share_drifted: Family<ReportLabels, Gauge<f64, AtomicU64>>,
    pub dataset_drift: Family<ReportLabels, Gauge<i64, AtomicI64>>,
    /// The column series each report set last, so the next one drops columns it no longer has.
    columns: Arc<Mutex<HashMap<ReportLabels, Vec<DriftLabels>>>>,
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
            "drift_column_drifted",
            "1 when the column drifted in the latest drift report, else 0",
            m.column_drifted.clone(),
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

    /// Sets the gauges of `model`'s `window` from `report` (series of columns no longer
    /// reported are dropped; other models and windows are left alone).
    pub fn record(&self, model: &str, window: &str, report: &DriftReport) {
        let key = ReportLabels {
            model: model.to_string(),
            window: window.to_string(),
        };
        let mut columns = self.columns.lock().unwrap_or_else(|e| e.into_inner());
        for old in columns.remove(&key).unwrap_or_default() {
            self.column_score.remove(&old);
            self.column_drifted.remove(&old);
        }
        let mut set = Vec::with_capacity(report.columns.len());
        for c in &report.columns {
            let labels = DriftLabels {
                model: key.model.clone(),
                window: key.window.clone(),
                column: c.column.clone(),
                method: c.method.to_string(),
            };
            self.column_score.get_or_create(&labels).set(c.score);
            self.column_drifted
                .get_or_create(&labels)
                .set(i64::from(c.drift));
            set.push(labels);
        }
        columns.insert(key.clone(), set);
        self.share_drifted
            .get_or_create(&key)
            .set(report.share_drifted);
        self.dataset_drift
            .get_or_create(&key)
            .set(i64::from(report.dataset_drift));
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ml::drift::ColumnDrift;

    fn report(column: &str, drift: bool) -> DriftReport {
        DriftReport {
            columns: vec![ColumnDrift {
                column: column.into(),
                method: "ks",
                score: 0.01,
                threshold: 0.05,
                drift,
            }],
            share_drifted: if drift { 1.0 } else { 0.0 },
            dataset_drift: drift,
        }
    }

    #[test]
    fn a_report_becomes_the_series_of_its_model_and_window() {
        let mut registry = Registry::with_prefix("powerbirth");
        let m = DriftMetrics::register(&mut registry);
        m.record("risk", "24h", &report("Age", true));
        m.record("risk", "7d", &report("Age", false));
        m.record("risk", "24h", &report("BS", true));
        let mut text = String::new();
        prometheus_client::encoding::text::encode(&mut text, &registry).unwrap();
        let has = |s: &str| text.lines().any(|l| l == s);
        assert!(
            has(
                r#"powerbirth_drift_column_score{model="risk",window="24h",column="BS",method="ks"} 0.01"#
            ),
            "{text}"
        );
        assert!(
            has(
                r#"powerbirth_drift_column_drifted{model="risk",window="24h",column="BS",method="ks"} 1"#
            ),
            "{text}"
        );
        // The 24h report no longer has Age; the 7d one still does.
        assert!(!text.contains(r#"window="24h",column="Age""#), "{text}");
        assert!(
            has(
                r#"powerbirth_drift_column_drifted{model="risk",window="7d",column="Age",method="ks"} 0"#
            ),
            "{text}"
        );
        assert!(
            has(r#"powerbirth_drift_share_drifted{model="risk",window="24h"} 1.0"#),
            "{text}"
        );
        assert!(
            has(r#"powerbirth_drift_dataset_drift{model="risk",window="7d"} 0"#),
            "{text}"
        );
    }
}
