//! Integration credentials: a `token` sent in every request and a signing secret (Slack's `v0`
//! HMAC key), sealed under a key derived from the file master key with the token as associated
//! data. Outgoing webhooks and custom slash commands keep theirs the same way, each under its
//! own derived key. The hex, random and hashing helpers serve incoming webhooks too.

use enclave_store::OutgoingSecret;

use crate::error::{Error, Result};

/// Lower-case hex of `bytes`.
pub(crate) fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// `n` random bytes as hex.
pub(crate) fn random_hex(n: usize) -> Result<String> {
    let mut bytes = vec![0u8; n];
    getrandom::fill(&mut bytes)
        .map_err(|e| Error::internal(format!("random source failed: {e}")))?;
    Ok(hex(&bytes))
}

/// The SHA-256 of a secret, as hex: what is kept of a secret that is only ever compared (an
/// incoming webhook's URL, a command's `response_url`).
pub(crate) fn sha256_hex(secret: &str) -> String {
    use sha2::{Digest, Sha256};
    hex(&Sha256::digest(secret.as_bytes()))
}

/// Seals and opens one kind of integration's signing secrets.
pub(crate) struct SigningSecrets {
    keys: enclave_files::DerivedKeys,
    /// What the sealed value is, bound into its associated data with the token.
    purpose: &'static [u8],
}

impl SigningSecrets {
    /// `label` names the derived key; `purpose` is bound to every sealed secret.
    pub(crate) fn new(
        ring: &enclave_files::KeyRing,
        label: &'static str,
        purpose: &'static [u8],
    ) -> Self {
        SigningSecrets {
            keys: ring.derive(label),
            purpose,
        }
    }

    fn aad(&self, token: &str) -> Vec<u8> {
        let mut a = self.purpose.to_vec();
        a.extend_from_slice(token.as_bytes());
        a
    }

    /// A new token and signing secret: what the store keeps, and both in the clear (shown once).
    pub(crate) fn generate(&self) -> Result<(OutgoingSecret, String, String)> {
        let token = random_hex(24)?;
        let signing_secret = random_hex(32)?;
        let sealed = self.keys.seal(&self.aad(&token), signing_secret.as_bytes());
        Ok((
            OutgoingSecret {
                token: token.clone(),
                key_id: sealed.key_id,
                sealed: sealed.bytes,
            },
            token,
            signing_secret,
        ))
    }

    /// The signing secret of a stored credential.
    pub(crate) fn open(&self, s: &OutgoingSecret) -> Result<Vec<u8>> {
        self.keys
            .open(
                &enclave_files::SealedValue {
                    key_id: s.key_id.clone(),
                    bytes: s.sealed.clone(),
                },
                &self.aad(&s.token),
            )
            .map_err(|e| Error::internal(format!("cannot open the signing secret: {e}")))
    }
}
