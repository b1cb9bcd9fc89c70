//! WebAuthn security keys and passkeys as a second factor (`webauthn-rs`'s `securitykey_*`
//! ceremonies: a key proves possession after a password, it never signs in alone). Several
//! named keys per account ([`signin::MAX_WEBAUTHN_KEYS`]); registering and removing one needs
//! the account holder's password or a current code, like turning the second factor off.
//!
//! Each ceremony's state is kept in the database (`webauthn_ceremonies`), so that a cluster node
//! may finish what another started: a registration by a random id, a sign-in by the hash of its
//! challenge token. Checking a key at sign-in is [`Accounts::check_webauthn`], called by the
//! second step of `signin.rs`; the rules are `enclave_core::signin`.

use base64::Engine;
use enclave_core::audit::{AuditAction, AuditSummary, AuditTarget};
use enclave_core::signin::{self, WebAuthnCeremony};
use enclave_core::{Actor, Error as DomainError, Millis, User, UserId};
use enclave_store::{WebAuthnCeremonyState, WebAuthnKey};
use sha2::{Digest, Sha256};
use webauthn_rs::prelude::{
    PublicKeyCredential, RegisterPublicKeyCredential, SecurityKey, SecurityKeyAuthentication,
    SecurityKeyRegistration, Url, Uuid, Webauthn, WebauthnBuilder,
};

use super::{Accounts, Reauth};
use crate::ErrorCode;
use crate::audit::AuditRecord;
use crate::error::{Error, Result};

/// The relying party WebAuthn credentials are bound to (`[webauthn]` in the configuration).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WebAuthnConfig {
    /// The relying-party id: the domain people open Enclave at (or a parent domain of it).
    pub rp_id: String,
    /// The name authenticators show.
    pub rp_name: String,
    /// The origin people open Enclave at, e.g. `https://chat.example.org`.
    pub origin: Url,
    /// Accept the origin on any port (for an origin derived as `localhost` from a listen
    /// address whose port is chosen at start, such as `127.0.0.1:0`).
    pub any_port: bool,
}

impl Default for WebAuthnConfig {
    fn default() -> Self {
        WebAuthnConfig {
            rp_id: "localhost".into(),
            rp_name: "Enclave".into(),
            origin: Url::parse("http://localhost:8080").unwrap_or_else(|_| unreachable!()),
            any_port: false,
        }
    }
}

impl WebAuthnConfig {
    /// The relying party, or why the configuration cannot be one (the origin's host must be the
    /// relying-party id or below it).
    pub fn relying_party(&self) -> Result<Webauthn, String> {
        WebauthnBuilder::new(&self.rp_id, &self.origin)
            .map_err(|_| {
                format!(
                    "the origin {} is not on the relying-party id {:?} (its host must be that domain or below it)",
                    self.origin, self.rp_id
                )
            })?
            .rp_name(&self.rp_name)
            .allow_any_port(self.any_port)
            .build()
            .map_err(|e| format!("WebAuthn relying party: {e}"))
    }
}

/// A key just registered, with the recovery codes issued beside it (empty unless the key is
/// the account's first second factor).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WebAuthnRegistered {
    pub key: WebAuthnKeyInfo,
    pub recovery_codes: Vec<String>,
}

/// A registered security key, as its owner sees it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WebAuthnKeyInfo {
    pub id: i64,
    pub name: String,
    pub created_at: Millis,
    pub last_used_at: Option<Millis>,
}

impl From<&WebAuthnKey> for WebAuthnKeyInfo {
    fn from(k: &WebAuthnKey) -> Self {
        WebAuthnKeyInfo {
            id: k.id,
            name: k.name.clone(),
            created_at: k.created_at,
            last_used_at: k.last_used_at,
        }
    }
}

/// A registration in progress: the id to finish it with and the options for the browser's
/// `navigator.credentials.create` (`{"publicKey": ...}`, binary fields in base64url).
#[derive(Debug, Clone)]
pub struct WebAuthnRegistration {
    pub id: String,
    pub options: serde_json::Value,
    pub expires_at: Millis,
}

