//! The department tree, its people, department channels, managers and the directory's search
//! keys on SQLite. Every write reads the whole tree inside the writer's transaction and runs the
//! application's guard on it (the single writer serialises department writes).

use async_trait::async_trait;
use enclave_core::departments::{Department, DepartmentMember, Tree, name_key, search_keys};
use enclave_core::{ChannelId, DepartmentId, Entity, Error as DomainError, User, UserId};
use rusqlite::{Connection, OptionalExtension, params};

use super::audit::audited;
use super::rows::{self, USER_COLS, prefixed};
use super::{SqliteStore, Tx, is_unique_violation};
use crate::common::like_pattern;
use crate::{
    AuditHook, DepartmentChannel, DepartmentPatch, DepartmentStore, Error, MemberGuard,
    NewDepartment, Result, TreeGuard,
};

const TAKEN: &str = "a sibling department has that name";

pub fn departments(c: &Connection) -> Result<Vec<Department>> {
    let mut stmt = c.prepare_cached(
        "SELECT id, parent_id, name, position FROM departments ORDER BY parent_id, position, id",
    )?;
    let mut out: Vec<Department> = stmt
        .query_map([], |r| {
            Ok(Department {
                id: DepartmentId(r.get(0)?),
                parent_id: r.get::<_, Option<i64>>(1)?.map(DepartmentId),
                name: r.get(2)?,
                position: r.get(3)?,
                admins: Vec::new(),
            })
        })?
        .collect::<rusqlite::Result<_>>()?;
    let mut stmt = c.prepare_cached(
        "SELECT department_id, user_id FROM department_admins ORDER BY department_id, user_id",
    )?;
    let admins = stmt
        .query_map([], |r| Ok((r.get::<_, i64>(0)?, r.get::<_, i64>(1)?)))?
        .collect::<rusqlite::Result<Vec<_>>>()?;
    let index: std::collections::HashMap<i64, usize> =
        out.iter().enumerate().map(|(i, d)| (d.id.0, i)).collect();
    for (d, u) in admins {
        if let Some(i) = index.get(&d) {
            out[*i].admins.push(UserId(u));
        }
    }
    Ok(out)
}

fn tree(c: &Connection) -> Result<Tree> {
    Ok(Tree::new(departments(c)?))
}

fn department(c: &Connection, id: DepartmentId) -> Result<Department> {
    departments(c)?
        .into_iter()
        .find(|d| d.id == id)
        .ok_or(Error::Domain(DomainError::NotFound(Entity::Department)))
}

fn require_active(c: &Connection, user: UserId) -> Result<()> {
    let active: Option<bool> = c
        .query_row("SELECT active FROM users WHERE id = ?1", [user.0], |r| {
            r.get(0)
        })
        .optional()?;
    if active != Some(true) {
        return Err(Error::Domain(DomainError::NotFound(Entity::User)));
    }
    Ok(())
}

fn sibling_conflict(e: rusqlite::Error) -> Error {
    if is_unique_violation(&e) {
        Error::Domain(DomainError::Conflict(TAKEN))
    } else {
        e.into()
    }
}

fn create_department(tx: &mut Tx<'_>, new: NewDepartment, guard: TreeGuard) -> Result<Department> {
    let t = tree(tx.conn)?;
    guard(&t)?;
    tx.conn
        .execute(
            "INSERT INTO departments (parent_id, name, name_key, position, created_at, updated_at)
             VALUES (?1, ?2, ?3, ?4, ?5, ?5)",
            params![
                new.parent_id.map(|p| p.0),
                new.name,
                name_key(&new.name),
                new.position,
                tx.now.0
            ],
        )
        .map_err(sibling_conflict)?;
    department(tx.conn, DepartmentId(tx.conn.last_insert_rowid()))
}

