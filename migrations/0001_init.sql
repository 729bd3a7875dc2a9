-- Herald schema 1: topics, the partitioned notification log, idempotency keys,
-- partition maintenance and the publish function every writer goes through.
-- Applied by `herald migrate` (and `herald serve` at start) under an advisory lock.

CREATE TABLE herald.topics (
    name            text PRIMARY KEY,
    -- The seq counter: the next publish takes last_seq + 1 under this row's lock, so
    -- seqs are gap-free and increase in commit order (see docs/design.md).
    last_seq        bigint NOT NULL DEFAULT 0 CHECK (last_seq >= 0),
    -- created_at of the newest notification; a publish takes
    -- greatest(clock_timestamp(), last_created_at), so created_at never decreases with
    -- seq within a topic, even when the clock steps back.
    last_created_at timestamptz NOT NULL DEFAULT '-infinity',
    created_at      timestamptz NOT NULL DEFAULT now()
);

-- The log, range-partitioned by created_at (one partition per UTC day). Retention drops
-- whole partitions: no DELETE, no dead rows, no vacuum debt.
CREATE TABLE herald.notifications (
    topic      text        NOT NULL,
    seq        bigint      NOT NULL,
    id         uuid        NOT NULL DEFAULT gen_random_uuid(),
    event      text        NOT NULL,
    data       jsonb       NOT NULL,
    created_at timestamptz NOT NULL,
    expires_at timestamptz
) PARTITION BY RANGE (created_at);

CREATE INDEX notifications_topic_seq ON herald.notifications (topic, seq);

-- A safety net: a row whose day has no partition yet still has a home.
CREATE TABLE herald.notifications_default PARTITION OF herald.notifications DEFAULT;

-- Idempotency keys, by (topic, key); a partitioned table cannot hold a unique index
-- without its partition key, so they live here.
CREATE TABLE herald.idempotency_keys (
    topic      text        NOT NULL,
    key        text        NOT NULL,
    seq        bigint      NOT NULL,
    created_at timestamptz NOT NULL,
    PRIMARY KEY (topic, key)
);

-- Creates the daily partitions for p_days days from p_from (UTC) that do not exist yet;
-- returns how many it created. Serialized by an advisory lock, so instances running
-- maintenance at once do not collide.
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
        BEGIN
            EXECUTE format(
                'CREATE TABLE herald.%I PARTITION OF herald.notifications FOR VALUES FROM (%L) TO (%L)',
                v_name,
                to_char(v_day, 'YYYY-MM-DD') || ' 00:00:00+00',
                to_char(v_day + 1, 'YYYY-MM-DD') || ' 00:00:00+00');
            v_created := v_created + 1;
        EXCEPTION WHEN check_violation THEN
            -- Rows for that day already sit in the default partition; they stay there.
            RAISE NOTICE 'herald: % not created, rows for that day are in the default partition', v_name;
        END;
    END LOOP;
    RETURN v_created;
END
$$;

-- Drops the daily partitions that end at or before p_before and deletes older rows of
-- the default partition and older idempotency keys; returns the partitions dropped.
CREATE FUNCTION herald.drop_partitions(p_before timestamptz)
RETURNS integer
LANGUAGE plpgsql AS $$
DECLARE
    v_partition record;
    v_dropped   integer := 0;
BEGIN
    PERFORM pg_advisory_xact_lock(hashtext('herald.partitions'));
    FOR v_partition IN
        SELECT c.relname
        FROM pg_inherits i
        JOIN pg_class c ON c.oid = i.inhrelid
        WHERE i.inhparent = 'herald.notifications'::regclass
          AND c.relname ~ '^notifications_[0-9]{8}$'
          AND to_date(substr(c.relname, 15), 'YYYYMMDD') + 1 <= (p_before AT TIME ZONE 'UTC')::date
        ORDER BY c.relname
    LOOP
        EXECUTE format('DROP TABLE herald.%I', v_partition.relname);
        v_dropped := v_dropped + 1;
    END LOOP;
    DELETE FROM herald.notifications_default WHERE created_at < p_before;
    DELETE FROM herald.idempotency_keys WHERE created_at < p_before;
    RETURN v_dropped;
END
$$;

-- Publishes notifications in one statement; the group-commit publisher calls it with a
-- whole batch, and it can be called from SQL as well. Item i is
-- (p_topics[i], p_events[i], p_data[i], p_ttls[i], p_keys[i]); events, ttls and keys may
-- be NULL. An item whose (topic, key) was used before, while that notification is
-- retained, publishes nothing and returns the original with replayed = true.
-- (topic, key) pairs must be distinct within one call.
--
-- Each topic's seqs come from its row: last_seq + n under the row lock held to COMMIT,
-- taken in topic-name order by every writer (so no two writers deadlock). One
-- pg_notify('herald', 'topic:last_seq') per topic wakes every Herald instance.
--
-- The batch's topics are handled as arrays sorted by name, and each item finds its
-- topic's position with dense_rank() over the same order, so no statement joins the
-- batch's items to its topics: the cost stays linear however many topics a batch has.
-- The plan is generic, made once per session: custom plans would re-plan every call,
-- which costs more than running it for small batches.
CREATE FUNCTION herald.publish(
    p_topics text[],
    p_events text[],
    p_data   text[],
    p_ttls   integer[],
    p_keys   text[]
)
RETURNS TABLE (
    ord        integer,
    seq        bigint,
    id         uuid,
    created_at timestamptz,
    expires_at timestamptz,
    replayed   boolean,
    event      text,
    data       jsonb
)
LANGUAGE plpgsql
SET plan_cache_mode = force_generic_plan
AS $$
#variable_conflict use_column
DECLARE
    v_existing bigint[];
    v_names    text[];
    v_counts   bigint[];
    v_last     bigint[];
    v_created  timestamptz[];
