//! The sign-in throttle's counters on SQLite (`signin_throttles`, schema version 7).

use async_trait::async_trait;
use enclave_core::Millis;
use enclave_core::lockout::{Counts, Step, Tally};
use rusqlite::{Connection, OptionalExtension, params};

use super::{SqliteStore, Tx};
use crate::{Result, ThrottleEntry, ThrottleKey, ThrottleStore};

fn count(n: i64) -> u32 {
    u32::try_from(n.max(0)).unwrap_or(u32::MAX)
}

fn tally(c: &Connection, sql: &str, step: &str, key: &str, since: Millis) -> Result<Tally> {
    let (n, last): (i64, Option<i64>) = c
        .prepare_cached(sql)?
        .query_row(params![step, key, since.0], |r| Ok((r.get(0)?, r.get(1)?)))?;
    Ok(Tally {
        failures: count(n),
        last: last.map(Millis),
    })
}

pub fn counts(c: &Connection, key: &ThrottleKey, since: Millis, now: Millis) -> Result<Counts> {
    let step = key.step.as_str();
    let pair: Option<(i64, Option<i64>, Option<i64>)> = c
        .prepare_cached(
            "SELECT failures, last_failure_at, known_until FROM signin_throttles
             WHERE step = ?1 AND account = ?2 AND source = ?3",
        )?
        .query_row(params![step, key.account, key.source], |r| {
            Ok((r.get(0)?, r.get(1)?, r.get(2)?))
        })
        .optional()?;
    let (pair, known) = match pair {
        Some((n, Some(last), known)) if last >= since.0 => (
            Tally {
                failures: count(n),
                last: Some(Millis(last)),
            },
            known,
        ),
        Some((_, _, known)) => (Tally::default(), known),
        None => (Tally::default(), None),
    };
    let account = tally(
        c,
        "SELECT coalesce(sum(failures), 0), max(last_failure_at) FROM signin_throttles
         WHERE step = ?1 AND account = ?2 AND last_failure_at >= ?3",
        step,
        &key.account,
        since,
    )?;
    let source = tally(
        c,
        "SELECT coalesce(sum(failures), 0), max(last_failure_at) FROM signin_throttles
         WHERE step = ?1 AND source = ?2 AND last_failure_at >= ?3",
        step,
        &key.source,
        since,
    )?;
    Ok(Counts {
        pair,
        known: known.is_some_and(|k| k > now.0),
        account,
        source,
    })
}

pub fn fail(
    tx: &mut Tx<'_>,
    key: &ThrottleKey,
    now: Millis,
    since: Millis,
    expires_at: Millis,
) -> Result<()> {
    tx.conn
        .prepare_cached(
            "INSERT INTO signin_throttles (step, account, source, failures, last_failure_at, expires_at)
             VALUES (?1, ?2, ?3, 1, ?4, ?5)
             ON CONFLICT (step, account, source) DO UPDATE SET
                 failures = CASE WHEN last_failure_at >= ?6 THEN failures + 1 ELSE 1 END,
                 last_failure_at = ?4,
                 expires_at = max(?5, coalesce(known_until, 0))",
        )?
        .execute(params![
            key.step.as_str(),
            key.account,
            key.source,
            now.0,
            expires_at.0,
            since.0
        ])?;
    Ok(())
}

pub fn ok(tx: &mut Tx<'_>, key: &ThrottleKey, known_until: Millis) -> Result<()> {
    tx.conn
        .prepare_cached(
            "INSERT INTO signin_throttles (step, account, source, failures, last_failure_at, known_until, expires_at)
             VALUES (?1, ?2, ?3, 0, NULL, ?4, ?4)
             ON CONFLICT (step, account, source) DO UPDATE SET
                 failures = 0, last_failure_at = NULL, known_until = ?4, expires_at = ?4",
        )?
        .execute(params![
            key.step.as_str(),
            key.account,
            key.source,
            known_until.0
        ])?;
    Ok(())
}

