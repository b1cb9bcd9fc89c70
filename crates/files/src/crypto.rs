//! Envelope encryption with AES-256-GCM.
//!
//! Each file gets a random 256-bit *data key*. The data key is *wrapped* (encrypted with
//! AES-256-GCM under a random nonce) by a *master key* from the configuration, and the wrapped
//! key is stored beside the file's metadata together with the master key's id. Rotating the
//! master key re-wraps data keys ([`KeyRing::rewrap`]); the file bytes are never re-encrypted.
//!
//! File bytes are encrypted as a stream of fixed-size segments so that neither upload nor
//! download holds a whole file in memory. The stored object is:
//!
//! 1. a header: the magic `EFS1` and a random 7-byte nonce prefix (chosen per object);
//! 2. segments of [`SEGMENT_SIZE`] plaintext bytes (the last may be shorter, even empty), each
//!    sealed with its own 12-byte nonce `prefix ‖ counter (u32, big-endian) ‖ last flag (0/1)`
//!    and followed by its 16-byte tag.
//!
//! The counter in the nonce makes reordered or duplicated segments fail authentication; the
//! last flag makes a truncated object fail (the segment that now ends it was sealed as not
//! last), and so does anything appended after the real last segment.
//!
//! A text file's preview is kept in the database, sealed under the same data key by
//! [`seal_preview`]: `EFP1 ‖ nonce ‖ ciphertext ‖ tag`, with a nonce whose last byte is
//! [`PREVIEW_NONCE_TAG`] (segment nonces end in 0 or 1, so the two can never share a nonce) and
//! the associated data [`PREVIEW_AAD`] (segments have none, so neither opens as the other).

use std::collections::BTreeMap;

use aes_gcm::aead::{Aead, KeyInit, Payload};
use aes_gcm::{Aes256Gcm, Nonce};
use bytes::{Bytes, BytesMut};

use crate::{Error, Result};

/// Plaintext bytes per segment.
pub const SEGMENT_SIZE: usize = 64 * 1024;
/// AES-GCM tag length.
pub const TAG_SIZE: usize = 16;
const MAGIC: &[u8; 4] = b"EFS1";
const PREFIX_SIZE: usize = 7;
/// Length of the object header.
pub const HEADER_SIZE: usize = MAGIC.len() + PREFIX_SIZE;
/// Length of a wrapped data key: nonce, key, tag.
const WRAPPED_SIZE: usize = 12 + 32 + TAG_SIZE;
const PREVIEW_MAGIC: &[u8; 4] = b"EFP1";
/// The last byte of every preview nonce; segment nonces end in their last flag (0 or 1).
pub const PREVIEW_NONCE_TAG: u8 = 2;
/// The associated data every sealed preview is authenticated with.
pub const PREVIEW_AAD: &[u8] = b"enclave file preview v1";

fn random<const N: usize>() -> [u8; N] {
    let mut b = [0u8; N];
    // The operating system's generator failing is not something to continue after.
    getrandom::fill(&mut b).expect("the operating system's random generator works");
    b
}

/// A new random data key.
pub fn new_data_key() -> [u8; 32] {
    random()
}

/// A new random master key (for first-run generation and `enclave admin` tooling).
pub fn new_master_key() -> [u8; 32] {
    random()
}

fn cipher(key: &[u8; 32]) -> Aes256Gcm {
    // A 32-byte slice is always a valid AES-256 key.
    Aes256Gcm::new_from_slice(key).expect("32-byte key")
}

/// A data key wrapped under a master key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WrappedKey {
    /// The id of the master key that wraps it.
    pub key_id: String,
    /// Nonce, encrypted key and tag.
    pub bytes: Vec<u8>,
}

/// The master keys: the current one (new files, rotation target) and older ones by id, still
/// able to unwrap data keys wrapped before a rotation.
#[derive(Clone)]
pub struct KeyRing {
    current: String,
    keys: BTreeMap<String, [u8; 32]>,
}

impl std::fmt::Debug for KeyRing {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("KeyRing")
            .field("current", &self.current)
            .field("ids", &self.keys.keys().collect::<Vec<_>>())
            .finish()
    }
}

