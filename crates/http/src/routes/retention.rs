//! Retention policies, legal holds and the purge, for administrators
//! (`docs/admin/retention.md`). Every route needs the manage_retention permission.

use axum::Json;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use enclave_app::{ErrorCode, HoldInput};
use enclave_core::retention::{ChannelPolicy, GlobalPolicy, HoldTarget};
use enclave_core::{ChannelId, UserId};

use crate::AppState;
use crate::dto::{
    ChannelRetentionRequest, CreateHoldRequest, LegalHoldDto, LegalHoldList, RetentionDto,
    RetentionPolicyRequest, RetentionRunStarted, parse_ts,
};
use crate::error::{ApiError, ApiResult, ErrorBody};
use crate::extract::{ApiJson, Auth, parse_id};

async fn view(state: &AppState, actor: &enclave_core::Actor) -> ApiResult<Json<RetentionDto>> {
    let v = state.retention.view(actor).await?;
    Ok(Json(RetentionDto::new(&v)))
}

/// The retention policy in force (the global days for channels and for direct conversations),
/// the channels with a policy of their own, and the last purge with its per-channel report.
#[utoipa::path(get, path = "/api/v1/admin/retention", tag = "admin",
    responses((status = 200, body = RetentionDto),
        (status = 401, body = ErrorBody), (status = 403, body = ErrorBody)))]
pub async fn get(
    State(state): State<AppState>,
    Auth(authed): Auth,
) -> ApiResult<Json<RetentionDto>> {
    view(&state, &authed.actor()).await
}

/// Set the global policy: days messages of channels (`message_days`) and of direct
/// conversations (`dm_days`) are kept, `null` for forever. The next purge applies it.
#[utoipa::path(put, path = "/api/v1/admin/retention", tag = "admin",
    request_body = RetentionPolicyRequest,
    responses((status = 200, body = RetentionDto),
        (status = 400, body = ErrorBody, description = "`invalid`: days outside 1 to 36500"),
        (status = 401, body = ErrorBody), (status = 403, body = ErrorBody)))]
pub async fn put(
    State(state): State<AppState>,
    Auth(authed): Auth,
    ApiJson(req): ApiJson<RetentionPolicyRequest>,
) -> ApiResult<Json<RetentionDto>> {
    let actor = authed.actor();
    state
        .retention
        .set_policy(
            &actor,
            GlobalPolicy {
                message_days: req.message_days,
                dm_days: req.dm_days,
            },
        )
        .await?;
    view(&state, &actor).await
}

fn channel_id(raw: &str) -> Result<ChannelId, ApiError> {
    parse_id::<i64>(raw, ErrorCode::ChannelNotFound).map(ChannelId)
}

/// Give a public or private channel a policy of its own: `days` (1 to 36500), or `null` to keep
/// its messages forever. Direct conversations follow `dm_days` only.
#[utoipa::path(put, path = "/api/v1/admin/retention/channels/{id}", tag = "admin",
    params(("id" = String, Path)), request_body = ChannelRetentionRequest,
    responses((status = 200, body = RetentionDto),
        (status = 400, body = ErrorBody, description = "`invalid`: days outside 1 to 36500, or a direct conversation"),
        (status = 401, body = ErrorBody), (status = 403, body = ErrorBody),
        (status = 404, body = ErrorBody, description = "`channel_not_found`")))]
pub async fn set_channel(
    State(state): State<AppState>,
    Auth(authed): Auth,
    Path(id): Path<String>,
    ApiJson(req): ApiJson<ChannelRetentionRequest>,
) -> ApiResult<Json<RetentionDto>> {
    let actor = authed.actor();
    let id = channel_id(&id)?;
    state
        .retention
        .set_channel_policy(&actor, id, Some(ChannelPolicy::from_days(req.days)))
        .await?;
    view(&state, &actor).await
}

/// Remove a channel's own policy: the global one applies again.
#[utoipa::path(delete, path = "/api/v1/admin/retention/channels/{id}", tag = "admin",
    params(("id" = String, Path)),
    responses((status = 200, body = RetentionDto),
        (status = 400, body = ErrorBody, description = "`invalid`: a direct conversation"),
        (status = 401, body = ErrorBody), (status = 403, body = ErrorBody),
        (status = 404, body = ErrorBody, description = "`channel_not_found`")))]
