//! OIDC single sign-on (docs/admin/sso.md).
//!
//! 1. [`Sso::start`]: a random `state`, `nonce` and PKCE verifier are stored in the database
//!    (`sso_pending`, keyed by the SHA-256 of the state, with an expiry) so that any node of a
//!    cluster can finish the sign-in; a random browser secret (a cookie the door sets) binds it to
//!    the browser that started it. The answer is the provider's authorization URL.
//! 2. [`Sso::callback`]: the pending row is taken once (a replayed callback finds nothing), the
//!    browser secret compared, the code exchanged at the provider's token endpoint with the PKCE
//!    verifier, and the ID token checked by `openidconnect` against the provider's published keys
//!    (JWKS from the discovery document): signature (asymmetric algorithms only; `none` and HMAC
//!    are refused), issuer, audience, expiry and nonce. The subject is then linked to an account
//!    (already linked; or an account with the same verified e-mail or username claim; or a new
//!    one), group claims are mapped to roles and departments, and a one-time code is stored
//!    (`sso_pending`, kind handoff, two minutes).
//! 3. [`Sso::exchange`]: the browser trades the one-time code for a [`VerifiedIdentity`] through
//!    `Accounts::verify_credential(Proof::Oidc)` (throttle, active account, audit); the door then
//!    runs the second-factor step and opens the session as for a password.
//!
//! Every request to a provider goes through [`Outbound`] (the allow-list).

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::net::IpAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use base64::Engine;
use enclave_core::audit::{AuditAction, AuditSummary, AuditTarget};
use enclave_core::permissions::SitePermission;
use enclave_core::{Actor, Error as DomainError, Millis, RoleSet, User, UserId, validate};
use enclave_store::{ExternalIdentity, SsoPending, SsoPendingKind, Store};
use openidconnect::core::{CoreAuthenticationFlow, CoreClient, CoreJwsSigningAlgorithm};
use openidconnect::{
    AuthorizationCode, ClientId, ClientSecret, CsrfToken, IssuerUrl, LogoutRequest, Nonce,
    PkceCodeChallenge, PkceCodeVerifier, PostLogoutRedirectUrl, ProviderMetadataWithLogout,
    RedirectUrl, Scope, TokenResponse,
};
use parking_lot::Mutex;
use sha2::{Digest, Sha256};

use crate::ErrorCode;
use crate::accounts::{Accounts, CreateUser, OidcAssertion, Proof, VerifiedIdentity};
use crate::audit::{Audit, AuditRecord, AuditSource};
use crate::departments::{Departments, Placement};
use crate::error::{Error, Result};
use crate::outbound::{Outbound, OutboundError};
use crate::roles::Roles;

/// What the audit entries of the roles and departments a sign-in's groups map to name as `by`.
const GROUP_MAPPING: &str = "single sign-on group mapping";

/// How long a started sign-in may take at the provider.
const PENDING_TTL: Duration = Duration::from_secs(600);
/// How long the browser has to exchange the one-time code.
const HANDOFF_TTL: Duration = Duration::from_secs(120);
/// How long a discovery document (and its keys) is reused.
const METADATA_TTL: Duration = Duration::from_secs(300);
/// The longest `state` or one-time code accepted.
const MAX_SECRET: usize = 128;

/// How an unlinked subject may be matched to an existing account.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LinkBy {
    /// An account whose e-mail address equals the `email` claim (which must be verified unless
    /// `require_email_verified` is off).
    Email,
    /// An account whose username equals the username claim.
    Username,
    /// Never: only subjects already linked, or new accounts.
    None,
}

/// One provider (`[[oidc.providers]]`).
#[derive(Debug, Clone)]
pub struct ProviderConfig {
    /// Stable id, in URLs and the `external_identities` table (`[a-z0-9_-]`, 1 to 32).
    pub id: String,
    /// The button's text.
    pub label: String,
    pub issuer: String,
    pub client_id: String,
    pub client_secret: String,
    /// Requested scopes besides `openid`.
    pub scopes: Vec<String>,
    pub link_by: LinkBy,
    /// The claim a new account's username (and `LinkBy::Username`) comes from.
    pub username_claim: String,
    pub require_email_verified: bool,
    /// Create an account on first sign-in when none is linked or matched.
    pub auto_create: bool,
    /// The claim holding the person's groups (a list of strings), if any.
    pub groups_claim: Option<String>,
    /// Group → role names (`system_admin`, `member`, or custom role ids). When not empty, an
    /// account's roles are set from its groups at each sign-in (`member` plus the mapped ones).
    pub group_roles: BTreeMap<String, Vec<String>>,
    /// Group → department path (`Head office/IT`). The person is placed in the mapped
    /// departments at each sign-in (missing ones are created).
    pub group_departments: BTreeMap<String, String>,
}

