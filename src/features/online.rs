//! The online copy in Redis: one hash per patient and group, `<prefix>:v<schema>:<group>:<id>`,
//! one field per present feature (its JSON value) plus `_updated_at_ms` (the database row's
//! version) and `_event_at_ms`.
//!
//! Every write goes through one Lua script (one round trip, atomic in Redis): it replaces the
//! hash and sets its TTL only when the incoming version is newer than the stored one. So two
//! replicas whose Redis writes arrive out of order, an ingestion replay, or a `features sync`
//! racing a live write can never put an older row over a newer one. A plain HSET + EXPIRE
//! pipeline could not compare versions; the script does it in the same round trip.

use std::collections::HashMap;

use redis::aio::ConnectionManager;
use serde::de::DeserializeOwned;

use super::{FeatureGroup, Stored};
use crate::store::features::FeatureRow;

/// Replace the hash when `ARGV[1]` (the row's version) is newer than its `_updated_at_ms`;
/// refresh the TTL either way. Returns 1 when written, 0 when the stored copy was as new.
const PUT_IF_NEWER: &str = r#"
local cur = redis.call('HGET', KEYS[1], '_updated_at_ms')
if cur and tonumber(cur) >= tonumber(ARGV[1]) then
  redis.call('EXPIRE', KEYS[1], ARGV[2])
  return 0
end
redis.call('DEL', KEYS[1])
redis.call('HSET', KEYS[1], '_updated_at_ms', ARGV[1], unpack(ARGV, 3))
redis.call('EXPIRE', KEYS[1], ARGV[2])
return 1
"#;

const VERSION_FIELD: &str = "_updated_at_ms";
const EVENT_FIELD: &str = "_event_at_ms";

/// The connection and the key layout.
#[derive(Clone)]
pub(super) struct Online {
    conn: ConnectionManager,
    script: redis::Script,
    ttl_s: u64,
    /// `<key_prefix>:v<schema_version>`.
    prefix: String,
}

impl Online {
    pub(super) fn new(conn: ConnectionManager, prefix: &str, schema: u32, ttl_s: u64) -> Self {
        Online {
            conn,
            script: redis::Script::new(PUT_IF_NEWER),
            ttl_s,
            prefix: format!("{prefix}:v{schema}"),
        }
    }

    /// The hash of one patient's group.
    pub(super) fn key(&self, group: FeatureGroup, patient_id: &str) -> String {
        format!("{}:{}:{patient_id}", self.prefix, group.as_str())
    }

    /// The hash's fields, `None` when absent (expired, never written or flushed).
    pub(super) async fn read(
        &self,
        key: &str,
    ) -> redis::RedisResult<Option<HashMap<String, String>>> {
        let mut conn = self.conn.clone();
        let hash: HashMap<String, String> = redis::cmd("HGETALL")
            .arg(key)
            .query_async(&mut conn)
            .await?;
        Ok((!hash.is_empty()).then_some(hash))
    }

    /// Writes one row if newer than the stored copy (one round trip). `Ok(true)` when written.
    pub(super) async fn write(&self, key: &str, row: &FeatureRow) -> redis::RedisResult<bool> {
        let mut conn = self.conn.clone();
        let mut invocation = self.script.key(key);
        self.args(&mut invocation, row);
        let written: i64 = invocation.invoke_async(&mut conn).await?;
        Ok(written == 1)
    }

    /// Writes many rows in one pipelined round trip (the script is loaded first in the same
    /// pipeline, so a Redis that restarted and lost its script cache is no problem). Returns how
    /// many were written (the others were already as new).
    pub(super) async fn write_batch(
        &self,
        rows: &[(String, &FeatureRow)],
    ) -> redis::RedisResult<usize> {
        if rows.is_empty() {
            return Ok(0);
        }
        let mut pipe = redis::pipe();
        pipe.load_script(&self.script).ignore();
        let invocations: Vec<_> = rows
            .iter()
            .map(|(key, row)| {
                let mut inv = self.script.key(key.as_str());
                self.args(&mut inv, row);
                inv
            })
            .collect();
        for inv in &invocations {
            pipe.invoke_script(inv);
        }
        let mut conn = self.conn.clone();
        let written: Vec<i64> = pipe.query_async(&mut conn).await?;
        Ok(written.iter().filter(|w| **w == 1).count())
    }

    fn args(&self, inv: &mut redis::ScriptInvocation<'_>, row: &FeatureRow) {
        inv.arg(row.updated_at_ms).arg(self.ttl_s);
        inv.arg(EVENT_FIELD).arg(row.event_at_ms);
        for (field, value) in fields(&row.values_json) {
            inv.arg(field).arg(value);
        }
    }
}

/// The hash fields of a row's values: one per present (non-null) feature, its JSON text.
fn fields(values_json: &str) -> Vec<(String, String)> {
    match serde_json::from_str::<serde_json::Map<String, serde_json::Value>>(values_json) {
        Ok(map) => map
            .into_iter()
            .filter(|(_, v)| !v.is_null())
            .map(|(k, v)| (k, v.to_string()))
            .collect(),
        Err(_) => Vec::new(),
    }
}

/// Reads a hash back into a stored row. `Err` names what is wrong with it (a hash written by
/// other code, or by a build with another shape under the same schema version).
pub(super) fn decode<T: DeserializeOwned>(
    patient_id: &str,
    hash: &HashMap<String, String>,
) -> Result<Stored<T>, String> {
    let updated_at_ms = hash
        .get(VERSION_FIELD)
        .and_then(|v| v.parse::<i64>().ok())
        .ok_or("no _updated_at_ms")?;
    let mut map = serde_json::Map::new();
    for (field, text) in hash {
        if field.starts_with('_') {
            continue;
        }
        let value = serde_json::from_str(text).map_err(|e| format!("field {field}: {e}"))?;
        map.insert(field.clone(), value);
    }
    let values =
        serde_json::from_value(serde_json::Value::Object(map)).map_err(|e| e.to_string())?;
    Ok(Stored {
        patient_id: patient_id.to_string(),
        values,
        updated_at_ms,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::features::RiskFeatures;

    #[test]
    fn a_row_round_trips_through_its_hash_fields() {
        let values = RiskFeatures {
            systolic_bp_mmhg: Some(141.0),
            measured_at_ms: Some(1_700_000_000_000),
            ..Default::default()
        };
        let json = serde_json::to_string(&values).unwrap();
        let mut hash: HashMap<String, String> = fields(&json).into_iter().collect();
        assert_eq!(hash.len(), 2, "absent features are not stored: {hash:?}");
        hash.insert(VERSION_FIELD.into(), "42".into());
        hash.insert(EVENT_FIELD.into(), "1700000000000".into());
        let back: Stored<RiskFeatures> = decode("p1", &hash).unwrap();
        assert_eq!(back.values, values);
        assert_eq!(back.updated_at_ms, 42);
    }

    #[test]
    fn a_hash_with_an_unknown_field_is_not_decoded() {
        let hash: HashMap<String, String> = [
            (VERSION_FIELD.to_string(), "1".to_string()),
            ("nome".to_string(), "\"Maria\"".to_string()),
        ]
        .into();
        assert!(decode::<RiskFeatures>("p1", &hash).is_err());
    }
}
