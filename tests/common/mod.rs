//! Shared helpers of the integration tests: a genmount daemon mounted through the real kernel FUSE,
//! a source tree full of edge cases, and a field-by-field comparison of two trees.
#![allow(dead_code)]

mod compare;
mod mount;
mod restic;
mod tree;

// Each test binary uses part of these: a glob none of whose items it uses is an unused import.
#[allow(unused_imports)]
pub use compare::*;
#[allow(unused_imports)]
pub use mount::*;
#[allow(unused_imports)]
pub use restic::*;
#[allow(unused_imports)]
pub use tree::*;

pub type TestResult = Result<(), Box<dyn std::error::Error>>;

pub const BIN: &str = env!("CARGO_BIN_EXE_genmount");
