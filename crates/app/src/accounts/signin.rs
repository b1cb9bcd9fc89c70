//! Signing in, as three steps that every door composes in its own way:
//!
//! 1. [`Accounts::verify_credential`] checks a [`Proof`] (a password today; LDAP, OIDC, app
//!    passwords and XMPP SCRAM next) under the login throttle and names the account:
//!    a [`VerifiedIdentity`].
//! 2. [`Accounts::second_factor`] decides, before any session exists, whether that is enough
//!    ([`SecondFactorStep::NotRequired`], carrying a [`SessionGrant`]) or which methods must be
//!    passed first ([`SecondFactorStep::Required`]). The decision is
//!    `enclave_core::signin::second_factor`.
//! 3. [`Accounts::open_session`] turns a grant into a session token.
//!
//! Only this module makes a `VerifiedIdentity` or a `SessionGrant`, so no door can open a session
//! without passing the steps before it.

use std::net::IpAddr;

use enclave_core::lockout::{self, Step};
use enclave_core::signin::{self, CredentialKind, SecondFactor, SecondFactorMethod};

use enclave_core::{AppPasswordId, Error as DomainError, Millis, Scope, TokenKind, User, validate};
use enclave_store::{NewToken, SignInChallenge};

use enclave_core::audit::{AuditAction, AuditSummary, AuditTarget};

use super::{Accounts, hash_token, new_token};
use crate::audit::AuditRecord;
use crate::error::{Error, Result};

/// A credential as a door received it.
#[derive(Clone, Copy)]
pub enum Proof<'a> {
    /// A username or email address, and the account's password. An account linked to a
    /// directory (and, with a directory configured, an unknown login) is checked by the
    /// directory instead (credential kind `Ldap`).
    Password { login: &'a str, password: &'a str },
    /// A username or email address, and one of the account's app passwords (dashes, spaces
    /// and case ignored).
    AppPassword { login: &'a str, password: &'a str },
    /// An OIDC provider's verified ID token for a linked account (made only by `crate::sso`
    /// after it checked the token).
    Oidc(&'a OidcAssertion),
    /// A login and password checked by binding to the directory `provider`.
    Ldap {
        provider: &'a str,
        login: &'a str,
        password: &'a str,
    },
}

/// What a checked ID token proved: the linked account, through which provider and subject.
/// Only the single sign-on module makes one, after checking the token.
#[derive(Debug, Clone)]
pub struct OidcAssertion {
    pub(crate) user_id: enclave_core::UserId,
    pub(crate) provider: String,
    pub(crate) subject: String,
}

impl OidcAssertion {
    pub fn provider(&self) -> &str {
        &self.provider
    }
}

/// What a directory answered for a login and password.
#[derive(Debug)]
pub enum DirectoryAnswer {
    /// The password is right: the (created, linked or updated) account.
    Proved(User),
    /// The directory refused (the reason is for the audit log, never for the caller).
    Refused(&'static str),
    /// The login is not the directory's: check the local password.
    NotMine,
    /// (Internal to the directory) the entry that bound.
    Entry(Box<crate::ldap::DirEntry>),
}

/// A directory that checks passwords by binding (LDAP / Active Directory).
pub trait DirectoryLogin: Send + Sync {
    /// Checks `login` / `password`: with `provider`, through that provider; otherwise through
    /// `linked` (the provider the account is linked to) or, for an unknown account (`None`),
    /// the providers in order. Malformed input (empty or over-long) is `Unauthenticated`.
    fn login<'a>(
        &'a self,
        provider: Option<&'a str>,
        linked: Option<&'a str>,
        login: &'a str,
        password: &'a str,
    ) -> futures_util::future::BoxFuture<'a, Result<DirectoryAnswer>>;
}

impl Proof<'_> {
    pub fn kind(&self) -> CredentialKind {
        match self {
            Proof::Password { .. } => CredentialKind::Password,
            Proof::AppPassword { .. } => CredentialKind::AppPassword,
            Proof::Oidc(_) => CredentialKind::Oidc,
            Proof::Ldap { .. } => CredentialKind::Ldap,
        }
    }

    /// The throttle step the credential is counted under: app passwords share the password
    /// step's counters, so guessing one costs what guessing the password does.
    pub fn step(&self) -> Step {
        match self.kind() {
            // A directory password is the password step: one throttle, whichever checks it.
            CredentialKind::Password
            | CredentialKind::AppPassword
            | CredentialKind::Oidc
            | CredentialKind::Ldap => Step::Password,
        }
    }

    /// The name failed attempts are counted under, per account; `None` for a login too
    /// malformed to name one.
    fn account_key(&self) -> Option<String> {
        match self {
            Proof::Password { login, .. }
            | Proof::AppPassword { login, .. }
            | Proof::Ldap { login, .. } => lockout::account_key(login),
            Proof::Oidc(a) => lockout::account_key(&format!("oidc:{}", a.user_id)),
        }
    }
}

impl std::fmt::Debug for Proof<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Proof::Password { login, .. } => f
                .debug_struct("Password")
                .field("login", login)
                .finish_non_exhaustive(),
            Proof::AppPassword { login, .. } => f
                .debug_struct("AppPassword")
                .field("login", login)
                .finish_non_exhaustive(),
            Proof::Oidc(a) => f
                .debug_struct("Oidc")
                .field("provider", &a.provider)
                .field("subject", &a.subject)
                .finish(),
            Proof::Ldap {
                provider, login, ..
            } => f
                .debug_struct("Ldap")
                .field("provider", provider)
                .field("login", login)
                .finish_non_exhaustive(),
        }
    }
}

