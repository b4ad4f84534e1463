//! In-process consumer-group coordination, shared by every backend whose groups
//! live in this process (the testkit's memory backend, the embedded log).
//!
//! Rebalancing is cooperative: each partition is assigned to one live member
//! round-robin, but a member is granted a partition only once no other member
//! reports holding it. A member that loses a partition finishes its in-flight
//! work, commits, stops the partition and stops reporting it; only then does the
//! new owner start. So two members never handle one partition at once.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::Mutex;

use crate::{Assignment, Error, ErrorKind, MemberId, Result, TopicRef};

#[derive(Debug, Default)]
struct Group {
    generation: u64,
    members: BTreeMap<MemberId, BTreeSet<u32>>,
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
        g.members.insert(id, BTreeSet::new());
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
        if let Some(own) = g.members.get_mut(&member) {
            *own = held.iter().copied().collect();
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
                    .all(|(other, held)| *other == member || !held.contains(p))
            })
            .collect::<Vec<u32>>();
        // The member starts what it is granted: count it as held from now on, so
        // the partition is not granted to anyone else before the next sync.
        if let Some(own) = g.members.get_mut(&member) {
            own.extend(granted.iter().copied());
        }
        Ok(Assignment {
            generation: g.generation,
            partitions: granted,
        })
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
