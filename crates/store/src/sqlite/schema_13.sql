-- Version 13: OIDC single sign-on (app::Sso, docs/admin/sso.md).
-- `external_identities`: which account a provider's subject is (provider id from the
-- configuration, the `sub` claim). A subject is one account; an account may have several.
CREATE TABLE external_identities (
    provider      TEXT NOT NULL,
    subject       TEXT NOT NULL,
    user_id       INTEGER NOT NULL REFERENCES users(id),
    email         TEXT,
    created_at    INTEGER NOT NULL,
    last_login_at INTEGER NOT NULL,
    PRIMARY KEY (provider, subject)
) WITHOUT ROWID;
CREATE INDEX external_identities_user_idx ON external_identities(user_id);
-- Sign-ins under way, in the database so that any node of a cluster can finish them. Keyed by
-- the SHA-256 of a random secret (the OAuth `state` of a pending login, the one-time code a
-- browser exchanges for a session after the callback); each row is taken (deleted) once.
CREATE TABLE sso_pending (
    key_hash      TEXT PRIMARY KEY NOT NULL,
    kind          TEXT NOT NULL,            -- 'login' (state) or 'handoff' (one-time code)
    provider      TEXT NOT NULL,
    nonce         TEXT NOT NULL DEFAULT '',
    pkce_verifier TEXT NOT NULL DEFAULT '',
    browser_hash  TEXT NOT NULL DEFAULT '',
    user_id       INTEGER,
    subject       TEXT NOT NULL DEFAULT '',
    created_at    INTEGER NOT NULL,
    expires_at    INTEGER NOT NULL
) WITHOUT ROWID;
CREATE INDEX sso_pending_expires_idx ON sso_pending(expires_at);
