-- Version 11: second factors (`enclave_core::signin`; docs/admin/second-factor.md).
-- One TOTP enrolment per account: pending until confirmed with a code; `last_step` is the newest
-- TOTP step accepted, compared and set in one statement so a code is accepted once.
CREATE TABLE second_factor_totp (
    user_id      INTEGER PRIMARY KEY REFERENCES users(id),
    secret       BLOB NOT NULL,
    confirmed_at INTEGER,
    last_step    INTEGER,
    created_at   INTEGER NOT NULL
);

-- One-time recovery codes, stored as SHA-256 hashes (they are random, 50 bits each).
CREATE TABLE second_factor_recovery (
    user_id    INTEGER NOT NULL REFERENCES users(id),
    code_hash  BLOB NOT NULL,
    used_at    INTEGER,
    created_at INTEGER NOT NULL,
    PRIMARY KEY (user_id, code_hash)
) WITHOUT ROWID;

-- The token between the two sign-in steps: bound to one account, used once, short-lived.
-- `enrol_only`: the account must enrol a second factor before any session opens.
CREATE TABLE signin_challenges (
    token_hash BLOB PRIMARY KEY,
    user_id    INTEGER NOT NULL REFERENCES users(id),
    credential TEXT NOT NULL,
    enrol_only INTEGER NOT NULL DEFAULT 0,
    expires_at INTEGER NOT NULL,
    used_at    INTEGER
) WITHOUT ROWID;
CREATE INDEX signin_challenges_expires_idx ON signin_challenges(expires_at);

-- The site's second-factor policy (one row once set; until then the configuration's default).
CREATE TABLE second_factor_policy (
    id         INTEGER PRIMARY KEY CHECK (id = 1),
    require    TEXT NOT NULL,
    grace_days INTEGER NOT NULL,
    since      INTEGER NOT NULL
);

-- Holders of a custom role with this flag must sign in with a second factor.
ALTER TABLE roles ADD COLUMN require_second_factor INTEGER NOT NULL DEFAULT 0;
