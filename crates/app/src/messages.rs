//! Messages: posting (idempotent with a client id), history pages, threads, edits, deletes,
//! reactions and pins. Posts, reactions and the other changes are rate-limited per user
//! ([`UserLimits`]); a retried post the store already had gives its token back.

use enclave_core::audit::{AuditAction, AuditSummary, AuditTarget};
use std::sync::Arc;

use enclave_core::permissions::{self, Action};
use enclave_core::{
    Actor, Anchor, ChannelId, Entity, Error as DomainError, FileId, MAX_FILES_PER_MESSAGE,
    MAX_PAGE, Mentions, Message, MessageId, mentions, validate,
};
use enclave_store::{
    AccountStore, ChannelStore, FileStore, Guard, GuardCtx, MessageStore, NewMessage, Posted,
};

use crate::audit::AuditRecord;
use crate::error::{Error, Result};
use crate::files::Previews;
use crate::ratelimit::{Kind, UserLimits};
use crate::{guard, message_guard};

/// A message to post.
#[derive(Debug, Clone, Default)]
pub struct PostInput {
    pub text: String,
    pub client_msg_id: Option<String>,
    pub thread_root_id: Option<MessageId>,
    /// The actor's own uploads to attach (at most [`MAX_FILES_PER_MESSAGE`]).
    pub file_ids: Vec<FileId>,
}

/// The messages service.
pub struct Messages {
    store: Arc<dyn MessageStore>,
    /// For read access to channels.
    channels: Arc<dyn ChannelStore>,
    /// For the accounts `@mentions` name.
    accounts: Arc<dyn AccountStore>,
    /// For the files a message attaches.
    files: Arc<dyn FileStore>,
    /// Opens the previews of the files messages carry.
    previews: Previews,
    limits: Arc<UserLimits>,
    /// Where security-relevant actions are recorded (`with_audit`; off by default).
    audit: crate::audit::Audit,
}

impl Messages {
    pub fn new(
        store: Arc<dyn MessageStore>,
        channels: Arc<dyn ChannelStore>,
        accounts: Arc<dyn AccountStore>,
        files: Arc<dyn FileStore>,
        previews: Previews,
        limits: Arc<UserLimits>,
    ) -> Self {
        Messages {
            store,
            channels,
            accounts,
            files,
            previews,
            limits,
            audit: crate::audit::Audit::off(),
        }
    }

    /// Records security-relevant actions in `audit`.
    #[must_use]
    pub fn with_audit(mut self, audit: crate::audit::Audit) -> Self {
        self.audit = audit;
        self
    }

    /// The message as doors see it: its files' previews opened.
    fn opened(&self, mut message: Message) -> Message {
        self.previews.open_message(&mut message);
        message
    }

    fn all_opened(&self, mut messages: Vec<Message>) -> Vec<Message> {
        self.previews.open_messages(&mut messages);
        messages
    }

    /// Resolves the `@mentions` in `text` to active accounts.
    async fn mentions(&self, text: &str) -> Result<Mentions> {
        let parsed = mentions::parse(text);
        let user_ids = if parsed.usernames.is_empty() {
            Vec::new()
        } else {
            let users = self.accounts.users_by_usernames(&parsed.usernames).await?;
            users
                .into_iter()
                .filter(|u| u.active)
                .map(|u| u.id)
                .collect()
        };
        Ok(Mentions {
            user_ids,
            channel: parsed.channel,
            here: parsed.here,
        })
    }

    /// Checks read access to a channel: `NotFound` when the actor may not see it.
    async fn readable(&self, actor: &Actor, id: ChannelId) -> Result<()> {
        let (ch, m) = self
            .channels
            .channel_for(id, actor.user_id)
            .await?
            .ok_or(DomainError::NotFound(Entity::Channel))?;
        permissions::check(actor, &ch, m.as_ref(), Action::ReadHistory)?;
        Ok(())
    }

