//! OpenVEX 0.2.0: one `fixed` statement per vulnerability rootwasm fixed.
//!
//! The product is the patched image (`pkg:oci/<name>@sha256:..`, one
//! product per digest in [`ImageSubject::digests`]); the subcomponents are
//! the patched packages' purls as scanners report them (installed version,
//! no qualifiers; see [`super::purl`]). A statement never names a package
//! on its own as the product: a backport keeps the version, so "fixed in
//! `pkg:deb/debian/libexpat1@2.5.0-1+deb12u2`" would be false for every
//! other image with that package. Scanners' matching rules: `docs/vex.md`.

use super::purl::{image_purl, oci_purl, scanner_purls, tag_purl};
use super::{Epoch, Error, ImageSubject, intoto, to_bytes};
use crate::inventory::{Inventory, Package};
use crate::recipe::{PatchType, Vulnerability};
use crate::record::PatchRecord;
use serde_json::{Value, json};
use std::collections::{BTreeMap, BTreeSet};

/// The JSON-LD context of OpenVEX 0.2.0, also its in-toto predicate type.
pub const CONTEXT: &str = "https://openvex.dev/ns/v0.2.0";
/// The in-toto predicate type of an OpenVEX attestation.
pub const PREDICATE_TYPE: &str = CONTEXT;
/// The DSSE payload type of an OpenVEX attestation (an in-toto statement).
pub const PAYLOAD_TYPE: &str = intoto::PAYLOAD_TYPE;

/// What a VEX document is made from.
pub struct VexInput<'a> {
    /// The patched image.
    pub image: &'a ImageSubject<'a>,
    /// The patch records of that image (its `dev.rootwasm.patches`).
    pub records: &'a [PatchRecord],
    /// The patched image's inventory: each record's package must be
    /// installed at the record's `version_after`.
    pub inventory: &'a Inventory,
    /// What the recipes' `recipe.toml` say about the vulnerabilities, for
    /// aliases (Grype reports GHSA ids for language packages); ids not
    /// listed here simply get no aliases.
    pub vulnerabilities: &'a [Vulnerability],
    /// The document's author, e.g. an email address or a URL.
    pub author: &'a str,
    /// When the document is issued.
    pub timestamp: Epoch,
}

/// One fixed package, with the record that fixed it.
pub(crate) struct Fixed<'a> {
    pub record: &'a PatchRecord,
    pub package: &'a Package,
}

/// Each record with its installed package, grouped by vulnerability id.
pub(crate) fn fixed_by_vulnerability<'a>(
    records: &'a [PatchRecord],
    inventory: &'a Inventory,
) -> Result<BTreeMap<&'a str, Vec<Fixed<'a>>>, Error> {
    let mut out: BTreeMap<&str, Vec<Fixed<'_>>> = BTreeMap::new();
    for record in records {
        let package = inventory
            .packages
            .iter()
            .find(|p| {
                p.ecosystem == record.ecosystem
                    && p.name == record.package
                    && p.location == record.location
                    && p.version == record.version_after
            })
            .ok_or_else(|| Error::PackageNotInstalled {
                recipe: record.recipe.clone(),
                ecosystem: record.ecosystem,
                package: format!("{}@{}", record.package, record.version_after),
                location: record.location.clone(),
            })?;
        for id in &record.fixes {
            out.entry(id.as_str())
                .or_default()
                .push(Fixed { record, package });
        }
    }
    Ok(out)
}

