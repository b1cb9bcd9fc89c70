//! Accounts: users, sign-in (in steps: see [`signin`]), sessions and personal access tokens.
//!
//! A bearer token is `enc_` followed by 43 base64url characters (32 random bytes). The store
//! keeps only its SHA-256 hash, so a leaked database does not hand out sessions.

use std::sync::Arc;
use std::time::{Duration, Instant};

use argon2::password_hash::{PasswordHasher, PasswordVerifier};
use argon2::{Algorithm, Argon2, Params, Version};
use base64::Engine;
use enclave_core::EventKind;
use enclave_core::permissions::{self, UserChange, check_user_admin};
use enclave_core::{
    Actor, AppPasswordId, Entity, Error as DomainError, Millis, TokenId, TokenInfo, TokenKind,
    User, UserId, validate,
};
use enclave_store::{
    AccountStore, ChannelStore, NewUser, RoleStore, Store, ThrottleStore, UserPatch, UserQuery,
};
use sha2::{Digest, Sha256};

use enclave_core::audit::{AuditAction, AuditSummary, AuditTarget};

use crate::audit::AuditRecord;
use crate::error::{Error, Result};
use crate::ratelimit::{Kind, UserLimits};

mod bots;
mod credentials;
mod second_factor;
mod signin;
mod throttle;
mod webauthn;
pub use bots::BotToken;
pub use credentials::TokenLifetime;
pub use second_factor::{Enrolled, Reauth, SecondFactorConfig, SecondFactorStatus, TotpSetup};
pub use signin::{
    Challenge, DirectoryAnswer, DirectoryLogin, FactorProof, OidcAssertion, PassedSecondFactor,
    Proof, SecondFactorStep, SessionClient, SessionGrant, VerifiedIdentity, session_client_name,
};
pub use throttle::Lockout;
pub use webauthn::{WebAuthnConfig, WebAuthnKeyInfo, WebAuthnRegistered, WebAuthnRegistration};

const TOKEN_PREFIX: &str = "enc_";
/// Don't write a session's or token's last-use ("last seen") time more often than this.
const TOUCH_EVERY: Duration = Duration::from_secs(60);
/// The most personal access tokens one user may hold.
const MAX_PATS: usize = 50;
/// The most app passwords one user may hold.
pub const MAX_APP_PASSWORDS: usize = 20;

/// The time the accounts service goes by (expiry, idle timeout, last seen). Tests inject one.
#[derive(Clone)]
pub struct Clock(Arc<dyn Fn() -> Millis + Send + Sync>);

impl Clock {
    /// The wall clock.
    pub fn system() -> Clock {
        Clock(Arc::new(Millis::now))
    }

    /// A clock that reads `f`.
    pub fn from_fn(f: impl Fn() -> Millis + Send + Sync + 'static) -> Clock {
        Clock(Arc::new(f))
    }

    pub fn now(&self) -> Millis {
        (self.0)()
    }
}

impl std::fmt::Debug for Clock {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Clock")
    }
}

fn millis_of(d: Duration) -> i64 {
    i64::try_from(d.as_millis()).unwrap_or(i64::MAX)
}

/// Authentication settings.
#[derive(Debug, Clone)]
pub struct AuthConfig {
    /// Argon2id memory cost in KiB (OWASP: 19456).
    pub argon2_memory_kib: u32,
    /// Argon2id iterations (OWASP: 2).
    pub argon2_iterations: u32,
    /// A session's absolute lifetime, from sign-in (`[auth] session_ttl_days`).
    pub session_ttl: Duration,
    /// A session unused for this long ends (`[auth] session_idle_timeout_minutes`; `None`: never).
    pub session_idle_timeout: Option<Duration>,
    /// The longest lifetime a personal access token may be given (`[auth] token_max_days`).
    pub token_max_lifetime: Duration,
    /// How failed sign-ins turn into delays (`enclave_core::lockout`).
    pub lockout: enclave_core::lockout::Policy,
    /// The second-factor policy's defaults and the TOTP issuer name.
    pub second_factor: SecondFactorConfig,
    /// The time; the wall clock except in tests.
    pub clock: Clock,
    /// Whether accounts may sign in with a password. Off: single sign-on only, except system
    /// administrators (`[auth] local_passwords`).
    pub local_passwords: bool,
    /// The relying party of security keys and passkeys (`[webauthn]`); `None`: security keys
    /// are off (no usable relying party could be derived from the configuration).
    pub webauthn: Option<WebAuthnConfig>,
}

