//! Reading a patched image's evidence back, for reviewers: the attached
//! artifacts, `replay` (the patch layer rebuilt from the base layers and the
//! journal alone, no wasm) and `verify` (signature, subject, layers, and
//! journal against layer). Every check recomputes from bytes; nothing is
//! taken from the image on trust.

use crate::attest::{self, dsse, key::PublicKey};
use crate::image::attach::*;
use crate::image::merge::Merged;
use crate::image::model::*;
use crate::image::mutate;
use crate::image::patch::build_layer;
use crate::image::registry::RegistryOptions;
use crate::image::source::{self, BlobStore, Source, Top};
use crate::image::view::{Capture, Docs, ReadOptions, load_docs, platforms, read_layers};
use crate::image::{ImageError, Reference};
use crate::journal::{Blobs, Journal, Sha256Hex};
use std::collections::BTreeMap;

/// Why a review could not run (as opposed to a check that failed).
#[derive(Debug, thiserror::Error)]
pub enum ReviewError {
    /// The image could not be read.
    #[error(transparent)]
    Image(#[from] ImageError),
    /// The evidence is missing or malformed; the message says which.
    #[error("{0}")]
    Evidence(String),
}

fn ev(msg: impl Into<String>) -> ReviewError {
    ReviewError::Evidence(msg.into())
}

/// One patched platform and what is attached to it.
pub struct PatchedImage {
    /// The image.
    pub source: Source,
    /// `linux/amd64`, or `default` for a single manifest.
    pub platform: String,
    /// The platform manifest's descriptor (the artifacts' subject).
    pub subject: Descriptor,
    /// Its manifest and config.
    pub docs: Docs,
    /// (artifactType, artifact manifest), from the referrers index.
    pub artifacts: Vec<(String, Manifest)>,
}

/// Open `image` (an `oci:` layout or a `docker://` image) at `platform`
/// and find its evidence.
pub fn open(
    image: &str,
    platform: Option<&str>,
    registry: &RegistryOptions,
) -> Result<PatchedImage, ReviewError> {
    let reference = Reference::parse(image)?;
    if matches!(reference, Reference::DockerArchive { .. }) {
        return Err(ev(format!(
            "{image}: a docker archive carries no evidence; review the oci: or docker:// output apply wrote"
        )));
    }
    let source = source::open_full(&reference, &Default::default(), registry)?;
    let all = platforms(source.store.as_ref(), &source.top)?;
    let (name, subject) = crate::image::view::choose_platform(image, &all, platform)?;
    let docs = load_docs(source.store.as_ref(), &subject)?;
    let tag = referrers_tag(&subject.digest);
    let missing = || {
        ev(format!(
            "{image} ({name}) carries no rootwasm evidence: no `{tag}` referrers index; was it patched by rootwasm apply?"
        ))
    };
    let artifacts = match (&reference, source.store.registry()) {
        (_, Some(reg)) => {
            let idx = reg.referrers(&subject.digest)?;
            if idx.manifests.is_empty() {
                return Err(missing());
            }
            list_index(source.store.as_ref(), idx)?
        }
        (Reference::OciLayout { dir, .. }, None) => {
            let index = layout_referrers(&source, dir, &subject.digest).ok_or_else(missing)??;
            list(source.store.as_ref(), &index)?
        }
        _ => unreachable!("docker archives were refused above"),
    };
    Ok(PatchedImage {
        source,
        platform: name,
        subject,
        docs,
        artifacts,
    })
}

/// A tagged layout lists the referrers index under its own tag; an
/// untagged one names an evidence index on its single entry.
fn layout_referrers(
    source: &Source,
    dir: &std::path::Path,
    subject: &Digest,
) -> Option<Result<Descriptor, ReviewError>> {
    let tag = referrers_tag(subject);
    match source.top.descriptor().annotation(ANNOTATION_EVIDENCE) {
        Some(d) => referrers_from_evidence_index(source.store.as_ref(), d, subject)
            .map_err(ReviewError::from)
            .transpose(),
        None => {
            let referrers = source::open(&Reference::OciLayout {
                dir: dir.into(),
                tag: Some(tag.clone()),
            })
            .ok()?;
            Some(match referrers.top {
                Top::Index(index) => Ok(index),
                Top::Manifest(_) => Err(ev(format!("{tag} is not an index"))),
            })
        }
    }
}

impl PatchedImage {
    fn store(&self) -> &dyn BlobStore {
        self.source.store.as_ref()
    }

