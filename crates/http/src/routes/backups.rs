//! The backups for administrators (`docs/admin/backup.md`): the schedule, the last run and the
//! backups present; a backup started now. Backups themselves are `enclave_server::backup`'s.

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;

use crate::AppState;
use crate::dto::BackupsDto;
use crate::error::{ApiResult, ErrorBody};
use crate::extract::Auth;

/// The scheduled backups: `[backup]` (folder, interval, how many are kept; `null` when off), the
/// last run of the `backup` job on this node (when, ok or failed, its report, how long) and the
/// complete backups in the folder with the counts of their manifests, newest first. Needs the
/// export_data permission.
#[utoipa::path(get, path = "/api/v1/admin/backups", tag = "admin",
    responses((status = 200, body = BackupsDto),
        (status = 401, body = ErrorBody), (status = 403, body = ErrorBody)))]
pub async fn list(
    State(state): State<AppState>,
    Auth(authed): Auth,
) -> ApiResult<Json<BackupsDto>> {
    let view = state.backups.view(&authed.actor()).await?;
    Ok(Json(BackupsDto::new(&view)))
}

/// Start a backup now (the scheduled `backup` job, on this node): answers 202 at once; the run
/// and its report appear in `GET /api/v1/admin/backups` and in the log. 409 while scheduled
/// backups are off or one runs. Needs the export_data permission.
#[utoipa::path(post, path = "/api/v1/admin/backups", tag = "admin",
    responses((status = 202, body = BackupsDto),
        (status = 401, body = ErrorBody), (status = 403, body = ErrorBody),
        (status = 409, body = ErrorBody)))]
pub async fn start(
    State(state): State<AppState>,
    Auth(authed): Auth,
) -> ApiResult<(StatusCode, Json<BackupsDto>)> {
    state.backups.start(&authed.actor())?;
    let view = state.backups.view(&authed.actor()).await?;
    Ok((StatusCode::ACCEPTED, Json(BackupsDto::new(&view))))
}
