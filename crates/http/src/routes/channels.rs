//! Channels, membership, direct conversations and read state.

use axum::Json;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use enclave_app::{BrowseQuery, ChannelInput, ChannelUpdate};
use enclave_core::{ChannelId, ChannelKind, ChannelRole, UserId};
use enclave_core::{permissions, validate};

use crate::AppState;
use crate::dto::{
    AddMemberRequest, BrowseQueryParams, ChannelDto, ChannelList, CreateChannelRequest,
    MarkReadRequest, MemberDto, MemberList, MemberListQuery, MembershipDto, OpenDmRequest,
    UpdateChannelRequest, UpdateMemberRequest, UserDto,
};
use crate::error::{ApiError, ApiResult, ErrorBody, ErrorCode};
use crate::extract::{ApiJson, ApiQuery, Auth, parse_id};

fn channel_id(raw: &str) -> Result<ChannelId, ApiError> {
    parse_id(raw, ErrorCode::ChannelNotFound)
}

/// The current user's channels, with unread and mention counts.
#[utoipa::path(get, path = "/api/v1/channels", tag = "channels",
    responses((status = 200, body = ChannelList), (status = 401, body = ErrorBody)))]
pub async fn mine(
    State(state): State<AppState>,
    Auth(authed): Auth,
) -> ApiResult<Json<ChannelList>> {
    let list = state.channels.mine(&authed.actor()).await?;
    Ok(Json(ChannelList {
        channels: list.iter().map(ChannelDto::summary).collect(),
    }))
}

/// Create a public or private channel; the creator becomes its owner.
#[utoipa::path(post, path = "/api/v1/channels", tag = "channels", request_body = CreateChannelRequest,
    responses((status = 201, body = ChannelDto), (status = 400, body = ErrorBody), (status = 401, body = ErrorBody),
        (status = 409, body = ErrorBody, description = "Name taken")))]
pub async fn create(
    State(state): State<AppState>,
    Auth(authed): Auth,
    ApiJson(req): ApiJson<CreateChannelRequest>,
) -> ApiResult<(StatusCode, Json<ChannelDto>)> {
    let kind = match ChannelKind::parse(&req.kind) {
        Some(k @ (ChannelKind::Public | ChannelKind::Private)) => k,
        _ => {
            return Err(
                enclave_core::Error::invalid("kind", "must be \"public\" or \"private\"").into(),
            );
        }
    };
    let actor = authed.actor();
    let ch = state
        .channels
        .create(
            &actor,
            ChannelInput {
                name: req.name,
                kind,
                topic: req.topic,
                purpose: req.purpose,
                announcement: req.announcement.unwrap_or(false),
            },
        )
        .await?;
    let (_, summary) = state.channels.get(&actor, ch.id).await?;
    let dto = summary
        .as_ref()
        .map_or_else(|| ChannelDto::new(&ch), ChannelDto::summary);
    Ok((StatusCode::CREATED, Json(dto)))
}

/// The public channel directory.
#[utoipa::path(get, path = "/api/v1/channels/browse", tag = "channels", params(BrowseQueryParams),
    responses((status = 200, body = ChannelList), (status = 400, body = ErrorBody), (status = 401, body = ErrorBody)))]
pub async fn browse(
    State(state): State<AppState>,
    Auth(authed): Auth,
    ApiQuery(q): ApiQuery<BrowseQueryParams>,
) -> ApiResult<Json<ChannelList>> {
    let after = match q.after.as_deref() {
        Some(a) => Some(parse_id::<ChannelId>(a, ErrorCode::BadRequest)?),
        None => None,
    };
    let list = state
        .channels
        .browse(
            &authed.actor(),
            BrowseQuery {
                text: q.q.filter(|t| !t.trim().is_empty()),
                include_archived: q.include_archived,
                after_id: after,
                limit: validate::page_size(q.limit, validate::CHANNELS_PAGE)?,
            },
        )
        .await?;
    Ok(Json(ChannelList {
        channels: list.iter().map(ChannelDto::new).collect(),
    }))
}

/// One channel (members also get their counts).
#[utoipa::path(get, path = "/api/v1/channels/{id}", tag = "channels", params(("id" = String, Path)),
    responses((status = 200, body = ChannelDto), (status = 401, body = ErrorBody), (status = 404, body = ErrorBody)))]
