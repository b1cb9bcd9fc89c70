//! Channels: creating, finding, changing and archiving channels; membership; direct
//! conversations; read state. Every change counts against the actor's rate limit for
//! writes ([`Kind::Write`]).

use enclave_core::audit::{AuditAction, AuditSummary, AuditTarget};
use std::sync::Arc;

use enclave_core::permissions::{self, Action};
use enclave_core::{
    Actor, Channel, ChannelId, ChannelKind, ChannelRole, ChannelSummary, Entity,
    Error as DomainError, MAX_GROUP_DM_MEMBERS, Membership, User, UserId, validate,
};
use enclave_store::{AccountStore, BrowseQuery, ChannelPatch, ChannelStore, GuardCtx, NewChannel};

use crate::audit::AuditRecord;
use crate::error::{Error, Result};
use crate::guard;
use crate::ratelimit::{Kind, UserLimits};

/// A new public or private channel.
#[derive(Debug, Clone)]
pub struct ChannelInput {
    pub name: String,
    pub kind: ChannelKind,
    pub topic: Option<String>,
    pub purpose: Option<String>,
    /// An announcement channel: only channel admins and holders of
    /// `post_in_announcement_channels` post.
    pub announcement: bool,
}

/// Changes to a channel; `None` leaves a field alone.
#[derive(Debug, Clone, Default)]
pub struct ChannelUpdate {
    pub name: Option<String>,
    pub topic: Option<String>,
    pub purpose: Option<String>,
    pub archived: Option<bool>,
    /// Make it an announcement channel, or an ordinary one (channel admins).
    pub announcement: Option<bool>,
}

/// The channels service.
pub struct Channels {
    store: Arc<dyn ChannelStore>,
    /// For the accounts a direct conversation is opened with.
    accounts: Arc<dyn AccountStore>,
    /// Every change here counts as [`Kind::Write`].
    limits: Arc<UserLimits>,
    /// Where security-relevant actions are recorded (`with_audit`; off by default).
    audit: crate::audit::Audit,
}

