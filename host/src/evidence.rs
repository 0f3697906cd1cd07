//! The evidence stage of `apply`: for every platform it patched, attach the
//! journal with its blobs, the SBOMs (CycloneDX, SPDX), the OpenVEX document
//! and the signed provenance to the output, as OCI artifacts whose subject
//! is that platform's manifest (see `image::attach`).
//!
//! Runs after the image is built and before it is written, so the documents
//! describe the output exactly (they are computed from its blobs). It is the
//! only maker of an attested [`Sealed`] image, which an OCI sink requires.

use crate::apply::PlatformResult;
use crate::attest::{self, Epoch, ImageSubject, dsse, key::SigningKey, openvex, provenance};
use crate::image::attach::*;
use crate::image::model::*;
use crate::image::sink::{OutputImage, Sealed};
use crate::image::view::{Docs, ReadOptions, load_docs};
use crate::inventory::Inventory;
use crate::journal::Sha256Hex;
use crate::recipe::Recipe;
use crate::record::PatchRecord;

/// What the stage needs besides the applied image.
pub struct EvidenceOptions<'a> {
    /// The recipes that ran.
    pub recipes: &'a [Recipe],
    /// The input image's own name (see `image::reference::own_name`), if any.
    pub input_name: Option<&'a str>,
    /// A short name for purls and documents.
    pub image_name: &'a str,
    /// Where the output is published (`apply --repository`, or a registry
    /// destination's own): the VEX and SBOM then name the image with the
    /// purls Trivy and Grype build for it (`docs/vex.md`).
    pub repository: Option<&'a crate::attest::purl::Repository>,
    /// The tag it is published under, if any.
    pub tag: Option<&'a str>,
    /// Signs the provenance.
    pub key: &'a SigningKey,
    /// Document time [default: each patched config's `created`, which apply
    /// set from SOURCE_DATE_EPOCH or the input's].
    pub epoch: Option<u64>,
    /// Reading options for the layers.
    pub read: &'a ReadOptions<'a>,
}

/// Why evidence could not be made.
#[derive(Debug, thiserror::Error)]
pub enum EvidenceError {
    /// Reading the output.
    #[error(transparent)]
    Image(#[from] crate::image::ImageError),
    /// Building a document.
    #[error(transparent)]
    Attest(#[from] attest::Error),
}

fn json_file(media_type: &str, title: &str, v: &serde_json::Value) -> File {
    File {
        media_type: media_type.into(),
        title: title.into(),
        bytes: attest::to_bytes(v),
    }
}

/// Attach the evidence for every patched platform to `output` and seal it.
pub fn attach_evidence<'a>(
    platforms: &[PlatformResult],
    mut output: OutputImage<'a>,
    o: &EvidenceOptions<'_>,
) -> Result<Sealed<'a>, EvidenceError> {
    let mut attachments = Vec::new();
    let index = shared_index(platforms, &output)?;
    for p in platforms.iter().filter(|p| p.patched()) {
        let store = OutputStore {
            blobs: &output.blobs,
            input: output.input,
        };
        let subject = manifest_descriptor(&output, &p.manifest_after);
        let docs = load_docs(&store, &subject)?;
        let epoch = o
            .epoch
            .or_else(|| {
                docs.config["created"]
                    .as_str()
                    .and_then(crate::rfc3339::parse)
            })
            .unwrap_or(0);
        let artifacts = platform_evidence(
            &store,
            &docs,
            p,
            &subject,
            (index.as_ref(), &output.top.digest),
            epoch,
            o,
        )?;
        attachments.push((subject, crate::rfc3339::format(epoch), artifacts));
    }
    if index.is_some() {
        let vex = index_attestation(&output.top, &attachments);
        attachments.extend(vex);
    }
    let referrers: Vec<Descriptor> = attachments
        .into_iter()
        .flat_map(|(subject, created, artifacts)| {
            attach(&mut output, &subject, artifacts, created.as_str())
        })
        .collect();
    evidence_index(&mut output, referrers);
    Ok(output.attested())
}

/// Scanners name a multi-platform image by its index digest, and Trivy
/// looks for cosign's `.att` tag of the digest it pulled: where the
/// statements hold for the index, the first platform's VEX attestation
/// (whose statement names the index digest too) goes on the index as well.
fn index_attestation(
    index: &Descriptor,
    attachments: &[(Descriptor, String, Vec<Artifact>)],
) -> Option<(Descriptor, String, Vec<Artifact>)> {
    let (_, created, artifacts) = attachments.first()?;
    let a = artifacts.iter().find(|a| a.artifact_type == MEDIA_DSSE)?;
    Some((index.clone(), created.clone(), vec![a.clone()]))
}

