//! The merged root view of an image's layers, as a container runtime would
//! see it, built from the layer indexes without extracting anything.
//!
//! Applying layers bottom-up honours whiteouts and opaque directories, and
//! refuses layers that would misbehave when extracted: a write through a
//! symlink, a whiteout through a symlink, a hardlink to something missing.

use super::error::ImageError;
use super::layer::{ENTRY_OVERHEAD, Entry, EntryKind, LayerIndex, LayerLimits};
use crate::journal::Sha256Hex;
use crate::rootfs::{Kind, Meta, RootPath, RootView};
use std::collections::BTreeMap;
use std::io;
use std::sync::Arc;

/// One node of the merged tree.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MergedNode {
    /// Metadata.
    pub meta: Meta,
    /// Modification time.
    pub mtime: u64,
    /// Index of the layer that last wrote it.
    pub layer: usize,
    /// Symlink target.
    pub link: Option<String>,
    /// Captured contents (files).
    pub content: Option<Sha256Hex>,
    /// Extended attributes.
    pub xattrs: Vec<(String, Vec<u8>)>,
    /// Device numbers.
    pub device: Option<(u32, u32)>,
}

/// The merged tree.
///
/// Contents are shared (`Arc`) so that cloning a view for each recipe does
/// not copy them. What it holds is bounded per image by
/// [`LayerLimits::max_captured_bytes`] and [`LayerLimits::max_index_bytes`].
#[derive(Clone, Debug)]
pub struct Merged {
    nodes: BTreeMap<RootPath, MergedNode>,
    contents: BTreeMap<Sha256Hex, Arc<Vec<u8>>>,
    captured: u64,
    held: u64,
    limits: LayerLimits,
}

impl Default for Merged {
    fn default() -> Self {
        Merged::with_limits(LayerLimits::default())
    }
}

/// What a node costs to hold, counted against `max_index_bytes`.
fn node_cost(path: &RootPath, n: &MergedNode) -> u64 {
    ENTRY_OVERHEAD
        + path.as_str().len() as u64
        + n.link.as_ref().map_or(0, |l| l.len() as u64)
        + n.xattrs
            .iter()
            .map(|(k, v)| (k.len() + v.len()) as u64)
            .sum::<u64>()
}

fn dir_node(layer: usize) -> MergedNode {
    MergedNode {
        meta: Meta {
            kind: Kind::Dir,
            size: 0,
            mode: 0o755,
            uid: 0,
            gid: 0,
        },
        mtime: 0,
        layer,
        link: None,
        content: None,
        xattrs: Vec::new(),
        device: None,
    }
}

impl Merged {
    /// An empty tree that holds at most what `limits` allow in total.
    pub fn with_limits(limits: LayerLimits) -> Self {
        Merged {
            nodes: BTreeMap::new(),
            contents: BTreeMap::new(),
            captured: 0,
            held: 0,
            limits,
        }
    }

    /// Apply layer `i` on top.
    pub fn apply(
        &mut self,
        i: usize,
        layer_digest: &str,
        index: LayerIndex,
    ) -> Result<(), ImageError> {
        self.add_contents(layer_digest, index.contents)?;
        for e in index.entries {
            let err = |reason: String| ImageError::Entry {
                layer: layer_digest.into(),
                entry: e.name.clone(),
                reason,
            };
            self.parents(i, &e).map_err(err)?;
            match &e.kind {
                EntryKind::Whiteout => {
                    self.remove_below(&e.path, |_| true);
                    if let Some(old) = self.nodes.remove(&e.path) {
                        self.held -= node_cost(&e.path, &old);
                    }
                }
                EntryKind::Opaque => {
                    // Hide what lower layers put in the directory; the directory itself stays.
                    self.remove_below(&e.path, |n| n.layer < i);
                }
                _ => {
                    let node = self.node(i, &e).map_err(err)?;
                    if node.meta.kind != Kind::Dir {
                        self.remove_below(&e.path, |_| true);
                    }
                    // A directory entry over a directory keeps its children.
                    self.held += node_cost(&e.path, &node);
                    if let Some(old) = self.nodes.insert(e.path.clone(), node) {
                        self.held -= node_cost(&e.path, &old);
                    }
                }
            }
            if self.held > self.limits.max_index_bytes {
                return Err(ImageError::Limit {
                    layer: layer_digest.into(),
                    reason: format!(
                        "the merged tree ({} paths, at entry {:?}) needs more than {} bytes of metadata",
                        self.nodes.len(),
                        e.name,
                        self.limits.max_index_bytes
                    ),
                    flag: "--max-index-bytes",
                });
            }
        }
        Ok(())
    }

