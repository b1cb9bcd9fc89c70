-- The audit log (enclave_core::audit): an append-only, hash-chained table, never pruned (the same
-- table as SQLite schema version 8). `seq` numbers the chain 1, 2, 3, ...; appends take the
-- transaction-scoped advisory lock AUDIT_LOCK so that nodes never fork it. No foreign keys:
-- entries outlive whatever they name. docs/admin/audit.md gives the grants under which the
-- server's role may only INSERT and SELECT here.
CREATE TABLE audit_log (
    seq         BIGINT PRIMARY KEY,
    at          BIGINT NOT NULL,
    actor_id    BIGINT,
    ip          TEXT,
    user_agent  TEXT,
    action      TEXT COLLATE "C" NOT NULL,
    target_kind TEXT COLLATE "C",
    target_id   TEXT COLLATE "C",
    summary     TEXT NOT NULL,
    prev_hash   BYTEA NOT NULL,
    hash        BYTEA NOT NULL
);
CREATE INDEX audit_log_actor ON audit_log (actor_id, seq);
CREATE INDEX audit_log_action ON audit_log (action, seq);
CREATE INDEX audit_log_target ON audit_log (target_kind, target_id, seq);
CREATE INDEX audit_log_at ON audit_log (at);

-- Append-only: changing, deleting or truncating entries is refused, whatever the role's grants.
-- (The table's owner can disable this; the hash chain is what shows that.)
CREATE FUNCTION audit_log_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'the audit log is append-only';
END;
$$;
CREATE TRIGGER audit_log_no_change BEFORE UPDATE OR DELETE ON audit_log
    FOR EACH ROW EXECUTE FUNCTION audit_log_append_only();
CREATE TRIGGER audit_log_no_truncate BEFORE TRUNCATE ON audit_log
    FOR EACH STATEMENT EXECUTE FUNCTION audit_log_append_only();
