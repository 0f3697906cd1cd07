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

/// An interpreter's purl and CPE as Syft's binary classifiers write them
/// (`syft/pkg/cataloger/binary/classifiers.go`: `pkg:generic/node@…` with
/// `cpe:2.3:a:nodejs:node.js:…`, `python` with `python:python`, `ruby`
/// with `ruby-lang:ruby`): Grype matches such a package by its CPE.
pub fn runtime_ids(r: &crate::inventory::Runtime) -> (String, Option<String>) {
    let purl = packageurl::PackageUrl::new("generic", r.name.as_str())
        .and_then(|mut u| {
            u.with_version(r.version.as_str())?;
            Ok(u.to_string())
        })
        .unwrap_or_else(|_| format!("pkg:generic/{}@{}", r.name, r.version));
    let product = match r.name.as_str() {
        "node" => Some("nodejs:node.js"),
        "python" => Some("python:python"),
        "ruby" => Some("ruby-lang:ruby"),
        _ => None,
    };
    // A CPE version escapes nothing but these; runtime versions are digits and dots.
    let cpe = product
        .filter(|_| {
            r.version
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'.')
        })
        .map(|p| format!("cpe:2.3:a:{p}:{}:*:*:*:*:*:*:*", r.version));
    (purl, cpe)
}

/// Where an image is published, as a scanner names it: go-containerregistry's
/// `name.Repository` (`index.docker.io/library/debian`,
/// `127.0.0.1:5000/acme/app`), plus the spelling the user gave, which is
/// what Syft, and so Grype, use as the image's name.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Repository {
    given: String,
    registry: String,
    path: String,
}

impl Repository {
    /// Parse `[registry/]path` as go-containerregistry's `name.NewRepository`
    /// does: a first element with a `.` or `:`, or `localhost`, is the
    /// registry, else Docker Hub (`index.docker.io`, `library/` for a
    /// single element); `docker.io` is `index.docker.io`. A tag or digest
    /// is refused: pass it separately.
    pub fn parse(s: &str) -> Result<Self, String> {
        let bad = |why: &str| format!("repository {s:?}: {why}");
        if s.contains('@') {
            return Err(bad(
                "has a digest; give the repository alone, e.g. ghcr.io/acme/app",
            ));
        }
        let (first, rest) = s.split_once('/').unwrap_or(("", s));
        let is_registry = first.contains(['.', ':']) || first == "localhost";
        let (registry, path) = if is_registry {
            (first, rest)
        } else {
            ("index.docker.io", s)
        };
        if path
            .rsplit('/')
            .next()
            .is_some_and(|last| last.contains(':'))
        {
            return Err(bad(
                "has a tag; give the repository alone, e.g. ghcr.io/acme/app",
            ));
        }
        let registry = if registry == "docker.io" {
            "index.docker.io"
        } else {
            registry
        };
        let path = if registry == "index.docker.io" && !path.contains('/') {
            format!("library/{path}")
        } else {
            path.to_owned()
        };
        // go-containerregistry's repository grammar: lowercase components
        // separated by `/`, each [a-z0-9] runs joined by `.`, `_`, `__` or `-`s.
        let ok = |c: &str| {
            !c.is_empty()
                && c.bytes()
                    .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b"._-".contains(&b))
                && c.as_bytes()[0].is_ascii_alphanumeric()
                && c.as_bytes()[c.len() - 1].is_ascii_alphanumeric()
        };
        if !path.split('/').all(ok) {
            return Err(bad(
                "each path element must be lowercase letters, digits and . _ - (as registries require)",
            ));
        }
        Ok(Repository {
            given: s.to_owned(),
            registry: registry.to_owned(),
            path,
        })
    }

    /// `registry/path`: Trivy's `repository_url` (`name.Repository.Name()`).
    pub fn name(&self) -> String {
        format!("{}/{}", self.registry, self.path)
    }

    /// The last path element: the purl name both scanners use.
    pub fn last(&self) -> &str {
        self.path.rsplit('/').next().unwrap_or(&self.path)
    }

    /// As the user wrote it.
    pub fn given(&self) -> &str {
        &self.given
    }
}

/// Where an image is published: `--repository <registry/path>[:<tag>]`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Published {
    /// The repository.
    pub repository: Repository,
    /// The tag, if given.
    pub tag: Option<String>,
}