impl Default for AuthConfig {
    fn default() -> Self {
        AuthConfig {
            argon2_memory_kib: 19_456,
            argon2_iterations: 2,
            session_ttl: Duration::from_secs(30 * 24 * 3600),
            session_idle_timeout: None,
            token_max_lifetime: Duration::from_secs(365 * 24 * 3600),
            lockout: enclave_core::lockout::Policy::default(),
            second_factor: SecondFactorConfig::default(),
            clock: Clock::system(),
            local_passwords: true,
            webauthn: Some(WebAuthnConfig::default()),
        }
    }
}

/// How a request proved who it is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Credential {
    Session(TokenId),
    PersonalAccess(TokenId),
    /// An app password, given as HTTP Basic credentials (never a WebSocket or a web session).
    AppPassword(AppPasswordId),
}

/// An authenticated request's user.
#[derive(Debug, Clone)]
pub struct Authed {
    pub user: User,
    pub credential: Credential,
    /// The actor, with the permissions of every role the account holds (built-in and custom),
    /// resolved when the credential was.
    pub actor: Actor,
}

impl Authed {
    pub fn actor(&self) -> Actor {
        self.actor
    }
    /// The bearer token the request used (`None` for an app password).
    pub fn token_id(&self) -> Option<TokenId> {
        match self.credential {
            Credential::Session(t) | Credential::PersonalAccess(t) => Some(t),
            Credential::AppPassword(_) => None,
        }
    }
}

/// A new account.
#[derive(Debug, Clone, Default)]
pub struct CreateUser {
    pub username: String,
    pub password: Option<String>,
    pub display_name: Option<String>,
    pub email: Option<String>,
    pub is_admin: bool,
    pub is_bot: bool,
    /// A guest account (made through `Roles::invite_guest`, which checks the policy).
    pub is_guest: bool,
    pub guest_expires_at: Option<Millis>,
    /// Who creates it, for the audit log when not an actor (`single sign-on`); `None`: the API
    /// with an actor, else the command line.
    pub origin: Option<&'static str>,
}

/// Changes to an account; `None` leaves a field alone.
#[derive(Debug, Clone, Default)]
pub struct UpdateUser {
    pub display_name: Option<String>,
    /// `Some("")` clears the address.
    pub email: Option<String>,
    pub password: Option<String>,
    /// Required when users change their own password.
    pub current_password: Option<String>,
    pub active: Option<bool>,
    pub is_admin: Option<bool>,
}

/// How long a resolved token is trusted without asking the store again. Revocations and
/// account changes evict entries at once (locally, and from the event feed for other writers).
const AUTH_CACHE_TTL: Duration = Duration::from_secs(60);
/// Cached credentials; past this the cache is emptied and refilled.
const AUTH_CACHE_MAX: usize = 200_000;

/// A cached credential: who it is, when it was resolved, when the token expires.
type CachedAuth = (Authed, Instant, Option<Millis>);

/// Recently resolved tokens, keyed by token hash.
#[derive(Default)]
struct AuthCache {
    entries: parking_lot::Mutex<std::collections::HashMap<[u8; 32], CachedAuth>>,
}

impl AuthCache {
    fn get(&self, hash: &[u8; 32], now: Millis) -> Option<Authed> {
        let entries = self.entries.lock();
        let (authed, at, expires) = entries.get(hash)?;
        let fresh = at.elapsed() < AUTH_CACHE_TTL && expires.is_none_or(|e| e > now);
        fresh.then(|| authed.clone())
    }

