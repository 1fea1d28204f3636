-- Clusters an admin added on the clusters page, beside those of the configuration file: every
-- replica follows this table, so adding or removing one needs no restart.
CREATE TABLE clusters (
    name text PRIMARY KEY CHECK (name ~ '^[a-z0-9]([a-z0-9-]{0,38}[a-z0-9])?$'),
    display_name text NOT NULL DEFAULT '',
    region text NOT NULL DEFAULT '',
    environment text NOT NULL DEFAULT '',
    -- A kubeconfig file on Berth's machine (a mounted Secret): credentials stay out of the
    -- database.
    kubeconfig text NOT NULL,
    context text NOT NULL DEFAULT '',
    public_server text NOT NULL DEFAULT '',
    added_by text NOT NULL,
    added_at timestamptz NOT NULL DEFAULT now()
);
