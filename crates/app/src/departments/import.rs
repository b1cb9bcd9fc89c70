//! The CSV import of departments and placements (`enclave admin import-departments`).
//!
//! Format (UTF-8, an optional byte-order mark, comma-separated, RFC 4180 quoting): a header row
//! `department,username,title,is_head`, then one row per placement. `department` is a path of
//! names from the root down separated by `/` (`总部/技术部/后端组`); `title` may be empty;
//! `is_head` is `true`/`false`, `yes`/`no`, `1`/`0`, `是`/`否` or empty (false).
//!
//! Every row is checked before anything is written (names, titles, known active usernames,
//! limits, permission); one bad row refuses the whole file, and a dry run stops after the
//! checks, so neither changes anything.

use std::collections::{BTreeSet, HashMap};

use enclave_core::departments::{self as rules, Tree};
use enclave_core::{Actor, Error as DomainError, SitePermission};

use enclave_core::audit::{AuditAction, AuditSummary, AuditTarget, TargetKind};

use super::Departments;
use crate::audit::AuditRecord;
use crate::error::Result;

/// Most rows in one import.
pub const MAX_IMPORT_ROWS: usize = 100_000;

/// One placement read from the file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ImportRow {
    /// The line it came from (1 is the header).
    pub line: usize,
    pub path: Vec<String>,
    pub username: String,
    pub title: String,
    pub is_head: bool,
}

/// What an import did, or with a dry run would do.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ImportReport {
    pub dry_run: bool,
    pub rows: usize,
    /// Departments created (or to be created), as paths.
    pub departments_created: Vec<String>,
    /// People put in a department they were not in.
    pub placed: u64,
    /// Placements whose title or headship changed.
    pub updated: u64,
    /// Placements already as the file says.
    pub unchanged: u64,
    /// Problems by line; when there is any, nothing was changed.
    pub problems: Vec<(usize, String)>,
    /// Members added to and removed from department channels.
    pub channel_members_added: u64,
    pub channel_members_removed: u64,
}

/// Splits CSV text into records (RFC 4180: quoted fields may hold commas, doubled quotes and
/// line breaks). Returns each record with the line it starts on.
/// A record with the line it starts on.
type Record = (usize, Vec<String>);

fn records(text: &str) -> std::result::Result<Vec<Record>, (usize, String)> {
    let text = text.strip_prefix('\u{feff}').unwrap_or(text);
    let mut out = Vec::new();
    let mut field = String::new();
    let mut record: Vec<String> = Vec::new();
    let mut line = 1;
    let mut start = 1;
    let mut quoted = false;
    let mut chars = text.chars().peekable();
    let mut at_field_start = true;
    while let Some(c) = chars.next() {
        if quoted {
            match c {
                '"' if chars.peek() == Some(&'"') => {
                    chars.next();
                    field.push('"');
                }
                '"' => quoted = false,
                '\n' => {
                    line += 1;
                    field.push(c);
                }
                _ => field.push(c),
            }
            continue;
        }
        match c {
            '"' if at_field_start => {
                quoted = true;
                at_field_start = false;
            }
            '"' => return Err((line, "a quote inside an unquoted field".into())),
            ',' => {
                record.push(std::mem::take(&mut field));
                at_field_start = true;
            }
            '\r' if chars.peek() == Some(&'\n') => {}
            '\n' => {
                record.push(std::mem::take(&mut field));
                if !(record.len() == 1 && record[0].is_empty()) {
                    out.push((start, std::mem::take(&mut record)));
                }
                record.clear();
                line += 1;
                start = line;
                at_field_start = true;
            }
            _ => {
                field.push(c);
                at_field_start = false;
            }
        }
        if out.len() > MAX_IMPORT_ROWS + 1 {
            return Err((line, format!("more than {MAX_IMPORT_ROWS} rows")));
        }
    }
    if quoted {
        return Err((start, "a quoted field is not closed".into()));
    }
    if !field.is_empty() || !record.is_empty() {
        record.push(field);
        out.push((start, record));
    }
    Ok(out)
}

fn parse_bool(s: &str) -> Option<bool> {
    match s.trim().to_lowercase().as_str() {
        "" | "false" | "no" | "0" | "否" | "n" => Some(false),
        "true" | "yes" | "1" | "是" | "y" => Some(true),
        _ => None,
    }
}

