//! Accounts on SQLite: users, bearer tokens and sessions, app passwords.

use async_trait::async_trait;
use enclave_core::{
    AppPasswordId, AppPasswordInfo, Entity, Error as DomainError, EventKind, Millis, NewEvent,
    TokenId, TokenInfo, User, UserId,
};
use rusqlite::{Connection, OptionalExtension, params};

use super::rows::{self, APP_PASSWORD_COLS, TOKEN_COLS, USER_COLS, prefixed};
use super::{SqliteStore, Tx, is_unique_violation};
use crate::common::{like_pattern, user_visibly_changed};
use crate::{AccountStore, Error, NewAppPassword, NewToken, NewUser, Result, UserPatch, UserQuery};

pub fn user(c: &Connection, id: UserId) -> Result<Option<User>> {
    let mut stmt = c.prepare_cached(&format!("SELECT {USER_COLS} FROM users WHERE id = ?1"))?;
    Ok(stmt.query_row([id.0], rows::user).optional()?)
}

pub fn create_user(tx: &mut Tx<'_>, new: NewUser) -> Result<User> {
    let r = tx
        .conn
        .prepare_cached(
            "INSERT INTO users (username, display_name, email, password_hash, is_admin, is_bot, active, created_at, updated_at,
                                is_guest, guest_expires_at, member_role)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, 1, ?7, ?7, ?8, ?9, ?10)",
        )?
        .execute(params![
            new.username,
            new.display_name,
            new.email,
            new.password_hash,
            new.is_admin && !new.is_guest,
            new.is_bot,
            tx.now.0,
            new.is_guest,
            new.guest_expires_at.map(|t| t.0),
            !new.is_guest
        ]);
    match r {
        Ok(_) => {}
        Err(e) if is_unique_violation(&e) => {
            let what = if e.to_string().contains("email") {
                "email is taken"
            } else {
                "username is taken"
            };
            return Err(Error::Domain(DomainError::Conflict(what)));
        }
        Err(e) => return Err(e.into()),
    }
    let id = UserId(tx.conn.last_insert_rowid());
    super::departments::write_search_keys(tx.conn, id, &new.display_name, &new.username)?;
    let mut ev = NewEvent::new(EventKind::UserCreated).user(id);
    ev.actor_id = new.actor_id;
    tx.event(ev)?;
    user(tx.conn, id)?.ok_or(Error::Domain(DomainError::NotFound(Entity::User)))
}

pub fn user_credentials(c: &Connection, login: &str) -> Result<Option<(User, Option<String>)>> {
    let mut stmt = c.prepare_cached(&format!(
        "SELECT {USER_COLS}, password_hash FROM users WHERE username = ?1 OR email = ?1 ORDER BY username = ?1 DESC LIMIT 1"
    ))?;
    Ok(stmt
        .query_row([login], |r| Ok((rows::user(r)?, r.get(rows::N_USER_COLS)?)))
        .optional()?)
}

pub fn users_by_usernames(c: &Connection, names: &[String]) -> Result<Vec<User>> {
    let mut stmt = c.prepare_cached(&format!(
        "SELECT {USER_COLS} FROM users WHERE username = ?1"
    ))?;
    let mut out = Vec::with_capacity(names.len());
    for n in names {
        if let Some(u) = stmt.query_row([n], rows::user).optional()? {
            out.push(u);
        }
    }
    Ok(out)
}

pub fn users_by_ids(c: &Connection, ids: &[UserId]) -> Result<Vec<User>> {
    let mut out = Vec::with_capacity(ids.len());
    for id in ids {
        if let Some(u) = user(c, *id)? {
            out.push(u);
        }
    }
    Ok(out)
}

pub fn list_users(c: &Connection, q: &UserQuery) -> Result<Vec<User>> {
    let mut stmt = c.prepare_cached(&format!(
        "SELECT {USER_COLS} FROM users
         WHERE (?1 OR active = 1)
           AND (?2 IS NULL OR username > ?2)
           AND (?3 IS NULL OR username LIKE ?3 ESCAPE '\\' OR display_name LIKE ?3 ESCAPE '\\')
         ORDER BY username LIMIT ?4"
    ))?;
    let pattern = q.text.as_deref().map(like_pattern);
    let rows = stmt.query_map(
        params![q.include_inactive, q.after_username, pattern, q.limit],
        rows::user,
    )?;
    Ok(rows.collect::<rusqlite::Result<_>>()?)
}

