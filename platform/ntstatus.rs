//! genmount's errors as Windows NTSTATUS codes, for the WinFsp adapter.
//! Compiled on every OS so the table is tested where Windows cannot be built.

use crate::error::ErrorKind;

pub const STATUS_INVALID_HANDLE: u32 = 0xC000_0008;
pub const STATUS_INVALID_PARAMETER: u32 = 0xC000_000D;
pub const STATUS_BUFFER_TOO_SMALL: u32 = 0xC000_0023;
pub const STATUS_OBJECT_NAME_INVALID: u32 = 0xC000_0033;
pub const STATUS_OBJECT_NAME_NOT_FOUND: u32 = 0xC000_0034;
pub const STATUS_NONEXISTENT_EA_ENTRY: u32 = 0xC000_0051;
pub const STATUS_MEDIA_WRITE_PROTECTED: u32 = 0xC000_00A2;
pub const STATUS_FILE_IS_A_DIRECTORY: u32 = 0xC000_00BA;
pub const STATUS_NOT_SUPPORTED: u32 = 0xC000_00BB;
pub const STATUS_NOT_A_DIRECTORY: u32 = 0xC000_0103;
pub const STATUS_FILE_CORRUPT_ERROR: u32 = 0xC000_0102;

/// The NTSTATUS for an error.
pub fn ntstatus(err: impl Into<ErrorKind>) -> u32 {
    match err.into() {
        ErrorKind::NotFound => STATUS_OBJECT_NAME_NOT_FOUND,
        ErrorKind::ReadOnly => STATUS_MEDIA_WRITE_PROTECTED,
        ErrorKind::NotDir => STATUS_NOT_A_DIRECTORY,
        ErrorKind::IsDir => STATUS_FILE_IS_A_DIRECTORY,
        ErrorKind::NoXattr => STATUS_NONEXISTENT_EA_ENTRY,
        ErrorKind::Range => STATUS_BUFFER_TOO_SMALL,
        ErrorKind::NotSupported => STATUS_NOT_SUPPORTED,
        ErrorKind::InvalidArgument => STATUS_INVALID_PARAMETER,
        ErrorKind::NameTooLong => STATUS_OBJECT_NAME_INVALID,
        ErrorKind::BadHandle => STATUS_INVALID_HANDLE,
        ErrorKind::Io => STATUS_FILE_CORRUPT_ERROR,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::error::VfsError;
    use crate::platform::errno::ALL;
    use std::collections::HashSet;

    #[test]
    fn every_error_has_a_distinct_error_status() {
        let codes: HashSet<u32> = ALL.iter().map(ntstatus).collect();
        assert_eq!(codes.len(), ALL.len());
        // Severity "error" is the top two bits set.
        assert!(codes.iter().all(|c| c >> 30 == 0b11));
    }

    #[test]
    fn read_only_is_write_protected() {
        assert_eq!(ntstatus(VfsError::READ_ONLY), 0xC000_00A2);
        assert_eq!(ntstatus(VfsError::NOT_FOUND), 0xC000_0034);
    }
}
