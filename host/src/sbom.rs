//! SBOMs: CycloneDX 1.6 and SPDX 2.3 JSON from an image's inventory.
//!
//! Package URLs follow the purl spec (built in `attest::purl` with the `packageurl` crate):
//! `pkg:deb/<distro-id>/<name>@<version>?arch=..&distro=<id>-<version>`,
//! `pkg:apk/<distro-id>/<name>@<version>?arch=..&distro=<id>-<version>`,
//! `pkg:rpm/<distro-id>/<name>@<version>-<release>?arch=..&epoch=N&distro=..`,
//! `pkg:pypi/<normalised name>@<version>`, an interpreter no OS package
//! installed as Syft names it (`pkg:generic/python@<version>`, an
//! `application` with NVD's CPE), and the image itself as
//! `pkg:oci/<name>@sha256:..?arch=..`. Declared licenses become SPDX ids or
//! expressions where they are valid ones (`crate::license`), otherwise a
//! CycloneDX license name and an SPDX `LicenseRef-`. Output is
//! deterministic: ids and timestamps come from the image, never from the
//! clock.

use crate::attest::purl::purl;
use crate::inventory::{Inventory, Package};
use crate::license::{Spdx, license_ref};
use crate::recipe::PatchType;
use crate::record::PatchRecord;
use serde_json::{Value, json};

/// What the SBOM describes.
pub struct Subject<'a> {
    /// A short image name (for the purl and document name).
    pub name: &'a str,
    /// Where it is published, if known: the purl is then Trivy's.
    pub repository: Option<&'a crate::attest::purl::Repository>,
    /// The manifest digest, `sha256:<hex>`.
    pub digest: &'a str,
    /// CPU architecture, from the config.
    pub arch: &'a str,
    /// When the image was created (RFC 3339), used as the document time.
    pub created: &'a str,
    /// The inventory.
    pub inventory: &'a Inventory,
    /// What rootwasm patched in this image, with the diff of the changed files.
    pub patches: &'a [PatchedPackage],
}

/// One patch record with the unified diff of what it changed.
pub struct PatchedPackage {
    /// The record from the image's manifest.
    pub record: PatchRecord,
    /// Unified diff (text files only; empty if none).
    pub diff: String,
}

fn patches_for<'a>(s: &'a Subject<'_>, p: &Package) -> Vec<&'a PatchedPackage> {
    s.patches
        .iter()
        .filter(|x| {
            x.record.ecosystem == p.ecosystem
                && x.record.package == p.name
                && x.record.location == p.location
        })
        .collect()
}

fn pedigree(s: &Subject<'_>, p: &Package, patched: &[&PatchedPackage]) -> Value {
    let first = &patched[0].record;
    let ancestor = Package {
        version: first.version_before.clone(),
        ..p.clone()
    };
    let ancestor_purl = purl(&ancestor, s.inventory);
    let kind = match runtime_of(s.inventory, p) {
        Some(_) => "application",
        None => "library",
    };
    let patches: Vec<Value> = patched
        .iter()
        .filter(|x| x.record.patch_type == PatchType::Backport)
        .map(|x| {
            let mut patch = json!({
                "type": "backport",
                "resolves": x.record.fixes.iter().map(|id| json!({"type": "security", "id": id})).collect::<Vec<_>>(),
            });
            if !x.diff.is_empty() {
                patch["diff"] = json!({"text": {"contentType": "text/x-diff", "content": x.diff}});
            }
            patch
        })
        .collect();
    let notes: Vec<String> = patched
        .iter()
        .map(|x| {
            let how = match x.record.patch_type {
                PatchType::Backport => "backport",
                PatchType::DistroUpgrade => "distro upgrade",
            };
            let origin = x
                .record
                .origin
                .as_deref()
                .map(|o| format!("; fix from {o}"))
                .unwrap_or_default();
            format!(
                "{how} by rootwasm recipe {} fixing {}{origin}",
                x.record.recipe,
                x.record.fixes.join(", ")
            )
        })
        .collect();
    let mut v = json!({
        "ancestors": [{"type": kind, "bom-ref": format!("{ancestor_purl}#ancestor"), "name": p.name, "version": first.version_before, "purl": ancestor_purl}],
        "notes": notes.join("\n"),
    });
    if !patches.is_empty() {
        v["patches"] = Value::Array(patches);
    }
    v
}