    /// Keep a layer's captured contents, within the image's budget.
    fn add_contents(
        &mut self,
        layer_digest: &str,
        contents: BTreeMap<Sha256Hex, Vec<u8>>,
    ) -> Result<(), ImageError> {
        for (d, bytes) in contents {
            if self.contents.contains_key(&d) {
                continue;
            }
            self.captured += bytes.len() as u64;
            if self.captured > self.limits.max_captured_bytes {
                return Err(ImageError::Limit {
                    layer: layer_digest.into(),
                    reason: format!(
                        "the image's captured file contents, up to this layer, exceed {} bytes",
                        self.limits.max_captured_bytes
                    ),
                    flag: "--max-captured-bytes",
                });
            }
            self.contents.insert(d, Arc::new(bytes));
        }
        Ok(())
    }

    /// Every directory on the way to `e` must be a real directory in the
    /// merged tree so far; missing ones are implied (made by layer `i`).
    fn parents(&mut self, i: usize, e: &Entry) -> Result<(), String> {
        let parent = if e.kind == EntryKind::Opaque {
            e.path.clone()
        } else {
            e.path.parent()
        };
        let mut chain = Vec::new();
        let mut p = parent;
        while !p.is_root() {
            chain.push(p.clone());
            p = p.parent();
        }
        for a in chain.into_iter().rev() {
            match self.nodes.get(&a) {
                Some(n) if n.meta.kind == Kind::Symlink => {
                    let what = match e.kind {
                        EntryKind::Whiteout | EntryKind::Opaque => "whiteout",
                        _ => "entry",
                    };
                    return Err(format!(
                        "{what} goes through the symlink {a} (-> {}); extracting it would write outside that directory",
                        n.link.as_deref().unwrap_or("?")
                    ));
                }
                Some(n) if n.meta.kind != Kind::Dir => {
                    return Err(format!("{a} is not a directory"));
                }
                Some(_) => {}
                None => {
                    let n = dir_node(i);
                    self.held += node_cost(&a, &n);
                    self.nodes.insert(a, n);
                }
            }
        }
        Ok(())
    }

    /// The node an entry (not a whiteout) of layer `i` makes.
    fn node(&self, i: usize, e: &Entry) -> Result<MergedNode, String> {
        let mut node = MergedNode {
            meta: Meta {
                kind: Kind::File,
                size: 0,
                mode: e.mode,
                uid: e.uid,
                gid: e.gid,
            },
            mtime: e.mtime,
            layer: i,
            link: None,
            content: None,
            xattrs: e.xattrs.clone(),
            device: None,
        };
        match &e.kind {
            EntryKind::File { content } => {
                node.meta.size = e.size;
                node.content = content.clone();
            }
            EntryKind::Dir => node.meta.kind = Kind::Dir,
            EntryKind::Symlink { target } => {
                node.meta.kind = Kind::Symlink;
                node.meta.mode = 0o777;
                node.link = Some(target.clone());
            }
            EntryKind::Hardlink { target } => {
                let t = self
                    .nodes
                    .get(target)
                    .ok_or_else(|| format!("hardlink to {target}, which does not exist"))?;
                if t.meta.kind != Kind::File {
                    return Err(format!("hardlink to {target}, which is not a regular file"));
                }
                node = t.clone();
                node.layer = i;
            }
            EntryKind::CharDevice(a, b) => {
                node.meta.kind = Kind::CharDevice;
                node.device = Some((*a, *b));
            }
            EntryKind::BlockDevice(a, b) => {
                node.meta.kind = Kind::BlockDevice;
                node.device = Some((*a, *b));
            }
            EntryKind::Fifo => node.meta.kind = Kind::Fifo,
            EntryKind::Whiteout | EntryKind::Opaque => {
                unreachable!("whiteouts make no node")
            }
        }
        Ok(node)
    }

    /// Remove every node strictly below `path` that `pred` selects.
    fn remove_below(&mut self, path: &RootPath, pred: impl Fn(&MergedNode) -> bool) {
        let below: Vec<RootPath> = self
            .nodes
            .range(path.clone()..)
            .take_while(|(p, _)| p.as_str().starts_with(path.as_str()))
            .filter(|(p, n)| p.is_inside(path) && pred(n))
            .map(|(p, _)| p.clone())
            .collect();
        for p in below {
            if let Some(old) = self.nodes.remove(&p) {
                self.held -= node_cost(&p, &old);
            }
        }
    }

    /// The node at `path`.
    pub fn get(&self, path: &RootPath) -> Option<&MergedNode> {
        self.nodes.get(path)
    }

    /// Captured contents by digest.
    pub fn content(&self, d: &Sha256Hex) -> Option<&Vec<u8>> {
        self.contents.get(d).map(|c| &**c)
    }

    /// Number of nodes.
    pub fn len(&self) -> usize {
        self.nodes.len()
    }

    /// Is the tree empty?
    pub fn is_empty(&self) -> bool {
        self.nodes.is_empty()
    }
}

impl RootView for Merged {
    fn lstat(&self, path: &RootPath) -> io::Result<Option<Meta>> {
        if path.is_root() {
            return Ok(Some(
                self.nodes.get(path).map_or(dir_node(0).meta, |n| n.meta),
            ));
        }
        Ok(self.nodes.get(path).map(|n| n.meta))
    }

