//! The department tree, its people, department channels, managers and the directory's search
//! keys on PostgreSQL. Every department write takes one transaction-level advisory lock
//! ([`TREE_LOCK`]) before it reads the tree and runs the application's guard on it, so writes
//! to the tree are serialised across nodes and a guard always judges the tree it changes.

use async_trait::async_trait;
use enclave_core::departments::{Department, DepartmentMember, Tree, name_key, search_keys};
use enclave_core::{ChannelId, DepartmentId, Entity, Error as DomainError, User, UserId};
use sqlx_core::row::Row;
use sqlx_postgres::{PgConnection, PgPool, PgRow};

use super::audit::audited;
use super::rows::{self, all, user_cols};
use super::{PgStore, Tx, limit, q, unique_violation};
use crate::common::like_pattern;
use crate::{
    AuditHook, DepartmentChannel, DepartmentPatch, DepartmentStore, Error, MemberGuard,
    NewDepartment, Result, TreeGuard,
};

/// The advisory lock (two-key form) that serialises department writes.
pub const TREE_LOCK: (i32, i32) = (0x456e_636c, 10); // "Encl", 10

const TAKEN: &str = "a sibling department has that name";

async fn departments(c: &mut PgConnection) -> Result<Vec<Department>> {
    let rows = q(
        "SELECT id, parent_id, name, position FROM departments ORDER BY parent_id NULLS FIRST, position, id",
    )
    .fetch_all(&mut *c)
    .await?;
    let mut out: Vec<Department> = all(rows, |r| {
        Ok(Department {
            id: DepartmentId(r.try_get(0)?),
            parent_id: r.try_get::<Option<i64>, _>(1)?.map(DepartmentId),
            name: r.try_get(2)?,
            position: r.try_get(3)?,
            admins: Vec::new(),
        })
    })?;
    let admins =
        q("SELECT department_id, user_id FROM department_admins ORDER BY department_id, user_id")
            .fetch_all(&mut *c)
            .await?;
    let index: std::collections::HashMap<i64, usize> =
        out.iter().enumerate().map(|(i, d)| (d.id.0, i)).collect();
    for r in &admins {
        let d: i64 = r.try_get(0)?;
        let u: i64 = r.try_get(1)?;
        if let Some(i) = index.get(&d) {
            out[*i].admins.push(UserId(u));
        }
    }
    Ok(out)
}

/// Locks the tree for this transaction and reads it.
async fn locked_tree(tx: &mut Tx) -> Result<Tree> {
    q("SELECT pg_advisory_xact_lock($1, $2)")
        .bind(TREE_LOCK.0)
        .bind(TREE_LOCK.1)
        .execute(tx.c())
        .await?;
    Ok(Tree::new(departments(tx.c()).await?))
}

async fn department(c: &mut PgConnection, id: DepartmentId) -> Result<Department> {
    departments(c)
        .await?
        .into_iter()
        .find(|d| d.id == id)
        .ok_or(Error::Domain(DomainError::NotFound(Entity::Department)))
}

async fn require_active(c: &mut PgConnection, user: UserId) -> Result<()> {
    let row = q("SELECT active FROM users WHERE id = $1")
        .bind(user.0)
        .fetch_optional(&mut *c)
        .await?;
    let active: Option<bool> = row.map(|r| r.try_get(0)).transpose()?;
    if active != Some(true) {
        return Err(Error::Domain(DomainError::NotFound(Entity::User)));
    }
    Ok(())
}

fn sibling_conflict(e: sqlx_core::Error) -> Error {
    if unique_violation(&e).is_some() {
        Error::Domain(DomainError::Conflict(TAKEN))
    } else {
        e.into()
    }
}

async fn create_department(
    tx: &mut Tx,
    new: NewDepartment,
    guard: TreeGuard,
) -> Result<Department> {
    let t = locked_tree(tx).await?;
    guard(&t)?;
    let now = tx.now;
    let row = q(
        "INSERT INTO departments (parent_id, name, name_key, position, created_at, updated_at)
         VALUES ($1, $2, $3, $4, $5, $5) RETURNING id",
    )
    .bind(new.parent_id.map(|p| p.0))
    .bind(&new.name)
    .bind(name_key(&new.name))
    .bind(new.position)
    .bind(now.0)
    .fetch_one(tx.c())
    .await
    .map_err(sibling_conflict)?;
    let id = DepartmentId(row.try_get(0)?);
    department(tx.c(), id).await
}