/// The image's purl: the one Trivy builds and the VEX names
/// (`attest::purl::image_purl`).
pub fn image_purl(s: &Subject<'_>) -> String {
    crate::attest::purl::image_purl(s.name, s.digest, s.repository, Some(s.arch))
}

/// The `operating-system` component Syft writes (name = os-release `ID`,
/// version = `VERSION_ID`): Trivy takes the OS family and version of an
/// SBOM from it alone (`pkg/sbom/io/decode.go`), and without it finds no
/// vulnerabilities in OS packages. Its bom-ref, with the OS packages as
/// its dependencies.
fn os_component(s: &Subject<'_>) -> Option<(String, Value)> {
    let os = s.inventory.os.as_ref().filter(|o| !o.id.is_empty())?;
    let bom_ref = format!("os:{}@{}", os.id, os.version_id);
    let mut c = json!({"type": "operating-system", "bom-ref": bom_ref, "name": os.id});
    if !os.version_id.is_empty() {
        c["version"] = json!(os.version_id);
    }
    Some((bom_ref, c))
}

/// For an interpreter no OS package installed (an official image's
/// `/usr/local` build, a `generic` package in the inventory), its CPE as
/// Syft writes it (`attest::purl::runtime_ids`); `None` for anything else.
fn runtime_of(inv: &Inventory, p: &Package) -> Option<Option<String>> {
    inv.runtimes
        .iter()
        .find(|r| {
            p.ecosystem == crate::ecosystem::Ecosystem::Generic
                && r.package.is_none()
                && r.name == p.name
                && r.location == p.location
        })
        .map(|r| crate::attest::purl::runtime_ids(r).1)
}

fn uuid_from(digest: &str) -> uuid::Uuid {
    crate::attest::uuid_of(&[digest.as_bytes()])
}

/// CycloneDX 1.6 JSON.
pub fn cyclonedx(s: &Subject<'_>) -> Value {
    let image = image_purl(s);
    let mut components: Vec<Value> = s
        .inventory
        .packages
        .iter()
        .map(|p| {
            let purl = purl(p, s.inventory);
            let runtime = runtime_of(s.inventory, p);
            let mut c = json!({
                "type": if runtime.is_some() { "application" } else { "library" },
                "bom-ref": purl,
                "name": p.name,
                "version": p.version,
                "purl": purl,
                "properties": [{"name": "rootwasm:location", "value": p.location}],
            });
            if let Some(l) = cyclonedx_licenses(&p.licenses) {
                c["licenses"] = l;
            }
            if let Some(Some(cpe)) = runtime {
                c["cpe"] = json!(cpe);
            }
            let patched = patches_for(s, p);
            if !patched.is_empty() {
                c["pedigree"] = pedigree(s, p, &patched);
            }
            c
        })
        .collect();
    let mut refs: Vec<String> = components
        .iter()
        .filter_map(|c| c["bom-ref"].as_str().map(str::to_owned))
        .collect();
    refs.dedup();
    let mut dependencies = Vec::new();
    if let Some((os_ref, os)) = os_component(s) {
        let mut os_pkgs: Vec<String> = s
            .inventory
            .packages
            .iter()
            .filter(|p| matches!(p.ecosystem.as_str(), "deb" | "apk" | "rpm"))
            .map(|p| purl(p, s.inventory))
            .collect();
        os_pkgs.dedup();
        components.insert(0, os);
        dependencies.push(json!({"ref": os_ref, "dependsOn": os_pkgs}));
        refs.insert(0, os_ref);
    }
    dependencies.insert(0, json!({"ref": image, "dependsOn": refs}));
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
        "dependencies": dependencies,
    })
}

