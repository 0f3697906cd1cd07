//! A root filesystem that is a directory on the host.

use super::{Kind, Meta, RootPath, RootView};
use cap_std::ambient_authority;
use cap_std::fs::FileTypeExt;
use cap_std::fs::{Dir, FileType, MetadataExt};
use std::io;
use std::path::{Path, PathBuf};

/// A directory tree seen as a root filesystem.
///
/// Every access goes through a cap-std [`Dir`], which refuses to leave the
/// directory even if a caller passed a path with a symlink in it.
pub struct DirRoot {
    dir: Dir,
    path: PathBuf,
}

impl DirRoot {
    /// Open `path` as a root.
    pub fn open(path: &Path) -> io::Result<Self> {
        let dir = Dir::open_ambient_dir(path, ambient_authority())?;
        Ok(DirRoot {
            dir,
            path: path.to_owned(),
        })
    }

    /// The host path of the root.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The cap-std handle, for committing changes.
    pub(crate) fn dir(&self) -> &Dir {
        &self.dir
    }
}

pub(crate) fn kind_of(ft: FileType) -> Kind {
    if ft.is_symlink() {
        Kind::Symlink
    } else if ft.is_dir() {
        Kind::Dir
    } else if ft.is_char_device() {
        Kind::CharDevice
    } else if ft.is_block_device() {
        Kind::BlockDevice
    } else if ft.is_fifo() {
        Kind::Fifo
    } else if ft.is_socket() {
        Kind::Socket
    } else {
        Kind::File
    }
}

impl RootView for DirRoot {
    fn lstat(&self, path: &RootPath) -> io::Result<Option<Meta>> {
        match self.dir.symlink_metadata(path.relative()) {
            Ok(m) => {
                let kind = kind_of(m.file_type());
                Ok(Some(Meta {
                    kind,
                    size: if kind == Kind::File { m.len() } else { 0 },
                    mode: m.mode() & 0o7777,
                    uid: m.uid(),
                    gid: m.gid(),
                }))
            }
            Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(None),
            Err(e) if e.raw_os_error() == Some(20) => Ok(None), // ENOTDIR: a parent is a file
            Err(e) => Err(e),
        }
    }

    fn read(&self, path: &RootPath) -> io::Result<Vec<u8>> {
        self.dir.read(path.relative())
    }

    fn read_dir(&self, path: &RootPath) -> io::Result<Vec<(String, Kind)>> {
        let mut out = Vec::new();
        for entry in self.dir.read_dir(path.relative())? {
            let entry = entry?;
            // Recipes speak UTF-8 (WIT strings); other names stay invisible to them.
            if let Ok(name) = entry.file_name().into_string() {
                out.push((name, kind_of(entry.file_type()?)));
            }
        }
        out.sort();
        Ok(out)
    }

    fn readlink(&self, path: &RootPath) -> io::Result<String> {
        let target = self.dir.read_link_contents(path.relative())?;
        target
            .into_os_string()
            .into_string()
            .map_err(|_| io::Error::new(io::ErrorKind::InvalidData, "symlink target is not UTF-8"))
    }
}
