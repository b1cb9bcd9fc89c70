//! Files: the upload pipeline, access-checked downloads and thumbnails, the sweep of files no
//! message references, and master key rotation.
//!
//! An upload streams: each chunk of the request body is counted against the per-file limit and
//! the uploader's quota, sealed by a [`SegmentEncryptor`] under a fresh data key, and written to
//! the blob store as it arrives. What is kept in memory is bounded: the first
//! [`HEAD_LEN`] bytes (for sniffing, image headers and text previews) and, for images no larger
//! than [`FilesConfig::thumbnail_source_max`], the image itself for its thumbnail. Metadata is
//! recorded only after the bytes are stored; an upload that fails leaves no object behind.
//!
//! A text file's preview is sealed under the file's data key before it reaches the store
//! ([`enclave_files::seal_preview`]), so the database never holds file content in plain text.
//! The store hands it back sealed, with the wrapped data key; [`Previews`] opens it for every
//! service that gives files to a door (messages, search, the hub, this one).

use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use enclave_core::permissions;
use enclave_core::{
    Actor, ChannelId, Entity, Error as DomainError, FileId, FileMeta, Message, Millis, Thumbnail,
};
use enclave_files::thumb::{self, ImageError};
use enclave_files::{
    Blobs, KeyRing, SegmentDecryptor, SegmentEncryptor, WrappedKey, open_preview, seal_preview,
    sniff,
};
use enclave_store::{ChannelStore, FileStore, NewFile, StoredFile};
use futures_util::stream::BoxStream;
use futures_util::{Stream, StreamExt};

use crate::error::{Error, Result};
use crate::ratelimit::{Kind, UserLimits};

/// Bytes of the start of a file kept for sniffing, image headers and previews.
pub const HEAD_LEN: usize = 256 * 1024;
/// Longest file name kept (in characters).
pub const MAX_NAME_CHARS: usize = 200;
/// Files handled per sweep or rotation round.
const BATCH: u32 = 200;
/// The media type of the files that get a text preview.
const PREVIEWED_TYPE: &str = "text/plain";
/// Plaintext read back from an object to make its preview again: a preview is at most
/// [`sniff::PREVIEW_CHARS`] characters of the first [`sniff::PREVIEW_LINES`] lines, so it never
/// reaches past the first segment.
const PREVIEW_SOURCE_LEN: usize = enclave_files::SEGMENT_SIZE;

/// Opens the sealed text previews that the store returns with file metadata (it holds the
/// master keys, and only opens). A preview that does not open is left out and logged.
#[derive(Clone)]
pub struct Previews {
    keys: KeyRing,
}

impl Previews {
    pub fn new(keys: KeyRing) -> Self {
        Previews { keys }
    }

    /// Replaces the file's sealed preview by its text.
    pub fn open(&self, file: &mut FileMeta) {
        let Some(sealed) = file.sealed_preview.take() else {
            return;
        };
        let wrapped = WrappedKey {
            key_id: sealed.key_id,
            bytes: sealed.wrapped_key,
        };
        match self
            .keys
            .unwrap_key(&wrapped)
            .and_then(|key| open_preview(&key, &sealed.sealed))
        {
            Ok(text) => file.preview = Some(text),
            Err(e) => {
                tracing::warn!(file = %file.id, error = %e, "a file's preview does not open");
            }
        }
    }

    /// Opens the previews of a message's files.
    pub fn open_message(&self, message: &mut Message) {
        for f in &mut message.files {
            self.open(f);
        }
    }

    /// Opens the previews of the files of every message.
    pub fn open_messages(&self, messages: &mut [Message]) {
        for m in messages {
            self.open_message(m);
        }
    }
}

