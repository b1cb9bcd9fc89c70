//! The sign-in throttle's counters on PostgreSQL (`signin_throttles`, migration 0006). Each
//! write is one statement (an upsert), so the nodes of a cluster count together.

use async_trait::async_trait;
use enclave_core::Millis;
use enclave_core::lockout::{Counts, Step, Tally};
use sqlx_core::row::Row;
use sqlx_postgres::PgConnection;

use super::{PgStore, q};
use crate::{Result, ThrottleEntry, ThrottleKey, ThrottleStore};

fn count(n: i64) -> u32 {
    u32::try_from(n.max(0)).unwrap_or(u32::MAX)
}

async fn tally(
    c: &mut PgConnection,
    sql: &'static str,
    step: &str,
    key: &str,
    since: Millis,
) -> Result<Tally> {
    let row = q(sql)
        .bind(step.to_owned())
        .bind(key.to_owned())
        .bind(since.0)
        .fetch_one(&mut *c)
        .await?;
    let n: i64 = row.try_get(0)?;
    let last: Option<i64> = row.try_get(1)?;
    Ok(Tally {
        failures: count(n),
        last: last.map(Millis),
    })
}

pub async fn counts(
    c: &mut PgConnection,
    key: &ThrottleKey,
    since: Millis,
    now: Millis,
) -> Result<Counts> {
    let step = key.step.as_str();
    let row = q(
        "SELECT failures, last_failure_at, known_until FROM signin_throttles
                 WHERE step = $1 AND account = $2 AND source = $3",
    )
    .bind(step)
    .bind(key.account.clone())
    .bind(key.source.clone())
    .fetch_optional(&mut *c)
    .await?;
    let mut pair = Tally::default();
    let mut known = false;
    if let Some(row) = row {
        let n: i64 = row.try_get(0)?;
        let last: Option<i64> = row.try_get(1)?;
        let known_until: Option<i64> = row.try_get(2)?;
        if let Some(last) = last.filter(|l| *l >= since.0) {
            pair = Tally {
                failures: count(n),
                last: Some(Millis(last)),
            };
        }
        known = known_until.is_some_and(|k| k > now.0);
    }
    // The sum is numeric in PostgreSQL: cast back to bigint.
    let account = tally(
        c,
        "SELECT coalesce(sum(failures), 0)::bigint, max(last_failure_at) FROM signin_throttles
         WHERE step = $1 AND account = $2 AND last_failure_at >= $3",
        step,
        &key.account,
        since,
    )
    .await?;
    let source = tally(
        c,
        "SELECT coalesce(sum(failures), 0)::bigint, max(last_failure_at) FROM signin_throttles
         WHERE step = $1 AND source = $2 AND last_failure_at >= $3",
        step,
        &key.source,
        since,
    )
    .await?;
    Ok(Counts {
        pair,
        known,
        account,
        source,
    })
}

#[async_trait]
impl ThrottleStore for PgStore {
    async fn throttle_counts(
        &self,
        key: &ThrottleKey,
        since: Millis,
        now: Millis,
    ) -> Result<Counts> {
        let mut c = self.conn().await?;
        counts(&mut c, key, since, now).await
    }

    async fn throttle_fail(
        &self,
        key: &ThrottleKey,
        now: Millis,
        since: Millis,
        expires_at: Millis,
    ) -> Result<()> {
        let mut c = self.conn().await?;
        q("INSERT INTO signin_throttles AS t (step, account, source, failures, last_failure_at, expires_at)
           VALUES ($1, $2, $3, 1, $4, $5)
           ON CONFLICT (step, account, source) DO UPDATE SET
               failures = CASE WHEN t.last_failure_at >= $6 THEN t.failures + 1 ELSE 1 END,
               last_failure_at = $4,
               expires_at = greatest($5, coalesce(t.known_until, 0))")
        .bind(key.step.as_str())
        .bind(key.account.clone())
        .bind(key.source.clone())
        .bind(now.0)
        .bind(expires_at.0)
        .bind(since.0)
        .execute(&mut *c)
        .await?;
        Ok(())
    }

    async fn throttle_ok(&self, key: &ThrottleKey, known_until: Millis) -> Result<()> {
        let mut c = self.conn().await?;
        q("INSERT INTO signin_throttles AS t (step, account, source, failures, last_failure_at, known_until, expires_at)
           VALUES ($1, $2, $3, 0, NULL, $4, $4)
           ON CONFLICT (step, account, source) DO UPDATE SET
               failures = 0, last_failure_at = NULL, known_until = $4, expires_at = $4")
        .bind(key.step.as_str())
        .bind(key.account.clone())
        .bind(key.source.clone())
        .bind(known_until.0)
        .execute(&mut *c)
        .await?;
        Ok(())
    }

    async fn throttle_entries(
        &self,
        account: Option<&str>,
        since: Millis,
        limit: u32,
    ) -> Result<Vec<ThrottleEntry>> {
        let now = Millis::now();
        let mut c = self.conn().await?;
        let rows = q(
            "SELECT step, account, source, failures, last_failure_at, known_until
                      FROM signin_throttles
                      WHERE failures > 0 AND last_failure_at >= $1
                        AND ($2::text IS NULL OR account = $2::text)
                      ORDER BY last_failure_at DESC, step, account, source LIMIT $3",
        )
        .bind(since.0)
        .bind(account.map(str::to_owned))
        .bind(i64::from(limit))
        .fetch_all(&mut *c)
        .await?;
        let mut out = Vec::with_capacity(rows.len());
        for row in rows {
            let step: String = row.try_get(0)?;
            // Steps this build does not know (written by a newer one) are left out.
            let Some(step) = Step::parse(&step) else {
                continue;
            };
            let failures: i64 = row.try_get(3)?;
            let known_until: Option<i64> = row.try_get(5)?;
            out.push(ThrottleEntry {
                key: ThrottleKey {
                    step,
                    account: row.try_get(1)?,
                    source: row.try_get(2)?,
                },
                failures: count(failures),
                last_failure_at: Millis(row.try_get(4)?),
                known: known_until.is_some_and(|k| k > now.0),
            });
        }
        Ok(out)
    }

    async fn clear_throttles(&self, account: &str, source: Option<&str>) -> Result<u64> {
        let mut tx = self.begin().await?;
        let now = tx.now;
        let result: Result<u64> = async {
            let n = q("UPDATE signin_throttles
                       SET failures = 0, last_failure_at = NULL, expires_at = coalesce(known_until, 0)
                       WHERE account = $1 AND ($2::text IS NULL OR source = $2::text) AND failures > 0")
            .bind(account.to_owned())
            .bind(source.map(str::to_owned))
            .execute(tx.c())
            .await?
            .rows_affected();
            q("DELETE FROM signin_throttles WHERE account = $1 AND failures = 0
               AND (known_until IS NULL OR known_until <= $2)")
            .bind(account.to_owned())
            .bind(now.0)
            .execute(tx.c())
            .await?;
            Ok(n)
        }
        .await;
        self.finish(tx, result).await
    }

    async fn sweep_throttles(&self, now: Millis) -> Result<u64> {
        let mut c = self.conn().await?;
        let n = q("DELETE FROM signin_throttles WHERE expires_at <= $1")
            .bind(now.0)
            .execute(&mut *c)
            .await?
            .rows_affected();
        Ok(n)
    }
}
