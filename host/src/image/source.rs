//! Reading images: OCI layouts and docker-archive tars.
//!
//! Both are opened as a [`BlobStore`] plus the descriptor of the image to
//! patch. Nothing is ever written to the input: layouts are read through a
//! cap-std directory, archives through a read-only file handle.

use super::error::ImageError;
use super::model::*;
use super::reference::Reference;
use super::registry::RegistryOptions;
use cap_std::ambient_authority;
use cap_std::fs::Dir;
use sha2::{Digest as _, Sha256};
use std::collections::BTreeMap;
use std::fs::File;
use std::io::{Read, Seek, SeekFrom};
use std::path::{Path, PathBuf};
use std::sync::Mutex;

/// Largest JSON document (index, manifest, config) rootwasm reads: the
/// 4 MiB that containerd and registries accept for manifests.
pub const MAX_DOCUMENT: u64 = 4 << 20;

/// Largest evidence file read whole (the journal, one of its blobs, an
/// SBOM): a journal blob is a file a recipe wrote, which
/// `--max-written-bytes` bounds at 1 GiB by default.
pub const MAX_EVIDENCE_FILE: u64 = 1 << 30;

/// Limits on the documents an image is made of.
#[derive(Clone, Copy, Debug)]
pub struct SourceLimits {
    /// Manifests an image index may list, nested indexes included.
    pub max_platforms: usize,
    /// How deep indexes may nest below the image's own index.
    pub max_index_depth: usize,
}

impl Default for SourceLimits {
    fn default() -> Self {
        SourceLimits {
            max_platforms: 64,
            max_index_depth: 4,
        }
    }
}

/// Open `path` for reading only if it is a regular file. `O_NONBLOCK` keeps
/// the open of a FIFO from waiting forever for a writer.
fn open_regular(dir: Option<&Dir>, path: &Path, shown: &Path) -> Result<File, ImageError> {
    let flags = rustix::fs::OFlags::NONBLOCK.bits() as i32;
    let file = match dir {
        Some(d) => {
            use cap_std::fs::OpenOptionsExt as _;
            let mut o = cap_std::fs::OpenOptions::new();
            o.read(true).custom_flags(flags);
            d.open_with(path, &o).map(|f| f.into_std())
        }
        None => {
            use std::os::unix::fs::OpenOptionsExt as _;
            std::fs::OpenOptions::new()
                .read(true)
                .custom_flags(flags)
                .open(path)
        }
    }
    .map_err(ImageError::io(shown))?;
    let meta = file.metadata().map_err(ImageError::io(shown))?;
    if !meta.is_file() {
        return Err(ImageError::Io {
            path: shown.into(),
            source: std::io::Error::other(
                "not a regular file (a FIFO, device or directory); an image holds only regular files",
            ),
        });
    }
    Ok(file)
}

/// A JSON document read whole, refusing more than [`MAX_DOCUMENT`] bytes
/// whatever the file claims (a sparse file may claim terabytes).
fn read_document(dir: &Dir, name: &str, shown: &Path) -> Result<Vec<u8>, ImageError> {
    let f = open_regular(Some(dir), Path::new(name), shown)?;
    let mut buf = Vec::new();
    f.take(MAX_DOCUMENT + 1)
        .read_to_end(&mut buf)
        .map_err(ImageError::io(shown))?;
    if buf.len() as u64 > MAX_DOCUMENT {
        return Err(ImageError::malformed(
            shown.display().to_string(),
            format!("larger than the {MAX_DOCUMENT}-byte limit for documents"),
        ));
    }
    Ok(buf)
}

/// Content-addressed blobs of one image.
pub trait BlobStore: Send + Sync {
    /// A reader over the blob's bytes, not verified (callers hash while reading).
    fn open(&self, digest: &Digest) -> Result<Box<dyn Read + Send + '_>, ImageError>;

    /// Where the store lives on disk (a layout directory or an archive
    /// file), so a sink can refuse to write into it.
    fn location(&self) -> Option<&Path> {
        None
    }

    /// The registry store, when the image is read from a registry (a sink
    /// on the same registry mounts blobs from it instead of uploading them).
    fn registry(&self) -> Option<&super::registry::RegistryStore> {
        None
    }

