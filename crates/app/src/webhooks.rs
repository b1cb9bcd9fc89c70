//! Incoming webhooks (Slack-compatible, `/hooks/<secret>`): made by integration managers for a
//! channel they may post in; a request with the secret posts a message there as the webhook's
//! creator. The payload rules and the message's Markdown are the core's
//! (`enclave_core::webhooks`); the secret is kept as its SHA-256 only. Each webhook takes at most
//! [`RATE_PER_MINUTE`] requests a minute (per node); the creator's own per-user limits apply too.

use std::collections::HashMap;
use std::sync::Arc;

use enclave_core::audit::{AuditAction, AuditSummary, AuditTarget, TargetKind};
use enclave_core::permissions::{Action, check, check_manage_webhooks};
use enclave_core::webhooks::{
    HookError, IncomingWebhook, MAX_NAME_CHARS, Payload, RATE_PER_MINUTE,
};
use enclave_core::{Actor, ChannelId, Entity, Error as DomainError, Millis};
use enclave_store::Store;
use parking_lot::Mutex;

use crate::accounts::Accounts;
use crate::audit::{Audit, AuditRecord};
use crate::error::{Error, Result};
use crate::messages::{Messages, PostInput};
use crate::signing::{random_hex, sha256_hex};

/// A webhook and its secret (shown once, at creation and rotation).
#[derive(Debug, Clone)]
pub struct WebhookSecret {
    pub hook: IncomingWebhook,
    pub secret: String,
}

/// The incoming-webhooks service.
pub struct Webhooks {
    store: Arc<dyn Store>,
    accounts: Arc<Accounts>,
    messages: Messages,
    audit: Audit,
    /// Per webhook: the minute and the requests taken in it.
    window: Mutex<HashMap<i64, (i64, u32)>>,
}

impl Webhooks {
    pub fn new(
        store: Arc<dyn Store>,
        accounts: Arc<Accounts>,
        messages: Messages,
        audit: Audit,
    ) -> Webhooks {
        Webhooks {
            store,
            accounts,
            messages,
            audit,
            window: Mutex::new(HashMap::new()),
        }
    }

    /// Creates a webhook posting into `channel_id` as `actor`.
    pub async fn create(
        &self,
        actor: &Actor,
        channel_id: ChannelId,
        name: &str,
    ) -> Result<WebhookSecret> {
        // The channel first: one the caller may not see is not found, whoever asks.
        let (channel, membership) = self
            .store
            .channel_for(channel_id, actor.user_id)
            .await?
            .ok_or(Error::Domain(DomainError::NotFound(Entity::Channel)))?;
        check(actor, &channel, membership.as_ref(), Action::Post)?;
        check_manage_webhooks(actor)?;
        let name = name.trim();
        if name.is_empty()
            || name.chars().count() > MAX_NAME_CHARS
            || name.chars().any(char::is_control)
        {
            return Err(
                DomainError::invalid("name", "1 to 64 characters, no control characters").into(),
            );
        }
        let secret = random_hex(24)?;
        let hook = self
            .store
            .create_webhook(
                channel_id,
                actor.user_id,
                name.to_owned(),
                sha256_hex(&secret),
            )
            .await?;
        self.record(actor, &hook, "created").await;
        Ok(WebhookSecret { hook, secret })
    }

    /// Every webhook, or a channel's.
    pub async fn list(
        &self,
        actor: &Actor,
        channel_id: Option<ChannelId>,
    ) -> Result<Vec<IncomingWebhook>> {
        check_manage_webhooks(actor)?;
        Ok(self.store.list_webhooks(channel_id, 1000).await?)
    }

    /// Replaces a webhook's secret: the old URL stops working at once.
    pub async fn rotate(&self, actor: &Actor, id: i64) -> Result<WebhookSecret> {
        check_manage_webhooks(actor)?;
        let secret = random_hex(24)?;
        if !self
            .store
            .rotate_webhook_secret(id, sha256_hex(&secret))
            .await?
        {
            return Err(DomainError::NotFound(Entity::Channel).into());
        }
        let hook = self
            .store
            .webhook(id)
            .await?
            .ok_or(Error::Domain(DomainError::NotFound(Entity::Channel)))?;
        self.record(actor, &hook, "secret rotated").await;
        Ok(WebhookSecret { hook, secret })
    }