fn update_department(
    tx: &mut Tx<'_>,
    id: DepartmentId,
    patch: DepartmentPatch,
    guard: TreeGuard,
) -> Result<Department> {
    let t = tree(tx.conn)?;
    guard(&t)?;
    let c = tx.conn;
    if let Some(name) = &patch.name {
        c.execute(
            "UPDATE departments SET name = ?2, name_key = ?3 WHERE id = ?1",
            params![id.0, name, name_key(name)],
        )
        .map_err(sibling_conflict)?;
    }
    if let Some(parent) = patch.parent_id {
        c.execute(
            "UPDATE departments SET parent_id = ?2 WHERE id = ?1",
            params![id.0, parent.map(|p| p.0)],
        )
        .map_err(sibling_conflict)?;
    }
    if let Some(position) = patch.position {
        c.execute(
            "UPDATE departments SET position = ?2 WHERE id = ?1",
            params![id.0, position],
        )?;
    }
    if let Some(admins) = &patch.admins {
        c.execute(
            "DELETE FROM department_admins WHERE department_id = ?1",
            [id.0],
        )?;
        for a in admins {
            require_active(c, *a)?;
            c.execute(
                "INSERT OR IGNORE INTO department_admins (department_id, user_id) VALUES (?1, ?2)",
                [id.0, a.0],
            )?;
        }
    }
    c.execute(
        "UPDATE departments SET updated_at = ?2 WHERE id = ?1",
        [id.0, tx.now.0],
    )?;
    department(c, id)
}

fn delete_department(tx: &mut Tx<'_>, id: DepartmentId, guard: TreeGuard) -> Result<()> {
    let t = tree(tx.conn)?;
    guard(&t)?;
    let c = tx.conn;
    for table in [
        "DELETE FROM department_members WHERE department_id = ?1",
        "DELETE FROM department_admins WHERE department_id = ?1",
        "DELETE FROM department_channels WHERE department_id = ?1",
        "DELETE FROM departments WHERE id = ?1",
    ] {
        c.execute(table, [id.0])?;
    }
    Ok(())
}

fn set_member(tx: &mut Tx<'_>, m: DepartmentMember, guard: MemberGuard) -> Result<bool> {
    let t = tree(tx.conn)?;
    let c = tx.conn;
    let others: i64 = c.query_row(
        "SELECT count(*) FROM department_members WHERE user_id = ?1 AND department_id <> ?2",
        [m.user_id.0, m.department_id.0],
        |r| r.get(0),
    )?;
    guard(&t, usize::try_from(others).unwrap_or(usize::MAX))?;
    require_active(c, m.user_id)?;
    let existed: bool = c.query_row(
        "SELECT EXISTS (SELECT 1 FROM department_members WHERE department_id = ?1 AND user_id = ?2)",
        [m.department_id.0, m.user_id.0],
        |r| r.get(0),
    )?;
    c.execute(
        "INSERT INTO department_members (department_id, user_id, title, is_head, added_at)
         VALUES (?1, ?2, ?3, ?4, ?5)
         ON CONFLICT (department_id, user_id) DO UPDATE SET title = excluded.title, is_head = excluded.is_head",
        params![m.department_id.0, m.user_id.0, m.title, m.is_head, tx.now.0],
    )?;
    Ok(!existed)
}

fn remove_member(tx: &mut Tx<'_>, id: DepartmentId, user: UserId, guard: TreeGuard) -> Result<()> {
    let t = tree(tx.conn)?;
    guard(&t)?;
    let n = tx.conn.execute(
        "DELETE FROM department_members WHERE department_id = ?1 AND user_id = ?2",
        [id.0, user.0],
    )?;
    if n == 0 {
        return Err(Error::Domain(DomainError::NotFound(Entity::Member)));
    }
    Ok(())
}

fn member_row(r: &rusqlite::Row<'_>) -> rusqlite::Result<DepartmentMember> {
    Ok(DepartmentMember {
        department_id: DepartmentId(r.get(0)?),
        user_id: UserId(r.get(1)?),
        title: r.get(2)?,
        is_head: r.get(3)?,
    })
}

