-- Herald schema 2: server-side cursors. For a subscriber with a client id, the position
-- it last acknowledged on each topic: where it resumes when it comes back without an
-- explicit cursor. Writes only move a cursor forward (greatest(old, new)); an admin
-- replay sets it explicitly.
CREATE TABLE herald.cursors (
    client     text        NOT NULL,
    topic      text        NOT NULL,
    seq        bigint      NOT NULL CHECK (seq >= 0),
    updated_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (client, topic)
);
