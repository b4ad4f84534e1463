//! What a subscription calls for each event.

use std::{fmt, future::Future, sync::Arc};

use async_trait::async_trait;

use crate::{EventEnvelope, TopicRef};

/// Where and how often a message is being delivered.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Delivery {
    /// Topic it was read from.
    pub topic: TopicRef,
    /// Partition it was read from.
    pub partition: u32,
    /// Its offset there.
    pub offset: u64,
    /// Attempt number within this delivery, from 1. The envelope's
    /// `retry_count` also counts attempts made before a redrive.
    pub attempt: u32,
    /// The consumer group.
    pub group: String,
}

/// Why a handler failed, and whether trying again can help.
///
/// Any error converts into a *transient* failure with `?` (retried with backoff,
/// then dead-lettered); [`HandlerError::permanent`] sends the message to the DLQ
/// at once.
///
/// ```
/// use rustok_iggy::HandlerError;
///
/// fn parse(input: &str) -> Result<u32, HandlerError> {
///     let n: u32 = input.parse()?; // transient by default
///     if n == 0 {
///         return Err(HandlerError::permanent("zero is never valid"));
///     }
///     Ok(n)
/// }
/// assert!(parse("x").unwrap_err().is_transient());
/// assert!(!parse("0").unwrap_err().is_transient());
/// ```
pub struct HandlerError {
    permanent: bool,
    error: Box<dyn std::error::Error + Send + Sync>,
}

impl HandlerError {
    /// A failure that retrying may fix (a database timeout, say).
    pub fn transient(error: impl Into<Box<dyn std::error::Error + Send + Sync>>) -> Self {
        Self {
            permanent: false,
            error: error.into(),
        }
    }

    /// A failure no retry will fix (a business rule rejects the event): the
    /// message goes to the DLQ without further attempts.
    pub fn permanent(error: impl Into<Box<dyn std::error::Error + Send + Sync>>) -> Self {
        Self {
            permanent: true,
            error: error.into(),
        }
    }

    /// Whether a retry may help.
    pub fn is_transient(&self) -> bool {
        !self.permanent
    }

    /// The underlying error.
    pub fn error(&self) -> &(dyn std::error::Error + Send + Sync) {
        &*self.error
    }
}

impl<E: Into<Box<dyn std::error::Error + Send + Sync>>> From<E> for HandlerError {
    fn from(error: E) -> Self {
        Self::transient(error)
    }
}

impl fmt::Debug for HandlerError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("HandlerError")
            .field("permanent", &self.permanent)
            .field("error", &self.error)
            .finish()
    }
}

impl fmt::Display for HandlerError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.permanent {
            write!(f, "permanent: {}", self.error)
        } else {
            write!(f, "{}", self.error)
        }
    }
}

/// Handles events of type `E` for a subscription.
///
/// Called for one message of a partition at a time, in offset order; different
/// partitions call it concurrently. Delivery is at least once: make handlers
/// idempotent (the event id is stable across redeliveries).
#[async_trait]
pub trait Handler<E>: Send + Sync + 'static {
    /// Handles one event.
    async fn handle(
        &self,
        envelope: EventEnvelope<E>,
        delivery: &Delivery,
    ) -> Result<(), HandlerError>;
}

#[async_trait]
impl<E: Send + 'static, H: Handler<E>> Handler<E> for Arc<H> {
    async fn handle(
        &self,
        envelope: EventEnvelope<E>,
        delivery: &Delivery,
    ) -> Result<(), HandlerError> {
        (**self).handle(envelope, delivery).await
    }
}

/// A handler from an async closure over the envelope.
///
/// ```
/// use rustok_iggy::{handler_fn, EventEnvelope, HandlerError};
///
/// let handler = handler_fn(|event: EventEnvelope<String>| async move {
///     println!("{}: {}", event.event_type, event.event);
///     Ok::<(), HandlerError>(())
/// });
/// # let _ = handler;
/// ```
pub fn handler_fn<F>(f: F) -> FnHandler<F> {
    FnHandler(f)
}

/// See [`handler_fn`].
pub struct FnHandler<F>(F);

#[async_trait]
impl<E, F, Fut> Handler<E> for FnHandler<F>
where
    E: Send + 'static,
    F: Fn(EventEnvelope<E>) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = Result<(), HandlerError>> + Send,
{
    async fn handle(&self, envelope: EventEnvelope<E>, _: &Delivery) -> Result<(), HandlerError> {
        (self.0)(envelope).await
    }
}
