-- Who holds each background loop's advisory lock, renewed every few seconds by the holder.
-- A leader whose host vanished keeps its lock until Postgres notices the dead connection
-- (hours, without keepalives); a standby that finds the lease stale ends that backend.
CREATE TABLE loop_leases (
    key         bigint PRIMARY KEY,
    holder_pid  integer NOT NULL,
    renewed_at  timestamptz NOT NULL
);
