//! A cache of layer indexes, keyed by layer digest, and the checks every
//! cache directory passes before it is used.
//!
//! Reading a layer means decompressing and hashing all of it; its index (the
//! entries' metadata plus the few files recipes may read) is small. Caching
//! the index under the layer's digest lets a second `apply` on the same base
//! skip the work.
//!
//! A cached index is trusted to say what the layer holds without the layer
//! being read, so whoever can write the cache can change what recipes see and
//! what the patch layer is built from. Hence [`private_dir`]: a cache
//! directory is used only if it is a real directory owned by us with no group
//! or other access, reached through directories only we (or root) can change.
//! Inside it each index records the layer digest, capture key, diff_id and
//! format it was made for, and each captured file is checked against its
//! sha256, so a stale, renamed or damaged entry is refused. An index forged by
//! someone who can already write our private directory cannot be told apart.

use super::layer::{Entry, EntryKind, LayerIndex};
use super::model::Digest;
use crate::journal::Sha256Hex;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

/// Why a cache directory is not used.
#[derive(Debug, thiserror::Error)]
#[error("not using the cache {path}: {reason}")]
pub struct CacheDirError {
    /// The directory.
    pub path: PathBuf,
    /// What is wrong with it, and what to do.
    pub reason: String,
}

impl CacheDirError {
    /// No cache location is configured at all.
    pub fn no_location() -> Self {
        CacheDirError {
            path: PathBuf::from("(none)"),
            reason: "there is no cache location: set ROOTWASM_CACHE_DIR, XDG_CACHE_HOME or HOME (a shared temporary directory is never used)".into(),
        }
    }
}

/// An ancestor of a cache directory is owned by us or root and, unless
/// sticky, not writable by others.
fn safe_ancestor(p: &Path, euid: u32) -> Result<(), String> {
    use std::os::unix::fs::MetadataExt;
    let m =
        std::fs::symlink_metadata(p).map_err(|e| format!("cannot inspect {}: {e}", p.display()))?;
    if m.uid() != euid && m.uid() != 0 {
        return Err(format!(
            "{} is owned by uid {}, not by us or root",
            p.display(),
            m.uid()
        ));
    }
    let sticky = m.mode() & 0o1000 != 0;
    if m.file_type().is_dir() && m.mode() & 0o022 != 0 && !sticky {
        return Err(format!(
            "{} is writable by other users (mode {:o})",
            p.display(),
            m.mode() & 0o7777
        ));
    }
    Ok(())
}

/// Create `dir` (mode 0700) if missing, then check that only we can change
/// what is in it: it must be a real directory (not a symlink) owned by our
/// effective uid with no group or other permissions, and every directory above
/// it must be owned by us or root and not writable by others unless sticky.
pub fn private_dir(dir: &Path) -> Result<(), CacheDirError> {
    use std::os::unix::fs::{DirBuilderExt, MetadataExt};
    let refuse = |reason: String| CacheDirError {
        path: dir.to_owned(),
        reason,
    };
    if dir.as_os_str().is_empty() {
        return Err(CacheDirError::no_location());
    }
    let abs = if dir.is_absolute() {
        dir.to_owned()
    } else {
        std::env::current_dir()
            .map_err(|e| refuse(format!("cannot resolve the relative path: {e}")))?
            .join(dir)
    };
    // The ancestors first: a directory others can write could be swapped
    // for theirs between our check and our use.
    let euid = rustix::process::geteuid().as_raw();
    let check_parent = |p: &Path| safe_ancestor(p, euid).map_err(&refuse);
    let parent = abs.parent().unwrap_or(Path::new("/"));
    let mut chains = vec![parent.to_owned()];
    if let Ok(real) = parent.canonicalize() {
        chains.push(real);
    }
    for chain in &chains {
        for a in chain.ancestors().filter(|a| a.exists() || a.is_symlink()) {
            check_parent(a)?;
        }
    }
    match std::fs::symlink_metadata(&abs) {
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            std::fs::DirBuilder::new()
                .recursive(true)
                .mode(0o700)
                .create(&abs)
                .map_err(|e| refuse(format!("cannot create it: {e}")))?;
        }
        Err(e) => return Err(refuse(format!("cannot inspect it: {e}"))),
        Ok(_) => {}
    }
    let m =
        std::fs::symlink_metadata(&abs).map_err(|e| refuse(format!("cannot inspect it: {e}")))?;
    if m.file_type().is_symlink() {
        return Err(refuse(
            "it is a symlink; point the cache at a real directory".into(),
        ));
    }
    if !m.file_type().is_dir() {
        return Err(refuse("it is not a directory".into()));
    }
    if m.uid() != euid {
        return Err(refuse(format!(
            "it is owned by uid {}, not by us (uid {euid}); remove it or choose another --cache-dir",
            m.uid()
        )));
    }
    if m.mode() & 0o077 != 0 {
        return Err(refuse(format!(
            "its mode {:o} lets other users in; run `chmod 700` on it or choose another --cache-dir",
            m.mode() & 0o7777
        )));
    }
    Ok(())
}