/// The single sign-on settings.
#[derive(Debug, Clone)]
pub struct SsoConfig {
    /// The server's public base URL; redirect URIs are `{public_url}/auth/oidc/{id}/callback`.
    pub public_url: Option<url::Url>,
    pub providers: Vec<ProviderConfig>,
    /// Whether password sign-in is on (`[auth] local_passwords`).
    pub local_passwords: bool,
}

/// A provider as the login page shows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProviderButton {
    pub id: String,
    pub label: String,
}

/// A provider's state for administrators.
#[derive(Debug, Clone)]
pub struct ProviderStatus {
    pub id: String,
    pub label: String,
    pub issuer: String,
    /// `Some(true)` when the last discovery on this node worked; `None` before the first.
    pub discovery_ok: Option<bool>,
    pub last_checked: Option<Millis>,
    pub last_error: Option<String>,
    pub last_sign_in: Option<Millis>,
    pub linked_users: u64,
    pub end_session: bool,
}

#[derive(Default, Clone)]
struct Health {
    ok: Option<bool>,
    checked: Option<Millis>,
    error: Option<String>,
    last_sign_in: Option<Millis>,
    end_session: bool,
}

/// A started sign-in: where to send the browser, and the secret its cookie must carry back.
#[derive(Debug)]
pub struct Started {
    pub authorize_url: url::Url,
    pub browser_secret: String,
}

/// Why a callback failed (for the audit log and the browser).
#[derive(Debug)]
pub struct CallbackError {
    pub provider: String,
    pub error: Error,
}

/// The single sign-on service.
pub struct Sso {
    store: Arc<dyn Store>,
    accounts: Arc<Accounts>,
    roles: Arc<Roles>,
    departments: Departments,
    audit: Audit,
    outbound: Outbound,
    config: SsoConfig,
    metadata: Mutex<HashMap<String, (Instant, Arc<ProviderMetadataWithLogout>)>>,
    health: Mutex<HashMap<String, Health>>,
}

/// `openidconnect`'s HTTP client: the outbound client (its futures are `Send`, as the doors
/// need; a closure's are not general enough for that).
struct Http(Outbound);

impl<'c> openidconnect::AsyncHttpClient<'c> for Http {
    type Error = OutboundError;
    type Future = std::pin::Pin<
        Box<
            dyn std::future::Future<
                    Output = std::result::Result<openidconnect::HttpResponse, OutboundError>,
                > + Send
                + 'c,
        >,
    >;

    fn call(&'c self, request: openidconnect::HttpRequest) -> Self::Future {
        Box::pin(self.0.send(request))
    }
}

fn later(now: Millis, d: Duration) -> Millis {
    Millis(
        now.0
            .saturating_add(i64::try_from(d.as_millis()).unwrap_or(i64::MAX)),
    )
}

/// 32 random bytes, base64url.
fn new_secret() -> Result<String> {
    let mut bytes = [0u8; 32];
    getrandom::fill(&mut bytes)
        .map_err(|e| Error::internal(format!("random source failed: {e}")))?;
    Ok(base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes))
}

fn sha_hex(s: &str) -> String {
    let d = Sha256::digest(s.as_bytes());
    d.iter().map(|b| format!("{b:02x}")).collect()
}

fn failed(message: &'static str) -> Error {
    Error::refused(ErrorCode::SsoFailed, message)
}

fn unavailable() -> Error {
    Error::refused(
        ErrorCode::SsoProviderUnavailable,
        "the sign-in provider could not be reached or answered with an error",
    )
}

/// The operator, for the changes a sign-in makes (roles, departments).
const SYSTEM: Actor = Actor::new(UserId(0), RoleSet::ADMIN);

impl Sso {
    pub fn new(
        store: Arc<dyn Store>,
        accounts: Arc<Accounts>,
        roles: Arc<Roles>,
        departments: Departments,
        audit: Audit,
        outbound: Outbound,
        config: SsoConfig,
    ) -> Sso {
        Sso {
            store,
            accounts,
            roles,
            departments,
            audit,
            outbound,
            config,
            metadata: Mutex::new(HashMap::new()),
            health: Mutex::new(HashMap::new()),
        }
    }