impl KeyRing {
    /// A ring whose current key is `(id, key)`.
    pub fn new(current_id: &str, key: [u8; 32]) -> Result<Self> {
        if current_id.is_empty()
            || current_id.len() > 64
            || !current_id
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_' || b == b'.')
        {
            return Err(Error::InvalidKey(format!(
                "key id {current_id:?}: use 1 to 64 of A-Z a-z 0-9 - _ ."
            )));
        }
        let mut keys = BTreeMap::new();
        keys.insert(current_id.to_owned(), key);
        Ok(KeyRing {
            current: current_id.to_owned(),
            keys,
        })
    }

    /// Adds an older key that can still unwrap (but no longer wraps).
    pub fn with_previous(mut self, id: &str, key: [u8; 32]) -> Result<Self> {
        if id == self.current {
            return Err(Error::InvalidKey(format!(
                "previous key id {id:?} is also the current key id"
            )));
        }
        KeyRing::new(id, key)?;
        self.keys.insert(id.to_owned(), key);
        Ok(self)
    }

    /// The id of the key new data keys are wrapped under.
    pub fn current_id(&self) -> &str {
        &self.current
    }

    /// Wraps a data key under the current master key. The key id is authenticated with it.
    pub fn wrap(&self, data_key: &[u8; 32]) -> WrappedKey {
        let master = &self.keys[&self.current];
        let nonce: [u8; 12] = random();
        let sealed = cipher(master)
            .encrypt(
                &Nonce::from(nonce),
                Payload {
                    msg: data_key,
                    aad: self.current.as_bytes(),
                },
            )
            .expect("AES-GCM encrypts 32 bytes");
        let mut bytes = nonce.to_vec();
        bytes.extend_from_slice(&sealed);
        WrappedKey {
            key_id: self.current.clone(),
            bytes,
        }
    }

    /// Recovers a data key.
    pub fn unwrap_key(&self, wrapped: &WrappedKey) -> Result<[u8; 32]> {
        let master = self
            .keys
            .get(&wrapped.key_id)
            .ok_or_else(|| Error::UnknownKey(wrapped.key_id.clone()))?;
        if wrapped.bytes.len() != WRAPPED_SIZE {
            return Err(Error::Corrupt("wrapped key has the wrong length"));
        }
        let (nonce, sealed) = wrapped.bytes.split_at(12);
        let nonce: [u8; 12] = nonce.try_into().map_err(|_| Error::Corrupt("nonce"))?;
        let plain = cipher(master)
            .decrypt(
                &Nonce::from(nonce),
                Payload {
                    msg: sealed,
                    aad: wrapped.key_id.as_bytes(),
                },
            )
            .map_err(|_| Error::Corrupt("wrapped key does not authenticate"))?;
        plain
            .try_into()
            .map_err(|_| Error::Corrupt("wrapped key has the wrong length"))
    }

    /// The keys for the purpose `label` (distinct labels give unrelated keys; none of them is
    /// a master key or can open a wrapped file key).
    pub fn derive(&self, label: &str) -> DerivedKeys {
        let keys = self
            .keys
            .iter()
            .map(|(id, master)| {
                let mut okm = [0u8; 32];
                hkdf::Hkdf::<sha2::Sha256>::new(None, master)
                    .expand(label.as_bytes(), &mut okm)
                    .expect("32 bytes is a valid HKDF-SHA256 output length");
                (id.clone(), okm)
            })
            .collect();
        DerivedKeys {
            label: label.as_bytes().to_vec(),
            current: self.current.clone(),
            keys,
        }
    }

    /// Re-wraps a data key under the current master key; `None` when it already is.
    pub fn rewrap(&self, wrapped: &WrappedKey) -> Result<Option<WrappedKey>> {
        if wrapped.key_id == self.current {
            return Ok(None);
        }
        let key = self.unwrap_key(wrapped)?;
        Ok(Some(self.wrap(&key)))
    }
}

