//! What a user may do: Iggy's permission model (global, per stream, per
//! topic) and the rules Apache Iggy's permissioner applies to it, one per
//! kind of command.
//!
//! The rules are Apache Iggy's exactly, including their inheritance (a
//! `manage_streams` grant implies reading them, a stream's `read_stream`
//! implies polling its topics, and so on) and their gaps (`get streams`
//! needs a global grant: per-stream grants do not list streams). Stream and
//! topic ids are the numeric ids clients see, which are the catalog's.

use std::collections::BTreeMap;

use iggy_binary_protocol::primitives::permissions::{
    WireGlobalPermissions, WirePermissions, WireStreamPermissions, WireTopicPermissions,
};
use serde::{Deserialize, Serialize};

/// A user's permissions. A user stored without any (`None` where this is
/// held) may do nothing that needs one.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct Permissions {
    pub(crate) global: Global,
    /// By stream id. A stream named twice in a request keeps the last grant.
    #[serde(default)]
    pub(crate) streams: BTreeMap<u32, Stream>,
}

/// Grants over every stream and the server.
#[allow(clippy::struct_excessive_bools)]
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct Global {
    pub(crate) manage_servers: bool,
    pub(crate) read_servers: bool,
    pub(crate) manage_users: bool,
    pub(crate) read_users: bool,
    pub(crate) manage_streams: bool,
    pub(crate) read_streams: bool,
    pub(crate) manage_topics: bool,
    pub(crate) read_topics: bool,
    pub(crate) poll_messages: bool,
    pub(crate) send_messages: bool,
}

/// Grants over one stream.
#[allow(clippy::struct_excessive_bools)]
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct Stream {
    pub(crate) manage_stream: bool,
    pub(crate) read_stream: bool,
    pub(crate) manage_topics: bool,
    pub(crate) read_topics: bool,
    pub(crate) poll_messages: bool,
    pub(crate) send_messages: bool,
    /// By topic id.
    #[serde(default)]
    pub(crate) topics: BTreeMap<u32, Topic>,
}

/// Grants over one topic of a stream.
#[allow(clippy::struct_excessive_bools)]
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct Topic {
    pub(crate) manage_topic: bool,
    pub(crate) read_topic: bool,
    pub(crate) poll_messages: bool,
    pub(crate) send_messages: bool,
}

/// What a command needs, with the stream and topic it is about. Named after
/// the permissioner's rules; several commands share one (see
/// `commands::authorize`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Rule {
    /// Stats, clients, snapshots: `read_servers` or `manage_servers`.
    ReadServers,
    /// Listing users, another user's details.
    ReadUsers,
    /// Creating, changing, deleting users; another user's password.
    ManageUsers,
    /// Listing streams: a global grant only.
    GetStreams,
    /// Creating a stream: global `manage_streams` only.
    CreateStream,
    GetStream(u32),
    /// Updating, deleting, purging a stream.
    ManageStream(u32),
    GetTopics(u32),
    CreateTopic(u32),
    /// Reading a topic, and every consumer-group command but sync.
    GetTopic(u32, u32),
    /// Updating, deleting, purging a topic; adding and removing partitions;
    /// deleting segments.
    ManageTopic(u32, u32),
    /// Polling, and reading, storing or deleting consumer offsets.
    PollMessages(u32, u32),
    /// Sending (and flushing what was sent).
    SendMessages(u32, u32),
}

