//! Custom roles and who holds them, on PostgreSQL.

use async_trait::async_trait;
use enclave_core::{
    CustomRole, Entity, Error as DomainError, EventKind, Millis, NewEvent, PermissionSet, RoleId,
    User, UserId,
};
use sqlx_core::row::Row;
use sqlx_postgres::{PgConnection, PgRow};

use super::accounts::user;
use super::audit::audited;
use super::rows::{all, one};
use super::{PgStore, Tx, q, unique_violation};
use crate::{AuditHook, Error, NewRole, Result, RolePatch, RoleStore, UserRoles};

macro_rules! role_cols {
    () => {
        "id, name, description, permissions, created_at, updated_at, require_second_factor"
    };
}

fn role_row(r: &PgRow) -> std::result::Result<CustomRole, sqlx_core::Error> {
    let perms: String = r.try_get(3)?;
    Ok(CustomRole {
        id: RoleId(r.try_get(0)?),
        name: r.try_get(1)?,
        description: r.try_get(2)?,
        permissions: PermissionSet::from_stored(&perms),
        created_at: Millis(r.try_get(4)?),
        updated_at: Millis(r.try_get(5)?),
        require_second_factor: r.try_get(6)?,
    })
}

async fn roles(c: &mut PgConnection) -> Result<Vec<CustomRole>> {
    let rows = q(concat!("SELECT ", role_cols!(), " FROM roles ORDER BY id"))
        .fetch_all(&mut *c)
        .await?;
    all(rows, role_row)
}

async fn role(c: &mut PgConnection, id: RoleId, lock: bool) -> Result<Option<CustomRole>> {
    let sql = if lock {
        concat!(
            "SELECT ",
            role_cols!(),
            " FROM roles WHERE id = $1 FOR UPDATE"
        )
    } else {
        concat!("SELECT ", role_cols!(), " FROM roles WHERE id = $1")
    };
    let row = q(sql).bind(id.0).fetch_optional(&mut *c).await?;
    one(row, role_row)
}

async fn user_roles(c: &mut PgConnection, user_id: UserId) -> Result<Vec<CustomRole>> {
    let rows = q(
        "SELECT r.id, r.name, r.description, r.permissions, r.created_at, r.updated_at,
                r.require_second_factor
           FROM user_roles ur JOIN roles r ON r.id = ur.role_id
          WHERE ur.user_id = $1 ORDER BY r.id",
    )
    .bind(user_id.0)
    .fetch_all(&mut *c)
    .await?;
    all(rows, role_row)
}

fn roles_changed(tx: &mut Tx, id: RoleId, actor_id: Option<UserId>) {
    let mut ev = NewEvent::new(EventKind::RolesChanged).extra(id.0.to_string());
    ev.actor_id = actor_id;
    tx.event(ev);
}

fn taken(e: sqlx_core::Error) -> Error {
    if unique_violation(&e).is_some() {
        Error::Domain(DomainError::Conflict(
            "a role with this name already exists",
        ))
    } else {
        e.into()
    }
}

async fn create_role(
    tx: &mut Tx,
    new: NewRole,
    max: usize,
    actor_id: Option<UserId>,
) -> Result<CustomRole> {
    // One role count at a time: concurrent creations cannot both pass the limit.
    q("LOCK TABLE roles IN SHARE ROW EXCLUSIVE MODE")
        .execute(tx.c())
        .await?;
    let n: i64 = q("SELECT count(*) FROM roles")
        .fetch_one(tx.c())
        .await?
        .try_get(0)?;
    if usize::try_from(n).unwrap_or(usize::MAX) >= max {
        return Err(Error::Domain(DomainError::LimitExceeded("too many roles")));
    }
    let now = tx.now;
    let row = q(concat!(
        "INSERT INTO roles (name, name_key, description, permissions, created_at, updated_at,
                            require_second_factor)
         VALUES ($1, $2, $3, $4, $5, $5, $6) RETURNING ",
        role_cols!()
    ))
    .bind(new.name)
    .bind(new.name_key)
    .bind(new.description)
    .bind(new.permissions.to_stored())
    .bind(now.0)
    .bind(new.require_second_factor)
    .fetch_one(tx.c())
    .await
    .map_err(taken)?;
    let created = role_row(&row)?;
    roles_changed(tx, created.id, actor_id);
    Ok(created)
}

