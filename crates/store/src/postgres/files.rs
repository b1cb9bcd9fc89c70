//! Files on PostgreSQL: the same operations as `sqlite/files.rs`. Quota checks lock the
//! uploader's row so that concurrent uploads by one user are counted one after the other;
//! attaching takes a key-share lock on the file row, so a concurrent sweep either sees the
//! attachment or has already removed the file (and the post fails with `file_not_found`).

use enclave_core::{
    ChannelId, Entity, Error as DomainError, FileId, FileMeta, Message, MessageId, Millis,
    SealedPreview, Thumbnail, UserId,
};
use sqlx_core::query::query;
use sqlx_core::row::Row;
use sqlx_postgres::{PgConnection, PgRow};

use async_trait::async_trait;

use super::{PgStore, Tx};
use crate::common::size_i64;
use crate::{Error, FileStore, NewFile, Result, StoredFile};

macro_rules! file_cols {
    () => {
        "f.id, f.uploader_id, f.name, f.size, f.content_type, f.width, f.height, f.thumb_width, \
         f.thumb_height, f.thumb_type, f.preview_sealed, f.object, f.thumb_object, f.key_id, f.wrapped_key, \
         f.created_at, f.attached_at"
    };
}

fn u32_col(r: &PgRow, i: usize) -> std::result::Result<Option<u32>, sqlx_core::Error> {
    Ok(r.try_get::<Option<i64>, _>(i)?
        .and_then(|v| u32::try_from(v).ok()))
}

/// Reads a file whose columns (as `file_cols!`) start at index `o`.
fn stored_at(r: &PgRow, o: usize) -> std::result::Result<StoredFile, sqlx_core::Error> {
    let thumb_type: Option<String> = r.try_get(o + 9)?;
    let thumbnail = match (u32_col(r, o + 7)?, u32_col(r, o + 8)?, thumb_type) {
        (Some(width), Some(height), Some(content_type)) => Some(Thumbnail {
            width,
            height,
            content_type,
        }),
        _ => None,
    };
    let size: i64 = r.try_get(o + 3)?;
    let key_id: String = r.try_get(o + 13)?;
    let wrapped_key: Vec<u8> = r.try_get(o + 14)?;
    let sealed_preview = r
        .try_get::<Option<Vec<u8>>, _>(o + 10)?
        .map(|sealed| SealedPreview {
            key_id: key_id.clone(),
            wrapped_key: wrapped_key.clone(),
            sealed,
        });
    Ok(StoredFile {
        meta: FileMeta {
            id: FileId(r.try_get(o)?),
            uploader_id: UserId(r.try_get(o + 1)?),
            name: r.try_get(o + 2)?,
            size: u64::try_from(size).unwrap_or(0),
            content_type: r.try_get(o + 4)?,
            width: u32_col(r, o + 5)?,
            height: u32_col(r, o + 6)?,
            thumbnail,
            preview: None,
            sealed_preview,
            created_at: Millis(r.try_get(o + 15)?),
        },
        object: r.try_get(o + 11)?,
        thumb_object: r.try_get(o + 12)?,
        key_id,
        wrapped_key,
        attached_at: r.try_get::<Option<i64>, _>(o + 16)?.map(Millis),
    })
}

pub(super) fn stored(r: &PgRow) -> std::result::Result<StoredFile, sqlx_core::Error> {
    stored_at(r, 0)
}

fn rows(rs: &[PgRow]) -> Result<Vec<StoredFile>> {
    Ok(rs
        .iter()
        .map(stored)
        .collect::<std::result::Result<Vec<_>, _>>()?)
}

pub async fn user_bytes(c: &mut PgConnection, user_id: UserId) -> Result<u64> {
    let n: i64 = query("SELECT coalesce(sum(size), 0)::int8 FROM files WHERE uploader_id = $1")
        .bind(user_id.0)
        .fetch_one(&mut *c)
        .await?
        .try_get(0)?;
    Ok(u64::try_from(n).unwrap_or(0))
}

pub async fn create(tx: &mut Tx, new: NewFile, quota: Option<u64>) -> Result<FileMeta> {
    let now = tx.now;
    let size = size_i64(new.size)?;
    if let Some(quota) = quota {
        query("SELECT 1 FROM users WHERE id = $1 FOR NO KEY UPDATE")
            .bind(new.uploader_id.0)
            .execute(tx.c())
            .await?;
        let used = user_bytes(tx.c(), new.uploader_id).await?;
        if used.saturating_add(new.size) > quota {
            return Err(Error::Domain(DomainError::QuotaExceeded { quota }));
        }
    }
    let thumb = new.thumbnail.as_ref();
    let id: i64 = query(
        "INSERT INTO files (uploader_id, name, size, content_type, width, height, thumb_width, thumb_height,
                            thumb_type, preview_sealed, object, thumb_object, key_id, wrapped_key, created_at)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15) RETURNING id",
    )
    .bind(new.uploader_id.0)
    .bind(&new.name)
    .bind(size)
    .bind(&new.content_type)
    .bind(new.width.map(i64::from))
    .bind(new.height.map(i64::from))
    .bind(thumb.map(|t| i64::from(t.width)))
    .bind(thumb.map(|t| i64::from(t.height)))
    .bind(thumb.map(|t| t.content_type.clone()))
    .bind(&new.sealed_preview)
    .bind(&new.object)
    .bind(&new.thumb_object)
    .bind(&new.key_id)
    .bind(&new.wrapped_key)
    .bind(now.0)
    .fetch_one(tx.c())
    .await?
    .try_get(0)?;
    Ok(FileMeta {
        id: FileId(id),
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
        created_at: now,
    })
}

