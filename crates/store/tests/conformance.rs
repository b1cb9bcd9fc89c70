//! The store conformance suite: one set of checks that every [`Store`] backend must pass.
//!
//! Each check is a `pub async fn` taking `store: Arc<dyn Store>` (a fresh, empty store) and
//! exercising it only through the trait, so the checks say nothing about how a backend works
//! inside. The `sqlite` module at the bottom runs every check against a fresh [`SqliteStore`] in
//! a temporary directory; the `postgres` module runs the same checks, each against a fresh
//! database on a PostgreSQL server the test process starts (see `enclave_store::testing`).
//!
//! Events may get their positions just after the write that appends them commits (PostgreSQL
//! numbers them after commit, see `enclave_store::postgres`), so the checks call
//! [`EventLog::settle`] before they look at the log (the `last_position`, `events_after` and
//! `all_events` helpers do).

#![allow(clippy::unwrap_used)]

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use enclave_core::audit::{
    AuditAction, AuditHead, AuditSummary, AuditTarget, ChainVerifier, GENESIS, NewAuditEntry,
    TargetKind,
};
use enclave_core::lockout::{Counts, Step, Tally};
use enclave_core::notices::NoticeKind;
use enclave_core::permissions::{self, Action, Actor};
use enclave_core::{
    Anchor, ChannelId, ChannelKind, ChannelRole, Entity, Error as DomainError, Event, EventKind,
    Mentions, Message, MessageId, Millis, TokenKind, User, UserId,
};
use enclave_store::{
    AuditQuery, BrowseQuery, ChannelPatch, Error, Guard, GuardCtx, MessageSearch, NewChannel,
    NewMessage, NewToken, NewUser, Store, ThrottleKey, UserPatch, UserQuery, WebAuthnCeremonyState,
};

// ---------------------------------------------------------------------------------------------
// Helpers

fn allow() -> Guard {
    Box::new(|_: &GuardCtx<'_>| Ok(()))
}

fn refuse(e: DomainError) -> Guard {
    Box::new(move |_: &GuardCtx<'_>| Err(e))
}

/// The guard the application builds: the permission rules, run against the rows in the transaction.
fn rule(user: &User, action: Action) -> Guard {
    let actor = Actor::for_user(user);
    Box::new(move |ctx: &GuardCtx<'_>| {
        permissions::check(&actor, ctx.channel, ctx.membership, action)
    })
}

fn new_user(username: &str) -> NewUser {
    NewUser {
        username: username.to_owned(),
        display_name: format!("{username} display"),
        email: Some(format!("{username}@example.com")),
        password_hash: Some(format!("hash-of-{username}")),
        is_admin: false,
        is_bot: false,
        actor_id: None,
        is_guest: false,
        guest_expires_at: None,
    }
}

async fn user(store: &Arc<dyn Store>, username: &str) -> User {
    store.create_user(new_user(username)).await.unwrap()
}

fn new_channel(kind: ChannelKind, name: &str, creator: UserId) -> NewChannel {
    NewChannel {
        kind,
        name: name.to_owned(),
        name_key: name.to_lowercase(),
        topic: format!("about {name}"),
        purpose: String::new(),
        creator_id: creator,
        announcement: false,
    }
}

async fn public(store: &Arc<dyn Store>, name: &str, creator: &User) -> ChannelId {
    store
        .create_channel(new_channel(ChannelKind::Public, name, creator.id))
        .await
        .unwrap()
        .id
}

async fn join(store: &Arc<dyn Store>, channel: ChannelId, who: &User) {
    let (_, added) = store
        .add_member(
            channel,
            who.id,
            who.id,
            ChannelRole::Member,
            rule(who, Action::Join),
        )
        .await
        .unwrap();
    assert!(added, "{} was already a member", who.username);
}

fn msg(channel: ChannelId, who: &User, text: &str) -> NewMessage {
    NewMessage {
        file_ids: Vec::new(),
        channel_id: channel,
        user_id: who.id,
        text: text.to_owned(),
        client_msg_id: None,
        thread_root_id: None,
        mentions: Mentions::default(),
    }
}

async fn post(store: &Arc<dyn Store>, channel: ChannelId, who: &User, text: &str) -> Message {
    let posted = store
        .post_message(msg(channel, who, text), rule(who, Action::Post))
        .await
        .unwrap();
    assert!(posted.created);
    posted.message
}

async fn reply(store: &Arc<dyn Store>, root: &Message, who: &User, text: &str) -> Message {
    let new = NewMessage {
        file_ids: Vec::new(),
        thread_root_id: Some(root.id),
        ..msg(root.channel_id, who, text)
    };
    let posted = store
        .post_message(new, rule(who, Action::Post))
        .await
        .unwrap();
    assert!(posted.created);
    posted.message
}

fn seqs(msgs: &[Message]) -> Vec<i64> {
    msgs.iter().map(|m| m.seq).collect()
}

fn domain_err<T: std::fmt::Debug>(r: Result<T, Error>) -> DomainError {
    match r {
        Err(Error::Domain(e)) => e,
        other => panic!("expected a domain error, got {other:?}"),
    }
}

/// Every committed event, read back in pages of `page`.
async fn all_events(store: &Arc<dyn Store>, page: u32) -> Vec<Event> {
    store.settle().await.unwrap();
    let mut out: Vec<Event> = Vec::new();
    loop {
        let after = out.last().map_or(0, |e| e.position);
        let batch = store.events_after(after, page).await.unwrap();
        assert!(
            batch.len() <= page as usize,
            "events_after returned more than its limit"
        );
        if batch.is_empty() {
            return out;
        }
        out.extend(batch);
    }
}

/// The newest position, once the events of every write that returned have one
/// ([`Store::settle`]: a no-op on SQLite, which numbers events as it commits them).
async fn last_position(store: &Arc<dyn Store>) -> i64 {
    store.settle().await.unwrap();
    store.last_position().await.unwrap()
}

/// `events_after`, once the events of every write that returned have a position.
async fn events_after(store: &Arc<dyn Store>, position: i64, limit: u32) -> Vec<Event> {
    store.settle().await.unwrap();
    store.events_after(position, limit).await.unwrap()
}

fn hash(n: u8) -> [u8; 32] {
    [n; 32]
}

// ---------------------------------------------------------------------------------------------
// Accounts and tokens

pub async fn users_and_tokens(store: Arc<dyn Store>) {
    store.ping().await.unwrap();
    assert_eq!(last_position(&store).await, 0, "a new store has no events");
    assert_eq!(store.count_admins().await.unwrap(), 0);

    let alice = store
        .create_user(NewUser {
            is_admin: true,
            ..new_user("alice")
        })
        .await
        .unwrap();
    assert_eq!(alice.username, "alice");
    assert_eq!(alice.display_name, "alice display");
    assert_eq!(alice.email.as_deref(), Some("alice@example.com"));
    assert!(alice.is_admin && alice.active && !alice.is_bot);
    let bob = store
        .create_user(NewUser {
            email: None,
            password_hash: None,
            is_bot: true,
            actor_id: Some(alice.id),
            ..new_user("bob")
        })
        .await
        .unwrap();
    assert_ne!(alice.id, bob.id);
    assert!(bob.is_bot && bob.email.is_none());
    let carol = user(&store, "carol").await;

    assert_eq!(store.user(alice.id).await.unwrap(), Some(alice.clone()));
    assert_eq!(store.user(UserId(999_999)).await.unwrap(), None);
    assert_eq!(store.count_admins().await.unwrap(), 1);

    // Usernames and emails are unique.
    let e = domain_err(store.create_user(new_user("alice")).await);
    assert!(matches!(e, DomainError::Conflict(_)), "{e:?}");
    let e = domain_err(
        store
            .create_user(NewUser {
                email: Some("carol@example.com".into()),
                ..new_user("dave")
            })
            .await,
    );
    assert!(matches!(e, DomainError::Conflict(_)), "{e:?}");
    // Accounts without an email do not collide with each other.
    let erin = store
        .create_user(NewUser {
            email: None,
            ..new_user("erin")
        })
        .await
        .unwrap();

    // Credentials by username or by email.
    let (u, h) = store.user_credentials("alice").await.unwrap().unwrap();
    assert_eq!((u.id, h.as_deref()), (alice.id, Some("hash-of-alice")));
    let (u, h) = store
        .user_credentials("carol@example.com")
        .await
        .unwrap()
        .unwrap();
    assert_eq!((u.id, h.as_deref()), (carol.id, Some("hash-of-carol")));
    let (u, h) = store.user_credentials("bob").await.unwrap().unwrap();
    assert_eq!((u.id, h), (bob.id, None));
    assert!(store.user_credentials("nobody").await.unwrap().is_none());

    // Lookups in bulk skip unknown entries.
    let found = store
        .users_by_usernames(&["carol".into(), "ghost".into(), "alice".into()])
        .await
        .unwrap();
    assert_eq!(
        found.iter().map(|u| u.id).collect::<BTreeSet<_>>(),
        BTreeSet::from([alice.id, carol.id])
    );
    let found = store
        .users_by_ids(&[bob.id, UserId(424_242), erin.id])
        .await
        .unwrap();
    assert_eq!(
        found.iter().map(|u| u.id).collect::<BTreeSet<_>>(),
        BTreeSet::from([bob.id, erin.id])
    );

    // The directory: ordered by username, paged, filtered by text.
    let q = |text: Option<&str>, after: Option<&str>, limit: u32| UserQuery {
        text: text.map(str::to_owned),
        include_inactive: false,
        after_username: after.map(str::to_owned),
        limit,
    };
    let names = |v: Vec<User>| v.into_iter().map(|u| u.username).collect::<Vec<_>>();
    assert_eq!(
        names(store.list_users(q(None, None, 10)).await.unwrap()),
        ["alice", "bob", "carol", "erin"]
    );
    assert_eq!(
        names(store.list_users(q(None, None, 2)).await.unwrap()),
        ["alice", "bob"]
    );
    assert_eq!(
        names(store.list_users(q(None, Some("bob"), 2)).await.unwrap()),
        ["carol", "erin"]
    );
    assert_eq!(
        names(store.list_users(q(Some("CAR"), None, 10)).await.unwrap()),
        ["carol"]
    );
    assert_eq!(
        names(
            store
                .list_users(q(Some("display"), None, 10))
                .await
                .unwrap()
        )
        .len(),
        4
    );
    // LIKE wildcards in the search text are literal.
    assert!(
        store
            .list_users(q(Some("%"), None, 10))
            .await
            .unwrap()
            .is_empty()
    );
    assert!(
        store
            .list_users(q(Some("_"), None, 10))
            .await
            .unwrap()
            .is_empty()
    );

    // Tokens.
    let later = Millis(Millis::now().0 + 3_600_000);
    let s1 = store
        .create_token(NewToken {
            user_id: carol.id,
            kind: TokenKind::Session,
            hash: hash(1),
            name: "firefox".into(),
            expires_at: Some(later),
            scope: enclave_core::Scope::Session,
            client: String::new(),
            ip: None,
        })
        .await
        .unwrap();
    let s2 = store
        .create_token(NewToken {
            user_id: carol.id,
            kind: TokenKind::Session,
            hash: hash(2),
            name: "phone".into(),
            expires_at: Some(later),
            scope: enclave_core::Scope::Session,
            client: String::new(),
            ip: None,
        })
        .await
        .unwrap();
    let s3 = store
        .create_token(NewToken {
            user_id: carol.id,
            kind: TokenKind::Session,
            hash: hash(3),
            name: "tablet".into(),
            expires_at: Some(later),
            scope: enclave_core::Scope::Session,
            client: String::new(),
            ip: None,
        })
        .await
        .unwrap();
    let pat = store
        .create_token(NewToken {
            user_id: carol.id,
            kind: TokenKind::PersonalAccess,
            hash: hash(4),
            name: "ci".into(),
            expires_at: None,
            scope: enclave_core::Scope::Write,
            client: String::new(),
            ip: None,
        })
        .await
        .unwrap();
    let expired = store
        .create_token(NewToken {
            user_id: carol.id,
            kind: TokenKind::PersonalAccess,
            hash: hash(5),
            name: "old".into(),
            expires_at: Some(Millis(Millis::now().0 - 1)),
            scope: enclave_core::Scope::Write,
            client: String::new(),
            ip: None,
        })
        .await
        .unwrap();
    assert_eq!(
        (s1.user_id, s1.kind, s1.name.as_str(), s1.expires_at),
        (carol.id, TokenKind::Session, "firefox", Some(later))
    );
    assert_eq!(s1.last_used_at, None);
    assert_eq!(
        (pat.kind, pat.expires_at),
        (TokenKind::PersonalAccess, None)
    );

    let now = Millis::now();
    let (t, u) = store.token_by_hash(hash(1), now).await.unwrap().unwrap();
    assert_eq!((t.id, u.id), (s1.id, carol.id));
    assert!(
        store.token_by_hash(hash(5), now).await.unwrap().is_none(),
        "an expired token must not authenticate"
    );
    assert!(store.token_by_hash(hash(9), now).await.unwrap().is_none());
    // Expiry is judged against the time given.
    assert!(
        store
            .token_by_hash(hash(5), Millis(0))
            .await
            .unwrap()
            .is_some()
    );

    store.touch_token(s1.id, Millis(now.0 + 5)).await.unwrap();
    let (t, _) = store.token_by_hash(hash(1), now).await.unwrap().unwrap();
    assert_eq!(t.last_used_at, Some(Millis(now.0 + 5)));

    let ids = |v: Vec<enclave_core::TokenInfo>| v.into_iter().map(|t| t.id).collect::<Vec<_>>();
    assert_eq!(
        ids(store.list_tokens(carol.id).await.unwrap()),
        [s1.id, s2.id, s3.id, pat.id, expired.id]
    );
    assert!(store.list_tokens(alice.id).await.unwrap().is_empty());

    // Revoking: only one's own tokens.
    assert!(!store.revoke_token(alice.id, s3.id).await.unwrap());
    assert!(store.revoke_token(carol.id, s3.id).await.unwrap());
    assert!(!store.revoke_token(carol.id, s3.id).await.unwrap());
    assert!(store.token_by_hash(hash(3), now).await.unwrap().is_none());

    // Ending sessions keeps the one excepted and every personal access token.
    assert_eq!(
        store.revoke_sessions(carol.id, Some(s1.id)).await.unwrap(),
        1
    );
    assert_eq!(
        ids(store.list_tokens(carol.id).await.unwrap()),
        [s1.id, pat.id, expired.id]
    );
    assert_eq!(store.revoke_sessions(carol.id, None).await.unwrap(), 1);
    assert_eq!(
        ids(store.list_tokens(carol.id).await.unwrap()),
        [pat.id, expired.id]
    );

    // Updating an account.
    let s4 = store
        .create_token(NewToken {
            user_id: carol.id,
            kind: TokenKind::Session,
            hash: hash(6),
            name: "laptop".into(),
            expires_at: Some(later),
            scope: enclave_core::Scope::Session,
            client: String::new(),
            ip: None,
        })
        .await
        .unwrap();
    let before = last_position(&store).await;
    let c2 = store
        .update_user(
            carol.id,
            UserPatch {
                display_name: Some("Carol C.".into()),
                email: Some(None),
                ..UserPatch::default()
            },
            Some(carol.id),
        )
        .await
        .unwrap();
    assert_eq!(
        (c2.display_name.as_str(), c2.email.as_deref()),
        ("Carol C.", None)
    );
    assert!(c2.updated_at >= carol.updated_at);
    assert_eq!(store.user(carol.id).await.unwrap(), Some(c2.clone()));
    let evs = events_after(&store, before, 10).await;
    assert_eq!(evs.len(), 1);
    assert_eq!(
        (evs[0].kind, evs[0].user_id, evs[0].actor_id),
        (EventKind::UserUpdated, Some(carol.id), Some(carol.id))
    );
    // A taken email is refused and changes nothing.
    let e = domain_err(
        store
            .update_user(
                carol.id,
                UserPatch {
                    email: Some(Some("alice@example.com".into())),
                    ..UserPatch::default()
                },
                None,
            )
            .await,
    );
    assert!(matches!(e, DomainError::Conflict(_)), "{e:?}");
    assert_eq!(store.user(carol.id).await.unwrap().unwrap().email, None);
    // A new password is not a visible change: no event.
    let before = last_position(&store).await;
    store
        .update_user(
            carol.id,
            UserPatch {
                password_hash: Some("new-hash".into()),
                ..UserPatch::default()
            },
            None,
        )
        .await
        .unwrap();
    assert_eq!(
        store
            .user_credentials("carol")
            .await
            .unwrap()
            .unwrap()
            .1
            .as_deref(),
        Some("new-hash")
    );
    assert_eq!(last_position(&store).await, before);
    // Deactivation ends every token, personal access tokens included.
    let c3 = store
        .update_user(
            carol.id,
            UserPatch {
                active: Some(false),
                ..UserPatch::default()
            },
            Some(alice.id),
        )
        .await
        .unwrap();
    assert!(!c3.active);
    assert!(
        store.token_by_hash(hash(6), now).await.unwrap().is_none(),
        "sessions end with deactivation"
    );
    assert!(
        store.token_by_hash(hash(4), now).await.unwrap().is_none(),
        "personal access tokens end with deactivation"
    );
    let left = ids(store.list_tokens(carol.id).await.unwrap());
    assert!(
        !left.contains(&s4.id) && !left.contains(&pat.id),
        "{left:?}"
    );
    assert_eq!(
        names(store.list_users(q(None, None, 10)).await.unwrap()),
        ["alice", "bob", "erin"]
    );
    assert_eq!(
        names(
            store
                .list_users(UserQuery {
                    include_inactive: true,
                    ..q(None, None, 10)
                })
                .await
                .unwrap()
        ),
        ["alice", "bob", "carol", "erin"]
    );
    // Admin count follows grants and deactivation.
    store
        .update_user(
            bob.id,
            UserPatch {
                is_admin: Some(true),
                ..UserPatch::default()
            },
            Some(alice.id),
        )
        .await
        .unwrap();
    assert_eq!(store.count_admins().await.unwrap(), 2);
    store
        .update_user(
            alice.id,
            UserPatch {
                active: Some(false),
                ..UserPatch::default()
            },
            Some(bob.id),
        )
        .await
        .unwrap();
    assert_eq!(store.count_admins().await.unwrap(), 1);
    let e = domain_err(
        store
            .update_user(UserId(777_777), UserPatch::default(), None)
            .await,
    );
    assert_eq!(e, DomainError::NotFound(Entity::User));

    // Every account creation was logged, with its actor.
    let created: Vec<Event> = all_events(&store, 100)
        .await
        .into_iter()
        .filter(|e| e.kind == EventKind::UserCreated)
        .collect();
    assert_eq!(
        created
            .iter()
            .map(|e| e.user_id.unwrap())
            .collect::<Vec<_>>(),
        [alice.id, bob.id, carol.id, erin.id]
    );
    assert_eq!(created[1].actor_id, Some(alice.id));
    assert_eq!(created[0].actor_id, None);
}

/// Text in any script sorts by its bytes (code points) and matches case-insensitively in ASCII
/// only, whatever the database's locale: both backends give the same answers.
/// Deactivation revokes every token of the account, personal access tokens included, and
/// reactivation brings none back; other accounts' tokens are untouched.
pub async fn deactivation_revokes_every_token(store: Arc<dyn Store>) {
    let alice = store
        .create_user(NewUser {
            is_admin: true,
            ..new_user("alice")
        })
        .await
        .unwrap();
    let bob = user(&store, "bob").await;
    let now = Millis::now();
    for (who, kind, h) in [
        (&bob, TokenKind::Session, 41),
        (&bob, TokenKind::PersonalAccess, 42),
        (&alice, TokenKind::PersonalAccess, 43),
    ] {
        store
            .create_token(NewToken {
                user_id: who.id,
                kind,
                hash: hash(h),
                name: format!("token {h}"),
                expires_at: None,
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
    }
    for active in [false, true] {
        store
            .update_user(
                bob.id,
                UserPatch {
                    active: Some(active),
                    ..UserPatch::default()
                },
                Some(alice.id),
            )
            .await
            .unwrap();
        for h in [41, 42] {
            assert!(
                store.token_by_hash(hash(h), now).await.unwrap().is_none(),
                "token {h} works with the account active={active}"
            );
        }
        assert!(store.list_tokens(bob.id).await.unwrap().is_empty());
        let (_, owner) = store.token_by_hash(hash(43), now).await.unwrap().unwrap();
        assert_eq!(owner.id, alice.id, "another account's token is untouched");
    }
}

pub async fn text_in_any_script(store: Arc<dyn Store>) {
    let mut made = Vec::new();
    for (name, display) in [
        ("alice", "Alice Martin"),
        ("Zed", "Zed Ærø"),
        ("émile", "Émile Zola"),
        ("张伟", "张伟"),
        ("bob", "Bob 李"),
    ] {
        made.push(
            store
                .create_user(NewUser {
                    display_name: display.into(),
                    email: None,
                    ..new_user(name)
                })
                .await
                .unwrap(),
        );
    }
    let list = |text: Option<&str>, after: Option<&str>| UserQuery {
        text: text.map(str::to_owned),
        include_inactive: false,
        after_username: after.map(str::to_owned),
        limit: 100,
    };
    let names = |v: Vec<User>| v.into_iter().map(|u| u.username).collect::<Vec<_>>();
    assert_eq!(
        names(store.list_users(list(None, None)).await.unwrap()),
        ["Zed", "alice", "bob", "émile", "张伟"]
    );
    assert_eq!(
        names(store.list_users(list(None, Some("bob"))).await.unwrap()),
        ["émile", "张伟"]
    );
    assert_eq!(
        names(store.list_users(list(None, Some("Zz"))).await.unwrap()),
        ["alice", "bob", "émile", "张伟"]
    );
    assert_eq!(
        names(store.list_users(list(Some("张"), None)).await.unwrap()),
        ["张伟"]
    );
    assert_eq!(
        names(store.list_users(list(Some("李"), None)).await.unwrap()),
        ["bob"]
    );
    assert_eq!(
        names(store.list_users(list(Some("ZOLA"), None)).await.unwrap()),
        ["émile"]
    );
    assert_eq!(
        names(store.list_users(list(Some("ærø"), None)).await.unwrap()),
        Vec::<String>::new(),
        "case folding is ASCII-only"
    );
    assert_eq!(
        names(store.list_users(list(Some("z"), None)).await.unwrap()),
        ["Zed", "émile"]
    );
    let found = store
        .users_by_usernames(&["张伟".into(), "Alice".into(), "émile".into()])
        .await
        .unwrap();
    assert_eq!(names(found), ["张伟", "émile"], "usernames match exactly");

    // Channels: searched by name and topic in any script.
    let alice = &made[0];
    let ch = store
        .create_channel(NewChannel {
            topic: "季度计划 Q3".into(),
            ..new_channel(ChannelKind::Public, "产品讨论", alice.id)
        })
        .await
        .unwrap();
    public(&store, "Ops", alice).await;
    let browse = |text: &str| BrowseQuery {
        text: Some(text.to_owned()),
        include_archived: false,
        after_id: None,
        limit: 10,
    };
    for text in ["讨论", "季度", "q3"] {
        let found = store.browse_channels(browse(text)).await.unwrap();
        assert_eq!(
            found.iter().map(|c| c.id).collect::<Vec<_>>(),
            [ch.id],
            "{text}"
        );
    }
    // A channel name is taken whatever its script.
    let e = domain_err(
        store
            .create_channel(new_channel(ChannelKind::Public, "产品讨论", alice.id))
            .await,
    );
    assert!(matches!(e, DomainError::Conflict(_)), "{e:?}");
    // Reactions group by emoji in the order they were first given.
    let m = post(&store, ch.id, alice, "你好 @all").await;
    for emoji in ["😀", "👍", "🎉"] {
        store
            .set_reaction(m.id, alice.id, emoji.into(), true, allow())
            .await
            .unwrap();
        tokio::time::sleep(Duration::from_millis(2)).await;
    }
    let got = store.message(m.id).await.unwrap().unwrap();
    assert_eq!(
        got.reactions
            .iter()
            .map(|g| g.emoji.as_str())
            .collect::<Vec<_>>(),
        ["😀", "👍", "🎉"]
    );
    assert_eq!(got.text, "你好 @all");
}

// ---------------------------------------------------------------------------------------------
// Channels and members

pub async fn channels_and_members(store: Arc<dyn Store>) {
    let alice = user(&store, "alice").await;
    let bob = user(&store, "bob").await;
    let carol = user(&store, "carol").await;
    let admin = store
        .create_user(NewUser {
            is_admin: true,
            ..new_user("root")
        })
        .await
        .unwrap();

    let before = last_position(&store).await;
    let general = store
        .create_channel(new_channel(ChannelKind::Public, "General", alice.id))
        .await
        .unwrap();
    assert_eq!(general.kind, ChannelKind::Public);
    assert_eq!(general.name.as_deref(), Some("General"));
    assert_eq!(general.topic, "about General");
    assert_eq!(general.creator_id, Some(alice.id));
    assert_eq!(
        (general.last_seq, general.n_members, general.archived_at),
        (0, 1, None)
    );
    let evs = events_after(&store, before, 10).await;
    assert_eq!(
        evs.iter().map(|e| e.kind).collect::<Vec<_>>(),
        [EventKind::ChannelCreated, EventKind::MemberAdded]
    );
    assert!(
        evs.iter()
            .all(|e| e.channel_id == Some(general.id) && e.actor_id == Some(alice.id))
    );
    assert_eq!(evs[1].user_id, Some(alice.id));

    // The creator owns it.
    let (ch, m) = store
        .channel_for(general.id, alice.id)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(ch, general);
    let m = m.unwrap();
    assert_eq!(
        (m.channel_id, m.user_id, m.role, m.last_read_seq),
        (general.id, alice.id, ChannelRole::Owner, 0)
    );
    let (_, none) = store
        .channel_for(general.id, bob.id)
        .await
        .unwrap()
        .unwrap();
    assert!(none.is_none());
    assert!(
        store
            .channel_for(ChannelId(987_654), bob.id)
            .await
            .unwrap()
            .is_none()
    );
    assert!(store.channel(ChannelId(987_654)).await.unwrap().is_none());

    // Names are unique by key among public channels (see channel_names_are_unique_among_public_channels).
    let secret = store
        .create_channel(new_channel(ChannelKind::Private, "secret", bob.id))
        .await
        .unwrap();
    let random = store
        .create_channel(new_channel(ChannelKind::Public, "random", bob.id))
        .await
        .unwrap();
    let old = store
        .create_channel(new_channel(ChannelKind::Public, "old-stuff", carol.id))
        .await
        .unwrap();

    // Joining: new members are added once.
    let (m, added) = store
        .add_member(
            general.id,
            bob.id,
            bob.id,
            ChannelRole::Member,
            rule(&bob, Action::Join),
        )
        .await
        .unwrap();
    assert!(added);
    assert_eq!((m.user_id, m.role), (bob.id, ChannelRole::Member));
    let (m2, added) = store
        .add_member(
            general.id,
            bob.id,
            bob.id,
            ChannelRole::Admin,
            rule(&bob, Action::Join),
        )
        .await
        .unwrap();
    assert!(!added, "an existing member is left as they are");
    assert_eq!(m2, m);
    assert_eq!(
        store.channel(general.id).await.unwrap().unwrap().n_members,
        2
    );
    // A private channel cannot be joined by a stranger; its members invite.
    let e = domain_err(
        store
            .add_member(
                secret.id,
                carol.id,
                carol.id,
                ChannelRole::Member,
                rule(&carol, Action::Join),
            )
            .await,
    );
    assert_eq!(e, DomainError::NotFound(Entity::Channel));
    let (_, added) = store
        .add_member(
            secret.id,
            bob.id,
            carol.id,
            ChannelRole::Member,
            rule(&bob, Action::AddMember),
        )
        .await
        .unwrap();
    assert!(added);
    // Unknown or inactive users cannot be added.
    let e = domain_err(
        store
            .add_member(
                general.id,
                alice.id,
                UserId(555_555),
                ChannelRole::Member,
                allow(),
            )
            .await,
    );
    assert_eq!(e, DomainError::NotFound(Entity::User));
    let dave = user(&store, "dave").await;
    store
        .update_user(
            dave.id,
            UserPatch {
                active: Some(false),
                ..UserPatch::default()
            },
            None,
        )
        .await
        .unwrap();
    let e = domain_err(
        store
            .add_member(general.id, alice.id, dave.id, ChannelRole::Member, allow())
            .await,
    );
    assert_eq!(e, DomainError::NotFound(Entity::User));
    let e = domain_err(
        store
            .add_member(
                ChannelId(5_555),
                alice.id,
                bob.id,
                ChannelRole::Member,
                allow(),
            )
            .await,
    );
    assert_eq!(e, DomainError::NotFound(Entity::Channel));

    // A member joining later starts with earlier messages read.
    post(&store, general.id, &alice, "one").await;
    post(&store, general.id, &alice, "two").await;
    join(&store, general.id, &carol).await;
    let (_, m) = store
        .channel_for(general.id, carol.id)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(m.unwrap().last_read_seq, 2);

    // Members, ordered by user id and paged.
    let page = store.members(general.id, None, 2).await.unwrap();
    assert_eq!(
        page.iter()
            .map(|(m, u)| (m.user_id, u.id))
            .collect::<Vec<_>>(),
        [(alice.id, alice.id), (bob.id, bob.id)]
    );
    assert_eq!(page[0].1.username, "alice");
    let page = store.members(general.id, Some(bob.id), 2).await.unwrap();
    assert_eq!(
        page.iter().map(|(m, _)| m.user_id).collect::<Vec<_>>(),
        [carol.id]
    );

    // Roles: only an owner changes them.
    let e = domain_err(
        store
            .set_member_role(
                general.id,
                bob.id,
                carol.id,
                ChannelRole::Admin,
                rule(&bob, Action::SetMemberRole),
            )
            .await,
    );
    assert!(matches!(e, DomainError::Forbidden(_)), "{e:?}");
    let before = last_position(&store).await;
    let m = store
        .set_member_role(
            general.id,
            alice.id,
            bob.id,
            ChannelRole::Admin,
            rule(&alice, Action::SetMemberRole),
        )
        .await
        .unwrap();
    assert_eq!((m.user_id, m.role), (bob.id, ChannelRole::Admin));
    let evs = events_after(&store, before, 10).await;
    assert_eq!(evs.len(), 1);
    assert_eq!(
        (evs[0].kind, evs[0].user_id, evs[0].actor_id),
        (EventKind::MemberUpdated, Some(bob.id), Some(alice.id))
    );
    // Setting the same role again changes nothing.
    let before = last_position(&store).await;
    store
        .set_member_role(general.id, alice.id, bob.id, ChannelRole::Admin, allow())
        .await
        .unwrap();
    assert_eq!(last_position(&store).await, before);
    let e = domain_err(
        store
            .set_member_role(general.id, alice.id, dave.id, ChannelRole::Admin, allow())
            .await,
    );
    assert_eq!(e, DomainError::NotFound(Entity::Member));

    // Guards see the target's membership.
    let seen = Arc::new(std::sync::Mutex::new(None));
    let seen2 = seen.clone();
    let target_guard: Guard = Box::new(move |ctx: &GuardCtx<'_>| {
        *seen2.lock().unwrap() = Some((
            ctx.membership.map(|m| m.role),
            ctx.target.map(|m| (m.user_id, m.role)),
        ));
        Ok(())
    });
    store
        .set_member_role(
            general.id,
            alice.id,
            carol.id,
            ChannelRole::Member,
            target_guard,
        )
        .await
        .unwrap();
    assert_eq!(
        *seen.lock().unwrap(),
        Some((
            Some(ChannelRole::Owner),
            Some((carol.id, ChannelRole::Member))
        ))
    );

    // Removing: moderators remove others, members leave; n_members follows.
    let target_role = ChannelRole::Member;
    let e = domain_err(
        store
            .remove_member(
                general.id,
                carol.id,
                bob.id,
                rule(
                    &carol,
                    Action::RemoveMember {
                        target: bob.id,
                        target_role: ChannelRole::Admin,
                    },
                ),
            )
            .await,
    );
    assert!(matches!(e, DomainError::Forbidden(_)), "{e:?}");
    store
        .remove_member(
            general.id,
            bob.id,
            carol.id,
            rule(
                &bob,
                Action::RemoveMember {
                    target: carol.id,
                    target_role,
                },
            ),
        )
        .await
        .unwrap();
    assert!(
        store
            .channel_for(general.id, carol.id)
            .await
            .unwrap()
            .unwrap()
            .1
            .is_none()
    );
    assert_eq!(
        store.channel(general.id).await.unwrap().unwrap().n_members,
        2
    );
    let e = domain_err(
        store
            .remove_member(general.id, bob.id, carol.id, allow())
            .await,
    );
    assert_eq!(e, DomainError::NotFound(Entity::Member));
    store
        .remove_member(general.id, bob.id, bob.id, rule(&bob, Action::Leave))
        .await
        .unwrap();
    assert_eq!(
        store.channel(general.id).await.unwrap().unwrap().n_members,
        1
    );

    // Updating a channel.
    let before = last_position(&store).await;
    let seq_before = store.channel(general.id).await.unwrap().unwrap().last_seq;
    let updated = store
        .update_channel(
            general.id,
            alice.id,
            ChannelPatch {
                name: Some(("Town Square".into(), "town square".into())),
                topic: Some("news".into()),
                ..ChannelPatch::default()
            },
            rule(&alice, Action::Rename),
        )
        .await
        .unwrap();
    assert_eq!(
        (updated.name.as_deref(), updated.topic.as_str()),
        (Some("Town Square"), "news")
    );
    assert_eq!(store.channel(general.id).await.unwrap().unwrap(), updated);
    let evs = events_after(&store, before, 10).await;
    // The change, then its notices (enclave_core::notices) in the same transaction.
    assert_eq!(
        evs.iter().map(|e| e.kind).collect::<Vec<_>>(),
        [
            EventKind::ChannelUpdated,
            EventKind::MessageCreated,
            EventKind::MessageCreated
        ]
    );
    let notes: Vec<_> = store
        .history(general.id, Anchor::Latest, 10, false)
        .await
        .unwrap()
        .into_iter()
        .filter_map(|m| m.notice.map(|k| (k, m.text, m.user_id)))
        .collect();
    assert_eq!(
        notes,
        [
            (NoticeKind::Renamed, "Town Square".to_owned(), alice.id),
            (NoticeKind::Topic, "news".to_owned(), alice.id)
        ]
    );
    assert_eq!(
        updated.last_seq,
        seq_before + 2,
        "the notices took sequence numbers"
    );
    // The old name is free again; a taken one is refused and changes nothing.
    store
        .create_channel(new_channel(ChannelKind::Public, "general", carol.id))
        .await
        .unwrap();
    let e = domain_err(
        store
            .update_channel(
                random.id,
                bob.id,
                ChannelPatch {
                    name: Some(("town SQUARE".into(), "town square".into())),
                    topic: Some("x".into()),
                    ..ChannelPatch::default()
                },
                allow(),
            )
            .await,
    );
    assert!(matches!(e, DomainError::Conflict(_)), "{e:?}");
    assert_eq!(store.channel(random.id).await.unwrap().unwrap(), random);
    // An empty patch changes nothing.
    let before = last_position(&store).await;
    let same = store
        .update_channel(random.id, bob.id, ChannelPatch::default(), allow())
        .await
        .unwrap();
    assert_eq!(same, random);
    assert_eq!(last_position(&store).await, before);

    // Archiving: an event each way; archived channels refuse writes through the rules.
    let archived = store
        .update_channel(
            old.id,
            admin.id,
            ChannelPatch {
                archived: Some(true),
                ..ChannelPatch::default()
            },
            rule(&admin, Action::Archive),
        )
        .await
        .unwrap();
    assert!(archived.is_archived());
    let again = store
        .update_channel(
            old.id,
            carol.id,
            ChannelPatch {
                archived: Some(true),
                ..ChannelPatch::default()
            },
            allow(),
        )
        .await
        .unwrap();
    assert_eq!(
        again.archived_at, archived.archived_at,
        "archiving twice keeps the first time"
    );
    let e = domain_err(
        store
            .post_message(msg(old.id, &carol, "hello?"), rule(&carol, Action::Post))
            .await,
    );
    assert_eq!(e, DomainError::Archived);
    let evs = events_after(&store, before, 10).await;
    assert_eq!(
        evs.iter().map(|e| e.kind).collect::<Vec<_>>(),
        [EventKind::ChannelArchived]
    );

    // The directory: public channels only, archived ones on request, paged by id, searchable.
    let browse = |text: Option<&str>,
                  include_archived: bool,
                  after_id: Option<ChannelId>,
                  limit: u32| BrowseQuery {
        text: text.map(str::to_owned),
        include_archived,
        after_id,
        limit,
    };
    let names =
        |v: Vec<enclave_core::Channel>| v.into_iter().map(|c| c.name.unwrap()).collect::<Vec<_>>();
    assert_eq!(
        names(
            store
                .browse_channels(browse(None, false, None, 10))
                .await
                .unwrap()
        ),
        ["Town Square", "random", "general"]
    );
    assert_eq!(
        names(
            store
                .browse_channels(browse(None, true, None, 10))
                .await
                .unwrap()
        ),
        ["Town Square", "random", "old-stuff", "general"]
    );
    assert_eq!(
        names(
            store
                .browse_channels(browse(None, true, None, 2))
                .await
                .unwrap()
        ),
        ["Town Square", "random"]
    );
    assert_eq!(
        names(
            store
                .browse_channels(browse(None, true, Some(random.id), 2))
                .await
                .unwrap()
        ),
        ["old-stuff", "general"]
    );
    assert_eq!(
        names(
            store
                .browse_channels(browse(Some("news"), false, None, 10))
                .await
                .unwrap()
        ),
        ["Town Square"]
    );
    assert_eq!(
        names(
            store
                .browse_channels(browse(Some("RAND"), false, None, 10))
                .await
                .unwrap()
        ),
        ["random"]
    );
    assert!(
        store
            .browse_channels(browse(Some("secret"), true, None, 10))
            .await
            .unwrap()
            .is_empty()
    );

    // Unarchiving.
    let un = store
        .update_channel(
            old.id,
            carol.id,
            ChannelPatch {
                archived: Some(false),
                ..ChannelPatch::default()
            },
            allow(),
        )
        .await
        .unwrap();
    assert!(!un.is_archived());
    post(&store, old.id, &carol, "back").await;

    // My channels, in id order, with my membership.
    let mine = store.my_channels(bob.id).await.unwrap();
    assert_eq!(
        mine.iter().map(|s| s.channel.id).collect::<Vec<_>>(),
        [secret.id, random.id]
    );
    assert!(
        mine.iter()
            .all(|s| s.membership.user_id == bob.id && s.membership.role == ChannelRole::Owner)
    );
    assert!(mine.iter().all(|s| s.dm_user_ids.is_empty()));
    let one = store
        .my_channel(secret.id, carol.id)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        (one.channel.id, one.membership.role),
        (secret.id, ChannelRole::Member)
    );
    assert!(
        store
            .my_channel(general.id, carol.id)
            .await
            .unwrap()
            .is_none()
    );
}

// ---------------------------------------------------------------------------------------------
// Direct conversations

/// A public channel's name is unique among public channels (case-folded); a private channel's
/// name is unique nowhere, because refusing it would tell a stranger that a private channel of
/// that name exists. Renames follow the same rule.
pub async fn channel_names_are_unique_among_public_channels(store: Arc<dyn Store>) {
    let alice = user(&store, "alice").await;
    let bob = user(&store, "bob").await;
    let create = |kind: ChannelKind, name: &'static str, who: UserId| {
        let store = store.clone();
        async move {
            store
                .create_channel(NewChannel {
                    name_key: enclave_core::validate::channel_name_key(name),
                    ..new_channel(kind, name, who)
                })
                .await
        }
    };
    let rename = |id: ChannelId, name: &'static str, who: UserId| {
        let store = store.clone();
        async move {
            store
                .update_channel(
                    id,
                    who,
                    ChannelPatch {
                        name: Some((name.into(), enclave_core::validate::channel_name_key(name))),
                        ..ChannelPatch::default()
                    },
                    allow(),
                )
                .await
        }
    };
    let secret = create(ChannelKind::Private, "Secret Plans", alice.id)
        .await
        .unwrap();
    // Bob, who cannot see Alice's private channel, may use its name for a public one, and for a
    // private one of his own.
    let public = create(ChannelKind::Public, "secret  plans", bob.id)
        .await
        .unwrap();
    let own = create(ChannelKind::Private, "SECRET PLANS", bob.id)
        .await
        .unwrap();
    assert_ne!(public.id, secret.id);
    assert_ne!(own.id, secret.id);
    // A second public channel of that name is refused: every user sees the first one.
    let e = domain_err(create(ChannelKind::Public, "Secret Plans", alice.id).await);
    assert!(matches!(e, DomainError::Conflict(_)), "{e:?}");
    // Renames: a public channel may take a private channel's name, not another public one's.
    let other = create(ChannelKind::Public, "other", bob.id).await.unwrap();
    let hidden = create(ChannelKind::Private, "hidden", alice.id)
        .await
        .unwrap();
    let renamed = rename(other.id, "Hidden", bob.id).await.unwrap();
    assert_eq!(renamed.name.as_deref(), Some("Hidden"));
    let e = domain_err(rename(renamed.id, "secret plans", bob.id).await);
    assert!(matches!(e, DomainError::Conflict(_)), "{e:?}");
    let moved = rename(hidden.id, "Secret plans", alice.id).await.unwrap();
    assert_eq!(moved.name.as_deref(), Some("Secret plans"));
    // The directory lists the public channels only.
    let listed: Vec<ChannelId> = store
        .browse_channels(BrowseQuery {
            limit: 50,
            ..BrowseQuery::default()
        })
        .await
        .unwrap()
        .into_iter()
        .map(|c| c.id)
        .collect();
    assert_eq!(listed, [public.id, renamed.id]);
}

