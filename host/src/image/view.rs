//! From layers to the merged view: read (or fetch from the index cache)
//! every layer, keeping the files a [`Capture`] asks for.

use super::cache::LayerCache;
use super::error::ImageError;
use super::layer::{LayerLimits, read_layer};
use super::merge::Merged;
use super::model::{Descriptor, Digest};
use super::source::BlobStore;
use crate::journal::Sha256Hex;
use crate::rootfs::RootPath;
use rootwasm_glob::{Glob, GlobError};

/// Which files' contents to keep while indexing layers.
pub struct Capture {
    globs: Vec<Glob>,
    /// Exact paths, looked up rather than matched one glob at a time: a
    /// journal or an earlier patch layer may name a million of them.
    paths: std::collections::BTreeSet<RootPath>,
    all: bool,
    key: String,
}

impl Capture {
    /// Keep files matching any of `patterns` (absolute globs).
    pub fn new<'a>(patterns: impl IntoIterator<Item = &'a str>) -> Result<Self, GlobError> {
        let mut ps: Vec<&str> = patterns.into_iter().collect();
        ps.sort();
        ps.dedup();
        let key = Sha256Hex::of(ps.join("\n").as_bytes()).as_str()[..16].to_owned();
        Ok(Capture {
            globs: ps.iter().map(|p| Glob::new(p)).collect::<Result<_, _>>()?,
            paths: Default::default(),
            all: false,
            key,
        })
    }

    /// Also keep exactly `paths`; the cache key covers them.
    pub fn with_paths(mut self, paths: impl IntoIterator<Item = RootPath>) -> Self {
        self.paths.extend(paths);
        if !self.paths.is_empty() {
            let listed: Vec<&str> = self.paths.iter().map(RootPath::as_str).collect();
            let text = format!("{}\n{}", self.key, listed.join("\n"));
            self.key = Sha256Hex::of(text.as_bytes()).as_str()[..16].to_owned();
        }
        self
    }

    /// Keep everything (a previous patch layer).
    pub fn all() -> Self {
        Capture {
            globs: Vec::new(),
            paths: Default::default(),
            all: true,
            key: "all".into(),
        }
    }

    /// Does `p` need its contents kept?
    pub fn wants(&self, p: &RootPath) -> bool {
        self.all || self.paths.contains(p) || self.globs.iter().any(|g| g.matches(p.as_str()))
    }
}

/// How to read layers.
pub struct ReadOptions<'a> {
    /// Bomb limits.
    pub limits: LayerLimits,
    /// Index cache.
    pub cache: Option<&'a LayerCache>,
    /// Progress messages.
    pub progress: &'a dyn Fn(&str),
}

/// Stack `layers` (with their config `diff_ids`) onto `merged`, numbering them from `first`.
pub fn read_layers(
    store: &dyn BlobStore,
    layers: &[Descriptor],
    diff_ids: &[Digest],
    first: usize,
    capture: &Capture,
    merged: &mut Merged,
    opts: &ReadOptions<'_>,
) -> Result<(), ImageError> {
    let total = first + layers.len();
    for (k, (l, diff_id)) in layers.iter().zip(diff_ids).enumerate() {
        let i = first + k;
        let idx = match opts.cache.and_then(|c| c.load(&l.digest, &capture.key)) {
            Some((cached_diff_id, idx)) => {
                if &cached_diff_id != diff_id {
                    return Err(ImageError::DigestMismatch {
                        what: format!("layer {}: config diff_id", l.digest),
                        expected: diff_id.to_string(),
                        actual: cached_diff_id.to_string(),
                    });
                }
                (opts.progress)(&format!(
                    "layer {}/{total} {} (cached index)",
                    i + 1,
                    l.digest
                ));
                idx
            }
            None => {
                (opts.progress)(&format!(
                    "reading layer {}/{total} {} ({} bytes)",
                    i + 1,
                    l.digest,
                    l.size
                ));
                let idx = read_layer(store.open(&l.digest)?, l, diff_id, &opts.limits, &|p| {
                    capture.wants(p)
                })?;
                if let Some(c) = opts.cache {
                    c.store(&l.digest, &capture.key, diff_id, &idx);
                }
                idx
            }
        };
        merged.apply(i, l.digest.as_str(), idx)?;
    }
    Ok(())
}

