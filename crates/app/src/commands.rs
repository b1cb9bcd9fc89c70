//! Slash commands: the built-ins carried out through the same services (and so the same
//! permission checks) as the requests they stand for, and custom commands that call an
//! integration's URL with Slack's fields, signed as outgoing webhooks are (Slack's `v0`), through
//! the one outbound client. An answer is shown to the caller only (`ephemeral`, returned to the
//! caller) or posted in the conversation (`in_channel`, as the command's creator, after the
//! caller's own command line as Slack shows it). The integration may follow up through the
//! command's `response_url` (`/hooks/commands/<token>`) five times within 30 minutes; an
//! ephemeral follow-up reaches the caller's clients as an `ephemeral.posted` event.
//!
//! What is a command, what the built-ins take and the custom commands' rules are the core's
//! (`enclave_core::commands`).

use std::sync::Arc;
use std::time::Duration;

use enclave_core::audit::{AuditAction, AuditSummary, AuditTarget, TargetKind};
use enclave_core::commands::{
    self, Builtin, Call, CustomCommand, Line, MAX_CUSTOM_COMMANDS, RESPONSE_URL_TTL, ResponseType,
};
use enclave_core::permissions::{Action, check, check_manage_commands};
use enclave_core::webhooks::Payload;
use enclave_core::{
    Actor, Channel, ChannelId, ChannelKind, Entity, Error as DomainError, Message, MessageId,
    Millis, User, validate,
};
use enclave_store::{NewCommand, ResponseTarget, Store};

use crate::accounts::Accounts;
use crate::audit::{Audit, AuditRecord};
use crate::channels::{ChannelUpdate, Channels};
use crate::error::{Error, Result};
use crate::messages::{Messages, PostInput};
use crate::outbound::{Outbound, OutboundError};
use crate::signing::{SigningSecrets, random_hex, sha256_hex};
use crate::{BrowseQuery, ErrorCode};

/// The label of the key command signing secrets are sealed under.
const SECRET_LABEL: &str = "enclave slash command secret v1";
/// How long an integration has to answer (Slack: 3 seconds).
const ANSWER_WITHIN: Duration = Duration::from_secs(3);

/// A line typed in a conversation.
#[derive(Debug, Clone)]
pub struct Invocation {
    pub channel_id: ChannelId,
    pub text: String,
    pub thread_root_id: Option<MessageId>,
}

/// What a command did.
#[derive(Debug, Clone)]
pub enum CommandOutcome {
    /// A message was posted (`/me`, `/shrug`, `/msg` with text, a line that is not a command).
    Posted(Message),
    /// The caller joined (or was already in) a channel.
    Joined(Channel),
    /// The caller left the channel.
    Left(ChannelId),
    /// People were added to the channel (`added`) or were members already (`already`).
    Invited {
        added: Vec<User>,
        already: Vec<User>,
    },
    Removed(Vec<User>),
    /// The topic or purpose was set (`set`) or shown.
    Topic {
        channel: Channel,
        set: bool,
    },
    Purpose {
        channel: Channel,
        set: bool,
    },
    /// A direct conversation was opened (and `posted` there when the line had text).
    Opened {
        channel: Channel,
        posted: Option<Message>,
    },
    Status(User),
    Dnd(User),
    /// The commands the caller may use.
    Help(Vec<CommandSpec>),
    /// A custom command's answer: shown to the caller (`ephemeral`) or posted (`in_channel`,
    /// `posted` the answer). `text` is empty when the integration answered nothing.
    Custom {
        response_type: ResponseType,
        text: String,
        posted: Option<Message>,
    },
}

/// One command as autocomplete and help show it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CommandSpec {
    pub name: String,
    pub usage: String,
    pub description: String,
    pub builtin: bool,
}

/// What makes a custom command.
#[derive(Debug, Clone)]
pub struct CustomCommandInput {
    pub trigger: String,
    pub url: String,
    pub description: String,
    pub usage_hint: String,
}

/// A custom command with its token and signing secret (shown at creation and rotation only).
#[derive(Debug, Clone)]
pub struct CustomCommandWithSecret {
    pub command: CustomCommand,
    pub token: String,
    pub signing_secret: String,
}

