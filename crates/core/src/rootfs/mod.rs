//! The root filesystem as recipes see it.
//!
//! [`RootView`] is the read-only model of a tree: a directory on disk today
//! ([`DirRoot`]), an indexed image later. Every path handed to a view is a
//! [`RootPath`] that [`resolve`] has already walked inside the root, so a view
//! never follows a symlink itself.
//!
//! Resolution is hand-written on purpose: it must follow symlinks through the
//! *staged* view (base tree plus the recipe's uncommitted changes), which no
//! confinement crate can see. cap-std still guards every real file access in
//! [`DirRoot`], as a second wall.

mod dir;
mod path;

pub use dir::DirRoot;
pub use path::{Follow, ResolveError, RootPath, resolve};

use std::io;

/// The prefix of whiteout names in OCI image layers (`.wh.<name>`,
/// `.wh..wh..opq`): a runtime reads them as deletions, so no rootfs path
/// rootwasm stages or writes may have a component starting with it.
pub const WHITEOUT_PREFIX: &str = ".wh.";

/// Node kinds and metadata are the interface's own types (`rootwasm-types`).
pub use rootwasm_types::{Kind, Metadata as Meta};

/// A read-only view of a root filesystem.
///
/// Paths are already resolved: no component of `path` except possibly the
/// last is a symlink, and implementations must not follow one.
pub trait RootView {
    /// Metadata of `path`, not following a final symlink; `None` if absent.
    fn lstat(&self, path: &RootPath) -> io::Result<Option<Meta>>;
    /// Contents of the file at `path`.
    fn read(&self, path: &RootPath) -> io::Result<Vec<u8>>;
    /// Names and kinds of the entries of the directory at `path`, sorted.
    fn read_dir(&self, path: &RootPath) -> io::Result<Vec<(String, Kind)>>;
    /// Target of the symlink at `path`, as stored.
    fn readlink(&self, path: &RootPath) -> io::Result<String>;
    /// Contents of the file at `path`, shared: a view that holds them in
    /// memory hands out its bytes instead of a copy (stacked overlays would
    /// otherwise copy a file once per layer of the stack).
    fn read_shared(&self, path: &RootPath) -> io::Result<std::sync::Arc<[u8]>> {
        self.read(path).map(Into::into)
    }
    /// The sha256 of the file at `path`, when the view knows it without
    /// reading (an image index, staged contents); `None` means read and hash.
    fn known_sha256(&self, _path: &RootPath) -> Option<crate::journal::Sha256Hex> {
        None
    }
}