    pub fn local_passwords(&self) -> bool {
        self.config.local_passwords
    }

    /// The login page's buttons.
    pub fn buttons(&self) -> Vec<ProviderButton> {
        self.config
            .providers
            .iter()
            .map(|p| ProviderButton {
                id: p.id.clone(),
                label: p.label.clone(),
            })
            .collect()
    }

    fn provider(&self, id: &str) -> Result<&ProviderConfig> {
        self.config
            .providers
            .iter()
            .find(|p| p.id == id)
            .ok_or_else(|| {
                Error::refused(
                    ErrorCode::ProviderNotFound,
                    "no single sign-on provider has this id",
                )
            })
    }

    fn redirect_url(&self, p: &ProviderConfig) -> Result<RedirectUrl> {
        let base = self
            .config
            .public_url
            .as_ref()
            .ok_or_else(|| Error::internal("[oidc] public_url is not set"))?;
        let s = format!(
            "{}/auth/oidc/{}/callback",
            base.as_str().trim_end_matches('/'),
            p.id
        );
        RedirectUrl::new(s).map_err(|e| Error::internal(e.to_string()))
    }

    fn note(&self, id: &str, f: impl FnOnce(&mut Health)) {
        f(self.health.lock().entry(id.to_owned()).or_default());
    }

    /// The provider's discovery document and keys (cached for a few minutes).
    async fn metadata(&self, p: &ProviderConfig) -> Result<Arc<ProviderMetadataWithLogout>> {
        if let Some((at, m)) = self.metadata.lock().get(&p.id)
            && at.elapsed() < METADATA_TTL
        {
            return Ok(m.clone());
        }
        let issuer =
            IssuerUrl::new(p.issuer.clone()).map_err(|e| Error::internal(e.to_string()))?;
        let http = Http(self.outbound.clone());
        let result = ProviderMetadataWithLogout::discover_async(issuer, &http).await;
        match result {
            Ok(m) => {
                let m = Arc::new(m);
                self.metadata
                    .lock()
                    .insert(p.id.clone(), (Instant::now(), m.clone()));
                let end_session = m.additional_metadata().end_session_endpoint.is_some();
                self.note(&p.id, |h| {
                    h.ok = Some(true);
                    h.checked = Some(Millis::now());
                    h.error = None;
                    h.end_session = end_session;
                });
                Ok(m)
            }
            Err(e) => {
                let msg = discovery_error(&e);
                tracing::warn!(provider = %p.id, error = %msg, "OIDC discovery failed");
                self.note(&p.id, |h| {
                    h.ok = Some(false);
                    h.checked = Some(Millis::now());
                    h.error = Some(msg);
                });
                Err(unavailable())
            }
        }
    }

    fn client(
        &self,
        p: &ProviderConfig,
        m: &ProviderMetadataWithLogout,
    ) -> Result<
        CoreClient<
            openidconnect::EndpointSet,
            openidconnect::EndpointNotSet,
            openidconnect::EndpointNotSet,
            openidconnect::EndpointNotSet,
            openidconnect::EndpointMaybeSet,
            openidconnect::EndpointMaybeSet,
        >,
    > {
        let secret =
            (!p.client_secret.is_empty()).then(|| ClientSecret::new(p.client_secret.clone()));
        Ok(CoreClient::from_provider_metadata(
            m.clone(),
            ClientId::new(p.client_id.clone()),
            secret,
        )
        .set_redirect_uri(self.redirect_url(p)?))
    }

    /// Step 1: a new sign-in through provider `id`.
    pub async fn start(&self, id: &str) -> Result<Started> {
        let p = self.provider(id)?;
        let m = self.metadata(p).await?;
        let client = self.client(p, &m)?;
        let (challenge, verifier) = PkceCodeChallenge::new_random_sha256();
        let mut req = client
            .authorize_url(
                CoreAuthenticationFlow::AuthorizationCode,
                CsrfToken::new_random,
                Nonce::new_random,
            )
            .set_pkce_challenge(challenge);
        for s in &p.scopes {
            req = req.add_scope(Scope::new(s.clone()));
        }
        let (url, state, nonce) = req.url();
        let browser_secret = new_secret()?;
        let now = Millis::now();
        self.store
            .sso_put_pending(SsoPending {
                key_hash: sha_hex(state.secret()),
                kind: SsoPendingKind::Login,
                provider: p.id.clone(),
                nonce: nonce.secret().clone(),
                pkce_verifier: verifier.secret().clone(),
                browser_hash: sha_hex(&browser_secret),
                user_id: None,
                subject: String::new(),
                created_at: now,
                expires_at: later(now, PENDING_TTL),
            })
            .await?;
        Ok(Started {
            authorize_url: url,
            browser_secret,
        })
    }

