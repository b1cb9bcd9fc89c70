//! Accounts linked to LDAP providers and directory sync runs on SQLite (schema version 14).

use async_trait::async_trait;
use enclave_core::{Error as DomainError, Millis, UserId};
use rusqlite::{Connection, OptionalExtension, Row, params};

use super::{SqliteStore, is_unique_violation};
use crate::{Error, LdapLink, LdapStore, Result, SyncRun};

const LINK_COLS: &str = "user_id, provider, external_id, dn, phone, title, department, \
                         sync_deactivated, linked_at, seen_at";
const RUN_COLS: &str =
    "id, provider, dry_run, trigger, status, started_at, finished_at, done, total, report, error";

fn link(r: &Row<'_>) -> rusqlite::Result<LdapLink> {
    Ok(LdapLink {
        user_id: UserId(r.get(0)?),
        provider: r.get(1)?,
        external_id: r.get(2)?,
        dn: r.get(3)?,
        phone: r.get(4)?,
        title: r.get(5)?,
        department: r.get(6)?,
        sync_deactivated: r.get(7)?,
        linked_at: Millis(r.get(8)?),
        seen_at: Millis(r.get(9)?),
    })
}

fn run(r: &Row<'_>) -> rusqlite::Result<SyncRun> {
    Ok(SyncRun {
        id: r.get(0)?,
        provider: r.get(1)?,
        dry_run: r.get(2)?,
        trigger: r.get(3)?,
        status: r.get(4)?,
        started_at: Millis(r.get(5)?),
        finished_at: r.get::<_, Option<i64>>(6)?.map(Millis),
        done: u64::try_from(r.get::<_, i64>(7)?).unwrap_or(0),
        total: r
            .get::<_, Option<i64>>(8)?
            .map(|t| u64::try_from(t).unwrap_or(0)),
        report: r.get(9)?,
        error: r.get(10)?,
    })
}

fn links_where(c: &Connection, cond: &str, arg: &dyn rusqlite::ToSql) -> Result<Vec<LdapLink>> {
    let sql = format!("SELECT {LINK_COLS} FROM ldap_links WHERE {cond} ORDER BY user_id");
    let mut stmt = c.prepare_cached(&sql)?;
    let rows = stmt.query_map([arg], link)?;
    Ok(rows.collect::<rusqlite::Result<_>>()?)
}

fn count(n: u64) -> i64 {
    i64::try_from(n).unwrap_or(i64::MAX)
}

#[async_trait]
impl LdapStore for SqliteStore {
    async fn ldap_link_by_external(
        &self,
        provider: &str,
        external_id: &str,
    ) -> Result<Option<LdapLink>> {
        let (p, e) = (provider.to_owned(), external_id.to_owned());
        self.read(move |c| {
            let sql = format!(
                "SELECT {LINK_COLS} FROM ldap_links WHERE provider = ?1 AND external_id = ?2"
            );
            Ok(c.prepare_cached(&sql)?
                .query_row(params![p, e], link)
                .optional()?)
        })
        .await
    }

    async fn ldap_link_of_user(&self, user_id: UserId) -> Result<Option<LdapLink>> {
        self.read(move |c| Ok(links_where(c, "user_id = ?1", &user_id.0)?.pop()))
            .await
    }

    async fn ldap_links(&self, provider: &str) -> Result<Vec<LdapLink>> {
        let p = provider.to_owned();
        self.read(move |c| links_where(c, "provider = ?1", &p))
            .await
    }

    async fn put_ldap_link(&self, l: LdapLink) -> Result<()> {
        self.write(move |tx| {
            let r = tx
                .conn
                .prepare_cached(
                    "INSERT INTO ldap_links (user_id, provider, external_id, dn, phone, title,
                         department, sync_deactivated, linked_at, seen_at)
                     VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10)
                     ON CONFLICT (user_id) DO UPDATE SET provider = ?2, external_id = ?3,
                         dn = ?4, phone = ?5, title = ?6, department = ?7,
                         sync_deactivated = ?8, seen_at = ?10",
                )?
                .execute(params![
                    l.user_id.0,
                    l.provider,
                    l.external_id,
                    l.dn,
                    l.phone,
                    l.title,
                    l.department,
                    l.sync_deactivated,
                    l.linked_at.0,
                    l.seen_at.0
                ]);
            match r {
                Ok(_) => Ok(()),
                Err(e) if is_unique_violation(&e) => Err(Error::Domain(DomainError::Conflict(
                    "the directory entry is linked to another account",
                ))),
                Err(e) => Err(e.into()),
            }
        })
        .await
    }

    async fn start_sync_run(
        &self,
        provider: &str,
        dry_run: bool,
        trigger: &str,
        at: Millis,
    ) -> Result<i64> {
        let (p, t) = (provider.to_owned(), trigger.to_owned());
        self.write(move |tx| {
            tx.conn
                .prepare_cached(
                    "INSERT INTO ldap_sync_runs (provider, dry_run, trigger, status, started_at)
                     VALUES (?1, ?2, ?3, 'running', ?4)",
                )?
                .execute(params![p, dry_run, t, at.0])?;
            Ok(tx.conn.last_insert_rowid())
        })
        .await
    }

    async fn sync_run_progress(&self, id: i64, done: u64, total: Option<u64>) -> Result<()> {
        self.write(move |tx| {
            tx.conn
                .prepare_cached("UPDATE ldap_sync_runs SET done = ?2, total = ?3 WHERE id = ?1")?
                .execute(params![id, count(done), total.map(count)])?;
            Ok(())
        })
        .await
    }

    async fn finish_sync_run(
        &self,
        id: i64,
        status: &str,
        report: &str,
        error: &str,
        at: Millis,
    ) -> Result<()> {
        let (s, r, e) = (status.to_owned(), report.to_owned(), error.to_owned());
        self.write(move |tx| {
            tx.conn
                .prepare_cached(
                    "UPDATE ldap_sync_runs SET status = ?2, report = ?3, error = ?4,
                         finished_at = ?5 WHERE id = ?1",
                )?
                .execute(params![id, s, r, e, at.0])?;
            Ok(())
        })
        .await
    }

    async fn sync_runs(&self, provider: &str, limit: u32) -> Result<Vec<SyncRun>> {
        let p = provider.to_owned();
        self.read(move |c| {
            let sql = format!(
                "SELECT {RUN_COLS} FROM ldap_sync_runs WHERE provider = ?1 ORDER BY id DESC LIMIT ?2"
            );
            let mut stmt = c.prepare_cached(&sql)?;
            let rows = stmt.query_map(params![p, limit], run)?;
            Ok(rows.collect::<rusqlite::Result<_>>()?)
        })
        .await
    }
}