    /// The files of the artifact of `artifact_type`, hash-checked.
    pub fn files(&self, artifact_type: &str) -> Result<Vec<(String, Vec<u8>)>, ReviewError> {
        let (_, m) = self
            .artifacts
            .iter()
            .find(|(t, _)| t == artifact_type)
            .ok_or_else(|| ev(format!("no {artifact_type} artifact is attached")))?;
        let subject = m
            .extra
            .get("subject")
            .and_then(|s| s.get("digest"))
            .and_then(|d| d.as_str());
        if subject != Some(self.subject.digest.as_str()) {
            return Err(ev(format!(
                "the {artifact_type} artifact's subject is {subject:?}, not {}",
                self.subject.digest
            )));
        }
        m.layers
            .iter()
            .map(|l| {
                let title = l
                    .annotation("org.opencontainers.image.title")
                    .unwrap_or_default()
                    .to_owned();
                let bytes = self.store().read_up_to(
                    l,
                    artifact_type,
                    crate::image::source::MAX_EVIDENCE_FILE,
                    "evidence files",
                )?;
                Ok((title, bytes))
            })
            .collect()
    }

    /// The file of an artifact titled `title`.
    pub fn file_titled(&self, artifact_type: &str, title: &str) -> Result<Vec<u8>, ReviewError> {
        self.files(artifact_type)?
            .into_iter()
            .find(|(t, _)| t == title)
            .map(|(_, b)| b)
            .ok_or_else(|| ev(format!("the {artifact_type} artifact has no {title}")))
    }

    /// The first file of an artifact.
    pub fn file(&self, artifact_type: &str) -> Result<Vec<u8>, ReviewError> {
        Ok(self
            .files(artifact_type)?
            .into_iter()
            .next()
            .ok_or_else(|| ev(format!("the {artifact_type} artifact has no files")))?
            .1)
    }

    /// The journal and its blobs, each blob checked against its name.
    pub fn journal(&self) -> Result<(Journal, Blobs), ReviewError> {
        let mut files = self.files(ARTIFACT_JOURNAL)?.into_iter();
        let (_, j) = files
            .next()
            .ok_or_else(|| ev("the journal artifact is empty"))?;
        let journal = Journal::from_json(&j).map_err(|e| ev(format!("journal: {e}")))?;
        let mut blobs = Blobs::default();
        for (title, bytes) in files {
            let (sha, _) = blobs.insert(bytes);
            if sha.as_str() != title {
                return Err(ev(format!("journal blob {title} has sha256 {sha}")));
            }
        }
        Ok((journal, blobs))
    }

    /// Rebuild the patch layer from the base layers and the journal, with
    /// the same [`build_layer`] apply used. The base is read with the files
    /// the journal touched, so its before-states are checked against it.
    pub fn replay(&self, read: &ReadOptions<'_>) -> Result<Replay, ReviewError> {
        let (journal, blobs) = self.journal()?;
        let (n, base) = self.journal_base(&journal, read)?;
        let m = &self.docs.manifest;
        let epoch = self.docs.config["created"]
            .as_str()
            .and_then(crate::rfc3339::parse)
            .unwrap_or(0);
        let last = &m.layers[n];
        let compression = Compression::of_media_type(&last.media_type)
            .ok_or_else(|| ev(format!("patch layer media type {:?}", last.media_type)))?;
        let layer = build_layer(&base, &journal, &blobs, epoch, compression, None)?;
        Ok(Replay {
            recorded: last.digest.clone(),
            recorded_diff_id: self.docs.diff_ids[n].clone(),
            rebuilt: Digest::of(&layer.blob),
            rebuilt_diff_id: layer.diff_id,
        })
    }

    /// The layers below the patch layer, merged, with the contents of the
    /// files `journal` touched (for their before-states and diffs); and the
    /// patch layer's index.
    pub fn journal_base(
        &self,
        journal: &Journal,
        read: &ReadOptions<'_>,
    ) -> Result<(usize, Merged), ReviewError> {
        let m = &self.docs.manifest;
        let n = mutate::patch_layer(m, &self.docs.config)
            .ok_or_else(|| ev("the image has no rootwasm patch layer"))?;
        let paths = journal
            .entries
            .iter()
            .flat_map(|e| std::iter::once(&e.path).chain(&e.from))
            .filter_map(|p| crate::rootfs::RootPath::lexical(p).ok());
        let capture = Capture::new(std::iter::empty())
            .expect("no globs")
            .with_paths(paths);
        let mut base = Merged::with_limits(read.limits);
        read_layers(
            self.store(),
            &m.layers[..n],
            &self.docs.diff_ids[..n],
            0,
            &capture,
            &mut base,
            read,
        )?;
        Ok((n, base))
    }

