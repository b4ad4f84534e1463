//! Users, permissions and personal access tokens through the official SDK.
//!
//! [`scenario`] drives one server through every user and token command and
//! checks each answer and error code. It runs against this crate's server
//! in `cargo test`, and against Apache Iggy with
//! `RUSTOK_IGGY_TEST_URL=iggy://root:password@host:port cargo test -p
//! rustok-iggy-server --test users -- --ignored` (see `docs/real-iggy.md`),
//! which is how the codes were checked to be Apache Iggy's own. The other
//! tests cover what only this server has: its users file, restarts, its
//! token limit setting.

mod common;

use std::{
    collections::BTreeMap,
    net::SocketAddr,
    path::Path,
    sync::Arc,
    time::{Duration, SystemTime, UNIX_EPOCH},
};

use iggy::prelude::*;
use rustok_iggy::config::Secret;
use rustok_iggy_server::{RunningServer, Server};
use rustok_iggy_testkit::MemoryBackend;

/// A server over a memory backend on a free loopback port, with root user
/// `root`/`root-pass`, keeping its users in `users` when given.
async fn start(users: Option<&Path>, max_tokens: u32) -> RunningServer {
    let mut builder = Server::builder(Arc::new(MemoryBackend::new()))
        .bind("127.0.0.1:0".parse().unwrap())
        .credentials("root", Secret::new("root-pass"))
        .max_tokens_per_user(max_tokens);
    if let Some(path) = users {
        builder = builder.users_path(path);
    }
    builder.start().await.unwrap()
}

/// A connected SDK client, logged in as nobody; it does not redial.
async fn anonymous(addr: &str) -> IggyClient {
    let client = IggyClient::builder()
        .with_tcp()
        .with_server_address(addr.to_owned())
        .with_reconnection_max_retries(Some(0))
        .build()
        .unwrap();
    client.connect().await.unwrap();
    client
}

/// A client logged in as `username`.
async fn login(addr: &str, username: &str, password: &str) -> IggyClient {
    let client = anonymous(addr).await;
    client.login_user(username, password).await.unwrap();
    client
}

/// The Iggy error code of a failed call.
fn code<T: std::fmt::Debug>(result: Result<T, IggyError>) -> u32 {
    result.expect_err("the call should fail").as_code()
}

fn id(n: u32) -> Identifier {
    Identifier::numeric(n).unwrap()
}

fn named(name: &str) -> Identifier {
    Identifier::named(name).unwrap()
}

/// Read on one stream only.
fn read_stream(stream: u32) -> Permissions {
    let mut streams = BTreeMap::new();
    streams.insert(
        stream as usize,
        StreamPermissions {
            read_stream: true,
            ..StreamPermissions::default()
        },
    );
    Permissions {
        global: GlobalPermissions::default(),
        streams: Some(streams),
    }
}

fn message() -> Vec<IggyMessage> {
    vec![IggyMessage::builder().payload("x".into()).build().unwrap()]
}

async fn send(client: &IggyClient, stream: u32) -> Result<(), IggyError> {
    client
        .send_messages(
            &id(stream),
            &named("t"),
            &Partitioning::partition_id(0),
            &mut message(),
        )
        .await
        .map(drop)
}

async fn poll(client: &IggyClient, stream: u32) -> Result<PolledMessages, IggyError> {
    client
        .poll_messages(
            &id(stream),
            &named("t"),
            Some(0),
            &Consumer::new(named("auth-test")),
            &PollingStrategy::offset(0),
            10,
            false,
        )
        .await
}

/// A name no earlier run on the same server used.
fn unique(prefix: &str) -> String {
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .subsec_nanos();
    format!("{prefix}-{}-{nanos}", std::process::id())
}