impl Permissions {
    /// Whether these permissions allow `rule`.
    pub(crate) fn allow(&self, rule: Rule) -> bool {
        let g = &self.global;
        match rule {
            Rule::ReadServers => g.manage_servers || g.read_servers,
            Rule::ReadUsers => g.manage_users || g.read_users,
            Rule::ManageUsers => g.manage_users,
            Rule::GetStreams => g.manage_streams || g.read_streams,
            Rule::CreateStream => g.manage_streams,
            Rule::GetStream(s) => {
                g.manage_streams
                    || g.read_streams
                    || self
                        .stream(s)
                        .is_some_and(|s| s.manage_stream || s.read_stream)
            }
            Rule::ManageStream(s) => {
                g.manage_streams || self.stream(s).is_some_and(|s| s.manage_stream)
            }
            Rule::GetTopics(s) => {
                g.read_streams
                    || g.manage_streams
                    || g.manage_topics
                    || g.read_topics
                    || self.stream(s).is_some_and(|s| {
                        s.manage_stream || s.read_stream || s.manage_topics || s.read_topics
                    })
            }
            Rule::CreateTopic(s) => {
                g.manage_streams
                    || g.manage_topics
                    || self
                        .stream(s)
                        .is_some_and(|s| s.manage_stream || s.manage_topics)
            }
            Rule::GetTopic(s, t) => {
                self.allow(Rule::GetTopics(s))
                    || self
                        .topic(s, t)
                        .is_some_and(|t| t.manage_topic || t.read_topic)
            }
            Rule::ManageTopic(s, t) => {
                self.allow(Rule::CreateTopic(s)) || self.topic(s, t).is_some_and(|t| t.manage_topic)
            }
            Rule::PollMessages(s, t) => {
                g.poll_messages
                    || self.allow(Rule::GetTopic(s, t))
                    || self.stream(s).is_some_and(|s| s.poll_messages)
                    || self.topic(s, t).is_some_and(|t| t.poll_messages)
            }
            Rule::SendMessages(s, t) => {
                g.send_messages
                    || self.allow(Rule::ManageTopic(s, t))
                    || self.stream(s).is_some_and(|s| s.send_messages)
                    || self.topic(s, t).is_some_and(|t| t.send_messages)
            }
        }
    }

    fn stream(&self, stream: u32) -> Option<&Stream> {
        self.streams.get(&stream)
    }

    fn topic(&self, stream: u32, topic: u32) -> Option<&Topic> {
        self.stream(stream)?.topics.get(&topic)
    }

    /// Every grant: the root user's permissions.
    pub(crate) fn root() -> Self {
        Self {
            global: Global {
                manage_servers: true,
                read_servers: true,
                manage_users: true,
                read_users: true,
                manage_streams: true,
                read_streams: true,
                manage_topics: true,
                read_topics: true,
                poll_messages: true,
                send_messages: true,
            },
            streams: BTreeMap::new(),
        }
    }
}

impl From<&WirePermissions> for Permissions {
    fn from(wire: &WirePermissions) -> Self {
        let g = &wire.global;
        Self {
            global: Global {
                manage_servers: g.manage_servers,
                read_servers: g.read_servers,
                manage_users: g.manage_users,
                read_users: g.read_users,
                manage_streams: g.manage_streams,
                read_streams: g.read_streams,
                manage_topics: g.manage_topics,
                read_topics: g.read_topics,
                poll_messages: g.poll_messages,
                send_messages: g.send_messages,
            },
            streams: wire
                .streams
                .iter()
                .map(|s| {
                    let stream = Stream {
                        manage_stream: s.manage_stream,
                        read_stream: s.read_stream,
                        manage_topics: s.manage_topics,
                        read_topics: s.read_topics,
                        poll_messages: s.poll_messages,
                        send_messages: s.send_messages,
                        topics: s
                            .topics
                            .iter()
                            .map(|t| {
                                let topic = Topic {
                                    manage_topic: t.manage_topic,
                                    read_topic: t.read_topic,
                                    poll_messages: t.poll_messages,
                                    send_messages: t.send_messages,
                                };
                                (t.topic_id, topic)
                            })
                            .collect(),
                    };
                    (s.stream_id, stream)
                })
                .collect(),
        }
    }
}