    /// The whole document blob (at most [`MAX_DOCUMENT`] bytes), checked
    /// against `desc` (size and digest).
    fn read(&self, desc: &Descriptor, what: &str) -> Result<Vec<u8>, ImageError> {
        self.read_up_to(desc, what, MAX_DOCUMENT, "documents")
    }

    /// The whole blob, at most `max` bytes (`kind` names the limit in the
    /// error), checked against `desc` (size and digest).
    fn read_up_to(
        &self,
        desc: &Descriptor,
        what: &str,
        max: u64,
        kind: &str,
    ) -> Result<Vec<u8>, ImageError> {
        if desc.size > max {
            return Err(ImageError::malformed(
                what,
                format!(
                    "{} bytes is larger than the {max}-byte limit for {kind}",
                    desc.size
                ),
            ));
        }
        let mut buf = Vec::new();
        self.open(&desc.digest)?
            .take(desc.size + 1)
            .read_to_end(&mut buf)
            .map_err(|e| {
                ImageError::malformed(what, format!("reading blob {}: {e}", desc.digest))
            })?;
        let actual = Digest::of(&buf);
        if actual != desc.digest || buf.len() as u64 != desc.size {
            return Err(ImageError::DigestMismatch {
                what: what.into(),
                expected: format!("{} ({} bytes)", desc.digest, desc.size),
                actual: format!("{actual} ({} bytes)", buf.len()),
            });
        }
        Ok(buf)
    }
}

/// What an image reference points at.
#[derive(Clone, Debug)]
pub enum Top {
    /// A single-platform manifest.
    Manifest(Descriptor),
    /// A multi-platform index.
    Index(Descriptor),
}

impl Top {
    /// Its descriptor.
    pub fn descriptor(&self) -> &Descriptor {
        match self {
            Top::Manifest(d) | Top::Index(d) => d,
        }
    }
}

/// An opened input image.
pub struct Source {
    /// Its blobs.
    pub store: Box<dyn BlobStore>,
    /// The manifest or index to patch.
    pub top: Top,
    /// Repo tags a docker-archive carried, to write back.
    pub repo_tags: Vec<String>,
}

/// Open `reference` for reading, with the default [`SourceLimits`].
pub fn open(reference: &Reference) -> Result<Source, ImageError> {
    open_with(reference, &SourceLimits::default())
}

/// Open `reference` for reading, a registry with the default options
/// (credentials from the auth files, system CAs).
pub fn open_with(reference: &Reference, limits: &SourceLimits) -> Result<Source, ImageError> {
    open_full(reference, limits, &RegistryOptions::default())
}

/// Open `reference` for reading. An index is checked against `limits`
/// here, before anything walks it.
pub fn open_full(
    reference: &Reference,
    limits: &SourceLimits,
    registry: &RegistryOptions,
) -> Result<Source, ImageError> {
    let source = match reference {
        Reference::OciLayout { dir, tag } => open_layout(dir, tag.as_deref()),
        Reference::DockerArchive { path, tag } => open_archive(path, tag.as_deref()),
        Reference::Registry(r) => {
            let (store, desc) = super::registry::open(r, registry)?;
            let what = format!("docker://{r}");
            Ok(Source {
                store: Box::new(store),
                top: top_of(desc, &what)?,
                // A registry reference is the image's own name, never a local path.
                repo_tags: vec![r.to_string()],
            })
        }
    }?;
    if let Top::Index(d) = &source.top {
        check_index(source.store.as_ref(), d, limits)?;
    }
    Ok(source)
}

