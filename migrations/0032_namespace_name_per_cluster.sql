-- Namespace names are unique per cluster of the fleet, not across it: `shop` on eu-prod and
-- `shop` on us-dev are two berths. A request's cluster is its plan's (by fleet name); requests
-- from before the fleet name none, which is the home cluster's (the service counts both).
DROP INDEX namespace_requests_live_name;
CREATE UNIQUE INDEX namespace_requests_live_name
    ON namespace_requests ((coalesce(plan->'draft'->>'cluster', '')), name)
    WHERE state NOT IN ('denied', 'failed', 'expired');