/// Every user and token command against the server at `addr` whose root
/// user is `root`/`root_password`, with Apache Iggy's answers.
async fn scenario(addr: &str, root: &str, root_password: &str) {
    let admin = login(addr, root, root_password).await;
    assert_eq!(admin.get_me().await.unwrap().user_id, Some(0));

    // Two streams, a topic with one partition in each.
    let (name_a, name_b) = (unique("auth-a"), unique("auth-b"));
    let a = admin.create_stream(&name_a).await.unwrap().id;
    let b = admin.create_stream(&name_b).await.unwrap().id;
    for stream in [a, b] {
        admin
            .create_topic(
                &id(stream),
                "t",
                &TopicCreateOptions {
                    partitions_count: Some(1),
                    ..Default::default()
                },
            )
            .await
            .unwrap();
        send(&admin, stream).await.unwrap();
    }

    // Create: the details come back; a taken name is refused.
    let reader_name = unique("reader");
    let created = admin
        .create_user(
            &reader_name,
            "reader-pass",
            UserStatus::Active,
            Some(read_stream(a)),
        )
        .await
        .unwrap();
    assert_eq!(created.username, reader_name);
    assert_eq!(created.status, UserStatus::Active);
    assert_eq!(created.permissions, Some(read_stream(a)));
    let reader_id = created.id;
    assert_ne!(reader_id, 0);
    assert_eq!(
        code(
            admin
                .create_user(&reader_name, "other-pass", UserStatus::Active, None)
                .await
        ),
        IggyError::UserAlreadyExists.as_code()
    );

    // Get by id and by name; a missing user is no user, not an error.
    let by_id = admin.get_user(&id(reader_id)).await.unwrap().unwrap();
    let by_name = admin.get_user(&named(&reader_name)).await.unwrap().unwrap();
    assert_eq!(by_id.username, reader_name);
    assert_eq!(by_name.id, reader_id);
    assert_eq!(by_name.permissions, Some(read_stream(a)));
    assert!(admin
        .get_user(&named(&unique("nobody")))
        .await
        .unwrap()
        .is_none());
    let all = admin.get_users().await.unwrap();
    assert!(all.iter().any(|u| u.id == 0 && u.username == root));
    assert!(all.iter().any(|u| u.id == reader_id));

    // The reader may read stream A, and nothing else.
    let reader = login(addr, &reader_name, "reader-pass").await;
    assert_eq!(reader.get_me().await.unwrap().user_id, Some(reader_id));
    assert!(reader.get_stream(&id(a)).await.unwrap().is_some());
    assert!(reader
        .get_topic(&id(a), &named("t"))
        .await
        .unwrap()
        .is_some());
    assert_eq!(poll(&reader, a).await.unwrap().messages.len(), 1);
    let unauthorized = IggyError::Unauthorized.as_code();
    assert_eq!(code(send(&reader, a).await), unauthorized);
    assert_eq!(code(poll(&reader, b).await), unauthorized);
    assert_eq!(code(send(&reader, b).await), unauthorized);
    assert_eq!(code(reader.get_stream(&id(b)).await), unauthorized);
    assert_eq!(code(reader.get_streams().await), unauthorized);
    assert_eq!(
        code(reader.create_stream(&unique("no")).await),
        unauthorized
    );
    assert_eq!(code(reader.delete_stream(&id(a)).await), unauthorized);
    assert_eq!(
        code(
            reader
                .create_topic(&id(a), "no", &TopicCreateOptions::default())
                .await
        ),
        unauthorized
    );
    assert_eq!(code(reader.get_stats().await), unauthorized);
    assert_eq!(code(reader.get_users().await), unauthorized);
    assert_eq!(code(reader.get_user(&id(0)).await), unauthorized);
    assert_eq!(
        code(
            reader
                .create_user(&unique("no"), "no-pass", UserStatus::Active, None)
                .await
        ),
        unauthorized
    );
    assert_eq!(code(reader.delete_user(&id(0)).await), unauthorized);
    assert_eq!(
        code(reader.update_permissions(&id(reader_id), None).await),
        unauthorized
    );
    assert_eq!(
        code(
            reader
                .change_password(&id(0), root_password, "x-pass")
                .await
        ),
        unauthorized
    );
    // A user may read itself; what does not exist is "not found" before
    // any permission is checked.
    assert_eq!(
        reader
            .get_user(&id(reader_id))
            .await
            .unwrap()
            .unwrap()
            .username,
        reader_name
    );
    assert!(reader
        .get_stream(&named(&unique("missing")))
        .await
        .unwrap()
        .is_none());
    // (Which "not found": this server answers 1009, stream not found;
    // Apache Iggy 0.9 answers 20, resource not found. Not "unauthorized".)
    let missing = code(
        reader
            .send_messages(
                &named(&unique("missing")),
                &named("t"),
                &Partitioning::partition_id(0),
                &mut message(),
            )
            .await,
    );
    assert!(
        [IggyError::StreamIdNotFound(named("x")).as_code(), 20].contains(&missing),
        "{missing}"
    );

    // Permissions apply at once, to sessions already logged in.
    let mut sender = read_stream(a);
    if let Some(streams) = sender.streams.as_mut() {
        if let Some(stream) = streams.get_mut(&(a as usize)) {
            stream.send_messages = true;
        }
    }
    admin
        .update_permissions(&id(reader_id), Some(sender.clone()))
        .await
        .unwrap();
    send(&reader, a).await.unwrap();
    assert_eq!(code(send(&reader, b).await), unauthorized);
    assert_eq!(
        admin
            .get_user(&id(reader_id))
            .await
            .unwrap()
            .unwrap()
            .permissions,
        Some(sender)
    );

    // Passwords: a user changes its own; the current one must be right.
    assert_eq!(
        code(
            reader
                .change_password(&id(reader_id), "wrong-pass", "new-pass")
                .await
        ),
        IggyError::InvalidCredentials.as_code()
    );
    reader
        .change_password(&id(reader_id), "reader-pass", "new-pass")
        .await
        .unwrap();
    let refused = anonymous(addr).await;
    assert_eq!(
        code(refused.login_user(&reader_name, "reader-pass").await),
        IggyError::InvalidCredentials.as_code()
    );
    login(addr, &reader_name, "new-pass").await;

    // Update: rename, deactivate; names stay unique.
    let renamed = unique("renamed");
    admin
        .update_user(
            &id(reader_id),
            Some(&renamed),
            None,
            &UserUpdateOptions::default(),
        )
        .await
        .unwrap();
    assert_eq!(
        code(
            admin
                .update_user(
                    &id(reader_id),
                    Some(root),
                    None,
                    &UserUpdateOptions::default()
                )
                .await
        ),
        IggyError::UserAlreadyExists.as_code()
    );
    assert_eq!(
        code(
            admin
                .update_user(
                    &id(90_000),
                    Some("whoever"),
                    None,
                    &UserUpdateOptions::default()
                )
                .await
        ),
        IggyError::ResourceNotFound(String::new()).as_code()
    );

    // Tokens: created once, listed by name, used to log in, deleted.
    let reader = login(addr, &renamed, "new-pass").await;
    let forever = reader
        .create_personal_access_token("forever", PersonalAccessTokenExpiry::NeverExpire)
        .await
        .unwrap()
        .token;
    let hour = IggyDuration::from(3_600_000_000);
    reader
        .create_personal_access_token("hour", PersonalAccessTokenExpiry::ExpireDuration(hour))
        .await
        .unwrap();
    assert_eq!(
        code(
            reader
                .create_personal_access_token("forever", PersonalAccessTokenExpiry::NeverExpire)
                .await
        ),
        IggyError::PersonalAccessTokenAlreadyExists(String::new(), 0).as_code()
    );
    let tokens = reader.get_personal_access_tokens().await.unwrap();
    let names: Vec<&str> = tokens.iter().map(|t| t.name.as_str()).collect();
    assert_eq!(names, ["forever", "hour"]);
    assert!(tokens[0].expiry_at.is_none());
    assert!(tokens[1].expiry_at.is_some());
    // Tokens are the caller's own: the admin sees none of them.
    assert!(admin
        .get_personal_access_tokens()
        .await
        .unwrap()
        .iter()
        .all(|t| t.name != "forever" && t.name != "hour"));

    let by_token = anonymous(addr).await;
    let identity = by_token
        .login_with_personal_access_token(&forever)
        .await
        .unwrap();
    assert_eq!(identity.user_id, reader_id);
    assert_eq!(by_token.get_me().await.unwrap().user_id, Some(reader_id));
    send(&by_token, a).await.unwrap();
    assert_eq!(code(by_token.get_users().await), unauthorized);
    let invalid_token = IggyError::InvalidPersonalAccessToken.as_code();
    assert_eq!(
        code(
            anonymous(addr)
                .await
                .login_with_personal_access_token("not-a-token")
                .await
        ),
        invalid_token
    );

    // An expired token cannot log in.
    let brief = reader
        .create_personal_access_token(
            "brief",
            PersonalAccessTokenExpiry::ExpireDuration(IggyDuration::from(1_000)),
        )
        .await
        .unwrap()
        .token;
    tokio::time::sleep(Duration::from_millis(50)).await;
    assert_eq!(
        code(
            anonymous(addr)
                .await
                .login_with_personal_access_token(&brief)
                .await
        ),
        invalid_token
    );

    reader
        .delete_personal_access_token("forever")
        .await
        .unwrap();
    assert_eq!(
        code(reader.delete_personal_access_token("forever").await),
        IggyError::ResourceNotFound(String::new()).as_code()
    );
    assert_eq!(
        code(
            anonymous(addr)
                .await
                .login_with_personal_access_token(&forever)
                .await
        ),
        invalid_token
    );

    // An inactive user cannot log in, with a password (as a wrong
    // password) or a token (unauthenticated); its open sessions go on.
    let hour_token = reader
        .create_personal_access_token("other", PersonalAccessTokenExpiry::NeverExpire)
        .await
        .unwrap()
        .token;
    admin
        .update_user(
            &id(reader_id),
            None,
            Some(UserStatus::Inactive),
            &UserUpdateOptions::default(),
        )
        .await
        .unwrap();
    assert_eq!(
        admin
            .get_user(&id(reader_id))
            .await
            .unwrap()
            .unwrap()
            .status,
        UserStatus::Inactive
    );
    assert_eq!(
        code(anonymous(addr).await.login_user(&renamed, "new-pass").await),
        IggyError::InvalidCredentials.as_code()
    );
    assert_eq!(
        code(
            anonymous(addr)
                .await
                .login_with_personal_access_token(&hour_token)
                .await
        ),
        IggyError::Unauthenticated.as_code()
    );
    send(&reader, a).await.unwrap();

    // The root user stays: not deleted, its permissions unchanged.
    assert_eq!(
        code(admin.delete_user(&id(0)).await),
        IggyError::CannotDeleteUser(0).as_code()
    );
    assert_eq!(
        code(admin.update_permissions(&id(0), None).await),
        IggyError::CannotChangePermissions(0).as_code()
    );
    let not_found = IggyError::ResourceNotFound(String::new()).as_code();
    assert_eq!(code(admin.delete_user(&id(90_000)).await), not_found);
    assert_eq!(
        code(admin.update_permissions(&id(90_000), None).await),
        not_found
    );
    assert_eq!(
        code(
            admin
                .change_password(&id(90_000), "old-pass", "new-pass")
                .await
        ),
        not_found
    );
    // Another user's password, by an admin: the current one must be right.
    assert_eq!(
        code(
            admin
                .change_password(&id(reader_id), "wrong-pass", "x-pass")
                .await
        ),
        IggyError::InvalidCredentials.as_code()
    );

    // A deleted user's session may do nothing any more.
    admin.delete_user(&id(reader_id)).await.unwrap();
    assert_eq!(code(send(&reader, a).await), unauthorized);
    assert_eq!(code(poll(&reader, a).await), unauthorized);
    assert!(admin.get_user(&id(reader_id)).await.unwrap().is_none());

    narrower_grants(addr, &admin, a, b).await;

    for stream in [a, b] {
        admin.delete_stream(&id(stream)).await.unwrap();
    }
}