pub async fn get(
    State(state): State<AppState>,
    Auth(authed): Auth,
    Path(id): Path<String>,
) -> ApiResult<Json<ChannelDto>> {
    let (ch, summary) = state
        .channels
        .get(&authed.actor(), channel_id(&id)?)
        .await?;
    Ok(Json(
        summary
            .as_ref()
            .map_or_else(|| ChannelDto::new(&ch), ChannelDto::summary),
    ))
}

/// Rename, change topic or purpose, archive (`archived: true`) or unarchive.
#[utoipa::path(patch, path = "/api/v1/channels/{id}", tag = "channels", params(("id" = String, Path)), request_body = UpdateChannelRequest,
    responses((status = 200, body = ChannelDto), (status = 400, body = ErrorBody), (status = 401, body = ErrorBody),
        (status = 403, body = ErrorBody), (status = 404, body = ErrorBody), (status = 409, body = ErrorBody)))]
pub async fn update(
    State(state): State<AppState>,
    Auth(authed): Auth,
    Path(id): Path<String>,
    ApiJson(req): ApiJson<UpdateChannelRequest>,
) -> ApiResult<Json<ChannelDto>> {
    let actor = authed.actor();
    let id = channel_id(&id)?;
    state
        .channels
        .update(
            &actor,
            id,
            ChannelUpdate {
                name: req.name,
                topic: req.topic,
                purpose: req.purpose,
                archived: req.archived,
                announcement: req.announcement,
            },
        )
        .await?;
    let (ch, summary) = state.channels.get(&actor, id).await?;
    Ok(Json(
        summary
            .as_ref()
            .map_or_else(|| ChannelDto::new(&ch), ChannelDto::summary),
    ))
}

/// Join a public channel.
#[utoipa::path(post, path = "/api/v1/channels/{id}/join", tag = "channels", params(("id" = String, Path)),
    responses((status = 200, body = MembershipDto), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody),
        (status = 404, body = ErrorBody), (status = 409, body = ErrorBody)))]
pub async fn join(
    State(state): State<AppState>,
    Auth(authed): Auth,
    Path(id): Path<String>,
) -> ApiResult<Json<MembershipDto>> {
    let m = state
        .channels
        .join(&authed.actor(), channel_id(&id)?)
        .await?;
    Ok(Json(MembershipDto::new(&m)))
}

/// Leave a channel.
#[utoipa::path(post, path = "/api/v1/channels/{id}/leave", tag = "channels", params(("id" = String, Path)),
    responses((status = 204), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody)))]
pub async fn leave(
    State(state): State<AppState>,
    Auth(authed): Auth,
    Path(id): Path<String>,
) -> ApiResult<StatusCode> {
    state
        .channels
        .leave(&authed.actor(), channel_id(&id)?)
        .await?;
    Ok(StatusCode::NO_CONTENT)
}

/// A page of a channel's members, ordered by user id.
#[utoipa::path(get, path = "/api/v1/channels/{id}/members", tag = "channels", params(("id" = String, Path), MemberListQuery),
    responses((status = 200, body = MemberList), (status = 401, body = ErrorBody), (status = 404, body = ErrorBody)))]
pub async fn members(
    State(state): State<AppState>,
    Auth(authed): Auth,
    Path(id): Path<String>,
    ApiQuery(q): ApiQuery<MemberListQuery>,
) -> ApiResult<Json<MemberList>> {
    let actor = authed.actor();
    let after = match q.after.as_deref() {
        Some(a) => Some(parse_id::<UserId>(a, ErrorCode::BadRequest)?),
        None => None,
    };
    let list = state
        .channels
        .members(
            &actor,
            channel_id(&id)?,
            after,
            validate::page_size(q.limit, validate::MEMBERS_PAGE)?,
        )
        .await?;
    Ok(Json(MemberList {
        members: list
            .iter()
            .map(|(m, u)| MemberDto {
                user: UserDto::new(u, permissions::sees_contact_details(&actor, u.id)),
                role: m.role.as_str().to_owned(),
                joined_at: crate::dto::ts(m.joined_at),
            })
            .collect(),
    }))
}

/// Add a member (invite).
#[utoipa::path(post, path = "/api/v1/channels/{id}/members", tag = "channels", params(("id" = String, Path)), request_body = AddMemberRequest,
    responses((status = 201, body = MembershipDto, description = "Added"), (status = 200, body = MembershipDto, description = "Already a member"),
        (status = 400, body = ErrorBody), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody),
        (status = 409, body = ErrorBody, description = "The channel is archived (`channel_archived`)")))]
