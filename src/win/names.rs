//! Names that Windows cannot hold, mapped reversibly into Unicode's private use area, as WinFsp's
//! own FUSE layer does: `<>:"\|?*` and control characters, a trailing dot or space, reserved device
//! names (`CON`, `aux.txt`, `COM1`…), and bytes that are not UTF-8.
//!
//! | in the backup | shown on Windows |
//! | --- | --- |
//! | ASCII `c` in `<>:"\|?*`, 0x01–0x1F | U+F000 + `c` |
//! | a trailing `.` or ` ` | U+F000 + `.` (U+F02E) or U+F000 + ` ` (U+F020) |
//! | the last ASCII character of a reserved device name's stem | U+F000 + that character |
//! | a byte `b` that is not part of valid UTF-8 | U+F100 + `b` |
//!
//! A name that already holds characters of U+F000–U+F1FF is shown as it is, so it is not reversible;
//! backups practically never contain them.

/// The characters no Windows name may hold, besides control characters.
pub const FORBIDDEN: &str = "<>:\"\\|?*";
const ESCAPE: u32 = 0xF000;
const BYTE_ESCAPE: u32 = 0xF100;
/// Device names Windows reserves, whatever their case and extension (Microsoft's naming rules list
/// COM0, LPT0 and the superscript digits too; CONIN$ and CONOUT$ open the console).
pub const RESERVED: [&str; 32] = [
    "CON", "PRN", "AUX", "NUL", "COM0", "COM1", "COM2", "COM3", "COM4", "COM5", "COM6", "COM7",
    "COM8", "COM9", "COM¹", "COM²", "COM³", "LPT0", "LPT1", "LPT2", "LPT3", "LPT4", "LPT5", "LPT6",
    "LPT7", "LPT8", "LPT9", "LPT¹", "LPT²", "LPT³", "CONIN$", "CONOUT$",
];

fn escaped(c: char) -> char {
    char::from_u32(ESCAPE + c as u32).unwrap_or('_')
}

/// Whether `stem` (the name up to its first dot) is a DOS device name.
fn is_reserved_stem(stem: &str) -> bool {
    RESERVED.iter().any(|r| r.eq_ignore_ascii_case(stem))
}

/// The name Windows shows for a name from a backup.
pub fn to_windows(raw: &[u8]) -> String {
    let mut chars: Vec<char> = Vec::with_capacity(raw.len());
    for chunk in raw.utf8_chunks() {
        for c in chunk.valid().chars() {
            let needs = (c as u32) < 0x20 || FORBIDDEN.contains(c);
            chars.push(if needs { escaped(c) } else { c });
        }
        for &b in chunk.invalid() {
            chars.push(char::from_u32(BYTE_ESCAPE + u32::from(b)).unwrap_or('_'));
        }
    }
    if let Some(last) = chars.last_mut()
        && (*last == '.' || *last == ' ')
    {
        *last = escaped(*last);
    }
    let stem_len = chars.iter().position(|&c| c == '.').unwrap_or(chars.len());
    let stem: String = chars[..stem_len].iter().collect();
    // The last ASCII character is escaped: `from_windows` reverses ASCII escapes only (`COM¹`).
    if is_reserved_stem(&stem)
        && let Some(at) = chars[..stem_len].iter().rposition(char::is_ascii)
    {
        chars[at] = escaped(chars[at]);
    }
    chars.into_iter().collect()
}

/// The name from the backup that `to_windows` turned into `shown`.
pub fn from_windows(shown: &str) -> Vec<u8> {
    let mut out = Vec::with_capacity(shown.len());
    for c in shown.chars() {
        let code = c as u32;
        if (BYTE_ESCAPE..BYTE_ESCAPE + 0x100).contains(&code) {
            out.push((code - BYTE_ESCAPE) as u8);
        } else if (ESCAPE..ESCAPE + 0x80).contains(&code) {
            out.push((code - ESCAPE) as u8);
        } else {
            let mut buf = [0u8; 4];
            out.extend_from_slice(c.encode_utf8(&mut buf).as_bytes());
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plain_names_are_untouched() {
        for name in [
            "readme.txt",
            "ünïcödé",
            "a b",
            ".hidden",
            "COM10",
            "console",
            "nul-device",
        ] {
            assert_eq!(to_windows(name.as_bytes()), name);
        }
    }

    #[test]
    fn forbidden_characters_go_to_the_private_use_area() {
        assert_eq!(to_windows(b"a:b"), "a\u{F03A}b");
        assert_eq!(to_windows(b"what?*"), "what\u{F03F}\u{F02A}");
        assert_eq!(to_windows(b"tab\there"), "tab\u{F009}here");
        assert_eq!(to_windows(b"back\\slash"), "back\u{F05C}slash");
    }

    #[test]
    fn trailing_dots_and_spaces_and_device_names() {
        assert_eq!(to_windows(b"dots..."), "dots..\u{F02E}");
        assert_eq!(to_windows(b"space "), "space\u{F020}");
        assert_eq!(to_windows(b"CON"), "CO\u{F04E}");
        assert_eq!(to_windows(b"aux.txt"), "au\u{F078}.txt");
        assert_eq!(to_windows(b"com1.tar.gz"), "com\u{F031}.tar.gz");
        assert_eq!(to_windows(b"LPT9"), "LPT\u{F039}");
        assert_eq!(to_windows(b"lpt0"), "lpt\u{F030}");
        assert_eq!(
            to_windows("COM\u{B9}.log".as_bytes()),
            "CO\u{F04D}\u{B9}.log"
        );
        assert_eq!(to_windows(b"conin$"), "conin\u{F024}");
    }

    #[test]
    fn every_mapping_is_reversible() {
        let names: [&[u8]; 11] = [
            "com\u{B3}".as_bytes(),
            b"a:b",
            b"dots...",
            b"CON",
            b"aux.txt",
            b"\xff\xfe-bytes",
            b"new\nline",
            b"q?\"<>|",
            b"plain",
            "ünï:cödé".as_bytes(),
            b"end. ",
        ];
        for raw in names {
            let shown = to_windows(raw);
            assert!(
                !shown
                    .chars()
                    .any(|c| FORBIDDEN.contains(c) || (c as u32) < 0x20),
                "{shown:?}"
            );
            assert!(!shown.ends_with('.') && !shown.ends_with(' '), "{shown:?}");
            assert_eq!(from_windows(&shown), raw, "{shown:?}");
        }
    }
}
