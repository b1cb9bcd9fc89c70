//! The department tree (for an HR system and the admin console), the directory (通讯录):
//! people of a department, search by name or pinyin, person cards, managers, and department
//! channels. See `docs/admin/departments.md`.

use axum::Json;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use enclave_app::{DepartmentInput, DepartmentUpdate};
use enclave_core::{ChannelId, DepartmentId, UserId};

use crate::AppState;
use crate::dto::{
    CardDto, CreateDepartmentRequest, DepartmentDto, DepartmentMemberList, DepartmentTree,
    DirectoryQuery, LinkChannelRequest, PeopleList, PlacementDto, SetDepartmentMemberRequest,
    SetManagerRequest, UpdateDepartmentRequest, UserDto,
};
use crate::error::{ApiError, ApiResult, ErrorBody, ErrorCode};
use crate::extract::{ApiJson, ApiQuery, Auth, parse_id};

fn department_id(raw: &str) -> Result<DepartmentId, ApiError> {
    parse_id(raw, ErrorCode::DepartmentNotFound)
}

/// The department tree with member counts and department channels (not for guests).
#[utoipa::path(get, path = "/api/v1/departments", tag = "departments",
    responses((status = 200, body = DepartmentTree), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody)))]
pub async fn tree(
    State(state): State<AppState>,
    Auth(authed): Auth,
) -> ApiResult<Json<DepartmentTree>> {
    let view = state.departments.view(&authed.actor()).await?;
    Ok(Json(DepartmentTree::new(&view)))
}

/// Create a department (under a parent the caller manages; a root needs the
/// manage-departments permission).
#[utoipa::path(post, path = "/api/v1/departments", tag = "departments", request_body = CreateDepartmentRequest,
    responses((status = 201, body = DepartmentDto), (status = 400, body = ErrorBody), (status = 401, body = ErrorBody),
        (status = 403, body = ErrorBody), (status = 409, body = ErrorBody, description = "A sibling has that name"),
        (status = 422, body = ErrorBody, description = "Tree size limit")))]
pub async fn create(
    State(state): State<AppState>,
    Auth(authed): Auth,
    ApiJson(req): ApiJson<CreateDepartmentRequest>,
) -> ApiResult<(StatusCode, Json<DepartmentDto>)> {
    let d = state
        .departments
        .create(
            &authed.actor(),
            DepartmentInput {
                parent_id: req.parent_id.map(|p| DepartmentId(p.0)),
                name: req.name,
                position: req.position,
            },
        )
        .await?;
    Ok((
        StatusCode::CREATED,
        Json(DepartmentDto::new(&d, 0, Vec::new())),
    ))
}

/// Rename, reorder, move (a new `parent_id`; its people and sub-departments move with it, and
/// department channels follow) or set the administrators of a department.
#[utoipa::path(patch, path = "/api/v1/departments/{id}", tag = "departments", params(("id" = String, Path)),
    request_body = UpdateDepartmentRequest,
    responses((status = 200, body = DepartmentDto), (status = 400, body = ErrorBody, description = "A cycle, an unknown parent, a bad name"),
        (status = 401, body = ErrorBody), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody), (status = 409, body = ErrorBody),
        (status = 422, body = ErrorBody, description = "`limit_exceeded`: more than 20 administrators")))]
pub async fn update(
    State(state): State<AppState>,
    Auth(authed): Auth,
    Path(id): Path<String>,
    ApiJson(req): ApiJson<UpdateDepartmentRequest>,
) -> ApiResult<Json<DepartmentDto>> {
    let id = department_id(&id)?;
    let d = state
        .departments
        .update(
            &authed.actor(),
            id,
            DepartmentUpdate {
                name: req.name,
                parent_id: req.parent_id.patch().map(|p| p.map(|p| DepartmentId(p.0))),
                position: req.position,
                admins: req
                    .admins
                    .map(|a| a.into_iter().map(|u| UserId(u.0)).collect()),
            },
        )
        .await?;
    Ok(Json(DepartmentDto::new(&d, 0, Vec::new())))
}