/// Count the manifests below the index `top` (nested indexes included) and
/// how deep indexes nest, refusing more than `limits` allow before any
/// platform is read.
fn check_index(
    store: &dyn BlobStore,
    top: &Descriptor,
    limits: &SourceLimits,
) -> Result<(), ImageError> {
    let mut level = vec![top.clone()];
    let mut manifests = 0usize;
    for depth in 0.. {
        if level.is_empty() {
            break;
        }
        if depth > limits.max_index_depth {
            return Err(ImageError::malformed(
                format!("image index {}", top.digest),
                format!(
                    "indexes nest more than {} deep; rootwasm refuses deeper nesting",
                    limits.max_index_depth
                ),
            ));
        }
        let mut next = Vec::new();
        for d in level {
            let what = format!("image index {}", d.digest);
            let index: Index = serde_json::from_slice(&store.read(&d, &what)?)
                .map_err(|e| ImageError::malformed(&what, e))?;
            for child in index.manifests {
                if is_index(&child.media_type) {
                    next.push(child);
                } else {
                    manifests += 1;
                }
                if manifests + next.len() > limits.max_platforms {
                    return Err(ImageError::malformed(
                        &what,
                        format!(
                            "lists more than {} manifests; rootwasm refuses indexes this large (SourceLimits::max_platforms)",
                            limits.max_platforms
                        ),
                    ));
                }
            }
        }
        level = next;
    }
    Ok(())
}

fn top_of(desc: Descriptor, what: &str) -> Result<Top, ImageError> {
    if is_index(&desc.media_type) {
        Ok(Top::Index(desc))
    } else if is_manifest(&desc.media_type) {
        Ok(Top::Manifest(desc))
    } else {
        Err(ImageError::malformed(
            what,
            format!(
                "descriptor has media type {:?}, not an image manifest or index",
                desc.media_type
            ),
        ))
    }
}

/// `sha256-<64 hex>` (a referrers fallback tag) or `sha256-<64 hex>.att`
/// (cosign's attestation tag): attached evidence, not an image.
fn is_referrers_tag(name: Option<&str>) -> bool {
    name.and_then(|n| n.strip_prefix("sha256-"))
        .map(|h| h.strip_suffix(".att").unwrap_or(h))
        .is_some_and(|h| h.len() == 64 && h.bytes().all(|b| b.is_ascii_hexdigit()))
}

/// Pick the descriptor to patch from an OCI `index.json`.
fn pick(index: &Index, tag: Option<&str>, what: &str) -> Result<Descriptor, ImageError> {
    match tag {
        Some(t) => index
            .manifests
            .iter()
            .find(|d| d.annotation(ANNOTATION_REF_NAME) == Some(t))
            .cloned()
            .ok_or_else(|| ImageError::malformed(what, format!("no image tagged {t:?}"))),
        None => match index
            .manifests
            .iter()
            .filter(|d| !is_referrers_tag(d.annotation(ANNOTATION_REF_NAME)))
            .collect::<Vec<_>>()
            .as_slice()
        {
            [one] => Ok((*one).clone()),
            [] => Err(ImageError::malformed(what, "lists no images")),
            many => {
                let tags: Vec<_> = many
                    .iter()
                    .filter_map(|d| d.annotation(ANNOTATION_REF_NAME))
                    .collect();
                Err(ImageError::malformed(
                    what,
                    format!(
                        "lists {} images; pick one with oci:<dir>:<tag> (tags: {tags:?})",
                        many.len()
                    ),
                ))
            }
        },
    }
}

// ---- OCI layout --------------------------------------------------------

struct LayoutStore {
    dir: Dir,
    path: PathBuf,
}

impl BlobStore for LayoutStore {
    fn location(&self) -> Option<&Path> {
        Some(&self.path)
    }

    fn open(&self, digest: &Digest) -> Result<Box<dyn Read + Send + '_>, ImageError> {
        let rel = format!("blobs/sha256/{}", digest.hex());
        match open_regular(Some(&self.dir), Path::new(&rel), &self.path.join(&rel)) {
            Ok(f) => Ok(Box::new(f)),
            Err(ImageError::Io { source, .. }) if source.kind() == std::io::ErrorKind::NotFound => {
                Err(ImageError::MissingBlob {
                    what: self.path.display().to_string(),
                    digest: digest.to_string(),
                })
            }
            Err(e) => Err(e),
        }
    }
}