/// Keys for one purpose other than wrapping file keys, derived from each master key of a
/// [`KeyRing`] with HKDF-SHA256 (the purpose's label as the info), each under the id of the
/// master key it comes from. A rotation keeps the older derived keys able to open what they
/// sealed; [`DerivedKeys::seal`] always uses the current one.
#[derive(Clone)]
pub struct DerivedKeys {
    label: Vec<u8>,
    current: String,
    keys: BTreeMap<String, [u8; 32]>,
}

impl std::fmt::Debug for DerivedKeys {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DerivedKeys")
            .field("label", &String::from_utf8_lossy(&self.label))
            .field("current", &self.current)
            .field("ids", &self.keys.keys().collect::<Vec<_>>())
            .finish()
    }
}

/// A value sealed by [`DerivedKeys::seal`]: the id of the master key its key derives from, and
/// nonce ‖ ciphertext ‖ tag.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SealedValue {
    pub key_id: String,
    pub bytes: Vec<u8>,
}

fn derived_aad(label: &[u8], key_id: &str, aad: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(label.len() + key_id.len() + aad.len() + 2);
    out.extend_from_slice(label);
    out.push(0);
    out.extend_from_slice(key_id.as_bytes());
    out.push(0);
    out.extend_from_slice(aad);
    out
}

impl DerivedKeys {
    /// The id of the master key new values are sealed under.
    pub fn current_id(&self) -> &str {
        &self.current
    }

    /// Seals `msg` under the current derived key with a random nonce. `aad` (with the label
    /// and the key id) is authenticated: opening needs the same.
    pub fn seal(&self, aad: &[u8], msg: &[u8]) -> SealedValue {
        let key = &self.keys[&self.current];
        let n: [u8; 12] = random();
        let sealed = cipher(key)
            .encrypt(
                &Nonce::from(n),
                Payload {
                    msg,
                    aad: &derived_aad(&self.label, &self.current, aad),
                },
            )
            .expect("AES-GCM encrypts a short value");
        let mut bytes = n.to_vec();
        bytes.extend_from_slice(&sealed);
        SealedValue {
            key_id: self.current.clone(),
            bytes,
        }
    }

    /// Opens a value sealed by [`DerivedKeys::seal`] (under any key of the ring) with the
    /// same `aad`.
    pub fn open(&self, sealed: &SealedValue, aad: &[u8]) -> Result<Vec<u8>> {
        let key = self
            .keys
            .get(&sealed.key_id)
            .ok_or_else(|| Error::UnknownKey(sealed.key_id.clone()))?;
        if sealed.bytes.len() < 12 + TAG_SIZE {
            return Err(Error::Corrupt("sealed value is truncated"));
        }
        let (n, body) = sealed.bytes.split_at(12);
        let n: [u8; 12] = n.try_into().map_err(|_| Error::Corrupt("nonce"))?;
        cipher(key)
            .decrypt(
                &Nonce::from(n),
                Payload {
                    msg: body,
                    aad: &derived_aad(&self.label, &sealed.key_id, aad),
                },
            )
            .map_err(|_| Error::Corrupt("sealed value does not authenticate"))
    }
}

/// Seals a text preview under a file's data key, for storing beside the file's metadata.
pub fn seal_preview(data_key: &[u8; 32], text: &str) -> Vec<u8> {
    let mut n: [u8; 12] = random();
    n[11] = PREVIEW_NONCE_TAG;
    let sealed = cipher(data_key)
        .encrypt(
            &Nonce::from(n),
            Payload {
                msg: text.as_bytes(),
                aad: PREVIEW_AAD,
            },
        )
        .expect("AES-GCM encrypts a short text");
    let mut out = Vec::with_capacity(PREVIEW_MAGIC.len() + n.len() + sealed.len());
    out.extend_from_slice(PREVIEW_MAGIC);
    out.extend_from_slice(&n);
    out.extend_from_slice(&sealed);
    out
}

