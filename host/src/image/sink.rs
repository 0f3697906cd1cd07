//! Writing images: OCI layouts and docker-archive tars.
//!
//! Outputs are written next to their destination and renamed into place, so
//! a failure leaves nothing half-written. Blobs copied from the input are
//! re-hashed on the way and refused if they do not match their descriptors.
//!
//! Two guarantees live here, not in the CLI:
//! - **The input is never written.** [`write`] refuses a destination that is,
//!   contains or is inside the input (after resolving symlinks), and an
//!   existing layout whose `blobs/` or documents are symlinks.
//! - **No OCI output without its evidence.** [`write`] takes a [`Sealed`]
//!   image, which only the evidence stage (`crate::evidence`) or an explicit
//!   [`OutputImage::without_evidence`] can make: forgetting the evidence
//!   does not compile.
//!
//! ```compile_fail
//! # fn f(reference: &rootwasm::image::Reference, image: rootwasm::image::sink::OutputImage<'_>) {
//! // An output image is not writable as it is: attach evidence or say why not.
//! rootwasm::image::sink::write(reference, &image);
//! # }
//! ```

use super::error::ImageError;
use super::model::*;
use super::reference::Reference;
use super::registry::{PushReport, RegistryOptions};
use super::source::BlobStore;
use sha2::{Digest as _, Sha256};
use std::collections::BTreeMap;
use std::io::{Read, Write};
use std::path::Path;

/// Where a blob of the output comes from.
pub enum Blob {
    /// Made by rootwasm.
    New(Vec<u8>),
    /// Copied from the input.
    Input,
}

/// A finished image: its top descriptor and every blob it needs.
pub struct OutputImage<'a> {
    /// The manifest or index to point at.
    pub top: Descriptor,
    /// Every blob reachable from `top`, by digest, with its size.
    pub blobs: BTreeMap<Digest, (u64, Blob)>,
    /// The input's blobs.
    pub input: &'a dyn BlobStore,
    /// Repo tags for a docker-archive's manifest.json.
    pub repo_tags: Vec<String>,
    /// Config digest and layer digests of the single manifest (docker-archive only).
    pub docker: Option<(Digest, Vec<Digest>)>,
    /// mtime for archive members.
    pub epoch: u64,
    /// Descriptors a registry push tags, each by its ref name: the referrers
    /// indexes and cosign's attestation manifests. A layout lists them only
    /// in the evidence index ([`super::attach::evidence_index`]), so its
    /// `index.json` holds one image.
    pub tags: Vec<Descriptor>,
}

/// Why an output carries no evidence: the only ways to write one without.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum WithoutEvidence {
    /// No platform was patched: the output is the input's image.
    NothingPatched,
    /// The operator asked for none (`--no-evidence`).
    OptedOut,
    /// A docker archive has no place for OCI artifacts.
    DockerArchive,
}

/// An output image ready for a sink, with its evidence attached or an
/// explicit reason why not.
pub struct Sealed<'a> {
    image: OutputImage<'a>,
    without: Option<WithoutEvidence>,
}

impl<'a> OutputImage<'a> {
    /// Seal the image with its evidence attached; only the evidence stage does this.
    #[cfg_attr(not(feature = "sandbox"), allow(dead_code))]
    pub(crate) fn attested(self) -> Sealed<'a> {
        Sealed {
            image: self,
            without: None,
        }
    }

    /// Seal the image without evidence, saying why.
    pub fn without_evidence(self, why: WithoutEvidence) -> Sealed<'a> {
        Sealed {
            image: self,
            without: Some(why),
        }
    }
}

impl<'a> Sealed<'a> {
    /// The image.
    pub fn image(&self) -> &OutputImage<'a> {
        &self.image
    }

    /// Why it has no evidence, if it has none.
    pub fn without(&self) -> Option<WithoutEvidence> {
        self.without
    }
}

