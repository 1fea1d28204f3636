-- Changes to a namespace Berth made: an extension of its lifetime or another tier's quota.
-- `plan` is the whole plan after the change; an `approved` row is the outbox the provisioner
-- applies, and only once it holds in the cluster does the request take the new plan.
CREATE TABLE namespace_changes (
    id              text PRIMARY KEY,
    request_id      text NOT NULL REFERENCES namespace_requests (id),
    kind            text NOT NULL CHECK (kind IN ('extend', 'quota')),
    state           text NOT NULL CHECK (state IN
                        ('pending', 'approved', 'denied', 'applied', 'failed')),
    requester_id    text NOT NULL,
    requester_name  text NOT NULL,
    reason          text NOT NULL,
    plan            jsonb NOT NULL,
    -- What it does, fixed when asked for (domain::change::summary and quota_deltas).
    summary         text NOT NULL,
    quota           jsonb NOT NULL DEFAULT '[]',
    -- The namespace's expiry once the change holds (NULL: never expires).
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

-- One open change per namespace at a time, so each is planned from what is in place.
CREATE UNIQUE INDEX namespace_changes_open ON namespace_changes (request_id)
    WHERE state IN ('pending', 'approved');
CREATE INDEX namespace_changes_outbox ON namespace_changes (next_attempt_at)
    WHERE state = 'approved';
CREATE INDEX namespace_changes_request ON namespace_changes (request_id, created_at DESC);
