//! Bot accounts: made by people holding `create_bots`, acting only through the tokens issued
//! for them (never signing in: `enclave_core::signin::may_sign_in`), with a guest's rights
//! (only the channels they were added to: `enclave_core::roles::roles_of`). Whatever a bot does
//! is audited under its own account, like a person's actions; its creation and each token
//! issued for it name who did it.

use enclave_core::audit::{AuditAction, AuditSummary, AuditTarget};
use enclave_core::permissions::check_manage_bots;
use enclave_core::{Actor, Entity, Error as DomainError, Scope, TokenKind, User, UserId};
use enclave_store::NewToken;

use super::{Accounts, CreateUser, hash_token, new_token};
use crate::audit::AuditRecord;
use crate::error::{Error, Result};
use crate::ratelimit::Kind;

/// A bot's token: the secret (shown once) and the bot.
#[derive(Debug, Clone)]
pub struct BotToken {
    pub bot: User,
    pub token: String,
}

impl Accounts {
    /// Creates a bot account and its first token (scope `write`, no expiry: revoke it by
    /// issuing another). The token is returned once and never again.
    pub async fn create_bot(
        &self,
        actor: &Actor,
        username: &str,
        display_name: Option<String>,
    ) -> Result<BotToken> {
        check_manage_bots(actor)?;
        self.limits.check(actor, Kind::Write)?;
        let bot = self
            .create_user(
                Some(actor),
                CreateUser {
                    username: username.to_owned(),
                    password: None,
                    display_name,
                    email: None,
                    is_admin: false,
                    is_bot: true,
                    is_guest: false,
                    guest_expires_at: None,
                    origin: Some("bot"),
                },
            )
            .await?;
        let token = self.mint_bot_token(actor, &bot).await?;
        Ok(BotToken { bot, token })
    }

    /// Issues a new token for the bot `id`, revoking every earlier one (rotation).
    pub async fn rotate_bot_token(&self, actor: &Actor, id: UserId) -> Result<BotToken> {
        check_manage_bots(actor)?;
        self.limits.check(actor, Kind::Write)?;
        let bot = self.bot(id).await?;
        for t in self.store.list_tokens(bot.id).await? {
            self.store.revoke_token(bot.id, t.id).await?;
        }
        self.cache.forget_user(bot.id);
        let token = self.mint_bot_token(actor, &bot).await?;
        Ok(BotToken { bot, token })
    }

    /// The bot accounts, for those who manage bots.
    pub async fn bots(&self, actor: &Actor) -> Result<Vec<User>> {
        check_manage_bots(actor)?;
        let mut out = Vec::new();
        let mut after = None;
        loop {
            let page = self
                .store
                .list_users(enclave_store::UserQuery {
                    text: None,
                    include_inactive: true,
                    after_username: after.clone(),
                    limit: 500,
                })
                .await?;
            let last = page.last().map(|u| u.username.clone());
            let n = page.len();
            out.extend(page.into_iter().filter(|u| u.is_bot));
            if n < 500 || out.len() >= 1000 {
                break;
            }
            after = last;
        }
        Ok(out)
    }

    async fn bot(&self, id: UserId) -> Result<User> {
        match self.store.user(id).await? {
            Some(u) if u.is_bot => Ok(u),
            _ => Err(Error::Domain(DomainError::NotFound(Entity::User))),
        }
    }

    async fn mint_bot_token(&self, actor: &Actor, bot: &User) -> Result<String> {
        let token = new_token()?;
        let info = self
            .store
            .create_token(NewToken {
                user_id: bot.id,
                kind: TokenKind::PersonalAccess,
                hash: hash_token(&token),
                name: "bot".into(),
                expires_at: None,
                scope: Scope::Write,
                client: String::new(),
                ip: None,
            })
            .await?;
        self.audit
            .record(
                AuditRecord::new(AuditAction::TokenCreated)
                    .by(actor.user_id)
                    .target(AuditTarget::token(info.id))
                    .summary(
                        AuditSummary::new()
                            .fact("bot", &bot.username)
                            .fact("scope", Scope::Write.as_str()),
                    ),
            )
            .await;
        Ok(token)
    }
}