/// Limits and timings for files.
#[derive(Debug, Clone)]
pub struct FilesConfig {
    /// Largest file, in bytes.
    pub max_file_size: u64,
    /// Most bytes of files one user may store; `None` for no limit.
    pub user_quota: Option<u64>,
    /// Largest image, in pixels (width × height), accepted at all.
    pub max_image_pixels: u64,
    /// Largest image (bytes) that gets a thumbnail; larger ones are stored without.
    pub thumbnail_source_max: u64,
    /// Longest a thumbnail may take to make.
    pub thumbnail_timeout: Duration,
    /// How long an upload may stay unattached before the sweep removes it.
    pub unattached_grace: Duration,
    /// Time between sweeps.
    pub sweep_interval: Duration,
    /// Longest wait for the next piece of an upload before it is given up as stalled.
    pub upload_idle: Duration,
}

impl Default for FilesConfig {
    fn default() -> Self {
        FilesConfig {
            max_file_size: 100 * 1024 * 1024,
            user_quota: Some(10 * 1024 * 1024 * 1024),
            max_image_pixels: 50_000_000,
            thumbnail_source_max: 25 * 1024 * 1024,
            thumbnail_timeout: Duration::from_secs(10),
            unattached_grace: Duration::from_secs(24 * 3600),
            sweep_interval: Duration::from_secs(3600),
            upload_idle: Duration::from_secs(60),
        }
    }
}

/// Why reading an upload's body failed (the door maps its own errors to these).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BodyError {
    /// The client stopped sending or the connection broke.
    Interrupted,
    /// The body went past a limit the door enforces.
    TooLarge,
}

/// The files service.
pub struct Files {
    store: Arc<dyn FileStore>,
    /// For the channels a file is shared in.
    channels: Arc<dyn ChannelStore>,
    blobs: Blobs,
    keys: KeyRing,
    config: FilesConfig,
    limits: Arc<UserLimits>,
}

/// A download: the file's metadata and its decrypted content as a stream.
pub struct Download {
    pub meta: FileMeta,
    pub body: BoxStream<'static, Result<Bytes>>,
}

fn internal(e: impl std::error::Error + Send + Sync + 'static) -> Error {
    Error::Internal(Arc::new(e))
}

fn random_hex(n: usize) -> String {
    let mut b = vec![0u8; n];
    // The system's random generator failing is not something to continue after.
    getrandom::fill(&mut b).expect("the operating system's random generator works");
    b.iter().map(|x| format!("{x:02x}")).collect()
}

/// A file name safe to store and to show: the last path component, without control
/// characters, at most [`MAX_NAME_CHARS`] characters; `file` when nothing is left.
pub fn clean_name(raw: &str) -> String {
    let last = raw.rsplit(['/', '\\']).next().unwrap_or("");
    let cleaned: String = last
        .chars()
        .filter(|c| {
            !c.is_control() && !matches!(c, '\u{202a}'..='\u{202e}' | '\u{2066}'..='\u{2069}')
        })
        .take(MAX_NAME_CHARS)
        .collect();
    let trimmed = cleaned.trim().trim_start_matches('.').trim();
    if trimmed.is_empty() {
        "file".into()
    } else {
        trimmed.to_owned()
    }
}

impl Files {
    pub fn new(
        store: Arc<dyn FileStore>,
        channels: Arc<dyn ChannelStore>,
        blobs: Blobs,
        keys: KeyRing,
        config: FilesConfig,
        limits: Arc<UserLimits>,
    ) -> Self {
        Files {
            store,
            channels,
            blobs,
            keys,
            config,
            limits,
        }
    }

    pub fn config(&self) -> &FilesConfig {
        &self.config
    }

    /// What the other services open previews with.
    pub fn previews(&self) -> Previews {
        Previews::new(self.keys.clone())
    }

    async fn quota_left(&self, actor: &Actor) -> Result<Option<u64>> {
        match self.config.user_quota {
            None => Ok(None),
            Some(q) => {
                let used = self.store.user_file_bytes(actor.user_id).await?;
                Ok(Some(q.saturating_sub(used)))
            }
        }
    }