    pub async fn delete(&self, actor: &Actor, id: i64) -> Result<()> {
        check_manage_webhooks(actor)?;
        let hook = self
            .store
            .webhook(id)
            .await?
            .ok_or(Error::Domain(DomainError::NotFound(Entity::Channel)))?;
        self.store.delete_webhook(id).await?;
        self.record(actor, &hook, "deleted").await;
        Ok(())
    }

    async fn record(&self, actor: &Actor, hook: &IncomingWebhook, what: &str) {
        self.audit
            .record(
                AuditRecord::new(AuditAction::IntegrationChanged)
                    .by(actor.user_id)
                    .target(AuditTarget::new(
                        TargetKind::Integration,
                        format!("webhook {}", hook.id),
                    ))
                    .summary(
                        AuditSummary::new()
                            .fact("webhook", what)
                            .fact("name", &hook.name)
                            .fact("channel", hook.channel_id),
                    ),
            )
            .await;
    }

    /// Posts `payload` through the webhook whose secret is `secret`, as Slack does: `Ok` or
    /// Slack's error.
    pub async fn deliver(&self, secret: &str, payload: Payload) -> Result<(), HookError> {
        if secret.is_empty() || secret.len() > 128 {
            return Err(HookError::NoService);
        }
        let hook = match self.store.webhook_by_secret(&sha256_hex(secret)).await {
            Ok(Some(h)) => h,
            Ok(None) => return Err(HookError::NoService),
            Err(e) => {
                tracing::warn!(error = %e, "webhook lookup failed");
                return Err(HookError::NoService);
            }
        };
        self.take(hook.id)?;
        payload.check()?;
        let creator = match self.store.user(hook.creator_id).await {
            Ok(Some(u)) if u.active => u,
            _ => return Err(HookError::ActionProhibited),
        };
        let actor = self
            .accounts
            .actor_of(&creator)
            .await
            .map_err(|_| HookError::ActionProhibited)?;
        let channel = match self.store.channel(hook.channel_id).await {
            Ok(Some(c)) => c,
            _ => return Err(HookError::ChannelNotFound),
        };
        if channel.is_archived() {
            return Err(HookError::ChannelIsArchived);
        }
        let text = payload.to_markdown();
        self.messages
            .post(
                &actor,
                hook.channel_id,
                PostInput {
                    text,
                    // Marks the post as an integration's: it calls no outgoing webhook.
                    client_msg_id: Some(format!(
                        "{}in:{}",
                        enclave_core::outgoing::INTEGRATION_CLIENT_ID_PREFIX,
                        random_hex(24).map_err(|_| HookError::ActionProhibited)?
                    )),
                    thread_root_id: None,
                    file_ids: Vec::new(),
                },
            )
            .await
            .map(|_| ())
            .map_err(|e| match e {
                Error::Domain(DomainError::RateLimited { .. }) => HookError::RateLimited,
                Error::Domain(DomainError::Archived) => HookError::ChannelIsArchived,
                Error::Domain(DomainError::Invalid { .. }) => HookError::InvalidPayload,
                Error::Domain(DomainError::NotFound(_) | DomainError::Forbidden(_)) => {
                    HookError::ActionProhibited
                }
                other => {
                    tracing::warn!(error = %other, webhook = hook.id, "webhook post failed");
                    HookError::ActionProhibited
                }
            })
    }

    fn take(&self, id: i64) -> Result<(), HookError> {
        let minute = Millis::now().0 / 60_000;
        let mut w = self.window.lock();
        if w.len() > 10_000 {
            w.retain(|_, (m, _)| *m == minute);
        }
        let slot = w.entry(id).or_insert((minute, 0));
        if slot.0 != minute {
            *slot = (minute, 0);
        }
        if slot.1 >= RATE_PER_MINUTE {
            return Err(HookError::RateLimited);
        }
        slot.1 += 1;
        Ok(())
    }
}
