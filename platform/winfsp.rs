//! The Windows adapter (WinFsp). Not written yet: Windows cannot be built on genmount's machines,
//! and the neutral logic it needs (path lookup, name mapping, file info) comes first.

use crate::error::OpenError;
use crate::session::MountRequest;
use crate::vfs::VfsTree;

/// Refuses clearly until the WinFsp adapter exists.
pub fn mount<T: VfsTree>(_tree: T, _request: &MountRequest) -> Result<(), OpenError> {
    Err(OpenError::Other(
        "mounting on Windows is not supported by this build yet".into(),
    ))
}
