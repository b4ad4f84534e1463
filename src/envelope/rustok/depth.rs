//! How deeply a MessagePack value nests, found without recursion before
//! `rmp-serde` reads it.
//!
//! `rmp-serde` limits the nesting of maps and arrays it walks itself, but not
//! of enums: an externally tagged enum's variant is read through the visitor
//! without counting, so crafted bytes for an event type with a recursive
//! enum could nest until the stack overflows, which aborts the process. In
//! the bytes every such level is still a map (or an array), so bounding the
//! containers bounds the decoder's recursion whatever the event type.

/// Whether the first MessagePack value in `bytes` nests at most `max`
/// containers deep; an error names the first problem (too deep, a byte that
/// is no MessagePack marker, or the bytes ending inside the value). Bytes
/// after the value are not looked at.
pub(super) fn check(bytes: &[u8], max: usize) -> Result<(), String> {
    // Items still to read in each open container, innermost last.
    let mut open: Vec<u64> = Vec::new();
    let mut at = 0usize;
    loop {
        let (size, items) = item(bytes, at)?;
        at = at.saturating_add(size);
        if let Some(items) = items {
            // A container, empty or not, is one level deeper.
            if open.len() >= max {
                return Err(format!("nests deeper than {max} levels"));
            }
            if items > 0 {
                open.push(items);
                continue;
            }
        }
        // A complete item: it ends every container it was the last item of.
        loop {
            let Some(left) = open.last_mut() else {
                return Ok(());
            };
            *left -= 1;
            if *left > 0 {
                break;
            }
            open.pop();
        }
    }
}

