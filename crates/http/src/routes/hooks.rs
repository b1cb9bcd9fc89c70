//! Incoming webhooks: Slack's wire format at `/hooks/<secret>` (JSON, or the form field
//! `payload` holding JSON), answered as Slack answers (`ok`, or an error string such as
//! `invalid_payload` with Slack's status), and the API that manages them.

use std::collections::HashMap;

use axum::Json;
use axum::body::Bytes;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use enclave_app::slack::payload_of;
use enclave_core::ChannelId;
use enclave_core::webhooks::{HookError, MAX_BODY_BYTES, Payload};
use serde_json::Value;

use crate::AppState;
use crate::dto::{CreateWebhookRequest, WebhookDto, WebhookList, WebhookWithUrl};
use crate::error::{ApiResult, ErrorBody, ErrorCode};
use crate::extract::{ApiJson, Auth, parse_id};

fn answer(r: Result<(), HookError>) -> Response {
    match r {
        Ok(()) => (StatusCode::OK, [(header::CONTENT_TYPE, "text/plain")], "ok").into_response(),
        Err(e) => (
            StatusCode::from_u16(e.status()).unwrap_or(StatusCode::BAD_REQUEST),
            [(header::CONTENT_TYPE, "text/plain")],
            e.as_str(),
        )
            .into_response(),
    }
}

/// `POST /hooks/{secret}`.
pub async fn incoming(
    State(state): State<AppState>,
    Path(secret): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    if body.len() > MAX_BODY_BYTES {
        return answer(Err(HookError::InvalidPayload));
    }
    let payload = match parse_body(&headers, &body) {
        Ok(p) => p,
        Err(e) => return answer(Err(e)),
    };
    answer(state.webhooks.deliver(&secret, payload).await)
}

/// A Slack body's JSON: the body itself, or a form's `payload` field.
pub(crate) fn body_json(headers: &HeaderMap, body: &[u8]) -> Result<Value, HookError> {
    let ct = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .to_ascii_lowercase();
    let text = std::str::from_utf8(body).map_err(|_| HookError::InvalidPayload)?;
    let json = if ct.starts_with("application/x-www-form-urlencoded") {
        let uri: axum::http::Uri = format!("/?{text}")
            .parse()
            .map_err(|_| HookError::InvalidPayload)?;
        let Query(form) = Query::<HashMap<String, String>>::try_from_uri(&uri)
            .map_err(|_| HookError::InvalidPayload)?;
        form.get("payload")
            .cloned()
            .ok_or(HookError::InvalidPayload)?
    } else {
        text.to_owned()
    };
    serde_json::from_str(&json).map_err(|_| HookError::InvalidPayload)
}

fn parse_body(headers: &HeaderMap, body: &[u8]) -> Result<Payload, HookError> {
    payload_of(&body_json(headers, body)?)
}

fn dto(state: &AppState, h: &enclave_core::webhooks::IncomingWebhook) -> WebhookDto {
    let _ = state;
    WebhookDto {
        id: h.id.to_string(),
        channel_id: h.channel_id.to_string(),
        creator_id: h.creator_id.to_string(),
        name: h.name.clone(),
        created_at: crate::dto::ts(h.created_at),
        rotated_at: h.rotated_at.map(crate::dto::ts),
    }
}

/// Create an incoming webhook for a channel (integration managers who may post there). The
/// answer carries its secret path `/hooks/<secret>`, shown once.
#[utoipa::path(post, path = "/api/v1/channels/{id}/webhooks", tag = "integrations", params(("id" = String, Path)),
    request_body = CreateWebhookRequest,
    responses((status = 201, body = WebhookWithUrl), (status = 400, body = ErrorBody), (status = 401, body = ErrorBody),
        (status = 403, body = ErrorBody), (status = 404, body = ErrorBody)))]
pub async fn create(
    State(state): State<AppState>,
    Auth(authed): Auth,
    Path(id): Path<String>,
    ApiJson(req): ApiJson<CreateWebhookRequest>,
) -> ApiResult<(StatusCode, Json<WebhookWithUrl>)> {
    let id: ChannelId = parse_id(&id, ErrorCode::ChannelNotFound)?;
    let made = state
        .webhooks
        .create(&authed.actor(), id, &req.name)
        .await?;
    Ok((
        StatusCode::CREATED,
        Json(WebhookWithUrl {
            webhook: dto(&state, &made.hook),
            path: format!("/hooks/{}", made.secret),
        }),
    ))
}

/// Every incoming webhook (integration managers).
#[utoipa::path(get, path = "/api/v1/webhooks", tag = "integrations",
    responses((status = 200, body = WebhookList), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody)))]
pub async fn list(
    State(state): State<AppState>,
    Auth(authed): Auth,
) -> ApiResult<Json<WebhookList>> {
    let hooks = state.webhooks.list(&authed.actor(), None).await?;
    Ok(Json(WebhookList {
        webhooks: hooks.iter().map(|h| dto(&state, h)).collect(),
    }))
}

fn hook_id(id: &str) -> ApiResult<i64> {
    id.parse::<i64>().ok().filter(|n| *n > 0).ok_or_else(|| {
        enclave_app::Error::Domain(enclave_core::Error::NotFound(enclave_core::Entity::Channel))
            .into()
    })
}

/// Replace a webhook's secret: the old URL stops working at once.
#[utoipa::path(post, path = "/api/v1/webhooks/{id}/rotate", tag = "integrations", params(("id" = String, Path)),
    responses((status = 200, body = WebhookWithUrl), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody),
        (status = 404, body = ErrorBody)))]
pub async fn rotate(
    State(state): State<AppState>,
    Auth(authed): Auth,
    Path(id): Path<String>,
) -> ApiResult<Json<WebhookWithUrl>> {
    let made = state
        .webhooks
        .rotate(&authed.actor(), hook_id(&id)?)
        .await?;
    Ok(Json(WebhookWithUrl {
        webhook: dto(&state, &made.hook),
        path: format!("/hooks/{}", made.secret),
    }))
}

/// Delete a webhook.
#[utoipa::path(delete, path = "/api/v1/webhooks/{id}", tag = "integrations", params(("id" = String, Path)),
    responses((status = 204), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody),
        (status = 404, body = ErrorBody)))]
pub async fn delete(
    State(state): State<AppState>,
    Auth(authed): Auth,
    Path(id): Path<String>,
) -> ApiResult<StatusCode> {
    state
        .webhooks
        .delete(&authed.actor(), hook_id(&id)?)
        .await?;
    Ok(StatusCode::NO_CONTENT)
}