pub async fn direct_conversations(store: Arc<dyn Store>) {
    let alice = user(&store, "alice").await;
    let bob = user(&store, "bob").await;
    let carol = user(&store, "carol").await;

    // The same set of people always gets the same conversation, however the list is given.
    let before = last_position(&store).await;
    let (dm, created) = store
        .open_direct(alice.id, vec![bob.id, alice.id])
        .await
        .unwrap();
    assert!(created);
    assert_eq!(
        (dm.kind, dm.name.as_deref(), dm.n_members, dm.creator_id),
        (ChannelKind::Dm, None, 2, Some(alice.id))
    );
    let evs = events_after(&store, before, 10).await;
    assert_eq!(
        evs.iter().map(|e| (e.kind, e.user_id)).collect::<Vec<_>>(),
        [
            (EventKind::ChannelCreated, None),
            (EventKind::MemberAdded, Some(alice.id)),
            (EventKind::MemberAdded, Some(bob.id))
        ]
    );
    let before = last_position(&store).await;
    let (again, created) = store
        .open_direct(bob.id, vec![alice.id, bob.id, alice.id])
        .await
        .unwrap();
    assert!(!created);
    assert_eq!(again.id, dm.id);
    assert_eq!(
        last_position(&store).await,
        before,
        "reopening appends no events"
    );

    // Notes to self and groups are different conversations.
    let (notes, created) = store.open_direct(alice.id, vec![alice.id]).await.unwrap();
    assert!(created);
    assert_eq!((notes.kind, notes.n_members), (ChannelKind::Dm, 1));
    let (group, created) = store
        .open_direct(carol.id, vec![carol.id, bob.id, alice.id])
        .await
        .unwrap();
    assert!(created);
    assert_eq!((group.kind, group.n_members), (ChannelKind::GroupDm, 3));
    assert_eq!(
        store
            .open_direct(alice.id, vec![bob.id, carol.id, alice.id])
            .await
            .unwrap()
            .0
            .id,
        group.id
    );
    assert_eq!(BTreeSet::from([dm.id, notes.id, group.id]).len(), 3);
    // Opened concurrently by everyone at once, a new conversation is still created once.
    let dave = user(&store, "dave").await;
    let mut set = tokio::task::JoinSet::new();
    for who in [
        alice.id, bob.id, dave.id, alice.id, bob.id, dave.id, alice.id, dave.id,
    ] {
        let store = store.clone();
        let ids = vec![dave.id, who, bob.id, alice.id];
        set.spawn(async move { store.open_direct(who, ids).await.unwrap() });
    }
    let mut opened = Vec::new();
    while let Some(j) = set.join_next().await {
        opened.push(j.unwrap());
    }
    assert_eq!(opened.iter().filter(|(_, created)| *created).count(), 1);
    assert_eq!(
        opened
            .iter()
            .map(|(c, _)| c.id)
            .collect::<BTreeSet<_>>()
            .len(),
        1
    );
    assert_eq!(
        (opened[0].0.kind, opened[0].0.n_members),
        (ChannelKind::GroupDm, 3)
    );
    assert_eq!(
        store.members(opened[0].0.id, None, 10).await.unwrap().len(),
        3
    );

    // Direct conversations are in their members' lists with the other members' ids, and never
    // in the public directory.
    let mine = store.my_channels(alice.id).await.unwrap();
    let by_id: BTreeMap<ChannelId, Vec<UserId>> = mine
        .iter()
        .map(|s| (s.channel.id, s.dm_user_ids.clone()))
        .collect();
    assert_eq!(by_id.len(), 4);
    assert_eq!(by_id[&dm.id], [bob.id]);
    assert!(by_id[&notes.id].is_empty());
    assert_eq!(by_id[&group.id], [bob.id, carol.id]);
    assert!(
        mine.iter()
            .all(|s| s.membership.role == ChannelRole::Member)
    );
    let listed = store
        .browse_channels(BrowseQuery {
            include_archived: true,
            limit: 100,
            ..BrowseQuery::default()
        })
        .await
        .unwrap();
    assert!(listed.is_empty());
    assert!(store.my_channel(dm.id, carol.id).await.unwrap().is_none());

    // Participants post; strangers cannot see the conversation; membership is fixed.
    let m = post(&store, dm.id, &bob, "hi alice").await;
    assert_eq!(m.seq, 1);
    let e = domain_err(
        store
            .post_message(msg(dm.id, &carol, "let me in"), rule(&carol, Action::Post))
            .await,
    );
    assert_eq!(e, DomainError::NotFound(Entity::Channel));
    let e = domain_err(
        store
            .add_member(
                dm.id,
                alice.id,
                carol.id,
                ChannelRole::Member,
                rule(&alice, Action::AddMember),
            )
            .await,
    );
    assert!(matches!(e, DomainError::Forbidden(_)), "{e:?}");
    let e = domain_err(
        store
            .remove_member(dm.id, alice.id, alice.id, rule(&alice, Action::Leave))
            .await,
    );
    assert!(matches!(e, DomainError::Forbidden(_)), "{e:?}");
    assert_eq!(store.channel(dm.id).await.unwrap().unwrap().n_members, 2);
    let s = store.my_channel(dm.id, alice.id).await.unwrap().unwrap();
    assert_eq!((s.unread_count, s.channel.last_seq), (1, 1));
}

// ---------------------------------------------------------------------------------------------
// Posting

pub async fn posting_and_idempotency(store: Arc<dyn Store>) {
    let alice = user(&store, "alice").await;
    let bob = user(&store, "bob").await;
    let carol = user(&store, "carol").await;
    let general = public(&store, "general", &alice).await;
    let other = public(&store, "other", &alice).await;
    join(&store, general, &bob).await;

    let before = last_position(&store).await;
    let new = NewMessage {
        file_ids: Vec::new(),
        client_msg_id: Some("c-1".into()),
        mentions: Mentions {
            user_ids: vec![bob.id],
            channel: true,
            here: false,
        },
        ..msg(general, &alice, "hello @bob @channel")
    };
    let posted = store
        .post_message(new.clone(), rule(&alice, Action::Post))
        .await
        .unwrap();
    assert!(posted.created);
    let m = posted.message;
    assert_eq!(
        (m.channel_id, m.seq, m.user_id, m.text.as_str()),
        (general, 1, alice.id, "hello @bob @channel")
    );
    assert_eq!(m.client_msg_id.as_deref(), Some("c-1"));
    assert_eq!(
        m.mentions,
        Mentions {
            user_ids: vec![bob.id],
            channel: true,
            here: false
        }
    );
    assert_eq!(
        (
            m.thread_root_id,
            m.edited_at,
            m.deleted_at,
            m.pinned_at,
            m.reply_count
        ),
        (None, None, None, None, 0)
    );
    assert!(m.reactions.is_empty());
    // What post returns is what is stored.
    assert_eq!(store.message(m.id).await.unwrap(), Some(m.clone()));
    let evs = events_after(&store, before, 10).await;
    assert_eq!(evs.len(), 1);
    assert_eq!(
        (
            evs[0].kind,
            evs[0].channel_id,
            evs[0].actor_id,
            evs[0].message_id
        ),
        (
            EventKind::MessageCreated,
            Some(general),
            Some(alice.id),
            Some(m.id)
        )
    );
    assert_eq!(store.channel(general).await.unwrap().unwrap().last_seq, 1);

    // A retry with the same client id returns the first message and changes nothing, even with
    // a different text.
    let before = last_position(&store).await;
    let retry = store
        .post_message(
            NewMessage {
                file_ids: Vec::new(),
                text: "hello again".into(),
                ..new.clone()
            },
            rule(&alice, Action::Post),
        )
        .await
        .unwrap();
    assert!(!retry.created);
    assert_eq!(retry.message, m);
    assert_eq!(last_position(&store).await, before);
    assert_eq!(store.channel(general).await.unwrap().unwrap().last_seq, 1);
    // The client id is scoped to its author and channel.
    let by_bob = store
        .post_message(
            NewMessage {
                file_ids: Vec::new(),
                user_id: bob.id,
                mentions: Mentions::default(),
                ..new.clone()
            },
            rule(&bob, Action::Post),
        )
        .await
        .unwrap();
    assert!(by_bob.created);
    assert_eq!(by_bob.message.seq, 2);
    let elsewhere = store
        .post_message(
            NewMessage {
                file_ids: Vec::new(),
                channel_id: other,
                ..new.clone()
            },
            rule(&alice, Action::Post),
        )
        .await
        .unwrap();
    assert!(elsewhere.created);
    assert_eq!(
        (elsewhere.message.channel_id, elsewhere.message.seq),
        (other, 1),
        "each channel counts from 1"
    );

    // Sequence numbers continue without gaps.
    for i in 3..=6 {
        assert_eq!(
            post(
                &store,
                general,
                if i % 2 == 0 { &alice } else { &bob },
                &format!("m{i}")
            )
            .await
            .seq,
            i
        );
    }

    // Refused posts leave no trace.
    let before = last_position(&store).await;
    let e = domain_err(
        store
            .post_message(
                msg(general, &carol, "not a member"),
                rule(&carol, Action::Post),
            )
            .await,
    );
    assert!(matches!(e, DomainError::Forbidden(_)), "{e:?}");
    let e = domain_err(
        store
            .post_message(msg(ChannelId(404_404), &alice, "nowhere"), allow())
            .await,
    );
    assert_eq!(e, DomainError::NotFound(Entity::Channel));
    // A bad thread root.
    let bad_root = NewMessage {
        file_ids: Vec::new(),
        thread_root_id: Some(MessageId(909_090)),
        ..msg(general, &alice, "reply")
    };
    let e = domain_err(store.post_message(bad_root, allow()).await);
    assert!(
        matches!(
            e,
            DomainError::Invalid {
                field: "thread_root_id",
                ..
            }
        ),
        "{e:?}"
    );
    let cross = NewMessage {
        file_ids: Vec::new(),
        thread_root_id: Some(elsewhere.message.id),
        ..msg(general, &alice, "reply")
    };
    let e = domain_err(store.post_message(cross, allow()).await);
    assert!(
        matches!(
            e,
            DomainError::Invalid {
                field: "thread_root_id",
                ..
            }
        ),
        "{e:?}"
    );
    // A refused retry does not return the stored message either.
    let e = domain_err(
        store
            .post_message(new.clone(), refuse(DomainError::Archived))
            .await,
    );
    assert_eq!(e, DomainError::Archived);
    assert_eq!(last_position(&store).await, before);
    assert_eq!(store.channel(general).await.unwrap().unwrap().last_seq, 6);
    assert_eq!(
        seqs(
            &store
                .history(general, Anchor::Latest, 100, true)
                .await
                .unwrap()
        ),
        [1, 2, 3, 4, 5, 6]
    );

    // Posting marks the channel read up to one's own message.
    let (_, m) = store.channel_for(general, alice.id).await.unwrap().unwrap();
    assert_eq!(m.unwrap().last_read_seq, 6);
    let (_, m) = store.channel_for(general, bob.id).await.unwrap().unwrap();
    assert_eq!(m.unwrap().last_read_seq, 5);
    assert!(store.message(MessageId(123_456)).await.unwrap().is_none());
}

// ---------------------------------------------------------------------------------------------
// History