impl Channels {
    pub fn new(
        store: Arc<dyn ChannelStore>,
        accounts: Arc<dyn AccountStore>,
        limits: Arc<UserLimits>,
    ) -> Self {
        Channels {
            store,
            accounts,
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

    /// Loads a channel the actor may see, with their membership; `NotFound` otherwise.
    async fn visible(&self, actor: &Actor, id: ChannelId) -> Result<(Channel, Option<Membership>)> {
        let (ch, m) = self
            .store
            .channel_for(id, actor.user_id)
            .await?
            .ok_or(DomainError::NotFound(Entity::Channel))?;
        permissions::check(actor, &ch, m.as_ref(), Action::View)?;
        Ok((ch, m))
    }

    pub async fn create(&self, actor: &Actor, input: ChannelInput) -> Result<Channel> {
        self.limits.check(actor, Kind::Write)?;
        if input.kind.is_direct() {
            return Err(Error::Domain(DomainError::invalid(
                "kind",
                "use /dms to open a direct conversation",
            )));
        }
        permissions::check_create_channel(actor, input.kind)?;
        let name = validate::channel_name(&input.name)?;
        let topic = validate::topic("topic", input.topic.as_deref().unwrap_or(""))?;
        let purpose = validate::topic("purpose", input.purpose.as_deref().unwrap_or(""))?;
        let channel = self
            .store
            .create_channel(NewChannel {
                kind: input.kind,
                name_key: validate::channel_name_key(&name),
                name,
                topic,
                purpose,
                creator_id: actor.user_id,
                announcement: input.announcement,
            })
            .await?;
        tracing::info!(channel_id = %channel.id, kind = channel.kind.as_str(), "channel created");
        Ok(channel)
    }

    /// Opens the direct conversation between the actor and `others` (1:1 with one other
    /// person, notes-to-self with none, a group with up to seven others). The same set of people
    /// always gets the same conversation.
    pub async fn open_direct(&self, actor: &Actor, others: Vec<UserId>) -> Result<ChannelSummary> {
        self.limits.check(actor, Kind::Write)?;
        let mut ids = others;
        ids.push(actor.user_id);
        ids.sort();
        ids.dedup();
        if ids.len() > MAX_GROUP_DM_MEMBERS {
            return Err(Error::Domain(DomainError::LimitExceeded(
                "a group conversation has at most 8 people",
            )));
        }
        let users = self.accounts.users_by_ids(&ids).await?;
        if users.len() != ids.len() || users.iter().any(|u| !u.active) {
            return Err(Error::Domain(DomainError::NotFound(Entity::User)));
        }
        if !actor.may(enclave_core::SitePermission::MessageAnyone) {
            let mine = self.store.channel_ids_of(actor.user_id).await?;
            let mut all_share = true;
            for other in ids.iter().filter(|u| **u != actor.user_id) {
                let theirs = self.store.channel_ids_of(*other).await?;
                if !theirs.iter().any(|c| mine.contains(c)) {
                    all_share = false;
                    break;
                }
            }
            // Someone the actor may not see is "not found", like an unknown account.
            if !all_share {
                permissions::check_open_direct(actor, false)
                    .map_err(|_| DomainError::NotFound(Entity::User))?;
            }
        }
        let (channel, _created) = self.store.open_direct(actor.user_id, ids).await?;
        self.store
            .my_channel(channel.id, actor.user_id)
            .await?
            .ok_or(Error::Domain(DomainError::NotFound(Entity::Channel)))
    }

    /// The actor's channels with unread and mention counts.
    pub async fn mine(&self, actor: &Actor) -> Result<Vec<ChannelSummary>> {
        Ok(self.store.my_channels(actor.user_id).await?)
    }

    /// One channel; with the actor's counts when they are a member.
    pub async fn get(
        &self,
        actor: &Actor,
        id: ChannelId,
    ) -> Result<(Channel, Option<ChannelSummary>)> {
        let (ch, m) = self.visible(actor, id).await?;
        let summary = if m.is_some() {
            self.store.my_channel(id, actor.user_id).await?
        } else {
            None
        };
        Ok((ch, summary))
    }

    /// The public channel directory.
    pub async fn browse(&self, actor: &Actor, query: BrowseQuery) -> Result<Vec<Channel>> {
        if !actor.may(enclave_core::SitePermission::JoinPublicChannels) {
            return Err(Error::Domain(DomainError::Forbidden(
                "you may not browse public channels",
            )));
        }
        if query.text.as_ref().is_some_and(|t| t.chars().count() > 64) {
            return Err(Error::Domain(DomainError::invalid(
                "q",
                "must be at most 64 characters",
            )));
        }
        Ok(self.store.browse_channels(query).await?)
    }

    pub async fn update(
        &self,
        actor: &Actor,
        id: ChannelId,
        update: ChannelUpdate,
    ) -> Result<Channel> {
        self.limits.check(actor, Kind::Write)?;
        let mut patch = ChannelPatch::default();
        let mut actions = Vec::new();
        if let Some(n) = &update.name {
            let name = validate::channel_name(n)?;
            patch.name = Some((name.clone(), validate::channel_name_key(&name)));
            actions.push(Action::Rename);
        }
        if let Some(t) = &update.topic {
            patch.topic = Some(validate::topic("topic", t)?);
            actions.push(Action::SetTopic);
        }
        if let Some(p) = &update.purpose {
            patch.purpose = Some(validate::topic("purpose", p)?);
            actions.push(Action::SetTopic);
        }
        if let Some(a) = update.announcement {
            patch.announcement = Some(a);
            // Who may post is the moderators' decision, like the channel's name.
            actions.push(Action::Rename);
        }
        if let Some(a) = update.archived {
            patch.archived = Some(a);
            // Unarchiving comes first so that an unarchive-and-rename is judged on the result.
            actions.insert(0, Action::Archive);
        }
        if actions.is_empty() {
            actions.push(Action::View);
        }
        let actor = *actor;
        let unarchiving = update.archived == Some(false);
        let check = Box::new(move |ctx: &GuardCtx<'_>| {
            for action in actions {
                let mut ch = ctx.channel.clone();
                if unarchiving && action != Action::Archive {
                    ch.archived_at = None;
                }
                permissions::check(&actor, &ch, ctx.membership, action)?;
            }
            Ok(())
        });
        let channel = self
            .store
            .update_channel(id, actor.user_id, patch, check)
            .await?;
        if let Some(archived) = update.archived {
            self.audit
                .record(
                    AuditRecord::new(AuditAction::ChannelArchived)
                        .by(actor.user_id)
                        .target(AuditTarget::channel(id))
                        .summary(AuditSummary::new().fact("archived", archived)),
                )
                .await;
        }
        Ok(channel)
    }

    pub async fn join(&self, actor: &Actor, id: ChannelId) -> Result<Membership> {
        self.limits.check(actor, Kind::Write)?;
        let (m, _) = self
            .store
            .add_member(
                id,
                actor.user_id,
                actor.user_id,
                ChannelRole::Member,
                guard(*actor, Action::Join),
            )
            .await?;
        Ok(m)
    }

    pub async fn leave(&self, actor: &Actor, id: ChannelId) -> Result<()> {
        self.limits.check(actor, Kind::Write)?;
        Ok(self
            .store
            .remove_member(
                id,
                actor.user_id,
                actor.user_id,
                guard(*actor, Action::Leave),
            )
            .await?)
    }

    pub async fn add_member(
        &self,
        actor: &Actor,
        id: ChannelId,
        user_id: UserId,
    ) -> Result<(Membership, bool)> {
        self.limits.check(actor, Kind::Write)?;
        let target = self
            .accounts
            .user(user_id)
            .await?
            .ok_or(DomainError::NotFound(Entity::User))?;
        permissions::check_add_account(actor, target.is_guest)?;
        let (m, added) = self
            .store
            .add_member(
                id,
                actor.user_id,
                user_id,
                ChannelRole::Member,
                guard(*actor, Action::AddMember),
            )
            .await?;
        if added && user_id != actor.user_id {
            self.audit
                .record(
                    AuditRecord::new(AuditAction::MemberAddedByOther)
                        .by(actor.user_id)
                        .target(AuditTarget::channel(id))
                        .summary(AuditSummary::new().fact("member", user_id)),
                )
                .await;
        }
        Ok((m, added))
    }

    pub async fn remove_member(&self, actor: &Actor, id: ChannelId, user_id: UserId) -> Result<()> {
        self.limits.check(actor, Kind::Write)?;
        let actor = *actor;
        let check = Box::new(move |ctx: &GuardCtx<'_>| {
            let target_role = ctx.target.map_or(ChannelRole::Member, |t| t.role);
            permissions::check(
                &actor,
                ctx.channel,
                ctx.membership,
                Action::RemoveMember {
                    target: user_id,
                    target_role,
                },
            )
        });
        self.store
            .remove_member(id, actor.user_id, user_id, check)
            .await?;
        if user_id != actor.user_id {
            self.audit
                .record(
                    AuditRecord::new(AuditAction::MemberRemovedByOther)
                        .by(actor.user_id)
                        .target(AuditTarget::channel(id))
                        .summary(AuditSummary::new().fact("member", user_id)),
                )
                .await;
        }
        Ok(())
    }