async fn update_role(
    tx: &mut Tx,
    id: RoleId,
    patch: RolePatch,
    actor_id: Option<UserId>,
) -> Result<CustomRole> {
    role(tx.c(), id, true)
        .await?
        .ok_or(Error::Domain(DomainError::NotFound(Entity::Role)))?;
    let (name, key) = match patch.name {
        Some((n, k)) => (Some(n), Some(k)),
        None => (None, None),
    };
    let now = tx.now;
    let row = q(concat!(
        "UPDATE roles SET
            name = coalesce($2, name),
            name_key = coalesce($3, name_key),
            description = coalesce($4, description),
            permissions = coalesce($5, permissions),
            updated_at = $6,
            require_second_factor = coalesce($7, require_second_factor)
         WHERE id = $1 RETURNING ",
        role_cols!()
    ))
    .bind(id.0)
    .bind(name)
    .bind(key)
    .bind(patch.description)
    .bind(patch.permissions.map(PermissionSet::to_stored))
    .bind(now.0)
    .bind(patch.require_second_factor)
    .fetch_one(tx.c())
    .await
    .map_err(taken)?;
    let updated = role_row(&row)?;
    roles_changed(tx, id, actor_id);
    Ok(updated)
}

async fn delete_role(tx: &mut Tx, id: RoleId, actor_id: Option<UserId>) -> Result<bool> {
    q("DELETE FROM user_roles WHERE role_id = $1")
        .bind(id.0)
        .execute(tx.c())
        .await?;
    let n = q("DELETE FROM roles WHERE id = $1")
        .bind(id.0)
        .execute(tx.c())
        .await?
        .rows_affected();
    if n > 0 {
        roles_changed(tx, id, actor_id);
    }
    Ok(n > 0)
}

async fn set_user_roles(
    tx: &mut Tx,
    user_id: UserId,
    roles: UserRoles,
    actor_id: Option<UserId>,
) -> Result<(User, Vec<CustomRole>)> {
    let locked = q("SELECT id FROM users WHERE id = $1 FOR NO KEY UPDATE")
        .bind(user_id.0)
        .fetch_optional(tx.c())
        .await?;
    if locked.is_none() {
        return Err(Error::Domain(DomainError::NotFound(Entity::User)));
    }
    for r in &roles.custom {
        // FOR SHARE: a concurrent delete of the role waits, and then finds the assignment.
        let found = q("SELECT id FROM roles WHERE id = $1 FOR SHARE")
            .bind(r.0)
            .fetch_optional(tx.c())
            .await?;
        if found.is_none() {
            return Err(Error::Domain(DomainError::NotFound(Entity::Role)));
        }
    }
    q("DELETE FROM user_roles WHERE user_id = $1")
        .bind(user_id.0)
        .execute(tx.c())
        .await?;
    let ids: Vec<i64> = roles.custom.iter().map(|r| r.0).collect();
    q("INSERT INTO user_roles (user_id, role_id) SELECT $1, unnest($2::int8[]) ON CONFLICT DO NOTHING")
        .bind(user_id.0)
        .bind(ids)
        .execute(tx.c())
        .await?;
    let now = tx.now;
    q("UPDATE users SET is_admin = $2, member_role = $3, updated_at = $4 WHERE id = $1")
        .bind(user_id.0)
        .bind(roles.is_admin)
        .bind(roles.member_role)
        .bind(now.0)
        .execute(tx.c())
        .await?;
    let after = user(tx.c(), user_id)
        .await?
        .ok_or(Error::Domain(DomainError::NotFound(Entity::User)))?;
    let held = user_roles(tx.c(), user_id).await?;
    // Always an event: the account's effective permissions may have changed even when nothing
    // shown did, and every node's credential cache forgets the account on it.
    let mut ev = NewEvent::new(EventKind::UserUpdated).user(user_id);
    ev.actor_id = actor_id;
    tx.event(ev);
    Ok((after, held))
}