/// Refuse a destination that would write into `input` (an input layout
/// directory or archive file): the same path, a path inside it, or a path
/// containing it, with symlinks resolved; or, in a registry, the tag the
/// input was read from. Also refuses a destination whose parent is not a
/// directory. Call it before doing any work; [`write`] calls it again.
pub fn check_destination(reference: &Reference, input: &dyn BlobStore) -> Result<(), ImageError> {
    let err = |reason: String| ImageError::Reference {
        reference: reference.name(),
        reason,
    };
    let Some(dest) = reference.path() else {
        let Reference::Registry(dest) = reference else {
            unreachable!("only a registry reference has no path")
        };
        if dest.tag().is_none() {
            return Err(err(
                "an output needs a tag: docker://<registry>/<repository>:<tag>".into(),
            ));
        }
        if let Some(src) = input.registry().map(|s| s.reference())
            && src.registry() == dest.registry()
            && src.repository() == dest.repository()
            && src.tag().is_some()
            && src.tag() == dest.tag()
        {
            return Err(err(
                "is the input's tag; rootwasm never overwrites its input: choose another tag"
                    .into(),
            ));
        }
        return Ok(());
    };
    let resolved = resolve_lenient(dest).map_err(|e| err(e.to_string()))?;
    if let Some(input) = input.location() {
        let input = std::fs::canonicalize(input).map_err(ImageError::io(input))?;
        if resolved == input || resolved.starts_with(&input) || input.starts_with(&resolved) {
            return Err(err(format!(
                "overlaps the input image at {}; rootwasm never writes into its input: choose an output outside it",
                input.display()
            )));
        }
    }
    if let Reference::OciLayout { dir, .. } = reference
        && dir.is_dir()
    {
        for name in ["oci-layout", "index.json", "blobs", "blobs/sha256"] {
            let p = dir.join(name);
            if std::fs::symlink_metadata(&p).is_ok_and(|m| m.file_type().is_symlink()) {
                return Err(err(format!(
                    "{} is a symlink; an output layout must be plain files and directories",
                    p.display()
                )));
            }
        }
    }
    Ok(())
}

/// `path` with symlinks resolved as far as it exists, the rest appended
/// lexically; an error if an existing component is not a directory.
fn resolve_lenient(path: &Path) -> std::io::Result<std::path::PathBuf> {
    use std::path::Component;
    let abs = std::path::absolute(path)?;
    let mut out = std::path::PathBuf::from("/");
    let mut exists = true;
    for c in abs.components() {
        match c {
            Component::RootDir | Component::Prefix(_) | Component::CurDir => {}
            Component::ParentDir => {
                out.pop();
            }
            Component::Normal(n) => {
                if exists && !out.is_dir() {
                    return Err(std::io::Error::other(format!(
                        "{} is not a directory",
                        out.display()
                    )));
                }
                out.push(n);
                if exists {
                    match std::fs::symlink_metadata(&out) {
                        Ok(_) => out = std::fs::canonicalize(&out)?,
                        Err(_) => exists = false,
                    }
                }
            }
        }
    }
    Ok(out)
}

fn copy_verified(
    input: &dyn BlobStore,
    digest: &Digest,
    size: u64,
    out: &mut dyn Write,
    stop: &dyn Fn() -> bool,
) -> Result<(), ImageError> {
    let mut r = input.open(digest)?;
    let mut h = Sha256::new();
    let mut buf = vec![0u8; 1 << 16];
    let mut n_total = 0u64;
    loop {
        if stop() {
            return Err(ImageError::Layer {
                layer: digest.to_string(),
                reason: "copy stopped".into(),
            });
        }
        let n = r.read(&mut buf).map_err(|e| ImageError::Layer {
            layer: digest.to_string(),
            reason: e.to_string(),
        })?;
        if n == 0 {
            break;
        }
        h.update(&buf[..n]);
        n_total += n as u64;
        out.write_all(&buf[..n]).map_err(|e| ImageError::Layer {
            layer: digest.to_string(),
            reason: e.to_string(),
        })?;
    }
    let actual = Digest::from_hasher(h);
    if &actual != digest || n_total != size {
        return Err(ImageError::DigestMismatch {
            what: format!("blob {digest} copied from the input"),
            expected: format!("{digest} ({size} bytes)"),
            actual: format!("{actual} ({n_total} bytes)"),
        });
    }
    Ok(())
}

/// Write `image` to `reference` (a registry with the default options).
pub fn write(reference: &Reference, sealed: &Sealed<'_>) -> Result<(), ImageError> {
    write_with(reference, sealed, &RegistryOptions::default()).map(|_| ())
}

/// Write `image` to `reference`; for a registry, what the push sent.
pub fn write_with(
    reference: &Reference,
    sealed: &Sealed<'_>,
    registry: &RegistryOptions,
) -> Result<Option<PushReport>, ImageError> {
    write_prestaged(reference, sealed, registry, None)
}

