//! genmount's errors as Linux and macOS errno values. Plain functions with the numbers spelled out,
//! compiled on every OS so that both tables are tested on every machine.

use crate::error::ErrorKind;
#[cfg(test)]
use crate::error::VfsError;

/// The Linux errno for an error.
pub fn linux(err: impl Into<ErrorKind>) -> i32 {
    match err.into() {
        ErrorKind::NotFound => 2,         // ENOENT
        ErrorKind::Io => 5,               // EIO
        ErrorKind::BadHandle => 9,        // EBADF
        ErrorKind::NotDir => 20,          // ENOTDIR
        ErrorKind::IsDir => 21,           // EISDIR
        ErrorKind::InvalidArgument => 22, // EINVAL
        ErrorKind::ReadOnly => 30,        // EROFS
        ErrorKind::Range => 34,           // ERANGE
        ErrorKind::NameTooLong => 36,     // ENAMETOOLONG
        ErrorKind::NoXattr => 61,         // ENODATA
        ErrorKind::NotSupported => 95,    // EOPNOTSUPP
    }
}

/// The macOS errno for an error: a missing xattr is ENOATTR there, and several numbers differ.
pub fn macos(err: impl Into<ErrorKind>) -> i32 {
    match err.into() {
        ErrorKind::NotFound => 2,         // ENOENT
        ErrorKind::Io => 5,               // EIO
        ErrorKind::BadHandle => 9,        // EBADF
        ErrorKind::NotDir => 20,          // ENOTDIR
        ErrorKind::IsDir => 21,           // EISDIR
        ErrorKind::InvalidArgument => 22, // EINVAL
        ErrorKind::ReadOnly => 30,        // EROFS
        ErrorKind::Range => 34,           // ERANGE
        ErrorKind::NameTooLong => 63,     // ENAMETOOLONG
        ErrorKind::NoXattr => 93,         // ENOATTR
        ErrorKind::NotSupported => 45,    // ENOTSUP
    }
}

/// The errno of the OS this build runs on.
pub fn native(err: impl Into<ErrorKind>) -> i32 {
    if cfg!(target_os = "macos") {
        macos(err)
    } else {
        linux(err)
    }
}

#[cfg(test)]
pub(crate) const ALL: [VfsError; 11] = [
    VfsError::NOT_FOUND,
    VfsError::READ_ONLY,
    VfsError::NOT_DIR,
    VfsError::IS_DIR,
    VfsError::NO_XATTR,
    VfsError::RANGE,
    VfsError::NOT_SUPPORTED,
    VfsError::INVALID_ARGUMENT,
    VfsError::NAME_TOO_LONG,
    VfsError::BAD_HANDLE,
    VfsError::IO,
];

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashSet;

    #[test]
    fn every_error_has_a_distinct_errno() {
        let linux_codes: HashSet<i32> = ALL.iter().map(linux).collect();
        let macos_codes: HashSet<i32> = ALL.iter().map(macos).collect();
        assert_eq!(linux_codes.len(), ALL.len());
        assert_eq!(macos_codes.len(), ALL.len());
    }

    #[test]
    fn macos_differs_where_it_must() {
        assert_eq!(macos(VfsError::NO_XATTR), 93);
        assert_eq!(linux(VfsError::NO_XATTR), 61);
        assert_eq!(macos(VfsError::READ_ONLY), linux(VfsError::READ_ONLY));
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
        let got: Vec<i32> = ALL.iter().map(linux).collect();
        assert_eq!(got, expected);
        assert_eq!(native(VfsError::NO_XATTR), libc::ENODATA);
    }
}
