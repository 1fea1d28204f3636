-- When the unused-object scan last finished, written with its result, so the idle report can
-- tell "nothing unused" from "not scanned yet".
CREATE TABLE unused_scan_mark (
    one        boolean PRIMARY KEY DEFAULT true CHECK (one),
    scanned_at timestamptz NOT NULL
);