pub async fn history_pages(store: Arc<dyn Store>) {
    let alice = user(&store, "alice").await;
    let ch = public(&store, "general", &alice).await;
    let empty = public(&store, "empty", &alice).await;
    assert!(
        store
            .history(empty, Anchor::Latest, 50, false)
            .await
            .unwrap()
            .is_empty()
    );
    assert!(
        store
            .history(ChannelId(31_337), Anchor::Latest, 50, false)
            .await
            .unwrap()
            .is_empty()
    );

    // 1..=20 top-level; then replies and deletions mixed in.
    let mut top = Vec::new();
    for i in 1..=20 {
        top.push(post(&store, ch, &alice, &format!("m{i}")).await);
    }
    assert_eq!(seqs(&top), (1..=20).collect::<Vec<_>>());
    let h = store.history(ch, Anchor::Latest, 5, false).await.unwrap();
    assert_eq!(
        seqs(&h),
        [16, 17, 18, 19, 20],
        "the newest page, in ascending order"
    );
    assert_eq!(h[4], top[19]);
    assert_eq!(
        seqs(&store.history(ch, Anchor::Latest, 100, false).await.unwrap()),
        (1..=20).collect::<Vec<_>>()
    );
    assert_eq!(
        seqs(
            &store
                .history(ch, Anchor::Before(16), 5, false)
                .await
                .unwrap()
        ),
        [11, 12, 13, 14, 15]
    );
    assert_eq!(
        seqs(
            &store
                .history(ch, Anchor::Before(3), 5, false)
                .await
                .unwrap()
        ),
        [1, 2]
    );
    assert!(
        store
            .history(ch, Anchor::Before(1), 5, false)
            .await
            .unwrap()
            .is_empty()
    );
    assert_eq!(
        seqs(&store.history(ch, Anchor::After(5), 3, false).await.unwrap()),
        [6, 7, 8]
    );
    assert_eq!(
        seqs(
            &store
                .history(ch, Anchor::After(18), 5, false)
                .await
                .unwrap()
        ),
        [19, 20]
    );
    assert!(
        store
            .history(ch, Anchor::After(20), 5, false)
            .await
            .unwrap()
            .is_empty()
    );
    assert_eq!(
        seqs(&store.history(ch, Anchor::After(0), 2, false).await.unwrap()),
        [1, 2]
    );
    assert_eq!(
        seqs(
            &store
                .history(ch, Anchor::Around(10), 5, false)
                .await
                .unwrap()
        ),
        [8, 9, 10, 11, 12]
    );
    assert_eq!(
        seqs(
            &store
                .history(ch, Anchor::Around(10), 4, false)
                .await
                .unwrap()
        ),
        [8, 9, 10, 11]
    );
    // Around splits the limit: half before the anchor, the rest from the anchor on; a short side
    // is not filled up from the other.
    assert_eq!(
        seqs(
            &store
                .history(ch, Anchor::Around(2), 6, false)
                .await
                .unwrap()
        ),
        [1, 2, 3, 4]
    );
    assert_eq!(
        seqs(
            &store
                .history(ch, Anchor::Around(20), 6, false)
                .await
                .unwrap()
        ),
        [17, 18, 19, 20]
    );
    assert_eq!(
        seqs(
            &store
                .history(ch, Anchor::Around(7), 1, false)
                .await
                .unwrap()
        ),
        [7],
        "the anchor itself comes first"
    );
    assert!(
        store
            .history(ch, Anchor::Latest, 0, false)
            .await
            .unwrap()
            .is_empty()
    );

    // Paging backwards from the newest visits every message exactly once.
    let mut seen = Vec::new();
    let mut anchor = Anchor::Latest;
    loop {
        let page = store.history(ch, anchor, 6, false).await.unwrap();
        if page.is_empty() {
            break;
        }
        anchor = Anchor::Before(page[0].seq);
        seen.splice(0..0, seqs(&page));
    }
    assert_eq!(seen, (1..=20).collect::<Vec<_>>());

    // Replies (21, 22 to m3; 23 to m5) are left out unless asked for.
    let r21 = reply(&store, &top[2], &alice, "r21").await;
    let r22 = reply(&store, &top[2], &alice, "r22").await;
    let r23 = reply(&store, &top[4], &alice, "r23").await;
    assert_eq!((r21.seq, r22.seq, r23.seq), (21, 22, 23));
    assert_eq!(
        seqs(&store.history(ch, Anchor::Latest, 3, false).await.unwrap()),
        [18, 19, 20]
    );
    assert_eq!(
        seqs(&store.history(ch, Anchor::Latest, 3, true).await.unwrap()),
        [21, 22, 23]
    );
    assert_eq!(
        seqs(
            &store
                .history(ch, Anchor::After(19), 10, false)
                .await
                .unwrap()
        ),
        [20]
    );
    assert_eq!(
        seqs(
            &store
                .history(ch, Anchor::After(19), 10, true)
                .await
                .unwrap()
        ),
        [20, 21, 22, 23]
    );
    let with_root = store
        .history(ch, Anchor::Around(3), 3, false)
        .await
        .unwrap();
    assert_eq!(seqs(&with_root), [2, 3, 4]);
    assert_eq!(with_root[1].reply_count, 2);

    // Deleted messages are left out, except thread roots that still have replies.
    for m in [&top[3], &top[2], &top[9]] {
        store.delete_message(m.id, alice.id, allow()).await.unwrap();
    }
    store
        .delete_message(r22.id, alice.id, allow())
        .await
        .unwrap();
    let h = store
        .history(ch, Anchor::After(0), 100, false)
        .await
        .unwrap();
    let want: Vec<i64> = (1..=20).filter(|s| *s != 4 && *s != 10).collect();
    assert_eq!(seqs(&h), want);
    let root = h.iter().find(|m| m.seq == 3).unwrap();
    assert!(root.is_deleted() && root.text.is_empty());
    assert_eq!(root.reply_count, 1);
    let h = store
        .history(ch, Anchor::After(0), 100, true)
        .await
        .unwrap();
    let mut want_all = want.clone();
    want_all.extend([21, 23]);
    assert_eq!(seqs(&h), want_all);
    // Limits count visible messages only.
    assert_eq!(
        seqs(
            &store
                .history(ch, Anchor::Before(12), 3, false)
                .await
                .unwrap()
        ),
        [8, 9, 11]
    );
    assert_eq!(
        seqs(&store.history(ch, Anchor::After(2), 3, false).await.unwrap()),
        [3, 5, 6]
    );
    // Around a deleted message: its neighbours.
    assert_eq!(
        seqs(
            &store
                .history(ch, Anchor::Around(10), 4, false)
                .await
                .unwrap()
        ),
        [8, 9, 11, 12]
    );
    // Once its last reply is gone, a deleted root disappears too.
    store
        .delete_message(r21.id, alice.id, allow())
        .await
        .unwrap();
    let h = store
        .history(ch, Anchor::After(0), 100, true)
        .await
        .unwrap();
    assert_eq!(
        seqs(&h),
        (1..=23)
            .filter(|s| ![3, 4, 10, 21, 22].contains(s))
            .collect::<Vec<_>>()
    );
    // History carries reactions.
    store
        .set_reaction(top[0].id, alice.id, "👍".into(), true, allow())
        .await
        .unwrap();
    let h = store
        .history(ch, Anchor::Before(2), 1, false)
        .await
        .unwrap();
    assert_eq!(h[0].reactions.len(), 1);
    assert_eq!(h[0].reactions[0].user_ids, [alice.id]);
}

// ---------------------------------------------------------------------------------------------
// Threads

pub async fn threads(store: Arc<dyn Store>) {
    let alice = user(&store, "alice").await;
    let bob = user(&store, "bob").await;
    let ch = public(&store, "general", &alice).await;
    join(&store, ch, &bob).await;

    let root = post(&store, ch, &alice, "root").await;
    let lone = post(&store, ch, &alice, "no replies").await;
    let before = last_position(&store).await;
    let r1 = reply(&store, &root, &bob, "r1").await;
    assert_eq!((r1.thread_root_id, r1.seq), (Some(root.id), 3));
    let evs = events_after(&store, before, 10).await;
    assert_eq!(
        evs.iter()
            .map(|e| (e.kind, e.message_id))
            .collect::<Vec<_>>(),
        [
            (EventKind::MessageCreated, Some(r1.id)),
            (EventKind::ThreadUpdated, Some(root.id))
        ]
    );
    let between = post(&store, ch, &bob, "top-level in between").await;
    let r2 = reply(&store, &root, &alice, "r2").await;
    let r3 = reply(&store, &root, &bob, "r3").await;
    assert_eq!(seqs(&[between.clone(), r2.clone(), r3.clone()]), [4, 5, 6]);

    let root_now = store.message(root.id).await.unwrap().unwrap();
    assert_eq!(root_now.reply_count, 3);
    assert!(root_now.last_reply_at.is_some_and(|t| t >= root.created_at));
    assert_eq!(
        store.message(lone.id).await.unwrap().unwrap().reply_count,
        0
    );

    // The root, then replies in order, paged by seq.
    let t = store.thread(root.id, 0, 100).await.unwrap();
    assert_eq!(
        t.iter().map(|m| m.id).collect::<Vec<_>>(),
        [root.id, r1.id, r2.id, r3.id]
    );
    assert_eq!(t[0].reply_count, 3);
    let t = store.thread(root.id, 0, 2).await.unwrap();
    assert_eq!(
        t.iter().map(|m| m.id).collect::<Vec<_>>(),
        [root.id, r1.id, r2.id]
    );
    let t = store.thread(root.id, r2.seq, 2).await.unwrap();
    assert_eq!(t.iter().map(|m| m.id).collect::<Vec<_>>(), [root.id, r3.id]);
    let t = store.thread(root.id, r3.seq, 10).await.unwrap();
    assert_eq!(t.iter().map(|m| m.id).collect::<Vec<_>>(), [root.id]);
    assert_eq!(store.thread(lone.id, 0, 10).await.unwrap().len(), 1);
    // Asking for a reply's thread or a missing message gives nothing.
    assert!(store.thread(r1.id, 0, 10).await.unwrap().is_empty());
    assert!(
        store
            .thread(MessageId(888_888), 0, 10)
            .await
            .unwrap()
            .is_empty()
    );

    // Replies go to roots only.
    let nested = NewMessage {
        file_ids: Vec::new(),
        thread_root_id: Some(r1.id),
        ..msg(ch, &alice, "nested")
    };
    let e = domain_err(store.post_message(nested, allow()).await);
    assert!(
        matches!(
            e,
            DomainError::Invalid {
                field: "thread_root_id",
                ..
            }
        ),
        "{e:?}"
    );

    // Deleting a reply drops it from the thread and the count.
    store
        .delete_message(r2.id, alice.id, allow())
        .await
        .unwrap();
    let t = store.thread(root.id, 0, 100).await.unwrap();
    assert_eq!(
        t.iter().map(|m| m.id).collect::<Vec<_>>(),
        [root.id, r1.id, r3.id]
    );
    assert_eq!(t[0].reply_count, 2);
    // A deleted root keeps its thread readable, but takes no new replies.
    store
        .delete_message(root.id, alice.id, allow())
        .await
        .unwrap();
    let t = store.thread(root.id, 0, 100).await.unwrap();
    assert_eq!(
        t.iter().map(|m| m.id).collect::<Vec<_>>(),
        [root.id, r1.id, r3.id]
    );
    assert!(t[0].is_deleted() && t[0].text.is_empty());
    let late = NewMessage {
        file_ids: Vec::new(),
        thread_root_id: Some(root.id),
        ..msg(ch, &bob, "late")
    };
    let e = domain_err(store.post_message(late, rule(&bob, Action::Post)).await);
    assert!(
        matches!(
            e,
            DomainError::Invalid {
                field: "thread_root_id",
                ..
            }
        ),
        "{e:?}"
    );

    // Replies do not move the poster's read position.
    let (_, m) = store.channel_for(ch, bob.id).await.unwrap().unwrap();
    assert_eq!(m.unwrap().last_read_seq, between.seq);
}

// ---------------------------------------------------------------------------------------------
// Editing and deleting

pub async fn edit_delete(store: Arc<dyn Store>) {
    let alice = user(&store, "alice").await;
    let bob = user(&store, "bob").await;
    let carol = user(&store, "carol").await;
    let ch = public(&store, "general", &alice).await;
    join(&store, ch, &bob).await;
    join(&store, ch, &carol).await;

    let m = post(&store, ch, &bob, "frist").await;
    // Only the author edits; the guard sees the message being changed.
    let e = domain_err(
        store
            .edit_message(
                m.id,
                alice.id,
                "hijack".into(),
                Mentions::default(),
                rule(&alice, Action::EditMessage { author: m.user_id }),
            )
            .await,
    );
    assert!(matches!(e, DomainError::Forbidden(_)), "{e:?}");
    let seen = Arc::new(std::sync::Mutex::new(None));
    let seen2 = seen.clone();
    let author_rule = move |who: &User| -> Guard {
        let actor = Actor::for_user(who);
        let seen = seen2.clone();
        Box::new(move |ctx: &GuardCtx<'_>| {
            let msg = ctx
                .message
                .expect("message operations show the message to the guard");
            *seen.lock().unwrap() = Some((msg.id, msg.text.clone()));
            permissions::check(
                &actor,
                ctx.channel,
                ctx.membership,
                Action::EditMessage {
                    author: msg.user_id,
                },
            )
        })
    };
    let before = last_position(&store).await;
    let mentions = Mentions {
        user_ids: vec![carol.id],
        channel: false,
        here: true,
    };
    let edited = store
        .edit_message(
            m.id,
            bob.id,
            "first @carol @here".into(),
            mentions.clone(),
            author_rule(&bob),
        )
        .await
        .unwrap();
    assert_eq!(*seen.lock().unwrap(), Some((m.id, "frist".to_owned())));
    assert_eq!(
        (edited.id, edited.seq, edited.text.as_str()),
        (m.id, m.seq, "first @carol @here")
    );
    assert_eq!(edited.mentions, mentions);
    assert!(edited.edited_at.is_some());
    assert_eq!(store.message(m.id).await.unwrap(), Some(edited.clone()));
    let evs = events_after(&store, before, 10).await;
    assert_eq!(evs.len(), 1);
    assert_eq!(
        (evs[0].kind, evs[0].message_id, evs[0].actor_id),
        (EventKind::MessageEdited, Some(m.id), Some(bob.id))
    );
    assert_eq!(
        store
            .my_channel(ch, carol.id)
            .await
            .unwrap()
            .unwrap()
            .mention_count,
        1
    );
    // The same text again is no change.
    let before = last_position(&store).await;
    let same = store
        .edit_message(
            m.id,
            bob.id,
            "first @carol @here".into(),
            mentions.clone(),
            allow(),
        )
        .await
        .unwrap();
    assert_eq!(same, edited);
    assert_eq!(last_position(&store).await, before);
    // Editing away a mention removes it.
    let edited = store
        .edit_message(m.id, bob.id, "first".into(), Mentions::default(), allow())
        .await
        .unwrap();
    assert_eq!(edited.mentions, Mentions::default());
    assert_eq!(
        store.message(m.id).await.unwrap().unwrap().mentions,
        Mentions::default()
    );
    assert_eq!(
        store
            .my_channel(ch, carol.id)
            .await
            .unwrap()
            .unwrap()
            .mention_count,
        0
    );

    // Deleting: others' messages need a moderator.
    let target = post(&store, ch, &carol, "hey @bob").await;
    store
        .set_reaction(target.id, alice.id, "🎉".into(), true, allow())
        .await
        .unwrap();
    store
        .set_pinned(target.id, alice.id, true, allow())
        .await
        .unwrap();
    let e = domain_err(
        store
            .delete_message(
                target.id,
                bob.id,
                rule(&bob, Action::DeleteMessage { author: carol.id }),
            )
            .await,
    );
    assert!(matches!(e, DomainError::Forbidden(_)), "{e:?}");
    assert!(
        !store
            .message(target.id)
            .await
            .unwrap()
            .unwrap()
            .is_deleted()
    );
    let before = last_position(&store).await;
    let gone = store
        .delete_message(
            target.id,
            alice.id,
            rule(&alice, Action::DeleteMessage { author: carol.id }),
        )
        .await
        .unwrap();
    assert!(gone.is_deleted());
    assert!(gone.text.is_empty(), "a deleted message keeps no text");
    assert_eq!(gone.mentions, Mentions::default());
    assert!(gone.reactions.is_empty());
    assert_eq!((gone.pinned_at, gone.pinned_by), (None, None));
    assert_eq!(
        (gone.id, gone.seq, gone.user_id),
        (target.id, target.seq, carol.id)
    );
    assert_eq!(store.message(target.id).await.unwrap(), Some(gone.clone()));
    assert!(store.pins(ch).await.unwrap().is_empty());
    let evs = events_after(&store, before, 10).await;
    assert_eq!(
        evs.iter()
            .map(|e| (e.kind, e.message_id))
            .collect::<Vec<_>>(),
        [(EventKind::MessageDeleted, Some(target.id))]
    );
    assert_eq!(evs[0].actor_id, Some(alice.id));

    // A deleted message can be neither edited, deleted, reacted to nor pinned.
    let before = last_position(&store).await;
    let e = domain_err(
        store
            .edit_message(
                target.id,
                carol.id,
                "undo".into(),
                Mentions::default(),
                allow(),
            )
            .await,
    );
    assert_eq!(e, DomainError::NotFound(Entity::Message));
    let e = domain_err(store.delete_message(target.id, carol.id, allow()).await);
    assert_eq!(e, DomainError::NotFound(Entity::Message));
    let e = domain_err(
        store
            .set_reaction(target.id, carol.id, "👍".into(), true, allow())
            .await,
    );
    assert_eq!(e, DomainError::NotFound(Entity::Message));
    let e = domain_err(store.set_pinned(target.id, carol.id, true, allow()).await);
    assert_eq!(e, DomainError::NotFound(Entity::Message));
    let e = domain_err(
        store
            .edit_message(
                MessageId(616_161),
                carol.id,
                "x".into(),
                Mentions::default(),
                allow(),
            )
            .await,
    );
    assert_eq!(e, DomainError::NotFound(Entity::Message));
    assert_eq!(last_position(&store).await, before);

    // Its seq stays taken.
    assert_eq!(post(&store, ch, &carol, "next").await.seq, target.seq + 1);
    // Authors delete their own.
    let own = post(&store, ch, &bob, "oops").await;
    store
        .delete_message(
            own.id,
            bob.id,
            rule(&bob, Action::DeleteMessage { author: bob.id }),
        )
        .await
        .unwrap();
    assert!(store.message(own.id).await.unwrap().unwrap().is_deleted());
}

// ---------------------------------------------------------------------------------------------
// Reactions

pub async fn reactions(store: Arc<dyn Store>) {
    let alice = user(&store, "alice").await;
    let bob = user(&store, "bob").await;
    let carol = user(&store, "carol").await;
    let ch = public(&store, "general", &alice).await;
    join(&store, ch, &bob).await;
    let m = post(&store, ch, &alice, "react to me").await;

    let before = last_position(&store).await;
    let (after, changed) = store
        .set_reaction(m.id, bob.id, "👍".into(), true, rule(&bob, Action::React))
        .await
        .unwrap();
    assert!(changed);
    assert_eq!(after.reactions.len(), 1);
    assert_eq!(
        (
            after.reactions[0].emoji.as_str(),
            after.reactions[0].user_ids.clone()
        ),
        ("👍", vec![bob.id])
    );
    let evs = events_after(&store, before, 10).await;
    assert_eq!(evs.len(), 1);
    assert_eq!(
        (
            evs[0].kind,
            evs[0].user_id,
            evs[0].message_id,
            evs[0].extra.as_deref(),
            evs[0].channel_id
        ),
        (
            EventKind::ReactionAdded,
            Some(bob.id),
            Some(m.id),
            Some("👍"),
            Some(ch)
        )
    );
    // Adding it again changes nothing and appends nothing.
    let before = last_position(&store).await;
    let (again, changed) = store
        .set_reaction(m.id, bob.id, "👍".into(), true, allow())
        .await
        .unwrap();
    assert!(!changed);
    assert_eq!(again.reactions, after.reactions);
    assert_eq!(last_position(&store).await, before);

    store
        .set_reaction(m.id, alice.id, "👍".into(), true, allow())
        .await
        .unwrap();
    store
        .set_reaction(m.id, alice.id, "🎉".into(), true, allow())
        .await
        .unwrap();
    let got = store.message(m.id).await.unwrap().unwrap();
    let groups: BTreeMap<String, BTreeSet<UserId>> = got
        .reactions
        .iter()
        .map(|g| (g.emoji.clone(), g.user_ids.iter().copied().collect()))
        .collect();
    assert_eq!(
        groups,
        BTreeMap::from([
            ("👍".to_owned(), BTreeSet::from([alice.id, bob.id])),
            ("🎉".to_owned(), BTreeSet::from([alice.id]))
        ])
    );
    // Strangers may not react.
    let e = domain_err(
        store
            .set_reaction(
                m.id,
                carol.id,
                "👀".into(),
                true,
                rule(&carol, Action::React),
            )
            .await,
    );
    assert!(matches!(e, DomainError::Forbidden(_)), "{e:?}");

    // Removing.
    let before = last_position(&store).await;
    let (after, changed) = store
        .set_reaction(m.id, bob.id, "👍".into(), false, allow())
        .await
        .unwrap();
    assert!(changed);
    let thumbs = after.reactions.iter().find(|g| g.emoji == "👍").unwrap();
    assert_eq!(thumbs.user_ids, [alice.id]);
    let (_, changed) = store
        .set_reaction(m.id, bob.id, "👍".into(), false, allow())
        .await
        .unwrap();
    assert!(!changed, "removing an absent reaction changes nothing");
    let (after, changed) = store
        .set_reaction(m.id, alice.id, "🎉".into(), false, allow())
        .await
        .unwrap();
    assert!(changed);
    assert_eq!(
        after
            .reactions
            .iter()
            .map(|g| g.emoji.as_str())
            .collect::<Vec<_>>(),
        ["👍"],
        "empty groups disappear"
    );
    let evs = events_after(&store, before, 10).await;
    assert_eq!(
        evs.iter().map(|e| e.kind).collect::<Vec<_>>(),
        [EventKind::ReactionRemoved, EventKind::ReactionRemoved]
    );

    // At most MAX_REACTIONS_PER_MESSAGE different emoji; existing ones can still be joined.
    let max = enclave_core::validate::MAX_REACTIONS_PER_MESSAGE;
    for i in 1..max {
        let (_, changed) = store
            .set_reaction(m.id, alice.id, format!("e{i}"), true, allow())
            .await
            .unwrap();
        assert!(changed);
    }
    assert_eq!(
        store.message(m.id).await.unwrap().unwrap().reactions.len(),
        max
    );
    let before = last_position(&store).await;
    let e = domain_err(
        store
            .set_reaction(m.id, bob.id, "one-too-many".into(), true, allow())
            .await,
    );
    assert!(matches!(e, DomainError::LimitExceeded(_)), "{e:?}");
    assert_eq!(last_position(&store).await, before);
    let (after, changed) = store
        .set_reaction(m.id, bob.id, "e1".into(), true, allow())
        .await
        .unwrap();
    assert!(changed);
    assert_eq!(after.reactions.len(), max);
    // Reactions are per message.
    let other = post(&store, ch, &bob, "other").await;
    assert!(
        store
            .message(other.id)
            .await
            .unwrap()
            .unwrap()
            .reactions
            .is_empty()
    );
}

// ---------------------------------------------------------------------------------------------
// Pins

pub async fn pins(store: Arc<dyn Store>) {
    let alice = user(&store, "alice").await;
    let bob = user(&store, "bob").await;
    let carol = user(&store, "carol").await;
    let ch = public(&store, "general", &alice).await;
    let other_ch = public(&store, "other", &alice).await;
    join(&store, ch, &bob).await;
    let a = post(&store, ch, &alice, "a").await;
    let b = post(&store, ch, &bob, "b").await;
    let elsewhere = post(&store, other_ch, &alice, "x").await;
    assert!(store.pins(ch).await.unwrap().is_empty());

    let before = last_position(&store).await;
    let (pinned, changed) = store
        .set_pinned(a.id, bob.id, true, rule(&bob, Action::Pin))
        .await
        .unwrap();
    assert!(changed);
    assert!(pinned.pinned_at.is_some());
    assert_eq!(pinned.pinned_by, Some(bob.id));
    let evs = events_after(&store, before, 10).await;
    assert_eq!(
        evs.iter()
            .map(|e| (e.kind, e.message_id, e.actor_id))
            .collect::<Vec<_>>(),
        [(EventKind::MessagePinned, Some(a.id), Some(bob.id))]
    );
    let before = last_position(&store).await;
    let (_, changed) = store
        .set_pinned(a.id, alice.id, true, allow())
        .await
        .unwrap();
    assert!(!changed);
    assert_eq!(last_position(&store).await, before);
    assert_eq!(
        store.message(a.id).await.unwrap().unwrap().pinned_by,
        Some(bob.id),
        "pinning twice keeps the first pin"
    );
    let e = domain_err(
        store
            .set_pinned(b.id, carol.id, true, rule(&carol, Action::Pin))
            .await,
    );
    assert!(matches!(e, DomainError::Forbidden(_)), "{e:?}");

    tokio::time::sleep(Duration::from_millis(3)).await;
    store
        .set_pinned(b.id, alice.id, true, allow())
        .await
        .unwrap();
    store
        .set_pinned(elsewhere.id, alice.id, true, allow())
        .await
        .unwrap();
    let p = store.pins(ch).await.unwrap();
    assert_eq!(
        p.iter().map(|m| m.id).collect::<Vec<_>>(),
        [b.id, a.id],
        "newest pin first, this channel only"
    );
    assert_eq!(p[1], store.message(a.id).await.unwrap().unwrap());

    let before = last_position(&store).await;
    let (unpinned, changed) = store
        .set_pinned(a.id, alice.id, false, allow())
        .await
        .unwrap();
    assert!(changed);
    assert_eq!((unpinned.pinned_at, unpinned.pinned_by), (None, None));
    let (_, changed) = store
        .set_pinned(a.id, alice.id, false, allow())
        .await
        .unwrap();
    assert!(!changed);
    let evs = events_after(&store, before, 10).await;
    assert_eq!(
        evs.iter().map(|e| e.kind).collect::<Vec<_>>(),
        [EventKind::MessageUnpinned]
    );
    assert_eq!(
        store
            .pins(ch)
            .await
            .unwrap()
            .iter()
            .map(|m| m.id)
            .collect::<Vec<_>>(),
        [b.id]
    );

    // A channel holds at most 100 pins.
    let filler = public(&store, "filler", &alice).await;
    let mut ids = Vec::new();
    for i in 0..101 {
        ids.push(post(&store, filler, &alice, &format!("p{i}")).await.id);
    }
    let mut set = tokio::task::JoinSet::new();
    for id in ids[..100].iter().copied() {
        let store = store.clone();
        let alice = alice.id;
        set.spawn(async move { store.set_pinned(id, alice, true, allow()).await.unwrap().1 });
    }
    while let Some(changed) = set.join_next().await {
        assert!(changed.unwrap());
    }
    assert_eq!(store.pins(filler).await.unwrap().len(), 100);
    let e = domain_err(store.set_pinned(ids[100], alice.id, true, allow()).await);
    assert!(matches!(e, DomainError::LimitExceeded(_)), "{e:?}");
    store
        .set_pinned(ids[0], alice.id, false, allow())
        .await
        .unwrap();
    store
        .set_pinned(ids[100], alice.id, true, allow())
        .await
        .unwrap();
    assert_eq!(store.pins(filler).await.unwrap().len(), 100);
}

// ---------------------------------------------------------------------------------------------
// Read state and counts

