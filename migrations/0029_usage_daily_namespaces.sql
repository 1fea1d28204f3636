-- Day sums per namespace and price class (#23): the fleet's month by namespace, team or cluster
-- reads a few rows per namespace and day, not one per workload (a fortieth of a month of
-- usage_daily_groups in a fleet of 5-pod Deployments). Kept beside usage_daily_groups by the
-- same roll-up and the same summing-again, so both are fresh or stale together.
CREATE TABLE usage_daily_namespaces (
    day              date NOT NULL,
    cluster          text NOT NULL,
    namespace        text NOT NULL,
    -- Empty: no team.
    team             text NOT NULL,
    class            integer NOT NULL CHECK (class >= 0),
    cpu_alloc        double precision NOT NULL,
    memory_alloc     double precision NOT NULL,
    cpu_used         double precision NOT NULL,
    memory_used      double precision NOT NULL,
    cpu_requested    double precision NOT NULL,
    memory_requested double precision NOT NULL,
    gpu_hours        double precision NOT NULL,
    -- In this order, a report by namespace streams its sums off the index with no sort.
    PRIMARY KEY (day, cluster, namespace, team, class)
);

INSERT INTO usage_daily_namespaces (day, cluster, namespace, team, class, cpu_alloc, memory_alloc,
    cpu_used, memory_used, cpu_requested, memory_requested, gpu_hours)
SELECT day, cluster, namespace, team, class, sum(cpu_alloc), sum(memory_alloc), sum(cpu_used),
    sum(memory_used), sum(cpu_requested), sum(memory_requested), sum(gpu_hours)
FROM usage_daily_groups
GROUP BY day, cluster, namespace, team, class
ORDER BY day, cluster, namespace, team, class;