/// Where a new session comes from: shown in the owner's list of sessions.
#[derive(Debug, Clone, Copy, Default)]
pub struct SessionClient<'a> {
    /// The request's `User-Agent` (the device is read from it: "Chrome on Windows").
    pub user_agent: &'a str,
    /// The client the sign-in named ("Enclave web", a script's name); at most 64 characters.
    pub client: &'a str,
}

/// What a failed attempt's audit record says beyond the error: the directory's reason, and
/// whether the directory (rather than a local password) decided.
#[derive(Default)]
struct Why {
    reason: parking_lot::Mutex<Option<&'static str>>,
    directory: parking_lot::Mutex<bool>,
}

/// An active account whose credential has been verified: the result of step 1.
#[derive(Debug, Clone)]
pub struct VerifiedIdentity {
    user: User,
    kind: CredentialKind,
    /// The client address the credential came from (for the audit log).
    ip: IpAddr,
    /// The app password that proved it, for [`CredentialKind::AppPassword`].
    app_password: Option<AppPasswordId>,
}

impl VerifiedIdentity {
    pub fn user(&self) -> &User {
        &self.user
    }

    /// How the account proved itself.
    pub fn kind(&self) -> CredentialKind {
        self.kind
    }

    /// The app password that proved it, if one did.
    pub fn app_password(&self) -> Option<AppPasswordId> {
        self.app_password
    }
}

/// The answer of step 2.
#[derive(Debug)]
pub enum SecondFactorStep {
    /// The credential is enough: open a session with the grant.
    NotRequired(SessionGrant),
    /// No session yet: the caller must pass the challenge (or, with `enrol_required`, enrol a
    /// second factor through it) in [`Accounts::pass_second_factor`].
    Required(Challenge),
}

/// The token between the two sign-in steps: bound to one account, used once, valid for
/// `enclave_core::signin::CHALLENGE_TTL_SECS`.
#[derive(Clone)]
pub struct Challenge {
    /// Shown to the caller once; the store keeps its hash.
    pub token: String,
    /// The methods the account may pass (empty when it must enrol first).
    pub methods: Vec<SecondFactorMethod>,
    /// The account has no second factor but the policy requires one: the token lets it set up
    /// an authenticator app, and confirming that opens the session.
    pub enrol_required: bool,
    pub expires_at: Millis,
    /// With `webauthn` among the methods: the options for the browser's
    /// `navigator.credentials.get` (`{"publicKey": ...}`, binary fields in base64url).
    pub webauthn: Option<serde_json::Value>,
}

impl std::fmt::Debug for Challenge {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Challenge")
            .field("methods", &self.methods)
            .field("enrol_required", &self.enrol_required)
            .field("expires_at", &self.expires_at)
            .finish_non_exhaustive()
    }
}

/// A second factor as a door received it.
#[derive(Clone, Copy)]
pub enum FactorProof<'a> {
    /// A six-digit code from an authenticator app (for an enrol-only challenge: the code that
    /// confirms the app being set up).
    Totp(&'a str),
    /// One of the account's recovery codes.
    Recovery(&'a str),
    /// The browser's answer to the challenge's WebAuthn options (a `PublicKeyCredential` as
    /// JSON, binary fields in base64url).
    WebAuthn(&'a str),
    /// For an enrol-only challenge: the browser's answer to the registration started with
    /// [`Accounts::challenge_begin_webauthn`] (`registration` is its id), registering the
    /// security key `name`, which then opens the session.
    WebAuthnEnrol {
        registration: &'a str,
        name: &'a str,
        credential: &'a str,
    },
}

impl FactorProof<'_> {
    fn method(&self) -> SecondFactorMethod {
        match self {
            FactorProof::Totp(_) => SecondFactorMethod::Totp,
            FactorProof::Recovery(_) => SecondFactorMethod::Recovery,
            FactorProof::WebAuthn(_) | FactorProof::WebAuthnEnrol { .. } => {
                SecondFactorMethod::WebAuthn
            }
        }
    }
}

impl std::fmt::Debug for FactorProof<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "FactorProof({})", self.method().as_str())
    }
}

/// A passed challenge: leave to open a session, and the recovery codes to show once when the
/// challenge enrolled the account's first second factor.
#[derive(Debug)]
pub struct PassedSecondFactor {
    pub grant: SessionGrant,
    pub recovery_codes: Option<Vec<String>>,
}

const CHALLENGE_PREFIX: &str = "sfc_";

/// Leave to open a session: a verified identity that needs no further factor.
#[derive(Debug)]
pub struct SessionGrant {
    identity: VerifiedIdentity,
}

impl SessionGrant {
    pub fn identity(&self) -> &VerifiedIdentity {
        &self.identity
    }
}

/// The client name a sign-in passed: trimmed, at most [`signin::MAX_CLIENT_CHARS`] characters,
/// no control or invisible characters (refused, not cut, so a client learns its name is wrong).
pub fn session_client_name(raw: &str) -> Result<String> {
    let name = raw.trim();
    if name.chars().count() > signin::MAX_CLIENT_CHARS {
        return Err(Error::Domain(DomainError::invalid(
            "client",
            "must be at most 64 characters",
        )));
    }
    if name.is_empty() {
        return Ok(String::new());
    }
    validate::token_name(name).map_err(|_| {
        Error::Domain(DomainError::invalid(
            "client",
            "must not contain control or invisible characters",
        ))
    })
}

/// The stable name of a credential kind, as the audit log shows it.
fn credential_name(kind: CredentialKind) -> &'static str {
    match kind {
        CredentialKind::Password => "password",
        CredentialKind::AppPassword => "app_password",
        CredentialKind::Oidc => "oidc",
        CredentialKind::Ldap => "ldap",
    }
}

