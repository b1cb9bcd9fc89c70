//! Second factors on SQLite (schema version 11): TOTP enrolments, recovery codes, sign-in
//! challenges and the site policy. The single writer makes each compare-and-set atomic.

use async_trait::async_trait;
use enclave_core::signin::Policy;
use enclave_core::{Millis, UserId};
use rusqlite::{OptionalExtension, params};

use super::{SqliteStore, Tx};
use crate::{
    Error, Result, SecondFactorEnrolment, SecondFactorStore, SignInChallenge, TotpEnrolment,
    WebAuthnCeremonyState, WebAuthnKey,
};
use enclave_core::Error as DomainError;

const KEY_COLUMNS: &str = "id, user_id, name, credential_id, credential, created_at, last_used_at";

fn key_row(r: &rusqlite::Row<'_>) -> rusqlite::Result<WebAuthnKey> {
    Ok(WebAuthnKey {
        id: r.get(0)?,
        user_id: UserId(r.get(1)?),
        name: r.get(2)?,
        credential_id: r.get(3)?,
        credential: r.get(4)?,
        created_at: Millis(r.get(5)?),
        last_used_at: r.get::<_, Option<i64>>(6)?.map(Millis),
    })
}

fn ceremony_row(r: &rusqlite::Row<'_>) -> rusqlite::Result<WebAuthnCeremonyState> {
    Ok(WebAuthnCeremonyState {
        id: r.get(0)?,
        user_id: UserId(r.get(1)?),
        kind: r.get(2)?,
        state: r.get(3)?,
        expires_at: Millis(r.get(4)?),
    })
}

fn insert_codes(tx: &mut Tx<'_>, user_id: UserId, hashes: &[[u8; 32]]) -> Result<()> {
    tx.conn
        .prepare_cached("DELETE FROM second_factor_recovery WHERE user_id = ?1")?
        .execute([user_id.0])?;
    let mut ins = tx.conn.prepare_cached(
        "INSERT INTO second_factor_recovery (user_id, code_hash, used_at, created_at)
         VALUES (?1, ?2, NULL, ?3)",
    )?;
    for h in hashes {
        ins.execute(params![user_id.0, &h[..], tx.now.0])?;
    }
    Ok(())
}

#[async_trait]
impl SecondFactorStore for SqliteStore {
    async fn totp(&self, user_id: UserId) -> Result<Option<TotpEnrolment>> {
        self.read(move |c| {
            Ok(c.prepare_cached(
                "SELECT secret, confirmed_at, last_step FROM second_factor_totp WHERE user_id = ?1",
            )?
            .query_row([user_id.0], |r| {
                Ok(TotpEnrolment {
                    secret: r.get(0)?,
                    confirmed_at: r.get::<_, Option<i64>>(1)?.map(Millis),
                    last_step: r.get(2)?,
                })
            })
            .optional()?)
        })
        .await
    }

    async fn totp_begin(&self, user_id: UserId, secret: Vec<u8>) -> Result<bool> {
        self.write(move |tx| {
            let n = tx
                .conn
                .prepare_cached(
                    "INSERT INTO second_factor_totp (user_id, secret, confirmed_at, last_step, created_at)
                     VALUES (?1, ?2, NULL, NULL, ?3)
                     ON CONFLICT (user_id) DO UPDATE SET secret = ?2, created_at = ?3
                     WHERE confirmed_at IS NULL",
                )?
                .execute(params![user_id.0, secret, tx.now.0])?;
            Ok(n == 1)
        })
        .await
    }

    async fn totp_confirm(
        &self,
        user_id: UserId,
        step: i64,
        recovery: Vec<[u8; 32]>,
    ) -> Result<bool> {
        self.write(move |tx| {
            let n = tx
                .conn
                .prepare_cached(
                    "UPDATE second_factor_totp SET confirmed_at = ?2, last_step = ?3
                     WHERE user_id = ?1 AND confirmed_at IS NULL",
                )?
                .execute(params![user_id.0, tx.now.0, step])?;
            if n != 1 {
                return Ok(false);
            }
            insert_codes(tx, user_id, &recovery)?;
            Ok(true)
        })
        .await
    }

    async fn totp_accept(&self, user_id: UserId, step: i64) -> Result<bool> {
        self.write(move |tx| {
            let n = tx
                .conn
                .prepare_cached(
                    "UPDATE second_factor_totp SET last_step = ?2
                     WHERE user_id = ?1 AND confirmed_at IS NOT NULL
                       AND (last_step IS NULL OR last_step < ?2)",
                )?
                .execute(params![user_id.0, step])?;
            Ok(n == 1)
        })
        .await
    }

