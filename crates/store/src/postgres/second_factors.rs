//! Second factors on PostgreSQL (migration 0010): TOTP enrolments, recovery codes, sign-in
//! challenges and the site policy. Each compare-and-set is one conditional `UPDATE`, so the
//! nodes of a cluster never accept the same code or challenge twice.

use async_trait::async_trait;
use enclave_core::signin::Policy;
use enclave_core::{Millis, UserId};
use sqlx_core::row::Row;

use super::{PgStore, Tx, q};
use crate::{Result, SecondFactorEnrolment, SecondFactorStore, SignInChallenge, TotpEnrolment};

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
        let rows = q("SELECT t.user_id, t.confirmed_at,
                             (SELECT count(*) FROM second_factor_recovery r
                              WHERE r.user_id = t.user_id AND r.used_at IS NULL)
                      FROM second_factor_totp t WHERE t.confirmed_at IS NOT NULL ORDER BY t.user_id")
        .fetch_all(&mut *c)
        .await?;
        rows.into_iter()
            .map(|r| {
                Ok(SecondFactorEnrolment {
                    user_id: UserId(r.try_get(0)?),
                    totp_since: Millis(r.try_get(1)?),
                    recovery_left: u32::try_from(r.try_get::<i64, _>(2)?).unwrap_or(0),
                })
            })
            .collect()
    }
}
