-- Herald schema 6: a notification's data is delivered as the bytes its producer sent.
--
-- herald.notifications.data becomes json: the text as its producer sent it, checked by
-- PostgreSQL, where jsonb kept a parsed form printed again at every read (with its own key
-- order, spacing and number spelling). Chosen by measurement against jsonb and text
-- (docs/performance.md, "Exact bytes"): with 4 KiB of structured data, jsonb publishes and
-- catches up at about half the rate; text, which PostgreSQL does not parse, publishes
-- batches about a fifth faster than json, but SQL readers would lose `data->>'key'` and
-- the column would no longer say what it holds. The functions whose results carry data
-- are made again returning json; herald.publish_one still takes jsonb, which is what SQL
-- builds. The ALTER rewrites the log (existing rows keep jsonb's spelling), holding its
-- lock while it does: on a large log, upgrade when publishing may pause.

DROP FUNCTION herald.publish_one(text, jsonb, text, integer);
DROP FUNCTION herald.publish(text[], text[], text[], integer[], text[]);
DROP FUNCTION herald.publish_items(boolean, integer[], text[], uuid[], text[], text[], integer[], text[]);

ALTER TABLE herald.notifications ALTER COLUMN data TYPE json USING data::json;

-- Publishes items in one statement. Item i is (p_topics[i], p_ids[i], p_events[i],
-- p_data[i], p_ttls[i], p_keys[i]) of request p_requests[i] (requests are all-or-nothing;
-- NULL: each item alone). Ids (NULL: random), events, ttls and keys may be NULL; data is
-- JSON text. (topic, key) pairs must be distinct within one call. Returns a row per
-- item: the new notification, the original one for a repeated idempotency key
-- (replayed), or, with p_skip_locked, nothing but deferred = true for the items of a
-- request one of whose topics another transaction holds.
--
-- Each topic's seqs come from its row: last_seq + n under the row lock held to COMMIT,
-- taken in topic-name order by every writer (so no two writers deadlock). One
-- pg_notify('herald', 'topic:last_seq') per topic wakes every Herald instance. Topics
-- are handled as arrays sorted by name, and each item finds its topic's position with
-- dense_rank() over the same order, so no statement joins items to topics: the cost stays
-- linear however many topics a batch has. The plan is generic, made once per session.
CREATE FUNCTION herald.publish_items(
    p_skip_locked boolean,
    p_requests    integer[],
    p_topics      text[],
    p_ids         uuid[],
    p_events      text[],
    p_data        text[],
    p_ttls        integer[],
    p_keys        text[]
)
RETURNS TABLE (
    ord        integer,
    seq        bigint,
    id         uuid,
    created_at timestamptz,
    expires_at timestamptz,
    replayed   boolean,
    event      text,
    data       json,
    deferred   boolean
)
LANGUAGE plpgsql
SET plan_cache_mode = force_generic_plan
AS $$
#variable_conflict use_column
DECLARE
    v_all      text[];
    v_locked   text[];
    v_deferred integer[] := '{}';
    v_existing bigint[];
    v_names    text[];
    v_counts   bigint[];
    v_last     bigint[];
    v_created  timestamptz[];
BEGIN
    IF p_skip_locked THEN
        -- The rows exist (the caller creates missing topics first). Take those free now, in
        -- name order; a request touching one that is not (held, or missing) is deferred.
        SELECT array_agg(DISTINCT t ORDER BY t) INTO v_all FROM unnest(p_topics) AS t;
        SELECT array_agg(l.name ORDER BY l.name) INTO v_locked
        FROM (SELECT t.name FROM herald.topics t WHERE t.name = ANY (v_all) ORDER BY t.name FOR UPDATE SKIP LOCKED) l;
        SELECT coalesce(array_agg(DISTINCT u.request), '{}') INTO v_deferred
        FROM unnest(p_requests, p_topics) AS u(request, topic)
        WHERE u.topic <> ALL (coalesce(v_locked, '{}'));
    ELSIF p_keys IS NOT NULL AND EXISTS (SELECT 1 FROM unnest(p_keys) AS k WHERE k IS NOT NULL) THEN
        -- Keys are looked up below: hold the topics' locks first (waiting for them, in name
        -- order, as every writer takes them). Without keys the bump below takes them.
        SELECT array_agg(DISTINCT t ORDER BY t) INTO v_all FROM unnest(p_topics) AS t;
        INSERT INTO herald.topics (name) SELECT t FROM unnest(v_all) AS t ON CONFLICT DO NOTHING;
        PERFORM 1 FROM herald.topics t WHERE t.name = ANY (v_all) ORDER BY t.name FOR UPDATE;
    END IF;

    IF p_keys IS NOT NULL AND EXISTS (SELECT 1 FROM unnest(p_keys) AS k WHERE k IS NOT NULL) THEN
        -- The topics' locks are held: a writer that took one of these keys holds the same
        -- lock until it commits, so its key is visible now.
        SELECT array_agg(k.seq ORDER BY u.ord) INTO v_existing
        FROM unnest(p_requests, p_topics, p_keys) WITH ORDINALITY AS u(request, topic, key, ord)
        LEFT JOIN LATERAL (
            SELECT n.seq
            FROM herald.idempotency_keys k
            CROSS JOIN LATERAL (
                SELECT n.seq FROM herald.notifications n
                WHERE n.topic = k.topic AND n.seq = k.seq AND (n.expires_at IS NULL OR n.expires_at > now())
                LIMIT 1
            ) n
            WHERE k.topic = u.topic AND k.key = u.key
        ) k ON u.request IS NULL OR u.request <> ALL (v_deferred);
    END IF;

    -- The topics with new items and how many each, in name order.
    SELECT array_agg(s.topic ORDER BY s.topic), array_agg(s.n ORDER BY s.topic) INTO v_names, v_counts
    FROM (
        SELECT u.topic, count(*) AS n
        FROM unnest(p_requests, p_topics) WITH ORDINALITY AS u(request, topic, ord)
        WHERE v_existing[u.ord] IS NULL AND (u.request IS NULL OR u.request <> ALL (v_deferred))
        GROUP BY u.topic
    ) s;

    IF v_names IS NOT NULL THEN
        -- Take the seqs: each topic's row, in name order, bumped by its count (created if
        -- new; locked here unless above).
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
        SELECT u.topic, p_ids[u.ord] AS id, u.event, u.data, u.ttl, u.key, u.ord::integer AS ord, v_existing[u.ord] AS existing,
               (u.request IS NOT NULL AND u.request = ANY (v_deferred)) AS held
        FROM unnest(p_requests, p_topics, p_events, p_data, p_ttls, p_keys)
             WITH ORDINALITY AS u(request, topic, event, data, ttl, key, ord)
    ),
    ranked AS (
        SELECT i.*,
               dense_rank() OVER (ORDER BY i.topic) AS tix,
               row_number() OVER (PARTITION BY i.topic ORDER BY i.ord) AS rn
        FROM input i
        WHERE i.existing IS NULL AND NOT i.held
    ),
    numbered AS (
        SELECT r.ord, r.topic, v_last[r.tix] - v_counts[r.tix] + r.rn AS seq, coalesce(r.id, gen_random_uuid()) AS id,
               coalesce(r.event, 'message') AS event, r.data::json AS data, octet_length(r.data) AS size,
               v_created[r.tix] AS created_at,
               v_created[r.tix] + make_interval(secs => r.ttl) AS expires_at,
               r.key
        FROM ranked r
    ),
    inserted AS (
        INSERT INTO herald.notifications (topic, seq, id, event, data, created_at, expires_at, size)
        SELECT topic, seq, id, event, data, created_at, expires_at, size FROM numbered
    ),
    keyed AS (
        INSERT INTO herald.idempotency_keys (topic, key, seq, created_at)
        SELECT topic, key, seq, created_at FROM numbered WHERE key IS NOT NULL
        ON CONFLICT (topic, key) DO UPDATE SET seq = excluded.seq, created_at = excluded.created_at
    )
    -- (Data-modifying CTEs run to completion whether or not they are read.)
    SELECT n.ord, n.seq, n.id, n.created_at, n.expires_at, false, NULL::text, NULL::json, false
    FROM numbered n
    UNION ALL
    SELECT x.ord, o.seq, o.id, o.created_at, o.expires_at, true, o.event, o.data, false
    FROM input x
    CROSS JOIN LATERAL (
        SELECT * FROM herald.notifications o WHERE o.topic = x.topic AND o.seq = x.existing LIMIT 1
    ) o
    WHERE x.existing IS NOT NULL AND NOT x.held
    UNION ALL
    SELECT x.ord, NULL, NULL, NULL, NULL, NULL, NULL, NULL, true
    FROM input x
    WHERE x.held;

    PERFORM pg_notify('herald', s.name || ':' || s.last_seq) FROM unnest(v_names, v_last) AS s(name, last_seq);
