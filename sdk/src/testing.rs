//! Run a recipe natively, as plain Rust, against a directory.
//!
//! The harness uses the rootwasm host's own [`Session`]: the same path
//! resolution, scope checks, staging and journal as the wasm sandbox. Only
//! the wasm limits (fuel, memory, time) are absent.
//!
//! ```no_run
//! # struct MyFix;
//! # impl rootwasm_sdk::Recipe for MyFix {
//! #   fn check(_: &mut rootwasm_sdk::Context) -> rootwasm_sdk::Result<rootwasm_sdk::Check> { Ok(rootwasm_sdk::Check::vulnerable("")) }
//! #   fn apply(_: &mut rootwasm_sdk::Context) -> rootwasm_sdk::Result<rootwasm_sdk::Report> { Ok(Default::default()) }
//! # }
//! use rootwasm_sdk::testing::Harness;
//! let h = Harness::new(env!("CARGO_MANIFEST_DIR"), "/tmp/rootfs").unwrap();
//! let applied = h.apply::<MyFix>().unwrap();
//! applied.commit().unwrap();
//! ```

use crate::host::Host;
use crate::types::*;
use crate::{Context, Recipe};
use rootwasm_core::recipe::{Recipe as Loaded, RecipeToml};
use rootwasm_core::rootfs::DirRoot;
use rootwasm_core::session::{self, Phase, Session, SessionError, SessionLimits};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;

pub use rootwasm_core::journal::{Entry, Journal};

/// A recipe directory and a rootfs, ready to run recipes natively.
pub struct Harness {
    manifest: RecipeToml,
    artifacts: BTreeMap<String, Vec<u8>>,
    params: BTreeMap<String, String>,
    targets: Vec<Target>,
    root: Arc<DirRoot>,
    root_path: PathBuf,
}

/// A successful native `apply`: staged, not yet written.
pub struct Applied {
    /// What `apply` reported.
    pub report: Report,
    /// `check` after `apply`.
    pub check: Check,
    /// The journal.
    pub journal: Journal,
    changes: session::Changes,
    root: Arc<DirRoot>,
}

impl Applied {
    /// Write the changes into the rootfs, exactly as `rootwasm run --commit` does.
    pub fn commit(&self) -> Result<()> {
        rootwasm_core::commit::commit(&self.root, &self.changes.entries, &self.changes.blobs)
            .map_err(|e| Error::msg(e.to_string()))
    }
}

struct NativeHost<'a> {
    session: Session,
    artifacts: &'a BTreeMap<String, Vec<u8>>,
    params: &'a BTreeMap<String, String>,
    targets: &'a [Target],
    violation: Option<String>,
    /// `derived.put` of this run, by (artifact, label): the native harness
    /// keeps derived data for one run only.
    derived: BTreeMap<(String, String), Vec<u8>>,
}

impl Harness {
    /// Load `recipe_dir/recipe.toml` and its artifacts (hash-checked; the
    /// component itself is not needed) and open `rootfs`.
    pub fn new(recipe_dir: impl AsRef<Path>, rootfs: impl AsRef<Path>) -> Result<Self> {
        let dir = recipe_dir.as_ref();
        let (manifest, artifacts) =
            Loaded::load_without_component(dir).map_err(|e| Error::msg(e.to_string()))?;
        let root = DirRoot::open(rootfs.as_ref())
            .map_err(|e| Error::msg(format!("{}: {e}", rootfs.as_ref().display())))?;
        let params = manifest.params.clone();
        Ok(Harness {
            manifest,
            artifacts,
            params,
            targets: Vec::new(),
            root: Arc::new(root),
            root_path: rootfs.as_ref().into(),
        })
    }

    /// Override a parameter.
    pub fn param(mut self, name: &str, value: &str) -> Self {
        self.params.insert(name.into(), value.into());
        self
    }

    /// Add an install the host would pass as a target (`Context::targets`);
    /// `location` as the host reports it (see [`Target`]).
    pub fn target(mut self, ecosystem: &str, name: &str, version: &str, location: &str) -> Self {
        self.targets.push(Target {
            ecosystem: ecosystem.into(),
            name: name.into(),
            version: version.into(),
            location: location.into(),
        });
        self
    }

