//! What a mount is asked to show: the view (multiple, single, versions) and the layout's options.

use super::GenerationSpec;

/// How generations are laid out at the mountpoint.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum View {
    /// One directory per generation, `latest` and `.pid`.
    #[default]
    Multiple,
    /// One generation straight at the mountpoint.
    Single,
    /// Every generation merged into one tree; each file is a directory of its distinct versions.
    Versions,
}

/// What the layout shows and who it says owns its own entries.
#[derive(Debug, Clone, Default)]
pub struct LayoutOptions {
    pub view: View,
    /// The generation of a single view.
    pub generation: GenerationSpec,
    /// Only this path inside each generation is shown (components, outermost first).
    pub root: Vec<Vec<u8>>,
    pub pid: u32,
    pub uid: u32,
    pub gid: u32,
    /// Show a generation that repeats its predecessor's tree as a symlink to it.
    pub fold_identical: bool,
}
