-- The feature store (issue 16): one row per patient and feature group. The patient id is a
-- pseudonym (keyed HMAC from ingestion), never a name or a document. `values_json` holds the
-- group's values as JSON text (TEXT, not JSONB: sqlx's Any driver binds text on both backends;
-- the `features` module owns the shape). `event_at_ms` is the values' own time (measured_at_ms /
-- last_active_ms, else the write time): a write older than the stored row never replaces it.
-- `updated_at_ms` strictly increases per row: it is the version the Redis copy is compared by.
CREATE TABLE risk_features (
    patient_id      TEXT PRIMARY KEY,
    values_json     TEXT NOT NULL,
    event_at_ms     BIGINT NOT NULL,
    updated_at_ms   BIGINT NOT NULL,
    schema_version  BIGINT NOT NULL
);
CREATE INDEX risk_features_updated ON risk_features (updated_at_ms);

CREATE TABLE engagement_features (
    patient_id      TEXT PRIMARY KEY,
    values_json     TEXT NOT NULL,
    event_at_ms     BIGINT NOT NULL,
    updated_at_ms   BIGINT NOT NULL,
    schema_version  BIGINT NOT NULL
);
CREATE INDEX engagement_features_updated ON engagement_features (updated_at_ms);

-- A new key role, `ingest` (writes features, nothing else of the admin routes).
ALTER TABLE api_keys DROP CONSTRAINT IF EXISTS api_keys_role_check;
ALTER TABLE api_keys ADD CONSTRAINT api_keys_role_check CHECK (role IN ('client', 'admin', 'ingest'));
