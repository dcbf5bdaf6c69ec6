-- Eval runs (`powerbirth eval run`), kept so `eval publish` can show each prompt's trend. Booleans
-- are BIGINT 0/1 and timestamps epoch milliseconds, as everywhere, so one query text serves SQLite
-- and PostgreSQL. Eval inputs are authored test cases, not user conversations: no personal data.

-- One run: what was run against which model, and its whole metrics.json.
CREATE TABLE eval_runs (
    id            TEXT PRIMARY KEY,                 -- the run id (run_ + UUIDv7), also its folder
    created_at    BIGINT NOT NULL,                  -- when the run started
    git_sha       TEXT,                             -- NULL outside a git checkout
    model         TEXT NOT NULL,                    -- the configured model name
    cases         BIGINT NOT NULL,
    passed        BIGINT NOT NULL,
    failed        BIGINT NOT NULL,
    errored       BIGINT NOT NULL,
    baseline_id   TEXT,                             -- the baseline's run id, when compared
    regressions   BIGINT,                           -- NULL: not compared with a baseline
    result        TEXT NOT NULL                     -- metrics.json (RunResult and comparison)
);
CREATE INDEX eval_runs_created ON eval_runs (created_at);

-- One eval set of a run, with its aggregates: what the trend per prompt is built from.
CREATE TABLE eval_set_results (
    run_id        TEXT NOT NULL REFERENCES eval_runs (id),
    file          TEXT NOT NULL,                    -- the set file as given to the run
    prompt        TEXT,                             -- NULL for raw chat sets
    cases         BIGINT NOT NULL,
    passed        BIGINT NOT NULL,
    failed        BIGINT NOT NULL,
    errored       BIGINT NOT NULL,
    aggregates    TEXT NOT NULL,                    -- JSON {"pass_rate": 0.9, "chrf": 41.2, …}
    PRIMARY KEY (run_id, file)
);
CREATE INDEX eval_set_results_prompt ON eval_set_results (prompt, run_id);