/// Grants narrower than a stream's, and the commands each covers: a
/// topic's `read_topic`, a global `poll_messages`, `read_servers`; and a
/// user created inactive.
async fn narrower_grants(addr: &str, admin: &IggyClient, a: u32, b: u32) {
    let unauthorized = IggyError::Unauthorized.as_code();
    let topic = admin
        .get_topic(&id(a), &named("t"))
        .await
        .unwrap()
        .unwrap()
        .id;
    let mut topics = BTreeMap::new();
    topics.insert(
        topic as usize,
        TopicPermissions {
            read_topic: true,
            ..TopicPermissions::default()
        },
    );
    let mut streams = BTreeMap::new();
    streams.insert(
        a as usize,
        StreamPermissions {
            topics: Some(topics),
            ..StreamPermissions::default()
        },
    );
    let global = GlobalPermissions {
        poll_messages: true,
        read_servers: true,
        ..GlobalPermissions::default()
    };
    let name = unique("narrow");
    let narrow_id = admin
        .create_user(
            &name,
            "narrow-pass",
            UserStatus::Active,
            Some(Permissions {
                global,
                streams: Some(streams),
            }),
        )
        .await
        .unwrap()
        .id;
    let narrow = login(addr, &name, "narrow-pass").await;
    // The topic's read: the topic, its groups, polling and offsets.
    assert!(narrow
        .get_topic(&id(a), &named("t"))
        .await
        .unwrap()
        .is_some());
    assert_eq!(code(narrow.get_topics(&id(a)).await), unauthorized);
    assert_eq!(code(narrow.get_stream(&id(a)).await), unauthorized);
    let group = unique("g");
    narrow
        .create_consumer_group(&id(a), &named("t"), &group)
        .await
        .unwrap();
    assert!(!narrow
        .get_consumer_groups(&id(a), &named("t"))
        .await
        .unwrap()
        .is_empty());
    narrow
        .delete_consumer_group(&id(a), &named("t"), &named(&group))
        .await
        .unwrap();
    assert_eq!(code(send(&narrow, a).await), unauthorized);
    // The global poll: any topic's messages and offsets, not the topic.
    assert_eq!(poll(&narrow, b).await.unwrap().messages.len(), 1);
    let consumer = Consumer::new(named("auth-test"));
    narrow
        .store_consumer_offset(&consumer, &id(b), &named("t"), Some(0), 0)
        .await
        .unwrap();
    assert_eq!(
        narrow
            .get_consumer_offset(&consumer, &id(b), &named("t"), Some(0))
            .await
            .unwrap()
            .map(|o| o.stored_offset),
        Some(0)
    );
    assert_eq!(
        code(narrow.get_consumer_groups(&id(b), &named("t")).await),
        unauthorized
    );
    assert_eq!(
        code(narrow.get_topic(&id(b), &named("t")).await),
        unauthorized
    );
    assert_eq!(code(send(&narrow, b).await), unauthorized);
    // `read_servers`: stats.
    narrow.get_stats().await.unwrap();
    admin.delete_user(&id(narrow_id)).await.unwrap();

    // Created inactive: no login.
    let name = unique("dormant");
    let dormant = admin
        .create_user(&name, "dormant-pass", UserStatus::Inactive, None)
        .await
        .unwrap();
    assert_eq!(dormant.status, UserStatus::Inactive);
    assert_eq!(
        code(
            anonymous(addr)
                .await
                .login_user(&name, "dormant-pass")
                .await
        ),
        IggyError::InvalidCredentials.as_code()
    );
    admin.delete_user(&id(dormant.id)).await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn users_permissions_and_tokens_answer_as_apache_iggy() {
    let server = start(None, 100).await;
    scenario(&server.local_addr().to_string(), "root", "root-pass").await;
    server.shutdown().await.unwrap();
}

/// [`scenario`] against the server of `RUSTOK_IGGY_TEST_URL`
/// (`iggy://root:password@host:port`), Apache Iggy's to compare.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs a server: RUSTOK_IGGY_TEST_URL=iggy://root:password@host:port"]
async fn users_permissions_and_tokens_on_the_server_of_rustok_iggy_test_url() {
    let url = std::env::var("RUSTOK_IGGY_TEST_URL").expect("set RUSTOK_IGGY_TEST_URL");
    let rest = url.strip_prefix("iggy://").expect("an iggy:// URL");
    let (credentials, addr) = rest.rsplit_once('@').expect("user:password@host:port");
    let (root, password) = credentials.split_once(':').expect("user:password");
    scenario(addr, root, password).await;
}

/// Only the root user may serve a fresh server; the users file then keeps
/// users, permissions, tokens and a changed root password across restarts,
/// and holds neither passwords nor tokens in clear.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn users_and_tokens_survive_a_restart_and_are_stored_hashed() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("state").join("users.json");
    let server = start(Some(&path), 100).await;
    let addr = server.local_addr().to_string();
    let admin = login(&addr, "root", "root-pass").await;
    let mut global = Permissions::default();
    global.global.read_users = true;
    let ops = admin
        .create_user(
            "ops",
            "ops-secret-pass",
            UserStatus::Active,
            Some(global.clone()),
        )
        .await
        .unwrap();
    let ops_client = login(&addr, "ops", "ops-secret-pass").await;
    let token = ops_client
        .create_personal_access_token("ci", PersonalAccessTokenExpiry::NeverExpire)
        .await
        .unwrap()
        .token;
    admin
        .change_password(&id(0), "root-pass", "root-new-pass")
        .await
        .unwrap();
    drop((admin, ops_client));

    let stored = std::fs::read_to_string(&path).unwrap();
    for secret in [
        "root-pass",
        "root-new-pass",
        "ops-secret-pass",
        token.as_str(),
    ] {
        assert!(!stored.contains(secret), "`{secret}` in clear in {stored}");
    }
    assert!(stored.contains("$argon2id$"), "{stored}");
    server.shutdown().await.unwrap();

    // The same configured credentials: the stored root user wins.
    let server = start(Some(&path), 100).await;
    let addr = server.local_addr().to_string();
    assert_eq!(
        code(anonymous(&addr).await.login_user("root", "root-pass").await),
        IggyError::InvalidCredentials.as_code()
    );
    let admin = login(&addr, "root", "root-new-pass").await;
    let again = admin.get_user(&named("ops")).await.unwrap().unwrap();
    assert_eq!((again.id, again.permissions), (ops.id, Some(global)));
    let by_token = anonymous(&addr).await;
    assert_eq!(
        by_token
            .login_with_personal_access_token(&token)
            .await
            .unwrap()
            .user_id,
        ops.id
    );
    assert_eq!(by_token.get_users().await.unwrap().len(), 2);
    assert_eq!(
        code(by_token.get_streams().await),
        IggyError::Unauthorized.as_code()
    );
    server.shutdown().await.unwrap();
}

