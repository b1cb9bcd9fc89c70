//! Outgoing webhooks: `/api/v1/webhooks/outgoing` (each owner manages their own and reads
//! their delivery log). The calls themselves are made by `enclave_app::Outgoing`'s worker.

use axum::Json;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use enclave_core::ChannelId;
use enclave_core::outgoing::{ContentType, Delivery, DeliveryStatus, OutgoingWebhook};

use crate::AppState;
use crate::dto::{
    CreateOutgoingWebhookRequest, DeliveryDto, DeliveryList, DeliveryStatusDto,
    OutgoingContentType, OutgoingWebhookDto, OutgoingWebhookList, OutgoingWebhookWithSecret, ts,
};
use crate::error::{ApiResult, ErrorBody, ErrorCode};
use crate::extract::{ApiJson, Auth, parse_id};

fn dto(h: &OutgoingWebhook) -> OutgoingWebhookDto {
    OutgoingWebhookDto {
        id: h.id.to_string(),
        channel_id: h.channel_id.to_string(),
        creator_id: h.creator_id.to_string(),
        name: h.name.clone(),
        url: h.url.clone(),
        trigger_words: h.trigger_words.clone(),
        content_type: match h.content_type {
            ContentType::Form => OutgoingContentType::Form,
            ContentType::Json => OutgoingContentType::Json,
        },
        created_at: ts(h.created_at),
        rotated_at: h.rotated_at.map(ts),
    }
}

fn delivery(d: &Delivery) -> DeliveryDto {
    DeliveryDto {
        id: d.id.to_string(),
        message_id: d.message_id.to_string(),
        status: match d.status {
            DeliveryStatus::Pending => DeliveryStatusDto::Pending,
            DeliveryStatus::Delivered => DeliveryStatusDto::Delivered,
            DeliveryStatus::Failed => DeliveryStatusDto::Failed,
            DeliveryStatus::Refused => DeliveryStatusDto::Refused,
        },
        attempts: d.attempts,
        http_status: d.http_status,
        error: d.error.clone(),
        created_at: ts(d.created_at),
        updated_at: ts(d.updated_at),
        next_attempt_at: d.next_attempt_at.map(ts),
    }
}

fn hook_id(id: &str) -> ApiResult<i64> {
    id.parse::<i64>().ok().filter(|n| *n > 0).ok_or_else(|| {
        enclave_app::Error::Domain(enclave_core::Error::NotFound(enclave_core::Entity::Webhook))
            .into()
    })
}

/// Create an outgoing webhook for a channel (integration managers who may post there). The
/// answer carries its token and signing secret, shown once.
#[utoipa::path(post, path = "/api/v1/webhooks/outgoing", tag = "integrations",
    request_body = CreateOutgoingWebhookRequest,
    responses((status = 201, body = OutgoingWebhookWithSecret), (status = 400, body = ErrorBody), (status = 401, body = ErrorBody),
        (status = 403, body = ErrorBody), (status = 404, body = ErrorBody), (status = 422, body = ErrorBody)))]
pub async fn create(
    State(state): State<AppState>,
    Auth(authed): Auth,
    ApiJson(req): ApiJson<CreateOutgoingWebhookRequest>,
) -> ApiResult<(StatusCode, Json<OutgoingWebhookWithSecret>)> {
    let channel: ChannelId = parse_id(&req.channel_id, ErrorCode::ChannelNotFound)?;
    let made = state
        .outgoing
        .create(
            &authed.actor(),
            channel,
            enclave_app::OutgoingInput {
                name: req.name,
                url: req.url,
                trigger_words: req.trigger_words.unwrap_or_default(),
                content_type: match req.content_type {
                    Some(OutgoingContentType::Json) => ContentType::Json,
                    Some(OutgoingContentType::Form) | None => ContentType::Form,
                },
            },
        )
        .await?;
    Ok((
        StatusCode::CREATED,
        Json(OutgoingWebhookWithSecret {
            webhook: dto(&made.hook),
            token: made.token,
            signing_secret: made.signing_secret,
        }),
    ))
}

/// The caller's own outgoing webhooks.
#[utoipa::path(get, path = "/api/v1/webhooks/outgoing", tag = "integrations",
    responses((status = 200, body = OutgoingWebhookList), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody)))]
pub async fn list(
    State(state): State<AppState>,
    Auth(authed): Auth,
) -> ApiResult<Json<OutgoingWebhookList>> {
    let hooks = state.outgoing.list(&authed.actor()).await?;
    Ok(Json(OutgoingWebhookList {
        webhooks: hooks.iter().map(dto).collect(),
    }))
}

/// Replace an outgoing webhook's token and signing secret (its owner).
#[utoipa::path(post, path = "/api/v1/webhooks/outgoing/{id}/rotate", tag = "integrations", params(("id" = String, Path)),
    responses((status = 200, body = OutgoingWebhookWithSecret), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody),
        (status = 404, body = ErrorBody)))]
pub async fn rotate(
    State(state): State<AppState>,
    Auth(authed): Auth,
    Path(id): Path<String>,
) -> ApiResult<Json<OutgoingWebhookWithSecret>> {
    let made = state
        .outgoing
        .rotate(&authed.actor(), hook_id(&id)?)
        .await?;
    Ok(Json(OutgoingWebhookWithSecret {
        webhook: dto(&made.hook),
        token: made.token,
        signing_secret: made.signing_secret,
    }))
}

/// Delete an outgoing webhook and its delivery log (its owner).
#[utoipa::path(delete, path = "/api/v1/webhooks/outgoing/{id}", tag = "integrations", params(("id" = String, Path)),
    responses((status = 204), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody),
        (status = 404, body = ErrorBody)))]
pub async fn delete(
    State(state): State<AppState>,
    Auth(authed): Auth,
    Path(id): Path<String>,
) -> ApiResult<StatusCode> {
    state
        .outgoing
        .delete(&authed.actor(), hook_id(&id)?)
        .await?;
    Ok(StatusCode::NO_CONTENT)
}

/// An outgoing webhook's delivery log, newest first (its owner).
#[utoipa::path(get, path = "/api/v1/webhooks/outgoing/{id}/deliveries", tag = "integrations", params(("id" = String, Path)),
    responses((status = 200, body = DeliveryList), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody),
        (status = 404, body = ErrorBody)))]
pub async fn deliveries(
    State(state): State<AppState>,
    Auth(authed): Auth,
    Path(id): Path<String>,
) -> ApiResult<Json<DeliveryList>> {
    let log = state
        .outgoing
        .deliveries(&authed.actor(), hook_id(&id)?)
        .await?;
    Ok(Json(DeliveryList {
        deliveries: log.iter().map(delivery).collect(),
    }))
}
