//! The ingestion process's own Prometheus series (it runs apart from the server): events written
//! and recognised as duplicates per event type, dead letters per failing field, batches and
//! files. Rendered in the text format for node_exporter's textfile collector
//! (`powerbirth ingest --metrics-file`).

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::registry::Registry;

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct EventLabels {
    pub event: String,
    /// `written` or `duplicate` (already in a file: a replayed batch).
    pub outcome: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct DeadLabels {
    /// The field the reason names (`payload.systolic_bp_mmhg`, `envelope`, `data`).
    pub field: String,
}

/// The series, in their own registry.
pub struct IngestMetrics {
    registry: Registry,
    pub events: Family<EventLabels, Counter>,
    pub dead_letters: Family<DeadLabels, Counter>,
    pub batches: Counter,
    pub files: Counter,
}

impl Default for IngestMetrics {
    fn default() -> Self {
        let mut registry = Registry::with_prefix("powerbirth_ingest");
        let events = Family::<EventLabels, Counter>::default();
        let dead_letters = Family::<DeadLabels, Counter>::default();
        let batches = Counter::default();
        let files = Counter::default();
        registry.register(
            "events",
            "Events ingested into Parquet, by event type and outcome",
            events.clone(),
        );
        registry.register(
            "dead_letters",
            "Events sent to the dead-letter stream, by the field that failed",
            dead_letters.clone(),
        );
        registry.register(
            "batches",
            "Batches written and acknowledged",
            batches.clone(),
        );
        registry.register("files", "Parquet files written", files.clone());
        IngestMetrics {
            registry,
            events,
            dead_letters,
            batches,
            files,
        }
    }
}

impl IngestMetrics {
    /// Counts a dead letter under the field its reason starts with.
    pub fn dead_letter(&self, reason: &str) {
        let field = reason.split(':').next().unwrap_or("unknown").trim();
        let field = if field.len() > 64 || field.contains(' ') {
            "unknown"
        } else {
            field
        };
        self.dead_letters
            .get_or_create(&DeadLabels {
                field: field.to_string(),
            })
            .inc();
    }

    /// The Prometheus text format.
    pub fn render(&self) -> String {
        let mut out = String::new();
        prometheus_client::encoding::text::encode(&mut out, &self.registry)
            .expect("writing to a String cannot fail");
        out
    }
}
