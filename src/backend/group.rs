//! In-process consumer-group coordination, shared by every backend whose groups
//! live in this process (the testkit's memory backend, the embedded log).
//!
//! Rebalancing is cooperative: each partition is assigned to one live member
//! round-robin, but a member is granted a partition only once no other member
//! reports holding it. A member that loses a partition finishes its in-flight
//! work, commits, stops the partition and stops reporting it; only then does the
//! new owner start. So two members never handle one partition at once.
//!
//! Offset commits are fenced against the same record
//! ([`GroupCoordinator::commit`]): a member may commit a partition while it
//! holds it under the grant its [`Fence`] names, and never after.

use std::collections::{BTreeMap, HashMap};
use std::sync::Mutex;

use crate::{Assignment, Error, ErrorKind, Fence, MemberId, OffsetStore, Result, TopicRef};

/// Partitions a member holds, each with the generation it was granted at.
type Held = BTreeMap<u32, u64>;

#[derive(Debug, Default)]
struct Group {
    generation: u64,
    members: BTreeMap<MemberId, Held>,
}

/// Tracks members and partition ownership of every (topic, group).
///
/// ```
/// use rustok_iggy::{GroupCoordinator, TopicRef};
///
/// let groups = GroupCoordinator::default();
/// let topic = TopicRef::new("app", "orders");
/// let a = groups.join(&topic, "billing");
/// assert_eq!(groups.sync(&topic, "billing", a, &[], 2).unwrap().partitions, vec![0, 1]);
///
/// // A second member joins: partition 1 is moving to it, but `a` still holds it.
/// let b = groups.join(&topic, "billing");
/// assert_eq!(groups.sync(&topic, "billing", b, &[], 2).unwrap().partitions, Vec::<u32>::new());
/// // `a` learns it keeps only 0, stops 1 and reports so; then `b` gets 1.
/// assert_eq!(groups.sync(&topic, "billing", a, &[0, 1], 2).unwrap().partitions, vec![0]);
/// groups.sync(&topic, "billing", a, &[0], 2).unwrap();
/// assert_eq!(groups.sync(&topic, "billing", b, &[], 2).unwrap().partitions, vec![1]);
/// ```
#[derive(Debug, Default)]
pub struct GroupCoordinator {
    groups: Mutex<HashMap<(TopicRef, String), Group>>,
    next_member: std::sync::atomic::AtomicU64,
}

impl GroupCoordinator {
    /// Adds a member to `group` on `topic` (creating the group) and returns its id.
    pub fn join(&self, topic: &TopicRef, group: &str) -> MemberId {
        let id = MemberId(
            self.next_member
                .fetch_add(1, std::sync::atomic::Ordering::Relaxed)
                + 1,
        );
        let mut groups = self.lock();
        let g = groups.entry((topic.clone(), group.to_owned())).or_default();
        g.members.insert(id, Held::new());
        g.generation += 1;
        id
    }

    /// Records what `member` holds and returns what it may consume among
    /// `partitions` partitions.
    pub fn sync(
        &self,
        topic: &TopicRef,
        group: &str,
        member: MemberId,
        held: &[u32],
        partitions: u32,
    ) -> Result<Assignment> {
        let mut groups = self.lock();
        let g = groups
            .get_mut(&(topic.clone(), group.to_owned()))
            .filter(|g| g.members.contains_key(&member))
            .ok_or_else(|| not_member(topic, group, member))?;
        let generation = g.generation;
        if let Some(own) = g.members.get_mut(&member) {
            // What the member reports keeps the generation it was granted at;
            // what it no longer reports is released.
            *own = held
                .iter()
                .map(|p| (*p, own.get(p).copied().unwrap_or(generation)))
                .collect();
        }
        let ids: Vec<MemberId> = g.members.keys().copied().collect();
        let Some(position) = ids.iter().position(|m| *m == member) else {
            return Err(not_member(topic, group, member));
        };
        let granted = (0..partitions)
            .filter(|p| *p as usize % ids.len() == position)
            .filter(|p| {
                g.members
                    .iter()
                    .all(|(other, held)| *other == member || !held.contains_key(p))
            })
            .collect::<Vec<u32>>();
        // The member starts what it is granted: count it as held from now on, so
        // the partition is not granted to anyone else before the next sync.
        if let Some(own) = g.members.get_mut(&member) {
            for p in &granted {
                own.entry(*p).or_insert(generation);
            }
        }
        Ok(Assignment {
            generation: g.generation,
            partitions: granted,
        })
    }