BEGIN
    IF p_keys IS NOT NULL AND EXISTS (SELECT 1 FROM unnest(p_keys) AS k WHERE k IS NOT NULL) THEN
        -- Hold the topics' locks before looking keys up: a writer that took one of these
        -- keys holds the same lock until it commits, so its key is visible once we have it.
        INSERT INTO herald.topics (name)
        SELECT DISTINCT t FROM unnest(p_topics) AS t ORDER BY 1
        ON CONFLICT DO NOTHING;
        PERFORM 1 FROM herald.topics t WHERE t.name = ANY (p_topics) ORDER BY t.name FOR UPDATE;
        SELECT array_agg(k.seq ORDER BY u.ord) INTO v_existing
        FROM unnest(p_topics, p_keys) WITH ORDINALITY AS u(topic, key, ord)
        LEFT JOIN LATERAL (
            SELECT n.seq
            FROM herald.idempotency_keys k
            CROSS JOIN LATERAL (
                SELECT n.seq FROM herald.notifications n
                WHERE n.topic = k.topic AND n.seq = k.seq AND (n.expires_at IS NULL OR n.expires_at > now())
                LIMIT 1
            ) n
            WHERE k.topic = u.topic AND k.key = u.key
        ) k ON true;
    END IF;

    -- The topics with new items and how many each, in name order.
    SELECT array_agg(s.topic ORDER BY s.topic), array_agg(s.n ORDER BY s.topic) INTO v_names, v_counts
    FROM (
        SELECT u.topic, count(*) AS n
        FROM unnest(p_topics) WITH ORDINALITY AS u(topic, ord)
        WHERE v_existing[u.ord] IS NULL
        GROUP BY u.topic
    ) s;

    IF v_names IS NOT NULL THEN
        -- Take the seqs: each topic's row, in name order, bumped by its count.
        WITH bumped AS (
            INSERT INTO herald.topics AS t (name, last_seq, last_created_at)
            SELECT s.name, s.n, clock_timestamp() FROM unnest(v_names, v_counts) AS s(name, n) ORDER BY s.name
            ON CONFLICT (name) DO UPDATE
                SET last_seq = t.last_seq + excluded.last_seq,
                    last_created_at = greatest(excluded.last_created_at, t.last_created_at)
            RETURNING t.name, t.last_seq, t.last_created_at
        )
        SELECT array_agg(b.last_seq ORDER BY b.name), array_agg(b.last_created_at ORDER BY b.name)
        INTO v_last, v_created
        FROM bumped b;
    END IF;

    RETURN QUERY
    WITH input AS (
        SELECT u.topic, u.event, u.data, u.ttl, u.key, u.ord::integer AS ord, v_existing[u.ord] AS existing
        FROM unnest(p_topics, p_events, p_data, p_ttls, p_keys) WITH ORDINALITY AS u(topic, event, data, ttl, key, ord)
    ),
    ranked AS (
        SELECT i.*,
               dense_rank() OVER (ORDER BY i.topic) AS tix,
               row_number() OVER (PARTITION BY i.topic ORDER BY i.ord) AS rn
        FROM input i
        WHERE i.existing IS NULL
    ),
    numbered AS (
        SELECT r.ord, r.topic, v_last[r.tix] - v_counts[r.tix] + r.rn AS seq, gen_random_uuid() AS id,
               coalesce(r.event, 'message') AS event, r.data::jsonb AS data,
               v_created[r.tix] AS created_at,
               v_created[r.tix] + make_interval(secs => r.ttl) AS expires_at,
               r.key
        FROM ranked r
    ),
    inserted AS (
        INSERT INTO herald.notifications (topic, seq, id, event, data, created_at, expires_at)
        SELECT topic, seq, id, event, data, created_at, expires_at FROM numbered
    ),
    keyed AS (
        INSERT INTO herald.idempotency_keys (topic, key, seq, created_at)
        SELECT topic, key, seq, created_at FROM numbered WHERE key IS NOT NULL
        ON CONFLICT (topic, key) DO UPDATE SET seq = excluded.seq, created_at = excluded.created_at
    )
    -- (Data-modifying CTEs run to completion whether or not they are read.)
    SELECT n.ord, n.seq, n.id, n.created_at, n.expires_at, false, NULL::text, NULL::jsonb
    FROM numbered n
    UNION ALL
    SELECT x.ord, o.seq, o.id, o.created_at, o.expires_at, true, o.event, o.data
    FROM input x
    CROSS JOIN LATERAL (
        SELECT * FROM herald.notifications o WHERE o.topic = x.topic AND o.seq = x.existing LIMIT 1
    ) o
    WHERE x.existing IS NOT NULL;

    PERFORM pg_notify('herald', s.name || ':' || s.last_seq) FROM unnest(v_names, v_last) AS s(name, last_seq);
END
$$;
