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
}

/// A way to prove a second factor.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum SecondFactorMethod {
    /// A time-based one-time code.
    Totp,
    /// A security key or platform authenticator.
    WebAuthn,
}

/// Whether a verified credential is enough to open a session.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SecondFactor {
    /// Open the session now.
    NotRequired,
    /// Challenge the caller with one of `methods` first; no session exists until one succeeds.
    Required { methods: Vec<SecondFactorMethod> },
}

/// Decides the second factor for an account that proved itself with `kind` and has enrolled
/// `enrolled` (no method can be enrolled yet, so today this is always `NotRequired`).
///
/// A password alone is one factor: with any method enrolled, one of them is required.
pub fn second_factor(kind: CredentialKind, enrolled: &[SecondFactorMethod]) -> SecondFactor {
    match kind {
        // An app password is the credential of a client that cannot answer a challenge: it
        // never opens an interactive session (see `app_password_opens_sessions`), so it has no
        // second step. A door that would open a web session with it must refuse instead.
        CredentialKind::AppPassword => SecondFactor::NotRequired,
        CredentialKind::Password => {
            if enrolled.is_empty() {
                SecondFactor::NotRequired
            } else {
                SecondFactor::Required {
                    methods: enrolled.to_vec(),
                }
            }
        }
    }
}

/// Whether a credential of `kind` may open an interactive (web) session. App passwords may not:
/// they serve clients that authenticate each connection (XMPP, HTTP Basic), and a web login
/// needing a second factor must never be satisfied by one.
pub fn opens_web_session(kind: CredentialKind) -> bool {
    match kind {
        CredentialKind::Password => true,
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
    fn a_password_needs_a_second_factor_only_when_one_is_enrolled() {
        use SecondFactorMethod::*;
        let table: &[(&[SecondFactorMethod], SecondFactor)] = &[
            (&[], SecondFactor::NotRequired),
            (
                &[Totp],
                SecondFactor::Required {
                    methods: vec![Totp],
                },
            ),
            (
                &[Totp, WebAuthn],
                SecondFactor::Required {
                    methods: vec![Totp, WebAuthn],
                },
            ),
        ];
        for (enrolled, want) in table {
            assert_eq!(
                second_factor(CredentialKind::Password, enrolled),
                *want,
                "{enrolled:?}"
            );
        }
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
    fn app_passwords_never_open_web_sessions() {
        assert!(opens_web_session(CredentialKind::Password));
        assert!(!opens_web_session(CredentialKind::AppPassword));
    }
}
