//! genmount's neutral errors: what went wrong, independent of any OS.
//! `platform/` turns a `VfsError` into an errno or NTSTATUS; the CLI turns an `OpenError` into an exit code.

use std::fmt;

/// Why a filesystem operation failed. Each variant has one meaning on every OS.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum VfsError {
    /// No such entry.
    NotFound,
    /// The operation would modify the filesystem.
    ReadOnly,
    /// A directory operation on something that is not a directory.
    NotDir,
    /// A file operation on a directory.
    IsDir,
    /// The named extended attribute does not exist.
    NoXattr,
    /// The caller's buffer is too small for the answer.
    Range,
    /// The operation is not supported here (locks, for example).
    NotSupported,
    /// An argument makes no sense for this node (readlink of a file, say).
    InvalidArgument,
    /// A name longer than the filesystem allows.
    NameTooLong,
    /// A file or directory handle that genmount never gave out.
    BadHandle,
    /// The repository could not deliver the data (damaged, missing, unreadable).
    Io,
}

impl fmt::Display for VfsError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let text = match self {
            VfsError::NotFound => "no such file or directory",
            VfsError::ReadOnly => "read-only filesystem",
            VfsError::NotDir => "not a directory",
            VfsError::IsDir => "is a directory",
            VfsError::NoXattr => "no such extended attribute",
            VfsError::Range => "buffer too small",
            VfsError::NotSupported => "operation not supported",
            VfsError::InvalidArgument => "invalid argument",
            VfsError::NameTooLong => "name too long",
            VfsError::BadHandle => "bad file handle",
            VfsError::Io => "input/output error",
        };
        f.write_str(text)
    }
}

impl std::error::Error for VfsError {}

pub type VfsResult<T> = Result<T, VfsError>;

/// An error from a repository backend, with the text a user should see.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RepoError {
    /// The node or generation does not exist.
    NotFound,
    /// A directory was expected.
    NotDir,
    /// Data could not be read or failed verification; the text says which object.
    Damaged(String),
}

impl fmt::Display for RepoError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            RepoError::NotFound => f.write_str("not found"),
            RepoError::NotDir => f.write_str("not a directory"),
            RepoError::Damaged(what) => f.write_str(what),
        }
    }
}

impl std::error::Error for RepoError {}

impl RepoError {
    /// A damaged-data error from an I/O error, naming the object that failed.
    pub fn io(what: impl fmt::Display, err: impl fmt::Display) -> Self {
        RepoError::Damaged(format!("{what}: {err}"))
    }
}

impl From<RepoError> for VfsError {
    fn from(err: RepoError) -> Self {
        match err {
            RepoError::NotFound => VfsError::NotFound,
            RepoError::NotDir => VfsError::NotDir,
            RepoError::Damaged(_) => VfsError::Io,
        }
    }
}

/// Why genmount could not start: each kind has its documented exit code.
#[derive(Debug)]
pub enum OpenError {
    /// The repository does not exist or cannot be read (exit 10, as restic).
    Repository(String),
    /// The repository is locked exclusively (exit 11, as restic).
    Locked(String),
    /// Wrong password (exit 12, as restic).
    Password(String),
    /// No password could be had: none given, an unreadable file, a failing command (exit 5).
    Credentials(String),
    /// The mountpoint is missing, not a directory, not empty or already mounted (exit 3).
    Mountpoint(String),
    /// No generation matches, or ROOT is missing from it (exit 4).
    Generation(String),
    /// Options that contradict each other (exit 2, like a usage error).
    Usage(String),
    /// Anything else, such as the mount itself failing (exit 1).
    Other(String),
}

impl OpenError {
    /// The process exit code documented in the README.
    pub fn exit_code(&self) -> i32 {
        match self {
            OpenError::Other(_) => 1,
            OpenError::Usage(_) => 2,
            OpenError::Mountpoint(_) => 3,
            OpenError::Generation(_) => 4,
            OpenError::Credentials(_) => 5,
            OpenError::Repository(_) => 10,
            OpenError::Locked(_) => 11,
            OpenError::Password(_) => 12,
        }
    }
}

impl fmt::Display for OpenError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            OpenError::Repository(m)
            | OpenError::Locked(m)
            | OpenError::Password(m)
            | OpenError::Credentials(m)
            | OpenError::Mountpoint(m)
            | OpenError::Generation(m)
            | OpenError::Usage(m)
            | OpenError::Other(m) => f.write_str(m),
        }
    }
}

impl std::error::Error for OpenError {}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exit_codes_are_distinct_and_match_restic() {
        let all = [
            OpenError::Other(String::new()),
            OpenError::Usage(String::new()),
            OpenError::Mountpoint(String::new()),
            OpenError::Generation(String::new()),
            OpenError::Credentials(String::new()),
            OpenError::Repository(String::new()),
            OpenError::Locked(String::new()),
            OpenError::Password(String::new()),
        ];
        let codes: Vec<i32> = all.iter().map(OpenError::exit_code).collect();
        assert_eq!(codes, vec![1, 2, 3, 4, 5, 10, 11, 12]);
    }

    #[test]
    fn damaged_repository_data_becomes_io() {
        assert_eq!(
            VfsError::from(RepoError::Damaged("pack x".into())),
            VfsError::Io
        );
        assert_eq!(VfsError::from(RepoError::NotFound), VfsError::NotFound);
    }
}