pub async fn read_state_and_counts(store: Arc<dyn Store>) {
    let alice = user(&store, "alice").await;
    let bob = user(&store, "bob").await;
    let carol = user(&store, "carol").await;
    let ch = public(&store, "general", &alice).await;
    join(&store, ch, &bob).await;
    join(&store, ch, &carol).await;
    let counts = |who: UserId| {
        let store = store.clone();
        async move {
            let s = store.my_channel(ch, who).await.unwrap().unwrap();
            let listed = store
                .my_channels(who)
                .await
                .unwrap()
                .into_iter()
                .find(|x| x.channel.id == ch)
                .unwrap();
            assert_eq!(listed, s, "my_channels and my_channel agree");
            (s.unread_count, s.mention_count)
        }
    };
    assert_eq!(counts(bob.id).await, (0, 0));

    let mention = |users: Vec<UserId>, channel: bool, here: bool| Mentions {
        user_ids: users,
        channel,
        here,
    };
    let send = |who: &User, text: &str, mentions: Mentions, root: Option<MessageId>| {
        let store = store.clone();
        let new = NewMessage {
            file_ids: Vec::new(),
            mentions,
            thread_root_id: root,
            ..msg(ch, who, text)
        };
        let guard = rule(who, Action::Post);
        async move { store.post_message(new, guard).await.unwrap().message }
    };
    // 1: plain; 2: @bob; 3: @channel and @bob (one message, counted once); 4: @here;
    // 5: a reply to 1 mentioning @bob (a mention, not unread); 6: @bob, later deleted;
    // 7: bob's own @channel.
    let m1 = send(&alice, "plain", Mentions::default(), None).await;
    send(&alice, "@bob", mention(vec![bob.id], false, false), None).await;
    send(
        &carol,
        "@channel @bob",
        mention(vec![bob.id], true, false),
        None,
    )
    .await;
    send(&alice, "@here", mention(vec![], false, true), None).await;
    let r5 = send(
        &carol,
        "@bob in thread",
        mention(vec![bob.id], false, false),
        Some(m1.id),
    )
    .await;
    let m6 = send(
        &alice,
        "@bob soon gone",
        mention(vec![bob.id], false, false),
        None,
    )
    .await;
    assert_eq!(counts(bob.id).await, (5, 5));
    // Carol's top-level post 3 marked 1..=3 read (her reply 5 moved nothing): unread 4 and 6;
    // the @here in 4 mentions her.
    assert_eq!(
        counts(carol.id).await,
        (2, 1),
        "posting marks one's own messages read"
    );
    assert_eq!(
        counts(alice.id).await,
        (0, 0),
        "alice's post 6 marked everything up to it read"
    );
    assert_eq!(r5.seq, 5);

    store
        .delete_message(m6.id, alice.id, allow())
        .await
        .unwrap();
    assert_eq!(
        counts(bob.id).await,
        (4, 4),
        "deleted messages are neither unread nor mentions"
    );

    let own = send(
        &bob,
        "@channel from bob",
        mention(vec![], true, false),
        None,
    )
    .await;
    assert_eq!(own.seq, 7);
    assert_eq!(
        counts(bob.id).await,
        (0, 0),
        "posting marked everything before it read"
    );
    assert_eq!(
        counts(carol.id).await,
        (2, 2),
        "unread 4 and 7; mentions @here in 4 and @channel in 7"
    );

    // mark_read sets the position (moving it back is the caller's choice), clamped to the channel.
    let before = last_position(&store).await;
    let m = store
        .mark_read(ch, carol.id, 2, rule(&carol, Action::MarkRead))
        .await
        .unwrap();
    assert_eq!((m.user_id, m.last_read_seq), (carol.id, 2));
    let evs = events_after(&store, before, 10).await;
    assert_eq!(evs.len(), 1);
    assert_eq!(
        (
            evs[0].kind,
            evs[0].user_id,
            evs[0].channel_id,
            evs[0].extra.as_deref()
        ),
        (EventKind::ReadUpdated, Some(carol.id), Some(ch), Some("2"))
    );
    // Unread after 2: 4 and 7 (3 is carol's own); mentions after 2: 4 (@here), 7 (@channel).
    assert_eq!(counts(carol.id).await, (2, 2));
    let m = store.mark_read(ch, carol.id, 1_000, allow()).await.unwrap();
    assert_eq!(m.last_read_seq, 7, "clamped to the newest message");
    assert_eq!(counts(carol.id).await, (0, 0));
    let before = last_position(&store).await;
    assert_eq!(
        store
            .mark_read(ch, carol.id, 7, allow())
            .await
            .unwrap()
            .last_read_seq,
        7
    );
    assert_eq!(
        last_position(&store).await,
        before,
        "an unchanged read position appends nothing"
    );
    assert_eq!(
        store
            .mark_read(ch, carol.id, -5, allow())
            .await
            .unwrap()
            .last_read_seq,
        0
    );
    // Everything: unread 1, 2, 4, 7 (not her own 3, not reply 5, not deleted 6); mentions 4, 7
    // (her own @channel in 3 does not count).
    assert_eq!(counts(carol.id).await, (4, 2));
    assert_eq!(
        store
            .channel_for(ch, carol.id)
            .await
            .unwrap()
            .unwrap()
            .1
            .unwrap()
            .last_read_seq,
        0
    );
    // Non-members have no read state.
    let dave = user(&store, "dave").await;
    let e = domain_err(store.mark_read(ch, dave.id, 1, allow()).await);
    assert_eq!(e, DomainError::NotFound(Entity::Member));
    let e = domain_err(
        store
            .mark_read(ch, dave.id, 1, rule(&dave, Action::MarkRead))
            .await,
    );
    assert!(matches!(e, DomainError::Forbidden(_)), "{e:?}");

    // A reply mentioning someone counts as a mention (not as unread) until read past.
    store.mark_read(ch, bob.id, 4, allow()).await.unwrap();
    assert_eq!(
        counts(bob.id).await,
        (0, 1),
        "unread: 6 deleted, 7 his own; mentions: reply 5 only"
    );
    store.mark_read(ch, bob.id, 5, allow()).await.unwrap();
    assert_eq!(counts(bob.id).await, (0, 0));
    // One's own messages are never unread nor mentions, @name or @channel alike, even in
    // threads (where posting does not move the read position).
    let own_reply = send(
        &bob,
        "@bob @channel note to self",
        mention(vec![bob.id], true, false),
        Some(m1.id),
    )
    .await;
    assert_eq!(own_reply.seq, 8);
    assert_eq!(
        store
            .channel_for(ch, bob.id)
            .await
            .unwrap()
            .unwrap()
            .1
            .unwrap()
            .last_read_seq,
        5
    );
    assert_eq!(
        counts(bob.id).await,
        (0, 0),
        "a self-mention is not a mention"
    );
    // Others' @channel in a thread is a mention, once.
    send(
        &carol,
        "@channel @bob in thread",
        mention(vec![bob.id], true, false),
        Some(m1.id),
    )
    .await;
    assert_eq!(counts(bob.id).await, (0, 1));
}

// ---------------------------------------------------------------------------------------------
// Guards

pub async fn guards_run_inside_transaction(store: Arc<dyn Store>) {
    let alice = user(&store, "alice").await;
    let bob = user(&store, "bob").await;
    let carol = user(&store, "carol").await;
    let ch = public(&store, "general", &alice).await;
    join(&store, ch, &bob).await;
    let m = post(&store, ch, &bob, "hello").await;
    store
        .set_reaction(m.id, bob.id, "👍".into(), true, allow())
        .await
        .unwrap();

    // Every guarded write: a refusing guard's error comes back as is, nothing changes and no
    // event is appended.
    let snapshot = |store: Arc<dyn Store>| async move {
        (
            store.channel(ch).await.unwrap(),
            store.members(ch, None, 100).await.unwrap(),
            store.history(ch, Anchor::Latest, 100, true).await.unwrap(),
            store.pins(ch).await.unwrap(),
            last_position(&store).await,
        )
    };
    let before = snapshot(store.clone()).await;
    let no = || refuse(DomainError::Forbidden("refused by the test"));
    let refused: Vec<(&str, Result<(), Error>)> = vec![
        (
            "update_channel",
            store
                .update_channel(
                    ch,
                    alice.id,
                    ChannelPatch {
                        topic: Some("t".into()),
                        archived: Some(true),
                        ..ChannelPatch::default()
                    },
                    no(),
                )
                .await
                .map(drop),
        ),
        (
            "add_member",
            store
                .add_member(ch, alice.id, carol.id, ChannelRole::Member, no())
                .await
                .map(drop),
        ),
        (
            "remove_member",
            store.remove_member(ch, alice.id, bob.id, no()).await,
        ),
        (
            "set_member_role",
            store
                .set_member_role(ch, alice.id, bob.id, ChannelRole::Admin, no())
                .await
                .map(drop),
        ),
        (
            "mark_read",
            store.mark_read(ch, bob.id, 0, no()).await.map(drop),
        ),
        (
            "post_message",
            store
                .post_message(msg(ch, &alice, "no"), no())
                .await
                .map(drop),
        ),
        (
            "edit_message",
            store
                .edit_message(m.id, bob.id, "changed".into(), Mentions::default(), no())
                .await
                .map(drop),
        ),
        (
            "delete_message",
            store.delete_message(m.id, bob.id, no()).await.map(drop),
        ),
        (
            "set_reaction add",
            store
                .set_reaction(m.id, alice.id, "🎉".into(), true, no())
                .await
                .map(drop),
        ),
        (
            "set_reaction remove",
            store
                .set_reaction(m.id, bob.id, "👍".into(), false, no())
                .await
                .map(drop),
        ),
        (
            "set_pinned",
            store.set_pinned(m.id, alice.id, true, no()).await.map(drop),
        ),
    ];
    for (what, r) in refused {
        assert_eq!(
            domain_err(r),
            DomainError::Forbidden("refused by the test"),
            "{what}"
        );
    }
    assert_eq!(
        snapshot(store.clone()).await,
        before,
        "refused writes changed something"
    );

    // What the guard sees is the state inside the transaction, including writes committed in
    // the same group commit just before it: of 12 concurrent posts allowed only while the
    // channel has fewer than 5 messages, exactly the first ones up to 5 succeed.
    let quiet = public(&store, "quiet", &alice).await;
    let mut set = tokio::task::JoinSet::new();
    for i in 0..12 {
        let store = store.clone();
        let new = msg(quiet, &alice, &format!("q{i}"));
        set.spawn(async move {
            let seen = Arc::new(std::sync::Mutex::new(None));
            let seen2 = seen.clone();
            let guard: Guard = Box::new(move |ctx: &GuardCtx<'_>| {
                *seen2.lock().unwrap() = Some(ctx.channel.last_seq);
                if ctx.channel.last_seq < 5 {
                    Ok(())
                } else {
                    Err(DomainError::LimitExceeded("full"))
                }
            });
            let r = store.post_message(new, guard).await;
            let seen = seen.lock().unwrap().expect("the guard ran");
            (r, seen)
        });
    }
    let mut ok = Vec::new();
    let mut full = 0;
    while let Some(j) = set.join_next().await {
        match j.unwrap() {
            (Ok(p), seen) => {
                assert_eq!(
                    p.message.seq,
                    seen + 1,
                    "the guard saw the channel as the write found it"
                );
                ok.push(p.message.seq);
            }
            (Err(Error::Domain(DomainError::LimitExceeded("full"))), seen) => {
                assert_eq!(seen, 5);
                full += 1;
            }
            (Err(e), _) => panic!("unexpected error {e:?}"),
        }
    }
    ok.sort_unstable();
    assert_eq!(ok, [1, 2, 3, 4, 5]);
    assert_eq!(full, 7);
    assert_eq!(store.channel(quiet).await.unwrap().unwrap().last_seq, 5);
    let created = all_events(&store, 1000)
        .await
        .into_iter()
        .filter(|e| e.kind == EventKind::MessageCreated && e.channel_id == Some(quiet))
        .count();
    assert_eq!(created, 5, "refused posts appended no events");

    // A check and its write cannot be separated: archive/unarchive toggles race with posts
    // checked by the rules. In the event log, no post lands while the channel is archived, and
    // every refused post was refused because it was.
    let race = public(&store, "race", &alice).await;
    join(&store, race, &bob).await;
    let mut set = tokio::task::JoinSet::new();
    for i in 0..40 {
        let store = store.clone();
        let (alice, bob) = (alice.clone(), bob.clone());
        set.spawn(async move {
            if i % 4 == 0 {
                let archived = i % 8 == 0;
                let patch = ChannelPatch {
                    archived: Some(archived),
                    ..ChannelPatch::default()
                };
                store
                    .update_channel(race, alice.id, patch, rule(&alice, Action::Archive))
                    .await
                    .unwrap();
                None
            } else {
                Some(
                    store
                        .post_message(msg(race, &bob, &format!("r{i}")), rule(&bob, Action::Post))
                        .await,
                )
            }
        });
    }
    let mut posted = BTreeSet::new();
    let mut refused = 0;
    while let Some(j) = set.join_next().await {
        match j.unwrap() {
            None => {}
            Some(Ok(p)) => {
                posted.insert(p.message.id);
            }
            Some(Err(e)) => {
                assert_eq!(domain_err::<()>(Err(e)), DomainError::Archived);
                refused += 1;
            }
        }
    }
    assert_eq!(posted.len() + refused, 30);
    let mut archived = false;
    let mut logged = BTreeSet::new();
    for e in all_events(&store, 1000)
        .await
        .into_iter()
        .filter(|e| e.channel_id == Some(race))
    {
        match e.kind {
            EventKind::ChannelArchived => archived = true,
            EventKind::ChannelUnarchived => archived = false,
            EventKind::MessageCreated => {
                assert!(
                    !archived,
                    "a post was committed while the channel was archived"
                );
                logged.insert(e.message_id.unwrap());
            }
            _ => {}
        }
    }
    assert_eq!(logged, posted);
    let n = i64::try_from(posted.len()).unwrap();
    assert_eq!(
        seqs(
            &store
                .history(race, Anchor::After(0), 100, true)
                .await
                .unwrap()
        ),
        (1..=n).collect::<Vec<_>>()
    );
}

// ---------------------------------------------------------------------------------------------
// The event log

pub async fn events_are_ordered_and_gap_free(store: Arc<dyn Store>) {
    let mut rx = store.subscribe();
    let alice = user(&store, "alice").await;
    let bob = user(&store, "bob").await;
    let c1 = public(&store, "one", &alice).await;
    let c2 = public(&store, "two", &alice).await;
    join(&store, c1, &bob).await;
    join(&store, c2, &bob).await;

    // Concurrent writes of several kinds, some of them refused.
    let mut set = tokio::task::JoinSet::new();
    for i in 0..60 {
        let store = store.clone();
        let who = if i % 2 == 0 {
            alice.clone()
        } else {
            bob.clone()
        };
        let ch = if i % 3 == 0 { c1 } else { c2 };
        set.spawn(async move {
            let guard = if i % 5 == 0 {
                refuse(DomainError::Forbidden("no"))
            } else {
                rule(&who, Action::Post)
            };
            let r = store
                .post_message(msg(ch, &who, &format!("e{i}")), guard)
                .await;
            if let Ok(p) = &r
                && i % 7 == 0
            {
                store
                    .set_reaction(p.message.id, who.id, "👍".into(), true, allow())
                    .await
                    .unwrap();
            }
            r.ok().map(|p| p.message)
        });
    }
    let mut posted = Vec::new();
    while let Some(j) = set.join_next().await {
        if let Some(m) = j.unwrap() {
            posted.push(m);
        }
    }
    assert_eq!(posted.len(), 48);

    // A failed job appends nothing; the next successful one follows without a gap.
    let last = last_position(&store).await;
    let e = domain_err(
        store
            .post_message(msg(c1, &alice, "x"), refuse(DomainError::Archived))
            .await,
    );
    assert_eq!(e, DomainError::Archived);
    let e = domain_err(
        store
            .create_channel(new_channel(ChannelKind::Public, "ONE", bob.id))
            .await,
    );
    assert!(matches!(e, DomainError::Conflict(_)));
    let e = domain_err(store.create_user(new_user("alice")).await);
    assert!(matches!(e, DomainError::Conflict(_)));
    assert_eq!(last_position(&store).await, last);
    let tail = post(&store, c1, &bob, "tail").await;
    let last = last_position(&store).await;
    let tail_events = events_after(&store, last - 1, 10).await;
    assert_eq!(tail_events.len(), 1);
    assert_eq!(
        (tail_events[0].kind, tail_events[0].message_id),
        (EventKind::MessageCreated, Some(tail.id))
    );

    // The log: positions 1, 2, 3, ... up to last_position, whatever the page size.
    let all = all_events(&store, 1000).await;
    let positions: Vec<i64> = all.iter().map(|e| e.position).collect();
    assert_eq!(
        positions,
        (1..=last).collect::<Vec<_>>(),
        "positions must be gap-free from 1"
    );
    for page in [1, 7, 64] {
        assert_eq!(all_events(&store, page).await, all, "paging by {page}");
    }
    assert_eq!(
        events_after(&store, last - 3, 2).await,
        all[all.len() - 3..all.len() - 1].to_vec()
    );
    assert!(events_after(&store, last, 10).await.is_empty());
    assert!(events_after(&store, last + 100, 10).await.is_empty());
    assert!(events_after(&store, 0, 0).await.is_empty());

    // Each successful write is in the log exactly once.
    let created: Vec<MessageId> = all
        .iter()
        .filter(|e| e.kind == EventKind::MessageCreated)
        .map(|e| e.message_id.unwrap())
        .collect();
    let mut want: Vec<MessageId> = posted.iter().map(|m| m.id).collect();
    want.push(tail.id);
    let mut got = created.clone();
    got.sort_unstable();
    want.sort_unstable();
    assert_eq!(got, want);
    let n_reactions = all
        .iter()
        .filter(|e| e.kind == EventKind::ReactionAdded)
        .count();
    assert_eq!(
        n_reactions,
        (0..60).filter(|i| i % 5 != 0 && i % 7 == 0).count()
    );
    // The log's order is the commit order: within a channel, messages appear in seq order.
    let by_id: BTreeMap<MessageId, &Message> = posted.iter().map(|m| (m.id, m)).collect();
    for ch in [c1, c2] {
        let order: Vec<i64> = created
            .iter()
            .filter_map(|id| by_id.get(id))
            .filter(|m| m.channel_id == ch)
            .map(|m| m.seq)
            .collect();
        assert!(
            order.windows(2).all(|w| w[0] < w[1]),
            "channel {ch}: {order:?}"
        );
    }

    // The subscription got every committed event, in order, in batches.
    let mut streamed: Vec<Event> = Vec::new();
    while streamed.last().map_or(0, |e| e.position) < last {
        let batch = tokio::time::timeout(Duration::from_secs(10), rx.recv())
            .await
            .expect("subscription stalled")
            .unwrap();
        assert!(!batch.is_empty(), "empty batches are not announced");
        assert!(batch.windows(2).all(|w| w[0].position < w[1].position));
        streamed.extend(batch.iter().cloned());
    }
    assert_eq!(streamed, all);
    // Refused writes announced nothing: the next batch is the next successful write.
    let e = domain_err(
        store
            .post_message(msg(c2, &alice, "x"), refuse(DomainError::Archived))
            .await,
    );
    assert_eq!(e, DomainError::Archived);
    let next = post(&store, c2, &alice, "after").await;
    let batch = tokio::time::timeout(Duration::from_secs(10), rx.recv())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(batch.len(), 1);
    assert_eq!(
        (batch[0].position, batch[0].message_id),
        (last + 1, Some(next.id))
    );
    assert!(rx.try_recv().is_err());
    // A late subscriber sees only what commits after it subscribed.
    let mut late = store.subscribe();
    assert!(late.try_recv().is_err());
    store.mark_read(c1, alice.id, 1, allow()).await.unwrap();
    let batch = tokio::time::timeout(Duration::from_secs(10), late.recv())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        (batch[0].position, batch[0].kind),
        (last + 2, EventKind::ReadUpdated)
    );
}

// ---------------------------------------------------------------------------------------------
// Concurrency

pub async fn concurrent_posts(store: Arc<dyn Store>) {
    const TASKS: usize = 50;
    const PER_TASK: usize = 20;
    let mut users = Vec::new();
    for i in 0..5 {
        users.push(user(&store, &format!("user{i}")).await);
    }
    let mut channels = Vec::new();
    for i in 0..3 {
        let ch = public(&store, &format!("busy{i}"), &users[0]).await;
        for u in &users[1..] {
            join(&store, ch, u).await;
        }
        channels.push(ch);
    }

    let mut set = tokio::task::JoinSet::new();
    for t in 0..TASKS {
        let store = store.clone();
        let who = users[t % users.len()].clone();
        let ch = channels[t % channels.len()];
        set.spawn(async move {
            let mut out = Vec::with_capacity(PER_TASK);
            for j in 0..PER_TASK {
                let new = NewMessage {
                    file_ids: Vec::new(),
                    client_msg_id: Some(format!("t{t}-{j}")),
                    ..msg(ch, &who, &format!("task {t} msg {j}"))
                };
                let p = store
                    .post_message(new, rule(&who, Action::Post))
                    .await
                    .unwrap();
                assert!(p.created);
                out.push(p.message);
            }
            out
        });
    }
    let mut all: Vec<Message> = Vec::new();
    while let Some(j) = set.join_next().await {
        let mine = j.unwrap();
        // One task's messages are in its order.
        assert!(mine.windows(2).all(|w| w[0].seq < w[1].seq));
        all.extend(mine);
    }
    assert_eq!(all.len(), TASKS * PER_TASK);

    for (k, ch) in channels.iter().enumerate() {
        let n = (0..TASKS).filter(|t| t % channels.len() == k).count() * PER_TASK;
        let n = i64::try_from(n).unwrap();
        let mut returned: Vec<i64> = all
            .iter()
            .filter(|m| m.channel_id == *ch)
            .map(|m| m.seq)
            .collect();
        returned.sort_unstable();
        assert_eq!(
            returned,
            (1..=n).collect::<Vec<_>>(),
            "channel {ch}: seqs must be exactly 1..={n}"
        );
        assert_eq!(store.channel(*ch).await.unwrap().unwrap().last_seq, n);
        let stored = store
            .history(*ch, Anchor::After(0), 10_000, true)
            .await
            .unwrap();
        assert_eq!(seqs(&stored), (1..=n).collect::<Vec<_>>());
        let ids: BTreeSet<MessageId> = stored.iter().map(|m| m.id).collect();
        assert_eq!(ids.len(), stored.len());
    }
    let ids: BTreeSet<MessageId> = all.iter().map(|m| m.id).collect();
    assert_eq!(ids.len(), all.len(), "message ids are unique");

    // Retries (concurrent, with different text) return the original message unchanged.
    let last = last_position(&store).await;
    let mut set = tokio::task::JoinSet::new();
    for m in all.iter().step_by(7).cloned() {
        let store = store.clone();
        set.spawn(async move {
            let retry = NewMessage {
                file_ids: Vec::new(),
                channel_id: m.channel_id,
                user_id: m.user_id,
                text: "retried with another text".into(),
                client_msg_id: m.client_msg_id.clone(),
                thread_root_id: None,
                mentions: Mentions::default(),
            };
            let p = store.post_message(retry, allow()).await.unwrap();
            assert!(!p.created);
            assert_eq!(p.message, m);
        });
    }
    while let Some(j) = set.join_next().await {
        j.unwrap();
    }
    assert_eq!(last_position(&store).await, last, "retries append nothing");

    // A storm of the same new post: exactly one is created, all get the same message.
    let ch = channels[0];
    let seq_before = store.channel(ch).await.unwrap().unwrap().last_seq;
    let mut set = tokio::task::JoinSet::new();
    for _ in 0..25 {
        let store = store.clone();
        let new = NewMessage {
            file_ids: Vec::new(),
            client_msg_id: Some("storm".into()),
            ..msg(ch, &users[1], "storm")
        };
        set.spawn(async move { store.post_message(new, allow()).await.unwrap() });
    }
    let mut created = 0;
    let mut got = BTreeSet::new();
    while let Some(j) = set.join_next().await {
        let p = j.unwrap();
        created += usize::from(p.created);
        got.insert((p.message.id, p.message.seq));
    }
    assert_eq!(created, 1);
    assert_eq!(
        got,
        BTreeSet::from([(got.first().unwrap().0, seq_before + 1)])
    );
    assert_eq!(
        store.channel(ch).await.unwrap().unwrap().last_seq,
        seq_before + 1
    );
    assert_eq!(last_position(&store).await, last + 1);
}

/// Pruning deletes old events but never moves positions back: `last_position` stays, the next
/// event continues the numbering, and `first_position` is the oldest one left.
pub async fn pruning_keeps_positions(store: Arc<dyn Store>) {
    assert_eq!(store.first_position().await.unwrap(), 1, "an empty log");
    assert_eq!(store.prune_events(Millis::now(), 0).await.unwrap(), 0);
    let alice = user(&store, "alice").await;
    let ch = public(&store, "general", &alice).await;
    for i in 0..5 {
        post(&store, ch, &alice, &format!("m{i}")).await;
    }
    let last = last_position(&store).await;
    assert_eq!(last, 8);
    assert_eq!(store.first_position().await.unwrap(), 1);
    // Nothing older than the cutoff: nothing goes.
    assert_eq!(store.prune_events(Millis(0), 0).await.unwrap(), 0);
    // The newest ones are kept when asked.
    tokio::time::sleep(Duration::from_millis(2)).await;
    assert_eq!(store.prune_events(Millis::now(), 3).await.unwrap(), 5);
    assert_eq!(store.first_position().await.unwrap(), last - 2);
    assert_eq!(
        all_events(&store, 10)
            .await
            .iter()
            .map(|e| e.position)
            .collect::<Vec<_>>(),
        [last - 2, last - 1, last]
    );
    // Everything.
    assert_eq!(store.prune_events(Millis::now(), 0).await.unwrap(), 3);
    assert!(all_events(&store, 10).await.is_empty());
    assert_eq!(last_position(&store).await, last, "positions never go back");
    assert_eq!(store.first_position().await.unwrap(), last + 1);
    // The log carries on after the highest position ever assigned.
    let m = post(&store, ch, &alice, "after").await;
    let evs = events_after(&store, 0, 10).await;
    assert_eq!(
        evs.iter()
            .map(|e| (e.position, e.message_id))
            .collect::<Vec<_>>(),
        [(last + 1, Some(m.id))]
    );
    assert_eq!(last_position(&store).await, last + 1);
    assert_eq!(store.first_position().await.unwrap(), last + 1);
}

/// Several stores on one database, as several nodes (or the server and the admin CLI) are:
/// concurrent writers on each, a reader polling the log on one of them, and `meanwhile` run
/// during the load (it may disturb the stores: end a session, close a node; writes on a closed
/// node are refused). The reader never sees a position appear below one it already saw: every
/// page it reads continues exactly where the previous one ended. Afterwards every node sees the
/// same log, positions are exactly `1..=last`, and every write that returned is in it once.
pub async fn nodes_share_one_log(
    nodes: Vec<Arc<dyn Store>>,
    meanwhile: impl Future<Output = ()> + Send + 'static,
) {
    const WRITERS_PER_NODE: usize = 6;
    const POSTS_PER_WRITER: usize = 30;
    let setup = nodes[0].clone();
    let mut users = Vec::new();
    for i in 0..4 {
        users.push(user(&setup, &format!("node{i}")).await);
    }
    let mut channels = Vec::new();
    for i in 0..3 {
        let ch = public(&setup, &format!("shared{i}"), &users[0]).await;
        for u in &users[1..] {
            join(&setup, ch, u).await;
        }
        channels.push(ch);
    }
    let start = last_position(&setup).await;

    let stop = Arc::new(AtomicBool::new(false));
    let reader = {
        let store = nodes[nodes.len() - 1].clone();
        let stop = stop.clone();
        tokio::spawn(async move {
            let mut seen: Vec<Event> = Vec::new();
            let mut pages = 0_u32;
            loop {
                let done = stop.load(Ordering::SeqCst);
                let cursor = seen.last().map_or(0, |e| e.position);
                let page = store.events_after(cursor, 64).await.unwrap();
                for (e, want) in page.iter().zip(cursor + 1..) {
                    assert_eq!(
                        e.position, want,
                        "after reading up to {cursor}, the log skipped {want}: it would appear later, below a position already seen"
                    );
                }
                pages += 1;
                if page.is_empty() {
                    if done {
                        return (seen, pages);
                    }
                    tokio::time::sleep(Duration::from_millis(2)).await;
                }
                seen.extend(page);
            }
        })
    };

    let mut set = tokio::task::JoinSet::new();
    for (n, node) in nodes.iter().enumerate() {
        for w in 0..WRITERS_PER_NODE {
            let store = node.clone();
            let who = users[(n + w) % users.len()].clone();
            let ch = channels[(n * WRITERS_PER_NODE + w) % channels.len()];
            set.spawn(async move {
                let mut posted = Vec::new();
                let mut reacted = 0;
                for j in 0..POSTS_PER_WRITER {
                    let new = NewMessage {
                        file_ids: Vec::new(),
                        client_msg_id: Some(format!("n{n}-w{w}-{j}")),
                        ..msg(ch, &who, &format!("node {n} writer {w} msg {j}"))
                    };
                    let p = match store.post_message(new, rule(&who, Action::Post)).await {
                        Ok(p) => p,
                        Err(Error::Closed) => break,
                        Err(e) => panic!("post on node {n} failed: {e:?}"),
                    };
                    assert!(p.created);
                    posted.push(p.message.clone());
                    if j % 5 == 0 {
                        match store
                            .set_reaction(p.message.id, who.id, "👍".into(), true, allow())
                            .await
                        {
                            Ok((_, changed)) => {
                                assert!(changed);
                                reacted += 1;
                            }
                            Err(Error::Closed) => break,
                            Err(e) => panic!("reaction on node {n} failed: {e:?}"),
                        }
                    }
                }
                (posted, reacted)
            });
        }
    }
    let disturbance = tokio::spawn(meanwhile);
    let mut posted: Vec<Message> = Vec::new();
    let mut reacted = 0;
    while let Some(j) = set.join_next().await {
        let (mine, r) = j.unwrap();
        posted.extend(mine);
        reacted += r;
    }
    disturbance.await.unwrap();
    assert!(!posted.is_empty());
    for node in &nodes {
        node.settle().await.unwrap();
    }
    stop.store(true, Ordering::SeqCst);
    let (seen, pages) = reader.await.unwrap();

    let all = all_events(&setup, 1000).await;
    let last = last_position(&setup).await;
    eprintln!(
        "{} nodes: {} of {} posts acknowledged, {last} events; the reader read {pages} pages",
        nodes.len(),
        posted.len(),
        nodes.len() * WRITERS_PER_NODE * POSTS_PER_WRITER
    );
    assert_eq!(
        all.iter().map(|e| e.position).collect::<Vec<_>>(),
        (1..=last).collect::<Vec<_>>(),
        "positions must be exactly 1..=last"
    );
    assert_eq!(seen, all, "the reader ({pages} pages) saw the log as it is");
    for (n, node) in nodes.iter().enumerate() {
        assert_eq!(last_position(node).await, last, "node {n}");
        assert_eq!(all_events(node, 97).await, all, "node {n}");
    }
    // Every write that returned is in the log exactly once; nothing else is.
    let created: Vec<MessageId> = all
        .iter()
        .filter(|e| e.position > start && e.kind == EventKind::MessageCreated)
        .map(|e| e.message_id.unwrap())
        .collect();
    let unique: BTreeSet<MessageId> = created.iter().copied().collect();
    assert_eq!(unique.len(), created.len(), "a message was logged twice");
    assert_eq!(
        unique,
        posted.iter().map(|m| m.id).collect::<BTreeSet<_>>(),
        "the log and the acknowledged posts differ"
    );
    let n_reactions = all
        .iter()
        .filter(|e| e.position > start && e.kind == EventKind::ReactionAdded)
        .count();
    assert_eq!(n_reactions, reacted);
    // Per channel: seqs gap-free, and the log has each channel's posts in seq order.
    let by_id: BTreeMap<MessageId, &Message> = posted.iter().map(|m| (m.id, m)).collect();
    for ch in &channels {
        let order: Vec<i64> = created
            .iter()
            .map(|id| by_id[id])
            .filter(|m| m.channel_id == *ch)
            .map(|m| m.seq)
            .collect();
        let n = i64::try_from(order.len()).unwrap();
        assert_eq!(order, (1..=n).collect::<Vec<_>>(), "channel {ch}");
        let stored = setup
            .history(*ch, Anchor::After(0), 10_000, true)
            .await
            .unwrap();
        assert_eq!(seqs(&stored), (1..=n).collect::<Vec<_>>(), "channel {ch}");
    }
}

