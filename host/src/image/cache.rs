//! A cache of layer indexes, keyed by layer digest.
//!
//! Reading a layer means decompressing and hashing all of it; its index (the
//! entries' metadata plus the few files recipes may read) is small. Caching
//! the index under the layer's digest lets a second `apply` on the same base
//! skip the work. Safe because the key is the digest that the first read
//! verified, and because blobs copied to the output are verified again.

use super::layer::{Entry, LayerIndex};
use super::model::Digest;
use crate::journal::Sha256Hex;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::path::PathBuf;

/// Layer indexes on disk.
#[derive(Clone, Debug)]
pub struct LayerCache {
    dir: PathBuf,
}

#[derive(Serialize, Deserialize)]
struct Stored {
    diff_id: Digest,
    entries: Vec<Entry>,
    contents: Vec<Sha256Hex>,
}

impl LayerCache {
    /// A cache under `dir` (created on first store, mode 0700).
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
        let text = std::fs::read(self.index_path(layer, capture_key)).ok()?;
        let s: Stored = serde_json::from_slice(&text).ok()?;
        let mut contents = BTreeMap::new();
        for d in s.contents {
            let bytes = std::fs::read(self.dir.join("contents").join(d.as_str())).ok()?;
            if Sha256Hex::of(&bytes) != d {
                return None;
            }
            contents.insert(d, bytes);
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