/// Opens a preview sealed by [`seal_preview`] under the same data key.
pub fn open_preview(data_key: &[u8; 32], sealed: &[u8]) -> Result<String> {
    let Some(rest) = sealed.strip_prefix(PREVIEW_MAGIC) else {
        return Err(Error::Corrupt("not a sealed preview"));
    };
    if rest.len() < 12 + TAG_SIZE {
        return Err(Error::Corrupt("sealed preview is truncated"));
    }
    let (n, body) = rest.split_at(12);
    let n: [u8; 12] = n.try_into().map_err(|_| Error::Corrupt("nonce"))?;
    if n[11] != PREVIEW_NONCE_TAG {
        return Err(Error::Corrupt("not a preview nonce"));
    }
    let plain = cipher(data_key)
        .decrypt(
            &Nonce::from(n),
            Payload {
                msg: body,
                aad: PREVIEW_AAD,
            },
        )
        .map_err(|_| Error::Corrupt("preview does not authenticate"))?;
    String::from_utf8(plain).map_err(|_| Error::Corrupt("preview is not UTF-8"))
}

fn nonce(
    prefix: &[u8; PREFIX_SIZE],
    counter: u32,
    last: bool,
) -> Nonce<aes_gcm::aead::consts::U12> {
    let mut n = [0u8; 12];
    n[..PREFIX_SIZE].copy_from_slice(prefix);
    n[PREFIX_SIZE..11].copy_from_slice(&counter.to_be_bytes());
    n[11] = u8::from(last);
    Nonce::from(n)
}

/// Encrypts a stream of plaintext into the segmented object format.
pub struct SegmentEncryptor {
    cipher: Aes256Gcm,
    prefix: [u8; PREFIX_SIZE],
    counter: u32,
    pending: BytesMut,
    header_sent: bool,
}

impl SegmentEncryptor {
    pub fn new(data_key: &[u8; 32]) -> Self {
        SegmentEncryptor {
            cipher: cipher(data_key),
            prefix: random(),
            counter: 0,
            pending: BytesMut::with_capacity(SEGMENT_SIZE),
            header_sent: false,
        }
    }

    fn seal(&mut self, plain: &[u8], last: bool) -> Result<Bytes> {
        let n = nonce(&self.prefix, self.counter, last);
        self.counter = self
            .counter
            .checked_add(1)
            .ok_or(Error::Corrupt("file has too many segments"))?;
        let sealed = self
            .cipher
            .encrypt(&n, plain)
            .map_err(|_| Error::Corrupt("segment could not be sealed"))?;
        Ok(Bytes::from(sealed))
    }

    fn header(&mut self, out: &mut Vec<Bytes>) {
        if !self.header_sent {
            self.header_sent = true;
            let mut h = MAGIC.to_vec();
            h.extend_from_slice(&self.prefix);
            out.push(Bytes::from(h));
        }
    }

    /// Takes more plaintext; returns the ciphertext ready to store (complete segments only:
    /// the last full segment is held back until more arrives or [`finish`](Self::finish)).
    pub fn push(&mut self, mut data: &[u8]) -> Result<Vec<Bytes>> {
        let mut out = Vec::new();
        self.header(&mut out);
        while !data.is_empty() {
            if self.pending.len() == SEGMENT_SIZE {
                let seg = self.pending.split().freeze();
                out.push(self.seal(&seg, false)?);
            }
            let take = (SEGMENT_SIZE - self.pending.len()).min(data.len());
            self.pending.extend_from_slice(&data[..take]);
            data = &data[take..];
        }
        Ok(out)
    }

    /// Seals what is left as the last segment.
    pub fn finish(mut self) -> Result<Vec<Bytes>> {
        let mut out = Vec::new();
        self.header(&mut out);
        let seg = self.pending.split().freeze();
        out.push(self.seal(&seg, true)?);
        Ok(out)
    }

    /// Encrypts a small buffer in one call (thumbnails).
    pub fn seal_all(data_key: &[u8; 32], data: &[u8]) -> Result<Vec<u8>> {
        let mut e = SegmentEncryptor::new(data_key);
        let mut out: Vec<u8> = Vec::with_capacity(data.len() + HEADER_SIZE + TAG_SIZE * 2);
        for b in e.push(data)? {
            out.extend_from_slice(&b);
        }
        for b in e.finish()? {
            out.extend_from_slice(&b);
        }
        Ok(out)
    }
}

