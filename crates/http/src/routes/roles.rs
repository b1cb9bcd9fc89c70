//! Roles and guests: the custom roles of the site (`/api/v1/admin/roles`), the roles an account
//! holds (`/api/v1/users/{id}/roles`) and guest invitations (`/api/v1/admin/guests`). Every rule
//! is the core's (see `docs/admin/roles.md`).

use axum::Json;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use enclave_app::{GuestInput, RoleInput, RoleUpdate};
use enclave_core::{ChannelId, Role, SitePermission, UserId};

use crate::AppState;
use crate::dto::{
    CreateRoleRequest, InviteGuestRequest, PermissionDto, RoleDto, RoleList, SetUserRolesRequest,
    UpdateRoleRequest, UserDto, UserRolesDto, parse_ts,
};
use crate::error::{ApiResult, ErrorBody, ErrorCode};
use crate::extract::{ApiJson, Auth, parse_id};

/// The built-in and custom roles and every permission (role managers, role assigners and user
/// managers).
#[utoipa::path(get, path = "/api/v1/admin/roles", tag = "roles",
    responses((status = 200, body = RoleList), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody)))]
pub async fn list(State(state): State<AppState>, Auth(authed): Auth) -> ApiResult<Json<RoleList>> {
    let custom = state.roles.list(&authed.actor()).await?;
    let mut roles: Vec<RoleDto> = Role::ALL.into_iter().map(RoleDto::builtin).collect();
    roles.extend(custom.iter().map(RoleDto::custom));
    Ok(Json(RoleList {
        roles,
        permissions: SitePermission::ALL
            .iter()
            .map(|p| PermissionDto {
                name: p.as_str().to_owned(),
                description: p.describe().to_owned(),
            })
            .collect(),
    }))
}

/// Create a custom role (`manage_roles`; only permissions the caller holds).
#[utoipa::path(post, path = "/api/v1/admin/roles", tag = "roles", request_body = CreateRoleRequest,
    responses((status = 201, body = RoleDto), (status = 400, body = ErrorBody), (status = 401, body = ErrorBody),
        (status = 403, body = ErrorBody, description = "Not a role manager, or a permission the caller lacks"),
        (status = 409, body = ErrorBody, description = "Name taken"),
        (status = 422, body = ErrorBody, description = "Too many roles")))]
pub async fn create(
    State(state): State<AppState>,
    Auth(authed): Auth,
    ApiJson(req): ApiJson<CreateRoleRequest>,
) -> ApiResult<(StatusCode, Json<RoleDto>)> {
    let role = state
        .roles
        .create(
            &authed.actor(),
            RoleInput {
                name: req.name,
                description: req.description,
                permissions: req.permissions,
                require_second_factor: req.require_second_factor.unwrap_or(false),
            },
        )
        .await?;
    Ok((StatusCode::CREATED, Json(RoleDto::custom(&role))))
}

/// Change a custom role (`manage_roles`; the caller must hold what it grants before and after).
/// Built-in roles cannot be changed (409).
#[utoipa::path(patch, path = "/api/v1/admin/roles/{id}", tag = "roles", params(("id" = String, Path)),
    request_body = UpdateRoleRequest,
    responses((status = 200, body = RoleDto), (status = 400, body = ErrorBody), (status = 401, body = ErrorBody),
        (status = 403, body = ErrorBody), (status = 404, body = ErrorBody), (status = 409, body = ErrorBody)))]
pub async fn update(
    State(state): State<AppState>,
    Auth(authed): Auth,
    Path(id): Path<String>,
    ApiJson(req): ApiJson<UpdateRoleRequest>,
) -> ApiResult<Json<RoleDto>> {
    let role = state
        .roles
        .update(
            &authed.actor(),
            &id,
            RoleUpdate {
                name: req.name,
                description: req.description,
                permissions: req.permissions,
                require_second_factor: req.require_second_factor,
            },
        )
        .await?;
    Ok(Json(RoleDto::custom(&role)))
}

