-- The feature store (issue 16): one row per patient and feature group. The patient id is a
-- pseudonym (keyed HMAC from ingestion), never a name or a document. `values_json` holds the
-- group's values as JSON text (the `features` module owns their shape; the store imports only
-- `core`). `event_at_ms` is the values' own time (measured_at_ms / last_active_ms, else the
-- write time): a write older than the stored row never replaces it (ingestion replays).
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

-- A new key role, `ingest` (writes features, nothing else of the admin routes). SQLite cannot
-- alter a CHECK constraint, so api_keys is rebuilt with the same columns and index.
CREATE TABLE api_keys_new (
    id               TEXT PRIMARY KEY,
    name             TEXT NOT NULL,
    key_hash         TEXT NOT NULL UNIQUE,
    key_prefix       TEXT NOT NULL,
    role             TEXT NOT NULL CHECK (role IN ('client', 'admin', 'ingest')),
    rpm              BIGINT,
    created_at       BIGINT NOT NULL,
    revoked_at       BIGINT,
    daily_budget_usd TEXT
);
INSERT INTO api_keys_new (id, name, key_hash, key_prefix, role, rpm, created_at, revoked_at, daily_budget_usd)
    SELECT id, name, key_hash, key_prefix, role, rpm, created_at, revoked_at, daily_budget_usd FROM api_keys;
DROP TABLE api_keys;
ALTER TABLE api_keys_new RENAME TO api_keys;
CREATE UNIQUE INDEX api_keys_active_name ON api_keys (name) WHERE revoked_at IS NULL;
