//! What a Windows adapter needs, written and tested on any OS: names Windows cannot hold, case
//! collisions, path resolution over `VfsTree`, FILETIME and attribute mapping, listing markers.

pub mod info;
pub mod listing;
pub mod mountpoint;
pub mod names;
pub mod path;
pub mod reparse;
