//! POSIX ACLs as borg stores them (the text of `acl_to_text`, with numeric ids appended to named
//! entries) turned into the binary `system.posix_acl_*` xattr value that Linux and getfacl use.

/// The version word of Linux's posix_acl xattr format.
const VERSION: u32 = 2;
const USER_OBJ: u16 = 0x01;
const USER: u16 = 0x02;
const GROUP_OBJ: u16 = 0x04;
const GROUP: u16 = 0x08;
const MASK: u16 = 0x10;
const OTHER: u16 = 0x20;
const UNDEFINED_ID: u32 = u32::MAX;
/// More entries than any ACL has; bounds the output.
const MAX_ENTRIES: usize = 4096;

/// The xattr value of an access ACL text; `None` when the text is not an ACL genmount understands,
/// or when it says no more than the mode does (owner, group, other), which the kernel keeps in the
/// mode alone and does not show as an xattr.
pub fn access_xattr(text: &[u8]) -> Option<Vec<u8>> {
    let value = to_xattr(text)?;
    (value.len() > 4 + 3 * 8).then_some(value)
}

/// The xattr value of an ACL text, or `None` when the text is not an ACL genmount understands.
pub fn to_xattr(text: &[u8]) -> Option<Vec<u8>> {
    let text = std::str::from_utf8(text).ok()?;
    let mut entries = Vec::new();
    for line in text.split(['\n', ',']) {
        let line = line.split('#').next().unwrap_or_default().trim();
        if line.is_empty() {
            continue;
        }
        entries.push(entry(line)?);
        if entries.len() > MAX_ENTRIES {
            return None;
        }
    }
    if entries.is_empty() {
        return None;
    }
    // The kernel wants entries ordered by tag, then id.
    entries.sort_unstable();
    let mut out = VERSION.to_le_bytes().to_vec();
    for (tag, id, perm) in entries {
        out.extend(tag.to_le_bytes());
        out.extend(perm.to_le_bytes());
        out.extend(id.to_le_bytes());
    }
    Some(out)
}

/// One `tag:qualifier:perms[:id]` line as (tag, id, perm).
fn entry(line: &str) -> Option<(u16, u32, u16)> {
    let fields: Vec<&str> = line.split(':').collect();
    let (kind, name, perms) = (*fields.first()?, *fields.get(1)?, *fields.get(2)?);
    // Borg appends the numeric id to named entries; without it, a name that is a number is one.
    let id = fields.get(3).copied().unwrap_or(name);
    let tag = match (kind, name.is_empty()) {
        ("user" | "u", true) => USER_OBJ,
        ("user" | "u", false) => USER,
        ("group" | "g", true) => GROUP_OBJ,
        ("group" | "g", false) => GROUP,
        ("mask" | "m", _) => MASK,
        ("other" | "o", _) => OTHER,
        _ => return None,
    };
    let id = if tag == USER || tag == GROUP {
        id.parse().ok()?
    } else {
        UNDEFINED_ID
    };
    Some((tag, id, perm_bits(perms)?))
}

fn perm_bits(perms: &str) -> Option<u16> {
    let mut bits = 0;
    for c in perms.chars() {
        bits |= match c {
            'r' => 4,
            'w' => 2,
            'x' => 1,
            '-' => 0,
            _ => return None,
        };
    }
    Some(bits)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn borg_text_becomes_the_kernel_format() {
        let text = b"user::rw-\nuser:bob:r--:1000\ngroup::r--\nmask::r--\nother::---";
        let Some(value) = to_xattr(text) else {
            panic!("not parsed");
        };
        let entry = |tag: u16, perm: u16, id: u32| {
            [
                tag.to_le_bytes().to_vec(),
                perm.to_le_bytes().to_vec(),
                id.to_le_bytes().to_vec(),
            ]
            .concat()
        };
        let expected = [
            2u32.to_le_bytes().to_vec(),
            entry(USER_OBJ, 6, UNDEFINED_ID),
            entry(USER, 4, 1000),
            entry(GROUP_OBJ, 4, UNDEFINED_ID),
            entry(MASK, 4, UNDEFINED_ID),
            entry(OTHER, 0, UNDEFINED_ID),
        ]
        .concat();
        assert_eq!(value, expected);
    }

    #[test]
    fn a_minimal_access_acl_is_the_mode() {
        let minimal = b"user::rwx\ngroup::r-x\nother::r-x";
        assert_eq!(access_xattr(minimal), None);
        assert!(
            to_xattr(minimal).is_some(),
            "a minimal default ACL is still one"
        );
    }

    #[test]
    fn nonsense_is_not_an_acl() {
        assert_eq!(to_xattr(b"user:bob:rw-"), None);
        assert_eq!(to_xattr(b"friend::rwx"), None);
        assert_eq!(to_xattr(b""), None);
    }
}
