//! The consumer runtime: subscriptions, partition workers, retries and the DLQ.

mod backoff;
mod handler;
mod replay;
mod subscription;
mod worker;

pub use handler::{handler_fn, Delivery, Handler, HandlerError};
pub use replay::{ReplayFailure, ReplayFrom, ReplayReport};
pub use subscription::{Subscription, SubscriptionOptions, SubscriptionStats};

#[cfg(test)]
mod tests;
