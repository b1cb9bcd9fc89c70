-- The sign-in throttle (`enclave_core::lockout`; SQLite schema version 7). One row per
-- credential step, account key and source (an IPv4 address or an IPv6 /64): its failures since
-- the last success, the newest failure, and until when the source is known to the account. The
-- account's and the source's totals are sums over these rows. Every node of a cluster counts in
-- this one table, with atomic upserts. Rows expire (`expires_at`) and the `sweep-throttles` job
-- deletes them.
CREATE TABLE signin_throttles (
    step            text COLLATE "C" NOT NULL,
    account         text COLLATE "C" NOT NULL,
    source          text COLLATE "C" NOT NULL,
    failures        bigint NOT NULL DEFAULT 0,
    last_failure_at bigint,
    known_until     bigint,
    expires_at      bigint NOT NULL,
    PRIMARY KEY (step, account, source)
);
CREATE INDEX signin_throttles_source_idx ON signin_throttles (step, source);
CREATE INDEX signin_throttles_recent_idx ON signin_throttles (last_failure_at)
    WHERE last_failure_at IS NOT NULL;
CREATE INDEX signin_throttles_expires_idx ON signin_throttles (expires_at);
