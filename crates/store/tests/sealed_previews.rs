//! The upgrade that seals text previews (SQLite schema version 5): a database written by
//! version 4, which kept previews in plain text, holds none of that text anywhere in its files
//! (database, WAL, shared memory) once the store has opened it, and the files it dropped are
//! listed for the server to seal again.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::Path;

use enclave_core::FileId;
use enclave_store::sqlite::{Options, SqliteStore};
use enclave_store::{FileStore, Lifecycle};

const CANARY: &str = "canary-5d1e0c7a-plain-preview";

/// Every file of the database (`enclave.db`, `-wal`, `-shm`) that contains `needle`.
fn holders(db: &Path, needle: &[u8]) -> Vec<String> {
    let mut found = Vec::new();
    for suffix in ["", "-wal", "-shm", "-journal"] {
        let mut p = db.as_os_str().to_owned();
        p.push(suffix);
        if let Ok(bytes) = std::fs::read(&p)
            && bytes.windows(needle.len()).any(|w| w == needle)
        {
            found.push(Path::new(&p).display().to_string());
        }
    }
    found
}

/// A database as schema version 4 left it: a text file with a plain preview (long enough to
/// spill into an overflow page) and an image without one. The writing connection is returned
/// still open with automatic checkpoints off, so the plain text is in the WAL as well as (after
/// the first explicit checkpoint) the database file, as after a crash.
fn version_4(path: &Path) -> rusqlite::Connection {
    let conn = rusqlite::Connection::open(path).unwrap();
    conn.execute_batch("PRAGMA journal_mode = WAL; PRAGMA wal_autocheckpoint = 0;")
        .unwrap();
    for sql in [
        include_str!("../src/sqlite/schema.sql"),
        include_str!("../src/sqlite/schema_2.sql"),
        include_str!("../src/sqlite/schema_3.sql"),
        include_str!("../src/sqlite/schema_4.sql"),
    ] {
        conn.execute_batch(sql).unwrap();
    }
    let long = format!("{CANARY}\n{}\n{CANARY}", "x".repeat(5000));
    conn.execute_batch(
        "PRAGMA user_version = 4;
         INSERT INTO users (id, username, display_name, created_at, updated_at)
              VALUES (1, 'old', 'Old', 1000, 1000);",
    )
    .unwrap();
    conn.execute(
        "INSERT INTO files (id, uploader_id, name, size, content_type, preview, object, key_id,
                            wrapped_key, created_at)
              VALUES (1, 1, 'notes.txt', 10, 'text/plain', ?1, 'o/1', 'k1', x'00', 1000),
                     (2, 1, 'long.txt', 5000, 'text/plain', ?2, 'o/2', 'k1', x'00', 1000),
                     (3, 1, 'photo.png', 10, 'image/png', NULL, 'o/3', 'k1', x'00', 1000)",
        [format!("first line {CANARY}"), long],
    )
    .unwrap();
    // Half of it checkpointed into the database file, the rest only in the WAL.
    conn.query_row("PRAGMA wal_checkpoint(PASSIVE)", [], |_| Ok(()))
        .unwrap();
    conn.execute(
        "INSERT INTO files (id, uploader_id, name, size, content_type, preview, object, key_id,
                            wrapped_key, created_at)
              VALUES (4, 1, 'later.txt', 10, 'text/plain', ?1, 'o/4', 'k1', x'00', 2000)",
        [format!("written last {CANARY}")],
    )
    .unwrap();
    conn
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn upgrade_leaves_no_plain_preview_on_disk() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("enclave.db");
    let old = version_4(&path);
    assert!(
        !holders(&path, CANARY.as_bytes()).is_empty(),
        "the version 4 database holds its previews in plain text"
    );

    let store = SqliteStore::open(&path, Options::default()).unwrap();
    drop(old);
    // With the store open (its writer and readers connected) and after it closes.
    assert_eq!(holders(&path, CANARY.as_bytes()), Vec::<String>::new());
    let missing = store
        .files_without_preview("text/plain", FileId(0), 10)
        .await
        .unwrap();
    assert_eq!(
        missing.iter().map(|f| f.meta.id.0).collect::<Vec<_>>(),
        vec![1, 2, 4]
    );
    assert!(missing.iter().all(|f| f.meta.sealed_preview.is_none()));
    assert!(
        store
            .set_file_preview(FileId(1), b"sealed".to_vec())
            .await
            .unwrap()
    );
    store.close().await;
    assert_eq!(holders(&path, CANARY.as_bytes()), Vec::<String>::new());

    // The upgraded database opens again as it is.
    let store = SqliteStore::open(&path, Options::default()).unwrap();
    let f = store.file(FileId(1)).await.unwrap().unwrap();
    assert_eq!(
        f.meta.sealed_preview.map(|p| p.sealed),
        Some(b"sealed".to_vec())
    );
    store.close().await;
}

