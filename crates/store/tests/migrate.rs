//! `migrate::sqlite_to_postgres`: a SQLite store populated through the `Store` trait is copied
//! into a private PostgreSQL (see `enclave_store::testing`); the report must match, and a
//! `PgStore` opened on the copy must answer every read exactly as the SQLite store does, then
//! go on working where SQLite stopped (next `seq`, next event position, next ids).
//!
//! Without PostgreSQL's programs these tests print why and pass, except in CI (`CI=true`),
//! where they fail: there they must run.

#![cfg(feature = "postgres")]
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::BTreeSet;
use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};

use enclave_core::{
    Anchor, ChannelId, ChannelKind, ChannelRole, Event, Mentions, Message, MessageId, Millis,
    TokenKind, User, UserId,
};
use enclave_store::catalog::TABLES;
use enclave_store::migrate::{self, Phase, Progress, Report};
use enclave_store::postgres::{Options as PgOptions, PgStore};
use enclave_store::sqlite::{Options, SqliteStore};
use enclave_store::testing::fresh_database;
use enclave_store::{
    AccountStore, BrowseQuery, ChannelPatch, ChannelStore, EventLog, Guard, GuardCtx, Lifecycle,
    MessageStore, NewChannel, NewMessage, NewToken, NewUser, Store, UserPatch, UserQuery,
};
use parking_lot::Mutex;
use sqlx_postgres::PgConnectOptions;

