//! The credentials an account holds besides its password: sessions (one per signed-in device),
//! personal access tokens (named, scoped, expiring) and app passwords (generated passwords for
//! clients that cannot do single sign-on). Who may list, make and end them is
//! `enclave_core::permissions::check_own_credentials`; what a token may do is its
//! `enclave_core::Scope`, carried by the actor and applied by the core's permission checks.
//!
//! Every change is written to the audit log.

use std::time::Duration;

use enclave_core::audit::{AuditAction, AuditSummary, AuditTarget};
use enclave_core::permissions::check_own_credentials;
use enclave_core::{
    Actor, AppPasswordId, AppPasswordInfo, Entity, Error as DomainError, Millis, Scope, TokenId,
    TokenInfo, TokenKind, User, UserId, validate,
};
use enclave_store::{NewAppPassword, NewToken};

use super::{Accounts, Authed, MAX_APP_PASSWORDS, MAX_PATS, hash_token, millis_of, new_token};
use crate::audit::AuditRecord;
use crate::error::{Error, Result};
use crate::ratelimit::Kind;

/// The alphabet of generated app passwords: lower-case letters and digits without the ones
/// people confuse (`l`, `o`, `0`, `1`), 32 symbols, so each carries 5 bits.
const APP_PASSWORD_ALPHABET: &[u8; 32] = b"abcdefghijkmnpqrstuvwxyz23456789";
/// Symbols in an app password (120 bits), shown in groups of four.
const APP_PASSWORD_LEN: usize = 24;
/// Leading symbols kept in clear as the password's hint (in the list, and to find its hash).
const APP_PASSWORD_HINT: usize = 4;

/// Generates an app password: 24 symbols of [`APP_PASSWORD_ALPHABET`] in dash-separated groups
/// of four ("abcd-efgh-...").
fn new_app_password() -> Result<String> {
    let mut bytes = [0u8; APP_PASSWORD_LEN];
    getrandom::fill(&mut bytes)
        .map_err(|e| Error::internal(format!("random source failed: {e}")))?;
    let symbols: Vec<char> = bytes
        .iter()
        .map(|b| char::from(APP_PASSWORD_ALPHABET[usize::from(b & 31)]))
        .collect();
    Ok(symbols
        .chunks(4)
        .map(|c| c.iter().collect::<String>())
        .collect::<Vec<_>>()
        .join("-"))
}

/// The canonical form of an app password as typed: dashes and spaces dropped, lower-cased.
/// `None` when it cannot be one (wrong length or symbols), so a wrong guess costs no hashing.
pub(super) fn normalize_app_password(typed: &str) -> Option<String> {
    if typed.len() > 64 {
        return None;
    }
    let s: String = typed
        .chars()
        .filter(|c| *c != '-' && *c != ' ')
        .map(|c| c.to_ascii_lowercase())
        .collect();
    (s.len() == APP_PASSWORD_LEN && s.bytes().all(|b| APP_PASSWORD_ALPHABET.contains(&b)))
        .then_some(s)
}

/// The hint of a normalized app password.
pub(super) fn app_password_hint(normalized: &str) -> &str {
    &normalized[..APP_PASSWORD_HINT]
}

/// How long a new personal access token lives, in whole days (1 to the configured maximum).
#[derive(Debug, Clone, Copy)]
pub struct TokenLifetime(pub u32);

impl Accounts {
    fn unexpired_sessions(&self, tokens: Vec<TokenInfo>) -> Vec<TokenInfo> {
        let now = self.now();
        tokens
            .into_iter()
            .filter(|t| t.kind == TokenKind::Session)
            .filter(|t| self.idle_deadline(t).is_none_or(|d| d > now))
            .collect()
    }

    /// The actor's own sessions (one per signed-in device), oldest first.
    pub async fn sessions(&self, actor: &Actor) -> Result<Vec<TokenInfo>> {
        let all = self.store.list_tokens(actor.user_id).await?;
        Ok(self.unexpired_sessions(all))
    }