    fn put(&self, hash: [u8; 32], authed: Authed, expires: Option<Millis>) {
        let mut entries = self.entries.lock();
        if entries.len() >= AUTH_CACHE_MAX {
            entries.clear();
        }
        entries.insert(hash, (authed, Instant::now(), expires));
    }

    /// Forgets every cached credential of the user.
    fn forget_user(&self, user: UserId) {
        self.entries.lock().retain(|_, (a, _, _)| a.user.id != user);
    }
}

/// The accounts service.
pub struct Accounts {
    store: Arc<dyn AccountStore>,
    /// The custom roles an account holds, for its actor's permissions.
    roles: Arc<dyn RoleStore>,
    /// Which channels accounts share, for who may see whom.
    channels: Arc<dyn ChannelStore>,
    config: AuthConfig,
    /// The sign-in throttle's counters (shared by every node through the database).
    throttles: Arc<dyn ThrottleStore>,
    /// Second factors, sign-in challenges and the site policy.
    factors: Arc<dyn enclave_store::SecondFactorStore>,
    /// Attempts on one account key at one step run one at a time on this node, so that
    /// parallel guesses cannot all pass the throttle before the first failure is counted.
    attempts: throttle::KeyLocks,
    /// A hash to verify against when the account does not exist, so that timing does not tell.
    dummy_hash: tokio::sync::OnceCell<String>,
    /// Argon2 runs take memory (19 MiB each by default): at most one per core at a time.
    hash_slots: Arc<tokio::sync::Semaphore>,
    cache: Arc<AuthCache>,
    /// Profile, status and token changes count as [`Kind::Write`].
    limits: Arc<UserLimits>,
    /// Where security-relevant actions are recorded (`with_audit`; off by default).
    audit: crate::audit::Audit,
    /// Accounts linked to a directory (their passwords are the directory's).
    ldap_links: Arc<dyn enclave_store::LdapStore>,
    /// The directory that checks directory passwords (`set_directory`; none by default).
    directory: parking_lot::RwLock<Option<std::sync::Weak<dyn DirectoryLogin>>>,
    /// The WebAuthn relying party (from `config.webauthn`; `None`: security keys are off).
    webauthn: Option<webauthn_rs::Webauthn>,
    /// Seals authenticator app secrets at rest (`with_secret_keys`; none: TOTP is unavailable).
    totp_sealer: Option<second_factor::TotpSealer>,
}

fn hash_token(token: &str) -> [u8; 32] {
    Sha256::digest(token.as_bytes()).into()
}

fn new_token() -> Result<String> {
    let mut bytes = [0u8; 32];
    getrandom::fill(&mut bytes)
        .map_err(|e| Error::internal(format!("random source failed: {e}")))?;
    Ok(format!(
        "{TOKEN_PREFIX}{}",
        base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
    ))
}

impl Accounts {
    pub fn new(store: Arc<dyn Store>, config: AuthConfig, limits: Arc<UserLimits>) -> Result<Self> {
        let cores = std::thread::available_parallelism().map_or(1, std::num::NonZero::get);
        let webauthn = config
            .webauthn
            .as_ref()
            .map(WebAuthnConfig::relying_party)
            .transpose()
            .map_err(Error::internal)?;
        let accounts = Accounts {
            webauthn,
            throttles: store.clone(),
            factors: store.clone(),
            roles: store.clone(),
            channels: store.clone(),
            ldap_links: store.clone(),
            store,
            directory: parking_lot::RwLock::new(None),
            attempts: throttle::KeyLocks::default(),
            config,
            dummy_hash: tokio::sync::OnceCell::new(),
            hash_slots: Arc::new(tokio::sync::Semaphore::new(cores)),
            cache: Arc::new(AuthCache::default()),
            limits,
            audit: crate::audit::Audit::off(),
            totp_sealer: None,
        };
        // Fail at startup, not at the first login, when the parameters are unusable.
        accounts.argon2()?;
        Ok(accounts)
    }

