-- Personal API tokens for scripts and CI: only a SHA-256 of each token is kept; the token
-- itself is shown once, when it is made.
CREATE TABLE api_tokens (
    id            text PRIMARY KEY,
    user_id       text NOT NULL REFERENCES users (id),
    name          text NOT NULL,
    token_hash    text NOT NULL UNIQUE,
    created_at    timestamptz NOT NULL DEFAULT now(),
    expires_at    timestamptz NOT NULL,
    revoked_at    timestamptz,
    last_used_at  timestamptz
);

CREATE INDEX api_tokens_user ON api_tokens (user_id, created_at DESC);