    /// Ends one of the actor's own sessions (another account's session is "not found"). It
    /// stops working at once, its open WebSockets included.
    pub async fn end_session(&self, authed: &Authed, id: TokenId) -> Result<()> {
        let actor = authed.actor();
        check_own_credentials(&actor, actor.user_id)?;
        self.limits.check(&actor, Kind::Write)?;
        let own = self.store.list_tokens(actor.user_id).await?;
        if !own
            .iter()
            .any(|t| t.id == id && t.kind == TokenKind::Session)
            || !self.store.revoke_token(actor.user_id, id).await?
        {
            return Err(Error::Domain(DomainError::NotFound(Entity::Token)));
        }
        self.cache.forget_user(actor.user_id);
        self.audit
            .record(
                AuditRecord::new(AuditAction::SessionRevoked)
                    .by(actor.user_id)
                    .target(AuditTarget::token(id))
                    .summary(
                        AuditSummary::new()
                            .fact("owner", actor.user_id)
                            .fact("current", authed.token_id() == Some(id)),
                    ),
            )
            .await;
        Ok(())
    }

    /// Ends every session of the actor but the one the request came with.
    pub async fn end_others(&self, authed: &Authed) -> Result<u64> {
        let actor = authed.actor();
        check_own_credentials(&actor, actor.user_id)?;
        self.limits.check(&actor, Kind::Write)?;
        let n = self
            .store
            .revoke_sessions(actor.user_id, authed.token_id())
            .await?;
        self.cache.forget_user(actor.user_id);
        self.audit
            .record(
                AuditRecord::new(AuditAction::OtherSessionsEnded)
                    .by(actor.user_id)
                    .target(AuditTarget::user(actor.user_id))
                    .summary(AuditSummary::new().fact("ended", n)),
            )
            .await;
        Ok(n)
    }

    /// After the holder changed their own password: end the other sessions.
    pub async fn end_other_sessions(&self, authed: &Authed) -> Result<u64> {
        let n = self
            .store
            .revoke_sessions(authed.user.id, authed.token_id())
            .await?;
        self.cache.forget_user(authed.user.id);
        if n > 0 {
            self.audit
                .record(
                    AuditRecord::new(AuditAction::OtherSessionsEnded)
                        .by(authed.user.id)
                        .target(AuditTarget::user(authed.user.id))
                        .summary(
                            AuditSummary::new()
                                .fact("ended", n)
                                .fact("reason", "password changed"),
                        ),
                )
                .await;
        }
        Ok(n)
    }

    async fn existing_user(&self, id: UserId) -> Result<User> {
        self.store
            .user(id)
            .await?
            .ok_or(Error::Domain(DomainError::NotFound(Entity::User)))
    }

    /// Another account's sessions, for user managers (the read is audited).
    pub async fn user_sessions(&self, actor: &Actor, user: UserId) -> Result<Vec<TokenInfo>> {
        self.existing_user(user).await?;
        check_own_credentials(actor, user)?;
        let list = self.unexpired_sessions(self.store.list_tokens(user).await?);
        if user != actor.user_id {
            self.audit
                .record(
                    AuditRecord::new(AuditAction::AdminRead)
                        .by(actor.user_id)
                        .target(AuditTarget::user(user))
                        .summary(AuditSummary::new().fact("read", "sessions")),
                )
                .await;
        }
        Ok(list)
    }

    /// Ends every session of an account (user managers): they stop working at once, open
    /// WebSockets included. Personal access tokens and app passwords are left alone
    /// (deactivating the account ends those too).
    pub async fn end_user_sessions(&self, actor: &Actor, user: UserId) -> Result<u64> {
        self.existing_user(user).await?;
        check_own_credentials(actor, user)?;
        self.limits.check(actor, Kind::Write)?;
        let n = self.store.revoke_sessions(user, None).await?;
        self.cache.forget_user(user);
        self.audit
            .record(
                AuditRecord::new(AuditAction::SessionsEndedByAdmin)
                    .by(actor.user_id)
                    .target(AuditTarget::user(user))
                    .summary(AuditSummary::new().fact("ended", n)),
            )
            .await;
        Ok(n)
    }

    /// Ends the session (or revokes the token) the request was made with. Nothing to end for
    /// an app password (each request carries it).
    pub async fn logout(&self, authed: &Authed) -> Result<()> {
        let Some(token) = authed.token_id() else {
            return Ok(());
        };
        self.store.revoke_token(authed.user.id, token).await?;
        self.cache.forget_user(authed.user.id);
        self.audit
            .record(
                AuditRecord::new(AuditAction::SignOut)
                    .by(authed.user.id)
                    .target(AuditTarget::token(token)),
            )
            .await;
        Ok(())
    }

