//! The catalogue of Enclave's tables: every table that holds data, its columns with their
//! types and the schema version that added them, its primary key and its order. One list
//! serves every tool that handles whole tables: `enclave migrate` (`crate::migrate`) copies and
//! checksums exactly these columns, and backup, export and erasure will walk the same list.
//! A column added to a schema must be added here (a test in `migrate` compares this list with
//! both schemas).

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Ty {
    Int,
    /// An integer 0 or 1 in SQLite, a `boolean` in PostgreSQL.
    Bool,
    Text,
    Blob,
}

impl Ty {
    /// The PostgreSQL array type that carries a column of this type in a batch.
    pub fn pg_array(self) -> &'static str {
        match self {
            Ty::Int => "int8[]",
            Ty::Bool => "bool[]",
            Ty::Text => "text[]",
            Ty::Blob => "bytea[]",
        }
    }
}

/// One column of a table.
pub struct Column {
    pub name: &'static str,
    pub ty: Ty,
    /// The SQLite schema version that added the column, and the SQL value it has before that.
    pub since: (i64, &'static str),
}

const fn col(name: &'static str, ty: Ty) -> Column {
    Column {
        name,
        ty,
        since: (1, ""),
    }
}

/// One table.
pub struct Table {
    pub name: &'static str,
    /// Every column that holds data, in rendering order (derived data, such as the search
    /// index, and PostgreSQL's own bookkeeping columns are not listed).
    pub columns: &'static [Column],
    /// The columns of the primary key (for events: the position).
    pub key: &'static [&'static str],
    /// The primary key, in SQLite's `ORDER BY` form.
    pub sqlite_order: &'static str,
    /// The primary key, in PostgreSQL's `ORDER BY` form.
    pub pg_order: &'static str,
    /// The table has an identity column `id` whose sequence must be moved past the copied ids.
    pub identity: bool,
    /// The SQLite schema version that added the table (older databases have no rows for it).
    pub since: i64,
}

use Ty::{Blob, Bool, Int, Text};

