//! Package URLs as scanners write them, for VEX subcomponents and products.
//!
//! The SBOM's purls carry every qualifier we know (`arch`, `distro`,
//! `upstream`). VEX purls must not: Trivy and Grype (through go-vex's
//! `PurlMatches`) treat every qualifier in the VEX purl as a constraint the
//! scanned purl must repeat byte for byte, and the scanners spell `distro`
//! differently (`debian-12.9` from `/etc/debian_version` in Trivy,
//! `debian-12` from os-release in Syft). So these purls are type,
//! namespace, name and installed version, nothing else. `docs/vex.md`.

use crate::image::model::Digest;
use crate::inventory::{Inventory, Package};

/// The purls scanners report for an installed package, without qualifiers.
///
/// A deb version with an epoch gets two: Syft (and so Grype) keeps the
/// epoch in the version (`1:1.5.2-6`), Trivy moves it to an `epoch`
/// qualifier and leaves it out of the version.
pub fn scanner_purls(p: &Package, inv: &Inventory) -> Vec<String> {
    let one = |version: &str, epoch: Option<&str>| -> Option<String> {
        let (ty, namespace, name) = match p.ecosystem.as_str() {
            "deb" => {
                let vendor = inv
                    .os
                    .as_ref()
                    .map(|o| o.id.as_str())
                    .filter(|id| !id.is_empty())
                    .unwrap_or("debian");
                ("deb", Some(vendor.to_owned()), p.name.clone())
            }
            "npm" => match p.name.split_once('/') {
                Some((s, n)) if s.starts_with('@') => ("npm", Some(s.to_owned()), n.to_owned()),
                _ => ("npm", None, p.name.clone()),
            },
            other => (other, None, p.name.clone()),
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
    if p.ecosystem == "deb"
        && let Some((epoch, rest)) = p.version.split_once(':')
        && !epoch.is_empty()
        && epoch.bytes().all(|b| b.is_ascii_digit())
    {
        out.extend(one(rest, Some(epoch)));
    }
    out
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
