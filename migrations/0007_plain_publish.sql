-- Herald schema 7: a shorter statement for the server's publishes without idempotency keys.
--
-- herald.publish_plain publishes items none of which has an idempotency key, waiting for
-- their topics' locks: nearly every group-commit batch. The server numbers the items
-- itself (PublishBatch.PlainNumbering): each item's topic, as a 1-based index into
-- p_topics, and its rank among that topic's items. So the statement neither sorts the
-- items nor ranks them, and it returns one row per topic instead of one per item: the
-- server chose each item's id and has its event and data, and works out its seq
-- (last_seq - count + rank), created_at (its topic's) and expires_at (created_at + ttl
-- seconds, as herald.publish_items computes it). Every item goes in, so nothing needs
-- looking up or setting aside. Measured against herald.publish_items with the same
-- batches (docs/performance.md, "The batch endpoint"): a third less time per batch of 500
-- over 16 topics, which is time every other batch of those topics waits for their locks.
--
-- The locks are taken as every writer takes them: the topics' rows in name order, by the
-- bump, held to COMMIT. p_topics may come in any order; the answer follows it.
CREATE FUNCTION herald.publish_plain(
    p_topics   text[],
    p_counts   integer[],
    p_topic_of integer[],
    p_ranks    integer[],
    p_ids      uuid[],
    p_events   text[],
    p_data     text[],
    p_ttls     integer[]
)
RETURNS TABLE (last_seq bigint, created_at timestamptz)
LANGUAGE plpgsql
SET plan_cache_mode = force_generic_plan
AS $$
#variable_conflict use_column
DECLARE
    v_last    bigint[];
    v_created timestamptz[];
BEGIN
    WITH bumped AS (
        INSERT INTO herald.topics AS t (name, last_seq, last_created_at)
        SELECT s.name, s.n, clock_timestamp() FROM unnest(p_topics, p_counts) AS s(name, n) ORDER BY s.name
        ON CONFLICT (name) DO UPDATE
            SET last_seq = t.last_seq + excluded.last_seq,
                last_created_at = greatest(excluded.last_created_at, t.last_created_at)
        RETURNING t.name, t.last_seq, t.last_created_at
    )
    SELECT array_agg(b.last_seq ORDER BY s.ix), array_agg(b.last_created_at ORDER BY s.ix)
    INTO v_last, v_created
    FROM unnest(p_topics) WITH ORDINALITY AS s(name, ix)
    JOIN bumped b ON b.name = s.name;

    INSERT INTO herald.notifications (topic, seq, id, event, data, created_at, expires_at, size)
    SELECT p_topics[u.t], v_last[u.t] - p_counts[u.t] + u.rank, u.id, u.event, u.data::json, v_created[u.t],
           v_created[u.t] + make_interval(secs => u.ttl), octet_length(u.data)
    FROM unnest(p_topic_of, p_ranks, p_ids, p_events, p_data, p_ttls) AS u(t, rank, id, event, data, ttl);

    PERFORM pg_notify('herald', s.name || ':' || s.last_seq) FROM unnest(p_topics, v_last) AS s(name, last_seq);

    RETURN QUERY SELECT s.last_seq, s.created_at FROM unnest(v_last, v_created) AS s(last_seq, created_at);
END
$$;