/// `webauthn_invalid`: the credential is not one (not JSON of the expected shape).
fn invalid() -> Error {
    Error::refused(
        ErrorCode::WebauthnInvalid,
        "the WebAuthn credential is malformed: send the browser's PublicKeyCredential as JSON, binary fields in base64url",
    )
}

/// `webauthn_refused`: the authenticator's answer failed a check.
pub(super) fn refused() -> Error {
    Error::refused(
        ErrorCode::WebauthnRefused,
        "the security key's answer was refused (wrong challenge, relying party or origin, a bad signature, a replay, or an unknown key)",
    )
}

fn not_found() -> Error {
    Error::refused(
        ErrorCode::WebauthnNotFound,
        "no such security key or registration of this account (unknown, expired or another account's)",
    )
}

/// The WebAuthn user handle of an account: stable, and not its id or name in the clear.
fn user_handle(user_id: UserId) -> Uuid {
    let mut h = Sha256::new();
    h.update(b"enclave webauthn user\0");
    h.update(user_id.0.to_be_bytes());
    let d: [u8; 32] = h.finalize().into();
    let mut b = [0u8; 16];
    b.copy_from_slice(&d[..16]);
    uuid_v8(b)
}

/// A UUID of version 8 (custom) from 16 bytes.
fn uuid_v8(mut b: [u8; 16]) -> Uuid {
    b[6] = (b[6] & 0x0f) | 0x80;
    b[8] = (b[8] & 0x3f) | 0x80;
    Uuid::from_bytes(b)
}

fn b64url(bytes: &[u8]) -> String {
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
}

/// The id of the sign-in ceremony that belongs to the challenge with this token hash.
pub(super) fn signin_ceremony_id(token_hash: &[u8; 32]) -> String {
    let mut s = String::with_capacity(64);
    for b in token_hash {
        s.push_str(&format!("{b:02x}"));
    }
    s
}

fn json<T: serde::Serialize>(v: &T) -> Result<String> {
    serde_json::to_string(v).map_err(|e| Error::internal(format!("WebAuthn state: {e}")))
}

fn parse_credential<T: serde::de::DeserializeOwned>(raw: &str) -> Result<T> {
    if raw.len() > signin::MAX_WEBAUTHN_CREDENTIAL_BYTES {
        return Err(invalid());
    }
    serde_json::from_str(raw).map_err(|_| invalid())
}

/// The stored keys that `webauthn-rs` can read, with their rows.
fn readable_keys(rows: &[WebAuthnKey]) -> Vec<(&WebAuthnKey, SecurityKey)> {
    rows.iter()
        .filter_map(|row| match serde_json::from_str::<SecurityKey>(&row.credential) {
            Ok(k) => Some((row, k)),
            Err(e) => {
                tracing::warn!(key = row.id, error = %e, "unreadable WebAuthn credential skipped");
                None
            }
        })
        .collect()
}

impl Accounts {
    /// The relying party; a `conflict` when security keys are off on this server.
    fn relying_party(&self) -> Result<&Webauthn> {
        self.webauthn
            .as_ref()
            .ok_or(Error::Domain(DomainError::Conflict(
                "security keys are off on this server: its administrator sets [webauthn] origin",
            )))
    }

    /// The caller's security keys, oldest first.
    pub async fn webauthn_keys(&self, actor: &Actor) -> Result<Vec<WebAuthnKeyInfo>> {
        let keys = self.factors.webauthn_keys(actor.user_id).await?;
        Ok(keys.iter().map(WebAuthnKeyInfo::from).collect())
    }

