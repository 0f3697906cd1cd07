//! CycloneDX 1.6 VEX: `vulnerabilities[]` whose `analysis.state` says how
//! rootwasm resolved each one (`resolved_with_pedigree` when every fix is a
//! backport, whose pedigree the SBOM records; `resolved` when a distro
//! upgrade is involved) and whose `affects[].ref` point at the SBOM's
//! components (their bom-refs are their purls, `crate::attest::purl::purl`).
//!
//! Two shapes: [`vulnerabilities`] for embedding in the SBOM itself (local
//! refs), and [`document`], a separate VEX BOM. Trivy applies a CycloneDX
//! VEX only while scanning a CycloneDX SBOM, and only through BOM-Links
//! (`urn:cdx:<serial>/<version>#<bom-ref>`) naming that SBOM's serial
//! number and version, so [`document`] writes BOM-Links when it is given
//! [`BomLink`]. One entry per vulnerability id: Trivy takes the first entry
//! with a matching id and ignores the rest. `docs/vex.md`.

use super::openvex::{Fixed, fixed_by_vulnerability, notes};
use super::purl::image_purl;
use super::{Epoch, Error, ImageSubject, to_bytes, uuid_of};
use crate::inventory::Inventory;
use crate::recipe::{PatchType, Vulnerability};
use crate::record::PatchRecord;
use serde_json::{Value, json};
use std::collections::BTreeSet;

/// The SBOM a separate VEX document points into.
#[derive(Clone, Copy, Debug)]
pub struct BomLink<'a> {
    /// Its `serialNumber`, `urn:uuid:<uuid>`.
    pub serial_number: &'a str,
    /// Its `version`.
    pub version: u32,
}

/// What the VEX is made from.
pub struct CdxVexInput<'a> {
    /// The patched image.
    pub image: &'a ImageSubject<'a>,
    /// Its patch records.
    pub records: &'a [PatchRecord],
    /// Its inventory, the one its SBOM was made from.
    pub inventory: &'a Inventory,
    /// Known vulnerability details, for aliases.
    pub vulnerabilities: &'a [Vulnerability],
    /// When the analysis was issued.
    pub timestamp: Epoch,
    /// For [`document`]: the SBOM to link to; without it the document lists
    /// the affected components itself and refers to them locally.
    pub sbom: Option<BomLink<'a>>,
}

/// `url.QueryEscape` as Go (cyclonedx-go, so Trivy) unescapes it: the
/// bom-ref comes back byte for byte, `%2B` in a purl included.
fn query_escape(s: &str) -> String {
    use percent_encoding::{AsciiSet, NON_ALPHANUMERIC, utf8_percent_encode};
    // Go leaves these unescaped; a space becomes `+`.
    const QUERY: &AsciiSet = &NON_ALPHANUMERIC
        .remove(b'-')
        .remove(b'_')
        .remove(b'.')
        .remove(b'~');
    utf8_percent_encode(s, QUERY)
        .to_string()
        .replace("%20", "+")
}

fn source(id: &str) -> Option<Value> {
    if id.starts_with("CVE-") {
        Some(json!({"name": "NVD", "url": format!("https://nvd.nist.gov/vuln/detail/{id}")}))
    } else if id.starts_with("GHSA-") {
        Some(json!({"name": "GitHub", "url": format!("https://github.com/advisories/{id}")}))
    } else {
        None
    }
}

fn entries(
    input: &CdxVexInput<'_>,
    reference: &dyn Fn(&str) -> String,
) -> Result<Vec<Value>, Error> {
    let by_vuln = fixed_by_vulnerability(input.records, input.inventory)?;
    let ts = input.timestamp.rfc3339();
    Ok(by_vuln
        .iter()
        .map(|(id, fixed): (&&str, &Vec<Fixed<'_>>)| {
            let all_backports = fixed
                .iter()
                .all(|f| f.record.patch_type == PatchType::Backport);
            let state = if all_backports {
                "resolved_with_pedigree"
            } else {
                "resolved"
            };
            let affects: BTreeSet<(String, String)> = fixed
                .iter()
                .map(|f| {
                    (
                        crate::attest::purl::purl(f.package, input.inventory),
                        f.package.version.clone(),
                    )
                })
                .collect();
            let affects: Vec<Value> = affects
                .into_iter()
                .map(|(bom_ref, version)| {
                    json!({"ref": reference(&bom_ref), "versions": [{"version": version, "status": "unaffected"}]})
                })
                .collect();
            let mut v = json!({
                "bom-ref": format!("vulnerability:{id}"),
                "id": id,
            });
            if let Some(s) = source(id) {
                v["source"] = s;
            }
            let aliases: BTreeSet<&str> = input
                .vulnerabilities
                .iter()
                .filter(|x| x.id == **id)
                .flat_map(|x| x.aliases.iter().map(String::as_str))
                .filter(|a| a != id)
                .collect();
            if !aliases.is_empty() {
                v["references"] = Value::Array(
                    aliases
                        .iter()
                        .map(|a| {
                            json!({"id": a, "source": source(a).unwrap_or_else(|| json!({"name": "other"}))})
                        })
                        .collect(),
                );
            }
            v["analysis"] = json!({
                "state": state,
                "detail": notes(fixed),
                "firstIssued": ts,
                "lastUpdated": ts,
            });
            v["affects"] = Value::Array(affects);
            v
        })
        .collect())
}