END
$$;

-- The SQL interface: checks the items as the server does, then publishes inside the
-- caller's transaction, waiting for its topics' locks (held until the caller commits);
-- creates the log's partitions around today when there is none for now.
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
    data       json
)
LANGUAGE plpgsql
AS $$
BEGIN
    PERFORM herald.check_items(p_topics, p_events, p_data, p_ttls, p_keys);
    FOR attempt IN 1 .. 2 LOOP
        BEGIN
            RETURN QUERY
            SELECT p.ord, p.seq, p.id, p.created_at, p.expires_at, p.replayed, p.event, p.data
            FROM herald.publish_items(false, NULL, p_topics, NULL, p_events, p_data, p_ttls, p_keys) p;
            RETURN;
        EXCEPTION WHEN check_violation THEN
            -- No partition for today: no server has run for a week (servers keep them a
            -- week ahead), or only `herald migrate` has. Create them, as the server's
            -- publisher does, and publish again.
            IF attempt = 2 OR SQLERRM NOT LIKE 'no partition of relation%' THEN
                RAISE;
            END IF;
            PERFORM herald.ensure_partitions((now() AT TIME ZONE 'UTC')::date - 1, 9);
        END;
    END LOOP;
END
$$;

-- One notification in one line: `SELECT herald.publish_one('orders', '{"id": 42}')`.
-- Returns its seq. Call it last in a transaction: the topic's row stays locked until the
-- caller commits, and the server's publishes to that topic wait until then.
CREATE FUNCTION herald.publish_one(topic text, data jsonb, event text DEFAULT 'message', ttl integer DEFAULT NULL)
RETURNS bigint
LANGUAGE sql
AS $$
    SELECT p.seq
    FROM herald.publish(ARRAY[topic], ARRAY[coalesce(event, 'message')], ARRAY[data::text], ARRAY[ttl], ARRAY[NULL::text]) p
