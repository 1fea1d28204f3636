-- Expired namespaces: `expiring` is the recorded intent to delete (the outbox of the expiry
-- reconciler), `expired` the namespace gone.
ALTER TABLE namespace_requests DROP CONSTRAINT namespace_requests_state_check;
ALTER TABLE namespace_requests ADD CONSTRAINT namespace_requests_state_check CHECK (state IN
    ('pending', 'approved', 'denied', 'provisioning', 'ready', 'failed', 'expiring', 'expired'));
CREATE INDEX namespace_requests_expiry ON namespace_requests (expires_at)
    WHERE state IN ('ready', 'expiring');
-- Expired requests let their name go, like denied and failed ones.
DROP INDEX namespace_requests_live_name;
CREATE UNIQUE INDEX namespace_requests_live_name ON namespace_requests (name)
    WHERE state NOT IN ('denied', 'failed', 'expired');