fn department_members(c: &Connection, id: DepartmentId) -> Result<Vec<(DepartmentMember, User)>> {
    let mut stmt = c.prepare_cached(&format!(
        "SELECT m.department_id, m.user_id, m.title, m.is_head, {}
           FROM department_members m JOIN users u ON u.id = m.user_id
          WHERE m.department_id = ?1
          ORDER BY m.is_head DESC, u.display_name, u.username",
        prefixed(USER_COLS, "u")
    ))?;
    let rows = stmt.query_map([id.0], |r| Ok((member_row(r)?, rows::user_at(r, 4)?)))?;
    Ok(rows.collect::<rusqlite::Result<_>>()?)
}

fn membership(c: &Connection, id: DepartmentId, user: UserId) -> Result<Option<DepartmentMember>> {
    Ok(c.prepare_cached(
        "SELECT department_id, user_id, title, is_head FROM department_members
          WHERE department_id = ?1 AND user_id = ?2",
    )?
    .query_row([id.0, user.0], member_row)
    .optional()?)
}

fn manager_of(c: &Connection, user: UserId) -> Result<Option<UserId>> {
    Ok(
        c.prepare_cached("SELECT manager_id FROM user_managers WHERE user_id = ?1")?
            .query_row([user.0], |r| r.get::<_, i64>(0))
            .optional()?
            .map(UserId),
    )
}

fn user_departments(c: &Connection, user: UserId) -> Result<Vec<DepartmentMember>> {
    let mut stmt = c.prepare_cached(
        "SELECT department_id, user_id, title, is_head FROM department_members
          WHERE user_id = ?1 ORDER BY added_at, department_id",
    )?;
    let rows = stmt.query_map([user.0], member_row)?;
    Ok(rows.collect::<rusqlite::Result<_>>()?)
}

fn people_in(c: &Connection, ids: &[DepartmentId]) -> Result<Vec<UserId>> {
    let mut stmt = c.prepare_cached(
        "SELECT m.user_id FROM department_members m JOIN users u ON u.id = m.user_id
          WHERE m.department_id = ?1 AND u.active = 1",
    )?;
    let mut out = std::collections::BTreeSet::new();
    for id in ids {
        for u in stmt.query_map([id.0], |r| r.get::<_, i64>(0))? {
            out.insert(UserId(u?));
        }
    }
    Ok(out.into_iter().collect())
}

fn heads(c: &Connection, ids: &[DepartmentId]) -> Result<Vec<(DepartmentId, UserId)>> {
    let mut stmt = c.prepare_cached(
        "SELECT m.user_id FROM department_members m JOIN users u ON u.id = m.user_id
          WHERE m.department_id = ?1 AND m.is_head = 1 AND u.active = 1 ORDER BY m.added_at, m.user_id",
    )?;
    let mut out = Vec::new();
    for id in ids {
        for u in stmt.query_map([id.0], |r| r.get::<_, i64>(0))? {
            out.push((*id, UserId(u?)));
        }
    }
    Ok(out)
}

fn set_manager(
    tx: &mut Tx<'_>,
    user: UserId,
    manager: Option<UserId>,
    guard: TreeGuard,
) -> Result<()> {
    let t = tree(tx.conn)?;
    guard(&t)?;
    require_active(tx.conn, user)?;
    match manager {
        Some(m) => {
            require_active(tx.conn, m)?;
            tx.conn.execute(
                "INSERT INTO user_managers (user_id, manager_id) VALUES (?1, ?2)
                 ON CONFLICT (user_id) DO UPDATE SET manager_id = excluded.manager_id",
                [user.0, m.0],
            )?;
        }
        None => {
            tx.conn
                .execute("DELETE FROM user_managers WHERE user_id = ?1", [user.0])?;
        }
    }
    Ok(())
}

fn search_people(c: &Connection, key: &str, limit: u32) -> Result<Vec<User>> {
    // Prefix of a key: a range on the key's B-tree (`key >= q AND key < q || U+10FFFF`).
    let upper = format!("{key}\u{10FFFF}");
    let mut stmt = c.prepare_cached(&format!(
        "SELECT {USER_COLS} FROM users
          WHERE active = 1 AND (
                id IN (SELECT user_id FROM user_search_keys WHERE key >= ?1 AND key < ?2)
             OR username LIKE ?3 ESCAPE '\\' OR display_name LIKE ?3 ESCAPE '\\')
          ORDER BY display_name, username LIMIT ?4"
    ))?;
    let rows = stmt.query_map(params![key, upper, like_pattern(key), limit], rows::user)?;
    Ok(rows.collect::<rusqlite::Result<_>>()?)
}