    /// Step 2: the provider sent the browser back. Returns the one-time code the browser
    /// exchanges for a session. Every refusal is audited and changes nothing.
    #[allow(clippy::too_many_arguments)]
    pub async fn callback(
        &self,
        id: &str,
        state: Option<&str>,
        code: Option<&str>,
        provider_error: Option<&str>,
        browser_secret: Option<&str>,
        ip: IpAddr,
    ) -> Result<String> {
        let outcome = self
            .callback_inner(id, state, code, provider_error, browser_secret)
            .await;
        match outcome {
            Ok((handoff, _)) => Ok(handoff),
            Err((reason, e)) => {
                self.audit_failure(id, None, ip, &reason).await;
                Err(e)
            }
        }
    }

    async fn callback_inner(
        &self,
        id: &str,
        state: Option<&str>,
        code: Option<&str>,
        provider_error: Option<&str>,
        browser_secret: Option<&str>,
    ) -> std::result::Result<(String, UserId), (String, Error)> {
        let p = self
            .provider(id)
            .map_err(|e| ("unknown provider".into(), e))?;
        let fail = |reason: &str, msg: &'static str| (reason.to_owned(), failed(msg));
        let state = state
            .filter(|s| !s.is_empty() && s.len() <= MAX_SECRET)
            .ok_or_else(|| fail("missing state", "the sign-in state is missing"))?;
        let pending = self
            .store
            .sso_take_pending(&sha_hex(state), SsoPendingKind::Login)
            .await
            .map_err(|e| ("store".to_owned(), Error::from(e)))?
            .ok_or_else(|| {
                fail(
                    "unknown or used state",
                    "this sign-in is unknown, expired or already finished: start again",
                )
            })?;
        if pending.provider != p.id {
            return Err(fail(
                "state of another provider",
                "the sign-in state does not match",
            ));
        }
        if pending.expires_at < Millis::now() {
            return Err(fail(
                "expired state",
                "this sign-in took too long: start again",
            ));
        }
        let browser_ok = browser_secret
            .filter(|b| b.len() <= MAX_SECRET)
            .is_some_and(|b| sha_hex(b) == pending.browser_hash);
        if !browser_ok {
            return Err(fail(
                "another browser",
                "this sign-in was started in another browser: start again",
            ));
        }
        if let Some(err) = provider_error {
            let err: String = err
                .chars()
                .filter(|c| c.is_ascii_graphic())
                .take(64)
                .collect();
            return Err((
                format!("provider refused: {err}"),
                failed("the sign-in provider refused the sign-in"),
            ));
        }
        let code = code
            .filter(|c| !c.is_empty() && c.len() <= 2048)
            .ok_or_else(|| fail("missing code", "the provider sent no authorization code"))?;
        let m = self
            .metadata(p)
            .await
            .map_err(|e| ("provider unreachable".to_owned(), e))?;
        let client = self
            .client(p, &m)
            .map_err(|e| ("configuration".to_owned(), e))?;
        let http = Http(self.outbound.clone());
        let exchange = client
            .exchange_code(AuthorizationCode::new(code.to_owned()))
            .map_err(|e| (format!("no token endpoint: {e}"), unavailable()))?
            .set_pkce_verifier(PkceCodeVerifier::new(pending.pkce_verifier.clone()));
        let tokens = exchange.request_async(&http).await.map_err(|e| {
            let reason = token_error(&e);
            self.note(&p.id, |h| h.error = Some(reason.clone()));
            (
                reason,
                failed("the provider did not accept the authorization code"),
            )
        })?;
        let id_token = tokens
            .id_token()
            .ok_or_else(|| fail("no ID token", "the provider sent no ID token"))?;
        let verifier = client.id_token_verifier().set_allowed_algs(vec![
            CoreJwsSigningAlgorithm::RsaSsaPkcs1V15Sha256,
            CoreJwsSigningAlgorithm::RsaSsaPkcs1V15Sha384,
            CoreJwsSigningAlgorithm::RsaSsaPkcs1V15Sha512,
            CoreJwsSigningAlgorithm::RsaSsaPssSha256,
            CoreJwsSigningAlgorithm::RsaSsaPssSha384,
            CoreJwsSigningAlgorithm::RsaSsaPssSha512,
            CoreJwsSigningAlgorithm::EcdsaP256Sha256,
            CoreJwsSigningAlgorithm::EcdsaP384Sha384,
            CoreJwsSigningAlgorithm::EdDsa,
        ]);
        let nonce = Nonce::new(pending.nonce.clone());
        let claims = id_token.claims(&verifier, &nonce).map_err(|e| {
            (
                format!("ID token refused: {e}"),
                failed("the provider's ID token did not pass its checks"),
            )
        })?;
        let subject = claims.subject().as_str().to_owned();
        // The raw claims, for groups and other claims `openidconnect` does not type. The
        // signature over exactly these bytes has just been checked.
        let raw = raw_claims(&id_token.to_string()).unwrap_or_default();
        let user = self.resolve_account(p, &subject, &raw).await?;
        if !user.active {
            return Err(fail("deactivated account", "this account is deactivated"));
        }
        // The roles and departments the groups map to are written by the role and department
        // services, each change with its audit entry in its own transaction; the source labels
        // those entries (the departments it creates and the placements it makes included).
        AuditSource::new(GROUP_MAPPING, p.id.clone())
            .scope(self.apply_groups(p, &user, &raw))
            .await;
        let email = claim_str(&raw, "email");
        let now = Millis::now();
        let _ = self
            .store
            .touch_external_identity(&p.id, &subject, email.as_deref(), now)
            .await;
        self.note(&p.id, |h| h.last_sign_in = Some(now));
        let handoff = new_secret().map_err(|e| ("random".to_owned(), e))?;
        self.store
            .sso_put_pending(SsoPending {
                key_hash: sha_hex(&handoff),
                kind: SsoPendingKind::Handoff,
                provider: p.id.clone(),
                nonce: String::new(),
                pkce_verifier: String::new(),
                browser_hash: pending.browser_hash,
                user_id: Some(user.id),
                subject,
                created_at: now,
                expires_at: later(now, HANDOFF_TTL),
            })
            .await
            .map_err(|e| ("store".to_owned(), Error::from(e)))?;
        Ok((handoff, user.id))
    }

