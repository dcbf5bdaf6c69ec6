-- The risk endpoint's prediction log (issue 16) and the outcomes observed later (issue 18).
-- `id` is a UUID as text (one query text serves both backends); timestamps are epoch
-- milliseconds. `features` and `probabilities` are JSON; `patient_id` is the pseudonymous id the
-- request named (never a name or document), NULL when the request carried measurements only.
CREATE TABLE predictions (
    id             TEXT PRIMARY KEY,
    created_at     BIGINT NOT NULL,
    patient_id     TEXT,
    features       TEXT NOT NULL,
    probabilities  TEXT NOT NULL,
    risk_level     TEXT NOT NULL CHECK (risk_level IN ('low', 'mid', 'high')),
    escalate       BIGINT NOT NULL DEFAULT 0,
    model_name     TEXT NOT NULL,
    model_version  TEXT NOT NULL,
    latency_ms     DOUBLE PRECISION NOT NULL,
    release        TEXT
);
CREATE INDEX predictions_created ON predictions (created_at);
CREATE INDEX predictions_model ON predictions (model_name, model_version, created_at);

-- One observed outcome per prediction (a later report replaces it).
CREATE TABLE risk_outcomes (
    prediction_id  TEXT PRIMARY KEY REFERENCES predictions (id),
    outcome        TEXT NOT NULL CHECK (outcome IN ('low', 'mid', 'high')),
    recorded_at    BIGINT NOT NULL
);
CREATE INDEX risk_outcomes_recorded ON risk_outcomes (recorded_at);