    /// Checks a declared size before any byte is read.
    pub async fn precheck(&self, actor: &Actor, declared_len: Option<u64>) -> Result<()> {
        if let Some(len) = declared_len {
            if len > self.config.max_file_size {
                return Err(DomainError::FileTooLarge {
                    limit: self.config.max_file_size,
                }
                .into());
            }
            if let (Some(left), Some(quota)) =
                (self.quota_left(actor).await?, self.config.user_quota)
                && len > left
            {
                return Err(DomainError::QuotaExceeded { quota }.into());
            }
        }
        Ok(())
    }

    /// Stores an upload for the actor. The content type is sniffed from the bytes. Each upload
    /// counts against the actor's upload rate limit ([`Kind::Upload`]), before a byte is read.
    pub async fn upload<S>(
        &self,
        actor: &Actor,
        name: &str,
        declared_len: Option<u64>,
        body: S,
    ) -> Result<FileMeta>
    where
        S: Stream<Item = std::result::Result<Bytes, BodyError>> + Send + Unpin,
    {
        self.limits.check(actor, Kind::Upload)?;
        enclave_core::permissions::check_upload(actor)?;
        enclave_core::validate::upload_name(name)?;
        if let Some(len) = declared_len {
            enclave_core::validate::upload_size(len)?;
        }
        self.precheck(actor, declared_len).await?;
        let name = clean_name(name);
        let left = self.quota_left(actor).await?;
        let data_key = enclave_files::crypto::new_data_key();
        let wrapped = self.keys.wrap(&data_key);
        let object = format!("o/{}", random_hex(16));
        let mut writer = self.blobs.writer(&object).await.map_err(internal)?;
        let staged = self.stream_into(&data_key, &mut writer, left, body).await;
        let staged = match staged {
            Ok(s) => s,
            Err(e) => {
                writer.abort().await;
                let _ = self.blobs.delete(&object).await;
                return Err(e);
            }
        };
        if let Err(e) = writer.finish().await {
            let _ = self.blobs.delete(&object).await;
            return Err(internal(e));
        }
        match self
            .finish_upload(actor, name, &data_key, wrapped, &object, staged)
            .await
        {
            Ok(meta) => Ok(meta),
            Err((e, thumb_object)) => {
                let _ = self.blobs.delete(&object).await;
                if let Some(t) = thumb_object {
                    let _ = self.blobs.delete(&t).await;
                }
                Err(e)
            }
        }
    }

    async fn stream_into<S>(
        &self,
        data_key: &[u8; 32],
        writer: &mut enclave_files::blob::BlobWriter,
        quota_left: Option<u64>,
        mut body: S,
    ) -> Result<Staged>
    where
        S: Stream<Item = std::result::Result<Bytes, BodyError>> + Send + Unpin,
    {
        let mut enc = SegmentEncryptor::new(data_key);
        let mut size: u64 = 0;
        let mut head: Vec<u8> = Vec::new();
        // The whole file while it may still be an image small enough for a thumbnail.
        let mut image: Option<Vec<u8>> = Some(Vec::new());
        let mut content_type: Option<String> = None;
        let mut pixels_checked = false;
        loop {
            let Ok(next) = tokio::time::timeout(self.config.upload_idle, body.next()).await else {
                return Err(DomainError::invalid("file", "the upload stalled").into());
            };
            let Some(chunk) = next else {
                break;
            };
            let chunk = match chunk {
                Ok(c) => c,
                Err(BodyError::TooLarge) => {
                    return Err(DomainError::FileTooLarge {
                        limit: self.config.max_file_size,
                    }
                    .into());
                }
                Err(BodyError::Interrupted) => {
                    return Err(DomainError::invalid("file", "the upload was interrupted").into());
                }
            };
            size = size.saturating_add(chunk.len() as u64);
            if size > self.config.max_file_size {
                return Err(DomainError::FileTooLarge {
                    limit: self.config.max_file_size,
                }
                .into());
            }
            if let (Some(left), Some(quota)) = (quota_left, self.config.user_quota)
                && size > left
            {
                return Err(DomainError::QuotaExceeded { quota }.into());
            }
            if head.len() < HEAD_LEN {
                let take = (HEAD_LEN - head.len()).min(chunk.len());
                head.extend_from_slice(&chunk[..take]);
            }
            if content_type.is_none() && head.len() >= sniff::SNIFF_LEN {
                content_type = Some(sniff::content_type(&head));
            }
            let keep = size <= self.config.thumbnail_source_max
                && content_type.as_deref().is_none_or(sniff::is_thumbnailable);
            match image.as_mut() {
                Some(img) if keep => img.extend_from_slice(&chunk),
                _ => image = None,
            }
            // Refuse a decompression bomb as soon as its header is in.
            if !pixels_checked
                && content_type.as_deref().is_some_and(sniff::is_thumbnailable)
                && let Some((w, h)) = thumb::dimensions(&head)
            {
                pixels_checked = true;
                check_pixels(w, h, self.config.max_image_pixels)?;
            }
            for sealed in enc.push(&chunk).map_err(internal)? {
                writer.write(&sealed).await.map_err(internal)?;
            }
        }
        for sealed in enc.finish().map_err(internal)? {
            writer.write(&sealed).await.map_err(internal)?;
        }
        enclave_core::validate::upload_size(size)?;
        // A file shorter than the sniffing length is sniffed whole.
        let content_type = content_type.unwrap_or_else(|| sniff::content_type(&head));
        if !sniff::is_thumbnailable(&content_type) {
            image = None;
        }
        Ok(Staged {
            size,
            head,
            image,
            content_type,
        })
    }

