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
use std::time::Instant;

use enclave_core::signin::{self, CredentialKind, SecondFactor, SecondFactorMethod};
use enclave_core::{Error as DomainError, Millis, TokenKind, User, validate};
use enclave_store::NewToken;

use super::{Accounts, hash_token, new_token};
use crate::error::{Error, Result};

/// A credential as a door received it.
#[derive(Clone, Copy)]
pub enum Proof<'a> {
    /// A username or email address, and the account's password.
    Password { login: &'a str, password: &'a str },
}

impl Proof<'_> {
    pub fn kind(&self) -> CredentialKind {
        match self {
            Proof::Password { .. } => CredentialKind::Password,
        }
    }

    /// The name failed attempts are counted under, per account.
    fn account_key(&self) -> String {
        match self {
            Proof::Password { login, .. } => login.trim().to_lowercase(),
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
        }
    }
}

/// An active account whose credential has been verified: the result of step 1.
#[derive(Debug, Clone)]
pub struct VerifiedIdentity {
    user: User,
    kind: CredentialKind,
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

impl Accounts {
    /// Step 1: checks a credential. Failures are counted per account and per client address;
    /// past either limit every attempt is refused (`RateLimited`) until the window has passed.
    /// A wrong credential, an unknown account and a deactivated one are all `Unauthenticated`.
    pub async fn verify_credential(
        &self,
        proof: Proof<'_>,
        ip: IpAddr,
    ) -> Result<VerifiedIdentity> {
        let now = Instant::now();
        let key = proof.account_key();
        if let Err(wait) = self
            .by_ip
            .check(&ip, now)
            .and_then(|()| self.by_account.check(&key, now))
        {
            return Err(Error::Domain(DomainError::RateLimited {
                retry_after_secs: wait.as_secs().max(1),
            }));
        }
        let proved = match proof {
            Proof::Password { password, .. } => self.check_password(&key, password).await?,
        };
        let user = match proved {
            Some(u) if u.active && !enclave_core::roles::guest_expired(&u, Millis::now()) => u,
            _ => {
                self.by_account.fail(&key, now);
                self.by_ip.fail(&ip, now);
                tracing::info!(%ip, login = %key, "login failed");
                return Err(Error::Domain(DomainError::Unauthenticated));
            }
        };
        self.by_account.reset(&key);
        Ok(VerifiedIdentity {
            user,
            kind: proof.kind(),
        })
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
        let user = grant.identity.user;
        let token = new_token()?;
        let name: String = client
            .chars()
            .filter(|c| !c.is_control())
            .take(64)
            .collect();
        let ttl_ms = i64::try_from(self.config.session_ttl.as_millis()).unwrap_or(i64::MAX);
        self.store
            .create_token(NewToken {
                user_id: user.id,
                kind: TokenKind::Session,
                hash: hash_token(&token),
                name,
                expires_at: Some(Millis(Millis::now().0.saturating_add(ttl_ms))),
            })
            .await?;
        tracing::info!(user_id = %user.id, "login");
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

    use super::*;
    use crate::accounts::{AuthConfig, CreateUser, Credential, UpdateUser};

    const PASSWORD: &str = "correct horse battery";
    const HERE: IpAddr = IpAddr::V4(std::net::Ipv4Addr::LOCALHOST);
    const THERE: IpAddr = IpAddr::V4(std::net::Ipv4Addr::new(192, 0, 2, 7));

    /// Accounts on a fresh SQLite store, with cheap hashing and the given failure limits.
    fn accounts(dir: &std::path::Path, per_account: u32, per_ip: u32) -> Accounts {
        let store: Arc<dyn Store> =
            Arc::new(SqliteStore::open(&dir.join("db"), Options::default()).unwrap());
        let config = AuthConfig {
            argon2_memory_kib: 64,
            argon2_iterations: 1,
            max_failures_per_account: per_account,
            max_failures_per_ip: per_ip,
            lockout_window: Duration::from_secs(600),
            ..AuthConfig::default()
        };
        Accounts::new(store, config, Arc::new(crate::UserLimits::off())).unwrap()
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
    async fn wrong_passwords_are_refused_then_the_account_is_locked() {
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
        // Locked: even the right password, from another address, is refused for the window.
        for ip in [HERE, THERE] {
            let e = refusal(
                accounts
                    .verify_credential(password("alice", PASSWORD), ip)
                    .await,
            );
            assert!(
                matches!(e, DomainError::RateLimited { retry_after_secs } if retry_after_secs > 0),
                "{e:?}"
            );
        }
        // Other accounts are not locked with it.
        accounts
            .verify_credential(password("bob", PASSWORD), HERE)
            .await
            .unwrap();
    }

    #[tokio::test]
    async fn a_success_clears_the_account_failures_but_not_the_address_ones() {
        let dir = tempfile::tempdir().unwrap();
        let accounts = accounts(dir.path(), 3, 5);
        user(&accounts, "alice").await;
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
        // Four failures from HERE so far; the fifth locks the address for every account.
        let e = refusal(
            accounts
                .verify_credential(password("nobody", "wrong password"), HERE)
                .await,
        );
        assert_eq!(e, DomainError::Unauthenticated);
        let e = refusal(
            accounts
                .verify_credential(password("alice", PASSWORD), HERE)
                .await,
        );
        assert!(matches!(e, DomainError::RateLimited { .. }), "{e:?}");
        accounts
            .verify_credential(password("alice", PASSWORD), THERE)
            .await
            .unwrap();
    }

    #[tokio::test]
    async fn malformed_input_is_refused_without_counting_a_failure() {
        let dir = tempfile::tempdir().unwrap();
        let accounts = accounts(dir.path(), 1, 1);
        user(&accounts, "alice").await;
        let long = "x".repeat(validate::MAX_PASSWORD_CHARS + 1);
        for (login, pw) in [
            ("alice", ""),
            ("", PASSWORD),
            ("   ", PASSWORD),
            ("alice", &long),
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
        let e = refusal(
            accounts
                .verify_credential(password("alice", PASSWORD), HERE)
                .await,
        );
        assert!(matches!(e, DomainError::RateLimited { .. }), "{e:?}");
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