$$;

-- The SQL interface's checks (schema 5's), and that data is JSON by the server's rules,
-- which are jsonb's (numbers within numeric's range, no \u0000): json alone would take
-- what the server refuses, and SQL readers cast data to jsonb.
CREATE OR REPLACE FUNCTION herald.check_items(p_topics text[], p_events text[], p_data text[], p_ttls integer[], p_keys text[])
RETURNS void
LANGUAGE plpgsql IMMUTABLE AS $$
BEGIN
    IF coalesce(cardinality(p_topics), 0) = 0 THEN
        RAISE EXCEPTION 'invalid_body: nothing to publish' USING ERRCODE = 'invalid_parameter_value';
    END IF;
    FOR i IN 1 .. cardinality(p_topics) LOOP
        IF p_topics[i] IS NULL OR p_topics[i] !~ '^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$' THEN
            RAISE EXCEPTION 'invalid_topic: topic must match ^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$, got %', quote_nullable(p_topics[i])
                USING ERRCODE = 'invalid_parameter_value';
        END IF;
        IF p_events[i] IS NOT NULL AND p_events[i] !~ '^[A-Za-z0-9._:-]{1,64}$' THEN
            RAISE EXCEPTION 'invalid_event: event must match ^[A-Za-z0-9._:-]{1,64}$, got %', quote_literal(p_events[i])
                USING ERRCODE = 'invalid_parameter_value';
        END IF;
        IF p_data[i] IS NULL THEN
            RAISE EXCEPTION 'missing_data: data is required' USING ERRCODE = 'invalid_parameter_value';
        END IF;
        IF p_ttls[i] IS NOT NULL AND p_ttls[i] < 1 THEN
            RAISE EXCEPTION 'invalid_body: ttl must be a whole number from 1 to 2147483647, got %', p_ttls[i]
                USING ERRCODE = 'invalid_parameter_value';
        END IF;
        IF p_keys[i] IS NOT NULL AND p_keys[i] !~ '^[!-~]{1,128}$' THEN
            RAISE EXCEPTION 'invalid_body: an idempotency key is 1 to 128 visible ASCII characters'
                USING ERRCODE = 'invalid_parameter_value';
        END IF;
    END LOOP;
    BEGIN
        PERFORM p_data::jsonb[];
    EXCEPTION WHEN invalid_text_representation OR untranslatable_character OR numeric_value_out_of_range OR invalid_parameter_value THEN
        RAISE EXCEPTION 'invalid_json: data must be JSON (%)', SQLERRM USING ERRCODE = 'invalid_parameter_value';
    END;
END
$$;