fn open_layout(path: &Path, tag: Option<&str>) -> Result<Source, ImageError> {
    let dir = Dir::open_ambient_dir(path, ambient_authority()).map_err(ImageError::io(path))?;
    let layout = read_document(&dir, "oci-layout", &path.join("oci-layout"))?;
    let v: serde_json::Value = serde_json::from_slice(&layout)
        .map_err(|e| ImageError::malformed(path.join("oci-layout").display().to_string(), e))?;
    if v.get("imageLayoutVersion")
        .and_then(|v| v.as_str())
        .is_none()
    {
        return Err(ImageError::malformed(
            path.join("oci-layout").display().to_string(),
            "no imageLayoutVersion",
        ));
    }
    let what = path.join("index.json").display().to_string();
    let text = read_document(&dir, "index.json", &path.join("index.json"))?;
    let index: Index =
        serde_json::from_slice(&text).map_err(|e| ImageError::malformed(&what, e))?;
    let desc = pick(&index, tag, &what)?;
    let top = top_of(desc, &what)?;
    Ok(Source {
        store: Box::new(LayoutStore {
            dir,
            path: path.into(),
        }),
        top,
        repo_tags: Vec::new(),
    })
}

// ---- docker-archive ------------------------------------------------------

/// A `docker save` tar: entry name -> (offset, size) of its data.
struct ArchiveStore {
    file: Mutex<File>,
    path: PathBuf,
    entries: BTreeMap<String, (u64, u64)>,
    /// Digest -> entry name, for legacy archives whose files are not named by digest.
    by_digest: BTreeMap<Digest, String>,
}

struct Section<'a> {
    file: &'a Mutex<File>,
    pos: u64,
    end: u64,
}

impl Read for Section<'_> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        if self.pos >= self.end {
            return Ok(0);
        }
        let n = buf.len().min((self.end - self.pos) as usize);
        let mut f = self.file.lock().expect("archive lock");
        f.seek(SeekFrom::Start(self.pos))?;
        let got = f.read(&mut buf[..n])?;
        if got == 0 {
            return Err(std::io::Error::new(
                std::io::ErrorKind::UnexpectedEof,
                "archive is truncated",
            ));
        }
        self.pos += got as u64;
        Ok(got)
    }
}

impl ArchiveStore {
    fn section(&self, name: &str) -> Option<Section<'_>> {
        self.entries.get(name).map(|&(pos, size)| Section {
            file: &self.file,
            pos,
            end: pos + size,
        })
    }

    fn read_entry(&self, name: &str) -> Result<Vec<u8>, ImageError> {
        let what = format!("{}: {name}", self.path.display());
        let (_, size) = *self
            .entries
            .get(name)
            .ok_or_else(|| ImageError::malformed(&what, "no such entry in the archive"))?;
        if size > MAX_DOCUMENT {
            return Err(ImageError::malformed(
                &what,
                "too large for a JSON document",
            ));
        }
        let mut buf = Vec::new();
        self.section(name)
            .expect("entry exists")
            .read_to_end(&mut buf)
            .map_err(ImageError::io(&self.path))?;
        Ok(buf)
    }
}

impl BlobStore for ArchiveStore {
    fn location(&self) -> Option<&Path> {
        Some(&self.path)
    }

    fn open(&self, digest: &Digest) -> Result<Box<dyn Read + Send + '_>, ImageError> {
        let name = self
            .by_digest
            .get(digest)
            .cloned()
            .unwrap_or_else(|| format!("blobs/sha256/{}", digest.hex()));
        match self.section(&name) {
            Some(s) => Ok(Box::new(s)),
            None => Err(ImageError::MissingBlob {
                what: self.path.display().to_string(),
                digest: digest.to_string(),
            }),
        }
    }
}

fn normalize(name: &str) -> String {
    name.trim_start_matches("./").to_owned()
}

/// Entries a docker-archive may hold (docker save writes a few per layer).
const MAX_ARCHIVE_ENTRIES: usize = 100_000;
/// Longest entry name, and largest PAX header, in a docker-archive.
const MAX_ARCHIVE_HEADER: u64 = 64 << 10;