/// A follow-up posted to a `response_url`.
#[derive(Debug, Clone)]
pub struct CommandInput {
    pub response_type: ResponseType,
    pub payload: Payload,
}

/// The slash-commands service.
pub struct Commands {
    store: Arc<dyn Store>,
    accounts: Arc<Accounts>,
    channels: Channels,
    messages: Messages,
    audit: Audit,
    outbound: Outbound,
    secrets: SigningSecrets,
    /// Where people reach the server (`response_url`s are made from it).
    base_url: String,
}

fn not_found() -> Error {
    Error::Domain(DomainError::NotFound(Entity::Command))
}

fn failed(message: &'static str) -> Error {
    Error::refused(ErrorCode::CommandFailed, message)
}

/// A built-in's description, for help and autocomplete (the web client shows its own
/// translation by name).
fn describe(b: Builtin) -> &'static str {
    match b {
        Builtin::Me => "Post an action: /me waves",
        Builtin::Shrug => "Post a shrug ¯\\_(ツ)_/¯ after your text",
        Builtin::Topic => "Set or show the conversation's topic",
        Builtin::Purpose => "Set or show the channel's purpose",
        Builtin::Join => "Join a public channel",
        Builtin::Leave => "Leave this channel",
        Builtin::Invite => "Add people to this channel",
        Builtin::Kick => "Remove people from this channel",
        Builtin::Msg => "Open a direct message, optionally with a first message",
        Builtin::Status => "Set your status (empty clears it)",
        Builtin::Dnd => "Turn do-not-disturb on or off",
        Builtin::Help => "List the commands",
    }
}

/// The text a reply shows (a Slack answer's text, attachments and blocks as Markdown).
fn reply_markdown(payload: &Payload) -> String {
    payload.to_markdown().trim().to_owned()
}

impl Commands {
    #[allow(clippy::too_many_arguments)]
    pub fn new(
        store: Arc<dyn Store>,
        accounts: Arc<Accounts>,
        channels: Channels,
        messages: Messages,
        audit: Audit,
        outbound: Outbound,
        ring: &enclave_files::KeyRing,
        base_url: String,
    ) -> Commands {
        Commands {
            store,
            accounts,
            channels,
            messages,
            audit,
            outbound,
            secrets: SigningSecrets::new(ring, SECRET_LABEL, b"slash command "),
            base_url: base_url.trim_end_matches('/').to_owned(),
        }
    }

    /// Every command the caller may type: the built-ins, then the custom ones by trigger.
    pub async fn list(&self, _actor: &Actor) -> Result<Vec<CommandSpec>> {
        let mut out: Vec<CommandSpec> = Builtin::ALL
            .into_iter()
            .map(|b| CommandSpec {
                name: b.name().to_owned(),
                usage: b.usage().to_owned(),
                description: describe(b).to_owned(),
                builtin: true,
            })
            .collect();
        for c in self.store.list_commands(MAX_CUSTOM_COMMANDS as u32).await? {
            out.push(CommandSpec {
                name: c.trigger,
                usage: c.usage_hint,
                description: c.description,
                builtin: false,
            });
        }
        Ok(out)
    }

    /// Carries out a line typed in a conversation: a command, or (`//x`, `/a/b`) a message.
    pub async fn run(&self, actor: &Actor, inv: Invocation) -> Result<CommandOutcome> {
        let line = commands::split(&inv.text);
        let (name, args) = match line {
            Line::Text(text) => {
                let posted = self.post(actor, &inv, text.into_owned()).await?;
                return Ok(CommandOutcome::Posted(posted));
            }
            Line::Command { name, args } => (name, args.to_owned()),
        };
        // Commands are typed where one may post (a member, the channel not archived), whatever
        // the command: a conversation one cannot see is not found, one one may only read is
        // forbidden.
        let (channel, membership) = self
            .store
            .channel_for(inv.channel_id, actor.user_id)
            .await?
            .ok_or(Error::Domain(DomainError::NotFound(Entity::Channel)))?;
        check(actor, &channel, membership.as_ref(), Action::Post)?;
        if let Some(b) = Builtin::lookup(&name) {
            let call = commands::parse(b, &args)?;
            return self.builtin(actor, &inv, channel, call).await;
        }
        let custom = self
            .store
            .command_by_trigger(&name)
            .await?
            .ok_or_else(not_found)?;
        self.custom(actor, &inv, &channel, &custom, &args).await
    }