/// CycloneDX licenses: ids and names, or one expression alone (the schema allows no mix).
fn cyclonedx_licenses(declared: &[String]) -> Option<Value> {
    let classified: Vec<Spdx> = declared.iter().map(|l| Spdx::of(l)).collect();
    if let [Spdx::Expression(e)] = classified.as_slice() {
        return Some(json!([{"expression": e}]));
    }
    let items: Vec<Value> = declared
        .iter()
        .zip(&classified)
        .map(|(l, c)| match c {
            Spdx::Id(id) => json!({"license": {"id": id}}),
            _ => json!({"license": {"name": l}}),
        })
        .collect();
    (!items.is_empty()).then_some(Value::Array(items))
}

/// An SPDX `licenseDeclared`: the declared licenses ANDed, names as
/// `LicenseRef-`s recorded in `refs` (id to declared text) for the document.
fn spdx_declared(
    declared: &[String],
    refs: &mut std::collections::BTreeMap<String, String>,
) -> String {
    let parts: Vec<String> = declared
        .iter()
        .map(|l| match Spdx::of(l) {
            Spdx::Id(id) => id,
            Spdx::Expression(e) => format!("({e})"),
            Spdx::Name(n) => {
                let id = license_ref(&n);
                refs.entry(id.clone()).or_insert(n);
                id
            }
        })
        .collect();
    match parts.len() {
        0 => "NOASSERTION".into(),
        1 => match Spdx::of(&declared[0]) {
            Spdx::Expression(e) => e,
            _ => parts[0].clone(),
        },
        _ => parts.join(" AND "),
    }
}

fn spdx_id(i: usize) -> String {
    format!("SPDXRef-Package-{i}")
}

/// What rootwasm did to `p`, as SPDX annotations (none if nothing).
fn spdx_annotations(s: &Subject<'_>, p: &Package) -> Option<Value> {
    let patched = patches_for(s, p);
    if patched.is_empty() {
        return None;
    }
    let notes: Vec<String> = patched
        .iter()
        .map(|x| {
            format!(
                "rootwasm {}: recipe {} fixed {} (version {} -> {})",
                if x.record.patch_type == PatchType::Backport {
                    "backport"
                } else {
                    "distro upgrade"
                },
                x.record.recipe,
                x.record.fixes.join(", "),
                x.record.version_before,
                x.record.version_after
            )
        })
        .collect();
    Some(json!([{
        "annotationDate": s.created,
        "annotationType": "OTHER",
        "annotator": format!("Tool: rootwasm-{}", env!("CARGO_PKG_VERSION")),
        "comment": notes.join("\n"),
    }]))
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
    let mut refs = std::collections::BTreeMap::new();
    for (i, p) in s.inventory.packages.iter().enumerate() {
        let runtime = runtime_of(s.inventory, p);
        let mut external = vec![
            json!({"referenceCategory": "PACKAGE-MANAGER", "referenceType": "purl", "referenceLocator": purl(p, s.inventory)}),
        ];
        if let Some(Some(cpe)) = &runtime {
            external.push(json!({"referenceCategory": "SECURITY", "referenceType": "cpe23Type", "referenceLocator": cpe}));
        }
        packages.push(json!({
            "name": p.name,
            "SPDXID": spdx_id(i),
            "versionInfo": p.version,
            "downloadLocation": "NOASSERTION",
            "filesAnalyzed": false,
            "licenseDeclared": spdx_declared(&p.licenses, &mut refs),
            "licenseConcluded": "NOASSERTION",
            "copyrightText": "NOASSERTION",
            "sourceInfo": format!("found at {}", p.location),
            "externalRefs": external,
        }));
        if runtime.is_some() {
            packages.last_mut().expect("just pushed")["primaryPackagePurpose"] =
                json!("APPLICATION");
        }
        if let Some(a) = spdx_annotations(s, p) {
            packages.last_mut().expect("just pushed")["annotations"] = a;
        }
        relationships.push(json!({"spdxElementId": "SPDXRef-Image", "relationshipType": "CONTAINS", "relatedSpdxElement": spdx_id(i)}));
    }
    let extracted: Vec<Value> = refs
        .iter()
        .map(|(id, name)| json!({"licenseId": id, "name": name, "extractedText": format!("Declared by the package as: {name}")}))
        .collect();
    let mut doc = json!({
        "spdxVersion": "SPDX-2.3",
        "dataLicense": "CC0-1.0",
        "SPDXID": "SPDXRef-DOCUMENT",
        "name": format!("{}@{}", s.name, s.digest),
        "documentNamespace": format!("https://rootwasm.invalid/spdx/{}", uuid_from(s.digest)),
        "creationInfo": {"created": s.created, "creators": [format!("Tool: rootwasm-{}", env!("CARGO_PKG_VERSION"))]},
        "packages": packages,
        "relationships": relationships,
    });
    if !extracted.is_empty() {
        doc["hasExtractedLicensingInfos"] = Value::Array(extracted);
    }
    doc
}