    /// The account a verified subject is: linked before, matched, or created.
    async fn resolve_account(
        &self,
        p: &ProviderConfig,
        subject: &str,
        raw: &serde_json::Map<String, serde_json::Value>,
    ) -> std::result::Result<User, (String, Error)> {
        let store_err = |e: enclave_store::Error| ("store".to_owned(), Error::from(e));
        if let Some(link) = self
            .store
            .external_identity(&p.id, subject)
            .await
            .map_err(store_err)?
        {
            return self
                .store
                .user(link.user_id)
                .await
                .map_err(store_err)?
                .ok_or_else(|| ("linked account gone".to_owned(), failed("no such account")));
        }
        let email = claim_str(raw, "email").map(|e| e.trim().to_lowercase());
        let verified = raw
            .get("email_verified")
            .and_then(|v| v.as_bool().or_else(|| v.as_str().map(|s| s == "true")))
            .unwrap_or(false);
        let email_usable = email.is_some() && (verified || !p.require_email_verified);
        let username_claim = claim_str(raw, &p.username_claim);
        let matched = match p.link_by {
            LinkBy::Email if email_usable => {
                let e = email.clone().unwrap_or_default();
                self.store
                    .user_credentials(&e)
                    .await
                    .map_err(store_err)?
                    .map(|(u, _)| u)
                    .filter(|u| {
                        u.email
                            .as_deref()
                            .is_some_and(|m| m.eq_ignore_ascii_case(&e))
                    })
            }
            LinkBy::Username => match &username_claim {
                Some(name) => self
                    .store
                    .users_by_usernames(std::slice::from_ref(&name.trim().to_lowercase()))
                    .await
                    .map_err(store_err)?
                    .into_iter()
                    .next(),
                None => None,
            },
            _ => None,
        };
        let (user, created) = match matched {
            Some(u) if u.is_bot => {
                return Err(("bot account".into(), failed("bots cannot sign in this way")));
            }
            Some(u) => (u, false),
            None if p.auto_create => {
                // `user_created` (in the account's transaction) names the provider.
                let u = AuditSource::new("single sign-on", p.id.clone())
                    .scope(self.create_account(
                        p,
                        subject,
                        raw,
                        email_usable.then_some(email).flatten(),
                    ))
                    .await?;
                (u, true)
            }
            None => {
                return Err((
                    "no linked account and auto-create off".into(),
                    failed("no account is linked to this sign-in; ask an administrator"),
                ));
            }
        };
        let now = Millis::now();
        let linked = self
            .store
            .link_external_identity(ExternalIdentity {
                provider: p.id.clone(),
                subject: subject.to_owned(),
                user_id: user.id,
                email: claim_str(raw, "email"),
                created_at: now,
                last_login_at: now,
            })
            .await
            .map_err(store_err)?;
        if linked {
            self.audit
                .record(
                    AuditRecord::new(AuditAction::IdentityLinked)
                        .target(AuditTarget::user(user.id))
                        .summary(
                            AuditSummary::new()
                                .fact("provider", &p.id)
                                .fact("subject", subject)
                                .fact("created", created)
                                .fact(
                                    "matched_by",
                                    if created {
                                        "new account"
                                    } else {
                                        match p.link_by {
                                            LinkBy::Email => "email",
                                            LinkBy::Username => "username",
                                            LinkBy::None => "none",
                                        }
                                    },
                                ),
                        ),
                )
                .await;
            Ok(user)
        } else {
            // Another node linked the same subject at the same moment: use its link.
            let link = self
                .store
                .external_identity(&p.id, subject)
                .await
                .map_err(store_err)?
                .ok_or_else(|| ("link race".to_owned(), failed("try again")))?;
            self.store
                .user(link.user_id)
                .await
                .map_err(store_err)?
                .ok_or_else(|| ("linked account gone".to_owned(), failed("no such account")))
        }
    }

