//! Event ids: UUID v7 (RFC 9562), ordered across the process, and the time
//! each was taken.
//!
//! The layout is RFC 9562's "fixed-length dedicated counter" (section
//! 6.2, method 1), the one `uuid`'s `ContextV7` uses too:
//!
//! ```text
//! 48 bits unix milliseconds | 4 version (7) | 12 counter (high)
//! | 2 variant (10) | 30 counter (low) | 32 random
//! ```
//!
//! The 42-bit counter starts at a random value below 2^41 in each new
//! millisecond and counts up within it; should it ever overflow, the id
//! takes the next millisecond. A clock that goes back keeps the last
//! millisecond and counts on. So ids never go back, and ids taken in one
//! millisecond by other processes differ in 73 random bits.
//!
//! Written here rather than taken from `uuid` (`Uuid::new_v7` with a shared
//! `ContextV7`) because an envelope is built per event: this is 54 ns an
//! id against 87 (clock reading included) on the machine of
//! docs/benchmarks.md, the difference being the context's generality
//! (nanosecond arithmetic, adjustments, 128 random bits where 32 are used).

use std::{
    sync::Mutex,
    time::{SystemTime, UNIX_EPOCH},
};

use chrono::{DateTime, Utc};
use uuid::Uuid;

/// Bits of the counter.
const COUNTER_BITS: u32 = 42;
/// A new millisecond's counter starts below 2^41, leaving at least 2^41
/// ids before an overflow.
const SEED_MASK: u64 = (1 << (COUNTER_BITS - 1)) - 1;
/// The 48 bits of milliseconds a v7 id holds (until the year 10889).
const MILLIS_MASK: u64 = (1 << 48) - 1;

/// The millisecond of the last id and its counter.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Sequence {
    millis: u64,
    counter: u64,
}

impl Sequence {
    /// The sequence of the next id, read at `millis`: a new millisecond
    /// starts at `seed()`, the same (or an earlier) one counts on.
    fn next(self, millis: u64, seed: impl Fn() -> u64) -> Self {
        if millis > self.millis {
            return Self {
                millis,
                counter: seed() & SEED_MASK,
            };
        }
        let counter = self.counter + 1;
        if counter >> COUNTER_BITS == 0 {
            Self { counter, ..self }
        } else {
            Self {
                millis: self.millis + 1,
                counter: seed() & SEED_MASK,
            }
        }
    }

    /// The id of this sequence, with `random` in its last 32 bits.
    fn id(self, random: u32) -> Uuid {
        let counter = u128::from(self.counter);
        Uuid::from_u128(
            u128::from(self.millis & MILLIS_MASK) << 80
                | 0x7 << 76
                | (counter >> 30) << 64
                | 0b10 << 62
                | (counter & ((1 << 30) - 1)) << 32
                | u128::from(random),
        )
    }
}

/// A v7 id and the time it was taken, from one reading of the clock (a
/// reading costs half the id). The timestamp is the reading; the id carries
/// its millisecond, or a later one when ids went ahead of the clock.
pub(super) fn fresh_id() -> (Uuid, DateTime<Utc>) {
    static LAST: Mutex<Sequence> = Mutex::new(Sequence {
        millis: 0,
        counter: 0,
    });
    // A clock set before 1970 gives the epoch, to the id and the timestamp:
    // a valid, if early, envelope.
    let since = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap_or_default();
    let (secs, nanos) = (since.as_secs(), since.subsec_nanos());
    let millis = secs.saturating_mul(1000) + u64::from(nanos / 1_000_000);
    let sequence = {
        // The sequence is two integers, whole after any panic elsewhere.
        let mut last = LAST.lock().unwrap_or_else(|e| e.into_inner());
        *last = last.next(millis, rand::random::<u64>);
        *last
    };
    let id = sequence.id(rand::random());
    // From the reading already taken apart (`DateTime::from(SystemTime)`
    // would take it apart again); a time past chrono's range (year
    // 262,143) gives the epoch too.
    let timestamp = i64::try_from(secs)
        .ok()
        .and_then(|secs| DateTime::from_timestamp(secs, nanos))
        .unwrap_or_default();
    (id, timestamp)
}

#[cfg(test)]
mod tests {
    use std::collections::HashSet;

    use uuid::{Variant, Version};

    use super::*;

    fn millis_of(id: Uuid) -> u64 {
        (id.as_u128() >> 80) as u64
    }

    #[test]
    fn ids_are_v7_and_carry_the_millisecond_of_their_timestamp() {
        let (id, timestamp) = fresh_id();
        assert_eq!(id.get_version(), Some(Version::SortRand));
        assert_eq!(id.get_variant(), Variant::RFC4122);
        // `uuid` reads the same millisecond back.
        let (secs, nanos) = id.get_timestamp().unwrap().to_unix();
        assert_eq!(secs * 1000 + u64::from(nanos / 1_000_000), millis_of(id));
        let taken = timestamp.timestamp_millis() as u64;
        // Later only if earlier ids ran ahead of the clock (they do not here
        // by more than the ids of one test run).
        assert!(millis_of(id) >= taken, "{id} before {timestamp}");
    }

    #[test]
    fn ids_increase_across_threads_and_never_repeat() {
        let threads: Vec<_> = (0..4)
            .map(|_| std::thread::spawn(|| (0..20_000).map(|_| fresh_id().0).collect::<Vec<_>>()))
            .collect();
        let mut all = HashSet::new();
        for thread in threads {
            let ids = thread.join().unwrap();
            assert!(ids.windows(2).all(|w| w[0] < w[1]), "ids went back");
            all.extend(ids);
        }
        assert_eq!(all.len(), 80_000);
    }

    #[test]
    fn the_counter_counts_within_a_millisecond_and_on_when_the_clock_goes_back() {
        let start = Sequence {
            millis: 0,
            counter: 0,
        }
        .next(1_000, || u64::MAX);
        assert_eq!(
            start,
            Sequence {
                millis: 1_000,
                counter: SEED_MASK
            }
        );
        let same = start.next(1_000, || unreachable!("no new seed"));
        assert_eq!(same.counter, SEED_MASK + 1);
        let back = same.next(990, || unreachable!("no new seed"));
        assert_eq!(
            back,
            Sequence {
                millis: 1_000,
                counter: SEED_MASK + 2
            }
        );
        assert!(
            back.id(0) > same.id(u32::MAX),
            "the counter orders before the random bits"
        );
        let later = back.next(1_001, || 5);
        assert_eq!(
            later,
            Sequence {
                millis: 1_001,
                counter: 5
            }
        );
    }

    #[test]
    fn an_overflowing_counter_takes_the_next_millisecond() {
        let full = Sequence {
            millis: 7,
            counter: (1 << COUNTER_BITS) - 1,
        };
        let next = full.next(7, || 3);
        assert_eq!(
            next,
            Sequence {
                millis: 8,
                counter: 3
            }
        );
        assert!(next.id(0) > full.id(u32::MAX));
        // Every counter bit lands in the id, none in the version or variant.
        let id = full.id(0);
        assert_eq!(id.get_version(), Some(Version::SortRand));
        assert_eq!(id.get_variant(), Variant::RFC4122);
        assert_eq!(id.as_u128() & 0xFFFF_FFFF, 0);
    }
}
