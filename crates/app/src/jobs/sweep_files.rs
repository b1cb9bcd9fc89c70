//! `sweep-files`: removes files no message references (detached ones at once, never-attached
//! ones after the grace period), every `[files] sweep_interval_secs`.

use std::sync::Arc;
use std::time::Duration;

use futures_util::future::BoxFuture;

use super::{Job, JobCtx, JobReport};
use crate::error::Result;
use crate::files::Files;

/// Sweeps unreferenced files.
pub struct SweepFiles {
    files: Arc<Files>,
}

impl SweepFiles {
    pub fn new(files: Arc<Files>) -> Self {
        SweepFiles { files }
    }
}

impl Job for SweepFiles {
    fn name(&self) -> &'static str {
        "sweep-files"
    }

    fn interval(&self) -> Duration {
        self.files.sweep_interval()
    }

    fn run<'a>(&'a self, ctx: &'a JobCtx) -> BoxFuture<'a, Result<JobReport>> {
        Box::pin(async move {
            let n = self.files.sweep(ctx).await?;
            Ok(JobReport {
                n_items: n,
                summary: format!("removed {n} unreferenced file(s)"),
            })
        })
    }
}