    /// Starts registering a security key for the caller, who proves themselves again first
    /// (counted under the second-factor throttle). Refused with `limit_exceeded` when the
    /// account holds [`signin::MAX_WEBAUTHN_KEYS`] keys.
    pub async fn begin_webauthn_registration(
        &self,
        actor: &Actor,
        proof: Reauth<'_>,
        ip: std::net::IpAddr,
    ) -> Result<WebAuthnRegistration> {
        let user = self.require_user(actor.user_id).await?;
        self.relying_party()?;
        let keys = self.factors.webauthn_keys(user.id).await?;
        signin::check_webauthn_key_limit(keys.len())?;
        self.reauthenticate(&user, proof, ip).await?;
        self.begin_webauthn_registration_for(&user).await
    }

    /// Starts registering a security key for `user`, whose identity the caller has checked
    /// (re-authentication in the settings, or the first sign-in step of an enrol-only
    /// challenge). Refused with `limit_exceeded` at [`signin::MAX_WEBAUTHN_KEYS`] keys.
    pub(super) async fn begin_webauthn_registration_for(
        &self,
        user: &User,
    ) -> Result<WebAuthnRegistration> {
        let rp = self.relying_party()?;
        let keys = self.factors.webauthn_keys(user.id).await?;
        signin::check_webauthn_key_limit(keys.len())?;
        // The keys the account has already: the authenticator refuses to register one twice.
        let exclude: Vec<_> = readable_keys(&keys)
            .into_iter()
            .map(|(_, k)| k.cred_id().clone())
            .collect();
        let display = if user.display_name.is_empty() {
            user.username.as_str()
        } else {
            user.display_name.as_str()
        };
        let (options, state) = rp
            .start_securitykey_registration(
                user_handle(user.id),
                &user.username,
                display,
                Some(exclude),
                None,
                None,
            )
            .map_err(|e| Error::internal(format!("WebAuthn registration: {e}")))?;
        let id_bytes: [u8; 18] = super::second_factor::random_bytes()?;
        let id = format!("wr_{}", b64url(&id_bytes));
        let expires_at = Millis(Millis::now().0 + signin::WEBAUTHN_CEREMONY_TTL_SECS * 1000);
        self.factors
            .put_webauthn_ceremony(WebAuthnCeremonyState {
                id: id.clone(),
                user_id: user.id,
                kind: WebAuthnCeremony::Registration.as_str().into(),
                state: json(&state)?,
                expires_at,
            })
            .await?;
        let options = serde_json::to_value(&options)
            .map_err(|e| Error::internal(format!("WebAuthn options: {e}")))?;
        Ok(WebAuthnRegistration {
            id,
            options,
            expires_at,
        })
    }

    /// Finishes the caller's registration `id` with the browser's answer (`credential`, the
    /// `PublicKeyCredential` as JSON) and names the key. The registration is used up whatever
    /// the outcome; a malformed answer is `webauthn_invalid` and changes nothing, one that
    /// fails a check is `webauthn_refused`. When the key is the account's first second factor,
    /// ten recovery codes come with it (shown once), as with an authenticator app: a lost key
    /// must not lock its holder out.
    pub async fn finish_webauthn_registration(
        &self,
        actor: &Actor,
        id: &str,
        name: &str,
        credential: &str,
    ) -> Result<WebAuthnRegistered> {
        let user = self.require_user(actor.user_id).await?;
        self.finish_webauthn_registration_for(&user, id, name, credential)
            .await
    }