    async fn finish_upload(
        &self,
        actor: &Actor,
        name: String,
        data_key: &[u8; 32],
        wrapped: WrappedKey,
        object: &str,
        staged: Staged,
    ) -> std::result::Result<FileMeta, (Error, Option<String>)> {
        let Staged {
            size,
            head,
            image,
            content_type,
        } = staged;
        let mut width = None;
        let mut height = None;
        if sniff::is_thumbnailable(&content_type)
            && let Some((w, h)) = thumb::dimensions(&head)
        {
            check_pixels(w, h, self.config.max_image_pixels).map_err(|e| (e, None))?;
            width = Some(w);
            height = Some(h);
        }
        let mut thumbnail = None;
        let mut thumb_object = None;
        if let Some(img) = image.filter(|_| width.is_some()) {
            match self.make_thumbnail(img).await {
                Ok(Some(t)) => {
                    let sealed = SegmentEncryptor::seal_all(data_key, &t.bytes)
                        .map_err(|e| (internal(e), None))?;
                    let name = format!("{object}.thumb");
                    self.blobs
                        .put(&name, sealed)
                        .await
                        .map_err(|e| (internal(e), None))?;
                    thumbnail = Some(Thumbnail {
                        width: t.width,
                        height: t.height,
                        content_type: t.content_type.into(),
                    });
                    thumb_object = Some(name);
                }
                Ok(None) => {}
                Err(e) => return Err((e, None)),
            }
        }
        let preview = if content_type == PREVIEWED_TYPE {
            sniff::text_preview(&head)
        } else {
            None
        };
        let sealed_preview = preview.as_deref().map(|p| seal_preview(data_key, p));
        let new = NewFile {
            name,
            size,
            content_type,
            width,
            height,
            thumbnail,
            sealed_preview,
            uploader_id: actor.user_id,
            object: object.to_owned(),
            thumb_object: thumb_object.clone(),
            key_id: wrapped.key_id,
            wrapped_key: wrapped.bytes,
        };
        let mut meta = self
            .store
            .create_file(new, self.config.user_quota)
            .await
            .map_err(|e| (e.into(), thumb_object))?;
        meta.sealed_preview = None;
        meta.preview = preview;
        Ok(meta)
    }

