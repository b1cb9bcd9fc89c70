-- Version 7: the sign-in throttle (`enclave_core::lockout`). One row per credential step,
-- account key and source (an IPv4 address or an IPv6 /64): its failures since the last success,
-- the newest failure, and until when the source is known to the account (a success from it).
-- The account's and the source's totals are sums over these rows. Rows expire (`expires_at`)
-- and the `sweep-throttles` job deletes them.
CREATE TABLE signin_throttles (
    step            TEXT NOT NULL,
    account         TEXT NOT NULL,
    source          TEXT NOT NULL,
    failures        INTEGER NOT NULL DEFAULT 0,
    last_failure_at INTEGER,
    known_until     INTEGER,
    expires_at      INTEGER NOT NULL,
    PRIMARY KEY (step, account, source)
) WITHOUT ROWID;
CREATE INDEX signin_throttles_source_idx ON signin_throttles(step, source);
CREATE INDEX signin_throttles_recent_idx ON signin_throttles(last_failure_at)
    WHERE last_failure_at IS NOT NULL;
CREATE INDEX signin_throttles_expires_idx ON signin_throttles(expires_at);
