//! Evidence that travels with the image: OCI 1.1 artifacts whose `subject`
//! is a patched platform manifest, listed in a referrers index named
//! `sha256-<hex of the subject>` (the OCI distribution spec's tag schema
//! for registries without the referrers API; `oras discover` and cosign
//! read it). Each artifact is a manifest with `artifactType`, the empty
//! config and one layer per file.
//!
//! In an OCI layout the referrers indexes are not `index.json` entries: an
//! *evidence index* blob lists them, named by the image entry's
//! [`ANNOTATION_EVIDENCE`]. So a layout holds one image and nothing else,
//! which Syft (`oci-dir:` wants exactly one manifest in `index.json`),
//! umoci and skopeo need, and the review verbs still find the evidence.

use super::error::ImageError;
use super::model::*;
use super::sink::{Blob, OutputImage};
use super::source::BlobStore;
use serde_json::{Value, json};
use std::collections::BTreeMap;
use std::io::Read;

/// The journal (`rootwasm.journal/v1` JSON); its blobs follow as more layers.
pub const ARTIFACT_JOURNAL: &str = "application/vnd.dev.rootwasm.journal.v1+json";
/// A journal blob, titled with its sha256.
pub const MEDIA_JOURNAL_BLOB: &str = "application/vnd.dev.rootwasm.journal.blob.v1";
/// CycloneDX JSON.
pub const ARTIFACT_CYCLONEDX: &str = "application/vnd.cyclonedx+json";
/// SPDX JSON.
pub const ARTIFACT_SPDX: &str = "application/spdx+json";
/// The title of the CycloneDX VEX (BOM-Links into the SBOM), the second
/// file of the CycloneDX artifact.
pub const CDX_VEX_TITLE: &str = "vex.cdx.json";
/// OpenVEX JSON.
pub const ARTIFACT_OPENVEX: &str = "application/openvex+json";
/// A DSSE envelope around an in-toto statement (the provenance).
pub const ARTIFACT_INTOTO: &str = "application/vnd.in-toto+json";
/// The layer media type of a DSSE envelope.
pub const MEDIA_DSSE: &str = "application/vnd.dsse.envelope.v1+json";
/// The OCI empty descriptor's media type, for artifact configs.
pub const MEDIA_EMPTY: &str = "application/vnd.oci.empty.v1+json";

/// The in-toto predicate type cosign and Trivy look for on an OpenVEX
/// attestation: go-vex's `vex.TypeURI`, which openvex/discovery
/// (`pkg/probers/oci/prober.go`, used by Trivy's `pkg/vex/oci.go` for
/// `--vex oci`) passes to cosign's `FetchAttestations`, which keeps only
/// statements whose `predicateType` is exactly this.
pub const PREDICATE_OPENVEX: &str = "https://openvex.dev/ns";

const TITLE: &str = "org.opencontainers.image.title";

/// On the image's `index.json` entry (the output's top descriptor): the
/// digest of an index listing the referrers indexes, each with its
/// `sha256-<hex>` name. A layout stays one image for skopeo, umoci and
/// Syft, and its evidence stays discoverable.
pub const ANNOTATION_EVIDENCE: &str = "dev.rootwasm.evidence";

/// One file of an artifact.
#[derive(Clone)]
pub struct File {
    /// Media type of the layer.
    pub media_type: String,
    /// Shown by tools as the file name.
    pub title: String,
    /// Contents.
    pub bytes: Vec<u8>,
}

/// An artifact to attach.
#[derive(Clone)]
pub struct Artifact {
    /// `artifactType`, e.g. [`ARTIFACT_CYCLONEDX`].
    pub artifact_type: &'static str,
    /// Its files, in order.
    pub files: Vec<File>,
}

/// The tag of the referrers fallback index for `subject`.
pub fn referrers_tag(subject: &Digest) -> String {
    format!("sha256-{}", subject.hex())
}

/// cosign's attestation tag for `subject`: `sha256-<hex>.att`, naming a
/// manifest whose layers are DSSE envelopes (cosign's `FetchAttestations`).
pub fn attestation_tag(subject: &Digest) -> String {
    format!("sha256-{}.att", subject.hex())
}

