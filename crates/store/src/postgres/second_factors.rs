//! Second factors on PostgreSQL (migration 0010): TOTP enrolments, recovery codes, sign-in
//! challenges and the site policy. Each compare-and-set is one conditional `UPDATE`, so the
//! nodes of a cluster never accept the same code or challenge twice.

use async_trait::async_trait;
use enclave_core::signin::Policy;
use enclave_core::{Millis, UserId};
use sqlx_core::row::Row;
use sqlx_postgres::PgRow;

use super::{PgStore, Tx, q};
use crate::{
    Error, Result, SecondFactorEnrolment, SecondFactorStore, SignInChallenge, TotpEnrolment,
    WebAuthnCeremonyState, WebAuthnKey,
};
use enclave_core::Error as DomainError;

fn key_row(r: &PgRow) -> Result<WebAuthnKey> {
    Ok(WebAuthnKey {
        id: r.try_get(0)?,
        user_id: UserId(r.try_get(1)?),
        name: r.try_get(2)?,
        credential_id: r.try_get(3)?,
        credential: r.try_get(4)?,
        created_at: Millis(r.try_get(5)?),
        last_used_at: r.try_get::<Option<i64>, _>(6)?.map(Millis),
    })
}

fn ceremony_row(r: &PgRow) -> Result<WebAuthnCeremonyState> {
    Ok(WebAuthnCeremonyState {
        id: r.try_get(0)?,
        user_id: UserId(r.try_get(1)?),
        kind: r.try_get(2)?,
        state: r.try_get(3)?,
        expires_at: Millis(r.try_get(4)?),
    })
}

async fn insert_codes(tx: &mut Tx, user_id: UserId, hashes: &[[u8; 32]]) -> Result<()> {
    let now = tx.now;
    q("DELETE FROM second_factor_recovery WHERE user_id = $1")
        .bind(user_id.0)
        .execute(tx.c())
        .await?;
    for h in hashes {
        q(
            "INSERT INTO second_factor_recovery (user_id, code_hash, used_at, created_at)
           VALUES ($1, $2, NULL, $3)",
        )
        .bind(user_id.0)
        .bind(h.to_vec())
        .bind(now.0)
        .execute(tx.c())
        .await?;
    }
    Ok(())
}

#[async_trait]
impl SecondFactorStore for PgStore {
    async fn totp(&self, user_id: UserId) -> Result<Option<TotpEnrolment>> {
        let mut c = self.conn().await?;
        let row =
            q("SELECT secret, confirmed_at, last_step FROM second_factor_totp WHERE user_id = $1")
                .bind(user_id.0)
                .fetch_optional(&mut *c)
                .await?;
        row.map(|r| {
            Ok(TotpEnrolment {
                secret: r.try_get(0)?,
                confirmed_at: r.try_get::<Option<i64>, _>(1)?.map(Millis),
                last_step: r.try_get(2)?,
            })
        })
        .transpose()
    }

    async fn totp_begin(&self, user_id: UserId, secret: Vec<u8>) -> Result<bool> {
        let mut c = self.conn().await?;
        let n = q(
            "INSERT INTO second_factor_totp (user_id, secret, confirmed_at, last_step, created_at)
             VALUES ($1, $2, NULL, NULL, $3)
             ON CONFLICT (user_id) DO UPDATE SET secret = $2, created_at = $3
             WHERE second_factor_totp.confirmed_at IS NULL",
        )
        .bind(user_id.0)
        .bind(secret)
        .bind(Millis::now().0)
        .execute(&mut *c)
        .await?
        .rows_affected();
        Ok(n == 1)
    }

    async fn totp_confirm(
        &self,
        user_id: UserId,
        step: i64,
        recovery: Vec<[u8; 32]>,
    ) -> Result<bool> {
        let mut tx = self.begin().await?;
        let result: Result<bool> = async {
            let n = q(
                "UPDATE second_factor_totp SET confirmed_at = $2, last_step = $3
                       WHERE user_id = $1 AND confirmed_at IS NULL",
            )
            .bind(user_id.0)
            .bind(tx.now.0)
            .bind(step)
            .execute(tx.c())
            .await?
            .rows_affected();
            if n != 1 {
                return Ok(false);
            }
            insert_codes(&mut tx, user_id, &recovery).await?;
            Ok(true)
        }
        .await;
        self.finish(tx, result).await
    }

