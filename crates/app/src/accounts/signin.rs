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
use enclave_core::{Error as DomainError, Millis, TokenKind, User, validate};
use enclave_store::NewToken;

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
    /// A login and password checked by binding to the directory `provider`.
    Ldap {
        provider: &'a str,
        login: &'a str,
        password: &'a str,
    },
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
            Proof::Ldap { .. } => CredentialKind::Ldap,
        }
    }

    /// The throttle step the credential is counted under.
    pub fn step(&self) -> Step {
        match self.kind() {
            // A directory password is the password step: one throttle, whichever checks it.
            CredentialKind::Password | CredentialKind::Ldap => Step::Password,
        }
    }

    /// The name failed attempts are counted under, per account; `None` for a login too
    /// malformed to name one.
    fn account_key(&self) -> Option<String> {
        match self {
            Proof::Password { login, .. } | Proof::Ldap { login, .. } => {
                lockout::account_key(login)
            }
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
}

impl VerifiedIdentity {
    pub fn user(&self) -> &User {
        &self.user
    }

    /// How the account proved itself.
    pub fn kind(&self) -> CredentialKind {
        self.kind
    }
}

/// The answer of step 2.
#[derive(Debug)]
pub enum SecondFactorStep {
    /// The credential is enough: open a session with the grant.
    NotRequired(SessionGrant),
    /// The caller must pass one of `methods` for `identity` before a session may be opened.
    Required {
        methods: Vec<SecondFactorMethod>,
        identity: VerifiedIdentity,
    },
}

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

/// The stable name of a credential kind, as the audit log shows it.
fn credential_name(kind: CredentialKind) -> &'static str {
    match kind {
        CredentialKind::Password => "password",
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
                    Proof::Password { password, .. } => {
                        self.check_password_or_directory(&key, password, &why)
                            .await?
                    }
                    Proof::Ldap {
                        provider,
                        login,
                        password,
                    } => self
                        .check_directory(Some(provider), None, login, password, &why)
                        .await?
                        .map(|u| (u, CredentialKind::Ldap)),
                };
                let proved = proved.filter(|(u, _)| {
                    u.active && !enclave_core::roles::guest_expired(u, Millis::now())
                });
                Ok(proved)
            })
            .await;
        let (user, kind) = match outcome {
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
        Ok(VerifiedIdentity { user, kind, ip })
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
    /// factor.
    pub async fn second_factor(&self, identity: VerifiedIdentity) -> Result<SecondFactorStep> {
        // No account can enrol a second factor yet; enrolments will be read from the store here.
        let enrolled: &[SecondFactorMethod] = &[];
        Ok(match signin::second_factor(identity.kind, enrolled) {
            SecondFactor::NotRequired => SecondFactorStep::NotRequired(SessionGrant { identity }),
            SecondFactor::Required { methods } => SecondFactorStep::Required { methods, identity },
        })
    }

    /// Step 3: opens a session for the grant's account, named after the client (control
    /// characters dropped, at most 64 characters), valid for the configured session lifetime.
    /// Returns the bearer token (shown once) and the account.
    pub async fn open_session(&self, grant: SessionGrant, client: &str) -> Result<(String, User)> {
        let ip = grant.identity.ip;
        let kind = grant.identity.kind;
        let user = grant.identity.user;
        let token = new_token()?;
        let name: String = client
            .chars()
            .filter(|c| !c.is_control())
            .take(64)
            .collect();
        let ttl_ms = i64::try_from(self.config.session_ttl.as_millis()).unwrap_or(i64::MAX);
        let info = self
            .store
            .create_token(NewToken {
                user_id: user.id,
                kind: TokenKind::Session,
                hash: hash_token(&token),
                name,
                expires_at: Some(Millis(Millis::now().0.saturating_add(ttl_ms))),
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
    async fn no_second_factor_is_required_today() {
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
            other @ SecondFactorStep::Required { .. } => panic!("{other:?}"),
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
            .open_session(grant, "Firefox\u{7}\non Linux")
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
        assert_eq!(tokens[0].name, "Firefoxon Linux");
        let expires = tokens[0].expires_at.unwrap();
        let ttl_ms = i64::try_from(AuthConfig::default().session_ttl.as_millis()).unwrap();
        assert!(expires.0 > Millis::now().0 + ttl_ms - 60_000, "{expires:?}");
    }
}