pub fn update_user(
    tx: &mut Tx<'_>,
    id: UserId,
    patch: UserPatch,
    actor_id: Option<UserId>,
) -> Result<User> {
    let before = user(tx.conn, id)?.ok_or(Error::Domain(DomainError::NotFound(Entity::User)))?;
    let c = tx.conn;
    if let Some(name) = &patch.display_name {
        c.execute(
            "UPDATE users SET display_name = ?2 WHERE id = ?1",
            params![id.0, name],
        )?;
        super::departments::write_search_keys(c, id, name, &before.username)?;
    }
    if let Some(email) = &patch.email {
        match c.execute(
            "UPDATE users SET email = ?2 WHERE id = ?1",
            params![id.0, email],
        ) {
            Ok(_) => {}
            Err(e) if is_unique_violation(&e) => {
                return Err(Error::Domain(DomainError::Conflict("email is taken")));
            }
            Err(e) => return Err(e.into()),
        }
    }
    if let Some(hash) = &patch.password_hash {
        c.execute(
            "UPDATE users SET password_hash = ?2 WHERE id = ?1",
            params![id.0, hash],
        )?;
    }
    if let Some(admin) = patch.is_admin {
        c.execute(
            "UPDATE users SET is_admin = ?2 WHERE id = ?1",
            params![id.0, admin],
        )?;
    }
    if let Some(active) = patch.active {
        c.execute(
            "UPDATE users SET active = ?2 WHERE id = ?1",
            params![id.0, active],
        )?;
        if !active {
            // Every token ends with deactivation, personal access tokens included: reactivation
            // does not bring any of them back.
            c.execute("DELETE FROM tokens WHERE user_id = ?1", [id.0])?;
            c.execute("DELETE FROM app_passwords WHERE user_id = ?1", [id.0])?;
            tx.event(NewEvent::new(EventKind::TokensRevoked).user(id))?;
        }
    }
    if let Some(status) = &patch.status_text {
        c.execute(
            "UPDATE users SET status_text = ?2 WHERE id = ?1",
            params![id.0, status],
        )?;
    }
    if let Some(member) = patch.member_role {
        c.execute(
            "UPDATE users SET member_role = ?2 WHERE id = ?1",
            params![id.0, member],
        )?;
    }
    if let Some(expires) = patch.guest_expires_at {
        c.execute(
            "UPDATE users SET guest_expires_at = ?2 WHERE id = ?1",
            params![id.0, expires.map(|t| t.0)],
        )?;
    }
    if let Some(dnd) = patch.dnd {
        c.execute(
            "UPDATE users SET dnd = ?2 WHERE id = ?1",
            params![id.0, dnd],
        )?;
    }
    c.execute(
        "UPDATE users SET updated_at = ?2 WHERE id = ?1",
        params![id.0, tx.now.0],
    )?;
    let after = user(c, id)?.ok_or(Error::Domain(DomainError::NotFound(Entity::User)))?;
    if user_visibly_changed(&before, &after) {
        let mut ev = NewEvent::new(EventKind::UserUpdated).user(id);
        ev.actor_id = actor_id;
        tx.event(ev)?;
    }
    Ok(after)
}

pub fn revoke_sessions(tx: &mut Tx<'_>, user_id: UserId, except: Option<TokenId>) -> Result<u64> {
    let n = tx.conn.execute(
        "DELETE FROM tokens WHERE user_id = ?1 AND kind = 'session' AND id IS NOT ?2",
        params![user_id.0, except.map(|t| t.0)],
    )?;
    if n > 0 {
        tx.event(NewEvent::new(EventKind::TokensRevoked).user(user_id))?;
    }
    Ok(n as u64)
}

pub fn revoke_token(tx: &mut Tx<'_>, user_id: UserId, id: TokenId) -> Result<bool> {
    let n = tx.conn.execute(
        "DELETE FROM tokens WHERE id = ?1 AND user_id = ?2",
        params![id.0, user_id.0],
    )?;
    if n > 0 {
        tx.event(
            NewEvent::new(EventKind::TokensRevoked)
                .user(user_id)
                .extra(id.0.to_string()),
        )?;
    }
    Ok(n > 0)
}

pub fn create_token(tx: &mut Tx<'_>, new: NewToken) -> Result<TokenInfo> {
    tx.conn
        .prepare_cached(
            "INSERT INTO tokens (user_id, kind, token_hash, name, created_at, expires_at, scope, client, ip)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)",
        )?
        .execute(params![
            new.user_id.0,
            new.kind.as_str(),
            &new.hash[..],
            new.name,
            tx.now.0,
            new.expires_at.map(|m| m.0),
            new.scope.as_str(),
            new.client,
            new.ip
        ])?;
    let id = tx.conn.last_insert_rowid();
    let mut stmt = tx
        .conn
        .prepare_cached(&format!("SELECT {TOKEN_COLS} FROM tokens WHERE id = ?1"))?;
    Ok(stmt.query_row([id], rows::token)?)
}

