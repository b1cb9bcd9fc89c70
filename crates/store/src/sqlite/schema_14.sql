-- Version 14: accounts linked to an LDAP / Active Directory provider, and directory sync runs.
-- (Versions 11 to 13 belong to other features of the same release.)

-- One row per linked account. `external_id` is the directory's stable id of the entry
-- (entryUUID, objectGUID in hex; the DN when the directory has none), so a renamed or moved
-- entry stays linked. `sync_deactivated`: the sync deactivated the account (the entry left or
-- was disabled), so a later sync that finds it again may reactivate it; an account deactivated
-- by an administrator is never reactivated by a sync.
CREATE TABLE ldap_links (
    user_id          INTEGER PRIMARY KEY REFERENCES users(id),
    provider         TEXT NOT NULL,
    external_id      TEXT NOT NULL,
    dn               TEXT NOT NULL,
    phone            TEXT NOT NULL DEFAULT '',
    title            TEXT NOT NULL DEFAULT '',
    department       TEXT NOT NULL DEFAULT '',
    sync_deactivated INTEGER NOT NULL DEFAULT 0,
    linked_at        INTEGER NOT NULL,
    seen_at          INTEGER NOT NULL
);
CREATE UNIQUE INDEX ldap_links_external_idx ON ldap_links(provider, external_id);

-- Directory sync runs: status, progress and the final report (JSON, written by the
-- application), newest last.
CREATE TABLE ldap_sync_runs (
    id          INTEGER PRIMARY KEY,
    provider    TEXT NOT NULL,
    dry_run     INTEGER NOT NULL,
    trigger     TEXT NOT NULL,
    status      TEXT NOT NULL,
    started_at  INTEGER NOT NULL,
    finished_at INTEGER,
    done        INTEGER NOT NULL DEFAULT 0,
    total       INTEGER,
    report      TEXT NOT NULL DEFAULT '',
    error       TEXT NOT NULL DEFAULT ''
);
CREATE INDEX ldap_sync_runs_provider_idx ON ldap_sync_runs(provider, id);
