-- Actions Berth carries out at once (restart, scale, rollback) record the intent as
-- `requested` before the cluster is touched, then `success` or `failure`.
ALTER TABLE audit_events DROP CONSTRAINT audit_events_outcome_check;
ALTER TABLE audit_events ADD CONSTRAINT audit_events_outcome_check
    CHECK (outcome IN ('success', 'failure', 'denied', 'requested'));
