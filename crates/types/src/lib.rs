//! The plain types that cross the `rootwasm:recipe` interface, defined once:
//! the host's core (`rootwasm-core`) and the SDK (`rootwasm-sdk`, in recipes
//! and in their native tests) use these, and the only conversions left are
//! to and from the WIT bindings, one on each side.

#![no_std]
#![deny(missing_docs)]

/// What kind of node a path names.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
#[cfg_attr(
    feature = "serde",
    derive(serde::Serialize, serde::Deserialize),
    serde(rename_all = "kebab-case")
)]
pub enum Kind {
    /// A regular file.
    File,
    /// A directory.
    Dir,
    /// A symbolic link.
    Symlink,
    /// A character device node.
    CharDevice,
    /// A block device node.
    BlockDevice,
    /// A named pipe.
    Fifo,
    /// A unix socket.
    Socket,
}

/// Metadata of one node.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Metadata {
    /// Node kind.
    pub kind: Kind,
    /// Size in bytes of a file; 0 otherwise.
    pub size: u64,
    /// Permission bits including setuid/setgid/sticky.
    pub mode: u32,
    /// Owner.
    pub uid: u32,
    /// Group.
    pub gid: u32,
}

/// Why a rootfs call failed, as the guest sees it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ErrorCode {
    /// No such node.
    NotFound,
    /// The path exists.
    AlreadyExists,
    /// A directory was expected.
    NotADirectory,
    /// A directory was not expected.
    IsADirectory,
    /// The directory has entries.
    DirectoryNotEmpty,
    /// Too many symlinks.
    SymlinkLoop,
    /// The path is malformed or names the root.
    InvalidPath,
    /// The staging area cannot do this.
    Unsupported,
    /// A run limit was reached.
    LimitExceeded,
    /// The underlying tree failed.
    Io,
}