    /// Posts a message. A repeated `client_msg_id` returns the first message instead of a new
    /// one, and costs no rate-limit token.
    pub async fn post(
        &self,
        actor: &Actor,
        channel_id: ChannelId,
        input: PostInput,
    ) -> Result<Posted> {
        self.limits.check(actor, Kind::Post)?;
        let posted = self.post_checked(actor, channel_id, input).await?;
        if !posted.created {
            self.limits.give_back(actor, Kind::Post);
        }
        Ok(posted)
    }

    async fn post_checked(
        &self,
        actor: &Actor,
        channel_id: ChannelId,
        input: PostInput,
    ) -> Result<Posted> {
        let mut file_ids = input.file_ids;
        let n_given = file_ids.len();
        file_ids.sort_unstable();
        file_ids.dedup();
        if file_ids.len() != n_given {
            return Err(DomainError::invalid("file_ids", "must not repeat a file").into());
        }
        if file_ids.len() > MAX_FILES_PER_MESSAGE {
            return Err(DomainError::invalid("file_ids", "at most 10 files per message").into());
        }
        // A message may be only its files.
        let text = if input.text.trim().is_empty() && !file_ids.is_empty() {
            String::new()
        } else {
            validate::message_text(&input.text)?
        };
        for id in &file_ids {
            let file = self
                .files
                .file(*id)
                .await?
                .ok_or(DomainError::NotFound(Entity::File))?;
            permissions::check_file_attach(actor, file.meta.uploader_id)?;
        }
        let client_msg_id = input
            .client_msg_id
            .as_deref()
            .map(validate::client_msg_id)
            .transpose()?;
        let mentions = self.mentions(&text).await?;
        let new = NewMessage {
            channel_id,
            user_id: actor.user_id,
            text,
            client_msg_id,
            thread_root_id: input.thread_root_id,
            mentions,
            file_ids,
        };
        let mut posted = self
            .store
            .post_message(new, guard(*actor, Action::Post))
            .await?;
        self.previews.open_message(&mut posted.message);
        Ok(posted)
    }

    /// A page of history (`limit` is clamped to 1..=200).
    pub async fn history(
        &self,
        actor: &Actor,
        channel_id: ChannelId,
        anchor: Anchor,
        limit: u32,
        include_replies: bool,
    ) -> Result<Vec<Message>> {
        self.readable(actor, channel_id).await?;
        let page = self
            .store
            .history(
                channel_id,
                anchor,
                limit.clamp(1, MAX_PAGE),
                include_replies,
            )
            .await?;
        Ok(self.all_opened(page))
    }

    /// One message the actor may read.
    pub async fn get(&self, actor: &Actor, id: MessageId) -> Result<Message> {
        let msg = self
            .store
            .message(id)
            .await?
            .ok_or(DomainError::NotFound(Entity::Message))?;
        match self.readable(actor, msg.channel_id).await {
            Ok(()) => Ok(self.opened(msg)),
            Err(Error::Domain(DomainError::NotFound(_))) => {
                Err(Error::Domain(DomainError::NotFound(Entity::Message)))
            }
            Err(e) => Err(e),
        }
    }

    /// A thread: its root, then replies after `after_seq`.
    pub async fn thread(
        &self,
        actor: &Actor,
        root: MessageId,
        after_seq: i64,
        limit: u32,
    ) -> Result<Vec<Message>> {
        let root_msg = self.get(actor, root).await?;
        if root_msg.thread_root_id.is_some() {
            return Err(Error::Domain(DomainError::invalid(
                "id",
                "is a reply, not a thread root",
            )));
        }
        let replies = self
            .store
            .thread(root, after_seq, limit.clamp(1, 1000))
            .await?;
        Ok(self.all_opened(replies))
    }

