-- `powerbirth features materialize` remembers, per job, the last Parquet partition (UTC date) it
-- materialised into the feature store, so the next run without --from starts the day after.
CREATE TABLE ingest_materializations (
    job TEXT PRIMARY KEY,
    last_date TEXT NOT NULL,
    updated_at_ms BIGINT NOT NULL
);