/// The digest of the output's index, if its statements hold for every
/// platform: all of them patched, with the same vulnerabilities fixed
/// (scanners name a multi-platform image by its index digest, whatever
/// platform they pull). The top digest itself for a single manifest.
fn shared_index(
    platforms: &[PlatformResult],
    output: &OutputImage<'_>,
) -> Result<Option<Digest>, EvidenceError> {
    if !is_index(&output.top.media_type) {
        return Ok(None);
    }
    let store = OutputStore {
        blobs: &output.blobs,
        input: output.input,
    };
    let mut sets = Vec::new();
    for p in platforms {
        if !p.patched() {
            return Ok(None);
        }
        let docs = load_docs(&store, &manifest_descriptor(output, &p.manifest_after))?;
        let fixes: std::collections::BTreeSet<String> =
            crate::record::records(docs.manifest.annotations.as_ref())
                .into_iter()
                .flat_map(|r| r.fixes)
                .collect();
        sets.push(fixes);
    }
    Ok((sets.windows(2).all(|w| w[0] == w[1])).then(|| output.top.digest.clone()))
}

fn manifest_descriptor(output: &OutputImage<'_>, digest: &Digest) -> Descriptor {
    let size = output
        .blobs
        .get(digest)
        .map(|(s, _)| *s)
        .unwrap_or_default();
    Descriptor {
        media_type: MEDIA_MANIFEST.into(),
        digest: digest.clone(),
        size,
        platform: None,
        annotations: None,
        extra: Default::default(),
    }
}

/// The documents of one platform, in the order they are attached.
struct Documents {
    journal: File,
    journal_blobs: Vec<File>,
    cyclonedx: File,
    spdx: File,
    vex: Option<File>,
    /// The CycloneDX VEX with BOM-Links into `cyclonedx` (what `trivy sbom --vex` reads).
    cdx_vex: Option<File>,
}

fn platform_evidence(
    store: &OutputStore<'_>,
    docs: &Docs,
    p: &PlatformResult,
    subject: &Descriptor,
    (index, top): (Option<&Digest>, &Digest),
    epoch: u64,
    o: &EvidenceOptions<'_>,
) -> Result<Vec<Artifact>, EvidenceError> {
    let digests: Vec<Digest> = std::iter::once(subject.digest.clone())
        .chain(index.cloned())
        .collect();
    let image = ImageSubject {
        name: o.image_name,
        repository: o.repository,
        // The tag names the output's top: only where the statements hold for it.
        tag: o.tag.filter(|_| digests.contains(top)),
        arch: docs.config["architecture"].as_str(),
        digests,
    };
    let d = documents(store, docs, p, &image, epoch, o)?;
    let tests = crate::patch_checks::for_platform(
        store,
        docs,
        &p.journal,
        p.recipes
            .iter()
            .map(|r| (r.recipe.as_str(), r.result.as_str())),
        o.read,
    )?;
    let provenance = signed_provenance(&d, p, &tests, &image, epoch, o);
    let mut journal_files = vec![d.journal];
    journal_files.extend(d.journal_blobs);
    let mut artifacts = vec![
        Artifact {
            artifact_type: ARTIFACT_JOURNAL,
            files: journal_files,
        },
        Artifact {
            artifact_type: ARTIFACT_CYCLONEDX,
            files: std::iter::once(d.cyclonedx).chain(d.cdx_vex).collect(),
        },
        Artifact {
            artifact_type: ARTIFACT_SPDX,
            files: vec![d.spdx],
        },
        Artifact {
            artifact_type: ARTIFACT_INTOTO,
            files: vec![provenance],
        },
    ];
    if let Some(v) = d.vex {
        artifacts.push(vex_attestation(&v, &image, o));
        artifacts.push(Artifact {
            artifact_type: ARTIFACT_OPENVEX,
            files: vec![v],
        });
    }
    Ok(artifacts)
}

