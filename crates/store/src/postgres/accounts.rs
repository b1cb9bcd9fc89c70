//! Accounts on PostgreSQL: users, bearer tokens and sessions, app passwords.

use async_trait::async_trait;
use enclave_core::{
    AppPasswordId, AppPasswordInfo, Entity, Error as DomainError, EventKind, Millis, NewEvent,
    TokenId, TokenInfo, User, UserId,
};
use sqlx_core::row::Row;
use sqlx_postgres::PgConnection;

use super::rows::{self, N_TOKEN_COLS, N_USER_COLS, all, one, token_cols, user_cols};
use super::{PgStore, Tx, limit, q, unique_violation};
use crate::common::{like_pattern, user_visibly_changed};
use crate::{AccountStore, Error, NewAppPassword, NewToken, NewUser, Result, UserPatch, UserQuery};

pub async fn user(c: &mut PgConnection, id: UserId) -> Result<Option<User>> {
    let row = q(concat!(
        "SELECT ",
        user_cols!(),
        " FROM users WHERE id = $1"
    ))
    .bind(id.0)
    .fetch_optional(&mut *c)
    .await?;
    one(row, rows::user)
}

pub async fn create_user(tx: &mut Tx, new: NewUser) -> Result<User> {
    let now = tx.now;
    let r = q(concat!(
        "INSERT INTO users (username, display_name, email, password_hash, is_admin, is_bot, active, created_at, updated_at,
                            is_guest, guest_expires_at, member_role)
         VALUES ($1, $2, $3, $4, $5, $6, true, $7, $7, $8, $9, $10) RETURNING ",
        user_cols!()
    ))
    .bind(new.username)
    .bind(new.display_name)
    .bind(new.email)
    .bind(new.password_hash)
    .bind(new.is_admin && !new.is_guest)
    .bind(new.is_bot)
    .bind(now.0)
    .bind(new.is_guest)
    .bind(new.guest_expires_at.map(|t| t.0))
    .bind(!new.is_guest)
    .fetch_one(tx.c())
    .await;
    let row = match r {
        Ok(row) => row,
        Err(e) => {
            return Err(match unique_violation(&e) {
                Some(c) if c.contains("email") => {
                    Error::Domain(DomainError::Conflict("email is taken"))
                }
                Some(_) => Error::Domain(DomainError::Conflict("username is taken")),
                None => e.into(),
            });
        }
    };
    let created = rows::user(&row)?;
    super::departments::write_search_keys(
        tx.c(),
        created.id,
        &created.display_name,
        &created.username,
    )
    .await?;
    let mut ev = NewEvent::new(EventKind::UserCreated).user(created.id);
    ev.actor_id = new.actor_id;
    tx.event(ev);
    Ok(created)
}

pub async fn user_credentials(
    c: &mut PgConnection,
    login: &str,
) -> Result<Option<(User, Option<String>)>> {
    let row = q(concat!(
        "SELECT ",
        user_cols!(),
        ", password_hash FROM users WHERE username = $1 OR email = $1
         ORDER BY username = $1 DESC LIMIT 1"
    ))
    .bind(login.to_owned())
    .fetch_optional(&mut *c)
    .await?;
    one(row, |r| Ok((rows::user(r)?, r.try_get(N_USER_COLS)?)))
}

pub async fn users_by_usernames(c: &mut PgConnection, names: &[String]) -> Result<Vec<User>> {
    // In the order asked, unknown names skipped (as the SQLite backend answers).
    let rows = q(concat!(
        "SELECT ",
        user_cols!("u"),
        " FROM unnest($1::text[]) WITH ORDINALITY AS n(name, ord)
         JOIN users u ON u.username = n.name ORDER BY n.ord"
    ))
    .bind(names.to_vec())
    .fetch_all(&mut *c)
    .await?;
    all(rows, rows::user)
}

pub async fn users_by_ids(c: &mut PgConnection, ids: &[UserId]) -> Result<Vec<User>> {
    let rows = q(concat!(
        "SELECT ",
        user_cols!("u"),
        " FROM unnest($1::int8[]) WITH ORDINALITY AS n(id, ord)
         JOIN users u ON u.id = n.id ORDER BY n.ord"
    ))
    .bind(ids.iter().map(|u| u.0).collect::<Vec<_>>())
    .fetch_all(&mut *c)
    .await?;
    all(rows, rows::user)
}

pub async fn list_users(c: &mut PgConnection, q_: &UserQuery) -> Result<Vec<User>> {
    let rows = q(concat!(
        "SELECT ",
        user_cols!(),
        " FROM users
         WHERE ($1 OR active)
           AND ($2::text IS NULL OR username > $2)
           AND ($3::text IS NULL OR username ILIKE $3 OR display_name ILIKE $3)
         ORDER BY username LIMIT $4"
    ))
    .bind(q_.include_inactive)
    .bind(q_.after_username.clone())
    .bind(q_.text.as_deref().map(like_pattern))
    .bind(limit(q_.limit))
    .fetch_all(&mut *c)
    .await?;
    all(rows, rows::user)
}