/// The stored size of a plaintext of `len` bytes.
pub fn sealed_len(len: u64) -> u64 {
    let seg = SEGMENT_SIZE as u64;
    let n_segments = if len == 0 { 1 } else { len.div_ceil(seg) };
    HEADER_SIZE as u64 + len + n_segments * TAG_SIZE as u64
}

/// Decrypts the segmented object format as it streams in.
pub struct SegmentDecryptor {
    cipher: Aes256Gcm,
    prefix: Option<[u8; PREFIX_SIZE]>,
    counter: u32,
    pending: BytesMut,
}

impl SegmentDecryptor {
    pub fn new(data_key: &[u8; 32]) -> Self {
        SegmentDecryptor {
            cipher: cipher(data_key),
            prefix: None,
            counter: 0,
            pending: BytesMut::with_capacity(SEGMENT_SIZE + TAG_SIZE),
        }
    }

    fn open(&mut self, sealed: &[u8], last: bool) -> Result<Bytes> {
        let prefix = self.prefix.ok_or(Error::Corrupt("missing header"))?;
        let n = nonce(&prefix, self.counter, last);
        self.counter = self
            .counter
            .checked_add(1)
            .ok_or(Error::Corrupt("too many segments"))?;
        let plain = self
            .cipher
            .decrypt(&n, sealed)
            .map_err(|_| Error::Corrupt("segment does not authenticate"))?;
        Ok(Bytes::from(plain))
    }

    /// Takes more ciphertext; returns the plaintext of every segment known not to be the last.
    pub fn push(&mut self, data: &[u8]) -> Result<Vec<Bytes>> {
        self.pending.extend_from_slice(data);
        if self.prefix.is_none() {
            if self.pending.len() < HEADER_SIZE {
                return Ok(Vec::new());
            }
            let header = self.pending.split_to(HEADER_SIZE);
            if &header[..MAGIC.len()] != MAGIC {
                return Err(Error::Corrupt("not an encrypted Enclave object"));
            }
            let mut p = [0u8; PREFIX_SIZE];
            p.copy_from_slice(&header[MAGIC.len()..]);
            self.prefix = Some(p);
        }
        let mut out = Vec::new();
        // A full segment is known not to be the last only once a byte after it has arrived.
        while self.pending.len() > SEGMENT_SIZE + TAG_SIZE {
            let seg = self.pending.split_to(SEGMENT_SIZE + TAG_SIZE);
            out.push(self.open(&seg, false)?);
        }
        Ok(out)
    }

    /// Opens the last segment; fails when the object ended early.
    pub fn finish(mut self) -> Result<Bytes> {
        if self.prefix.is_none() || self.pending.len() < TAG_SIZE {
            return Err(Error::Corrupt("object is truncated"));
        }
        let seg = self.pending.split();
        self.open(&seg, true)
    }

