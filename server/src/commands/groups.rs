//! Consumer groups: get, list, create, delete, join, leave, sync.
//!
//! Groups are named in the catalog (for their numeric ids); membership and
//! partition assignment are the backend's (`join_group`, `sync_group`,
//! `leave_group`), so TCP members and in-process subscriptions of a group
//! share its partitions. A connection's memberships end with it.

use bytes::Bytes;
use iggy_binary_protocol::{
    requests::consumer_groups::{
        CreateConsumerGroupRequest, DeleteConsumerGroupRequest, GetConsumerGroupRequest,
        GetConsumerGroupsRequest, JoinConsumerGroupRequest, LeaveConsumerGroupRequest,
        SyncConsumerGroupRequest,
    },
    responses::consumer_groups::{
        ConsumerGroupDetailsResponse, ConsumerGroupMemberResponse, ConsumerGroupResponse,
        GetConsumerGroupsResponse, SyncConsumerGroupResponse,
    },
    WireDecode, WireEncode, WireName,
};
use std::collections::BTreeMap;

use rustok_iggy::{Assignment, ErrorKind, Fence};

use super::{resolve, Reply};
use crate::{
    catalog::GroupIds,
    error::Status,
    session::{Membership, Session},
    shared::Shared,
};

fn catalog_error(error: crate::error::ServerError) -> Status {
    tracing::warn!(%error, "catalog update failed");
    Status::ERROR
}

fn details(
    shared: &Shared,
    topic: &resolve::TopicCtx,
    group: &GroupIds,
) -> Result<ConsumerGroupDetailsResponse, Status> {
    let members: Vec<ConsumerGroupMemberResponse> = shared
        .members(&topic.topic_ref, &group.name)
        .into_iter()
        .map(|(id, partitions)| ConsumerGroupMemberResponse {
            id,
            partitions_count: u32::try_from(partitions.len()).unwrap_or(u32::MAX),
            partitions,
        })
        .collect();
    Ok(ConsumerGroupDetailsResponse {
        group: ConsumerGroupResponse {
            id: group.id,
            partitions_count: topic.partitions,
            members_count: u32::try_from(members.len()).unwrap_or(u32::MAX),
            name: WireName::new(group.name.clone())?,
        },
        members,
    })
}

/// `GetConsumerGroup`: an empty reply when it does not exist.
pub(crate) async fn get(shared: &Shared, body: &[u8]) -> Reply {
    let request = GetConsumerGroupRequest::decode_from(body)?;
    let topic = match resolve::topic(shared, &request.stream_id, &request.topic_id).await {
        Ok(topic) => topic,
        Err(Status::STREAM_ID_NOT_FOUND | Status::TOPIC_ID_NOT_FOUND) => return Ok(Bytes::new()),
        Err(status) => return Err(status),
    };
    match resolve::group(shared, &topic, &request.group_id, false).await {
        Ok(group) => Ok(details(shared, &topic, &group)?.to_bytes()),
        Err(Status::CONSUMER_GROUP_ID_NOT_FOUND) => Ok(Bytes::new()),
        Err(status) => Err(status),
    }
}

/// `GetConsumerGroups` of a topic.
pub(crate) async fn list(shared: &Shared, body: &[u8]) -> Reply {
    let request = GetConsumerGroupsRequest::decode_from(body)?;
    let topic = resolve::topic(shared, &request.stream_id, &request.topic_id).await?;
    let groups = shared
        .catalog
        .groups(topic.stream.id, topic.topic.id)
        .iter()
        .map(|g| details(shared, &topic, g).map(|d| d.group))
        .collect::<Result<Vec<_>, Status>>()?;
    Ok(GetConsumerGroupsResponse { groups }.to_bytes())
}

/// `CreateConsumerGroup`.
pub(crate) async fn create(shared: &Shared, body: &[u8]) -> Reply {
    let request = CreateConsumerGroupRequest::decode_from(body)?;
    let topic = resolve::topic(shared, &request.stream_id, &request.topic_id).await?;
    let (group, new) = shared
        .catalog
        .add_group(topic.stream.id, topic.topic.id, request.name.as_str())
        .await
        .map_err(catalog_error)?
        .ok_or(Status::TOPIC_ID_NOT_FOUND)?;
    if !new {
        return Err(Status::CONSUMER_GROUP_NAME_ALREADY_EXISTS);
    }
    Ok(details(shared, &topic, &group)?.to_bytes())
}

