//! Second factors: TOTP enrolment (a secret, its `otpauth://` URI and QR code, confirmed with a
//! code), one-time recovery codes, turning them off, the administrators' reset, and the site
//! policy (stored in the database; the configuration gives its default). Checking a factor at
//! sign-in is step 2 of `signin.rs`; the rules are `enclave_core::signin`.

use enclave_core::audit::{AuditAction, AuditSummary, AuditTarget};
use enclave_core::signin::{self, Policy, Requirement, SecondFactorMethod};
use enclave_core::{Actor, Error as DomainError, Millis, User, UserId};
use sha2::{Digest, Sha256};

use super::Accounts;
use crate::audit::AuditRecord;
use crate::error::{Error, Result};

/// The defaults of the second-factor policy (`[auth]` in the configuration).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SecondFactorConfig {
    /// Whom a second factor is required of until an administrator changes the policy.
    pub require: Requirement,
    pub grace_days: u32,
    /// The issuer name authenticator apps show beside the account.
    pub totp_issuer: String,
}

impl Default for SecondFactorConfig {
    fn default() -> Self {
        SecondFactorConfig {
            require: Requirement::Off,
            grace_days: 7,
            totp_issuer: "Enclave".into(),
        }
    }
}

/// A TOTP enrolment being set up: shown once, confirmed with a code.
#[derive(Clone)]
pub struct TotpSetup {
    /// The secret in base32, for typing into an authenticator app.
    pub secret: String,
    /// `otpauth://totp/...`.
    pub uri: String,
    /// The URI as a QR code, an SVG document.
    pub qr_svg: String,
}

impl std::fmt::Debug for TotpSetup {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TotpSetup").finish_non_exhaustive()
    }
}

/// An account's own second-factor state.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SecondFactorStatus {
    pub totp: bool,
    /// A TOTP enrolment was started and not confirmed.
    pub totp_pending: bool,
    pub recovery_codes_left: u32,
    /// Security keys and passkeys registered.
    pub webauthn_keys: u32,
    /// The site policy requires the account to have a second factor.
    pub required: bool,
    /// When its grace to enrol ends (when required and not enrolled).
    pub enrol_by: Option<Millis>,
    /// The account has a password of its own (local, or its directory's): changes of second
    /// factors ask for it or a code. Without one, a recent sign-in proves the holder.
    pub password: bool,
}