pub fn token_by_hash(
    c: &Connection,
    hash: &[u8; 32],
    now: Millis,
) -> Result<Option<(TokenInfo, User)>> {
    let cols = prefixed(TOKEN_COLS, "t");
    let ucols = prefixed(USER_COLS, "u");
    let mut stmt = c.prepare_cached(&format!(
        "SELECT {cols}, {ucols} FROM tokens t JOIN users u ON u.id = t.user_id
         WHERE t.token_hash = ?1 AND (t.expires_at IS NULL OR t.expires_at > ?2)"
    ))?;
    Ok(stmt
        .query_row(params![&hash[..], now.0], |r| {
            Ok((rows::token(r)?, rows::user_at(r, rows::N_TOKEN_COLS)?))
        })
        .optional()?)
}

pub fn list_tokens(c: &Connection, user_id: UserId) -> Result<Vec<TokenInfo>> {
    let mut stmt = c.prepare_cached(&format!(
        "SELECT {TOKEN_COLS} FROM tokens WHERE user_id = ?1 ORDER BY id"
    ))?;
    let rows = stmt.query_map([user_id.0], rows::token)?;
    Ok(rows.collect::<rusqlite::Result<_>>()?)
}

pub fn count_admins(c: &Connection) -> Result<i64> {
    Ok(c.query_row(
        "SELECT count(*) FROM users WHERE is_admin = 1 AND active = 1",
        [],
        |r| r.get(0),
    )?)
}

pub fn touch_token(tx: &mut Tx<'_>, id: TokenId, now: Millis) -> Result<()> {
    tx.conn.execute(
        "UPDATE tokens SET last_used_at = ?2 WHERE id = ?1",
        params![id.0, now.0],
    )?;
    Ok(())
}

pub fn token_valid(c: &Connection, id: TokenId, now: Millis) -> Result<bool> {
    let mut stmt = c.prepare_cached(
        "SELECT count(*) FROM tokens t JOIN users u ON u.id = t.user_id
         WHERE t.id = ?1 AND u.active = 1 AND (t.expires_at IS NULL OR t.expires_at > ?2)
           AND NOT (u.is_guest = 1 AND u.guest_expires_at IS NOT NULL AND u.guest_expires_at <= ?2)",
    )?;
    let n: i64 = stmt.query_row(params![id.0, now.0], |r| r.get(0))?;
    Ok(n > 0)
}

pub fn create_app_password(tx: &mut Tx<'_>, new: NewAppPassword) -> Result<AppPasswordInfo> {
    tx.conn
        .prepare_cached(
            "INSERT INTO app_passwords (user_id, name, hint, password_hash, created_at)
             VALUES (?1, ?2, ?3, ?4, ?5)",
        )?
        .execute(params![
            new.user_id.0,
            new.name,
            new.hint,
            new.password_hash,
            tx.now.0
        ])?;
    let id = tx.conn.last_insert_rowid();
    let mut stmt = tx.conn.prepare_cached(&format!(
        "SELECT {APP_PASSWORD_COLS} FROM app_passwords WHERE id = ?1"
    ))?;
    Ok(stmt.query_row([id], rows::app_password)?)
}

pub fn list_app_passwords(c: &Connection, user_id: UserId) -> Result<Vec<AppPasswordInfo>> {
    let mut stmt = c.prepare_cached(&format!(
        "SELECT {APP_PASSWORD_COLS} FROM app_passwords WHERE user_id = ?1 ORDER BY id"
    ))?;
    let rows = stmt.query_map([user_id.0], rows::app_password)?;
    Ok(rows.collect::<rusqlite::Result<_>>()?)
}

pub fn app_password_hashes(
    c: &Connection,
    user_id: UserId,
    hint: &str,
) -> Result<Vec<(AppPasswordId, String)>> {
    let mut stmt = c.prepare_cached(
        "SELECT id, password_hash FROM app_passwords WHERE user_id = ?1 AND hint = ?2 ORDER BY id",
    )?;
    let rows = stmt.query_map(params![user_id.0, hint], |r| {
        Ok((AppPasswordId(r.get(0)?), r.get(1)?))
    })?;
    Ok(rows.collect::<rusqlite::Result<_>>()?)
}