impl std::str::FromStr for Published {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, String> {
        let (repo, tag) = match s.rsplit_once(':') {
            Some((r, t)) if !t.contains('/') && !r.is_empty() => (r, Some(t)),
            _ => (s, None),
        };
        // A tag per the distribution spec.
        if let Some(t) = tag {
            let ok = t.len() <= 128
                && t.bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b"._-".contains(&b))
                && !t.starts_with(['.', '-']);
            if !ok {
                return Err(format!(
                    "tag {t:?} in {s:?}: up to 128 letters, digits, '.', '_' and '-', not starting with '.' or '-'"
                ));
            }
        }
        Ok(Published {
            repository: Repository::parse(repo)?,
            tag: tag.map(str::to_owned),
        })
    }
}

/// `pkg:oci/<name>@sha256:..`, qualifier-free: go-vex's `PurlMatches` finds
/// it in any scanned purl of that digest, whatever `repository_url` or
/// `arch` the scanner spells.
pub fn oci_purl(name: &str, digest: &str) -> String {
    image_purl(name, digest, None, None)
}

/// The purl Trivy builds for an image it pulled (`pkg/purl/purl.go`,
/// `parseOCI`): `pkg:oci/<last path element>@<digest>?repository_url=<registry/path>&arch=<arch>`,
/// the digest being the one the reference resolved to (the index of a
/// multi-platform image). Without a repository, `pkg:oci/<name>@<digest>?arch=..`
/// (the SBOM's name for an unpublished image; no scanner builds one).
pub fn image_purl(
    name: &str,
    digest: &str,
    repository: Option<&Repository>,
    arch: Option<&str>,
) -> String {
    let name = repository
        .map_or(name, Repository::last)
        .to_ascii_lowercase();
    packageurl::PackageUrl::new("oci", name.as_str())
        .and_then(|mut u| {
            u.with_version(digest)?;
            if let Some(r) = repository {
                u.add_qualifier("repository_url", r.name())?;
            }
            if let Some(a) = arch.filter(|a| !a.is_empty()) {
                u.add_qualifier("arch", a)?;
            }
            Ok(u.to_string())
        })
        .unwrap_or_else(|_| format!("pkg:oci/image@{digest}"))
}

/// The versionless purl Grype offers for an image it read with a tag (from
/// a Docker daemon or archive; `grype/vex/openvex/implementation.go`,
/// `identifiersFromTags`): `pkg:oci/<image name>?tag=<...>`, where the name is
/// the reference as typed (Syft's source name) and the tag qualifier is
/// everything after the first `:` of `<repository>:<tag>`. go-vex matches a
/// versionless VEX purl against it (`PurlMatches`).
pub fn tag_purl(repository: &Repository, tag: &str) -> Option<String> {
    let full = format!("{}:{tag}", repository.given());
    let (_, after) = full.split_once(':')?;
    let mut u = packageurl::PackageUrl::new("oci", repository.given()).ok()?;
    u.add_qualifier("tag", after.to_owned()).ok()?;
    Some(u.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::attest::fixtures;
    use crate::image::model::Digest;

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
    fn image_purls_are_trivys() {
        let d = Digest::of(b"x");
        let hub = Repository::parse("debian").unwrap();
        assert_eq!(hub.name(), "index.docker.io/library/debian");
        assert_eq!(
            Repository::parse("docker.io/acme/app").unwrap().name(),
            "index.docker.io/acme/app"
        );
        assert_eq!(
            image_purl("x", d.as_str(), Some(&hub), Some("arm64")),
            format!(
                "pkg:oci/debian@{}?arch=arm64&repository_url=index.docker.io%2Flibrary%2Fdebian",
                d.as_str()
            )
        );
        assert_eq!(
            oci_purl("App", d.as_str()),
            format!("pkg:oci/app@{}", d.as_str())
        );
        let local = Repository::parse("127.0.0.1:5000/acme/app").unwrap();
        assert_eq!(local.name(), "127.0.0.1:5000/acme/app");
        assert_eq!(local.last(), "app");
        for bad in [
            "ghcr.io/acme/app:1.0",
            "acme/app@sha256:00",
            "ghcr.io/Acme/app",
            "ghcr.io/",
        ] {
            assert!(Repository::parse(bad).is_err(), "{bad}");
        }
        let p: Published = "127.0.0.1:5000/acme/app:1.0".parse().unwrap();
        assert_eq!(
            (p.repository.name().as_str(), p.tag.as_deref()),
            ("127.0.0.1:5000/acme/app", Some("1.0"))
        );
        let p: Published = "127.0.0.1:5000/acme/app".parse().unwrap();
        assert_eq!(p.tag, None);
        assert!("ghcr.io/acme/app:-x".parse::<Published>().is_err());
        assert_eq!(
            tag_purl(&local, "1.0").unwrap(),
            "pkg:oci/127.0.0.1:5000%2Facme%2Fapp?tag=5000%2Facme%2Fapp:1.0"
        );
    }
}