fn allow() -> Guard {
    Box::new(|_: &GuardCtx<'_>| Ok(()))
}

async fn user(store: &dyn Store, name: &str, admin: bool) -> User {
    store
        .create_user(NewUser {
            username: name.to_owned(),
            display_name: format!("{name} — Ünïcode 名前"),
            email: Some(format!("{name}@example.com")),
            password_hash: Some(format!("$argon2id$v=19$m=64,t=1,p=1$c2FsdA$hash-of-{name}")),
            is_admin: admin,
            is_bot: false,
            actor_id: None,
            is_guest: false,
            guest_expires_at: None,
        })
        .await
        .unwrap()
}

async fn channel(store: &dyn Store, kind: ChannelKind, name: &str, creator: &User) -> ChannelId {
    store
        .create_channel(NewChannel {
            kind,
            name: name.to_owned(),
            name_key: name.to_lowercase(),
            topic: format!("topic of {name}"),
            purpose: format!("purpose of {name}"),
            creator_id: creator.id,
            announcement: false,
        })
        .await
        .unwrap()
        .id
}

async fn join(store: &dyn Store, ch: ChannelId, who: &User, role: ChannelRole) {
    store
        .add_member(ch, who.id, who.id, ChannelRole::Member, allow())
        .await
        .unwrap();
    if role != ChannelRole::Member {
        store
            .set_member_role(ch, who.id, who.id, role, allow())
            .await
            .unwrap();
    }
}

async fn post_full(
    store: &dyn Store,
    ch: ChannelId,
    who: &User,
    text: &str,
    root: Option<MessageId>,
    mentions: Mentions,
    client: Option<String>,
) -> Message {
    store
        .post_message(
            NewMessage {
                file_ids: Vec::new(),
                channel_id: ch,
                user_id: who.id,
                text: text.to_owned(),
                client_msg_id: client,
                thread_root_id: root,
                mentions,
            },
            allow(),
        )
        .await
        .unwrap()
        .message
}

async fn post(store: &dyn Store, ch: ChannelId, who: &User, text: &str) -> Message {
    post_full(store, ch, who, text, None, Mentions::default(), None).await
}

/// What the population made, for the comparisons.
struct Populated {
    users: Vec<User>,
    channels: Vec<ChannelId>,
    token_hashes: Vec<[u8; 32]>,
}

/// Every kind of row the schema has, made through the `Store` trait.
async fn populate(shared: &Arc<dyn Store>, bulk: usize) -> Populated {
    let store = shared.as_ref();
    let alice = user(store, "alice", true).await;
    let bob = user(store, "bob", false).await;
    let carol = user(store, "carol", false).await;
    let dave = user(store, "dave", false).await;
    let erin = user(store, "erin", false).await;
    // Status, do-not-disturb, a deactivated account, a bot without email or password.
    store
        .update_user(
            bob.id,
            UserPatch {
                status_text: Some("🏖 on holiday".into()),
                dnd: Some(true),
                ..UserPatch::default()
            },
            Some(bob.id),
        )
        .await
        .unwrap();
    store
        .update_user(
            erin.id,
            UserPatch {
                active: Some(false),
                ..UserPatch::default()
            },
            Some(alice.id),
        )
        .await
        .unwrap();
    let bot = store
        .create_user(NewUser {
            username: "robot".into(),
            display_name: "Robot".into(),
            email: None,
            password_hash: None,
            is_admin: false,
            is_bot: true,
            actor_id: Some(alice.id),
            is_guest: false,
            guest_expires_at: None,
        })
        .await
        .unwrap();

    // Tokens: sessions, a personal access token, one used, one revoked.
    let now = Millis::now();
    let mut token_hashes = Vec::new();
    for (i, (u, kind)) in [
        (&alice, TokenKind::Session),
        (&bob, TokenKind::Session),
        (&carol, TokenKind::PersonalAccess),
        (&dave, TokenKind::Session),
        (&bot, TokenKind::PersonalAccess),
    ]
    .into_iter()
    .enumerate()
    {
        let mut hash = [0u8; 32];
        hash[0] = u8::try_from(i).unwrap() + 1;
        hash[31] = 0xff;
        let t = store
            .create_token(NewToken {
                user_id: u.id,
                kind,
                hash,
                name: format!("token {i}"),
                expires_at: (kind == TokenKind::Session).then_some(Millis(now.0 + 86_400_000)),
                scope: if kind == TokenKind::Session {
                    enclave_core::Scope::Session
                } else {
                    enclave_core::Scope::Write
                },
                client: String::new(),
                ip: None,
            })
            .await
            .unwrap();
        if i == 1 {
            store.touch_token(t.id, Millis(now.0 + 5)).await.unwrap();
        }
        if i == 3 {
            assert!(store.revoke_token(dave.id, t.id).await.unwrap());
        } else {
            token_hashes.push(hash);
        }
    }

    // Channels: public, private, archived; a DM, a group DM, notes to self.
    let general = channel(store, ChannelKind::Public, "General", &alice).await;
    let secret = channel(store, ChannelKind::Private, "secret-ünïcode", &bob).await;
    let old = channel(store, ChannelKind::Public, "old-stuff", &carol).await;
    let bulk_ch = channel(store, ChannelKind::Public, "bulk", &alice).await;
    for u in [&bob, &carol, &dave] {
        join(store, general, u, ChannelRole::Member).await;
    }
    join(store, secret, &alice, ChannelRole::Admin).await;
    join(store, secret, &carol, ChannelRole::Member).await;
    join(store, old, &dave, ChannelRole::Member).await;
    join(store, bulk_ch, &bob, ChannelRole::Member).await;
    store
        .set_member_role(general, alice.id, bob.id, ChannelRole::Admin, allow())
        .await
        .unwrap();
    let (dm, _) = store
        .open_direct(alice.id, vec![alice.id, bob.id])
        .await
        .unwrap();
    let (group, _) = store
        .open_direct(carol.id, vec![alice.id, bob.id, carol.id])
        .await
        .unwrap();
    let (notes, _) = store.open_direct(dave.id, vec![dave.id]).await.unwrap();

    // Messages: mentions, threads, edits, deletes, reactions, pins, client ids.
    let m1 = post(store, general, &alice, "hello everyone 👋").await;
    let m2 = post_full(
        store,
        general,
        &bob,
        "@carol @dave look at this",
        None,
        Mentions {
            user_ids: vec![carol.id, dave.id],
            channel: false,
            here: false,
        },
        Some("client-1".into()),
    )
    .await;
    let r1 = post_full(
        store,
        general,
        &carol,
        "a reply to @bob",
        Some(m2.id),
        Mentions {
            user_ids: vec![bob.id],
            ..Mentions::default()
        },
        None,
    )
    .await;
    let _r2 = post_full(
        store,
        general,
        &dave,
        "another reply",
        Some(m2.id),
        Mentions::default(),
        None,
    )
    .await;
    let m3 = post_full(
        store,
        general,
        &alice,
        "@channel meeting at noon",
        None,
        Mentions {
            channel: true,
            ..Mentions::default()
        },
        None,
    )
    .await;
    let m4 = post_full(
        store,
        general,
        &dave,
        "@here anyone?",
        None,
        Mentions {
            here: true,
            ..Mentions::default()
        },
        None,
    )
    .await;
    let m5 = post(store, general, &bob, "to be deleted").await;
    // A deleted root that has replies stays in the history.
    let root = post(store, general, &carol, "a thread whose root is deleted").await;
    post_full(
        store,
        general,
        &alice,
        "reply stays",
        Some(root.id),
        Mentions::default(),
        None,
    )
    .await;
    // Files: one attached to a message, one not yet attached (no thumbnail, a sealed preview).
    let mut files = Vec::new();
    for (name, thumb) in [("photo.png", true), ("notes.txt", false)] {
        let f = store
            .create_file(
                enclave_store::NewFile {
                    name: name.into(),
                    size: 1234,
                    content_type: if thumb { "image/png" } else { "text/plain" }.into(),
                    width: thumb.then_some(640),
                    height: thumb.then_some(480),
                    thumbnail: thumb.then(|| enclave_core::Thumbnail {
                        width: 320,
                        height: 240,
                        content_type: "image/jpeg".into(),
                    }),
                    sealed_preview: (!thumb).then(|| b"EFP1 \x00\xff sealed".to_vec()),
                    uploader_id: carol.id,
                    object: format!("o/{name}"),
                    thumb_object: thumb.then(|| format!("o/{name}.thumb")),
                    key_id: "k1".into(),
                    wrapped_key: vec![0, 1, 2, 255],
                },
                None,
            )
            .await
            .unwrap();
        files.push(f.id);
    }
    store
        .post_message(
            NewMessage {
                file_ids: vec![files[0]],
                ..NewMessage {
                    file_ids: Vec::new(),
                    channel_id: general,
                    user_id: carol.id,
                    text: "with a picture".into(),
                    client_msg_id: None,
                    thread_root_id: None,
                    mentions: Mentions::default(),
                }
            },
            allow(),
        )
        .await
        .unwrap();
    // A deleted reply.
    let r3 = post_full(
        store,
        general,
        &bob,
        "reply to delete",
        Some(m1.id),
        Mentions::default(),
        None,
    )
    .await;
    store
        .edit_message(
            m1.id,
            alice.id,
            "hello everyone 👋 (edited, now with @bob)".into(),
            Mentions {
                user_ids: vec![bob.id],
                ..Mentions::default()
            },
            allow(),
        )
        .await
        .unwrap();
    store
        .edit_message(
            r1.id,
            carol.id,
            "an edited reply".into(),
            Mentions::default(),
            allow(),
        )
        .await
        .unwrap();
    store.delete_message(m5.id, bob.id, allow()).await.unwrap();
    store
        .delete_message(root.id, carol.id, allow())
        .await
        .unwrap();
    store.delete_message(r3.id, bob.id, allow()).await.unwrap();
    for (m, u, e) in [
        (m1.id, &bob, "👍"),
        (m1.id, &carol, "👍"),
        (m1.id, &carol, "🎉"),
        (m1.id, &dave, "+1"),
        (m2.id, &alice, "👀"),
        (r1.id, &bob, "❤️"),
        (m3.id, &dave, "👍"),
    ] {
        store
            .set_reaction(m, u.id, e.into(), true, allow())
            .await
            .unwrap();
    }
    store
        .set_reaction(m3.id, dave.id, "👍".into(), false, allow())
        .await
        .unwrap();
    store
        .set_pinned(m2.id, alice.id, true, allow())
        .await
        .unwrap();
    store
        .set_pinned(m4.id, bob.id, true, allow())
        .await
        .unwrap();
    store
        .set_pinned(m4.id, bob.id, false, allow())
        .await
        .unwrap();
    store
        .set_pinned(m3.id, bob.id, true, allow())
        .await
        .unwrap();

    let s1 = post(store, secret, &bob, "private matters").await;
    post(store, secret, &alice, "indeed").await;
    store
        .set_reaction(s1.id, carol.id, "🤫".into(), true, allow())
        .await
        .unwrap();
    post(store, dm.id, &alice, "hi bob").await;
    post(store, dm.id, &bob, "hi alice").await;
    post(store, group.id, &carol, "group chat").await;
    post(store, notes.id, &dave, "a note to self").await;
    post(store, old, &carol, "before the archive").await;
    store
        .update_channel(
            old,
            carol.id,
            ChannelPatch {
                archived: Some(true),
                topic: Some("archived".into()),
                ..ChannelPatch::default()
            },
            allow(),
        )
        .await
        .unwrap();

    // Read positions: some caught up, some behind.
    store
        .mark_read(general, carol.id, 3, allow())
        .await
        .unwrap();
    store.mark_read(general, dave.id, 1, allow()).await.unwrap();
    store.mark_read(dm.id, bob.id, 1, allow()).await.unwrap();

    // Enough messages for several batches (concurrent posts make group commits).
    let mut set = tokio::task::JoinSet::new();
    let next = Arc::new(AtomicU64::new(0));
    for _ in 0..16 {
        let next = next.clone();
        let store = shared.clone();
        let (alice, bob) = (alice.clone(), bob.clone());
        set.spawn(async move {
            loop {
                let n = next.fetch_add(1, Ordering::SeqCst);
                if n >= bulk as u64 {
                    break;
                }
                let who = if n.is_multiple_of(3) { &bob } else { &alice };
                post_full(
                    store.as_ref(),
                    bulk_ch,
                    who,
                    &format!("bulk message {n}"),
                    None,
                    Mentions::default(),
                    Some(format!("bulk-{n}")),
                )
                .await;
            }
        });
    }
    while let Some(r) = set.join_next().await {
        r.unwrap();
    }

    // Pruned events: the log starts after 1, positions never go back.
    store.settle().await.unwrap();
    let pruned = store
        .prune_events(Millis(Millis::now().0 + 60_000), 40)
        .await
        .unwrap();
    assert!(pruned > 0);

    Populated {
        users: vec![alice, bob, carol, dave, erin, bot],
        channels: vec![general, secret, old, bulk_ch, dm.id, group.id, notes.id],
        token_hashes,
    }
}

fn open_sqlite(path: &Path) -> Arc<dyn Store> {
    Arc::new(SqliteStore::open(path, Options::default()).unwrap())
}

async fn open_pg(db: &PgConnectOptions) -> PgStore {
    PgStore::open_with(
        db.clone(),
        PgOptions {
            max_connections: 4,
            ..PgOptions::default()
        },
    )
    .await
    .unwrap()
}

/// Runs the migration, recording progress.
async fn run_migration(path: &Path, db: &PgConnectOptions) -> (Report, Vec<Progress>) {
    let seen = Mutex::new(Vec::new());
    let report = migrate::sqlite_to_postgres_with(path, db.clone(), &|p: Progress| {
        seen.lock().push(p);
    })
    .await
    .unwrap();
    (report, seen.into_inner())
}

fn assert_report_ok(report: &Report) {
    assert!(report.ok(), "{report:#?}");
    assert_eq!(report.tables.len(), TABLES.len());
    for t in &report.tables {
        assert!(t.matches, "{t:?}");
        assert_eq!(t.sqlite_rows, t.postgres_rows);
        assert_eq!(t.sqlite_checksum, t.postgres_checksum);
        assert_eq!(t.sqlite_checksum.len(), 64);
    }
}

/// Every event, in pages.
async fn all_events(store: &dyn Store) -> Vec<Event> {
    store.settle().await.unwrap();
    let mut out: Vec<Event> = Vec::new();
    loop {
        let after = out.last().map_or(0, |e| e.position);
        let page = store.events_after(after, 333).await.unwrap();
        if page.is_empty() {
            return out;
        }
        out.extend(page);
    }
}

/// Every message of a channel through history pages of `limit`, oldest first.
async fn history_by_pages(
    store: &dyn Store,
    ch: ChannelId,
    limit: u32,
    replies: bool,
) -> Vec<Message> {
    let mut pages = Vec::new();
    let mut anchor = Anchor::Latest;
    loop {
        let page = store.history(ch, anchor, limit, replies).await.unwrap();
        let Some(first) = page.first() else { break };
        anchor = Anchor::Before(first.seq);
        let full = page.len() == limit as usize;
        pages.push(page);
        if !full {
            break;
        }
    }
    pages.into_iter().rev().flatten().collect()
}

/// Compares every read of the `Store` trait on the two stores.
async fn assert_same(a: &dyn Store, b: &dyn Store, p: &Populated) {
    let ids: Vec<UserId> = p.users.iter().map(|u| u.id).collect();
    assert_eq!(
        a.users_by_ids(&ids).await.unwrap(),
        b.users_by_ids(&ids).await.unwrap()
    );
    let everyone = UserQuery {
        include_inactive: true,
        limit: 100,
        ..UserQuery::default()
    };
    assert_eq!(
        a.list_users(everyone.clone()).await.unwrap(),
        b.list_users(everyone).await.unwrap()
    );
    assert_eq!(
        a.count_admins().await.unwrap(),
        b.count_admins().await.unwrap()
    );
    for u in &p.users {
        assert_eq!(
            a.user_credentials(&u.username).await.unwrap(),
            b.user_credentials(&u.username).await.unwrap()
        );
        assert_eq!(
            a.list_tokens(u.id).await.unwrap(),
            b.list_tokens(u.id).await.unwrap()
        );
        let sa = a.my_channels(u.id).await.unwrap();
        assert_eq!(
            sa,
            b.my_channels(u.id).await.unwrap(),
            "channels of {}",
            u.username
        );
        assert_eq!(
            a.channel_ids_of(u.id).await.unwrap(),
            b.channel_ids_of(u.id).await.unwrap()
        );
        for ch in &p.channels {
            assert_eq!(
                a.channel_for(*ch, u.id).await.unwrap(),
                b.channel_for(*ch, u.id).await.unwrap(),
                "read state of {} in {ch:?}",
                u.username
            );
            assert_eq!(
                a.my_channel(*ch, u.id).await.unwrap(),
                b.my_channel(*ch, u.id).await.unwrap()
            );
        }
    }
    // Unread and mention counts are exercised: somebody has some.
    let counts: i64 = {
        let mut n = 0;
        for u in &p.users {
            for s in b.my_channels(u.id).await.unwrap() {
                n += s.unread_count * 1000 + s.mention_count;
            }
        }
        n
    };
    assert!(counts > 1000, "no unread or mention counts to compare");
    let now = Millis::now();
    for h in &p.token_hashes {
        let ta = a.token_by_hash(*h, now).await.unwrap();
        assert!(ta.is_some());
        assert_eq!(ta, b.token_by_hash(*h, now).await.unwrap());
    }
    assert_eq!(
        a.channels_by_ids(&p.channels).await.unwrap(),
        b.channels_by_ids(&p.channels).await.unwrap()
    );
    let browse = BrowseQuery {
        include_archived: true,
        limit: 100,
        ..BrowseQuery::default()
    };
    assert_eq!(
        a.browse_channels(browse.clone()).await.unwrap(),
        b.browse_channels(browse).await.unwrap()
    );
    let mut message_ids = BTreeSet::new();
    for ch in &p.channels {
        assert_eq!(a.channel(*ch).await.unwrap(), b.channel(*ch).await.unwrap());
        assert_eq!(
            a.members(*ch, None, 200).await.unwrap(),
            b.members(*ch, None, 200).await.unwrap()
        );
        let first = a.members(*ch, None, 1).await.unwrap();
        if let Some((m, _)) = first.first() {
            assert_eq!(
                a.members(*ch, Some(m.user_id), 200).await.unwrap(),
                b.members(*ch, Some(m.user_id), 200).await.unwrap()
            );
        }
        assert_eq!(a.pins(*ch).await.unwrap(), b.pins(*ch).await.unwrap());
        for replies in [false, true] {
            for limit in [3, 50, 200] {
                let ha = history_by_pages(a, *ch, limit, replies).await;
                assert_eq!(
                    ha,
                    history_by_pages(b, *ch, limit, replies).await,
                    "history of {ch:?}, pages of {limit}, replies {replies}"
                );
                message_ids.extend(ha.iter().map(|m| m.id));
            }
            let last = a.channel(*ch).await.unwrap().unwrap().last_seq;
            for anchor in [
                Anchor::After(0),
                Anchor::After(last / 2),
                Anchor::Around(last / 2 + 1),
                Anchor::Before(last),
            ] {
                assert_eq!(
                    a.history(*ch, anchor, 7, replies).await.unwrap(),
                    b.history(*ch, anchor, 7, replies).await.unwrap(),
                    "history of {ch:?} at {anchor:?}"
                );
            }
        }
    }
    let mut threads = 0;
    for id in &message_ids {
        let m = a.message(*id).await.unwrap();
        assert_eq!(m, b.message(*id).await.unwrap());
        let Some(m) = m else { continue };
        // Every thread (and every top-level message outside the bulk channel, thread or not).
        if m.reply_count > 0 || (m.thread_root_id.is_none() && m.channel_id != p.channels[3]) {
            threads += usize::from(m.reply_count > 0);
            assert_eq!(
                a.thread(*id, 0, 100).await.unwrap(),
                b.thread(*id, 0, 100).await.unwrap()
            );
            assert_eq!(
                a.thread(*id, 1, 1).await.unwrap(),
                b.thread(*id, 1, 1).await.unwrap()
            );
        }
    }
    assert!(threads >= 2, "threads to compare: {threads}");
    let ids: Vec<MessageId> = message_ids.iter().copied().collect();
    assert_eq!(
        a.messages_by_ids(&ids).await.unwrap(),
        b.messages_by_ids(&ids).await.unwrap()
    );

    let ea = all_events(a).await;
    assert!(!ea.is_empty());
    assert_eq!(ea, all_events(b).await);
    assert_eq!(
        a.last_position().await.unwrap(),
        b.last_position().await.unwrap()
    );
    assert_eq!(
        a.first_position().await.unwrap(),
        b.first_position().await.unwrap()
    );
    assert_eq!(
        a.events_after(ea[3].position, 10).await.unwrap(),
        b.events_after(ea[3].position, 10).await.unwrap()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn round_trip_into_postgres() {
    let Some(db) = fresh_database().await else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("enclave.db");
    let sqlite = open_sqlite(&path);
    let populated = populate(&sqlite, 2300).await;

    // The SQLite store stays open, as a running server would.
    let (report, progress) = run_migration(&path, &db).await;
    assert_report_ok(&report);
    assert_eq!(report.schema_version, enclave_store::sqlite::SCHEMA_VERSION);
    let rows = |name: &str| {
        report
            .tables
            .iter()
            .find(|t| t.table == name)
            .unwrap()
            .postgres_rows
    };
    assert!(rows("messages") > 2300, "several batches of messages");
    assert_eq!(rows("events"), 40, "the newest 40 events were kept");
    assert_eq!((rows("reactions"), rows("mentions")), (7, 3));
    assert!(
        report.sqlite_last_position > rows("events") as i64,
        "pruned"
    );

    // Progress: per table, copy then verify, counts rising to the total.
    for t in TABLES {
        for phase in [Phase::Copy, Phase::Verify] {
            let steps: Vec<&Progress> = progress
                .iter()
                .filter(|p| p.table == t.name && p.phase == phase)
                .collect();
            assert!(!steps.is_empty(), "no progress for {} {phase:?}", t.name);
            assert!(steps.windows(2).all(|w| w[0].done <= w[1].done));
            let last = steps.last().unwrap();
            assert_eq!(last.done, last.total, "{} {phase:?}", t.name);
            assert_eq!(last.total, rows(t.name));
        }
    }
    let copy_batches = progress
        .iter()
        .filter(|p| p.table == "messages" && p.phase == Phase::Copy)
        .count();
    assert!(copy_batches >= 3, "start and two batches: {copy_batches}");

    let pg = open_pg(&db).await;
    let pg_dyn: Arc<dyn Store> = Arc::new(pg.clone());
    assert_same(sqlite.as_ref(), pg_dyn.as_ref(), &populated).await;

    // The target keeps working where SQLite stopped.
    let general = populated.channels[0];
    let alice = &populated.users[0];
    let before = pg_dyn.channel(general).await.unwrap().unwrap().last_seq;
    let last_position = pg_dyn.last_position().await.unwrap();
    let max_message = pg_dyn
        .history(general, Anchor::Latest, 200, true)
        .await
        .unwrap();
    let m = post(
        pg_dyn.as_ref(),
        general,
        alice,
        "first message on PostgreSQL",
    )
    .await;
    assert_eq!(m.seq, before + 1, "seq continues without a gap");
    assert!(max_message.iter().all(|x| x.id < m.id));
    let all_ids_max = rows("messages") as i64;
    assert!(m.id.0 > all_ids_max - 1, "message ids continue");
    pg_dyn.settle().await.unwrap();
    let new_events = pg_dyn.events_after(last_position, 100).await.unwrap();
    assert!(!new_events.is_empty());
    for (i, e) in new_events.iter().enumerate() {
        assert_eq!(
            e.position,
            last_position + 1 + i as i64,
            "positions continue"
        );
    }
    assert_eq!(new_events[0].message_id, Some(m.id));
    let frank = user(pg_dyn.as_ref(), "frank", false).await;
    assert!(
        populated.users.iter().all(|u| u.id < frank.id),
        "user ids continue"
    );
    let ch = channel(pg_dyn.as_ref(), ChannelKind::Public, "after-move", &frank).await;
    assert!(
        populated.channels.iter().all(|c| *c < ch),
        "channel ids continue"
    );
    // The same write on SQLite gives the same seq: the two agree on what comes next.
    let ms = post(
        sqlite.as_ref(),
        general,
        alice,
        "first message on PostgreSQL",
    )
    .await;
    assert_eq!((ms.seq, ms.id), (m.seq, m.id));
    pg.close().await;
    sqlite.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn refuses_a_target_with_data_and_foreign_sources() {
    let Some(db) = fresh_database().await else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("enclave.db");
    let sqlite = open_sqlite(&path);
    let alice = user(sqlite.as_ref(), "alice", true).await;
    let ch = channel(sqlite.as_ref(), ChannelKind::Public, "general", &alice).await;
    post(sqlite.as_ref(), ch, &alice, "hello").await;
    sqlite.close().await;

    let (report, _) = run_migration(&path, &db).await;
    assert_report_ok(&report);
    let again = migrate::sqlite_to_postgres_with(&path, db.clone(), &|_| {}).await;
    match again {
        Err(migrate::Error::TargetNotEmpty(what)) => {
            assert!(what.contains("users: 1 rows"), "{what}");
        }
        other => panic!("expected TargetNotEmpty, got {other:?}"),
    }
    // The refused run left the target as it was.
    let pg = open_pg(&db).await;
    assert_eq!(
        pg.history(ch, Anchor::Latest, 10, false)
            .await
            .unwrap()
            .len(),
        1
    );
    pg.close().await;

    // Not a database, not Enclave's, missing.
    let junk = dir.path().join("junk.db");
    std::fs::write(&junk, vec![b'x'; 4096]).unwrap();
    let other = dir.path().join("other.db");
    rusqlite::Connection::open(&other)
        .unwrap()
        .execute_batch("CREATE TABLE t (x); INSERT INTO t VALUES (1);")
        .unwrap();
    for p in [junk, other, dir.path().join("missing.db")] {
        let Some(fresh) = fresh_database().await else {
            return;
        };
        match migrate::sqlite_to_postgres_with(&p, fresh, &|_| {}).await {
            Err(migrate::Error::NotEnclave { .. }) => {}
            other => panic!("{}: expected NotEnclave, got {other:?}", p.display()),
        }
    }
    assert!(!dir.path().join("missing.db").exists(), "opened read-only");

    // A schema version from the future.
    let future = dir.path().join("future.db");
    std::fs::copy(&path, &future).unwrap();
    rusqlite::Connection::open(&future)
        .unwrap()
        .execute_batch("PRAGMA user_version = 99")
        .unwrap();
    let Some(fresh) = fresh_database().await else {
        return;
    };
    match migrate::sqlite_to_postgres_with(&future, fresh, &|_| {}).await {
        Err(migrate::Error::UnknownSchema { version: 99, .. }) => {}
        other => panic!("expected UnknownSchema, got {other:?}"),
    }
}

/// A database last written by schema version 1 (before user status): its users get the
/// defaults the upgrade would give them.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn schema_version_1() {
    let Some(db) = fresh_database().await else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("v1.db");
    let conn = rusqlite::Connection::open(&path).unwrap();
    conn.execute_batch(include_str!("../src/sqlite/schema.sql"))
        .unwrap();
    conn.execute_batch(
        "PRAGMA user_version = 1;
         INSERT INTO users (id, username, display_name, is_admin, created_at, updated_at)
              VALUES (7, 'old', 'Old Timer', 1, 1000, 2000);
         INSERT INTO events (position, kind, user_id, created_at) VALUES (41, 'user.created', 7, 1000);",
    )
    .unwrap();
    drop(conn);
    let (report, _) = run_migration(&path, &db).await;
    assert_report_ok(&report);
    assert_eq!(report.schema_version, 1);
    assert_eq!(report.sqlite_last_position, 41);
    let pg = open_pg(&db).await;
    let u = pg.user(UserId(7)).await.unwrap().unwrap();
    assert_eq!(u.username, "old");
    assert!(u.is_admin && u.active);
    assert_eq!(pg.last_position().await.unwrap(), 41);
    pg.close().await;
}

/// Every event pruned: PostgreSQL's positions still continue after SQLite's last.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn empty_log_keeps_the_position() {
    let Some(db) = fresh_database().await else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("enclave.db");
    let sqlite = open_sqlite(&path);
    let alice = user(sqlite.as_ref(), "alice", true).await;
    let ch = channel(sqlite.as_ref(), ChannelKind::Public, "general", &alice).await;
    for i in 0..5 {
        post(sqlite.as_ref(), ch, &alice, &format!("m{i}")).await;
    }
    let last = sqlite.last_position().await.unwrap();
    sqlite
        .prune_events(Millis(Millis::now().0 + 60_000), 0)
        .await
        .unwrap();
    assert!(sqlite.events_after(0, 10).await.unwrap().is_empty());
    sqlite.close().await;

    let (report, _) = run_migration(&path, &db).await;
    assert_report_ok(&report);
    assert_eq!(report.sqlite_last_position, last);
    let pg = open_pg(&db).await;
    assert_eq!(pg.last_position().await.unwrap(), last);
    assert_eq!(pg.first_position().await.unwrap(), last + 1);
    post(&pg, ch, &alice, "next").await;
    pg.settle().await.unwrap();
    let e = pg.events_after(0, 10).await.unwrap();
    assert_eq!(e.first().map(|e| e.position), Some(last + 1));
    pg.close().await;
}

/// The copy is one snapshot: writes that go on during it change nothing in the report.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn copy_while_writing_is_consistent() {
    let Some(db) = fresh_database().await else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("enclave.db");
    let sqlite = open_sqlite(&path);
    let alice = user(sqlite.as_ref(), "alice", true).await;
    let ch = channel(sqlite.as_ref(), ChannelKind::Public, "general", &alice).await;
    for i in 0..300 {
        post(sqlite.as_ref(), ch, &alice, &format!("before {i}")).await;
    }
    let stop = Arc::new(AtomicBool::new(false));
    let writer = {
        let (sqlite, stop, alice) = (sqlite.clone(), stop.clone(), alice.clone());
        tokio::spawn(async move {
            let mut n = 0;
            while !stop.load(Ordering::SeqCst) {
                post(sqlite.as_ref(), ch, &alice, &format!("during {n}")).await;
                n += 1;
            }
            n
        })
    };
    let (report, _) = run_migration(&path, &db).await;
    stop.store(true, Ordering::SeqCst);
    let during = writer.await.unwrap();
    assert_report_ok(&report);
    let copied = report
        .tables
        .iter()
        .find(|t| t.table == "messages")
        .unwrap()
        .postgres_rows;
    assert!(copied >= 300, "{copied}");
    // What was copied is a prefix of the channel, without holes.
    let pg = open_pg(&db).await;
    let last_seq = pg.channel(ch).await.unwrap().unwrap().last_seq;
    assert_eq!(u64::try_from(last_seq).unwrap(), copied);
    let events = all_events(&pg).await;
    assert!(
        events
            .iter()
            .enumerate()
            .all(|(i, e)| e.position == i as i64 + 1)
    );
    let _ = during;
    pg.close().await;
    sqlite.close().await;
}

/// The verification reads PostgreSQL back: a change made there after the copy shows up in the
/// table it touched, and only there.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn verification_finds_differences() {
    let Some(db) = fresh_database().await else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("enclave.db");
    let sqlite = open_sqlite(&path);
    let alice = user(sqlite.as_ref(), "alice", true).await;
    let bob = user(sqlite.as_ref(), "bob", false).await;
    let ch = channel(sqlite.as_ref(), ChannelKind::Public, "general", &alice).await;
    join(sqlite.as_ref(), ch, &bob, ChannelRole::Member).await;
    let m = post(sqlite.as_ref(), ch, &alice, "original text").await;
    sqlite
        .set_reaction(m.id, bob.id, "👍".into(), true, allow())
        .await
        .unwrap();
    sqlite.close().await;
    let (report, _) = run_migration(&path, &db).await;
    assert_report_ok(&report);

    let seen = Mutex::new(Vec::new());
    let again = migrate::verify_only(&path, db.clone(), &|p| seen.lock().push(p))
        .await
        .unwrap();
    assert_report_ok(&again);
    assert_eq!(again.tables, report.tables);
    assert!(seen.lock().iter().all(|p| p.phase == Phase::Verify));

    let pg = open_pg(&db).await;
    for sql in [
        "UPDATE messages SET text = 'tampered' WHERE text = 'original text'",
        "DELETE FROM reactions",
        "UPDATE event_counter SET last = last + 1",
    ] {
        sqlx_core::query::query::<sqlx_postgres::Postgres>(sql)
            .execute(pg.pool())
            .await
            .unwrap();
    }
    pg.close().await;
    let after = migrate::verify_only(&path, db.clone(), &|_| {})
        .await
        .unwrap();
    assert!(!after.ok());
    for t in &after.tables {
        let changed = t.table == "messages" || t.table == "reactions";
        assert_eq!(t.matches, !changed, "{t:?}");
    }
    let messages = after.tables.iter().find(|t| t.table == "messages").unwrap();
    assert_eq!(messages.sqlite_rows, messages.postgres_rows);
    assert_ne!(messages.sqlite_checksum, messages.postgres_checksum);
    let reactions = after
        .tables
        .iter()
        .find(|t| t.table == "reactions")
        .unwrap();
    assert_eq!((reactions.sqlite_rows, reactions.postgres_rows), (1, 0));
    assert_eq!(after.postgres_event_counter, after.sqlite_last_position + 1);
}
