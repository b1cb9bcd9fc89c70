//! Single sign-on on PostgreSQL (`external_identities`, `sso_pending`; migration 0012). Each
//! write is one statement; a pending row is taken with `DELETE … RETURNING`, so two nodes
//! finishing the same sign-in cannot both get it.

use async_trait::async_trait;
use enclave_core::{Millis, UserId};
use sqlx_core::row::Row;
use sqlx_postgres::PgRow;

use super::{PgStore, q};
use crate::{ExternalIdentity, Result, SsoPending, SsoPendingKind, SsoStore};

fn identity(r: &PgRow) -> Result<ExternalIdentity> {
    Ok(ExternalIdentity {
        provider: r.try_get(0)?,
        subject: r.try_get(1)?,
        user_id: UserId(r.try_get(2)?),
        email: r.try_get(3)?,
        created_at: Millis(r.try_get(4)?),
        last_login_at: Millis(r.try_get(5)?),
    })
}

#[async_trait]
impl SsoStore for PgStore {
    async fn sso_put_pending(&self, p: SsoPending) -> Result<()> {
        let mut c = self.conn().await?;
        q("DELETE FROM sso_pending WHERE expires_at < $1")
            .bind(p.created_at.0)
            .execute(&mut *c)
            .await?;
        q(
            "INSERT INTO sso_pending (key_hash, kind, provider, nonce, pkce_verifier,
               browser_hash, user_id, subject, created_at, expires_at)
           VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)",
        )
        .bind(p.key_hash)
        .bind(p.kind.as_str())
        .bind(p.provider)
        .bind(p.nonce)
        .bind(p.pkce_verifier)
        .bind(p.browser_hash)
        .bind(p.user_id.map(|u| u.0))
        .bind(p.subject)
        .bind(p.created_at.0)
        .bind(p.expires_at.0)
        .execute(&mut *c)
        .await?;
        Ok(())
    }

    async fn sso_take_pending(
        &self,
        key_hash: &str,
        kind: SsoPendingKind,
    ) -> Result<Option<SsoPending>> {
        let mut c = self.conn().await?;
        let row = q("DELETE FROM sso_pending WHERE key_hash = $1 AND kind = $2
                     RETURNING key_hash, provider, nonce, pkce_verifier, browser_hash, user_id,
                               subject, created_at, expires_at")
        .bind(key_hash.to_owned())
        .bind(kind.as_str())
        .fetch_optional(&mut *c)
        .await?;
        let Some(r) = row else { return Ok(None) };
        Ok(Some(SsoPending {
            key_hash: r.try_get(0)?,
            kind,
            provider: r.try_get(1)?,
            nonce: r.try_get(2)?,
            pkce_verifier: r.try_get(3)?,
            browser_hash: r.try_get(4)?,
            user_id: r.try_get::<Option<i64>, _>(5)?.map(UserId),
            subject: r.try_get(6)?,
            created_at: Millis(r.try_get(7)?),
            expires_at: Millis(r.try_get(8)?),
        }))
    }

    async fn external_identity(
        &self,
        provider: &str,
        subject: &str,
    ) -> Result<Option<ExternalIdentity>> {
        let mut c = self.conn().await?;
        let row = q(
            "SELECT provider, subject, user_id, email, created_at, last_login_at
                     FROM external_identities WHERE provider = $1 AND subject = $2",
        )
        .bind(provider.to_owned())
        .bind(subject.to_owned())
        .fetch_optional(&mut *c)
        .await?;
        row.as_ref().map(identity).transpose()
    }

    async fn link_external_identity(&self, i: ExternalIdentity) -> Result<bool> {
        let mut c = self.conn().await?;
        let n = q("INSERT INTO external_identities
                       (provider, subject, user_id, email, created_at, last_login_at)
                   VALUES ($1, $2, $3, $4, $5, $6)
                   ON CONFLICT (provider, subject) DO NOTHING")
        .bind(i.provider)
        .bind(i.subject)
        .bind(i.user_id.0)
        .bind(i.email)
        .bind(i.created_at.0)
        .bind(i.last_login_at.0)
        .execute(&mut *c)
        .await?
        .rows_affected();
        Ok(n == 1)
    }

    async fn touch_external_identity(
        &self,
        provider: &str,
        subject: &str,
        email: Option<&str>,
        at: Millis,
    ) -> Result<()> {
        let mut c = self.conn().await?;
        q(
            "UPDATE external_identities SET last_login_at = $3, email = coalesce($4, email)
           WHERE provider = $1 AND subject = $2",
        )
        .bind(provider.to_owned())
        .bind(subject.to_owned())
        .bind(at.0)
        .bind(email.map(str::to_owned))
        .execute(&mut *c)
        .await?;
        Ok(())
    }

    async fn external_identity_counts(&self) -> Result<Vec<(String, u64)>> {
        let mut c = self.conn().await?;
        let rows = q(
            "SELECT provider, count(DISTINCT user_id) FROM external_identities
                      GROUP BY provider ORDER BY provider COLLATE \"C\"",
        )
        .fetch_all(&mut *c)
        .await?;
        let mut out = Vec::with_capacity(rows.len());
        for r in rows {
            let n: i64 = r.try_get(1)?;
            out.push((r.try_get(0)?, n.max(0) as u64));
        }
        Ok(out)
    }
}
