//! The consumer runtime: subscriptions, partition workers, retries and the DLQ.

mod backoff;
mod commits;
mod context;
mod handler;
mod receiver;
mod replay;
mod state;
mod subscription;
mod worker;

pub use handler::{handler_fn, Delivery, Handler, HandlerError};
pub use receiver::{Acker, Received, Receiver};
pub use replay::{ReplayFailure, ReplayFrom, ReplayReport};
pub(crate) use state::SubscriptionState;
pub use state::SubscriptionStats;
pub(crate) use subscription::stop;
pub use subscription::{ShutdownReport, StuckHandler, Subscription, SubscriptionOptions};

#[cfg(test)]
mod tests;
