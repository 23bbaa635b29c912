//! genmount: mounts the generations of a backup repository as a read-only filesystem.
//! `vfs` is the filesystem, `repo` the backends, `platform` the thin per-OS adapters, `cli` the program.

pub mod cli;
pub mod error;
pub mod meta;
pub mod names;
pub mod progress;
pub mod repo;
pub mod session;
pub mod vfs;
pub mod web;
pub mod win;

#[path = "../platform/mod.rs"]
pub mod platform;
