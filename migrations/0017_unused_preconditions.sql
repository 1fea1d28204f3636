-- The uid and resourceVersion the scan saw: a delete from the idle report names them as
-- preconditions, so an object replaced or changed since the scan is never deleted by name.
ALTER TABLE unused_objects
    ADD COLUMN uid text NOT NULL DEFAULT '',
    ADD COLUMN resource_version text NOT NULL DEFAULT '';