/// Delete a department without sub-departments (its people leave it; its channels stay as
/// ordinary channels).
#[utoipa::path(delete, path = "/api/v1/departments/{id}", tag = "departments", params(("id" = String, Path)),
    responses((status = 204), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody),
        (status = 404, body = ErrorBody), (status = 409, body = ErrorBody, description = "It has sub-departments")))]
pub async fn delete(
    State(state): State<AppState>,
    Auth(authed): Auth,
    Path(id): Path<String>,
) -> ApiResult<StatusCode> {
    state
        .departments
        .delete(&authed.actor(), department_id(&id)?)
        .await?;
    Ok(StatusCode::NO_CONTENT)
}

/// The people of a department, heads first (not for guests).
#[utoipa::path(get, path = "/api/v1/departments/{id}/members", tag = "departments", params(("id" = String, Path)),
    responses((status = 200, body = DepartmentMemberList), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody),
        (status = 404, body = ErrorBody)))]
pub async fn members(
    State(state): State<AppState>,
    Auth(authed): Auth,
    Path(id): Path<String>,
) -> ApiResult<Json<DepartmentMemberList>> {
    let actor = authed.actor();
    let list = state
        .departments
        .members(&actor, department_id(&id)?)
        .await?;
    Ok(Json(DepartmentMemberList::new(&list, |u| {
        enclave_core::departments::card_shows_contact(&actor, u.id)
    })))
}

/// Put a person in a department with a title (or change their title or headship there).
/// Department channels add them.
#[utoipa::path(put, path = "/api/v1/departments/{id}/members/{user_id}", tag = "departments",
    params(("id" = String, Path), ("user_id" = String, Path)), request_body = SetDepartmentMemberRequest,
    responses((status = 201, body = PlacementDto, description = "Placed"), (status = 200, body = PlacementDto, description = "Updated"),
        (status = 400, body = ErrorBody), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody),
        (status = 404, body = ErrorBody), (status = 422, body = ErrorBody, description = "In too many departments")))]
pub async fn set_member(
    State(state): State<AppState>,
    Auth(authed): Auth,
    Path((id, user_id)): Path<(String, String)>,
    ApiJson(req): ApiJson<SetDepartmentMemberRequest>,
) -> ApiResult<(StatusCode, Json<PlacementDto>)> {
    let id = department_id(&id)?;
    let user: UserId = parse_id(&user_id, ErrorCode::UserNotFound)?;
    let title = req.title.unwrap_or_default();
    let is_head = req.is_head.unwrap_or(false);
    let added = state
        .departments
        .set_member(&authed.actor(), id, user, &title, is_head)
        .await?;
    Ok((
        if added {
            StatusCode::CREATED
        } else {
            StatusCode::OK
        },
        Json(PlacementDto {
            department_id: id.to_string(),
            user_id: user.to_string(),
            title: title.trim().to_owned(),
            is_head,
        }),
    ))
}

/// Take a person out of a department. Department channels remove them (unless they are still
/// in the channel's department by another way).
#[utoipa::path(delete, path = "/api/v1/departments/{id}/members/{user_id}", tag = "departments",
    params(("id" = String, Path), ("user_id" = String, Path)),
    responses((status = 204), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody)))]
pub async fn remove_member(
    State(state): State<AppState>,
    Auth(authed): Auth,
    Path((id, user_id)): Path<(String, String)>,
) -> ApiResult<StatusCode> {
    let id = department_id(&id)?;
    let user: UserId = parse_id(&user_id, ErrorCode::MemberNotFound)?;
    state
        .departments
        .remove_member(&authed.actor(), id, user)
        .await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Make a channel the department's channel: its members follow the department (and with
/// `include_subdepartments` its sub-departments) from now on. The caller manages the
/// department and moderates the channel.
#[utoipa::path(put, path = "/api/v1/departments/{id}/channels/{channel_id}", tag = "departments",
    params(("id" = String, Path), ("channel_id" = String, Path)), request_body = LinkChannelRequest,
    responses((status = 204), (status = 400, body = ErrorBody), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody),
        (status = 404, body = ErrorBody), (status = 409, body = ErrorBody, description = "The channel is archived")))]
