//! `impl Host` for the recipe world's imports. Each call forwards to the
//! run's [`Session`](crate::session::Session) or its fixed inputs.

use super::bindings::rootwasm::recipe::{artifacts, derived, log, params, rootfs, targets, types};
use super::state::{LogLine, StoreState, Violation};
use crate::rootfs::{Kind, Meta};
use crate::session::{ErrorCode, SessionError};

type R<T> = Result<T, SessionError>;

// The host side's one conversion between `rootwasm-types` and the WIT
// bindings' generated types (the SDK's `wasm.rs` has the other).
fn kind(k: Kind) -> types::NodeKind {
    match k {
        Kind::File => types::NodeKind::File,
        Kind::Dir => types::NodeKind::Directory,
        Kind::Symlink => types::NodeKind::Symlink,
        Kind::CharDevice => types::NodeKind::CharDevice,
        Kind::BlockDevice => types::NodeKind::BlockDevice,
        Kind::Fifo => types::NodeKind::Fifo,
        Kind::Socket => types::NodeKind::Socket,
    }
}

fn meta(m: Meta) -> types::Metadata {
    types::Metadata {
        kind: kind(m.kind),
        size: m.size,
        mode: m.mode,
        uid: m.uid,
        gid: m.gid,
    }
}

impl types::Host for StoreState {
    fn convert_error(&mut self, err: SessionError) -> wasmtime::Result<types::Error> {
        match err {
            SessionError::Fs(e) => Ok(types::Error {
                code: match e.code {
                    ErrorCode::NotFound => types::ErrorCode::NotFound,
                    ErrorCode::AlreadyExists => types::ErrorCode::AlreadyExists,
                    ErrorCode::NotADirectory => types::ErrorCode::NotADirectory,
                    ErrorCode::IsADirectory => types::ErrorCode::IsADirectory,
                    ErrorCode::DirectoryNotEmpty => types::ErrorCode::DirectoryNotEmpty,
                    ErrorCode::SymlinkLoop => types::ErrorCode::SymlinkLoop,
                    ErrorCode::InvalidPath => types::ErrorCode::InvalidPath,
                    ErrorCode::Unsupported => types::ErrorCode::Unsupported,
                    ErrorCode::LimitExceeded => types::ErrorCode::LimitExceeded,
                    ErrorCode::Io => types::ErrorCode::Io,
                },
                path: e.path,
                message: e.message,
            }),
            // Scope violations end the run: the guest never sees them as values.
            violation => Err(wasmtime::Error::new(Violation(violation.to_string()))),
        }
    }
}

impl rootfs::Host for StoreState {
    fn lstat(&mut self, path: String) -> R<Option<types::Metadata>> {
        Ok(self.session.lstat(&path)?.map(meta))
    }
    fn stat(&mut self, path: String) -> R<Option<types::Metadata>> {
        Ok(self.session.stat(&path)?.map(meta))
    }
    fn read(&mut self, path: String) -> R<Vec<u8>> {
        self.session.read(&path)
    }
    fn read_dir(&mut self, path: String) -> R<Vec<types::DirEntry>> {
        Ok(self
            .session
            .read_dir(&path)?
            .into_iter()
            .map(|(name, k)| types::DirEntry {
                name,
                kind: kind(k),
            })
            .collect())
    }
    fn readlink(&mut self, path: String) -> R<String> {
        self.session.readlink(&path)
    }
    fn write_file(&mut self, path: String, contents: Vec<u8>, mode: u32) -> R<()> {
        self.session.write_file(&path, contents, mode)
    }
    fn mkdir(&mut self, path: String, mode: u32) -> R<()> {
        self.session.mkdir(&path, mode)
    }
    fn symlink(&mut self, target: String, path: String) -> R<()> {
        self.session.symlink(&target, &path)
    }
    fn hardlink(&mut self, existing: String, path: String) -> R<()> {
        self.session.hardlink(&existing, &path)
    }
    fn remove(&mut self, path: String) -> R<()> {
        self.session.remove(&path)
    }
    fn rename(&mut self, from: String, to: String) -> R<()> {
        self.session.rename(&from, &to)
    }
    fn chmod(&mut self, path: String, mode: u32) -> R<()> {
        self.session.chmod(&path, mode)
    }
    fn chown(&mut self, path: String, uid: u32, gid: u32) -> R<()> {
        self.session.chown(&path, uid, gid)
    }
}

