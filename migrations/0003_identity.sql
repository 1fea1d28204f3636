-- Users as the identity provider (or the demo sign-in) describes them, and their sessions.
CREATE TABLE users (
    id            text PRIMARY KEY,
    email         text NOT NULL,
    display_name  text NOT NULL,
    roles         text[] NOT NULL,
    teams         text[] NOT NULL,
    created_at    timestamptz NOT NULL DEFAULT now(),
    last_seen_at  timestamptz NOT NULL DEFAULT now()
);

-- Server-side sessions: the cookie carries a random token; only its SHA-256 is stored, so a
-- copy of this table signs nobody in.
CREATE TABLE sessions (
    token_hash    text PRIMARY KEY,
    user_id       text NOT NULL REFERENCES users (id),
    created_at    timestamptz NOT NULL DEFAULT now(),
    last_seen_at  timestamptz NOT NULL DEFAULT now(),
    expires_at    timestamptz NOT NULL,
    ended_at      timestamptz
);

CREATE INDEX sessions_user ON sessions (user_id);
