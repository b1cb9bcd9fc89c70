//! Files on SQLite: metadata rows, attachment to messages, quota sums, the sweep and key
//! rotation bookkeeping. The bytes live in the blob store, not here.

use enclave_core::{
    ChannelId, Entity, Error as DomainError, FileId, FileMeta, Message, MessageId, Millis,
    SealedPreview, Thumbnail, UserId,
};
use rusqlite::{Connection, OptionalExtension, Row, params};

use async_trait::async_trait;

use super::rows::prefixed;
use super::{SqliteStore, Tx};
use crate::common::size_i64;
use crate::{Error, FileStore, NewFile, Result, StoredFile};

pub const FILE_COLS: &str = "id, uploader_id, name, size, content_type, width, height, thumb_width, \
     thumb_height, thumb_type, preview_sealed, object, thumb_object, key_id, wrapped_key, created_at, attached_at";

fn u32_col(r: &Row<'_>, i: usize) -> rusqlite::Result<Option<u32>> {
    Ok(r.get::<_, Option<i64>>(i)?
        .and_then(|v| u32::try_from(v).ok()))
}

/// Reads a file row at column offset `o` (columns as [`FILE_COLS`]).
pub fn stored_at(r: &Row<'_>, o: usize) -> rusqlite::Result<StoredFile> {
    let thumb_type: Option<String> = r.get(o + 9)?;
    let thumbnail = match (u32_col(r, o + 7)?, u32_col(r, o + 8)?, thumb_type) {
        (Some(width), Some(height), Some(content_type)) => Some(Thumbnail {
            width,
            height,
            content_type,
        }),
        _ => None,
    };
    let size: i64 = r.get(o + 3)?;
    let key_id: String = r.get(o + 13)?;
    let wrapped_key: Vec<u8> = r.get(o + 14)?;
    let sealed_preview = r
        .get::<_, Option<Vec<u8>>>(o + 10)?
        .map(|sealed| SealedPreview {
            key_id: key_id.clone(),
            wrapped_key: wrapped_key.clone(),
            sealed,
        });
    Ok(StoredFile {
        meta: FileMeta {
            id: FileId(r.get(o)?),
            uploader_id: UserId(r.get(o + 1)?),
            name: r.get(o + 2)?,
            size: u64::try_from(size).unwrap_or(0),
            content_type: r.get(o + 4)?,
            width: u32_col(r, o + 5)?,
            height: u32_col(r, o + 6)?,
            thumbnail,
            preview: None,
            sealed_preview,
            created_at: Millis(r.get(o + 15)?),
        },
        object: r.get(o + 11)?,
        thumb_object: r.get(o + 12)?,
        key_id,
        wrapped_key,
        attached_at: r.get::<_, Option<i64>>(o + 16)?.map(Millis),
    })
}

fn stored(r: &Row<'_>) -> rusqlite::Result<StoredFile> {
    stored_at(r, 0)
}

pub fn user_bytes(c: &Connection, user_id: UserId) -> Result<u64> {
    let n: i64 = c
        .prepare_cached("SELECT coalesce(sum(size), 0) FROM files WHERE uploader_id = ?1")?
        .query_row([user_id.0], |r| r.get(0))?;
    Ok(u64::try_from(n).unwrap_or(0))
}

pub fn create(tx: &mut Tx<'_>, new: NewFile, quota: Option<u64>) -> Result<FileMeta> {
    if let Some(quota) = quota {
        let used = user_bytes(tx.conn, new.uploader_id)?;
        if used.saturating_add(new.size) > quota {
            return Err(Error::Domain(DomainError::QuotaExceeded { quota }));
        }
    }
    let thumb = new.thumbnail.as_ref();
    tx.conn
        .prepare_cached(
            "INSERT INTO files (uploader_id, name, size, content_type, width, height, thumb_width, thumb_height,
                                thumb_type, preview_sealed, object, thumb_object, key_id, wrapped_key, created_at)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15)",
        )?
        .execute(params![
            new.uploader_id.0,
            new.name,
            size_i64(new.size)?,
            new.content_type,
            new.width,
            new.height,
            thumb.map(|t| t.width),
            thumb.map(|t| t.height),
            thumb.map(|t| t.content_type.as_str()),
            new.sealed_preview,
            new.object,
            new.thumb_object,
            new.key_id,
            new.wrapped_key,
            tx.now.0
        ])?;
    Ok(FileMeta {
        id: FileId(tx.conn.last_insert_rowid()),
        name: new.name,
        size: new.size,
        content_type: new.content_type,
        width: new.width,
        height: new.height,
        thumbnail: new.thumbnail,
        preview: None,
        sealed_preview: new.sealed_preview.map(|sealed| SealedPreview {
            key_id: new.key_id,
            wrapped_key: new.wrapped_key,
            sealed,
        }),
        uploader_id: new.uploader_id,
        created_at: tx.now,
    })
}

