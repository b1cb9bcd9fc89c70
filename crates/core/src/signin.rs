//! The policy of signing in, which every door shares.
//!
//! Signing in is three steps, each a function of `app::Accounts` that any door may call:
//! 1. verify a credential (a password today; LDAP, OIDC, app passwords and XMPP SCRAM next),
//!    which names an account and the [`CredentialKind`] that proved it;
//! 2. decide on a second factor ([`second_factor`]), before any session exists;
//! 3. open a session.
//!
//! This module holds the decisions of step 2 and the vocabulary of both; the I/O (password
//! hashes, throttling, tokens) is the application's.

use crate::{Actor, Error, Millis, SitePermission, User};

/// The kind of credential that proved who someone is.
///
/// Each door adds its kind here (`Ldap`, `Oidc`, `AppPassword`, `Scram`), and the matches on it
/// (the second-factor policy, throttling) then make it say how it is treated.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum CredentialKind {
    /// The account's own password, checked against its argon2id hash.
    Password,
    /// An app password the account generated for a client that cannot do single sign-on (an
    /// XMPP client, a mail-style client, a script using HTTP Basic). It stands in for the
    /// password where local passwords are off, and never opens a web session that needs a
    /// second factor.
    AppPassword,
    /// An OpenID Connect provider's ID token (signature, issuer, audience, expiry and nonce
    /// checked), for an account linked to the provider's subject.
    Oidc,
    /// A directory password (LDAP / Active Directory), checked by binding as the user.
    Ldap,
}

/// Whether `user` may prove who they are with a credential at all (step 1) at `now`: an active
/// account, not a guest whose access ended, and not a bot. A bot acts only through the tokens
/// issued for it ([`crate::permissions::SitePermission::CreateBots`]); it never signs in with a
/// password, an app password, a directory or single sign-on.
pub fn may_sign_in(user: &User, now: Millis) -> bool {
    user.active && !user.is_bot && !crate::roles::guest_expired(user, now)
}

/// A way to prove a second factor.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum SecondFactorMethod {
    /// A time-based one-time code (RFC 6238).
    Totp,
    /// One of the account's one-time recovery codes.
    Recovery,
    /// A security key or platform authenticator.
    WebAuthn,
}

impl SecondFactorMethod {
    pub const ALL: [SecondFactorMethod; 3] = [
        SecondFactorMethod::Totp,
        SecondFactorMethod::Recovery,
        SecondFactorMethod::WebAuthn,
    ];

    /// The stable wire name (`totp`, `recovery`, `webauthn`).
    pub const fn as_str(self) -> &'static str {
        match self {
            SecondFactorMethod::Totp => "totp",
            SecondFactorMethod::Recovery => "recovery",
            SecondFactorMethod::WebAuthn => "webauthn",
        }
    }

    pub fn parse(s: &str) -> Option<SecondFactorMethod> {
        SecondFactorMethod::ALL
            .into_iter()
            .find(|m| m.as_str() == s)
    }
}

/// Whom the site asks for a second factor (besides those who enrolled one of their own
/// accord, and the holders of roles that require one).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum Requirement {
    /// Nobody.
    #[default]
    Off,
    /// System administrators.
    Admins,
    /// Every account that signs in with a password.
    Everyone,
}

impl Requirement {
    pub const ALL: [Requirement; 3] =
        [Requirement::Off, Requirement::Admins, Requirement::Everyone];

    /// The stable name (`off`, `admins`, `everyone`), as configured and stored.
    pub const fn as_str(self) -> &'static str {
        match self {
            Requirement::Off => "off",
            Requirement::Admins => "admins",
            Requirement::Everyone => "everyone",
        }
    }

    pub fn parse(s: &str) -> Option<Requirement> {
        Requirement::ALL.into_iter().find(|r| r.as_str() == s)
    }
}

/// The most days of grace an enrolment policy may give.
pub const MAX_GRACE_DAYS: u32 = 365;
const DAY_MS: i64 = 86_400_000;

/// The site's second-factor policy.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Policy {
    pub require: Requirement,
    /// Days an account that the policy newly concerns may still sign in without a second
    /// factor (counted from `since`, or from the account's creation when later).
    pub grace_days: u32,
    /// When the requirement took its current value.
    pub since: Millis,
}

impl Policy {
    /// Whether the policy asks `user` (holding custom roles of which `role_requires` says
    /// whether any requires a second factor) for a second factor.
    pub fn requires(&self, user: &User, role_requires: bool) -> bool {
        if user.is_bot {
            return false;
        }
        role_requires
            || match self.require {
                Requirement::Off => false,
                Requirement::Admins => user.is_admin,
                Requirement::Everyone => true,
            }
    }