async fn update_department(
    tx: &mut Tx,
    id: DepartmentId,
    patch: DepartmentPatch,
    guard: TreeGuard,
) -> Result<Department> {
    let t = locked_tree(tx).await?;
    guard(&t)?;
    let now = tx.now;
    q("UPDATE departments SET
         name = coalesce($2, name),
         name_key = coalesce($3, name_key),
         parent_id = CASE WHEN $4 THEN $5 ELSE parent_id END,
         position = coalesce($6, position),
         updated_at = $7
       WHERE id = $1")
    .bind(id.0)
    .bind(patch.name.clone())
    .bind(patch.name.as_deref().map(name_key))
    .bind(patch.parent_id.is_some())
    .bind(patch.parent_id.flatten().map(|p| p.0))
    .bind(patch.position)
    .bind(now.0)
    .execute(tx.c())
    .await
    .map_err(sibling_conflict)?;
    if let Some(admins) = &patch.admins {
        q("DELETE FROM department_admins WHERE department_id = $1")
            .bind(id.0)
            .execute(tx.c())
            .await?;
        for a in admins {
            require_active(tx.c(), *a).await?;
            q(
                "INSERT INTO department_admins (department_id, user_id) VALUES ($1, $2)
               ON CONFLICT DO NOTHING",
            )
            .bind(id.0)
            .bind(a.0)
            .execute(tx.c())
            .await?;
        }
    }
    department(tx.c(), id).await
}

async fn delete_department(tx: &mut Tx, id: DepartmentId, guard: TreeGuard) -> Result<()> {
    let t = locked_tree(tx).await?;
    guard(&t)?;
    for sql in [
        "DELETE FROM department_members WHERE department_id = $1",
        "DELETE FROM department_admins WHERE department_id = $1",
        "DELETE FROM department_channels WHERE department_id = $1",
        "DELETE FROM departments WHERE id = $1",
    ] {
        q(sql).bind(id.0).execute(tx.c()).await?;
    }
    Ok(())
}

async fn set_member(tx: &mut Tx, m: DepartmentMember, guard: MemberGuard) -> Result<bool> {
    let t = locked_tree(tx).await?;
    let row =
        q("SELECT count(*) FROM department_members WHERE user_id = $1 AND department_id <> $2")
            .bind(m.user_id.0)
            .bind(m.department_id.0)
            .fetch_one(tx.c())
            .await?;
    let others: i64 = row.try_get(0)?;
    guard(&t, usize::try_from(others).unwrap_or(usize::MAX))?;
    require_active(tx.c(), m.user_id).await?;
    let now = tx.now;
    let row = q(
        "INSERT INTO department_members (department_id, user_id, title, is_head, added_at)
         VALUES ($1, $2, $3, $4, $5)
         ON CONFLICT (department_id, user_id) DO UPDATE SET title = excluded.title, is_head = excluded.is_head
         RETURNING (xmax = 0)",
    )
    .bind(m.department_id.0)
    .bind(m.user_id.0)
    .bind(&m.title)
    .bind(m.is_head)
    .bind(now.0)
    .fetch_one(tx.c())
    .await?;
    Ok(row.try_get(0)?)
}

async fn remove_member(
    tx: &mut Tx,
    id: DepartmentId,
    user: UserId,
    guard: TreeGuard,
) -> Result<()> {
    let t = locked_tree(tx).await?;
    guard(&t)?;
    let n = q("DELETE FROM department_members WHERE department_id = $1 AND user_id = $2")
        .bind(id.0)
        .bind(user.0)
        .execute(tx.c())
        .await?
        .rows_affected();
    if n == 0 {
        return Err(Error::Domain(DomainError::NotFound(Entity::Member)));
    }
    Ok(())
}

fn member_row(r: &PgRow) -> std::result::Result<DepartmentMember, sqlx_core::Error> {
    Ok(DepartmentMember {
        department_id: DepartmentId(r.try_get(0)?),
        user_id: UserId(r.try_get(1)?),
        title: r.try_get(2)?,
        is_head: r.try_get(3)?,
    })
}

async fn set_manager(
    tx: &mut Tx,
    user: UserId,
    manager: Option<UserId>,
    guard: TreeGuard,
) -> Result<()> {
    let t = locked_tree(tx).await?;
    guard(&t)?;
    require_active(tx.c(), user).await?;
    match manager {
        Some(m) => {
            require_active(tx.c(), m).await?;
            q(
                "INSERT INTO user_managers (user_id, manager_id) VALUES ($1, $2)
               ON CONFLICT (user_id) DO UPDATE SET manager_id = excluded.manager_id",
            )
            .bind(user.0)
            .bind(m.0)
            .execute(tx.c())
            .await?;
        }
        None => {
            q("DELETE FROM user_managers WHERE user_id = $1")
                .bind(user.0)
                .execute(tx.c())
                .await?;
        }
    }
    Ok(())
}

async fn link_channel(tx: &mut Tx, link: DepartmentChannel, guard: TreeGuard) -> Result<()> {
    let t = locked_tree(tx).await?;
    guard(&t)?;
    let now = tx.now;
    q("INSERT INTO department_channels (channel_id, department_id, include_subdepartments, created_at)
       VALUES ($1, $2, $3, $4)
       ON CONFLICT (channel_id) DO UPDATE SET department_id = excluded.department_id,
           include_subdepartments = excluded.include_subdepartments")
    .bind(link.channel_id.0)
    .bind(link.department_id.0)
    .bind(link.include_subdepartments)
    .bind(now.0)
    .execute(tx.c())
    .await?;
    Ok(())
}

async fn unlink_channel(tx: &mut Tx, channel: ChannelId, guard: TreeGuard) -> Result<bool> {
    let t = locked_tree(tx).await?;
    guard(&t)?;
    let n = q("DELETE FROM department_channels WHERE channel_id = $1")
        .bind(channel.0)
        .execute(tx.c())
        .await?
        .rows_affected();
    Ok(n > 0)
}

/// Rewrites a user's directory search keys (their display name or username changed).
pub async fn write_search_keys(
    c: &mut PgConnection,
    user: UserId,
    display_name: &str,
    username: &str,
) -> Result<()> {
    q("DELETE FROM user_search_keys WHERE user_id = $1")
        .bind(user.0)
        .execute(&mut *c)
        .await?;
    let keys = search_keys(display_name, username);
    q("INSERT INTO user_search_keys (key, user_id)
       SELECT k, $2 FROM unnest($1::text[]) AS k ON CONFLICT DO NOTHING")
    .bind(keys)
    .bind(user.0)
    .execute(&mut *c)
    .await?;
    Ok(())
}

/// Writes the search keys of every user that has none (accounts made before the directory, or
/// copied in by `enclave migrate`); returns how many. Run when the store opens.
pub async fn fill_search_keys(pool: &PgPool) -> Result<u64> {
    let mut c = pool.acquire().await?;
    let rows = q("SELECT id, display_name, username FROM users u
                  WHERE NOT EXISTS (SELECT 1 FROM user_search_keys k WHERE k.user_id = u.id)")
    .fetch_all(&mut *c)
    .await?;
    for r in &rows {
        let id: i64 = r.try_get(0)?;
        let display: String = r.try_get(1)?;
        let username: String = r.try_get(2)?;
        write_search_keys(&mut c, UserId(id), &display, &username).await?;
    }
    Ok(rows.len() as u64)
}

#[async_trait]
impl DepartmentStore for PgStore {
    async fn departments(&self) -> Result<Vec<Department>> {
        let mut c = self.conn().await?;
        departments(&mut c).await
    }
    async fn create_department_audited(
        &self,
        new: NewDepartment,
        guard: TreeGuard,
        audit: AuditHook<Department>,
    ) -> Result<Department> {
        let mut tx = self.begin().await?;
        let result = match create_department(&mut tx, new, guard).await {
            Ok(d) => audited(&mut tx, d, audit).await,
            Err(e) => Err(e),
        };
        self.finish(tx, result).await
    }
    async fn update_department_audited(
        &self,
        id: DepartmentId,
        patch: DepartmentPatch,
        guard: TreeGuard,
        audit: AuditHook<(Department, Department)>,
    ) -> Result<Department> {
        let mut tx = self.begin().await?;
        let result: Result<Department> = async {
            // Under the tree lock (taken again by the write: it is reentrant); a missing
            // department is the guard's to refuse.
            let before = locked_tree(&mut tx).await?.get(id).cloned();
            let after = update_department(&mut tx, id, patch, guard).await?;
            let before = before.ok_or(Error::Domain(DomainError::NotFound(Entity::Department)))?;
            Ok::<_, Error>(audited(&mut tx, (before, after), audit).await?.1)
        }
        .await;
        self.finish(tx, result).await
    }
    async fn delete_department_audited(
        &self,
        id: DepartmentId,
        guard: TreeGuard,
        audit: AuditHook<Department>,
    ) -> Result<()> {
        let mut tx = self.begin().await?;
        let result: Result<()> = async {
            let before = locked_tree(&mut tx).await?.get(id).cloned();
            delete_department(&mut tx, id, guard).await?;
            let before = before.ok_or(Error::Domain(DomainError::NotFound(Entity::Department)))?;
            audited(&mut tx, before, audit).await?;
            Ok::<_, Error>(())
        }
        .await;
        self.finish(tx, result).await
    }
    async fn set_department_member_audited(
        &self,
        member: DepartmentMember,
        guard: MemberGuard,
        audit: AuditHook<(Option<DepartmentMember>, DepartmentMember)>,
    ) -> Result<bool> {
        let mut tx = self.begin().await?;
        let result: Result<bool> = async {
            locked_tree(&mut tx).await?;
            let row = q(
                "SELECT department_id, user_id, title, is_head FROM department_members
                          WHERE department_id = $1 AND user_id = $2",
            )
            .bind(member.department_id.0)
            .bind(member.user_id.0)
            .fetch_optional(tx.c())
            .await?;
            let before = row.as_ref().map(member_row).transpose()?;
            let added = set_member(&mut tx, member.clone(), guard).await?;
            audited(&mut tx, (before, member), audit).await?;
            Ok::<_, Error>(added)
        }
        .await;
        self.finish(tx, result).await
    }
    async fn remove_department_member_audited(
        &self,
        id: DepartmentId,
        user_id: UserId,
        guard: TreeGuard,
        audit: AuditHook<()>,
    ) -> Result<()> {
        let mut tx = self.begin().await?;
        let result = match remove_member(&mut tx, id, user_id, guard).await {
            Ok(()) => audited(&mut tx, (), audit).await,
            Err(e) => Err(e),
        };
        self.finish(tx, result).await
    }
    async fn department_members(&self, id: DepartmentId) -> Result<Vec<(DepartmentMember, User)>> {
        let mut c = self.conn().await?;
        let rows = q(concat!(
            "SELECT m.department_id, m.user_id, m.title, m.is_head, ",
            user_cols!("u"),
            " FROM department_members m JOIN users u ON u.id = m.user_id
             WHERE m.department_id = $1
             ORDER BY m.is_head DESC, u.display_name, u.username"
        ))
        .bind(id.0)
        .fetch_all(&mut *c)
        .await?;
        all(rows, |r| Ok((member_row(r)?, rows::user_at(r, 4)?)))
    }
    async fn user_departments(&self, user_id: UserId) -> Result<Vec<DepartmentMember>> {
        let mut c = self.conn().await?;
        let rows = q(
            "SELECT department_id, user_id, title, is_head FROM department_members
                      WHERE user_id = $1 ORDER BY added_at, department_id",
        )
        .bind(user_id.0)
        .fetch_all(&mut *c)
        .await?;
        all(rows, member_row)
    }
    async fn people_in_departments(&self, ids: &[DepartmentId]) -> Result<Vec<UserId>> {
        let mut c = self.conn().await?;
        let ids: Vec<i64> = ids.iter().map(|d| d.0).collect();
        let rows = q(
            "SELECT DISTINCT m.user_id FROM department_members m JOIN users u ON u.id = m.user_id
                      WHERE m.department_id = ANY($1) AND u.active ORDER BY m.user_id",
        )
        .bind(ids)
        .fetch_all(&mut *c)
        .await?;
        all(rows, |r| Ok(UserId(r.try_get(0)?)))
    }
    async fn department_heads(&self, ids: &[DepartmentId]) -> Result<Vec<(DepartmentId, UserId)>> {
        let mut c = self.conn().await?;
        let ids: Vec<i64> = ids.iter().map(|d| d.0).collect();
        let rows = q("SELECT m.department_id, m.user_id FROM department_members m JOIN users u ON u.id = m.user_id
                      WHERE m.department_id = ANY($1) AND m.is_head AND u.active
                      ORDER BY m.added_at, m.user_id")
        .bind(ids)
        .fetch_all(&mut *c)
        .await?;
        all(rows, |r| {
            Ok((DepartmentId(r.try_get(0)?), UserId(r.try_get(1)?)))
        })
    }
    async fn set_manager_audited(
        &self,
        user_id: UserId,
        manager: Option<UserId>,
        guard: TreeGuard,
        audit: AuditHook<Option<UserId>>,
    ) -> Result<()> {
        let mut tx = self.begin().await?;
        let result: Result<()> = async {
            locked_tree(&mut tx).await?;
            let row = q("SELECT manager_id FROM user_managers WHERE user_id = $1")
                .bind(user_id.0)
                .fetch_optional(tx.c())
                .await?;
            let before = row.map(|r| r.try_get::<i64, _>(0)).transpose()?.map(UserId);
            set_manager(&mut tx, user_id, manager, guard).await?;
            audited(&mut tx, before, audit).await?;
            Ok::<_, Error>(())
        }
        .await;
        self.finish(tx, result).await
    }
    async fn manager(&self, user_id: UserId) -> Result<Option<UserId>> {
        let mut c = self.conn().await?;
        let row = q("SELECT manager_id FROM user_managers WHERE user_id = $1")
            .bind(user_id.0)
            .fetch_optional(&mut *c)
            .await?;
        Ok(row.map(|r| r.try_get::<i64, _>(0)).transpose()?.map(UserId))
    }
    async fn search_people(&self, key: &str, n: u32) -> Result<Vec<User>> {
        let mut c = self.conn().await?;
        let upper = format!("{key}\u{10FFFF}");
        let rows = q(concat!(
            "SELECT ",
            user_cols!(),
            " FROM users
             WHERE active AND (
                   id IN (SELECT user_id FROM user_search_keys WHERE key >= $1 AND key < $2)
                OR username ILIKE $3 OR display_name ILIKE $3)
             ORDER BY display_name, username LIMIT $4"
        ))
        .bind(key)
        .bind(upper)
        .bind(like_pattern(key))
        .bind(limit(n))
        .fetch_all(&mut *c)
        .await?;
        all(rows, rows::user)
    }
    async fn link_department_channel_audited(
        &self,
        link: DepartmentChannel,
        guard: TreeGuard,
        audit: AuditHook<DepartmentChannel>,
    ) -> Result<()> {
        let mut tx = self.begin().await?;
        let result = match link_channel(&mut tx, link, guard).await {
            Ok(()) => audited(&mut tx, link, audit).await.map(|_| ()),
            Err(e) => Err(e),
        };
        self.finish(tx, result).await
    }
    async fn unlink_department_channel_audited(
        &self,
        channel_id: ChannelId,
        guard: TreeGuard,
        audit: AuditHook<ChannelId>,
    ) -> Result<bool> {
        let mut tx = self.begin().await?;
        let result = match unlink_channel(&mut tx, channel_id, guard).await {
            Ok(true) => audited(&mut tx, channel_id, audit).await.map(|_| true),
            other => other,
        };
        self.finish(tx, result).await
    }
    async fn department_channels(&self) -> Result<Vec<DepartmentChannel>> {
        let mut c = self.conn().await?;
        let rows = q("SELECT channel_id, department_id, include_subdepartments
                      FROM department_channels ORDER BY channel_id")
        .fetch_all(&mut *c)
        .await?;
        all(rows, |r| {
            Ok(DepartmentChannel {
                channel_id: ChannelId(r.try_get(0)?),
                department_id: DepartmentId(r.try_get(1)?),
                include_subdepartments: r.try_get(2)?,
            })
        })
    }
}