/// [`write_with`], taking the input's layers from `prestage` where its
/// thread copied them (see [`super::prestage`]).
pub fn write_prestaged(
    reference: &Reference,
    sealed: &Sealed<'_>,
    registry: &RegistryOptions,
    prestage: Option<super::prestage::Prestage<'_>>,
) -> Result<Option<PushReport>, ImageError> {
    let staged = prestage.map(super::prestage::Prestage::finish);
    let image = &sealed.image;
    check_destination(reference, image.input)?;
    let refuse = |reason: &str| ImageError::Reference {
        reference: reference.name(),
        reason: reason.into(),
    };
    match (reference, sealed.without) {
        (Reference::OciLayout { .. }, Some(WithoutEvidence::DockerArchive)) => {
            return Err(refuse(
                "an OCI layout output carries its evidence: attach it, or opt out explicitly",
            ));
        }
        (Reference::Registry(_), Some(WithoutEvidence::DockerArchive)) => {
            return Err(refuse(
                "a registry output carries its evidence: attach it, or opt out explicitly",
            ));
        }
        (Reference::DockerArchive { .. }, None) => {
            return Err(refuse(
                "a docker archive has no place for the evidence: write an oci:<dir>:<tag> output to keep it",
            ));
        }
        _ => {}
    }
    match reference {
        Reference::OciLayout { dir, tag } => {
            let staged = staged.filter(|s| &s.dest == dir);
            write_layout(dir, tag.as_deref(), image, staged).map(|_| None)
        }
        Reference::DockerArchive { path, tag } => {
            write_archive(path, tag.as_deref(), image).map(|_| None)
        }
        Reference::Registry(r) => super::registry::push(r, image, registry).map(Some),
    }
}

/// A new layout's staging directory, beside its destination.
pub(crate) fn staging_dir(parent: &Path) -> std::io::Result<tempfile::TempDir> {
    tempfile::Builder::new()
        .prefix(".rootwasm-out-")
        .tempdir_in(parent)
}

/// Copy the input's blob `digest` to `path` in `blobs_dir`, checked against
/// its digest and size, atomically.
pub(crate) fn copy_blob(
    input: &dyn BlobStore,
    digest: &Digest,
    size: u64,
    blobs_dir: &Path,
    path: &Path,
    stop: &dyn Fn() -> bool,
) -> Result<(), ImageError> {
    write_file(blobs_dir, path, |f| {
        copy_verified(input, digest, size, f, stop)
    })
}

