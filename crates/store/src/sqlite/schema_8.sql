-- The audit log (enclave_core::audit): an append-only, hash-chained table, never pruned.
-- `seq` numbers the chain 1, 2, 3, ... (assigned by the single writer, not AUTOINCREMENT);
-- `hash` = SHA-256(canonical bytes of the entry || prev_hash). No foreign keys: entries outlive
-- whatever they name.
CREATE TABLE audit_log (
    seq         INTEGER PRIMARY KEY,
    at          INTEGER NOT NULL,
    actor_id    INTEGER,
    ip          TEXT,
    user_agent  TEXT,
    action      TEXT NOT NULL,
    target_kind TEXT,
    target_id   TEXT,
    summary     TEXT NOT NULL,
    prev_hash   BLOB NOT NULL,
    hash        BLOB NOT NULL
);
CREATE INDEX audit_log_actor ON audit_log (actor_id, seq);
CREATE INDEX audit_log_action ON audit_log (action, seq);
CREATE INDEX audit_log_target ON audit_log (target_kind, target_id, seq);
CREATE INDEX audit_log_at ON audit_log (at);

-- Append-only for the server: changing or deleting an entry is refused. (Whoever can write the
-- file can drop these; the hash chain is what shows that.)
CREATE TRIGGER audit_log_no_update BEFORE UPDATE ON audit_log
BEGIN
    SELECT RAISE(ABORT, 'the audit log is append-only');
END;
CREATE TRIGGER audit_log_no_delete BEFORE DELETE ON audit_log
BEGIN
    SELECT RAISE(ABORT, 'the audit log is append-only');
END;
