-- Sign-ins under way at the identity provider: the state, nonce and PKCE verifier of each,
-- kept server-side (any replica may receive the callback) and consumed exactly once.
CREATE TABLE oidc_logins (
    state          text PRIMARY KEY,
    nonce          text NOT NULL,
    pkce_verifier  text NOT NULL,
    created_at     timestamptz NOT NULL DEFAULT now()
);
