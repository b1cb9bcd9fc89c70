//! Two nodes exchange signals through a real nats-server.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::time::Duration;

use enclave_bus::testing::NatsServer;
use enclave_bus::{Bus, NatsBus, Signal};
use enclave_core::{ChannelId, Presence, UserId};

#[tokio::test]
async fn nodes_hear_each_other_but_not_themselves() {
    let Some(nats) = NatsServer::start_or_skip("nodes_hear_each_other_but_not_themselves") else {
        return;
    };
    let a = NatsBus::connect(&nats.url, "test").await.unwrap();
    let b = NatsBus::connect(&nats.url, "test").await.unwrap();
    let other_cluster = NatsBus::connect(&nats.url, "elsewhere").await.unwrap();
    let mut a_rx = a.subscribe();
    let mut b_rx = b.subscribe();
    let mut other_rx = other_cluster.subscribe();
    assert_ne!(a.node_id(), b.node_id());

    a.publish(Signal::Committed { position: 17 }).await.unwrap();
    let got = tokio::time::timeout(Duration::from_secs(5), b_rx.recv())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(got.from, a.node_id());
    assert_eq!(got.signal, Signal::Committed { position: 17 });

    let typing = Signal::Typing {
        user_id: UserId(1),
        channel_id: ChannelId(2),
        thread_root_id: None,
    };
    b.publish(typing.clone()).await.unwrap();
    let presence = Signal::Presence {
        users: vec![(UserId(5), Presence::Away)],
    };
    b.publish(presence.clone()).await.unwrap();
    let got = tokio::time::timeout(Duration::from_secs(5), a_rx.recv())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(got.signal, typing);
    let got = tokio::time::timeout(Duration::from_secs(5), a_rx.recv())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(got.signal, presence);

    // A node never hears its own signals, and other clusters hear nothing.
    assert!(
        tokio::time::timeout(Duration::from_millis(300), b_rx.recv())
            .await
            .is_err()
    );
    assert!(
        tokio::time::timeout(Duration::from_millis(100), other_rx.recv())
            .await
            .is_err()
    );
}