    async fn totp_secrets(&self) -> Result<Vec<(UserId, Vec<u8>)>> {
        self.read(move |c| {
            let mut st = c.prepare_cached(
                "SELECT user_id, secret FROM second_factor_totp ORDER BY user_id",
            )?;
            let rows = st
                .query_map([], |r| Ok((UserId(r.get(0)?), r.get(1)?)))?
                .collect::<rusqlite::Result<Vec<_>>>()?;
            Ok(rows)
        })
        .await
    }

    async fn totp_replace_secret(
        &self,
        user_id: UserId,
        old: Vec<u8>,
        new: Vec<u8>,
    ) -> Result<bool> {
        self.write(move |tx| {
            let n = tx
                .conn
                .prepare_cached(
                    "UPDATE second_factor_totp SET secret = ?3 WHERE user_id = ?1 AND secret = ?2",
                )?
                .execute(params![user_id.0, old, new])?;
            Ok(n == 1)
        })
        .await
    }

    async fn remove_second_factors(&self, user_id: UserId) -> Result<bool> {
        self.write(move |tx| {
            let n = tx
                .conn
                .prepare_cached(
                    "DELETE FROM second_factor_totp WHERE user_id = ?1 AND confirmed_at IS NOT NULL",
                )?
                .execute([user_id.0])?;
            tx.conn
                .prepare_cached("DELETE FROM second_factor_totp WHERE user_id = ?1")?
                .execute([user_id.0])?;
            tx.conn
                .prepare_cached("DELETE FROM second_factor_recovery WHERE user_id = ?1")?
                .execute([user_id.0])?;
            Ok(n > 0)
        })
        .await
    }

    async fn remove_totp(&self, user_id: UserId) -> Result<bool> {
        self.write(move |tx| {
            // One row per account (its key): set up, or pending.
            let confirmed: Option<Option<i64>> = tx
                .conn
                .prepare_cached(
                    "DELETE FROM second_factor_totp WHERE user_id = ?1 RETURNING confirmed_at",
                )?
                .query_row([user_id.0], |r| r.get(0))
                .optional()?;
            Ok(confirmed.flatten().is_some())
        })
        .await
    }

    async fn replace_recovery_codes(&self, user_id: UserId, hashes: Vec<[u8; 32]>) -> Result<()> {
        self.write(move |tx| insert_codes(tx, user_id, &hashes))
            .await
    }

    async fn use_recovery_code(&self, user_id: UserId, hash: [u8; 32]) -> Result<bool> {
        self.write(move |tx| {
            let n = tx
                .conn
                .prepare_cached(
                    "UPDATE second_factor_recovery SET used_at = ?3
                     WHERE user_id = ?1 AND code_hash = ?2 AND used_at IS NULL",
                )?
                .execute(params![user_id.0, &hash[..], tx.now.0])?;
            Ok(n == 1)
        })
        .await
    }

    async fn recovery_codes_left(&self, user_id: UserId) -> Result<u32> {
        self.read(move |c| {
            let n: i64 = c
                .prepare_cached(
                    "SELECT count(*) FROM second_factor_recovery WHERE user_id = ?1 AND used_at IS NULL",
                )?
                .query_row([user_id.0], |r| r.get(0))?;
            Ok(u32::try_from(n).unwrap_or(u32::MAX))
        })
        .await
    }

    async fn create_challenge(&self, token_hash: [u8; 32], ch: SignInChallenge) -> Result<()> {
        self.write(move |tx| {
            tx.conn
                .prepare_cached("DELETE FROM signin_challenges WHERE expires_at <= ?1")?
                .execute([tx.now.0])?;
            tx.conn
                .prepare_cached(
                    "INSERT INTO signin_challenges (token_hash, user_id, credential, enrol_only, expires_at, used_at)
                     VALUES (?1, ?2, ?3, ?4, ?5, NULL)",
                )?
                .execute(params![
                    &token_hash[..],
                    ch.user_id.0,
                    ch.credential,
                    ch.enrol_only,
                    ch.expires_at.0
                ])?;
            Ok(())
        })
        .await
    }