/// The OpenVEX document as cosign attests it: an in-toto statement about
/// the image (predicate type [`PREDICATE_OPENVEX`]) in a DSSE envelope
/// signed with the provenance key, so `trivy image --vex oci` finds it.
fn vex_attestation(vex: &File, image: &ImageSubject<'_>, o: &EvidenceOptions<'_>) -> Artifact {
    let doc: serde_json::Value = serde_json::from_slice(&vex.bytes).expect("our own JSON");
    let statement = attest::intoto::statement(
        &attest::intoto::image_subjects(image),
        PREDICATE_OPENVEX,
        doc,
    );
    let envelope = dsse::sign(
        attest::intoto::PAYLOAD_TYPE,
        &attest::to_bytes(&statement),
        o.key,
    );
    Artifact {
        artifact_type: MEDIA_DSSE,
        files: vec![File {
            media_type: MEDIA_DSSE.into(),
            title: "vex.intoto.dsse.json".into(),
            bytes: envelope.to_json(),
        }],
    }
}

/// The journal, the SBOMs and the VEX of one patched platform.
fn documents(
    store: &OutputStore<'_>,
    docs: &Docs,
    p: &PlatformResult,
    image: &ImageSubject<'_>,
    epoch: u64,
    o: &EvidenceOptions<'_>,
) -> Result<Documents, EvidenceError> {
    let created = crate::rfc3339::format(epoch);
    let (merged, patched) = crate::sbom::read_platform(store, docs, o.read)?;
    let inventory = crate::inventory::inventory(&merged);
    let sbom_subject = crate::sbom::Subject {
        name: o.image_name,
        repository: o.repository,
        digest: image.digests[0].as_str(),
        arch: docs.config["architecture"].as_str().unwrap_or("unknown"),
        created: &created,
        inventory: &inventory,
        patches: &patched,
    };
    let mut cdx = crate::sbom::cyclonedx(&sbom_subject);
    let spdx = crate::sbom::spdx(&sbom_subject);
    // A plain update (a distro upgrade naming no vulnerability) states nothing.
    let records: Vec<_> = confirmed(patched.iter().map(|x| &x.record), &inventory)
        .into_iter()
        .filter(|r| !r.fixes.is_empty())
        .collect();
    let vulns: Vec<_> = o
        .recipes
        .iter()
        .flat_map(|r| r.manifest.fixes.iter().cloned())
        .collect();
    let vex = if records.is_empty() {
        None
    } else {
        Some(openvex::document(&openvex::VexInput {
            image,
            records: &records,
            inventory: &inventory,
            vulnerabilities: &vulns,
            author: "rootwasm",
            timestamp: Epoch(epoch),
        })?)
    };
    let input = attest::cdx_vex::CdxVexInput {
        image,
        records: &records,
        inventory: &inventory,
        vulnerabilities: &vulns,
        timestamp: Epoch(epoch),
        sbom: None,
    };
    let cdx_vex = cyclonedx_vex(&mut cdx, input)?;
    Ok(Documents {
        journal: File {
            media_type: ARTIFACT_JOURNAL.into(),
            title: "journal.json".into(),
            bytes: p.journal.to_json().into_bytes(),
        },
        journal_blobs: p
            .blobs
            .iter()
            .map(|(sha, bytes)| File {
                media_type: MEDIA_JOURNAL_BLOB.into(),
                title: sha.to_string(),
                bytes: bytes.to_vec(),
            })
            .collect(),
        cyclonedx: json_file(ARTIFACT_CYCLONEDX, "sbom.cdx.json", &cdx),
        spdx: json_file(ARTIFACT_SPDX, "sbom.spdx.json", &spdx),
        vex: vex
            .as_ref()
            .map(|v| json_file(ARTIFACT_OPENVEX, "vex.openvex.json", v)),
        cdx_vex: cdx_vex
            .as_ref()
            .map(|v| json_file(ARTIFACT_CYCLONEDX, CDX_VEX_TITLE, v)),
    })
}

/// The CycloneDX VEX, twice: inside the SBOM `cdx` (plain bom-refs;
/// resolved_with_pedigree for backports, resolved for distro upgrades), and
/// as a separate document linking into it, since Trivy only follows
/// BOM-Links (`pkg/vex/cyclonedx.go`). `None` when nothing is fixed.
fn cyclonedx_vex(
    cdx: &mut serde_json::Value,
    input: attest::cdx_vex::CdxVexInput<'_>,
) -> Result<Option<serde_json::Value>, EvidenceError> {
    let vulns = attest::cdx_vex::vulnerabilities(&input)?;
    if vulns.is_empty() {
        return Ok(None);
    }
    let serial = cdx["serialNumber"].as_str().unwrap_or_default().to_owned();
    let linked = attest::cdx_vex::document(&attest::cdx_vex::CdxVexInput {
        sbom: Some(attest::cdx_vex::BomLink {
            serial_number: &serial,
            version: cdx["version"].as_u64().unwrap_or(1) as u32,
        }),
        ..input
    })?;
    cdx["vulnerabilities"] = serde_json::Value::Array(vulns);
    Ok(Some(linked))
}

