//! Posting, history, threads, edits, deletes, reactions and pins.

use axum::Json;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use enclave_app::PostInput;
use enclave_core::{Anchor, ChannelId, MessageId, validate};

use crate::AppState;
use crate::dto::{
    EditMessageRequest, HistoryQuery, MessageDto, MessageList, PostMessageRequest, ThreadQuery,
};
use crate::error::{ApiError, ApiResult, ErrorBody, ErrorCode};
use crate::extract::{ApiJson, ApiQuery, Auth, parse_id};

fn channel_id(raw: &str) -> Result<ChannelId, ApiError> {
    parse_id(raw, ErrorCode::ChannelNotFound)
}

fn message_id(raw: &str) -> Result<MessageId, ApiError> {
    parse_id(raw, ErrorCode::MessageNotFound)
}

fn list(msgs: &[enclave_core::Message]) -> Json<MessageList> {
    Json(MessageList {
        messages: msgs.iter().map(MessageDto::new).collect(),
    })
}

/// A page of history, ascending by `seq`: the newest by default, or before/after/around a sequence number.
#[utoipa::path(get, path = "/api/v1/channels/{id}/messages", tag = "messages", params(("id" = String, Path), HistoryQuery),
    responses((status = 200, body = MessageList), (status = 400, body = ErrorBody), (status = 401, body = ErrorBody),
        (status = 404, body = ErrorBody)))]
pub async fn history(
    State(state): State<AppState>,
    Auth(authed): Auth,
    Path(id): Path<String>,
    ApiQuery(q): ApiQuery<HistoryQuery>,
) -> ApiResult<Json<MessageList>> {
    let anchor = match (q.before, q.after, q.around) {
        (None, None, None) => Anchor::Latest,
        (Some(b), None, None) => Anchor::Before(b),
        (None, Some(a), None) => Anchor::After(a),
        (None, None, Some(s)) => Anchor::Around(s),
        _ => {
            return Err(ApiError::new(
                ErrorCode::BadRequest,
                "give at most one of before, after and around",
            ));
        }
    };
    let limit = validate::page_size(q.limit, validate::HISTORY_PAGE)?;
    let msgs = state
        .messages
        .history(
            &authed.actor(),
            channel_id(&id)?,
            anchor,
            limit,
            q.include_replies,
        )
        .await?;
    Ok(list(&msgs))
}

/// Post a message. Answers only once the message is durable. A repeated `client_msg_id` returns
/// the original message with status 200 instead of posting again.
#[utoipa::path(post, path = "/api/v1/channels/{id}/messages", tag = "messages", params(("id" = String, Path)), request_body = PostMessageRequest,
    responses((status = 201, body = MessageDto, description = "Posted"),
        (status = 200, body = MessageDto, description = "Already posted with this client_msg_id"),
        (status = 400, body = ErrorBody), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody),
        (status = 404, body = ErrorBody), (status = 409, body = ErrorBody, description = "Channel archived")))]
pub async fn post(
    State(state): State<AppState>,
    Auth(authed): Auth,
    Path(id): Path<String>,
    ApiJson(req): ApiJson<PostMessageRequest>,
) -> ApiResult<(StatusCode, Json<MessageDto>)> {
    let input = PostInput {
        text: req.text,
        client_msg_id: req.client_msg_id,
        thread_root_id: req.thread_root_id.map(|w| MessageId(w.0)),
        file_ids: req
            .file_ids
            .iter()
            .map(|w| enclave_core::FileId(w.0))
            .collect(),
    };
    let posted = state
        .messages
        .post(&authed.actor(), channel_id(&id)?, input)
        .await?;
    let status = if posted.created {
        StatusCode::CREATED
    } else {
        StatusCode::OK
    };
    Ok((status, Json(MessageDto::new(&posted.message))))
}

/// One message.
#[utoipa::path(get, path = "/api/v1/messages/{id}", tag = "messages", params(("id" = String, Path)),
    responses((status = 200, body = MessageDto), (status = 401, body = ErrorBody), (status = 404, body = ErrorBody)))]
pub async fn get(
    State(state): State<AppState>,
    Auth(authed): Auth,
    Path(id): Path<String>,
) -> ApiResult<Json<MessageDto>> {
    let m = state
        .messages
        .get(&authed.actor(), message_id(&id)?)
        .await?;
    Ok(Json(MessageDto::new(&m)))
}