impl Accounts {
    /// Step 1: checks a credential under the sign-in throttle (`enclave_core::lockout`):
    /// failures are counted per account key and client address, and an attempt that must wait
    /// is refused (`RateLimited`, with the seconds to wait) before the credential is looked at.
    /// A wrong credential, an unknown account and a deactivated one are all `Unauthenticated`
    /// and all count as failures; malformed input is refused without counting.
    pub async fn verify_credential(
        &self,
        proof: Proof<'_>,
        ip: IpAddr,
    ) -> Result<VerifiedIdentity> {
        let Some(key) = proof.account_key() else {
            self.audit_failure(&proof, proof.kind(), ip, "malformed")
                .await;
            return Err(Error::Domain(DomainError::Unauthenticated));
        };
        // The directory's reason for a refusal, and whether the directory decided, for the
        // audit log.
        let why = Why::default();
        let outcome = self
            .throttled(proof.step(), &key, ip, async {
                let proved = match proof {
                    Proof::Password { password, .. } => self
                        .check_password_or_directory(&key, password, &why)
                        .await?
                        .map(|(u, k)| (u, k, None)),
                    Proof::AppPassword { password, .. } => self
                        .check_app_password(&key, password)
                        .await?
                        .map(|(u, id)| (u, CredentialKind::AppPassword, Some(id))),
                    Proof::Oidc(a) => self
                        .store
                        .user(a.user_id)
                        .await?
                        .map(|u| (u, CredentialKind::Oidc, None)),
                    Proof::Ldap {
                        provider,
                        login,
                        password,
                    } => self
                        .check_directory(Some(provider), None, login, password, &why)
                        .await?
                        .map(|u| (u, CredentialKind::Ldap, None)),
                };
                let now = self.now();
                Ok(proved.filter(|(u, _, _)| enclave_core::signin::may_sign_in(u, now)))
            })
            .await;
        let (user, kind, app_password) = match outcome {
            Ok(found) => found,
            Err(e) => {
                let reason = match &e {
                    Error::Domain(DomainError::RateLimited { .. }) => "throttled",
                    Error::Domain(DomainError::Unauthenticated) => why
                        .reason
                        .lock()
                        .unwrap_or("wrong credential, unknown or deactivated account"),
                    Error::Domain(DomainError::DirectoryUnavailable) => "directory unavailable",
                    _ => "error",
                };
                let kind = if *why.directory.lock() {
                    CredentialKind::Ldap
                } else {
                    proof.kind()
                };
                self.audit_failure(&proof, kind, ip, reason).await;
                return Err(e);
            }
        };
        if let Some(id) = app_password {
            let (store, now) = (self.store.clone(), self.now());
            if let Err(e) = store.touch_app_password(id, now).await {
                tracing::debug!(error = %e, "could not record an app password's use");
            }
        }
        // `[auth] local_passwords = false`: single sign-on only, except for system
        // administrators (the break-glass accounts of `enclave admin create-user --admin`).
        // Checked after the password, so the answer tells nothing to someone without it.
        if kind == CredentialKind::Password && !self.config.local_passwords && !user.is_admin {
            self.audit_failure(&proof, kind, ip, "password sign-in is off")
                .await;
            return Err(Error::Refused {
                code: crate::ErrorCode::PasswordLoginDisabled,
                message: "password sign-in is off on this server: use single sign-on",
            });
        }
        Ok(VerifiedIdentity {
            user,
            kind,
            ip,
            app_password,
        })
    }

    /// Checks a password: through the directory for an account linked to one (and, when a
    /// directory is configured, for an unknown login), else against the local hash.
    async fn check_password_or_directory(
        &self,
        login: &str,
        password: &str,
        why: &Why,
    ) -> Result<Option<(User, CredentialKind)>> {
        if let Some(dir) = self.directory() {
            if login.is_empty()
                || login.len() > 254
                || password.is_empty()
                || password.chars().count() > validate::MAX_PASSWORD_CHARS
            {
                return Err(Error::Domain(DomainError::Unauthenticated));
            }
            let found = self.store.user_credentials(login).await?;
            let linked = match &found {
                Some((u, _)) => self.ldap_links.ldap_link_of_user(u.id).await?,
                None => None,
            };
            if found.is_none() || linked.is_some() {
                let provider = linked.as_ref().map(|l| l.provider.as_str());
                match dir.login(None, provider, login, password).await? {
                    DirectoryAnswer::Proved(u) => return Ok(Some((u, CredentialKind::Ldap))),
                    DirectoryAnswer::Refused(r) => {
                        *why.reason.lock() = Some(r);
                        *why.directory.lock() = true;
                        return Ok(None);
                    }
                    DirectoryAnswer::NotMine | DirectoryAnswer::Entry(_) => {}
                }
            }
        }
        Ok(self
            .check_password(login, password)
            .await?
            .map(|u| (u, CredentialKind::Password)))
    }

    /// Whether `password` is `user`'s: the local one, or the directory's for an account linked
    /// to one (re-authentication before a change of second factors).
    pub(super) async fn password_proves(&self, user: &User, password: &str) -> Result<bool> {
        match self
            .check_password_or_directory(&user.username, password, &Why::default())
            .await
        {
            Ok(Some((u, _))) => Ok(u.id == user.id),
            Ok(None) | Err(Error::Domain(DomainError::Unauthenticated)) => Ok(false),
            Err(e) => Err(e),
        }
    }

    /// Checks a login and password through the directory (`provider`, or the account's).
    async fn check_directory(
        &self,
        provider: Option<&str>,
        linked: Option<&str>,
        login: &str,
        password: &str,
        why: &Why,
    ) -> Result<Option<User>> {
        let Some(dir) = self.directory() else {
            return Err(Error::Domain(DomainError::NotFound(
                enclave_core::Entity::Provider,
            )));
        };
        *why.directory.lock() = true;
        match dir.login(provider, linked, login, password).await? {
            DirectoryAnswer::Proved(u) => Ok(Some(u)),
            DirectoryAnswer::Refused(r) => {
                *why.reason.lock() = Some(r);
                Ok(None)
            }
            DirectoryAnswer::NotMine | DirectoryAnswer::Entry(_) => {
                *why.reason.lock() = Some("unknown user");
                Ok(None)
            }
        }
    }

