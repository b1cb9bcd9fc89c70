//! Custom roles and who holds them, on SQLite.

use async_trait::async_trait;
use enclave_core::{
    CustomRole, Entity, Error as DomainError, EventKind, Millis, NewEvent, PermissionSet, RoleId,
    User, UserId,
};
use rusqlite::{Connection, OptionalExtension, Row, params};

use super::accounts::user;
use super::audit::audited;
use super::{SqliteStore, Tx, is_unique_violation};
use crate::{AuditHook, Error, NewRole, Result, RolePatch, RoleStore, UserRoles};

const ROLE_COLS: &str =
    "id, name, description, permissions, created_at, updated_at, require_second_factor";

fn role_row(r: &Row<'_>) -> rusqlite::Result<CustomRole> {
    let perms: String = r.get(3)?;
    Ok(CustomRole {
        id: RoleId(r.get(0)?),
        name: r.get(1)?,
        description: r.get(2)?,
        permissions: PermissionSet::from_stored(&perms),
        created_at: Millis(r.get(4)?),
        updated_at: Millis(r.get(5)?),
        require_second_factor: r.get(6)?,
    })
}

fn roles(c: &Connection) -> Result<Vec<CustomRole>> {
    let mut stmt = c.prepare_cached(&format!("SELECT {ROLE_COLS} FROM roles ORDER BY id"))?;
    let rows = stmt.query_map([], role_row)?;
    Ok(rows.collect::<rusqlite::Result<_>>()?)
}

fn role(c: &Connection, id: RoleId) -> Result<Option<CustomRole>> {
    let mut stmt = c.prepare_cached(&format!("SELECT {ROLE_COLS} FROM roles WHERE id = ?1"))?;
    Ok(stmt.query_row([id.0], role_row).optional()?)
}

fn user_roles(c: &Connection, user_id: UserId) -> Result<Vec<CustomRole>> {
    let mut stmt = c.prepare_cached(
        "SELECT r.id, r.name, r.description, r.permissions, r.created_at, r.updated_at,
                r.require_second_factor
           FROM user_roles ur JOIN roles r ON r.id = ur.role_id
          WHERE ur.user_id = ?1 ORDER BY r.id",
    )?;
    let rows = stmt.query_map([user_id.0], role_row)?;
    Ok(rows.collect::<rusqlite::Result<_>>()?)
}

fn roles_changed(tx: &mut Tx<'_>, id: RoleId, actor_id: Option<UserId>) -> Result<()> {
    let mut ev = NewEvent::new(EventKind::RolesChanged).extra(id.0.to_string());
    ev.actor_id = actor_id;
    tx.event(ev)
}

fn taken(e: rusqlite::Error) -> Error {
    if is_unique_violation(&e) {
        Error::Domain(DomainError::Conflict(
            "a role with this name already exists",
        ))
    } else {
        e.into()
    }
}

fn create_role(
    tx: &mut Tx<'_>,
    new: NewRole,
    max: usize,
    actor_id: Option<UserId>,
) -> Result<CustomRole> {
    let n: i64 = tx
        .conn
        .query_row("SELECT count(*) FROM roles", [], |r| r.get(0))?;
    if usize::try_from(n).unwrap_or(usize::MAX) >= max {
        return Err(Error::Domain(DomainError::LimitExceeded("too many roles")));
    }
    tx.conn
        .execute(
            "INSERT INTO roles (name, name_key, description, permissions, created_at, updated_at,
                                require_second_factor)
             VALUES (?1, ?2, ?3, ?4, ?5, ?5, ?6)",
            params![
                new.name,
                new.name_key,
                new.description,
                new.permissions.to_stored(),
                tx.now.0,
                new.require_second_factor
            ],
        )
        .map_err(taken)?;
    let id = RoleId(tx.conn.last_insert_rowid());
    roles_changed(tx, id, actor_id)?;
    role(tx.conn, id)?.ok_or(Error::Domain(DomainError::NotFound(Entity::Role)))
}

fn update_role(
    tx: &mut Tx<'_>,
    id: RoleId,
    patch: RolePatch,
    actor_id: Option<UserId>,
) -> Result<CustomRole> {
    let c = tx.conn;
    role(c, id)?.ok_or(Error::Domain(DomainError::NotFound(Entity::Role)))?;
    if let Some((name, key)) = &patch.name {
        c.execute(
            "UPDATE roles SET name = ?2, name_key = ?3 WHERE id = ?1",
            params![id.0, name, key],
        )
        .map_err(taken)?;
    }
    if let Some(d) = &patch.description {
        c.execute(
            "UPDATE roles SET description = ?2 WHERE id = ?1",
            params![id.0, d],
        )?;
    }
    if let Some(p) = patch.permissions {
        c.execute(
            "UPDATE roles SET permissions = ?2 WHERE id = ?1",
            params![id.0, p.to_stored()],
        )?;
    }
    if let Some(r) = patch.require_second_factor {
        c.execute(
            "UPDATE roles SET require_second_factor = ?2 WHERE id = ?1",
            params![id.0, r],
        )?;
    }
    c.execute(
        "UPDATE roles SET updated_at = ?2 WHERE id = ?1",
        params![id.0, tx.now.0],
    )?;
    roles_changed(tx, id, actor_id)?;
    role(tx.conn, id)?.ok_or(Error::Domain(DomainError::NotFound(Entity::Role)))
}

