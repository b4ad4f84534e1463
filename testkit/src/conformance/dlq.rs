//! The [`DlqStore`] conformance suite; run it with
//! [`dlq_conformance!`](crate::dlq_conformance).
//!
//! Every case puts its letters under a consumer group (and topics) of its own
//! and lists through a filter on that group, so the suite also runs against a
//! shared store.

use std::sync::Arc;

use chrono::TimeDelta;
use rustok_iggy::{DeadLetter, DlqFilter, DlqStore, ErrorKind, TopicRef};

use super::unique;
use crate::fixtures::{dead_letter_in, test_message_of_type, time};

struct Scope {
    group: String,
    topic: TopicRef,
}

impl Scope {
    fn new() -> Self {
        Self {
            group: unique("group"),
            topic: TopicRef::new(unique("conformance"), unique("orders")),
        }
    }

    fn letter(&self, n: u64) -> DeadLetter {
        dead_letter_in(self.topic.clone(), &self.group, n)
    }

    fn filter(&self) -> DlqFilter {
        DlqFilter {
            group: Some(self.group.clone()),
            ..DlqFilter::default()
        }
    }
}

async fn put(store: &dyn DlqStore, letter: DeadLetter) -> u64 {
    store
        .put(letter)
        .await
        .unwrap_or_else(|e| panic!("put failed: {e}"))
}

async fn put_all(
    store: &dyn DlqStore,
    scope: &Scope,
    ns: impl IntoIterator<Item = u64>,
) -> Vec<u64> {
    let mut ids = Vec::new();
    for n in ns {
        ids.push(put(store, scope.letter(n)).await);
    }
    ids
}

async fn list_ids(store: &dyn DlqStore, filter: DlqFilter) -> Vec<u64> {
    let page = store.list(filter, None, 1_000).await.unwrap();
    assert_eq!(page.next_after, None);
    page.entries.iter().map(|e| e.id).collect()
}

/// The store has a name (it appears in logs and config).
pub async fn describes_itself(store: Arc<dyn DlqStore>) {
    assert!(!store.name().is_empty(), "a DLQ store needs a name");
    let _ = store.capabilities();
}

/// Ids ascend in insertion order.
pub async fn put_returns_ascending_ids(store: Arc<dyn DlqStore>) {
    let scope = Scope::new();
    let ids = put_all(&*store, &scope, 1..=5).await;
    assert!(
        ids.windows(2).all(|w| w[0] < w[1]),
        "ids are not ascending: {ids:?}"
    );
    assert_eq!(list_ids(&*store, scope.filter()).await, ids);
}

/// `get` returns the whole letter exactly as put, not yet redriven.
pub async fn get_returns_the_letter_unchanged(store: Arc<dyn DlqStore>) {
    let scope = Scope::new();
    let mut letter = scope.letter(77);
    letter.message.id = u128::MAX - 5;
    letter.error = "multi-line\nerror: снег ☃".to_owned();
    letter.attempts = 9;
    letter.partition = 3;
    letter.offset = u64::MAX / 3;
    let id = put(&*store, letter.clone()).await;
    let entry = store
        .get(id)
        .await
        .unwrap()
        .expect("the entry just put is missing");
    assert_eq!(entry.id, id);
    assert_eq!(entry.letter, letter);
    assert_eq!(entry.redriven_at, None);
}

/// `get` of an id that was never given is `None`.
pub async fn get_of_unknown_id_is_none(store: Arc<dyn DlqStore>) {
    let scope = Scope::new();
    put_all(&*store, &scope, 1..=2).await;
    assert_eq!(store.get(u64::MAX).await.unwrap(), None);
}

/// Pages follow `after` and `limit`; `next_after` is the last id of the page
/// exactly when more matching entries follow.
pub async fn list_pages_with_after_limit_and_next_after(store: Arc<dyn DlqStore>) {
    let scope = Scope::new();
    let ids = put_all(&*store, &scope, 1..=5).await;
    let ids_of =
        |page: &rustok_iggy::DlqPage| page.entries.iter().map(|e| e.id).collect::<Vec<_>>();

    let first = store.list(scope.filter(), None, 2).await.unwrap();
    assert_eq!(ids_of(&first), ids[0..2]);
    assert_eq!(first.next_after, Some(ids[1]));
    let second = store
        .list(scope.filter(), first.next_after, 2)
        .await
        .unwrap();
    assert_eq!(ids_of(&second), ids[2..4]);
    assert_eq!(second.next_after, Some(ids[3]));
    let last = store
        .list(scope.filter(), second.next_after, 2)
        .await
        .unwrap();
    assert_eq!(ids_of(&last), ids[4..5]);
    assert_eq!(last.next_after, None, "the last page has no cursor");

    // A page that ends exactly at the last entry has no cursor either.
    let exact = store.list(scope.filter(), Some(ids[2]), 2).await.unwrap();
    assert_eq!(ids_of(&exact), ids[3..5]);
    assert_eq!(exact.next_after, None);
    let all = store.list(scope.filter(), None, 100).await.unwrap();
    assert_eq!(ids_of(&all), ids);
    assert_eq!(all.next_after, None);
    let beyond = store.list(scope.filter(), Some(ids[4]), 10).await.unwrap();
    assert!(beyond.entries.is_empty());
    assert_eq!(beyond.next_after, None);
}

