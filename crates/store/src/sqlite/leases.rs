//! Leases on scheduled jobs on SQLite (`job_leases`, schema version 17).

use async_trait::async_trait;
use enclave_core::Millis;
use rusqlite::params;

use super::SqliteStore;
use crate::{LeaseStore, Result};

#[async_trait]
impl LeaseStore for SqliteStore {
    async fn take_lease(
        &self,
        name: &str,
        holder: &str,
        now: Millis,
        until: Millis,
    ) -> Result<bool> {
        let (name, holder) = (name.to_owned(), holder.to_owned());
        self.write(move |tx| {
            // The upsert's WHERE leaves a running lease of another holder alone (0 rows).
            let n = tx
                .conn
                .prepare_cached(
                    "INSERT INTO job_leases (name, holder, until) VALUES (?1, ?2, ?3)
                     ON CONFLICT (name) DO UPDATE SET holder = excluded.holder, until = excluded.until
                     WHERE job_leases.until <= ?4 OR job_leases.holder = excluded.holder",
                )?
                .execute(params![name, holder, until.0, now.0])?;
            Ok(n == 1)
        })
        .await
    }
}
