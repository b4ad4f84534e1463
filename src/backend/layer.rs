//! Wrapping a backend: [`BackendLayer`] forwards every method it does not
//! change, so a wrapper (fault injection, checks, metrics) is as long as what
//! it changes, and a wrapped backend keeps its own groups and stores.

use std::{future::Future, pin::Pin, sync::Arc};

use async_trait::async_trait;

use super::{
    AppendAck, Assignment, Backend, BackendCapabilities, Fence, GroupCoordinator, MemberId,
    PartitionInfo, PollRequest, TopicInfo, TopicRef, TopicRetention,
};
use crate::{DlqStore, HealthStatus, Message, OffsetStore, Record, Result};

/// A wrapper around a backend that changes some of its methods.
///
/// Implement [`inner`](BackendLayer::inner) and the methods the wrapper
/// changes; every other method forwards to the inner backend. Every
/// `BackendLayer` is a [`Backend`]. `Box<B>` is a layer over `B` that changes
/// nothing (and `Arc<B>` forwards the same way), so boxed and shared
/// backends are backends too.
///
/// Call the trait's methods on a layer through `Backend` (have only
/// `Backend` in scope there, or write `Backend::append(&layer, …)`): both
/// traits name the same methods.
///
/// ```
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> rustok_iggy::Result<()> {
/// use std::sync::{atomic::{AtomicU64, Ordering}, Arc};
/// use rustok_iggy::{AppendAck, Backend, Message, Result, TopicRef};
///
/// /// Counts appended messages; everything else is the inner backend's.
/// struct Counting {
///     inner: Arc<dyn Backend>,
///     appended: AtomicU64,
/// }
///
/// #[async_trait::async_trait]
/// impl rustok_iggy::BackendLayer for Counting {
///     type Inner = dyn Backend;
///     fn inner(&self) -> &Self::Inner {
///         &*self.inner
///     }
///     async fn append(&self, topic: &TopicRef, partition: u32, messages: Vec<Message>) -> Result<AppendAck> {
///         let ack = self.inner.append(topic, partition, messages).await?;
///         self.appended.fetch_add(u64::from(ack.count), Ordering::Relaxed);
///         Ok(ack)
///     }
/// }
///
/// # let memory: Arc<dyn Backend> = Arc::new(rustok_iggy_testkit::MemoryBackend::new());
/// let counting = Arc::new(Counting { inner: memory, appended: AtomicU64::new(0) });
/// let backend: Arc<dyn Backend> = counting.clone();
/// let topic = TopicRef::new("app", "orders");
/// backend.ensure_topic(&topic, 1).await?; // forwarded
/// backend.append(&topic, 0, vec![rustok_iggy_testkit::fixtures::test_message(1)]).await?;
/// assert_eq!(counting.appended.load(Ordering::Relaxed), 1);
/// # Ok(()) }
/// ```
#[async_trait]
pub trait BackendLayer: Send + Sync {
    /// The wrapped backend's type (`dyn Backend` for a wrapper of any).
    type Inner: Backend + ?Sized;

    /// The wrapped backend.
    fn inner(&self) -> &Self::Inner;

    /// [`Backend::name`]; forwards.
    fn name(&self) -> &str {
        self.inner().name()
    }

    /// [`Backend::capabilities`]; forwards.
    fn capabilities(&self) -> BackendCapabilities {
        self.inner().capabilities()
    }

    /// [`Backend::ensure_topic`]; forwards.
    async fn ensure_topic(&self, topic: &TopicRef, partitions: u32) -> Result<TopicInfo> {
        self.inner().ensure_topic(topic, partitions).await
    }

    /// [`Backend::topic_info`]; forwards.
    async fn topic_info(&self, topic: &TopicRef) -> Result<TopicInfo> {
        self.inner().topic_info(topic).await
    }

    /// [`Backend::delete_topic`]; forwards.
    async fn delete_topic(&self, topic: &TopicRef) -> Result<()> {
        self.inner().delete_topic(topic).await
    }

    /// [`Backend::add_partitions`]; forwards.
    async fn add_partitions(&self, topic: &TopicRef, count: u32) -> Result<TopicInfo> {
        self.inner().add_partitions(topic, count).await
    }

    /// [`Backend::delete_partitions`]; forwards.
    async fn delete_partitions(&self, topic: &TopicRef, count: u32) -> Result<TopicInfo> {
        self.inner().delete_partitions(topic, count).await
    }

    /// [`Backend::purge_topic`]; forwards.
    async fn purge_topic(&self, topic: &TopicRef) -> Result<()> {
        self.inner().purge_topic(topic).await
    }

    /// [`Backend::delete_segments`]; forwards.
    async fn delete_segments(&self, topic: &TopicRef, partition: u32, count: u32) -> Result<u32> {
        self.inner().delete_segments(topic, partition, count).await
    }

    /// [`Backend::topic_retention`]; forwards.
    async fn topic_retention(&self, topic: &TopicRef) -> Result<TopicRetention> {
        self.inner().topic_retention(topic).await
    }

    /// [`Backend::set_topic_retention`]; forwards.
    async fn set_topic_retention(
        &self,
        topic: &TopicRef,
        retention: TopicRetention,
    ) -> Result<TopicRetention> {
        self.inner().set_topic_retention(topic, retention).await
    }

    /// [`Backend::list_topics`]; forwards.
    async fn list_topics(&self, stream: &str) -> Result<Vec<TopicInfo>> {
        self.inner().list_topics(stream).await
    }

    /// [`Backend::append`]; forwards.
    async fn append(
        &self,
        topic: &TopicRef,
        partition: u32,
        messages: Vec<Message>,
    ) -> Result<AppendAck> {
        self.inner().append(topic, partition, messages).await
    }

    /// [`Backend::poll`]; forwards.
    async fn poll(&self, request: PollRequest) -> Result<Vec<Record>> {
        self.inner().poll(request).await
    }

    /// [`Backend::partition_info`]; forwards.
    async fn partition_info(&self, topic: &TopicRef, partition: u32) -> Result<PartitionInfo> {
        self.inner().partition_info(topic, partition).await
    }

    /// [`Backend::flush`]; forwards.
    async fn flush(&self, topic: &TopicRef, partition: u32, fsync: bool) -> Result<()> {
        self.inner().flush(topic, partition, fsync).await
    }

    /// [`Backend::health`]; forwards.
    async fn health(&self) -> HealthStatus {
        self.inner().health().await
    }

    /// [`Backend::shutdown`]; forwards.
    async fn shutdown(&self) -> Result<()> {
        self.inner().shutdown().await
    }

    /// [`Backend::groups`]; forwards.
    fn groups(&self) -> Option<Arc<GroupCoordinator>> {
        self.inner().groups()
    }

    /// [`Backend::join_group`]; forwards.
    async fn join_group(&self, topic: &TopicRef, group: &str) -> Result<MemberId> {
        self.inner().join_group(topic, group).await
    }

    /// [`Backend::sync_group`]; forwards.
    async fn sync_group(
        &self,
        topic: &TopicRef,
        group: &str,
        member: MemberId,
        held: Vec<u32>,
    ) -> Result<Assignment> {
        self.inner().sync_group(topic, group, member, held).await
    }

    /// [`Backend::leave_group`]; forwards.
    async fn leave_group(&self, topic: &TopicRef, group: &str, member: MemberId) -> Result<()> {
        self.inner().leave_group(topic, group, member).await
    }

    /// [`Backend::commit_offset`]; forwards.
    async fn commit_offset(
        &self,
        store: &Arc<dyn OffsetStore>,
        topic: &TopicRef,
        group: &str,
        partition: u32,
        fence: Fence,
        next_offset: u64,
    ) -> Result<()> {
        self.inner()
            .commit_offset(store, topic, group, partition, fence, next_offset)
            .await
    }

    /// [`Backend::offset_store`]; forwards.
    fn offset_store(&self) -> Option<Arc<dyn OffsetStore>> {
        self.inner().offset_store()
    }

    /// [`Backend::dlq_store`]; forwards.
    fn dlq_store(&self) -> Option<Arc<dyn DlqStore>> {
        self.inner().dlq_store()
    }
}

/// The boxed future of an `async_trait` method.
type Fut<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

/// The `Backend` methods, each handing its call on: `layer` to the
/// [`BackendLayer`] method of `self`, `shared` to the `Backend` method of the
/// value behind `self`. Written out (rather than with `async_trait`) so the
/// forwarding adds no second boxed future per call.
macro_rules! forward {
    (layer) => { forward!(@all BackendLayer itself); };
    (shared) => { forward!(@all Backend pointee); };
    (@all $trait:ident $to:ident) => {
        fn name(&self) -> &str {
            $trait::name($to(self))
        }
        fn capabilities(&self) -> BackendCapabilities {
            $trait::capabilities($to(self))
        }
        fn ensure_topic<'life0, 'life1, 'async_trait>(
            &'life0 self,
            topic: &'life1 TopicRef,
            partitions: u32,
        ) -> Fut<'async_trait, Result<TopicInfo>>
        where
            'life0: 'async_trait,
            'life1: 'async_trait,
            Self: 'async_trait,
        {
            $trait::ensure_topic($to(self), topic, partitions)
        }
        fn topic_info<'life0, 'life1, 'async_trait>(
            &'life0 self,
            topic: &'life1 TopicRef,
        ) -> Fut<'async_trait, Result<TopicInfo>>
        where
            'life0: 'async_trait,
            'life1: 'async_trait,
            Self: 'async_trait,
        {
            $trait::topic_info($to(self), topic)
        }
        fn delete_topic<'life0, 'life1, 'async_trait>(
            &'life0 self,
            topic: &'life1 TopicRef,
        ) -> Fut<'async_trait, Result<()>>
        where
            'life0: 'async_trait,
            'life1: 'async_trait,
            Self: 'async_trait,
        {
            $trait::delete_topic($to(self), topic)
        }
        fn add_partitions<'life0, 'life1, 'async_trait>(
            &'life0 self,
            topic: &'life1 TopicRef,
            count: u32,
        ) -> Fut<'async_trait, Result<TopicInfo>>
        where
            'life0: 'async_trait,
            'life1: 'async_trait,
            Self: 'async_trait,
        {
            $trait::add_partitions($to(self), topic, count)
        }
        fn delete_partitions<'life0, 'life1, 'async_trait>(
            &'life0 self,
            topic: &'life1 TopicRef,
            count: u32,
        ) -> Fut<'async_trait, Result<TopicInfo>>
        where
            'life0: 'async_trait,
            'life1: 'async_trait,
            Self: 'async_trait,
        {
            $trait::delete_partitions($to(self), topic, count)
        }
        fn purge_topic<'life0, 'life1, 'async_trait>(
            &'life0 self,
            topic: &'life1 TopicRef,
        ) -> Fut<'async_trait, Result<()>>
        where
            'life0: 'async_trait,
            'life1: 'async_trait,
            Self: 'async_trait,
        {
            $trait::purge_topic($to(self), topic)
        }
        fn delete_segments<'life0, 'life1, 'async_trait>(
            &'life0 self,
            topic: &'life1 TopicRef,
            partition: u32,
            count: u32,
        ) -> Fut<'async_trait, Result<u32>>
        where
            'life0: 'async_trait,
            'life1: 'async_trait,
            Self: 'async_trait,
        {
            $trait::delete_segments($to(self), topic, partition, count)
        }
        fn topic_retention<'life0, 'life1, 'async_trait>(
            &'life0 self,
            topic: &'life1 TopicRef,
        ) -> Fut<'async_trait, Result<TopicRetention>>
        where
            'life0: 'async_trait,
            'life1: 'async_trait,
            Self: 'async_trait,
        {
            $trait::topic_retention($to(self), topic)
        }
        fn set_topic_retention<'life0, 'life1, 'async_trait>(
            &'life0 self,
            topic: &'life1 TopicRef,
            retention: TopicRetention,
        ) -> Fut<'async_trait, Result<TopicRetention>>
        where
            'life0: 'async_trait,
            'life1: 'async_trait,
            Self: 'async_trait,
        {
            $trait::set_topic_retention($to(self), topic, retention)
        }
        fn list_topics<'life0, 'life1, 'async_trait>(
            &'life0 self,
            stream: &'life1 str,
        ) -> Fut<'async_trait, Result<Vec<TopicInfo>>>
        where
            'life0: 'async_trait,
            'life1: 'async_trait,
            Self: 'async_trait,
        {
            $trait::list_topics($to(self), stream)
        }
        fn append<'life0, 'life1, 'async_trait>(
            &'life0 self,
            topic: &'life1 TopicRef,
            partition: u32,
            messages: Vec<Message>,
        ) -> Fut<'async_trait, Result<AppendAck>>
        where
            'life0: 'async_trait,
            'life1: 'async_trait,
            Self: 'async_trait,
        {
            $trait::append($to(self), topic, partition, messages)
        }
        fn poll<'life0, 'async_trait>(
            &'life0 self,
            request: PollRequest,
        ) -> Fut<'async_trait, Result<Vec<Record>>>
        where
            'life0: 'async_trait,
            Self: 'async_trait,
        {
            $trait::poll($to(self), request)
        }
        fn partition_info<'life0, 'life1, 'async_trait>(
            &'life0 self,
            topic: &'life1 TopicRef,
            partition: u32,
        ) -> Fut<'async_trait, Result<PartitionInfo>>
        where
            'life0: 'async_trait,
            'life1: 'async_trait,
            Self: 'async_trait,
        {
            $trait::partition_info($to(self), topic, partition)
        }
        fn flush<'life0, 'life1, 'async_trait>(
            &'life0 self,
            topic: &'life1 TopicRef,
            partition: u32,
            fsync: bool,
        ) -> Fut<'async_trait, Result<()>>
        where
            'life0: 'async_trait,
            'life1: 'async_trait,
            Self: 'async_trait,
        {
            $trait::flush($to(self), topic, partition, fsync)
        }
        fn health<'life0, 'async_trait>(&'life0 self) -> Fut<'async_trait, HealthStatus>
        where
            'life0: 'async_trait,
            Self: 'async_trait,
        {
            $trait::health($to(self))
        }
        fn shutdown<'life0, 'async_trait>(&'life0 self) -> Fut<'async_trait, Result<()>>
        where
            'life0: 'async_trait,
            Self: 'async_trait,
        {
            $trait::shutdown($to(self))
        }
        fn groups(&self) -> Option<Arc<GroupCoordinator>> {
            $trait::groups($to(self))
        }
        fn join_group<'life0, 'life1, 'life2, 'async_trait>(
            &'life0 self,
            topic: &'life1 TopicRef,
            group: &'life2 str,
        ) -> Fut<'async_trait, Result<MemberId>>
        where
            'life0: 'async_trait,
            'life1: 'async_trait,
            'life2: 'async_trait,
            Self: 'async_trait,
        {
            $trait::join_group($to(self), topic, group)
        }
        fn sync_group<'life0, 'life1, 'life2, 'async_trait>(
            &'life0 self,
            topic: &'life1 TopicRef,
            group: &'life2 str,
            member: MemberId,
            held: Vec<u32>,
        ) -> Fut<'async_trait, Result<Assignment>>
        where
            'life0: 'async_trait,
            'life1: 'async_trait,
            'life2: 'async_trait,
            Self: 'async_trait,
        {
            $trait::sync_group($to(self), topic, group, member, held)
        }
        fn leave_group<'life0, 'life1, 'life2, 'async_trait>(
            &'life0 self,
            topic: &'life1 TopicRef,
            group: &'life2 str,
            member: MemberId,
        ) -> Fut<'async_trait, Result<()>>
        where
            'life0: 'async_trait,
            'life1: 'async_trait,
            'life2: 'async_trait,
            Self: 'async_trait,
        {
            $trait::leave_group($to(self), topic, group, member)
        }
        #[allow(clippy::too_many_arguments)]
        fn commit_offset<'life0, 'life1, 'life2, 'life3, 'async_trait>(
            &'life0 self,
            store: &'life1 Arc<dyn OffsetStore>,
            topic: &'life2 TopicRef,
            group: &'life3 str,
            partition: u32,
            fence: Fence,
            next_offset: u64,
        ) -> Fut<'async_trait, Result<()>>
        where
            'life0: 'async_trait,
            'life1: 'async_trait,
            'life2: 'async_trait,
            'life3: 'async_trait,
            Self: 'async_trait,
        {
            $trait::commit_offset($to(self), store, topic, group, partition, fence, next_offset)
        }
        fn offset_store(&self) -> Option<Arc<dyn OffsetStore>> {
            $trait::offset_store($to(self))
        }
        fn dlq_store(&self) -> Option<Arc<dyn DlqStore>> {
            $trait::dlq_store($to(self))
        }
    };
}

/// `forward!(layer)`'s receiver: the layer itself.
fn itself<T: ?Sized>(this: &T) -> &T {
    this
}

/// `forward!(shared)`'s receiver: what the `Arc` points to.
fn pointee<B: ?Sized>(this: &Arc<B>) -> &B {
    this
}

impl<L: BackendLayer> Backend for L {
    forward!(layer);
}

impl<B: Backend + ?Sized> Backend for Arc<B> {
    forward!(shared);
}

impl<B: Backend + ?Sized> BackendLayer for Box<B> {
    type Inner = B;

    fn inner(&self) -> &B {
        self
    }
}
