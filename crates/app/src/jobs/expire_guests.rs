//! `expire-guests`: deactivates guests whose expiry has passed, ending their sessions and
//! tokens. (The credential check already refuses an expired guest at once; the job makes the
//! account inactive everywhere, as an administrator's deactivation would.)

use std::sync::Arc;
use std::time::Duration;

use futures_util::future::BoxFuture;

use super::{Job, JobCtx, JobReport};
use crate::Roles;
use crate::error::Result;

/// Expires guests every minute.
pub struct ExpireGuests {
    roles: Arc<Roles>,
}

impl ExpireGuests {
    pub fn new(roles: Arc<Roles>) -> Self {
        ExpireGuests { roles }
    }
}

impl Job for ExpireGuests {
    fn name(&self) -> &'static str {
        "expire-guests"
    }

    fn interval(&self) -> Duration {
        Duration::from_secs(60)
    }

    fn run<'a>(&'a self, _ctx: &'a JobCtx) -> BoxFuture<'a, Result<JobReport>> {
        Box::pin(async move {
            let n = self.roles.expire_guests().await?;
            Ok(JobReport {
                n_items: n,
                summary: format!("deactivated {n} expired guest(s)"),
            })
        })
    }
}
