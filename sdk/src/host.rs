//! The interface a recipe runs against. In wasm it is the WIT imports; in
//! native tests it is the rootwasm host's own session.

use crate::types::{ArtifactInfo, DirEntry, FsError, Level, Metadata, Target};

/// The recipe's host: rootfs, artifacts, parameters and log.
///
/// Recipes do not call this directly; they use [`Context`](crate::Context).
pub trait Host {
    /// See `rootfs.lstat`.
    fn lstat(&mut self, path: &str) -> Result<Option<Metadata>, FsError>;
    /// See `rootfs.stat`.
    fn stat(&mut self, path: &str) -> Result<Option<Metadata>, FsError>;
    /// See `rootfs.read`.
    fn read(&mut self, path: &str) -> Result<Vec<u8>, FsError>;
    /// See `rootfs.read-dir`.
    fn read_dir(&mut self, path: &str) -> Result<Vec<DirEntry>, FsError>;
    /// See `rootfs.readlink`.
    fn readlink(&mut self, path: &str) -> Result<String, FsError>;
    /// See `rootfs.write-file`.
    fn write_file(&mut self, path: &str, contents: &[u8], mode: u32) -> Result<(), FsError>;
    /// See `rootfs.mkdir`.
    fn mkdir(&mut self, path: &str, mode: u32) -> Result<(), FsError>;
    /// See `rootfs.symlink`.
    fn symlink(&mut self, target: &str, path: &str) -> Result<(), FsError>;
    /// See `rootfs.hardlink`.
    fn hardlink(&mut self, existing: &str, path: &str) -> Result<(), FsError>;
    /// See `rootfs.remove`.
    fn remove(&mut self, path: &str) -> Result<(), FsError>;
    /// See `rootfs.rename`.
    fn rename(&mut self, from: &str, to: &str) -> Result<(), FsError>;
    /// See `rootfs.chmod`.
    fn chmod(&mut self, path: &str, mode: u32) -> Result<(), FsError>;
    /// See `rootfs.chown`.
    fn chown(&mut self, path: &str, uid: u32, gid: u32) -> Result<(), FsError>;
    /// See `artifacts.all`.
    fn artifacts(&mut self) -> Vec<ArtifactInfo>;
    /// See `artifacts.read`.
    fn artifact(&mut self, name: &str) -> Result<Vec<u8>, FsError>;
    /// See `derived.get`.
    fn derived(&mut self, artifact: &str, label: &str) -> Result<Option<Vec<u8>>, FsError>;
    /// See `derived.put`.
    fn keep_derived(&mut self, artifact: &str, label: &str, data: &[u8]) -> Result<(), FsError>;
    /// See `params.get`.
    fn param(&mut self, name: &str) -> Option<String>;
    /// See `targets.all`.
    fn targets(&mut self) -> Vec<Target>;
    /// See `log.log`.
    fn log(&mut self, level: Level, message: &str);
}
