-- The share of an hour a container ran: a pod that ran 21 minutes pays 21 minutes of its
-- request, not the whole hour. From its first sample in the hour to its last, plus one
-- sampling interval; 1 for rows from before.
ALTER TABLE usage_hourly ADD COLUMN share real NOT NULL DEFAULT 1 CHECK (share > 0 AND share <= 1);
-- Day sums count the container-hours run, which are no longer whole.
ALTER TABLE usage_daily ALTER COLUMN hours TYPE double precision;