/// Delete a custom role, taking it from everyone who holds it. Built-in roles cannot be
/// deleted (409).
#[utoipa::path(delete, path = "/api/v1/admin/roles/{id}", tag = "roles", params(("id" = String, Path)),
    responses((status = 204), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody),
        (status = 404, body = ErrorBody), (status = 409, body = ErrorBody)))]
pub async fn delete(
    State(state): State<AppState>,
    Auth(authed): Auth,
    Path(id): Path<String>,
) -> ApiResult<StatusCode> {
    state.roles.delete(&authed.actor(), &id).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// The roles an account holds (one's own, or anyone's for administrators).
#[utoipa::path(get, path = "/api/v1/users/{id}/roles", tag = "roles", params(("id" = String, Path)),
    responses((status = 200, body = UserRolesDto), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody),
        (status = 404, body = ErrorBody)))]
pub async fn user_roles(
    State(state): State<AppState>,
    Auth(authed): Auth,
    Path(id): Path<String>,
) -> ApiResult<Json<UserRolesDto>> {
    let id: UserId = parse_id(&id, ErrorCode::UserNotFound)?;
    let held = state.roles.of_user(&authed.actor(), id).await?;
    Ok(Json(UserRolesDto::new(&held)))
}

/// Replace the roles an account holds (`assign_roles`; never one's own, never granting a
/// permission the caller lacks; guests' roles are fixed).
#[utoipa::path(put, path = "/api/v1/users/{id}/roles", tag = "roles", params(("id" = String, Path)),
    request_body = SetUserRolesRequest,
    responses((status = 200, body = UserRolesDto), (status = 400, body = ErrorBody), (status = 401, body = ErrorBody),
        (status = 403, body = ErrorBody), (status = 404, body = ErrorBody), (status = 409, body = ErrorBody)))]
pub async fn set_user_roles(
    State(state): State<AppState>,
    Auth(authed): Auth,
    Path(id): Path<String>,
    ApiJson(req): ApiJson<SetUserRolesRequest>,
) -> ApiResult<Json<UserRolesDto>> {
    let id: UserId = parse_id(&id, ErrorCode::UserNotFound)?;
    let held = state
        .roles
        .set_user_roles(&authed.actor(), id, &req.roles)
        .await?;
    Ok(Json(UserRolesDto::new(&held)))
}

/// Invite a guest (`manage_users`): a new account holding the guest role only, member of the
/// named channels, until `expires_at`.
#[utoipa::path(post, path = "/api/v1/admin/guests", tag = "roles", request_body = InviteGuestRequest,
    responses((status = 201, body = UserDto), (status = 400, body = ErrorBody), (status = 401, body = ErrorBody),
        (status = 403, body = ErrorBody), (status = 404, body = ErrorBody, description = "A channel the inviter cannot see"),
        (status = 409, body = ErrorBody, description = "Username or email taken")))]
pub async fn invite_guest(
    State(state): State<AppState>,
    Auth(authed): Auth,
    ApiJson(req): ApiJson<InviteGuestRequest>,
) -> ApiResult<(StatusCode, Json<UserDto>)> {
    let expires_at = req
        .expires_at
        .as_deref()
        .map(|s| parse_ts("expires_at", s))
        .transpose()?;
    if req.channel_ids.len() > enclave_app::MAX_GUEST_CHANNELS {
        return Err(enclave_core::Error::invalid("channel_ids", "at most 50 channels").into());
    }
    let user = state
        .roles
        .invite_guest(
            &authed.actor(),
            GuestInput {
                username: req.username,
                password: req.password,
                display_name: req.display_name,
                email: req.email,
                expires_at,
                channel_ids: req.channel_ids.iter().map(|c| ChannelId(c.0)).collect(),
            },
        )
        .await?;
    Ok((StatusCode::CREATED, Json(UserDto::new(&user, true))))
}
