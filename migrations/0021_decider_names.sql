-- Who decided a request or a change, by name as well as by id: the pages show people, not
-- identifiers. Older rows keep only the id, and the pages fall back to it.
ALTER TABLE namespace_requests ADD COLUMN decided_by_name text;
ALTER TABLE namespace_changes ADD COLUMN decided_by_name text;
