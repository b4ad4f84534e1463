//! The long-poll loop shared by in-process backends (memory, embedded).

use std::time::Duration;

use tokio::{sync::watch, time::Instant};

use crate::{Record, Result};

/// Reads records the way an in-process backend long-polls.
///
/// Calls `read`; if it finds nothing, waits until `visible` changes (new
/// records became readable), `closed` turns true, or `max_wait` passes, and
/// reads again. `read` should check that the backend is still open, so a
/// close during the wait ends the poll with its error. The mark is observed
/// *before* each read, so records published between the read and the wait
/// still wake it.
///
/// ```
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> rustok_iggy::Result<()> {
/// use std::time::Duration;
/// use tokio::sync::watch;
///
/// let (_visible_tx, visible) = watch::channel(0u64);
/// let (_closed_tx, closed) = watch::channel(false);
/// // Nothing is ever readable: the poll returns empty after `max_wait`.
/// let records = rustok_iggy::long_poll(Duration::from_millis(5), visible, closed, || Ok(Vec::new())).await?;
/// assert!(records.is_empty());
/// # Ok(()) }
/// ```
pub async fn long_poll<F>(
    max_wait: Duration,
    mut visible: watch::Receiver<u64>,
    mut closed: watch::Receiver<bool>,
    mut read: F,
) -> Result<Vec<Record>>
where
    F: FnMut() -> Result<Vec<Record>>,
{
    // `None`: a wait too long to represent, i.e. until data comes.
    let deadline = Instant::now().checked_add(max_wait);
    loop {
        visible.borrow_and_update();
        let records = read()?;
        if !records.is_empty() || deadline.is_some_and(|d| Instant::now() >= d) {
            return Ok(records);
        }
        let timeout = async {
            match deadline {
                Some(d) => tokio::time::sleep_until(d).await,
                None => std::future::pending::<()>().await,
            }
        };
        tokio::select! {
            changed = visible.changed() => {
                // The partition is gone: nothing more will become readable.
                if changed.is_err() {
                    return Ok(Vec::new());
                }
            }
            _ = closed.wait_for(|c| *c) => {}
            () = timeout => return Ok(Vec::new()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{Error, ErrorKind, Message};

    fn record(offset: u64) -> Record {
        Record {
            offset,
            timestamp_micros: 0,
            message: Message {
                origin_timestamp_micros: None,
                id: 1,
                headers: Default::default(),
                payload: Default::default(),
            },
        }
    }

    #[tokio::test]
    async fn wakes_when_the_mark_moves() {
        let (visible_tx, visible) = watch::channel(0u64);
        let (_closed_tx, closed) = watch::channel(false);
        let ready = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
        let flag = ready.clone();
        let poll = tokio::spawn(long_poll(
            Duration::from_secs(600),
            visible,
            closed,
            move || {
                Ok(if flag.load(std::sync::atomic::Ordering::SeqCst) {
                    vec![record(0)]
                } else {
                    Vec::new()
                })
            },
        ));
        tokio::task::yield_now().await;
        ready.store(true, std::sync::atomic::Ordering::SeqCst);
        visible_tx.send_replace(1);
        assert_eq!(poll.await.unwrap().unwrap().len(), 1);
    }

    #[tokio::test]
    async fn a_close_during_the_wait_ends_it_with_the_readers_error() {
        let (_visible_tx, visible) = watch::channel(0u64);
        let (closed_tx, closed) = watch::channel(false);
        let shut = closed_tx.subscribe();
        let poll = tokio::spawn(long_poll(
            Duration::from_secs(600),
            visible,
            closed,
            move || {
                if *shut.borrow() {
                    Err(Error::new(ErrorKind::Closed, "closed"))
                } else {
                    Ok(Vec::new())
                }
            },
        ));
        tokio::task::yield_now().await;
        closed_tx.send_replace(true);
        assert_eq!(poll.await.unwrap().unwrap_err().kind(), ErrorKind::Closed);
    }
}