    /// When the grace for `user` to enrol ends.
    pub fn grace_ends(&self, user: &User) -> Millis {
        let from = self.since.0.max(user.created_at.0);
        Millis(from.saturating_add(i64::from(self.grace_days).saturating_mul(DAY_MS)))
    }
}

/// Whether a verified credential is enough to open a session.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SecondFactor {
    /// Open the session now.
    NotRequired,
    /// Challenge the caller with one of `methods` first; no session exists until one succeeds.
    Required { methods: Vec<SecondFactorMethod> },
    /// The policy requires a second factor, the account has none and its grace has ended: the
    /// caller may only enrol one (with the challenge), which then opens the session.
    EnrolRequired,
}

/// Decides the second factor for an account that proved itself with `kind` and has enrolled
/// `enrolled`, where `required_by_policy` says whether the site policy asks it for one and
/// `grace_ends` when its grace to enrol ends.
///
/// A password alone is one factor: with any method enrolled, one of them is required; with none
/// enrolled, a required second factor must be enrolled once the grace has ended.
pub fn second_factor(
    kind: CredentialKind,
    enrolled: &[SecondFactorMethod],
    required_by_policy: bool,
    grace_ends: Millis,
    now: Millis,
) -> SecondFactor {
    match kind {
        // An app password is the credential of a client that cannot answer a challenge: it
        // never opens an interactive session (see [`opens_web_session`]), so it has no
        // second step. A door that would open a web session with it must refuse instead.
        CredentialKind::AppPassword => SecondFactor::NotRequired,
        // A provider's sign-in is one factor as far as Enclave can tell (its own second factor,
        // if any, is not visible here): the account's enrolled methods and the site policy
        // apply as after a password. A directory password is one factor, like a local one.
        CredentialKind::Password | CredentialKind::Oidc | CredentialKind::Ldap => {
            if !enrolled.is_empty() {
                SecondFactor::Required {
                    methods: enrolled.to_vec(),
                }
            } else if required_by_policy && now >= grace_ends {
                SecondFactor::EnrolRequired
            } else {
                SecondFactor::NotRequired
            }
        }
    }
}

/// Who may reset someone's second factors and change the site policy:
/// [`SitePermission::ManageUsers`].
pub fn check_manage(actor: &Actor) -> Result<(), Error> {
    if actor.may(SitePermission::ManageUsers) {
        Ok(())
    } else {
        Err(Error::Forbidden(
            "managing second factors needs the right to manage users",
        ))
    }
}

/// Length of a TOTP step, in seconds (RFC 6238's default).
pub const TOTP_STEP_SECS: u64 = 30;
/// Digits of a TOTP code.
pub const TOTP_DIGITS: usize = 6;
/// Steps of clock drift accepted either side of now.
pub const TOTP_DRIFT_STEPS: u64 = 1;
/// How long a sign-in challenge (the token between the two steps) lives, in seconds.
pub const CHALLENGE_TTL_SECS: i64 = 300;
/// Recovery codes issued at a time.
pub const RECOVERY_CODES: usize = 10;

/// The TOTP step of a time (Unix seconds).
pub const fn totp_step(unix_secs: u64) -> u64 {
    unix_secs / TOTP_STEP_SECS
}

/// The steps a TOTP code may come from at `now_step`, oldest first, given the last step
/// accepted for the account: within the drift, and strictly after the last accepted one (a
/// code is accepted once, and never one older than a code already used).
pub fn totp_candidate_steps(now_step: u64, last_accepted: Option<u64>) -> Vec<u64> {
    let first = now_step.saturating_sub(TOTP_DRIFT_STEPS);
    (first..=now_step.saturating_add(TOTP_DRIFT_STEPS))
        .filter(|s| last_accepted.is_none_or(|last| *s > last))
        .collect()
}

/// Whether `code` has the shape of a TOTP code (six ASCII digits, spaces ignored).
pub fn totp_code(code: &str) -> Option<String> {
    let digits: String = code.chars().filter(|c| *c != ' ').collect();
    (digits.len() == TOTP_DIGITS && digits.bytes().all(|b| b.is_ascii_digit())).then_some(digits)
}

/// A recovery code as typed, normalised (dashes and spaces dropped, lower case); `None` when it
/// cannot be one.
pub fn recovery_code(code: &str) -> Option<String> {
    let c: String = code
        .chars()
        .filter(|c| *c != '-' && *c != ' ')
        .map(|c| c.to_ascii_lowercase())
        .collect();
    (c.len() == 10 && c.bytes().all(|b| b.is_ascii_alphanumeric())).then_some(c)
}