    /// Decodes and scales on the blocking pool, within the time limit. A decoding failure or
    /// timeout stores the file without a thumbnail; too many pixels refuses it.
    async fn make_thumbnail(&self, img: Vec<u8>) -> Result<Option<thumb::Thumbnail>> {
        let max = self.config.max_image_pixels;
        let job = tokio::task::spawn_blocking(move || thumb::thumbnail(&img, max));
        match tokio::time::timeout(self.config.thumbnail_timeout, job).await {
            Ok(Ok(Ok(t))) => Ok(Some(t)),
            Ok(Ok(Err(ImageError::TooManyPixels { .. }))) => {
                Err(DomainError::ImageRefused("the image has more pixels than allowed").into())
            }
            Ok(Ok(Err(ImageError::Decode(e)))) => {
                tracing::info!(error = %e, "no thumbnail: image could not be decoded");
                Ok(None)
            }
            Ok(Err(e)) => {
                tracing::warn!(error = %e, "thumbnail task failed");
                Ok(None)
            }
            Err(_) => {
                tracing::warn!("no thumbnail: took too long");
                Ok(None)
            }
        }
    }

    /// The file, if the actor may read it (else `NotFound(File)`).
    async fn readable(&self, actor: &Actor, id: FileId) -> Result<StoredFile> {
        let file = self
            .store
            .file(id)
            .await?
            .ok_or(DomainError::NotFound(Entity::File))?;
        if file.meta.uploader_id != actor.user_id {
            let channels: Vec<ChannelId> = self.store.file_channels(id).await?;
            let mut shared = Vec::with_capacity(channels.len());
            for ch in channels {
                if let Some(pair) = self.channels.channel_for(ch, actor.user_id).await? {
                    shared.push(pair);
                }
            }
            permissions::check_file_read(actor, file.meta.uploader_id, &shared)?;
        }
        Ok(file)
    }

    /// A file's metadata.
    pub async fn info(&self, actor: &Actor, id: FileId) -> Result<FileMeta> {
        let mut meta = self.readable(actor, id).await?.meta;
        self.previews().open(&mut meta);
        Ok(meta)
    }

    fn data_key(&self, file: &StoredFile) -> Result<[u8; 32]> {
        self.keys
            .unwrap_key(&WrappedKey {
                key_id: file.key_id.clone(),
                bytes: file.wrapped_key.clone(),
            })
            .map_err(internal)
    }

    /// The file's content, decrypted segment by segment as it streams.
    pub async fn download(&self, actor: &Actor, id: FileId) -> Result<Download> {
        let file = self.readable(actor, id).await?;
        let key = self.data_key(&file)?;
        let raw = match self.blobs.get_stream(&file.object).await {
            Ok(s) => s,
            Err(enclave_files::Error::NotFound) => {
                tracing::error!(file = %id, object = %file.object, "file object is missing");
                return Err(DomainError::NotFound(Entity::File).into());
            }
            Err(e) => return Err(internal(e)),
        };
        let mut meta = file.meta;
        self.previews().open(&mut meta);
        Ok(Download {
            meta,
            body: decrypt_stream(raw, SegmentDecryptor::new(&key)),
        })
    }

    /// The file's thumbnail and its metadata.
    pub async fn thumbnail(&self, actor: &Actor, id: FileId) -> Result<(Thumbnail, Vec<u8>)> {
        let file = self.readable(actor, id).await?;
        let (Some(meta), Some(object)) = (file.meta.thumbnail.clone(), file.thumb_object.clone())
        else {
            return Err(DomainError::NotFound(Entity::File).into());
        };
        let key = self.data_key(&file)?;
        let sealed = self.blobs.get_bytes(&object).await.map_err(internal)?;
        let bytes = SegmentDecryptor::open_all(&key, &sealed).map_err(internal)?;
        Ok((meta, bytes))
    }

    /// Removes files no message references (detached ones at once, never-attached ones after
    /// the grace period), reporting progress after each batch and stopping between batches
    /// when the server stops; returns how many.
    pub async fn sweep(&self, ctx: &crate::jobs::JobCtx) -> Result<u64> {
        let grace = i64::try_from(self.config.unattached_grace.as_millis()).unwrap_or(i64::MAX);
        let before = Millis(Millis::now().0.saturating_sub(grace));
        let mut n = 0;
        loop {
            let gone = self.store.sweep_files(before, BATCH).await?;
            for f in &gone {
                for object in std::iter::once(&f.object).chain(f.thumb_object.iter()) {
                    if let Err(e) = self.blobs.delete(object).await {
                        tracing::warn!(error = %e, object = %object, "could not delete a swept file's object");
                    }
                }
            }
            n += gone.len() as u64;
            ctx.progress(n, None);
            if gone.len() < BATCH as usize || ctx.stopping() {
                return Ok(n);
            }
        }
    }

