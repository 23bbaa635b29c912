//! genmount's neutral errors: what went wrong, independent of any OS.
//! `platform/` turns a `VfsError` into an errno or NTSTATUS; the CLI turns an `OpenError` into an exit code.

use std::fmt;
use std::sync::Arc;

/// What kind of failure an operation met. Each kind has one meaning on every OS, and one errno and
/// one NTSTATUS in `platform/`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ErrorKind {
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

impl fmt::Display for ErrorKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let text = match self {
            ErrorKind::NotFound => "no such file or directory",
            ErrorKind::ReadOnly => "read-only filesystem",
            ErrorKind::NotDir => "not a directory",
            ErrorKind::IsDir => "is a directory",
            ErrorKind::NoXattr => "no such extended attribute",
            ErrorKind::Range => "buffer too small",
            ErrorKind::NotSupported => "operation not supported",
            ErrorKind::InvalidArgument => "invalid argument",
            ErrorKind::NameTooLong => "name too long",
            ErrorKind::BadHandle => "bad file handle",
            ErrorKind::Io => "input/output error",
        };
        f.write_str(text)
    }
}

/// Why a filesystem operation failed: its kind, and (where the failure is rare enough to afford
/// it) what it was about, for the log line. Two errors are equal when their kinds are: the
/// context is for people, the kind is what callers and the errno tables act on.
#[derive(Debug, Clone)]
pub struct VfsError {
    kind: ErrorKind,
    context: Option<Arc<str>>,
}

/// Each kind as an error without context: `Err(VfsError::NOT_FOUND)`.
impl VfsError {
    pub const NOT_FOUND: VfsError = VfsError::of(ErrorKind::NotFound);
    pub const READ_ONLY: VfsError = VfsError::of(ErrorKind::ReadOnly);
    pub const NOT_DIR: VfsError = VfsError::of(ErrorKind::NotDir);
    pub const IS_DIR: VfsError = VfsError::of(ErrorKind::IsDir);
    pub const NO_XATTR: VfsError = VfsError::of(ErrorKind::NoXattr);
    pub const RANGE: VfsError = VfsError::of(ErrorKind::Range);
    pub const NOT_SUPPORTED: VfsError = VfsError::of(ErrorKind::NotSupported);
    pub const INVALID_ARGUMENT: VfsError = VfsError::of(ErrorKind::InvalidArgument);
    pub const NAME_TOO_LONG: VfsError = VfsError::of(ErrorKind::NameTooLong);
    pub const BAD_HANDLE: VfsError = VfsError::of(ErrorKind::BadHandle);
    pub const IO: VfsError = VfsError::of(ErrorKind::Io);
}

impl VfsError {
    pub const fn of(kind: ErrorKind) -> VfsError {
        VfsError {
            kind,
            context: None,
        }
    }

    pub fn kind(&self) -> ErrorKind {
        self.kind
    }

    /// What the failure was about (`read: file docs/a.pdf: pack 3f… truncated`), if known.
    pub fn context(&self) -> Option<&str> {
        self.context.as_deref()
    }

    /// The same failure, saying what it was about; an earlier, more precise context is kept
    /// after the new one.
    pub fn about(self, what: impl fmt::Display) -> VfsError {
        let context = match &self.context {
            Some(inner) => format!("{what}: {inner}"),
            None => what.to_string(),
        };
        VfsError {
            kind: self.kind,
            context: Some(context.into()),
        }
    }
}

impl PartialEq for VfsError {
    fn eq(&self, other: &Self) -> bool {
        self.kind == other.kind
    }
}

impl Eq for VfsError {}

impl From<ErrorKind> for VfsError {
    fn from(kind: ErrorKind) -> Self {
        VfsError::of(kind)
    }
}

impl From<VfsError> for ErrorKind {
    fn from(err: VfsError) -> Self {
        err.kind
    }
}

impl From<&VfsError> for ErrorKind {
    fn from(err: &VfsError) -> Self {
        err.kind
    }
}

impl fmt::Display for VfsError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.context {
            Some(context) => write!(f, "{} ({context})", self.kind),
            None => write!(f, "{}", self.kind),
        }
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
            RepoError::NotFound => VfsError::NOT_FOUND,
            RepoError::NotDir => VfsError::NOT_DIR,
            // The text names the damaged object: the one thing a log line about it needs.
            RepoError::Damaged(what) => VfsError::IO.about(what),
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
            VfsError::IO
        );
        assert_eq!(VfsError::from(RepoError::NotFound), VfsError::NOT_FOUND);
    }

    #[test]
    fn context_says_what_failed_and_does_not_change_the_kind() {
        let err = VfsError::from(RepoError::Damaged("pack 3f: truncated".into())).about("read");
        assert_eq!(err.kind(), ErrorKind::Io);
        assert_eq!(err.context(), Some("read: pack 3f: truncated"));
        assert_eq!(
            err.to_string(),
            "input/output error (read: pack 3f: truncated)"
        );
        assert_eq!(VfsError::NOT_FOUND.context(), None);
    }
}