    async fn challenge(&self, token_hash: [u8; 32]) -> Result<Option<SignInChallenge>> {
        self.read(move |c| {
            Ok(c.prepare_cached(
                "SELECT user_id, credential, enrol_only, expires_at, used_at
                 FROM signin_challenges WHERE token_hash = ?1",
            )?
            .query_row([&token_hash[..]], |r| {
                Ok(SignInChallenge {
                    user_id: UserId(r.get(0)?),
                    credential: r.get(1)?,
                    enrol_only: r.get(2)?,
                    expires_at: Millis(r.get(3)?),
                    used_at: r.get::<_, Option<i64>>(4)?.map(Millis),
                })
            })
            .optional()?)
        })
        .await
    }

    async fn use_challenge(&self, token_hash: [u8; 32], now: Millis) -> Result<bool> {
        self.write(move |tx| {
            let n = tx
                .conn
                .prepare_cached(
                    "UPDATE signin_challenges SET used_at = ?2
                     WHERE token_hash = ?1 AND used_at IS NULL AND expires_at > ?2",
                )?
                .execute(params![&token_hash[..], now.0])?;
            Ok(n == 1)
        })
        .await
    }

    async fn second_factor_policy(&self) -> Result<Option<Policy>> {
        self.read(move |c| {
            let row: Option<(String, i64, i64)> = c
                .prepare_cached(
                    "SELECT require, grace_days, since FROM second_factor_policy WHERE id = 1",
                )?
                .query_row([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))
                .optional()?;
            row.map(|(require, grace, since)| {
                Ok(Policy {
                    require: crate::common::requirement(&require)?,
                    grace_days: u32::try_from(grace).unwrap_or(0),
                    since: Millis(since),
                })
            })
            .transpose()
        })
        .await
    }

    async fn set_second_factor_policy(&self, p: Policy) -> Result<()> {
        self.write(move |tx| {
            tx.conn
                .prepare_cached(
                    "INSERT INTO second_factor_policy (id, require, grace_days, since) VALUES (1, ?1, ?2, ?3)
                     ON CONFLICT (id) DO UPDATE SET require = ?1, grace_days = ?2, since = ?3",
                )?
                .execute(params![p.require.as_str(), i64::from(p.grace_days), p.since.0])?;
            Ok(())
        })
        .await
    }

    async fn second_factor_enrolments(&self) -> Result<Vec<SecondFactorEnrolment>> {
        self.read(move |c| {
            let mut st = c.prepare_cached(
                "SELECT u.id,
                        (SELECT t.confirmed_at FROM second_factor_totp t
                         WHERE t.user_id = u.id AND t.confirmed_at IS NOT NULL),
                        (SELECT count(*) FROM second_factor_recovery r
                         WHERE r.user_id = u.id AND r.used_at IS NULL),
                        (SELECT count(*) FROM webauthn_keys k WHERE k.user_id = u.id)
                 FROM (SELECT user_id AS id FROM second_factor_totp WHERE confirmed_at IS NOT NULL
                       UNION SELECT user_id FROM webauthn_keys) u
                 ORDER BY u.id",
            )?;
            let rows = st.query_map([], |r| {
                Ok(SecondFactorEnrolment {
                    user_id: UserId(r.get(0)?),
                    totp_since: r.get::<_, Option<i64>>(1)?.map(Millis),
                    recovery_left: u32::try_from(r.get::<_, i64>(2)?).unwrap_or(0),
                    webauthn_keys: u32::try_from(r.get::<_, i64>(3)?).unwrap_or(0),
                })
            })?;
            Ok(rows.collect::<rusqlite::Result<Vec<_>>>()?)
        })
        .await
    }

    async fn webauthn_keys(&self, user_id: UserId) -> Result<Vec<WebAuthnKey>> {
        self.read(move |c| {
            let mut st = c.prepare_cached(&format!(
                "SELECT {KEY_COLUMNS} FROM webauthn_keys WHERE user_id = ?1 ORDER BY id"
            ))?;
            let rows = st.query_map([user_id.0], key_row)?;
            Ok(rows.collect::<rusqlite::Result<Vec<_>>>()?)
        })
        .await
    }