    fn host(&self) -> Result<NativeHost<'_>> {
        let scope = rootwasm_core::scope::Scope::new(
            &self.manifest.capabilities.read,
            &self.manifest.capabilities.write,
        )
        .map_err(|e| Error::msg(e.to_string()))?;
        let limits = SessionLimits {
            max_written: self.manifest.limits.written_bytes,
            max_read: self.manifest.limits.memory_bytes,
        };
        Ok(NativeHost {
            session: Session::new(self.root.clone(), scope, &self.manifest.id, limits),
            artifacts: &self.artifacts,
            params: &self.params,
            targets: &self.targets,
            violation: None,
            derived: BTreeMap::new(),
        })
    }

    /// Run `check` alone.
    pub fn check<R: Recipe>(&self) -> Result<Check> {
        let mut h = self.host()?;
        let c = R::check(&mut Context::new(&mut h));
        h.result(c)
    }

    /// Run `check`, `apply` and `check` as `rootwasm run` does. Fails unless
    /// the first check says vulnerable and the second says fixed.
    pub fn apply<R: Recipe>(&self) -> Result<Applied> {
        let mut h = self.host()?;
        let before = R::check(&mut Context::new(&mut h));
        let before = h.result(before)?;
        if before.status != CheckStatus::Vulnerable {
            return Err(Error::msg(format!(
                "check before apply: {:?}: {}",
                before.status, before.detail
            )));
        }
        h.session.set_phase(Phase::Apply);
        let report = R::apply(&mut Context::new(&mut h));
        let report = h.result(report)?;
        h.session.set_phase(Phase::Check);
        let after = R::check(&mut Context::new(&mut h));
        let check = h.result(after)?;
        if check.status != CheckStatus::Fixed {
            return Err(Error::msg(format!(
                "check after apply: {:?}: {}",
                check.status, check.detail
            )));
        }
        let changes = h.session.finish();
        let journal = Journal {
            entries: changes.entries.clone(),
            ..Journal::default()
        };
        Ok(Applied {
            report,
            check,
            journal,
            changes,
            root: self.root.clone(),
        })
    }

    /// The rootfs directory.
    pub fn rootfs(&self) -> &Path {
        &self.root_path
    }
}

/// The host's rule for `derived` labels, with the host's error.
fn label_ok(label: &str) -> Result<(), FsError> {
    match rootwasm_core::recipe::valid_derived_label(label) {
        true => Ok(()),
        false => Err(FsError {
            code: ErrorCode::InvalidPath,
            path: label.into(),
            message: rootwasm_core::recipe::DERIVED_LABEL_RULE.into(),
        }),
    }
}

impl NativeHost<'_> {
    fn artifact_declared(&self, name: &str) -> Result<(), FsError> {
        match self.artifacts.contains_key(name) {
            true => Ok(()),
            false => Err(FsError {
                code: ErrorCode::NotFound,
                path: name.into(),
                message: "no artifact with this name is declared in recipe.toml".into(),
            }),
        }
    }

    /// A scope violation fails the run even if the recipe swallowed the error.
    fn result<T>(&mut self, r: Result<T>) -> Result<T> {
        if let Some(v) = self.violation.take() {
            return Err(Error::msg(v));
        }
        r
    }

    fn conv<T>(&mut self, r: Result<T, SessionError>) -> Result<T, FsError> {
        r.map_err(|e| match e {
            SessionError::Fs(e) => FsError {
                code: e.code,
                path: e.path,
                message: e.message,
            },
            v => {
                let msg = v.to_string();
                self.violation.get_or_insert(msg.clone());
                FsError {
                    code: ErrorCode::Io,
                    path: String::new(),
                    message: msg,
                }
            }
        })
    }
}

