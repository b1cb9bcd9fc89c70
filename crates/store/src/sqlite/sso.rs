//! Single sign-on on SQLite (`external_identities`, `sso_pending`; schema version 13).

use async_trait::async_trait;
use enclave_core::{Millis, UserId};
use rusqlite::{OptionalExtension, Row, params};

use super::SqliteStore;
use crate::{ExternalIdentity, Result, SsoPending, SsoPendingKind, SsoStore};

fn identity(r: &Row<'_>) -> rusqlite::Result<ExternalIdentity> {
    Ok(ExternalIdentity {
        provider: r.get(0)?,
        subject: r.get(1)?,
        user_id: UserId(r.get(2)?),
        email: r.get(3)?,
        created_at: Millis(r.get(4)?),
        last_login_at: Millis(r.get(5)?),
    })
}

#[async_trait]
impl SsoStore for SqliteStore {
    async fn sso_put_pending(&self, p: SsoPending) -> Result<()> {
        self.write(move |tx| {
            tx.conn
                .prepare_cached("DELETE FROM sso_pending WHERE expires_at < ?1")?
                .execute([p.created_at.0])?;
            tx.conn
                .prepare_cached(
                    "INSERT INTO sso_pending (key_hash, kind, provider, nonce, pkce_verifier,
                         browser_hash, user_id, subject, created_at, expires_at)
                     VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10)",
                )?
                .execute(params![
                    p.key_hash,
                    p.kind.as_str(),
                    p.provider,
                    p.nonce,
                    p.pkce_verifier,
                    p.browser_hash,
                    p.user_id.map(|u| u.0),
                    p.subject,
                    p.created_at.0,
                    p.expires_at.0
                ])?;
            Ok(())
        })
        .await
    }

    async fn sso_take_pending(
        &self,
        key_hash: &str,
        kind: SsoPendingKind,
    ) -> Result<Option<SsoPending>> {
        let key_hash = key_hash.to_owned();
        self.write(move |tx| {
            Ok(tx
                .conn
                .prepare_cached(
                    "DELETE FROM sso_pending WHERE key_hash = ?1 AND kind = ?2
                     RETURNING key_hash, provider, nonce, pkce_verifier, browser_hash, user_id,
                               subject, created_at, expires_at",
                )?
                .query_row(params![key_hash, kind.as_str()], |r| {
                    Ok(SsoPending {
                        key_hash: r.get(0)?,
                        kind,
                        provider: r.get(1)?,
                        nonce: r.get(2)?,
                        pkce_verifier: r.get(3)?,
                        browser_hash: r.get(4)?,
                        user_id: r.get::<_, Option<i64>>(5)?.map(UserId),
                        subject: r.get(6)?,
                        created_at: Millis(r.get(7)?),
                        expires_at: Millis(r.get(8)?),
                    })
                })
                .optional()?)
        })
        .await
    }

    async fn external_identity(
        &self,
        provider: &str,
        subject: &str,
    ) -> Result<Option<ExternalIdentity>> {
        let (provider, subject) = (provider.to_owned(), subject.to_owned());
        self.read(move |c| {
            Ok(c.prepare_cached(
                "SELECT provider, subject, user_id, email, created_at, last_login_at
                 FROM external_identities WHERE provider = ?1 AND subject = ?2",
            )?
            .query_row(params![provider, subject], identity)
            .optional()?)
        })
        .await
    }

    async fn link_external_identity(&self, i: ExternalIdentity) -> Result<bool> {
        self.write(move |tx| {
            let n = tx
                .conn
                .prepare_cached(
                    "INSERT INTO external_identities
                         (provider, subject, user_id, email, created_at, last_login_at)
                     VALUES (?1, ?2, ?3, ?4, ?5, ?6)
                     ON CONFLICT (provider, subject) DO NOTHING",
                )?
                .execute(params![
                    i.provider,
                    i.subject,
                    i.user_id.0,
                    i.email,
                    i.created_at.0,
                    i.last_login_at.0
                ])?;
            Ok(n == 1)
        })
        .await
    }

    async fn touch_external_identity(
        &self,
        provider: &str,
        subject: &str,
        email: Option<&str>,
        at: Millis,
    ) -> Result<()> {
        let (provider, subject) = (provider.to_owned(), subject.to_owned());
        let email = email.map(str::to_owned);
        self.write(move |tx| {
            tx.conn
                .prepare_cached(
                    "UPDATE external_identities SET last_login_at = ?3, email = coalesce(?4, email)
                     WHERE provider = ?1 AND subject = ?2",
                )?
                .execute(params![provider, subject, at.0, email])?;
            Ok(())
        })
        .await
    }

    async fn external_identity_counts(&self) -> Result<Vec<(String, u64)>> {
        self.read(|c| {
            let mut stmt = c.prepare_cached(
                "SELECT provider, count(DISTINCT user_id) FROM external_identities
                 GROUP BY provider ORDER BY provider",
            )?;
            let rows = stmt.query_map([], |r| {
                Ok((r.get::<_, String>(0)?, r.get::<_, i64>(1)?.max(0) as u64))
            })?;
            Ok(rows.collect::<rusqlite::Result<Vec<_>>>()?)
        })
        .await
    }
}