pub async fn get(c: &mut PgConnection, id: FileId) -> Result<Option<StoredFile>> {
    let row = query(concat!(
        "SELECT ",
        file_cols!(),
        " FROM files f WHERE f.id = $1"
    ))
    .bind(id.0)
    .fetch_optional(&mut *c)
    .await?;
    Ok(row.as_ref().map(stored).transpose()?)
}

pub async fn channels(c: &mut PgConnection, id: FileId) -> Result<Vec<ChannelId>> {
    let rs = query(
        "SELECT DISTINCT m.channel_id FROM message_files mf JOIN messages m ON m.id = mf.message_id
          WHERE mf.file_id = $1 AND m.deleted_at IS NULL ORDER BY m.channel_id",
    )
    .bind(id.0)
    .fetch_all(&mut *c)
    .await?;
    rs.iter().map(|r| Ok(ChannelId(r.try_get(0)?))).collect()
}

pub async fn attach(tx: &mut Tx, message: MessageId, ids: &[FileId]) -> Result<Vec<FileMeta>> {
    let now = tx.now;
    let mut out = Vec::with_capacity(ids.len());
    for id in ids {
        let row = query(concat!(
            "SELECT ",
            file_cols!(),
            " FROM files f WHERE f.id = $1 FOR KEY SHARE"
        ))
        .bind(id.0)
        .fetch_optional(tx.c())
        .await?;
        let file = row
            .as_ref()
            .map(stored)
            .transpose()?
            .ok_or(Error::Domain(DomainError::NotFound(Entity::File)))?;
        query("INSERT INTO message_files (message_id, file_id) VALUES ($1, $2) ON CONFLICT DO NOTHING")
            .bind(message.0)
            .bind(id.0)
            .execute(tx.c())
            .await?;
        query("UPDATE files SET attached_at = coalesce(attached_at, $2) WHERE id = $1")
            .bind(id.0)
            .bind(now.0)
            .execute(tx.c())
            .await?;
        out.push(file.meta);
    }
    Ok(out)
}

pub async fn detach_all(tx: &mut Tx, message: MessageId) -> Result<()> {
    query("DELETE FROM message_files WHERE message_id = $1")
        .bind(message.0)
        .execute(tx.c())
        .await?;
    Ok(())
}

pub async fn attach_to_messages(c: &mut PgConnection, msgs: &mut [Message]) -> Result<()> {
    if msgs.is_empty() {
        return Ok(());
    }
    let ids: Vec<i64> = msgs.iter().map(|m| m.id.0).collect();
    let rs = query(concat!(
        "SELECT mf.message_id, ",
        file_cols!(),
        " FROM message_files mf JOIN files f ON f.id = mf.file_id
          WHERE mf.message_id = ANY($1) ORDER BY mf.message_id, f.id"
    ))
    .bind(ids)
    .fetch_all(&mut *c)
    .await?;
    if rs.is_empty() {
        return Ok(());
    }
    let mut by_message: std::collections::HashMap<i64, Vec<FileMeta>> =
        std::collections::HashMap::new();
    for r in &rs {
        let mid: i64 = r.try_get(0)?;
        // The file columns follow the message id.
        let f = stored_at(r, 1)?;
        by_message.entry(mid).or_default().push(f.meta);
    }
    for m in msgs.iter_mut() {
        if let Some(files) = by_message.remove(&m.id.0) {
            m.files = files;
        }
    }
    Ok(())
}

pub async fn sweep(tx: &mut Tx, unattached_before: Millis, limit: u32) -> Result<Vec<StoredFile>> {
    let rs = query(concat!(
        "DELETE FROM files f WHERE f.id IN (
            SELECT g.id FROM files g
             WHERE NOT EXISTS (SELECT 1 FROM message_files mf WHERE mf.file_id = g.id)
               AND NOT EXISTS (SELECT 1 FROM held_files hf WHERE hf.file_id = g.id)
               AND (g.attached_at IS NOT NULL OR g.created_at < $1)
             ORDER BY g.id LIMIT $2 FOR UPDATE SKIP LOCKED)
           AND NOT EXISTS (SELECT 1 FROM message_files mf WHERE mf.file_id = f.id)
           AND NOT EXISTS (SELECT 1 FROM held_files hf WHERE hf.file_id = f.id)
         RETURNING ",
        file_cols!()
    ))
    .bind(unattached_before.0)
    .bind(i64::from(limit))
    .fetch_all(tx.c())
    .await?;
    let mut out = rows(&rs)?;
    out.sort_by_key(|f| f.meta.id);
    Ok(out)
}

