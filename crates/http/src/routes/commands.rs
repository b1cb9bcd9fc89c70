//! Slash commands: `POST /api/v1/channels/{id}/commands` runs a line typed in a conversation,
//! `GET /api/v1/commands` lists what may be typed, `/api/v1/commands/custom` manages the custom
//! commands (integration managers), and `POST /hooks/commands/<token>` is a command's
//! `response_url` (Slack's follow-up format, answered as Slack answers).

use axum::Json;
use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use enclave_core::webhooks::MAX_BODY_BYTES;
use enclave_core::{ChannelId, MessageId};

use crate::AppState;
use crate::dto::{
    CommandList, CommandResultDto, CommandSpecDto, CreateCommandRequest, CustomCommandDto,
    CustomCommandList, CustomCommandWithSecretDto, RunCommandRequest,
};
use crate::error::{ApiResult, ErrorBody, ErrorCode};
use crate::extract::{ApiJson, Auth, parse_id};

fn command_id(id: &str) -> ApiResult<i64> {
    id.parse::<i64>().ok().filter(|n| *n > 0).ok_or_else(|| {
        enclave_app::Error::Domain(enclave_core::Error::NotFound(enclave_core::Entity::Command))
            .into()
    })
}

fn with_secret(made: &enclave_app::CustomCommandWithSecret) -> CustomCommandWithSecretDto {
    CustomCommandWithSecretDto {
        command: CustomCommandDto::new(&made.command),
        token: made.token.clone(),
        signing_secret: made.signing_secret.clone(),
    }
}

/// Run a line typed in a conversation: a built-in command (`/me`, `/shrug`, `/topic`,
/// `/purpose`, `/join`, `/leave`, `/invite`, `/kick`, `/msg`, `/status`, `/dnd`, `/help`), a
/// custom command (its service's answer), or text to post. Each does what the request it stands
/// for does, with the same permission checks.
#[utoipa::path(post, path = "/api/v1/channels/{id}/commands", tag = "integrations", params(("id" = String, Path)),
    request_body = RunCommandRequest,
    responses((status = 200, body = CommandResultDto), (status = 400, body = ErrorBody), (status = 401, body = ErrorBody),
        (status = 403, body = ErrorBody), (status = 404, body = ErrorBody), (status = 409, body = ErrorBody),
        (status = 422, body = ErrorBody), (status = 429, body = ErrorBody), (status = 502, body = ErrorBody)))]
pub async fn run(
    State(state): State<AppState>,
    Auth(authed): Auth,
    Path(id): Path<String>,
    ApiJson(req): ApiJson<RunCommandRequest>,
) -> ApiResult<Json<CommandResultDto>> {
    let channel_id: ChannelId = parse_id(&id, ErrorCode::ChannelNotFound)?;
    let outcome = state
        .commands
        .run(
            &authed.actor(),
            enclave_app::Invocation {
                channel_id,
                text: req.text,
                thread_root_id: req.thread_root_id.map(|w| MessageId(w.0)),
            },
        )
        .await?;
    Ok(Json(CommandResultDto::new(&outcome)))
}

/// Every command one may type: the built-ins, then the custom commands by trigger.
#[utoipa::path(get, path = "/api/v1/commands", tag = "integrations",
    responses((status = 200, body = CommandList), (status = 401, body = ErrorBody)))]
pub async fn list(
    State(state): State<AppState>,
    Auth(authed): Auth,
) -> ApiResult<Json<CommandList>> {
    let specs = state.commands.list(&authed.actor()).await?;
    Ok(Json(CommandList {
        commands: specs.iter().map(CommandSpecDto::new).collect(),
    }))
}

/// Every custom command with its URL (integration managers).
#[utoipa::path(get, path = "/api/v1/commands/custom", tag = "integrations",
    responses((status = 200, body = CustomCommandList), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody)))]
pub async fn list_custom(
    State(state): State<AppState>,
    Auth(authed): Auth,
) -> ApiResult<Json<CustomCommandList>> {
    let commands = state.commands.list_custom(&authed.actor()).await?;
    Ok(Json(CustomCommandList {
        commands: commands.iter().map(CustomCommandDto::new).collect(),
    }))
}