    async fn create_account(
        &self,
        p: &ProviderConfig,
        subject: &str,
        raw: &serde_json::Map<String, serde_json::Value>,
        email: Option<String>,
    ) -> std::result::Result<User, (String, Error)> {
        let base = claim_str(raw, &p.username_claim)
            .or_else(|| {
                email
                    .as_deref()
                    .and_then(|e| e.split('@').next())
                    .map(str::to_owned)
            })
            .map(|s| username_from(&s))
            .filter(|s| validate::username(s).is_ok())
            .unwrap_or_else(|| format!("sso-{}", &sha_hex(subject)[..10]));
        let display = claim_str(raw, "name").filter(|n| validate::display_name(n).is_ok());
        // An e-mail already used by another account is left out rather than refusing the
        // sign-in (linking by it was not allowed).
        let email = match email {
            Some(e) if validate::email(&e).is_ok() => match self.store.user_credentials(&e).await {
                Ok(None) => Some(e),
                _ => None,
            },
            _ => None,
        };
        for n in 0..20u32 {
            let username = if n == 0 {
                base.clone()
            } else {
                let mut b = base.clone();
                b.truncate(28);
                format!("{b}{}", n + 1)
            };
            let made = self
                .accounts
                .create_user(
                    None,
                    CreateUser {
                        username,
                        display_name: display.clone(),
                        email: email.clone(),
                        origin: Some("single sign-on"),
                        ..CreateUser::default()
                    },
                )
                .await;
            match made {
                Ok(u) => return Ok(u),
                Err(Error::Domain(DomainError::Conflict(_))) => continue,
                Err(e) => return Err(("creating the account".into(), e)),
            }
        }
        Err((
            "no free username".into(),
            failed("no free username for the new account"),
        ))
    }

