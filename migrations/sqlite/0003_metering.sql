-- Cost metering: exact cost and token details per message, the key that sent each message,
-- daily budgets per key, and the cost alerts.
--
-- Costs are decimal strings in TEXT columns. TEXT affinity matters: a NUMERIC or REAL column
-- would let SQLite turn '0.000000123456789012' into a float. Sums are done in Rust for the same
-- reason (SQLite's SUM() would read the text as REAL); see src/metering/ledger.rs.
ALTER TABLE messages ADD COLUMN key_id TEXT;
ALTER TABLE messages ADD COLUMN cost_usd TEXT;
ALTER TABLE messages ADD COLUMN cached_tokens BIGINT;
ALTER TABLE messages ADD COLUMN reasoning_tokens BIGINT;
ALTER TABLE messages ADD COLUMN tokens_source TEXT;   -- upstream | counted | estimated
-- Messages logged before this migration belong to their conversation's key.
UPDATE messages SET key_id = (SELECT c.key_id FROM conversations c WHERE c.id = messages.conversation_id);
-- Today's spend of a key (budgets) and usage by key.
CREATE INDEX messages_key_created ON messages (key_id, created_at);

ALTER TABLE api_keys ADD COLUMN daily_budget_usd TEXT;  -- NULL: no limit

-- One row per alert: opened when the mean cost per message of the last 24 h rose over the
-- threshold against the 24 h before, cleared when it is back under.
CREATE TABLE cost_alerts (
    id                         TEXT PRIMARY KEY,
    scope                      TEXT NOT NULL,   -- '*' (all models) or a model name
    opened_at                  BIGINT NOT NULL,
    cleared_at                 BIGINT,
    threshold                  TEXT NOT NULL,   -- cost_rise_ratio when opened
    change_ratio               TEXT NOT NULL,   -- (current − previous) / previous, when opened
    previous_cost_per_message  TEXT NOT NULL,
    current_cost_per_message   TEXT NOT NULL,
    previous_messages          BIGINT NOT NULL,
    current_messages           BIGINT NOT NULL
);
-- At most one open alert per scope, even with several replicas checking at once.
CREATE UNIQUE INDEX cost_alerts_one_open ON cost_alerts (scope) WHERE cleared_at IS NULL;
CREATE INDEX cost_alerts_opened ON cost_alerts (opened_at);
