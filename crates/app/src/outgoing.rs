//! Outgoing webhooks: managed by their owners (integration managers, each their own), and a
//! delivery worker that calls them for the messages the core's rule picks
//! (`enclave_core::outgoing`).
//!
//! The worker has two tasks on every node:
//! 1. **The scanner** reads the event log after the stored cursor (`outgoing_cursor`), asks
//!    [`enclave_core::outgoing::triggers`] about each new message, and in one transaction
//!    records a pending delivery per (webhook, message) and moves the cursor. A delivery is
//!    therefore recorded before the cursor passes its message: a node that stops at any moment
//!    leaves either the message still after the cursor (the next start looks at it again) or its
//!    delivery in the queue. Rows are unique per (webhook, message), so several nodes, or a
//!    scan repeated after a crash, record each delivery once. The first start begins at the
//!    log's end (earlier messages are not sent).
//! 2. **The sender** claims due deliveries (a claim makes them due again a minute later, so a
//!    node that stops while sending leaves them to another attempt), signs and sends each
//!    through the one outbound client ([`crate::Outbound`]), records the attempt, and retries
//!    with backoff as [`enclave_core::outgoing::after_attempt`] says. A reply (`{"text": ...}`)
//!    is posted into the channel as the webhook's owner, with a client id made from the delivery
//!    (so an attempt repeated after a crash posts it once, and the reply calls no webhook).
//!
//! Delivery is at least once: a receiver may see a request twice after a crash (the same
//! message `timestamp` and `text`).

use std::sync::Arc;
use std::time::Duration;

use enclave_core::audit::{AuditAction, AuditSummary, AuditTarget, TargetKind};
use enclave_core::outgoing::{
    self, Attempt, ContentType, Delivery, DeliveryStatus, Fields, LOG_KEEP, MAX_PER_CHANNEL, Next,
    OutgoingWebhook, Poster,
};
use enclave_core::permissions::{Action, check, check_manage_outgoing};
use enclave_core::{Actor, ChannelId, Entity, Error as DomainError, EventKind, Millis};
use enclave_store::{AttemptRecord, NewOutgoingWebhook, Store};
use tokio::sync::Notify;

use crate::accounts::Accounts;
use crate::audit::{Audit, AuditRecord};
use crate::error::{Error, Result};
use crate::feed::EventFeed;
use crate::messages::{Messages, PostInput};
use crate::outbound::{Outbound, OutboundError};
use crate::signing::SigningSecrets;

/// The label of the key the signing secrets are sealed under (derived from the file master key).
const SECRET_LABEL: &str = "enclave outgoing webhook secret v1";
/// How long a claimed delivery is kept from others (longer than any request may take).
const CLAIM: Millis = Millis(60_000);
/// Deliveries taken per claim.
const CLAIM_BATCH: u32 = 16;
/// Events read per scan.
const SCAN_PAGE: u32 = 500;
/// How often the queue and the log are looked at when nothing woke the worker.
const TICK: Duration = Duration::from_millis(500);
/// The longest error kept in the log.
const MAX_ERROR_CHARS: usize = 300;

/// What makes a webhook.
#[derive(Debug, Clone)]
pub struct OutgoingInput {
    pub name: String,
    pub url: String,
    pub trigger_words: Vec<String>,
    pub content_type: ContentType,
}

/// A webhook with its token and signing secret (shown at creation and rotation only).
#[derive(Debug, Clone)]
pub struct OutgoingWithSecret {
    pub hook: OutgoingWebhook,
    pub token: String,
    pub signing_secret: String,
}

/// The outgoing-webhooks service and its worker.
pub struct Outgoing {
    store: Arc<dyn Store>,
    accounts: Arc<Accounts>,
    messages: Messages,
    audit: Audit,
    outbound: Outbound,
    secrets: SigningSecrets,
    wake: Notify,
}

fn not_found() -> Error {
    Error::Domain(DomainError::NotFound(Entity::Webhook))
}

fn clip(s: String) -> String {
    if s.chars().count() > MAX_ERROR_CHARS {
        s.chars().take(MAX_ERROR_CHARS).collect()
    } else {
        s
    }
}

impl Outgoing {
    pub fn new(
        store: Arc<dyn Store>,
        accounts: Arc<Accounts>,
        messages: Messages,
        audit: Audit,
        outbound: Outbound,
        ring: &enclave_files::KeyRing,
    ) -> Outgoing {
        Outgoing {
            store,
            accounts,
            messages,
            audit,
            outbound,
            secrets: SigningSecrets::new(ring, SECRET_LABEL, b"outgoing webhook "),
            wake: Notify::new(),
        }
    }

