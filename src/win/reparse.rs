//! The bytes of a symbolic-link reparse point (REPARSE_DATA_BUFFER), which Windows reads to follow
//! a symlink of the mount. WinFsp exports no helper for it, so the layout is written out here.

use super::info::IO_REPARSE_TAG_SYMLINK;

/// The target is relative to the link's directory.
const SYMLINK_FLAG_RELATIVE: u32 = 1;
/// Tag, data length, reserved, four name offsets/lengths, flags.
const HEADER: usize = 20;
/// The longest target kept: header plus two copies within 16 KiB.
const MAX_NAME_UNITS: usize = (16 * 1024 - HEADER) / 4;

/// A symlink reparse point to `target` (a Windows path, `\`-separated). Relative targets carry
/// SYMLINK_FLAG_RELATIVE; a target with a leading `\` is resolved from the volume's root.
pub fn symlink_reparse_point(target: &str) -> Vec<u8> {
    // Two copies of the name must fit WinFsp's 16 KiB reparse buffer; cut at whole UTF-16 units.
    let units: Vec<u16> = target.encode_utf16().take(MAX_NAME_UNITS).collect();
    let name: Vec<u8> = units.iter().flat_map(|u| u.to_le_bytes()).collect();
    let name_len = name.len() as u16;
    let mut out = Vec::with_capacity(HEADER + 2 * usize::from(name_len));
    out.extend_from_slice(&IO_REPARSE_TAG_SYMLINK.to_le_bytes());
    out.extend_from_slice(&(12 + 2 * name_len).to_le_bytes()); // bytes after the 8-byte header
    out.extend_from_slice(&0u16.to_le_bytes());
    out.extend_from_slice(&0u16.to_le_bytes()); // substitute name at 0
    out.extend_from_slice(&name_len.to_le_bytes());
    out.extend_from_slice(&name_len.to_le_bytes()); // print name right after it
    out.extend_from_slice(&name_len.to_le_bytes());
    // Relative to the volume's root for a leading `\` too: WinFsp resolves those inside the mount.
    out.extend_from_slice(&SYMLINK_FLAG_RELATIVE.to_le_bytes());
    out.extend_from_slice(&name[..usize::from(name_len)]);
    out.extend_from_slice(&name[..usize::from(name_len)]);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn layout_of_a_relative_link() {
        let data = symlink_reparse_point("..\\a");
        let u16_at = |i: usize| u16::from_le_bytes([data[i], data[i + 1]]);
        assert_eq!(
            u32::from_le_bytes([data[0], data[1], data[2], data[3]]),
            0xA000_000C
        );
        assert_eq!(
            u16_at(4),
            12 + 16,
            "data length: 12 + two copies of 8 bytes"
        );
        assert_eq!(
            (u16_at(8), u16_at(10), u16_at(12), u16_at(14)),
            (0, 8, 8, 8)
        );
        assert_eq!(
            u32::from_le_bytes([data[16], data[17], data[18], data[19]]),
            1
        );
        assert_eq!(data.len(), 20 + 16);
        let name: Vec<u16> = data[20..28]
            .chunks(2)
            .map(|c| u16::from_le_bytes([c[0], c[1]]))
            .collect();
        assert_eq!(String::from_utf16_lossy(&name), "..\\a");
    }

    #[test]
    fn long_targets_fit_the_reparse_buffer() {
        let data = symlink_reparse_point(&"x".repeat(100_000));
        assert!(data.len() <= 16 * 1024);
        assert_eq!(data.len() % 2, 0);
    }
}
