-- Usage history for the cost and idle reports (#8). One row per container the sampler has
-- seen, with what it reserved; raw samples (pruned after a retention); hourly roll-ups, which
-- the reports read. Node capacity per hour prices idle.

CREATE TABLE usage_containers (
    id             bigserial PRIMARY KEY,
    pod_uid        text NOT NULL,
    container      text NOT NULL,
    namespace      text NOT NULL,
    pod            text NOT NULL,
    node           text NOT NULL DEFAULT '',
    -- The owning workload: Deployment / StatefulSet / DaemonSet / Job / CronJob, else Pod.
    owner_kind     text NOT NULL,
    owner_name     text NOT NULL,
    team           text,
    labels         jsonb NOT NULL DEFAULT '{}',
    cpu_request    double precision NOT NULL DEFAULT 0,
    cpu_limit      double precision,
    memory_request double precision NOT NULL DEFAULT 0,
    memory_limit   double precision,
    gpus           double precision NOT NULL DEFAULT 0,
    first_seen     timestamptz NOT NULL,
    UNIQUE (pod_uid, container)
);
CREATE INDEX usage_containers_namespace ON usage_containers (namespace);

-- Cores and bytes; `real` is precise enough for prices and halves the row.
CREATE TABLE usage_samples (
    container_id bigint NOT NULL REFERENCES usage_containers (id) ON DELETE CASCADE,
    sampled_at   timestamptz NOT NULL,
    cpu          real NOT NULL,
    memory       real NOT NULL
);
CREATE INDEX usage_samples_time ON usage_samples (sampled_at);

CREATE TABLE usage_hourly (
    hour         timestamptz NOT NULL,
    container_id bigint NOT NULL REFERENCES usage_containers (id) ON DELETE CASCADE,
    samples      integer NOT NULL,
    cpu_avg      real NOT NULL,
    cpu_max      real NOT NULL,
    cpu_p95      real NOT NULL,
    memory_avg   real NOT NULL,
    memory_max   real NOT NULL,
    memory_p95   real NOT NULL,
    PRIMARY KEY (hour, container_id)
);

CREATE TABLE node_hourly (
    hour            timestamptz NOT NULL,
    node            text NOT NULL,
    labels          jsonb NOT NULL DEFAULT '{}',
    cpu_capacity    double precision NOT NULL,
    memory_capacity double precision NOT NULL,
    gpus            double precision NOT NULL DEFAULT 0,
    samples         integer NOT NULL,
    cpu_used_avg    double precision NOT NULL,
    memory_used_avg double precision NOT NULL,
    -- What the node's containers were allocated that hour (Σ max(request, usage)), filled in
    -- when the hour rolls up.
    cpu_alloc       double precision NOT NULL DEFAULT 0,
    memory_alloc    double precision NOT NULL DEFAULT 0,
    gpu_alloc       double precision NOT NULL DEFAULT 0,
    PRIMARY KEY (hour, node)
);

-- The last hour whose samples were rolled up (one row).
CREATE TABLE usage_rollup_mark (
    one         boolean PRIMARY KEY DEFAULT true CHECK (one),
    rolled_upto timestamptz NOT NULL
);

-- Per container and day, the sums cost is linear in: hours seen, Σ max(request, usage) (what
-- is allocated) and Σ usage, in core-hours and byte-hours. Added to as each hour rolls up, so
-- a month's report reads one row per container and day.
CREATE TABLE usage_daily (
    day          date NOT NULL,
    container_id bigint NOT NULL REFERENCES usage_containers (id) ON DELETE CASCADE,
    hours        integer NOT NULL,
    cpu_alloc    double precision NOT NULL,
    memory_alloc double precision NOT NULL,
    cpu_used     double precision NOT NULL,
    memory_used  double precision NOT NULL,
    PRIMARY KEY (day, container_id)
);
-- A team's report reads its containers' days.
CREATE INDEX usage_daily_container ON usage_daily (container_id, day);

-- Per node and day: capacity and allocation in resource-hours (and its latest labels, for
-- pricing), so idle over a month reads one row per node and day.
CREATE TABLE node_daily (
    day             date NOT NULL,
    node            text NOT NULL,
    labels          jsonb NOT NULL DEFAULT '{}',
    hours           integer NOT NULL,
    cpu_capacity    double precision NOT NULL,
    memory_capacity double precision NOT NULL,
    gpus            double precision NOT NULL,
    cpu_alloc       double precision NOT NULL,
    memory_alloc    double precision NOT NULL,
    gpu_alloc       double precision NOT NULL,
    PRIMARY KEY (day, node)
);

-- Bound claims per hour (requested bytes) and their day sums (byte-hours): storage cost by
-- requested size.
CREATE TABLE volume_hourly (
    hour      timestamptz NOT NULL,
    namespace text NOT NULL,
    claim     text NOT NULL,
    team      text,
    bytes     double precision NOT NULL,
    PRIMARY KEY (hour, namespace, claim)
);

CREATE TABLE volume_daily (
    day        date NOT NULL,
    namespace  text NOT NULL,
    claim      text NOT NULL,
    team       text,
    byte_hours double precision NOT NULL,
    PRIMARY KEY (day, namespace, claim)
);

-- The pricing file admins edit (one row; absent means OpenCost's defaults).
CREATE TABLE prices (
    one        boolean PRIMARY KEY DEFAULT true CHECK (one),
    body       jsonb NOT NULL,
    updated_at timestamptz NOT NULL DEFAULT now(),
    updated_by text NOT NULL
);
