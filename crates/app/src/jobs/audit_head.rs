//! `audit-head`: writes the audit chain's head (last sequence number and hash) to a place
//! outside the database, so that cutting entries off the end of the log shows: `enclave audit
//! verify --head-file` compares the chain with the last head written. The places: a file
//! (`[audit] head_file`, one line appended per change, fsynced; point it at storage another
//! machine keeps, see docs/admin/audit.md) and/or the local syslog (`[audit] head_syslog`).

use std::io::Write as _;
use std::path::PathBuf;
use std::time::Duration;

use enclave_core::Millis;
use enclave_core::audit::AuditHead;
use futures_util::future::BoxFuture;
use parking_lot::Mutex;

use super::{Job, JobCtx, JobReport};
use crate::audit::{Audit, head_line, last_recorded_head};
use crate::error::{Error, Result};

/// Writes the audit head when it has moved.
pub struct AuditHeadJob {
    audit: Audit,
    file: Option<PathBuf>,
    syslog: bool,
    interval: Duration,
    last: Mutex<Option<AuditHead>>,
}

impl AuditHeadJob {
    pub fn new(audit: Audit, file: Option<PathBuf>, syslog: bool, interval: Duration) -> Self {
        AuditHeadJob {
            audit,
            file,
            syslog,
            interval,
            last: Mutex::new(None),
        }
    }

    fn append(path: &std::path::Path, line: &str) -> Result<()> {
        let mut f = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(path)
            .map_err(|e| Error::internal(format!("opening {}: {e}", path.display())))?;
        f.write_all(format!("{line}\n").as_bytes())
            .and_then(|()| f.sync_all())
            .map_err(|e| Error::internal(format!("writing {}: {e}", path.display())))
    }

    fn syslog(line: &str) {
        // RFC 3164 over the local datagram socket: facility auth (4), severity notice (5).
        let msg = format!("<37>enclave-audit: head {line}");
        let sock = std::os::unix::net::UnixDatagram::unbound();
        let sent = sock.and_then(|s| s.send_to(msg.as_bytes(), "/dev/log"));
        if let Err(e) = sent {
            tracing::warn!(error = %e, "could not write the audit head to syslog (/dev/log)");
        }
    }
}

impl Job for AuditHeadJob {
    fn name(&self) -> &'static str {
        "audit-head"
    }

    fn interval(&self) -> Duration {
        self.interval
    }

    fn run<'a>(&'a self, _ctx: &'a JobCtx) -> BoxFuture<'a, Result<JobReport>> {
        Box::pin(async move {
            let Some(head) = self.audit.head().await? else {
                return Ok(JobReport {
                    n_items: 0,
                    summary: "the audit log is empty".into(),
                });
            };
            let mut last = *self.last.lock();
            if last.is_none()
                && let Some(path) = &self.file
            {
                // After a restart: what the file already holds.
                last = std::fs::read_to_string(path)
                    .ok()
                    .and_then(|t| last_recorded_head(&t));
            }
            if last == Some(head) {
                return Ok(JobReport {
                    n_items: 0,
                    summary: format!("audit head unchanged at entry {}", head.seq),
                });
            }
            let line = head_line(&head, Millis::now());
            if let Some(path) = &self.file {
                let path = path.clone();
                let this_line = line.clone();
                tokio::task::spawn_blocking(move || Self::append(&path, &this_line))
                    .await
                    .map_err(|e| Error::internal(format!("head file task failed: {e}")))??;
            }
            if self.syslog {
                Self::syslog(&line);
            }
            *self.last.lock() = Some(head);
            Ok(JobReport {
                n_items: 1,
                summary: format!("audit head written: {line}"),
            })
        })
    }
}