/// Edit one's own message.
#[utoipa::path(patch, path = "/api/v1/messages/{id}", tag = "messages", params(("id" = String, Path)), request_body = EditMessageRequest,
    responses((status = 200, body = MessageDto), (status = 400, body = ErrorBody), (status = 401, body = ErrorBody),
        (status = 403, body = ErrorBody), (status = 404, body = ErrorBody), (status = 409, body = ErrorBody)))]
pub async fn edit(
    State(state): State<AppState>,
    Auth(authed): Auth,
    Path(id): Path<String>,
    ApiJson(req): ApiJson<EditMessageRequest>,
) -> ApiResult<Json<MessageDto>> {
    let m = state
        .messages
        .edit(&authed.actor(), message_id(&id)?, &req.text)
        .await?;
    Ok(Json(MessageDto::new(&m)))
}

/// Delete a message (one's own; channel admins may delete any).
#[utoipa::path(delete, path = "/api/v1/messages/{id}", tag = "messages", params(("id" = String, Path)),
    responses((status = 204), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody),
        (status = 409, body = ErrorBody)))]
pub async fn delete(
    State(state): State<AppState>,
    Auth(authed): Auth,
    Path(id): Path<String>,
) -> ApiResult<StatusCode> {
    state
        .messages
        .delete(&authed.actor(), message_id(&id)?)
        .await?;
    Ok(StatusCode::NO_CONTENT)
}

/// A thread: the root message followed by its replies in order.
#[utoipa::path(get, path = "/api/v1/messages/{id}/thread", tag = "messages", params(("id" = String, Path), ThreadQuery),
    responses((status = 200, body = MessageList), (status = 400, body = ErrorBody), (status = 401, body = ErrorBody),
        (status = 404, body = ErrorBody)))]
pub async fn thread(
    State(state): State<AppState>,
    Auth(authed): Auth,
    Path(id): Path<String>,
    ApiQuery(q): ApiQuery<ThreadQuery>,
) -> ApiResult<Json<MessageList>> {
    let msgs = state
        .messages
        .thread(
            &authed.actor(),
            message_id(&id)?,
            q.after.unwrap_or(0),
            validate::page_size(q.limit, validate::THREAD_PAGE)?,
        )
        .await?;
    Ok(list(&msgs))
}

/// Add the current user's reaction (idempotent).
#[utoipa::path(put, path = "/api/v1/messages/{id}/reactions/{emoji}", tag = "messages",
    params(("id" = String, Path), ("emoji" = String, Path, pattern = r"^(:[a-z0-9_+-]{1,64}:|[a-z0-9_+-]{1,64}|[\u00a9\u00ae\u200d\u203c\u2049\u20e3\u2122\u2190-\u21ff\u2300-\u23ff\u25a0-\u2775\u2794-\u27bf\u2900-\u297f\u2b00-\u2bff\u3030\u303d\u3297\u3299\ufe0f\x{1f000}-\x{1f0ff}\x{1f18e}\x{1f191}-\x{1f1ad}\x{1f1e6}-\x{1f1ff}\x{1f200}-\x{1f2ff}\x{1f300}-\x{1f6ff}\x{1f700}-\x{1f8ff}\x{1f900}-\x{1faff}\x{e0020}-\x{e007f}]{1,8})$",
        description = "A short name such as `thumbsup` or `+1` (1 to 64 of `a-z 0-9 _ + -`, colons around it optional), or one emoji of 1 to 8 code points from the emoji blocks (pictographs, symbols, arrows, dingbats, flags, skin tones, the zero-width joiner, variation selector 16)")),
    responses((status = 200, body = MessageDto), (status = 400, body = ErrorBody), (status = 401, body = ErrorBody),
        (status = 403, body = ErrorBody), (status = 404, body = ErrorBody), (status = 409, body = ErrorBody, description = "The channel is archived (`channel_archived`)"),
        (status = 422, body = ErrorBody, description = "The message has as many different reactions as allowed (`limit_exceeded`)")))]