/// Every layer of a platform rootwasm did not patch, for its inventory.
fn read_unpatched(
    store: &dyn crate::image::source::BlobStore,
    docs: &crate::image::view::Docs,
    read: &crate::image::view::ReadOptions<'_>,
) -> Result<crate::image::merge::Merged, crate::image::ImageError> {
    use crate::image::view::{Capture, read_layers};
    let mut merged = crate::image::merge::Merged::with_limits(read.limits);
    let capture = Capture::new(crate::inventory::FILES.iter().copied()).expect("valid globs");
    let m = &docs.manifest;
    read_layers(
        store,
        &m.layers,
        &docs.diff_ids,
        0,
        &capture,
        &mut merged,
        read,
    )?;
    Ok(merged)
}

/// Read a platform for an SBOM. For an image rootwasm patched, also return
/// each patch record with the unified diff of the text files it changed
/// (base layers against the patch layer).
pub fn read_platform(
    store: &dyn crate::image::source::BlobStore,
    docs: &crate::image::view::Docs,
    read: &crate::image::view::ReadOptions<'_>,
) -> Result<(crate::image::merge::Merged, Vec<PatchedPackage>), crate::image::ImageError> {
    use crate::image::layer::{EntryKind, read_layer};
    use crate::image::merge::Merged;
    use crate::image::view::{Capture, read_layers};

    let m = &docs.manifest;
    let records = crate::record::records(m.annotations.as_ref());
    let files = crate::inventory::FILES.iter().copied();
    let patch = crate::image::mutate::patch_layer(m, &docs.config);
    let Some(n) = patch.filter(|_| !records.is_empty()) else {
        return Ok((read_unpatched(store, docs, read)?, Vec::new()));
    };
    // Only a backport's pedigree carries a diff: only files a backported
    // package may own are captured, none of a distro upgrade's (often
    // large, binary) files.
    let backports: Vec<&PatchRecord> = (records.iter())
        .filter(|r| r.patch_type == PatchType::Backport)
        .collect();
    let diffed = |p: &str| backports.iter().any(|r| belongs(r, p));
    let inventory_files = Capture::new(files.clone()).expect("valid globs");
    let last = &m.layers[n];
    (read.progress)(&format!("reading patch layer {}", last.digest));
    let idx = read_layer(
        store.open(&last.digest)?,
        last,
        &docs.diff_ids[n],
        &read.limits,
        &|p| diffed(p.as_str()) || inventory_files.wants(p),
    )?;
    let mut changed: Vec<String> = idx
        .entries
        .iter()
        .filter(|e| matches!(e.kind, EntryKind::File { .. }))
        .map(|e| e.path.as_str().to_owned())
        .collect();
    changed.sort();
    // Literal paths as globs; a path with glob syntax in it is simply not diffed.
    let literal: Vec<&str> = changed
        .iter()
        .map(String::as_str)
        .filter(|p| diffed(p) && rootwasm_glob::Glob::new(p).is_ok())
        .collect();
    let capture = Capture::new(files.chain(literal.iter().copied())).expect("valid globs");
    let mut base = Merged::with_limits(read.limits);
    read_layers(
        store,
        &m.layers[..n],
        &docs.diff_ids[..n],
        0,
        &capture,
        &mut base,
        read,
    )?;
    let mut full = base.clone();
    full.apply(n, last.digest.as_str(), idx)?;
    let out = records
        .into_iter()
        .map(|record| PatchedPackage {
            diff: match record.patch_type {
                PatchType::Backport => record_diff(&record, &changed, &base, &full),
                PatchType::DistroUpgrade => String::new(),
            },
            record,
        })
        .collect();
    Ok((full, out))
}

