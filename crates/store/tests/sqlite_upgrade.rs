//! Upgrading an existing SQLite database in place: the data written by an older schema version
//! survives, and the new rules hold afterwards.

#![allow(clippy::unwrap_used)]

use enclave_core::{ChannelId, ChannelKind, MessageId, UserId};
use enclave_store::sqlite::{Options, SqliteStore};
use enclave_store::{
    AccountStore, ChannelStore, Lifecycle, MessageStore, NewChannel, sqlite::SCHEMA_VERSION,
};

/// A version 5 database (channel names unique whatever the kind) with a private channel, its
/// member and a message is rebuilt by version 6: every row and reference is kept, and a public
/// channel may then take the private channel's name.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn version_5_channels_are_kept_and_private_names_freed() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("v5.db");
    let conn = rusqlite::Connection::open(&path).unwrap();
    for sql in [
        include_str!("../src/sqlite/schema.sql"),
        include_str!("../src/sqlite/schema_2.sql"),
        include_str!("../src/sqlite/schema_3.sql"),
        include_str!("../src/sqlite/schema_4.sql"),
        include_str!("../src/sqlite/schema_5.sql"),
    ] {
        conn.execute_batch(sql).unwrap();
    }
    conn.execute_batch(
        "PRAGMA user_version = 5;
         INSERT INTO users (id, username, display_name, created_at, updated_at)
              VALUES (7, 'alice', 'Alice', 1000, 1000), (8, 'bob', 'Bob', 1000, 1000);
         INSERT INTO channels (id, kind, name, name_key, topic, creator_id, last_seq, n_members,
                               created_at, updated_at)
              VALUES (3, 'private', 'Secret Plans', 'secret plans', 'shh', 7, 1, 1, 1000, 1000);
         INSERT INTO members (channel_id, user_id, role, last_read_seq, joined_at)
              VALUES (3, 7, 'owner', 1, 1000);
         INSERT INTO messages (id, channel_id, seq, user_id, text, created_at)
              VALUES (5, 3, 1, 7, 'the plan', 1000);",
    )
    .unwrap();
    drop(conn);

    let store = SqliteStore::open(&path, Options::default()).unwrap();
    let ch = store.channel(ChannelId(3)).await.unwrap().unwrap();
    assert_eq!(
        (ch.kind, ch.name.as_deref(), ch.topic.as_str(), ch.n_members),
        (ChannelKind::Private, Some("Secret Plans"), "shh", 1)
    );
    let (_, m) = store
        .channel_for(ChannelId(3), UserId(7))
        .await
        .unwrap()
        .unwrap();
    assert!(m.is_some(), "the membership survives the rebuild");
    let msg = store.message(MessageId(5)).await.unwrap().unwrap();
    assert_eq!(
        (msg.channel_id, msg.text.as_str()),
        (ChannelId(3), "the plan")
    );
    let public = store
        .create_channel(NewChannel {
            kind: ChannelKind::Public,
            name: "secret plans".into(),
            name_key: "secret plans".into(),
            topic: String::new(),
            purpose: String::new(),
            creator_id: UserId(8),
            announcement: false,
        })
        .await
        .unwrap();
    assert_ne!(public.id, ChannelId(3));
    assert!(store.user(UserId(8)).await.unwrap().is_some());
    store.close().await;

    let conn = rusqlite::Connection::open(&path).unwrap();
    let version: i64 = conn
        .query_row("PRAGMA user_version", [], |r| r.get(0))
        .unwrap();
    assert_eq!(version, SCHEMA_VERSION);
    let dangling: i64 = conn
        .query_row("SELECT count(*) FROM pragma_foreign_key_check", [], |r| {
            r.get(0)
        })
        .unwrap();
    assert_eq!(dangling, 0);
    // References to the rebuilt table are still enforced.
    conn.execute_batch("PRAGMA foreign_keys = ON").unwrap();
    assert!(
        conn.execute(
            "INSERT INTO members (channel_id, user_id, role, joined_at) VALUES (999, 7, 'member', 1)",
            [],
        )
        .is_err()
    );
}