/// A user has at most `max_tokens_per_user` tokens; the limit is reported
/// before a taken name, and a deleted token frees its place.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tokens_per_user_are_limited() {
    let server = start(None, 2).await;
    let addr = server.local_addr().to_string();
    let admin = login(&addr, "root", "root-pass").await;
    for name in ["one", "two"] {
        admin
            .create_personal_access_token(name, PersonalAccessTokenExpiry::NeverExpire)
            .await
            .unwrap();
    }
    let limit = IggyError::PersonalAccessTokensLimitReached(0, 0).as_code();
    for name in ["three", "one"] {
        assert_eq!(
            code(
                admin
                    .create_personal_access_token(name, PersonalAccessTokenExpiry::NeverExpire)
                    .await
            ),
            limit
        );
    }
    admin.delete_personal_access_token("one").await.unwrap();
    admin
        .create_personal_access_token("three", PersonalAccessTokenExpiry::NeverExpire)
        .await
        .unwrap();
    server.shutdown().await.unwrap();
}

/// A stored root user still on the loopback-only default password is not
/// served on a public address; an empty users file gets the root user.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_default_root_password_stays_on_loopback() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("users.json");
    let server = Server::builder(Arc::new(MemoryBackend::new()))
        .bind("127.0.0.1:0".parse().unwrap())
        .users_path(&path)
        .start()
        .await
        .unwrap();
    server.shutdown().await.unwrap();
    let error = Server::builder(Arc::new(MemoryBackend::new()))
        .bind(SocketAddr::from(([0, 0, 0, 0], 0)))
        .credentials("admin", Secret::new("a-real-password"))
        .users_path(&path)
        .start()
        .await
        .unwrap_err();
    assert!(error.to_string().contains("default password"), "{error}");

    std::fs::write(&path, r#"{"users": []}"#).unwrap();
    let server = start(Some(&path), 100).await;
    login(&server.local_addr().to_string(), "root", "root-pass").await;
    server.shutdown().await.unwrap();
    let stored = std::fs::read_to_string(&path).unwrap();
    assert!(stored.contains("\"root\""), "seeded when empty: {stored}");
}

