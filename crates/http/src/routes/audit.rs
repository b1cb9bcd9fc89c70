//! The audit log for administrators holding `ViewAuditLog`: a filtered, paged listing and an
//! export (JSON lines or CSV, streamed). Both are recorded in the log themselves (by
//! `enclave_app::Audit`).

use axum::Json;
use axum::body::Body;
use axum::extract::State;
use axum::http::{HeaderValue, header};
use axum::response::{IntoResponse, Response};
use enclave_app::audit::RequestContext;
use enclave_app::{Actor, AuditQuery};
use enclave_core::audit::{AuditAction, AuditEntry, TargetKind};
use enclave_core::{Millis, UserId};
use time::format_description::well_known::Rfc3339;

use crate::AppState;
use crate::dto::{AuditEntryDto, AuditPage, AuditQueryParams};
use crate::error::{ApiError, ApiResult, ErrorBody};
use crate::extract::{ApiQuery, Auth};

/// The most entries one export holds.
pub const MAX_EXPORT_ENTRIES: u64 = 1_000_000;

fn invalid(field: &'static str, reason: &'static str) -> ApiError {
    ApiError::from(enclave_core::Error::invalid(field, reason))
}

fn time_param(field: &'static str, v: Option<&str>) -> Result<Option<Millis>, ApiError> {
    // Empty is refused like any other non-time (the document says `date-time`).
    let Some(v) = v else {
        return Ok(None);
    };
    if v.len() > 64 {
        return Err(invalid(field, "must be an RFC 3339 time"));
    }
    let t = time::OffsetDateTime::parse(v, &Rfc3339)
        .map_err(|_| invalid(field, "must be an RFC 3339 time"))?;
    let ms = t.unix_timestamp_nanos() / 1_000_000;
    Ok(Some(Millis(
        i64::try_from(ms).map_err(|_| invalid(field, "out of range"))?,
    )))
}

/// The filters of a request, checked: unknown names and malformed values are refused.
fn query(p: &AuditQueryParams, default_limit: u32) -> Result<AuditQuery, ApiError> {
    let nonempty = |v: &Option<String>| v.as_deref().filter(|s| !s.is_empty()).map(str::to_owned);
    let actor = match nonempty(&p.actor) {
        None => None,
        Some(a) => Some(
            a.parse::<UserId>()
                .map_err(|_| invalid("actor", "must be a user id"))?,
        ),
    };
    let action = nonempty(&p.action);
    if let Some(a) = &action
        && AuditAction::parse(a).is_none()
    {
        return Err(invalid("action", "is not an audit action"));
    }
    let target_kind = nonempty(&p.target_kind);
    if let Some(k) = &target_kind
        && TargetKind::parse(k).is_none()
    {
        return Err(invalid("target_kind", "is not a target kind"));
    }
    let target_id = nonempty(&p.target_id);
    if target_id.as_ref().is_some_and(|t| t.chars().count() > 128) {
        return Err(invalid("target_id", "must be at most 128 characters"));
    }
    let before_seq = match nonempty(&p.before) {
        None => None,
        Some(b) => match b.parse::<i64>() {
            Ok(n) if n > 0 && b.len() <= 18 && b.bytes().all(|c| c.is_ascii_digit()) => Some(n),
            _ => return Err(invalid("before", "must be a sequence number")),
        },
    };
    let limit = match p.limit {
        None => default_limit,
        Some(n @ 1..=500) => n,
        Some(_) => return Err(invalid("limit", "must be 1 to 500")),
    };
    Ok(AuditQuery {
        actor,
        action,
        target_kind,
        target_id,
        since: time_param("since", p.since.as_deref())?,
        until: time_param("until", p.until.as_deref())?,
        before_seq,
        limit,
    })
}

fn context() -> RequestContext {
    RequestContext::current().unwrap_or_default()
}

/// A query parameter that is one of `names` (or empty: no filter).
fn one_of(names: impl Iterator<Item = &'static str>) -> utoipa::openapi::Object {
    use utoipa::openapi::schema::{ObjectBuilder, Type};
    ObjectBuilder::new()
        .schema_type(Type::String)
        .enum_values(Some(std::iter::once("").chain(names)))
        .build()
}