    fn read(&self, path: &RootPath) -> io::Result<Vec<u8>> {
        let n = self
            .nodes
            .get(path)
            .ok_or_else(|| io::Error::new(io::ErrorKind::NotFound, "no such file"))?;
        let d = n.content.as_ref().ok_or_else(|| {
            io::Error::other(format!(
                "{path} was not indexed for reading; it is outside every selected recipe's scope"
            ))
        })?;
        Ok(self
            .contents
            .get(d)
            .map(|c| c.as_ref().clone())
            .expect("captured content is stored"))
    }

    fn known_sha256(&self, path: &RootPath) -> Option<Sha256Hex> {
        let n = self.nodes.get(path)?;
        // Only captured contents: their digests were computed or checked
        // when the layer was read.
        n.content
            .as_ref()
            .filter(|d| self.contents.contains_key(*d))
            .cloned()
    }

    fn read_dir(&self, path: &RootPath) -> io::Result<Vec<(String, Kind)>> {
        let prefix = if path.is_root() {
            "/".to_owned()
        } else {
            format!("{}/", path.as_str())
        };
        let mut out = Vec::new();
        let under = self
            .nodes
            .range(path.clone()..)
            .take_while(|(p, _)| p.as_str().starts_with(path.as_str()));
        for (p, n) in under {
            let Some(rest) = p.as_str().strip_prefix(&prefix) else {
                continue;
            };
            if !rest.is_empty() && !rest.contains('/') {
                out.push((rest.to_owned(), n.meta.kind));
            }
        }
        out.sort();
        Ok(out)
    }

    fn readlink(&self, path: &RootPath) -> io::Result<String> {
        self.nodes
            .get(path)
            .and_then(|n| n.link.clone())
            .ok_or_else(|| io::Error::other("not a symlink"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::image::layer::{Entry, EntryKind, LayerIndex};

    fn e(path: &str, kind: EntryKind) -> Entry {
        Entry {
            path: RootPath::lexical(path).unwrap(),
            name: path.trim_start_matches('/').into(),
            kind,
            mode: 0o4755,
            uid: 0,
            gid: 0,
            size: 0,
            mtime: 0,
            xattrs: vec![("security.capability".into(), vec![1, 2])],
        }
    }

    fn file() -> EntryKind {
        EntryKind::File { content: None }
    }

    fn names(m: &Merged, dir: &str) -> Vec<String> {
        m.read_dir(&RootPath::lexical(dir).unwrap())
            .unwrap()
            .into_iter()
            .map(|(n, _)| n)
            .collect()
    }

    #[test]
    fn whiteouts_opaque_dirs_hardlinks_and_metadata() {
        let mut m = Merged::default();
        let lower = LayerIndex {
            entries: vec![
                e("/a", EntryKind::Dir),
                e("/a/x", file()),
                e("/a/y", file()),
                e("/b", EntryKind::Dir),
                e("/b/old", file()),
                e("/c", file()),
                e("/dev/null", EntryKind::CharDevice(1, 3)),
            ],
            contents: Default::default(),
        };
        m.apply(0, "l0", lower).unwrap();
        let upper = LayerIndex {
            entries: vec![
                e("/a/x", EntryKind::Whiteout),
                e("/b", EntryKind::Opaque),
                e("/b/new", file()),
                e(
                    "/c2",
                    EntryKind::Hardlink {
                        target: RootPath::lexical("/c").unwrap(),
                    },
                ),
            ],
            contents: Default::default(),
        };
        m.apply(1, "l1", upper).unwrap();
        assert_eq!(names(&m, "/a"), ["y"]);
        assert_eq!(
            names(&m, "/b"),
            ["new"],
            "opaque hides the lower layer's entries only"
        );
        assert_eq!(names(&m, "/"), ["a", "b", "c", "c2", "dev"]);
        let c = m.get(&RootPath::lexical("/c2").unwrap()).unwrap();
        assert_eq!(
            (c.meta.kind, c.meta.mode),
            (Kind::File, 0o4755),
            "setuid kept through the hardlink"
        );
        assert_eq!(
            c.xattrs,
            vec![("security.capability".to_owned(), vec![1, 2])]
        );
        let d = m.get(&RootPath::lexical("/dev/null").unwrap()).unwrap();
        assert_eq!((d.meta.kind, d.device), (Kind::CharDevice, Some((1, 3))));
        // A name sharing a prefix is not a child.
        let mut m2 = Merged::default();
        m2.apply(
            0,
            "l",
            LayerIndex {
                entries: vec![
                    e("/a", EntryKind::Dir),
                    e("/a-b", file()),
                    e("/a/c", file()),
                ],
                contents: Default::default(),
            },
        )
        .unwrap();
        assert_eq!(names(&m2, "/a"), ["c"]);
    }
}
