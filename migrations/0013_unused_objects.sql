-- What the last scan found that nothing uses (ConfigMaps, Secrets, claims, volumes, Jobs,
-- CronJobs); replaced whole by each scan, read by the idle report.
CREATE TABLE unused_objects (
    kind         text NOT NULL,
    namespace    text NOT NULL,
    name         text NOT NULL,
    reason       text NOT NULL,
    monthly_cost double precision NOT NULL,
    found_at     timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (kind, namespace, name)
);
