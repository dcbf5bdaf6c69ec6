-- The recommendation log (`GET /v1/recommendations`): what was recommended to whom, by which
-- model version, and what she had already read then, so the daily quality job can find the reads
-- that followed (recall@5). The patient id is the pseudonym the feature store keys her by (ids
-- arrive pseudonymised); no name, document or free text is stored. Timestamps are epoch ms.
CREATE TABLE recommendations (
    id                TEXT PRIMARY KEY,             -- rec_ + UUIDv7
    created_at        BIGINT NOT NULL,
    patient_pseudonym TEXT NOT NULL,
    item_ids          TEXT NOT NULL,                -- JSON array of content ids, best first
    read_before       TEXT NOT NULL,                -- JSON array: content ids she had read then
    model_version     TEXT NOT NULL
);
CREATE INDEX recommendations_created ON recommendations (created_at);