pub async fn not_under_key(
    c: &mut PgConnection,
    key_id: &str,
    after: FileId,
    limit: u32,
) -> Result<Vec<StoredFile>> {
    let rs = query(concat!(
        "SELECT ",
        file_cols!(),
        " FROM files f WHERE f.key_id <> $1 AND f.id > $2 ORDER BY f.id LIMIT $3"
    ))
    .bind(key_id)
    .bind(after.0)
    .bind(i64::from(limit))
    .fetch_all(&mut *c)
    .await?;
    rows(&rs)
}

pub async fn rewrap(
    tx: &mut Tx,
    id: FileId,
    old_key_id: &str,
    new_key_id: &str,
    wrapped: Vec<u8>,
) -> Result<bool> {
    let n = query("UPDATE files SET key_id = $3, wrapped_key = $4 WHERE id = $1 AND key_id = $2")
        .bind(id.0)
        .bind(old_key_id)
        .bind(new_key_id)
        .bind(wrapped)
        .execute(tx.c())
        .await?
        .rows_affected();
    Ok(n == 1)
}

/// Files of `content_type` (by id, after `after`) stored without a sealed preview.
pub async fn without_preview(
    c: &mut PgConnection,
    content_type: &str,
    after: FileId,
    limit: u32,
) -> Result<Vec<StoredFile>> {
    let rs = query(concat!(
        "SELECT ",
        file_cols!(),
        " FROM files f WHERE f.preview_sealed IS NULL AND f.content_type = $1 AND f.id > $2
          ORDER BY f.id LIMIT $3"
    ))
    .bind(content_type)
    .bind(after.0)
    .bind(i64::from(limit))
    .fetch_all(&mut *c)
    .await?;
    rows(&rs)
}

/// Stores a file's sealed preview if it has none yet.
pub async fn set_preview(tx: &mut Tx, id: FileId, sealed: Vec<u8>) -> Result<bool> {
    let n = query("UPDATE files SET preview_sealed = $2 WHERE id = $1 AND preview_sealed IS NULL")
        .bind(id.0)
        .bind(sealed)
        .execute(tx.c())
        .await?
        .rows_affected();
    Ok(n == 1)
}

#[async_trait]
impl FileStore for PgStore {
    async fn create_file(&self, new: NewFile, quota: Option<u64>) -> Result<FileMeta> {
        let mut tx = self.begin().await?;
        let result = create(&mut tx, new, quota).await;
        self.finish(tx, result).await
    }
    async fn file(&self, id: FileId) -> Result<Option<StoredFile>> {
        let mut c = self.conn().await?;
        get(&mut c, id).await
    }
    async fn file_channels(&self, id: FileId) -> Result<Vec<ChannelId>> {
        let mut c = self.conn().await?;
        channels(&mut c, id).await
    }
    async fn user_file_bytes(&self, user_id: UserId) -> Result<u64> {
        let mut c = self.conn().await?;
        user_bytes(&mut c, user_id).await
    }
    async fn sweep_files(&self, unattached_before: Millis, limit: u32) -> Result<Vec<StoredFile>> {
        let mut tx = self.begin().await?;
        let result = sweep(&mut tx, unattached_before, limit).await;
        self.finish(tx, result).await
    }
    async fn files_not_under_key(
        &self,
        key_id: &str,
        after: FileId,
        limit: u32,
    ) -> Result<Vec<StoredFile>> {
        let mut c = self.conn().await?;
        not_under_key(&mut c, key_id, after, limit).await
    }
    async fn rewrap_file_key(
        &self,
        id: FileId,
        old_key_id: &str,
        new_key_id: &str,
        wrapped_key: Vec<u8>,
    ) -> Result<bool> {
        let mut tx = self.begin().await?;
        let result = rewrap(&mut tx, id, old_key_id, new_key_id, wrapped_key).await;
        self.finish(tx, result).await
    }
    async fn files_without_preview(
        &self,
        content_type: &str,
        after: FileId,
        limit: u32,
    ) -> Result<Vec<StoredFile>> {
        let mut c = self.conn().await?;
        without_preview(&mut c, content_type, after, limit).await
    }
    async fn set_file_preview(&self, id: FileId, sealed: Vec<u8>) -> Result<bool> {
        let mut tx = self.begin().await?;
        let result = set_preview(&mut tx, id, sealed).await;
        self.finish(tx, result).await
    }
}