fn link_channel(tx: &mut Tx<'_>, link: DepartmentChannel, guard: TreeGuard) -> Result<()> {
    let t = tree(tx.conn)?;
    guard(&t)?;
    tx.conn.execute(
        "INSERT INTO department_channels (channel_id, department_id, include_subdepartments, created_at)
         VALUES (?1, ?2, ?3, ?4)
         ON CONFLICT (channel_id) DO UPDATE SET department_id = excluded.department_id,
             include_subdepartments = excluded.include_subdepartments",
        params![
            link.channel_id.0,
            link.department_id.0,
            link.include_subdepartments,
            tx.now.0
        ],
    )?;
    Ok(())
}

fn unlink_channel(tx: &mut Tx<'_>, channel: ChannelId, guard: TreeGuard) -> Result<bool> {
    let t = tree(tx.conn)?;
    guard(&t)?;
    Ok(tx.conn.execute(
        "DELETE FROM department_channels WHERE channel_id = ?1",
        [channel.0],
    )? > 0)
}

fn department_channels(c: &Connection) -> Result<Vec<DepartmentChannel>> {
    let mut stmt = c.prepare_cached(
        "SELECT channel_id, department_id, include_subdepartments FROM department_channels ORDER BY channel_id",
    )?;
    let rows = stmt.query_map([], |r| {
        Ok(DepartmentChannel {
            channel_id: ChannelId(r.get(0)?),
            department_id: DepartmentId(r.get(1)?),
            include_subdepartments: r.get(2)?,
        })
    })?;
    Ok(rows.collect::<rusqlite::Result<_>>()?)
}

/// Rewrites a user's directory search keys (their display name or username changed).
pub fn write_search_keys(
    c: &Connection,
    user: UserId,
    display_name: &str,
    username: &str,
) -> Result<()> {
    c.prepare_cached("DELETE FROM user_search_keys WHERE user_id = ?1")?
        .execute([user.0])?;
    let mut ins =
        c.prepare_cached("INSERT OR IGNORE INTO user_search_keys (key, user_id) VALUES (?1, ?2)")?;
    for k in search_keys(display_name, username) {
        ins.execute(params![k, user.0])?;
    }
    Ok(())
}

/// Writes the search keys of every user that has none (accounts made before the directory, or
/// copied in by `enclave migrate`); returns how many.
pub fn fill_search_keys(c: &Connection) -> Result<u64> {
    let users: Vec<(i64, String, String)> = c
        .prepare(
            "SELECT id, display_name, username FROM users u
              WHERE NOT EXISTS (SELECT 1 FROM user_search_keys k WHERE k.user_id = u.id)",
        )?
        .query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))?
        .collect::<rusqlite::Result<_>>()?;
    for (id, display, username) in &users {
        write_search_keys(c, UserId(*id), display, username)?;
    }
    Ok(users.len() as u64)
}

