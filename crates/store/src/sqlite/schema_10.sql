-- Version 10: the department tree (组织架构) and the directory (通讯录).
-- Departments form a tree (parent_id NULL for a root); names are unique among siblings by their
-- case-folded key (the root level shares the key 0). Rules (no cycle, depth, size) are decided by
-- enclave_core::departments on the tree read inside the writing transaction.
CREATE TABLE departments (
    id         INTEGER PRIMARY KEY,
    parent_id  INTEGER REFERENCES departments(id),
    name       TEXT NOT NULL,
    name_key   TEXT NOT NULL,
    position   INTEGER NOT NULL DEFAULT 0,
    created_at INTEGER NOT NULL,
    updated_at INTEGER NOT NULL
);
CREATE UNIQUE INDEX departments_sibling_name_idx ON departments(COALESCE(parent_id, 0), name_key);
CREATE INDEX departments_parent_idx ON departments(parent_id, position, id);

-- Department administrators: their powers end at the department's subtree.
CREATE TABLE department_admins (
    department_id INTEGER NOT NULL REFERENCES departments(id),
    user_id       INTEGER NOT NULL REFERENCES users(id),
    PRIMARY KEY (department_id, user_id)
) WITHOUT ROWID;

-- People in departments, with a title in each; heads are members with is_head.
CREATE TABLE department_members (
    department_id INTEGER NOT NULL REFERENCES departments(id),
    user_id       INTEGER NOT NULL REFERENCES users(id),
    title         TEXT NOT NULL DEFAULT '',
    is_head       INTEGER NOT NULL DEFAULT 0,
    added_at      INTEGER NOT NULL,
    PRIMARY KEY (department_id, user_id)
) WITHOUT ROWID;
CREATE INDEX department_members_user_idx ON department_members(user_id, department_id);

-- Department channels: their membership follows the department (and with
-- include_subdepartments its whole subtree).
CREATE TABLE department_channels (
    channel_id             INTEGER PRIMARY KEY REFERENCES channels(id),
    department_id          INTEGER NOT NULL REFERENCES departments(id),
    include_subdepartments INTEGER NOT NULL DEFAULT 0,
    created_at             INTEGER NOT NULL
);
CREATE INDEX department_channels_dept_idx ON department_channels(department_id);

-- A person's explicit manager (otherwise the nearest head of their departments).
CREATE TABLE user_managers (
    user_id    INTEGER PRIMARY KEY REFERENCES users(id),
    manager_id INTEGER NOT NULL REFERENCES users(id)
);

-- The directory's search keys (derived from display name and username: full pinyin and
-- initials, enclave_core::departments::search_keys); a query matches a key by prefix.
CREATE TABLE user_search_keys (
    key     TEXT NOT NULL,
    user_id INTEGER NOT NULL REFERENCES users(id),
    PRIMARY KEY (key, user_id)
) WITHOUT ROWID;
CREATE INDEX user_search_keys_user_idx ON user_search_keys(user_id);
