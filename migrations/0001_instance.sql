-- One row recording when this Berth database was set up; readiness reports it.
CREATE TABLE berth_instance (
    singleton    boolean PRIMARY KEY DEFAULT true CHECK (singleton),
    installed_at timestamptz NOT NULL DEFAULT now()
);

INSERT INTO berth_instance DEFAULT VALUES;