/// Create a custom command (integration managers). The answer carries its token and signing
/// secret, shown once.
#[utoipa::path(post, path = "/api/v1/commands/custom", tag = "integrations",
    request_body = CreateCommandRequest,
    responses((status = 201, body = CustomCommandWithSecretDto), (status = 400, body = ErrorBody), (status = 401, body = ErrorBody),
        (status = 403, body = ErrorBody), (status = 409, body = ErrorBody), (status = 422, body = ErrorBody)))]
pub async fn create(
    State(state): State<AppState>,
    Auth(authed): Auth,
    ApiJson(req): ApiJson<CreateCommandRequest>,
) -> ApiResult<(StatusCode, Json<CustomCommandWithSecretDto>)> {
    let made = state
        .commands
        .create(
            &authed.actor(),
            enclave_app::CustomCommandInput {
                trigger: req.trigger,
                url: req.url,
                description: req.description.unwrap_or_default(),
                usage_hint: req.usage_hint.unwrap_or_default(),
            },
        )
        .await?;
    Ok((StatusCode::CREATED, Json(with_secret(&made))))
}

/// Replace a custom command's token and signing secret.
#[utoipa::path(post, path = "/api/v1/commands/custom/{id}/rotate", tag = "integrations", params(("id" = String, Path)),
    responses((status = 200, body = CustomCommandWithSecretDto), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody),
        (status = 404, body = ErrorBody)))]
pub async fn rotate(
    State(state): State<AppState>,
    Auth(authed): Auth,
    Path(id): Path<String>,
) -> ApiResult<Json<CustomCommandWithSecretDto>> {
    let made = state
        .commands
        .rotate(&authed.actor(), command_id(&id)?)
        .await?;
    Ok(Json(with_secret(&made)))
}

/// Delete a custom command (its open `response_url`s stop working).
#[utoipa::path(delete, path = "/api/v1/commands/custom/{id}", tag = "integrations", params(("id" = String, Path)),
    responses((status = 204), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody),
        (status = 404, body = ErrorBody)))]
pub async fn delete(
    State(state): State<AppState>,
    Auth(authed): Auth,
    Path(id): Path<String>,
) -> ApiResult<StatusCode> {
    state
        .commands
        .delete(&authed.actor(), command_id(&id)?)
        .await?;
    Ok(StatusCode::NO_CONTENT)
}

fn plain(status: StatusCode, text: &'static str) -> Response {
    (status, [(header::CONTENT_TYPE, "text/plain")], text).into_response()
}

/// `POST /hooks/commands/{token}`: a follow-up to a command (Slack's `response_url`): JSON (or
/// the form field `payload`) with `text`, `attachments`, `blocks` and `response_type`. Answers
/// `ok`; `expired_url` (404) when the URL is unknown, older than 30 minutes or used five times;
/// `invalid_payload` or `no_text` (400) for a body that is not a message.
pub async fn respond(
    State(state): State<AppState>,
    Path(token): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    if body.len() > MAX_BODY_BYTES {
        return plain(StatusCode::PAYLOAD_TOO_LARGE, "invalid_payload");
    }
    let Ok(v) = super::hooks::body_json(&headers, &body) else {
        return plain(StatusCode::BAD_REQUEST, "invalid_payload");
    };
    let Ok((response_type, payload)) = enclave_app::commands::answer_of(&v) else {
        return plain(StatusCode::BAD_REQUEST, "invalid_payload");
    };
    match state
        .commands
        .respond(
            &token,
            enclave_app::CommandInput {
                response_type,
                payload,
            },
        )
        .await
    {
        Ok(true) => plain(StatusCode::OK, "ok"),
        Ok(false) => plain(StatusCode::NOT_FOUND, "expired_url"),
        Err(enclave_app::Error::Domain(enclave_core::Error::Invalid { .. })) => {
            plain(StatusCode::BAD_REQUEST, "no_text")
        }
        Err(e) => {
            tracing::warn!(error = %e, "command response_url failed");
            match e.code() {
                ErrorCode::RateLimited => plain(StatusCode::TOO_MANY_REQUESTS, "rate_limited"),
                ErrorCode::ChannelArchived => plain(StatusCode::GONE, "channel_is_archived"),
                _ => plain(StatusCode::FORBIDDEN, "action_prohibited"),
            }
        }
    }
}
