-- The guard's reading of a message: JSON {"categories","actions","matched"} (rule ids, never the
-- matched text), and whether it made the conversation urgent (red flag or self-harm). A
-- conversation is urgent when any of its messages is; nurse review samples those first.
ALTER TABLE messages ADD COLUMN guard TEXT;
ALTER TABLE messages ADD COLUMN urgent BIGINT NOT NULL DEFAULT 0;
CREATE INDEX messages_urgent ON messages (urgent, created_at);