// Long: one linear pass (staging, blobs, documents, rename), each step a
// few lines; split, the staging directory's lifetime would be harder to see.
fn write_layout(
    dir: &Path,
    tag: Option<&str>,
    image: &OutputImage<'_>,
    staged: Option<super::prestage::Staged>,
) -> Result<(), ImageError> {
    let exists = dir.exists();
    let existing = existing_index(dir)?;
    // A new layout is built beside the destination and renamed into place;
    // an existing one gets new blobs (content-addressed) and a new index.json.
    let parent = dir
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    // Like `skopeo copy`, a new destination's parent directories are created.
    std::fs::create_dir_all(parent).map_err(ImageError::io(parent))?;
    // Blobs a prestage copied (and checked) are taken as they are; one
    // the output does not use is removed. An existing layout takes none.
    let (staging, done, prestaged) = match (existing.is_some(), staged) {
        (true, _) => (None, Default::default(), false),
        (false, Some(s)) => (Some(s.staging), s.done, true),
        (false, None) => (
            Some(staging_dir(parent).map_err(ImageError::io(parent))?),
            Default::default(),
            false,
        ),
    };
    let root = staging.as_ref().map_or(dir, |t| t.path());
    let blobs_dir = root.join("blobs/sha256");
    std::fs::create_dir_all(&blobs_dir).map_err(ImageError::io(&blobs_dir))?;
    if prestaged {
        // Whatever the prestage left that the output does not use goes,
        // finished or not.
        for e in std::fs::read_dir(&blobs_dir).map_err(ImageError::io(&blobs_dir))? {
            let e = e.map_err(ImageError::io(&blobs_dir))?;
            let name = e.file_name().to_string_lossy().into_owned();
            let used = Digest::try_from(format!("sha256:{name}"))
                .is_ok_and(|d| image.blobs.contains_key(&d));
            if !used {
                std::fs::remove_file(e.path()).map_err(ImageError::io(&e.path()))?;
            }
        }
    }
    for (digest, (size, blob)) in &image.blobs {
        let path = blobs_dir.join(digest.hex());
        if done.contains(digest) {
            continue;
        }
        // An existing blob is kept only if it is a plain file with the right bytes.
        if std::fs::symlink_metadata(&path).is_ok_and(|m| m.is_file())
            && blob_matches(&path, digest, *size)
        {
            continue;
        }
        match blob {
            Blob::New(bytes) => write_file(&blobs_dir, &path, |f| {
                f.write_all(bytes).map_err(ImageError::io(&path))
            })?,
            Blob::Input => copy_blob(image.input, digest, *size, &blobs_dir, &path, &|| false)?,
        }
    }
    let top = top_entry(image, tag);
    let index = new_index(existing, top, tag);
    for (name, bytes) in [
        ("oci-layout", br#"{"imageLayoutVersion":"1.0.0"}"#.to_vec()),
        ("index.json", to_canonical_json(&index)),
    ] {
        let path = root.join(name);
        write_file(root, &path, |f| {
            f.write_all(&bytes).map_err(ImageError::io(&path))
        })?;
    }
    if let Some(t) = staging {
        let tmp = t.keep();
        if exists {
            std::fs::remove_dir(dir).map_err(ImageError::io(dir))?;
        }
        std::fs::rename(&tmp, dir).map_err(ImageError::io(dir))?;
    }
    Ok(())
}

/// Write `path` atomically: a temporary file in `dir`, renamed over it.
fn write_file(
    dir: &Path,
    path: &Path,
    fill: impl FnOnce(&mut tempfile::NamedTempFile) -> Result<(), ImageError>,
) -> Result<(), ImageError> {
    let mut tmp = tempfile::NamedTempFile::new_in(dir).map_err(ImageError::io(dir))?;
    fill(&mut tmp)?;
    tmp.persist(path)
        .map_err(|e| ImageError::io(path)(e.error))?;
    Ok(())
}

/// The index of an existing, non-empty output layout; `None` for a new or
/// empty directory. Anything else there is refused.
pub(crate) fn existing_index(dir: &Path) -> Result<Option<Index>, ImageError> {
    if !dir.exists()
        || std::fs::read_dir(dir)
            .map_err(ImageError::io(dir))?
            .next()
            .is_none()
    {
        return Ok(None);
    }
    let index = dir.join("index.json");
    let is_file = |p: &Path| std::fs::symlink_metadata(p).is_ok_and(|m| m.is_file());
    if !is_file(&dir.join("oci-layout")) || !is_file(&index) {
        return Err(ImageError::Reference {
            reference: format!("oci:{}", dir.display()),
            reason: "exists and is not an OCI layout; choose a new or empty directory".into(),
        });
    }
    let mut text = Vec::new();
    std::fs::File::open(&index)
        .and_then(|f| {
            f.take(super::source::MAX_DOCUMENT + 1)
                .read_to_end(&mut text)
        })
        .map_err(ImageError::io(&index))?;
    serde_json::from_slice(&text)
        .map(Some)
        .map_err(|e| ImageError::malformed(index.display().to_string(), e))
}

/// The image's `index.json` entry, with its tag if the reference has one
/// (its evidence is named by an annotation already: see `OutputImage::tags`).
fn top_entry(image: &OutputImage<'_>, tag: Option<&str>) -> Descriptor {
    let mut top = image.top.clone();
    if let Some(t) = tag {
        top.annotations
            .get_or_insert_with(Default::default)
            .insert(ANNOTATION_REF_NAME.into(), t.into());
    }
    top
}

/// The new `index.json`: an untagged output holds the image alone; a tagged
/// one replaces the entry of the same tag and keeps the rest.
fn new_index(existing: Option<Index>, top: Descriptor, tag: Option<&str>) -> Index {
    let mut index = existing.unwrap_or(Index {
        schema_version: 2,
        media_type: Some(MEDIA_INDEX.into()),
        manifests: Vec::new(),
        annotations: None,
        extra: Default::default(),
    });
    if tag.is_none() {
        index.manifests = vec![top];
        return index;
    }
    index
        .manifests
        .retain(|d| d.annotation(ANNOTATION_REF_NAME) != tag);
    index.manifests.push(top);
    index
}

fn blob_matches(path: &Path, digest: &Digest, size: u64) -> bool {
    let Ok(mut f) = std::fs::File::open(path) else {
        return false;
    };
    let mut h = Sha256::new();
    match std::io::copy(&mut (&mut f).take(size + 1), &mut h) {
        Ok(n) => n == size && &Digest::from_hasher(h) == digest,
        Err(_) => false,
    }
}

fn append(
    b: &mut tar::Builder<impl Write>,
    name: &str,
    size: u64,
    epoch: u64,
    data: &mut dyn Read,
) -> std::io::Result<()> {
    let mut h = tar::Header::new_ustar();
    h.set_entry_type(tar::EntryType::Regular);
    h.set_mode(0o644);
    h.set_mtime(epoch);
    h.set_size(size);
    h.set_uid(0);
    h.set_gid(0);
    b.append_data(&mut h, name, data)
}

/// Docker 25+'s `docker save` format: an OCI layout plus the legacy manifest.json.
fn write_archive(
    path: &Path,
    tag: Option<&str>,
    image: &OutputImage<'_>,
) -> Result<(), ImageError> {
    let (config, layers) = image.docker.clone().ok_or_else(|| ImageError::Reference {
        reference: format!("docker-archive:{}", path.display()),
        reason: "a docker archive holds one platform, but this image is multi-platform; write it with oci:<dir>".into(),
    })?;
    let parent = path
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    std::fs::create_dir_all(parent).map_err(ImageError::io(parent))?;
    let tmp = tempfile::NamedTempFile::new_in(parent).map_err(ImageError::io(parent))?;
    let io = |e: std::io::Error| ImageError::io(path)(e);
    {
        let mut b = tar::Builder::new(std::io::BufWriter::new(tmp.as_file()));
        b.mode(tar::HeaderMode::Deterministic);
        for (digest, (size, blob)) in &image.blobs {
            let name = format!("blobs/sha256/{}", digest.hex());
            match blob {
                Blob::New(bytes) => {
                    append(&mut b, &name, *size, image.epoch, &mut bytes.as_slice()).map_err(io)?
                }
                Blob::Input => {
                    // Stream through a verifying reader so large layers never sit in memory.
                    let mut r = image.input.open(digest)?;
                    let mut v = VerifyingReader {
                        inner: &mut r,
                        hash: Sha256::new(),
                        n: 0,
                    };
                    append(&mut b, &name, *size, image.epoch, &mut v).map_err(io)?;
                    let actual = Digest::from_hasher(v.hash);
                    if &actual != digest || v.n != *size {
                        return Err(ImageError::DigestMismatch {
                            what: format!("blob {digest} copied from the input"),
                            expected: digest.to_string(),
                            actual: actual.to_string(),
                        });
                    }
                }
            }
        }
        let (idx, legacy) = archive_documents(image, tag, &config, &layers);
        for (name, bytes) in [("index.json", idx), ("manifest.json", legacy)] {
            append(
                &mut b,
                name,
                bytes.len() as u64,
                image.epoch,
                &mut bytes.as_slice(),
            )
            .map_err(io)?;
        }
        let layout = br#"{"imageLayoutVersion":"1.0.0"}"#;
        append(
            &mut b,
            "oci-layout",
            layout.len() as u64,
            image.epoch,
            &mut layout.as_slice(),
        )
        .map_err(io)?;
        b.into_inner().map_err(io)?.flush().map_err(io)?;
    }
    tmp.persist(path)
        .map_err(|e| ImageError::io(path)(e.error))?;
    Ok(())
}

/// A docker archive's `index.json` and legacy `manifest.json`.
fn archive_documents(
    image: &OutputImage<'_>,
    tag: Option<&str>,
    config: &Digest,
    layers: &[Digest],
) -> (Vec<u8>, Vec<u8>) {
    let mut top = image.top.clone();
    let tags: Vec<String> = match tag {
        Some(t) => vec![t.to_owned()],
        None => image.repo_tags.clone(),
    };
    if let Some(t) = tags.first() {
        let a = top.annotations.get_or_insert_with(Default::default);
        a.insert("io.containerd.image.name".into(), t.clone());
        let short = t.rsplit_once(':').map_or(t.as_str(), |(_, s)| s);
        a.insert(ANNOTATION_REF_NAME.into(), short.into());
    }
    let index = Index {
        schema_version: 2,
        media_type: Some(MEDIA_INDEX.into()),
        manifests: vec![top],
        annotations: None,
        extra: Default::default(),
    };
    let legacy = serde_json::json!([{
        "Config": format!("blobs/sha256/{}", config.hex()),
        "RepoTags": tags,
        "Layers": layers.iter().map(|l| format!("blobs/sha256/{}", l.hex())).collect::<Vec<_>>(),
    }]);
    (
        to_canonical_json(&index),
        serde_json::to_vec(&legacy).expect("json"),
    )
}

struct VerifyingReader<'a> {
    inner: &'a mut dyn Read,
    hash: Sha256,
    n: u64,
}

impl Read for VerifyingReader<'_> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.hash.update(&buf[..n]);
        self.n += n as u64;
        Ok(n)
    }
}
