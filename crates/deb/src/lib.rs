//! Debian packages and the dpkg database, in pure Rust.
//!
//! The same code runs in two places: inside the sandboxed `dpkg-upgrade`
//! recipe, which must install a `.deb` without running dpkg, and on the host,
//! where `rootwasm recipe new distro-upgrade` reads a `.deb` to write a recipe.
//! No crate reads a whole `.deb` (ar + compressed control and data tars) in
//! pure Rust with the dpkg database formats, so this one composes `ar`, `tar`
//! and the pure-Rust decoders, and hand-writes only the deb822 and changelog
//! parsing that dpkg's own formats need.
//!
//! Everything here treats its input as hostile: sizes are bounded and
//! malformed input is an [`Error`] naming what was wrong, never a panic.

mod archive;
pub mod ca_certificates;
pub mod changelog;
pub mod control;
pub mod maintscript;
pub mod md5sums;

pub use archive::{Deb, Entry, EntryKind, Limits};
pub use control::Stanza;

/// What was wrong with a package or database file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Error(pub String);

impl std::fmt::Display for Error {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for Error {}

pub(crate) fn err(msg: impl Into<String>) -> Error {
    Error(msg.into())
}

/// MD5 of `data` in lowercase hex, as dpkg's `md5sums` and `Conffiles` hold it.
pub fn md5_hex(data: &[u8]) -> String {
    use md5::Digest;
    hex::encode(md5::Md5::digest(data))
}