/// Every table, in dependency order (a table only refers to tables before it), with its columns in rendering order.
pub static TABLES: &[Table] = &[
    Table {
        name: "users",
        columns: &[
            col("id", Int),
            col("username", Text),
            col("display_name", Text),
            col("email", Text),
            col("password_hash", Text),
            col("is_admin", Bool),
            col("is_bot", Bool),
            col("active", Bool),
            col("created_at", Int),
            col("updated_at", Int),
            Column {
                name: "status_text",
                ty: Text,
                since: (2, "''"),
            },
            Column {
                name: "dnd",
                ty: Bool,
                since: (2, "0"),
            },
            Column {
                name: "is_guest",
                ty: Bool,
                since: (9, "0"),
            },
            Column {
                name: "guest_expires_at",
                ty: Int,
                since: (9, "NULL"),
            },
            Column {
                name: "member_role",
                ty: Bool,
                since: (9, "1"),
            },
        ],
        sqlite_order: "id",
        key: &["id"],
        pg_order: "id",
        identity: true,
        since: 1,
    },
    Table {
        name: "tokens",
        columns: &[
            col("id", Int),
            col("user_id", Int),
            col("kind", Text),
            col("token_hash", Blob),
            col("name", Text),
            col("created_at", Int),
            col("last_used_at", Int),
            col("expires_at", Int),
            Column {
                name: "scope",
                ty: Text,
                since: (12, "CASE kind WHEN 'pat' THEN 'admin' ELSE 'session' END"),
            },
            Column {
                name: "client",
                ty: Text,
                since: (12, "''"),
            },
            Column {
                name: "ip",
                ty: Text,
                since: (12, "NULL"),
            },
        ],
        sqlite_order: "id",
        key: &["id"],
        pg_order: "id",
        identity: true,
        since: 1,
    },
    Table {
        name: "app_passwords",
        columns: &[
            col("id", Int),
            col("user_id", Int),
            col("name", Text),
            col("hint", Text),
            col("password_hash", Text),
            col("created_at", Int),
            col("last_used_at", Int),
        ],
        sqlite_order: "id",
        key: &["id"],
        pg_order: "id",
        identity: true,
        since: 12,
    },
    Table {
        name: "channels",
        columns: &[
            col("id", Int),
            col("kind", Text),
            col("name", Text),
            col("name_key", Text),
            col("dm_key", Text),
            col("topic", Text),
            col("purpose", Text),
            col("creator_id", Int),
            col("last_seq", Int),
            col("n_members", Int),
            col("archived_at", Int),
            col("created_at", Int),
            col("updated_at", Int),
            Column {
                name: "announcement",
                ty: Bool,
                since: (9, "0"),
            },
        ],
        sqlite_order: "id",
        key: &["id"],
        pg_order: "id",
        identity: true,
        since: 1,
    },
    Table {
        name: "members",
        columns: &[
            col("channel_id", Int),
            col("user_id", Int),
            col("role", Text),
            col("last_read_seq", Int),
            col("joined_at", Int),
        ],
        sqlite_order: "channel_id, user_id",
        key: &["channel_id", "user_id"],
        pg_order: "channel_id, user_id",
        identity: false,
        since: 1,
    },
    Table {
        name: "messages",
        columns: &[
            col("id", Int),
            col("channel_id", Int),
            col("seq", Int),
            col("user_id", Int),
            col("text", Text),
            col("thread_root_id", Int),
            col("client_msg_id", Text),
            col("mention_flags", Int),
            col("mention_user_ids", Text),
            col("reply_count", Int),
            col("last_reply_at", Int),
            col("pinned_at", Int),
            col("pinned_by", Int),
            col("created_at", Int),
            col("edited_at", Int),
            col("deleted_at", Int),
            Column {
                name: "notice",
                ty: Text,
                since: (25, "NULL"),
            },
        ],
        sqlite_order: "id",
        key: &["id"],
        pg_order: "id",
        identity: true,
        since: 1,
    },
    Table {
        name: "reactions",
        columns: &[
            col("message_id", Int),
            col("emoji", Text),
            col("user_id", Int),
            col("created_at", Int),
        ],
        sqlite_order: "message_id, emoji COLLATE BINARY, user_id",
        key: &["message_id", "emoji", "user_id"],
        pg_order: "message_id, emoji COLLATE \"C\", user_id",
        identity: false,
        since: 1,
    },
    Table {
        name: "mentions",
        columns: &[
            col("user_id", Int),
            col("channel_id", Int),
            col("seq", Int),
            col("message_id", Int),
        ],
        sqlite_order: "user_id, channel_id, seq",
        key: &["user_id", "channel_id", "seq"],
        pg_order: "user_id, channel_id, seq",
        identity: false,
        since: 1,
    },
    Table {
        name: "files",
        columns: &[
            col("id", Int),
            col("uploader_id", Int),
            col("name", Text),
            col("size", Int),
            col("content_type", Text),
            col("width", Int),
            col("height", Int),
            col("thumb_width", Int),
            col("thumb_height", Int),
            col("thumb_type", Text),
            col("object", Text),
            col("thumb_object", Text),
            col("key_id", Text),
            col("wrapped_key", Blob),
            col("created_at", Int),
            col("attached_at", Int),
            Column {
                name: "preview_sealed",
                ty: Blob,
                // Older versions kept plain previews, which are not copied.
                since: (5, "NULL"),
            },
        ],
        sqlite_order: "id",
        key: &["id"],
        pg_order: "id",
        identity: true,
        since: 4,
    },
    Table {
        name: "message_files",
        columns: &[col("message_id", Int), col("file_id", Int)],
        sqlite_order: "message_id, file_id",
        key: &["message_id", "file_id"],
        pg_order: "message_id, file_id",
        identity: false,
        since: 4,
    },
    Table {
        name: "signin_throttles",
        columns: &[
            col("step", Text),
            col("account", Text),
            col("source", Text),
            col("failures", Int),
            col("last_failure_at", Int),
            col("known_until", Int),
            col("expires_at", Int),
        ],
        sqlite_order: "step, account, source",
        key: &["step", "account", "source"],
        pg_order: "step COLLATE \"C\", account COLLATE \"C\", source COLLATE \"C\"",
        identity: false,
        since: 7,
    },
    Table {
        name: "roles",
        columns: &[
            col("id", Int),
            col("name", Text),
            col("name_key", Text),
            col("description", Text),
            col("permissions", Text),
            col("created_at", Int),
            col("updated_at", Int),
            Column {
                name: "require_second_factor",
                ty: Bool,
                since: (11, "0"),
            },
        ],
        sqlite_order: "id",
        key: &["id"],
        pg_order: "id",
        identity: true,
        since: 9,
    },
    Table {
        name: "user_roles",
        columns: &[col("user_id", Int), col("role_id", Int)],
        sqlite_order: "user_id, role_id",
        key: &["user_id", "role_id"],
        pg_order: "user_id, role_id",
        identity: false,
        since: 9,
    },
    Table {
        name: "departments",
        columns: &[
            col("id", Int),
            col("parent_id", Int),
            col("name", Text),
            col("name_key", Text),
            col("position", Int),
            col("created_at", Int),
            col("updated_at", Int),
        ],
        // After a move a parent may have a larger id than its child: PostgreSQL checks the
        // parent reference at commit (DEFERRABLE INITIALLY DEFERRED), so id order copies.
        sqlite_order: "id",
        key: &["id"],
        pg_order: "id",
        identity: true,
        since: 10,
    },
    Table {
        name: "department_admins",
        columns: &[col("department_id", Int), col("user_id", Int)],
        sqlite_order: "department_id, user_id",
        key: &["department_id", "user_id"],
        pg_order: "department_id, user_id",
        identity: false,
        since: 10,
    },
    Table {
        name: "department_members",
        columns: &[
            col("department_id", Int),
            col("user_id", Int),
            col("title", Text),
            col("is_head", Bool),
            col("added_at", Int),
        ],
        sqlite_order: "department_id, user_id",
        key: &["department_id", "user_id"],
        pg_order: "department_id, user_id",
        identity: false,
        since: 10,
    },
    Table {
        name: "department_channels",
        columns: &[
            col("channel_id", Int),
            col("department_id", Int),
            col("include_subdepartments", Bool),
            col("created_at", Int),
        ],
        sqlite_order: "channel_id",
        key: &["channel_id"],
        pg_order: "channel_id",
        identity: false,
        since: 10,
    },
    Table {
        name: "user_managers",
        columns: &[col("user_id", Int), col("manager_id", Int)],
        sqlite_order: "user_id",
        key: &["user_id"],
        pg_order: "user_id",
        identity: false,
        since: 10,
    },
    Table {
        name: "external_identities",
        columns: &[
            col("provider", Text),
            col("subject", Text),
            col("user_id", Int),
            col("email", Text),
            col("created_at", Int),
            col("last_login_at", Int),
        ],
        sqlite_order: "provider, subject",
        key: &["provider", "subject"],
        pg_order: "provider COLLATE \"C\", subject COLLATE \"C\"",
        identity: false,
        since: 13,
    },
    Table {
        name: "sso_pending",
        columns: &[
            col("key_hash", Text),
            col("kind", Text),
            col("provider", Text),
            col("nonce", Text),
            col("pkce_verifier", Text),
            col("browser_hash", Text),
            col("user_id", Int),
            col("subject", Text),
            col("created_at", Int),
            col("expires_at", Int),
        ],
        sqlite_order: "key_hash",
        key: &["key_hash"],
        pg_order: "key_hash COLLATE \"C\"",
        identity: false,
        since: 13,
    },
    Table {
        name: "ldap_links",
        columns: &[
            col("user_id", Int),
            col("provider", Text),
            col("external_id", Text),
            col("dn", Text),
            col("phone", Text),
            col("title", Text),
            col("department", Text),
            col("sync_deactivated", Bool),
            col("linked_at", Int),
            col("seen_at", Int),
        ],
        sqlite_order: "user_id",
        key: &["user_id"],
        pg_order: "user_id",
        identity: false,
        since: 14,
    },
    Table {
        name: "ldap_sync_runs",
        columns: &[
            col("id", Int),
            col("provider", Text),
            col("dry_run", Bool),
            col("trigger", Text),
            col("status", Text),
            col("started_at", Int),
            col("finished_at", Int),
            col("done", Int),
            col("total", Int),
            col("report", Text),
            col("error", Text),
        ],
        sqlite_order: "id",
        key: &["id"],
        pg_order: "id",
        identity: true,
        since: 14,
    },
    Table {
        name: "job_leases",
        columns: &[col("name", Text), col("holder", Text), col("until", Int)],
        sqlite_order: "name",
        key: &["name"],
        pg_order: "name COLLATE \"C\"",
        identity: false,
        since: 17,
    },
    Table {
        name: "import_map",
        columns: &[
            col("source", Text),
            col("kind", Text),
            col("external_id", Text),
            col("local_id", Int),
        ],
        sqlite_order: "source, kind, external_id",
        key: &["source", "kind", "external_id"],
        pg_order: "source COLLATE \"C\", kind COLLATE \"C\", external_id COLLATE \"C\"",
        identity: false,
        since: 20,
    },
    Table {
        name: "webauthn_keys",
        columns: &[
            col("id", Int),
            col("user_id", Int),
            col("name", Text),
            col("credential_id", Text),
            col("credential", Text),
            col("created_at", Int),
            col("last_used_at", Int),
        ],
        sqlite_order: "id",
        key: &["id"],
        pg_order: "id",
        identity: true,
        since: 18,
    },
    Table {
        name: "webauthn_ceremonies",
        columns: &[
            col("id", Text),
            col("user_id", Int),
            col("kind", Text),
            col("state", Text),
            col("expires_at", Int),
        ],
        sqlite_order: "id",
        key: &["id"],
        pg_order: "id COLLATE \"C\"",
        identity: false,
        since: 18,
    },
    Table {
        name: "incoming_webhooks",
        columns: &[
            col("id", Int),
            col("channel_id", Int),
            col("creator_id", Int),
            col("name", Text),
            col("secret_hash", Text),
            col("created_at", Int),
            col("rotated_at", Int),
        ],
        sqlite_order: "id",
        key: &["id"],
        pg_order: "id",
        identity: true,
        since: 21,
    },
    Table {
        name: "retention_policy",
        columns: &[
            col("id", Int),
            col("message_days", Int),
            col("dm_days", Int),
            col("updated_at", Int),
            col("updated_by", Int),
        ],
        sqlite_order: "id",
        key: &["id"],
        pg_order: "id",
        identity: false,
        since: 22,
    },
    Table {
        name: "channel_retention",
        columns: &[
            col("channel_id", Int),
            col("days", Int),
            col("updated_at", Int),
            col("updated_by", Int),
        ],
        sqlite_order: "channel_id",
        key: &["channel_id"],
        pg_order: "channel_id",
        identity: false,
        since: 22,
    },
    Table {
        name: "legal_holds",
        columns: &[
            col("id", Int),
            col("user_id", Int),
            col("channel_id", Int),
            col("starts_at", Int),
            col("ends_at", Int),
            col("reason", Text),
            col("created_by", Int),
            col("created_at", Int),
            col("released_at", Int),
            col("released_by", Int),
        ],
        sqlite_order: "id",
        key: &["id"],
        pg_order: "id",
        identity: true,
        since: 22,
    },
    Table {
        name: "held_messages",
        columns: &[
            col("message_id", Int),
            col("text", Text),
            col("deleted_at", Int),
            col("deleted_by", Int),
        ],
        sqlite_order: "message_id",
        key: &["message_id"],
        pg_order: "message_id",
        identity: false,
        since: 22,
    },
    Table {
        name: "held_files",
        columns: &[col("message_id", Int), col("file_id", Int)],
        sqlite_order: "message_id, file_id",
        key: &["message_id", "file_id"],
        pg_order: "message_id, file_id",
        identity: false,
        since: 22,
    },
    Table {
        name: "retention_runs",
        columns: &[
            col("id", Int),
            col("started_at", Int),
            col("finished_at", Int),
            col("started_by", Int),
            col("messages", Int),
            col("files", Int),
            col("held", Int),
        ],
        sqlite_order: "id",
        key: &["id"],
        pg_order: "id",
        identity: true,
        since: 22,
    },
    Table {
        name: "retention_run_channels",
        columns: &[
            col("run_id", Int),
            col("channel_id", Int),
            col("messages", Int),
            col("files", Int),
            col("held", Int),
        ],
        sqlite_order: "run_id, channel_id",
        key: &["run_id", "channel_id"],
        pg_order: "run_id, channel_id",
        identity: false,
        since: 22,
    },
    Table {
        name: "outgoing_webhooks",
        columns: &[
            col("id", Int),
            col("channel_id", Int),
            col("creator_id", Int),
            col("name", Text),
            col("url", Text),
            col("trigger_words", Text),
            col("content_type", Text),
            col("token", Text),
            col("secret_key_id", Text),
            col("secret_sealed", Blob),
            col("created_at", Int),
            col("rotated_at", Int),
        ],
        sqlite_order: "id",
        key: &["id"],
        pg_order: "id",
        identity: true,
        since: 23,
    },
    Table {
        name: "outgoing_deliveries",
        columns: &[
            col("id", Int),
            col("webhook_id", Int),
            col("message_id", Int),
            col("status", Text),
            col("attempts", Int),
            col("http_status", Int),
            col("error", Text),
            col("created_at", Int),
            col("updated_at", Int),
            col("next_attempt_at", Int),
        ],
        sqlite_order: "id",
        key: &["id"],
        pg_order: "id",
        identity: true,
        since: 23,
    },
    Table {
        name: "outgoing_cursor",
        columns: &[col("id", Int), col("position", Int)],
        sqlite_order: "id",
        key: &["id"],
        pg_order: "id",
        identity: false,
        since: 23,
    },
    Table {
        name: "slash_commands",
        columns: &[
            col("id", Int),
            col("trigger", Text),
            col("description", Text),
            col("usage_hint", Text),
            col("url", Text),
            col("creator_id", Int),
            col("token", Text),
            col("secret_key_id", Text),
            col("secret_sealed", Blob),
            col("created_at", Int),
            col("rotated_at", Int),
        ],
        sqlite_order: "id",
        key: &["id"],
        pg_order: "id",
        identity: true,
        since: 24,
    },
    Table {
        name: "command_responses",
        columns: &[
            col("token_hash", Text),
            col("command_id", Int),
            col("channel_id", Int),
            col("user_id", Int),
            col("thread_root_id", Int),
            col("expires_at", Int),
            col("uses", Int),
        ],
        sqlite_order: "token_hash",
        key: &["token_hash"],
        pg_order: "token_hash COLLATE \"C\"",
        identity: false,
        since: 24,
    },
    Table {
        name: "events",
        columns: &[
            col("position", Int),
            col("kind", Text),
            col("channel_id", Int),
            col("user_id", Int),
            col("actor_id", Int),
            col("message_id", Int),
            col("extra", Text),
            col("created_at", Int),
        ],
        sqlite_order: "position",
        key: &["position"],
        // Unnumbered rows (there should be none) last, so they show as a difference.
        pg_order: "position NULLS LAST, id",
        identity: true,
        since: 1,
    },
    Table {
        name: "second_factor_totp",
        columns: &[
            col("user_id", Int),
            col("secret", Blob),
            col("confirmed_at", Int),
            col("last_step", Int),
            col("created_at", Int),
        ],
        sqlite_order: "user_id",
        key: &["user_id"],
        pg_order: "user_id",
        identity: false,
        since: 11,
    },
    Table {
        name: "second_factor_recovery",
        columns: &[
            col("user_id", Int),
            col("code_hash", Blob),
            col("used_at", Int),
            col("created_at", Int),
        ],
        sqlite_order: "user_id, code_hash",
        key: &["user_id", "code_hash"],
        pg_order: "user_id, code_hash",
        identity: false,
        since: 11,
    },
    Table {
        name: "signin_challenges",
        columns: &[
            col("token_hash", Blob),
            col("user_id", Int),
            col("credential", Text),
            col("enrol_only", Bool),
            col("expires_at", Int),
            col("used_at", Int),
        ],
        sqlite_order: "token_hash",
        key: &["token_hash"],
        pg_order: "token_hash",
        identity: false,
        since: 11,
    },
    Table {
        name: "second_factor_policy",
        columns: &[
            col("id", Int),
            col("require", Text),
            col("grace_days", Int),
            col("since", Int),
        ],
        sqlite_order: "id",
        key: &["id"],
        pg_order: "id",
        identity: false,
        since: 11,
    },
    Table {
        name: "audit_log",
        columns: &[
            col("seq", Int),
            col("at", Int),
            col("actor_id", Int),
            col("ip", Text),
            col("user_agent", Text),
            col("action", Text),
            col("target_kind", Text),
            col("target_id", Text),
            col("summary", Text),
            col("prev_hash", Blob),
            col("hash", Blob),
        ],
        sqlite_order: "seq",
        key: &["seq"],
        pg_order: "seq",
        identity: false,
        since: 8,
    },
];

impl Table {
    /// The column names, comma-separated, in rendering order.
    pub fn column_list(&self) -> String {
        self.columns
            .iter()
            .map(|c| c.name)
            .collect::<Vec<_>>()
            .join(", ")
    }

    /// The table named `name`.
    pub fn named(name: &str) -> Option<&'static Table> {
        TABLES.iter().find(|t| t.name == name)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_name_listed_columns_and_names_are_unique() {
        let mut tables = std::collections::HashSet::new();
        for t in TABLES {
            assert!(tables.insert(t.name), "{} listed twice", t.name);
            let mut columns = std::collections::HashSet::new();
            for c in t.columns {
                assert!(columns.insert(c.name), "{}.{} listed twice", t.name, c.name);
            }
            assert!(!t.key.is_empty(), "{} has no key", t.name);
            for k in t.key {
                assert!(columns.contains(k), "{} key {k} is not a column", t.name);
            }
            assert_eq!(Table::named(t.name).map(|n| n.name), Some(t.name));
        }
    }
}