    /// Step 1 for doors whose clients cannot do single sign-on (the XMPP door, HTTP Basic on
    /// the API): a username (or email address) and one of the account's app passwords, under
    /// the password step's throttle. The identity it returns never opens a web session.
    pub async fn verify_app_password(
        &self,
        login: &str,
        password: &str,
        ip: IpAddr,
    ) -> Result<VerifiedIdentity> {
        self.verify_credential(Proof::AppPassword { login, password }, ip)
            .await
    }

    /// The account `login` names when `typed` is one of its app passwords, and which one.
    /// Malformed input is refused without hashing; an unknown account or a hint that matches
    /// nothing costs the same hashing time as a real check.
    async fn check_app_password(
        &self,
        login: &str,
        typed: &str,
    ) -> Result<Option<(User, AppPasswordId)>> {
        if login.is_empty() || login.len() > 254 {
            return Err(Error::Domain(DomainError::Unauthenticated));
        }
        let Some(normalized) = super::credentials::normalize_app_password(typed) else {
            return Err(Error::Domain(DomainError::Unauthenticated));
        };
        let hint = super::credentials::app_password_hint(&normalized);
        let user = self.store.user_credentials(login).await?.map(|(u, _)| u);
        let candidates = match &user {
            Some(u) => self.store.app_password_hashes(u.id, hint).await?,
            None => Vec::new(),
        };
        if candidates.is_empty() {
            let dummy = self.dummy_hash().await?;
            self.verify_password(normalized, dummy).await?;
            return Ok(None);
        }
        for (id, hash) in candidates {
            if self.verify_password(normalized.clone(), hash).await? {
                return Ok(user.map(|u| (u, id)));
            }
        }
        Ok(None)
    }

    /// Records a refused sign-in: the name tried (not the secret), the credential kind and why.
    async fn audit_failure(
        &self,
        proof: &Proof<'_>,
        kind: CredentialKind,
        ip: IpAddr,
        reason: &'static str,
    ) {
        self.audit
            .record(
                AuditRecord::new(AuditAction::SignInFailed).ip(ip).summary(
                    AuditSummary::new()
                        .fact("login", proof.account_key().unwrap_or_default())
                        .fact("credential", credential_name(kind))
                        .fact("reason", reason),
                ),
            )
            .await;
    }

    /// The account `login` names when `password` is its password. Malformed input is refused
    /// without being counted as a failure; an unknown account costs the same hashing time as a
    /// known one.
    async fn check_password(&self, login: &str, password: &str) -> Result<Option<User>> {
        if login.is_empty()
            || login.len() > 254
            || password.is_empty()
            || password.chars().count() > validate::MAX_PASSWORD_CHARS
        {
            return Err(Error::Domain(DomainError::Unauthenticated));
        }
        let found = self.store.user_credentials(login).await?;
        let (user, hash) = match found {
            Some((u, Some(h))) => (Some(u), h),
            Some((u, None)) => (Some(u), self.dummy_hash().await?),
            None => (None, self.dummy_hash().await?),
        };
        let ok = self.verify_password(password.to_owned(), hash).await?;
        Ok(user.filter(|_| ok))
    }

    /// Step 2: whether the verified identity may open a session now or must first pass a second
    /// factor (the decision is `enclave_core::signin::second_factor`, on the account's
    /// enrolments and the site policy). When it must, a challenge is stored and returned.
    pub async fn second_factor(&self, identity: VerifiedIdentity) -> Result<SecondFactorStep> {
        let enrolled = self.enrolled_methods(identity.user.id).await?;
        let (required, grace_ends) = self.policy_for(&identity.user).await?;
        let decision = signin::second_factor(
            identity.kind,
            &enrolled,
            required,
            grace_ends,
            Millis::now(),
        );
        let (methods, enrol_required) = match decision {
            SecondFactor::NotRequired => {
                return Ok(SecondFactorStep::NotRequired(SessionGrant { identity }));
            }
            SecondFactor::Required { methods } => (methods, false),
            SecondFactor::EnrolRequired => (Vec::new(), true),
        };
        let mut methods = methods;
        let token = super::new_token()?.replacen(super::TOKEN_PREFIX, CHALLENGE_PREFIX, 1);
        let token_hash = super::hash_token(&token);
        let expires_at = Millis(Millis::now().0 + signin::CHALLENGE_TTL_SECS * 1000);
        let webauthn = if methods.contains(&SecondFactorMethod::WebAuthn) {
            let options = self
                .begin_webauthn_signin(&identity.user, &token_hash, expires_at)
                .await?;
            if options.is_none() {
                methods.retain(|m| *m != SecondFactorMethod::WebAuthn);
            }
            options
        } else {
            None
        };
        self.factors
            .create_challenge(
                token_hash,
                SignInChallenge {
                    user_id: identity.user.id,
                    credential: credential_name(identity.kind).to_owned(),
                    enrol_only: enrol_required,
                    expires_at,
                    used_at: None,
                },
            )
            .await?;
        Ok(SecondFactorStep::Required(Challenge {
            token,
            methods,
            enrol_required,
            expires_at,
            webauthn,
        }))
    }