async fn expire_guests(tx: &mut Tx, now: Millis, limit: u32) -> Result<Vec<UserId>> {
    let rows = q("UPDATE users SET active = false, updated_at = $3
                   WHERE id IN (SELECT id FROM users
                                 WHERE is_guest AND active AND guest_expires_at IS NOT NULL
                                   AND guest_expires_at <= $1
                                 ORDER BY id LIMIT $2 FOR UPDATE SKIP LOCKED)
                  RETURNING id")
    .bind(now.0)
    .bind(i64::from(limit))
    .bind(tx.now.0)
    .fetch_all(tx.c())
    .await?;
    let mut ids: Vec<UserId> = rows
        .iter()
        .map(|r| r.try_get::<i64, _>(0).map(UserId))
        .collect::<std::result::Result<_, _>>()?;
    ids.sort();
    for id in &ids {
        q("DELETE FROM tokens WHERE user_id = $1")
            .bind(id.0)
            .execute(tx.c())
            .await?;
        tx.event(NewEvent::new(EventKind::TokensRevoked).user(*id));
        tx.event(NewEvent::new(EventKind::UserUpdated).user(*id));
    }
    Ok(ids)
}

#[async_trait]
impl RoleStore for PgStore {
    async fn roles(&self) -> Result<Vec<CustomRole>> {
        let mut c = self.conn().await?;
        roles(&mut c).await
    }
    async fn role(&self, id: RoleId) -> Result<Option<CustomRole>> {
        let mut c = self.conn().await?;
        role(&mut c, id, false).await
    }
    async fn create_role_audited(
        &self,
        new: NewRole,
        max: usize,
        actor_id: Option<UserId>,
        audit: AuditHook<CustomRole>,
    ) -> Result<CustomRole> {
        let mut tx = self.begin().await?;
        let result = match create_role(&mut tx, new, max, actor_id).await {
            Ok(r) => audited(&mut tx, r, audit).await,
            Err(e) => Err(e),
        };
        self.finish(tx, result).await
    }
    async fn update_role_audited(
        &self,
        id: RoleId,
        patch: RolePatch,
        actor_id: Option<UserId>,
        audit: AuditHook<(CustomRole, CustomRole)>,
    ) -> Result<CustomRole> {
        let mut tx = self.begin().await?;
        let result: Result<CustomRole> = async {
            let before = role(tx.c(), id, true)
                .await?
                .ok_or(Error::Domain(DomainError::NotFound(Entity::Role)))?;
            let after = update_role(&mut tx, id, patch, actor_id).await?;
            Ok::<_, Error>(audited(&mut tx, (before, after), audit).await?.1)
        }
        .await;
        self.finish(tx, result).await
    }
    async fn delete_role_audited(
        &self,
        id: RoleId,
        actor_id: Option<UserId>,
        audit: AuditHook<CustomRole>,
    ) -> Result<bool> {
        let mut tx = self.begin().await?;
        let result: Result<bool> = async {
            let before = role(tx.c(), id, true).await?;
            let deleted = delete_role(&mut tx, id, actor_id).await?;
            if let (true, Some(before)) = (deleted, before) {
                audited(&mut tx, before, audit).await?;
            }
            Ok::<_, Error>(deleted)
        }
        .await;
        self.finish(tx, result).await
    }
    async fn user_roles(&self, user_id: UserId) -> Result<Vec<CustomRole>> {
        let mut c = self.conn().await?;
        user_roles(&mut c, user_id).await
    }
    async fn set_user_roles_audited(
        &self,
        user_id: UserId,
        roles: UserRoles,
        actor_id: Option<UserId>,
        audit: AuditHook<(User, Vec<CustomRole>)>,
    ) -> Result<(User, Vec<CustomRole>)> {
        let mut tx = self.begin().await?;
        let result = match set_user_roles(&mut tx, user_id, roles, actor_id).await {
            Ok(r) => audited(&mut tx, r, audit).await,
            Err(e) => Err(e),
        };
        self.finish(tx, result).await
    }
    async fn expire_guests(&self, now: Millis, limit: u32) -> Result<Vec<UserId>> {
        let mut tx = self.begin().await?;
        let result = expire_guests(&mut tx, now, limit).await;
        self.finish(tx, result).await
    }
}
