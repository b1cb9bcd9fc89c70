//! Bot accounts: created by those holding `create_bots`, acting through their tokens only.

use axum::Json;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use enclave_core::UserId;

use crate::AppState;
use crate::dto::{BotList, BotWithToken, CreateBotRequest, UserDto};
use crate::error::{ApiResult, ErrorBody, ErrorCode};
use crate::extract::{ApiJson, Auth, parse_id};

/// The bot accounts (those who may create bots).
#[utoipa::path(get, path = "/api/v1/bots", tag = "bots",
    responses((status = 200, body = BotList), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody)))]
pub async fn list(State(state): State<AppState>, Auth(authed): Auth) -> ApiResult<Json<BotList>> {
    let bots = state.accounts.bots(&authed.actor()).await?;
    Ok(Json(BotList {
        bots: bots.iter().map(|u| UserDto::new(u, true)).collect(),
    }))
}

/// Create a bot account and its first token (shown once). The bot acts only in the channels
/// it is added to and cannot sign in.
#[utoipa::path(post, path = "/api/v1/bots", tag = "bots", request_body = CreateBotRequest,
    responses((status = 201, body = BotWithToken), (status = 400, body = ErrorBody), (status = 401, body = ErrorBody),
        (status = 403, body = ErrorBody), (status = 409, body = ErrorBody, description = "Username taken")))]
pub async fn create(
    State(state): State<AppState>,
    Auth(authed): Auth,
    ApiJson(req): ApiJson<CreateBotRequest>,
) -> ApiResult<(StatusCode, Json<BotWithToken>)> {
    let made = state
        .accounts
        .create_bot(&authed.actor(), &req.username, req.display_name)
        .await?;
    Ok((
        StatusCode::CREATED,
        Json(BotWithToken {
            bot: UserDto::new(&made.bot, true),
            token: made.token,
        }),
    ))
}

/// Issue a new token for a bot, revoking its earlier tokens.
#[utoipa::path(post, path = "/api/v1/bots/{id}/token", tag = "bots", params(("id" = String, Path)),
    responses((status = 200, body = BotWithToken), (status = 401, body = ErrorBody),
        (status = 403, body = ErrorBody), (status = 404, body = ErrorBody)))]
pub async fn rotate_token(
    State(state): State<AppState>,
    Auth(authed): Auth,
    Path(id): Path<String>,
) -> ApiResult<Json<BotWithToken>> {
    let id: UserId = parse_id(&id, ErrorCode::UserNotFound)?;
    let made = state.accounts.rotate_bot_token(&authed.actor(), id).await?;
    Ok(Json(BotWithToken {
        bot: UserDto::new(&made.bot, true),
        token: made.token,
    }))
}
