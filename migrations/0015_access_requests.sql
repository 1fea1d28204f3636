-- Just-in-time access. The policy is one document an admin edits (absent: Berth's default).
CREATE TABLE access_policy (
    one        boolean PRIMARY KEY DEFAULT true CHECK (one),
    rules      jsonb NOT NULL,
    updated_by text NOT NULL,
    updated_at timestamptz NOT NULL DEFAULT now()
);

-- One row per request; its state moves pending → granting → active → expired | revoked, or
-- pending → denied | expired. The rule that held it is copied in, so editing the policy does
-- not change a request already made.
CREATE TABLE access_requests (
    id              text PRIMARY KEY,
    requester_id    text NOT NULL,
    requester_name  text NOT NULL,
    requester_teams text[] NOT NULL,
    cluster         boolean NOT NULL,
    namespaces      text[] NOT NULL,
    role            text NOT NULL,
    minutes         integer NOT NULL CHECK (minutes > 0),
    reason          text NOT NULL,
    ticket          text NOT NULL,
    rule            jsonb NOT NULL,
    break_glass     boolean NOT NULL DEFAULT false,
    -- An extension names the grant it extends.
    extends         text REFERENCES access_requests (id),
    state           text NOT NULL CHECK (state IN ('pending', 'granting', 'active', 'expired', 'revoked', 'denied')),
    created_at      timestamptz NOT NULL DEFAULT now(),
    review_by       timestamptz NOT NULL,
    granted_at      timestamptz,
    expires_at      timestamptz,
    -- Set when an early revoke is asked for; the grant is overdue from then on.
    revoke_due_at   timestamptz,
    ended_at        timestamptz,
    ended_by        text,
    end_comment     text,
    -- Between when a grant was due to end and when its bindings were gone.
    revoke_delay_ms double precision,
    -- Break-glass grants stay open for review until an SRE signs them off.
    signed_off_by   text,
    signed_off_at   timestamptz,
    signoff_comment text
);
CREATE INDEX access_requests_open ON access_requests (state) WHERE state IN ('pending', 'granting', 'active');
CREATE INDEX access_requests_requester ON access_requests (requester_id, created_at DESC);

CREATE TABLE access_reviews (
    request_id    text NOT NULL REFERENCES access_requests (id),
    reviewer_id   text NOT NULL,
    reviewer_name text NOT NULL,
    approved      boolean NOT NULL,
    comment       text NOT NULL,
    at            timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (request_id, reviewer_id)
);
CREATE INDEX audit_events_access_request ON audit_events (target_name, seq) WHERE target_kind = 'AccessRequest';
