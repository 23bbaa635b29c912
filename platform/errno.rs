//! genmount's errors as Linux and macOS errno values. Plain functions with the numbers spelled out,
//! compiled on every OS so that both tables are tested on every machine.

use crate::error::VfsError;

/// The Linux errno for an error.
pub fn linux(err: VfsError) -> i32 {
    match err {
        VfsError::NotFound => 2,         // ENOENT
        VfsError::Io => 5,               // EIO
        VfsError::BadHandle => 9,        // EBADF
        VfsError::NotDir => 20,          // ENOTDIR
        VfsError::IsDir => 21,           // EISDIR
        VfsError::InvalidArgument => 22, // EINVAL
        VfsError::ReadOnly => 30,        // EROFS
        VfsError::Range => 34,           // ERANGE
        VfsError::NameTooLong => 36,     // ENAMETOOLONG
        VfsError::NoXattr => 61,         // ENODATA
        VfsError::NotSupported => 95,    // EOPNOTSUPP
    }
}

/// The macOS errno for an error: a missing xattr is ENOATTR there, and several numbers differ.
pub fn macos(err: VfsError) -> i32 {
    match err {
        VfsError::NotFound => 2,         // ENOENT
        VfsError::Io => 5,               // EIO
        VfsError::BadHandle => 9,        // EBADF
        VfsError::NotDir => 20,          // ENOTDIR
        VfsError::IsDir => 21,           // EISDIR
        VfsError::InvalidArgument => 22, // EINVAL
        VfsError::ReadOnly => 30,        // EROFS
        VfsError::Range => 34,           // ERANGE
        VfsError::NameTooLong => 63,     // ENAMETOOLONG
        VfsError::NoXattr => 93,         // ENOATTR
        VfsError::NotSupported => 45,    // ENOTSUP
    }
}

/// The errno of the OS this build runs on.
pub fn native(err: VfsError) -> i32 {
    if cfg!(target_os = "macos") {
        macos(err)
    } else {
        linux(err)
    }
}

#[cfg(test)]
pub(crate) const ALL: [VfsError; 11] = [
    VfsError::NotFound,
    VfsError::ReadOnly,
    VfsError::NotDir,
    VfsError::IsDir,
    VfsError::NoXattr,
    VfsError::Range,
    VfsError::NotSupported,
    VfsError::InvalidArgument,
    VfsError::NameTooLong,
    VfsError::BadHandle,
    VfsError::Io,
];

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashSet;

    #[test]
    fn every_error_has_a_distinct_errno() {
        let linux_codes: HashSet<i32> = ALL.iter().map(|e| linux(*e)).collect();
        let macos_codes: HashSet<i32> = ALL.iter().map(|e| macos(*e)).collect();
        assert_eq!(linux_codes.len(), ALL.len());
        assert_eq!(macos_codes.len(), ALL.len());
    }

    #[test]
    fn macos_differs_where_it_must() {
        assert_eq!(macos(VfsError::NoXattr), 93);
        assert_eq!(linux(VfsError::NoXattr), 61);
        assert_eq!(macos(VfsError::ReadOnly), linux(VfsError::ReadOnly));
    }

    #[cfg(target_os = "linux")]
    #[test]
    fn linux_table_matches_libc() {
        let expected = [
            libc::ENOENT,
            libc::EROFS,
            libc::ENOTDIR,
            libc::EISDIR,
            libc::ENODATA,
            libc::ERANGE,
            libc::EOPNOTSUPP,
            libc::EINVAL,
            libc::ENAMETOOLONG,
            libc::EBADF,
            libc::EIO,
        ];
        let got: Vec<i32> = ALL.iter().map(|e| linux(*e)).collect();
        assert_eq!(got, expected);
        assert_eq!(native(VfsError::NoXattr), libc::ENODATA);
    }
}
