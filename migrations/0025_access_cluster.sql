-- The cluster a JIT request is for, by its fleet name; empty for requests from before the
-- fleet, which were the home cluster's.
ALTER TABLE access_requests ADD COLUMN target_cluster text NOT NULL DEFAULT '';