    /// Makes an outgoing webhook for `channel_id`, owned by `actor`.
    pub async fn create(
        &self,
        actor: &Actor,
        channel_id: ChannelId,
        input: OutgoingInput,
    ) -> Result<OutgoingWithSecret> {
        // The channel first: one the caller may not see is not found, whoever asks.
        let (channel, membership) = self
            .store
            .channel_for(channel_id, actor.user_id)
            .await?
            .ok_or(Error::Domain(DomainError::NotFound(Entity::Channel)))?;
        check(actor, &channel, membership.as_ref(), Action::Post)?;
        check_manage_outgoing(actor, None)?;
        let (name, trigger_words) =
            outgoing::validate(&input.name, &input.url, &input.trigger_words)?;
        let url = url::Url::parse(&input.url)
            .ok()
            .filter(|u| u.host_str().is_some() && matches!(u.scheme(), "http" | "https"))
            .ok_or_else(|| DomainError::invalid("url", "not a valid http or https URL"))?;
        let existing = self
            .store
            .list_outgoing(None, Some(channel_id), MAX_PER_CHANNEL as u32 + 1)
            .await?;
        if existing.len() >= MAX_PER_CHANNEL {
            return Err(
                DomainError::LimitExceeded("at most 20 outgoing webhooks per channel").into(),
            );
        }
        let (secret, token, signing_secret) = self.secrets.generate()?;
        let hook = self
            .store
            .create_outgoing(NewOutgoingWebhook {
                channel_id,
                creator_id: actor.user_id,
                name,
                url: url.to_string(),
                trigger_words,
                content_type: input.content_type,
                secret,
            })
            .await?;
        self.record(actor, &hook, "created").await;
        Ok(OutgoingWithSecret {
            hook,
            token,
            signing_secret,
        })
    }

    /// The actor's own outgoing webhooks.
    pub async fn list(&self, actor: &Actor) -> Result<Vec<OutgoingWebhook>> {
        check_manage_outgoing(actor, None)?;
        Ok(self
            .store
            .list_outgoing(Some(actor.user_id), None, 1000)
            .await?)
    }

    async fn owned(&self, actor: &Actor, id: i64) -> Result<OutgoingWebhook> {
        let hook = self.store.outgoing(id).await?.ok_or_else(not_found)?;
        check_manage_outgoing(actor, Some(hook.creator_id))?;
        Ok(hook)
    }

    /// New token and signing secret: requests are signed with the new secret at once.
    pub async fn rotate(&self, actor: &Actor, id: i64) -> Result<OutgoingWithSecret> {
        let hook = self.owned(actor, id).await?;
        let (secret, token, signing_secret) = self.secrets.generate()?;
        if !self.store.rotate_outgoing(id, secret).await? {
            return Err(not_found());
        }
        let hook = self.store.outgoing(id).await?.unwrap_or(hook);
        self.record(actor, &hook, "secret rotated").await;
        Ok(OutgoingWithSecret {
            hook,
            token,
            signing_secret,
        })
    }

    pub async fn delete(&self, actor: &Actor, id: i64) -> Result<()> {
        let hook = self.owned(actor, id).await?;
        self.store.delete_outgoing(id).await?;
        self.record(actor, &hook, "deleted").await;
        Ok(())
    }

    /// A webhook's delivery log, newest first (its owner only).
    pub async fn deliveries(&self, actor: &Actor, id: i64) -> Result<Vec<Delivery>> {
        self.owned(actor, id).await?;
        Ok(self.store.list_deliveries(id, LOG_KEEP + 100).await?)
    }

    async fn record(&self, actor: &Actor, hook: &OutgoingWebhook, what: &str) {
        self.audit
            .record(
                AuditRecord::new(AuditAction::IntegrationChanged)
                    .by(actor.user_id)
                    .target(AuditTarget::new(
                        TargetKind::Integration,
                        format!("outgoing webhook {}", hook.id),
                    ))
                    .summary(
                        AuditSummary::new()
                            .fact("outgoing webhook", what)
                            .fact("name", &hook.name)
                            .fact("channel", hook.channel_id),
                    ),
            )
            .await;
    }