/// Filters on topic name, group and `event-type` header select exactly the
/// matching entries.
pub async fn list_filters_by_topic_group_and_event_type(store: Arc<dyn DlqStore>) {
    let scope = Scope::new();
    let other_topic = TopicRef::new(scope.topic.stream.clone(), unique("refunds"));
    let mut ids_a = Vec::new();
    let mut ids_b = Vec::new();
    for n in 1..=3 {
        ids_a.push(put(&*store, scope.letter(n)).await);
        let mut letter = scope.letter(10 + n);
        letter.topic = other_topic.clone();
        letter.message = test_message_of_type(u128::from(10 + n), "refund.issued");
        ids_b.push(put(&*store, letter).await);
    }
    let other_group = Scope::new();
    put(&*store, other_group.letter(1)).await;

    let mut both = [ids_a.clone(), ids_b.clone()].concat();
    both.sort_unstable();
    assert_eq!(list_ids(&*store, scope.filter()).await, both);
    let by_topic = DlqFilter {
        topic: Some(other_topic.topic.clone()),
        ..scope.filter()
    };
    assert_eq!(list_ids(&*store, by_topic.clone()).await, ids_b);
    assert_eq!(store.count(by_topic).await.unwrap(), 3);
    let by_type = DlqFilter {
        event_type: Some("refund.issued".to_owned()),
        ..scope.filter()
    };
    assert_eq!(list_ids(&*store, by_type).await, ids_b);
    let by_both = DlqFilter {
        topic: Some(scope.topic.topic.clone()),
        event_type: Some(crate::fixtures::TEST_EVENT.to_owned()),
        ..scope.filter()
    };
    assert_eq!(list_ids(&*store, by_both).await, ids_a);
    let nothing = DlqFilter {
        topic: Some(scope.topic.topic.clone()),
        event_type: Some("refund.issued".to_owned()),
        ..scope.filter()
    };
    assert!(list_ids(&*store, nothing).await.is_empty());
    assert_eq!(list_ids(&*store, other_group.filter()).await.len(), 1);
}

/// `since` (inclusive) and `until` (exclusive) select by last failure time.
pub async fn list_filters_by_time(store: Arc<dyn DlqStore>) {
    let scope = Scope::new();
    let mut ids = Vec::new();
    for n in 0..5u32 {
        let mut letter = scope.letter(u64::from(n));
        letter.first_failure = time(100 * n);
        letter.last_failure = time(100 * n) + TimeDelta::seconds(10);
        ids.push(put(&*store, letter).await);
    }
    let at = |n: u32| time(100 * n) + TimeDelta::seconds(10);
    let since = DlqFilter {
        since: Some(at(2)),
        ..scope.filter()
    };
    assert_eq!(list_ids(&*store, since).await, ids[2..]);
    let until = DlqFilter {
        until: Some(at(2)),
        ..scope.filter()
    };
    assert_eq!(list_ids(&*store, until).await, ids[..2]);
    let window = DlqFilter {
        since: Some(at(1)),
        until: Some(at(3)),
        ..scope.filter()
    };
    assert_eq!(list_ids(&*store, window.clone()).await, ids[1..3]);
    assert_eq!(store.count(window).await.unwrap(), 2);
}

