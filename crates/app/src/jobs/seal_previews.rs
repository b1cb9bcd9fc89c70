//! `seal-previews`: seals a preview for every text file stored without one (files uploaded
//! before previews were sealed, whose plain previews the upgrade dropped), made again from the
//! file's encrypted object. It runs at start-up and then hourly; with nothing to do, a run is
//! one indexed query.

use std::sync::Arc;
use std::time::Duration;

use futures_util::future::BoxFuture;

use super::{Job, JobCtx, JobReport};
use crate::error::Result;
use crate::files::Files;

/// Time between runs.
const INTERVAL: Duration = Duration::from_secs(3600);

/// Seals missing text previews.
pub struct SealPreviews {
    files: Arc<Files>,
}

impl SealPreviews {
    pub fn new(files: Arc<Files>) -> Self {
        SealPreviews { files }
    }
}

impl Job for SealPreviews {
    fn name(&self) -> &'static str {
        "seal-previews"
    }

    fn interval(&self) -> Duration {
        INTERVAL
    }

    /// One node at a time: the files and their previews are shared by the cluster.
    fn once_per_cluster(&self) -> bool {
        true
    }

    fn run<'a>(&'a self, ctx: &'a JobCtx) -> BoxFuture<'a, Result<JobReport>> {
        Box::pin(async move {
            let n = self.files.seal_missing_previews(ctx).await?;
            Ok(JobReport {
                n_items: n,
                summary: format!("sealed the previews of {n} text file(s)"),
            })
        })
    }
}
