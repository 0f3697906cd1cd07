//! [`Context`]: the rootfs, artifacts and parameters, plus the helpers recipes need.

use crate::host::Host;
use crate::types::*;
use rootwasm_glob::Glob;
use sha2::{Digest, Sha256};

/// What a recipe works with. Paths are absolute inside the image's rootfs.
pub struct Context<'h> {
    host: &'h mut dyn Host,
}

impl<'h> Context<'h> {
    /// Wrap a host. Recipes get their context from the SDK.
    pub fn new(host: &'h mut dyn Host) -> Self {
        Context { host }
    }

    // ---- rootfs --------------------------------------------------------

    /// Metadata, not following a final symlink; `None` if absent.
    pub fn lstat(&mut self, path: &str) -> Result<Option<Metadata>, FsError> {
        self.host.lstat(path)
    }
    /// Metadata, following symlinks; `None` if absent.
    pub fn stat(&mut self, path: &str) -> Result<Option<Metadata>, FsError> {
        self.host.stat(path)
    }
    /// Does `path` exist (following symlinks)?
    pub fn exists(&mut self, path: &str) -> Result<bool, FsError> {
        Ok(self.host.stat(path)?.is_some())
    }
    /// A file's bytes.
    pub fn read(&mut self, path: &str) -> Result<Vec<u8>, FsError> {
        self.host.read(path)
    }
    /// A file as UTF-8 text.
    pub fn read_to_string(&mut self, path: &str) -> Result<String> {
        String::from_utf8(self.read(path)?)
            .map_err(|_| Error::msg(format!("{path}: not UTF-8 text")))
    }
    /// Directory entries, sorted by name.
    pub fn read_dir(&mut self, path: &str) -> Result<Vec<DirEntry>, FsError> {
        self.host.read_dir(path)
    }
    /// A symlink's target.
    pub fn readlink(&mut self, path: &str) -> Result<String, FsError> {
        self.host.readlink(path)
    }
    /// Create or replace a file.
    pub fn write_file(&mut self, path: &str, contents: &[u8], mode: u32) -> Result<(), FsError> {
        self.host.write_file(path, contents, mode)
    }
    /// Create a directory.
    pub fn mkdir(&mut self, path: &str, mode: u32) -> Result<(), FsError> {
        self.host.mkdir(path, mode)
    }
    /// Create a symlink at `path` pointing to `target`.
    pub fn symlink(&mut self, target: &str, path: &str) -> Result<(), FsError> {
        self.host.symlink(target, path)
    }
    /// Create `path` as a hardlink to `existing`.
    pub fn hardlink(&mut self, existing: &str, path: &str) -> Result<(), FsError> {
        self.host.hardlink(existing, path)
    }
    /// Remove a file, symlink or empty directory.
    pub fn remove(&mut self, path: &str) -> Result<(), FsError> {
        self.host.remove(path)
    }
    /// Rename a file or symlink.
    pub fn rename(&mut self, from: &str, to: &str) -> Result<(), FsError> {
        self.host.rename(from, to)
    }
    /// Change permission bits.
    pub fn chmod(&mut self, path: &str, mode: u32) -> Result<(), FsError> {
        self.host.chmod(path, mode)
    }
    /// Change owner and group.
    pub fn chown(&mut self, path: &str, uid: u32, gid: u32) -> Result<(), FsError> {
        self.host.chown(path, uid, gid)
    }

    // ---- artifacts, params, log -----------------------------------------

