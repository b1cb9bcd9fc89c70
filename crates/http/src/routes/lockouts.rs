//! The sign-in throttle, for administrators: who is delayed, from where, until when, and
//! clearing it (`docs/admin/lockout.md`). The rules are `enclave_core::lockout`.

use axum::Json;
use axum::extract::{Path, State};
use enclave_core::Error as DomainError;

use crate::AppState;
use crate::dto::{LockoutDto, LockoutList, LockoutQuery, LockoutsCleared};
use crate::error::{ApiError, ApiResult, ErrorBody};
use crate::extract::{ApiQuery, Auth};

/// The most entries one listing returns.
const MAX_LIMIT: u32 = enclave_core::lockout::MAX_LIST;

/// List throttled sign-ins (newest failure first): every (account, address) pair with failures
/// in memory, whether its next attempt must wait and until when. Needs the right to manage users.
#[utoipa::path(get, path = "/api/v1/admin/lockouts", tag = "admin",
    params(LockoutQuery),
    responses((status = 200, body = LockoutList), (status = 400, body = ErrorBody),
        (status = 401, body = ErrorBody), (status = 403, body = ErrorBody)))]
pub async fn list(
    State(state): State<AppState>,
    Auth(authed): Auth,
    ApiQuery(q): ApiQuery<LockoutQuery>,
) -> ApiResult<Json<LockoutList>> {
    let limit = q.limit.unwrap_or(100);
    if !(1..=MAX_LIMIT).contains(&limit) {
        return Err(ApiError::from(DomainError::invalid(
            "limit",
            "must be 1 to 200",
        )));
    }
    let list = state
        .accounts
        .lockouts(&authed.actor(), q.account.as_deref(), limit)
        .await?;
    Ok(Json(LockoutList {
        lockouts: list.iter().map(LockoutDto::new).collect(),
    }))
}

/// Clear every throttled sign-in of an account key (from every address, at every step).
/// Addresses the account signed in from stay known. Needs the right to manage users.
#[utoipa::path(delete, path = "/api/v1/admin/lockouts/{account}", tag = "admin",
    params(("account" = String, Path, pattern = r"^[\t-\r \x85\xa0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000]*[^\t-\r \x85\xa0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000\x00-\x1f\x7f-\x9f]([^\x00-\x1f\x7f-\x9f]{0,252}[^\t-\r \x85\xa0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000\x00-\x1f\x7f-\x9f])?[\t-\r \x85\xa0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000]*$",
        description = "The account key (a login: 1 to 254 characters once trimmed, without control characters)")),
    responses((status = 200, body = LockoutsCleared), (status = 400, body = ErrorBody),
        (status = 401, body = ErrorBody), (status = 403, body = ErrorBody)))]
pub async fn clear_account(
    State(state): State<AppState>,
    Auth(authed): Auth,
    Path(account): Path<String>,
) -> ApiResult<Json<LockoutsCleared>> {
    let cleared = state
        .accounts
        .clear_lockouts(&authed.actor(), &account, None)
        .await?;
    Ok(Json(LockoutsCleared { cleared }))
}

/// Clear the throttled sign-ins of an account key from one address (an IPv4 address or an
/// IPv6 /64 network such as `2001:db8:1:2::/64`, its `/` percent-encoded). Needs the right to
/// manage users.
#[utoipa::path(delete, path = "/api/v1/admin/lockouts/{account}/{source}", tag = "admin",
    params(("account" = String, Path, pattern = r"^[\t-\r \x85\xa0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000]*[^\t-\r \x85\xa0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000\x00-\x1f\x7f-\x9f]([^\x00-\x1f\x7f-\x9f]{0,252}[^\t-\r \x85\xa0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000\x00-\x1f\x7f-\x9f])?[\t-\r \x85\xa0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000]*$",
            description = "The account key (a login: 1 to 254 characters once trimmed, without control characters)"),
        ("source" = String, Path, pattern = r"^((25[0-5]|2[0-4][0-9]|1[0-9][0-9]|[1-9]?[0-9])\.(25[0-5]|2[0-4][0-9]|1[0-9][0-9]|[1-9]?[0-9])\.(25[0-5]|2[0-4][0-9]|1[0-9][0-9]|[1-9]?[0-9])\.(25[0-5]|2[0-4][0-9]|1[0-9][0-9]|[1-9]?[0-9])|((0|[1-9a-f][0-9a-f]{0,3}):){0,3}[1-9a-f][0-9a-f]{0,3}::/64|::/64)$",
            description = "The address as listed: an IPv4 address, or an IPv6 /64 network in its shortest form")),
    responses((status = 200, body = LockoutsCleared), (status = 400, body = ErrorBody),
        (status = 401, body = ErrorBody), (status = 403, body = ErrorBody)))]
pub async fn clear_source(
    State(state): State<AppState>,
    Auth(authed): Auth,
    Path((account, source)): Path<(String, String)>,
) -> ApiResult<Json<LockoutsCleared>> {
    let cleared = state
        .accounts
        .clear_lockouts(&authed.actor(), &account, Some(&source))
        .await?;
    Ok(Json(LockoutsCleared { cleared }))
}