    /// Decrypts a small object in one call.
    pub fn open_all(data_key: &[u8; 32], data: &[u8]) -> Result<Vec<u8>> {
        let mut d = SegmentDecryptor::new(data_key);
        let mut out = Vec::with_capacity(data.len());
        for b in d.push(data)? {
            out.extend_from_slice(&b);
        }
        out.extend_from_slice(&d.finish()?);
        Ok(out)
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn derived_keys_seal_open_and_survive_rotation() {
        let ring = KeyRing::new("k1", [1; 32]).unwrap();
        let a = ring.derive("purpose a");
        let sealed = a.seal(b"ctx", b"secret");
        assert_eq!(sealed.key_id, "k1");
        assert_eq!(a.open(&sealed, b"ctx").unwrap(), b"secret");
        // Other associated data, another label, or the master key itself: refused.
        assert!(a.open(&sealed, b"other").is_err());
        assert!(ring.derive("purpose b").open(&sealed, b"ctx").is_err());
        let mut plain_master = KeyRing::new("k1", [1; 32]).unwrap().derive("");
        plain_master.keys.insert("k1".into(), [1; 32]);
        assert!(plain_master.open(&sealed, b"ctx").is_err());
        // A claimed key id other than the one it was sealed under fails too.
        let rotated = KeyRing::new("k2", [2; 32])
            .unwrap()
            .with_previous("k1", [1; 32])
            .unwrap()
            .derive("purpose a");
        assert_eq!(rotated.open(&sealed, b"ctx").unwrap(), b"secret");
        let again = rotated.seal(b"ctx", b"secret");
        assert_eq!(again.key_id, "k2");
        let relabelled = SealedValue {
            key_id: "k1".into(),
            bytes: again.bytes.clone(),
        };
        assert!(rotated.open(&relabelled, b"ctx").is_err());
        // Without the old key, the old value does not open.
        let only_new = KeyRing::new("k2", [2; 32]).unwrap().derive("purpose a");
        assert!(matches!(
            only_new.open(&sealed, b"ctx"),
            Err(Error::UnknownKey(_))
        ));
        // A different master key under the same id: refused.
        let wrong = KeyRing::new("k1", [3; 32]).unwrap().derive("purpose a");
        assert!(wrong.open(&sealed, b"ctx").is_err());
    }

    fn roundtrip(len: usize, chunk: usize) {
        let key = new_data_key();
        let plain: Vec<u8> = (0..len).map(|i| (i * 7 % 251) as u8).collect();
        let mut enc = SegmentEncryptor::new(&key);
        let mut sealed = Vec::new();
        for part in plain.chunks(chunk.max(1)) {
            for b in enc.push(part).unwrap() {
                sealed.extend_from_slice(&b);
            }
        }
        for b in enc.finish().unwrap() {
            sealed.extend_from_slice(&b);
        }
        assert_eq!(sealed.len() as u64, sealed_len(len as u64), "len {len}");
        let mut dec = SegmentDecryptor::new(&key);
        let mut back = Vec::new();
        for part in sealed.chunks(chunk.max(1)) {
            for b in dec.push(part).unwrap() {
                back.extend_from_slice(&b);
            }
        }
        back.extend_from_slice(&dec.finish().unwrap());
        assert_eq!(back, plain, "len {len} chunk {chunk}");
    }

    #[test]
    fn segments_roundtrip_at_every_boundary() {
        for len in [
            0,
            1,
            SEGMENT_SIZE - 1,
            SEGMENT_SIZE,
            SEGMENT_SIZE + 1,
            3 * SEGMENT_SIZE,
            3 * SEGMENT_SIZE + 5,
        ] {
            for chunk in [1000, SEGMENT_SIZE, 100_000] {
                roundtrip(len, chunk);
            }
        }
    }

    fn seal(len: usize) -> ([u8; 32], Vec<u8>) {
        let key = new_data_key();
        let plain = vec![42u8; len];
        (key, SegmentEncryptor::seal_all(&key, &plain).unwrap())
    }

    #[test]
    fn ciphertext_does_not_contain_plaintext() {
        let key = new_data_key();
        let plain = b"attack at dawn, attack at dawn, attack at dawn".repeat(100);
        let sealed = SegmentEncryptor::seal_all(&key, &plain).unwrap();
        assert!(!sealed.windows(14).any(|w| w == b"attack at dawn"));
    }

    #[test]
    fn truncation_is_detected() {
        let (key, sealed) = seal(3 * SEGMENT_SIZE);
        // Drop the last segment exactly at a segment boundary.
        let cut = HEADER_SIZE + 2 * (SEGMENT_SIZE + TAG_SIZE);
        assert!(SegmentDecryptor::open_all(&key, &sealed[..cut]).is_err());
        assert!(SegmentDecryptor::open_all(&key, &sealed[..sealed.len() - 1]).is_err());
        assert!(SegmentDecryptor::open_all(&key, &sealed[..5]).is_err());
    }

    #[test]
    fn reordering_and_appending_are_detected() {
        let (key, sealed) = seal(2 * SEGMENT_SIZE + 10);
        let s = SEGMENT_SIZE + TAG_SIZE;
        let h = HEADER_SIZE;
        let mut swapped = sealed[..h].to_vec();
        swapped.extend_from_slice(&sealed[h + s..h + 2 * s]);
        swapped.extend_from_slice(&sealed[h..h + s]);
        swapped.extend_from_slice(&sealed[h + 2 * s..]);
        assert!(SegmentDecryptor::open_all(&key, &swapped).is_err());
        let mut appended = sealed.clone();
        appended.extend_from_slice(&[0u8; 40]);
        assert!(SegmentDecryptor::open_all(&key, &appended).is_err());
        let mut flipped = sealed.clone();
        flipped[h + 3] ^= 1;
        assert!(SegmentDecryptor::open_all(&key, &flipped).is_err());
        assert!(SegmentDecryptor::open_all(&new_data_key(), &sealed).is_err());
    }

    #[test]
    fn wrap_unwrap_and_rotate() {
        let old = KeyRing::new("k1", new_master_key()).unwrap();
        let data = new_data_key();
        let wrapped = old.wrap(&data);
        assert_eq!(wrapped.key_id, "k1");
        assert_eq!(old.unwrap_key(&wrapped).unwrap(), data);
        assert_eq!(old.rewrap(&wrapped).unwrap(), None);

        let k1 = old.keys["k1"];
        let new = KeyRing::new("k2", new_master_key())
            .unwrap()
            .with_previous("k1", k1)
            .unwrap();
        let rewrapped = new.rewrap(&wrapped).unwrap().unwrap();
        assert_eq!(rewrapped.key_id, "k2");
        assert_eq!(new.unwrap_key(&rewrapped).unwrap(), data);
        // The old ring cannot read the new wrapping; a ring without k1 cannot read the old.
        assert!(matches!(
            old.unwrap_key(&rewrapped),
            Err(Error::UnknownKey(_))
        ));
        let only_new = KeyRing::new("k2", new.keys["k2"]).unwrap();
        assert!(only_new.unwrap_key(&wrapped).is_err());
        // The key id is authenticated: relabelling a wrapped key fails.
        let relabelled = WrappedKey {
            key_id: "k1".into(),
            bytes: rewrapped.bytes.clone(),
        };
        assert!(new.unwrap_key(&relabelled).is_err());
    }

    #[test]
    fn previews_roundtrip_and_stay_apart_from_segments() {
        let key = new_data_key();
        let text = "第一行\nsecond line: canary-7f3a";
        let sealed = seal_preview(&key, text);
        assert!(!sealed.windows(11).any(|w| w == b"canary-7f3a"));
        assert_eq!(sealed[4 + 11], PREVIEW_NONCE_TAG);
        assert_eq!(open_preview(&key, &sealed).unwrap(), text);
        assert_eq!(open_preview(&key, &seal_preview(&key, "")).unwrap(), "");
        // Two seals of the same text differ (fresh nonces).
        assert_ne!(seal_preview(&key, text), sealed);
        // Wrong key, tampering, truncation and relabelling all fail.
        assert!(open_preview(&new_data_key(), &sealed).is_err());
        let mut flipped = sealed.clone();
        *flipped.last_mut().unwrap() ^= 1;
        assert!(open_preview(&key, &flipped).is_err());
        assert!(open_preview(&key, &sealed[..sealed.len() - 1]).is_err());
        assert!(open_preview(&key, &sealed[..10]).is_err());
        // A segment of an object under the same key never opens as a preview, whatever header
        // is put in front of it, and a preview never opens as an object.
        let object = SegmentEncryptor::seal_all(&key, text.as_bytes()).unwrap();
        let mut forged = PREVIEW_MAGIC.to_vec();
        let mut n = [0u8; 12];
        n[..PREFIX_SIZE].copy_from_slice(&object[MAGIC.len()..HEADER_SIZE]);
        n[11] = 1;
        forged.extend_from_slice(&n);
        forged.extend_from_slice(&object[HEADER_SIZE..]);
        assert!(open_preview(&key, &forged).is_err());
        forged[4 + 11] = PREVIEW_NONCE_TAG;
        assert!(open_preview(&key, &forged).is_err());
        assert!(SegmentDecryptor::open_all(&key, &sealed).is_err());
    }

    #[test]
    fn key_ids_are_checked() {
        assert!(KeyRing::new("", [0; 32]).is_err());
        assert!(KeyRing::new("a b", [0; 32]).is_err());
        assert!(
            KeyRing::new("a", [0; 32])
                .unwrap()
                .with_previous("a", [1; 32])
                .is_err()
        );
    }
}