    /// Records security-relevant actions (sign-ins, tokens, account changes) in `audit`.
    #[must_use]
    pub fn with_audit(mut self, audit: crate::audit::Audit) -> Self {
        self.audit = audit;
        self
    }

    /// Seals second-factor secrets at rest under keys derived from `ring` (the file master
    /// keys); without it, authenticator apps cannot be set up or checked.
    #[must_use]
    pub fn with_secret_keys(mut self, ring: &enclave_files::KeyRing) -> Self {
        self.totp_sealer = Some(second_factor::TotpSealer::new(ring));
        self
    }

    /// Checks directory passwords (LDAP) through `directory` from now on.
    pub fn set_directory(&self, directory: std::sync::Weak<dyn DirectoryLogin>) {
        *self.directory.write() = Some(directory);
    }

    fn directory(&self) -> Option<Arc<dyn DirectoryLogin>> {
        self.directory
            .read()
            .as_ref()
            .and_then(std::sync::Weak::upgrade)
    }

    /// The audit log this service records in.
    pub fn audit(&self) -> &crate::audit::Audit {
        &self.audit
    }

    /// Keeps the credential cache in step with revocations and account changes made anywhere
    /// (another process, another node) by following the event feed.
    pub fn follow(&self, feed: &crate::EventFeed) {
        let cache = self.cache.clone();
        let mut rx = feed.subscribe();
        tokio::spawn(async move {
            loop {
                match rx.recv().await {
                    Ok(batch) => {
                        for e in batch.iter() {
                            if e.kind == EventKind::RolesChanged {
                                // A role's grants changed: every holder's actor is stale.
                                cache.entries.lock().clear();
                            } else if matches!(
                                e.kind,
                                EventKind::TokensRevoked | EventKind::UserUpdated
                            ) && let Some(u) = e.user_id
                            {
                                cache.forget_user(u);
                            }
                        }
                    }
                    Err(tokio::sync::broadcast::error::RecvError::Lagged(_)) => {
                        cache.entries.lock().clear()
                    }
                    Err(tokio::sync::broadcast::error::RecvError::Closed) => return,
                }
            }
        });
    }

    async fn dummy_hash(&self) -> Result<String> {
        self.dummy_hash
            .get_or_try_init(|| self.hash_password("not a real password".to_owned()))
            .await
            .cloned()
    }