/// The item whose marker is at `at`: the bytes it takes itself (marker,
/// length and data; not its items) and, for a map or an array, how many
/// items it contains (a map's keys and values, an array's elements).
fn item(bytes: &[u8], at: usize) -> Result<(usize, Option<u64>), String> {
    let marker = *bytes
        .get(at)
        .ok_or_else(|| format!("the bytes end at {at}, inside the value"))?;
    // Bytes after the marker holding a length, as a big-endian number.
    let length = |width: usize| -> Result<u64, String> {
        let start = at + 1;
        bytes
            .get(start..start + width)
            .map(|be| be.iter().fold(0u64, |n, b| n << 8 | u64::from(*b)))
            .ok_or_else(|| format!("the bytes end at {}, inside a length", bytes.len()))
    };
    // A marker, `width` length bytes, `extra` fixed bytes and `data` bytes.
    let sized = |width: usize, extra: usize, data: u64| -> Result<(usize, Option<u64>), String> {
        let data = usize::try_from(data).map_err(|_| "a length overflows".to_owned())?;
        let size = (1 + width + extra)
            .checked_add(data)
            .ok_or_else(|| "a length overflows".to_owned())?;
        if at.checked_add(size).is_none_or(|end| end > bytes.len()) {
            return Err(format!("the bytes end at {}, inside a value", bytes.len()));
        }
        Ok((size, None))
    };
    Ok(match marker {
        // Positive and negative fixint, nil, false, true.
        0x00..=0x7f | 0xe0..=0xff | 0xc0 | 0xc2 | 0xc3 => (1, None),
        0x80..=0x8f => (1, Some(2 * u64::from(marker & 0x0f))),
        0x90..=0x9f => (1, Some(u64::from(marker & 0x0f))),
        0xa0..=0xbf => sized(0, 0, u64::from(marker & 0x1f))?,
        // bin 8/16/32 and str 8/16/32.
        0xc4 | 0xd9 => sized(1, 0, length(1)?)?,
        0xc5 | 0xda => sized(2, 0, length(2)?)?,
        0xc6 | 0xdb => sized(4, 0, length(4)?)?,
        // ext 8/16/32: a length, a type byte, the data.
        0xc7 => sized(1, 1, length(1)?)?,
        0xc8 => sized(2, 1, length(2)?)?,
        0xc9 => sized(4, 1, length(4)?)?,
        // float 32/64, uint 8-64, int 8-64.
        0xca => sized(0, 4, 0)?,
        0xcb => sized(0, 8, 0)?,
        0xcc | 0xd0 => sized(0, 1, 0)?,
        0xcd | 0xd1 => sized(0, 2, 0)?,
        0xce | 0xd2 => sized(0, 4, 0)?,
        0xcf | 0xd3 => sized(0, 8, 0)?,
        // fixext 1/2/4/8/16: a type byte and the data.
        0xd4 => sized(0, 2, 0)?,
        0xd5 => sized(0, 3, 0)?,
        0xd6 => sized(0, 5, 0)?,
        0xd7 => sized(0, 9, 0)?,
        0xd8 => sized(0, 17, 0)?,
        // array 16/32, map 16/32.
        0xdc => (3, Some(length(2)?)),
        0xdd => (5, Some(length(4)?)),
        0xde => (3, Some(2 * length(2)?)),
        0xdf => (5, Some(2 * length(4)?)),
        0xc1 => return Err(format!("byte {at} (0xc1) is not a MessagePack marker")),
    })
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use serde::Serialize;

    use super::*;

    fn nested_arrays(depth: usize) -> Vec<u8> {
        let mut bytes = vec![0x91; depth - 1];
        bytes.push(0x90);
        bytes
    }

    #[test]
    fn depth_is_counted_in_containers() {
        assert_eq!(check(&nested_arrays(128), 128), Ok(()));
        // The innermost, empty array is a level too.
        let err = check(&nested_arrays(129), 128).unwrap_err();
        assert!(err.contains("deeper than 128"), "{err}");
        // Maps count like arrays, 16- and 32-bit lengths too.
        let mut maps = Vec::new();
        for _ in 0..3 {
            maps.extend([0xde, 0x00, 0x01, 0xa1, b'k']);
        }
        maps.push(0xc0);
        assert_eq!(check(&maps, 3), Ok(()));
        assert!(check(&maps, 2).is_err());
        assert_eq!(check(&[0xdd, 0, 0, 0, 2, 0x91, 0x01, 0x02], 2), Ok(()));
        assert!(check(&[0xdd, 0, 0, 0, 2, 0x91, 0x01, 0x02], 1).is_err());
        // Extension values hold data, not items (`rmp-serde` only writes
        // them on request, so they are written by hand here).
        assert_eq!(
            check(&[0x92, 0xd4, 0x01, 0x00, 0xc7, 0x02, 0x05, 1, 2], 1),
            Ok(())
        );
    }

    #[test]
    fn a_value_ends_where_its_last_item_does() {
        // [[1], 2] is two deep; the trailing bytes are not looked at.
        assert_eq!(check(&[0x92, 0x91, 0x01, 0x02, 0xc1, 0xc1], 2), Ok(()));
        // Siblings do not add depth.
        let wide: Vec<u8> = [0xdc, 0x01, 0x00]
            .into_iter()
            .chain((0..256).flat_map(|_| [0x91, 0x90]))
            .collect();
        assert_eq!(check(&wide, 3), Ok(()));
    }

    #[test]
    fn truncated_and_invalid_bytes_are_errors_not_panics() {
        for bytes in [
            &[][..],
            &[0x92, 0x01],
            &[0xa5, b'a'],
            &[0xda, 0x00],
            &[0xc6, 0xff, 0xff, 0xff, 0xff, 0x00],
            &[0xdf, 0xff, 0xff, 0xff, 0xff],
            &[0xcb, 0, 0, 0],
            &[0xd8, 0x01],
            &[0xc1],
            &[0x81, 0xc1],
        ] {
            assert!(check(bytes, 128).is_err(), "{bytes:02x?}");
        }
    }

    #[derive(Serialize)]
    struct Everything {
        nil: Option<u8>,
        flags: (bool, bool),
        ints: (u8, u16, u32, u64, i8, i16, i32, i64, i64),
        floats: (f32, f64),
        short: String,
        medium: String,
        long: String,
        huge: String,
        #[serde(with = "serde_bytes_like")]
        small_bin: Vec<u8>,
        #[serde(with = "serde_bytes_like")]
        mid_bin: Vec<u8>,
        #[serde(with = "serde_bytes_like")]
        bin: Vec<u8>,
        map: BTreeMap<String, Vec<u32>>,
        big_map: BTreeMap<u32, ()>,
        big_array: Vec<u8>,
    }

    /// Bytes as MessagePack `bin`, the way `uuid` writes a UUID.
    mod serde_bytes_like {
        pub fn serialize<S: serde::Serializer>(v: &[u8], s: S) -> Result<S::Ok, S::Error> {
            s.serialize_bytes(v)
        }
    }

    /// Every kind of item `rmp-serde` writes, at every length width, scans
    /// to the end of the value.
    #[test]
    fn what_rmp_serde_writes_scans_cleanly() {
        let value = Everything {
            nil: None,
            flags: (true, false),
            ints: (
                200,
                60_000,
                4_000_000_000,
                u64::MAX,
                -100,
                -30_000,
                -2_000_000_000,
                i64::MIN,
                -5,
            ),
            floats: (1.5, 2.5e300),
            short: "abc".into(),
            medium: "z".repeat(100),
            long: "x".repeat(300),
            huge: "y".repeat(70_000),
            small_bin: vec![7; 10],
            mid_bin: vec![7; 300],
            bin: vec![7; 70_000],
            map: (0..20).map(|i| (i.to_string(), vec![i; 20])).collect(),
            big_map: (0..70_000).map(|i| (i, ())).collect(),
            big_array: vec![1; 70_000],
        };
        let bytes = rmp_serde::to_vec_named(&value).unwrap();
        assert_eq!(check(&bytes, 3), Ok(()));
        assert!(
            check(&bytes, 2).is_err(),
            "the map's vectors are three deep"
        );
        // Cut anywhere, it is an error, never a panic.
        for cut in [1, 10, 100, 1_000, 70_000, bytes.len() - 1] {
            assert!(check(&bytes[..cut], 3).is_err(), "cut at {cut}");
        }
    }
}