pub fn entries(
    c: &Connection,
    account: Option<&str>,
    since: Millis,
    now: Millis,
    limit: u32,
) -> Result<Vec<ThrottleEntry>> {
    let mut stmt = c.prepare_cached(
        "SELECT step, account, source, failures, last_failure_at, known_until
         FROM signin_throttles
         WHERE failures > 0 AND last_failure_at >= ?1 AND (?2 IS NULL OR account = ?2)
         ORDER BY last_failure_at DESC, step, account, source LIMIT ?3",
    )?;
    let rows = stmt.query_map(params![since.0, account, limit], |r| {
        Ok((
            r.get::<_, String>(0)?,
            r.get::<_, String>(1)?,
            r.get::<_, String>(2)?,
            r.get::<_, i64>(3)?,
            r.get::<_, i64>(4)?,
            r.get::<_, Option<i64>>(5)?,
        ))
    })?;
    let mut out = Vec::new();
    for row in rows {
        let (step, account, source, failures, last, known) = row?;
        // Steps this build does not know (written by a newer one) are left out.
        let Some(step) = Step::parse(&step) else {
            continue;
        };
        out.push(ThrottleEntry {
            key: ThrottleKey {
                step,
                account,
                source,
            },
            failures: count(failures),
            last_failure_at: Millis(last),
            known: known.is_some_and(|k| k > now.0),
        });
    }
    Ok(out)
}

pub fn clear(tx: &mut Tx<'_>, account: &str, source: Option<&str>) -> Result<u64> {
    let n = tx
        .conn
        .prepare_cached(
            "UPDATE signin_throttles
             SET failures = 0, last_failure_at = NULL, expires_at = coalesce(known_until, 0)
             WHERE account = ?1 AND (?2 IS NULL OR source = ?2) AND failures > 0",
        )?
        .execute(params![account, source])?;
    tx.conn
        .prepare_cached(
            "DELETE FROM signin_throttles WHERE account = ?1 AND failures = 0
             AND (known_until IS NULL OR known_until <= ?2)",
        )?
        .execute(params![account, tx.now.0])?;
    Ok(n as u64)
}

pub fn sweep(tx: &mut Tx<'_>, now: Millis) -> Result<u64> {
    let n = tx
        .conn
        .prepare_cached("DELETE FROM signin_throttles WHERE expires_at <= ?1")?
        .execute([now.0])?;
    Ok(n as u64)
}

#[async_trait]
impl ThrottleStore for SqliteStore {
    async fn throttle_counts(
        &self,
        key: &ThrottleKey,
        since: Millis,
        now: Millis,
    ) -> Result<Counts> {
        let key = key.clone();
        self.read(move |c| counts(c, &key, since, now)).await
    }
    async fn throttle_fail(
        &self,
        key: &ThrottleKey,
        now: Millis,
        since: Millis,
        expires_at: Millis,
    ) -> Result<()> {
        let key = key.clone();
        self.write(move |tx| fail(tx, &key, now, since, expires_at))
            .await
    }
    async fn throttle_ok(&self, key: &ThrottleKey, known_until: Millis) -> Result<()> {
        let key = key.clone();
        self.write(move |tx| ok(tx, &key, known_until)).await
    }
    async fn throttle_entries(
        &self,
        account: Option<&str>,
        since: Millis,
        limit: u32,
    ) -> Result<Vec<ThrottleEntry>> {
        let account = account.map(str::to_owned);
        let now = Millis::now();
        self.read(move |c| entries(c, account.as_deref(), since, now, limit))
            .await
    }
    async fn clear_throttles(&self, account: &str, source: Option<&str>) -> Result<u64> {
        let account = account.to_owned();
        let source = source.map(str::to_owned);
        self.write(move |tx| clear(tx, &account, source.as_deref()))
            .await
    }
    async fn sweep_throttles(&self, now: Millis) -> Result<u64> {
        self.write(move |tx| sweep(tx, now)).await
    }
}
