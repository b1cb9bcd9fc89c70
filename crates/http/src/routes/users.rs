//! The user directory and account administration.

use axum::Json;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use enclave_app::{CreateUser, UpdateUser, UserQuery};
use enclave_core::UserId;
use enclave_core::{permissions, validate};

use crate::AppState;
use crate::dto::{CreateUserRequest, UpdateUserRequest, UserDto, UserList, UserListQuery};
use crate::error::{ApiResult, ErrorBody, ErrorCode};
use crate::extract::{ApiJson, ApiQuery, Auth, parse_id};

/// The current user.
#[utoipa::path(get, path = "/api/v1/users/me", tag = "users",
    responses((status = 200, body = UserDto), (status = 401, body = ErrorBody)))]
pub async fn me(Auth(authed): Auth) -> Json<UserDto> {
    Json(UserDto::new(&authed.user, true))
}

/// List or search users, ordered by username.
#[utoipa::path(get, path = "/api/v1/users", tag = "users", params(UserListQuery),
    responses((status = 200, body = UserList), (status = 400, body = ErrorBody), (status = 401, body = ErrorBody)))]
pub async fn list(
    State(state): State<AppState>,
    Auth(authed): Auth,
    ApiQuery(q): ApiQuery<UserListQuery>,
) -> ApiResult<Json<UserList>> {
    let actor = authed.actor();
    let users = state
        .accounts
        .list_users(
            &actor,
            UserQuery {
                text: q.q.filter(|t| !t.trim().is_empty()),
                include_inactive: q.include_inactive,
                after_username: q.after,
                limit: validate::page_size(q.limit, validate::USERS_PAGE)?,
            },
        )
        .await?;
    Ok(Json(UserList {
        users: users
            .iter()
            .map(|u| UserDto::new(u, permissions::sees_contact_details(&actor, u.id)))
            .collect(),
    }))
}

/// Create a user (administrators only).
#[utoipa::path(post, path = "/api/v1/users", tag = "users", request_body = CreateUserRequest,
    responses((status = 201, body = UserDto), (status = 400, body = ErrorBody), (status = 401, body = ErrorBody),
        (status = 403, body = ErrorBody), (status = 409, body = ErrorBody, description = "Username or email taken")))]
pub async fn create(
    State(state): State<AppState>,
    Auth(authed): Auth,
    ApiJson(req): ApiJson<CreateUserRequest>,
) -> ApiResult<(StatusCode, Json<UserDto>)> {
    let user = state
        .accounts
        .create_user(
            Some(&authed.actor()),
            CreateUser {
                username: req.username,
                password: req.password,
                display_name: req.display_name,
                email: req.email,
                is_admin: req.admin,
                is_bot: req.bot,
                is_guest: false,
                guest_expires_at: None,
                origin: None,
            },
        )
        .await?;
    Ok((StatusCode::CREATED, Json(UserDto::new(&user, true))))
}

/// One user.
#[utoipa::path(get, path = "/api/v1/users/{id}", tag = "users", params(("id" = String, Path)),
    responses((status = 200, body = UserDto), (status = 401, body = ErrorBody), (status = 404, body = ErrorBody)))]
pub async fn get(
    State(state): State<AppState>,
    Auth(authed): Auth,
    Path(id): Path<String>,
) -> ApiResult<Json<UserDto>> {
    let id: UserId = parse_id(&id, ErrorCode::UserNotFound)?;
    let actor = authed.actor();
    let user = state.accounts.user(&actor, id).await?;
    Ok(Json(UserDto::new(
        &user,
        permissions::sees_contact_details(&actor, user.id),
    )))
}

/// Change a user: one's own profile and password, or (administrators) anyone's, including
/// deactivation with `{"active": false}` (which revokes all the account's tokens).
#[utoipa::path(patch, path = "/api/v1/users/{id}", tag = "users", params(("id" = String, Path)), request_body = UpdateUserRequest,
    responses((status = 200, body = UserDto), (status = 400, body = ErrorBody), (status = 401, body = ErrorBody),
        (status = 403, body = ErrorBody), (status = 404, body = ErrorBody), (status = 409, body = ErrorBody)))]
pub async fn update(
    State(state): State<AppState>,
    Auth(authed): Auth,
    Path(id): Path<String>,
    ApiJson(req): ApiJson<UpdateUserRequest>,
) -> ApiResult<Json<UserDto>> {
    let id: UserId = parse_id(&id, ErrorCode::UserNotFound)?;
    let actor = authed.actor();
    let changing_own_password = req.password.is_some() && id == actor.user_id;
    let user = state
        .accounts
        .update_user(
            Some(&actor),
            id,
            UpdateUser {
                display_name: req.display_name,
                email: req.email,
                password: req.password,
                current_password: req.current_password,
                active: req.active,
                is_admin: req.admin,
            },
        )
        .await?;
    if changing_own_password {
        state.accounts.end_other_sessions(&authed).await?;
    }
    Ok(Json(UserDto::new(&user, true)))
}