pub fn touch_app_password(tx: &mut Tx<'_>, id: AppPasswordId, now: Millis) -> Result<()> {
    tx.conn.execute(
        "UPDATE app_passwords SET last_used_at = ?2 WHERE id = ?1",
        params![id.0, now.0],
    )?;
    Ok(())
}

pub fn revoke_app_password(tx: &mut Tx<'_>, user_id: UserId, id: AppPasswordId) -> Result<bool> {
    let n = tx.conn.execute(
        "DELETE FROM app_passwords WHERE id = ?1 AND user_id = ?2",
        params![id.0, user_id.0],
    )?;
    if n > 0 {
        // Cached credentials of the account are forgotten on every node.
        tx.event(NewEvent::new(EventKind::TokensRevoked).user(user_id))?;
    }
    Ok(n > 0)
}

#[async_trait]
impl AccountStore for SqliteStore {
    async fn create_user_audited(
        &self,
        new: NewUser,
        audit: crate::AuditHook<User>,
    ) -> Result<User> {
        self.write(move |tx| {
            let u = create_user(tx, new)?;
            super::audit::audited(tx, u, audit)
        })
        .await
    }
    async fn user(&self, id: UserId) -> Result<Option<User>> {
        self.read(move |c| user(c, id)).await
    }
    async fn user_credentials(&self, login: &str) -> Result<Option<(User, Option<String>)>> {
        let login = login.to_lowercase();
        self.read(move |c| user_credentials(c, &login)).await
    }
    async fn users_by_usernames(&self, usernames: &[String]) -> Result<Vec<User>> {
        let names = usernames.to_vec();
        self.read(move |c| users_by_usernames(c, &names)).await
    }
    async fn users_by_ids(&self, ids: &[UserId]) -> Result<Vec<User>> {
        let ids = ids.to_vec();
        self.read(move |c| users_by_ids(c, &ids)).await
    }
    async fn list_users(&self, query: UserQuery) -> Result<Vec<User>> {
        self.read(move |c| list_users(c, &query)).await
    }
    async fn update_user_audited(
        &self,
        id: UserId,
        patch: UserPatch,
        actor_id: Option<UserId>,
        audit: crate::AuditHook<User>,
    ) -> Result<User> {
        self.write(move |tx| {
            let u = update_user(tx, id, patch, actor_id)?;
            super::audit::audited(tx, u, audit)
        })
        .await
    }
    async fn count_admins(&self) -> Result<i64> {
        self.read(count_admins).await
    }
    async fn create_token(&self, new: NewToken) -> Result<TokenInfo> {
        self.write(move |tx| create_token(tx, new)).await
    }
    async fn token_by_hash(
        &self,
        hash: [u8; 32],
        now: Millis,
    ) -> Result<Option<(TokenInfo, User)>> {
        self.read(move |c| token_by_hash(c, &hash, now)).await
    }
    async fn touch_token(&self, id: TokenId, now: Millis) -> Result<()> {
        self.write(move |tx| touch_token(tx, id, now)).await
    }
    async fn list_tokens(&self, user_id: UserId) -> Result<Vec<TokenInfo>> {
        self.read(move |c| list_tokens(c, user_id)).await
    }
    async fn revoke_token(&self, user_id: UserId, id: TokenId) -> Result<bool> {
        self.write(move |tx| revoke_token(tx, user_id, id)).await
    }
    async fn revoke_sessions(&self, user_id: UserId, except: Option<TokenId>) -> Result<u64> {
        self.write(move |tx| revoke_sessions(tx, user_id, except))
            .await
    }
    async fn token_valid(&self, id: TokenId, now: Millis) -> Result<bool> {
        self.read(move |c| token_valid(c, id, now)).await
    }
    async fn create_app_password(&self, new: NewAppPassword) -> Result<AppPasswordInfo> {
        self.write(move |tx| create_app_password(tx, new)).await
    }
    async fn list_app_passwords(&self, user_id: UserId) -> Result<Vec<AppPasswordInfo>> {
        self.read(move |c| list_app_passwords(c, user_id)).await
    }
    async fn app_password_hashes(
        &self,
        user_id: UserId,
        hint: &str,
    ) -> Result<Vec<(AppPasswordId, String)>> {
        let hint = hint.to_owned();
        self.read(move |c| app_password_hashes(c, user_id, &hint))
            .await
    }
    async fn touch_app_password(&self, id: AppPasswordId, now: Millis) -> Result<()> {
        self.write(move |tx| touch_app_password(tx, id, now)).await
    }
    async fn revoke_app_password(&self, user_id: UserId, id: AppPasswordId) -> Result<bool> {
        self.write(move |tx| revoke_app_password(tx, user_id, id))
            .await
    }
}
