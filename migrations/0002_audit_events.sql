-- The tamper-evident audit trail: append-only, one hash chain ordered by `seq`.
CREATE TABLE audit_events (
    seq              bigint PRIMARY KEY,
    at_micros        bigint NOT NULL,
    occurred_at      timestamptz NOT NULL,
    actor_id         text NOT NULL,
    actor_display    text NOT NULL,
    actor_roles      text[] NOT NULL,
    source           text NOT NULL,
    request_id       text NOT NULL,
    action           text NOT NULL,
    target_kind      text NOT NULL,
    target_namespace text NOT NULL,
    target_name      text NOT NULL,
    before           jsonb,
    after            jsonb,
    outcome          text NOT NULL CHECK (outcome IN ('success', 'failure', 'denied')),
    prev_hash        text NOT NULL,
    hash             text NOT NULL UNIQUE,
    CHECK (seq = 1 OR prev_hash <> '0000000000000000000000000000000000000000000000000000000000000000')
);

CREATE INDEX audit_events_occurred_at ON audit_events (occurred_at DESC);
CREATE INDEX audit_events_actor ON audit_events (actor_id, seq DESC);
CREATE INDEX audit_events_namespace ON audit_events (target_namespace, seq DESC);
CREATE INDEX audit_events_action ON audit_events (action, seq DESC);

-- Nobody rewrites history: not the application, not a careless migration.
CREATE FUNCTION audit_events_refuse_change() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'audit_events is append-only: % is not allowed', TG_OP
        USING ERRCODE = 'insufficient_privilege';
END;
$$;

CREATE TRIGGER audit_events_no_update_or_delete
    BEFORE UPDATE OR DELETE ON audit_events
    FOR EACH ROW EXECUTE FUNCTION audit_events_refuse_change();

CREATE TRIGGER audit_events_no_truncate
    BEFORE TRUNCATE ON audit_events
    FOR EACH STATEMENT EXECUTE FUNCTION audit_events_refuse_change();

REVOKE UPDATE, DELETE, TRUNCATE ON audit_events FROM PUBLIC;