/// Whether the changed file `path` can be `record`'s package's, from where
/// each kind of install keeps its files (as `lang-backport` finds them): a
/// Python distribution's beside its dist-info (not the dist-info itself);
/// an npm package's beside its package.json; a gem's in
/// `gems/<name>-<version>/`; a Python runtime's standard library in
/// `<prefix>/lib/python3.X/` (not its site-packages). Any file for the rest
/// (a dpkg package's are wherever it installs them).
fn belongs(record: &PatchRecord, path: &str) -> bool {
    use crate::ecosystem::Ecosystem;
    let loc = record.location.as_str();
    let parent = |p: &str| p.rsplit_once('/').map_or("", |(d, _)| d).to_owned();
    let under = |dir: &str| path.starts_with(&format!("{dir}/"));
    match record.ecosystem {
        Ecosystem::Pypi => under(&parent(loc)) && !under(loc),
        Ecosystem::Npm => under(&parent(loc)),
        Ecosystem::Gem => {
            let stem = loc.rsplit('/').next().unwrap_or(loc);
            let stem = stem.strip_suffix(".gemspec").unwrap_or(stem);
            under(&format!("{}/gems/{stem}", parent(&parent(loc))))
        }
        Ecosystem::Generic if record.package == "python" => {
            let include = parent(loc);
            let Some((prefix, abi)) = include.rsplit_once("/include/") else {
                return false;
            };
            let stdlib = format!("{prefix}/lib/{abi}");
            under(&stdlib)
                && !under(&format!("{stdlib}/site-packages"))
                && !under(&format!("{stdlib}/dist-packages"))
        }
        _ => true,
    }
}

/// The unified diff of the text files the patch layer changed that belong
/// to `record`'s package.
fn record_diff(
    record: &PatchRecord,
    changed: &[String],
    base: &crate::image::merge::Merged,
    full: &crate::image::merge::Merged,
) -> String {
    use crate::rootfs::{RootPath, RootView};
    let text = |view: &crate::image::merge::Merged, p: &str| -> Option<String> {
        let rp = RootPath::lexical(p).ok()?;
        String::from_utf8(view.read(&rp).ok()?).ok()
    };
    let mut diff = String::new();
    for p in changed {
        // The package database's own bookkeeping (md5sums, status) is not the fix.
        if p.starts_with("/var/lib/dpkg/") || !belongs(record, p) {
            continue;
        }
        let (Some(before), Some(after)) = (text(base, p), text(full, p)) else {
            continue;
        };
        if before == after {
            continue;
        }
        let patch = diffy::create_patch(&before, &after).to_string();
        let hunks = patch
            .split_once("\n+++ ")
            .and_then(|(_, rest)| rest.split_once('\n'))
            .map_or("", |(_, h)| h);
        diff.push_str(&format!("--- a{p}\n+++ b{p}\n{hunks}"));
    }
    diff
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pkg(ecosystem: &str, name: &str, version: &str) -> Package {
        Package {
            ecosystem: ecosystem.parse().unwrap(),
            name: name.into(),
            version: version.into(),
            arch: None,
            source: None,
            licenses: Vec::new(),
            location: "/x".into(),
        }
    }

    #[test]
    fn pypi_purls_follow_the_purl_spec() {
        let inv = Inventory::default();
        // Lowercase, `_` as `-`, dots kept (the purl spec, not PEP 503).
        assert_eq!(
            purl(&pkg("pypi", "Zope.Interface_Ext", "5.4.0"), &inv),
            "pkg:pypi/zope.interface-ext@5.4.0"
        );
        assert_eq!(
            purl(&pkg("npm", "@types/node", "20.1.0"), &inv),
            "pkg:npm/%40types/node@20.1.0"
        );
    }
}
