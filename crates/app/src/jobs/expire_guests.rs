//! `expire-guests`: deactivates guests whose expiry has passed, ending their sessions and
//! tokens. (The credential check already refuses an expired guest at once; the job makes the
//! account inactive everywhere, as an administrator's deactivation would.)

use std::sync::Arc;
use std::time::Duration;

use enclave_core::Millis;
use enclave_store::RoleStore;
use futures_util::future::BoxFuture;

use super::{Job, JobCtx, JobReport};
use crate::error::Result;

/// Guests deactivated per transaction.
const BATCH: u32 = 500;

/// Expires guests every minute. Credential caches forget them through the event feed
/// (`tokens.revoked`, `user.updated`), on every node.
pub struct ExpireGuests {
    store: Arc<dyn RoleStore>,
}

impl ExpireGuests {
    pub fn new(store: Arc<dyn RoleStore>) -> Self {
        ExpireGuests { store }
    }
}

impl Job for ExpireGuests {
    fn name(&self) -> &'static str {
        "expire-guests"
    }

    fn interval(&self) -> Duration {
        Duration::from_secs(60)
    }

    /// One node at a time: the deactivation is the cluster's, not the node's.
    fn once_per_cluster(&self) -> bool {
        true
    }

    fn run<'a>(&'a self, ctx: &'a JobCtx) -> BoxFuture<'a, Result<JobReport>> {
        Box::pin(async move {
            let mut n = 0u64;
            loop {
                let ids = self.store.expire_guests(Millis::now(), BATCH).await?;
                n += ids.len() as u64;
                if ids.len() < BATCH as usize || ctx.stopping() {
                    break;
                }
            }
            Ok(JobReport {
                n_items: n,
                summary: format!("deactivated {n} expired guest(s)"),
            })
        })
    }
}
