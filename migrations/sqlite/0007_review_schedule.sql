-- The period a scheduled review batch covers (`2026-W48` for a weekly schedule, `2026-11-27` for
-- a daily one; NULL for batches sampled from the CLI). Unique, so two replicas that sample at
-- the same moment cannot both create the batch of a period: the second insert fails and its
-- transaction (batch and items) rolls back.
ALTER TABLE review_batches ADD COLUMN period TEXT;
CREATE UNIQUE INDEX review_batches_period ON review_batches (period) WHERE period IS NOT NULL;

-- A conversation is sampled into one batch at most (reviewed or still queued, it is never drawn
-- again). Sampling excludes them already; the index also holds when two samplings race (the CLI
-- and the schedule at the same moment): the later transaction fails whole and can be retried.
CREATE UNIQUE INDEX review_items_one_batch ON review_items (conversation_id);