    /// Check the signature, the subject, every layer and the journal.
    pub fn verify(&self, key: &PublicKey, read: &ReadOptions<'_>) -> Vec<Check> {
        let mut out = Vec::new();
        // 1. The provenance signature, its subject, the documents it signs.
        let statement = self.signed_statement(key);
        out.push(Check::new(
            "signature",
            statement
                .as_ref()
                .map(|_| format!("provenance signed by key {}", key.keyid()))
                .map_err(|e| format!("provenance signature: {e}")),
        ));
        if let Ok(st) = &statement {
            out.push(self.check_subject(st));
            out.extend(self.check_documents(st));
            out.push(Check::new("tests", self.check_tests(st, read)));
        }
        // 2. Every layer and diff_id.
        let m = &self.docs.manifest;
        let mut merged = Merged::with_limits(read.limits);
        let r = read_layers(
            self.store(),
            &m.layers,
            &self.docs.diff_ids,
            0,
            &Capture::new(std::iter::empty()).expect("no globs"),
            &mut merged,
            read,
        );
        out.push(Check::new(
            "layers",
            r.map(|_| format!("{} layers match their digests and diff_ids", m.layers.len()))
                .map_err(|e| e.to_string()),
        ));
        // 3. The journal explains the patch layer byte for byte.
        out.push(Check::new(
            "journal",
            match self.replay(read) {
                Ok(r) if r.matches() => {
                    Ok(format!("replaying the journal rebuilds {}", r.recorded))
                }
                Ok(r) => Err(format!(
                    "replaying the journal gives {} (diff_id {}), the image has {} (diff_id {})",
                    r.rebuilt, r.rebuilt_diff_id, r.recorded, r.recorded_diff_id
                )),
                Err(e) => Err(e.to_string()),
            },
        ));
        out
    }

    /// The signed per-patch test results of this platform, recomputed from
    /// the image: the package databases against the patched files, and the
    /// replayed layer's diff_id (the `journal` check replays it).
    fn check_tests(
        &self,
        st: &serde_json::Value,
        read: &ReadOptions<'_>,
    ) -> Result<String, String> {
        let prefix = format!("recipe-results/{}/", self.platform);
        let recorded: Vec<(String, String, serde_json::Value)> =
            st["predicate"]["runDetails"]["byproducts"]
                .as_array()
                .into_iter()
                .flatten()
                .filter(|b| b["name"].as_str().is_some_and(|n| n.starts_with(&prefix)))
                .map(|b| &b["annotations"])
                .filter_map(|a| {
                    let id = a["recipe"].as_str()?.to_owned();
                    Some((id, a["result"].as_str()?.to_owned(), a["tests"].clone()))
                })
                .collect();
        let (journal, _) = self.journal().map_err(|e| e.to_string())?;
        let now = crate::patch_checks::for_platform(
            self.store(),
            &self.docs,
            &journal,
            recorded.iter().map(|(id, r, _)| (id.as_str(), r.as_str())),
            read,
        )
        .map_err(|e| e.to_string())?;
        let mut n = 0;
        for (id, result, tests) in &recorded {
            let want = serde_json::to_value(now.get(id).cloned().unwrap_or_default())
                .map_err(|e| e.to_string())?;
            let got = if tests.is_null() {
                serde_json::json!([])
            } else {
                tests.clone()
            };
            if got != want {
                return Err(format!(
                    "recipe {id} ({result}): the signed test results {got} differ from the image's {want}"
                ));
            }
            n += want.as_array().map_or(0, Vec::len);
        }
        Ok(format!("{n} signed test results recomputed from the image"))
    }

    /// The provenance statement, if its envelope verifies with `key`.
    fn signed_statement(&self, key: &PublicKey) -> Result<serde_json::Value, String> {
        let bytes = self.file(ARTIFACT_INTOTO).map_err(|e| e.to_string())?;
        let env = dsse::Envelope::from_json(&bytes).map_err(|e| e.to_string())?;
        let payload =
            dsse::verify(&env, attest::intoto::PAYLOAD_TYPE, key).map_err(|e| e.to_string())?;
        serde_json::from_slice(&payload).map_err(|e| e.to_string())
    }

    fn check_subject(&self, st: &serde_json::Value) -> Check {
        let want = self.subject.digest.hex();
        let ok = st["subject"]
            .as_array()
            .is_some_and(|s| s.iter().any(|x| x["digest"]["sha256"] == want));
        Check::new(
            "subject",
            if ok {
                Ok(format!("the statement names {}", self.subject.digest))
            } else {
                Err(format!(
                    "the statement does not name {}",
                    self.subject.digest
                ))
            },
        )
    }

