-- Core tables: API keys (hashed), conversations and their messages.
-- Timestamps are Unix epoch milliseconds (BIGINT) so one query text serves SQLite and PostgreSQL.
CREATE TABLE api_keys (
    id          TEXT PRIMARY KEY,
    name        TEXT NOT NULL,
    key_hash    TEXT NOT NULL UNIQUE,   -- SHA-256 of the key, hex; the key itself is never stored
    key_prefix  TEXT NOT NULL,          -- first characters, to recognise a key in listings
    role        TEXT NOT NULL CHECK (role IN ('client', 'admin')),
    rpm         BIGINT,
    created_at  BIGINT NOT NULL,
    revoked_at  BIGINT
);
-- A name is unique among the keys still in use; a revoked name can be reused.
CREATE UNIQUE INDEX api_keys_active_name ON api_keys (name) WHERE revoked_at IS NULL;

CREATE TABLE conversations (
    id          TEXT PRIMARY KEY,
    key_id      TEXT NOT NULL,
    created_at  BIGINT NOT NULL,
    updated_at  BIGINT NOT NULL
);
CREATE INDEX conversations_updated ON conversations (updated_at);

CREATE TABLE messages (
    id                 TEXT PRIMARY KEY,
    conversation_id    TEXT NOT NULL REFERENCES conversations (id),
    request_id         TEXT NOT NULL,
    role               TEXT NOT NULL,
    content            TEXT NOT NULL,
    model              TEXT,            -- the model that answered (assistant messages)
    status             TEXT NOT NULL,   -- ok | error | client_closed
    finish_reason      TEXT,
    prompt_tokens      BIGINT,
    completion_tokens  BIGINT,
    latency_ms         BIGINT,
    upstream_ms        BIGINT,
    error_code         TEXT,
    created_at         BIGINT NOT NULL
);
CREATE INDEX messages_conversation ON messages (conversation_id, created_at);
CREATE INDEX messages_created ON messages (created_at);
CREATE INDEX messages_request ON messages (request_id);
