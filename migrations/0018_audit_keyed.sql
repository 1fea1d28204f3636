-- Events whose hash is an HMAC under the audit key Berth holds apart from the database.
ALTER TABLE audit_events ADD COLUMN keyed boolean NOT NULL DEFAULT false;
