-- PostgreSQL's own ceiling for Herald's write path: one notification per transaction,
-- taking its seq from the topic row, inserting it, and notifying, as herald.publish does.
-- Over the 16 topics pgbench-0 .. pgbench-15 that bench/compare.sh creates (as many as
-- herald-bench publishes to): with four, 64 clients queued on four row locks.
\set t random(0, 15)
BEGIN;
UPDATE herald.topics SET last_seq = last_seq + 1, last_created_at = greatest(clock_timestamp(), last_created_at)
    WHERE name = 'pgbench-' || :t RETURNING last_seq \gset
INSERT INTO herald.notifications (topic, seq, event, data, created_at)
    VALUES ('pgbench-' || :t, :last_seq, 'bench', '"xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx"', clock_timestamp());
SELECT pg_notify('herald', 'pgbench-' || :t || ':' || :last_seq);
COMMIT;
