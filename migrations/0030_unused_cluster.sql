-- The unused-object scan per cluster of the fleet (#23): each cluster's objects are found,
-- replaced and deleted apart (two clusters may each have a ConfigMap of one name). Empty means
-- the home cluster: rows from before the fleet were its.
ALTER TABLE unused_objects ADD COLUMN cluster text NOT NULL DEFAULT '';
ALTER TABLE unused_objects DROP CONSTRAINT unused_objects_pkey;
ALTER TABLE unused_objects ADD PRIMARY KEY (cluster, kind, namespace, name);

-- When each cluster's scan last finished.
ALTER TABLE unused_scan_mark DROP COLUMN one;
ALTER TABLE unused_scan_mark ADD COLUMN cluster text NOT NULL DEFAULT '' PRIMARY KEY;