    /// Checks that `fence.member` is in `group` and holds `partition` under
    /// the grant of `fence.generation`; [`ErrorKind::Fenced`] otherwise.
    pub fn check(&self, topic: &TopicRef, group: &str, partition: u32, fence: Fence) -> Result<()> {
        let groups = self.lock();
        let held = groups
            .get(&(topic.clone(), group.to_owned()))
            .and_then(|g| g.members.get(&fence.member));
        match held.map(|held| held.get(&partition)) {
            Some(Some(granted)) if *granted == fence.generation => Ok(()),
            Some(Some(granted)) => Err(fence.refused(
                topic,
                group,
                partition,
                format!("it was granted the partition again at generation {granted}"),
            )),
            Some(None) => Err(fence.refused(
                topic,
                group,
                partition,
                "the partition was given to another member",
            )),
            None => Err(fence.refused(
                topic,
                group,
                partition,
                "the member is not in the group (it left or was removed)",
            )),
        }
    }

    /// A fenced commit into `store`: [`check`](Self::check), then
    /// [`OffsetStore::commit`]. The check stays true while the write runs,
    /// since a held partition moves only after its holder released it (its
    /// own sync or leave) or its topic was deleted; this is
    /// [`Backend::commit_offset`](crate::Backend::commit_offset) for every
    /// backend whose groups live in this process.
    pub async fn commit(
        &self,
        store: &dyn OffsetStore,
        topic: &TopicRef,
        group: &str,
        partition: u32,
        fence: Fence,
        next_offset: u64,
    ) -> Result<()> {
        self.check(topic, group, partition, fence)?;
        store.commit(group, topic, partition, next_offset).await
    }

    /// Removes `member`; its partitions become free at once.
    pub fn leave(&self, topic: &TopicRef, group: &str, member: MemberId) -> Result<()> {
        let mut groups = self.lock();
        let key = (topic.clone(), group.to_owned());
        let g = groups
            .get_mut(&key)
            .ok_or_else(|| not_member(topic, group, member))?;
        if g.members.remove(&member).is_none() {
            return Err(not_member(topic, group, member));
        }
        g.generation += 1;
        if g.members.is_empty() {
            groups.remove(&key);
        }
        Ok(())
    }

    /// Forgets every group of `topic` and their members (for a deleted
    /// topic): a later `sync` or `leave` of one of those members is
    /// [`ErrorKind::NotFound`], so its subscription joins again, and a topic
    /// created again under the name starts without ghost members.
    pub fn forget_topic(&self, topic: &TopicRef) {
        self.lock().retain(|(t, _), _| t != topic);
    }

    /// After `topic` lost its partitions from `from` on: no member holds one
    /// of them any more (a partition created again under the number is free
    /// for its new owner), and every group of the topic moves to a new
    /// generation, as on a membership change, so members sync the new count.
    pub fn forget_partitions_from(&self, topic: &TopicRef, from: u32) {
        for ((t, _), g) in self.lock().iter_mut() {
            if t == topic {
                for held in g.members.values_mut() {
                    held.retain(|p, _| *p < from);
                }
                g.generation += 1;
            }
        }
    }

