"""Apache Iggy's Python SDK (`apache-iggy` 0.9.0) against `rustok-iggy serve`.

Topology, messages with typed headers polled every way, a two-member
consumer group, purge / update / delete partitions, the option catalog,
users and their permissions, and the stats. Run by `cli/tests/python_sdk.rs`, which starts the server on a free loopback
port: `python sdk_session.py HOST:PORT USERNAME PASSWORD`. Every step checks
what the server answered; the first failed check ends the script with a
non-zero status and the reason.
"""

import asyncio
import os
import datetime
import sys
import time

from apache_iggy import (
    Consumer,
    GlobalPermissions,
    HeaderKey,
    HeaderValue,
    IggyClient,
    IggyExpiry,
    Partitioning,
    Permissions,
    PollingStrategy,
    SendMessage,
    UserStatus,
)


def check(condition, what):
    if not condition:
        raise AssertionError(what)


def payloads(messages):
    return [bytes(m.payload()).decode() for m in messages]


async def visible(client, stream, topic, partition, count):
    """Waits until `count` messages of a partition can be polled: the
    embedded log's default policy (`fsync = "interval"`) shows consumers a
    message once it is synced, within one interval of the send."""
    for _ in range(500):
        polled = await client.poll_messages(
            stream, topic, consumer=Consumer.Single("py-probe"),
            polling_strategy=PollingStrategy.First(), count=count,
            auto_commit=False, partition_id=partition,
        )
        if len(polled) >= count:
            return
        await asyncio.sleep(0.02)
    raise AssertionError(f"{count} messages of {stream}/{topic}/{partition} never became visible")


async def connect(address, username, password):
    client = IggyClient(address)
    await client.connect()
    await client.login_user(username, password)
    return client


async def topology(client):
    await client.ping()
    await client.create_stream("py")
    stream = await client.get_stream("py")
    check(stream.name == "py", f"created stream: {stream.name}")
    await client.create_topic("py", "orders", partitions_count=2)
    topic = await client.get_topic("py", "orders")
    check(topic.partitions_count == 2, f"partitions: {topic.partitions_count}")
    check(any(s.name == "py" for s in await client.get_streams()), "listed stream")
    check([t.name for t in await client.get_topics("py")] == ["orders"], "listed topics")
    await client.create_partitions("py", "orders", 1)
    topic = await client.get_topic("py", "orders")
    check(topic.partitions_count == 3, f"after create_partitions: {topic.partitions_count}")


TYPED = {
    HeaderKey.String("u64"): HeaderValue.UnsignedInt64(7),
    HeaderKey.String("i32"): HeaderValue.Int32(-3),
    HeaderKey.String("f64"): HeaderValue.Float64(0.25),
    HeaderKey.String("ok"): HeaderValue.Bool(True),
    HeaderKey.String("raw"): HeaderValue.Raw(b"text-like bytes"),
    HeaderKey.String("s"): HeaderValue.String("plain"),
    HeaderKey.UnsignedInt32(42): HeaderValue.UnsignedInt8(1),
}