    async fn totp_accept(&self, user_id: UserId, step: i64) -> Result<bool> {
        let mut c = self.conn().await?;
        let n = q("UPDATE second_factor_totp SET last_step = $2
                   WHERE user_id = $1 AND confirmed_at IS NOT NULL
                     AND (last_step IS NULL OR last_step < $2)")
        .bind(user_id.0)
        .bind(step)
        .execute(&mut *c)
        .await?
        .rows_affected();
        Ok(n == 1)
    }

    async fn totp_secrets(&self) -> Result<Vec<(UserId, Vec<u8>)>> {
        let mut c = self.conn().await?;
        let rows = q("SELECT user_id, secret FROM second_factor_totp ORDER BY user_id")
            .fetch_all(&mut *c)
            .await?;
        rows.iter()
            .map(|r| Ok((UserId(r.try_get(0)?), r.try_get(1)?)))
            .collect()
    }

    async fn totp_replace_secret(
        &self,
        user_id: UserId,
        old: Vec<u8>,
        new: Vec<u8>,
    ) -> Result<bool> {
        let mut c = self.conn().await?;
        let n = q("UPDATE second_factor_totp SET secret = $3 WHERE user_id = $1 AND secret = $2")
            .bind(user_id.0)
            .bind(old)
            .bind(new)
            .execute(&mut *c)
            .await?
            .rows_affected();
        Ok(n == 1)
    }

    async fn remove_second_factors(&self, user_id: UserId) -> Result<bool> {
        let mut tx = self.begin().await?;
        let result: Result<bool> = async {
            let n =
                q("DELETE FROM second_factor_totp WHERE user_id = $1 AND confirmed_at IS NOT NULL")
                    .bind(user_id.0)
                    .execute(tx.c())
                    .await?
                    .rows_affected();
            q("DELETE FROM second_factor_totp WHERE user_id = $1")
                .bind(user_id.0)
                .execute(tx.c())
                .await?;
            q("DELETE FROM second_factor_recovery WHERE user_id = $1")
                .bind(user_id.0)
                .execute(tx.c())
                .await?;
            Ok(n > 0)
        }
        .await;
        self.finish(tx, result).await
    }

    async fn remove_totp(&self, user_id: UserId) -> Result<bool> {
        let mut c = self.conn().await?;
        let row = q("DELETE FROM second_factor_totp WHERE user_id = $1 RETURNING confirmed_at")
            .bind(user_id.0)
            .fetch_optional(&mut *c)
            .await?;
        Ok(match row {
            Some(r) => r.try_get::<Option<i64>, _>(0)?.is_some(),
            None => false,
        })
    }

    async fn replace_recovery_codes(&self, user_id: UserId, hashes: Vec<[u8; 32]>) -> Result<()> {
        let mut tx = self.begin().await?;
        let result = insert_codes(&mut tx, user_id, &hashes).await;
        self.finish(tx, result).await
    }

    async fn use_recovery_code(&self, user_id: UserId, hash: [u8; 32]) -> Result<bool> {
        let mut c = self.conn().await?;
        let n = q("UPDATE second_factor_recovery SET used_at = $3
                   WHERE user_id = $1 AND code_hash = $2 AND used_at IS NULL")
        .bind(user_id.0)
        .bind(hash.to_vec())
        .bind(Millis::now().0)
        .execute(&mut *c)
        .await?
        .rows_affected();
        Ok(n == 1)
    }

    async fn recovery_codes_left(&self, user_id: UserId) -> Result<u32> {
        let mut c = self.conn().await?;
        let n: i64 =
            q("SELECT count(*) FROM second_factor_recovery WHERE user_id = $1 AND used_at IS NULL")
                .bind(user_id.0)
                .fetch_one(&mut *c)
                .await?
                .try_get(0)?;
        Ok(u32::try_from(n).unwrap_or(u32::MAX))
    }

    async fn create_challenge(&self, token_hash: [u8; 32], ch: SignInChallenge) -> Result<()> {
        let mut tx = self.begin().await?;
        let result: Result<()> = async {
            q("DELETE FROM signin_challenges WHERE expires_at <= $1")
                .bind(tx.now.0)
                .execute(tx.c())
                .await?;
            q("INSERT INTO signin_challenges (token_hash, user_id, credential, enrol_only, expires_at, used_at)
               VALUES ($1, $2, $3, $4, $5, NULL)")
            .bind(token_hash.to_vec())
            .bind(ch.user_id.0)
            .bind(ch.credential)
            .bind(ch.enrol_only)
            .bind(ch.expires_at.0)
            .execute(tx.c())
            .await?;
            Ok(())
        }
        .await;
        self.finish(tx, result).await
    }

    async fn challenge(&self, token_hash: [u8; 32]) -> Result<Option<SignInChallenge>> {
        let mut c = self.conn().await?;
        let row = q("SELECT user_id, credential, enrol_only, expires_at, used_at
                     FROM signin_challenges WHERE token_hash = $1")
        .bind(token_hash.to_vec())
        .fetch_optional(&mut *c)
        .await?;
        row.map(|r| {
            Ok(SignInChallenge {
                user_id: UserId(r.try_get(0)?),
                credential: r.try_get(1)?,
                enrol_only: r.try_get(2)?,
                expires_at: Millis(r.try_get(3)?),
                used_at: r.try_get::<Option<i64>, _>(4)?.map(Millis),
            })
        })
        .transpose()
    }

    async fn use_challenge(&self, token_hash: [u8; 32], now: Millis) -> Result<bool> {
        let mut c = self.conn().await?;
        let n = q("UPDATE signin_challenges SET used_at = $2
                   WHERE token_hash = $1 AND used_at IS NULL AND expires_at > $2")
        .bind(token_hash.to_vec())
        .bind(now.0)
        .execute(&mut *c)
        .await?
        .rows_affected();
        Ok(n == 1)
    }

    async fn second_factor_policy(&self) -> Result<Option<Policy>> {
        let mut c = self.conn().await?;
        let row = q("SELECT require, grace_days, since FROM second_factor_policy WHERE id = 1")
            .fetch_optional(&mut *c)
            .await?;
        row.map(|r| {
            let require: String = r.try_get(0)?;
            let grace: i64 = r.try_get(1)?;
            Ok(Policy {
                require: crate::common::requirement(&require)?,
                grace_days: u32::try_from(grace).unwrap_or(0),
                since: Millis(r.try_get(2)?),
            })
        })
        .transpose()
    }

    async fn set_second_factor_policy(&self, p: Policy) -> Result<()> {
        let mut c = self.conn().await?;
        q("INSERT INTO second_factor_policy (id, require, grace_days, since) VALUES (1, $1, $2, $3)
           ON CONFLICT (id) DO UPDATE SET require = $1, grace_days = $2, since = $3")
        .bind(p.require.as_str())
        .bind(i64::from(p.grace_days))
        .bind(p.since.0)
        .execute(&mut *c)
        .await?;
        Ok(())
    }

    async fn second_factor_enrolments(&self) -> Result<Vec<SecondFactorEnrolment>> {
        let mut c = self.conn().await?;
        let rows = q("SELECT u.id,
                             (SELECT t.confirmed_at FROM second_factor_totp t
                              WHERE t.user_id = u.id AND t.confirmed_at IS NOT NULL),
                             (SELECT count(*) FROM second_factor_recovery r
                              WHERE r.user_id = u.id AND r.used_at IS NULL),
                             (SELECT count(*) FROM webauthn_keys k WHERE k.user_id = u.id)
                      FROM (SELECT user_id AS id FROM second_factor_totp WHERE confirmed_at IS NOT NULL
                            UNION SELECT user_id FROM webauthn_keys) u
                      ORDER BY u.id")
        .fetch_all(&mut *c)
        .await?;
        rows.into_iter()
            .map(|r| {
                Ok(SecondFactorEnrolment {
                    user_id: UserId(r.try_get(0)?),
                    totp_since: r.try_get::<Option<i64>, _>(1)?.map(Millis),
                    recovery_left: u32::try_from(r.try_get::<i64, _>(2)?).unwrap_or(0),
                    webauthn_keys: u32::try_from(r.try_get::<i64, _>(3)?).unwrap_or(0),
                })
            })
            .collect()
    }

    async fn webauthn_keys(&self, user_id: UserId) -> Result<Vec<WebAuthnKey>> {
        let mut c = self.conn().await?;
        let rows = q(
            "SELECT id, user_id, name, credential_id, credential, created_at, last_used_at
             FROM webauthn_keys WHERE user_id = $1 ORDER BY id",
        )
        .bind(user_id.0)
        .fetch_all(&mut *c)
        .await?;
        rows.iter().map(key_row).collect()
    }

    async fn add_webauthn_key(
        &self,
        user_id: UserId,
        name: String,
        credential_id: String,
        credential: String,
        max: usize,
    ) -> Result<Option<WebAuthnKey>> {
        let mut tx = self.begin().await?;
        let result: Result<Option<WebAuthnKey>> = async {
            // The account's row serialises its registrations, so the limit holds across nodes.
            q("SELECT id FROM users WHERE id = $1 FOR UPDATE")
                .bind(user_id.0)
                .fetch_optional(tx.c())
                .await?;
            let held: i64 = q("SELECT count(*) FROM webauthn_keys WHERE user_id = $1")
                .bind(user_id.0)
                .fetch_one(tx.c())
                .await?
                .try_get(0)?;
            if usize::try_from(held).unwrap_or(usize::MAX) >= max {
                return Ok(None);
            }
            let now = tx.now;
            let row = q(
                "INSERT INTO webauthn_keys (user_id, name, credential_id, credential, created_at, last_used_at)
                 VALUES ($1, $2, $3, $4, $5, NULL)
                 ON CONFLICT (credential_id) DO NOTHING
                 RETURNING id, user_id, name, credential_id, credential, created_at, last_used_at",
            )
            .bind(user_id.0)
            .bind(&name)
            .bind(&credential_id)
            .bind(&credential)
            .bind(now.0)
            .fetch_optional(tx.c())
            .await?;
            match row {
                Some(r) => Ok(Some(key_row(&r)?)),
                None => Err(Error::Domain(DomainError::Conflict(
                    "this security key is registered already",
                ))),
            }
        }
        .await;
        self.finish(tx, result).await
    }

    async fn rename_webauthn_key(&self, user_id: UserId, id: i64, name: String) -> Result<bool> {
        let mut c = self.conn().await?;
        let n = q("UPDATE webauthn_keys SET name = $3 WHERE id = $1 AND user_id = $2")
            .bind(id)
            .bind(user_id.0)
            .bind(name)
            .execute(&mut *c)
            .await?
            .rows_affected();
        Ok(n == 1)
    }

    async fn remove_webauthn_key(&self, user_id: UserId, id: i64) -> Result<bool> {
        let mut c = self.conn().await?;
        let n = q("DELETE FROM webauthn_keys WHERE id = $1 AND user_id = $2")
            .bind(id)
            .bind(user_id.0)
            .execute(&mut *c)
            .await?
            .rows_affected();
        Ok(n == 1)
    }

    async fn remove_webauthn_keys(&self, user_id: UserId) -> Result<u64> {
        let mut c = self.conn().await?;
        Ok(q("DELETE FROM webauthn_keys WHERE user_id = $1")
            .bind(user_id.0)
            .execute(&mut *c)
            .await?
            .rows_affected())
    }

    async fn use_webauthn_key(
        &self,
        user_id: UserId,
        id: i64,
        previous: String,
        credential: String,
    ) -> Result<bool> {
        let mut c = self.conn().await?;
        let n = q("UPDATE webauthn_keys SET credential = $4, last_used_at = $5
                   WHERE id = $1 AND user_id = $2 AND credential = $3")
        .bind(id)
        .bind(user_id.0)
        .bind(previous)
        .bind(credential)
        .bind(Millis::now().0)
        .execute(&mut *c)
        .await?
        .rows_affected();
        Ok(n == 1)
    }

    async fn put_webauthn_ceremony(&self, cer: WebAuthnCeremonyState) -> Result<()> {
        let mut c = self.conn().await?;
        q("DELETE FROM webauthn_ceremonies WHERE expires_at <= $1")
            .bind(Millis::now().0)
            .execute(&mut *c)
            .await?;
        q(
            "INSERT INTO webauthn_ceremonies (id, user_id, kind, state, expires_at)
           VALUES ($1, $2, $3, $4, $5)
           ON CONFLICT (id) DO UPDATE SET user_id = $2, kind = $3, state = $4, expires_at = $5",
        )
        .bind(cer.id)
        .bind(cer.user_id.0)
        .bind(cer.kind)
        .bind(cer.state)
        .bind(cer.expires_at.0)
        .execute(&mut *c)
        .await?;
        Ok(())
    }

    async fn webauthn_ceremony(
        &self,
        id: String,
        user_id: UserId,
        kind: String,
        now: Millis,
    ) -> Result<Option<WebAuthnCeremonyState>> {
        let mut c = self.conn().await?;
        let row = q(
            "SELECT id, user_id, kind, state, expires_at FROM webauthn_ceremonies
                     WHERE id = $1 AND user_id = $2 AND kind = $3 AND expires_at > $4",
        )
        .bind(id)
        .bind(user_id.0)
        .bind(kind)
        .bind(now.0)
        .fetch_optional(&mut *c)
        .await?;
        row.as_ref().map(ceremony_row).transpose()
    }

    async fn take_webauthn_ceremony(
        &self,
        id: String,
        user_id: UserId,
        kind: String,
        now: Millis,
    ) -> Result<Option<WebAuthnCeremonyState>> {
        let mut c = self.conn().await?;
        let row = q(
            "DELETE FROM webauthn_ceremonies WHERE id = $1 AND user_id = $2 AND kind = $3
                     RETURNING id, user_id, kind, state, expires_at",
        )
        .bind(id)
        .bind(user_id.0)
        .bind(kind)
        .fetch_optional(&mut *c)
        .await?;
        Ok(row
            .as_ref()
            .map(ceremony_row)
            .transpose()?
            .filter(|c| c.expires_at > now))
    }
}