    /// Live members of `group` on `topic`.
    pub fn members(&self, topic: &TopicRef, group: &str) -> Vec<MemberId> {
        self.lock()
            .get(&(topic.clone(), group.to_owned()))
            .map(|g| g.members.keys().copied().collect())
            .unwrap_or_default()
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<(TopicRef, String), Group>> {
        // The map stays consistent even if a holder panicked: every update is a
        // single insert or remove.
        self.groups.lock().unwrap_or_else(|p| p.into_inner())
    }
}

fn not_member(topic: &TopicRef, group: &str, member: MemberId) -> Error {
    Error::new(
        ErrorKind::NotFound,
        format!("member {} is not in group `{group}`", member.0),
    )
    .with_context("topic", topic)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn forgetting_a_topic_drops_its_groups_only() {
        let groups = GroupCoordinator::default();
        let (orders, refunds) = (
            TopicRef::new("app", "orders"),
            TopicRef::new("app", "refunds"),
        );
        let a = groups.join(&orders, "billing");
        let b = groups.join(&refunds, "billing");
        groups.forget_topic(&orders);
        assert!(groups.members(&orders, "billing").is_empty());
        assert_eq!(
            groups
                .sync(&orders, "billing", a, &[], 2)
                .unwrap_err()
                .kind(),
            ErrorKind::NotFound
        );
        assert_eq!(groups.members(&refunds, "billing"), vec![b]);
    }

    #[test]
    fn commits_are_checked_against_the_holder_and_its_grant() {
        let c = GroupCoordinator::default();
        let t = TopicRef::new("s", "t");
        let a = c.join(&t, "g");
        let first = c.sync(&t, "g", a, &[], 1).unwrap();
        let fence = Fence::new(a, first.generation);
        c.check(&t, "g", 0, fence).unwrap();
        // Released, then granted again: the old grant no longer commits.
        c.sync(&t, "g", a, &[], 1).unwrap();
        let b = c.join(&t, "g");
        c.leave(&t, "g", b).unwrap();
        let again = c.sync(&t, "g", a, &[], 1).unwrap();
        assert!(again.generation > first.generation);
        let kind = |r: Result<()>| r.unwrap_err().kind();
        assert_eq!(kind(c.check(&t, "g", 0, fence)), ErrorKind::Fenced);
        c.check(&t, "g", 0, Fence::new(a, again.generation))
            .unwrap();
        // Another partition, another group, a member that left: fenced.
        assert_eq!(kind(c.check(&t, "g", 1, fence)), ErrorKind::Fenced);
        assert_eq!(kind(c.check(&t, "h", 0, fence)), ErrorKind::Fenced);
        c.leave(&t, "g", a).unwrap();
        let last = Fence::new(a, again.generation);
        assert_eq!(kind(c.check(&t, "g", 0, last)), ErrorKind::Fenced);
    }

    #[test]
    fn every_partition_has_exactly_one_owner_once_settled() {
        let c = GroupCoordinator::default();
        let t = TopicRef::new("s", "t");
        let members: Vec<_> = (0..3).map(|_| c.join(&t, "g")).collect();
        let mut held: BTreeMap<MemberId, Vec<u32>> = BTreeMap::new();
        // Two rounds settle the cooperative handover.
        for _ in 0..2 {
            for m in &members {
                let h = held.get(m).cloned().unwrap_or_default();
                let a = c.sync(&t, "g", *m, &h, 8).unwrap();
                held.insert(*m, a.partitions);
            }
        }
        let mut all: Vec<u32> = held.values().flatten().copied().collect();
        all.sort();
        assert_eq!(all, (0..8).collect::<Vec<_>>());
    }

    #[test]
    fn leaving_frees_partitions_and_unknown_members_are_errors() {
        let c = GroupCoordinator::default();
        let t = TopicRef::new("s", "t");
        let a = c.join(&t, "g");
        let b = c.join(&t, "g");
        c.sync(&t, "g", a, &[0], 2).unwrap();
        assert!(c.sync(&t, "g", b, &[], 2).unwrap().partitions == vec![1]);
        c.leave(&t, "g", a).unwrap();
        assert_eq!(c.sync(&t, "g", b, &[1], 2).unwrap().partitions, vec![0, 1]);
        assert_eq!(
            c.sync(&t, "g", a, &[], 2).unwrap_err().kind(),
            ErrorKind::NotFound
        );
        assert!(c.leave(&t, "g", a).is_err());
        assert_eq!(c.members(&t, "g"), vec![b]);
    }
}
