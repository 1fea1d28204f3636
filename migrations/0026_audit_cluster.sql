-- The cluster of the fleet an event was about, when it was about one cluster's objects. Events
-- from before the fleet (and those about Berth's own state) have none; the chain hashes the
-- field only when it is set, so their hashes stand.
ALTER TABLE audit_events ADD COLUMN target_cluster text NOT NULL DEFAULT '';
CREATE INDEX audit_events_cluster ON audit_events (target_cluster, seq DESC) WHERE target_cluster <> '';