/// The `vulnerabilities` array to embed in the image's own CycloneDX SBOM,
/// `affects[].ref` being the SBOM components' bom-refs.
pub fn vulnerabilities(input: &CdxVexInput<'_>) -> Result<Vec<Value>, Error> {
    entries(input, &|r| r.to_owned())
}

/// A separate CycloneDX 1.6 VEX BOM about the image. Deterministic: the
/// serial number derives from the image digests and the content.
pub fn document(input: &CdxVexInput<'_>) -> Result<Value, Error> {
    let first = input.image.digests.first().ok_or(Error::NoDigest)?;
    let image = image_purl(
        input.image.name,
        first.as_str(),
        input.image.repository,
        input.image.arch,
    );
    let vulns = match input.sbom {
        Some(link) => {
            let serial = link
                .serial_number
                .strip_prefix("urn:uuid:")
                .unwrap_or(link.serial_number)
                .to_owned();
            let version = link.version;
            entries(input, &move |r| {
                format!("urn:cdx:{serial}/{version}#{}", query_escape(r))
            })?
        }
        None => vulnerabilities(input)?,
    };
    if vulns.is_empty() {
        return Err(Error::NothingFixed);
    }
    let mut doc = json!({
        "bomFormat": "CycloneDX",
        "specVersion": "1.6",
        "version": 1,
        "metadata": {
            "timestamp": input.timestamp.rfc3339(),
            "tools": {"components": [{"type": "application", "name": "rootwasm", "version": env!("CARGO_PKG_VERSION")}]},
            "component": {"type": "container", "bom-ref": image, "name": input.image.name, "version": first.as_str(), "purl": image},
        },
    });
    if input.sbom.is_none() {
        // Local refs must resolve inside this document.
        let fixed = fixed_by_vulnerability(input.records, input.inventory)?;
        let components: BTreeSet<(String, &str, &str)> = fixed
            .values()
            .flatten()
            .map(|f| {
                (
                    crate::attest::purl::purl(f.package, input.inventory),
                    f.package.name.as_str(),
                    f.package.version.as_str(),
                )
            })
            .collect();
        doc["components"] = Value::Array(
            components
                .into_iter()
                .map(|(purl, name, version)| {
                    json!({"type": "library", "bom-ref": purl, "name": name, "version": version, "purl": purl})
                })
                .collect(),
        );
    }
    doc["vulnerabilities"] = Value::Array(vulns);
    let digests: Vec<&[u8]> = input
        .image
        .digests
        .iter()
        .map(|d| d.as_str().as_bytes())
        .collect();
    let body = to_bytes(&doc);
    let mut parts = vec![b"rootwasm cyclonedx vex".as_slice(), body.as_slice()];
    parts.extend(digests);
    doc["serialNumber"] = json!(format!("urn:uuid:{}", uuid_of(&parts)));
    Ok(doc)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::attest::fixtures;

    /// What Go's `url.QueryEscape` writes (cyclonedx-go unescapes it).
    #[test]
    fn query_escape_is_gos() {
        assert_eq!(
            query_escape("pkg:deb/debian/libc6@2.36-9+deb12u7?arch=amd64&x=a b~"),
            "pkg%3Adeb%2Fdebian%2Flibc6%402.36-9%2Bdeb12u7%3Farch%3Damd64%26x%3Da+b~"
        );
    }

    #[test]
    fn derived_uuids_are_version_5() {
        let u = crate::attest::uuid_of(&[b"a", b"b"]);
        assert_eq!(u.get_version_num(), 5);
        assert_eq!(u, crate::attest::uuid_of(&[b"a", b"b"]));
        assert_ne!(u, crate::attest::uuid_of(&[b"ab"]));
    }
    use crate::image::model::Digest;

    fn input<'a>(
        img: &'a ImageSubject<'a>,
        recs: &'a [PatchRecord],
        inv: &'a Inventory,
        vulns: &'a [Vulnerability],
        sbom: Option<BomLink<'a>>,
    ) -> CdxVexInput<'a> {
        CdxVexInput {
            image: img,
            records: recs,
            inventory: inv,
            vulnerabilities: vulns,
            timestamp: Epoch(1_700_000_000),
            sbom,
        }
    }

    #[test]
    fn states_follow_the_patch_type_and_refs_are_the_sbom_bom_refs() {
        let (inv, recs, vulns) = (
            fixtures::inventory(),
            fixtures::records(),
            fixtures::vulnerabilities(),
        );
        let img = ImageSubject {
            name: "app",
            repository: None,
            tag: None,
            arch: None,
            digests: vec![Digest::of(b"m")],
        };
        let v = vulnerabilities(&input(&img, &recs, &inv, &vulns, None)).unwrap();
        let ids: Vec<&str> = v.iter().map(|x| x["id"].as_str().unwrap()).collect();
        assert_eq!(ids, ["CVE-2024-10041", "CVE-2024-45490", "CVE-2024-45491"]);
        assert_eq!(v[0]["analysis"]["state"], "resolved");
        assert_eq!(v[1]["analysis"]["state"], "resolved_with_pedigree");
        assert_eq!(v[1]["references"][0]["id"], "GHSA-xxxx-yyyy-zzzz");
        let refs: Vec<&str> = v[1]["affects"]
            .as_array()
            .unwrap()
            .iter()
            .map(|a| a["ref"].as_str().unwrap())
            .collect();
        let expat = inv.packages.iter().find(|p| p.name == "libexpat1").unwrap();
        assert!(
            refs.contains(&crate::attest::purl::purl(expat, &inv).as_str()),
            "{refs:?}"
        );
        assert_eq!(refs.len(), 2);
        // Standalone without a link: the referenced components are in the document.
        let d = document(&input(&img, &recs, &inv, &vulns, None)).unwrap();
        let bom_refs: Vec<&str> = d["components"]
            .as_array()
            .unwrap()
            .iter()
            .map(|c| c["bom-ref"].as_str().unwrap())
            .collect();
        for r in refs {
            assert!(bom_refs.contains(&r));
        }
    }

    #[test]
    fn bom_links_round_trip_through_go_query_unescaping() {
        let (inv, recs) = (fixtures::inventory(), fixtures::records());
        let img = ImageSubject {
            name: "app",
            repository: None,
            tag: None,
            arch: None,
            digests: vec![Digest::of(b"m")],
        };
        let serial = "urn:uuid:3e671687-395b-41f5-a30f-a58921a69b79";
        let d = document(&input(
            &img,
            &recs,
            &inv,
            &[],
            Some(BomLink {
                serial_number: serial,
                version: 1,
            }),
        ))
        .unwrap();
        assert!(d.get("components").is_none());
        let r = d["vulnerabilities"][0]["affects"][0]["ref"]
            .as_str()
            .unwrap();
        let prefix = "urn:cdx:3e671687-395b-41f5-a30f-a58921a69b79/1#";
        assert!(r.starts_with(prefix), "{r}");
        // Unescape as Go's url.QueryUnescape does.
        let frag = &r[prefix.len()..];
        let mut out = Vec::new();
        let b = frag.as_bytes();
        let mut i = 0;
        while i < b.len() {
            match b[i] {
                b'%' => {
                    out.push(u8::from_str_radix(&frag[i + 1..i + 3], 16).unwrap());
                    i += 3;
                }
                b'+' => {
                    out.push(b' ');
                    i += 1;
                }
                c => {
                    out.push(c);
                    i += 1;
                }
            }
        }
        let pam = inv.packages.iter().find(|p| p.name == "libpam0g").unwrap();
        assert_eq!(
            String::from_utf8(out).unwrap(),
            crate::attest::purl::purl(pam, &inv)
        );
    }

    #[test]
    fn deterministic() {
        let (inv, recs) = (fixtures::inventory(), fixtures::records());
        let img = ImageSubject {
            name: "app",
            repository: None,
            tag: None,
            arch: None,
            digests: vec![Digest::of(b"m")],
        };
        let a = document(&input(&img, &recs, &inv, &[], None)).unwrap();
        let b = document(&input(&img, &recs, &inv, &[], None)).unwrap();
        assert_eq!(to_bytes(&a), to_bytes(&b));
        let other = ImageSubject {
            digests: vec![Digest::of(b"n")],
            ..img.clone()
        };
        let c = document(&input(&other, &recs, &inv, &[], None)).unwrap();
        assert_ne!(a["serialNumber"], c["serialNumber"]);
    }
}