/// Bodies the SDK would never send: a user or token command whose body does
/// not decode is an invalid command (3), as Apache Iggy answers it; the
/// logins of SDKs before the register handshake are refused as malformed (4).
#[tokio::test(flavor = "current_thread", start_paused = true)]
async fn undecodable_user_and_token_requests_are_invalid_commands() {
    use iggy_binary_protocol::codes::*;
    use rustok_iggy_server::fuzzing::{reply_status, request, Harness};

    let mut harness = Harness::new(Arc::new(MemoryBackend::new())).unwrap();
    for code in [
        GET_USER_CODE,
        CREATE_USER_CODE,
        DELETE_USER_CODE,
        UPDATE_USER_CODE,
        UPDATE_PERMISSIONS_CODE,
        CHANGE_PASSWORD_CODE,
        CREATE_PERSONAL_ACCESS_TOKEN_CODE,
        DELETE_PERSONAL_ACCESS_TOKEN_CODE,
    ] {
        let reply = harness.request(&request(code, &[7])).await.unwrap();
        assert_eq!(
            reply_status(&reply),
            Some(IggyError::InvalidCommand.as_code()),
            "code {code}"
        );
    }
    for code in [LOGIN_USER_CODE, LOGIN_WITH_PERSONAL_ACCESS_TOKEN_CODE] {
        let reply = harness.request(&request(code, &[7])).await.unwrap();
        assert_eq!(
            reply_status(&reply),
            Some(IggyError::InvalidFormat.as_code()),
            "code {code}"
        );
    }
}

