//! `sweep-throttles`: deletes the sign-in throttle's expired rows (failures past the policy's
//! memory, known addresses past their time). Expired rows already count for nothing; this only
//! keeps the table small.

use std::sync::Arc;
use std::time::Duration;

use enclave_core::Millis;
use enclave_store::ThrottleStore;
use futures_util::future::BoxFuture;

use super::{Job, JobCtx, JobReport};
use crate::error::Result;

/// Sweeps the throttle table every ten minutes.
pub struct SweepThrottles {
    store: Arc<dyn ThrottleStore>,
}

impl SweepThrottles {
    pub fn new(store: Arc<dyn ThrottleStore>) -> Self {
        SweepThrottles { store }
    }
}

impl Job for SweepThrottles {
    fn name(&self) -> &'static str {
        "sweep-throttles"
    }

    fn interval(&self) -> Duration {
        Duration::from_secs(600)
    }

    /// One node at a time: the throttle's table is shared by the cluster.
    fn once_per_cluster(&self) -> bool {
        true
    }

    fn run<'a>(&'a self, _ctx: &'a JobCtx) -> BoxFuture<'a, Result<JobReport>> {
        Box::pin(async move {
            let n = self.store.sweep_throttles(Millis::now()).await?;
            Ok(JobReport {
                n_items: n,
                summary: format!("deleted {n} expired sign-in throttle row(s)"),
            })
        })
    }
}
