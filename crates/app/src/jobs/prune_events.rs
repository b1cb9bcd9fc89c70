//! `prune-events`: deletes events past the retention period from the log, keeping at least
//! the newest `min_events` (a client whose position was pruned must resync).

use std::sync::Arc;
use std::time::Duration;

use enclave_core::Millis;
use enclave_store::EventLog;
use futures_util::future::BoxFuture;

use super::{Job, JobCtx, JobReport};
use crate::error::Result;

/// Prunes the event log hourly.
pub struct PruneEvents {
    store: Arc<dyn EventLog>,
    retention: Duration,
    min_events: u32,
}

impl PruneEvents {
    pub fn new(store: Arc<dyn EventLog>, retention: Duration, min_events: u32) -> Self {
        PruneEvents {
            store,
            retention,
            min_events,
        }
    }
}

impl Job for PruneEvents {
    fn name(&self) -> &'static str {
        "prune-events"
    }

    fn interval(&self) -> Duration {
        Duration::from_secs(3600)
    }

    /// One node at a time: the event log is shared by the cluster.
    fn once_per_cluster(&self) -> bool {
        true
    }

    fn run<'a>(&'a self, _ctx: &'a JobCtx) -> BoxFuture<'a, Result<JobReport>> {
        Box::pin(async move {
            let retention = i64::try_from(self.retention.as_millis()).unwrap_or(i64::MAX);
            let cutoff = Millis(Millis::now().0.saturating_sub(retention));
            let n = self.store.prune_events(cutoff, self.min_events).await?;
            Ok(JobReport {
                n_items: n,
                summary: format!("pruned {n} old event(s)"),
            })
        })
    }
}