pub async fn count_admins(c: &mut PgConnection) -> Result<i64> {
    let row = q("SELECT count(*) FROM users WHERE is_admin AND active")
        .fetch_one(&mut *c)
        .await?;
    Ok(row.try_get(0)?)
}

pub async fn update_user(
    tx: &mut Tx,
    id: UserId,
    patch: UserPatch,
    actor_id: Option<UserId>,
) -> Result<User> {
    let now = tx.now;
    let row = q(concat!(
        "SELECT ",
        user_cols!(),
        " FROM users WHERE id = $1 FOR NO KEY UPDATE"
    ))
    .bind(id.0)
    .fetch_optional(tx.c())
    .await?;
    let before = one(row, rows::user)?.ok_or(Error::Domain(DomainError::NotFound(Entity::User)))?;
    let r = q(concat!(
        "UPDATE users SET
            display_name = coalesce($2, display_name),
            email = CASE WHEN $3 THEN $4 ELSE email END,
            password_hash = coalesce($5, password_hash),
            is_admin = coalesce($6, is_admin),
            active = coalesce($7, active),
            status_text = coalesce($8, status_text),
            dnd = coalesce($9, dnd),
            updated_at = $10,
            member_role = coalesce($11, member_role),
            guest_expires_at = CASE WHEN $12 THEN $13 ELSE guest_expires_at END
         WHERE id = $1 RETURNING ",
        user_cols!()
    ))
    .bind(id.0)
    .bind(patch.display_name)
    .bind(patch.email.is_some())
    .bind(patch.email.clone().flatten())
    .bind(patch.password_hash)
    .bind(patch.is_admin)
    .bind(patch.active)
    .bind(patch.status_text)
    .bind(patch.dnd)
    .bind(now.0)
    .bind(patch.member_role)
    .bind(patch.guest_expires_at.is_some())
    .bind(patch.guest_expires_at.flatten().map(|t| t.0))
    .fetch_one(tx.c())
    .await;
    let after = match r {
        Ok(row) => rows::user(&row)?,
        Err(e) if unique_violation(&e).is_some() => {
            return Err(Error::Domain(DomainError::Conflict("email is taken")));
        }
        Err(e) => return Err(e.into()),
    };
    if after.display_name != before.display_name {
        super::departments::write_search_keys(tx.c(), id, &after.display_name, &after.username)
            .await?;
    }
    if patch.active == Some(false) {
        // Every token ends with deactivation, personal access tokens included: reactivation
        // does not bring any of them back.
        q("DELETE FROM tokens WHERE user_id = $1")
            .bind(id.0)
            .execute(tx.c())
            .await?;
        q("DELETE FROM app_passwords WHERE user_id = $1")
            .bind(id.0)
            .execute(tx.c())
            .await?;
        tx.event(NewEvent::new(EventKind::TokensRevoked).user(id));
    }
    if user_visibly_changed(&before, &after) {
        let mut ev = NewEvent::new(EventKind::UserUpdated).user(id);
        ev.actor_id = actor_id;
        tx.event(ev);
    }
    Ok(after)
}

pub async fn revoke_sessions(tx: &mut Tx, user_id: UserId, except: Option<TokenId>) -> Result<u64> {
    let n =
        q("DELETE FROM tokens WHERE user_id = $1 AND kind = 'session' AND id IS DISTINCT FROM $2")
            .bind(user_id.0)
            .bind(except.map(|t| t.0))
            .execute(tx.c())
            .await?
            .rows_affected();
    if n > 0 {
        tx.event(NewEvent::new(EventKind::TokensRevoked).user(user_id));
    }
    Ok(n)
}

pub async fn revoke_token(tx: &mut Tx, user_id: UserId, id: TokenId) -> Result<bool> {
    let n = q("DELETE FROM tokens WHERE id = $1 AND user_id = $2")
        .bind(id.0)
        .bind(user_id.0)
        .execute(tx.c())
        .await?
        .rows_affected();
    if n > 0 {
        tx.event(
            NewEvent::new(EventKind::TokensRevoked)
                .user(user_id)
                .extra(id.0.to_string()),
        );
    }
    Ok(n > 0)
}

pub async fn create_token(tx: &mut Tx, new: NewToken) -> Result<TokenInfo> {
    let now = tx.now;
    let row = q(concat!(
        "INSERT INTO tokens (user_id, kind, token_hash, name, created_at, expires_at, scope, client, ip)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9) RETURNING ",
        token_cols!()
    ))
    .bind(new.user_id.0)
    .bind(new.kind.as_str())
    .bind(new.hash.to_vec())
    .bind(new.name)
    .bind(now.0)
    .bind(new.expires_at.map(|m| m.0))
    .bind(new.scope.as_str())
    .bind(new.client)
    .bind(new.ip)
    .fetch_one(tx.c())
    .await?;
    Ok(rows::token(&row)?)
}