    async fn post(&self, actor: &Actor, inv: &Invocation, text: String) -> Result<Message> {
        Ok(self
            .messages
            .post(
                actor,
                inv.channel_id,
                PostInput {
                    text,
                    client_msg_id: None,
                    thread_root_id: inv.thread_root_id,
                    file_ids: Vec::new(),
                },
            )
            .await?
            .message)
    }

    async fn users(&self, handles: &[String]) -> Result<Vec<User>> {
        let found = self.store.users_by_usernames(handles).await?;
        for h in handles {
            if !found.iter().any(|u| &u.username == h && u.active) {
                return Err(DomainError::NotFound(Entity::User).into());
            }
        }
        Ok(found)
    }

    async fn builtin(
        &self,
        actor: &Actor,
        inv: &Invocation,
        channel: Channel,
        call: Call,
    ) -> Result<CommandOutcome> {
        let id = channel.id;
        Ok(match call {
            Call::Me(text) => {
                CommandOutcome::Posted(self.post(actor, inv, commands::me_text(&text)).await?)
            }
            Call::Shrug(text) => {
                CommandOutcome::Posted(self.post(actor, inv, commands::shrug_text(&text)).await?)
            }
            Call::Topic(None) => CommandOutcome::Topic {
                channel,
                set: false,
            },
            Call::Topic(Some(t)) => CommandOutcome::Topic {
                channel: self
                    .channels
                    .update(
                        actor,
                        id,
                        ChannelUpdate {
                            topic: Some(t),
                            ..ChannelUpdate::default()
                        },
                    )
                    .await?,
                set: true,
            },
            Call::Purpose(None) => CommandOutcome::Purpose {
                channel,
                set: false,
            },
            Call::Purpose(Some(p)) => CommandOutcome::Purpose {
                channel: self
                    .channels
                    .update(
                        actor,
                        id,
                        ChannelUpdate {
                            purpose: Some(p),
                            ..ChannelUpdate::default()
                        },
                    )
                    .await?,
                set: true,
            },
            Call::Join(name) => {
                let target = self.channel_named(actor, &name).await?;
                self.channels.join(actor, target.id).await?;
                let joined = self.store.channel(target.id).await?.unwrap_or(target);
                CommandOutcome::Joined(joined)
            }
            Call::Leave => {
                if channel.kind.is_direct() {
                    return Err(DomainError::invalid(
                        "text",
                        "a direct conversation cannot be left",
                    )
                    .into());
                }
                self.channels.leave(actor, id).await?;
                CommandOutcome::Left(id)
            }
            Call::Invite(handles) => {
                let people = self.users(&handles).await?;
                let mut added = Vec::new();
                let mut already = Vec::new();
                for u in people {
                    let (_, new) = self.channels.add_member(actor, id, u.id).await?;
                    if new {
                        added.push(u);
                    } else {
                        already.push(u);
                    }
                }
                CommandOutcome::Invited { added, already }
            }
            Call::Kick(handles) => {
                let people = self.users(&handles).await?;
                for u in &people {
                    self.channels.remove_member(actor, id, u.id).await?;
                }
                CommandOutcome::Removed(people)
            }
            Call::Msg { to, text } => {
                let other = self.users(std::slice::from_ref(&to)).await?;
                let other = other
                    .into_iter()
                    .next()
                    .ok_or_else(|| Error::Domain(DomainError::NotFound(Entity::User)))?;
                let others = if other.id == actor.user_id {
                    Vec::new()
                } else {
                    vec![other.id]
                };
                let dm = self.channels.open_direct(actor, others).await?;
                let posted = if text.is_empty() {
                    None
                } else {
                    Some(
                        self.post(
                            actor,
                            &Invocation {
                                channel_id: dm.channel.id,
                                text: text.clone(),
                                thread_root_id: None,
                            },
                            text,
                        )
                        .await?,
                    )
                };
                CommandOutcome::Opened {
                    channel: dm.channel,
                    posted,
                }
            }
            Call::Status(text) => {
                CommandOutcome::Status(self.accounts.set_status(actor, Some(&text), None).await?)
            }
            Call::Dnd(on) => {
                let on = match on {
                    Some(v) => v,
                    None => {
                        !self
                            .store
                            .user(actor.user_id)
                            .await?
                            .ok_or(Error::Domain(DomainError::NotFound(Entity::User)))?
                            .dnd
                    }
                };
                CommandOutcome::Dnd(self.accounts.set_status(actor, None, Some(on)).await?)
            }
            Call::Help => CommandOutcome::Help(self.list(actor).await?),
        })
    }

