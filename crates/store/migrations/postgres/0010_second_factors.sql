-- Second factors (`enclave_core::signin`; SQLite schema version 11; docs/admin/second-factor.md).
-- One TOTP enrolment per account: pending until confirmed with a code; `last_step` is the newest
-- TOTP step accepted, compared and set in one statement so a code is accepted once.
CREATE TABLE second_factor_totp (
    user_id      bigint PRIMARY KEY REFERENCES users(id),
    secret       bytea NOT NULL,
    confirmed_at bigint,
    last_step    bigint,
    created_at   bigint NOT NULL
);

-- One-time recovery codes, stored as SHA-256 hashes (they are random, 50 bits each).
CREATE TABLE second_factor_recovery (
    user_id    bigint NOT NULL REFERENCES users(id),
    code_hash  bytea NOT NULL,
    used_at    bigint,
    created_at bigint NOT NULL,
    PRIMARY KEY (user_id, code_hash)
);

-- The token between the two sign-in steps: bound to one account, used once, short-lived.
CREATE TABLE signin_challenges (
    token_hash bytea PRIMARY KEY,
    user_id    bigint NOT NULL REFERENCES users(id),
    credential text NOT NULL,
    enrol_only boolean NOT NULL DEFAULT false,
    expires_at bigint NOT NULL,
    used_at    bigint
);
CREATE INDEX signin_challenges_expires_idx ON signin_challenges (expires_at);

-- The site's second-factor policy (one row once set; until then the configuration's default).
CREATE TABLE second_factor_policy (
    id         bigint PRIMARY KEY CHECK (id = 1),
    require    text NOT NULL,
    grace_days bigint NOT NULL,
    since      bigint NOT NULL
);

-- Holders of a custom role with this flag must sign in with a second factor.
ALTER TABLE roles ADD COLUMN require_second_factor boolean NOT NULL DEFAULT false;
