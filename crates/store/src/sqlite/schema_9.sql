-- Version 9: roles and guests. Custom roles (a name and a set of permission names) and which
-- accounts hold them; accounts gain the guest flag, the guest's expiry, and whether they hold the
-- built-in member role; channels gain the announcement flag.
ALTER TABLE users ADD COLUMN is_guest INTEGER NOT NULL DEFAULT 0;
ALTER TABLE users ADD COLUMN guest_expires_at INTEGER;
ALTER TABLE users ADD COLUMN member_role INTEGER NOT NULL DEFAULT 1;
CREATE INDEX users_guest_expiry_idx ON users(guest_expires_at) WHERE is_guest = 1;
ALTER TABLE channels ADD COLUMN announcement INTEGER NOT NULL DEFAULT 0;
CREATE TABLE roles (
    id          INTEGER PRIMARY KEY,
    name        TEXT NOT NULL,
    name_key    TEXT NOT NULL UNIQUE,
    description TEXT NOT NULL DEFAULT '',
    -- Permission names separated by commas (`enclave_core::PermissionSet::to_stored`).
    permissions TEXT NOT NULL DEFAULT '',
    created_at  INTEGER NOT NULL,
    updated_at  INTEGER NOT NULL
);
CREATE TABLE user_roles (
    user_id INTEGER NOT NULL REFERENCES users(id),
    role_id INTEGER NOT NULL REFERENCES roles(id),
    PRIMARY KEY (user_id, role_id)
) WITHOUT ROWID;
CREATE INDEX user_roles_role_idx ON user_roles(role_id);