    /// Sets roles and departments from the group claim (errors are logged, not fatal).
    async fn apply_groups(
        &self,
        p: &ProviderConfig,
        user: &User,
        raw: &serde_json::Map<String, serde_json::Value>,
    ) {
        let Some(claim) = &p.groups_claim else { return };
        let groups: BTreeSet<String> = match raw.get(claim) {
            Some(serde_json::Value::Array(a)) => a
                .iter()
                .filter_map(|v| v.as_str().map(str::to_owned))
                .take(1000)
                .collect(),
            Some(serde_json::Value::String(s)) => std::iter::once(s.clone()).collect(),
            _ => BTreeSet::new(),
        };
        if !p.group_roles.is_empty() && !user.is_guest {
            let mut names: BTreeSet<String> = std::iter::once("member".to_owned()).collect();
            for g in &groups {
                if let Some(r) = p.group_roles.get(g) {
                    names.extend(r.iter().cloned());
                }
            }
            let wanted: Vec<String> = names.into_iter().collect();
            let current = self.roles.of_user(&SYSTEM, user.id).await;
            let same = current.as_ref().is_ok_and(|h| {
                let mut have: Vec<String> = Vec::new();
                if h.user.is_admin {
                    have.push("system_admin".into());
                }
                if h.user.member_role {
                    have.push("member".into());
                }
                have.extend(h.custom.iter().map(|r| r.id.to_string()));
                have.sort();
                have == wanted
            });
            if !same {
                // The role service records `role_changed` in the change's own transaction.
                let via = vec![("provider", p.id.clone()), ("by", GROUP_MAPPING.to_owned())];
                match self
                    .roles
                    .set_user_roles_via(&SYSTEM, user.id, &wanted, via)
                    .await
                {
                    Ok(_) => {}
                    Err(e) => {
                        tracing::warn!(provider = %p.id, user_id = %user.id, error = %e, "SSO role mapping failed");
                    }
                }
            }
        }
        let placements: Vec<Placement> = groups
            .iter()
            .filter_map(|g| p.group_departments.get(g))
            .map(|path| Placement {
                path: path
                    .split('/')
                    .map(|s| s.trim().to_owned())
                    .filter(|s| !s.is_empty())
                    .collect(),
                title: String::new(),
                is_head: false,
            })
            .collect();
        if !placements.is_empty()
            && let Err(e) = self
                .departments
                .apply_membership(&SYSTEM, user.id, &placements, false)
                .await
        {
            tracing::warn!(provider = %p.id, user_id = %user.id, error = %e, "SSO department mapping failed");
        }
    }

    /// Step 3: the one-time code from the callback, from the browser that started the sign-in,
    /// for a verified identity (throttled, active account, audited).
    pub async fn exchange(
        &self,
        code: &str,
        browser_secret: Option<&str>,
        ip: IpAddr,
    ) -> Result<VerifiedIdentity> {
        if code.is_empty() || code.len() > MAX_SECRET {
            self.audit_failure("", None, ip, "malformed one-time code")
                .await;
            return Err(failed("the one-time sign-in code is unknown or used"));
        }
        let taken = self
            .store
            .sso_take_pending(&sha_hex(code), SsoPendingKind::Handoff)
            .await?;
        let Some(h) = taken else {
            self.audit_failure("", None, ip, "unknown or used one-time code")
                .await;
            return Err(failed("the one-time sign-in code is unknown or used"));
        };
        let browser_ok = browser_secret
            .filter(|b| b.len() <= MAX_SECRET)
            .is_some_and(|b| sha_hex(b) == h.browser_hash);
        if h.expires_at < Millis::now() || !browser_ok {
            self.audit_failure(
                &h.provider,
                h.user_id,
                ip,
                "expired code or another browser",
            )
            .await;
            return Err(failed("the one-time sign-in code is unknown or used"));
        }
        let Some(user_id) = h.user_id else {
            return Err(failed("the one-time sign-in code is unknown or used"));
        };
        let assertion = OidcAssertion {
            user_id,
            provider: h.provider,
            subject: h.subject,
        };
        self.accounts
            .verify_credential(Proof::Oidc(&assertion), ip)
            .await
    }

    /// Where to send the browser to end its session at the provider (RP-initiated logout), for
    /// providers that publish an `end_session_endpoint`.
    pub async fn logout_url(&self, id: &str) -> Result<Option<url::Url>> {
        let p = self.provider(id)?;
        let m = self.metadata(p).await?;
        let Some(end) = m.additional_metadata().end_session_endpoint.clone() else {
            return Ok(None);
        };
        let mut req = LogoutRequest::from(end).set_client_id(ClientId::new(p.client_id.clone()));
        if let Some(base) = &self.config.public_url
            && let Ok(back) = PostLogoutRedirectUrl::new(base.as_str().to_owned())
        {
            req = req.set_post_logout_redirect_uri(back);
        }
        Ok(Some(req.http_get_url()))
    }

