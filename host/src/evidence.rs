//! The evidence stage of `apply`: for every platform it patched, attach the
//! journal with its blobs, the SBOMs (CycloneDX, SPDX), the OpenVEX document
//! and the signed provenance to the output, as OCI artifacts whose subject
//! is that platform's manifest (see `image::attach`).
//!
//! Runs after the image is built and before it is written, so the documents
//! describe the output exactly (they are computed from its blobs) and an
//! output is never written without them.

use crate::apply::Applied;
use crate::attest::{self, Epoch, ImageSubject, dsse, key::SigningKey, openvex, provenance};
use crate::image::attach::*;
use crate::image::model::*;
use crate::image::view::{ReadOptions, load_docs};
use crate::journal::Sha256Hex;
use crate::manifest::Recipe;

/// What the stage needs besides the applied image.
pub struct EvidenceOptions<'a> {
    /// The recipes that ran.
    pub recipes: &'a [Recipe],
    /// sha256 of each recipe's `recipe.toml` bytes, by recipe id.
    pub recipe_toml_sha256: &'a std::collections::BTreeMap<String, Sha256Hex>,
    /// The input image's reference as given.
    pub input_name: &'a str,
    /// A short name for purls and documents.
    pub image_name: &'a str,
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

/// Attach the evidence for every patched platform of `applied`.
pub fn attach_evidence(
    applied: &mut Applied<'_>,
    o: &EvidenceOptions<'_>,
) -> Result<(), EvidenceError> {
    let deps: Vec<provenance::RecipeDependency> = o
        .recipes
        .iter()
        .map(|r| {
            let sha = o
                .recipe_toml_sha256
                .get(&r.manifest.id)
                .cloned()
                .unwrap_or_else(|| Sha256Hex(String::new()));
            provenance::RecipeDependency::from_recipe(r, &sha)
        })
        .collect();
    let vulns: Vec<_> = o
        .recipes
        .iter()
        .flat_map(|r| r.manifest.fixes.iter().cloned())
        .collect();
    let mut attachments = Vec::new();
    for p in &applied.platforms {
        if p.manifest_after == p.manifest_before {
            continue;
        }
        let store = OutputStore {
            blobs: &applied.output.blobs,
            input: applied.output.input,
        };
        let size = applied
            .output
            .blobs
            .get(&p.manifest_after)
            .map(|(s, _)| *s)
            .unwrap_or_default();
        let subject = Descriptor {
            media_type: MEDIA_MANIFEST.into(),
            digest: p.manifest_after.clone(),
            size,
            platform: None,
            annotations: None,
            extra: Default::default(),
        };
        let docs = load_docs(&store, &subject)?;
        let epoch = o
            .epoch
            .or_else(|| {
                docs.config["created"]
                    .as_str()
                    .and_then(crate::image::patch::parse_rfc3339)
            })
            .unwrap_or(0);
        let created = crate::image::patch::rfc3339(epoch);
        let (merged, patched) = crate::sbom::read_platform(&store, &docs, o.read)?;
        let inventory = crate::inventory::inventory(&merged);
        let sbom_subject = crate::sbom::Subject {
            name: o.image_name,
            digest: subject.digest.as_str(),
            arch: docs.config["architecture"].as_str().unwrap_or("unknown"),
            created: &created,
            inventory: &inventory,
            patches: &patched,
        };
        let mut cdx = crate::sbom::cyclonedx(&sbom_subject);
        let spdx = crate::sbom::spdx(&sbom_subject);
        // VEX claims only what the inventory confirms: the record's package is
        // installed where and as the record says. A recipe that reports no
        // package (or an ecosystem rootwasm does not inventory) gets no VEX.
        let records: Vec<_> = patched
            .iter()
            .map(|x| x.record.clone())
            .filter(|r| {
                inventory.packages.iter().any(|p| {
                    p.ecosystem == r.ecosystem
                        && p.name == r.package
                        && p.location == r.location
                        && p.version == r.version_after
                })
            })
            .collect();
        let image = ImageSubject {
            name: o.image_name,
            repository: None,
            digests: vec![subject.digest.clone()],
        };
        let vex = if records.is_empty() {
            None
        } else {
            Some(openvex::document(&openvex::VexInput {
                image: &image,
                records: &records,
                inventory: &inventory,
                vulnerabilities: &vulns,
                author: "rootwasm",
                timestamp: Epoch(epoch),
            })?)
        };
        // CycloneDX VEX inside the SBOM: resolved_with_pedigree for backports,
        // resolved for distro upgrades.
        let cdx_vulns = attest::cdx_vex::vulnerabilities(&attest::cdx_vex::CdxVexInput {
            image: &image,
            records: &records,
            inventory: &inventory,
            vulnerabilities: &vulns,
            timestamp: Epoch(epoch),
            sbom: None,
        })?;
        if !cdx_vulns.is_empty() {
            cdx["vulnerabilities"] = serde_json::Value::Array(cdx_vulns);
        }
        let journal = p.journal.to_json();
        let mut journal_files = vec![File {
            media_type: ARTIFACT_JOURNAL.into(),
            title: "journal.json".into(),
            bytes: journal.clone().into_bytes(),
        }];
        for (sha, bytes) in p.blobs.iter() {
            journal_files.push(File {
                media_type: MEDIA_JOURNAL_BLOB.into(),
                title: sha.0.clone(),
                bytes: bytes.to_vec(),
            });
        }
        let cdx_file = json_file(ARTIFACT_CYCLONEDX, "sbom.cdx.json", &cdx);
        let spdx_file = json_file(ARTIFACT_SPDX, "sbom.spdx.json", &spdx);
        let vex_file = vex
            .as_ref()
            .map(|v| json_file(ARTIFACT_OPENVEX, "vex.openvex.json", v));
        let mut signed: Vec<(&str, &'static str, String)> = vec![
            (
                "journal.json",
                ARTIFACT_JOURNAL,
                Sha256Hex::of(journal.as_bytes()).0,
            ),
            (
                "sbom.cdx.json",
                ARTIFACT_CYCLONEDX,
                Sha256Hex::of(&cdx_file.bytes).0,
            ),
            (
                "sbom.spdx.json",
                ARTIFACT_SPDX,
                Sha256Hex::of(&spdx_file.bytes).0,
            ),
        ];
        if let Some(v) = &vex_file {
            signed.push((
                "vex.openvex.json",
                ARTIFACT_OPENVEX,
                Sha256Hex::of(&v.bytes).0,
            ));
        }
        let byproducts: Vec<provenance::Byproduct<'_>> = signed
            .iter()
            .map(|(name, media_type, sha256)| provenance::Byproduct {
                name,
                media_type,
                sha256,
            })
            .collect();
        let results: Vec<provenance::RecipeRun<'_>> = p
            .recipes
            .iter()
            .map(|r| provenance::RecipeRun {
                recipe: &r.recipe,
                platform: &p.platform,
                result: &r.result,
                fixes: &r.cves,
                error: r.error.as_ref().map(|e| e.message.as_str()),
            })
            .collect();
        let statement = provenance::statement(&provenance::ProvenanceInput {
            subject: &image,
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
        let provenance_file = File {
            media_type: MEDIA_DSSE.into(),
            title: "provenance.dsse.json".into(),
            bytes: envelope.to_json(),
        };
        attachments.push((
            subject,
            created,
            vec![
                Artifact {
                    artifact_type: ARTIFACT_JOURNAL,
                    files: journal_files,
                },
                Artifact {
                    artifact_type: ARTIFACT_CYCLONEDX,
                    files: vec![cdx_file],
                },
                Artifact {
                    artifact_type: ARTIFACT_SPDX,
                    files: vec![spdx_file],
                },
                Artifact {
                    artifact_type: ARTIFACT_INTOTO,
                    files: vec![provenance_file],
                },
            ],
        ));
        if let Some(v) = vex_file {
            let (_, _, artifacts) = attachments.last_mut().expect("just pushed");
            artifacts.push(Artifact {
                artifact_type: ARTIFACT_OPENVEX,
                files: vec![v],
            });
        }
    }
    for (subject, created, artifacts) in attachments {
        attach(&mut applied.output, &subject, artifacts, &created);
    }
    Ok(())
}