/// How long a sign-in proves its holder again, for an account with no password of its own
/// (single sign-on only): changing second factors needs the password or a code, and such an
/// account, before it has a code, proves itself by a sign-in this recent (seconds).
pub const REAUTH_RECENT_SIGN_IN_SECS: i64 = 600;

/// Whether a session opened at `signed_in` proves its holder again at `now`, for an account
/// with no password of its own (`has_password` false). An account with a password proves
/// itself with it (or a code), never by its session alone; a session from the future (a clock
/// set back) does not count.
pub fn recent_sign_in_proves(has_password: bool, signed_in: Millis, now: Millis) -> bool {
    !has_password
        && signed_in.0 <= now.0
        && now.0 - signed_in.0 <= REAUTH_RECENT_SIGN_IN_SECS * 1000
}

/// The most security keys and passkeys (WebAuthn credentials) an account may register.
pub const MAX_WEBAUTHN_KEYS: usize = 20;
/// How long a WebAuthn registration may take from its start to its finish, in seconds. A
/// sign-in's WebAuthn ceremony lives as long as its challenge ([`CHALLENGE_TTL_SECS`]).
pub const WEBAUTHN_CEREMONY_TTL_SECS: i64 = 300;
/// The most characters of a security key's name.
pub const MAX_WEBAUTHN_KEY_NAME_CHARS: usize = 64;
/// The largest WebAuthn credential (the JSON a browser's `navigator.credentials` answers) a
/// door accepts, in bytes; real ones are a few kilobytes.
pub const MAX_WEBAUTHN_CREDENTIAL_BYTES: usize = 64 * 1024;

/// What a stored WebAuthn ceremony is for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum WebAuthnCeremony {
    /// Registering a new security key of the account (settings).
    Registration,
    /// Proving one of the account's keys at the second sign-in step.
    Authentication,
}

impl WebAuthnCeremony {
    pub const ALL: [WebAuthnCeremony; 2] = [
        WebAuthnCeremony::Registration,
        WebAuthnCeremony::Authentication,
    ];

    /// The stable name (`registration`, `authentication`), as stored.
    pub const fn as_str(self) -> &'static str {
        match self {
            WebAuthnCeremony::Registration => "registration",
            WebAuthnCeremony::Authentication => "authentication",
        }
    }

    pub fn parse(s: &str) -> Option<WebAuthnCeremony> {
        WebAuthnCeremony::ALL.into_iter().find(|k| k.as_str() == s)
    }
}

/// A security key's name as given: trimmed, 1 to 64 characters, no control characters and
/// nothing invisible or direction-changing (refused, not cut).
pub fn webauthn_key_name(raw: &str) -> Result<String, Error> {
    let name = crate::validate::shown_text(
        "name",
        raw,
        MAX_WEBAUTHN_KEY_NAME_CHARS,
        "must be at most 64 characters",
        false,
    )?;
    if name.is_empty() {
        return Err(Error::invalid("name", "must not be empty"));
    }
    Ok(name.to_owned())
}

/// Whether an account holding `registered` keys may register another.
pub fn check_webauthn_key_limit(registered: usize) -> Result<(), Error> {
    if registered >= MAX_WEBAUTHN_KEYS {
        Err(Error::LimitExceeded(
            "an account may register at most 20 security keys",
        ))
    } else {
        Ok(())
    }
}

/// Whether a credential of `kind` may open an interactive (web) session. App passwords may not:
/// they serve clients that authenticate each connection (XMPP, HTTP Basic), and a web login
/// needing a second factor must never be satisfied by one.
pub fn opens_web_session(kind: CredentialKind) -> bool {
    match kind {
        CredentialKind::Password | CredentialKind::Oidc | CredentialKind::Ldap => true,
        CredentialKind::AppPassword => false,
    }
}

/// The most characters of the client name a sign-in may pass.
pub const MAX_CLIENT_CHARS: usize = 64;

