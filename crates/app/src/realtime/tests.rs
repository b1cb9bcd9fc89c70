//! The hub against a real SQLite store, on paused time: presence going idle, typing's rate
//! limit, a slow consumer, and live delivery agreeing with replay on who sees what.

#![allow(clippy::unwrap_used)]

use std::sync::Arc;
use std::time::Duration;

use enclave_bus::LocalBus;
use enclave_core::{
    Channel, ChannelKind, ChannelRole, Entity, Error as DomainError, EventKind, Presence, TokenId,
    UserId,
};
use enclave_store::sqlite::{Options, SqliteStore};
use enclave_store::{NewChannel, NewUser, Store};
use tokio::time::Instant;

use super::{CloseReason, Hub, Outbound, RealtimeConfig, Session};
use crate::accounts::{Authed, Credential};
use crate::error::Error;
use crate::feed::EventFeed;
use crate::files::Previews;

struct Fixture {
    _dir: tempfile::TempDir,
    store: Arc<dyn Store>,
    hub: Arc<Hub>,
    _feed: Arc<EventFeed>,
}

async fn new_user(store: &Arc<dyn Store>, name: &str) -> Authed {
    let user = store
        .create_user(NewUser {
            username: name.into(),
            display_name: name.into(),
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
    Authed {
        actor: enclave_core::Actor::for_user(&user),
        user,
        credential: Credential::Session(TokenId(1)),
    }
}

async fn new_channel(store: &Arc<dyn Store>, name: &str, members: &[&Authed]) -> Channel {
    let creator = members[0].user.id;
    let channel = store
        .create_channel(NewChannel {
            kind: ChannelKind::Public,
            name: name.into(),
            name_key: name.into(),
            topic: String::new(),
            purpose: String::new(),
            creator_id: creator,
            announcement: false,
        })
        .await
        .unwrap();
    for m in &members[1..] {
        add_member(store, &channel, creator, m.user.id).await;
    }
    channel
}

async fn add_member(store: &Arc<dyn Store>, channel: &Channel, actor: UserId, user: UserId) {
    store
        .add_member(
            channel.id,
            actor,
            user,
            ChannelRole::Member,
            Box::new(|_| Ok(())),
        )
        .await
        .unwrap();
}

/// A store in a temporary folder; the hub starts after `setup` has written what it needs, so
/// none of the setup's events reach the sessions.
async fn start<T>(
    config: RealtimeConfig,
    setup: impl AsyncFnOnce(&Arc<dyn Store>) -> T,
) -> (Fixture, T) {
    let dir = tempfile::tempdir().unwrap();
    let store: Arc<dyn Store> =
        Arc::new(SqliteStore::open(&dir.path().join("db"), Options::default()).unwrap());
    let made = setup(&store).await;
    let bus = LocalBus::new();
    let feed = EventFeed::start(store.clone(), bus.clone()).await.unwrap();
    let previews = Previews::new(enclave_files::KeyRing::new("k1", [7; 32]).unwrap());
    let hub = Hub::start(store.clone(), previews, &feed, bus, config)
        .await
        .unwrap();
    let fixture = Fixture {
        _dir: dir,
        store,
        hub,
        _feed: feed,
    };
    (fixture, made)
}

fn drain(s: &mut Session) -> Vec<Outbound> {
    let mut out = Vec::new();
    while let Ok(item) = s.rx.try_recv() {
        out.push(item);
    }
    out
}

fn presence_of(item: &Outbound) -> Option<(UserId, Presence)> {
    match item {
        Outbound::Presence(p) => Some((p.user_id, p.presence)),
        _ => None,
    }
}

#[tokio::test]
async fn a_user_goes_away_after_idle_and_comes_back_with_activity() {
    let idle = Duration::from_secs(60);
    let config = RealtimeConfig {
        idle,
        ..RealtimeConfig::default()
    };
    let (f, (a, b)) = start(config, async |store| {
        (new_user(store, "a").await, new_user(store, "b").await)
    })
    .await;
    let sa = f.hub.connect(&a).await.unwrap();
    let mut sb = f.hub.connect(&b).await.unwrap();
    let now = f.hub.watch_presence(sb.id, vec![a.user.id]).await.unwrap();
    assert_eq!(now[0].presence, Presence::Online);

    tokio::time::pause();
    f.hub.activity(sa.id);
    assert!(drain(&mut sb).is_empty());
    let t0 = Instant::now();
    // The presence clock ticks every 5 s here; until `idle` has passed, nothing changes.
    tokio::time::sleep(idle - Duration::from_millis(1)).await;
    assert!(drain(&mut sb).is_empty());
    let away = sb.rx.recv().await.unwrap();
    let waited = t0.elapsed();
    assert_eq!(presence_of(&away), Some((a.user.id, Presence::Away)));
    assert!(
        waited >= idle && waited <= idle + super::presence::clock_period(idle),
        "away after {waited:?}"
    );
    let rest = f.hub.presence(&[a.user.id]).await.unwrap();
    assert_eq!(rest[0].presence, Presence::Away);

    // Any frame from the client makes the user present again, at once.
    f.hub.activity(sa.id);
    let back: Vec<_> = drain(&mut sb).iter().filter_map(presence_of).collect();
    assert_eq!(back, vec![(a.user.id, Presence::Online)]);

    // The last session closing makes the user offline.
    drop(sa);
    let gone: Vec<_> = drain(&mut sb).iter().filter_map(presence_of).collect();
    assert_eq!(gone, vec![(a.user.id, Presence::Offline)]);
}

#[tokio::test]
async fn typing_is_relayed_to_other_members_at_most_once_per_period() {
    let every = Duration::from_secs(2);
    let config = RealtimeConfig {
        typing_every: every,
        ..RealtimeConfig::default()
    };
    let (f, (a, b, c, channel, elsewhere)) = start(config, async |store| {
        let a = new_user(store, "a").await;
        let b = new_user(store, "b").await;
        let c = new_user(store, "c").await;
        let channel = new_channel(store, "team", &[&a, &b]).await;
        let elsewhere = new_channel(store, "elsewhere", &[&c]).await;
        (a, b, c, channel, elsewhere)
    })
    .await;
    let mut sa = f.hub.connect(&a).await.unwrap();
    let mut sb = f.hub.connect(&b).await.unwrap();
    let mut sc = f.hub.connect(&c).await.unwrap();
    tokio::time::pause();

    let typing_of = |items: Vec<Outbound>| -> Vec<UserId> {
        items
            .iter()
            .filter_map(|i| match i {
                Outbound::Typing {
                    channel_id,
                    user_id,
                    ..
                } if *channel_id == channel.id => Some(*user_id),
                _ => None,
            })
            .collect()
    };
    f.hub.typing(sa.id, channel.id, None).unwrap();
    assert_eq!(typing_of(drain(&mut sb)), vec![a.user.id]);
    assert_eq!(
        typing_of(drain(&mut sa)),
        vec![],
        "not echoed to the typist"
    );
    assert!(drain(&mut sc).is_empty(), "not to non-members");

    // Within the period: accepted, not relayed.
    f.hub.typing(sa.id, channel.id, None).unwrap();
    tokio::time::advance(every - Duration::from_millis(1)).await;
    f.hub.typing(sa.id, channel.id, None).unwrap();
    assert_eq!(typing_of(drain(&mut sb)), vec![]);
    // The limit is per user: b's notice goes out.
    f.hub.typing(sb.id, channel.id, None).unwrap();
    assert_eq!(typing_of(drain(&mut sa)), vec![b.user.id]);
    // A period after the last relayed notice, the next one is relayed.
    tokio::time::advance(Duration::from_millis(1)).await;
    f.hub.typing(sa.id, channel.id, None).unwrap();
    assert_eq!(typing_of(drain(&mut sb)), vec![a.user.id]);

    // A channel one is not a member of does not exist, for typing.
    let err = f.hub.typing(sa.id, elsewhere.id, None).unwrap_err();
    assert!(
        matches!(err, Error::Domain(DomainError::NotFound(Entity::Channel))),
        "{err:?}"
    );
}

#[tokio::test]
async fn a_session_that_does_not_drain_its_queue_is_closed_as_a_slow_consumer() {
    let config = RealtimeConfig {
        queue_len: 4,
        ..RealtimeConfig::default()
    };
    let (f, a) = start(config, async |store| new_user(store, "a").await).await;
    let mut sa = f.hub.connect(&a).await.unwrap();
    tokio::time::pause();
    // New accounts are events for everyone: six of them overflow a queue of four.
    for i in 0..6 {
        new_user(&f.store, &format!("n{i}")).await;
    }
    sa.closed.changed().await.unwrap();
    assert_eq!(*sa.closed.borrow(), Some(CloseReason::SlowConsumer));
    let queued: Vec<EventKind> = drain(&mut sa)
        .iter()
        .filter_map(|i| match i {
            Outbound::Event(env) => Some(env.event.kind),
            _ => None,
        })
        .collect();
    assert_eq!(
        queued,
        vec![EventKind::UserCreated; 4],
        "the queue holds the first four"
    );
}

/// Who receives each event live is who may read it back later: both follow
/// `Event::audience`.
#[tokio::test]
async fn live_delivery_and_replay_reach_the_same_users() {
    let (f, (a, b, c, channel)) = start(RealtimeConfig::default(), async |store| {
        let a = new_user(store, "a").await;
        let b = new_user(store, "b").await;
        let c = new_user(store, "c").await;
        let channel = new_channel(store, "team", &[&a, &b]).await;
        (a, b, c, channel)
    })
    .await;
    let start = f.hub.position();
    let mut sessions = Vec::new();
    for u in [&a, &b, &c] {
        sessions.push(f.hub.connect(u).await.unwrap());
    }
    // c joins, a reads, the channel changes, c leaves, the channel changes again.
    add_member(&f.store, &channel, a.user.id, c.user.id).await;
    f.store
        .remove_member(channel.id, a.user.id, c.user.id, Box::new(|_| Ok(())))
        .await
        .unwrap();
    let last = f.store.last_position().await.unwrap();
    while f.hub.position() < last {
        tokio::task::yield_now().await;
    }
    let mut seen = Vec::new();
    for (s, u) in sessions.iter_mut().zip([&a, &b, &c]) {
        let live: Vec<(i64, EventKind)> = drain(s)
            .iter()
            .filter_map(|i| match i {
                Outbound::Event(env) => Some((env.event.position, env.event.kind)),
                _ => None,
            })
            .collect();
        // Replay with the user's memberships as they are now, like a reconnecting client.
        let replayed: Vec<(i64, EventKind)> = f
            .hub
            .catch_up(&u.actor(), start, 100)
            .await
            .unwrap()
            .envelopes
            .iter()
            .map(|e| (e.event.position, e.event.kind))
            .collect();
        seen.push((live, replayed));
    }
    let kinds = |v: &Vec<(i64, EventKind)>| v.iter().map(|(_, k)| *k).collect::<Vec<_>>();
    use EventKind::{MemberAdded, MemberRemoved};
    // a and b are members throughout: they see both changes, live and replayed.
    for (live, replayed) in &seen[..2] {
        assert_eq!(kinds(live), vec![MemberAdded, MemberRemoved]);
        assert_eq!(live, replayed);
    }
    // c hears of their own addition and removal, live and replayed.
    let (live, replayed) = &seen[2];
    assert_eq!(kinds(live), vec![MemberAdded, MemberRemoved]);
    assert_eq!(live, replayed);
}

#[tokio::test]
async fn connections_past_the_per_user_and_per_address_limits_are_refused_until_one_closes() {
    let config = RealtimeConfig {
        max_sockets_per_user: 2,
        max_sockets_per_ip: 3,
        ..RealtimeConfig::default()
    };
    let (f, (a, b)) = start(config, async |store| {
        (new_user(store, "a").await, new_user(store, "b").await)
    })
    .await;
    let home: std::net::IpAddr = "192.0.2.1".parse().unwrap();
    let office: std::net::IpAddr = "192.0.2.2".parse().unwrap();
    let refused = |r: crate::Result<super::Admission>| {
        matches!(
            r,
            Err(Error::Domain(DomainError::RateLimited { retry_after_secs })) if retry_after_secs > 0
        )
    };

    let a1 = f.hub.admit(a.user.id, home).unwrap();
    let a2 = f.hub.admit(a.user.id, office).unwrap();
    assert!(
        refused(f.hub.admit(a.user.id, office)),
        "a third for one user"
    );
    assert_eq!(f.hub.n_admitted(a.user.id), 2);

    // The address limit counts every user behind it.
    let b1 = f.hub.admit(b.user.id, home).unwrap();
    let _b2 = f.hub.admit(b.user.id, home).unwrap();
    drop(a2);
    assert!(
        refused(f.hub.admit(a.user.id, home)),
        "a fourth from one address"
    );

    // Closing one frees its place for the same user and address.
    drop(b1);
    let _a3 = f.hub.admit(a.user.id, home).unwrap();
    drop(a1);
    assert_eq!(f.hub.n_admitted(a.user.id), 1);

    // 0 means no limit.
    let (g, c) = start(
        RealtimeConfig {
            max_sockets_per_user: 0,
            max_sockets_per_ip: 0,
            ..RealtimeConfig::default()
        },
        async |store| new_user(store, "c").await,
    )
    .await;
    let many: Vec<_> = (0..100)
        .map(|_| g.hub.admit(c.user.id, home).unwrap())
        .collect();
    assert_eq!(g.hub.n_admitted(c.user.id), 100);
    drop(many);
    assert_eq!(g.hub.n_admitted(c.user.id), 0);
}