pub fn get(c: &Connection, id: FileId) -> Result<Option<StoredFile>> {
    Ok(
        c.prepare_cached(&format!("SELECT {FILE_COLS} FROM files WHERE id = ?1"))?
            .query_row([id.0], stored)
            .optional()?,
    )
}

pub fn channels(c: &Connection, id: FileId) -> Result<Vec<ChannelId>> {
    let mut stmt = c.prepare_cached(
        "SELECT DISTINCT m.channel_id FROM message_files mf JOIN messages m ON m.id = mf.message_id
          WHERE mf.file_id = ?1 AND m.deleted_at IS NULL ORDER BY m.channel_id",
    )?;
    Ok(stmt
        .query_map([id.0], |r| r.get(0).map(ChannelId))?
        .collect::<rusqlite::Result<Vec<_>>>()?)
}

/// Attaches files to a new message, in the given order; every file must exist.
pub fn attach(tx: &Tx<'_>, message: MessageId, ids: &[FileId]) -> Result<Vec<FileMeta>> {
    let mut out = Vec::with_capacity(ids.len());
    for id in ids {
        let file = get(tx.conn, *id)?.ok_or(Error::Domain(DomainError::NotFound(Entity::File)))?;
        tx.conn
            .prepare_cached(
                "INSERT OR IGNORE INTO message_files (message_id, file_id) VALUES (?1, ?2)",
            )?
            .execute([message.0, id.0])?;
        tx.conn
            .prepare_cached(
                "UPDATE files SET attached_at = coalesce(attached_at, ?2) WHERE id = ?1",
            )?
            .execute([id.0, tx.now.0])?;
        out.push(file.meta);
    }
    Ok(out)
}

/// Detaches every file from a message (it was deleted).
pub fn detach_all(tx: &Tx<'_>, message: MessageId) -> Result<()> {
    tx.conn
        .prepare_cached("DELETE FROM message_files WHERE message_id = ?1")?
        .execute([message.0])?;
    Ok(())
}

/// Fills in each message's files.
pub fn attach_to_messages(c: &Connection, msgs: &mut [Message]) -> Result<()> {
    let mut stmt = c.prepare_cached(&format!(
        "SELECT {} FROM message_files mf JOIN files f ON f.id = mf.file_id WHERE mf.message_id = ?1 ORDER BY f.id",
        prefixed(FILE_COLS, "f")
    ))?;
    for m in msgs.iter_mut() {
        m.files = stmt
            .query_map([m.id.0], |r| stored(r).map(|s| s.meta))?
            .collect::<rusqlite::Result<Vec<_>>>()?;
    }
    Ok(())
}

pub fn sweep(tx: &mut Tx<'_>, unattached_before: Millis, limit: u32) -> Result<Vec<StoredFile>> {
    let victims = tx
        .conn
        .prepare_cached(&format!(
            "SELECT {FILE_COLS} FROM files f
              WHERE NOT EXISTS (SELECT 1 FROM message_files mf WHERE mf.file_id = f.id)
                AND NOT EXISTS (SELECT 1 FROM held_files hf WHERE hf.file_id = f.id)
                AND (attached_at IS NOT NULL OR created_at < ?1)
              ORDER BY id LIMIT ?2"
        ))?
        .query_map(params![unattached_before.0, limit], stored)?
        .collect::<rusqlite::Result<Vec<_>>>()?;
    let mut del = tx.conn.prepare_cached("DELETE FROM files WHERE id = ?1")?;
    for v in &victims {
        del.execute([v.meta.id.0])?;
    }
    Ok(victims)
}

