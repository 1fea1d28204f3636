-- Moves with every write to the usage roll-ups (live roll-up or imported history), so readers
-- that keep an expensive answer over them (the idle report's percentiles) know when it is stale.
ALTER TABLE usage_rollup_mark ADD COLUMN version bigint NOT NULL DEFAULT 0;
