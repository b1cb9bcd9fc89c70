//! `ldap-sync-ID`: the scheduled directory sync of one LDAP provider (`[[ldap.providers]]
//! sync_interval_minutes`); `enclave admin ldap-sync` runs the same sync once.

use std::sync::Arc;
use std::time::Duration;

use futures_util::future::BoxFuture;

use super::{Job, JobCtx, JobReport};
use crate::error::Result;
use crate::ldap::{Ldap, Trigger};

pub struct LdapSync {
    ldap: Arc<Ldap>,
    provider: String,
    name: &'static str,
    interval: Duration,
}

impl LdapSync {
    /// The job of each provider that has a sync interval.
    pub fn for_providers(ldap: &Arc<Ldap>) -> Vec<LdapSync> {
        ldap.providers()
            .iter()
            .filter_map(|p| {
                let interval = p.sync_interval?;
                // Names are static; providers are configured once per process.
                let name: &'static str = Box::leak(format!("ldap-sync-{}", p.id).into_boxed_str());
                Some(LdapSync {
                    ldap: ldap.clone(),
                    provider: p.id.clone(),
                    name,
                    interval,
                })
            })
            .collect()
    }
}

impl Job for LdapSync {
    fn name(&self) -> &'static str {
        self.name
    }

    fn interval(&self) -> Duration {
        self.interval
    }

    /// One node at a time: two nodes syncing one directory at once would race to create accounts.
    fn once_per_cluster(&self) -> bool {
        true
    }

    fn run<'a>(&'a self, ctx: &'a JobCtx) -> BoxFuture<'a, Result<JobReport>> {
        Box::pin(async move {
            let r = self
                .ldap
                .sync(&self.provider, false, Trigger::Schedule, &|done, total| {
                    ctx.progress(done, total);
                })
                .await?;
            let n = r.created + r.linked + r.updated + r.deactivated + r.reactivated;
            Ok(JobReport {
                n_items: n,
                summary: match &r.refused {
                    Some(why) => format!("refused: {why}"),
                    None => format!(
                        "{} found, {} created, {} linked, {} updated, {} deactivated, {} reactivated, {} problem(s)",
                        r.found,
                        r.created,
                        r.linked,
                        r.updated,
                        r.deactivated,
                        r.reactivated,
                        r.problems.len()
                    ),
                },
            })
        })
    }
}