/// Ids are reused (the lowest free one, as in Apache Iggy), but a deleted
/// user's open session does not become the user who gets its id next: it
/// may do nothing (Apache Iggy would let it act as the new user).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_deleted_users_session_does_not_inherit_its_id() {
    let server = start(None, 100).await;
    let addr = server.local_addr().to_string();
    let admin = login(&addr, "root", "root-pass").await;
    let old = admin
        .create_user("old-user", "old-pass", UserStatus::Active, None)
        .await
        .unwrap();
    let stale = login(&addr, "old-user", "old-pass").await;
    admin.delete_user(&id(old.id)).await.unwrap();
    let new = admin
        .create_user(
            "new-user",
            "new-pass",
            UserStatus::Active,
            Some(Permissions {
                global: GlobalPermissions {
                    read_users: true,
                    ..GlobalPermissions::default()
                },
                streams: None,
            }),
        )
        .await
        .unwrap();
    assert_eq!(new.id, old.id);
    let unauthorized = IggyError::Unauthorized.as_code();
    assert_eq!(code(stale.get_users().await), unauthorized);
    assert_eq!(code(stale.get_user(&id(new.id)).await), unauthorized);
    assert!(stale.get_personal_access_tokens().await.unwrap().is_empty());
    assert_eq!(
        code(
            stale
                .create_personal_access_token("t", PersonalAccessTokenExpiry::NeverExpire)
                .await
        ),
        IggyError::ResourceNotFound(String::new()).as_code()
    );
    login(&addr, "new-user", "new-pass")
        .await
        .get_users()
        .await
        .unwrap();
    server.shutdown().await.unwrap();
}