#[async_trait]
impl DepartmentStore for SqliteStore {
    async fn departments(&self) -> Result<Vec<Department>> {
        self.read(departments).await
    }
    async fn create_department_audited(
        &self,
        new: NewDepartment,
        guard: TreeGuard,
        audit: AuditHook<Department>,
    ) -> Result<Department> {
        self.write(move |tx| {
            let d = create_department(tx, new, guard)?;
            audited(tx, d, audit)
        })
        .await
    }
    async fn update_department_audited(
        &self,
        id: DepartmentId,
        patch: DepartmentPatch,
        guard: TreeGuard,
        audit: AuditHook<(Department, Department)>,
    ) -> Result<Department> {
        self.write(move |tx| {
            // Read as an option: a missing department is the guard's to refuse.
            let before = department(tx.conn, id).ok();
            let after = update_department(tx, id, patch, guard)?;
            let before = before.ok_or(Error::Domain(DomainError::NotFound(Entity::Department)))?;
            Ok(audited(tx, (before, after), audit)?.1)
        })
        .await
    }
    async fn delete_department_audited(
        &self,
        id: DepartmentId,
        guard: TreeGuard,
        audit: AuditHook<Department>,
    ) -> Result<()> {
        self.write(move |tx| {
            let before = department(tx.conn, id).ok();
            delete_department(tx, id, guard)?;
            let before = before.ok_or(Error::Domain(DomainError::NotFound(Entity::Department)))?;
            audited(tx, before, audit)?;
            Ok(())
        })
        .await
    }
    async fn set_department_member_audited(
        &self,
        member: DepartmentMember,
        guard: MemberGuard,
        audit: AuditHook<(Option<DepartmentMember>, DepartmentMember)>,
    ) -> Result<bool> {
        self.write(move |tx| {
            let before = membership(tx.conn, member.department_id, member.user_id)?;
            let added = set_member(tx, member.clone(), guard)?;
            audited(tx, (before, member), audit)?;
            Ok(added)
        })
        .await
    }
    async fn remove_department_member_audited(
        &self,
        id: DepartmentId,
        user_id: UserId,
        guard: TreeGuard,
        audit: AuditHook<()>,
    ) -> Result<()> {
        self.write(move |tx| {
            remove_member(tx, id, user_id, guard)?;
            audited(tx, (), audit)
        })
        .await
    }
    async fn department_members(&self, id: DepartmentId) -> Result<Vec<(DepartmentMember, User)>> {
        self.read(move |c| department_members(c, id)).await
    }
    async fn user_departments(&self, user_id: UserId) -> Result<Vec<DepartmentMember>> {
        self.read(move |c| user_departments(c, user_id)).await
    }
    async fn people_in_departments(&self, ids: &[DepartmentId]) -> Result<Vec<UserId>> {
        let ids = ids.to_vec();
        self.read(move |c| people_in(c, &ids)).await
    }
    async fn department_heads(&self, ids: &[DepartmentId]) -> Result<Vec<(DepartmentId, UserId)>> {
        let ids = ids.to_vec();
        self.read(move |c| heads(c, &ids)).await
    }
    async fn set_manager_audited(
        &self,
        user_id: UserId,
        manager: Option<UserId>,
        guard: TreeGuard,
        audit: AuditHook<Option<UserId>>,
    ) -> Result<()> {
        self.write(move |tx| {
            let before = manager_of(tx.conn, user_id)?;
            set_manager(tx, user_id, manager, guard)?;
            audited(tx, before, audit)?;
            Ok(())
        })
        .await
    }
    async fn manager(&self, user_id: UserId) -> Result<Option<UserId>> {
        self.read(move |c| {
            Ok(c.query_row(
                "SELECT manager_id FROM user_managers WHERE user_id = ?1",
                [user_id.0],
                |r| r.get::<_, i64>(0),
            )
            .optional()?
            .map(UserId))
        })
        .await
    }
    async fn search_people(&self, key: &str, limit: u32) -> Result<Vec<User>> {
        let key = key.to_owned();
        self.read(move |c| search_people(c, &key, limit)).await
    }
    async fn link_department_channel_audited(
        &self,
        link: DepartmentChannel,
        guard: TreeGuard,
        audit: AuditHook<DepartmentChannel>,
    ) -> Result<()> {
        self.write(move |tx| {
            link_channel(tx, link, guard)?;
            audited(tx, link, audit)?;
            Ok(())
        })
        .await
    }
    async fn unlink_department_channel_audited(
        &self,
        channel_id: ChannelId,
        guard: TreeGuard,
        audit: AuditHook<ChannelId>,
    ) -> Result<bool> {
        self.write(move |tx| {
            let unlinked = unlink_channel(tx, channel_id, guard)?;
            if unlinked {
                audited(tx, channel_id, audit)?;
            }
            Ok(unlinked)
        })
        .await
    }
    async fn department_channels(&self) -> Result<Vec<DepartmentChannel>> {
        self.read(department_channels).await
    }
}
