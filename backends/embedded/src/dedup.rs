//! Message-id deduplication of appends: each partition remembers the ids of
//! its most recent records (by count and, optionally, age) and does not
//! append a message whose id it remembers, reporting the stored copy's
//! offset instead. This is what makes an outbox relay's retries (a publish
//! sent again after a crash or a lost acknowledgement) store each event once.
//!
//! The window is rebuilt from the partition's own newest records when the
//! log opens, so it needs no file of its own and survives crashes exactly as
//! the records do: an acknowledged append is in the log, hence in the window.

use std::collections::{HashMap, VecDeque};

use rustok_iggy::{Message, Record};

/// How much a partition remembers.
/// The default is off.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(crate) struct DedupSettings {
    /// Ids of the newest this many records (0: off).
    pub(crate) window: usize,
    /// Forget ids of records older than this, in microseconds.
    pub(crate) max_age_micros: Option<u64>,
}

impl DedupSettings {
    pub(crate) fn enabled(&self) -> bool {
        self.window > 0
    }
}

/// The remembered ids of one partition, oldest first.
#[derive(Debug)]
pub(crate) struct Window {
    settings: DedupSettings,
    offsets: HashMap<u128, u64>,
    order: VecDeque<(u128, u64, u64)>,
}

/// A batch split into what to append and what is already stored.
#[derive(Debug, Default)]
pub(crate) struct Split {
    /// The messages to append, in batch order.
    pub(crate) fresh: Vec<Message>,
    /// Batch index and stored offset of every other message.
    pub(crate) duplicates: Vec<(u32, u64)>,
}

impl Window {
    pub(crate) fn new(settings: DedupSettings) -> Self {
        Self {
            settings,
            offsets: HashMap::with_capacity(settings.window.min(1 << 16)),
            order: VecDeque::with_capacity(settings.window.min(1 << 16)),
        }
    }

    /// Remembers records read back from the log at open, oldest first.
    pub(crate) fn load(&mut self, records: &[Record], now_micros: u64) {
        for r in records {
            self.remember(r.message.id, r.offset, r.timestamp_micros);
        }
        self.forget_old(now_micros);
    }

    /// Splits `messages`, to be appended from offset `first`, into new ones
    /// and duplicates: of a remembered record, or of an earlier message of
    /// the same batch. Id 0 (none) is never a duplicate.
    pub(crate) fn split(&mut self, messages: Vec<Message>, first: u64, now_micros: u64) -> Split {
        self.forget_old(now_micros);
        let mut split = Split {
            fresh: Vec::with_capacity(messages.len()),
            duplicates: Vec::new(),
        };
        let mut in_batch: HashMap<u128, u64> = HashMap::new();
        for (i, message) in messages.into_iter().enumerate() {
            let id = message.id;
            let stored = (id != 0)
                .then(|| self.offsets.get(&id).or_else(|| in_batch.get(&id)).copied())
                .flatten();
            match stored {
                // Batches hold at most u32::MAX messages (`Checked`).
                Some(offset) => split.duplicates.push((i as u32, offset)),
                None => {
                    if id != 0 {
                        in_batch.insert(id, first + split.fresh.len() as u64);
                    }
                    split.fresh.push(message);
                }
            }
        }
        split
    }

    /// Remembers `messages`, appended from offset `first` at `timestamp`.
    pub(crate) fn appended(&mut self, messages: &[Message], first: u64, timestamp: u64) {
        for (i, message) in messages.iter().enumerate() {
            self.remember(message.id, first + i as u64, timestamp);
        }
    }

    fn remember(&mut self, id: u128, offset: u64, timestamp: u64) {
        if id == 0 {
            return;
        }
        self.offsets.insert(id, offset);
        self.order.push_back((id, offset, timestamp));
        while self.order.len() > self.settings.window {
            self.forget_oldest();
        }
    }

    fn forget_old(&mut self, now_micros: u64) {
        let Some(max_age) = self.settings.max_age_micros else {
            return;
        };
        while self
            .order
            .front()
            .is_some_and(|(_, _, t)| now_micros.saturating_sub(*t) > max_age)
        {
            self.forget_oldest();
        }
    }

    fn forget_oldest(&mut self) {
        if let Some((id, offset, _)) = self.order.pop_front() {
            // A newer record with the same id (appended with dedup off
            // earlier) keeps its entry.
            if self.offsets.get(&id) == Some(&offset) {
                self.offsets.remove(&id);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rustok_iggy::Headers;

    fn message(id: u128) -> Message {
        Message {
            id,
            headers: Headers::new(),
            payload: bytes::Bytes::new(),
        }
    }

    fn ids(messages: &[Message]) -> Vec<u128> {
        messages.iter().map(|m| m.id).collect()
    }

    fn window(window: usize, max_age_micros: Option<u64>) -> Window {
        Window::new(DedupSettings {
            window,
            max_age_micros,
        })
    }

    #[test]
    fn remembered_ids_and_repeats_within_a_batch_are_duplicates() {
        let mut w = window(10, None);
        let split = w.split([1, 2, 1, 0, 0].map(message).into(), 100, 0);
        assert_eq!(ids(&split.fresh), [1, 2, 0, 0], "id 0 is never a duplicate");
        assert_eq!(split.duplicates, [(2, 100)]);
        w.appended(&split.fresh, 100, 0);
        let split = w.split([3, 2, 1].map(message).into(), 104, 0);
        assert_eq!(ids(&split.fresh), [3]);
        assert_eq!(split.duplicates, [(1, 101), (2, 100)]);
    }

    #[test]
    fn the_window_forgets_by_count_and_by_age() {
        let mut w = window(2, Some(1_000));
        w.appended(&[1, 2, 3].map(message), 0, 0);
        let split = w.split([1, 2, 3].map(message).into(), 3, 10);
        assert_eq!(ids(&split.fresh), [1], "only the newest two are kept");
        let split = w.split([2, 3].map(message).into(), 3, 1_001);
        assert_eq!(ids(&split.fresh), [2, 3], "older than the age limit");
    }

    #[test]
    fn loading_records_rebuilds_the_window() {
        let mut w = window(10, Some(1_000));
        let records: Vec<Record> = [(7, 0, 0), (8, 1, 900)]
            .map(|(id, offset, t)| Record {
                offset,
                timestamp_micros: t,
                message: message(id),
            })
            .into();
        w.load(&records, 1_500);
        let split = w.split([7, 8].map(message).into(), 2, 1_500);
        assert_eq!(ids(&split.fresh), [7], "7 is older than the age limit");
        assert_eq!(split.duplicates, [(1, 1)]);
    }
}