/// Say once per directory on stderr that a cache is not used.
pub fn warn_once(e: &CacheDirError) {
    use std::sync::{Mutex, OnceLock};
    static SEEN: OnceLock<Mutex<std::collections::BTreeSet<PathBuf>>> = OnceLock::new();
    let seen = SEEN.get_or_init(Default::default);
    if seen
        .lock()
        .map(|mut s| s.insert(e.path.clone()))
        .unwrap_or(true)
    {
        eprintln!("rootwasm: warning: {e}; continuing without a cache");
    }
}

/// Layer indexes on disk.
#[derive(Clone, Debug)]
pub struct LayerCache {
    dir: PathBuf,
}

/// The stored index format; anything else is ignored.
const FORMAT: &str = "rootwasm.layer-index/2";

#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct Stored {
    format: String,
    layer: Digest,
    capture_key: String,
    diff_id: Digest,
    entries: Vec<Entry>,
    contents: Vec<Sha256Hex>,
}

impl LayerCache {
    /// A cache under `dir` (created on first use, mode 0700, and checked by
    /// [`private_dir`] before every load and store).
    pub fn new(dir: PathBuf) -> Self {
        LayerCache { dir }
    }

    fn index_path(&self, layer: &Digest, capture_key: &str) -> PathBuf {
        self.dir
            .join("layers")
            .join(format!("{}-{capture_key}.json", layer.hex()))
    }

    /// The cached index of `layer` read with capture set `capture_key`, if any.
    /// Returns the diff_id computed when it was stored, for the caller to check.
    pub fn load(&self, layer: &Digest, capture_key: &str) -> Option<(Digest, LayerIndex)> {
        if let Err(e) = private_dir(&self.dir) {
            warn_once(&e);
            return None;
        }
        let text = std::fs::read(self.index_path(layer, capture_key)).ok()?;
        let s: Stored = serde_json::from_slice(&text).ok()?;
        // Bound to what it was made for: a copy under another name is refused.
        if s.format != FORMAT || &s.layer != layer || s.capture_key != capture_key {
            return None;
        }
        // Read and checked on every core: a warm apply's start is mostly this.
        use rayon::prelude::*;
        let contents: BTreeMap<Sha256Hex, Vec<u8>> = s
            .contents
            .into_par_iter()
            .map(|d| {
                let bytes = std::fs::read(self.dir.join("contents").join(d.as_str())).ok()?;
                (Sha256Hex::of(&bytes) == d).then_some((d, bytes))
            })
            .collect::<Option<_>>()?;
        // Every captured file's content must be there, and nothing else.
        let mut used = std::collections::BTreeSet::new();
        for e in &s.entries {
            if let EntryKind::File { content: Some(d) } = &e.kind {
                match contents.get(d) {
                    Some(b) if b.len() as u64 == e.size => {
                        used.insert(d.clone());
                    }
                    _ => return None,
                }
            }
        }
        if used.len() != contents.len() {
            return None;
        }
        Some((
            s.diff_id,
            LayerIndex {
                entries: s.entries,
                contents,
            },
        ))
    }

    /// Store an index. Failures only cost time later, so they are ignored.
    pub fn store(&self, layer: &Digest, capture_key: &str, diff_id: &Digest, index: &LayerIndex) {
        let _ = self.try_store(layer, capture_key, diff_id, index);
    }

    fn try_store(
        &self,
        layer: &Digest,
        capture_key: &str,
        diff_id: &Digest,
        index: &LayerIndex,
    ) -> std::io::Result<()> {
        use std::os::unix::fs::DirBuilderExt;
        private_dir(&self.dir).map_err(|e| std::io::Error::other(e.to_string()))?;
        let contents_dir = self.dir.join("contents");
        std::fs::DirBuilder::new()
            .recursive(true)
            .mode(0o700)
            .create(&contents_dir)?;
        std::fs::DirBuilder::new()
            .recursive(true)
            .mode(0o700)
            .create(self.dir.join("layers"))?;
        for (d, bytes) in &index.contents {
            let p = contents_dir.join(d.as_str());
            if !p.exists() {
                let mut t = tempfile::NamedTempFile::new_in(&contents_dir)?;
                std::io::Write::write_all(&mut t, bytes)?;
                t.persist(&p).map_err(|e| e.error)?;
            }
        }
        let stored = Stored {
            format: FORMAT.into(),
            layer: layer.clone(),
            capture_key: capture_key.into(),
            diff_id: diff_id.clone(),
            entries: index.entries.clone(),
            contents: index.contents.keys().cloned().collect(),
        };
        let path = self.index_path(layer, capture_key);
        let mut t = tempfile::NamedTempFile::new_in(path.parent().expect("has parent"))?;
        serde_json::to_writer(&mut t, &stored)?;
        t.persist(&path).map_err(|e| e.error)?;
        Ok(())
    }
}
