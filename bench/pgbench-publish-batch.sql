-- PostgreSQL's ceiling with 100 notifications per transaction (one topic row update of
-- +100, 100 rows in one INSERT, one notify), over the 16 topics pgbench-0 .. pgbench-15.
\set t random(0, 15)
BEGIN;
UPDATE herald.topics SET last_seq = last_seq + 100, last_created_at = greatest(clock_timestamp(), last_created_at)
    WHERE name = 'pgbench-' || :t RETURNING last_seq \gset
INSERT INTO herald.notifications (topic, seq, event, data, created_at)
    SELECT 'pgbench-' || :t, :last_seq - 100 + i, 'bench', '"xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx"', clock_timestamp()
    FROM generate_series(1, 100) AS i;
SELECT pg_notify('herald', 'pgbench-' || :t || ':' || :last_seq);
COMMIT;