fn delete_role(tx: &mut Tx<'_>, id: RoleId, actor_id: Option<UserId>) -> Result<bool> {
    tx.conn
        .execute("DELETE FROM user_roles WHERE role_id = ?1", [id.0])?;
    let n = tx.conn.execute("DELETE FROM roles WHERE id = ?1", [id.0])?;
    if n > 0 {
        roles_changed(tx, id, actor_id)?;
    }
    Ok(n > 0)
}

fn set_user_roles(
    tx: &mut Tx<'_>,
    user_id: UserId,
    roles: UserRoles,
    actor_id: Option<UserId>,
) -> Result<(User, Vec<CustomRole>)> {
    let c = tx.conn;
    user(c, user_id)?.ok_or(Error::Domain(DomainError::NotFound(Entity::User)))?;
    for r in &roles.custom {
        if role(c, *r)?.is_none() {
            return Err(Error::Domain(DomainError::NotFound(Entity::Role)));
        }
    }
    c.execute("DELETE FROM user_roles WHERE user_id = ?1", [user_id.0])?;
    let mut ins =
        c.prepare_cached("INSERT OR IGNORE INTO user_roles (user_id, role_id) VALUES (?1, ?2)")?;
    for r in &roles.custom {
        ins.execute(params![user_id.0, r.0])?;
    }
    c.execute(
        "UPDATE users SET is_admin = ?2, member_role = ?3, updated_at = ?4 WHERE id = ?1",
        params![user_id.0, roles.is_admin, roles.member_role, tx.now.0],
    )?;
    let after = user(c, user_id)?.ok_or(Error::Domain(DomainError::NotFound(Entity::User)))?;
    let held = user_roles(c, user_id)?;
    // Always an event: the account's effective permissions may have changed even when nothing
    // shown did, and every node's credential cache forgets the account on it.
    let mut ev = NewEvent::new(EventKind::UserUpdated).user(user_id);
    ev.actor_id = actor_id;
    tx.event(ev)?;
    Ok((after, held))
}

fn expire_guests(tx: &mut Tx<'_>, now: Millis, limit: u32) -> Result<Vec<UserId>> {
    let ids: Vec<UserId> = {
        let mut stmt = tx.conn.prepare_cached(
            "SELECT id FROM users
              WHERE is_guest = 1 AND active = 1 AND guest_expires_at IS NOT NULL
                AND guest_expires_at <= ?1
              ORDER BY id LIMIT ?2",
        )?;
        stmt.query_map(params![now.0, limit], |r| r.get(0).map(UserId))?
            .collect::<rusqlite::Result<_>>()?
    };
    for id in &ids {
        tx.conn.execute(
            "UPDATE users SET active = 0, updated_at = ?2 WHERE id = ?1",
            params![id.0, tx.now.0],
        )?;
        tx.conn
            .execute("DELETE FROM tokens WHERE user_id = ?1", [id.0])?;
        tx.event(NewEvent::new(EventKind::TokensRevoked).user(*id))?;
        tx.event(NewEvent::new(EventKind::UserUpdated).user(*id))?;
    }
    Ok(ids)
}

#[async_trait]
impl RoleStore for SqliteStore {
    async fn roles(&self) -> Result<Vec<CustomRole>> {
        self.read(roles).await
    }
    async fn role(&self, id: RoleId) -> Result<Option<CustomRole>> {
        self.read(move |c| role(c, id)).await
    }
    async fn create_role_audited(
        &self,
        new: NewRole,
        max: usize,
        actor_id: Option<UserId>,
        audit: AuditHook<CustomRole>,
    ) -> Result<CustomRole> {
        self.write(move |tx| {
            let r = create_role(tx, new, max, actor_id)?;
            audited(tx, r, audit)
        })
        .await
    }
    async fn update_role_audited(
        &self,
        id: RoleId,
        patch: RolePatch,
        actor_id: Option<UserId>,
        audit: AuditHook<(CustomRole, CustomRole)>,
    ) -> Result<CustomRole> {
        self.write(move |tx| {
            let before =
                role(tx.conn, id)?.ok_or(Error::Domain(DomainError::NotFound(Entity::Role)))?;
            let after = update_role(tx, id, patch, actor_id)?;
            Ok(audited(tx, (before, after), audit)?.1)
        })
        .await
    }
    async fn delete_role_audited(
        &self,
        id: RoleId,
        actor_id: Option<UserId>,
        audit: AuditHook<CustomRole>,
    ) -> Result<bool> {
        self.write(move |tx| {
            let before = role(tx.conn, id)?;
            let deleted = delete_role(tx, id, actor_id)?;
            if let (true, Some(before)) = (deleted, before) {
                audited(tx, before, audit)?;
            }
            Ok(deleted)
        })
        .await
    }
    async fn user_roles(&self, user_id: UserId) -> Result<Vec<CustomRole>> {
        self.read(move |c| user_roles(c, user_id)).await
    }
    async fn set_user_roles_audited(
        &self,
        user_id: UserId,
        roles: UserRoles,
        actor_id: Option<UserId>,
        audit: AuditHook<(User, Vec<CustomRole>)>,
    ) -> Result<(User, Vec<CustomRole>)> {
        self.write(move |tx| {
            let r = set_user_roles(tx, user_id, roles, actor_id)?;
            audited(tx, r, audit)
        })
        .await
    }
    async fn expire_guests(&self, now: Millis, limit: u32) -> Result<Vec<UserId>> {
        self.write(move |tx| expire_guests(tx, now, limit)).await
    }
}