    fn argon2(&self) -> Result<Argon2<'static>> {
        let params = Params::new(
            self.config.argon2_memory_kib,
            self.config.argon2_iterations,
            1,
            None,
        )
        .map_err(|e| Error::internal(format!("bad argon2 parameters: {e}")))?;
        Ok(Argon2::new(Algorithm::Argon2id, Version::V0x13, params))
    }

    /// Hashes a password off the async threads (argon2 takes tens of milliseconds by design).
    async fn hash_password(&self, password: String) -> Result<String> {
        let argon = self.argon2()?;
        let _slot = self
            .hash_slots
            .acquire()
            .await
            .map_err(|_| Error::Unavailable)?;
        tokio::task::spawn_blocking(move || {
            argon
                .hash_password(password.as_bytes())
                .map(|h| h.to_string())
                .map_err(|e| Error::internal(format!("password hashing failed: {e}")))
        })
        .await
        .map_err(|e| Error::internal(format!("hashing task failed: {e}")))?
    }

    async fn verify_password(&self, password: String, hash: String) -> Result<bool> {
        let argon = self.argon2()?;
        let _slot = self
            .hash_slots
            .acquire()
            .await
            .map_err(|_| Error::Unavailable)?;
        tokio::task::spawn_blocking(move || {
            // The hash carries its own parameters; verification uses them.
            PasswordVerifier::<str>::verify_password(&argon, password.as_bytes(), &hash).is_ok()
        })
        .await
        .map_err(|e| Error::internal(format!("hashing task failed: {e}")))
    }

    /// Whether no active administrator exists yet (the first-run state).
    pub async fn needs_setup(&self) -> Result<bool> {
        Ok(self.store.count_admins().await? == 0)
    }

    /// The time the service goes by.
    fn now(&self) -> Millis {
        self.config.clock.now()
    }

    /// Whether a credential still holds, without counting the check as a use: an open
    /// WebSocket checks its credential with this on every heartbeat, so that the socket ends
    /// with its session (idle time-out, lifetime, revocation, a guest's expiry), while only the
    /// user's own actions (requests, frames they send) keep a session from going idle. A
    /// session found idle past its deadline ends here, as in [`Accounts::authenticate`].
    pub async fn still_valid(&self, token: &str) -> Result<bool> {
        if !token.starts_with(TOKEN_PREFIX) || token.len() > 128 {
            return Ok(false);
        }
        let now = self.now();
        let hash = hash_token(token);
        if self.cache.get(&hash, now).is_some() {
            return Ok(true);
        }
        Ok(self.stored_credential(hash, now).await?.is_some())
    }

    /// The stored token of `hash` and its account, when the credential holds at `now`: the
    /// token exists and has not expired, the account is active, a guest's access has not
    /// ended, and a session has not gone idle past its deadline (then it ends here).
    async fn stored_credential(
        &self,
        hash: [u8; 32],
        now: Millis,
    ) -> Result<Option<(TokenInfo, User)>> {
        let Some((info, user)) = self.store.token_by_hash(hash, now).await? else {
            return Ok(None);
        };
        if !user.active || enclave_core::roles::guest_expired(&user, now) {
            return Ok(None);
        }
        if let Some(deadline) = self.idle_deadline(&info)
            && deadline <= now
        {
            // Idle too long: the session ends now (and leaves the owner's list).
            self.store.revoke_token(user.id, info.id).await?;
            self.cache.forget_user(user.id);
            return Ok(None);
        }
        Ok(Some((info, user)))
    }

    /// Resolves a bearer token to its user. Unknown, expired, idle-timed-out and revoked
    /// tokens, and tokens of deactivated users, are all simply "unauthenticated". The actor
    /// carries the token's scope. A session's last use ("last seen") is written at most once a
    /// minute.
    pub async fn authenticate(&self, token: &str) -> Result<Authed> {
        if !token.starts_with(TOKEN_PREFIX) || token.len() > 128 {
            return Err(Error::Domain(DomainError::Unauthenticated));
        }
        let now = self.now();
        let hash = hash_token(token);
        if let Some(authed) = self.cache.get(&hash, now) {
            return Ok(authed);
        }
        let Some((info, user)) = self.stored_credential(hash, now).await? else {
            return Err(Error::Domain(DomainError::Unauthenticated));
        };
        let seen = info.last_used_at.unwrap_or(info.created_at);
        let stale = info
            .last_used_at
            .is_none_or(|t| now.0 - t.0 >= millis_of(TOUCH_EVERY));
        let seen = if stale {
            let store = self.store.clone();
            tokio::spawn(async move {
                if let Err(e) = store.touch_token(info.id, now).await {
                    tracing::debug!(error = %e, "could not record token use");
                }
            });
            now
        } else {
            seen
        };
        let credential = match info.kind {
            TokenKind::Session => Credential::Session(info.id),
            TokenKind::PersonalAccess => Credential::PersonalAccess(info.id),
        };
        let actor = self.actor_of(&user).await?.with_scope(info.scope);
        // A guest's credential is trusted no longer than the guest's access lasts; a session
        // no longer than its idle deadline counted from this use.
        let idle = (info.kind == TokenKind::Session)
            .then_some(self.config.session_idle_timeout)
            .flatten()
            .map(|d| Millis(seen.0.max(info.created_at.0).saturating_add(millis_of(d))));
        let expires = [
            info.expires_at,
            user.guest_expires_at.filter(|_| user.is_guest),
            idle,
        ]
        .into_iter()
        .flatten()
        .min();
        let authed = Authed {
            user,
            credential,
            actor,
        };
        self.cache.put(hash, authed.clone(), expires);
        Ok(authed)
    }

    /// The actor of an account, with the permissions of its custom roles.
    pub(crate) async fn actor_of(&self, user: &User) -> Result<Actor> {
        let custom = if user.is_guest {
            Vec::new()
        } else {
            self.roles.user_roles(user.id).await?
        };
        Ok(Actor::for_user_with_roles(user, &custom))
    }

    /// When a session ends for being idle (`None`: it does not, or it is not a session).
    fn idle_deadline(&self, info: &TokenInfo) -> Option<Millis> {
        if info.kind != TokenKind::Session {
            return None;
        }
        let idle = self.config.session_idle_timeout?;
        let seen = info.last_used_at.unwrap_or(info.created_at);
        Some(Millis(
            seen.0
                .max(info.created_at.0)
                .saturating_add(millis_of(idle)),
        ))
    }

    /// Forgets the cached credentials of the account (its roles changed).
    pub fn forget(&self, user: UserId) {
        self.cache.forget_user(user);
    }

    /// Forgets every cached credential (a role's grants changed).
    pub fn forget_all(&self) {
        self.cache.entries.lock().clear();
    }

    /// Creates an account. `actor` is `None` for the operator's command line.
    pub async fn create_user(&self, actor: Option<&Actor>, input: CreateUser) -> Result<User> {
        self.create_user_recorded(actor, input, |_| Vec::new())
            .await
    }

    /// [`Accounts::create_user`], recording `more` (what else the creation means, e.g. a guest
    /// invitation) after its `user_created` entry, in the account's own transaction: the
    /// account and its entries commit together or not at all.
    pub async fn create_user_recorded(
        &self,
        actor: Option<&Actor>,
        input: CreateUser,
        more: impl FnOnce(&User) -> Vec<AuditRecord> + Send + 'static,
    ) -> Result<User> {
        if let Some(a) = actor {
            if input.is_bot {
                enclave_core::permissions::check_manage_bots(a)?;
            } else {
                check_user_admin(a, None, UserChange::Create)?;
            }
        }
        if input.is_bot && (input.password.is_some() || input.is_admin || input.is_guest) {
            return Err(Error::Domain(DomainError::invalid(
                "bot",
                "a bot has no password and is neither an administrator nor a guest",
            )));
        }
        let username = validate::username(&input.username)?;
        let display_name = match input.display_name.as_deref() {
            Some(d) => validate::display_name(d)?,
            None => String::new(),
        };
        let display_name = if display_name.is_empty() {
            username.clone()
        } else {
            display_name
        };
        let email = match input.email.as_deref().map(str::trim) {
            Some("") | None => None,
            Some(e) => Some(validate::email(e)?),
        };
        let password_hash = match input.password {
            Some(p) => {
                validate::password(&p)?;
                Some(self.hash_password(p).await?)
            }
            None => None,
        };
        let actor_id = actor.map(|a| a.user_id);
        let origin = match (input.origin, actor) {
            (Some(o), _) => o,
            (None, Some(_)) => "api",
            (None, None) => "command line",
        };
        // Recorded in the creation's own transaction: the account and its entries commit
        // together.
        let audit = self.audit.in_tx(move |user: &User| {
            let mut record = AuditRecord::new(AuditAction::UserCreated)
                .target(AuditTarget::user(user.id))
                .summary(
                    AuditSummary::new()
                        .fact("username", &user.username)
                        .fact("is_admin", user.is_admin)
                        .fact("is_bot", user.is_bot)
                        .fact("by", origin),
                );
            if let Some(a) = actor_id {
                record = record.by(a);
            }
            let mut records = vec![record];
            records.extend(more(user));
            records
        });
        let user = self
            .store
            .create_user_audited(
                NewUser {
                    username,
                    display_name,
                    email,
                    password_hash,
                    is_admin: input.is_admin,
                    is_bot: input.is_bot,
                    actor_id,
                    is_guest: input.is_guest,
                    guest_expires_at: input.guest_expires_at,
                },
                audit,
            )
            .await?;
        tracing::info!(user_id = %user.id, username = %user.username, admin = user.is_admin, "user created");
        Ok(user)
    }

    /// One account: anyone's for those who may browse the directory; for guests only their own
    /// and those of people they share a channel with (others are "not found").
    pub async fn user(&self, actor: &Actor, id: UserId) -> Result<User> {
        let user = self
            .store
            .user(id)
            .await?
            .ok_or(Error::Domain(DomainError::NotFound(Entity::User)))?;
        if !permissions::sees_user(actor, id, false) {
            let shares = self.shares_channel(actor.user_id, id).await?;
            if !permissions::sees_user(actor, id, shares) {
                return Err(Error::Domain(DomainError::NotFound(Entity::User)));
            }
        }
        Ok(user)
    }

    /// Whether two accounts are members of a common channel.
    async fn shares_channel(&self, a: UserId, b: UserId) -> Result<bool> {
        let mine = self.channels.channel_ids_of(a).await?;
        let theirs = self.channels.channel_ids_of(b).await?;
        Ok(theirs.iter().any(|c| mine.contains(c)))
    }

    /// The directory (not for guests); only administrators see deactivated accounts.
    pub async fn list_users(&self, actor: &Actor, mut query: UserQuery) -> Result<Vec<User>> {
        permissions::check_browse_directory(actor)?;
        query.include_inactive &= permissions::sees_deactivated_users(actor);
        if let Some(t) = &query.text
            && t.chars().count() > 64
        {
            return Err(Error::Domain(DomainError::invalid(
                "q",
                "must be at most 64 characters",
            )));
        }
        Ok(self.store.list_users(query).await?)
    }

    /// Changes an account. `actor` is `None` for the operator's command line.
    pub async fn update_user(
        &self,
        actor: Option<&Actor>,
        id: UserId,
        input: UpdateUser,
    ) -> Result<User> {
        if let Some(actor) = actor {
            self.limits.check(actor, Kind::Write)?;
        }
        let target = self
            .store
            .user(id)
            .await?
            .ok_or(Error::Domain(DomainError::NotFound(Entity::User)))?;
        let own = actor.is_some_and(|a| a.user_id == id);
        let check = |change| match actor {
            Some(a) => check_user_admin(a, Some(id), change),
            None => Ok(()),
        };
        let mut patch = UserPatch::default();
        if let Some(d) = &input.display_name {
            check(UserChange::Profile)?;
            let d = validate::display_name(d)?;
            patch.display_name = Some(if d.is_empty() {
                target.username.clone()
            } else {
                d
            });
        }
        if let Some(e) = &input.email {
            check(UserChange::Profile)?;
            patch.email = Some(if e.trim().is_empty() {
                None
            } else {
                Some(validate::email(e)?)
            });
        }
        if input.active.is_some() {
            check(UserChange::Active)?;
            patch.active = input.active;
        }
        if input.is_admin.is_some() {
            check(UserChange::Admin)?;
            patch.is_admin = input.is_admin;
        }
        if let Some(p) = input.password {
            check(UserChange::Password)?;
            validate::password(&p)?;
            // Administrators, too, prove the current password for their own account: a
            // stolen admin session must not be able to take the account over.
            if own {
                let Some(current) = input.current_password else {
                    return Err(Error::Domain(DomainError::invalid(
                        "current_password",
                        "is required",
                    )));
                };
                let stored = self
                    .store
                    .user_credentials(&target.username)
                    .await?
                    .and_then(|(_, h)| h);
                let hash = match stored {
                    Some(h) => h,
                    None => self.dummy_hash().await?,
                };
                if !self.verify_password(current, hash).await? {
                    return Err(Error::Domain(DomainError::invalid(
                        "current_password",
                        "is wrong",
                    )));
                }
            }
            patch.password_hash = Some(self.hash_password(p).await?);
        }
        let password_changed = patch.password_hash.is_some();
        let actor_id = actor.map(|a| a.user_id);
        // Recorded in the change's own transaction: the change and its entries commit together.
        let before = target.clone();
        let audit = self.audit.in_tx(move |after: &User| {
            user_change_records(actor_id, &before, after, password_changed)
        });
        let user = self
            .store
            .update_user_audited(id, patch, actor_id, audit)
            .await?;
        if password_changed && !own {
            // A password reset by someone else ends every session of the account.
            self.store.revoke_sessions(id, None).await?;
        }
        self.cache.forget_user(id);
        Ok(user)
    }

    /// Sets the actor's status text and do-not-disturb (shown with their presence).
    pub async fn set_status(
        &self,
        actor: &Actor,
        status_text: Option<&str>,
        dnd: Option<bool>,
    ) -> Result<User> {
        self.limits.check(actor, Kind::Write)?;
        let patch = UserPatch {
            status_text: status_text.map(validate::status_text).transpose()?,
            dnd,
            ..UserPatch::default()
        };
        let user = self
            .store
            .update_user(actor.user_id, patch, Some(actor.user_id))
            .await?;
        self.cache.forget_user(actor.user_id);
        Ok(user)
    }

    /// Looks an account up by username, for the operator's command line.
    pub async fn user_by_username(&self, username: &str) -> Result<User> {
        let name = username.trim().to_lowercase();
        self.store
            .users_by_usernames(&[name])
            .await?
            .pop()
            .ok_or(Error::Domain(DomainError::NotFound(Entity::User)))
    }
}

