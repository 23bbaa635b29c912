//! Extended attributes as the kernel asks for them: a node's own, the `user.genmount.*` ones of a
//! generation's directory, and the answers to `getxattr`/`listxattr` with names the kernel can take.

use super::{Ino, XattrReply};
use crate::error::{VfsError, VfsResult};
use crate::names;
use crate::repo::{Generation, Xattrs};

/// An xattr name the kernel can take: not empty, no NUL (it separates names in a list), ≤ 255 bytes.
fn valid_name(name: &[u8]) -> bool {
    !name.is_empty() && name.len() <= names::NAME_MAX && !name.contains(&0)
}

/// The answer to `getxattr` of `name` among `xattrs`. A missing name of the `security.` namespace
/// (SELinux and SMACK labels, file capabilities) is "not supported", as a filesystem without
/// labels answers, rather than "no such attribute": `ls -l` (coreutils) then stops asking for the
/// label of every entry of the mount, which halves the round trips of `ls -l` beyond the listing.
/// The labels a backup recorded are still served, and listed.
pub fn get(xattrs: Xattrs, name: &[u8], size: u32) -> VfsResult<XattrReply> {
    let value = xattrs
        .into_iter()
        .find(|(n, _)| valid_name(n) && n == name)
        .map(|(_, v)| v);
    let missing = if name.starts_with(b"security.") {
        VfsError::NOT_SUPPORTED
    } else {
        VfsError::NO_XATTR
    };
    XattrReply::for_request(value.ok_or(missing)?, size)
}

/// The answer to `listxattr`: the names, each followed by NUL; names the kernel cannot take are
/// left out.
pub fn list(ino: Ino, xattrs: Xattrs, size: u32) -> VfsResult<XattrReply> {
    let mut list = Vec::new();
    for (name, _) in xattrs {
        if valid_name(&name) {
            list.extend_from_slice(&name);
            list.push(0);
        } else {
            tracing::warn!(ino, name = %String::from_utf8_lossy(&name), "xattr with an impossible name skipped");
        }
    }
    XattrReply::for_request(list, size)
}

/// `user.genmount.{id,time,host,paths,tags}` of a generation, for scripts and file managers.
pub fn of_generation(generation: &Generation) -> Xattrs {
    let mut out = vec![
        (
            b"user.genmount.id".to_vec(),
            generation.id.clone().into_bytes(),
        ),
        (
            b"user.genmount.time".to_vec(),
            generation.end.to_rfc3339().into_bytes(),
        ),
    ];
    if let Some(host) = &generation.host {
        out.push((b"user.genmount.host".to_vec(), host.clone().into_bytes()));
    }
    if !generation.paths.is_empty() {
        out.push((
            b"user.genmount.paths".to_vec(),
            generation.paths.join("\n").into_bytes(),
        ));
    }
    if !generation.tags.is_empty() {
        out.push((
            b"user.genmount.tags".to_vec(),
            generation.tags.join(",").into_bytes(),
        ));
    }
    out
}