fn action_names() -> utoipa::openapi::Object {
    one_of(AuditAction::ALL.into_iter().map(AuditAction::as_str))
}

fn target_kinds() -> utoipa::openapi::Object {
    one_of(TargetKind::ALL.into_iter().map(TargetKind::as_str))
}

/// A user id, or empty.
fn actor_id() -> utoipa::openapi::Object {
    use utoipa::openapi::schema::{ObjectBuilder, Type};
    let id = crate::dto::id_alternatives();
    ObjectBuilder::new()
        .schema_type(Type::String)
        .pattern(Some(format!("^({id})?$")))
        .build()
}

/// The listing's query parameters, as the OpenAPI document states them (the handler reads them
/// as [`AuditQueryParams`], shared with the export).
#[derive(utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
#[allow(dead_code)]
pub struct AuditListParams {
    /// The acting user's id.
    #[param(schema_with = actor_id)]
    actor: Option<String>,
    /// An action name, e.g. `sign_in`.
    #[param(schema_with = action_names)]
    action: Option<String>,
    /// A target kind: `user`, `channel`, `message`, `token`, ...
    #[param(schema_with = target_kinds)]
    target_kind: Option<String>,
    /// The target's id (at most 128 characters).
    #[param(max_length = 128)]
    target_id: Option<String>,
    /// At or after this time (RFC 3339).
    #[param(format = DateTime)]
    since: Option<String>,
    /// Before this time (RFC 3339).
    #[param(format = DateTime)]
    until: Option<String>,
    /// Cursor: `next_before` of the previous page (a sequence number, 1 or more).
    #[param(pattern = "^([1-9][0-9]{0,17})?$")]
    before: Option<String>,
    /// Entries per page.
    #[param(minimum = 1, maximum = 500, default = 50)]
    limit: Option<u32>,
}

/// The export's query parameters, as the OpenAPI document states them.
#[derive(utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
#[allow(dead_code)]
pub struct AuditExportParams {
    /// `jsonl` (the default) or `csv`.
    #[param(pattern = "^(jsonl|csv)?$")]
    format: Option<String>,
    /// The acting user's id.
    #[param(schema_with = actor_id)]
    actor: Option<String>,
    /// An action name.
    #[param(schema_with = action_names)]
    action: Option<String>,
    /// A target kind.
    #[param(schema_with = target_kinds)]
    target_kind: Option<String>,
    /// The target's id (at most 128 characters).
    #[param(max_length = 128)]
    target_id: Option<String>,
    /// At or after this time (RFC 3339).
    #[param(format = DateTime)]
    since: Option<String>,
    /// Before this time (RFC 3339).
    #[param(format = DateTime)]
    until: Option<String>,
    /// Only entries below this sequence number (1 or more).
    #[param(pattern = "^([1-9][0-9]{0,17})?$")]
    before: Option<String>,
}

/// Search the audit log, newest first (needs the audit permission; recorded as `audit_viewed`).
#[utoipa::path(get, path = "/api/v1/admin/audit", tag = "admin", params(AuditListParams),
    responses((status = 200, body = AuditPage), (status = 400, body = ErrorBody), (status = 401, body = ErrorBody),
        (status = 403, body = ErrorBody, description = "The caller lacks the audit permission")))]
pub async fn list(
    State(state): State<AppState>,
    Auth(authed): Auth,
    ApiQuery(p): ApiQuery<AuditQueryParams>,
) -> ApiResult<Json<AuditPage>> {
    let actor: Actor = authed.actor();
    enclave_core::permissions::check_audit_log(&actor)?;
    let q = query(&p, 50)?;
    let limit = q.limit;
    let entries = state.audit.search(&actor, &context(), q).await?;
    let next_before = (entries.len() == limit as usize)
        .then(|| entries.last().map(|e| e.seq.to_string()))
        .flatten();
    Ok(Json(AuditPage {
        entries: entries.iter().map(AuditEntryDto::new).collect(),
        next_before,
    }))
}

/// Quotes a CSV field, and defuses values a spreadsheet would run as a formula.
fn csv_field(out: &mut String, v: &str) {
    let v = if v.starts_with(['=', '+', '-', '@', '\t', '\r']) {
        format!("'{v}")
    } else {
        v.to_owned()
    };
    out.push('"');
    out.push_str(&v.replace('"', "\"\""));
    out.push('"');
}

