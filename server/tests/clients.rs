//! `GetClients`, `GetClient` and `GetMe` as the SDK reads them: every open
//! connection, logged in or not, with its user, address, transport and the
//! groups it joined, kept current as connections log in, join, leave and go.

mod common;

use std::{net::SocketAddr, sync::Arc};

use iggy::prelude::*;
use rustok_iggy_testkit::{eventually, MemoryBackend};

/// The default root user's id.
const ROOT: u32 = 0;

fn client_address(listed: &str, server: SocketAddr) -> SocketAddr {
    let address: SocketAddr = listed.parse().unwrap();
    assert!(address.ip().is_loopback(), "{address}");
    assert_ne!(address.port(), server.port(), "the client's end, not ours");
    address
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn clients_are_listed_with_user_address_transport_and_groups() {
    let server = common::start(Arc::new(MemoryBackend::new())).await;
    let addr = server.local_addr();
    let admin = common::client(addr).await;
    let (stream, topic) = common::create_orders(&admin, "app").await;
    let group = admin
        .create_consumer_group(&stream, &topic, "billing")
        .await
        .unwrap();
    let stranger = common::anonymous(addr).await;
    let member = common::client(addr).await;

    // Not logged in: listed, with no user; a stranger may not list.
    assert_eq!(
        stranger.get_clients().await.unwrap_err().as_code(),
        IggyError::Unauthenticated.as_code()
    );
    let me = admin.get_me().await.unwrap();
    assert_eq!(me.user_id, Some(ROOT));
    assert_eq!(me.transport, "TCP");
    let listed = admin.get_clients().await.unwrap();
    assert_eq!(listed.len(), 3, "{listed:?}");
    let mut ids: Vec<u32> = listed.iter().map(|c| c.client_id).collect();
    ids.dedup();
    assert_eq!(ids.len(), 3, "ids are distinct and ascending: {listed:?}");
    // Sent as Apache Iggy's "no user" (`u32::MAX`), which the SDK reads
    // as `None`.
    let strangers: Vec<_> = listed.iter().filter(|c| c.user_id.is_none()).collect();
    assert_eq!(strangers.len(), 1, "{listed:?}");
    let addresses: Vec<SocketAddr> = listed
        .iter()
        .map(|c| client_address(&c.address, addr))
        .collect();
    assert!(addresses.windows(2).all(|w| w[0] != w[1]), "{addresses:?}");
    let own = listed.iter().find(|c| c.client_id == me.client_id).unwrap();
    assert_eq!(own.address, me.address);
    assert_eq!((own.user_id, own.consumer_groups_count), (Some(ROOT), 0));

    // Joining shows in every view of the member.
    member
        .join_consumer_group(&stream, &topic, &Identifier::numeric(group.id).unwrap())
        .await
        .unwrap();
    let member_id = member.get_me().await.unwrap().client_id;
    let details = admin.get_client(member_id).await.unwrap().unwrap();
    assert_eq!(details.consumer_groups_count, 1);
    let joined = &details.consumer_groups[0];
    let topic_details = admin.get_topic(&stream, &topic).await.unwrap().unwrap();
    assert_eq!(
        (joined.stream_id, joined.topic_id, joined.group_id),
        (
            admin.get_stream(&stream).await.unwrap().unwrap().id,
            topic_details.id,
            group.id
        )
    );
    assert_eq!(member.get_me().await.unwrap().consumer_groups.len(), 1);
    let counted = admin.get_clients().await.unwrap();
    let listed_member = counted.iter().find(|c| c.client_id == member_id).unwrap();
    assert_eq!(listed_member.consumer_groups_count, 1);

    // Leaving does too; an unknown id is "none", as on Apache Iggy.
    member
        .leave_consumer_group(&stream, &topic, &Identifier::numeric(group.id).unwrap())
        .await
        .unwrap();
    let details = admin.get_client(member_id).await.unwrap().unwrap();
    assert!(details.consumer_groups.is_empty(), "{details:?}");
    assert!(admin.get_client(u32::MAX - 1).await.unwrap().is_none());

    // A closed connection leaves the listing.
    stranger.disconnect().await.unwrap();
    member.disconnect().await.unwrap();
    eventually("the closed connections are no longer listed", || async {
        admin.get_clients().await.unwrap().len() == 1
    })
    .await;
    let stats = admin.get_stats().await.unwrap();
    assert_eq!(stats.clients_count, 1);
}
