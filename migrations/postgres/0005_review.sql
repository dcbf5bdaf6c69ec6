-- Nurse review. Booleans are BIGINT 0/1 and timestamps epoch milliseconds, as everywhere, so one
-- query text serves SQLite and PostgreSQL.

-- People who log in to the review pages (not API clients: API keys never open these pages).
CREATE TABLE users (
    id              TEXT PRIMARY KEY,
    email           TEXT NOT NULL UNIQUE,           -- stored trimmed and lowercased
    role            TEXT NOT NULL CHECK (role IN ('nurse', 'admin')),
    password_hash   TEXT NOT NULL,                  -- argon2id PHC string; never the password
    created_at      BIGINT NOT NULL,
    disabled_at     BIGINT,
    failed_logins   BIGINT NOT NULL DEFAULT 0,      -- consecutive; reset by a good login
    last_failed_at  BIGINT
);

-- A login. The cookie holds a random token; only its SHA-256 is stored.
CREATE TABLE user_sessions (
    token_hash  TEXT PRIMARY KEY,
    user_id     TEXT NOT NULL REFERENCES users (id),
    csrf_token  TEXT NOT NULL,
    created_at  BIGINT NOT NULL,
    expires_at  BIGINT NOT NULL
);
CREATE INDEX user_sessions_user ON user_sessions (user_id);

-- One sampling run: the window it looked at and how it drew.
CREATE TABLE review_batches (
    id            TEXT PRIMARY KEY,
    created_at    BIGINT NOT NULL,
    window_start  BIGINT NOT NULL,
    window_end    BIGINT NOT NULL,
    seed          BIGINT NOT NULL,
    requested     BIGINT NOT NULL,                  -- the sample size asked for
    origin        TEXT NOT NULL                     -- cli | schedule
);

-- A conversation to review, in batch order (urgent first). A nurse who opens it holds a lock
-- until locked_until; an abandoned lock simply expires.
CREATE TABLE review_items (
    id               TEXT PRIMARY KEY,
    batch_id         TEXT NOT NULL REFERENCES review_batches (id),
    conversation_id  TEXT NOT NULL REFERENCES conversations (id),
    position         BIGINT NOT NULL,
    urgent           BIGINT NOT NULL DEFAULT 0,
    stratum          TEXT NOT NULL,                 -- "lang|persona|prompt@version" it was drawn from
    overlap          BIGINT NOT NULL DEFAULT 0,     -- 1: a second nurse reviews it too (kappa)
    locked_by        TEXT REFERENCES users (id),
    locked_until     BIGINT,
    UNIQUE (batch_id, conversation_id)
);
CREATE INDEX review_items_batch ON review_items (batch_id, position);
CREATE INDEX review_items_conversation ON review_items (conversation_id);

-- A nurse's judgement of one item.
CREATE TABLE reviews (
    id                 TEXT PRIMARY KEY,
    item_id            TEXT NOT NULL REFERENCES review_items (id),
    reviewer_id        TEXT NOT NULL REFERENCES users (id),
    clinical_accuracy  BIGINT NOT NULL CHECK (clinical_accuracy BETWEEN 1 AND 5),
    tone               BIGINT NOT NULL CHECK (tone BETWEEN 1 AND 5),
    safety_problem     TEXT NOT NULL,               -- none | missed_red_flag | dosing | self_harm | misinformation | privacy | other
    should_escalate    BIGINT NOT NULL,             -- 0 | 1
    comment            TEXT,
    corrected_answer   TEXT,
    created_at         BIGINT NOT NULL,
    UNIQUE (item_id, reviewer_id)
);
CREATE INDEX reviews_created ON reviews (created_at);
