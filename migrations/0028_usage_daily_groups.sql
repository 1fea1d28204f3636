-- Day sums per workload and price class (#23). A fleet's month is millions of container-days,
-- too many to price on every report; per (day, cluster, namespace, team, workload, class) it is
-- a few rows per workload. A class is which override of the pricing file a container's node
-- matched (0: the default rates, i: the i-th override), so editing a rate re-prices history at
-- read time; a change to which nodes the overrides match makes the table stale until it is
-- summed again (usage_groups_mark says with which matchers it was).
CREATE TABLE usage_daily_groups (
    day              date NOT NULL,
    cluster          text NOT NULL,
    namespace        text NOT NULL,
    -- Empty: no team.
    team             text NOT NULL,
    owner_kind       text NOT NULL,
    owner_name       text NOT NULL,
    class            integer NOT NULL CHECK (class >= 0),
    -- Resource-hours: allocated (max of request and usage), used, requested; GPU-hours.
    cpu_alloc        double precision NOT NULL,
    memory_alloc     double precision NOT NULL,
    cpu_used         double precision NOT NULL,
    memory_used      double precision NOT NULL,
    cpu_requested    double precision NOT NULL,
    memory_requested double precision NOT NULL,
    gpu_hours        double precision NOT NULL,
    PRIMARY KEY (day, cluster, namespace, team, owner_kind, owner_name, class)
);

-- With which matchers (the overrides' cluster, label and value, in order) and which name of the
-- home cluster (overrides name it; its rows' key is empty) the groups were summed. No row: never.
CREATE TABLE usage_groups_mark (
    one      boolean PRIMARY KEY DEFAULT true CHECK (one),
    matchers jsonb NOT NULL,
    home     text NOT NULL,
    built_at timestamptz NOT NULL
);
