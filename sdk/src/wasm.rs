//! The WIT imports as a [`Host`], and the glue behind [`export_recipe!`](crate::export_recipe).

use crate::host::Host;
use crate::types::*;

#[doc(hidden)]
pub mod wit {
    wit_bindgen::generate!({
        path: "../wit",
        world: "recipe",
        pub_export_macro: true,
        export_macro_name: "__export_recipe_world",
        default_bindings_module: "rootwasm_sdk::wasm::wit",
    });
}

use wit::rootwasm::recipe::{artifacts, derived, log, params, rootfs, targets, types as w};

fn err(e: w::Error) -> FsError {
    let code = match e.code {
        w::ErrorCode::NotFound => ErrorCode::NotFound,
        w::ErrorCode::AlreadyExists => ErrorCode::AlreadyExists,
        w::ErrorCode::NotADirectory => ErrorCode::NotADirectory,
        w::ErrorCode::IsADirectory => ErrorCode::IsADirectory,
        w::ErrorCode::DirectoryNotEmpty => ErrorCode::DirectoryNotEmpty,
        w::ErrorCode::SymlinkLoop => ErrorCode::SymlinkLoop,
        w::ErrorCode::InvalidPath => ErrorCode::InvalidPath,
        w::ErrorCode::Unsupported => ErrorCode::Unsupported,
        w::ErrorCode::LimitExceeded => ErrorCode::LimitExceeded,
        w::ErrorCode::Io => ErrorCode::Io,
    };
    FsError {
        code,
        path: e.path,
        message: e.message,
    }
}

// The guest side's one conversion between the WIT bindings' generated
// types and `rootwasm-types` (the host's `sandbox/host.rs` has the other).
fn kind(k: w::NodeKind) -> Kind {
    match k {
        w::NodeKind::File => Kind::File,
        w::NodeKind::Directory => Kind::Dir,
        w::NodeKind::Symlink => Kind::Symlink,
        w::NodeKind::CharDevice => Kind::CharDevice,
        w::NodeKind::BlockDevice => Kind::BlockDevice,
        w::NodeKind::Fifo => Kind::Fifo,
        w::NodeKind::Socket => Kind::Socket,
    }
}

fn meta(m: w::Metadata) -> Metadata {
    Metadata {
        kind: kind(m.kind),
        size: m.size,
        mode: m.mode,
        uid: m.uid,
        gid: m.gid,
    }
}

/// The WIT imports.
pub struct WitHost;

impl Host for WitHost {
    fn lstat(&mut self, path: &str) -> Result<Option<Metadata>, FsError> {
        rootfs::lstat(path).map(|m| m.map(meta)).map_err(err)
    }
    fn stat(&mut self, path: &str) -> Result<Option<Metadata>, FsError> {
        rootfs::stat(path).map(|m| m.map(meta)).map_err(err)
    }
    fn read(&mut self, path: &str) -> Result<Vec<u8>, FsError> {
        rootfs::read(path).map_err(err)
    }
    fn read_dir(&mut self, path: &str) -> Result<Vec<DirEntry>, FsError> {
        rootfs::read_dir(path)
            .map(|v| {
                v.into_iter()
                    .map(|e| DirEntry {
                        name: e.name,
                        kind: kind(e.kind),
                    })
                    .collect()
            })
            .map_err(err)
    }
    fn readlink(&mut self, path: &str) -> Result<String, FsError> {
        rootfs::readlink(path).map_err(err)
    }
    fn write_file(&mut self, path: &str, contents: &[u8], mode: u32) -> Result<(), FsError> {
        rootfs::write_file(path, contents, mode).map_err(err)
    }
    fn mkdir(&mut self, path: &str, mode: u32) -> Result<(), FsError> {
        rootfs::mkdir(path, mode).map_err(err)
    }
    fn symlink(&mut self, target: &str, path: &str) -> Result<(), FsError> {
        rootfs::symlink(target, path).map_err(err)
    }
    fn hardlink(&mut self, existing: &str, path: &str) -> Result<(), FsError> {
        rootfs::hardlink(existing, path).map_err(err)
    }
    fn remove(&mut self, path: &str) -> Result<(), FsError> {
        rootfs::remove(path).map_err(err)
    }
    fn rename(&mut self, from: &str, to: &str) -> Result<(), FsError> {
        rootfs::rename(from, to).map_err(err)
    }
    fn chmod(&mut self, path: &str, mode: u32) -> Result<(), FsError> {
        rootfs::chmod(path, mode).map_err(err)
    }
    fn chown(&mut self, path: &str, uid: u32, gid: u32) -> Result<(), FsError> {
        rootfs::chown(path, uid, gid).map_err(err)
    }
    fn artifacts(&mut self) -> Vec<ArtifactInfo> {
        artifacts::all()
            .into_iter()
            .map(|a| ArtifactInfo {
                name: a.name,
                size: a.size,
                sha256: a.sha256,
            })
            .collect()
    }
    fn artifact(&mut self, name: &str) -> Result<Vec<u8>, FsError> {
        artifacts::read(name).map_err(err)
    }
    fn derived(&mut self, artifact: &str, label: &str) -> Result<Option<Vec<u8>>, FsError> {
        derived::get(artifact, label).map_err(err)
    }
    fn keep_derived(&mut self, artifact: &str, label: &str, data: &[u8]) -> Result<(), FsError> {
        derived::put(artifact, label, data).map_err(err)
    }
    fn param(&mut self, name: &str) -> Option<String> {
        params::get(name)
    }
    fn targets(&mut self) -> Vec<Target> {
        targets::all()
            .into_iter()
            .map(|t| Target {
                ecosystem: t.ecosystem,
                name: t.name,
                version: t.version,
                location: t.location,
            })
            .collect()
    }
    fn log(&mut self, level: Level, message: &str) {
        let level = match level {
            Level::Debug => log::Level::Debug,
            Level::Info => log::Level::Info,
            Level::Warn => log::Level::Warn,
            Level::Error => log::Level::Error,
        };
        log::log(level, message)
    }
}

/// Called by [`export_recipe!`](crate::export_recipe).
#[doc(hidden)]
pub fn apply<R: crate::Recipe>() -> Result<wit::Report, String> {
    let report = R::apply(&mut crate::Context::new(&mut WitHost)).map_err(|e| e.to_string())?;
    Ok(wit::Report {
        fixed: report.fixed,
        packages: report
            .packages
            .into_iter()
            .map(|p| wit::PackageChange {
                ecosystem: p.ecosystem,
                name: p.name,
                location: p.location,
                version_before: p.version_before,
                version_after: p.version_after,
            })
            .collect(),
        notes: report.notes,
    })
}

/// Called by [`export_recipe!`](crate::export_recipe).
#[doc(hidden)]
pub fn check<R: crate::Recipe>() -> Result<wit::CheckReport, String> {
    let c = R::check(&mut crate::Context::new(&mut WitHost)).map_err(|e| e.to_string())?;
    let status = match c.status {
        CheckStatus::Fixed => wit::CheckStatus::Fixed,
        CheckStatus::Vulnerable => wit::CheckStatus::Vulnerable,
        CheckStatus::NotApplicable => wit::CheckStatus::NotApplicable,
    };
    Ok(wit::CheckReport {
        status,
        detail: c.detail,
    })
}
