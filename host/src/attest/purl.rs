//! Package URLs: the SBOM's ([`purl`]) and the ones scanners write, for VEX
//! subcomponents and products ([`scanner_purls`], [`oci_purl`]).
//!
//! The SBOM's purls carry every qualifier we know (`arch`, `distro`,
//! `upstream`). VEX purls must not: Trivy and Grype (through go-vex's
//! `PurlMatches`) treat every qualifier in the VEX purl as a constraint the
//! scanned purl must repeat byte for byte, and the scanners spell `distro`
//! differently (`debian-12.9` from `/etc/debian_version` in Trivy,
//! `debian-12` from os-release in Syft). So these purls are type,
//! namespace, name and installed version, nothing else. `docs/vex.md`.

use crate::ecosystem::Ecosystem;
use crate::image::model::Digest;
use crate::inventory::{Inventory, Package};

/// The purls scanners report for an installed package, without qualifiers.
///
/// A deb version with an epoch gets two: Syft (and so Grype) keeps the
/// epoch in the version (`1:1.5.2-6`), Trivy moves it to an `epoch`
/// qualifier and leaves it out of the version.
pub fn scanner_purls(p: &Package, inv: &Inventory) -> Vec<String> {
    let one = |version: &str, epoch: Option<&str>| -> Option<String> {
        let (ty, namespace, name) = match p.ecosystem {
            Ecosystem::Deb => {
                let vendor = inv
                    .os
                    .as_ref()
                    .map(|o| o.id.as_str())
                    .filter(|id| !id.is_empty())
                    .unwrap_or("debian");
                ("deb", Some(vendor.to_owned()), p.name.clone())
            }
            Ecosystem::Npm => match p.name.split_once('/') {
                Some((s, n)) if s.starts_with('@') => ("npm", Some(s.to_owned()), n.to_owned()),
                _ => ("npm", None, p.name.clone()),
            },
            other => (other.as_str(), None, p.name.clone()),
        };
        let mut u = packageurl::PackageUrl::new(ty, name).ok()?;
        if let Some(ns) = &namespace {
            u.with_namespace(ns.as_str()).ok()?;
        }
        u.with_version(version).ok()?;
        if let Some(e) = epoch {
            u.add_qualifier("epoch", e).ok()?;
        }
        Some(u.to_string())
    };
    let mut out = Vec::new();
    out.extend(one(&p.version, None));
    if p.ecosystem == Ecosystem::Deb
        && let Some((epoch, rest)) = p.version.split_once(':')
        && !epoch.is_empty()
        && epoch.bytes().all(|b| b.is_ascii_digit())
    {
        out.extend(one(rest, Some(epoch)));
    }
    out
}

/// A distro package's purl: `pkg:<ty>/<os id>/<name>@<version>` with arch, distro and upstream.
fn distro_purl(
    ty: &str,
    default_vendor: Option<&str>,
    p: &Package,
    version: &str,
    epoch: Option<&str>,
    inv: &Inventory,
) -> Result<String, packageurl::Error> {
    let os = inv.os.as_ref();
    let vendor = os
        .map(|o| o.id.as_str())
        .filter(|id| !id.is_empty())
        .or(default_vendor);
    let mut u = packageurl::PackageUrl::new(ty, p.name.as_str())?;
    if let Some(v) = vendor {
        u.with_namespace(v)?;
    }
    u.with_version(version)?;
    if let Some(a) = &p.arch {
        u.add_qualifier("arch", a.as_str())?;
    }
    if let Some(e) = epoch {
        u.add_qualifier("epoch", e)?;
    }
    if let Some(o) = os.filter(|o| !o.version_id.is_empty()) {
        u.add_qualifier("distro", format!("{}-{}", o.id, o.version_id))?;
    }
    if let Some(src) = p.source.as_deref().filter(|s| *s != p.name) {
        u.add_qualifier("upstream", src)?;
    }
    Ok(u.to_string())
}

/// The SBOM purl of an installed package: with every qualifier we know
/// (`arch`, `distro`, `upstream`, rpm's `epoch`). Also the CycloneDX bom-ref.
pub fn purl(p: &Package, inv: &Inventory) -> String {
    let built = match p.ecosystem.as_str() {
        "deb" => distro_purl("deb", Some("debian"), p, &p.version, None, inv),
        "apk" => distro_purl("apk", Some("alpine"), p, &p.version, None, inv),
        "rpm" => {
            // The purl keeps the epoch out of the version, as a qualifier.
            let (epoch, vr) = match p.version.split_once(':') {
                Some((e, vr)) if e.bytes().all(|c| c.is_ascii_digit()) => (Some(e), vr),
                _ => (None, p.version.as_str()),
            };
            distro_purl("rpm", None, p, vr, epoch, inv)
        }
        "pypi" => {
            // The purl spec: lowercase, `_` as `-`; dots stay (unlike PEP 503).
            let name = p.name.to_ascii_lowercase().replace('_', "-");
            packageurl::PackageUrl::new("pypi", name).and_then(|mut u| {
                u.with_version(p.version.as_str())?;
                Ok(u.to_string())
            })
        }
        "npm" => {
            let (scope, name) = match p.name.split_once('/') {
                Some((s, n)) if s.starts_with('@') => (Some(s), n),
                _ => (None, p.name.as_str()),
            };
            packageurl::PackageUrl::new("npm", name).and_then(|mut u| {
                if let Some(s) = scope {
                    u.with_namespace(s)?;
                }
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

/// `pkg:oci/<name>@sha256:..`, with `repository_url` when the repository is known.
pub fn oci_purl(name: &str, digest: &Digest, repository: Option<&str>) -> String {
    let name = name.to_ascii_lowercase();
    packageurl::PackageUrl::new("oci", name.as_str())
        .and_then(|mut u| {
            u.with_version(digest.as_str())?;
            if let Some(r) = repository {
                u.add_qualifier("repository_url", r)?;
            }
            Ok(u.to_string())
        })
        .unwrap_or_else(|_| format!("pkg:oci/image@{}", digest.as_str()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::attest::fixtures;

    #[test]
    fn scanner_purls_have_no_qualifiers_and_split_the_epoch_for_trivy() {
        let inv = fixtures::inventory();
        let get = |n: &str| inv.packages.iter().find(|p| p.name == n).unwrap();
        assert_eq!(
            scanner_purls(get("libexpat1"), &inv),
            ["pkg:deb/debian/libexpat1@2.5.0-1%2Bdeb12u2"]
        );
        assert_eq!(
            scanner_purls(get("libpam0g"), &inv),
            [
                "pkg:deb/debian/libpam0g@1:1.5.2-6%2Bdeb12u1",
                "pkg:deb/debian/libpam0g@1.5.2-6%2Bdeb12u1?epoch=1"
            ]
        );
        assert_eq!(
            scanner_purls(get("Requests_Toolbelt"), &inv),
            ["pkg:pypi/requests-toolbelt@1.0.0"]
        );
    }

    #[test]
    fn oci_purl_follows_the_purl_spec() {
        let d = Digest::of(b"x");
        assert_eq!(
            oci_purl("Debian", &d, Some("index.docker.io/library/debian")),
            format!(
                "pkg:oci/debian@{}?repository_url=index.docker.io%2Flibrary%2Fdebian",
                d.as_str()
            )
        );
        assert_eq!(
            oci_purl("app", &d, None),
            format!("pkg:oci/app@{}", d.as_str())
        );
    }
}
