//! The one waiter of the tests: poll a condition until it holds.
//!
//! A test that waits for something another task does (a handler ran, a
//! commit landed, a server restarted) checks it again and again, a short
//! pause apart. The bound on the number of checks is a hang guard, not a
//! statement about speed: a condition that holds returns at once, and a
//! broken test fails with a message naming what it waited for instead of
//! hanging.

use std::{future::Future, time::Duration};

/// Pause between two checks.
const PAUSE: Duration = Duration::from_millis(10);

/// Checks made before giving up: with [`PAUSE`] between them, at least two
/// minutes (more, counting the checks' own time).
const ATTEMPTS: u32 = 12_000;

/// Waits until `check` resolves to `true`, checking again every 10 ms.
///
/// `what` names the awaited condition in the panic message. The tokio clock
/// is used, so a test with a paused clock waits in virtual time.
///
/// ```
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() {
/// use std::sync::{
///     atomic::{AtomicU32, Ordering},
///     Arc,
/// };
/// use rustok_iggy_testkit::eventually;
///
/// let handled = Arc::new(AtomicU32::new(0));
/// let counter = handled.clone();
/// tokio::spawn(async move {
///     for _ in 0..3 {
///         counter.fetch_add(1, Ordering::SeqCst);
///     }
/// });
/// eventually("three events handled", || async {
///     handled.load(Ordering::SeqCst) == 3
/// })
/// .await;
/// # }
/// ```
///
/// # Panics
///
/// When the condition still does not hold after 12,000 checks (two minutes
/// at least): `gave up waiting for: {what}`.
pub async fn eventually<F, Fut>(what: &str, mut check: F)
where
    F: FnMut() -> Fut,
    Fut: Future<Output = bool>,
{
    eventually_some(what, || {
        let holds = check();
        async move { holds.await.then_some(()) }
    })
    .await
}

/// Waits until `check` resolves to `Some`, checking again every 10 ms, and
/// returns the value: [`eventually()`] for a condition that has something to
/// show once it holds.
///
/// ```
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() {
/// use std::sync::{Arc, Mutex};
/// use rustok_iggy_testkit::eventually_some;
///
/// let log = Arc::new(Mutex::new(Vec::new()));
/// let writer = log.clone();
/// tokio::spawn(async move { writer.lock().unwrap().push("commit 5 lands") });
/// let line = eventually_some("a commit logged", || async {
///     log.lock().unwrap().first().copied()
/// })
/// .await;
/// assert_eq!(line, "commit 5 lands");
/// # }
/// ```
///
/// # Panics
///
/// When `check` still resolves to `None` after 12,000 checks (two minutes
/// at least): `gave up waiting for: {what}`.
pub async fn eventually_some<T, F, Fut>(what: &str, mut check: F) -> T
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Option<T>>,
{
    for _ in 0..ATTEMPTS {
        if let Some(value) = check().await {
            return value;
        }
        tokio::time::sleep(PAUSE).await;
    }
    panic!(
        "gave up waiting for: {what} ({ATTEMPTS} checks, {} ms apart)",
        PAUSE.as_millis()
    );
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicU32, Ordering};

    use super::*;

    #[tokio::test(start_paused = true)]
    async fn returns_as_soon_as_the_condition_holds() {
        let checks = AtomicU32::new(0);
        eventually("the third check", || async {
            checks.fetch_add(1, Ordering::SeqCst) == 2
        })
        .await;
        assert_eq!(checks.load(Ordering::SeqCst), 3);

        let value = eventually_some("a value", || async {
            let n = checks.fetch_add(1, Ordering::SeqCst);
            (n >= 5).then_some(n)
        })
        .await;
        assert_eq!(value, 5);
    }

    #[tokio::test(start_paused = true)]
    #[should_panic(expected = "gave up waiting for: something that never happens")]
    async fn gives_up_naming_what_it_waited_for() {
        eventually("something that never happens", || async { false }).await;
    }
}
