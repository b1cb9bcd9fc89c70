//! Enclave's file blobs: where file bytes live and how they are protected. It owns the object
//! storage ([`blob::Blobs`]: a local folder or any S3-compatible store, through `object_store`),
//! envelope encryption in authenticated segments ([`crypto`]), content sniffing and cheap text
//! previews ([`sniff`]), and bounded image decoding for thumbnails ([`thumb`]).
//!
//! It knows nothing of HTTP, SQL or users: the application decides who may store or read what,
//! and keeps the metadata (wrapped keys, object names) in its store.

pub mod blob;
pub mod crypto;
pub mod sniff;
pub mod thumb;

pub use blob::{BlobConfig, Blobs};
pub use crypto::{
    DerivedKeys, KeyRing, SEGMENT_SIZE, SealedValue, SegmentDecryptor, SegmentEncryptor,
    WrappedKey, open_preview, seal_preview,
};

/// A failure in the blob layer.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The object store failed (I/O, network, missing object).
    #[error("object store: {0}")]
    Store(#[from] object_store::Error),
    /// The object was not found.
    #[error("object not found")]
    NotFound,
    /// Decryption failed: wrong key, or the stored bytes were altered, truncated or reordered.
    #[error("stored file failed authentication: {0}")]
    Corrupt(&'static str),
    /// No master key with the id a file's data key was wrapped under.
    #[error("unknown master key id {0:?}")]
    UnknownKey(String),
    /// A key in the configuration is malformed.
    #[error("invalid key: {0}")]
    InvalidKey(String),
    /// The configuration of the store is invalid.
    #[error("invalid file store configuration: {0}")]
    Config(String),
}

pub type Result<T, E = Error> = std::result::Result<T, E>;
