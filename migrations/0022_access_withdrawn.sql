-- A requester may withdraw a request nobody has decided yet: its own state, so the trail and
-- the lists tell a withdrawal from a denial.
ALTER TABLE access_requests DROP CONSTRAINT access_requests_state_check;
ALTER TABLE access_requests ADD CONSTRAINT access_requests_state_check
    CHECK (state IN ('pending', 'granting', 'active', 'expired', 'revoked', 'denied', 'withdrawn'));