impl From<&Permissions> for WirePermissions {
    fn from(p: &Permissions) -> Self {
        let g = &p.global;
        Self {
            global: WireGlobalPermissions {
                manage_servers: g.manage_servers,
                read_servers: g.read_servers,
                manage_users: g.manage_users,
                read_users: g.read_users,
                manage_streams: g.manage_streams,
                read_streams: g.read_streams,
                manage_topics: g.manage_topics,
                read_topics: g.read_topics,
                poll_messages: g.poll_messages,
                send_messages: g.send_messages,
            },
            streams: p
                .streams
                .iter()
                .map(|(&stream_id, s)| WireStreamPermissions {
                    stream_id,
                    manage_stream: s.manage_stream,
                    read_stream: s.read_stream,
                    manage_topics: s.manage_topics,
                    read_topics: s.read_topics,
                    poll_messages: s.poll_messages,
                    send_messages: s.send_messages,
                    topics: s
                        .topics
                        .iter()
                        .map(|(&topic_id, t)| WireTopicPermissions {
                            topic_id,
                            manage_topic: t.manage_topic,
                            read_topic: t.read_topic,
                            poll_messages: t.poll_messages,
                            send_messages: t.send_messages,
                        })
                        .collect(),
                })
                .collect(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn stream(f: impl FnOnce(&mut Stream)) -> Permissions {
        let mut s = Stream::default();
        f(&mut s);
        Permissions {
            global: Global::default(),
            streams: BTreeMap::from([(1, s)]),
        }
    }

    #[test]
    fn a_stream_grant_covers_that_stream_only() {
        let read = stream(|s| s.read_stream = true);
        assert!(read.allow(Rule::GetStream(1)));
        assert!(read.allow(Rule::GetTopics(1)));
        assert!(read.allow(Rule::GetTopic(1, 7)));
        assert!(read.allow(Rule::PollMessages(1, 7)));
        assert!(!read.allow(Rule::SendMessages(1, 7)));
        assert!(!read.allow(Rule::ManageStream(1)));
        assert!(!read.allow(Rule::CreateTopic(1)));
        assert!(!read.allow(Rule::GetStream(2)));
        assert!(!read.allow(Rule::PollMessages(2, 7)));
        // Listing streams needs a global grant, as in Apache Iggy.
        assert!(!read.allow(Rule::GetStreams));
    }

    #[test]
    fn grants_inherit_as_apache_iggy_defines() {
        let manage = stream(|s| s.manage_stream = true);
        for rule in [
            Rule::ManageStream(1),
            Rule::CreateTopic(1),
            Rule::ManageTopic(1, 3),
            Rule::SendMessages(1, 3),
            Rule::PollMessages(1, 3),
        ] {
            assert!(manage.allow(rule), "{rule:?}");
        }
        let send = stream(|s| s.send_messages = true);
        assert!(send.allow(Rule::SendMessages(1, 3)));
        assert!(!send.allow(Rule::PollMessages(1, 3)));
        assert!(!send.allow(Rule::GetTopic(1, 3)));
        let mut topic = Stream::default();
        topic.topics.insert(
            3,
            Topic {
                read_topic: true,
                ..Topic::default()
            },
        );
        let topic = Permissions {
            global: Global::default(),
            streams: BTreeMap::from([(1, topic)]),
        };
        assert!(topic.allow(Rule::GetTopic(1, 3)));
        assert!(topic.allow(Rule::PollMessages(1, 3)));
        assert!(!topic.allow(Rule::GetTopic(1, 4)));
        assert!(!topic.allow(Rule::GetTopics(1)));
        assert!(!topic.allow(Rule::GetStream(1)));

        let global_poll = Permissions {
            global: Global {
                poll_messages: true,
                ..Global::default()
            },
            streams: BTreeMap::new(),
        };
        assert!(global_poll.allow(Rule::PollMessages(9, 9)));
        assert!(!global_poll.allow(Rule::GetTopic(9, 9)));
        assert!(!global_poll.allow(Rule::GetStreams));
        assert!(!Permissions::default().allow(Rule::ReadServers));
        assert!(Permissions::root().allow(Rule::ManageUsers));
    }

    #[test]
    fn wire_permissions_round_trip() {
        let mut p = stream(|s| {
            s.poll_messages = true;
            s.topics.insert(
                4,
                Topic {
                    send_messages: true,
                    ..Topic::default()
                },
            );
        });
        p.global.read_users = true;
        let wire = WirePermissions::from(&p);
        assert_eq!(Permissions::from(&wire), p);
    }
}
