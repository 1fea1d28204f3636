-- Monthly budgets per team, and the month whose over-budget warning already went to the
-- webhook (one warning per team and month).
CREATE TABLE team_budgets (
    team         text PRIMARY KEY,
    monthly      double precision NOT NULL CHECK (monthly >= 0),
    warned_month date,
    updated_at   timestamptz NOT NULL DEFAULT now(),
    updated_by   text NOT NULL
);