/// A redriven entry keeps its letter, records when it was redriven, and is
/// listed and counted only with `include_redriven`.
pub async fn mark_redriven_hides_entries_by_default(store: Arc<dyn DlqStore>) {
    let scope = Scope::new();
    let ids = put_all(&*store, &scope, 1..=3).await;
    let at = time(5_000);
    store.mark_redriven(ids[1], at).await.unwrap();
    let entry = store
        .get(ids[1])
        .await
        .unwrap()
        .expect("a redriven entry is still there");
    assert_eq!(entry.redriven_at, Some(at));
    assert_eq!(entry.letter, scope.letter(2));
    assert_eq!(
        list_ids(&*store, scope.filter()).await,
        vec![ids[0], ids[2]]
    );
    assert_eq!(store.count(scope.filter()).await.unwrap(), 2);
    let all = DlqFilter {
        include_redriven: true,
        ..scope.filter()
    };
    let page = store.list(all.clone(), None, 10).await.unwrap();
    assert_eq!(page.entries.iter().map(|e| e.id).collect::<Vec<_>>(), ids);
    assert_eq!(page.entries[1].redriven_at, Some(at));
    assert_eq!(store.count(all).await.unwrap(), 3);
}

/// Marking an id that does not exist is `NotFound`.
pub async fn mark_redriven_of_unknown_id_is_not_found(store: Arc<dyn DlqStore>) {
    match store.mark_redriven(u64::MAX, time(0)).await {
        Err(e) => assert_eq!(e.kind(), ErrorKind::NotFound, "{e}"),
        Ok(()) => panic!("marking an unknown DLQ id succeeded"),
    }
}

/// `delete` removes an entry once: `true`, then `false`.
pub async fn delete_removes(store: Arc<dyn DlqStore>) {
    let scope = Scope::new();
    let ids = put_all(&*store, &scope, 1..=2).await;
    assert!(store.delete(ids[0]).await.unwrap());
    assert!(
        !store.delete(ids[0]).await.unwrap(),
        "a second delete found the entry"
    );
    assert_eq!(store.get(ids[0]).await.unwrap(), None);
    assert_eq!(list_ids(&*store, scope.filter()).await, vec![ids[1]]);
    assert_eq!(store.count(scope.filter()).await.unwrap(), 1);
    assert!(!store.delete(u64::MAX).await.unwrap());
}

/// A second `put` of the same source (a redelivery after a crash: same
/// group, topic, partition, offset and message id, a later failure) returns
/// the stored entry's id and stores nothing, redriven or not; after a delete
/// it stores again. Another offset or group is another letter.
pub async fn put_is_idempotent_per_source(store: Arc<dyn DlqStore>) {
    let scope = Scope::new();
    let first = scope.letter(1);
    let id = put(&*store, first.clone()).await;
    let again = DeadLetter {
        error: "failed again after a restart".into(),
        attempts: first.attempts + 3,
        last_failure: first.last_failure + TimeDelta::seconds(30),
        ..first.clone()
    };
    assert_eq!(
        put(&*store, again.clone()).await,
        id,
        "the same source stored twice"
    );
    assert_eq!(store.count(scope.filter()).await.unwrap(), 1);
    assert_eq!(
        store.get(id).await.unwrap().map(|e| e.letter),
        Some(first.clone())
    );

    store.mark_redriven(id, time(5)).await.unwrap();
    assert_eq!(
        put(&*store, again.clone()).await,
        id,
        "a redriven source stored twice"
    );

    let moved = DeadLetter {
        offset: first.offset + 100,
        ..first.clone()
    };
    let other_group = DeadLetter {
        group: format!("{}-other", scope.group),
        ..first.clone()
    };
    let moved_id = put(&*store, moved).await;
    let other_id = put(&*store, other_group).await;
    assert!(moved_id != id && other_id != id && moved_id != other_id);

    assert!(store.delete(id).await.unwrap());
    let stored_again = put(&*store, again).await;
    assert!(
        stored_again > other_id,
        "after a delete the source is stored anew"
    );
}

/// `count` agrees with `list` under every filter.
pub async fn count_matches_filters(store: Arc<dyn DlqStore>) {
    let scope = Scope::new();
    assert_eq!(store.count(scope.filter()).await.unwrap(), 0);
    let ids = put_all(&*store, &scope, 1..=4).await;
    assert_eq!(store.count(scope.filter()).await.unwrap(), 4);
    store.mark_redriven(ids[0], time(1)).await.unwrap();
    let filters = [
        scope.filter(),
        DlqFilter {
            include_redriven: true,
            ..scope.filter()
        },
        DlqFilter {
            topic: Some(scope.topic.topic.clone()),
            ..scope.filter()
        },
        DlqFilter {
            event_type: Some("no.such.type".to_owned()),
            ..scope.filter()
        },
    ];
    for filter in filters {
        let listed = list_ids(&*store, filter.clone()).await.len() as u64;
        assert_eq!(
            store.count(filter.clone()).await.unwrap(),
            listed,
            "{filter:?}"
        );
    }
    assert_eq!(store.count(scope.filter()).await.unwrap(), 3);
}