/// `DeleteConsumerGroup`: forgets its id; committed offsets stay.
pub(crate) async fn delete(shared: &Shared, body: &[u8]) -> Reply {
    let request = DeleteConsumerGroupRequest::decode_from(body)?;
    let topic = resolve::topic(shared, &request.stream_id, &request.topic_id).await?;
    let group = resolve::group(shared, &topic, &request.group_id, false).await?;
    shared
        .catalog
        .remove_group(topic.stream.id, topic.topic.id, group.id)
        .await
        .map_err(catalog_error)?;
    Ok(Bytes::new())
}

/// `JoinConsumerGroup`: idempotent for a connection already in the group.
/// The new member is synced at once, so it owns the partitions free for it
/// from the join on, as a member of Apache Iggy does.
pub(crate) async fn join(shared: &Shared, session: &mut Session, body: &[u8]) -> Reply {
    let request = JoinConsumerGroupRequest::decode_from(body)?;
    let topic = resolve::topic(shared, &request.stream_id, &request.topic_id).await?;
    let group = resolve::group(shared, &topic, &request.group_id, false).await?;
    let key = (topic.topic_ref.clone(), group.name.clone());
    if let Some(joined) = session.groups.get(&key) {
        if (joined.stream_id, joined.topic_id, joined.group_id)
            == (topic.stream.id, topic.topic.id, group.id)
        {
            return Ok(Bytes::new());
        }
    }
    // Still joined to a deleted topic or group of the same names (catalog
    // ids are never reused): that membership ended with it, as on Apache
    // Iggy, where deleting a topic or group removes its members. Its member
    // leaves the backend's group too (a group deletion only forgets the id),
    // or it would keep partitions nobody polls.
    if let Some(stale) = session.groups.remove(&key) {
        shared.forget_member(&topic.topic_ref, &group.name, session.id);
        if let Err(error) = shared
            .backend
            .leave_group(&topic.topic_ref, &group.name, stale.member)
            .await
        {
            tracing::debug!(%error, "leaving a deleted topic's or group's membership failed");
        }
    }
    let member = shared
        .backend
        .join_group(&topic.topic_ref, &group.name)
        .await?;
    session.groups.insert(
        key,
        Membership {
            member,
            assigned: Vec::new(),
            told: None,
            holding: BTreeMap::new(),
            stream_id: topic.stream.id,
            topic_id: topic.topic.id,
            group_id: group.id,
        },
    );
    shared.set_member(&topic.topic_ref, &group.name, session.id, &[]);
    sync_member(shared, session, &topic, &group).await?;
    Ok(Bytes::new())
}

/// `LeaveConsumerGroup`: its partitions go to the remaining members.
pub(crate) async fn leave(shared: &Shared, session: &mut Session, body: &[u8]) -> Reply {
    let request = LeaveConsumerGroupRequest::decode_from(body)?;
    let topic = resolve::topic(shared, &request.stream_id, &request.topic_id).await?;
    let group = resolve::group(shared, &topic, &request.group_id, false).await?;
    let key = (topic.topic_ref.clone(), group.name.clone());
    let membership = session
        .groups
        .remove(&key)
        .ok_or(Status::CONSUMER_GROUP_MEMBER_NOT_FOUND)?;
    shared.forget_member(&topic.topic_ref, &group.name, session.id);
    match shared
        .backend
        .leave_group(&topic.topic_ref, &group.name, membership.member)
        .await
    {
        Ok(()) => Ok(Bytes::new()),
        Err(e) if e.kind() == ErrorKind::NotFound => Ok(Bytes::new()),
        Err(e) => Err(e.into()),
    }
}

/// `SyncConsumerGroup`: this member's partitions now; an empty reply tells
/// the SDK it is not a member.
pub(crate) async fn sync(shared: &Shared, session: &mut Session, body: &[u8]) -> Reply {
    let request = SyncConsumerGroupRequest::decode_from(body)?;
    let topic = resolve::topic(shared, &request.stream_id, &request.topic_id).await?;
    let group = match resolve::group(shared, &topic, &request.group_id, false).await {
        Ok(group) => group,
        Err(Status::CONSUMER_GROUP_ID_NOT_FOUND) => return Ok(Bytes::new()),
        Err(status) => return Err(status),
    };
    match sync_member(shared, session, &topic, &group).await {
        Ok(assignment) => {
            if let Some(membership) = session
                .groups
                .get_mut(&(topic.topic_ref.clone(), group.name.clone()))
            {
                membership.told = Some(assignment.partitions.clone());
            }
            Ok(SyncConsumerGroupResponse {
                generation: assignment.generation,
                partitions: assignment.partitions,
            }
            .to_bytes())
        }
        Err(Status::CONSUMER_GROUP_MEMBER_NOT_FOUND) => Ok(Bytes::new()),
        Err(status) => Err(status),
    }
}

