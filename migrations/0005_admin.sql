-- Herald schema 5: what the admin needs (docs/api.md, "Admin").
--
-- 1. Versioned cursors. An admin set (a replay) may move a cursor backwards: it bumps
--    the cursor's version and marks it `replay`. Acknowledgements carry the version they
--    were based on and are written only while it is still the cursor's version, so an ack
--    or a pending flush from before the set (on any instance) cannot undo it. `replay`
--    makes the client's next start on that topic begin at the set position whatever it
--    asks for; that start clears it (one-shot).
-- 2. Purges. herald.purges holds, per topic, the seq through which an admin purged it.
--    Every read of the log filters on it, so a purge takes effect at once and never
--    touches the topics' rows (which publishing locks); the rows themselves are then
--    deleted in short statements (see NotificationStore+Admin.swift).
-- 3. herald.publish checks names the way the server does, and herald.publish_one
--    publishes one notification in one line of SQL.

ALTER TABLE herald.cursors
    ADD COLUMN version bigint NOT NULL DEFAULT 0,
    ADD COLUMN replay boolean NOT NULL DEFAULT false;

CREATE TABLE herald.purges (
    topic       text        PRIMARY KEY,
    through_seq bigint      NOT NULL CHECK (through_seq > 0),
    purged_at   timestamptz NOT NULL DEFAULT now()
);

-- Raises invalid_parameter_value (22023) for the first item the server would refuse:
-- a topic, event or idempotency key of the wrong shape, a ttl below 1, NULL data. The
-- message starts with the error code of the wire contract.
CREATE FUNCTION herald.check_items(p_topics text[], p_events text[], p_data text[], p_ttls integer[], p_keys text[])
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
END
$$;

-- The SQL interface: checks the items as the server does, then publishes inside the
-- caller's transaction, waiting for its topics' locks (held until the caller commits);
-- creates the log's partitions around today when there is none for now.
CREATE OR REPLACE FUNCTION herald.publish(
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
