//! Leases on scheduled jobs on PostgreSQL (`job_leases`, migration 0016). Taking one is a
//! single conditional upsert, so two nodes never hold the same lease at once.

use async_trait::async_trait;
use enclave_core::Millis;

use super::{PgStore, q};
use crate::{LeaseStore, Result};

#[async_trait]
impl LeaseStore for PgStore {
    async fn take_lease(
        &self,
        name: &str,
        holder: &str,
        now: Millis,
        until: Millis,
    ) -> Result<bool> {
        let mut c = self.conn().await?;
        let done = q("INSERT INTO job_leases AS l (name, holder, until) VALUES ($1, $2, $3)
                      ON CONFLICT (name) DO UPDATE SET holder = excluded.holder, until = excluded.until
                      WHERE l.until <= $4 OR l.holder = excluded.holder")
        .bind(name.to_owned())
        .bind(holder.to_owned())
        .bind(until.0)
        .bind(now.0)
        .execute(&mut *c)
        .await?;
        Ok(done.rows_affected() == 1)
    }
}