    /// The actor's sessions and personal access tokens.
    pub async fn tokens(&self, actor: &Actor) -> Result<Vec<TokenInfo>> {
        let now = self.now();
        Ok(self
            .store
            .list_tokens(actor.user_id)
            .await?
            .into_iter()
            .filter(|t| self.idle_deadline(t).is_none_or(|d| d > now))
            .collect())
    }

    /// Revokes one of the actor's sessions or tokens.
    pub async fn revoke_token(&self, actor: &Actor, id: TokenId) -> Result<()> {
        check_own_credentials(actor, actor.user_id)?;
        self.limits.check(actor, Kind::Write)?;
        let kind = self
            .store
            .list_tokens(actor.user_id)
            .await?
            .into_iter()
            .find(|t| t.id == id)
            .map(|t| t.kind);
        if !self.store.revoke_token(actor.user_id, id).await? {
            return Err(Error::Domain(DomainError::NotFound(Entity::Token)));
        }
        self.cache.forget_user(actor.user_id);
        let action = if kind == Some(TokenKind::Session) {
            AuditAction::SessionRevoked
        } else {
            AuditAction::TokenRevoked
        };
        self.audit
            .record(
                AuditRecord::new(action)
                    .by(actor.user_id)
                    .target(AuditTarget::token(id))
                    .summary(AuditSummary::new().fact("owner", actor.user_id)),
            )
            .await;
        Ok(())
    }

    /// The longest lifetime a new personal access token may have, in days.
    pub fn token_max_days(&self) -> u32 {
        u32::try_from(self.config.token_max_lifetime.as_secs() / 86_400)
            .unwrap_or(u32::MAX)
            .max(1)
    }

    /// Creates a personal access token of `scope` (`read`, `write` or `admin`) that expires
    /// after `lifetime` (required, at most `[auth] token_max_days`); the secret is returned
    /// once and never again. Only from a signed-in session: a token cannot make tokens.
    pub async fn create_personal_token(
        &self,
        actor: &Actor,
        name: &str,
        scope: Scope,
        lifetime: TokenLifetime,
    ) -> Result<(String, TokenInfo)> {
        check_own_credentials(actor, actor.user_id)?;
        self.limits.check(actor, Kind::Write)?;
        let name = validate::token_name(name)?;
        if scope == Scope::Session {
            return Err(Error::Domain(DomainError::invalid(
                "scope",
                "must be read, write or admin",
            )));
        }
        let max = self.token_max_days();
        if lifetime.0 == 0 || lifetime.0 > max {
            return Err(Error::Domain(DomainError::Invalid {
                field: "expires_in_days",
                reason: "must be between 1 and the server's token_max_days",
            }));
        }
        let existing = self.store.list_tokens(actor.user_id).await?;
        if existing
            .iter()
            .filter(|t| t.kind == TokenKind::PersonalAccess)
            .count()
            >= MAX_PATS
        {
            return Err(Error::Domain(DomainError::LimitExceeded(
                "too many personal access tokens",
            )));
        }
        let token = new_token()?;
        let ttl = Duration::from_secs(u64::from(lifetime.0) * 86_400);
        let expires_at = Millis(self.now().0.saturating_add(millis_of(ttl)));
        let info = self
            .store
            .create_token(NewToken {
                user_id: actor.user_id,
                kind: TokenKind::PersonalAccess,
                hash: hash_token(&token),
                name,
                expires_at: Some(expires_at),
                scope,
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
                            .fact("name", &info.name)
                            .fact("scope", scope.as_str())
                            .fact("expires_at", expires_at.0),
                    ),
            )
            .await;
        Ok((token, info))
    }

