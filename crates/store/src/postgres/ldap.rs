//! Accounts linked to LDAP providers and directory sync runs on PostgreSQL (migration 0013).

use async_trait::async_trait;
use enclave_core::{Error as DomainError, Millis, UserId};
use sqlx_core::row::Row;
use sqlx_postgres::PgRow;

use super::rows::all;
use super::{PgStore, limit, q, unique_violation};
use crate::{Error, LdapLink, LdapStore, Result, SyncRun};

macro_rules! link_cols {
    () => {
        "user_id, provider, external_id, dn, phone, title, department, sync_deactivated, \
         linked_at, seen_at"
    };
}
macro_rules! run_cols {
    () => {
        "id, provider, dry_run, trigger, status, started_at, finished_at, done, total, report, \
         error"
    };
}

fn link(r: &PgRow) -> std::result::Result<LdapLink, sqlx_core::Error> {
    Ok(LdapLink {
        user_id: UserId(r.try_get(0)?),
        provider: r.try_get(1)?,
        external_id: r.try_get(2)?,
        dn: r.try_get(3)?,
        phone: r.try_get(4)?,
        title: r.try_get(5)?,
        department: r.try_get(6)?,
        sync_deactivated: r.try_get(7)?,
        linked_at: Millis(r.try_get(8)?),
        seen_at: Millis(r.try_get(9)?),
    })
}

fn run(r: &PgRow) -> std::result::Result<SyncRun, sqlx_core::Error> {
    Ok(SyncRun {
        id: r.try_get(0)?,
        provider: r.try_get(1)?,
        dry_run: r.try_get(2)?,
        trigger: r.try_get(3)?,
        status: r.try_get(4)?,
        started_at: Millis(r.try_get(5)?),
        finished_at: r.try_get::<Option<i64>, _>(6)?.map(Millis),
        done: u64::try_from(r.try_get::<i64, _>(7)?).unwrap_or(0),
        total: r
            .try_get::<Option<i64>, _>(8)?
            .map(|t| u64::try_from(t).unwrap_or(0)),
        report: r.try_get(9)?,
        error: r.try_get(10)?,
    })
}

fn count(n: u64) -> i64 {
    i64::try_from(n).unwrap_or(i64::MAX)
}

#[async_trait]
impl LdapStore for PgStore {
    async fn ldap_link_by_external(
        &self,
        provider: &str,
        external_id: &str,
    ) -> Result<Option<LdapLink>> {
        let mut c = self.conn().await?;
        let rows = q(concat!(
            "SELECT ",
            link_cols!(),
            " FROM ldap_links WHERE provider = $1 AND external_id = $2"
        ))
        .bind(provider.to_owned())
        .bind(external_id.to_owned())
        .fetch_all(&mut *c)
        .await?;
        Ok(all(rows, link)?.pop())
    }

    async fn ldap_link_of_user(&self, user_id: UserId) -> Result<Option<LdapLink>> {
        let mut c = self.conn().await?;
        let rows = q(concat!(
            "SELECT ",
            link_cols!(),
            " FROM ldap_links WHERE user_id = $1"
        ))
        .bind(user_id.0)
        .fetch_all(&mut *c)
        .await?;
        Ok(all(rows, link)?.pop())
    }

    async fn ldap_links(&self, provider: &str) -> Result<Vec<LdapLink>> {
        let mut c = self.conn().await?;
        let rows = q(concat!(
            "SELECT ",
            link_cols!(),
            " FROM ldap_links WHERE provider = $1 ORDER BY user_id"
        ))
        .bind(provider.to_owned())
        .fetch_all(&mut *c)
        .await?;
        all(rows, link)
    }

    async fn put_ldap_link(&self, l: LdapLink) -> Result<()> {
        let mut c = self.conn().await?;
        let r = q(
            "INSERT INTO ldap_links (user_id, provider, external_id, dn, phone, title,
                       department, sync_deactivated, linked_at, seen_at)
                   VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)
                   ON CONFLICT (user_id) DO UPDATE SET provider = $2, external_id = $3,
                       dn = $4, phone = $5, title = $6, department = $7,
                       sync_deactivated = $8, seen_at = $10",
        )
        .bind(l.user_id.0)
        .bind(l.provider)
        .bind(l.external_id)
        .bind(l.dn)
        .bind(l.phone)
        .bind(l.title)
        .bind(l.department)
        .bind(l.sync_deactivated)
        .bind(l.linked_at.0)
        .bind(l.seen_at.0)
        .execute(&mut *c)
        .await;
        match r {
            Ok(_) => Ok(()),
            Err(e) if unique_violation(&e).is_some() => Err(Error::Domain(DomainError::Conflict(
                "the directory entry is linked to another account",
            ))),
            Err(e) => Err(e.into()),
        }
    }

    async fn start_sync_run(
        &self,
        provider: &str,
        dry_run: bool,
        trigger: &str,
        at: Millis,
    ) -> Result<i64> {
        let mut c = self.conn().await?;
        let row = q(
            "INSERT INTO ldap_sync_runs (provider, dry_run, trigger, status, started_at)
                     VALUES ($1, $2, $3, 'running', $4) RETURNING id",
        )
        .bind(provider.to_owned())
        .bind(dry_run)
        .bind(trigger.to_owned())
        .bind(at.0)
        .fetch_one(&mut *c)
        .await?;
        Ok(row.try_get(0)?)
    }

    async fn sync_run_progress(&self, id: i64, done: u64, total: Option<u64>) -> Result<()> {
        let mut c = self.conn().await?;
        q("UPDATE ldap_sync_runs SET done = $2, total = $3 WHERE id = $1")
            .bind(id)
            .bind(count(done))
            .bind(total.map(count))
            .execute(&mut *c)
            .await?;
        Ok(())
    }

    async fn finish_sync_run(
        &self,
        id: i64,
        status: &str,
        report: &str,
        error: &str,
        at: Millis,
    ) -> Result<()> {
        let mut c = self.conn().await?;
        q(
            "UPDATE ldap_sync_runs SET status = $2, report = $3, error = $4, finished_at = $5
           WHERE id = $1",
        )
        .bind(id)
        .bind(status.to_owned())
        .bind(report.to_owned())
        .bind(error.to_owned())
        .bind(at.0)
        .execute(&mut *c)
        .await?;
        Ok(())
    }

    async fn sync_runs(&self, provider: &str, n: u32) -> Result<Vec<SyncRun>> {
        let mut c = self.conn().await?;
        let rows = q(concat!(
            "SELECT ",
            run_cols!(),
            " FROM ldap_sync_runs WHERE provider = $1 ORDER BY id DESC LIMIT $2"
        ))
        .bind(provider.to_owned())
        .bind(limit(n))
        .fetch_all(&mut *c)
        .await?;
        all(rows, run)
    }
}