pub async fn clear_channel(
    State(state): State<AppState>,
    Auth(authed): Auth,
    Path(id): Path<String>,
) -> ApiResult<Json<RetentionDto>> {
    let actor = authed.actor();
    let id = channel_id(&id)?;
    state.retention.set_channel_policy(&actor, id, None).await?;
    view(&state, &actor).await
}

/// Start a purge now (the `retention` job, on this node): answers 202 at once; the run and its
/// per-channel report appear in `GET /api/v1/admin/retention`, the audit log and the server log.
#[utoipa::path(post, path = "/api/v1/admin/retention/run", tag = "admin",
    responses((status = 202, body = RetentionRunStarted),
        (status = 401, body = ErrorBody), (status = 403, body = ErrorBody)))]
pub async fn run(
    State(state): State<AppState>,
    Auth(authed): Auth,
) -> ApiResult<(StatusCode, Json<RetentionRunStarted>)> {
    let started = state.retention.run_now(&authed.actor()).await?;
    Ok((StatusCode::ACCEPTED, Json(RetentionRunStarted { started })))
}

/// The legal holds (in force and released), newest first.
#[utoipa::path(get, path = "/api/v1/admin/holds", tag = "admin",
    responses((status = 200, body = LegalHoldList),
        (status = 401, body = ErrorBody), (status = 403, body = ErrorBody)))]
pub async fn holds(
    State(state): State<AppState>,
    Auth(authed): Auth,
) -> ApiResult<Json<LegalHoldList>> {
    let holds = state.retention.holds(&authed.actor()).await?;
    Ok(Json(LegalHoldList {
        holds: holds.iter().map(LegalHoldDto::new).collect(),
    }))
}

/// Place a legal hold on a person (every message they wrote) or a channel (every message in it)
/// for a range of creation times, with a reason. Held messages survive retention and deletion
/// by their author.
#[utoipa::path(post, path = "/api/v1/admin/holds", tag = "admin",
    request_body = CreateHoldRequest,
    responses((status = 201, body = LegalHoldDto),
        (status = 400, body = ErrorBody, description = "`invalid`: not exactly one of `user_id` and `channel_id`, a bad time or range, a missing or long reason"),
        (status = 401, body = ErrorBody), (status = 403, body = ErrorBody),
        (status = 404, body = ErrorBody, description = "`user_not_found`, `channel_not_found`"),
        (status = 422, body = ErrorBody, description = "`limit_exceeded`: 1000 holds")))]
pub async fn create_hold(
    State(state): State<AppState>,
    Auth(authed): Auth,
    ApiJson(req): ApiJson<CreateHoldRequest>,
) -> ApiResult<(StatusCode, Json<LegalHoldDto>)> {
    let target = match (req.user_id, req.channel_id) {
        (Some(u), None) => HoldTarget::User(UserId(u.0)),
        (None, Some(c)) => HoldTarget::Channel(ChannelId(c.0)),
        _ => {
            return Err(enclave_core::Error::invalid(
                "user_id",
                "name exactly one of user_id and channel_id",
            )
            .into());
        }
    };
    let starts_at = parse_ts("starts_at", &req.starts_at)?;
    let ends_at = req
        .ends_at
        .as_deref()
        .map(|s| parse_ts("ends_at", s))
        .transpose()?;
    let hold = state
        .retention
        .create_hold(
            &authed.actor(),
            HoldInput {
                target,
                starts_at,
                ends_at,
                reason: req.reason,
            },
        )
        .await?;
    Ok((StatusCode::CREATED, Json(LegalHoldDto::new(&hold))))
}

/// Release a legal hold: what it kept is purged by the next run if the policy says so.
#[utoipa::path(delete, path = "/api/v1/admin/holds/{id}", tag = "admin",
    params(("id" = String, Path)),
    responses((status = 200, body = LegalHoldDto),
        (status = 401, body = ErrorBody), (status = 403, body = ErrorBody),
        (status = 404, body = ErrorBody, description = "`hold_not_found`"),
        (status = 409, body = ErrorBody, description = "`conflict`: released already")))]
pub async fn release_hold(
    State(state): State<AppState>,
    Auth(authed): Auth,
    Path(id): Path<String>,
) -> ApiResult<Json<LegalHoldDto>> {
    let id = parse_id::<i64>(&id, ErrorCode::HoldNotFound)?;
    let hold = state.retention.release_hold(&authed.actor(), id).await?;
    Ok(Json(LegalHoldDto::new(&hold)))
}