/// Add `artifacts` about `subject` to `out`: their blobs, manifests and the
/// referrers index. Returns the descriptors to name, for [`evidence_index`]:
/// the referrers index (`sha256-<hex>`) and, for a DSSE attestation, its
/// manifest under cosign's tag (`sha256-<hex>.att`). `created` is the
/// image's time, for determinism.
pub fn attach(
    out: &mut OutputImage<'_>,
    subject: &Descriptor,
    artifacts: Vec<Artifact>,
    created: &str,
) -> Vec<Descriptor> {
    let mut add = |bytes: Vec<u8>, media_type: &str| -> Descriptor {
        let d = Descriptor::for_bytes(media_type, &bytes);
        out.blobs
            .insert(d.digest.clone(), (d.size, Blob::New(bytes)));
        d
    };
    let empty = add(b"{}".to_vec(), MEDIA_EMPTY);
    let mut listed = Vec::new();
    let mut att = Vec::new();
    for a in artifacts {
        let layers: Vec<Value> = a
            .files
            .into_iter()
            .map(|f| {
                let mut d = add(f.bytes, &f.media_type);
                d.annotations = Some(BTreeMap::from([(TITLE.to_owned(), f.title)]));
                serde_json::to_value(d).expect("descriptor")
            })
            .collect();
        let manifest = json!({
            "schemaVersion": 2,
            "mediaType": MEDIA_MANIFEST,
            "artifactType": a.artifact_type,
            "config": empty,
            "layers": layers,
            "subject": {"mediaType": subject.media_type, "digest": subject.digest, "size": subject.size},
            "annotations": {"org.opencontainers.image.created": created},
        });
        let d = add(to_canonical_json(&manifest), MEDIA_MANIFEST);
        if a.artifact_type == MEDIA_DSSE {
            // The same manifest under cosign's tag, where `cosign download
            // attestation` and `trivy image --vex oci` look.
            let mut tagged = d.clone();
            tagged.annotations = Some(BTreeMap::from([(
                ANNOTATION_REF_NAME.to_owned(),
                attestation_tag(&subject.digest),
            )]));
            att.push(tagged);
        }
        listed.push(json!({
            "mediaType": MEDIA_MANIFEST,
            "digest": d.digest,
            "size": d.size,
            "artifactType": a.artifact_type,
            "annotations": {"org.opencontainers.image.created": created},
        }));
    }
    let index = json!({"schemaVersion": 2, "mediaType": MEDIA_INDEX, "manifests": listed});
    let mut d = add(to_canonical_json(&index), MEDIA_INDEX);
    d.annotations = Some(BTreeMap::from([(
        ANNOTATION_REF_NAME.to_owned(),
        referrers_tag(&subject.digest),
    )]));
    let mut named = vec![d];
    named.extend(att);
    named
}

/// Add the evidence index listing `referrers` to `out` and name it on the
/// output's top descriptor ([`ANNOTATION_EVIDENCE`]), so any layout holds
/// the image alone in `index.json` (see the module docs). A registry push
/// tags each of them ([`OutputImage::tags`]).
pub fn evidence_index(out: &mut OutputImage<'_>, referrers: Vec<Descriptor>) {
    if referrers.is_empty() {
        return;
    }
    let referrers_named = referrers.clone();
    let bytes = to_canonical_json(&Index {
        schema_version: 2,
        media_type: Some(MEDIA_INDEX.into()),
        manifests: referrers,
        annotations: None,
        extra: Default::default(),
    });
    let d = Descriptor::for_bytes(MEDIA_INDEX, &bytes);
    out.blobs
        .insert(d.digest.clone(), (d.size, Blob::New(bytes)));
    out.top
        .annotations
        .get_or_insert_with(Default::default)
        .insert(ANNOTATION_EVIDENCE.to_owned(), d.digest.to_string());
    out.tags = referrers_named;
}

/// A store over an output before it is written: new blobs from memory, the
/// rest from the input. Lets the SBOM and VEX describe the patched image.
pub struct OutputStore<'a> {
    /// New blobs.
    pub blobs: &'a BTreeMap<Digest, (u64, Blob)>,
    /// The input.
    pub input: &'a dyn BlobStore,
}

impl BlobStore for OutputStore<'_> {
    fn open(&self, digest: &Digest) -> Result<Box<dyn Read + Send + '_>, ImageError> {
        match self.blobs.get(digest) {
            Some((_, Blob::New(b))) => Ok(Box::new(b.as_slice())),
            _ => self.input.open(digest),
        }
    }
}

/// The referrers index for `subject` listed in the evidence index `digest`
/// (see [`ANNOTATION_EVIDENCE`]), read with a size bound and hash-checked.
pub fn referrers_from_evidence_index(
    store: &dyn BlobStore,
    digest: &str,
    subject: &Digest,
) -> Result<Option<Descriptor>, ImageError> {
    let what = "evidence index";
    let digest = Digest::try_from(digest.to_owned()).map_err(|e| ImageError::malformed(what, e))?;
    let mut bytes = Vec::new();
    store
        .open(&digest)?
        .take(super::source::MAX_DOCUMENT + 1)
        .read_to_end(&mut bytes)
        .map_err(|e| ImageError::malformed(what, e))?;
    if Digest::of(&bytes) != digest {
        return Err(ImageError::DigestMismatch {
            what: what.into(),
            expected: digest.to_string(),
            actual: Digest::of(&bytes).to_string(),
        });
    }
    let idx: Index = serde_json::from_slice(&bytes).map_err(|e| ImageError::malformed(what, e))?;
    let tag = referrers_tag(subject);
    Ok(idx
        .manifests
        .into_iter()
        .find(|d| d.annotation(ANNOTATION_REF_NAME) == Some(tag.as_str())))
}

/// The artifacts attached to `subject` in `store`, whose referrers index is
/// `index` (from the layout's `sha256-<hex>` tag): (artifactType, manifest).
pub fn list(
    store: &dyn BlobStore,
    index: &Descriptor,
) -> Result<Vec<(String, Manifest)>, ImageError> {
    let idx: Index = serde_json::from_slice(&store.read(index, "referrers index")?)
        .map_err(|e| ImageError::malformed("referrers index", e))?;
    list_index(store, idx)
}

/// The artifacts a referrers index lists (from a layout or a registry's
/// referrers API): (artifactType, manifest), each manifest hash-checked.
pub fn list_index(
    store: &dyn BlobStore,
    idx: Index,
) -> Result<Vec<(String, Manifest)>, ImageError> {
    let mut out = Vec::new();
    for d in idx.manifests {
        let what = format!("artifact manifest {}", d.digest);
        let m: Manifest = serde_json::from_slice(&store.read(&d, &what)?)
            .map_err(|e| ImageError::malformed(&what, e))?;
        let t = m
            .extra
            .get("artifactType")
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_owned();
        out.push((t, m));
    }
    Ok(out)
}