    async fn add_webauthn_key(
        &self,
        user_id: UserId,
        name: String,
        credential_id: String,
        credential: String,
        max: usize,
    ) -> Result<Option<WebAuthnKey>> {
        self.write(move |tx| {
            let held: i64 = tx
                .conn
                .prepare_cached("SELECT count(*) FROM webauthn_keys WHERE user_id = ?1")?
                .query_row([user_id.0], |r| r.get(0))?;
            if usize::try_from(held).unwrap_or(usize::MAX) >= max {
                return Ok(None);
            }
            let n = tx
                .conn
                .prepare_cached(
                    "INSERT INTO webauthn_keys (user_id, name, credential_id, credential, created_at, last_used_at)
                     VALUES (?1, ?2, ?3, ?4, ?5, NULL)
                     ON CONFLICT (credential_id) DO NOTHING",
                )?
                .execute(params![user_id.0, name, credential_id, credential, tx.now.0])?;
            if n != 1 {
                return Err(Error::Domain(DomainError::Conflict(
                    "this security key is registered already",
                )));
            }
            let id = tx.conn.last_insert_rowid();
            Ok(Some(WebAuthnKey {
                id,
                user_id,
                name,
                credential_id,
                credential,
                created_at: tx.now,
                last_used_at: None,
            }))
        })
        .await
    }

    async fn rename_webauthn_key(&self, user_id: UserId, id: i64, name: String) -> Result<bool> {
        self.write(move |tx| {
            let n = tx
                .conn
                .prepare_cached(
                    "UPDATE webauthn_keys SET name = ?3 WHERE id = ?1 AND user_id = ?2",
                )?
                .execute(params![id, user_id.0, name])?;
            Ok(n == 1)
        })
        .await
    }

    async fn remove_webauthn_key(&self, user_id: UserId, id: i64) -> Result<bool> {
        self.write(move |tx| {
            let n = tx
                .conn
                .prepare_cached("DELETE FROM webauthn_keys WHERE id = ?1 AND user_id = ?2")?
                .execute(params![id, user_id.0])?;
            Ok(n == 1)
        })
        .await
    }

    async fn remove_webauthn_keys(&self, user_id: UserId) -> Result<u64> {
        self.write(move |tx| {
            let n = tx
                .conn
                .prepare_cached("DELETE FROM webauthn_keys WHERE user_id = ?1")?
                .execute([user_id.0])?;
            Ok(n as u64)
        })
        .await
    }

    async fn use_webauthn_key(
        &self,
        user_id: UserId,
        id: i64,
        previous: String,
        credential: String,
    ) -> Result<bool> {
        self.write(move |tx| {
            let n = tx
                .conn
                .prepare_cached(
                    "UPDATE webauthn_keys SET credential = ?4, last_used_at = ?5
                     WHERE id = ?1 AND user_id = ?2 AND credential = ?3",
                )?
                .execute(params![id, user_id.0, previous, credential, tx.now.0])?;
            Ok(n == 1)
        })
        .await
    }

    async fn put_webauthn_ceremony(&self, c: WebAuthnCeremonyState) -> Result<()> {
        self.write(move |tx| {
            tx.conn
                .prepare_cached("DELETE FROM webauthn_ceremonies WHERE expires_at <= ?1")?
                .execute([tx.now.0])?;
            tx.conn
                .prepare_cached(
                    "INSERT INTO webauthn_ceremonies (id, user_id, kind, state, expires_at)
                     VALUES (?1, ?2, ?3, ?4, ?5)
                     ON CONFLICT (id) DO UPDATE SET user_id = ?2, kind = ?3, state = ?4, expires_at = ?5",
                )?
                .execute(params![c.id, c.user_id.0, c.kind, c.state, c.expires_at.0])?;
            Ok(())
        })
        .await
    }

    async fn webauthn_ceremony(
        &self,
        id: String,
        user_id: UserId,
        kind: String,
        now: Millis,
    ) -> Result<Option<WebAuthnCeremonyState>> {
        self.read(move |c| {
            Ok(c.prepare_cached(
                "SELECT id, user_id, kind, state, expires_at FROM webauthn_ceremonies
                 WHERE id = ?1 AND user_id = ?2 AND kind = ?3 AND expires_at > ?4",
            )?
            .query_row(params![id, user_id.0, kind, now.0], ceremony_row)
            .optional()?)
        })
        .await
    }

    async fn take_webauthn_ceremony(
        &self,
        id: String,
        user_id: UserId,
        kind: String,
        now: Millis,
    ) -> Result<Option<WebAuthnCeremonyState>> {
        self.write(move |tx| {
            Ok(tx
                .conn
                .prepare_cached(
                    "DELETE FROM webauthn_ceremonies WHERE id = ?1 AND user_id = ?2 AND kind = ?3
                     RETURNING id, user_id, kind, state, expires_at",
                )?
                .query_row(params![id, user_id.0, kind], ceremony_row)
                .optional()?
                .filter(|c| c.expires_at > now))
        })
        .await
    }
}