    /// The declared artifacts.
    pub fn artifacts(&mut self) -> Vec<ArtifactInfo> {
        self.host.artifacts()
    }
    /// An artifact's bytes (the host checked its sha256 against recipe.toml).
    pub fn artifact(&mut self, name: &str) -> Result<Vec<u8>, FsError> {
        self.host.artifact(name)
    }
    /// Data derived from artifact `name` (by this component, from these
    /// exact bytes) that the host kept from an earlier run as `label`, if
    /// any. See [`Context::keep_derived`].
    pub fn derived(&mut self, name: &str, label: &str) -> Result<Option<Vec<u8>>, FsError> {
        self.host.derived(name, label)
    }
    /// Ask the host to keep `data`, derived from artifact `name`, as
    /// `label` (1 to 64 of `a-z A-Z 0-9 . _ -`) for later runs of this
    /// component: a decompressed member, say, so the next run skips the
    /// work. It must be a pure function of the artifact's bytes. Counts
    /// against `written-bytes`.
    pub fn keep_derived(&mut self, name: &str, label: &str, data: &[u8]) -> Result<(), FsError> {
        self.host.keep_derived(name, label, data)
    }
    /// A parameter.
    pub fn param(&mut self, name: &str) -> Option<String> {
        self.host.param(name)
    }
    /// The installs of the recipe's target package in its `affected` range,
    /// as the host found them (empty where rootwasm has no inventory reader
    /// for the ecosystem, or the native harness was given none).
    pub fn targets(&mut self) -> Vec<Target> {
        self.host.targets()
    }
    /// Log a message for the operator.
    pub fn log(&mut self, level: Level, message: &str) {
        self.host.log(level, message)
    }
    /// Log at info level.
    pub fn info(&mut self, message: &str) {
        self.log(Level::Info, message)
    }

    // ---- helpers ----------------------------------------------------------

    /// Every path matching the absolute glob `pattern`, sorted. Walks only
    /// directories that can lead to a match, and does not follow directory
    /// symlinks (so a walk cannot loop).
    pub fn glob(&mut self, pattern: &str) -> Result<Vec<String>> {
        let glob = Glob::new(pattern).map_err(|e| Error::msg(e.to_string()))?;
        let mut out = Vec::new();
        let base = glob.base();
        match self.lstat(&base)? {
            None => return Ok(out),
            Some(m) if m.kind != Kind::Dir => {
                if glob.matches(&base) {
                    out.push(base);
                }
                return Ok(out);
            }
            Some(_) => {}
        }
        if glob.matches(&base) {
            out.push(base.clone());
        }
        let mut stack = vec![base];
        while let Some(dir) = stack.pop() {
            for e in self.read_dir(&dir)? {
                let path = if dir == "/" {
                    format!("/{}", e.name)
                } else {
                    format!("{dir}/{}", e.name)
                };
                if glob.matches(&path) {
                    out.push(path.clone());
                }
                if e.kind == Kind::Dir && glob.may_contain(&path) {
                    stack.push(path);
                }
            }
        }
        out.sort();
        Ok(out)
    }

    /// Replace `path` with the artifact `name`, after checking the artifact's
    /// sha256 against `sha256` (lowercase hex) as a second pin inside the code.
    pub fn replace_with_artifact(
        &mut self,
        path: &str,
        name: &str,
        sha256: &str,
        mode: u32,
    ) -> Result<()> {
        let bytes = self.artifact(name)?;
        let actual = hex::encode(Sha256::digest(&bytes));
        if actual != sha256 {
            return Err(Error::msg(format!(
                "artifact {name} has sha256 {actual}, expected {sha256}"
            )));
        }
        self.write_file(path, &bytes, mode)?;
        Ok(())
    }

    /// Apply a one-file unified diff to `path`. See [`crate::patch`].
    pub fn apply_patch(&mut self, path: &str, diff: &str) -> Result<()> {
        let old = self.read_to_string(path)?;
        let new = crate::patch::apply(path, &old, diff)?;
        let mode = self.stat(path)?.map_or(0o644, |m| m.mode);
        self.write_file(path, new.as_bytes(), mode)?;
        Ok(())
    }

    /// Apply a multi-file unified diff under `dir`, stripping `strip` leading
    /// components from the names in the diff (like `patch -p`). Returns the
    /// changed paths. Every file is checked before any is written.
    pub fn apply_patch_set(&mut self, dir: &str, diff: &str, strip: usize) -> Result<Vec<String>> {
        let mut staged = Vec::new();
        for file in crate::patch::split(diff)? {
            let rel = crate::patch::strip_path(&file.path, strip)?;
            let path = format!("{}/{rel}", dir.trim_end_matches('/'));
            let old = self.read_to_string(&path)?;
            let new = crate::patch::apply(&path, &old, &file.diff)?;
            let mode = self.stat(&path)?.map_or(0o644, |m| m.mode);
            staged.push((path, new, mode));
        }
        let mut changed = Vec::new();
        for (path, new, mode) in staged {
            self.write_file(&path, new.as_bytes(), mode)?;
            changed.push(path);
        }
        Ok(changed)
    }
}