    /// Deletes the objects (and thumbnails) of files whose rows are gone already (the retention
    /// purge's); a failure is logged (the object is then an orphan, never a dangling row).
    pub async fn delete_objects(&self, files: &[enclave_store::StoredFile]) {
        for f in files {
            for object in std::iter::once(&f.object).chain(f.thumb_object.iter()) {
                if let Err(e) = self.blobs.delete(object).await {
                    tracing::warn!(error = %e, object = %object, "could not delete a purged file's object");
                }
            }
        }
    }

    /// Time between sweeps.
    pub fn sweep_interval(&self) -> Duration {
        self.config.sweep_interval
    }

    /// Seals a preview for every text file stored without one: files uploaded before previews
    /// were sealed, whose plain previews the upgrade dropped. Each is made again from the start
    /// of the file's encrypted object. Returns how many; a file that fails is logged and skipped.
    /// Stops between pages when the server is stopping (the rest is sealed by the next run).
    pub async fn seal_missing_previews(&self, ctx: &crate::jobs::JobCtx) -> Result<u64> {
        let mut after = FileId(0);
        let mut n = 0;
        loop {
            if ctx.stopping() {
                return Ok(n);
            }
            let page = self
                .store
                .files_without_preview(PREVIEWED_TYPE, after, BATCH)
                .await?;
            let Some(last) = page.last() else {
                return Ok(n);
            };
            after = last.meta.id;
            for f in &page {
                match self.seal_preview_again(f).await {
                    Ok(true) => n += 1,
                    Ok(false) => {}
                    Err(e) => {
                        tracing::warn!(file = %f.meta.id, error = %e, "could not seal a text file's preview");
                    }
                }
            }
            ctx.progress(n, None);
        }
    }

    async fn seal_preview_again(&self, file: &StoredFile) -> Result<bool> {
        let key = self.data_key(file)?;
        let raw = self
            .blobs
            .get_stream(&file.object)
            .await
            .map_err(internal)?;
        let mut body = decrypt_stream(raw, SegmentDecryptor::new(&key));
        let mut head = Vec::new();
        while head.len() < PREVIEW_SOURCE_LEN {
            match body.next().await {
                Some(chunk) => head.extend_from_slice(&chunk?),
                None => break,
            }
        }
        let Some(text) = sniff::text_preview(&head) else {
            return Ok(false);
        };
        Ok(self
            .store
            .set_file_preview(file.meta.id, seal_preview(&key, &text))
            .await?)
    }

    /// Re-wraps every data key not under the current master key; returns how many. The file
    /// bytes are not touched.
    pub async fn rotate_keys(&self) -> Result<u64> {
        let current = self.keys.current_id().to_owned();
        let mut after = FileId(0);
        let mut n = 0;
        loop {
            let page = self
                .store
                .files_not_under_key(&current, after, BATCH)
                .await?;
            let Some(last) = page.last() else {
                return Ok(n);
            };
            after = last.meta.id;
            for f in &page {
                let old = WrappedKey {
                    key_id: f.key_id.clone(),
                    bytes: f.wrapped_key.clone(),
                };
                let Some(new) = self.keys.rewrap(&old).map_err(internal)? else {
                    continue;
                };
                if self
                    .store
                    .rewrap_file_key(f.meta.id, &old.key_id, &new.key_id, new.bytes)
                    .await?
                {
                    n += 1;
                }
            }
        }
    }
}

struct Staged {
    size: u64,
    head: Vec<u8>,
    image: Option<Vec<u8>>,
    content_type: String,
}