    /// The channel called `name` that the caller belongs to, else the public one of that name.
    async fn channel_named(&self, actor: &Actor, name: &str) -> Result<Channel> {
        let key = validate::channel_name_key(name);
        let keyed = |c: &Channel| {
            c.name
                .as_deref()
                .is_some_and(|n| validate::channel_name_key(n) == key)
        };
        if let Some(s) = self
            .channels
            .mine(actor)
            .await?
            .into_iter()
            .find(|s| keyed(&s.channel))
        {
            return Ok(s.channel);
        }
        let found = self
            .channels
            .browse(
                actor,
                BrowseQuery {
                    text: Some(name.chars().take(64).collect()),
                    include_archived: false,
                    after_id: None,
                    limit: 200,
                },
            )
            .await?;
        found
            .into_iter()
            .find(|c| c.kind == ChannelKind::Public && keyed(c))
            .ok_or_else(|| Error::Domain(DomainError::NotFound(Entity::Channel)))
    }

    async fn custom(
        &self,
        actor: &Actor,
        inv: &Invocation,
        channel: &Channel,
        command: &CustomCommand,
        args: &str,
    ) -> Result<CommandOutcome> {
        let caller = self
            .store
            .user(actor.user_id)
            .await?
            .ok_or(Error::Domain(DomainError::NotFound(Entity::User)))?;
        let secret = self
            .store
            .command_secret(command.id)
            .await?
            .ok_or_else(not_found)?;
        let key = self.secrets.open(&secret)?;
        let token = random_hex(24)?;
        let now = Millis::now();
        self.store
            .create_response_url(
                sha256_hex(&token),
                ResponseTarget {
                    command_id: command.id,
                    channel_id: channel.id,
                    user_id: actor.user_id,
                    thread_root_id: inv.thread_root_id,
                },
                Millis(now.0 + RESPONSE_URL_TTL.0),
                now,
            )
            .await?;
        let fields = commands::RequestFields {
            token: secret.token.clone(),
            channel_id: channel.id,
            channel_name: channel
                .name
                .clone()
                .unwrap_or_else(|| "directmessage".to_owned()),
            user_id: caller.id,
            user_name: caller.username.clone(),
            command: format!("/{}", command.trigger),
            text: args.to_owned(),
            response_url: format!("{}/hooks/commands/{token}", self.base_url),
            trigger_id: random_hex(12)?,
        };
        // The serializer is not `Send`: it ends before the next await.
        let body = {
            let mut ser = url::form_urlencoded::Serializer::new(String::new());
            for (k, v) in fields.pairs() {
                ser.append_pair(k, &v);
            }
            ser.finish().into_bytes()
        };
        let ts = now.0 / 1000;
        let sig = enclave_core::outgoing::signature(&key, ts, &body);
        let request = http::Request::post(command.url.as_str())
            .header(
                http::header::CONTENT_TYPE,
                "application/x-www-form-urlencoded",
            )
            .header(http::header::USER_AGENT, "Enclave-Commands/1")
            .header("X-Slack-Request-Timestamp", ts.to_string())
            .header("X-Slack-Signature", sig)
            .body(body)
            .map_err(|e| Error::internal(format!("bad command request: {e}")))?;
        let response = match tokio::time::timeout(ANSWER_WITHIN, self.outbound.send(request)).await
        {
            Err(_) => {
                return Err(failed(
                    "the command's service did not answer within 3 seconds",
                ));
            }
            Ok(Err(
                OutboundError::NotAllowed(_)
                | OutboundError::PrivateAddress { .. }
                | OutboundError::BadUrl(_),
            )) => {
                return Err(Error::refused(
                    ErrorCode::Forbidden,
                    "the command's address is not on the outbound allow-list",
                ));
            }
            Ok(Err(e)) => {
                tracing::warn!(error = %e, command = %command.trigger, "slash command: the request failed");
                return Err(failed("the command's service could not be reached"));
            }
            Ok(Ok(r)) => r,
        };
        if !response.status().is_success() {
            return Err(failed("the command's service answered an error"));
        }
        let json = response
            .headers()
            .get(http::header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .is_some_and(|v| v.to_ascii_lowercase().starts_with("application/json"));
        let body = response.body();
        let (response_type, payload) = if body.iter().all(u8::is_ascii_whitespace) {
            return Ok(CommandOutcome::Custom {
                response_type: ResponseType::Ephemeral,
                text: String::new(),
                posted: None,
            });
        } else if json {
            let v: serde_json::Value = serde_json::from_slice(body)
                .map_err(|_| failed("the command's service answered malformed JSON"))?;
            answer_of(&v)
                .map_err(|_| failed("the command's service answered a malformed message"))?
        } else {
            let text = std::str::from_utf8(body)
                .map_err(|_| failed("the command's service answered text that is not UTF-8"))?;
            (
                ResponseType::Ephemeral,
                Payload {
                    text: text.to_owned(),
                    ..Payload::default()
                },
            )
        };
        let text = reply_markdown(&payload);
        let mut response_type = response_type;
        let posted = match response_type {
            ResponseType::Ephemeral => None,
            ResponseType::InChannel if text.is_empty() => None,
            ResponseType::InChannel => match self.creator_actor(command, channel.id).await {
                // The answer is posted as the command's creator: one who cannot post there
                // (not a member, deactivated) leaves it to the caller alone, and nothing is
                // posted at all (not even the caller's line).
                None => {
                    response_type = ResponseType::Ephemeral;
                    None
                }
                Some(creator) => {
                    // As Slack shows it: the caller's command line, then the answer.
                    self.post(actor, inv, inv.text.trim().to_owned()).await?;
                    Some(
                        self.post_as(&creator, channel.id, inv.thread_root_id, text.clone())
                            .await?,
                    )
                }
            },
        };
        Ok(CommandOutcome::Custom {
            response_type,
            text,
            posted,
        })
    }

    /// The command's creator as an actor, when they may post in `channel_id`.
    async fn creator_actor(&self, command: &CustomCommand, channel_id: ChannelId) -> Option<Actor> {
        let owner = match self.store.user(command.creator_id).await {
            Ok(Some(u)) if u.active => u,
            _ => return None,
        };
        let actor = self.accounts.actor_of(&owner).await.ok()?;
        let (channel, membership) = self
            .store
            .channel_for(channel_id, actor.user_id)
            .await
            .ok()??;
        check(&actor, &channel, membership.as_ref(), Action::Post).ok()?;
        Some(actor)
    }

    async fn post_as(
        &self,
        actor: &Actor,
        channel_id: ChannelId,
        thread_root_id: Option<MessageId>,
        text: String,
    ) -> Result<Message> {
        Ok(self
            .messages
            .post(
                actor,
                channel_id,
                PostInput {
                    text,
                    // Marks the post as an integration's: it calls no outgoing webhook.
                    client_msg_id: Some(format!(
                        "{}cmd:{}",
                        enclave_core::outgoing::INTEGRATION_CLIENT_ID_PREFIX,
                        random_hex(16)?
                    )),
                    thread_root_id,
                    file_ids: Vec::new(),
                },
            )
            .await?
            .message)
    }

    /// A follow-up through a `response_url`: `Ok(false)` when the URL is unknown, expired or
    /// used up (five times).
    pub async fn respond(&self, token: &str, input: CommandInput) -> Result<bool> {
        if token.is_empty() || token.len() > 128 {
            return Ok(false);
        }
        input
            .payload
            .check()
            .map_err(|_| DomainError::invalid("payload", "not a valid Slack message"))?;
        let text = reply_markdown(&input.payload);
        if text.is_empty() {
            return Err(DomainError::invalid("text", "must not be empty").into());
        }
        let Some(target) = self
            .store
            .take_response_url(&sha256_hex(token), Millis::now())
            .await?
        else {
            return Ok(false);
        };
        let command = self
            .store
            .command(target.command_id)
            .await?
            .ok_or_else(not_found)?;
        match input.response_type {
            ResponseType::InChannel => {
                let creator = self
                    .creator_actor(&command, target.channel_id)
                    .await
                    .ok_or(Error::Domain(DomainError::Forbidden(
                        "the command's creator cannot post in this conversation",
                    )))?;
                self.post_as(&creator, target.channel_id, target.thread_root_id, text)
                    .await?;
            }
            ResponseType::Ephemeral => {
                let text = commands::ephemeral_text(&text)?;
                self.store
                    .post_ephemeral(
                        target.user_id,
                        target.channel_id,
                        target.thread_root_id,
                        text,
                    )
                    .await?;
            }
        }
        Ok(true)
    }

    /// Makes a custom command (integration managers).
    pub async fn create(
        &self,
        actor: &Actor,
        input: CustomCommandInput,
    ) -> Result<CustomCommandWithSecret> {
        check_manage_commands(actor)?;
        let (trigger, description, usage_hint) =
            commands::validate_custom(&input.trigger, &input.description, &input.usage_hint)?;
        let url = url::Url::parse(input.url.trim())
            .ok()
            .filter(|u| {
                u.host_str().is_some()
                    && matches!(u.scheme(), "http" | "https")
                    && u.as_str().len() <= 2000
            })
            .ok_or_else(|| DomainError::invalid("url", "not a valid http or https URL"))?;
        if self
            .store
            .list_commands(MAX_CUSTOM_COMMANDS as u32)
            .await?
            .len()
            >= MAX_CUSTOM_COMMANDS
        {
            return Err(DomainError::LimitExceeded("at most 200 custom commands").into());
        }
        let (secret, token, signing_secret) = self.secrets.generate()?;
        let command = self
            .store
            .create_command(NewCommand {
                trigger,
                description,
                usage_hint,
                url: url.to_string(),
                creator_id: actor.user_id,
                secret,
            })
            .await?;
        self.record(actor, &command, "created").await;
        Ok(CustomCommandWithSecret {
            command,
            token,
            signing_secret,
        })
    }

    /// Every custom command, with its URL (integration managers).
    pub async fn list_custom(&self, actor: &Actor) -> Result<Vec<CustomCommand>> {
        check_manage_commands(actor)?;
        Ok(self.store.list_commands(MAX_CUSTOM_COMMANDS as u32).await?)
    }

    /// New token and signing secret: requests are signed with the new secret at once.
    pub async fn rotate(&self, actor: &Actor, id: i64) -> Result<CustomCommandWithSecret> {
        check_manage_commands(actor)?;
        let command = self.store.command(id).await?.ok_or_else(not_found)?;
        let (secret, token, signing_secret) = self.secrets.generate()?;
        if !self.store.rotate_command(id, secret).await? {
            return Err(not_found());
        }
        let command = self.store.command(id).await?.unwrap_or(command);
        self.record(actor, &command, "secret rotated").await;
        Ok(CustomCommandWithSecret {
            command,
            token,
            signing_secret,
        })
    }

    pub async fn delete(&self, actor: &Actor, id: i64) -> Result<()> {
        check_manage_commands(actor)?;
        let command = self.store.command(id).await?.ok_or_else(not_found)?;
        self.store.delete_command(id).await?;
        self.record(actor, &command, "deleted").await;
        Ok(())
    }

    async fn record(&self, actor: &Actor, command: &CustomCommand, what: &str) {
        self.audit
            .record(
                AuditRecord::new(AuditAction::IntegrationChanged)
                    .by(actor.user_id)
                    .target(AuditTarget::new(
                        TargetKind::Integration,
                        format!("slash command {}", command.id),
                    ))
                    .summary(
                        AuditSummary::new()
                            .fact("slash command", what)
                            .fact("trigger", format!("/{}", command.trigger)),
                    ),
            )
            .await;
    }
}

/// A Slack answer (`response_type` and the message) from its JSON.
pub fn answer_of(
    v: &serde_json::Value,
) -> Result<(ResponseType, Payload), enclave_core::webhooks::HookError> {
    let payload = crate::slack::payload_of(v)?;
    payload.check()?;
    let rt = v
        .get("response_type")
        .and_then(serde_json::Value::as_str)
        .map_or(ResponseType::Ephemeral, ResponseType::parse);
    Ok((rt, payload))
}
