//! Message-id deduplication of appends: each partition remembers the ids of
//! its most recent records (by count and, optionally, age) and does not
//! append a message whose id it remembers, reporting the stored copy's
//! offset instead. This is what makes an outbox relay's retries (a publish
//! sent again after a crash or a lost acknowledgement) store each event once.
//!
//! The window is rebuilt from the partition's own newest records when the
//! log opens, so it needs no file of its own and survives crashes exactly as
//! the records do: an acknowledged append is in the log, hence in the window.

use std::collections::{hash_map::Entry, HashMap, VecDeque};

use foldhash::fast::RandomState;

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
    /// Hashed with foldhash, seeded per map: a lookup per appended message
    /// and one per forgotten id made SipHash (std's default) the costliest
    /// step of a deduplicated append. The seed keeps ids a client chooses
    /// from being aimed at one bucket.
    offsets: HashMap<u128, u64, RandomState>,
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
            offsets: HashMap::default(),
            order: VecDeque::new(),
        }
    }

    /// Remembers records read back from the log at open, oldest first.
    pub(crate) fn load(&mut self, records: &[Record], now_micros: u64) {
        for r in records {
            if r.message.id != 0 {
                self.offsets.insert(r.message.id, r.offset);
                self.order
                    .push_back((r.message.id, r.offset, r.timestamp_micros));
            }
        }
        self.forget_beyond_window();
        self.forget_old(now_micros);
    }

    /// Splits `messages`, to be appended from offset `first`, into new ones
    /// and duplicates: of a remembered record, or of an earlier message of
    /// the same batch. Id 0 (none) is never a duplicate.
    ///
    /// The new ones are remembered at once, at the offsets they will get
    /// (one hash lookup per message): call [`appended`](Self::appended)
    /// once they are written, or [`rolled_back`](Self::rolled_back) if the
    /// write failed.
    pub(crate) fn split(&mut self, messages: Vec<Message>, first: u64, now_micros: u64) -> Split {
        self.forget_old(now_micros);
        let mut duplicates = Vec::new();
        let mut next = first;
        for (i, message) in messages.iter().enumerate() {
            if message.id == 0 {
                next += 1;
                continue;
            }
            match self.offsets.entry(message.id) {
                // Batches hold at most u32::MAX messages (`Checked`).
                Entry::Occupied(stored) => duplicates.push((i as u32, *stored.get())),
                Entry::Vacant(slot) => {
                    slot.insert(next);
                    self.order.push_back((message.id, next, now_micros));
                    next += 1;
                }
            }
        }
        if duplicates.is_empty() {
            return Split {
                fresh: messages,
                duplicates,
            };
        }
        let mut skip = duplicates.iter().map(|(i, _)| *i as usize).peekable();
        let fresh = messages
            .into_iter()
            .enumerate()
            .filter(|(i, _)| {
                let duplicate = skip.peek() == Some(i);
                if duplicate {
                    skip.next();
                }
                !duplicate
            })
            .map(|(_, m)| m)
            .collect();
        Split { fresh, duplicates }
    }

    /// The split's new messages were written: forget what no longer fits.
    pub(crate) fn appended(&mut self) {
        self.forget_beyond_window();
    }

    /// The split's new messages, from offset `first`, were not written:
    /// forget them again.
    pub(crate) fn rolled_back(&mut self, first: u64) {
        while let Some(&(id, offset, _)) = self.order.back() {
            if offset < first {
                break;
            }
            self.order.pop_back();
            self.forget(id, offset);
        }
    }

    fn forget_beyond_window(&mut self) {
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
            self.forget(id, offset);
        }
    }

    /// Forgets `id` if it is remembered at `offset`: a newer record with the
    /// same id (appended with dedup off earlier) keeps its entry.
    fn forget(&mut self, id: u128, offset: u64) {
        if let Entry::Occupied(stored) = self.offsets.entry(id) {
            if *stored.get() == offset {
                stored.remove();
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
            origin_timestamp_micros: None,
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
        w.appended();
        let split = w.split([3, 2, 1].map(message).into(), 104, 0);
        assert_eq!(ids(&split.fresh), [3]);
        assert_eq!(split.duplicates, [(1, 101), (2, 100)]);
        // A failed write forgets what its split remembered.
        w.rolled_back(104);
        assert_eq!(ids(&w.split([3].map(message).into(), 104, 0).fresh), [3]);
    }

    #[test]
    fn the_window_forgets_by_count_and_by_age() {
        let mut w = window(2, Some(1_000));
        w.split([1, 2, 3].map(message).into(), 0, 0);
        w.appended();
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
