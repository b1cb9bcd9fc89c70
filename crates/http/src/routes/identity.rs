//! Identity providers (LDAP / Active Directory) and their directory sync, for administrators
//! (`docs/admin/ldap.md`). The sync itself is `enclave_app::Ldap`'s.

use axum::Json;
use axum::extract::{Path, State};
use axum::http::StatusCode;

use crate::AppState;
use crate::dto::{IdentityProviderDto, IdentityProviderList, SyncRequest, SyncStarted};
use crate::error::{ApiResult, ErrorBody};
use crate::extract::{ApiJson, Auth};

/// List the identity providers with the state of their directory sync: the newest runs with
/// progress, report and errors. Needs the right to manage users.
#[utoipa::path(get, path = "/api/v1/admin/identity-providers", tag = "admin",
    responses((status = 200, body = IdentityProviderList),
        (status = 401, body = ErrorBody), (status = 403, body = ErrorBody)))]
pub async fn list(
    State(state): State<AppState>,
    Auth(authed): Auth,
) -> ApiResult<Json<IdentityProviderList>> {
    let status = state.ldap.status(&authed.actor()).await?;
    Ok(Json(IdentityProviderList {
        providers: status.iter().map(IdentityProviderDto::new).collect(),
    }))
}

/// Start a directory sync of the provider (with `dry_run`, report what would change and change
/// nothing). Answers at once with the run's id; the run's progress and report appear in the
/// provider list. One sync of a provider runs at a time (409 while one runs). Needs the right
/// to manage users.
#[utoipa::path(post, path = "/api/v1/admin/identity-providers/{id}/sync", tag = "admin",
    params(("id" = String, Path, description = "The provider's id")),
    request_body = SyncRequest,
    responses((status = 202, body = SyncStarted),
        (status = 400, body = ErrorBody), (status = 401, body = ErrorBody),
        (status = 403, body = ErrorBody), (status = 404, body = ErrorBody),
        (status = 409, body = ErrorBody)))]
pub async fn sync(
    State(state): State<AppState>,
    Auth(authed): Auth,
    Path(id): Path<String>,
    ApiJson(req): ApiJson<SyncRequest>,
) -> ApiResult<(StatusCode, Json<SyncStarted>)> {
    let run = state
        .ldap
        .start_sync(&authed.actor(), &id, req.dry_run.unwrap_or(false))
        .await?;
    Ok((
        StatusCode::ACCEPTED,
        Json(SyncStarted {
            run_id: run.to_string(),
        }),
    ))
}