/// The records the VEX may state: the record's package is installed where
/// and as the record says. A recipe that reports no package (or an
/// ecosystem rootwasm does not inventory) gets no VEX.
fn confirmed<'r>(
    records: impl Iterator<Item = &'r PatchRecord>,
    inventory: &Inventory,
) -> Vec<PatchRecord> {
    records
        .filter(|r| {
            inventory.packages.iter().any(|p| {
                p.ecosystem == r.ecosystem
                    && p.name == r.package
                    && p.location == r.location
                    && p.version == r.version_after
            })
        })
        .cloned()
        .collect()
}

/// (name, media type, sha256) of each document the provenance signs.
fn signed_documents(d: &Documents) -> Vec<(&'static str, &'static str, String)> {
    let mut signed = vec![
        ("journal.json", ARTIFACT_JOURNAL, &d.journal),
        ("sbom.cdx.json", ARTIFACT_CYCLONEDX, &d.cyclonedx),
        ("sbom.spdx.json", ARTIFACT_SPDX, &d.spdx),
    ];
    if let Some(v) = &d.vex {
        signed.push(("vex.openvex.json", ARTIFACT_OPENVEX, v));
    }
    if let Some(v) = &d.cdx_vex {
        signed.push((CDX_VEX_TITLE, ARTIFACT_CYCLONEDX, v));
    }
    signed
        .into_iter()
        .map(|(name, media_type, f)| (name, media_type, Sha256Hex::of(&f.bytes).to_string()))
        .collect()
}

/// The provenance statement, signing the digests of the other documents.
fn signed_provenance(
    d: &Documents,
    p: &PlatformResult,
    tests: &std::collections::BTreeMap<String, Vec<crate::patch_checks::TestResult>>,
    image: &ImageSubject<'_>,
    epoch: u64,
    o: &EvidenceOptions<'_>,
) -> File {
    let signed = signed_documents(d);
    let byproducts: Vec<provenance::Byproduct<'_>> = signed
        .iter()
        .map(|(name, media_type, sha256)| provenance::Byproduct {
            name,
            media_type,
            sha256,
        })
        .collect();
    let tests: std::collections::BTreeMap<&str, Vec<serde_json::Value>> = tests
        .iter()
        .map(|(id, t)| {
            let v = t.iter().filter_map(|t| serde_json::to_value(t).ok());
            (id.as_str(), v.collect())
        })
        .collect();
    let results: Vec<provenance::RecipeRun<'_>> = p
        .recipes
        .iter()
        .map(|r| provenance::RecipeRun {
            recipe: &r.recipe,
            platform: &p.platform,
            result: r.result.as_str(),
            fixes: &r.cves,
            error: r.error.as_ref().map(|e| e.message.as_str()),
            tests: tests.get(r.recipe.as_str()).map_or(&[], Vec::as_slice),
        })
        .collect();
    let deps: Vec<provenance::RecipeDependency> = o
        .recipes
        .iter()
        .map(provenance::RecipeDependency::from_recipe)
        .collect();
    let statement = provenance::statement(&provenance::ProvenanceInput {
        subject: image,
        input: provenance::InputImage {
            reference: o.input_name,
            digest: &p.manifest_before,
        },
        recipes: &deps,
        builder: provenance::Builder {
            id: "https://rootwasm.invalid/builder/local",
            version: env!("CARGO_PKG_VERSION"),
        },
        invocation_id: None,
        source_date_epoch: Some(Epoch(epoch)),
        started_on: Epoch(epoch),
        finished_on: Epoch(epoch),
        byproducts: &byproducts,
        results: &results,
    });
    let envelope = dsse::sign(
        attest::intoto::PAYLOAD_TYPE,
        &attest::to_bytes(&statement),
        o.key,
    );
    File {
        media_type: MEDIA_DSSE.into(),
        title: "provenance.dsse.json".into(),
        bytes: envelope.to_json(),
    }
}