pub async fn link_channel(
    State(state): State<AppState>,
    Auth(authed): Auth,
    Path((id, channel)): Path<(String, String)>,
    ApiJson(req): ApiJson<LinkChannelRequest>,
) -> ApiResult<StatusCode> {
    let id = department_id(&id)?;
    let channel: ChannelId = parse_id(&channel, ErrorCode::ChannelNotFound)?;
    state
        .departments
        .link_channel(
            &authed.actor(),
            id,
            channel,
            req.include_subdepartments.unwrap_or(false),
        )
        .await?;
    Ok(StatusCode::NO_CONTENT)
}

/// End a channel's link to the department (its members stay).
#[utoipa::path(delete, path = "/api/v1/departments/{id}/channels/{channel_id}", tag = "departments",
    params(("id" = String, Path), ("channel_id" = String, Path)),
    responses((status = 204), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody)))]
pub async fn unlink_channel(
    State(state): State<AppState>,
    Auth(authed): Auth,
    Path((id, channel)): Path<(String, String)>,
) -> ApiResult<StatusCode> {
    let id = department_id(&id)?;
    let channel: ChannelId = parse_id(&channel, ErrorCode::ChannelNotFound)?;
    state
        .departments
        .unlink_channel(&authed.actor(), id, channel)
        .await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Find people by name (any script), full pinyin (`zhangwei`) or pinyin initials (`zw`)
/// (not for guests).
#[utoipa::path(get, path = "/api/v1/directory/search", tag = "departments", params(DirectoryQuery),
    responses((status = 200, body = PeopleList), (status = 400, body = ErrorBody), (status = 401, body = ErrorBody),
        (status = 403, body = ErrorBody)))]
pub async fn search(
    State(state): State<AppState>,
    Auth(authed): Auth,
    ApiQuery(q): ApiQuery<DirectoryQuery>,
) -> ApiResult<Json<PeopleList>> {
    let actor = authed.actor();
    let users = state
        .departments
        .search(
            &actor,
            q.q.as_deref().unwrap_or(""),
            enclave_core::validate::page_size(q.limit, enclave_core::validate::DIRECTORY_PAGE)?,
        )
        .await?;
    Ok(Json(PeopleList {
        users: users
            .iter()
            .map(|u| {
                UserDto::new(
                    u,
                    enclave_core::departments::card_shows_contact(&actor, u.id),
                )
            })
            .collect(),
    }))
}

/// A person's card: departments with titles, manager, contact (not for guests).
#[utoipa::path(get, path = "/api/v1/users/{id}/card", tag = "departments", params(("id" = String, Path)),
    responses((status = 200, body = CardDto), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody),
        (status = 404, body = ErrorBody)))]
pub async fn card(
    State(state): State<AppState>,
    Auth(authed): Auth,
    Path(id): Path<String>,
) -> ApiResult<Json<CardDto>> {
    let id: UserId = parse_id(&id, ErrorCode::UserNotFound)?;
    let card = state.departments.card(&authed.actor(), id).await?;
    Ok(Json(CardDto::new(&card)))
}

/// Set or clear a person's explicit manager (whoever manages one of their departments).
#[utoipa::path(put, path = "/api/v1/users/{id}/manager", tag = "departments", params(("id" = String, Path)),
    request_body = SetManagerRequest,
    responses((status = 204), (status = 400, body = ErrorBody), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody),
        (status = 404, body = ErrorBody)))]
pub async fn set_manager(
    State(state): State<AppState>,
    Auth(authed): Auth,
    Path(id): Path<String>,
    ApiJson(req): ApiJson<SetManagerRequest>,
) -> ApiResult<StatusCode> {
    let id: UserId = parse_id(&id, ErrorCode::UserNotFound)?;
    state
        .departments
        .set_manager(&authed.actor(), id, req.manager_id.map(|m| UserId(m.0)))
        .await?;
    Ok(StatusCode::NO_CONTENT)
}