    /// Finishes `user`'s registration `id` (see [`Accounts::finish_webauthn_registration`]).
    pub(super) async fn finish_webauthn_registration_for(
        &self,
        user: &User,
        id: &str,
        name: &str,
        credential: &str,
    ) -> Result<WebAuthnRegistered> {
        let name = signin::webauthn_key_name(name)?;
        let answer: RegisterPublicKeyCredential = parse_credential(credential)?;
        if !id.starts_with("wr_") || id.len() > 64 {
            return Err(not_found());
        }
        let ceremony = self
            .factors
            .take_webauthn_ceremony(
                id.to_owned(),
                user.id,
                WebAuthnCeremony::Registration.as_str().into(),
                Millis::now(),
            )
            .await?
            .ok_or_else(not_found)?;
        let state: SecurityKeyRegistration = serde_json::from_str(&ceremony.state)
            .map_err(|e| Error::internal(format!("WebAuthn registration state: {e}")))?;
        let key = match self
            .relying_party()?
            .finish_securitykey_registration(&answer, &state)
        {
            Ok(k) => k,
            Err(e) => {
                tracing::info!(user_id = %user.id, error = %e, "WebAuthn registration refused");
                return Err(refused());
            }
        };
        let row = self
            .factors
            .add_webauthn_key(
                user.id,
                name.clone(),
                b64url(key.cred_id()),
                json(&key)?,
                signin::MAX_WEBAUTHN_KEYS,
            )
            .await?;
        let Some(row) = row else {
            // Another registration finished first and reached the limit.
            return Err(signin::check_webauthn_key_limit(signin::MAX_WEBAUTHN_KEYS)
                .map_err(Error::Domain)
                .err()
                .unwrap_or_else(|| Error::internal("key limit")));
        };
        self.audit
            .record(
                AuditRecord::new(AuditAction::SecondFactorEnrolled)
                    .by(user.id)
                    .target(AuditTarget::user(user.id))
                    .summary(
                        AuditSummary::new()
                            .fact("method", "webauthn")
                            .fact("key", name),
                    ),
            )
            .await;
        let factors = self.factors_of(user.id).await?;
        let first_factor = !factors.totp && factors.keys == 1;
        let recovery_codes = if first_factor {
            self.issue_recovery_codes(user.id).await?
        } else {
            Vec::new()
        };
        Ok(WebAuthnRegistered {
            key: WebAuthnKeyInfo::from(&row),
            recovery_codes,
        })
    }

    /// Renames one of the caller's keys.
    pub async fn rename_webauthn_key(
        &self,
        actor: &Actor,
        id: i64,
        name: &str,
    ) -> Result<WebAuthnKeyInfo> {
        let name = signin::webauthn_key_name(name)?;
        if !self
            .factors
            .rename_webauthn_key(actor.user_id, id, name)
            .await?
        {
            return Err(not_found());
        }
        let keys = self.factors.webauthn_keys(actor.user_id).await?;
        keys.iter()
            .find(|k| k.id == id)
            .map(WebAuthnKeyInfo::from)
            .ok_or_else(not_found)
    }

    /// Removes one of the caller's keys, who proves themselves again first.
    pub async fn remove_webauthn_key(
        &self,
        actor: &Actor,
        id: i64,
        proof: Reauth<'_>,
        ip: std::net::IpAddr,
    ) -> Result<()> {
        let user = self.require_user(actor.user_id).await?;
        let keys = self.factors.webauthn_keys(user.id).await?;
        let Some(key) = keys.iter().find(|k| k.id == id) else {
            return Err(not_found());
        };
        self.reauthenticate(&user, proof, ip).await?;
        if !self.factors.remove_webauthn_key(user.id, id).await? {
            return Err(not_found());
        }
        self.drop_recovery_codes_without_factor(user.id).await?;
        self.audit
            .record(
                AuditRecord::new(AuditAction::SecondFactorRemoved)
                    .by(user.id)
                    .target(AuditTarget::user(user.id))
                    .summary(
                        AuditSummary::new()
                            .fact("method", "webauthn")
                            .fact("key", key.name.clone()),
                    ),
            )
            .await;
        Ok(())
    }