// ---------------------------------------------------------------------------------------------
// Durability

/// Everything a reopened store must give back.
async fn everything(store: &Arc<dyn Store>) -> impl PartialEq + std::fmt::Debug + use<> {
    let users = store
        .list_users(UserQuery {
            include_inactive: true,
            limit: 1000,
            ..UserQuery::default()
        })
        .await
        .unwrap();
    let mut tokens = Vec::new();
    let mut mine = Vec::new();
    let mut creds = Vec::new();
    for u in &users {
        tokens.push(store.list_tokens(u.id).await.unwrap());
        mine.push(store.my_channels(u.id).await.unwrap());
        creds.push(store.user_credentials(&u.username).await.unwrap());
    }
    let mut channels = Vec::new();
    for s in mine.iter().flatten() {
        let id = s.channel.id;
        channels.push((
            store.channel(id).await.unwrap(),
            store.members(id, None, 1000).await.unwrap(),
            store
                .history(id, Anchor::After(0), 1000, true)
                .await
                .unwrap(),
            store.pins(id).await.unwrap(),
        ));
    }
    let browse = store
        .browse_channels(BrowseQuery {
            include_archived: true,
            limit: 1000,
            ..BrowseQuery::default()
        })
        .await
        .unwrap();
    (
        users,
        tokens,
        creds,
        mine,
        channels,
        browse,
        all_events(store, 1000).await,
        last_position(store).await,
    )
}

/// `reopen` opens the same database again (called twice, each time after the last store was closed).
pub async fn durable_across_reopen(store: Arc<dyn Store>, reopen: impl Fn() -> Arc<dyn Store>) {
    let alice = store
        .create_user(NewUser {
            is_admin: true,
            ..new_user("alice")
        })
        .await
        .unwrap();
    let bob = user(&store, "bob").await;
    let carol = user(&store, "carol").await;
    store
        .update_user(
            carol.id,
            UserPatch {
                active: Some(false),
                ..UserPatch::default()
            },
            Some(alice.id),
        )
        .await
        .unwrap();
    store
        .create_token(NewToken {
            user_id: bob.id,
            kind: TokenKind::PersonalAccess,
            hash: hash(7),
            name: "bot".into(),
            expires_at: None,
            scope: enclave_core::Scope::Write,
            client: String::new(),
            ip: None,
        })
        .await
        .unwrap();
    let ch = public(&store, "general", &alice).await;
    let private = store
        .create_channel(new_channel(ChannelKind::Private, "hidden", bob.id))
        .await
        .unwrap()
        .id;
    join(&store, ch, &bob).await;
    store
        .set_member_role(ch, alice.id, bob.id, ChannelRole::Admin, allow())
        .await
        .unwrap();
    let (dm, _) = store
        .open_direct(alice.id, vec![alice.id, bob.id])
        .await
        .unwrap();
    let root = post(&store, ch, &alice, "root").await;
    let r = reply(&store, &root, &bob, "reply @alice").await;
    store
        .edit_message(
            r.id,
            bob.id,
            "reply, edited".into(),
            Mentions {
                user_ids: vec![alice.id],
                ..Mentions::default()
            },
            allow(),
        )
        .await
        .unwrap();
    let gone = post(&store, ch, &bob, "to delete").await;
    store
        .delete_message(gone.id, bob.id, allow())
        .await
        .unwrap();
    store
        .set_reaction(root.id, bob.id, "👍".into(), true, allow())
        .await
        .unwrap();
    store
        .set_pinned(root.id, bob.id, true, allow())
        .await
        .unwrap();
    post(&store, dm.id, &bob, "psst").await;
    post(&store, private, &bob, "secret").await;
    store
        .update_channel(
            private,
            bob.id,
            ChannelPatch {
                topic: Some("shh".into()),
                archived: Some(true),
                ..ChannelPatch::default()
            },
            allow(),
        )
        .await
        .unwrap();
    store.mark_read(ch, bob.id, 1, allow()).await.unwrap();

    // Round 1: a clean close, then everything is back. (Only writes are promised to stop at
    // close, so the snapshot is taken while the store is open.)
    let before = everything(&store).await;
    let last = last_position(&store).await;
    store.close().await;
    assert!(matches!(
        store
            .post_message(msg(ch, &alice, "too late"), allow())
            .await,
        Err(Error::Closed)
    ));
    assert!(matches!(
        store.create_user(new_user("zed")).await,
        Err(Error::Closed)
    ));
    drop(store);

    let store = reopen();
    store.ping().await.unwrap();
    assert_eq!(everything(&store).await, before);
    assert_eq!(last_position(&store).await, last);
    let root_now = store.message(root.id).await.unwrap().unwrap();
    assert_eq!(
        (
            root_now.reply_count,
            root_now.pinned_by,
            root_now.reactions.len()
        ),
        (1, Some(bob.id), 1)
    );
    assert_eq!(
        store.message(r.id).await.unwrap().unwrap().text,
        "reply, edited"
    );
    assert!(store.message(gone.id).await.unwrap().unwrap().is_deleted());
    assert!(store.channel(private).await.unwrap().unwrap().is_archived());
    assert!(!store.user(carol.id).await.unwrap().unwrap().active);
    assert!(
        store.user_credentials("zed").await.unwrap().is_none(),
        "a refused write must not appear"
    );
    assert!(
        store
            .token_by_hash(hash(7), Millis::now())
            .await
            .unwrap()
            .is_some()
    );
    let (again, created) = store
        .open_direct(bob.id, vec![bob.id, alice.id])
        .await
        .unwrap();
    assert_eq!((again.id, again.last_seq, created), (dm.id, 1, false));
    // The reopened store carries on where the old one stopped.
    let next = post(&store, ch, &alice, "after reopen").await;
    assert_eq!(next.seq, 4);
    assert_eq!(last_position(&store).await, last + 1);

    // Round 2: writes racing with close either return (and then are durable) or are refused
    // as closed (and then did not happen).
    let mut set = tokio::task::JoinSet::new();
    for i in 0..40 {
        let store = store.clone();
        let new = NewMessage {
            file_ids: Vec::new(),
            client_msg_id: Some(format!("late-{i}")),
            ..msg(ch, &alice, &format!("late {i}"))
        };
        set.spawn(async move { (i, store.post_message(new, allow()).await) });
    }
    tokio::task::yield_now().await;
    store.close().await;
    let mut finished = BTreeMap::new();
    let mut refused = BTreeSet::new();
    while let Some(j) = set.join_next().await {
        match j.unwrap() {
            (i, Ok(p)) => {
                finished.insert(format!("late {i}"), p.message);
            }
            (i, Err(Error::Closed)) => {
                refused.insert(format!("late {i}"));
            }
            (_, Err(e)) => panic!("a write racing with close failed with {e:?}"),
        }
    }
    drop(store);

    let store = reopen();
    let history = store
        .history(ch, Anchor::After(3), 1000, true)
        .await
        .unwrap();
    let n = i64::try_from(finished.len()).unwrap();
    assert_eq!(
        seqs(&history),
        (4..=4 + n).collect::<Vec<_>>(),
        "seqs stay gap-free"
    );
    let texts: BTreeSet<&str> = history.iter().map(|m| m.text.as_str()).collect();
    for (text, m) in &finished {
        assert_eq!(
            store.message(m.id).await.unwrap().as_ref(),
            Some(m),
            "a write that returned was lost"
        );
        assert!(texts.contains(text.as_str()));
    }
    for text in &refused {
        assert!(
            !texts.contains(text.as_str()),
            "{text:?} was refused but stored"
        );
    }
    assert_eq!(last_position(&store).await, last + 1 + n);
    store.close().await;
}

// ---------------------------------------------------------------------------------------------
// Files

fn new_file(who: &User, name: &str, size: u64) -> enclave_store::NewFile {
    enclave_store::NewFile {
        name: name.to_owned(),
        size,
        content_type: "image/png".into(),
        width: Some(640),
        height: Some(480),
        thumbnail: Some(enclave_core::Thumbnail {
            width: 320,
            height: 240,
            content_type: "image/jpeg".into(),
        }),
        sealed_preview: None,
        uploader_id: who.id,
        object: format!("obj/{name}"),
        thumb_object: Some(format!("obj/{name}.thumb")),
        key_id: "k1".into(),
        wrapped_key: vec![7; 60],
    }
}

/// Text files stored without a sealed preview (uploaded before previews were sealed) are
/// found by content type, and get one once; key rotation keeps the preview with its key.
pub async fn file_previews(store: Arc<dyn Store>) {
    let alice = user(&store, "alice").await;
    let text = |name: &str, sealed: Option<&[u8]>| enclave_store::NewFile {
        thumbnail: None,
        width: None,
        height: None,
        thumb_object: None,
        sealed_preview: sealed.map(<[u8]>::to_vec),
        content_type: "text/plain".into(),
        ..new_file(&alice, name, 5)
    };
    let old_a = store.create_file(text("a.txt", None), None).await.unwrap();
    let sealed = store
        .create_file(text("b.txt", Some(b"sealed b")), None)
        .await
        .unwrap();
    let image = store
        .create_file(new_file(&alice, "c.png", 5), None)
        .await
        .unwrap();
    let old_d = store.create_file(text("d.txt", None), None).await.unwrap();
    let ids = |fs: Vec<enclave_store::StoredFile>| fs.iter().map(|f| f.meta.id).collect::<Vec<_>>();
    let missing = store
        .files_without_preview("text/plain", enclave_core::FileId(0), 10)
        .await
        .unwrap();
    assert_eq!(ids(missing), vec![old_a.id, old_d.id]);
    // Paged by id.
    let page = store
        .files_without_preview("text/plain", old_a.id, 1)
        .await
        .unwrap();
    assert_eq!(ids(page), vec![old_d.id]);
    let png = store
        .files_without_preview("image/png", enclave_core::FileId(0), 10)
        .await
        .unwrap();
    assert_eq!(ids(png), vec![image.id]);

    assert!(
        store
            .set_file_preview(old_a.id, b"sealed a".to_vec())
            .await
            .unwrap()
    );
    // A second writer (another node) does not overwrite it.
    assert!(
        !store
            .set_file_preview(old_a.id, b"other".to_vec())
            .await
            .unwrap()
    );
    assert!(
        !store
            .set_file_preview(sealed.id, b"other".to_vec())
            .await
            .unwrap()
    );
    assert!(
        !store
            .set_file_preview(enclave_core::FileId(999_999), b"x".to_vec())
            .await
            .unwrap()
    );
    let a = store.file(old_a.id).await.unwrap().unwrap();
    assert_eq!(
        a.meta.sealed_preview.as_ref().map(|p| p.sealed.as_slice()),
        Some(&b"sealed a"[..])
    );
    assert_eq!(
        ids(store
            .files_without_preview("text/plain", enclave_core::FileId(0), 10)
            .await
            .unwrap()),
        vec![old_d.id]
    );

    // Rotation re-wraps the data key; the sealed preview travels with the new wrapping.
    assert!(
        store
            .rewrap_file_key(sealed.id, "k1", "k2", vec![9; 60])
            .await
            .unwrap()
    );
    let b = store.file(sealed.id).await.unwrap().unwrap();
    assert_eq!(
        b.meta.sealed_preview,
        Some(enclave_core::SealedPreview {
            key_id: "k2".into(),
            wrapped_key: vec![9; 60],
            sealed: b"sealed b".to_vec(),
        })
    );
    store.close().await;
}

pub async fn files(store: Arc<dyn Store>) {
    let alice = user(&store, "alice").await;
    let bob = user(&store, "bob").await;
    let ch = public(&store, "files", &alice).await;

    // Create, read back, quota.
    let a = store
        .create_file(new_file(&alice, "a.png", 600), Some(1000))
        .await
        .unwrap();
    assert_eq!(a.size, 600);
    assert_eq!(a.width, Some(640));
    let stored = store.file(a.id).await.unwrap().unwrap();
    assert_eq!(stored.meta, a);
    assert_eq!(stored.object, "obj/a.png");
    assert_eq!(stored.key_id, "k1");
    assert_eq!(stored.wrapped_key, vec![7; 60]);
    assert_eq!(stored.attached_at, None);
    let over = store
        .create_file(new_file(&alice, "b.png", 401), Some(1000))
        .await;
    assert_eq!(domain_err(over), DomainError::QuotaExceeded { quota: 1000 });
    let b = store
        .create_file(new_file(&alice, "b.png", 400), Some(1000))
        .await
        .unwrap();
    assert_eq!(store.user_file_bytes(alice.id).await.unwrap(), 1000);
    assert_eq!(store.user_file_bytes(bob.id).await.unwrap(), 0);
    let plain = enclave_store::NewFile {
        thumbnail: None,
        width: None,
        height: None,
        thumb_object: None,
        sealed_preview: Some(b"EFP1 sealed first line".to_vec()),
        content_type: "text/plain".into(),
        ..new_file(&bob, "notes.txt", 5)
    };
    let c = store.create_file(plain, None).await.unwrap();
    let c_stored = store.file(c.id).await.unwrap().unwrap();
    assert_eq!(c_stored.meta.thumbnail, None);
    // The sealed preview comes back with what opens it (the wrapped data key), never as text.
    assert_eq!(c_stored.meta.preview, None);
    assert_eq!(
        c_stored.meta.sealed_preview,
        Some(enclave_core::SealedPreview {
            key_id: "k1".into(),
            wrapped_key: vec![7; 60],
            sealed: b"EFP1 sealed first line".to_vec(),
        })
    );
    assert_eq!(c_stored.meta, c);
    assert!(
        store
            .file(enclave_core::FileId(999_999))
            .await
            .unwrap()
            .is_none()
    );

    // Attach in the message's transaction; the message carries the files everywhere.
    assert!(store.file_channels(a.id).await.unwrap().is_empty());
    let new = NewMessage {
        file_ids: vec![a.id, b.id],
        ..msg(ch, &alice, "two files")
    };
    let posted = store
        .post_message(new, rule(&alice, Action::Post))
        .await
        .unwrap();
    assert_eq!(posted.message.files, vec![a.clone(), b.clone()]);
    let loaded = store.message(posted.message.id).await.unwrap().unwrap();
    assert_eq!(loaded.files, vec![a.clone(), b.clone()]);
    let page = store.history(ch, Anchor::Latest, 10, false).await.unwrap();
    assert_eq!(page.last().unwrap().files.len(), 2);
    let by_id = store.messages_by_ids(&[posted.message.id]).await.unwrap();
    assert_eq!(by_id[0].files.len(), 2);
    assert_eq!(store.file_channels(a.id).await.unwrap(), vec![ch]);
    assert!(
        store
            .file(a.id)
            .await
            .unwrap()
            .unwrap()
            .attached_at
            .is_some()
    );
    // A missing file fails the whole post.
    let missing = NewMessage {
        file_ids: vec![c.id, enclave_core::FileId(999_999)],
        ..msg(ch, &alice, "missing file")
    };
    let err = store.post_message(missing, allow()).await;
    assert_eq!(domain_err(err), DomainError::NotFound(Entity::File));
    assert!(store.file_channels(c.id).await.unwrap().is_empty());
    // Shared again elsewhere.
    let other = public(&store, "elsewhere", &alice).await;
    let again = NewMessage {
        file_ids: vec![a.id],
        ..msg(other, &alice, "again")
    };
    let again = store
        .post_message(again, rule(&alice, Action::Post))
        .await
        .unwrap();
    assert_eq!(store.file_channels(a.id).await.unwrap(), vec![ch, other]);

    // Search's has:file: only messages with files, only in the searcher's channels.
    assert_eq!(
        sorted(find(&store, &alice, "has:file").await),
        texts(&["two files", "again"])
    );
    assert_eq!(
        find(&store, &alice, "two has:file").await,
        texts(&["two files"])
    );
    assert_eq!(
        find(&store, &alice, "missing has:file").await,
        Vec::<String>::new()
    );
    assert!(
        find(&store, &bob, "has:file").await.is_empty(),
        "bob is in neither channel"
    );

    // The sweep: nothing young and unattached, nothing referenced.
    let now = Millis::now();
    assert!(store.sweep_files(Millis(0), 100).await.unwrap().is_empty());
    // Unattached and old enough: c goes.
    let swept = store
        .sweep_files(Millis(now.0 + 60_000), 100)
        .await
        .unwrap();
    assert_eq!(
        swept.iter().map(|f| f.meta.id).collect::<Vec<_>>(),
        vec![c.id]
    );
    assert_eq!(swept[0].object, "obj/notes.txt");
    assert!(store.file(c.id).await.unwrap().is_none());
    // Deleting a message detaches its files; b (now unreferenced) is swept at once, a is still
    // shared in the other channel.
    store
        .delete_message(
            posted.message.id,
            alice.id,
            rule(&alice, Action::DeleteMessage { author: alice.id }),
        )
        .await
        .unwrap();
    assert_eq!(store.file_channels(a.id).await.unwrap(), vec![other]);
    assert!(store.file_channels(b.id).await.unwrap().is_empty());
    let swept = store.sweep_files(Millis(0), 100).await.unwrap();
    assert_eq!(
        swept.iter().map(|f| f.meta.id).collect::<Vec<_>>(),
        vec![b.id]
    );
    store
        .delete_message(again.message.id, alice.id, allow())
        .await
        .unwrap();
    let swept = store.sweep_files(Millis(0), 100).await.unwrap();
    assert_eq!(
        swept.iter().map(|f| f.meta.id).collect::<Vec<_>>(),
        vec![a.id]
    );
    assert_eq!(store.user_file_bytes(alice.id).await.unwrap(), 0);

    // Key rotation bookkeeping.
    let d = store
        .create_file(new_file(&bob, "d.png", 1), None)
        .await
        .unwrap();
    let e = store
        .create_file(new_file(&bob, "e.png", 1), None)
        .await
        .unwrap();
    let todo = store
        .files_not_under_key("k2", enclave_core::FileId(0), 10)
        .await
        .unwrap();
    assert_eq!(
        todo.iter().map(|f| f.meta.id).collect::<Vec<_>>(),
        vec![d.id, e.id]
    );
    let page = store.files_not_under_key("k2", d.id, 10).await.unwrap();
    assert_eq!(page.len(), 1);
    assert!(
        store
            .rewrap_file_key(d.id, "k1", "k2", vec![9; 60])
            .await
            .unwrap()
    );
    // Already re-wrapped: the old key id no longer matches.
    assert!(
        !store
            .rewrap_file_key(d.id, "k1", "k2", vec![8; 60])
            .await
            .unwrap()
    );
    let d2 = store.file(d.id).await.unwrap().unwrap();
    assert_eq!(
        (d2.key_id.as_str(), d2.wrapped_key.clone()),
        ("k2", vec![9; 60])
    );
    let todo = store
        .files_not_under_key("k2", enclave_core::FileId(0), 10)
        .await
        .unwrap();
    assert_eq!(
        todo.iter().map(|f| f.meta.id).collect::<Vec<_>>(),
        vec![e.id]
    );
}

// ---------------------------------------------------------------------------------------------
// Search

/// The texts `user` finds for the search box query `q`, best match first.
async fn find(store: &Arc<dyn Store>, user: &User, q: &str) -> Vec<String> {
    find_page(store, user, q, 100, 0).await
}

async fn find_page(
    store: &Arc<dyn Store>,
    user: &User,
    q: &str,
    limit: u32,
    offset: u32,
) -> Vec<String> {
    let parsed = enclave_core::search::parse(q).unwrap();
    store
        .search_messages(MessageSearch {
            user_id: user.id,
            terms: parsed.terms,
            from: parsed.from,
            in_channel: parsed.in_channel,
            before: parsed.before,
            after: parsed.after,
            has_file: parsed.has_file,
            limit,
            offset,
        })
        .await
        .unwrap()
        .into_iter()
        .map(|m| m.text)
        .collect()
}

fn sorted(mut v: Vec<String>) -> Vec<String> {
    v.sort();
    v
}

fn texts(v: &[&str]) -> Vec<String> {
    sorted(v.iter().map(|s| (*s).to_owned()).collect())
}

