//! 32-byte ids read from the 64 hex digits that repositories write them as (restic's JSON, borg's
//! config), by table: a `find` over a large restic repository reads one for every file.

/// 32 bytes from exactly 64 hex digits (either case), or `None`.
pub fn hex32(text: &[u8]) -> Option<[u8; 32]> {
    if text.len() != 64 {
        return None;
    }
    let mut out = [0u8; 32];
    let mut bad = 0u8;
    for (byte, pair) in out.iter_mut().zip(text.chunks_exact(2)) {
        let (high, low) = (HEX[usize::from(pair[0])], HEX[usize::from(pair[1])]);
        bad |= (high | low) & 0x80;
        *byte = (high << 4) | (low & 0x0f);
    }
    (bad == 0).then_some(out)
}

/// Each byte's value as a hex digit, or 0x80 for a byte that is not one.
const HEX: [u8; 256] = {
    let mut table = [0x80u8; 256];
    let mut i = 0;
    while i < 10 {
        table[b'0' as usize + i] = i as u8;
        i += 1;
    }
    let mut i = 0;
    while i < 6 {
        table[b'a' as usize + i] = 10 + i as u8;
        table[b'A' as usize + i] = 10 + i as u8;
        i += 1;
    }
    table
};

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_read_in_either_case_and_nothing_else() {
        let digits = "00ff7fA0".repeat(8);
        let id = hex32(digits.as_bytes());
        assert_eq!(
            id.map(|b| b[..4].to_vec()),
            Some(vec![0x00, 0xff, 0x7f, 0xa0])
        );
        for bad in [
            "0".repeat(63),
            "0".repeat(65),
            format!("{}g", "0".repeat(63)),
        ] {
            assert_eq!(hex32(bad.as_bytes()), None, "{bad}");
        }
        // `u8::from_str_radix` would take "+f"; an id has no signs.
        assert_eq!(hex32(format!("+f{}", "0".repeat(62)).as_bytes()), None);
    }
}