    /// Starts the scanner and the sender (see the module docs).
    pub fn start(self: &Arc<Self>, feed: &EventFeed) {
        let scanner = self.clone();
        let mut position = feed.watch_position();
        tokio::spawn(async move {
            loop {
                match scanner.scan().await {
                    Ok(true) => continue,
                    Ok(false) => {}
                    Err(e) => tracing::warn!(error = %e, "outgoing webhooks: scanning failed"),
                }
                tokio::select! {
                    r = position.changed() => if r.is_err() { return },
                    () = tokio::time::sleep(TICK) => {}
                }
            }
        });
        let sender = self.clone();
        tokio::spawn(async move {
            loop {
                match sender.send_due().await {
                    Ok(true) => continue,
                    Ok(false) => {}
                    Err(e) => tracing::warn!(error = %e, "outgoing webhooks: sending failed"),
                }
                tokio::select! {
                    () = sender.wake.notified() => {}
                    () = tokio::time::sleep(TICK) => {}
                }
            }
        });
    }

    /// One page of the log after the cursor; true when there may be more.
    async fn scan(&self) -> Result<bool> {
        let cursor = match self.store.outgoing_cursor().await? {
            Some(c) => c,
            None => {
                // The first start: from the log's end.
                let end = self.store.last_position().await?;
                self.store.enqueue_deliveries(end, Vec::new()).await?;
                return Ok(false);
            }
        };
        let events = self.store.events_after(cursor, SCAN_PAGE).await?;
        let Some(last) = events.last().map(|e| e.position) else {
            return Ok(false);
        };
        let mut items = Vec::new();
        if events.iter().any(|e| e.kind == EventKind::MessageCreated) {
            let hooks = self.store.list_outgoing(None, None, 100_000).await?;
            for e in &events {
                if e.kind != EventKind::MessageCreated {
                    continue;
                }
                let (Some(channel), Some(message_id)) = (e.channel_id, e.message_id) else {
                    continue;
                };
                if !hooks.iter().any(|h| h.channel_id == channel) {
                    continue;
                }
                let Some(message) = self.store.message(message_id).await? else {
                    continue;
                };
                // Notices (someone joined, the topic changed) call no integration.
                if message.is_deleted() || message.notice.is_some() {
                    continue;
                }
                let is_bot = self
                    .store
                    .user(message.user_id)
                    .await?
                    .is_some_and(|u| u.is_bot);
                let poster = Poster {
                    is_bot,
                    client_msg_id: message.client_msg_id.as_deref(),
                };
                for h in &hooks {
                    if outgoing::triggers(h, channel, &message.text, poster).is_some() {
                        items.push((h.id, message_id));
                    }
                }
            }
        }
        let more = events.len() == SCAN_PAGE as usize;
        if self.store.enqueue_deliveries(last, items).await? > 0 {
            self.wake.notify_one();
        }
        Ok(more)
    }

    /// Sends the deliveries due now; true when a full batch was taken (there may be more).
    async fn send_due(&self) -> Result<bool> {
        let now = Millis::now();
        let batch = self
            .store
            .claim_deliveries(now, Millis(now.0 + CLAIM.0), CLAIM_BATCH)
            .await?;
        let full = batch.len() == CLAIM_BATCH as usize;
        futures_util::future::join_all(batch.into_iter().map(|d| self.attempt(d))).await;
        Ok(full)
    }

    async fn attempt(&self, d: Delivery) {
        let attempts = d.attempts + 1;
        let record = match self.try_send(&d).await {
            Ok((attempt, reply)) => {
                let next = outgoing::after_attempt(attempts, &attempt);
                let (status, next_at) = match next {
                    Next::Done(s) => (s, None),
                    Next::RetryAfter(wait) => (
                        DeliveryStatus::Pending,
                        Some(Millis(Millis::now().0 + wait.0)),
                    ),
                };
                let http_status = match attempt {
                    Attempt::Answered(s) => Some(s),
                    _ => None,
                };
                AttemptRecord {
                    status,
                    attempts,
                    http_status,
                    error: reply.map(clip),
                    next_attempt_at: next_at,
                }
            }
            Err(why) => AttemptRecord {
                status: DeliveryStatus::Failed,
                attempts,
                http_status: None,
                error: Some(clip(why)),
                next_attempt_at: None,
            },
        };
        if let Err(e) = self.store.record_attempt(d.id, record, LOG_KEEP).await {
            tracing::warn!(error = %e, delivery = d.id, "outgoing webhooks: cannot record an attempt");
        }
    }