/// A platform's manifest and config, parsed and verified.
pub struct Docs {
    /// The manifest.
    pub manifest: super::model::Manifest,
    /// The config, as JSON (kept whole).
    pub config: serde_json::Value,
    /// The config's `rootfs.diff_ids`, one per layer.
    pub diff_ids: Vec<Digest>,
}

/// Read and check the manifest at `desc` and its config.
pub fn load_docs(store: &dyn BlobStore, desc: &Descriptor) -> Result<Docs, ImageError> {
    let what = format!("manifest {}", desc.digest);
    let manifest: super::model::Manifest = serde_json::from_slice(&store.read(desc, &what)?)
        .map_err(|e| ImageError::malformed(&what, e))?;
    let cwhat = format!("config {}", manifest.config.digest);
    let config: serde_json::Value = serde_json::from_slice(&store.read(&manifest.config, &cwhat)?)
        .map_err(|e| ImageError::malformed(&cwhat, e))?;
    let diff_ids: Vec<Digest> = config["rootfs"]["diff_ids"]
        .as_array()
        .ok_or_else(|| ImageError::malformed(&cwhat, "no rootfs.diff_ids"))?
        .iter()
        .map(|v| {
            serde_json::from_value::<Digest>(v.clone())
                .map_err(|e| ImageError::malformed(&cwhat, e))
        })
        .collect::<Result<_, _>>()?;
    if diff_ids.len() != manifest.layers.len() {
        return Err(ImageError::malformed(
            &cwhat,
            format!(
                "{} diff_ids for {} layers",
                diff_ids.len(),
                manifest.layers.len()
            ),
        ));
    }
    Ok(Docs {
        manifest,
        config,
        diff_ids,
    })
}

/// The runnable platforms of an image: `("default", manifest)` for a single
/// manifest, else each index entry that is an image (attestation manifests
/// with platform `unknown/unknown` are left out).
pub fn platforms(
    store: &dyn BlobStore,
    top: &super::source::Top,
) -> Result<Vec<(String, Descriptor)>, ImageError> {
    use super::model::{Index, is_manifest};
    match top {
        super::source::Top::Manifest(d) => Ok(vec![("default".into(), d.clone())]),
        super::source::Top::Index(d) => {
            let index: Index = serde_json::from_slice(&store.read(d, "image index")?)
                .map_err(|e| ImageError::malformed("image index", e))?;
            Ok(index
                .manifests
                .into_iter()
                .filter(|m| is_manifest(&m.media_type))
                .map(|m| {
                    (
                        m.platform
                            .as_ref()
                            .map_or("unknown".to_owned(), |p| p.to_string()),
                        m,
                    )
                })
                .filter(|(name, _)| name != "unknown/unknown")
                .collect())
        }
    }
}

/// The one platform to work on: `want` if given, else the only one. Errors
/// name the image and list the platforms to pick from.
pub fn choose_platform(
    image: &str,
    all: &[(String, Descriptor)],
    want: Option<&str>,
) -> Result<(String, Descriptor), ImageError> {
    let err = |reason: String| ImageError::Reference {
        reference: image.into(),
        reason,
    };
    match (want, all) {
        (None, [one]) => Ok(one.clone()),
        (None, _) => Err(err(format!(
            "has {} platforms; pick one with --platform ({})",
            all.len(),
            all.iter()
                .map(|(p, _)| p.as_str())
                .collect::<Vec<_>>()
                .join(", ")
        ))),
        (Some(p), _) => all
            .iter()
            .find(|(n, _)| n == p)
            .cloned()
            .ok_or_else(|| err(format!("has no platform {p}"))),
    }
}