    /// Starts the WebAuthn half of a sign-in challenge (with the hash `token_hash`) for `user`:
    /// the options for `navigator.credentials.get`, or `None` when the account has no key
    /// that can be used.
    pub(super) async fn begin_webauthn_signin(
        &self,
        user: &User,
        token_hash: &[u8; 32],
        expires_at: Millis,
    ) -> Result<Option<serde_json::Value>> {
        let Some(rp) = self.webauthn.as_ref() else {
            return Ok(None);
        };
        let rows = self.factors.webauthn_keys(user.id).await?;
        let keys: Vec<SecurityKey> = readable_keys(&rows).into_iter().map(|(_, k)| k).collect();
        if keys.is_empty() {
            return Ok(None);
        }
        let (options, state) = rp
            .start_securitykey_authentication(&keys)
            .map_err(|e| Error::internal(format!("WebAuthn authentication: {e}")))?;
        self.factors
            .put_webauthn_ceremony(WebAuthnCeremonyState {
                id: signin_ceremony_id(token_hash),
                user_id: user.id,
                kind: WebAuthnCeremony::Authentication.as_str().into(),
                state: json(&state)?,
                expires_at,
            })
            .await?;
        Ok(Some(serde_json::to_value(&options).map_err(|e| {
            Error::internal(format!("WebAuthn options: {e}"))
        })?))
    }

    /// Checks the browser's assertion (`credential`, parsed already) against the sign-in
    /// ceremony of the challenge with hash `token_hash`: the challenge, relying party, origin,
    /// signature and signature counter. On success the key's counter and last use are stored
    /// (compare-and-set, so one assertion passes once) and the ceremony is used up. `false` when
    /// any check fails; nothing changes then.
    pub(super) async fn check_webauthn(
        &self,
        user: &User,
        token_hash: &[u8; 32],
        assertion: &PublicKeyCredential,
    ) -> Result<bool> {
        let Some(rp) = self.webauthn.as_ref() else {
            return Ok(false);
        };
        let id = signin_ceremony_id(token_hash);
        let kind = WebAuthnCeremony::Authentication.as_str().to_owned();
        let Some(ceremony) = self
            .factors
            .webauthn_ceremony(id.clone(), user.id, kind.clone(), Millis::now())
            .await?
        else {
            return Ok(false);
        };
        let state: SecurityKeyAuthentication = serde_json::from_str(&ceremony.state)
            .map_err(|e| Error::internal(format!("WebAuthn authentication state: {e}")))?;
        let result = match rp.finish_securitykey_authentication(assertion, &state) {
            Ok(r) => r,
            Err(e) => {
                tracing::info!(user_id = %user.id, error = %e, "WebAuthn assertion refused");
                return Ok(false);
            }
        };
        let rows = self.factors.webauthn_keys(user.id).await?;
        let Some((row, mut key)) = readable_keys(&rows)
            .into_iter()
            .find(|(_, k)| k.cred_id() == result.cred_id())
        else {
            return Ok(false);
        };
        key.update_credential(&result);
        if !self
            .factors
            .use_webauthn_key(user.id, row.id, row.credential.clone(), json(&key)?)
            .await?
        {
            return Ok(false);
        }
        self.factors
            .take_webauthn_ceremony(id, user.id, kind, Millis::now())
            .await?;
        Ok(true)
    }
}

/// Parses a sign-in assertion (the browser's `PublicKeyCredential` as JSON); a malformed one
/// is `webauthn_invalid`.
pub(super) fn parse_assertion(raw: &str) -> Result<PublicKeyCredential> {
    parse_credential(raw)
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn the_default_relying_party_is_localhost() {
        WebAuthnConfig::default().relying_party().unwrap();
        let wrong = WebAuthnConfig {
            rp_id: "example.org".into(),
            ..WebAuthnConfig::default()
        };
        assert!(wrong.relying_party().is_err());
    }

    #[test]
    fn user_handles_are_stable_and_distinct() {
        assert_eq!(user_handle(UserId(7)), user_handle(UserId(7)));
        assert_ne!(user_handle(UserId(7)), user_handle(UserId(8)));
    }

    #[test]
    fn malformed_credentials_are_webauthn_invalid() {
        for raw in ["", "{}", "[1,2]", "{\"id\":3}", &"x".repeat(70_000)] {
            let e = parse_assertion(raw).unwrap_err();
            assert_eq!(e.code(), ErrorCode::WebauthnInvalid, "{raw:.20}");
        }
    }
}
