//! What a Windows adapter needs, written and tested on any OS: names Windows cannot hold, case
//! collisions, directories kept per inode, path resolution over `VfsTree`, FILETIME and attribute
//! mapping.

pub mod dircache;
pub mod info;
pub mod listing;
#[cfg(test)]
mod memrepo;
pub mod mountpoint;
pub mod names;
pub mod path;
pub mod reparse;