impl Host for NativeHost<'_> {
    fn lstat(&mut self, path: &str) -> Result<Option<Metadata>, FsError> {
        let r = self.session.lstat(path);
        self.conv(r)
    }
    fn stat(&mut self, path: &str) -> Result<Option<Metadata>, FsError> {
        let r = self.session.stat(path);
        self.conv(r)
    }
    fn read(&mut self, path: &str) -> Result<Vec<u8>, FsError> {
        let r = self.session.read(path);
        self.conv(r)
    }
    fn read_dir(&mut self, path: &str) -> Result<Vec<DirEntry>, FsError> {
        let r = self.session.read_dir(path);
        self.conv(r).map(|v| {
            v.into_iter()
                .map(|(name, k)| DirEntry { name, kind: k })
                .collect()
        })
    }
    fn readlink(&mut self, path: &str) -> Result<String, FsError> {
        let r = self.session.readlink(path);
        self.conv(r)
    }
    fn write_file(&mut self, path: &str, contents: &[u8], mode: u32) -> Result<(), FsError> {
        let r = self.session.write_file(path, contents.to_vec(), mode);
        self.conv(r)
    }
    fn mkdir(&mut self, path: &str, mode: u32) -> Result<(), FsError> {
        let r = self.session.mkdir(path, mode);
        self.conv(r)
    }
    fn symlink(&mut self, target: &str, path: &str) -> Result<(), FsError> {
        let r = self.session.symlink(target, path);
        self.conv(r)
    }
    fn hardlink(&mut self, existing: &str, path: &str) -> Result<(), FsError> {
        let r = self.session.hardlink(existing, path);
        self.conv(r)
    }
    fn remove(&mut self, path: &str) -> Result<(), FsError> {
        let r = self.session.remove(path);
        self.conv(r)
    }
    fn rename(&mut self, from: &str, to: &str) -> Result<(), FsError> {
        let r = self.session.rename(from, to);
        self.conv(r)
    }
    fn chmod(&mut self, path: &str, mode: u32) -> Result<(), FsError> {
        let r = self.session.chmod(path, mode);
        self.conv(r)
    }
    fn chown(&mut self, path: &str, uid: u32, gid: u32) -> Result<(), FsError> {
        let r = self.session.chown(path, uid, gid);
        self.conv(r)
    }
    fn artifacts(&mut self) -> Vec<ArtifactInfo> {
        use sha2::Digest;
        self.artifacts
            .iter()
            .map(|(n, b)| ArtifactInfo {
                name: n.clone(),
                size: b.len() as u64,
                sha256: hex::encode(sha2::Sha256::digest(b)),
            })
            .collect()
    }
    fn artifact(&mut self, name: &str) -> Result<Vec<u8>, FsError> {
        self.artifact_declared(name)?;
        Ok(self.artifacts[name].clone())
    }
    fn derived(&mut self, artifact: &str, label: &str) -> Result<Option<Vec<u8>>, FsError> {
        label_ok(label)?;
        self.artifact_declared(artifact)?;
        Ok(self.derived.get(&(artifact.into(), label.into())).cloned())
    }
    fn keep_derived(&mut self, artifact: &str, label: &str, data: &[u8]) -> Result<(), FsError> {
        label_ok(label)?;
        self.artifact_declared(artifact)?;
        self.derived
            .insert((artifact.into(), label.into()), data.to_vec());
        Ok(())
    }
    fn param(&mut self, name: &str) -> Option<String> {
        self.params.get(name).cloned()
    }
    fn targets(&mut self) -> Vec<Target> {
        self.targets.to_vec()
    }
    fn log(&mut self, level: Level, message: &str) {
        eprintln!("[{level:?}] {message}");
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use sha2::Digest;

    /// Keeps derived data in apply and looks for it in check.
    struct Keeps;

    impl Recipe for Keeps {
        fn check(cx: &mut Context) -> Result<Check> {
            Ok(match cx.derived("a.bin", "kept")? {
                Some(d) if d == b"derived" => Check::fixed("kept"),
                _ => Check::vulnerable("nothing kept"),
            })
        }
        fn apply(cx: &mut Context) -> Result<Report> {
            let path = cx.keep_derived("a.bin", "../x", b"no").unwrap_err();
            assert_eq!(path.code, ErrorCode::InvalidPath);
            let undeclared = cx.keep_derived("b.bin", "kept", b"no").unwrap_err();
            assert_eq!(undeclared.code, ErrorCode::NotFound);
            cx.keep_derived("a.bin", "kept", b"derived")?;
            Ok(Report::default())
        }
    }

    #[test]
    fn derived_data_follows_the_hosts_rules_and_lasts_one_run() {
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path().join("recipe");
        std::fs::create_dir_all(tmp.path().join("root")).unwrap();
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(dir.join("a.bin"), b"artifact").unwrap();
        let sha = hex::encode(sha2::Sha256::digest(b"artifact"));
        let toml = format!(
            "id = \"keeps\"\ntype = \"backport\"\nsummary = \"s\"\n\
             [[fixes]]\nid = \"CVE-2000-0001\"\nseverity = \"low\"\npublished = \"2000-01-01\"\n\
             [target]\necosystem = \"generic\"\npackage = \"x\"\naffected = \"*\"\n\
             [component]\npath = \"recipe.wasm\"\nsha256 = \"00\"\n\
             [[artifacts]]\npath = \"a.bin\"\nsha256 = \"{sha}\"\n"
        );
        std::fs::write(dir.join("recipe.toml"), toml).unwrap();
        let h = Harness::new(&dir, tmp.path().join("root")).unwrap();
        // The check after apply sees what apply kept ...
        assert_eq!(h.apply::<Keeps>().unwrap().check.status, CheckStatus::Fixed);
        // ... and a new run starts with nothing.
        assert_eq!(h.check::<Keeps>().unwrap().status, CheckStatus::Vulnerable);
    }
}