/// Name -> (offset, size) of every regular file in the archive. Iterated
/// raw for the same reason as layers (see `layer::index_tar`): the tar
/// crate would read a GNU long name or PAX header of any declared size
/// into memory, and a sparse archive file can declare gigabytes for free.
fn index_archive(file: &File, path: &Path) -> Result<BTreeMap<String, (u64, u64)>, ImageError> {
    let bad = |reason: String| ImageError::malformed(path.display().to_string(), reason);
    let mut entries = BTreeMap::new();
    let mut ar = tar::Archive::new(file);
    let iter = ar
        .entries_with_seek()
        .map_err(|e| bad(format!("not a valid tar: {e}")))?
        .raw(true);
    let mut long_name: Option<Vec<u8>> = None;
    let mut pax: Option<Vec<u8>> = None;
    for (n, e) in iter.enumerate() {
        if n >= MAX_ARCHIVE_ENTRIES {
            return Err(bad(format!(
                "more than {MAX_ARCHIVE_ENTRIES} entries; not a docker save archive"
            )));
        }
        let mut e = e.map_err(|_| {
            bad("not a valid tar (bad checksum or a non-numeric header field)".into())
        })?;
        let et = e.header().entry_type();
        if matches!(
            et,
            tar::EntryType::GNULongName | tar::EntryType::XHeader | tar::EntryType::XGlobalHeader
        ) {
            if e.size() > MAX_ARCHIVE_HEADER {
                return Err(bad(format!(
                    "an extension header declares {} bytes, more than {MAX_ARCHIVE_HEADER}",
                    e.size()
                )));
            }
            let mut buf = Vec::new();
            (&mut e)
                .take(MAX_ARCHIVE_HEADER)
                .read_to_end(&mut buf)
                .map_err(ImageError::io(path))?;
            match et {
                tar::EntryType::GNULongName => {
                    while buf.last() == Some(&0) {
                        buf.pop();
                    }
                    long_name = Some(buf);
                }
                tar::EntryType::XHeader => pax = Some(buf),
                _ => {}
            }
            continue;
        }
        let pax_path = pax.take().and_then(|p| {
            tar::PaxExtensions::new(&p)
                .filter_map(Result::ok)
                .find(|x| x.key_bytes() == b"path")
                .map(|x| x.value_bytes().to_vec())
        });
        let name = long_name
            .take()
            .or(pax_path)
            .unwrap_or_else(|| e.header().path_bytes().into_owned());
        if et.is_file() {
            let name = normalize(&String::from_utf8_lossy(&name));
            entries.insert(name, (e.raw_file_position(), e.size()));
        }
    }
    Ok(entries)
}

#[derive(serde::Deserialize)]
#[serde(rename_all = "PascalCase")]
struct LegacyEntry {
    config: String,
    #[serde(default)]
    repo_tags: Option<Vec<String>>,
    layers: Vec<String>,
}

/// Docker 25+'s archive: an OCI layout inside the tar.
fn archive_layout(
    store: ArchiveStore,
    path: &Path,
    tag: Option<&str>,
) -> Result<Source, ImageError> {
    let idx_what = format!("{}: index.json", path.display());
    let index: Index = serde_json::from_slice(&store.read_entry("index.json")?)
        .map_err(|e| ImageError::malformed(&idx_what, e))?;
    let wanted = tag.map(|t| t.rsplit_once(':').map_or(t, |(_, tag)| tag).to_owned());
    let desc = match pick(&index, None, &idx_what) {
        Ok(d) => d,
        Err(_) => pick(&index, wanted.as_deref(), &idx_what)?,
    };
    let repo_tags = legacy_tags(&store);
    Ok(Source {
        top: top_of(desc, &idx_what)?,
        store: Box::new(store),
        repo_tags,
    })
}

/// A legacy archive's layer tar as a descriptor: hashed as stored, its
/// compression sniffed from the magic bytes.
fn legacy_layer(mut sec: Section<'_>, path: &Path) -> Result<Descriptor, ImageError> {
    let mut h = Sha256::new();
    let mut head = [0u8; 4];
    let mut first = true;
    let mut buf = vec![0u8; 1 << 16];
    let mut size = 0u64;
    loop {
        let n = sec.read(&mut buf).map_err(ImageError::io(path))?;
        if n == 0 {
            break;
        }
        if first {
            head[..n.min(4)].copy_from_slice(&buf[..n.min(4)]);
            first = false;
        }
        h.update(&buf[..n]);
        size += n as u64;
    }
    let media_type = match head {
        [0x1f, 0x8b, _, _] => MEDIA_DOCKER_LAYER_GZIP,
        [0x28, 0xb5, 0x2f, 0xfd] => "application/vnd.docker.image.rootfs.diff.tar.zstd",
        _ => MEDIA_DOCKER_LAYER_TAR,
    };
    Ok(Descriptor {
        media_type: media_type.into(),
        digest: Digest::from_hasher(h),
        size,
        platform: None,
        annotations: None,
        extra: Default::default(),
    })
}