pub async fn add_member(
    State(state): State<AppState>,
    Auth(authed): Auth,
    Path(id): Path<String>,
    ApiJson(req): ApiJson<AddMemberRequest>,
) -> ApiResult<(StatusCode, Json<MembershipDto>)> {
    let (m, added) = state
        .channels
        .add_member(&authed.actor(), channel_id(&id)?, UserId(req.user_id.0))
        .await?;
    Ok((
        if added {
            StatusCode::CREATED
        } else {
            StatusCode::OK
        },
        Json(MembershipDto::new(&m)),
    ))
}

/// Remove a member (or oneself).
#[utoipa::path(delete, path = "/api/v1/channels/{id}/members/{user_id}", tag = "channels",
    params(("id" = String, Path), ("user_id" = String, Path)),
    responses((status = 204), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody),
        (status = 409, body = ErrorBody, description = "The channel is archived (`channel_archived`)")))]
pub async fn remove_member(
    State(state): State<AppState>,
    Auth(authed): Auth,
    Path((id, user_id)): Path<(String, String)>,
) -> ApiResult<StatusCode> {
    let user_id = parse_id(&user_id, ErrorCode::MemberNotFound)?;
    state
        .channels
        .remove_member(&authed.actor(), channel_id(&id)?, user_id)
        .await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Change a member's role (owners only).
#[utoipa::path(patch, path = "/api/v1/channels/{id}/members/{user_id}", tag = "channels",
    params(("id" = String, Path), ("user_id" = String, Path)), request_body = UpdateMemberRequest,
    responses((status = 200, body = MembershipDto), (status = 400, body = ErrorBody), (status = 401, body = ErrorBody),
        (status = 403, body = ErrorBody), (status = 404, body = ErrorBody), (status = 409, body = ErrorBody, description = "The channel is archived (`channel_archived`)")))]
pub async fn update_member(
    State(state): State<AppState>,
    Auth(authed): Auth,
    Path((id, user_id)): Path<(String, String)>,
    ApiJson(req): ApiJson<UpdateMemberRequest>,
) -> ApiResult<Json<MembershipDto>> {
    let user_id = parse_id(&user_id, ErrorCode::MemberNotFound)?;
    let role = ChannelRole::parse(&req.role).ok_or_else(|| {
        ApiError::from(enclave_core::Error::invalid(
            "role",
            "must be owner, admin or member",
        ))
    })?;
    let m = state
        .channels
        .set_member_role(&authed.actor(), channel_id(&id)?, user_id, role)
        .await?;
    Ok(Json(MembershipDto::new(&m)))
}

/// Open (or return) the direct conversation with the given people.
#[utoipa::path(post, path = "/api/v1/dms", tag = "channels", request_body = OpenDmRequest,
    responses((status = 200, body = ChannelDto), (status = 400, body = ErrorBody), (status = 401, body = ErrorBody),
        (status = 404, body = ErrorBody, description = "A user does not exist or is deactivated"),
        (status = 422, body = ErrorBody, description = "More than 8 people")))]
pub async fn open_dm(
    State(state): State<AppState>,
    Auth(authed): Auth,
    ApiJson(req): ApiJson<OpenDmRequest>,
) -> ApiResult<Json<ChannelDto>> {
    if req.user_ids.len() > 64 {
        return Err(enclave_core::Error::LimitExceeded(
            "a group conversation has at most 8 people",
        )
        .into());
    }
    let ids = req.user_ids.iter().map(|w| UserId(w.0)).collect();
    let summary = state.channels.open_direct(&authed.actor(), ids).await?;
    Ok(Json(ChannelDto::summary(&summary)))
}

/// Mark the channel read up to a sequence number (it may also move back, to mark unread).
#[utoipa::path(post, path = "/api/v1/channels/{id}/read", tag = "channels", params(("id" = String, Path)), request_body = MarkReadRequest,
    responses((status = 200, body = MembershipDto), (status = 400, body = ErrorBody), (status = 401, body = ErrorBody),
        (status = 403, body = ErrorBody), (status = 404, body = ErrorBody)))]
pub async fn mark_read(
    State(state): State<AppState>,
    Auth(authed): Auth,
    Path(id): Path<String>,
    ApiJson(req): ApiJson<MarkReadRequest>,
) -> ApiResult<Json<MembershipDto>> {
    let m = state
        .channels
        .mark_read(&authed.actor(), channel_id(&id)?, req.seq)
        .await?;
    Ok(Json(MembershipDto::new(&m)))
}