async def send_and_poll(client):
    before = int(time.time() * 1_000_000)
    messages = [SendMessage(f"m{i}", user_headers=TYPED, id=1000 + i) for i in range(5)]
    await client.send_messages("py", "orders", Partitioning.partition_id(0), messages)
    await visible(client, "py", "orders", 0, 5)
    reader = Consumer.Single("py-reader")

    first = await client.poll_messages(
        "py", "orders", consumer=reader, polling_strategy=PollingStrategy.First(),
        count=2, auto_commit=False, partition_id=0,
    )
    check(payloads(first) == ["m0", "m1"], f"first: {payloads(first)}")
    check([m.id() for m in first] == [1000, 1001], "ids kept")
    for message in first:
        headers = dict(message.user_headers())
        check(headers == TYPED, f"header kinds kept: {headers}")
        origin = message.origin_timestamp()
        check(before <= origin <= message.timestamp(), f"origin {origin} vs append {message.timestamp()}")

    at = await client.poll_messages(
        "py", "orders", consumer=reader, polling_strategy=PollingStrategy.Offset(3),
        count=10, auto_commit=False, partition_id=0,
    )
    check([m.offset() for m in at] == [3, 4], f"offset: {[m.offset() for m in at]}")
    last = await client.poll_messages(
        "py", "orders", consumer=reader, polling_strategy=PollingStrategy.Last(),
        count=1, auto_commit=False, partition_id=0,
    )
    check(payloads(last) == ["m4"], f"last: {payloads(last)}")
    since = await client.poll_messages(
        "py", "orders", consumer=reader, polling_strategy=PollingStrategy.Timestamp(first[0].timestamp()),
        count=10, auto_commit=False, partition_id=0,
    )
    check(len(since) == 5, f"by timestamp: {len(since)}")

    # `next` with auto-commit walks the partition once.
    seen = []
    for _ in range(4):
        batch = await client.poll_messages(
            "py", "orders", consumer=reader, polling_strategy=PollingStrategy.Next(),
            count=2, auto_commit=True, partition_id=0,
        )
        seen += payloads(batch)
    check(seen == [f"m{i}" for i in range(5)], f"next: {seen}")

    # A message key always lands on one partition; balanced spreads.
    await client.send_messages("py", "orders", Partitioning.messages_key(b"tenant-1"),
                               [SendMessage("k1"), SendMessage("k2")])
    await client.send_messages("py", "orders", Partitioning.balanced(), [SendMessage("b")])


async def consumer_group(address, username, password):
    admin = await connect(address, username, password)
    await admin.create_topic("py", "jobs", partitions_count=4)
    await admin.create_consumer_group("py", "jobs", "workers")
    for p in range(4):
        await admin.send_messages("py", "jobs", Partitioning.partition_id(p),
                                  [SendMessage(f"j{p}-{i}") for i in range(3)])
    for p in range(4):
        await visible(admin, "py", "jobs", p, 3)
    members = [await connect(address, username, password) for _ in range(2)]
    for member in members:
        await member.join_consumer_group("py", "jobs", "workers")
    group = await admin.get_consumer_group("py", "jobs", "workers")
    check(group.members_count == 2, f"members: {group.members_count}")
    held = sorted(p for m in group.members for p in m.partitions)
    check(held == [0, 1, 2, 3], f"partitions split: {held}")

    seen = []
    for _ in range(20):
        for member in members:
            batch = await member.poll_messages(
                "py", "jobs", consumer=Consumer.Group("workers"),
                polling_strategy=PollingStrategy.Next(), count=10, auto_commit=True,
            )
            seen += payloads(batch)
        if len(seen) >= 12:
            break
    expected = sorted(f"j{p}-{i}" for p in range(4) for i in range(3))
    check(sorted(seen) == expected, f"each job exactly once: {sorted(seen)}")
    for member in members:
        await member.leave_consumer_group("py", "jobs", "workers")


async def stats(client):
    s = await client.get_stats()
    check(s.streams_count >= 1 and s.topics_count >= 2, f"stats: {s.streams_count} {s.topics_count}")
    check(s.messages_count >= 20, f"messages: {s.messages_count}")
    check(s.iggy_server_version.startswith("rustok-iggy-server "), s.iggy_server_version)