fn open_archive(path: &Path, tag: Option<&str>) -> Result<Source, ImageError> {
    let file = open_regular(None, path, path)?;
    let entries = index_archive(&file, path)?;
    let mut store = ArchiveStore {
        file: Mutex::new(file),
        path: path.into(),
        entries,
        by_digest: BTreeMap::new(),
    };
    let what = format!("{}: manifest.json", path.display());

    // Docker 25+ writes an OCI layout inside the archive; prefer it.
    if store.entries.contains_key("index.json") && store.entries.contains_key("oci-layout") {
        return archive_layout(store, path, tag);
    }

    // The legacy form: manifest.json names the config and the layer tars.
    let list: Vec<LegacyEntry> = serde_json::from_slice(&store.read_entry("manifest.json")?)
        .map_err(|e| ImageError::malformed(&what, e))?;
    let entry = match (list.len(), tag) {
        (1, _) => &list[0],
        (0, _) => return Err(ImageError::malformed(&what, "lists no images")),
        (_, Some(t)) => list
            .iter()
            .find(|e| {
                e.repo_tags
                    .as_ref()
                    .is_some_and(|r| r.iter().any(|x| x == t))
            })
            .ok_or_else(|| ImageError::malformed(&what, format!("no image tagged {t:?}")))?,
        (n, None) => {
            return Err(ImageError::malformed(
                &what,
                format!("lists {n} images; pick one with docker-archive:<file>:<name:tag>"),
            ));
        }
    };
    let config_bytes = store.read_entry(&normalize(&entry.config))?;
    let config = Descriptor::for_bytes(MEDIA_DOCKER_CONFIG, &config_bytes);
    store
        .by_digest
        .insert(config.digest.clone(), normalize(&entry.config));
    let mut layers = Vec::new();
    for l in &entry.layers {
        let name = normalize(l);
        let sec = store.section(&name).ok_or_else(|| {
            ImageError::malformed(&what, format!("layer {l} is not in the archive"))
        })?;
        let d = legacy_layer(sec, path)?;
        store.by_digest.insert(d.digest.clone(), name);
        layers.push(d);
    }
    let manifest = Manifest {
        schema_version: 2,
        media_type: Some(MEDIA_DOCKER_MANIFEST.into()),
        config,
        layers,
        annotations: None,
        extra: Default::default(),
    };
    let bytes = to_canonical_json(&manifest);
    let desc = Descriptor::for_bytes(MEDIA_DOCKER_MANIFEST, &bytes);
    let repo_tags = entry.repo_tags.clone().unwrap_or_default();
    let store = SyntheticManifest {
        inner: store,
        digest: desc.digest.clone(),
        bytes,
    };
    Ok(Source {
        store: Box::new(store),
        top: Top::Manifest(desc),
        repo_tags,
    })
}

/// The repo tags of a Docker 25+ archive's manifest.json, to write back.
fn legacy_tags(store: &ArchiveStore) -> Vec<String> {
    let Ok(bytes) = store.read_entry("manifest.json") else {
        return Vec::new();
    };
    serde_json::from_slice::<Vec<LegacyEntry>>(&bytes)
        .ok()
        .and_then(|l| l.into_iter().next())
        .and_then(|e| e.repo_tags)
        .unwrap_or_default()
}

/// A legacy archive has no manifest blob; rootwasm synthesises one so the
/// rest of the pipeline sees an ordinary image.
struct SyntheticManifest {
    inner: ArchiveStore,
    digest: Digest,
    bytes: Vec<u8>,
}

impl BlobStore for SyntheticManifest {
    fn location(&self) -> Option<&Path> {
        self.inner.location()
    }

    fn open(&self, digest: &Digest) -> Result<Box<dyn Read + Send + '_>, ImageError> {
        if digest == &self.digest {
            return Ok(Box::new(self.bytes.as_slice()));
        }
        self.inner.open(digest)
    }
}