/// How each record fixed it, for humans.
pub(crate) fn notes(fixed: &[Fixed<'_>]) -> String {
    let lines: BTreeSet<String> = fixed
        .iter()
        .map(|f| {
            let r = f.record;
            let origin = r
                .origin
                .as_deref()
                .map(|o| format!("; fix from {o}"))
                .unwrap_or_default();
            match r.patch_type {
                PatchType::Backport => format!(
                    "{} {}: fix backported in place by rootwasm recipe {} (version unchanged){origin}",
                    r.package, r.version_after, r.recipe
                ),
                PatchType::DistroUpgrade => format!(
                    "{}: upgraded {} -> {} by rootwasm recipe {}{origin}",
                    r.package, r.version_before, r.version_after, r.recipe
                ),
            }
        })
        .collect();
    lines.into_iter().collect::<Vec<_>>().join("\n")
}

/// One product per digest the statement is true for, each named three ways
/// (`docs/vex.md`): `@id` is the purl Trivy builds for a pulled image (with
/// `repository_url` and `arch`), `identifiers.purl` the same without
/// qualifiers (go-vex's `PurlMatches` finds it in Grype's purl, whose
/// `repository_url` is spelled differently), `hashes.sha-256` the bare
/// digest Grype also offers. With a tag, one more product: the versionless
/// purl Grype builds for an image read by tag without a repo digest.
fn products(image: &ImageSubject<'_>, subcomponents: &BTreeSet<String>) -> Vec<Value> {
    let subs: Vec<Value> = subcomponents.iter().map(|p| json!({"@id": p})).collect();
    let name = image.repository.map_or(image.name, |r| r.last());
    let with_subs = |mut product: Value| {
        product["subcomponents"] = Value::Array(subs.clone());
        product
    };
    let mut out: Vec<Value> = image
        .digests
        .iter()
        .map(|d| {
            let id = image_purl(name, d.as_str(), image.repository, image.arch);
            let product = json!({"@id": id, "identifiers": {"purl": oci_purl(name, d.as_str())}});
            let mut product = product;
            product["hashes"] = json!({"sha-256": d.hex()});
            with_subs(product)
        })
        .collect();
    if let (Some(r), Some(t)) = (image.repository, image.tag)
        && let Some(p) = tag_purl(r, t)
    {
        out.push(with_subs(json!({"@id": p})));
    }
    out
}

/// The OpenVEX document. Deterministic: `@id` is
/// `https://openvex.dev/docs/public/vex-<sha256 of the document without it>`.
/// Errors if there is nothing to state (the schema wants one statement) or
/// a record's package is not installed at its `version_after`.
pub fn document(input: &VexInput<'_>) -> Result<Value, Error> {
    if input.image.digests.is_empty() {
        return Err(Error::NoDigest);
    }
    let by_vuln = fixed_by_vulnerability(input.records, input.inventory)?;
    if by_vuln.is_empty() {
        return Err(Error::NothingFixed);
    }
    let statements: Vec<Value> = by_vuln
        .iter()
        .map(|(id, fixed)| {
            let subcomponents: BTreeSet<String> = fixed
                .iter()
                .flat_map(|f| scanner_purls(f.package, input.inventory))
                .collect();
            let mut vulnerability = json!({"name": id});
            let aliases: BTreeSet<&str> = input
                .vulnerabilities
                .iter()
                .filter(|v| v.id == *id)
                .flat_map(|v| v.aliases.iter().map(String::as_str))
                .filter(|a| a != id)
                .collect();
            if !aliases.is_empty() {
                vulnerability["aliases"] = json!(aliases);
            }
            json!({
                "vulnerability": vulnerability,
                "products": products(input.image, &subcomponents),
                "status": "fixed",
                "status_notes": notes(fixed),
            })
        })
        .collect();
    let mut doc = json!({
        "@context": CONTEXT,
        "author": input.author,
        "role": "patch tool",
        "timestamp": input.timestamp.rfc3339(),
        "version": 1,
        "tooling": format!("rootwasm {}", env!("CARGO_PKG_VERSION")),
        "statements": statements,
    });
    let hash = crate::journal::Sha256Hex::of(&to_bytes(&doc));
    doc["@id"] = json!(format!("https://openvex.dev/docs/public/vex-{hash}"));
    Ok(doc)
}

/// The document as an in-toto Statement v1 about the image's digests
/// (what `cosign attest --type openvex` produces), ready for [`super::dsse::sign`].
pub fn statement(input: &VexInput<'_>) -> Result<Value, Error> {
    let doc = document(input)?;
    Ok(intoto::statement(
        &intoto::image_subjects(input.image),
        PREDICATE_TYPE,
        doc,
    ))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::attest::fixtures;
    use crate::image::model::Digest;

    fn image() -> ImageSubject<'static> {
        ImageSubject {
            name: "app",
            repository: Some(Box::leak(Box::new(
                crate::attest::purl::Repository::parse("ghcr.io/acme/app").unwrap(),
            ))),
            tag: None,
            arch: Some("amd64"),
            digests: vec![Digest::of(b"manifest")],
        }
    }

    fn doc() -> Value {
        let (inv, recs, vulns, img) = (
            fixtures::inventory(),
            fixtures::records(),
            fixtures::vulnerabilities(),
            image(),
        );
        document(&VexInput {
            image: &img,
            records: &recs,
            inventory: &inv,
            vulnerabilities: &vulns,
            author: "security@acme.example",
            timestamp: Epoch(1_700_000_000),
        })
        .unwrap()
    }

    #[test]
    fn one_fixed_statement_per_vulnerability_with_the_image_as_product() {
        let d = doc();
        assert_eq!(d["@context"], CONTEXT);
        assert_eq!(d["timestamp"], "2023-11-14T22:13:20Z");
        let st = d["statements"].as_array().unwrap();
        let names: Vec<&str> = st
            .iter()
            .map(|s| s["vulnerability"]["name"].as_str().unwrap())
            .collect();
        assert_eq!(
            names,
            ["CVE-2024-10041", "CVE-2024-45490", "CVE-2024-45491"]
        );
        assert!(st.iter().all(|s| s["status"] == "fixed"));
        let s = &st[1];
        assert_eq!(
            s["vulnerability"]["aliases"],
            json!(["GHSA-xxxx-yyyy-zzzz"])
        );
        let p = &s["products"][0];
        let digest = Digest::of(b"manifest");
        assert_eq!(
            p["@id"],
            format!(
                "pkg:oci/app@{}?arch=amd64&repository_url=ghcr.io%2Facme%2Fapp",
                digest.as_str()
            )
        );
        assert_eq!(
            p["identifiers"]["purl"],
            format!("pkg:oci/app@{}", digest.as_str())
        );
        assert_eq!(p["hashes"]["sha-256"], digest.hex());
        assert_eq!(
            p["subcomponents"],
            json!([
                {"@id": "pkg:deb/debian/libexpat1@2.5.0-1%2Bdeb12u2"},
                {"@id": "pkg:pypi/requests-toolbelt@1.0.0"},
            ])
        );
        let upgrade = &st[0];
        assert_eq!(
            upgrade["products"][0]["subcomponents"],
            json!([
                {"@id": "pkg:deb/debian/libpam0g@1.5.2-6%2Bdeb12u1?epoch=1"},
                {"@id": "pkg:deb/debian/libpam0g@1:1.5.2-6%2Bdeb12u1"},
            ])
        );
        assert!(
            upgrade["status_notes"]
                .as_str()
                .unwrap()
                .contains("1:1.5.2-6+deb12u0 -> 1:1.5.2-6+deb12u1")
        );
    }

    #[test]
    fn same_input_same_bytes_and_the_id_is_content_derived() {
        let (a, b) = (doc(), doc());
        assert_eq!(to_bytes(&a), to_bytes(&b));
        let id = a["@id"].as_str().unwrap();
        let mut without = a.clone();
        without.as_object_mut().unwrap().remove("@id");
        assert_eq!(
            id,
            format!(
                "https://openvex.dev/docs/public/vex-{}",
                crate::journal::Sha256Hex::of(&to_bytes(&without))
            )
        );
    }

    #[test]
    fn a_record_whose_package_is_not_installed_at_its_version_is_refused() {
        let inv = fixtures::inventory();
        let mut recs = fixtures::records();
        recs[0].version_after = "2.5.0-1+deb12u3".into();
        let img = image();
        let e = document(&VexInput {
            image: &img,
            records: &recs,
            inventory: &inv,
            vulnerabilities: &[],
            author: "a",
            timestamp: Epoch(0),
        })
        .unwrap_err();
        assert!(matches!(e, Error::PackageNotInstalled { .. }), "{e}");
        let e = document(&VexInput {
            image: &img,
            records: &[],
            inventory: &inv,
            vulnerabilities: &[],
            author: "a",
            timestamp: Epoch(0),
        })
        .unwrap_err();
        assert!(matches!(e, Error::NothingFixed), "{e}");
    }

    #[test]
    fn every_digest_is_a_product_and_a_tag_adds_grypes_versionless_purl() {
        let (inv, recs) = (fixtures::inventory(), fixtures::records());
        let repo = crate::attest::purl::Repository::parse("127.0.0.1:5000/acme/app").unwrap();
        let (manifest, index) = (Digest::of(b"manifest"), Digest::of(b"index"));
        let img = ImageSubject {
            name: "ignored",
            repository: Some(&repo),
            tag: Some("1.0"),
            arch: Some("arm64"),
            digests: vec![manifest.clone(), index.clone()],
        };
        let d = document(&VexInput {
            image: &img,
            records: &recs,
            inventory: &inv,
            vulnerabilities: &[],
            author: "a",
            timestamp: Epoch(0),
        })
        .unwrap();
        let products = d["statements"][0]["products"].as_array().unwrap();
        assert_eq!(products.len(), 3);
        for (p, digest) in products.iter().zip([&manifest, &index]) {
            assert_eq!(p["hashes"]["sha-256"], digest.hex());
            assert_eq!(
                p["identifiers"]["purl"],
                format!("pkg:oci/app@{}", digest.as_str())
            );
            let id = p["@id"].as_str().unwrap();
            assert!(
                id.contains("arch=arm64") && id.contains("repository_url="),
                "{id}"
            );
        }
        assert_eq!(
            products[2]["@id"],
            "pkg:oci/127.0.0.1:5000%2Facme%2Fapp?tag=5000%2Facme%2Fapp:1.0"
        );
        assert!(
            products
                .iter()
                .all(|p| p["subcomponents"] == products[0]["subcomponents"])
        );
    }

    #[test]
    fn the_statement_wraps_the_document_for_the_image_digests() {
        let (inv, recs, img) = (fixtures::inventory(), fixtures::records(), image());
        let s = statement(&VexInput {
            image: &img,
            records: &recs,
            inventory: &inv,
            vulnerabilities: &[],
            author: "a",
            timestamp: Epoch(0),
        })
        .unwrap();
        assert_eq!(s["_type"], intoto::STATEMENT_TYPE);
        assert_eq!(s["predicateType"], PREDICATE_TYPE);
        assert_eq!(s["subject"][0]["name"], "ghcr.io/acme/app");
        assert_eq!(
            s["subject"][0]["digest"]["sha256"],
            Digest::of(b"manifest").hex()
        );
    }
}