/// What proves the holder of an account when changing its second factors.
#[derive(Debug, Clone, Copy)]
pub enum Reauth<'a> {
    Password(&'a str),
    /// A TOTP code or a recovery code.
    Code(&'a str),
    /// Neither: the session the request came with (`None` for another credential), which
    /// proves an account with no password of its own when it is recent
    /// ([`signin::recent_sign_in_proves`]).
    RecentSignIn(Option<enclave_core::TokenId>),
}

/// The second factors an account has (those recovery codes stand in for).
#[derive(Debug, Clone, Copy)]
pub(super) struct Factors {
    /// A confirmed authenticator app.
    pub totp: bool,
    /// Security keys registered.
    pub keys: usize,
}

impl Factors {
    pub fn any(self) -> bool {
        self.totp || self.keys > 0
    }
}

/// An account with a second factor, for the administrators' page.
#[derive(Debug, Clone)]
pub struct Enrolled {
    pub user: User,
    /// When the authenticator app was set up (`None`: security keys only).
    pub totp_since: Option<Millis>,
    pub recovery_codes_left: u32,
    pub webauthn_keys: u32,
}

/// The HKDF label of the key TOTP secrets are sealed under (derived from each file master key).
pub const TOTP_SECRET_LABEL: &str = "enclave totp secret v1";
/// The start of a sealed secret as stored: `ETS1 ‖ key id length (1 byte) ‖ key id ‖ nonce ‖
/// ciphertext ‖ tag`.
const SEALED_MAGIC: &[u8; 4] = b"ETS1";
/// The shortest sealed value (a one-byte key id, nonce and tag). Secrets stored in the clear
/// by older versions are 20 bytes, so they are never taken for sealed ones.
const SEALED_MIN: usize = SEALED_MAGIC.len() + 1 + 1 + 12 + 16;

/// Seals TOTP secrets at rest under a key derived from the file master key, with the key's id
/// beside the sealed value (so older keys kept after a rotation still open it) and the account
/// id as associated data (so a sealed secret copied to another account does not open).
#[derive(Clone, Debug)]
pub struct TotpSealer {
    keys: enclave_files::DerivedKeys,
}

/// A stored secret: sealed, or in the clear (written by an older version).
#[derive(Debug, PartialEq, Eq)]
enum Stored {
    Sealed(enclave_files::SealedValue),
    Clear,
}

fn parse_stored(stored: &[u8]) -> Stored {
    if stored.len() >= SEALED_MIN
        && let Some(rest) = stored.strip_prefix(SEALED_MAGIC)
        && let Some((&len, rest)) = rest.split_first()
        && rest.len() > usize::from(len)
        && let Ok(key_id) = std::str::from_utf8(&rest[..usize::from(len)])
    {
        return Stored::Sealed(enclave_files::SealedValue {
            key_id: key_id.to_owned(),
            bytes: rest[usize::from(len)..].to_vec(),
        });
    }
    Stored::Clear
}

fn account_aad(user_id: UserId) -> Vec<u8> {
    let mut aad = b"account ".to_vec();
    aad.extend_from_slice(&user_id.0.to_be_bytes());
    aad
}

impl TotpSealer {
    /// The sealer with keys derived from `ring` (its current key seals; all of them open).
    pub fn new(ring: &enclave_files::KeyRing) -> Self {
        TotpSealer {
            keys: ring.derive(TOTP_SECRET_LABEL),
        }
    }

    /// The secret of `user_id` sealed for storing.
    pub fn seal(&self, user_id: UserId, secret: &[u8]) -> Vec<u8> {
        let sealed = self.keys.seal(&account_aad(user_id), secret);
        let id = sealed.key_id.as_bytes();
        let mut out = Vec::with_capacity(SEALED_MAGIC.len() + 1 + id.len() + sealed.bytes.len());
        out.extend_from_slice(SEALED_MAGIC);
        // Key ids are at most 64 bytes (`KeyRing::new`).
        out.push(u8::try_from(id.len()).expect("key ids are at most 64 bytes"));
        out.extend_from_slice(id);
        out.extend_from_slice(&sealed.bytes);
        out
    }

    /// The secret of `user_id` from its stored form (sealed, or in the clear from an older
    /// version).
    pub fn open(&self, user_id: UserId, stored: &[u8]) -> Result<Vec<u8>> {
        match parse_stored(stored) {
            Stored::Clear => Ok(stored.to_vec()),
            Stored::Sealed(sealed) => self
                .keys
                .open(&sealed, &account_aad(user_id))
                .map_err(|e| {
                    tracing::error!(
                        user = user_id.0,
                        error = %e,
                        "cannot open this account's TOTP secret: its master key is not configured (add it to [files] previous_keys, or reset the account's second factor)"
                    );
                    Error::refused(
                        crate::ErrorCode::TotpUnreadable,
                        "this account's authenticator app cannot be checked here: use a recovery code or a security key, or ask an administrator to reset the second factor",
                    )
                }),
        }
    }

    /// Whether the stored form should be sealed anew: in the clear, or under an older key.
    fn needs_sealing(&self, stored: &[u8]) -> bool {
        match parse_stored(stored) {
            Stored::Clear => true,
            Stored::Sealed(s) => s.key_id != self.keys.current_id(),
        }
    }
}

/// Ten characters of a recovery code, shown as `xxxxx-xxxxx`.
const RECOVERY_ALPHABET: &[u8] = b"abcdefghjkmnpqrstuvwxyz23456789";

pub(super) fn recovery_hash(user_id: UserId, code: &str) -> [u8; 32] {
    let mut h = Sha256::new();
    h.update(b"enclave recovery code\0");
    h.update(user_id.0.to_be_bytes());
    h.update(code.as_bytes());
    h.finalize().into()
}

pub(super) fn random_bytes<const N: usize>() -> Result<[u8; N]> {
    let mut b = [0u8; N];
    getrandom::fill(&mut b).map_err(|e| Error::internal(format!("random source failed: {e}")))?;
    Ok(b)
}

/// Ten new recovery codes for `user_id`: the codes to show and the hashes to store.
fn new_recovery_codes(user_id: UserId) -> Result<(Vec<String>, Vec<[u8; 32]>)> {
    let mut shown = Vec::with_capacity(signin::RECOVERY_CODES);
    let mut hashes = Vec::with_capacity(signin::RECOVERY_CODES);
    for _ in 0..signin::RECOVERY_CODES {
        let bytes: [u8; 10] = random_bytes()?;
        // 31 symbols; the modulo bias (256 % 31) is irrelevant at 49 bits per code.
        let code: String = bytes
            .iter()
            .map(|b| char::from(RECOVERY_ALPHABET[usize::from(*b) % RECOVERY_ALPHABET.len()]))
            .collect();
        hashes.push(recovery_hash(user_id, &code));
        shown.push(format!("{}-{}", &code[..5], &code[5..]));
    }
    Ok((shown, hashes))
}

fn totp(secret: &[u8]) -> Result<totp_rs::Totp> {
    totp_rs::Builder::new()
        .with_secret(secret.to_vec())
        .with_digits(6)
        .with_skew(u16::try_from(signin::TOTP_DRIFT_STEPS).unwrap_or(1))
        .with_step_duration(signin::TOTP_STEP_SECS)
        .build()
        .map_err(|e| Error::internal(format!("TOTP: {e}")))
}

fn unix_secs() -> u64 {
    u64::try_from(Millis::now().0 / 1000).unwrap_or(0)
}

/// The step among `candidates` whose code is `code`.
pub(super) fn totp_match(secret: &[u8], code: &str, candidates: &[u64]) -> Result<Option<u64>> {
    let t = totp(secret)?;
    let Some(code) = signin::totp_code(code) else {
        return Ok(None);
    };
    let mut found = None;
    for step in candidates {
        let want = t.generate(step * signin::TOTP_STEP_SECS);
        // Compare every candidate, so timing does not tell which step matched.
        if constant_eq(want.to_string().as_bytes(), code.as_bytes()) && found.is_none() {
            found = Some(*step);
        }
    }
    Ok(found)
}

fn constant_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

fn base32(bytes: &[u8]) -> String {
    const ALPHABET: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZ234567";
    let mut out = String::new();
    let (mut buf, mut bits) = (0u32, 0u32);
    for b in bytes {
        buf = (buf << 8) | u32::from(*b);
        bits += 8;
        while bits >= 5 {
            bits -= 5;
            out.push(char::from(ALPHABET[((buf >> bits) & 31) as usize]));
        }
    }
    if bits > 0 {
        out.push(char::from(ALPHABET[((buf << (5 - bits)) & 31) as usize]));
    }
    out
}

fn uri_escape(s: &str) -> String {
    let mut out = String::new();
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || b"-._~".contains(&b) {
            out.push(char::from(b));
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// The QR code of `text` as an SVG document (one path, a four-module quiet zone).
fn qr_svg(text: &str) -> Result<String> {
    use qrcodegen::{QrCode, QrCodeEcc};
    let qr = QrCode::encode_text(text, QrCodeEcc::Medium)
        .map_err(|e| Error::internal(format!("QR code: {e:?}")))?;
    let border = 4;
    let size = qr.size() + 2 * border;
    let mut path = String::new();
    for y in 0..qr.size() {
        for x in 0..qr.size() {
            if qr.get_module(x, y) {
                path.push_str(&format!("M{},{}h1v1h-1z", x + border, y + border));
            }
        }
    }
    Ok(format!(
        "<svg xmlns=\"http://www.w3.org/2000/svg\" viewBox=\"0 0 {size} {size}\" shape-rendering=\"crispEdges\"><rect width=\"100%\" height=\"100%\" fill=\"#fff\"/><path d=\"{path}\" fill=\"#000\"/></svg>"
    ))
}

impl Accounts {
    /// The site policy: the stored one, or the configuration's default (stored on first use,
    /// so its grace counts from then on every node).
    pub async fn second_factor_policy_now(&self) -> Result<Policy> {
        if let Some(p) = self.factors.second_factor_policy().await? {
            return Ok(p);
        }
        let p = Policy {
            require: self.config.second_factor.require,
            grace_days: self.config.second_factor.grace_days,
            since: Millis::now(),
        };
        self.factors.set_second_factor_policy(p).await?;
        Ok(p)
    }

    /// The methods `user_id` has enrolled (confirmed TOTP; WebAuthn with a security key
    /// registered; recovery codes while any are left, beside either).
    pub(super) async fn enrolled_methods(
        &self,
        user_id: UserId,
    ) -> Result<Vec<SecondFactorMethod>> {
        let factors = self.factors_of(user_id).await?;
        let mut methods = Vec::new();
        if factors.totp {
            methods.push(SecondFactorMethod::Totp);
        }
        if factors.any() && self.factors.recovery_codes_left(user_id).await? > 0 {
            methods.push(SecondFactorMethod::Recovery);
        }
        if factors.keys > 0 {
            methods.push(SecondFactorMethod::WebAuthn);
        }
        Ok(methods)
    }

    /// The second factors recovery codes stand in for: a confirmed authenticator app, and how
    /// many security keys.
    pub(super) async fn factors_of(&self, user_id: UserId) -> Result<Factors> {
        Ok(Factors {
            totp: self
                .factors
                .totp(user_id)
                .await?
                .is_some_and(|t| t.confirmed_at.is_some()),
            keys: self.factors.webauthn_keys(user_id).await?.len(),
        })
    }

    /// Recovery codes stand in for the account's second factors as a whole (an authenticator
    /// app, security keys): they go with the last of them, so that a factor enrolled later
    /// never brings old codes back. Called after a factor is removed.
    pub(super) async fn drop_recovery_codes_without_factor(&self, user_id: UserId) -> Result<()> {
        if !self.factors_of(user_id).await?.any() {
            self.factors
                .replace_recovery_codes(user_id, Vec::new())
                .await?;
        }
        Ok(())
    }

    /// Ten new recovery codes for `user_id`, replacing any it had; the codes to show once.
    pub(super) async fn issue_recovery_codes(&self, user_id: UserId) -> Result<Vec<String>> {
        let (shown, hashes) = new_recovery_codes(user_id)?;
        self.factors.replace_recovery_codes(user_id, hashes).await?;
        Ok(shown)
    }

    /// Whether the policy requires a second factor of `user`, and until when they may enrol.
    pub(super) async fn policy_for(&self, user: &User) -> Result<(bool, Millis)> {
        let policy = self.second_factor_policy_now().await?;
        let by_role = !user.is_guest
            && self
                .roles
                .user_roles(user.id)
                .await?
                .iter()
                .any(|r| r.require_second_factor);
        Ok((policy.requires(user, by_role), policy.grace_ends(user)))
    }

    /// The caller's own second-factor state.
    pub async fn second_factor_status(&self, actor: &Actor) -> Result<SecondFactorStatus> {
        let user = self.require_user(actor.user_id).await?;
        let totp = self.factors.totp(user.id).await?;
        let confirmed = totp.as_ref().is_some_and(|t| t.confirmed_at.is_some());
        let (required, grace) = self.policy_for(&user).await?;
        let keys = u32::try_from(self.factors.webauthn_keys(user.id).await?.len()).unwrap_or(0);
        let enrolled = confirmed || keys > 0;
        Ok(SecondFactorStatus {
            totp: confirmed,
            totp_pending: totp.is_some() && !confirmed,
            recovery_codes_left: if enrolled {
                self.factors.recovery_codes_left(user.id).await?
            } else {
                0
            },
            webauthn_keys: keys,
            required,
            enrol_by: (required && !enrolled).then_some(grace),
            password: self.has_password(&user).await?,
        })
    }

    fn totp_sealer(&self) -> Result<&TotpSealer> {
        self.totp_sealer
            .as_ref()
            .ok_or_else(|| Error::internal("no master key to seal authenticator app secrets with"))
    }

    /// Stores `secret` of `user_id` sealed under the current key when `stored` is in the
    /// clear or under an older key (compare-and-set: a concurrent change wins).
    async fn reseal_totp(
        &self,
        sealer: &TotpSealer,
        user_id: UserId,
        stored: &[u8],
        secret: &[u8],
    ) -> Result<bool> {
        if !sealer.needs_sealing(stored) {
            return Ok(false);
        }
        Ok(self
            .factors
            .totp_replace_secret(user_id, stored.to_vec(), sealer.seal(user_id, secret))
            .await?)
    }

    /// Seals every TOTP secret stored in the clear (by an older version) or under a master key
    /// other than the current one; the server runs it at start. Secrets that do not open (their
    /// key is no longer configured) are logged and left alone. Returns how many were sealed.
    pub async fn seal_totp_secrets(&self) -> Result<u64> {
        let sealer = self.totp_sealer()?;
        let mut sealed = 0;
        for (user_id, stored) in self.factors.totp_secrets().await? {
            if !sealer.needs_sealing(&stored) {
                continue;
            }
            match sealer.open(user_id, &stored) {
                Ok(secret) => {
                    if self.reseal_totp(sealer, user_id, &stored, &secret).await? {
                        sealed += 1;
                    }
                }
                Err(e) => {
                    tracing::warn!(user = user_id.0, error = %e, "cannot open a stored TOTP secret; left as it is");
                }
            }
        }
        Ok(sealed)
    }

    pub(super) async fn require_user(&self, id: UserId) -> Result<User> {
        self.store
            .user(id)
            .await?
            .ok_or(Error::Domain(DomainError::NotFound(
                enclave_core::Entity::User,
            )))
    }

    /// Starts a TOTP enrolment for `user` (a new secret each time, until one is confirmed).
    pub(super) async fn begin_totp_for(&self, user: &User) -> Result<TotpSetup> {
        let secret: [u8; 20] = random_bytes()?;
        let sealed = self.totp_sealer()?.seal(user.id, &secret);
        if !self.factors.totp_begin(user.id, sealed).await? {
            return Err(Error::Domain(DomainError::Conflict(
                "an authenticator app is already set up; turn it off first",
            )));
        }
        let issuer = &self.config.second_factor.totp_issuer;
        let secret = base32(&secret);
        let uri = format!(
            "otpauth://totp/{}:{}?secret={secret}&issuer={}&algorithm=SHA1&digits=6&period=30",
            uri_escape(issuer),
            uri_escape(&user.username),
            uri_escape(issuer),
        );
        let qr_svg = qr_svg(&uri)?;
        Ok(TotpSetup {
            secret,
            uri,
            qr_svg,
        })
    }

    /// Starts setting up an authenticator app for the caller.
    pub async fn begin_totp(&self, actor: &Actor) -> Result<TotpSetup> {
        let user = self.require_user(actor.user_id).await?;
        self.begin_totp_for(&user).await
    }

    /// Confirms a pending enrolment of `user` with a code from the app; returns the ten
    /// recovery codes (shown once). Wrong codes are `Unauthenticated` (counted under the
    /// second-factor throttle by the caller).
    pub(super) async fn confirm_totp_for(&self, user: &User, code: &str) -> Result<Vec<String>> {
        let pending = self
            .factors
            .totp(user.id)
            .await?
            .filter(|t| t.confirmed_at.is_none())
            .ok_or(Error::Domain(DomainError::Conflict(
                "no authenticator app set-up is in progress",
            )))?;
        let secret = self.totp_sealer()?.open(user.id, &pending.secret)?;
        let now = signin::totp_step(unix_secs());
        let step = totp_match(&secret, code, &signin::totp_candidate_steps(now, None))?
            .ok_or(Error::Domain(DomainError::Unauthenticated))?;
        let (shown, hashes) = new_recovery_codes(user.id)?;
        let step = i64::try_from(step).map_err(|_| Error::internal("TOTP step overflow"))?;
        if !self.factors.totp_confirm(user.id, step, hashes).await? {
            return Err(Error::Domain(DomainError::Conflict(
                "no authenticator app set-up is in progress",
            )));
        }
        self.audit
            .record(
                AuditRecord::new(AuditAction::SecondFactorEnrolled)
                    .by(user.id)
                    .target(AuditTarget::user(user.id))
                    .summary(AuditSummary::new().fact("method", "totp")),
            )
            .await;
        Ok(shown)
    }

    /// Confirms the caller's pending authenticator app with a code; returns the recovery codes.
    pub async fn confirm_totp(
        &self,
        actor: &Actor,
        code: &str,
        ip: std::net::IpAddr,
    ) -> Result<Vec<String>> {
        let user = self.require_user(actor.user_id).await?;
        let key = user.id.to_string();
        let step = enclave_core::lockout::Step::SecondFactor;
        self.throttle_check(step, &key, ip).await?;
        match self.confirm_totp_for(&user, code).await {
            Err(Error::Domain(DomainError::Unauthenticated)) => {
                self.throttle_fail(step, &key, ip).await?;
                Err(Error::Domain(DomainError::Unauthenticated))
            }
            other => other,
        }
    }

    /// Checks the account holder again before a change of their second factors: the
    /// password, or a TOTP or recovery code (used up). Counted under the second-factor throttle.
    pub(super) async fn reauthenticate(
        &self,
        user: &User,
        proof: Reauth<'_>,
        ip: std::net::IpAddr,
    ) -> Result<()> {
        if let Reauth::RecentSignIn(session) = proof {
            return self.recent_sign_in(user, session).await;
        }
        let key = user.id.to_string();
        let step = enclave_core::lockout::Step::SecondFactor;
        self.throttle_check(step, &key, ip).await?;
        let ok = match proof {
            // The local password, or the directory's for an account linked to one.
            Reauth::Password(password) => self.password_proves(user, password).await?,
            Reauth::Code(code) => self.check_code(user, code).await?.is_some(),
            Reauth::RecentSignIn(_) => false,
        };
        if ok {
            self.throttle_ok(step, &key, ip).await?;
            Ok(())
        } else {
            self.throttle_fail(step, &key, ip).await?;
            Err(Error::Domain(DomainError::Unauthenticated))
        }
    }

    /// Whether the account has a password of its own: a local one, or its directory's.
    pub(super) async fn has_password(&self, user: &User) -> Result<bool> {
        if matches!(
            self.store.user_credentials(&user.username).await?,
            Some((u, Some(_))) if u.id == user.id
        ) {
            return Ok(true);
        }
        Ok(self.ldap_links.ldap_link_of_user(user.id).await?.is_some())
    }

    /// Re-authentication by the session alone: for an account with no password of its own,
    /// a sign-in within [`signin::REAUTH_RECENT_SIGN_IN_SECS`]. Refused (`forbidden`) for an
    /// account with a password, which gives it (or a code), and for an older sign-in, which
    /// must be made again.
    async fn recent_sign_in(
        &self,
        user: &User,
        session: Option<enclave_core::TokenId>,
    ) -> Result<()> {
        let has_password = self.has_password(user).await?;
        let signed_in = match session {
            Some(id) => self
                .store
                .list_tokens(user.id)
                .await?
                .into_iter()
                .find(|t| t.id == id && t.kind == enclave_core::TokenKind::Session)
                .map(|t| t.created_at),
            None => None,
        };
        if signed_in
            .is_some_and(|at| signin::recent_sign_in_proves(has_password, at, Millis::now()))
        {
            return Ok(());
        }
        Err(Error::Domain(DomainError::Forbidden(if has_password {
            "give your password or a code: a recent sign-in proves only an account without a password"
        } else {
            "sign in again first: without a password, only a sign-in of the last 10 minutes proves you"
        })))
    }

    /// Checks a TOTP code (accepting its step once) or a recovery code (using it up) of a
    /// confirmed enrolment; the method that matched, or `None`.
    pub(super) async fn check_code(
        &self,
        user: &User,
        code: &str,
    ) -> Result<Option<SecondFactorMethod>> {
        let totp = self
            .factors
            .totp(user.id)
            .await?
            .filter(|t| t.confirmed_at.is_some());
        if signin::totp_code(code).is_some() {
            let Some(totp) = totp else {
                return Ok(None);
            };
            let sealer = self.totp_sealer()?;
            let secret = sealer.open(user.id, &totp.secret)?;
            self.reseal_totp(sealer, user.id, &totp.secret, &secret)
                .await?;
            let now = signin::totp_step(unix_secs());
            let last = totp.last_step.and_then(|s| u64::try_from(s).ok());
            let candidates = signin::totp_candidate_steps(now, last);
            let Some(step) = totp_match(&secret, code, &candidates)? else {
                return Ok(None);
            };
            let step = i64::try_from(step).map_err(|_| Error::internal("TOTP step overflow"))?;
            // Compare-and-set: of two requests with the same code, one wins.
            return Ok(self
                .factors
                .totp_accept(user.id, step)
                .await?
                .then_some(SecondFactorMethod::Totp));
        }
        // Recovery codes count while the account has a second factor they stand in for.
        if let Some(code) = signin::recovery_code(code)
            && self.factors_of(user.id).await?.any()
            && self
                .factors
                .use_recovery_code(user.id, recovery_hash(user.id, &code))
                .await?
        {
            let left = self.factors.recovery_codes_left(user.id).await?;
            self.audit
                .record(
                    AuditRecord::new(AuditAction::RecoveryCodeUsed)
                        .by(user.id)
                        .target(AuditTarget::user(user.id))
                        .summary(AuditSummary::new().fact("left", left)),
                )
                .await;
            return Ok(Some(SecondFactorMethod::Recovery));
        }
        Ok(None)
    }

    /// Turns the caller's authenticator app off; the recovery codes go with it unless security
    /// keys remain.
    pub async fn disable_second_factor(
        &self,
        actor: &Actor,
        proof: Reauth<'_>,
        ip: std::net::IpAddr,
    ) -> Result<()> {
        let user = self.require_user(actor.user_id).await?;
        self.reauthenticate(&user, proof, ip).await?;
        let removed = self.factors.remove_totp(user.id).await?;
        self.drop_recovery_codes_without_factor(user.id).await?;
        if removed {
            self.audit
                .record(
                    AuditRecord::new(AuditAction::SecondFactorRemoved)
                        .by(user.id)
                        .target(AuditTarget::user(user.id))
                        .summary(AuditSummary::new().fact("method", "totp")),
                )
                .await;
        }
        Ok(())
    }

    /// Issues ten new recovery codes for the caller (the old ones stop working).
    pub async fn regenerate_recovery_codes(
        &self,
        actor: &Actor,
        proof: Reauth<'_>,
        ip: std::net::IpAddr,
    ) -> Result<Vec<String>> {
        let user = self.require_user(actor.user_id).await?;
        let methods = self.enrolled_methods(user.id).await?;
        if !methods.contains(&SecondFactorMethod::Totp)
            && !methods.contains(&SecondFactorMethod::WebAuthn)
        {
            return Err(Error::Domain(DomainError::Conflict(
                "recovery codes need an authenticator app or a security key set up first",
            )));
        }
        self.reauthenticate(&user, proof, ip).await?;
        let shown = self.issue_recovery_codes(user.id).await?;
        self.audit
            .record(
                AuditRecord::new(AuditAction::RecoveryCodesRegenerated)
                    .by(user.id)
                    .target(AuditTarget::user(user.id)),
            )
            .await;
        Ok(shown)
    }

    /// An administrator removes someone's second factors (they lost their phone or their
    /// security keys): the authenticator app, recovery codes and security keys; audited.
    pub async fn reset_second_factor(&self, actor: &Actor, user_id: UserId) -> Result<bool> {
        // The account first (as the other per-user administration does), then the right.
        let user = self.require_user(user_id).await?;
        signin::check_manage(actor)?;
        let removed = self.factors.remove_second_factors(user.id).await?;
        let removed = self.factors.remove_webauthn_keys(user.id).await? > 0 || removed;
        self.audit
            .record(
                AuditRecord::new(AuditAction::SecondFactorReset)
                    .by(actor.user_id)
                    .target(AuditTarget::user(user.id))
                    .summary(
                        AuditSummary::new()
                            .fact("username", user.username.clone())
                            .fact("had_second_factor", removed),
                    ),
            )
            .await;
        Ok(removed)
    }

    /// The site policy and who has enrolled, for administrators.
    pub async fn second_factor_overview(&self, actor: &Actor) -> Result<(Policy, Vec<Enrolled>)> {
        signin::check_manage(actor)?;
        let policy = self.second_factor_policy_now().await?;
        let mut out = Vec::new();
        for e in self.factors.second_factor_enrolments().await? {
            if let Some(user) = self.store.user(e.user_id).await? {
                out.push(Enrolled {
                    user,
                    totp_since: e.totp_since,
                    recovery_codes_left: e.recovery_left,
                    webauthn_keys: e.webauthn_keys,
                });
            }
        }
        Ok((policy, out))
    }

    /// Changes the site policy; the grace counts anew from now when the requirement changes.
    pub async fn set_second_factor_policy(
        &self,
        actor: &Actor,
        require: Requirement,
        grace_days: u32,
    ) -> Result<Policy> {
        signin::check_manage(actor)?;
        if grace_days > signin::MAX_GRACE_DAYS {
            return Err(Error::Domain(DomainError::invalid(
                "grace_days",
                "must be 0 to 365",
            )));
        }
        let old = self.second_factor_policy_now().await?;
        let new = Policy {
            require,
            grace_days,
            since: if old.require == require {
                old.since
            } else {
                Millis::now()
            },
        };
        self.factors.set_second_factor_policy(new).await?;
        self.audit
            .record(
                AuditRecord::new(AuditAction::SettingsChanged)
                    .by(actor.user_id)
                    .summary(
                        AuditSummary::new()
                            .fact("setting", "second_factor_policy")
                            .fact("require", require.as_str())
                            .fact("grace_days", grace_days)
                            .fact("was_require", old.require.as_str())
                            .fact("was_grace_days", old.grace_days),
                    ),
            )
            .await;
        Ok(new)
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn base32_matches_rfc_4648() {
        assert_eq!(base32(b""), "");
        assert_eq!(base32(b"f"), "MY");
        assert_eq!(base32(b"foobar"), "MZXW6YTBOI");
        assert_eq!(
            base32(b"12345678901234567890"),
            "GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ"
        );
    }

    #[test]
    fn rfc_6238_test_vector() {
        // RFC 6238 appendix B, SHA-1, T = 59 s: 94287082 (8 digits); the last six digits.
        let secret = b"12345678901234567890";
        assert_eq!(totp_match(secret, "287082", &[1]).unwrap(), Some(1));
        assert_eq!(totp_match(secret, "287082", &[2, 3]).unwrap(), None);
        assert_eq!(totp_match(secret, "28708", &[1]).unwrap(), None);
    }

    #[test]
    fn recovery_codes_are_ten_distinct_and_normalise_back() {
        let (shown, hashes) = new_recovery_codes(UserId(3)).unwrap();
        assert_eq!(shown.len(), 10);
        let set: std::collections::HashSet<_> = hashes.iter().collect();
        assert_eq!(set.len(), 10);
        let typed = shown[0].to_uppercase();
        let n = signin::recovery_code(&typed).unwrap();
        assert_eq!(recovery_hash(UserId(3), &n), hashes[0]);
        assert_ne!(recovery_hash(UserId(4), &n), hashes[0]);
    }

    #[test]
    fn totp_secrets_are_sealed_per_account_and_key() {
        let ring = enclave_files::KeyRing::new("k1", [5; 32]).unwrap();
        let sealer = TotpSealer::new(&ring);
        let secret = [42u8; 20];
        let stored = sealer.seal(UserId(7), &secret);
        assert!(stored.starts_with(b"ETS1\x02k1"));
        assert!(!stored.windows(20).any(|w| w == secret));
        assert_eq!(sealer.open(UserId(7), &stored).unwrap(), secret);
        assert!(!sealer.needs_sealing(&stored));
        // Another account: refused.
        assert!(sealer.open(UserId(8), &stored).is_err());
        // Another master key under the same id: refused; a key for files is not it either.
        let wrong = TotpSealer::new(&enclave_files::KeyRing::new("k1", [6; 32]).unwrap());
        assert!(wrong.open(UserId(7), &stored).is_err());
        let other_label = TotpSealer {
            keys: ring.derive("enclave something else v1"),
        };
        assert!(other_label.open(UserId(7), &stored).is_err());
        // After a rotation the old key still opens it, and it is due for sealing anew.
        let rotated = TotpSealer::new(
            &enclave_files::KeyRing::new("k2", [9; 32])
                .unwrap()
                .with_previous("k1", [5; 32])
                .unwrap(),
        );
        assert_eq!(rotated.open(UserId(7), &stored).unwrap(), secret);
        assert!(rotated.needs_sealing(&stored));
        let again = rotated.seal(UserId(7), &secret);
        assert!(again.starts_with(b"ETS1\x02k2"));
        assert!(!rotated.needs_sealing(&again));
        // Without the old key it does not open.
        let only_new = TotpSealer::new(&enclave_files::KeyRing::new("k2", [9; 32]).unwrap());
        assert!(only_new.open(UserId(7), &stored).is_err());
        // A tampered byte: refused.
        let mut bad = stored.clone();
        *bad.last_mut().unwrap() ^= 1;
        assert!(sealer.open(UserId(7), &bad).is_err());
        // A secret in the clear (an older version, 20 bytes) opens as it is and is due.
        assert_eq!(sealer.open(UserId(7), &secret).unwrap(), secret);
        assert!(sealer.needs_sealing(&secret));
        let lookalike = *b"ETS1\x02k1abcdefghijklm";
        assert_eq!(parse_stored(&lookalike), Stored::Clear);
    }

    #[test]
    fn the_qr_code_is_an_svg() {
        let svg = qr_svg("otpauth://totp/Enclave:alice?secret=ABC").unwrap();
        assert!(svg.starts_with("<svg") && svg.ends_with("</svg>"));
    }
}