/// Reads the import file: its rows, or the problems that make it unusable (by line).
pub fn parse_csv(text: &str) -> std::result::Result<Vec<ImportRow>, Vec<(usize, String)>> {
    let recs = records(text).map_err(|e| vec![e])?;
    let mut it = recs.into_iter();
    let Some((_, header)) = it.next() else {
        return Err(vec![(1, "the file is empty".into())]);
    };
    let header: Vec<String> = header.iter().map(|h| h.trim().to_lowercase()).collect();
    let col = |name: &str| header.iter().position(|h| h == name);
    let (Some(dept), Some(user)) = (col("department"), col("username")) else {
        return Err(vec![(
            1,
            "the header must name the columns department,username[,title,is_head]".into(),
        )]);
    };
    let title = col("title");
    let head = col("is_head");
    let mut rows = Vec::new();
    let mut problems = Vec::new();
    for (line, rec) in it {
        if rec.len() != header.len() {
            problems.push((
                line,
                format!("{} fields where the header has {}", rec.len(), header.len()),
            ));
            continue;
        }
        let path: Vec<String> = rec[dept].split('/').map(|p| p.trim().to_owned()).collect();
        let is_head = match head.map(|h| rec[h].as_str()).map(parse_bool) {
            None => false,
            Some(Some(b)) => b,
            Some(None) => {
                problems.push((line, "is_head must be true or false".into()));
                continue;
            }
        };
        rows.push(ImportRow {
            line,
            path,
            username: rec[user].trim().to_lowercase(),
            title: title.map(|t| rec[t].clone()).unwrap_or_default(),
            is_head,
        });
    }
    if rows.len() > MAX_IMPORT_ROWS {
        problems.push((1, format!("more than {MAX_IMPORT_ROWS} rows")));
    }
    if problems.is_empty() {
        Ok(rows)
    } else {
        Err(problems)
    }
}