/// PostgreSQL: `0004_sealed_previews` on a database whose files still hold plain previews (a
/// fresh database is taken back to what `0003` left: the column renamed and retyped, plain
/// previews written, the migration's record removed). The upgrade drops every plain preview and
/// lists those files for sealing.
#[cfg(feature = "postgres")]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_upgrade_drops_plain_previews() {
    use enclave_store::postgres::{Options as PgOptions, PgStore};
    use enclave_store::testing::{drop_database, fresh_database};
    use sqlx_core::row::Row;
    use sqlx_postgres::Postgres;

    let Some(db) = fresh_database().await else {
        return;
    };
    let store = PgStore::open_with(db.clone(), PgOptions::default())
        .await
        .unwrap();
    let exec = |sql: &'static str| sqlx_core::query::query::<Postgres>(sql);
    for sql in [
        "DROP INDEX files_preview_missing_idx",
        "ALTER TABLE files RENAME COLUMN preview_sealed TO preview",
        "ALTER TABLE files ALTER COLUMN preview TYPE TEXT USING NULL",
        "DELETE FROM _sqlx_migrations WHERE version = 4",
        "INSERT INTO users (id, username, display_name, created_at, updated_at)
              VALUES (1, 'old', 'Old', 1000, 1000)",
        "INSERT INTO files (id, uploader_id, name, size, content_type, preview, object, key_id,
                            wrapped_key, created_at)
              VALUES (1, 1, 'notes.txt', 10, 'text/plain', 'first line canary-pg', 'o/1', 'k1',
                      '\\x00', 1000),
                     (2, 1, 'photo.png', 10, 'image/png', NULL, 'o/2', 'k1', '\\x00', 1000)",
    ] {
        exec(sql).execute(store.pool()).await.unwrap();
    }
    let plain: i64 = exec("SELECT count(*) FROM files WHERE preview LIKE '%canary-pg%'")
        .fetch_one(store.pool())
        .await
        .unwrap()
        .try_get(0)
        .unwrap();
    assert_eq!(plain, 1, "the plain preview is there before the upgrade");
    store.close().await;

    let store = PgStore::open_with(db.clone(), PgOptions::default())
        .await
        .unwrap();
    let columns: i64 = exec(
        "SELECT count(*) FROM information_schema.columns
          WHERE table_name = 'files' AND column_name = 'preview'",
    )
    .fetch_one(store.pool())
    .await
    .unwrap()
    .try_get(0)
    .unwrap();
    assert_eq!(columns, 0, "the plain column is gone");
    let missing = store
        .files_without_preview("text/plain", FileId(0), 10)
        .await
        .unwrap();
    assert_eq!(
        missing.iter().map(|f| f.meta.id.0).collect::<Vec<_>>(),
        vec![1]
    );
    assert!(missing[0].meta.sealed_preview.is_none());
    assert!(
        store
            .set_file_preview(FileId(1), b"sealed".to_vec())
            .await
            .unwrap()
    );
    store.close().await;
    drop_database(&db).await;
}