    /// One attempt: how it went and what to note in the log (an error, or why a reply was not
    /// posted). `Err`: the delivery cannot be made at all (webhook or message gone).
    async fn try_send(&self, d: &Delivery) -> Result<(Attempt, Option<String>), String> {
        let store_err = |e: enclave_store::Error| format!("internal: {e}");
        let hook = self
            .store
            .outgoing(d.webhook_id)
            .await
            .map_err(store_err)?
            .ok_or("the webhook was deleted")?;
        let message = self
            .store
            .message(d.message_id)
            .await
            .map_err(store_err)?
            .filter(|m| !m.is_deleted())
            .ok_or("the message was deleted")?;
        let channel = self
            .store
            .channel(hook.channel_id)
            .await
            .map_err(store_err)?
            .ok_or("the channel is gone")?;
        let poster = self
            .store
            .user(message.user_id)
            .await
            .map_err(store_err)?
            .ok_or("the poster is gone")?;
        let secret = self
            .store
            .outgoing_secret(hook.id)
            .await
            .map_err(store_err)?
            .ok_or("the webhook was deleted")?;
        let key = self.secrets.open(&secret).map_err(|e| e.to_string())?;
        let trigger = outgoing::triggers(
            &hook,
            channel.id,
            &message.text,
            Poster {
                is_bot: false,
                client_msg_id: None,
            },
        )
        .map(|t| t.trigger_word)
        .unwrap_or_default();
        let fields = Fields {
            token: secret.token.clone(),
            channel_id: channel.id,
            channel_name: channel
                .name
                .clone()
                .unwrap_or_else(|| "directmessage".to_owned()),
            timestamp: message.created_at,
            user_id: poster.id,
            user_name: poster.username.clone(),
            text: message.text.clone(),
            trigger_word: trigger,
        };
        let body = match hook.content_type {
            ContentType::Form => {
                let mut ser = url::form_urlencoded::Serializer::new(String::new());
                for (k, v) in fields.pairs() {
                    ser.append_pair(k, &v);
                }
                ser.finish().into_bytes()
            }
            ContentType::Json => {
                let map: serde_json::Map<String, serde_json::Value> = fields
                    .pairs()
                    .into_iter()
                    .map(|(k, v)| (k.to_owned(), serde_json::Value::String(v)))
                    .collect();
                serde_json::to_vec(&map).map_err(|e| e.to_string())?
            }
        };
        let ts = Millis::now().0 / 1000;
        let sig = outgoing::signature(&key, ts, &body);
        let request = http::Request::post(hook.url.as_str())
            .header(http::header::CONTENT_TYPE, hook.content_type.mime())
            .header(http::header::USER_AGENT, "Enclave-Webhooks/1")
            .header("X-Slack-Request-Timestamp", ts.to_string())
            .header("X-Slack-Signature", sig)
            .body(body)
            .map_err(|e| format!("bad request: {e}"))?;
        let response = match self.outbound.send(request).await {
            Ok(r) => r,
            Err(
                e @ (OutboundError::NotAllowed(_)
                | OutboundError::PrivateAddress { .. }
                | OutboundError::BadUrl(_)),
            ) => return Ok((Attempt::Refused, Some(e.to_string()))),
            Err(e) => return Ok((Attempt::Transport, Some(e.to_string()))),
        };
        let status = response.status().as_u16();
        if !(200..300).contains(&status) {
            return Ok((
                Attempt::Answered(status),
                Some(format!("the receiver answered {status}")),
            ));
        }
        let note = match reply_text(response.body()) {
            Some(text) => self
                .post_reply(&hook, d.id, message.thread_root_id, text)
                .await
                .err(),
            None => None,
        };
        Ok((Attempt::Answered(status), note))
    }

    async fn post_reply(
        &self,
        hook: &OutgoingWebhook,
        delivery_id: i64,
        thread_root_id: Option<enclave_core::MessageId>,
        text: String,
    ) -> Result<(), String> {
        let owner = match self.store.user(hook.creator_id).await {
            Ok(Some(u)) if u.active => u,
            _ => return Err("reply not posted: the webhook's owner is deactivated".into()),
        };
        let actor = self
            .accounts
            .actor_of(&owner)
            .await
            .map_err(|e| format!("reply not posted: {e}"))?;
        self.messages
            .post(
                &actor,
                hook.channel_id,
                PostInput {
                    text,
                    client_msg_id: Some(outgoing::reply_client_id(delivery_id)),
                    thread_root_id,
                    file_ids: Vec::new(),
                },
            )
            .await
            .map(|_| ())
            .map_err(|e| format!("reply not posted: {e}"))
    }
}

/// The reply in a receiver's answer: a JSON object's non-empty `text`.
fn reply_text(body: &[u8]) -> Option<String> {
    let v: serde_json::Value = serde_json::from_slice(body).ok()?;
    let text = v.get("text")?.as_str()?.trim();
    (!text.is_empty()).then(|| text.to_owned())
}