pub async fn react(
    State(state): State<AppState>,
    Auth(authed): Auth,
    Path((id, emoji)): Path<(String, String)>,
) -> ApiResult<Json<MessageDto>> {
    let m = state
        .messages
        .react(&authed.actor(), message_id(&id)?, &emoji, true)
        .await?;
    Ok(Json(MessageDto::new(&m)))
}

/// Remove the current user's reaction (idempotent).
#[utoipa::path(delete, path = "/api/v1/messages/{id}/reactions/{emoji}", tag = "messages",
    params(("id" = String, Path), ("emoji" = String, Path, pattern = r"^(:[a-z0-9_+-]{1,64}:|[a-z0-9_+-]{1,64}|[\u00a9\u00ae\u200d\u203c\u2049\u20e3\u2122\u2190-\u21ff\u2300-\u23ff\u25a0-\u2775\u2794-\u27bf\u2900-\u297f\u2b00-\u2bff\u3030\u303d\u3297\u3299\ufe0f\x{1f000}-\x{1f0ff}\x{1f18e}\x{1f191}-\x{1f1ad}\x{1f1e6}-\x{1f1ff}\x{1f200}-\x{1f2ff}\x{1f300}-\x{1f6ff}\x{1f700}-\x{1f8ff}\x{1f900}-\x{1faff}\x{e0020}-\x{e007f}]{1,8})$",
        description = "As for adding the reaction")),
    responses((status = 200, body = MessageDto), (status = 400, body = ErrorBody), (status = 401, body = ErrorBody),
        (status = 403, body = ErrorBody), (status = 404, body = ErrorBody), (status = 409, body = ErrorBody, description = "The channel is archived (`channel_archived`)")))]
pub async fn unreact(
    State(state): State<AppState>,
    Auth(authed): Auth,
    Path((id, emoji)): Path<(String, String)>,
) -> ApiResult<Json<MessageDto>> {
    let m = state
        .messages
        .react(&authed.actor(), message_id(&id)?, &emoji, false)
        .await?;
    Ok(Json(MessageDto::new(&m)))
}

/// Pin a message to its channel: any member who may post there.
#[utoipa::path(put, path = "/api/v1/messages/{id}/pin", tag = "messages", params(("id" = String, Path)),
    responses((status = 200, body = MessageDto), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody),
        (status = 404, body = ErrorBody), (status = 409, body = ErrorBody, description = "The channel is archived (`channel_archived`)"),
        (status = 422, body = ErrorBody, description = "The channel has as many pins as allowed (`limit_exceeded`)")))]
pub async fn pin(
    State(state): State<AppState>,
    Auth(authed): Auth,
    Path(id): Path<String>,
) -> ApiResult<Json<MessageDto>> {
    let m = state
        .messages
        .pin(&authed.actor(), message_id(&id)?, true)
        .await?;
    Ok(Json(MessageDto::new(&m)))
}

/// Unpin a message: whoever pinned it, the channel's owners and admins, or a site administrator
/// in a public channel (others get 403 `forbidden`).
#[utoipa::path(delete, path = "/api/v1/messages/{id}/pin", tag = "messages", params(("id" = String, Path)),
    responses((status = 200, body = MessageDto), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody),
        (status = 404, body = ErrorBody), (status = 409, body = ErrorBody, description = "The channel is archived (`channel_archived`)")))]
pub async fn unpin(
    State(state): State<AppState>,
    Auth(authed): Auth,
    Path(id): Path<String>,
) -> ApiResult<Json<MessageDto>> {
    let m = state
        .messages
        .pin(&authed.actor(), message_id(&id)?, false)
        .await?;
    Ok(Json(MessageDto::new(&m)))
}

/// The channel's pinned messages, newest pin first.
#[utoipa::path(get, path = "/api/v1/channels/{id}/pins", tag = "messages", params(("id" = String, Path)),
    responses((status = 200, body = MessageList), (status = 401, body = ErrorBody), (status = 404, body = ErrorBody)))]
pub async fn pins(
    State(state): State<AppState>,
    Auth(authed): Auth,
    Path(id): Path<String>,
) -> ApiResult<Json<MessageList>> {
    let msgs = state
        .messages
        .pins(&authed.actor(), channel_id(&id)?)
        .await?;
    Ok(list(&msgs))
}