    /// The live challenge `token` names, and its account; a malformed, unknown, used or
    /// expired token is `Invalid(challenge)`.
    async fn live_challenge(&self, token: &str) -> Result<(SignInChallenge, User)> {
        let invalid = || {
            Error::Domain(DomainError::invalid(
                "challenge",
                "unknown, expired or already used; sign in again",
            ))
        };
        if !token.starts_with(CHALLENGE_PREFIX) || token.len() > 100 {
            return Err(invalid());
        }
        let now = Millis::now();
        let ch = self
            .factors
            .challenge(super::hash_token(token))
            .await?
            .filter(|c| c.used_at.is_none() && c.expires_at > now)
            .ok_or_else(invalid)?;
        let user = self
            .store
            .user(ch.user_id)
            .await?
            .filter(|u| u.active && !enclave_core::roles::guest_expired(u, now))
            .ok_or(Error::Domain(DomainError::Unauthenticated))?;
        Ok((ch, user))
    }

    /// With an enrol-only challenge: starts setting up an authenticator app for its account
    /// (confirming it through [`Accounts::pass_second_factor`] opens the session).
    pub async fn challenge_begin_totp(&self, token: &str) -> Result<super::TotpSetup> {
        let (ch, user) = self.live_challenge(token).await?;
        if !ch.enrol_only {
            return Err(Error::Domain(DomainError::Forbidden(
                "this sign-in needs the second factor already set up",
            )));
        }
        self.begin_totp_for(&user).await
    }

    /// With an enrol-only challenge: starts registering a security key for its account (the
    /// browser's answer, passed through [`Accounts::pass_second_factor`] as
    /// [`FactorProof::WebAuthnEnrol`], registers it and opens the session). A `conflict` when
    /// security keys are off on this server.
    pub async fn challenge_begin_webauthn(
        &self,
        token: &str,
    ) -> Result<super::WebAuthnRegistration> {
        let (ch, user) = self.live_challenge(token).await?;
        if !ch.enrol_only {
            return Err(Error::Domain(DomainError::Forbidden(
                "this sign-in needs the second factor already set up",
            )));
        }
        self.begin_webauthn_registration_for(&user).await
    }

    /// Step 2, second half: passes a challenge with a second factor, under the sign-in
    /// throttle (step `second_factor`, keyed by the account). A wrong, replayed or expired
    /// code is `Unauthenticated` and counts as a failure; the challenge is then still usable
    /// until it expires. A passed challenge is used up.
    pub async fn pass_second_factor(
        &self,
        token: &str,
        proof: FactorProof<'_>,
        ip: IpAddr,
    ) -> Result<PassedSecondFactor> {
        let method = proof.method();
        // A WebAuthn answer that is not one is refused before anything is looked at.
        let assertion = match proof {
            FactorProof::WebAuthn(raw) => Some(super::webauthn::parse_assertion(raw)?),
            _ => None,
        };
        let (ch, user) = match self.live_challenge(token).await {
            Ok(found) => found,
            Err(e) => {
                self.audit_second_failure(None, method, ip, "unknown, expired or used challenge")
                    .await;
                return Err(e);
            }
        };
        let key = user.id.to_string();
        if let Err(e) = self.throttle_check(Step::SecondFactor, &key, ip).await {
            self.audit_second_failure(Some(user.id), method, ip, "throttled")
                .await;
            return Err(e);
        }
        let outcome: Result<Option<Option<Vec<String>>>> = if ch.enrol_only {
            match proof {
                FactorProof::Totp(code) => match self.confirm_totp_for(&user, code).await {
                    Ok(codes) => Ok(Some(Some(codes))),
                    Err(Error::Domain(DomainError::Unauthenticated)) => Ok(None),
                    Err(e) => Err(e),
                },
                FactorProof::WebAuthnEnrol {
                    registration,
                    name,
                    credential,
                } => match self
                    .finish_webauthn_registration_for(&user, registration, name, credential)
                    .await
                {
                    Ok(registered) => Ok(Some(Some(registered.recovery_codes))),
                    Err(Error::Refused {
                        code: crate::ErrorCode::WebauthnRefused,
                        ..
                    }) => Ok(None),
                    Err(e) => Err(e),
                },
                FactorProof::Recovery(_) | FactorProof::WebAuthn(_) => Ok(None),
            }
        } else if let Some(assertion) = &assertion {
            self.check_webauthn(&user, &super::hash_token(token), assertion)
                .await
                .map(|ok| ok.then_some(None))
        } else {
            let code = match proof {
                FactorProof::Totp(c) if signin::totp_code(c).is_some() => Some(c),
                FactorProof::Recovery(c) if signin::recovery_code(c).is_some() => Some(c),
                _ => None,
            };
            match code {
                Some(c) => self
                    .check_code(&user, c)
                    .await
                    .map(|m| (m == Some(method)).then_some(None)),
                None => Ok(None),
            }
        };
        let recovery_codes = match outcome {
            Ok(Some(codes)) => codes,
            Ok(None) => {
                self.throttle_fail(Step::SecondFactor, &key, ip).await?;
                self.audit_second_failure(
                    Some(user.id),
                    method,
                    ip,
                    if method == SecondFactorMethod::WebAuthn {
                        "security key answer refused"
                    } else {
                        "wrong, replayed or expired code"
                    },
                )
                .await;
                return Err(if method == SecondFactorMethod::WebAuthn {
                    super::webauthn::refused()
                } else {
                    Error::Domain(DomainError::Unauthenticated)
                });
            }
            Err(e) => return Err(e),
        };
        if !self
            .factors
            .use_challenge(super::hash_token(token), Millis::now())
            .await?
        {
            self.audit_second_failure(Some(user.id), method, ip, "challenge used concurrently")
                .await;
            return Err(Error::Domain(DomainError::invalid(
                "challenge",
                "unknown, expired or already used; sign in again",
            )));
        }
        self.throttle_ok(Step::SecondFactor, &key, ip).await?;
        self.audit
            .record(
                AuditRecord::new(AuditAction::SecondFactorPassed)
                    .by(user.id)
                    .ip(ip)
                    .target(AuditTarget::user(user.id))
                    .summary(
                        AuditSummary::new()
                            .fact("method", method.as_str())
                            .fact("enrolled", ch.enrol_only),
                    ),
            )
            .await;
        let kind = match ch.credential.as_str() {
            "password" => CredentialKind::Password,
            "oidc" => CredentialKind::Oidc,
            other => return Err(Error::internal(format!("challenge of credential {other}"))),
        };
        Ok(PassedSecondFactor {
            grant: SessionGrant {
                identity: VerifiedIdentity {
                    user,
                    kind,
                    ip,
                    app_password: None,
                },
            },
            recovery_codes,
        })
    }