    /// Resolves HTTP Basic credentials (`login:app-password`) on the API: for clients that
    /// cannot do single sign-on. The password must be an app password (never the account's own
    /// password, so a second factor cannot be bypassed); it is checked under the password
    /// step's throttle, and a success is cached like a token (revocation evicts it). The actor
    /// carries the `write` scope: normal user actions, no site administration, no managing of
    /// credentials.
    pub async fn authenticate_basic(
        &self,
        login: &str,
        password: &str,
        ip: std::net::IpAddr,
    ) -> Result<Authed> {
        if login.len() > 254 || password.len() > 64 {
            return Err(Error::Domain(DomainError::Unauthenticated));
        }
        let now = self.now();
        let key = hash_token(&format!(
            "basic\0{}\0{password}",
            login.trim().to_lowercase()
        ));
        if let Some(authed) = self.cache.get(&key, now) {
            return Ok(authed);
        }
        let identity = self.verify_app_password(login, password, ip).await?;
        let Some(id) = identity.app_password() else {
            return Err(Error::Domain(DomainError::Unauthenticated));
        };
        let user = identity.user().clone();
        let actor = self.actor_of(&user).await?.with_scope(Scope::Write);
        let expires = user.guest_expires_at.filter(|_| user.is_guest);
        let authed = Authed {
            user,
            credential: super::Credential::AppPassword(id),
            actor,
        };
        self.cache.put(key, authed.clone(), expires);
        Ok(authed)
    }

    /// The actor's app passwords (never the secrets).
    pub async fn app_passwords(&self, actor: &Actor) -> Result<Vec<AppPasswordInfo>> {
        Ok(self.store.list_app_passwords(actor.user_id).await?)
    }

    /// Generates an app password named `name`: returned once, stored as an argon2id hash.
    /// Only from a signed-in session.
    pub async fn create_app_password(
        &self,
        actor: &Actor,
        name: &str,
    ) -> Result<(String, AppPasswordInfo)> {
        check_own_credentials(actor, actor.user_id)?;
        self.limits.check(actor, Kind::Write)?;
        let name = validate::token_name(name)?;
        if self.store.list_app_passwords(actor.user_id).await?.len() >= MAX_APP_PASSWORDS {
            return Err(Error::Domain(DomainError::LimitExceeded(
                "too many app passwords",
            )));
        }
        let secret = new_app_password()?;
        let normalized = normalize_app_password(&secret)
            .ok_or_else(|| Error::internal("a generated app password did not normalize"))?;
        let hint = app_password_hint(&normalized).to_owned();
        let password_hash = self.hash_password(normalized).await?;
        let info = self
            .store
            .create_app_password(NewAppPassword {
                user_id: actor.user_id,
                name,
                hint,
                password_hash,
            })
            .await?;
        self.audit
            .record(
                AuditRecord::new(AuditAction::AppPasswordCreated)
                    .by(actor.user_id)
                    .target(AuditTarget::app_password(info.id))
                    .summary(AuditSummary::new().fact("name", &info.name)),
            )
            .await;
        Ok((secret, info))
    }