    /// Every provider's state, for administrators (`refresh`: run discovery now).
    pub async fn status(&self, actor: &Actor, refresh: bool) -> Result<Vec<ProviderStatus>> {
        if !actor.may(SitePermission::ManageUsers) {
            return Err(Error::Domain(DomainError::Forbidden(
                "single sign-on status needs the right to manage users",
            )));
        }
        if refresh {
            self.metadata.lock().clear();
            for p in &self.config.providers {
                let _ = self.metadata(p).await;
            }
        }
        let counts: HashMap<String, u64> = self
            .store
            .external_identity_counts()
            .await?
            .into_iter()
            .collect();
        let health = self.health.lock().clone();
        Ok(self
            .config
            .providers
            .iter()
            .map(|p| {
                let h = health.get(&p.id).cloned().unwrap_or_default();
                ProviderStatus {
                    id: p.id.clone(),
                    label: p.label.clone(),
                    issuer: p.issuer.clone(),
                    discovery_ok: h.ok,
                    last_checked: h.checked,
                    last_error: h.error,
                    last_sign_in: h.last_sign_in,
                    linked_users: counts.get(&p.id).copied().unwrap_or(0),
                    end_session: h.end_session,
                }
            })
            .collect())
    }

    async fn audit_failure(&self, provider: &str, user: Option<UserId>, ip: IpAddr, reason: &str) {
        let mut r = AuditRecord::new(AuditAction::SignInFailed).ip(ip).summary(
            AuditSummary::new()
                .fact("credential", "oidc")
                .fact("provider", provider)
                .fact("reason", reason),
        );
        if let Some(u) = user {
            r = r.target(AuditTarget::user(u));
        }
        self.audit.record(r).await;
    }
}

fn discovery_error<E: std::error::Error>(e: &openidconnect::DiscoveryError<E>) -> String {
    use openidconnect::DiscoveryError as D;
    match e {
        D::Request(inner) => inner.to_string(),
        D::Response(status, _, msg) => format!("HTTP {status}: {msg}"),
        D::Parse(p) => format!("the discovery document is not valid: {p}"),
        D::Validation(v) => format!("the discovery document is not valid: {v}"),
        D::UrlParse(u) => format!("bad URL: {u}"),
        D::Other(o) => o.clone(),
        _ => "discovery failed".into(),
    }
}

fn token_error<RE: std::error::Error, T: openidconnect::ErrorResponse>(
    e: &openidconnect::RequestTokenError<RE, T>,
) -> String {
    use openidconnect::RequestTokenError as R;
    match e {
        R::ServerResponse(r) => format!("token endpoint refused: {r}"),
        R::Request(inner) => format!("token request failed: {inner}"),
        R::Parse(p, _) => format!("token response not valid: {p}"),
        R::Other(o) => format!("token request failed: {o}"),
    }
}

/// The claims of a compact JWS, without checking anything (call only after verification).
fn raw_claims(jwt: &str) -> Option<serde_json::Map<String, serde_json::Value>> {
    let payload = jwt.split('.').nth(1)?;
    let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(payload.trim_end_matches('='))
        .ok()?;
    serde_json::from_slice(&bytes).ok()
}

fn claim_str(raw: &serde_json::Map<String, serde_json::Value>, name: &str) -> Option<String> {
    raw.get(name)
        .and_then(|v| v.as_str())
        .map(str::trim)
        .filter(|s| !s.is_empty() && s.len() <= 254)
        .map(str::to_owned)
}

/// A username made from a claim: lower case, letters, digits, `.`, `_` and `-` kept, others
/// dropped, at most 32 characters.
fn username_from(s: &str) -> String {
    let s = s.split('@').next().unwrap_or(s);
    s.to_lowercase()
        .chars()
        .filter(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-'))
        .take(32)
        .collect()
}

impl From<OutboundError> for Error {
    fn from(e: OutboundError) -> Self {
        Error::internal(e.to_string())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn usernames_from_claims() {
        assert_eq!(username_from("Alice.Smith@example.org"), "alice.smith");
        assert_eq!(username_from("张三 zhang"), "zhang");
        assert_eq!(username_from(&"x".repeat(50)).len(), 32);
    }

    #[test]
    fn raw_claims_reads_the_payload() {
        let payload = base64::engine::general_purpose::URL_SAFE_NO_PAD
            .encode(br#"{"sub":"1","groups":["a"]}"#);
        let m = raw_claims(&format!("h.{payload}.s")).unwrap_or_default();
        assert_eq!(claim_str(&m, "sub").as_deref(), Some("1"));
        assert!(raw_claims("nonsense").is_none());
    }
}