    async fn audit_second_failure(
        &self,
        user: Option<enclave_core::UserId>,
        method: SecondFactorMethod,
        ip: IpAddr,
        reason: &'static str,
    ) {
        let mut r = AuditRecord::new(AuditAction::SecondFactorFailed)
            .ip(ip)
            .summary(
                AuditSummary::new()
                    .fact("method", method.as_str())
                    .fact("reason", reason),
            );
        if let Some(id) = user {
            r = r.target(AuditTarget::user(id));
        }
        self.audit.record(r).await;
    }

    /// Step 3: opens a session for the grant's account, named after the client (control
    /// characters dropped, at most 64 characters), valid for the configured session lifetime.
    /// Returns the bearer token (shown once) and the account.
    pub async fn open_session(
        &self,
        grant: SessionGrant,
        client: SessionClient<'_>,
    ) -> Result<(String, User)> {
        let ip = grant.identity.ip;
        let kind = grant.identity.kind;
        if !signin::opens_web_session(kind) {
            return Err(Error::Domain(DomainError::Unauthenticated));
        }
        let client_name = session_client_name(client.client)?;
        let user = grant.identity.user;
        let token = new_token()?;
        let ttl_ms = i64::try_from(self.config.session_ttl.as_millis()).unwrap_or(i64::MAX);
        let info = self
            .store
            .create_token(NewToken {
                user_id: user.id,
                kind: TokenKind::Session,
                hash: hash_token(&token),
                name: signin::device_name(client.user_agent),
                expires_at: Some(Millis(self.now().0.saturating_add(ttl_ms))),
                scope: Scope::Session,
                client: client_name,
                ip: Some(ip.to_string()),
            })
            .await?;
        tracing::info!(user_id = %user.id, "login");
        self.audit
            .record(
                AuditRecord::new(AuditAction::SignIn)
                    .by(user.id)
                    .ip(ip)
                    .target(AuditTarget::user(user.id))
                    .summary(
                        AuditSummary::new()
                            .fact("credential", credential_name(kind))
                            .fact("session", info.id),
                    ),
            )
            .await;
        Ok((token, user))
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use std::sync::Arc;
    use std::time::Duration;

    use enclave_core::{Actor, RoleSet};
    use enclave_store::Store;
    use enclave_store::sqlite::{Options, SqliteStore};

    use enclave_core::lockout::{Delays, Policy};

    use super::*;
    use crate::accounts::{AuthConfig, CreateUser, Credential, UpdateUser};

    const PASSWORD: &str = "correct horse battery";
    const HERE: IpAddr = IpAddr::V4(std::net::Ipv4Addr::LOCALHOST);
    const THERE: IpAddr = IpAddr::V4(std::net::Ipv4Addr::new(192, 0, 2, 7));

    /// A throttle whose delays start after `pair`, `account` and `source` failures, with a
    /// first delay long enough that no test outruns it.
    fn policy(pair: u32, account: u32, source: u32) -> Policy {
        let d = |free| Delays {
            free,
            first: Duration::from_secs(60),
            max: Duration::from_secs(600),
        };
        Policy {
            pair: d(pair),
            account: d(account),
            source: d(source),
            ..Policy::default()
        }
    }

    /// Accounts on the SQLite store in `dir` (created if new), with cheap hashing and `lockout`.
    fn accounts_with(dir: &std::path::Path, lockout: Policy) -> Accounts {
        let store: Arc<dyn Store> =
            Arc::new(SqliteStore::open(&dir.join("db"), Options::default()).unwrap());
        let config = AuthConfig {
            argon2_memory_kib: 64,
            argon2_iterations: 1,
            lockout,
            ..AuthConfig::default()
        };
        Accounts::new(store, config, Arc::new(crate::UserLimits::off())).unwrap()
    }

    fn accounts(dir: &std::path::Path, pair: u32, source: u32) -> Accounts {
        accounts_with(dir, policy(pair, 1000, source))
    }

    async fn user(accounts: &Accounts, name: &str) -> User {
        accounts
            .create_user(
                None,
                CreateUser {
                    username: name.into(),
                    password: Some(PASSWORD.into()),
                    ..CreateUser::default()
                },
            )
            .await
            .unwrap()
    }

    fn password<'a>(login: &'a str, password: &'a str) -> Proof<'a> {
        Proof::Password { login, password }
    }

    fn refusal(r: Result<VerifiedIdentity>) -> DomainError {
        match r {
            Err(Error::Domain(e)) => e,
            other => panic!("expected a domain refusal, got {other:?}"),
        }
    }

    #[track_caller]
    fn assert_delayed(e: DomainError) {
        assert!(
            matches!(e, DomainError::RateLimited { retry_after_secs } if retry_after_secs > 0),
            "{e:?}"
        );
    }

    fn ip(n: u8) -> IpAddr {
        IpAddr::V4(std::net::Ipv4Addr::new(198, 51, 100, n))
    }

    #[tokio::test]
    async fn a_right_password_names_the_account_whatever_the_case_and_spacing() {
        let dir = tempfile::tempdir().unwrap();
        let accounts = accounts(dir.path(), 3, 50);
        let alice = user(&accounts, "alice").await;
        let identity = accounts
            .verify_credential(password("  ALICE ", PASSWORD), HERE)
            .await
            .unwrap();
        assert_eq!(identity.user().id, alice.id);
        assert_eq!(identity.kind(), CredentialKind::Password);
    }

    #[tokio::test]
    async fn wrong_passwords_delay_that_address_only_and_the_delay_survives_a_restart() {
        let dir = tempfile::tempdir().unwrap();
        let accounts = accounts(dir.path(), 3, 50);
        user(&accounts, "alice").await;
        user(&accounts, "bob").await;
        for _ in 0..3 {
            let e = refusal(
                accounts
                    .verify_credential(password("alice", "wrong password"), HERE)
                    .await,
            );
            assert_eq!(e, DomainError::Unauthenticated);
        }
        // From HERE even the right password must wait, however the login is spelled.
        for login in ["alice", " Alice "] {
            assert_delayed(refusal(
                accounts
                    .verify_credential(password(login, PASSWORD), HERE)
                    .await,
            ));
        }
        // The owner, from another address, is not locked out; nor is another account.
        accounts
            .verify_credential(password("alice", PASSWORD), THERE)
            .await
            .unwrap();
        accounts
            .verify_credential(password("bob", PASSWORD), HERE)
            .await
            .unwrap();
        // The counters are in the database: a new process on it still delays HERE.
        drop(accounts);
        let accounts = self::accounts(dir.path(), 3, 50);
        assert_delayed(refusal(
            accounts
                .verify_credential(password("alice", PASSWORD), HERE)
                .await,
        ));
    }

    #[tokio::test]
    async fn a_success_clears_the_pair() {
        let dir = tempfile::tempdir().unwrap();
        let accounts = accounts(dir.path(), 3, 50);
        user(&accounts, "alice").await;
        for _ in 0..2 {
            for _ in 0..2 {
                accounts
                    .verify_credential(password("alice", "wrong password"), HERE)
                    .await
                    .unwrap_err();
            }
            accounts
                .verify_credential(password("alice", PASSWORD), HERE)
                .await
                .unwrap();
        }
    }

    #[tokio::test]
    async fn many_addresses_failing_slow_unknown_addresses_but_not_the_owners_own() {
        let dir = tempfile::tempdir().unwrap();
        let accounts = accounts_with(dir.path(), policy(100, 4, 100));
        user(&accounts, "alice").await;
        // Alice signed in from HERE before.
        accounts
            .verify_credential(password("alice", PASSWORD), HERE)
            .await
            .unwrap();
        for n in 1..=4 {
            accounts
                .verify_credential(password("alice", "wrong password"), ip(n))
                .await
                .unwrap_err();
        }
        // A new address must wait, even with the right password...
        assert_delayed(refusal(
            accounts
                .verify_credential(password("alice", PASSWORD), THERE)
                .await,
        ));
        // ...while the address she used before is not slowed.
        accounts
            .verify_credential(password("alice", PASSWORD), HERE)
            .await
            .unwrap();
    }

    #[tokio::test]
    async fn an_address_failing_on_many_accounts_is_slowed_for_accounts_it_does_not_know() {
        let dir = tempfile::tempdir().unwrap();
        let accounts = accounts(dir.path(), 100, 3);
        user(&accounts, "alice").await;
        user(&accounts, "bob").await;
        // Alice signed in from the office NAT (THERE) before; Bob never did.
        accounts
            .verify_credential(password("alice", PASSWORD), THERE)
            .await
            .unwrap();
        for name in ["nobody1", "nobody2", "nobody3"] {
            let e = refusal(
                accounts
                    .verify_credential(password(name, "wrong password"), THERE)
                    .await,
            );
            assert_eq!(e, DomainError::Unauthenticated);
        }
        assert_delayed(refusal(
            accounts
                .verify_credential(password("bob", PASSWORD), THERE)
                .await,
        ));
        accounts
            .verify_credential(password("alice", PASSWORD), THERE)
            .await
            .unwrap();
        // Bob elsewhere is not slowed.
        accounts
            .verify_credential(password("bob", PASSWORD), HERE)
            .await
            .unwrap();
    }

    #[tokio::test]
    async fn parallel_guesses_do_not_all_pass_the_throttle() {
        let dir = tempfile::tempdir().unwrap();
        let accounts = Arc::new(accounts(dir.path(), 3, 1000));
        user(&accounts, "alice").await;
        let tries: Vec<_> = (0..12)
            .map(|_| {
                let accounts = accounts.clone();
                tokio::spawn(async move {
                    accounts
                        .verify_credential(password("alice", "wrong password"), HERE)
                        .await
                })
            })
            .collect();
        let mut wrong = 0;
        for t in tries {
            match refusal(t.await.unwrap()) {
                DomainError::Unauthenticated => wrong += 1,
                e => assert_delayed(e),
            }
        }
        assert_eq!(wrong, 3, "only the free attempts were checked");
    }

    #[tokio::test]
    async fn malformed_input_is_refused_without_counting_a_failure() {
        let dir = tempfile::tempdir().unwrap();
        let accounts = accounts(dir.path(), 1, 1);
        user(&accounts, "alice").await;
        let long = "x".repeat(validate::MAX_PASSWORD_CHARS + 1);
        let long_login = "x".repeat(300);
        for (login, pw) in [
            ("alice", ""),
            ("", PASSWORD),
            ("   ", PASSWORD),
            ("alice", &long),
            (&long_login, PASSWORD),
        ] {
            let e = refusal(accounts.verify_credential(password(login, pw), HERE).await);
            assert_eq!(e, DomainError::Unauthenticated);
        }
        accounts
            .verify_credential(password("alice", PASSWORD), HERE)
            .await
            .unwrap();
    }

    #[tokio::test]
    async fn a_deactivated_account_is_refused_at_the_first_step() {
        let dir = tempfile::tempdir().unwrap();
        let accounts = accounts(dir.path(), 1, 50);
        let alice = user(&accounts, "alice").await;
        accounts
            .update_user(
                None,
                alice.id,
                UpdateUser {
                    active: Some(false),
                    ..UpdateUser::default()
                },
            )
            .await
            .unwrap();
        let e = refusal(
            accounts
                .verify_credential(password("alice", PASSWORD), HERE)
                .await,
        );
        assert_eq!(e, DomainError::Unauthenticated);
        // It counts as a failed attempt, like a wrong password.
        assert_delayed(refusal(
            accounts
                .verify_credential(password("alice", PASSWORD), HERE)
                .await,
        ));
    }

    #[tokio::test]
    async fn administrators_see_and_clear_the_delays() {
        let dir = tempfile::tempdir().unwrap();
        let accounts = accounts(dir.path(), 2, 1000);
        let admin = Actor::new(enclave_core::UserId(1), RoleSet::ADMIN);
        let member = Actor::new(enclave_core::UserId(2), RoleSet::MEMBER);
        user(&accounts, "alice").await;
        for from in [HERE, THERE, THERE] {
            accounts
                .verify_credential(password("alice", "wrong password"), from)
                .await
                .unwrap_err();
        }
        assert!(matches!(
            accounts.lockouts(&member, None, 50).await,
            Err(Error::Domain(DomainError::Forbidden(_)))
        ));
        let list = accounts.lockouts(&admin, Some(" ALICE"), 50).await.unwrap();
        assert_eq!(list.len(), 2, "{list:?}");
        let there = list.iter().find(|l| l.source == "192.0.2.7").unwrap();
        assert_eq!((there.failures, there.step), (2, Step::Password));
        assert!(matches!(
            there.delayed_until,
            Some((_, lockout::Scope::Pair))
        ));
        let here = list.iter().find(|l| l.source == "127.0.0.1").unwrap();
        assert_eq!((here.failures, here.delayed_until), (1, None));

        assert!(matches!(
            accounts
                .clear_lockouts(&admin, "alice", Some("not an address"))
                .await,
            Err(Error::Domain(DomainError::Invalid { .. }))
        ));
        assert!(
            accounts
                .clear_lockouts(&member, "alice", None)
                .await
                .is_err()
        );
        assert_eq!(
            accounts
                .clear_lockouts(&admin, "alice", Some("192.0.2.7"))
                .await
                .unwrap(),
            1
        );
        accounts
            .verify_credential(password("alice", PASSWORD), THERE)
            .await
            .unwrap();
        assert_eq!(
            accounts
                .clear_lockouts(&admin, "alice", None)
                .await
                .unwrap(),
            1
        );
        assert!(
            accounts
                .lockouts(&admin, None, 50)
                .await
                .unwrap()
                .is_empty()
        );
    }

    #[tokio::test]
    async fn no_second_factor_is_required_without_enrolment_or_policy() {
        let dir = tempfile::tempdir().unwrap();
        let accounts = accounts(dir.path(), 3, 50);
        let alice = user(&accounts, "alice").await;
        let identity = accounts
            .verify_credential(password("alice", PASSWORD), HERE)
            .await
            .unwrap();
        match accounts.second_factor(identity).await.unwrap() {
            SecondFactorStep::NotRequired(grant) => {
                assert_eq!(grant.identity().user().id, alice.id);
            }
            other @ SecondFactorStep::Required(_) => panic!("{other:?}"),
        }
    }

    #[tokio::test]
    async fn the_session_step_creates_a_session_token() {
        let dir = tempfile::tempdir().unwrap();
        let accounts = accounts(dir.path(), 3, 50);
        let alice = user(&accounts, "alice").await;
        let identity = accounts
            .verify_credential(password("alice", PASSWORD), HERE)
            .await
            .unwrap();
        let SecondFactorStep::NotRequired(grant) = accounts.second_factor(identity).await.unwrap()
        else {
            panic!("a second factor was required");
        };
        let (token, user) = accounts
            .open_session(
                grant,
                SessionClient {
                    user_agent: "Mozilla/5.0 (X11; Linux x86_64; rv:121.0) Gecko/20100101 Firefox/121.0",
                    client: "Enclave web",
                },
            )
            .await
            .unwrap();
        assert_eq!(user.id, alice.id);
        assert!(token.starts_with("enc_"), "{token}");
        let authed = accounts.authenticate(&token).await.unwrap();
        assert_eq!(authed.user.id, alice.id);
        assert!(matches!(authed.credential, Credential::Session(_)));
        assert_eq!(authed.actor(), Actor::new(alice.id, RoleSet::MEMBER));
        let tokens = accounts.tokens(&authed.actor()).await.unwrap();
        assert_eq!(tokens.len(), 1);
        assert_eq!(tokens[0].kind, TokenKind::Session);
        assert_eq!(tokens[0].name, "Firefox on Linux");
        assert_eq!(tokens[0].client, "Enclave web");
        assert_eq!(tokens[0].ip.as_deref(), Some("127.0.0.1"));
        assert_eq!(tokens[0].scope, Scope::Session);
        let expires = tokens[0].expires_at.unwrap();
        let ttl_ms = i64::try_from(AuthConfig::default().session_ttl.as_millis()).unwrap();
        assert!(expires.0 > Millis::now().0 + ttl_ms - 60_000, "{expires:?}");
    }
}