/// Heartbeats this connection's member: reports the partitions it was last
/// granted (releasing any the backend revoked since) and records the new
/// grant. A member the backend no longer knows is dropped.
async fn sync_member(
    shared: &Shared,
    session: &mut Session,
    topic: &resolve::TopicCtx,
    group: &GroupIds,
) -> Result<Assignment, Status> {
    let key = (topic.topic_ref.clone(), group.name.clone());
    let membership = session
        .groups
        .get_mut(&key)
        .ok_or(Status::CONSUMER_GROUP_MEMBER_NOT_FOUND)?;
    match shared
        .backend
        .sync_group(
            &topic.topic_ref,
            &group.name,
            membership.member,
            membership.assigned.clone(),
        )
        .await
    {
        Ok(assignment) => {
            // Mirrors the backend: what was reported held keeps the
            // generation it was granted at; what was not reported is
            // released, so a partition granted again in the same sync (given
            // up and given back while this member did not poll) is a new
            // grant at this generation, not the old one.
            let previous = std::mem::take(&mut membership.holding);
            let mut holding: BTreeMap<u32, u64> = membership
                .assigned
                .iter()
                .map(|p| {
                    (
                        *p,
                        previous.get(p).copied().unwrap_or(assignment.generation),
                    )
                })
                .collect();
            for p in &assignment.partitions {
                holding.entry(*p).or_insert(assignment.generation);
            }
            membership.holding = holding;
            membership.assigned = assignment.partitions.clone();
            shared.set_member(
                &topic.topic_ref,
                &group.name,
                session.id,
                &assignment.partitions,
            );
            Ok(assignment)
        }
        Err(e) if e.kind() == ErrorKind::NotFound => {
            session.groups.remove(&key);
            shared.forget_member(&topic.topic_ref, &group.name, session.id);
            Err(Status::CONSUMER_GROUP_MEMBER_NOT_FOUND)
        }
        Err(e) => Err(e.into()),
    }
}

/// This connection's claim on `partition` of a group, for a group-offset
/// write: `CONSUMER_GROUP_PARTITION_NOT_OWNED` unless it is a member that
/// owns the partition, which is Apache Iggy's rule (a group that does not
/// exist has no members, so the same).
pub(crate) fn fence(
    session: &Session,
    topic: &resolve::TopicCtx,
    group: &str,
    partition: u32,
) -> Result<Fence, Status> {
    let membership = session
        .groups
        .get(&(topic.topic_ref.clone(), group.to_owned()))
        .ok_or(Status::CONSUMER_GROUP_PARTITION_NOT_OWNED)?;
    membership
        .holding
        .get(&partition)
        .map(|generation| Fence::new(membership.member, *generation))
        .ok_or(Status::CONSUMER_GROUP_PARTITION_NOT_OWNED)
}

/// The partitions this connection's member may poll now (see [`sync`]),
/// or `None` when the member synced and they are not what its last
/// `SyncConsumerGroup` reply named: the SDK 0.11 picks a group poll's partition from that reply and
/// syncs again only when a poll is refused, so a member granted more (a
/// partition another member just released) or less must be told to
/// re-sync, or it never polls what it gained. Apache Iggy names the whole
/// target set at a sync and refuses polls from the member giving a
/// partition up; this server grants a partition only once its holder
/// released it, and tells the member each time its grant changes.
pub(crate) async fn refresh(
    shared: &Shared,
    session: &mut Session,
    topic: &resolve::TopicCtx,
    group: &GroupIds,
) -> Result<Option<Vec<u32>>, Status> {
    let assignment = sync_member(shared, session, topic, group).await?;
    let stale = session
        .groups
        .get(&(topic.topic_ref.clone(), group.name.clone()))
        .and_then(|m| m.told.as_ref())
        .is_some_and(|told| *told != assignment.partitions);
    Ok((!stale).then_some(assignment.partitions))
}
