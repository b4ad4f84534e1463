//! The log's one checksum: CRC-32C (Castagnoli), over every frame's body,
//! index entry, offset slot and metadata file.
//!
//! Computed by `crc-fast`, which folds with carry-less multiplication
//! (PCLMULQDQ / VPCLMULQDQ on x86-64, PMULL on Aarch64) where the CPU has
//! it: at the 1 KiB of a typical frame about twice the rate of the SSE 4.2
//! `crc32` instruction loop, which was 16% of `serve`'s CPU under a 1 KB
//! `iggy-bench` producer (docs/benchmarks.md). The checksum is the same, so
//! logs written before read unchanged.

/// CRC-32C of `bytes`.
pub(crate) fn crc32c(bytes: &[u8]) -> u32 {
    // CRC-32/ISCSI is CRC-32C; the 32-bit value is returned in a u64.
    crc_fast::checksum(crc_fast::CrcAlgorithm::Crc32Iscsi, bytes) as u32
}

#[cfg(test)]
mod tests {
    use super::crc32c;

    #[test]
    fn it_is_crc32c() {
        // The catalogue's check value of CRC-32C, and RFC 3720's vectors.
        assert_eq!(crc32c(b"123456789"), 0xE306_9283);
        assert_eq!(crc32c(&[0u8; 32]), 0x8A91_36AA);
        assert_eq!(crc32c(&[0xFFu8; 32]), 0x62A8_AB43);
        let ascending: Vec<u8> = (0..32).collect();
        assert_eq!(crc32c(&ascending), 0x46DD_794E);
        assert_eq!(crc32c(b""), 0);
    }
}