    /// The attached documents are the ones the signed statement hashed.
    fn check_documents(&self, st: &serde_json::Value) -> Vec<Check> {
        let byproducts = st["predicate"]["runDetails"]["byproducts"]
            .as_array()
            .cloned()
            .unwrap_or_default();
        let mut out = Vec::new();
        for (t, name) in [
            (ARTIFACT_JOURNAL, "journal.json"),
            (ARTIFACT_CYCLONEDX, "sbom.cdx.json"),
            (ARTIFACT_SPDX, "sbom.spdx.json"),
            (ARTIFACT_OPENVEX, "vex.openvex.json"),
            (ARTIFACT_CYCLONEDX, CDX_VEX_TITLE),
        ] {
            let signed = byproducts
                .iter()
                .find(|b| b["name"] == name)
                .and_then(|b| b["digest"]["sha256"].as_str().map(str::to_owned));
            let file = self.file_titled(t, name);
            let attached = file.is_ok();
            let r = match (file, signed) {
                // Not made (a VEX needs a package fix to state) and not signed: nothing to check.
                (Err(_), None) if !attached => continue,
                (Ok(b), Some(s)) if Sha256Hex::of(&b).to_string() == s => {
                    Ok(format!("{name} matches the signed digest"))
                }
                (Ok(b), Some(s)) => Err(format!(
                    "{name} has sha256 {}, the statement signed {s}",
                    Sha256Hex::of(&b)
                )),
                (Err(e), _) => Err(e.to_string()),
                (_, None) => Err(format!(
                    "{name} is attached but the statement does not sign it"
                )),
            };
            out.push(Check::new(name, r));
        }
        out
    }
}

impl PatchedImage {
    /// The image as it was before rootwasm: this platform's manifest without
    /// its patch layer, and its config without the patch's diff_id and
    /// history entry (the rest, `created` included, is what apply kept).
    pub fn into_base(self) -> Source {
        let mut manifest = self.docs.manifest.clone();
        let n = mutate::patch_layer(&manifest, &self.docs.config).unwrap_or(manifest.layers.len());
        manifest.layers.truncate(n);
        manifest.annotations = None;
        let mut config = self.docs.config.clone();
        if let Some(d) = config
            .get_mut("rootfs")
            .and_then(|r| r.get_mut("diff_ids"))
            .and_then(|d| d.as_array_mut())
        {
            d.truncate(n);
        }
        if let Some(h) = config.get_mut("history").and_then(|h| h.as_array_mut()) {
            h.pop();
        }
        let config_bytes = to_canonical_json(&config);
        manifest.config = Descriptor::for_bytes(&manifest.config.media_type, &config_bytes);
        let manifest_bytes = to_canonical_json(&manifest);
        let desc = Descriptor::for_bytes(MEDIA_MANIFEST, &manifest_bytes);
        let mut blobs = BTreeMap::new();
        blobs.insert(manifest.config.digest.clone(), config_bytes);
        blobs.insert(desc.digest.clone(), manifest_bytes);
        Source {
            store: Box::new(WithBlobs {
                blobs,
                input: self.source.store,
            }),
            top: Top::Manifest(desc),
            repo_tags: Vec::new(),
        }
    }
}

/// A store with a few extra blobs in memory.
struct WithBlobs {
    blobs: BTreeMap<Digest, Vec<u8>>,
    input: Box<dyn BlobStore>,
}

impl BlobStore for WithBlobs {
    fn open(&self, digest: &Digest) -> Result<Box<dyn std::io::Read + Send + '_>, ImageError> {
        match self.blobs.get(digest) {
            Some(b) => Ok(Box::new(b.as_slice())),
            None => self.input.open(digest),
        }
    }
}

/// The result of a replay.
#[derive(Debug)]
pub struct Replay {
    /// The patch layer in the image.
    pub recorded: Digest,
    /// Its diff_id in the config.
    pub recorded_diff_id: Digest,
    /// The rebuilt layer.
    pub rebuilt: Digest,
    /// Its diff_id.
    pub rebuilt_diff_id: Digest,
}

impl Replay {
    /// Both digests agree.
    pub fn matches(&self) -> bool {
        self.recorded == self.rebuilt && self.recorded_diff_id == self.rebuilt_diff_id
    }
}

/// One verification check.
#[derive(Debug, serde::Serialize)]
pub struct Check {
    /// What was checked.
    pub name: String,
    /// Passed?
    pub ok: bool,
    /// What was found.
    pub detail: String,
}

impl Check {
    fn new(name: &str, r: Result<String, String>) -> Check {
        Check {
            name: name.into(),
            ok: r.is_ok(),
            detail: r.unwrap_or_else(|e| e),
        }
    }
}