/// What an account change did, as audit records: (de)activation, the administrator flag,
/// password, and profile changes made by someone else (`actor_id` `None`: the command line).
fn user_change_records(
    actor_id: Option<UserId>,
    before: &User,
    after: &User,
    password_changed: bool,
) -> Vec<AuditRecord> {
    let record = |action| {
        let r = AuditRecord::new(action).target(AuditTarget::user(after.id));
        match actor_id {
            Some(a) => r.by(a),
            None => r,
        }
    };
    let via = |s: AuditSummary| match actor_id {
        Some(_) => s,
        None => s.fact("by", "command line"),
    };
    let mut out = Vec::new();
    if before.active != after.active {
        let action = if after.active {
            AuditAction::UserReactivated
        } else {
            AuditAction::UserDeactivated
        };
        out.push(record(action).summary(via(AuditSummary::new().change(
            "active",
            Some(before.active),
            Some(after.active),
        ))));
    }
    if before.is_admin != after.is_admin {
        out.push(
            record(AuditAction::RoleChanged).summary(via(AuditSummary::new().change(
                "admin",
                Some(before.is_admin),
                Some(after.is_admin),
            ))),
        );
    }
    if password_changed {
        let own = actor_id == Some(after.id);
        out.push(
            record(AuditAction::PasswordChanged).summary(via(AuditSummary::new().fact("own", own))),
        );
    }
    let by_other = actor_id != Some(after.id);
    if by_other && (before.display_name != after.display_name || before.email != after.email) {
        let mut s = AuditSummary::new();
        if before.display_name != after.display_name {
            s = s.change(
                "display_name",
                Some(&before.display_name),
                Some(&after.display_name),
            );
        }
        if before.email != after.email {
            s = s.change("email", before.email.as_ref(), after.email.as_ref());
        }
        out.push(record(AuditAction::UserUpdated).summary(via(s)));
    }
    out
}
