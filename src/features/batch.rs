//! Many writes at once (`put_many`, for `features load` and ingestion) and the rebuild of the
//! online copy from the database (`sync`, for `features sync`).

use super::FeatureGroup;
use super::store::{FeatureError, FeatureStore, table};
use super::validate::{FieldError, patient_id};
use super::values::{FeatureValues, FeatureWrite};
use crate::core::now_ms;
use crate::store::features::{self as repo, FeatureRow, NewFeatureRow, Upserted};

/// What `put_many` did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct PutSummary {
    /// Rows written (new, or newer than the stored one).
    pub applied: usize,
    /// Writes not applied: the stored row was newer or identical (replays, reloads).
    pub kept: usize,
}

/// What `sync` did, per group.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct SyncCounts {
    /// Rows read from the database.
    pub rows: usize,
    /// Hashes written to Redis (the others already held that version).
    pub written: usize,
}

impl FeatureStore {
    /// Writes many patients' values: every write is checked first (an error names its index,
    /// `3.systolic_bp_mmhg`, and nothing is written), then each group's rows are committed in
    /// one transaction, then written through to Redis in one pipelined round trip. Redis
    /// failing is counted and remembered as for a single write, never an error.
    pub async fn put_many(&self, writes: &[FeatureWrite]) -> Result<PutSummary, FeatureError> {
        for (i, w) in writes.iter().enumerate() {
            let indexed = |e: FieldError| FieldError::new(format!("{i}.{}", e.field), e.message);
            patient_id(&w.patient_id).map_err(indexed)?;
            w.values.check().map_err(indexed)?;
        }
        let now = now_ms();
        let mut summary = PutSummary::default();
        let mut committed: Vec<(FeatureGroup, FeatureRow)> = Vec::new();
        for group in FeatureGroup::ALL {
            let encoded: Vec<(&str, String, i64)> = writes
                .iter()
                .filter(|w| w.values.group() == group)
                .map(|w| {
                    let (json, event) = encode(&w.values);
                    (w.patient_id.as_str(), json, event.unwrap_or(now))
                })
                .collect();
            if encoded.is_empty() {
                continue;
            }
            let rows: Vec<NewFeatureRow<'_>> = encoded
                .iter()
                .map(|(id, json, event)| NewFeatureRow {
                    patient_id: id,
                    values_json: json,
                    event_at_ms: *event,
                    updated_at_ms: now,
                    schema_version: i64::from(self.inner.config.schema_version),
                })
                .collect();
            for done in repo::upsert_many(&self.inner.db, table(group), &rows).await? {
                match done {
                    Upserted::Applied(row) => {
                        summary.applied += 1;
                        committed.push((group, row));
                    }
                    Upserted::Kept(_) => summary.kept += 1,
                }
            }
        }
        self.write_through_many(&committed).await;
        Ok(summary)
    }

    async fn write_through_many(&self, rows: &[(FeatureGroup, FeatureRow)]) {
        let Some(online) = &self.inner.online else {
            return;
        };
        let keyed: Vec<(String, &FeatureRow)> = rows
            .iter()
            .map(|(group, row)| (online.key(*group, &row.patient_id), row))
            .collect();
        let result = online.write_batch(&keyed).await;
        for (key, row) in &keyed {
            self.inner
                .versions
                .record(key, row.updated_at_ms, result.is_ok());
        }
        if let Err(e) = result {
            self.redis_failed("write", &e);
        }
    }

    /// Rebuilds the online copy from the database: every row of every group, `batch` rows per
    /// pipelined round trip. Version-guarded like every write, so it never overwrites a newer
    /// hash written meanwhile; TTLs are refreshed. Fails when no Redis is configured or Redis
    /// fails (nothing is lost: run it again).
    pub async fn sync(&self, batch: u32) -> Result<Vec<(FeatureGroup, SyncCounts)>, FeatureError> {
        let online = self.inner.online.as_ref().ok_or_else(|| {
            FeatureError::Online("no [redis] url is configured: there is no online copy".into())
        })?;
        let mut report = Vec::new();
        for group in FeatureGroup::ALL {
            let mut counts = SyncCounts::default();
            let mut after = String::new();
            loop {
                let page = repo::page(&self.inner.db, table(group), &after, batch.max(1)).await?;
                let Some(last) = page.last() else { break };
                after = last.patient_id.clone();
                let keyed: Vec<(String, &FeatureRow)> = page
                    .iter()
                    .map(|row| (online.key(group, &row.patient_id), row))
                    .collect();
                counts.written += online
                    .write_batch(&keyed)
                    .await
                    .map_err(|e| FeatureError::Online(e.to_string()))?;
                counts.rows += page.len();
            }
            report.push((group, counts));
        }
        self.inner.versions.trust_again();
        Ok(report)
    }
}

/// The values as stored JSON and their own time.
fn encode(values: &FeatureValues) -> (String, Option<i64>) {
    // Serialising these plain structs cannot fail (string keys, finite numbers checked).
    match values {
        FeatureValues::Risk(v) => (
            serde_json::to_string(v).unwrap_or_default(),
            v.measured_at_ms,
        ),
        FeatureValues::Engagement(v) => (
            serde_json::to_string(v).unwrap_or_default(),
            v.last_active_ms,
        ),
    }
}