pub(super) async fn run(
    svc: &Departments,
    actor: &Actor,
    rows: &[ImportRow],
    dry_run: bool,
    progress: &(dyn Fn(usize, usize) + Sync),
) -> Result<ImportReport> {
    let mut report = ImportReport {
        dry_run,
        rows: rows.len(),
        ..Default::default()
    };
    if !actor.may(SitePermission::ManageDepartments) {
        return Err(DomainError::Forbidden(
            "importing departments needs the manage-departments permission",
        )
        .into());
    }
    // 1. Check every row against the tree as it is, without writing.
    let tree = Tree::new(svc.store.departments().await?);
    let names: Vec<String> = rows
        .iter()
        .map(|r| r.username.clone())
        .collect::<BTreeSet<_>>()
        .into_iter()
        .collect();
    let users: HashMap<String, enclave_core::User> = svc
        .accounts
        .users_by_usernames(&names)
        .await?
        .into_iter()
        .filter(|u| u.active)
        .map(|u| (u.username.clone(), u))
        .collect();
    let mut new_paths: BTreeSet<Vec<String>> = BTreeSet::new();
    let mut per_user: HashMap<String, BTreeSet<Vec<String>>> = HashMap::new();
    for r in rows {
        let mut path = Vec::new();
        let mut bad = None;
        if r.path.is_empty() || r.path.len() > rules::MAX_DEPTH {
            bad = Some("the department path must name 1 to 15 departments".to_owned());
        }
        for name in &r.path {
            match rules::department_name(name) {
                Ok(n) => path.push(n),
                Err(e) => {
                    bad = Some(format!("department {name:?}: {e}"));
                    break;
                }
            }
        }
        if let Err(e) = rules::title(&r.title) {
            bad = Some(e.to_string());
        }
        if !users.contains_key(&r.username) {
            bad = Some(format!("no active user {:?}", r.username));
        }
        if let Some(b) = bad {
            report.problems.push((r.line, b));
            continue;
        }
        for i in 1..=path.len() {
            if tree.find_path(&path[..i]).is_none() {
                new_paths.insert(path[..i].to_vec());
            }
        }
        let set = per_user.entry(r.username.clone()).or_default();
        if !set.insert(path.iter().map(|p| rules::name_key(p)).collect()) {
            report
                .problems
                .push((r.line, "the same person and department twice".into()));
        }
    }
    if tree.len() + new_paths.len() > rules::MAX_DEPARTMENTS {
        report
            .problems
            .push((1, "the tree would hold more than 10000 departments".into()));
    }
    for (name, set) in &per_user {
        let existing: BTreeSet<_> = match users.get(name) {
            Some(u) => svc
                .store
                .user_departments(u.id)
                .await?
                .into_iter()
                .map(|m| m.department_id)
                .collect(),
            None => BTreeSet::new(),
        };
        let added = set
            .iter()
            .filter(|p| tree.find_path(p).is_none_or(|d| !existing.contains(&d)))
            .count();
        if existing.len() + added > rules::MAX_DEPARTMENTS_PER_USER {
            report
                .problems
                .push((1, format!("{name} would be in more than 20 departments")));
        }
    }
    report.departments_created = new_paths.iter().map(|p| p.join("/")).collect();
    // What would change for each placement in an existing department.
    for r in rows {
        let Some(u) = users.get(&r.username) else {
            continue;
        };
        match tree.find_path(&r.path) {
            None => report.placed += 1,
            Some(d) => {
                let now = svc.store.user_departments(u.id).await?;
                match now.iter().find(|m| m.department_id == d) {
                    None => report.placed += 1,
                    Some(m) if m.title == r.title.trim() && m.is_head == r.is_head => {
                        report.unchanged += 1
                    }
                    Some(_) => report.updated += 1,
                }
            }
        }
    }
    if dry_run || !report.problems.is_empty() {
        return Ok(report);
    }
    // 2. Write: departments first (parents before children), then placements.
    let total = rows.len();
    for p in &new_paths {
        svc.ensure_path(actor, p).await?;
    }
    let before = Tree::new(svc.store.departments().await?);
    let mut touched = BTreeSet::new();
    for (i, r) in rows.iter().enumerate() {
        let Some(u) = users.get(&r.username) else {
            continue;
        };
        let d = svc.ensure_path(actor, &r.path).await?;
        touched.insert(d);
        let a = *actor;
        let title = rules::title(&r.title)?;
        svc.store
            .set_department_member_audited(
                enclave_core::departments::DepartmentMember {
                    department_id: d,
                    user_id: u.id,
                    title,
                    is_head: r.is_head,
                },
                Box::new(move |t, others| rules::check_member(&a, t, d, others)),
                svc.member_audit(actor),
            )
            .await?;
        progress(i + 1, total);
    }
    let touched: Vec<_> = touched.into_iter().collect();
    let sync = svc.sync_touched(actor, &before, &touched).await?;
    report.channel_members_added = sync.added;
    report.channel_members_removed = sync.removed;
    // Each change above has its own entry, written with it; this one sums the run up.
    let mut record = AuditRecord::new(AuditAction::DepartmentsImported)
        .target(AuditTarget::new(TargetKind::Site, "departments"))
        .summary(
            AuditSummary::new()
                .fact("rows", report.rows)
                .fact("departments_created", report.departments_created.len())
                .fact("placed", report.placed)
                .fact("updated", report.updated)
                .fact("unchanged", report.unchanged),
        );
    if actor.user_id.0 != 0 {
        record = record.by(actor.user_id);
    }
    svc.audit.record(record).await;
    Ok(report)
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn csv_rows_parse_with_quotes_bom_and_crlf() {
        let text = "\u{feff}department,username,title,is_head\r\n总部/技术部,zhangwei,\"工程师, 后端\",是\r\n\"总部/市场部\",li,,\r\n\r\n";
        let rows = parse_csv(text).unwrap();
        assert_eq!(rows.len(), 2);
        assert_eq!(rows[0].path, vec!["总部", "技术部"]);
        assert_eq!(rows[0].title, "工程师, 后端");
        assert!(rows[0].is_head);
        assert_eq!(rows[1].line, 3);
        assert!(!rows[1].is_head);
    }

    #[test]
    fn bad_csv_names_the_line() {
        assert!(parse_csv("").is_err());
        assert!(parse_csv("dept,user\nx,y\n").is_err());
        let e = parse_csv("department,username,is_head\na,b,maybe\n").unwrap_err();
        assert_eq!(e[0].0, 2);
        let e = parse_csv("department,username\na,b,c\n").unwrap_err();
        assert_eq!(e[0].0, 2);
        assert!(parse_csv("department,username\n\"a,b\n").is_err());
    }
}
