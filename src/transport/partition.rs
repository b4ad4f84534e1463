//! Which partition a key lands on.
//!
//! `xxh32(key, seed 0) % partitions`, the function Iggy's SDK uses for
//! message-key partitioning. It is part of the data format: the same key must
//! land on the same partition on every backend, machine and version, which is
//! why this is never `std`'s `DefaultHasher` (randomly seeded and unstable).

use xxhash_rust::xxh32::xxh32;

/// The partition of `key` among `partitions` (numbered from 0).
///
/// # Panics
///
/// Never; `partitions == 0` maps everything to 0 (configs reject 0 partitions
/// before this is reached).
///
/// ```
/// use rustok_iggy::partition_for;
///
/// assert_eq!(partition_for(b"tenant-a", 8), partition_for(b"tenant-a", 8));
/// assert!(partition_for(b"tenant-b", 8) < 8);
/// ```
pub fn partition_for(key: &[u8], partitions: u32) -> u32 {
    xxh32(key, 0).checked_rem(partitions).unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Published xxh32 test vectors: if these change, the hash is not xxh32.
    #[test]
    fn hash_is_xxh32_seed_zero() {
        assert_eq!(xxh32(b"", 0), 0x02CC_5D05);
        assert_eq!(xxh32(b"a", 0), 0x550D_7456);
        assert_eq!(xxh32(b"abc", 0), 0x32D1_53FF);
    }

    /// Pinned key → partition values (cross-checked with Python's `xxhash`
    /// package). Changing any of them moves existing keys to other partitions
    /// and breaks per-key order for data already on disk.
    #[test]
    fn known_keys_keep_their_partitions() {
        let tenant = uuid::Uuid::from_u128(0x0192_5a7e_1c00_7000_8000_0000_0000_0001);
        let cases: [(&[u8], u32, u32); 8] = [
            (b"", 8, 0x02CC_5D05 % 8),
            (b"abc", 8, 0x32D1_53FF % 8),
            (b"abc", 3, 0x32D1_53FF % 3),
            (b"order-42", 16, 0xBBC3_3AD1 % 16),
            (b"tenant-a", 8, 0x9DFB_5A24 % 8),
            (tenant.as_bytes(), 8, 0x563D_5344 % 8),
            (b"order-42", 16, 1),
            (b"tenant-a", 8, 4),
        ];
        for (key, partitions, expected) in cases {
            assert_eq!(
                partition_for(key, partitions),
                expected,
                "key {:?} over {partitions} partitions",
                String::from_utf8_lossy(key)
            );
        }
    }

    #[test]
    fn zero_partitions_do_not_panic() {
        assert_eq!(partition_for(b"x", 0), 0);
    }
}
