-- Namespace tiers (admin-edited quota templates) and namespace requests. A request row in state
-- `approved` or `provisioning` is the outbox: the reconciler applies it until it is `ready`.
CREATE TABLE tiers (
    name        text PRIMARY KEY,
    description text NOT NULL DEFAULT '',
    position    integer NOT NULL DEFAULT 0,
    spec        jsonb NOT NULL,
    updated_at  timestamptz NOT NULL DEFAULT now(),
    updated_by  text NOT NULL DEFAULT 'berth'
);

CREATE TABLE namespace_requests (
    id              text PRIMARY KEY,
    name            text NOT NULL,
    team            text NOT NULL,
    requester_id    text NOT NULL,
    requester_name  text NOT NULL,
    state           text NOT NULL CHECK (state IN
                        ('pending', 'approved', 'denied', 'provisioning', 'ready', 'failed')),
    -- Everything provisioning applies, fixed at request time (domain::tenancy::Plan).
    plan            jsonb NOT NULL,
    expires_at      timestamptz,
    decided_by      text,
    decided_at      timestamptz,
    decision_reason text,
    attempts        integer NOT NULL DEFAULT 0,
    next_attempt_at timestamptz NOT NULL DEFAULT now(),
    last_error      text,
    created_at      timestamptz NOT NULL DEFAULT now(),
    updated_at      timestamptz NOT NULL DEFAULT now()
);

-- A name is held by at most one live request; denied and failed ones let it go.
CREATE UNIQUE INDEX namespace_requests_live_name ON namespace_requests (name)
    WHERE state NOT IN ('denied', 'failed');
CREATE INDEX namespace_requests_outbox ON namespace_requests (next_attempt_at)
    WHERE state IN ('approved', 'provisioning');
CREATE INDEX namespace_requests_team ON namespace_requests (team, created_at DESC);