/// A readable device for a session from its `User-Agent`: the browser (or client) and the
/// operating system, such as "Chrome on Windows", "Safari on iPhone" or "curl". Unknown agents
/// give their first product token; an empty one gives "Unknown device". The answer has at
/// most 64 characters and no control characters.
pub fn device_name(user_agent: &str) -> String {
    let ua = user_agent.trim();
    if ua.is_empty() {
        return "Unknown device".to_owned();
    }
    let has = |s: &str| ua.contains(s);
    // Order matters: Edge and Opera also say Chrome; Chrome also says Safari.
    let browser = if has("Edg/") || has("Edge/") {
        Some("Edge")
    } else if has("OPR/") || has("Opera") {
        Some("Opera")
    } else if has("Firefox/") || has("FxiOS/") {
        Some("Firefox")
    } else if has("Chrome/") || has("CriOS/") || has("Chromium/") {
        Some("Chrome")
    } else if has("Safari/") && has("Version/") {
        Some("Safari")
    } else {
        None
    };
    let os = if has("iPhone") {
        Some("iPhone")
    } else if has("iPad") {
        Some("iPad")
    } else if has("Android") {
        Some("Android")
    } else if has("Windows") {
        Some("Windows")
    } else if has("Mac OS X") || has("Macintosh") {
        Some("macOS")
    } else if has("CrOS") {
        Some("ChromeOS")
    } else if has("Linux") || has("X11") {
        Some("Linux")
    } else {
        None
    };
    let name = match (browser, os) {
        (Some(b), Some(o)) => format!("{b} on {o}"),
        (Some(b), None) => b.to_owned(),
        (None, _) => {
            // A non-browser client: its first product token ("curl/8.5.0" -> "curl 8.5.0").
            let first = ua.split_whitespace().next().unwrap_or(ua);
            let product = first.replace('/', " ");
            match os {
                Some(o) => format!("{product} on {o}"),
                None => product,
            }
        }
    };
    name.chars().filter(|c| !c.is_control()).take(64).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn security_key_names_and_limit() {
        assert_eq!(webauthn_key_name("  YubiKey 5 "), Ok("YubiKey 5".into()));
        for bad in ["", "   ", "a\u{0007}b", "a\u{202e}b", &"x".repeat(65)] {
            assert!(webauthn_key_name(bad).is_err(), "{bad:?}");
        }
        assert!(webauthn_key_name(&"é".repeat(64)).is_ok());
        assert!(check_webauthn_key_limit(MAX_WEBAUTHN_KEYS - 1).is_ok());
        assert!(matches!(
            check_webauthn_key_limit(MAX_WEBAUTHN_KEYS),
            Err(Error::LimitExceeded(_))
        ));
        for k in WebAuthnCeremony::ALL {
            assert_eq!(WebAuthnCeremony::parse(k.as_str()), Some(k));
        }
    }

    fn user(admin: bool, created: i64) -> User {
        User {
            id: crate::UserId(7),
            username: "u".into(),
            display_name: "u".into(),
            email: None,
            is_admin: admin,
            is_bot: false,
            active: true,
            status_text: String::new(),
            dnd: false,
            created_at: Millis(created),
            updated_at: Millis(created),
            is_guest: false,
            guest_expires_at: None,
            member_role: true,
        }
    }

    #[test]
    fn an_enrolled_factor_is_always_required_and_the_policy_only_after_its_grace() {
        use SecondFactorMethod::*;
        let now = Millis(1_000_000);
        let later = Millis(2_000_000);
        let past = Millis(0);
        let table: &[(&[SecondFactorMethod], bool, Millis, SecondFactor)] = &[
            (&[], false, past, SecondFactor::NotRequired),
            (&[], true, later, SecondFactor::NotRequired),
            (&[], true, past, SecondFactor::EnrolRequired),
            (&[], true, now, SecondFactor::EnrolRequired),
            (
                &[Totp],
                false,
                later,
                SecondFactor::Required {
                    methods: vec![Totp],
                },
            ),
            (
                &[Totp, Recovery, WebAuthn],
                true,
                past,
                SecondFactor::Required {
                    methods: vec![Totp, Recovery, WebAuthn],
                },
            ),
        ];
        for (enrolled, required, grace, want) in table {
            for kind in [
                CredentialKind::Password,
                CredentialKind::Oidc,
                CredentialKind::Ldap,
            ] {
                assert_eq!(
                    second_factor(kind, enrolled, *required, *grace, now),
                    *want,
                    "{kind:?} {enrolled:?} {required} {grace:?}"
                );
            }
        }
    }

    #[test]
    fn the_policy_names_whom_it_concerns_and_counts_grace_from_the_later_of_policy_and_account() {
        let p = |require| Policy {
            require,
            grace_days: 2,
            since: Millis(10 * DAY_MS),
        };
        let (admin, member) = (user(true, 0), user(false, 0));
        assert!(!p(Requirement::Off).requires(&admin, false));
        assert!(p(Requirement::Off).requires(&member, true));
        assert!(p(Requirement::Admins).requires(&admin, false));
        assert!(!p(Requirement::Admins).requires(&member, false));
        assert!(p(Requirement::Everyone).requires(&member, false));
        let mut bot = user(true, 0);
        bot.is_bot = true;
        assert!(!p(Requirement::Everyone).requires(&bot, true));
        assert!(may_sign_in(&member, Millis(0)) && !may_sign_in(&bot, Millis(0)));
        let mut gone = user(false, 0);
        gone.active = false;
        assert!(!may_sign_in(&gone, Millis(0)));
        assert_eq!(
            p(Requirement::Everyone).grace_ends(&member),
            Millis(12 * DAY_MS)
        );
        let newcomer = user(false, 20 * DAY_MS);
        assert_eq!(
            p(Requirement::Everyone).grace_ends(&newcomer),
            Millis(22 * DAY_MS)
        );
    }

    #[test]
    fn devices_are_read_from_user_agents() {
        let table = [
            (
                "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0.0.0 Safari/537.36",
                "Chrome on Windows",
            ),
            (
                "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0.0.0 Safari/537.36 Edg/120.0.0.0",
                "Edge on Windows",
            ),
            (
                "Mozilla/5.0 (X11; Linux x86_64; rv:121.0) Gecko/20100101 Firefox/121.0",
                "Firefox on Linux",
            ),
            (
                "Mozilla/5.0 (iPhone; CPU iPhone OS 17_1 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.1 Mobile/15E148 Safari/604.1",
                "Safari on iPhone",
            ),
            (
                "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.1 Safari/605.1.15",
                "Safari on macOS",
            ),
            (
                "Mozilla/5.0 (Linux; Android 14; Pixel 8) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0.0.0 Mobile Safari/537.36",
                "Chrome on Android",
            ),
            ("curl/8.5.0", "curl 8.5.0"),
            ("", "Unknown device"),
            ("   ", "Unknown device"),
        ];
        for (ua, want) in table {
            assert_eq!(device_name(ua), want, "{ua}");
        }
        let long = format!("{}\u{7}x", "y".repeat(200));
        let d = device_name(&long);
        assert!(
            d.chars().count() <= 64 && !d.chars().any(char::is_control),
            "{d}"
        );
    }

    #[test]
    fn a_totp_step_is_accepted_once_within_one_step_of_drift() {
        assert_eq!(totp_candidate_steps(100, None), vec![99, 100, 101]);
        assert_eq!(totp_candidate_steps(100, Some(99)), vec![100, 101]);
        assert_eq!(totp_candidate_steps(100, Some(100)), vec![101]);
        assert!(totp_candidate_steps(100, Some(101)).is_empty());
        // A code from three steps ago is outside the window.
        assert!(!totp_candidate_steps(100, None).contains(&97));
        assert_eq!(totp_code(" 123 456 ").as_deref(), Some("123456"));
        for bad in ["12345", "1234567", "12345a", "１２３４５６", ""] {
            assert_eq!(totp_code(bad), None, "{bad}");
        }
        assert_eq!(recovery_code("ABCDE-12345").as_deref(), Some("abcde12345"));
        assert_eq!(recovery_code("abc"), None);
        assert_eq!(recovery_code("abcde-1234é"), None);
    }

    #[test]
    fn names_round_trip() {
        for m in SecondFactorMethod::ALL {
            assert_eq!(SecondFactorMethod::parse(m.as_str()), Some(m));
        }
        for r in Requirement::ALL {
            assert_eq!(Requirement::parse(r.as_str()), Some(r));
        }
    }

    #[test]
    fn app_passwords_never_open_web_sessions() {
        assert!(opens_web_session(CredentialKind::Password));
        assert!(!opens_web_session(CredentialKind::AppPassword));
    }

    #[test]
    fn a_recent_sign_in_proves_only_an_account_without_a_password() {
        let at = Millis(1_000_000_000);
        let later = |secs: i64| Millis(at.0 + secs * 1000);
        assert!(recent_sign_in_proves(false, at, later(0)));
        assert!(recent_sign_in_proves(
            false,
            at,
            later(REAUTH_RECENT_SIGN_IN_SECS)
        ));
        assert!(!recent_sign_in_proves(
            false,
            at,
            later(REAUTH_RECENT_SIGN_IN_SECS + 1)
        ));
        assert!(!recent_sign_in_proves(false, at, later(-60)));
        assert!(!recent_sign_in_proves(true, at, later(1)));
    }
}
