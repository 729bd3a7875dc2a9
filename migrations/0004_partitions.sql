-- Herald schema 4: partition maintenance that never makes a publish wait behind its DDL.
--
-- `CREATE TABLE ... PARTITION OF` and `DROP TABLE` of a partition take an ACCESS
-- EXCLUSIVE lock on herald.notifications: while they wait for it (behind any reader),
-- every publish queues behind them. Instead:
-- - a partition is created as a table of its own, with its index, and then attached
--   (`ATTACH PARTITION` takes SHARE UPDATE EXCLUSIVE, which inserts and reads do not wait
--   for);
-- - an expired partition is detached CONCURRENTLY (the same weak lock; it waits for the
--   readers of the old partition list, without blocking anyone) and then dropped as a
--   table no query of the log can reach any more.
-- DETACH ... CONCURRENTLY is not allowed while the table has a default partition, so the
-- default partition goes: partitions are kept ready a week ahead, and the publisher
-- creates the current one itself should a publish ever find none.

DO $$
DECLARE
    v_day date;
BEGIN
    -- Rows that landed in the default partition move to partitions of their own days.
    ALTER TABLE herald.notifications DETACH PARTITION herald.notifications_default;
    FOR v_day IN SELECT DISTINCT (created_at AT TIME ZONE 'UTC')::date FROM herald.notifications_default LOOP
        IF to_regclass('herald.notifications_' || to_char(v_day, 'YYYYMMDD')) IS NULL THEN
            EXECUTE format(
                'CREATE TABLE herald.%I PARTITION OF herald.notifications FOR VALUES FROM (%L) TO (%L)',
                'notifications_' || to_char(v_day, 'YYYYMMDD'),
                to_char(v_day, 'YYYY-MM-DD') || ' 00:00:00+00',
                to_char(v_day + 1, 'YYYY-MM-DD') || ' 00:00:00+00');
        END IF;
    END LOOP;
    INSERT INTO herald.notifications SELECT * FROM herald.notifications_default;
    DROP TABLE herald.notifications_default;
END
$$;

DROP FUNCTION herald.ensure_partitions(date, integer);
DROP FUNCTION herald.drop_partitions(timestamptz);

-- Creates the daily partitions for p_days days from p_from (UTC) that do not exist yet,
-- each as a table with its index, then attached; returns how many it created.
-- Serialized by an advisory lock, so instances running maintenance at once do not collide.
CREATE FUNCTION herald.ensure_partitions(p_from date, p_days integer)
RETURNS integer
LANGUAGE plpgsql AS $$
DECLARE
    v_day     date;
    v_name    text;
    v_created integer := 0;
BEGIN
    PERFORM pg_advisory_xact_lock(hashtext('herald.partitions'));
    FOR i IN 0 .. p_days - 1 LOOP
        v_day := p_from + i;
        v_name := 'notifications_' || to_char(v_day, 'YYYYMMDD');
        CONTINUE WHEN to_regclass('herald.' || v_name) IS NOT NULL;
        EXECUTE format('CREATE TABLE herald.%I (LIKE herald.notifications INCLUDING DEFAULTS INCLUDING CONSTRAINTS)', v_name);
        EXECUTE format('CREATE INDEX ON herald.%I (topic, seq)', v_name);
        -- A constraint matching the bounds spares ATTACH its scan of the new table.
        EXECUTE format(
            'ALTER TABLE herald.%I ADD CONSTRAINT %I CHECK (created_at >= %L AND created_at < %L)',
            v_name, v_name || '_bounds',
            to_char(v_day, 'YYYY-MM-DD') || ' 00:00:00+00', to_char(v_day + 1, 'YYYY-MM-DD') || ' 00:00:00+00');
        EXECUTE format(
            'ALTER TABLE herald.notifications ATTACH PARTITION herald.%I FOR VALUES FROM (%L) TO (%L)',
            v_name,
            to_char(v_day, 'YYYY-MM-DD') || ' 00:00:00+00',
            to_char(v_day + 1, 'YYYY-MM-DD') || ' 00:00:00+00');
        v_created := v_created + 1;
    END LOOP;
    RETURN v_created;
END
$$;

-- The daily partitions whose day ends at or before p_before, oldest first, with what is
-- left to do for each: 'detach' (attached), 'finalize' (a detach was interrupted: still
-- attached, pending; DETACH ... FINALIZE), 'drop' (detached, not dropped yet). The caller
-- detaches concurrently, outside a transaction, and drops.
CREATE FUNCTION herald.expired_partitions(p_before timestamptz)
RETURNS TABLE (name text, step text)
LANGUAGE sql STABLE AS $$
    SELECT c.relname::text,
           CASE WHEN i.inhrelid IS NULL THEN 'drop' WHEN i.inhdetachpending THEN 'finalize' ELSE 'detach' END
    FROM pg_class c
    JOIN pg_namespace s ON s.oid = c.relnamespace AND s.nspname = 'herald'
    LEFT JOIN pg_inherits i ON i.inhrelid = c.oid AND i.inhparent = 'herald.notifications'::regclass
    WHERE c.relkind = 'r' AND c.relname ~ '^notifications_[0-9]{8}$'
      AND to_date(substr(c.relname, 15), 'YYYYMMDD') + 1 <= (p_before AT TIME ZONE 'UTC')::date
    ORDER BY c.relname
$$;

-- Deletes what retention no longer needs besides partitions: idempotency keys older
-- than p_before. Returns the keys deleted.
CREATE FUNCTION herald.prune_before(p_before timestamptz)
RETURNS integer
LANGUAGE plpgsql AS $$
DECLARE
    v_deleted integer;
BEGIN
    DELETE FROM herald.idempotency_keys WHERE created_at < p_before;
    GET DIAGNOSTICS v_deleted = ROW_COUNT;
    RETURN v_deleted;
END
$$;
