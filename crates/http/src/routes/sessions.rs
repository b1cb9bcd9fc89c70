//! Sessions (signed-in devices) and app passwords: the user's own, and an administrator's view
//! of another account's sessions. The rules are `enclave_core::permissions::check_own_credentials`
//! (through `app::Accounts`); see docs/admin/sessions.md.

use axum::Json;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use enclave_core::UserId;

use crate::AppState;
use crate::dto::{
    AppPasswordDto, AppPasswordList, CreateAppPasswordRequest, CreatedAppPassword, EndedSessions,
    SessionDto, SessionList,
};
use crate::error::{ApiResult, ErrorBody, ErrorCode};
use crate::extract::{ApiJson, Auth, parse_id};

/// The current user's sessions (one per signed-in device): device, client, address, created,
/// last seen; the one this request used is marked `current`.
#[utoipa::path(get, path = "/api/v1/users/me/sessions", tag = "auth",
    responses((status = 200, body = SessionList), (status = 401, body = ErrorBody)))]
pub async fn mine(
    State(state): State<AppState>,
    Auth(authed): Auth,
) -> ApiResult<Json<SessionList>> {
    let current = authed.token_id();
    let list = state.accounts.sessions(&authed.actor()).await?;
    Ok(Json(SessionList {
        sessions: list
            .iter()
            .map(|t| SessionDto::new(t, Some(t.id) == current))
            .collect(),
    }))
}

/// End one of the current user's sessions: it stops working at once, its WebSockets included.
/// Another account's session id is "not found". Only from a signed-in session.
#[utoipa::path(delete, path = "/api/v1/users/me/sessions/{id}", tag = "auth",
    params(("id" = String, Path, description = "Session id")),
    responses((status = 204, description = "Ended"), (status = 401, body = ErrorBody),
        (status = 403, body = ErrorBody, description = "The request was made with a token or app password"),
        (status = 404, body = ErrorBody, description = "`token_not_found`: no such session of yours")))]
pub async fn end(
    State(state): State<AppState>,
    Auth(authed): Auth,
    Path(id): Path<String>,
) -> ApiResult<StatusCode> {
    let id = parse_id(&id, ErrorCode::TokenNotFound)?;
    state.accounts.end_session(&authed, id).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// End every session of the current user but this one.
#[utoipa::path(post, path = "/api/v1/users/me/sessions/end-others", tag = "auth",
    responses((status = 200, body = EndedSessions), (status = 401, body = ErrorBody),
        (status = 403, body = ErrorBody, description = "The request was made with a token or app password")))]
pub async fn end_others(
    State(state): State<AppState>,
    Auth(authed): Auth,
) -> ApiResult<Json<EndedSessions>> {
    let ended = state.accounts.end_others(&authed).await?;
    Ok(Json(EndedSessions { ended }))
}

/// An account's sessions (user managers; the read is recorded in the audit log).
#[utoipa::path(get, path = "/api/v1/users/{id}/sessions", tag = "users",
    params(("id" = String, Path, description = "User id")),
    responses((status = 200, body = SessionList), (status = 401, body = ErrorBody),
        (status = 403, body = ErrorBody), (status = 404, body = ErrorBody)))]
pub async fn of_user(
    State(state): State<AppState>,
    Auth(authed): Auth,
    Path(id): Path<String>,
) -> ApiResult<Json<SessionList>> {
    let id: UserId = parse_id(&id, ErrorCode::UserNotFound)?;
    let current = authed.token_id();
    let list = state.accounts.user_sessions(&authed.actor(), id).await?;
    Ok(Json(SessionList {
        sessions: list
            .iter()
            .map(|t| SessionDto::new(t, Some(t.id) == current))
            .collect(),
    }))
}

/// End every session of an account (user managers): they stop working at once, WebSockets
/// included. Its personal access tokens and app passwords are left alone (deactivate the
/// account to end those too).
#[utoipa::path(delete, path = "/api/v1/users/{id}/sessions", tag = "users",
    params(("id" = String, Path, description = "User id")),
    responses((status = 200, body = EndedSessions), (status = 401, body = ErrorBody),
        (status = 403, body = ErrorBody), (status = 404, body = ErrorBody)))]
pub async fn end_all_of_user(
    State(state): State<AppState>,
    Auth(authed): Auth,
    Path(id): Path<String>,
) -> ApiResult<Json<EndedSessions>> {
    let id: UserId = parse_id(&id, ErrorCode::UserNotFound)?;
    let ended = state
        .accounts
        .end_user_sessions(&authed.actor(), id)
        .await?;
    Ok(Json(EndedSessions { ended }))
}

/// The current user's app passwords (never the passwords themselves).
#[utoipa::path(get, path = "/api/v1/users/me/app-passwords", tag = "auth",
    responses((status = 200, body = AppPasswordList), (status = 401, body = ErrorBody)))]
pub async fn app_passwords(
    State(state): State<AppState>,
    Auth(authed): Auth,
) -> ApiResult<Json<AppPasswordList>> {
    let list = state.accounts.app_passwords(&authed.actor()).await?;
    Ok(Json(AppPasswordList {
        app_passwords: list.iter().map(AppPasswordDto::new).collect(),
    }))
}

/// Generate an app password for a client that cannot do single sign-on (an XMPP client, a
/// script using HTTP Basic). The password is shown only in this answer. Only from a signed-in
/// session.
#[utoipa::path(post, path = "/api/v1/users/me/app-passwords", tag = "auth", request_body = CreateAppPasswordRequest,
    responses((status = 201, body = CreatedAppPassword), (status = 400, body = ErrorBody), (status = 401, body = ErrorBody),
        (status = 403, body = ErrorBody, description = "The request was made with a token or app password"),
        (status = 422, body = ErrorBody, description = "`limit_exceeded`: the user already holds the most app passwords allowed (20)")))]
pub async fn create_app_password(
    State(state): State<AppState>,
    Auth(authed): Auth,
    ApiJson(req): ApiJson<CreateAppPasswordRequest>,
) -> ApiResult<(StatusCode, Json<CreatedAppPassword>)> {
    let (password, info) = state
        .accounts
        .create_app_password(&authed.actor(), &req.name)
        .await?;
    Ok((
        StatusCode::CREATED,
        Json(CreatedAppPassword {
            password,
            info: AppPasswordDto::new(&info),
        }),
    ))
}

/// Revoke one of the current user's app passwords: clients using it are refused at once.
#[utoipa::path(delete, path = "/api/v1/users/me/app-passwords/{id}", tag = "auth",
    params(("id" = String, Path, description = "App password id")),
    responses((status = 204, description = "Revoked"), (status = 401, body = ErrorBody),
        (status = 403, body = ErrorBody), (status = 404, body = ErrorBody, description = "`token_not_found`: no such app password of yours")))]
pub async fn revoke_app_password(
    State(state): State<AppState>,
    Auth(authed): Auth,
    Path(id): Path<String>,
) -> ApiResult<StatusCode> {
    let id = parse_id(&id, ErrorCode::TokenNotFound)?;
    state
        .accounts
        .revoke_app_password(&authed.actor(), id)
        .await?;
    Ok(StatusCode::NO_CONTENT)
}