const CSV_HEADER: &str =
    "seq,at,actor,ip,user_agent,action,target_kind,target_id,summary,prev_hash,hash\n";

fn csv_line(e: &AuditEntry) -> String {
    let d = AuditEntryDto::new(e);
    let mut out = String::new();
    let fields = [
        d.seq,
        d.at,
        d.actor.unwrap_or_default(),
        d.ip.unwrap_or_default(),
        d.user_agent.unwrap_or_default(),
        d.action,
        d.target_kind.unwrap_or_default(),
        d.target_id.unwrap_or_default(),
        e.summary.clone(),
        d.prev_hash,
        d.hash,
    ];
    for (i, f) in fields.iter().enumerate() {
        if i > 0 {
            out.push(',');
        }
        csv_field(&mut out, f);
    }
    out.push('\n');
    out
}

fn jsonl_line(e: &AuditEntry) -> String {
    let mut s = serde_json::to_string(&AuditEntryDto::new(e)).unwrap_or_default();
    s.push('\n');
    s
}

/// Export the audit log, newest first, as JSON lines or CSV (at most 1,000,000 entries; needs
/// the audit permission; recorded as `audit_exported`).
#[utoipa::path(get, path = "/api/v1/admin/audit/export", tag = "admin", params(AuditExportParams),
    responses((status = 200, description = "The entries, one per line (application/x-ndjson or text/csv)",
            content((String = "application/x-ndjson"), (String = "text/csv"))),
        (status = 400, body = ErrorBody), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody)))]
pub async fn export(
    State(state): State<AppState>,
    Auth(authed): Auth,
    ApiQuery(p): ApiQuery<AuditQueryParams>,
) -> ApiResult<Response> {
    let actor: Actor = authed.actor();
    enclave_core::permissions::check_audit_log(&actor)?;
    let csv = match p.format.as_deref() {
        None | Some("" | "jsonl") => false,
        Some("csv") => true,
        Some(_) => return Err(invalid("format", "must be jsonl or csv")),
    };
    if p.limit.is_some() {
        return Err(invalid("limit", "is not a parameter of the export"));
    }
    let q = query(&p, 500)?;
    state
        .audit
        .start_export(&actor, &context(), &q, if csv { "csv" } else { "jsonl" })
        .await?;
    struct Cursor {
        state: AppState,
        actor: Actor,
        query: AuditQuery,
        sent: u64,
        header: bool,
        done: bool,
    }
    let start = Cursor {
        state: state.clone(),
        actor,
        query: q,
        sent: 0,
        header: csv,
        done: false,
    };
    let stream = futures_util::stream::unfold(start, move |mut c| async move {
        if c.header {
            c.header = false;
            return Some((Ok::<_, std::io::Error>(CSV_HEADER.to_owned()), c));
        }
        if c.done || c.sent >= MAX_EXPORT_ENTRIES {
            return None;
        }
        let page = match c.state.audit.export_page(&c.actor, c.query.clone()).await {
            Ok(p) => p,
            Err(e) => {
                tracing::error!(error = %e, "audit export failed midway");
                return Some((Err(std::io::Error::other("audit export failed")), c));
            }
        };
        let last = page.last()?;
        c.query.before_seq = Some(last.seq);
        c.done = page.len() < c.query.limit as usize;
        let room = usize::try_from(MAX_EXPORT_ENTRIES - c.sent).unwrap_or(usize::MAX);
        let mut chunk = String::new();
        for e in page.iter().take(room) {
            chunk.push_str(&if csv { csv_line(e) } else { jsonl_line(e) });
        }
        c.sent += page.len().min(room) as u64;
        Some((Ok(chunk), c))
    });
    let (ctype, name) = if csv {
        ("text/csv; charset=utf-8", "enclave-audit.csv")
    } else {
        ("application/x-ndjson", "enclave-audit.jsonl")
    };
    let mut resp = Body::from_stream(stream).into_response();
    let h = resp.headers_mut();
    h.insert(header::CONTENT_TYPE, HeaderValue::from_static(ctype));
    if let Ok(v) = HeaderValue::from_str(&format!("attachment; filename=\"{name}\"")) {
        h.insert(header::CONTENT_DISPOSITION, v);
    }
    Ok(resp)
}
