-- OIDC single sign-on (app::Sso, docs/admin/sso.md; SQLite schema version 13).
-- `external_identities`: which account a provider's subject is (provider id from the
-- configuration, the `sub` claim). A subject is one account; an account may have several.
CREATE TABLE external_identities (
    provider      text COLLATE "C" NOT NULL,
    subject       text COLLATE "C" NOT NULL,
    user_id       bigint NOT NULL REFERENCES users(id),
    email         text,
    created_at    bigint NOT NULL,
    last_login_at bigint NOT NULL,
    PRIMARY KEY (provider, subject)
);
CREATE INDEX external_identities_user_idx ON external_identities (user_id);
-- Sign-ins under way, here so that any node of a cluster can finish them. Keyed by the SHA-256
-- of a random secret (the OAuth `state` of a pending login, the one-time code a browser
-- exchanges for a session after the callback); each row is taken (deleted) once.
CREATE TABLE sso_pending (
    key_hash      text COLLATE "C" PRIMARY KEY,
    kind          text NOT NULL,
    provider      text NOT NULL,
    nonce         text NOT NULL DEFAULT '',
    pkce_verifier text NOT NULL DEFAULT '',
    browser_hash  text NOT NULL DEFAULT '',
    user_id       bigint,
    subject       text NOT NULL DEFAULT '',
    created_at    bigint NOT NULL,
    expires_at    bigint NOT NULL
);
CREATE INDEX sso_pending_expires_idx ON sso_pending (expires_at);