pub fn not_under_key(
    c: &Connection,
    key_id: &str,
    after: FileId,
    limit: u32,
) -> Result<Vec<StoredFile>> {
    Ok(c.prepare_cached(&format!(
        "SELECT {FILE_COLS} FROM files WHERE key_id <> ?1 AND id > ?2 ORDER BY id LIMIT ?3"
    ))?
    .query_map(params![key_id, after.0, limit], stored)?
    .collect::<rusqlite::Result<Vec<_>>>()?)
}

pub fn rewrap(
    tx: &mut Tx<'_>,
    id: FileId,
    old_key_id: &str,
    new_key_id: &str,
    wrapped: &[u8],
) -> Result<bool> {
    let n = tx
        .conn
        .prepare_cached(
            "UPDATE files SET key_id = ?3, wrapped_key = ?4 WHERE id = ?1 AND key_id = ?2",
        )?
        .execute(params![id.0, old_key_id, new_key_id, wrapped])?;
    Ok(n == 1)
}

/// Files of `content_type` (by id, after `after`) stored without a sealed preview.
pub fn without_preview(
    c: &Connection,
    content_type: &str,
    after: FileId,
    limit: u32,
) -> Result<Vec<StoredFile>> {
    Ok(c.prepare_cached(&format!(
        "SELECT {FILE_COLS} FROM files
          WHERE preview_sealed IS NULL AND content_type = ?1 AND id > ?2 ORDER BY id LIMIT ?3"
    ))?
    .query_map(params![content_type, after.0, limit], stored)?
    .collect::<rusqlite::Result<Vec<_>>>()?)
}

/// Stores a file's sealed preview if it has none yet.
pub fn set_preview(tx: &mut Tx<'_>, id: FileId, sealed: &[u8]) -> Result<bool> {
    let n = tx
        .conn
        .prepare_cached(
            "UPDATE files SET preview_sealed = ?2 WHERE id = ?1 AND preview_sealed IS NULL",
        )?
        .execute(params![id.0, sealed])?;
    Ok(n == 1)
}

#[async_trait]
impl FileStore for SqliteStore {
    async fn create_file(&self, new: NewFile, quota: Option<u64>) -> Result<FileMeta> {
        self.write(move |tx| create(tx, new, quota)).await
    }
    async fn file(&self, id: FileId) -> Result<Option<StoredFile>> {
        self.read(move |c| get(c, id)).await
    }
    async fn file_channels(&self, id: FileId) -> Result<Vec<ChannelId>> {
        self.read(move |c| channels(c, id)).await
    }
    async fn user_file_bytes(&self, user_id: UserId) -> Result<u64> {
        self.read(move |c| user_bytes(c, user_id)).await
    }
    async fn sweep_files(&self, unattached_before: Millis, limit: u32) -> Result<Vec<StoredFile>> {
        self.write(move |tx| sweep(tx, unattached_before, limit))
            .await
    }
    async fn files_not_under_key(
        &self,
        key_id: &str,
        after: FileId,
        limit: u32,
    ) -> Result<Vec<StoredFile>> {
        let key_id = key_id.to_owned();
        self.read(move |c| not_under_key(c, &key_id, after, limit))
            .await
    }
    async fn rewrap_file_key(
        &self,
        id: FileId,
        old_key_id: &str,
        new_key_id: &str,
        wrapped_key: Vec<u8>,
    ) -> Result<bool> {
        let (old, new) = (old_key_id.to_owned(), new_key_id.to_owned());
        self.write(move |tx| rewrap(tx, id, &old, &new, &wrapped_key))
            .await
    }
    async fn files_without_preview(
        &self,
        content_type: &str,
        after: FileId,
        limit: u32,
    ) -> Result<Vec<StoredFile>> {
        let content_type = content_type.to_owned();
        self.read(move |c| without_preview(c, &content_type, after, limit))
            .await
    }
    async fn set_file_preview(&self, id: FileId, sealed: Vec<u8>) -> Result<bool> {
        self.write(move |tx| set_preview(tx, id, &sealed)).await
    }
}