pub async fn search_messages(store: Arc<dyn Store>) {
    let alice = user(&store, "alice").await;
    let bob = user(&store, "bob").await;
    let carol = user(&store, "carol").await;
    let general = public(&store, "General", &alice).await;
    join(&store, general, &bob).await;
    let secret = store
        .create_channel(new_channel(ChannelKind::Private, "secret", bob.id))
        .await
        .unwrap()
        .id;
    let (dm, _) = store
        .open_direct(alice.id, vec![alice.id, carol.id])
        .await
        .unwrap();

    post(&store, general, &alice, "The quarterly REPORT is ready").await;
    post(&store, general, &bob, "report the bug, please").await;
    post(&store, general, &bob, "Meet at the Café at noon").await;
    post(&store, general, &alice, "明天下午三点开会议，讨论新项目").await;
    post(&store, general, &bob, "项目经理 will join the meeting").await;
    post(&store, general, &alice, "今天的meeting在3楼会议室").await;
    post(&store, secret, &bob, "secret report about the 会议").await;
    post(&store, dm.id, &carol, "private report for alice").await;
    let root = post(&store, general, &alice, "thread root").await;
    reply(&store, &root, &bob, "a reply mentions the report").await;

    // English: case-insensitive, every word required.
    assert_eq!(
        sorted(find(&store, &alice, "report").await),
        texts(&[
            "The quarterly REPORT is ready",
            "report the bug, please",
            "private report for alice",
            "a reply mentions the report",
        ])
    );
    assert_eq!(
        find(&store, &alice, "REPORT quarterly").await,
        texts(&["The quarterly REPORT is ready"])
    );
    // Accents fold both ways.
    for q in ["cafe", "CAFÉ", "café"] {
        assert_eq!(
            find(&store, &bob, q).await,
            texts(&["Meet at the Café at noon"]),
            "{q}"
        );
    }
    // Phrases need the words together and in order.
    assert_eq!(
        find(&store, &alice, r#""quarterly report""#).await,
        texts(&["The quarterly REPORT is ready"])
    );
    assert!(
        find(&store, &alice, r#""report quarterly""#)
            .await
            .is_empty()
    );
    // Prefixes.
    assert_eq!(
        sorted(find(&store, &bob, "meet*").await),
        texts(&[
            "Meet at the Café at noon",
            "项目经理 will join the meeting",
            "今天的meeting在3楼会议室",
        ])
    );

    // Chinese: two-character words, longer words, single characters, mixed text.
    assert_eq!(
        sorted(find(&store, &bob, "会议").await),
        texts(&[
            "明天下午三点开会议，讨论新项目",
            "今天的meeting在3楼会议室",
            "secret report about the 会议",
        ])
    );
    assert_eq!(
        sorted(find(&store, &alice, "项目").await),
        texts(&[
            "明天下午三点开会议，讨论新项目",
            "项目经理 will join the meeting"
        ])
    );
    assert_eq!(
        find(&store, &alice, "项目经理").await,
        texts(&["项目经理 will join the meeting"])
    );
    assert_eq!(
        find(&store, &alice, "会议室").await,
        texts(&["今天的meeting在3楼会议室"])
    );
    assert_eq!(
        find(&store, &alice, "会议 meeting").await,
        texts(&["今天的meeting在3楼会议室"])
    );
    assert_eq!(
        find(&store, &alice, r#""项目经理 will join""#).await,
        texts(&["项目经理 will join the meeting"])
    );
    assert_eq!(
        find(&store, &alice, "经").await,
        texts(&["项目经理 will join the meeting"])
    );
    // A word that is not there as a word: 议项 spans two words of the text.
    assert!(find(&store, &alice, "目会").await.is_empty());

    // Permissions: alice is not in #secret, bob not in the direct conversation, carol only in
    // the direct conversation.
    assert!(
        !find(&store, &alice, "secret")
            .await
            .iter()
            .any(|t| t.contains("secret")),
        "a non-member found a message of a private channel"
    );
    assert!(
        !find(&store, &bob, "private")
            .await
            .iter()
            .any(|t| t.contains("private")),
        "a non-member found a message of a direct conversation"
    );
    assert_eq!(
        find(&store, &carol, "report").await,
        texts(&["private report for alice"])
    );
    assert!(find(&store, &carol, "in:#general report").await.is_empty());
    assert!(find(&store, &alice, "in:#secret report").await.is_empty());
    // Leaving a channel takes its messages out of one's results.
    store
        .remove_member(general, bob.id, bob.id, rule(&bob, Action::Leave))
        .await
        .unwrap();
    assert_eq!(
        find(&store, &bob, "report").await,
        texts(&["secret report about the 会议"])
    );
    join(&store, general, &bob).await;

    // Filters.
    assert_eq!(
        sorted(find(&store, &alice, "from:@bob report").await),
        texts(&["report the bug, please", "a reply mentions the report"])
    );
    assert_eq!(
        sorted(find(&store, &bob, "in:#GENERAL 会议").await),
        texts(&["明天下午三点开会议，讨论新项目", "今天的meeting在3楼会议室"])
    );
    assert!(find(&store, &alice, "from:@nobody report").await.is_empty());
    assert!(find(&store, &alice, "in:#nowhere report").await.is_empty());
    assert_eq!(
        find(&store, &alice, "after:2000-01-01 report").await.len(),
        4
    );
    assert!(
        find(&store, &alice, "before:2000-01-01 report")
            .await
            .is_empty()
    );
    assert_eq!(
        find(&store, &alice, "before:2999-01-01 report").await.len(),
        4
    );
    assert!(
        find(&store, &alice, "after:2999-01-01 report")
            .await
            .is_empty()
    );
    // Filters alone list the matching messages, newest first.
    assert_eq!(
        find(&store, &alice, "from:@carol").await,
        texts(&["private report for alice"])
    );
    let newest = find(&store, &alice, "in:#general").await;
    assert_eq!(newest.len(), 8);
    assert_eq!(newest[0], "a reply mentions the report");

    // Pages.
    let all = find(&store, &alice, "report").await;
    let mut paged = find_page(&store, &alice, "report", 3, 0).await;
    paged.extend(find_page(&store, &alice, "report", 3, 3).await);
    assert_eq!(paged, all);
    assert!(find_page(&store, &alice, "report", 3, 6).await.is_empty());

    // Ranking: more of the word ranks higher.
    let ranked = post(&store, general, &alice, "budget budget budget review").await;
    post(
        &store,
        general,
        &alice,
        "budget notes from a long and winding meeting about many things",
    )
    .await;
    assert_eq!(find(&store, &alice, "budget").await[0], ranked.text);

    // Nothing matches text that is not there.
    assert!(find(&store, &alice, "zebra").await.is_empty());

    // `from:` takes the name people see (a display name, also in Chinese), or a username
    // without '@'; `from:@` takes usernames only.
    let lilei = store
        .create_user(NewUser {
            display_name: "李雷".into(),
            ..new_user("lilei")
        })
        .await
        .unwrap();
    join(&store, general, &lilei).await;
    post(&store, general, &lilei, "李雷的周报 weekly report").await;
    assert_eq!(
        find(&store, &alice, "from:李雷").await,
        texts(&["李雷的周报 weekly report"])
    );
    assert_eq!(
        find(&store, &alice, "from:李雷 weekly").await,
        texts(&["李雷的周报 weekly report"])
    );
    assert!(find(&store, &alice, "from:李 weekly").await.is_empty());
    let by_bob = texts(&["report the bug, please", "a reply mentions the report"]);
    assert_eq!(
        sorted(find(&store, &alice, r#"from:"bob display" report"#).await),
        by_bob
    );
    assert_eq!(
        sorted(find(&store, &alice, "from:BOB report").await),
        by_bob
    );
    assert!(
        find(&store, &alice, r#"from:"nobody here""#)
            .await
            .is_empty()
    );
}

pub async fn search_follows_edits_and_deletes(store: Arc<dyn Store>) {
    let alice = user(&store, "alice").await;
    let ch = public(&store, "general", &alice).await;
    let m = post(&store, ch, &alice, "draft agenda 草稿").await;
    let other = post(&store, ch, &alice, "another agenda").await;
    assert_eq!(
        find(&store, &alice, "草稿").await,
        texts(&["draft agenda 草稿"])
    );

    store
        .edit_message(
            m.id,
            alice.id,
            "final agenda 定稿".into(),
            Mentions::default(),
            allow(),
        )
        .await
        .unwrap();
    assert!(find(&store, &alice, "draft").await.is_empty());
    assert!(find(&store, &alice, "草稿").await.is_empty());
    assert_eq!(
        find(&store, &alice, "定稿").await,
        texts(&["final agenda 定稿"])
    );
    assert_eq!(find(&store, &alice, "agenda").await.len(), 2);

    store.delete_message(m.id, alice.id, allow()).await.unwrap();
    assert!(find(&store, &alice, "定稿").await.is_empty());
    assert_eq!(
        find(&store, &alice, "agenda").await,
        texts(&["another agenda"])
    );
    assert_eq!(
        find(&store, &alice, "in:#general").await,
        texts(&["another agenda"])
    );

    // A rebuild gives the same answers, and skips deleted messages.
    let (count, max) = store.message_stats().await.unwrap();
    assert_eq!((count, max), (2, other.id));
    let mut after = MessageId(0);
    let mut indexed = 0;
    loop {
        let step = store.reindex_batch(after, 1).await.unwrap();
        indexed += step.indexed;
        match step.last {
            Some(last) => after = last,
            None => break,
        }
    }
    assert_eq!(indexed, 1);
    assert_eq!(
        find(&store, &alice, "agenda").await,
        texts(&["another agenda"])
    );
    assert!(find(&store, &alice, "定稿").await.is_empty());
}

pub async fn search_channels(store: Arc<dyn Store>) {
    let alice = user(&store, "alice").await;
    let bob = user(&store, "bob").await;
    let eng = public(&store, "Engineering", &alice).await;
    let _ = public(&store, "design-eng", &bob).await;
    let mine = store
        .create_channel(new_channel(ChannelKind::Private, "eng-leads", alice.id))
        .await
        .unwrap()
        .id;
    let _ = store
        .create_channel(new_channel(ChannelKind::Private, "eng-secret", bob.id))
        .await
        .unwrap();
    let _ = public(&store, "项目组", &bob).await;
    let found = store.search_channels(alice.id, "ENG", 10).await.unwrap();
    let names: Vec<(String, bool)> = found
        .iter()
        .map(|(c, member)| (c.name.clone().unwrap(), *member))
        .collect();
    // Member channels first, then names that start with the text, then by name.
    assert_eq!(
        names,
        vec![
            ("eng-leads".to_owned(), true),
            ("Engineering".to_owned(), true),
            ("design-eng".to_owned(), false),
        ]
    );
    assert_eq!(found[0].0.id, mine);
    assert_eq!(found[1].0.id, eng);
    let cjk = store.search_channels(alice.id, "项目", 10).await.unwrap();
    assert_eq!(cjk.len(), 1);
    assert!(!cjk[0].1);
    assert_eq!(
        store
            .search_channels(alice.id, "eng", 1)
            .await
            .unwrap()
            .len(),
        1
    );
    assert!(
        store
            .search_channels(alice.id, "%", 10)
            .await
            .unwrap()
            .is_empty()
    );
}

// ---------------------------------------------------------------------------------------------
// The audit log

fn audit_entry(i: usize, actor: Option<UserId>, action: AuditAction) -> NewAuditEntry {
    NewAuditEntry::new(
        actor,
        Some(std::net::IpAddr::V4(std::net::Ipv4Addr::new(192, 0, 2, 1))),
        Some("conformance/1.0 (测试)"),
        action,
        Some(AuditTarget::new(TargetKind::User, format!("{}", i % 4))),
        &AuditSummary::new()
            .fact("i", i)
            .change("name", Some("前"), Some("后")),
    )
}

/// Walks the whole chain with the core's verifier.
async fn verify_audit(store: &Arc<dyn Store>) -> Option<AuditHead> {
    let mut v = ChainVerifier::new();
    let mut after = 0;
    loop {
        let page = store.audit_chain(after, 7).await.unwrap();
        if page.is_empty() {
            break;
        }
        after = page.last().unwrap().seq;
        for e in page {
            v.push(e).unwrap();
        }
    }
    v.finish().unwrap()
}

/// A hook that records `action` and notes that it ran, checking what the write did with `seen`.
fn hook_of<T: 'static>(
    action: AuditAction,
    ran: &Arc<AtomicBool>,
    seen: impl FnOnce(&T) + Send + 'static,
) -> enclave_store::AuditHook<T> {
    let ran = ran.clone();
    Box::new(move |v: &T| {
        seen(v);
        ran.store(true, Ordering::SeqCst);
        vec![audit_entry(7, None, action)]
    })
}

/// The `*_audited` writes append their entries in their own transaction: each entry follows its
/// write in the chain; a refused write calls no hook and appends nothing; and once appending to
/// the audit log fails (`refuse_audit` makes every insert into it fail), an audited write fails
/// and changes nothing (no row, no event), while an unaudited one still goes through.
pub async fn audited_writes_commit_with_their_entries(
    store: Arc<dyn Store>,
    refuse_audit: impl std::future::Future<Output = ()>,
) {
    use enclave_core::departments::{DepartmentMember, Tree};
    use enclave_core::{PermissionSet, SitePermission};
    use enclave_store::{DepartmentPatch, NewDepartment, NewRole, RolePatch, UserRoles};
    let admin = user(&store, "auditedadmin").await;
    let bob = user(&store, "auditedbob").await;
    let new_role = |name: &str| NewRole {
        name: name.to_owned(),
        name_key: name.to_lowercase(),
        description: String::new(),
        permissions: PermissionSet::of(&[SitePermission::ViewAuditLog]),
        require_second_factor: false,
    };
    let new_dept = |name: &str| NewDepartment {
        parent_id: None,
        name: name.to_owned(),
        position: 0,
    };
    let allow_tree = || -> enclave_store::TreeGuard { Box::new(|_: &Tree| Ok(())) };
    let ran = Arc::new(AtomicBool::new(false));
    let last_action = |store: Arc<dyn Store>| async move {
        let e = store.audit_chain(0, 1000).await.unwrap();
        (e.len(), e.last().map(|e| e.action.clone()))
    };

    // Roles.
    let role = store
        .create_role_audited(
            new_role("Readers"),
            10,
            Some(admin.id),
            hook_of(
                AuditAction::RoleCreated,
                &ran,
                |r: &enclave_core::CustomRole| {
                    assert_eq!(r.name, "Readers");
                },
            ),
        )
        .await
        .unwrap();
    assert!(ran.swap(false, Ordering::SeqCst));
    assert_eq!(
        last_action(store.clone()).await,
        (1, Some("role_created".into()))
    );
    // A refused write (the name is taken) runs no hook and appends nothing.
    let taken = store
        .create_role_audited(
            new_role("readers"),
            10,
            Some(admin.id),
            hook_of(
                AuditAction::RoleCreated,
                &ran,
                |_: &enclave_core::CustomRole| {},
            ),
        )
        .await;
    assert!(matches!(domain_err(taken), DomainError::Conflict(_)));
    assert!(!ran.load(Ordering::SeqCst));
    assert_eq!(last_action(store.clone()).await.0, 1);
    store
        .update_role_audited(
            role.id,
            RolePatch {
                name: Some(("Auditors".into(), "auditors".into())),
                ..RolePatch::default()
            },
            Some(admin.id),
            hook_of(
                AuditAction::RoleUpdated,
                &ran,
                |(before, after): &(enclave_core::CustomRole, enclave_core::CustomRole)| {
                    assert_eq!(
                        (before.name.as_str(), after.name.as_str()),
                        ("Readers", "Auditors")
                    );
                },
            ),
        )
        .await
        .unwrap();
    assert!(ran.swap(false, Ordering::SeqCst));
    store
        .set_user_roles_audited(
            bob.id,
            UserRoles {
                is_admin: false,
                member_role: true,
                custom: vec![role.id],
            },
            Some(admin.id),
            hook_of(
                AuditAction::RoleChanged,
                &ran,
                move |(u, held): &(User, Vec<enclave_core::CustomRole>)| {
                    assert_eq!((u.id, held.len()), (bob.id, 1));
                },
            ),
        )
        .await
        .unwrap();
    assert!(ran.swap(false, Ordering::SeqCst));
    assert_eq!(
        last_action(store.clone()).await,
        (3, Some("role_changed".into()))
    );

    // Accounts.
    store
        .update_user_audited(
            bob.id,
            UserPatch {
                display_name: Some("Bob B.".into()),
                ..UserPatch::default()
            },
            Some(admin.id),
            hook_of(AuditAction::UserUpdated, &ran, |u: &User| {
                assert_eq!(u.display_name, "Bob B.");
            }),
        )
        .await
        .unwrap();
    assert!(ran.swap(false, Ordering::SeqCst));
    let carol = store
        .create_user_audited(
            new_user("auditedcarol"),
            hook_of(AuditAction::GuestInvited, &ran, |u: &User| {
                assert_eq!(u.username, "auditedcarol");
            }),
        )
        .await
        .unwrap();
    assert!(ran.swap(false, Ordering::SeqCst));
    assert_eq!(
        last_action(store.clone()).await,
        (5, Some("guest_invited".into()))
    );
    // A taken username runs no hook.
    let taken = store
        .create_user_audited(
            new_user("auditedcarol"),
            hook_of(AuditAction::GuestInvited, &ran, |_: &User| {}),
        )
        .await;
    assert!(matches!(domain_err(taken), DomainError::Conflict(_)));
    assert!(!ran.load(Ordering::SeqCst));

    // Departments and their people.
    let refused = store
        .create_department_audited(
            new_dept("Nope"),
            Box::new(|_: &Tree| Err(DomainError::Forbidden("no"))),
            hook_of(
                AuditAction::DepartmentCreated,
                &ran,
                |_: &enclave_core::departments::Department| {},
            ),
        )
        .await;
    assert!(matches!(domain_err(refused), DomainError::Forbidden(_)));
    assert!(!ran.load(Ordering::SeqCst));
    let hq = store
        .create_department_audited(
            new_dept("总部"),
            allow_tree(),
            hook_of(
                AuditAction::DepartmentCreated,
                &ran,
                |_: &enclave_core::departments::Department| {},
            ),
        )
        .await
        .unwrap();
    let tech = store
        .create_department_audited(
            new_dept("技术部"),
            allow_tree(),
            hook_of(
                AuditAction::DepartmentCreated,
                &ran,
                |_: &enclave_core::departments::Department| {},
            ),
        )
        .await
        .unwrap();
    store
        .update_department_audited(
            tech.id,
            DepartmentPatch {
                parent_id: Some(Some(hq.id)),
                ..DepartmentPatch::default()
            },
            allow_tree(),
            hook_of(
                AuditAction::DepartmentMoved,
                &ran,
                move |(b, a): &(
                    enclave_core::departments::Department,
                    enclave_core::departments::Department,
                )| {
                    assert_eq!((b.parent_id, a.parent_id), (None, Some(hq.id)));
                },
            ),
        )
        .await
        .unwrap();
    let place = |title: &str| DepartmentMember {
        department_id: tech.id,
        user_id: bob.id,
        title: title.to_owned(),
        is_head: false,
    };
    type Placed = (Option<DepartmentMember>, DepartmentMember);
    store
        .set_department_member_audited(
            place("工程师"),
            Box::new(|_: &Tree, _| Ok(())),
            hook_of(
                AuditAction::DepartmentMemberAdded,
                &ran,
                |(b, _): &Placed| {
                    assert!(b.is_none());
                },
            ),
        )
        .await
        .unwrap();
    store
        .set_department_member_audited(
            place("组长"),
            Box::new(|_: &Tree, _| Ok(())),
            hook_of(
                AuditAction::DepartmentMemberUpdated,
                &ran,
                |(b, a): &Placed| {
                    assert_eq!(
                        (b.as_ref().map(|b| b.title.as_str()), a.title.as_str()),
                        (Some("工程师"), "组长")
                    );
                },
            ),
        )
        .await
        .unwrap();
    store
        .set_manager_audited(
            bob.id,
            Some(admin.id),
            allow_tree(),
            hook_of(AuditAction::ManagerChanged, &ran, |b: &Option<UserId>| {
                assert_eq!(*b, None);
            }),
        )
        .await
        .unwrap();
    store
        .remove_department_member_audited(
            tech.id,
            bob.id,
            allow_tree(),
            hook_of(AuditAction::DepartmentMemberRemoved, &ran, |(): &()| {}),
        )
        .await
        .unwrap();
    store
        .delete_department_audited(
            tech.id,
            allow_tree(),
            hook_of(
                AuditAction::DepartmentDeleted,
                &ran,
                |d: &enclave_core::departments::Department| assert_eq!(d.name, "技术部"),
            ),
        )
        .await
        .unwrap();
    assert!(
        store
            .delete_role_audited(
                role.id,
                Some(admin.id),
                hook_of(
                    AuditAction::RoleDeleted,
                    &ran,
                    |r: &enclave_core::CustomRole| {
                        assert_eq!(r.name, "Auditors");
                    }
                ),
            )
            .await
            .unwrap()
    );
    let (n, last) = last_action(store.clone()).await;
    assert_eq!((n, last.as_deref()), (14, Some("role_deleted")));
    let head = verify_audit(&store).await.unwrap();
    assert_eq!(head.seq, 14);

    // Once the audit log refuses appends, audited writes fail and change nothing.
    refuse_audit.await;
    let position = last_position(&store).await;
    let roles_before = store.roles().await.unwrap();
    let blocked = store
        .create_role_audited(
            new_role("Blocked"),
            10,
            Some(admin.id),
            hook_of(
                AuditAction::RoleCreated,
                &ran,
                |_: &enclave_core::CustomRole| {},
            ),
        )
        .await;
    assert!(blocked.is_err(), "{blocked:?}");
    assert_eq!(store.roles().await.unwrap(), roles_before);
    let depts_before = store.departments().await.unwrap();
    let blocked = store
        .create_department_audited(
            new_dept("Blocked"),
            allow_tree(),
            hook_of(
                AuditAction::DepartmentCreated,
                &ran,
                |_: &enclave_core::departments::Department| {},
            ),
        )
        .await;
    assert!(blocked.is_err());
    assert_eq!(store.departments().await.unwrap(), depts_before);
    let blocked = store
        .update_user_audited(
            bob.id,
            UserPatch {
                display_name: Some("Nobody".into()),
                active: Some(false),
                ..UserPatch::default()
            },
            Some(admin.id),
            hook_of(AuditAction::UserDeactivated, &ran, |_: &User| {}),
        )
        .await;
    assert!(blocked.is_err());
    let blocked = store
        .create_user_audited(
            new_user("auditeddave"),
            hook_of(AuditAction::GuestInvited, &ran, |_: &User| {}),
        )
        .await;
    assert!(blocked.is_err());
    assert!(
        store
            .users_by_usernames(&["auditeddave".into()])
            .await
            .unwrap()
            .is_empty()
    );
    assert_eq!(store.user(carol.id).await.unwrap().unwrap().id, carol.id);
    let bob_now = store.user(bob.id).await.unwrap().unwrap();
    assert_eq!(
        (bob_now.display_name.as_str(), bob_now.active),
        ("Bob B.", true)
    );
    let blocked = store
        .set_department_member_audited(
            DepartmentMember {
                department_id: hq.id,
                ..place("x")
            },
            Box::new(|_: &Tree, _| Ok(())),
            hook_of(AuditAction::DepartmentMemberAdded, &ran, |_: &Placed| {}),
        )
        .await;
    assert!(blocked.is_err());
    assert!(store.user_departments(bob.id).await.unwrap().is_empty());
    // No event of the refused writes either.
    assert_eq!(last_position(&store).await, position);
    assert_eq!(verify_audit(&store).await, Some(head));
    // A write with nothing to record still goes through.
    store
        .create_role(new_role("Unaudited"), 10, Some(admin.id))
        .await
        .unwrap();
    assert_eq!(store.roles().await.unwrap().len(), roles_before.len() + 1);
}

/// Appends from many tasks at once form one linear chain; entries read back exactly as sealed;
/// filters and the cursor select the right entries, newest first.
pub async fn audit_log_is_one_chain(store: Arc<dyn Store>) {
    assert_eq!(store.audit_head().await.unwrap(), None);
    assert!(store.audit_chain(0, 10).await.unwrap().is_empty());
    let first = store
        .append_audit(audit_entry(0, None, AuditAction::SignInFailed))
        .await
        .unwrap();
    assert_eq!(first.seq, 1);
    assert_eq!(first.prev_hash, GENESIS);
    assert_eq!(first.hash, first.compute_hash());
    let mut tasks = Vec::new();
    for t in 0..4 {
        let store = store.clone();
        tasks.push(tokio::spawn(async move {
            for i in 0..10 {
                let action = if i % 2 == 0 {
                    AuditAction::SignIn
                } else {
                    AuditAction::TokenCreated
                };
                store
                    .append_audit(audit_entry(t * 10 + i, Some(UserId(t as i64 + 1)), action))
                    .await
                    .unwrap();
            }
        }));
    }
    for t in tasks {
        t.await.unwrap();
    }
    let head = verify_audit(&store).await.unwrap();
    assert_eq!(head.seq, 41);
    assert_eq!(store.audit_head().await.unwrap(), Some(head));
    let all = store.audit_chain(0, 100).await.unwrap();
    assert_eq!(all.len(), 41);
    assert_eq!(all[0], first, "an entry reads back exactly as sealed");
    assert_eq!(all[5].user_agent.as_deref(), Some("conformance/1.0 (测试)"));
    assert_eq!(all[5].ip.as_deref(), Some("192.0.2.1"));

    let q = |f: &dyn Fn(&mut AuditQuery)| {
        let mut q = AuditQuery {
            limit: 100,
            ..AuditQuery::default()
        };
        f(&mut q);
        q
    };
    let newest = store
        .audit_entries(q(&|q| q.limit = 3))
        .await
        .unwrap()
        .iter()
        .map(|e| e.seq)
        .collect::<Vec<_>>();
    assert_eq!(newest, [41, 40, 39]);
    let page2 = store
        .audit_entries(q(&|q| {
            q.limit = 3;
            q.before_seq = Some(39);
        }))
        .await
        .unwrap()
        .iter()
        .map(|e| e.seq)
        .collect::<Vec<_>>();
    assert_eq!(page2, [38, 37, 36]);
    let by_actor = store
        .audit_entries(q(&|q| q.actor = Some(UserId(2))))
        .await
        .unwrap();
    assert_eq!(by_actor.len(), 10);
    assert!(by_actor.iter().all(|e| e.actor == Some(UserId(2))));
    let failed = store
        .audit_entries(q(&|q| q.action = Some("sign_in_failed".into())))
        .await
        .unwrap();
    assert_eq!(failed.len(), 1);
    assert_eq!(failed[0].seq, 1);
    let target = store
        .audit_entries(q(&|q| {
            q.target_kind = Some("user".into());
            q.target_id = Some("3".into());
        }))
        .await
        .unwrap();
    assert!(!target.is_empty());
    assert!(target.iter().all(|e| e.target_id.as_deref() == Some("3")));
    let at = all[20].at;
    let since = store
        .audit_entries(q(&|q| q.since = Some(at)))
        .await
        .unwrap();
    assert!(since.iter().all(|e| e.at >= at) && since.len() >= 21);
    let until = store
        .audit_entries(q(&|q| q.until = Some(at)))
        .await
        .unwrap();
    assert!(until.iter().all(|e| e.at < at));
    assert_eq!(since.len() + until.len(), 41);
    let none = store
        .audit_entries(q(&|q| {
            q.action = Some("sign_in".into());
            q.actor = Some(UserId(99));
        }))
        .await
        .unwrap();
    assert!(none.is_empty());
}

/// Several stores on one database (nodes, or the server beside the CLI) append to one chain.
pub async fn audit_appends_from_several_nodes_form_one_chain(nodes: Vec<Arc<dyn Store>>) {
    let mut tasks = Vec::new();
    for (n, store) in nodes.iter().enumerate() {
        let store = store.clone();
        tasks.push(tokio::spawn(async move {
            for i in 0..15 {
                store
                    .append_audit(audit_entry(n * 100 + i, None, AuditAction::SignIn))
                    .await
                    .unwrap();
            }
        }));
    }
    for t in tasks {
        t.await.unwrap();
    }
    let head = verify_audit(&nodes[0]).await.unwrap();
    assert_eq!(head.seq, 15 * nodes.len() as i64);
    for store in &nodes {
        assert_eq!(store.audit_head().await.unwrap(), Some(head));
    }
}

// ---------------------------------------------------------------------------------------------
// The sign-in throttle's counters

fn tkey(step: Step, account: &str, source: &str) -> ThrottleKey {
    ThrottleKey {
        step,
        account: account.to_owned(),
        source: source.to_owned(),
    }
}

/// Counting, summing per account and per source, forgetting, known sources, clearing, the
/// listing and the sweep: the same on every backend.
pub async fn signin_throttles(store: Arc<dyn Store>) {
    // Real times: the listing tells known sources by the clock.
    let t0 = Millis::now().0;
    let at = |s: i64| Millis(t0 + s * 1000);
    let since = |now: Millis| Millis(now.0 - 3_600_000);
    let expires = |now: Millis| Millis(now.0 + 3_600_000);
    let fail = |k: ThrottleKey, now: Millis| {
        let store = store.clone();
        async move {
            store
                .throttle_fail(&k, now, since(now), expires(now))
                .await
                .unwrap()
        }
    };
    let alice_a = tkey(Step::Password, "alice", "192.0.2.1");
    let alice_b = tkey(Step::Password, "alice", "192.0.2.2");
    let bob_a = tkey(Step::Password, "bob", "192.0.2.1");
    let alice_a_2fa = tkey(Step::SecondFactor, "alice", "192.0.2.1");

    let empty = store
        .throttle_counts(&alice_a, since(at(0)), at(0))
        .await
        .unwrap();
    assert_eq!(empty, Counts::default());
    for s in 0..3 {
        fail(alice_a.clone(), at(s)).await;
    }
    fail(alice_b.clone(), at(3)).await;
    fail(bob_a.clone(), at(4)).await;
    fail(alice_a_2fa.clone(), at(5)).await;
    let c = store
        .throttle_counts(&alice_a, since(at(10)), at(10))
        .await
        .unwrap();
    let tally = |failures, last: i64| Tally {
        failures,
        last: Some(at(last)),
    };
    assert_eq!(c.pair, tally(3, 2));
    assert_eq!(c.account, tally(4, 3), "alice from both addresses");
    assert_eq!(c.source, tally(4, 4), "192.0.2.1 on both accounts");
    assert!(!c.known);
    // Each step counts apart.
    let c = store
        .throttle_counts(&alice_a_2fa, since(at(10)), at(10))
        .await
        .unwrap();
    assert_eq!(
        (c.pair, c.account, c.source),
        (tally(1, 5), tally(1, 5), tally(1, 5))
    );

    // A success clears the pair and makes the source known; the others keep their failures.
    store.throttle_ok(&alice_a, at(1000)).await.unwrap();
    let c = store
        .throttle_counts(&alice_a, since(at(11)), at(11))
        .await
        .unwrap();
    assert_eq!(c.pair, Tally::default());
    assert!(c.known);
    assert_eq!(c.account, tally(1, 3));
    assert_eq!(c.source, tally(1, 4));
    // Known only until then.
    assert!(
        !store
            .throttle_counts(&alice_a, since(at(1000)), at(1000))
            .await
            .unwrap()
            .known
    );
    // A failure after the success counts from one again, and the source stays known.
    fail(alice_a.clone(), at(12)).await;
    let c = store
        .throttle_counts(&alice_a, since(at(12)), at(12))
        .await
        .unwrap();
    assert_eq!((c.pair, c.known), (tally(1, 12), true));

    // Failures older than `since` are forgotten, in counts and when counting on.
    let late = at(3 * 3600);
    let c = store
        .throttle_counts(&alice_b, since(late), late)
        .await
        .unwrap();
    assert_eq!((c.pair, c.account), (Tally::default(), Tally::default()));
    fail(alice_b.clone(), late).await;
    let c = store
        .throttle_counts(&alice_b, since(late), late)
        .await
        .unwrap();
    assert_eq!(
        c.pair,
        Tally {
            failures: 1,
            last: Some(late)
        }
    );

    // The listing: rows with failures since `since`, newest first, optionally of one account.
    let list = store.throttle_entries(None, Millis(0), 10).await.unwrap();
    let keys: Vec<(&str, &str, &str, u32)> = list
        .iter()
        .map(|e| {
            (
                e.key.step.as_str(),
                e.key.account.as_str(),
                e.key.source.as_str(),
                e.failures,
            )
        })
        .collect();
    assert_eq!(
        keys,
        [
            ("password", "alice", "192.0.2.2", 1),
            ("password", "alice", "192.0.2.1", 1),
            ("second_factor", "alice", "192.0.2.1", 1),
            ("password", "bob", "192.0.2.1", 1),
        ]
    );
    assert!(list[1].known && !list[0].known);
    assert_eq!(list[0].last_failure_at, late);
    assert_eq!(
        store
            .throttle_entries(Some("bob"), Millis(0), 10)
            .await
            .unwrap()
            .len(),
        1
    );
    assert_eq!(
        store
            .throttle_entries(None, Millis(0), 2)
            .await
            .unwrap()
            .len(),
        2
    );
    assert_eq!(
        store
            .throttle_entries(None, at(13), 10)
            .await
            .unwrap()
            .len(),
        1
    );

    // Clearing one source, then all of an account's (every step); known stays known.
    assert_eq!(
        store
            .clear_throttles("alice", Some("192.0.2.2"))
            .await
            .unwrap(),
        1
    );
    assert_eq!(
        store
            .clear_throttles("alice", Some("192.0.2.2"))
            .await
            .unwrap(),
        0
    );
    assert_eq!(store.clear_throttles("alice", None).await.unwrap(), 2);
    assert!(
        store
            .throttle_entries(Some("alice"), Millis(0), 10)
            .await
            .unwrap()
            .is_empty()
    );
    let c = store
        .throttle_counts(&alice_a, since(at(13)), at(13))
        .await
        .unwrap();
    assert_eq!((c.pair, c.known), (Tally::default(), true));

    // The sweep deletes what expired: bob's row (failure at 4 s, kept one hour) and alice's
    // known source (until 1000 s).
    assert_eq!(store.sweep_throttles(at(50)).await.unwrap(), 0);
    assert_eq!(store.sweep_throttles(at(3600 + 4)).await.unwrap(), 2);
    assert!(
        store
            .throttle_entries(Some("bob"), Millis(0), 10)
            .await
            .unwrap()
            .is_empty()
    );
    // Keys in any script and of the longest length are kept as they are.
    let long = "長".repeat(enclave_core::lockout::MAX_ACCOUNT_KEY);
    let k = tkey(Step::Password, &long, "2001:db8::/64");
    fail(k.clone(), at(20)).await;
    let c = store
        .throttle_counts(&k, since(at(20)), at(20))
        .await
        .unwrap();
    assert_eq!(c.pair, tally(1, 20));
    assert_eq!(
        store
            .throttle_entries(Some(&long), Millis(0), 10)
            .await
            .unwrap()[0]
            .key,
        k
    );
}

// ---------------------------------------------------------------------------------------------
// Roles and guests

pub async fn roles_and_guests(store: Arc<dyn Store>) {
    use enclave_core::{PermissionSet, RoleId, SitePermission};
    use enclave_store::{NewRole, RolePatch, UserRoles};
    let admin = user(&store, "rolesadmin").await;
    let alice = user(&store, "rolesalice").await;
    let new = |name: &str, perms: &[SitePermission]| NewRole {
        name: name.to_owned(),
        name_key: name.to_lowercase(),
        description: String::new(),
        permissions: PermissionSet::of(perms),
        require_second_factor: false,
    };
    let start = last_position(&store).await;
    let auditors = store
        .create_role(
            new("Auditors", &[SitePermission::ViewAuditLog]),
            3,
            Some(admin.id),
        )
        .await
        .unwrap();
    assert_eq!(
        auditors.permissions,
        PermissionSet::of(&[SitePermission::ViewAuditLog])
    );
    // Names are unique regardless of case; the count is limited.
    let e = store
        .create_role(new("AUDITORS", &[]), 3, Some(admin.id))
        .await
        .unwrap_err();
    assert!(
        matches!(e, Error::Domain(DomainError::Conflict(_))),
        "{e:?}"
    );
    store.create_role(new("Two", &[]), 3, None).await.unwrap();
    let three = store.create_role(new("Three", &[]), 3, None).await.unwrap();
    let e = store
        .create_role(new("Four", &[]), 3, None)
        .await
        .unwrap_err();
    assert!(
        matches!(e, Error::Domain(DomainError::LimitExceeded(_))),
        "{e:?}"
    );
    assert_eq!(store.roles().await.unwrap().len(), 3);
    let changed = store
        .update_role(
            auditors.id,
            RolePatch {
                description: Some("read the log".into()),
                permissions: Some(PermissionSet::of(&[
                    SitePermission::ViewAuditLog,
                    SitePermission::ExportData,
                ])),
                ..RolePatch::default()
            },
            Some(admin.id),
        )
        .await
        .unwrap();
    assert_eq!(changed.description, "read the log");
    assert!(changed.permissions.contains(SitePermission::ExportData));
    assert_eq!(
        store.role(auditors.id).await.unwrap(),
        Some(changed.clone())
    );
    let e = store
        .update_role(RoleId(999_999), RolePatch::default(), None)
        .await
        .unwrap_err();
    assert!(
        matches!(e, Error::Domain(DomainError::NotFound(Entity::Role))),
        "{e:?}"
    );

    // Holding roles.
    let (u, held) = store
        .set_user_roles(
            alice.id,
            UserRoles {
                is_admin: false,
                member_role: false,
                custom: vec![auditors.id, three.id],
            },
            Some(admin.id),
        )
        .await
        .unwrap();
    assert!(!u.member_role && !u.is_admin);
    assert_eq!(
        held.iter().map(|r| r.id).collect::<Vec<_>>(),
        [auditors.id, three.id]
    );
    assert_eq!(store.user_roles(alice.id).await.unwrap(), held);
    let e = store
        .set_user_roles(
            alice.id,
            UserRoles {
                is_admin: false,
                member_role: true,
                custom: vec![RoleId(999_999)],
            },
            None,
        )
        .await
        .unwrap_err();
    assert!(
        matches!(e, Error::Domain(DomainError::NotFound(Entity::Role))),
        "{e:?}"
    );
    assert_eq!(
        store.user_roles(alice.id).await.unwrap().len(),
        2,
        "a refusal changes nothing"
    );
    assert!(!store.user(alice.id).await.unwrap().unwrap().member_role);
    // Deleting a role takes it from its holders.
    assert!(store.delete_role(three.id, Some(admin.id)).await.unwrap());
    assert!(!store.delete_role(three.id, None).await.unwrap());
    assert_eq!(
        store
            .user_roles(alice.id)
            .await
            .unwrap()
            .iter()
            .map(|r| r.id)
            .collect::<Vec<_>>(),
        [auditors.id]
    );
    let kinds: Vec<EventKind> = events_after(&store, start, 100)
        .await
        .iter()
        .map(|e| e.kind)
        .collect();
    assert_eq!(
        kinds
            .iter()
            .filter(|k| **k == EventKind::RolesChanged)
            .count(),
        5,
        "{kinds:?}"
    );
    assert!(kinds.contains(&EventKind::UserUpdated));

    // Guests: stored as such, and deactivated (tokens and all) once expired.
    let now = Millis::now();
    let mut g = new_user("rolesguest");
    g.is_guest = true;
    g.is_admin = true;
    g.guest_expires_at = Some(Millis(now.0 - 1));
    let guest = store.create_user(g).await.unwrap();
    assert!(guest.is_guest && !guest.is_admin && !guest.member_role);
    let mut later = new_user("rolesguest2");
    later.is_guest = true;
    later.guest_expires_at = Some(Millis(now.0 + 3_600_000));
    let later = store.create_user(later).await.unwrap();
    store
        .create_token(NewToken {
            user_id: guest.id,
            kind: TokenKind::Session,
            hash: [7; 32],
            name: "s".into(),
            expires_at: None,
            scope: enclave_core::Scope::Session,
            client: String::new(),
            ip: None,
        })
        .await
        .unwrap();
    let expired = store.expire_guests(now, 10).await.unwrap();
    assert_eq!(expired, [guest.id]);
    assert!(!store.user(guest.id).await.unwrap().unwrap().active);
    assert!(store.user(later.id).await.unwrap().unwrap().active);
    assert!(store.list_tokens(guest.id).await.unwrap().is_empty());
    assert!(store.expire_guests(now, 10).await.unwrap().is_empty());
}

// ---------------------------------------------------------------------------------------------
// Departments and the directory

fn tree_allow() -> enclave_store::TreeGuard {
    Box::new(|_| Ok(()))
}

/// The department tree, its people, managers, channel links and the directory's search keys:
/// writes run the guard on the tree inside the transaction; a refused or conflicting write
/// changes nothing.
pub async fn departments(store: Arc<dyn Store>) {
    use enclave_core::departments::{self as rules, DepartmentMember, Tree};
    use enclave_store::{DepartmentChannel, DepartmentPatch, NewDepartment};
    let admin_user = user(&store, "deptadmin").await;
    let zhang = store
        .create_user(NewUser {
            display_name: "张伟".into(),
            ..new_user("zhangwei")
        })
        .await
        .unwrap();
    let li = user(&store, "lina").await;
    let admin = Actor::for_user(&User {
        is_admin: true,
        ..admin_user.clone()
    });
    let create = |parent: Option<enclave_core::DepartmentId>, name: &'static str| {
        let store = store.clone();
        async move {
            store
                .create_department(
                    NewDepartment {
                        parent_id: parent,
                        name: name.into(),
                        position: 0,
                    },
                    Box::new(move |t: &Tree| rules::check_create(&admin, t, parent, name)),
                )
                .await
        }
    };
    let hq = create(None, "总部").await.unwrap();
    let tech = create(Some(hq.id), "技术部").await.unwrap();
    let backend = create(Some(tech.id), "后端组").await.unwrap();
    // A sibling's name (case-folded) is a conflict, whether the guard or the index catches it.
    assert!(matches!(
        domain_err(create(Some(hq.id), "技术部").await),
        DomainError::Conflict(_)
    ));
    let conflict = store
        .create_department(
            NewDepartment {
                parent_id: Some(hq.id),
                name: "技术部".into(),
                position: 0,
            },
            tree_allow(),
        )
        .await;
    assert!(matches!(domain_err(conflict), DomainError::Conflict(_)));
    // A move under a descendant is refused by the guard; nothing changes.
    let before = store.departments().await.unwrap();
    let change = rules::DepartmentChange {
        parent_id: Some(Some(backend.id)),
        ..Default::default()
    };
    let tech_id = tech.id;
    let refused = store
        .update_department(
            tech.id,
            DepartmentPatch {
                parent_id: Some(Some(backend.id)),
                name: Some("renamed".into()),
                ..Default::default()
            },
            Box::new(move |t: &Tree| rules::check_update(&admin, t, tech_id, &change)),
        )
        .await;
    assert!(matches!(domain_err(refused), DomainError::Invalid { .. }));
    assert_eq!(store.departments().await.unwrap(), before);
    // A move elsewhere, a rename and administrators.
    let moved = store
        .update_department(
            backend.id,
            DepartmentPatch {
                parent_id: Some(Some(hq.id)),
                name: Some("平台组".into()),
                admins: Some(vec![li.id]),
                position: Some(3),
            },
            tree_allow(),
        )
        .await
        .unwrap();
    assert_eq!(moved.parent_id, Some(hq.id));
    assert_eq!(moved.name, "平台组");
    assert_eq!(moved.admins, vec![li.id]);
    assert_eq!(moved.position, 3);

    // People.
    let member =
        |d: enclave_core::DepartmentId, u: UserId, title: &str, head: bool| DepartmentMember {
            department_id: d,
            user_id: u,
            title: title.into(),
            is_head: head,
        };
    assert!(
        store
            .set_department_member(
                member(tech.id, zhang.id, "工程师", false),
                Box::new(|_, n| {
                    assert_eq!(n, 0);
                    Ok(())
                })
            )
            .await
            .unwrap()
    );
    assert!(
        !store
            .set_department_member(
                member(tech.id, zhang.id, "高级工程师", false),
                Box::new(|_, _| Ok(()))
            )
            .await
            .unwrap()
    );
    store
        .set_department_member(
            member(tech.id, li.id, "主管", true),
            Box::new(|_, _| Ok(())),
        )
        .await
        .unwrap();
    store
        .set_department_member(
            member(backend.id, zhang.id, "", false),
            Box::new(|_, n| {
                assert_eq!(n, 1, "zhang is in one other department");
                Ok(())
            }),
        )
        .await
        .unwrap();
    let people = store.department_members(tech.id).await.unwrap();
    assert_eq!(people.len(), 2);
    assert_eq!(people[0].1.id, li.id, "heads first");
    assert_eq!(people[1].0.title, "高级工程师");
    assert_eq!(store.user_departments(zhang.id).await.unwrap().len(), 2);
    assert_eq!(
        store
            .people_in_departments(&[tech.id, backend.id])
            .await
            .unwrap(),
        vec![zhang.id, li.id]
    );
    assert_eq!(
        store.department_heads(&[tech.id, hq.id]).await.unwrap(),
        vec![(tech.id, li.id)]
    );
    // An unknown person is refused.
    let ghost = store
        .set_department_member(
            member(tech.id, UserId(999_999), "", false),
            Box::new(|_, _| Ok(())),
        )
        .await;
    assert_eq!(domain_err(ghost), DomainError::NotFound(Entity::User));
    let missing = store
        .remove_department_member(hq.id, zhang.id, tree_allow())
        .await;
    assert_eq!(domain_err(missing), DomainError::NotFound(Entity::Member));
    store
        .remove_department_member(backend.id, zhang.id, tree_allow())
        .await
        .unwrap();

    // Managers.
    store
        .set_manager(zhang.id, Some(li.id), tree_allow())
        .await
        .unwrap();
    assert_eq!(store.manager(zhang.id).await.unwrap(), Some(li.id));
    store
        .set_manager(zhang.id, None, tree_allow())
        .await
        .unwrap();
    assert_eq!(store.manager(zhang.id).await.unwrap(), None);

    // Channel links.
    let ch = public(&store, "dept-channel", &admin_user).await;
    let link = DepartmentChannel {
        channel_id: ch,
        department_id: tech.id,
        include_subdepartments: true,
    };
    store
        .link_department_channel(link, tree_allow())
        .await
        .unwrap();
    assert_eq!(store.department_channels().await.unwrap(), vec![link]);
    assert!(
        store
            .unlink_department_channel(ch, tree_allow())
            .await
            .unwrap()
    );
    assert!(
        !store
            .unlink_department_channel(ch, tree_allow())
            .await
            .unwrap()
    );

    // The directory: by pinyin, initials, name; keys follow a new display name.
    let found = |key: &'static str| {
        let store = store.clone();
        async move {
            store
                .search_people(key, 10)
                .await
                .unwrap()
                .into_iter()
                .map(|u| u.username)
                .collect::<Vec<_>>()
        }
    };
    assert_eq!(found("zw").await, vec!["zhangwei"]);
    assert_eq!(found("zhangwei").await, vec!["zhangwei"]);
    assert_eq!(found("张伟").await, vec!["zhangwei"]);
    assert_eq!(found("lina").await, vec!["lina"]);
    store
        .update_user(
            zhang.id,
            UserPatch {
                display_name: Some("王芳".into()),
                ..Default::default()
            },
            None,
        )
        .await
        .unwrap();
    assert_eq!(found("wf").await, vec!["zhangwei"]);
    // The username still finds them; the old name's initials no longer do.
    assert!(found("zw").await.is_empty());
    assert_eq!(found("zhangwei").await, vec!["zhangwei"]);

    // Deleting: the guard decides; memberships, admins and links go with the department.
    store
        .delete_department(backend.id, tree_allow())
        .await
        .unwrap();
    let left: Vec<_> = store
        .departments()
        .await
        .unwrap()
        .into_iter()
        .map(|d| d.name)
        .collect();
    assert_eq!(left.len(), 2);
    let refused = store
        .delete_department(
            hq.id,
            Box::new(move |t: &Tree| rules::check_delete(&admin, t, hq.id)),
        )
        .await;
    assert!(matches!(domain_err(refused), DomainError::Conflict(_)));
}

// ---------------------------------------------------------------------------------------------
// Single sign-on: linked identities and sign-ins under way

fn pending(
    key: &str,
    kind: enclave_store::SsoPendingKind,
    expires: i64,
) -> enclave_store::SsoPending {
    enclave_store::SsoPending {
        key_hash: key.to_owned(),
        kind,
        provider: "corp".into(),
        nonce: "n".into(),
        pkce_verifier: "v".into(),
        browser_hash: "b".into(),
        user_id: None,
        subject: String::new(),
        created_at: Millis(1_000),
        expires_at: Millis(expires),
    }
}

pub async fn single_sign_on(store: Arc<dyn Store>) {
    use enclave_store::{ExternalIdentity, SsoPendingKind::*};
    let alice = user(&store, "alice").await;
    let bob = user(&store, "bob").await;

    // A pending row is taken once, and only as its own kind.
    store
        .sso_put_pending(pending("k1", Login, 10_000))
        .await
        .unwrap();
    assert!(
        store
            .sso_take_pending("k1", Handoff)
            .await
            .unwrap()
            .is_none()
    );
    let got = store.sso_take_pending("k1", Login).await.unwrap().unwrap();
    assert_eq!(got, pending("k1", Login, 10_000));
    assert!(store.sso_take_pending("k1", Login).await.unwrap().is_none());
    // Two takers at once: exactly one gets it.
    store
        .sso_put_pending(pending("k2", Handoff, 10_000))
        .await
        .unwrap();
    let (a, b) = tokio::join!(
        store.sso_take_pending("k2", Handoff),
        store.sso_take_pending("k2", Handoff)
    );
    assert_eq!(
        [a.unwrap().is_some(), b.unwrap().is_some()]
            .iter()
            .filter(|x| **x)
            .count(),
        1
    );
    // A handoff carries its account; a new row deletes the expired ones.
    let mut h = pending("k3", Handoff, 500);
    h.user_id = Some(alice.id);
    h.subject = "sub-alice".into();
    store.sso_put_pending(h.clone()).await.unwrap();
    store
        .sso_put_pending(pending("k4", Login, 10_000))
        .await
        .unwrap();
    assert!(
        store
            .sso_take_pending("k3", Handoff)
            .await
            .unwrap()
            .is_none(),
        "expired rows go"
    );
    let mut h5 = h.clone();
    h5.key_hash = "k5".into();
    h5.expires_at = Millis(20_000);
    store.sso_put_pending(h5.clone()).await.unwrap();
    assert_eq!(
        store.sso_take_pending("k5", Handoff).await.unwrap(),
        Some(h5)
    );

    // Identities: linked once; a second link of the same subject changes nothing.
    let link = |subject: &str, who: UserId| ExternalIdentity {
        provider: "corp".into(),
        subject: subject.into(),
        user_id: who,
        email: Some(format!("{subject}@example.org")),
        created_at: Millis(1),
        last_login_at: Millis(1),
    };
    assert!(
        store
            .external_identity("corp", "s1")
            .await
            .unwrap()
            .is_none()
    );
    assert!(
        store
            .link_external_identity(link("s1", alice.id))
            .await
            .unwrap()
    );
    assert!(
        !store
            .link_external_identity(link("s1", bob.id))
            .await
            .unwrap()
    );
    assert_eq!(
        store.external_identity("corp", "s1").await.unwrap(),
        Some(link("s1", alice.id))
    );
    assert!(
        store
            .link_external_identity(link("s2", alice.id))
            .await
            .unwrap()
    );
    assert!(
        store
            .link_external_identity(link("s3", bob.id))
            .await
            .unwrap()
    );
    let mut other = link("s1", bob.id);
    other.provider = "other".into();
    assert!(store.link_external_identity(other).await.unwrap());
    store
        .touch_external_identity("corp", "s1", None, Millis(99))
        .await
        .unwrap();
    let touched = store
        .external_identity("corp", "s1")
        .await
        .unwrap()
        .unwrap();
    assert_eq!(touched.last_login_at, Millis(99));
    assert_eq!(touched.email.as_deref(), Some("s1@example.org"));
    store
        .touch_external_identity("corp", "s1", Some("new@example.org"), Millis(100))
        .await
        .unwrap();
    let touched = store
        .external_identity("corp", "s1")
        .await
        .unwrap()
        .unwrap();
    assert_eq!(touched.email.as_deref(), Some("new@example.org"));
    assert_eq!(
        store.external_identity_counts().await.unwrap(),
        vec![("corp".to_owned(), 2), ("other".to_owned(), 1)]
    );
}

// LDAP links and directory sync runs

pub async fn ldap_links_and_sync_runs(store: Arc<dyn Store>) {
    use enclave_store::LdapLink;
    let alice = user(&store, "ldap-alice").await;
    let bob = user(&store, "ldap-bob").await;
    let link = |u: &User, ext: &str| LdapLink {
        user_id: u.id,
        provider: "corp".into(),
        external_id: ext.into(),
        dn: format!("uid={},ou=people,dc=example,dc=org", u.username),
        phone: "+1 555".into(),
        title: "Lead".into(),
        department: "Engineering".into(),
        sync_deactivated: false,
        linked_at: Millis(1000),
        seen_at: Millis(1000),
    };
    assert_eq!(store.ldap_link_of_user(alice.id).await.unwrap(), None);
    store.put_ldap_link(link(&alice, "uuid-a")).await.unwrap();
    store.put_ldap_link(link(&bob, "uuid-b")).await.unwrap();
    assert_eq!(
        store.ldap_link_by_external("corp", "uuid-a").await.unwrap(),
        Some(link(&alice, "uuid-a"))
    );
    assert_eq!(
        store
            .ldap_link_by_external("other", "uuid-a")
            .await
            .unwrap(),
        None
    );
    // One entry, one account.
    let taken = store.put_ldap_link(link(&bob, "uuid-a")).await;
    assert!(matches!(domain_err(taken), DomainError::Conflict(_)));
    // Replacing keeps linked_at and updates the rest.
    let mut moved = link(&alice, "uuid-a");
    moved.dn = "uid=ldap-alice,ou=sales,dc=example,dc=org".into();
    moved.sync_deactivated = true;
    moved.linked_at = Millis(5000);
    moved.seen_at = Millis(6000);
    store.put_ldap_link(moved.clone()).await.unwrap();
    let got = store.ldap_link_of_user(alice.id).await.unwrap().unwrap();
    assert_eq!(got.dn, moved.dn);
    assert!(got.sync_deactivated);
    assert_eq!((got.linked_at, got.seen_at), (Millis(1000), Millis(6000)));
    let all = store.ldap_links("corp").await.unwrap();
    assert_eq!(all.len(), 2);
    assert!(store.ldap_links("other").await.unwrap().is_empty());

    let first = store
        .start_sync_run("corp", true, "cli", Millis(10))
        .await
        .unwrap();
    let second = store
        .start_sync_run("corp", false, "api", Millis(20))
        .await
        .unwrap();
    store.sync_run_progress(second, 3, Some(7)).await.unwrap();
    store
        .finish_sync_run(first, "done", "{\"found\":1}", "", Millis(15))
        .await
        .unwrap();
    let runs = store.sync_runs("corp", 10).await.unwrap();
    assert_eq!(runs.len(), 2);
    assert_eq!(runs[0].id, second, "newest first");
    assert_eq!(
        (
            runs[0].status.as_str(),
            runs[0].done,
            runs[0].total,
            runs[0].finished_at
        ),
        ("running", 3, Some(7), None)
    );
    assert!(!runs[0].dry_run);
    assert_eq!(runs[0].trigger, "api");
    assert_eq!(runs[1].status, "done");
    assert_eq!(runs[1].report, "{\"found\":1}");
    assert_eq!(runs[1].finished_at, Some(Millis(15)));
    assert!(runs[1].dry_run);
    assert_eq!(store.sync_runs("corp", 1).await.unwrap().len(), 1);
    assert!(store.sync_runs("other", 10).await.unwrap().is_empty());
}

/// Security keys: listed per account oldest first, a credential id once among all accounts,
/// the limit, rename and remove only one's own, the counter's compare-and-set; ceremonies are
/// found by id, account and kind while unexpired, and taken once.
async fn webauthn_keys_and_ceremonies(store: Arc<dyn Store>) {
    let alice = user(&store, "wa-alice").await;
    let bob = user(&store, "wa-bob").await;
    let k1 = store
        .add_webauthn_key(
            alice.id,
            "One".into(),
            "cred-1".into(),
            "{\"c\":1}".into(),
            2,
        )
        .await
        .unwrap()
        .expect("under the limit");
    let k2 = store
        .add_webauthn_key(
            alice.id,
            "Two".into(),
            "cred-2".into(),
            "{\"c\":2}".into(),
            2,
        )
        .await
        .unwrap()
        .expect("under the limit");
    assert!(k2.id > k1.id);
    assert_eq!(k1.last_used_at, None);
    // At the limit: nothing added.
    assert!(
        store
            .add_webauthn_key(alice.id, "Three".into(), "cred-3".into(), "{}".into(), 2)
            .await
            .unwrap()
            .is_none()
    );
    // A credential id belongs to one account.
    let e = domain_err(
        store
            .add_webauthn_key(bob.id, "Mine".into(), "cred-1".into(), "{}".into(), 2)
            .await,
    );
    assert!(matches!(e, DomainError::Conflict(_)), "{e:?}");
    let keys = store.webauthn_keys(alice.id).await.unwrap();
    assert_eq!(
        keys.iter().map(|k| k.name.as_str()).collect::<Vec<_>>(),
        ["One", "Two"]
    );
    assert_eq!(keys[0], k1);
    assert!(store.webauthn_keys(bob.id).await.unwrap().is_empty());
    // Rename and remove: one's own keys only.
    assert!(
        !store
            .rename_webauthn_key(bob.id, k1.id, "X".into())
            .await
            .unwrap()
    );
    assert!(
        store
            .rename_webauthn_key(alice.id, k1.id, "Uno".into())
            .await
            .unwrap()
    );
    assert!(!store.remove_webauthn_key(bob.id, k2.id).await.unwrap());
    // The counter: compare-and-set on the stored credential.
    assert!(
        store
            .use_webauthn_key(alice.id, k1.id, "{\"c\":1}".into(), "{\"c\":5}".into())
            .await
            .unwrap()
    );
    assert!(
        !store
            .use_webauthn_key(alice.id, k1.id, "{\"c\":1}".into(), "{\"c\":6}".into())
            .await
            .unwrap(),
        "a stale credential does not win"
    );
    assert!(
        !store
            .use_webauthn_key(bob.id, k1.id, "{\"c\":5}".into(), "{\"c\":7}".into())
            .await
            .unwrap()
    );
    // Accounts with keys only are among the enrolled.
    let listed = store.second_factor_enrolments().await.unwrap();
    let a = listed
        .iter()
        .find(|e| e.user_id == alice.id)
        .expect("listed");
    assert_eq!((a.totp_since, a.webauthn_keys), (None, 2));
    let k1_now = &store.webauthn_keys(alice.id).await.unwrap()[0];
    assert_eq!(k1_now.name, "Uno");
    assert_eq!(k1_now.credential, "{\"c\":5}");
    assert!(k1_now.last_used_at.is_some());
    assert!(store.remove_webauthn_key(alice.id, k2.id).await.unwrap());
    assert!(!store.remove_webauthn_key(alice.id, k2.id).await.unwrap());
    assert_eq!(store.remove_webauthn_keys(alice.id).await.unwrap(), 1);
    assert!(store.webauthn_keys(alice.id).await.unwrap().is_empty());

    // Ceremonies.
    let now = Millis::now();
    let c = WebAuthnCeremonyState {
        id: "wr_1".into(),
        user_id: alice.id,
        kind: "registration".into(),
        state: "{}".into(),
        expires_at: Millis(now.0 + 60_000),
    };
    store.put_webauthn_ceremony(c.clone()).await.unwrap();
    let get = |id: &str, user: UserId, kind: &str, at: Millis| {
        let store = store.clone();
        let (id, kind) = (id.to_owned(), kind.to_owned());
        async move { store.webauthn_ceremony(id, user, kind, at).await.unwrap() }
    };
    assert_eq!(
        get("wr_1", alice.id, "registration", now).await,
        Some(c.clone())
    );
    assert_eq!(get("wr_1", bob.id, "registration", now).await, None);
    assert_eq!(get("wr_1", alice.id, "authentication", now).await, None);
    assert_eq!(
        get("wr_1", alice.id, "registration", Millis(now.0 + 60_000)).await,
        None,
        "expired"
    );
    assert_eq!(
        store
            .take_webauthn_ceremony("wr_1".into(), bob.id, "registration".into(), now)
            .await
            .unwrap(),
        None
    );
    assert_eq!(
        store
            .take_webauthn_ceremony("wr_1".into(), alice.id, "registration".into(), now)
            .await
            .unwrap(),
        Some(c)
    );
    assert_eq!(
        store
            .take_webauthn_ceremony("wr_1".into(), alice.id, "registration".into(), now)
            .await
            .unwrap(),
        None,
        "taken once"
    );
}

/// Retention: one purge step removes what `enclave_core::retention` allows (with reactions,
/// search entries and attachments, returning files nothing refers to any more), keeps what an
/// active hold covers and roots with replies, keeps a held message its author deleted (and its
/// file from the sweep) until the hold is released, drops the events that name removed
/// messages; policies, holds and runs round-trip.
async fn purge_all(
    store: &Arc<dyn Store>,
    channel: ChannelId,
    before: Millis,
) -> enclave_store::PurgeBatch {
    use enclave_store::PurgePhase;
    let mut total = enclave_store::PurgeBatch::default();
    for phase in [PurgePhase::Replies, PurgePhase::Roots] {
        let mut after = None;
        loop {
            let b = store
                .purge_messages(channel, before, phase, after, 2)
                .await
                .unwrap();
            total.messages += b.messages;
            total.held += b.held;
            total.files.extend(b.files);
            after = b.last;
            if b.examined < 2 {
                break;
            }
        }
    }
    total
}

pub async fn retention(store: Arc<dyn Store>) {
    use enclave_core::retention::{ChannelPolicy, GlobalPolicy, HoldTarget};
    let alice = user(&store, "alice").await;
    let bob = user(&store, "bob").await;
    let ch = public(&store, "general", &alice).await;
    join(&store, ch, &bob).await;
    let later = Millis(Millis::now().0 + 86_400_000);

    let f1 = store
        .create_file(new_file(&alice, "a.png", 10), None)
        .await
        .unwrap();
    let m1 = store
        .post_message(
            NewMessage {
                file_ids: vec![f1.id],
                ..msg(ch, &alice, "quokka one")
            },
            rule(&alice, Action::Post),
        )
        .await
        .unwrap()
        .message;
    let m2 = post(&store, ch, &bob, "quokka root").await;
    let m3 = reply(&store, &m2, &alice, "quokka reply").await;
    let m4 = post(&store, ch, &bob, "quokka four").await;
    store
        .set_reaction(m4.id, alice.id, "👍".into(), true, allow())
        .await
        .unwrap();
    let m4_events = last_position(&store).await;

    // Alice's messages are held: her reply keeps the root; only bob's plain message goes.
    let hold = store
        .create_legal_hold(
            HoldTarget::User(alice.id),
            Millis(0),
            None,
            "case".into(),
            bob.id,
        )
        .await
        .unwrap();
    let b = purge_all(&store, ch, later).await;
    assert_eq!((b.messages, b.held, b.files.len()), (1, 2, 0));
    assert!(store.message(m4.id).await.unwrap().is_none());
    for m in [&m1, &m2, &m3] {
        assert!(store.message(m.id).await.unwrap().is_some());
    }
    assert!(find(&store, &bob, "four").await.is_empty());
    assert_eq!(find(&store, &bob, "quokka").await.len(), 3);
    assert!(store.first_position().await.unwrap() > m4_events);

    // Released: the reply, then its root and the message with the file go; the file comes back.
    store.release_legal_hold(hold.id, bob.id).await.unwrap();
    assert!(matches!(
        domain_err(store.release_legal_hold(hold.id, bob.id).await),
        DomainError::Conflict(_)
    ));
    assert!(matches!(
        domain_err(store.release_legal_hold(999_999, bob.id).await),
        DomainError::NotFound(Entity::LegalHold)
    ));
    let b = purge_all(&store, ch, later).await;
    assert_eq!((b.messages, b.held), (3, 0));
    assert_eq!(
        b.files
            .iter()
            .map(|f| f.object.as_str())
            .collect::<Vec<_>>(),
        ["obj/a.png"]
    );
    assert!(store.file(f1.id).await.unwrap().is_none());
    assert!(find(&store, &bob, "quokka").await.is_empty());

    // A held message deleted by its author keeps its text and file until the hold goes.
    let held = store
        .create_legal_hold(
            HoldTarget::Channel(ch),
            Millis(0),
            None,
            "case 2".into(),
            bob.id,
        )
        .await
        .unwrap();
    let f2 = store
        .create_file(new_file(&bob, "b.png", 10), None)
        .await
        .unwrap();
    let m5 = store
        .post_message(
            NewMessage {
                file_ids: vec![f2.id],
                ..msg(ch, &bob, "quokka evidence")
            },
            rule(&bob, Action::Post),
        )
        .await
        .unwrap()
        .message;
    store.delete_message(m5.id, bob.id, allow()).await.unwrap();
    assert_eq!(
        store.held_message_text(m5.id).await.unwrap().as_deref(),
        Some("quokka evidence")
    );
    assert!(store.sweep_files(later, 100).await.unwrap().is_empty());
    assert_eq!(purge_all(&store, ch, later).await.held, 1);
    store.release_legal_hold(held.id, bob.id).await.unwrap();
    let b = purge_all(&store, ch, later).await;
    assert_eq!((b.messages, b.files.len()), (1, 1));
    assert_eq!(store.held_message_text(m5.id).await.unwrap(), None);
    // An old cutoff removes nothing.
    let m6 = post(&store, ch, &bob, "quokka new").await;
    assert_eq!(purge_all(&store, ch, Millis(0)).await.messages, 0);
    assert!(store.message(m6.id).await.unwrap().is_some());

    // Policies.
    assert_eq!(store.retention_policy().await.unwrap(), None);
    let p = GlobalPolicy {
        message_days: Some(30),
        dm_days: None,
    };
    store.set_retention_policy(p, alice.id).await.unwrap();
    assert_eq!(store.retention_policy().await.unwrap(), Some(p));
    store
        .set_channel_retention(ch, Some(ChannelPolicy::KeepForever), alice.id)
        .await
        .unwrap();
    let list = store.channel_retentions().await.unwrap();
    assert_eq!(list.len(), 1);
    assert_eq!(
        (list[0].channel_id, list[0].policy, list[0].kind),
        (ch, ChannelPolicy::KeepForever, ChannelKind::Public)
    );
    store
        .set_channel_retention(ch, Some(ChannelPolicy::Days(5)), alice.id)
        .await
        .unwrap();
    assert_eq!(
        store.channel_retentions().await.unwrap()[0].policy,
        ChannelPolicy::Days(5)
    );
    store
        .set_channel_retention(ch, None, alice.id)
        .await
        .unwrap();
    assert!(store.channel_retentions().await.unwrap().is_empty());
    let (dm, _) = store.open_direct(alice.id, vec![bob.id]).await.unwrap();
    assert!(matches!(
        domain_err(
            store
                .set_channel_retention(dm.id, Some(ChannelPolicy::Days(1)), alice.id)
                .await
        ),
        DomainError::Invalid { .. }
    ));
    assert!(matches!(
        domain_err(
            store
                .set_channel_retention(ChannelId(999_999), None, alice.id)
                .await
        ),
        DomainError::NotFound(Entity::Channel)
    ));
    assert!(matches!(
        domain_err(
            store
                .create_legal_hold(
                    HoldTarget::User(UserId(999_999)),
                    Millis(0),
                    None,
                    "x".into(),
                    bob.id
                )
                .await
        ),
        DomainError::NotFound(Entity::User)
    ));
    let kinds: Vec<_> = store
        .retention_channels()
        .await
        .unwrap()
        .into_iter()
        .map(|(_, k)| k)
        .collect();
    assert!(kinds.contains(&ChannelKind::Dm) && kinds.contains(&ChannelKind::Public));
    let holds = store.legal_holds().await.unwrap();
    assert_eq!(holds.len(), 2);
    assert_eq!(holds[0].id, held.id, "newest first");
    assert!(holds.iter().all(|h| h.released_at.is_some()));

    // Runs.
    assert_eq!(store.last_retention_run().await.unwrap(), None);
    let run = enclave_store::RetentionRun {
        id: 0,
        started_at: Millis(1),
        finished_at: Millis(2),
        started_by: Some(alice.id),
        messages: 4,
        files: 1,
        held: 2,
        channels: vec![enclave_store::ChannelPurge {
            channel_id: ch,
            name: None,
            kind: None,
            messages: 4,
            files: 1,
            held: 2,
        }],
    };
    let id = store.record_retention_run(run.clone()).await.unwrap();
    let got = store.last_retention_run().await.unwrap().unwrap();
    assert_eq!(got.id, id);
    assert_eq!((got.messages, got.files, got.held), (4, 1, 2));
    assert_eq!(got.channels.len(), 1);
    assert_eq!(got.channels[0].name.as_deref(), Some("general"));
    assert_eq!(got.channels[0].kind, Some(ChannelKind::Public));
}

/// Job leases: one holder at a time; the holder renews; another takes it only once it ran out;
/// leases of different jobs are independent.
async fn job_leases(store: Arc<dyn Store>) {
    let t = Millis(1_000_000);
    assert!(
        store
            .take_lease("ldap-sync-corp", "node-a", t, Millis(t.0 + 60_000))
            .await
            .unwrap()
    );
    // Another node, while the lease runs: refused, and the lease stays node-a's.
    assert!(
        !store
            .take_lease(
                "ldap-sync-corp",
                "node-b",
                Millis(t.0 + 59_999),
                Millis(t.0 + 120_000)
            )
            .await
            .unwrap()
    );
    // The holder renews before it runs out.
    assert!(
        store
            .take_lease(
                "ldap-sync-corp",
                "node-a",
                Millis(t.0 + 30_000),
                Millis(t.0 + 90_000)
            )
            .await
            .unwrap()
    );
    // The renewed lease holds node-b off past the first term...
    assert!(
        !store
            .take_lease(
                "ldap-sync-corp",
                "node-b",
                Millis(t.0 + 60_000),
                Millis(t.0 + 120_000)
            )
            .await
            .unwrap()
    );
    // ...and another job's lease is its own.
    assert!(
        store
            .take_lease("expire-guests", "node-b", t, Millis(t.0 + 60_000))
            .await
            .unwrap()
    );
    // Once it ran out, node-b takes it, and node-a is the one refused.
    assert!(
        store
            .take_lease(
                "ldap-sync-corp",
                "node-b",
                Millis(t.0 + 90_000),
                Millis(t.0 + 150_000)
            )
            .await
            .unwrap()
    );
    assert!(
        !store
            .take_lease(
                "ldap-sync-corp",
                "node-a",
                Millis(t.0 + 100_000),
                Millis(t.0 + 160_000)
            )
            .await
            .unwrap()
    );

    // Many takers at once: exactly one wins.
    let mut tasks = Vec::new();
    for i in 0..8 {
        let store = store.clone();
        tasks.push(tokio::spawn(async move {
            store
                .take_lease("race", &format!("node-{i}"), t, Millis(t.0 + 60_000))
                .await
                .unwrap()
        }));
    }
    let mut winners = 0;
    for task in tasks {
        winners += usize::from(task.await.unwrap());
    }
    assert_eq!(winners, 1, "exactly one of eight nodes takes a free lease");
}

// ---------------------------------------------------------------------------------------------
// Backends

/// The embedded backend: each check gets a fresh database file in its own directory.
mod sqlite {
    use std::sync::Arc;
    use std::time::Duration;

    use enclave_store::Store;
    use enclave_store::sqlite::{Options, SqliteStore};

    fn open(dir: &tempfile::TempDir) -> Arc<dyn Store> {
        Arc::new(SqliteStore::open(&dir.path().join("enclave.db"), Options::default()).unwrap())
    }

    macro_rules! conformance {
        ($($name:ident),* $(,)?) => {$(
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn $name() {
                let dir = tempfile::tempdir().unwrap();
                super::$name(open(&dir)).await;
            }
        )*};
    }

    conformance!(
        second_factors,
        users_and_tokens,
        deactivation_revokes_every_token,
        text_in_any_script,
        channels_and_members,
        channel_names_are_unique_among_public_channels,
        direct_conversations,
        posting_and_idempotency,
        history_pages,
        threads,
        edit_delete,
        reactions,
        pins,
        read_state_and_counts,
        guards_run_inside_transaction,
        events_are_ordered_and_gap_free,
        pruning_keeps_positions,
        concurrent_posts,
        files,
        retention,
        file_previews,
        search_messages,
        search_follows_edits_and_deletes,
        search_channels,
        audit_log_is_one_chain,
        signin_throttles,
        roles_and_guests,
        departments,
        single_sign_on,
        ldap_links_and_sync_runs,
        job_leases,
        webauthn_keys_and_ceremonies,
    );

    /// Audited writes and their entries commit together; a trigger that refuses inserts into
    /// the audit log (made through a second connection to the file) makes them fail whole.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn audited_writes_commit_with_their_entries() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("enclave.db");
        super::audited_writes_commit_with_their_entries(open(&dir), async move {
            let c = rusqlite::Connection::open(&path).unwrap();
            c.busy_timeout(Duration::from_secs(10)).unwrap();
            c.execute_batch(
                "CREATE TRIGGER refuse_audit BEFORE INSERT ON audit_log
                 BEGIN SELECT RAISE(ABORT, 'audit refused'); END;",
            )
            .unwrap();
        })
        .await;
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn durable_across_reopen() {
        let dir = tempfile::tempdir().unwrap();
        let store = open(&dir);
        super::durable_across_reopen(store, || open(&dir)).await;
    }

    /// The server and the admin CLI on one file append to one audit chain.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn audit_appends_from_several_nodes_form_one_chain() {
        let dir = tempfile::tempdir().unwrap();
        super::audit_appends_from_several_nodes_form_one_chain(vec![open(&dir), open(&dir)]).await;
    }

    /// Two stores on one file (the server and the admin CLI, say); one of them closes midway.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn nodes_share_one_log() {
        let dir = tempfile::tempdir().unwrap();
        let nodes = vec![open(&dir), open(&dir)];
        let first = nodes[0].clone();
        super::nodes_share_one_log(nodes, async move {
            tokio::time::sleep(Duration::from_millis(30)).await;
            first.close().await;
        })
        .await;
    }
}

// ---------------------------------------------------------------------------------------------
// Second factors

pub async fn second_factors(store: Arc<dyn Store>) {
    use enclave_core::signin::{Policy, Requirement};
    use enclave_store::SignInChallenge;
    let alice = user(&store, "alice").await;
    let bob = user(&store, "bob").await;
    assert_eq!(store.totp(alice.id).await.unwrap(), None);
    assert!(store.totp_begin(alice.id, vec![1; 20]).await.unwrap());
    // A pending set-up may be restarted with a new secret.
    assert!(store.totp_begin(alice.id, vec![2; 20]).await.unwrap());
    let pending = store.totp(alice.id).await.unwrap().unwrap();
    assert_eq!(
        (pending.secret.clone(), pending.confirmed_at),
        (vec![2; 20], None)
    );
    // Steps are only accepted for a confirmed enrolment.
    assert!(!store.totp_accept(alice.id, 5).await.unwrap());
    let codes: Vec<[u8; 32]> = (0u8..10).map(|i| [i; 32]).collect();
    assert!(
        store
            .totp_confirm(alice.id, 100, codes.clone())
            .await
            .unwrap()
    );
    assert!(
        !store
            .totp_confirm(alice.id, 101, codes.clone())
            .await
            .unwrap()
    );
    // A confirmed enrolment is not replaced by a new set-up.
    assert!(!store.totp_begin(alice.id, vec![3; 20]).await.unwrap());
    let t = store.totp(alice.id).await.unwrap().unwrap();
    assert_eq!((t.secret.clone(), t.last_step), (vec![2; 20], Some(100)));
    assert!(t.confirmed_at.is_some());
    // The secret is replaced only while it is the one expected (compare-and-set).
    assert_eq!(
        store.totp_secrets().await.unwrap(),
        vec![(alice.id, vec![2; 20])]
    );
    assert!(
        !store
            .totp_replace_secret(alice.id, vec![9; 20], vec![7; 60])
            .await
            .unwrap()
    );
    assert!(
        store
            .totp_replace_secret(alice.id, vec![2; 20], vec![7; 60])
            .await
            .unwrap()
    );
    assert_eq!(
        store.totp(alice.id).await.unwrap().unwrap().secret,
        vec![7; 60]
    );
    assert!(
        store
            .totp_replace_secret(alice.id, vec![7; 60], vec![2; 20])
            .await
            .unwrap()
    );
    assert!(
        !store
            .totp_replace_secret(bob.id, vec![2; 20], vec![7; 60])
            .await
            .unwrap()
    );
    // Compare-and-set on the step: only newer steps, each once.
    assert!(!store.totp_accept(alice.id, 100).await.unwrap());
    assert!(!store.totp_accept(alice.id, 99).await.unwrap());
    assert!(store.totp_accept(alice.id, 101).await.unwrap());
    assert!(!store.totp_accept(alice.id, 101).await.unwrap());
    // Recovery codes: each once, per account.
    assert_eq!(store.recovery_codes_left(alice.id).await.unwrap(), 10);
    assert!(!store.use_recovery_code(bob.id, [3; 32]).await.unwrap());
    assert!(store.use_recovery_code(alice.id, [3; 32]).await.unwrap());
    assert!(!store.use_recovery_code(alice.id, [3; 32]).await.unwrap());
    assert!(!store.use_recovery_code(alice.id, [42; 32]).await.unwrap());
    assert_eq!(store.recovery_codes_left(alice.id).await.unwrap(), 9);
    store
        .replace_recovery_codes(alice.id, vec![[50; 32], [51; 32]])
        .await
        .unwrap();
    assert_eq!(store.recovery_codes_left(alice.id).await.unwrap(), 2);
    assert!(!store.use_recovery_code(alice.id, [4; 32]).await.unwrap());
    let listed = store.second_factor_enrolments().await.unwrap();
    assert_eq!(listed.len(), 1);
    assert_eq!((listed[0].user_id, listed[0].recovery_left), (alice.id, 2));
    assert!(listed[0].totp_since.is_some());
    assert_eq!(listed[0].webauthn_keys, 0);
    // Challenges: used once, never after they expire.
    let now = Millis::now();
    let ch = |user_id, expires_at| SignInChallenge {
        user_id,
        credential: "password".into(),
        enrol_only: false,
        expires_at,
        used_at: None,
    };
    store
        .create_challenge([1; 32], ch(alice.id, Millis(now.0 + 300_000)))
        .await
        .unwrap();
    store
        .create_challenge([2; 32], ch(bob.id, Millis(now.0 + 1)))
        .await
        .unwrap();
    let got = store.challenge([1; 32]).await.unwrap().unwrap();
    assert_eq!((got.user_id, got.used_at), (alice.id, None));
    assert_eq!(store.challenge([9; 32]).await.unwrap(), None);
    assert!(
        !store
            .use_challenge([2; 32], Millis(now.0 + 1))
            .await
            .unwrap()
    );
    assert!(store.use_challenge([1; 32], now).await.unwrap());
    assert!(!store.use_challenge([1; 32], now).await.unwrap());
    assert!(
        store
            .challenge([1; 32])
            .await
            .unwrap()
            .unwrap()
            .used_at
            .is_some()
    );
    // Expired challenges are deleted when new ones are made.
    store
        .create_challenge([3; 32], ch(bob.id, Millis(Millis::now().0 + 300_000)))
        .await
        .unwrap();
    tokio::time::sleep(Duration::from_millis(5)).await;
    store
        .create_challenge([4; 32], ch(bob.id, Millis(Millis::now().0 + 300_000)))
        .await
        .unwrap();
    assert_eq!(store.challenge([2; 32]).await.unwrap(), None);
    // Removing the second factors takes the codes with them.
    assert!(store.remove_second_factors(alice.id).await.unwrap());
    assert!(!store.remove_second_factors(alice.id).await.unwrap());
    assert_eq!(store.totp(alice.id).await.unwrap(), None);
    assert_eq!(store.recovery_codes_left(alice.id).await.unwrap(), 0);
    // The policy: none until set.
    assert_eq!(store.second_factor_policy().await.unwrap(), None);
    let p = Policy {
        require: Requirement::Admins,
        grace_days: 3,
        since: Millis(1234),
    };
    store.set_second_factor_policy(p).await.unwrap();
    assert_eq!(store.second_factor_policy().await.unwrap(), Some(p));
    let p2 = Policy {
        require: Requirement::Everyone,
        ..p
    };
    store.set_second_factor_policy(p2).await.unwrap();
    assert_eq!(store.second_factor_policy().await.unwrap(), Some(p2));
}

#[cfg(feature = "postgres")]
use enclave_store::testing as pg_server;

/// The PostgreSQL backend: each check gets a fresh database on this process's server.
#[cfg(feature = "postgres")]
mod postgres {
    use std::sync::Arc;
    use std::time::Duration;

    use enclave_store::postgres::{Options, PgStore, SEQUENCER_LOCK};
    use enclave_store::{EventLog, Lifecycle, Store};
    use sqlx_core::row::Row;
    use sqlx_postgres::{PgConnectOptions, Postgres};

    use super::pg_server;

    async fn open(db: &PgConnectOptions) -> PgStore {
        let options = Options {
            max_connections: 8,
            ..Options::default()
        };
        PgStore::open_with(db.clone(), options).await.unwrap()
    }

    macro_rules! conformance {
        ($($name:ident),* $(,)?) => {$(
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn $name() {
                let Some(db) = pg_server::fresh_database().await else { return };
                super::$name(Arc::new(open(&db).await)).await;
                pg_server::drop_database(&db).await;
            }
        )*};
    }

    conformance!(
        second_factors,
        users_and_tokens,
        deactivation_revokes_every_token,
        text_in_any_script,
        channels_and_members,
        channel_names_are_unique_among_public_channels,
        direct_conversations,
        posting_and_idempotency,
        history_pages,
        threads,
        edit_delete,
        reactions,
        pins,
        read_state_and_counts,
        guards_run_inside_transaction,
        events_are_ordered_and_gap_free,
        pruning_keeps_positions,
        concurrent_posts,
        files,
        retention,
        file_previews,
        search_messages,
        search_follows_edits_and_deletes,
        search_channels,
        audit_log_is_one_chain,
        signin_throttles,
        roles_and_guests,
        departments,
        single_sign_on,
        ldap_links_and_sync_runs,
        job_leases,
        webauthn_keys_and_ceremonies,
    );

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn durable_across_reopen() {
        let Some(db) = pg_server::fresh_database().await else {
            return;
        };
        let store: Arc<dyn Store> = Arc::new(open(&db).await);
        super::durable_across_reopen(store, || {
            let reopened = tokio::task::block_in_place(|| {
                tokio::runtime::Handle::current().block_on(open(&db))
            });
            Arc::new(reopened)
        })
        .await;
        pg_server::drop_database(&db).await;
    }

    /// Audited writes and their entries commit together; a trigger that refuses inserts into
    /// the audit log makes them fail whole.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn audited_writes_commit_with_their_entries() {
        let Some(db) = pg_server::fresh_database().await else {
            return;
        };
        let store = open(&db).await;
        let pool = store.pool().clone();
        super::audited_writes_commit_with_their_entries(Arc::new(store), async move {
            sqlx_core::query::query::<Postgres>(
                "CREATE TRIGGER refuse_audit BEFORE INSERT ON audit_log
                     FOR EACH ROW EXECUTE FUNCTION audit_log_append_only()",
            )
            .execute(&pool)
            .await
            .unwrap();
        })
        .await;
        pg_server::drop_database(&db).await;
    }

    /// Three nodes on one database append to one audit chain.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn audit_appends_from_several_nodes_form_one_chain() {
        let Some(db) = pg_server::fresh_database().await else {
            return;
        };
        let nodes: Vec<Arc<dyn Store>> = vec![
            Arc::new(open(&db).await),
            Arc::new(open(&db).await),
            Arc::new(open(&db).await),
        ];
        super::audit_appends_from_several_nodes_form_one_chain(nodes.clone()).await;
        for n in nodes {
            n.close().await;
        }
        pg_server::drop_database(&db).await;
    }

    /// Ends the session holding the sequencer lock, as a crash of that node would; returns how
    /// many sessions were ended.
    async fn kill_sequencer_session(store: &PgStore) -> u64 {
        sqlx_core::query::query::<Postgres>(
            "SELECT pg_terminate_backend(l.pid) FROM pg_locks l
              WHERE l.locktype = 'advisory' AND l.granted AND l.objsubid = 2
                AND l.classid::int8 = $1 AND l.objid::int8 = $2
                AND l.database = (SELECT oid FROM pg_database WHERE datname = current_database())",
        )
        .bind(i64::from(SEQUENCER_LOCK.0))
        .bind(i64::from(SEQUENCER_LOCK.1))
        .fetch_all(store.pool())
        .await
        .unwrap()
        .iter()
        .filter(|r| r.try_get::<bool, _>(0).unwrap())
        .count() as u64
    }

    /// Three nodes on one database, writing at once. Midway the sequencer's session is ended
    /// (a crash of its node, as the database sees it), and later the node that took over is
    /// closed: another takes over each time, and positions stay gap-free and in order.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn nodes_share_one_log() {
        let Some(db) = pg_server::fresh_database().await else {
            return;
        };
        let nodes = vec![open(&db).await, open(&db).await, open(&db).await];
        let handles = nodes.clone();
        let stores: Vec<Arc<dyn Store>> = nodes
            .into_iter()
            .map(|s| Arc::new(s) as Arc<dyn Store>)
            .collect();
        super::nodes_share_one_log(stores, async move {
            tokio::time::sleep(Duration::from_millis(300)).await;
            assert_eq!(kill_sequencer_session(&handles[1]).await, 1);
            // Someone takes over (the same node within 100 ms, or another within a second).
            let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
            let leader = loop {
                if let Some(i) = handles.iter().position(PgStore::is_sequencer) {
                    break i;
                }
                assert!(tokio::time::Instant::now() < deadline, "nobody took over");
                tokio::time::sleep(Duration::from_millis(10)).await;
            };
            tokio::time::sleep(Duration::from_millis(200)).await;
            handles[leader].close().await;
            assert!(!handles[leader].is_sequencer());
        })
        .await;
        pg_server::drop_database(&db).await;
    }

    /// Several nodes starting together on a new database: one applies the migrations, the
    /// others wait for it (sqlx's migrator holds an advisory lock); all of them work.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn nodes_start_together() {
        let Some(db) = pg_server::fresh_database().await else {
            return;
        };
        let mut set = tokio::task::JoinSet::new();
        for _ in 0..4 {
            let db = db.clone();
            set.spawn(async move { open(&db).await });
        }
        let mut stores = Vec::new();
        while let Some(j) = set.join_next().await {
            stores.push(j.unwrap());
        }
        for s in &stores {
            s.ping().await.unwrap();
            assert_eq!(s.last_position().await.unwrap(), 0);
        }
        let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
        while !stores.iter().any(PgStore::is_sequencer) {
            assert!(tokio::time::Instant::now() < deadline, "no sequencer");
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        // Exactly one sequencer.
        assert_eq!(stores.iter().filter(|s| s.is_sequencer()).count(), 1);
        drop(stores);
        pg_server::drop_database(&db).await;
    }
}
