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
    /// A directory password (LDAP / Active Directory), checked by binding as the user.
    Ldap,
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
        // A directory password is one factor, like a local one.
        CredentialKind::Password | CredentialKind::Ldap => {
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
            for kind in [CredentialKind::Password, CredentialKind::Ldap] {
                assert_eq!(
                    second_factor(kind, enrolled),
                    *want,
                    "{kind:?} {enrolled:?}"
                );
            }
        }
    }
}
