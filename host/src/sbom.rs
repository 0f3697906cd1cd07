//! SBOMs: CycloneDX 1.6 and SPDX 2.3 JSON from an image's inventory.
//!
//! Package URLs follow the purl spec (built with the `packageurl` crate):
//! `pkg:deb/<distro-id>/<name>@<version>?arch=..&distro=<id>-<version>`,
//! `pkg:pypi/<normalised name>@<version>`, and the image itself as
//! `pkg:oci/<name>@sha256:..?arch=..`. Output is deterministic: ids and
//! timestamps come from the image, never from the clock.

use crate::inventory::{Inventory, Package};
use crate::journal::Sha256Hex;
use serde_json::{Value, json};

/// What the SBOM describes.
pub struct Subject<'a> {
    /// A short image name (for the purl and document name).
    pub name: &'a str,
    /// The manifest digest, `sha256:<hex>`.
    pub digest: &'a str,
    /// CPU architecture, from the config.
    pub arch: &'a str,
    /// When the image was created (RFC 3339), used as the document time.
    pub created: &'a str,
    /// The inventory.
    pub inventory: &'a Inventory,
}

/// The purl of an installed package.
pub fn purl(p: &Package, inv: &Inventory) -> String {
    let built = match p.ecosystem.as_str() {
        "deb" => {
            let os = inv.os.as_ref();
            let vendor = os.map_or("debian", |o| {
                if o.id.is_empty() {
                    "debian"
                } else {
                    o.id.as_str()
                }
            });
            packageurl::PackageUrl::new("deb", p.name.as_str()).and_then(|mut u| {
                u.with_namespace(vendor)?.with_version(p.version.as_str())?;
                if let Some(a) = &p.arch {
                    u.add_qualifier("arch", a.as_str())?;
                }
                if let Some(o) = os.filter(|o| !o.version_id.is_empty()) {
                    u.add_qualifier("distro", format!("{}-{}", o.id, o.version_id))?;
                }
                if let Some(src) = p.source.as_deref().filter(|s| *s != p.name) {
                    u.add_qualifier("upstream", src)?;
                }
                Ok(u.to_string())
            })
        }
        "pypi" => {
            let name = p.name.to_ascii_lowercase().replace(['_', '.'], "-");
            packageurl::PackageUrl::new("pypi", name).and_then(|mut u| {
                u.with_version(p.version.as_str())?;
                Ok(u.to_string())
            })
        }
        other => packageurl::PackageUrl::new(other, p.name.as_str()).and_then(|mut u| {
            u.with_version(p.version.as_str())?;
            Ok(u.to_string())
        }),
    };
    built.unwrap_or_else(|_| format!("pkg:generic/{}@{}", p.name, p.version))
}

/// The image's purl.
pub fn image_purl(s: &Subject<'_>) -> String {
    let name = s
        .name
        .rsplit('/')
        .next()
        .unwrap_or(s.name)
        .split(':')
        .next()
        .unwrap_or(s.name)
        .to_ascii_lowercase();
    packageurl::PackageUrl::new("oci", name.as_str())
        .and_then(|mut u| {
            u.with_version(s.digest)?;
            u.add_qualifier("arch", s.arch)?;
            Ok(u.to_string())
        })
        .unwrap_or_else(|_| format!("pkg:oci/image@{}", s.digest))
}

fn uuid_from(digest: &str) -> String {
    let h = Sha256Hex::of(digest.as_bytes()).0;
    // A version-4-shaped UUID derived from the digest, so the document is reproducible.
    format!(
        "{}-{}-4{}-8{}-{}",
        &h[0..8],
        &h[8..12],
        &h[13..16],
        &h[17..20],
        &h[20..32]
    )
}

/// CycloneDX 1.6 JSON.
pub fn cyclonedx(s: &Subject<'_>) -> Value {
    let image = image_purl(s);
    let components: Vec<Value> = s
        .inventory
        .packages
        .iter()
        .map(|p| {
            let purl = purl(p, s.inventory);
            let mut c = json!({
                "type": "library",
                "bom-ref": purl,
                "name": p.name,
                "version": p.version,
                "purl": purl,
                "properties": [{"name": "rootwasm:location", "value": p.location}],
            });
            if !p.licenses.is_empty() {
                c["licenses"] = Value::Array(
                    p.licenses
                        .iter()
                        .map(|l| json!({"license": {"name": l}}))
                        .collect(),
                );
            }
            c
        })
        .collect();
    let mut refs: Vec<&str> = components
        .iter()
        .filter_map(|c| c["bom-ref"].as_str())
        .collect();
    refs.dedup();
    json!({
        "bomFormat": "CycloneDX",
        "specVersion": "1.6",
        "serialNumber": format!("urn:uuid:{}", uuid_from(s.digest)),
        "version": 1,
        "metadata": {
            "timestamp": s.created,
            "tools": {"components": [{"type": "application", "name": "rootwasm", "version": env!("CARGO_PKG_VERSION")}]},
            "component": {"type": "container", "bom-ref": image, "name": s.name, "version": s.digest, "purl": image},
        },
        "components": components,
        "dependencies": [{"ref": image, "dependsOn": refs}],
    })
}

fn spdx_id(i: usize) -> String {
    format!("SPDXRef-Package-{i}")
}

/// SPDX 2.3 JSON.
pub fn spdx(s: &Subject<'_>) -> Value {
    let mut packages = vec![json!({
        "name": s.name,
        "SPDXID": "SPDXRef-Image",
        "versionInfo": s.digest,
        "downloadLocation": "NOASSERTION",
        "filesAnalyzed": false,
        "primaryPackagePurpose": "CONTAINER",
        "externalRefs": [{"referenceCategory": "PACKAGE-MANAGER", "referenceType": "purl", "referenceLocator": image_purl(s)}],
    })];
    let mut relationships = vec![
        json!({"spdxElementId": "SPDXRef-DOCUMENT", "relationshipType": "DESCRIBES", "relatedSpdxElement": "SPDXRef-Image"}),
    ];
    for (i, p) in s.inventory.packages.iter().enumerate() {
        packages.push(json!({
            "name": p.name,
            "SPDXID": spdx_id(i),
            "versionInfo": p.version,
            "downloadLocation": "NOASSERTION",
            "filesAnalyzed": false,
            // Declared license strings are not always SPDX expressions; they go in the CycloneDX names.
            "licenseDeclared": "NOASSERTION",
            "licenseConcluded": "NOASSERTION",
            "copyrightText": "NOASSERTION",
            "sourceInfo": format!("found at {}", p.location),
            "externalRefs": [{"referenceCategory": "PACKAGE-MANAGER", "referenceType": "purl", "referenceLocator": purl(p, s.inventory)}],
        }));
        relationships.push(json!({"spdxElementId": "SPDXRef-Image", "relationshipType": "CONTAINS", "relatedSpdxElement": spdx_id(i)}));
    }
    json!({
        "spdxVersion": "SPDX-2.3",
        "dataLicense": "CC0-1.0",
        "SPDXID": "SPDXRef-DOCUMENT",
        "name": format!("{}@{}", s.name, s.digest),
        "documentNamespace": format!("https://rootwasm.invalid/spdx/{}", uuid_from(s.digest)),
        "creationInfo": {"created": s.created, "creators": [format!("Tool: rootwasm-{}", env!("CARGO_PKG_VERSION"))]},
        "packages": packages,
        "relationships": relationships,
    })
}
