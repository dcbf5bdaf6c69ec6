-- Online evaluation (issue 18): every logged message carries the release that served it (the
-- model and the prompt version are already in `model` and `prompt_ref`), and the prompt canary's
-- decisions are recorded with their numbers. Timestamps epoch milliseconds, as everywhere.
ALTER TABLE messages ADD COLUMN release TEXT;
CREATE INDEX messages_release ON messages (release, created_at);

-- The in-database override of a prompt's labels after a canary decision: `promoted` serves the
-- candidate as `production`, `rolled_back` stops its share of the traffic. Effective at once on
-- every replica (each re-reads this table every `[canary] refresh_s`); the pull request that moves
-- the label in `prompts/<id>/prompt.toml` follows. One row per prompt: a later decision on another
-- candidate replaces it.
CREATE TABLE prompt_canary_overrides (
    prompt_id          TEXT PRIMARY KEY,
    candidate_version  BIGINT NOT NULL,
    baseline_version   BIGINT NOT NULL,
    outcome            TEXT NOT NULL CHECK (outcome IN ('promoted', 'rolled_back')),
    decided_at         BIGINT NOT NULL
);

-- Every decision of the canary gate, with the numbers it was taken on (JSON: one entry per
-- metric with n, medians, p-value, effect and CI).
CREATE TABLE prompt_canary_decisions (
    id                 TEXT PRIMARY KEY,
    prompt_id          TEXT NOT NULL,
    candidate_version  BIGINT NOT NULL,
    baseline_version   BIGINT NOT NULL,
    decision           TEXT NOT NULL CHECK (decision IN ('promote', 'rollback', 'hold')),
    reason             TEXT NOT NULL,
    release            TEXT NOT NULL,       -- the gateway release that took the decision
    window_start       BIGINT NOT NULL,
    window_end         BIGINT NOT NULL,
    report             TEXT NOT NULL,
    created_at         BIGINT NOT NULL
);
CREATE INDEX prompt_canary_decisions_prompt ON prompt_canary_decisions (prompt_id, created_at);
