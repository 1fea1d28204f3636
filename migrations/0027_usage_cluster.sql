-- Usage history per cluster of the fleet (#23). Pod uids are unique across clusters, so a
-- container's key stays; node and claim names repeat between clusters (every cluster may have
-- a `general-1`), so the cluster joins their keys. Empty means the home cluster: rows from
-- before the fleet were its.
ALTER TABLE usage_containers ADD COLUMN cluster text NOT NULL DEFAULT '';

ALTER TABLE node_hourly ADD COLUMN cluster text NOT NULL DEFAULT '';
ALTER TABLE node_hourly DROP CONSTRAINT node_hourly_pkey;
ALTER TABLE node_hourly ADD PRIMARY KEY (hour, cluster, node);

ALTER TABLE node_daily ADD COLUMN cluster text NOT NULL DEFAULT '';
ALTER TABLE node_daily DROP CONSTRAINT node_daily_pkey;
ALTER TABLE node_daily ADD PRIMARY KEY (day, cluster, node);

ALTER TABLE volume_hourly ADD COLUMN cluster text NOT NULL DEFAULT '';
ALTER TABLE volume_hourly DROP CONSTRAINT volume_hourly_pkey;
ALTER TABLE volume_hourly ADD PRIMARY KEY (hour, cluster, namespace, claim);

ALTER TABLE volume_daily ADD COLUMN cluster text NOT NULL DEFAULT '';
ALTER TABLE volume_daily DROP CONSTRAINT volume_daily_pkey;
ALTER TABLE volume_daily ADD PRIMARY KEY (day, cluster, namespace, claim);