async def administration(client):
    await client.create_topic("py", "admin", partitions_count=3)
    for p in range(3):
        await client.send_messages("py", "admin", Partitioning.partition_id(p),
                                   [SendMessage(f"a{p}-{i}") for i in range(2)])
    await visible(client, "py", "admin", 2, 2)

    await client.delete_partitions("py", "admin", 1)
    topic = await client.get_topic("py", "admin")
    check(topic.partitions_count == 2, f"after delete_partitions: {topic.partitions_count}")

    day = datetime.timedelta(days=1)
    await client.update_topic("py", "admin", "audit", message_expiry=IggyExpiry.ExpireDuration(day))
    topic = await client.get_topic("py", "audit")
    check(topic.name == "audit", f"renamed: {topic.name}")
    check(isinstance(topic.message_expiry, IggyExpiry.ExpireDuration)
          and topic.message_expiry.duration == day, f"expiry: {topic.message_expiry}")
    check(topic.messages_count == 4, f"kept its messages: {topic.messages_count}")

    await client.purge_topic("py", "audit")
    topic = await client.get_topic("py", "audit")
    check(topic.messages_count == 0, f"purged: {topic.messages_count}")

    await client.create_stream("py-other")
    await client.create_topic("py-other", "t", partitions_count=1)
    await client.send_messages("py-other", "t", Partitioning.partition_id(0), [SendMessage("x")])
    await client.purge_stream("py-other")
    topic = await client.get_topic("py-other", "t")
    check(topic.messages_count == 0, f"stream purged: {topic.messages_count}")
    await client.update_stream("py-other", "py-renamed")
    check(await client.get_stream("py-renamed") is not None, "stream renamed")
    await client.delete_stream("py-renamed")

    keys = [spec.key for spec in await client.describe_options("topic")]
    check("message_expiry" in keys and "max_topic_size" in keys, f"topic options: {keys}")
    check(await client.describe_options("stream") == [], "streams have no options")


async def users(address, admin):
    await admin.create_user("py-reader", "py-reader-pass",
                            permissions=Permissions(GlobalPermissions(read_streams=True)))
    names = [u.username for u in await admin.get_users()]
    check("py-reader" in names, f"users: {names}")
    reader = await admin.get_user("py-reader")
    check(reader.permissions.global_permissions.read_streams, "read_streams granted")
    check(not reader.permissions.global_permissions.send_messages, "send not granted")

    client = await connect(address, "py-reader", "py-reader-pass")
    check(any(s.name == "py" for s in await client.get_streams()), "the reader lists streams")
    try:
        await client.send_messages("py", "orders", Partitioning.partition_id(0), [SendMessage("no")])
        raise AssertionError("a user without send_messages sent")
    except RuntimeError as refused:
        check("nauthorized" in str(refused), f"refused as unauthorized: {refused}")
    await client.change_password("py-reader", "py-reader-pass", "py-reader-pass-2")
    await client.logout_user()

    await admin.update_permissions("py-reader", Permissions(GlobalPermissions(read_streams=True, send_messages=True)))
    client = await connect(address, "py-reader", "py-reader-pass-2")
    await client.send_messages("py", "orders", Partitioning.partition_id(0), [SendMessage("yes")])
    await admin.update_user("py-reader", username="py-sender", status=UserStatus.Inactive)
    check((await admin.get_user("py-sender")).status == UserStatus.Inactive, "deactivated")
    try:
        await connect(address, "py-sender", "py-reader-pass-2")
        raise AssertionError("an inactive user logged in")
    except RuntimeError:
        pass
    await admin.delete_user("py-sender")
    check(await admin.get_user("py-sender") is None, "user deleted")


async def main(address, username, password):
    client = await connect(address, username, password)
    await topology(client)
    await send_and_poll(client)
    await consumer_group(address, username, password)
    await administration(client)
    await users(address, client)
    await stats(client)
    await client.delete_stream("py")
    check(await client.get_stream("py") is None, "stream deleted")
    await client.logout_user()
    print("python sdk session: ok")


if __name__ == "__main__":
    asyncio.run(main(*sys.argv[1:4]))
    # Every check is done. Leave without the interpreter's teardown: under
    # load the SDK's native runtime sometimes aborts (SIGABRT, nothing on
    # stderr) while the interpreter drops the clients it still holds, after
    # the session completed; that is the SDK's exit, not the server's
    # answers, which this script is about.
    sys.stdout.flush()
    os._exit(0)