fn check_pixels(w: u32, h: u32, max: u64) -> Result<()> {
    thumb::check_pixels(w, h, max).map_err(|_| {
        Error::Domain(DomainError::ImageRefused(
            "the image has more pixels than allowed",
        ))
    })
}

fn decrypt_stream(
    raw: BoxStream<'static, enclave_files::Result<Bytes>>,
    dec: SegmentDecryptor,
) -> BoxStream<'static, Result<Bytes>> {
    struct State {
        raw: BoxStream<'static, enclave_files::Result<Bytes>>,
        dec: Option<SegmentDecryptor>,
        ready: std::collections::VecDeque<Bytes>,
    }
    let state = State {
        raw,
        dec: Some(dec),
        ready: std::collections::VecDeque::new(),
    };
    futures_util::stream::unfold(state, |mut st| async move {
        loop {
            if let Some(b) = st.ready.pop_front() {
                return Some((Ok(b), st));
            }
            let dec = st.dec.as_mut()?;
            match st.raw.next().await {
                Some(Ok(chunk)) => match dec.push(&chunk) {
                    Ok(out) => st.ready.extend(out.into_iter().filter(|b| !b.is_empty())),
                    Err(e) => {
                        st.dec = None;
                        return Some((Err(internal(e)), st));
                    }
                },
                Some(Err(e)) => {
                    st.dec = None;
                    return Some((Err(internal(e)), st));
                }
                None => {
                    let dec = st.dec.take()?;
                    match dec.finish() {
                        Ok(last) if last.is_empty() => return None,
                        Ok(last) => return Some((Ok(last), st)),
                        Err(e) => return Some((Err(internal(e)), st)),
                    }
                }
            }
        }
    })
    .boxed()
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use enclave_store::sqlite::{Options, SqliteStore};
    use enclave_store::{NewUser, Store};

    async fn setup(dir: &std::path::Path, config: FilesConfig) -> (Files, Actor) {
        let store: Arc<dyn Store> =
            Arc::new(SqliteStore::open(&dir.join("db"), Options::default()).unwrap());
        let user = store
            .create_user(NewUser {
                username: "u".into(),
                display_name: "U".into(),
                email: None,
                password_hash: None,
                is_admin: false,
                is_bot: false,
                actor_id: None,
                is_guest: false,
                guest_expires_at: None,
            })
            .await
            .unwrap();
        let blobs = Blobs::open(&enclave_files::BlobConfig::Local {
            root: dir.join("files"),
        })
        .unwrap();
        let keys = KeyRing::new("k1", [7; 32]).unwrap();
        let actor = Actor::for_user(&user);
        (
            Files::new(
                store.clone(),
                store,
                blobs,
                keys,
                config,
                Arc::new(crate::UserLimits::off()),
            ),
            actor,
        )
    }

    fn objects(dir: &std::path::Path) -> usize {
        fn walk(p: &std::path::Path) -> usize {
            std::fs::read_dir(p).map_or(0, |rd| {
                rd.flatten()
                    .map(|e| {
                        if e.path().is_dir() {
                            walk(&e.path())
                        } else {
                            1
                        }
                    })
                    .sum()
            })
        }
        walk(&dir.join("files"))
    }

    #[tokio::test]
    async fn stalled_and_interrupted_uploads_leave_nothing() {
        let dir = tempfile::tempdir().unwrap();
        let config = FilesConfig {
            upload_idle: Duration::from_millis(200),
            ..FilesConfig::default()
        };
        let (files, actor) = setup(dir.path(), config).await;
        let first = futures_util::stream::iter(vec![Ok(Bytes::from(vec![1u8; 100_000]))]);
        let stalled = first.chain(futures_util::stream::pending()).boxed();
        let err = files.upload(&actor, "a", None, stalled).await.unwrap_err();
        assert!(
            matches!(
                err,
                Error::Domain(DomainError::Invalid { field: "file", .. })
            ),
            "{err:?}"
        );
        let broken = futures_util::stream::iter(vec![
            Ok(Bytes::from(vec![1u8; 100_000])),
            Err(BodyError::Interrupted),
        ]);
        assert!(files.upload(&actor, "b", None, broken).await.is_err());
        assert_eq!(objects(dir.path()), 0);
        // A complete upload stores exactly one object and reads back.
        let ok = futures_util::stream::iter(vec![Ok(Bytes::from_static(b"hello"))]);
        let meta = files.upload(&actor, "c.txt", None, ok).await.unwrap();
        assert_eq!(objects(dir.path()), 1);
        let dl = files.download(&actor, meta.id).await.unwrap();
        let body: Vec<Bytes> = dl.body.map(|r| r.unwrap()).collect().await;
        assert_eq!(body.concat(), b"hello");
    }

    #[tokio::test]
    async fn previews_are_sealed_and_made_again_when_missing() {
        let dir = tempfile::tempdir().unwrap();
        let (files, actor) = setup(dir.path(), FilesConfig::default()).await;
        let text = "first line\nsecond line\n".repeat(3);
        let body = futures_util::stream::iter(vec![Ok(Bytes::from(text.clone()))]);
        let meta = files.upload(&actor, "a.txt", None, body).await.unwrap();
        let want = sniff::text_preview(text.as_bytes());
        assert_eq!(meta.preview, want);
        assert_eq!(meta.sealed_preview, None);
        // The store holds it sealed; the service opens it.
        let stored = files.store.file(meta.id).await.unwrap().unwrap();
        assert_eq!(stored.meta.preview, None);
        let sealed = stored.meta.sealed_preview.clone().unwrap();
        assert!(!sealed.sealed.windows(10).any(|w| w == b"first line"));
        assert_eq!(files.info(&actor, meta.id).await.unwrap().preview, want);

        // A file recorded without one (as the upgrade leaves earlier text files) gets it again
        // from its object, once.
        let legacy = files
            .store
            .create_file(
                NewFile {
                    name: "old.txt".into(),
                    size: stored.meta.size,
                    content_type: PREVIEWED_TYPE.into(),
                    width: None,
                    height: None,
                    thumbnail: None,
                    sealed_preview: None,
                    uploader_id: actor.user_id,
                    object: stored.object.clone(),
                    thumb_object: None,
                    key_id: stored.key_id.clone(),
                    wrapped_key: stored.wrapped_key.clone(),
                },
                None,
            )
            .await
            .unwrap();
        assert_eq!(files.info(&actor, legacy.id).await.unwrap().preview, None);
        let files = Arc::new(files);
        let job = crate::jobs::SealPreviews::new(files.clone());
        assert_eq!(crate::jobs::run_once(&job).await.unwrap().n_items, 1);
        assert_eq!(crate::jobs::run_once(&job).await.unwrap().n_items, 0);
        assert_eq!(files.info(&actor, legacy.id).await.unwrap().preview, want);

        // A preview that does not open (a key this ring lacks) is left out, not an error.
        let mut foreign = stored.meta.clone();
        foreign.sealed_preview = Some(enclave_core::SealedPreview {
            key_id: "k9".into(),
            ..sealed
        });
        files.previews().open(&mut foreign);
        assert_eq!((foreign.preview, foreign.sealed_preview), (None, None));
    }

    #[test]
    fn names_are_cleaned() {
        for (raw, want) in [
            ("report.pdf", "report.pdf"),
            ("../../etc/passwd", "passwd"),
            ("C:\\Users\\x\\a.txt", "a.txt"),
            ("", "file"),
            ("...", "file"),
            (".bashrc", "bashrc"),
            ("a\u{0}b\nc.txt", "abc.txt"),
            ("evil\u{202e}fdp.exe", "evilfdp.exe"),
            ("报告.docx", "报告.docx"),
        ] {
            assert_eq!(clean_name(raw), want, "{raw:?}");
        }
        assert_eq!(clean_name(&"x".repeat(500)).chars().count(), MAX_NAME_CHARS);
    }
}