    pub async fn set_member_role(
        &self,
        actor: &Actor,
        id: ChannelId,
        user_id: UserId,
        role: ChannelRole,
    ) -> Result<Membership> {
        self.limits.check(actor, Kind::Write)?;
        let m = self
            .store
            .set_member_role(
                id,
                actor.user_id,
                user_id,
                role,
                guard(*actor, Action::SetMemberRole),
            )
            .await?;
        self.audit
            .record(
                AuditRecord::new(AuditAction::MemberRoleChanged)
                    .by(actor.user_id)
                    .target(AuditTarget::channel(id))
                    .summary(AuditSummary::new().fact("member", user_id).change(
                        "role",
                        None::<&str>,
                        Some(role.as_str()),
                    )),
            )
            .await;
        Ok(m)
    }

    /// A page of members, ordered by user id.
    pub async fn members(
        &self,
        actor: &Actor,
        id: ChannelId,
        after: Option<UserId>,
        limit: u32,
    ) -> Result<Vec<(Membership, User)>> {
        let (ch, m) = self.visible(actor, id).await?;
        permissions::check(actor, &ch, m.as_ref(), Action::ListMembers)?;
        Ok(self.store.members(id, after, limit).await?)
    }

    /// Marks the channel read up to `seq` (clamped to the newest message).
    pub async fn mark_read(&self, actor: &Actor, id: ChannelId, seq: i64) -> Result<Membership> {
        self.limits.check(actor, Kind::Write)?;
        if seq < 0 {
            return Err(Error::Domain(DomainError::invalid(
                "seq",
                "must not be negative",
            )));
        }
        Ok(self
            .store
            .mark_read(id, actor.user_id, seq, guard(*actor, Action::MarkRead))
            .await?)
    }
}
