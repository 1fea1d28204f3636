-- What each API token may do besides read. Tokens made before scopes existed keep every scope
-- (they were made with their owner's full rights); new ones get read unless asked for more.
ALTER TABLE api_tokens ADD COLUMN scopes text[] NOT NULL DEFAULT '{read,namespaces,access,admin}';