    /// Revokes one of the actor's app passwords; clients using it are refused at once.
    pub async fn revoke_app_password(&self, actor: &Actor, id: AppPasswordId) -> Result<()> {
        check_own_credentials(actor, actor.user_id)?;
        self.limits.check(actor, Kind::Write)?;
        if !self.store.revoke_app_password(actor.user_id, id).await? {
            return Err(Error::Domain(DomainError::NotFound(Entity::Token)));
        }
        self.cache.forget_user(actor.user_id);
        self.audit
            .record(
                AuditRecord::new(AuditAction::AppPasswordRevoked)
                    .by(actor.user_id)
                    .target(AuditTarget::app_password(id)),
            )
            .await;
        Ok(())
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use std::net::{IpAddr, Ipv4Addr};
    use std::sync::Arc;
    use std::sync::atomic::{AtomicI64, Ordering};

    use enclave_core::RoleSet;
    use enclave_store::Store;

    use super::*;
    use crate::accounts::{AuthConfig, Clock, CreateUser, SecondFactorStep, SessionClient};

    const PASSWORD: &str = "correct horse battery";
    const HERE: IpAddr = IpAddr::V4(Ipv4Addr::LOCALHOST);
    const MINUTE: i64 = 60_000;

    /// An accounts service on `store` whose clock is `offset` milliseconds ahead of the wall
    /// clock, with a 30-minute idle timeout (if `idle`), a 2-day session lifetime and a 7-day
    /// token maximum.
    fn accounts_with(store: Arc<dyn Store>, offset: Arc<AtomicI64>, idle: bool) -> Accounts {
        let config = AuthConfig {
            argon2_memory_kib: 64,
            argon2_iterations: 1,
            session_ttl: Duration::from_secs(2 * 86_400),
            session_idle_timeout: idle.then_some(Duration::from_secs(30 * 60)),
            token_max_lifetime: Duration::from_secs(7 * 86_400),
            clock: Clock::from_fn(move || Millis(Millis::now().0 + offset.load(Ordering::SeqCst))),
            ..AuthConfig::default()
        };
        Accounts::new(store, config, Arc::new(crate::UserLimits::off())).unwrap()
    }

    fn accounts(store: Arc<dyn Store>, offset: Arc<AtomicI64>) -> Accounts {
        accounts_with(store, offset, true)
    }

    async fn sign_in(accounts: &Accounts, name: &str) -> String {
        let identity = accounts
            .verify_credential(
                super::super::Proof::Password {
                    login: name,
                    password: PASSWORD,
                },
                HERE,
            )
            .await
            .unwrap();
        let SecondFactorStep::NotRequired(grant) = accounts.second_factor(identity).await.unwrap()
        else {
            panic!("a second factor was required");
        };
        accounts
            .open_session(grant, SessionClient::default())
            .await
            .unwrap()
            .0
    }

    /// The idle timeout, the absolute lifetime and token expiry, on the clock of the service.
    async fn clock_story(store: Arc<dyn Store>) {
        let offset = Arc::new(AtomicI64::new(0));
        let accounts = accounts(store.clone(), offset.clone());
        // The same database, without an idle timeout, for the absolute lifetime.
        let lasting = accounts_with(store, offset.clone(), false);
        let alice = accounts
            .create_user(
                None,
                CreateUser {
                    username: "alice".into(),
                    password: Some(PASSWORD.into()),
                    ..CreateUser::default()
                },
            )
            .await
            .unwrap();
        let actor = Actor::new(alice.id, RoleSet::MEMBER);
        let idle = sign_in(&accounts, "alice").await;
        let busy = sign_in(&accounts, "alice").await;
        let (pat, _) = accounts
            .create_personal_token(&actor, "script", Scope::Read, TokenLifetime(3))
            .await
            .unwrap();
        let refused = |r: Result<Authed>| {
            assert!(
                matches!(r, Err(Error::Domain(DomainError::Unauthenticated))),
                "{r:?}"
            );
        };
        // Used every 20 minutes for an hour: `busy` stays, `idle` (unused) times out at 30.
        for step in 1..=3 {
            offset.store(step * 20 * MINUTE, Ordering::SeqCst);
            let at = accounts.now().0;
            accounts.forget_all();
            accounts.authenticate(&busy).await.unwrap();
            // An open socket's check is not a use: `idle` holds at 20 minutes, and has still
            // timed out at 40 (30 after its sign-in).
            match step {
                1 => assert!(accounts.still_valid(&idle).await.unwrap()),
                2 => assert!(!accounts.still_valid(&idle).await.unwrap()),
                _ => {}
            }
            // Wait for the last-seen write (made off the request path) to land.
            let mut landed = false;
            for _ in 0..400 {
                let tokens = accounts.store.list_tokens(alice.id).await.unwrap();
                if tokens
                    .iter()
                    .any(|t| t.last_used_at.is_some_and(|l| l.0 >= at))
                {
                    landed = true;
                    break;
                }
                tokio::time::sleep(Duration::from_millis(25)).await;
            }
            assert!(landed, "the last-seen time was not written");
        }
        accounts.forget_all();
        refused(accounts.authenticate(&idle).await);
        assert_eq!(accounts.sessions(&actor).await.unwrap().len(), 1);
        // A cached credential is not trusted past its idle deadline either.
        accounts.authenticate(&busy).await.unwrap();
        offset.store(60 * MINUTE + 31 * MINUTE, Ordering::SeqCst);
        refused(accounts.authenticate(&busy).await);
        // The absolute lifetime (2 days) ends a session however it is used.
        offset.store(0, Ordering::SeqCst);
        let fresh = sign_in(&lasting, "alice").await;
        offset.store(47 * 60 * MINUTE, Ordering::SeqCst);
        lasting.authenticate(&fresh).await.unwrap();
        offset.store(48 * 60 * MINUTE + MINUTE, Ordering::SeqCst);
        lasting.forget_all();
        refused(lasting.authenticate(&fresh).await);
        // The token (3 days) never times out idle, and expires after its lifetime.
        accounts.forget_all();
        accounts.authenticate(&pat).await.unwrap();
        offset.store(3 * 86_400_000 + MINUTE, Ordering::SeqCst);
        accounts.forget_all();
        refused(accounts.authenticate(&pat).await);
        // Past the configured maximum, no token is made.
        assert!(matches!(
            accounts
                .create_personal_token(&actor, "long", Scope::Write, TokenLifetime(8))
                .await,
            Err(Error::Domain(DomainError::Invalid { .. }))
        ));
    }

    #[tokio::test]
    async fn sqlite_idle_timeout_lifetime_and_expiry_follow_the_clock() {
        let dir = tempfile::tempdir().unwrap();
        let store: Arc<dyn Store> = Arc::new(
            enclave_store::sqlite::SqliteStore::open(
                &dir.path().join("db"),
                enclave_store::sqlite::Options::default(),
            )
            .unwrap(),
        );
        clock_story(store).await;
    }

    #[tokio::test]
    async fn postgres_idle_timeout_lifetime_and_expiry_follow_the_clock() {
        let Some((db, _url)) = enclave_store::testing::fresh_database_url().await else {
            return;
        };
        let store: Arc<dyn Store> = Arc::new(
            enclave_store::postgres::PgStore::open_with(
                db,
                enclave_store::postgres::Options::default(),
            )
            .await
            .unwrap(),
        );
        clock_story(store).await;
    }

    /// App passwords: verified for the XMPP door's function, throttled with the password step,
    /// refused once revoked, never a web session.
    #[tokio::test]
    async fn app_passwords_verify_and_open_no_web_session() {
        let dir = tempfile::tempdir().unwrap();
        let store: Arc<dyn Store> = Arc::new(
            enclave_store::sqlite::SqliteStore::open(
                &dir.path().join("db"),
                enclave_store::sqlite::Options::default(),
            )
            .unwrap(),
        );
        let accounts = accounts(store, Arc::new(AtomicI64::new(0)));
        let bob = accounts
            .create_user(
                None,
                CreateUser {
                    username: "bob".into(),
                    password: Some(PASSWORD.into()),
                    ..CreateUser::default()
                },
            )
            .await
            .unwrap();
        let actor = Actor::new(bob.id, RoleSet::MEMBER);
        let (secret, info) = accounts.create_app_password(&actor, "xmpp").await.unwrap();
        let identity = accounts
            .verify_app_password("bob", &secret, HERE)
            .await
            .unwrap();
        assert_eq!(identity.user().id, bob.id);
        assert_eq!(
            identity.kind(),
            enclave_core::signin::CredentialKind::AppPassword
        );
        assert_eq!(identity.app_password(), Some(info.id));
        // Not a web session, whatever the second step says.
        let SecondFactorStep::NotRequired(grant) = accounts.second_factor(identity).await.unwrap()
        else {
            panic!("a challenge for an app password");
        };
        assert!(
            accounts
                .open_session(grant, SessionClient::default())
                .await
                .is_err()
        );
        // The account's password is not an app password, and wrong ones are refused.
        for wrong in [PASSWORD, "abcd-efgh-ijkm-npqr-stuv-wxyz", ""] {
            assert!(
                accounts
                    .verify_app_password("bob", wrong, HERE)
                    .await
                    .is_err()
            );
        }
        let listed = accounts.app_passwords(&actor).await.unwrap();
        assert_eq!(listed.len(), 1);
        assert!(listed[0].last_used_at.is_some());
        accounts.revoke_app_password(&actor, info.id).await.unwrap();
        assert!(
            accounts
                .verify_app_password("bob", &secret, HERE)
                .await
                .is_err()
        );
        // A token cannot make app passwords.
        let scoped = actor.with_scope(Scope::Admin);
        assert!(matches!(
            accounts.create_app_password(&scoped, "more").await,
            Err(Error::Domain(DomainError::Forbidden(_)))
        ));
    }

    #[test]
    fn generated_app_passwords_normalize_and_keep_their_hint() {
        let p = new_app_password().unwrap_or_default();
        assert_eq!(p.len(), 29, "{p}");
        let n = normalize_app_password(&p).unwrap_or_default();
        assert_eq!(n.len(), 24);
        assert_eq!(app_password_hint(&n), &p[..4]);
        assert_eq!(
            normalize_app_password(&p.to_uppercase().replace('-', " ")),
            Some(n)
        );
        for bad in [
            "",
            "short",
            &"a".repeat(25),
            &"l".repeat(24),
            &"x".repeat(100),
        ] {
            assert_eq!(normalize_app_password(bad), None, "{bad}");
        }
    }
}