pub async fn touch_token(tx: &mut Tx, id: TokenId, now: Millis) -> Result<()> {
    q("UPDATE tokens SET last_used_at = $2 WHERE id = $1")
        .bind(id.0)
        .bind(now.0)
        .execute(tx.c())
        .await?;
    Ok(())
}

pub async fn token_by_hash(
    c: &mut PgConnection,
    hash: &[u8; 32],
    now: Millis,
) -> Result<Option<(TokenInfo, User)>> {
    let row = q(concat!(
        "SELECT ",
        token_cols!("t"),
        ", ",
        user_cols!("u"),
        " FROM tokens t JOIN users u ON u.id = t.user_id
         WHERE t.token_hash = $1 AND (t.expires_at IS NULL OR t.expires_at > $2)"
    ))
    .bind(hash.to_vec())
    .bind(now.0)
    .fetch_optional(&mut *c)
    .await?;
    one(row, |r| {
        Ok((rows::token(r)?, rows::user_at(r, N_TOKEN_COLS)?))
    })
}

pub async fn list_tokens(c: &mut PgConnection, user_id: UserId) -> Result<Vec<TokenInfo>> {
    let rows = q(concat!(
        "SELECT ",
        token_cols!(),
        " FROM tokens WHERE user_id = $1 ORDER BY id"
    ))
    .bind(user_id.0)
    .fetch_all(&mut *c)
    .await?;
    all(rows, rows::token)
}

pub async fn token_valid(c: &mut PgConnection, id: TokenId, now: Millis) -> Result<bool> {
    let row = q(
        "SELECT EXISTS (SELECT 1 FROM tokens t JOIN users u ON u.id = t.user_id
                  WHERE t.id = $1 AND u.active AND (t.expires_at IS NULL OR t.expires_at > $2)
                    AND NOT (u.is_guest AND u.guest_expires_at IS NOT NULL AND u.guest_expires_at <= $2))",
    )
    .bind(id.0)
    .bind(now.0)
    .fetch_one(&mut *c)
    .await?;
    Ok(row.try_get(0)?)
}

pub async fn create_app_password(tx: &mut Tx, new: NewAppPassword) -> Result<AppPasswordInfo> {
    let now = tx.now;
    let row = q(
        "INSERT INTO app_passwords (user_id, name, hint, password_hash, created_at)
         VALUES ($1, $2, $3, $4, $5) RETURNING id, user_id, name, hint, created_at, last_used_at",
    )
    .bind(new.user_id.0)
    .bind(new.name)
    .bind(new.hint)
    .bind(new.password_hash)
    .bind(now.0)
    .fetch_one(tx.c())
    .await?;
    Ok(rows::app_password(&row)?)
}

pub async fn list_app_passwords(
    c: &mut PgConnection,
    user_id: UserId,
) -> Result<Vec<AppPasswordInfo>> {
    let rows = q(
        "SELECT id, user_id, name, hint, created_at, last_used_at FROM app_passwords
         WHERE user_id = $1 ORDER BY id",
    )
    .bind(user_id.0)
    .fetch_all(&mut *c)
    .await?;
    all(rows, rows::app_password)
}

pub async fn app_password_hashes(
    c: &mut PgConnection,
    user_id: UserId,
    hint: &str,
) -> Result<Vec<(AppPasswordId, String)>> {
    let rows = q(
        "SELECT id, password_hash FROM app_passwords WHERE user_id = $1 AND hint = $2 ORDER BY id",
    )
    .bind(user_id.0)
    .bind(hint)
    .fetch_all(&mut *c)
    .await?;
    let mut out = Vec::with_capacity(rows.len());
    for r in &rows {
        out.push((AppPasswordId(r.try_get(0)?), r.try_get(1)?));
    }
    Ok(out)
}

pub async fn touch_app_password(tx: &mut Tx, id: AppPasswordId, now: Millis) -> Result<()> {
    q("UPDATE app_passwords SET last_used_at = $2 WHERE id = $1")
        .bind(id.0)
        .bind(now.0)
        .execute(tx.c())
        .await?;
    Ok(())
}

pub async fn revoke_app_password(tx: &mut Tx, user_id: UserId, id: AppPasswordId) -> Result<bool> {
    let n = q("DELETE FROM app_passwords WHERE id = $1 AND user_id = $2")
        .bind(id.0)
        .bind(user_id.0)
        .execute(tx.c())
        .await?
        .rows_affected();
    if n > 0 {
        // Cached credentials of the account are forgotten on every node.
        tx.event(NewEvent::new(EventKind::TokensRevoked).user(user_id));
    }
    Ok(n > 0)
}

