-- Version 18: WebAuthn security keys and passkeys as a second factor, and the ceremonies in
-- progress (registration, sign-in), kept here so that any node of a cluster can finish a
-- ceremony another started. (Versions 15 and 16 belong to other features of the same release.)

-- `credential_id` is the credential's id (base64url), unique among all accounts; `credential`
-- is the public key and signature counter as webauthn-rs serialises them (JSON).
CREATE TABLE webauthn_keys (
    id            INTEGER PRIMARY KEY,
    user_id       INTEGER NOT NULL REFERENCES users(id),
    name          TEXT NOT NULL,
    credential_id TEXT NOT NULL UNIQUE,
    credential    TEXT NOT NULL,
    created_at    INTEGER NOT NULL,
    last_used_at  INTEGER
);
CREATE INDEX webauthn_keys_user_idx ON webauthn_keys(user_id, id);

-- `id`: a random id (registration) or the hex hash of the sign-in challenge's token
-- (authentication); `state`: webauthn-rs's ceremony state (JSON).
CREATE TABLE webauthn_ceremonies (
    id         TEXT PRIMARY KEY,
    user_id    INTEGER NOT NULL,
    kind       TEXT NOT NULL,
    state      TEXT NOT NULL,
    expires_at INTEGER NOT NULL
);
CREATE INDEX webauthn_ceremonies_expiry_idx ON webauthn_ceremonies(expires_at);