    pub async fn edit(&self, actor: &Actor, id: MessageId, text: &str) -> Result<Message> {
        self.limits.check(actor, Kind::Write)?;
        let text = validate::message_text(text)?;
        let mentions = self.mentions(&text).await?;
        let actor_copy = *actor;
        let g: enclave_store::Guard = Box::new(move |ctx: &enclave_store::GuardCtx<'_>| {
            let Some(msg) = ctx.message else {
                return Err(DomainError::NotFound(Entity::Message));
            };
            enclave_core::notices::check_editable(msg)?;
            permissions::check(
                &actor_copy,
                ctx.channel,
                ctx.membership,
                Action::EditMessage {
                    author: msg.user_id,
                },
            )
        });
        hide_channel(
            self.store
                .edit_message(id, actor.user_id, text, mentions, g)
                .await,
        )
        .map(|m| self.opened(m))
    }

    pub async fn delete(&self, actor: &Actor, id: MessageId) -> Result<Message> {
        self.limits.check(actor, Kind::Write)?;
        let g = message_guard(*actor, |author| Action::DeleteMessage { author });
        let m = hide_channel(self.store.delete_message(id, actor.user_id, g).await)?;
        if m.user_id != actor.user_id {
            self.audit
                .record(
                    AuditRecord::new(AuditAction::MessageDeletedByModerator)
                        .by(actor.user_id)
                        .target(AuditTarget::message(id))
                        .summary(
                            AuditSummary::new()
                                .fact("channel", m.channel_id)
                                .fact("author", m.user_id),
                        ),
                )
                .await;
        }
        Ok(self.opened(m))
    }

    /// Adds (`present`) or removes the actor's reaction. Idempotent.
    pub async fn react(
        &self,
        actor: &Actor,
        id: MessageId,
        emoji: &str,
        present: bool,
    ) -> Result<Message> {
        self.limits.check(actor, Kind::React)?;
        let emoji = validate::emoji(emoji)?;
        let r = self
            .store
            .set_reaction(
                id,
                actor.user_id,
                emoji,
                present,
                guard(*actor, Action::React),
            )
            .await;
        hide_channel(r.map(|(m, _)| self.opened(m)))
    }

    /// Pins (anyone who may post) or unpins (the pinner or a moderator: [`Action::Unpin`]).
    pub async fn pin(&self, actor: &Actor, id: MessageId, pinned: bool) -> Result<Message> {
        self.limits.check(actor, Kind::Write)?;
        let g = if pinned {
            guard(*actor, Action::Pin)
        } else {
            unpin_guard(*actor)
        };
        let r = self.store.set_pinned(id, actor.user_id, pinned, g).await;
        hide_channel(r.map(|(m, _)| self.opened(m)))
    }

    /// The channel's pinned messages, newest pin first.
    pub async fn pins(&self, actor: &Actor, channel_id: ChannelId) -> Result<Vec<Message>> {
        self.readable(actor, channel_id).await?;
        let pins = self.store.pins(channel_id).await?;
        Ok(self.all_opened(pins))
    }
}

/// Unpinning depends on who pinned the message, as the writing transaction sees it.
fn unpin_guard(actor: Actor) -> Guard {
    Box::new(move |ctx: &GuardCtx<'_>| {
        let Some(msg) = ctx.message else {
            return Err(DomainError::NotFound(Entity::Message));
        };
        let action = Action::Unpin {
            pinned_by: msg.pinned_at.and(msg.pinned_by),
        };
        permissions::check(&actor, ctx.channel, ctx.membership, action)
    })
}

/// For operations addressed by message id, a channel the actor may not see means the message
/// does not exist for them.
fn hide_channel<T>(r: std::result::Result<T, enclave_store::Error>) -> Result<T> {
    match r {
        Ok(v) => Ok(v),
        Err(enclave_store::Error::Domain(DomainError::NotFound(Entity::Channel))) => {
            Err(Error::Domain(DomainError::NotFound(Entity::Message)))
        }
        Err(e) => Err(e.into()),
    }
}