#[async_trait]
impl AccountStore for PgStore {
    async fn create_user_audited(
        &self,
        new: NewUser,
        audit: crate::AuditHook<User>,
    ) -> Result<User> {
        let mut tx = self.begin().await?;
        let result = match create_user(&mut tx, new).await {
            Ok(u) => super::audit::audited(&mut tx, u, audit).await,
            Err(e) => Err(e),
        };
        self.finish(tx, result).await
    }
    async fn user(&self, id: UserId) -> Result<Option<User>> {
        let mut c = self.conn().await?;
        user(&mut c, id).await
    }
    async fn user_credentials(&self, login: &str) -> Result<Option<(User, Option<String>)>> {
        let login = login.to_lowercase();
        let mut c = self.conn().await?;
        user_credentials(&mut c, &login).await
    }
    async fn users_by_usernames(&self, usernames: &[String]) -> Result<Vec<User>> {
        let mut c = self.conn().await?;
        users_by_usernames(&mut c, usernames).await
    }
    async fn users_by_ids(&self, ids: &[UserId]) -> Result<Vec<User>> {
        let mut c = self.feed_conn().await?;
        users_by_ids(&mut c, ids).await
    }
    async fn list_users(&self, query: UserQuery) -> Result<Vec<User>> {
        let mut c = self.conn().await?;
        list_users(&mut c, &query).await
    }
    async fn update_user_audited(
        &self,
        id: UserId,
        patch: UserPatch,
        actor_id: Option<UserId>,
        audit: crate::AuditHook<User>,
    ) -> Result<User> {
        let mut tx = self.begin().await?;
        let result = match update_user(&mut tx, id, patch, actor_id).await {
            Ok(u) => super::audit::audited(&mut tx, u, audit).await,
            Err(e) => Err(e),
        };
        self.finish(tx, result).await
    }
    async fn count_admins(&self) -> Result<i64> {
        let mut c = self.conn().await?;
        count_admins(&mut c).await
    }
    async fn create_token(&self, new: NewToken) -> Result<TokenInfo> {
        let mut tx = self.begin().await?;
        let result = create_token(&mut tx, new).await;
        self.finish(tx, result).await
    }
    async fn token_by_hash(
        &self,
        hash: [u8; 32],
        now: Millis,
    ) -> Result<Option<(TokenInfo, User)>> {
        let mut c = self.conn().await?;
        token_by_hash(&mut c, &hash, now).await
    }
    async fn touch_token(&self, id: TokenId, now: Millis) -> Result<()> {
        let mut tx = self.begin().await?;
        let result = touch_token(&mut tx, id, now).await;
        self.finish(tx, result).await
    }
    async fn list_tokens(&self, user_id: UserId) -> Result<Vec<TokenInfo>> {
        let mut c = self.conn().await?;
        list_tokens(&mut c, user_id).await
    }
    async fn revoke_token(&self, user_id: UserId, id: TokenId) -> Result<bool> {
        let mut tx = self.begin().await?;
        let result = revoke_token(&mut tx, user_id, id).await;
        self.finish(tx, result).await
    }
    async fn revoke_sessions(&self, user_id: UserId, except: Option<TokenId>) -> Result<u64> {
        let mut tx = self.begin().await?;
        let result = revoke_sessions(&mut tx, user_id, except).await;
        self.finish(tx, result).await
    }
    async fn token_valid(&self, id: TokenId, now: Millis) -> Result<bool> {
        let mut c = self.conn().await?;
        token_valid(&mut c, id, now).await
    }
    async fn create_app_password(&self, new: NewAppPassword) -> Result<AppPasswordInfo> {
        let mut tx = self.begin().await?;
        let result = create_app_password(&mut tx, new).await;
        self.finish(tx, result).await
    }
    async fn list_app_passwords(&self, user_id: UserId) -> Result<Vec<AppPasswordInfo>> {
        let mut c = self.conn().await?;
        list_app_passwords(&mut c, user_id).await
    }
    async fn app_password_hashes(
        &self,
        user_id: UserId,
        hint: &str,
    ) -> Result<Vec<(AppPasswordId, String)>> {
        let mut c = self.conn().await?;
        app_password_hashes(&mut c, user_id, hint).await
    }
    async fn touch_app_password(&self, id: AppPasswordId, now: Millis) -> Result<()> {
        let mut tx = self.begin().await?;
        let result = touch_app_password(&mut tx, id, now).await;
        self.finish(tx, result).await
    }
    async fn revoke_app_password(&self, user_id: UserId, id: AppPasswordId) -> Result<bool> {
        let mut tx = self.begin().await?;
        let result = revoke_app_password(&mut tx, user_id, id).await;
        self.finish(tx, result).await
    }
}