impl artifacts::Host for StoreState {
    fn all(&mut self) -> wasmtime::Result<Vec<artifacts::Artifact>> {
        Ok(self
            .inputs
            .artifacts
            .iter()
            .map(|(name, (sha, bytes))| artifacts::Artifact {
                name: name.clone(),
                size: bytes.len() as u64,
                sha256: sha.to_string(),
            })
            .collect())
    }
    fn read(&mut self, name: String) -> R<Vec<u8>> {
        self.artifact(name).map(|(_, bytes, _)| bytes.to_vec())
    }
}

impl StoreState {
    fn artifact(&self, name: String) -> R<(&crate::journal::Sha256Hex, &[u8], String)> {
        match self.inputs.artifacts.get(&name) {
            Some((sha, bytes)) => Ok((sha, bytes, name)),
            None => Err(fs_error(
                ErrorCode::NotFound,
                name,
                "no artifact with this name is declared in recipe.toml",
            )),
        }
    }
}

fn fs_error(code: ErrorCode, path: String, message: &str) -> SessionError {
    SessionError::Fs(crate::session::FsError {
        code,
        message: message.into(),
        path,
    })
}

impl derived::Host for StoreState {
    fn get(&mut self, name: String, label: String) -> R<Option<Vec<u8>>> {
        if !super::derived::valid_label(&label) {
            return Err(fs_error(ErrorCode::InvalidPath, label, LABEL_RULE));
        }
        let (sha, _, _) = self.artifact(name)?;
        Ok(self.derived.store.get(&super::derived::Key {
            component: self.derived.component.as_str(),
            artifact: sha.as_str(),
            label: &label,
        }))
    }
    fn put(&mut self, name: String, label: String, data: Vec<u8>) -> R<()> {
        if !super::derived::valid_label(&label) {
            return Err(fs_error(ErrorCode::InvalidPath, label, LABEL_RULE));
        }
        let (sha, _, name) = self.artifact(name)?;
        let Some(left) = self.derived.budget.checked_sub(data.len() as u64) else {
            return Err(fs_error(
                ErrorCode::LimitExceeded,
                name,
                "derived data of this run would exceed the recipe's written-bytes limit",
            ));
        };
        self.derived.store.put(
            &super::derived::Key {
                component: self.derived.component.as_str(),
                artifact: sha.as_str(),
                label: &label,
            },
            &data,
        );
        self.derived.budget = left;
        Ok(())
    }
}

use crate::recipe::DERIVED_LABEL_RULE as LABEL_RULE;

impl params::Host for StoreState {
    fn get(&mut self, name: String) -> wasmtime::Result<Option<String>> {
        Ok(self.inputs.params.get(&name).cloned())
    }
    fn all(&mut self) -> wasmtime::Result<Vec<(String, String)>> {
        Ok(self
            .inputs
            .params
            .iter()
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect())
    }
}

impl log::Host for StoreState {
    fn log(&mut self, level: log::Level, message: String) -> wasmtime::Result<()> {
        let level = match level {
            log::Level::Debug => "debug",
            log::Level::Info => "info",
            log::Level::Warn => "warn",
            log::Level::Error => "error",
        };
        self.push_log(LogLine {
            level: level.into(),
            message,
        })
    }
}

impl targets::Host for StoreState {
    fn all(&mut self) -> wasmtime::Result<Vec<targets::Install>> {
        Ok(self
            .inputs
            .targets
            .iter()
            .map(|p| targets::Install {
                ecosystem: p.ecosystem.to_string(),
                name: p.name.clone(),
                version: p.version.clone(),
                location: p.location.clone(),
            })
            .collect())
    }
}
