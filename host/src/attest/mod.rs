//! Attestations about a patched image: what was fixed (OpenVEX and
//! CycloneDX VEX), how the image was made (in-toto Statement v1 with SLSA
//! Provenance v1) and the signature over either (DSSE with ed25519).
//!
//! Every function here is pure: the caller passes the patch records, the
//! inventory, the digests and the clock, and gets a JSON document back.
//! Nothing reads the wall clock, the environment or the network, so the
//! same input gives the same bytes. Formats and field choices:
//! `docs/attestations.md`; what scanners match on: `docs/vex.md`.
//!
//! ```
//! use rootwasm::attest::{dsse, intoto, key::SigningKey, to_bytes};
//! use serde_json::json;
//!
//! let statement = intoto::statement(
//!     &[intoto::Subject { name: "ghcr.io/acme/app".into(), sha256: "ab".repeat(32) }],
//!     "https://example.com/predicate/v1",
//!     json!({"hello": "world"}),
//! );
//! let key = SigningKey::from_seed([7; 32]);
//! let envelope = dsse::sign(intoto::PAYLOAD_TYPE, &to_bytes(&statement), &key);
//! let payload = dsse::verify(&envelope, intoto::PAYLOAD_TYPE, &key.public())?;
//! assert_eq!(payload, to_bytes(&statement));
//! # Ok::<(), rootwasm::attest::Error>(())
//! ```
//!
//! **Boundary:** this module knows nothing about wasm, the sandbox or image
//! I/O; it compiles without the `sandbox` feature.

pub mod cdx_vex;
pub mod dsse;
pub mod intoto;
pub mod key;
pub mod openvex;
pub mod provenance;
pub mod purl;

use crate::image::model::Digest;
use serde_json::Value;

/// Seconds since the Unix epoch, supplied by the caller (SOURCE_DATE_EPOCH
/// style); documents never read the clock themselves.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub struct Epoch(pub u64);

impl Epoch {
    /// RFC 3339 in UTC, e.g. `2023-11-14T22:13:20Z`.
    pub fn rfc3339(self) -> String {
        crate::rfc3339::format(self.0)
    }
}

/// The patched image a document talks about.
#[derive(Clone, Debug)]
pub struct ImageSubject<'a> {
    /// Short name, the purl's name: the last path component of the
    /// repository, e.g. `debian` (lowercased in purls).
    pub name: &'a str,
    /// Where the image is published (`--repository`, or the registry
    /// reference); `None` for an image known only as a local layout or
    /// archive. Gives the purls Trivy and Grype build for a pulled image.
    pub repository: Option<&'a purl::Repository>,
    /// The tag it is published under, for Grype's tag purl.
    pub tag: Option<&'a str>,
    /// The platform's CPU architecture (the config's), Trivy's `arch`.
    pub arch: Option<&'a str>,
    /// Every digest the statements are true for: the patched platform
    /// manifest first, then (only if every platform in it carries the same
    /// fixes) the index that lists it. Scanners name a multi-platform image
    /// by whichever digest they pulled.
    pub digests: Vec<Digest>,
}

/// Why a document could not be made or an envelope not verified.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// A patch record names a package the inventory does not have, so no
    /// statement about it could be checked against what is installed.
    #[error(
        "patch record of recipe {recipe}: {ecosystem} package {package} at {location} is not in the inventory"
    )]
    PackageNotInstalled {
        /// Recipe id.
        recipe: String,
        /// Ecosystem.
        ecosystem: crate::ecosystem::Ecosystem,
        /// Package name.
        package: String,
        /// Where the record says it is.
        location: String,
    },
    /// The subject has no digest.
    #[error("the image subject has no digest")]
    NoDigest,
    /// No record fixes anything, and a VEX document needs one statement.
    #[error("no patch record fixes a vulnerability: there is nothing to state")]
    NothingFixed,
    /// A key could not be read or written.
    #[error("key {what}: {reason}")]
    Key {
        /// Which key or file.
        what: String,
        /// What went wrong.
        reason: String,
    },
    /// A DSSE envelope failed verification.
    #[error("DSSE envelope rejected: {0}")]
    Dsse(String),
}

/// The bytes a document is written (and signed) as: compact JSON with keys
/// sorted, since `serde_json::Value` keeps maps sorted unless some crate in
/// the build turns on its `preserve_order` feature (a test guards that:
/// `image::model::tests::json_maps_are_sorted`).
pub fn to_bytes(doc: &Value) -> Vec<u8> {
    serde_json::to_vec(doc).expect("a JSON value always serialises")
}

/// A name-based (version 5) UUID for `parts`, for reproducible serial
/// numbers: the same parts give the same UUID on any machine.
pub(crate) fn uuid_of(parts: &[&[u8]]) -> uuid::Uuid {
    // rootwasm's namespace, itself derived from its URL.
    let ns = uuid::Uuid::new_v5(&uuid::Uuid::NAMESPACE_URL, b"https://rootwasm.invalid/");
    let mut name = Vec::new();
    for p in parts {
        name.extend((p.len() as u64).to_be_bytes());
        name.extend_from_slice(p);
    }
    uuid::Uuid::new_v5(&ns, &name)
}

#[cfg(test)]
pub(crate) mod fixtures {
    //! Shared test input: a Debian image with one backport and one upgrade.
    use crate::inventory::{Inventory, Os, Package};
    use crate::recipe::{PatchType, Severity, Vulnerability};
    use crate::record::PatchRecord;

    pub fn inventory() -> Inventory {
        let deb = |name: &str, version: &str| Package {
            ecosystem: "deb".parse().unwrap(),
            name: name.into(),
            version: version.into(),
            arch: Some("amd64".into()),
            source: None,
            licenses: vec![],
            location: "/var/lib/dpkg/status".into(),
        };
        Inventory {
            os: Some(Os {
                id: "debian".into(),
                version_id: "12".into(),
                codename: "bookworm".into(),
                pretty_name: "Debian GNU/Linux 12 (bookworm)".into(),
            }),
            runtimes: vec![],
            warnings: vec![],
            packages: vec![
                deb("libexpat1", "2.5.0-1+deb12u2"),
                deb("libpam0g", "1:1.5.2-6+deb12u1"),
                Package {
                    ecosystem: "pypi".parse().unwrap(),
                    name: "Requests_Toolbelt".into(),
                    version: "1.0.0".into(),
                    arch: None,
                    source: None,
                    licenses: vec![],
                    location: "/usr/lib/python3/dist-packages/requests_toolbelt-1.0.0.dist-info"
                        .into(),
                },
            ],
        }
    }

    pub fn records() -> Vec<PatchRecord> {
        vec![
            PatchRecord {
                recipe: "expat-cve-2024-45490".into(),
                patch_type: PatchType::Backport,
                origin: Some("https://github.com/libexpat/libexpat/pull/890".into()),
                ecosystem: "deb".parse().unwrap(),
                package: "libexpat1".into(),
                location: "/var/lib/dpkg/status".into(),
                version_before: "2.5.0-1+deb12u2".into(),
                version_after: "2.5.0-1+deb12u2".into(),
                fixes: vec!["CVE-2024-45490".into(), "CVE-2024-45491".into()],
            },
            PatchRecord {
                recipe: "pam-dsa-5810".into(),
                patch_type: PatchType::DistroUpgrade,
                origin: None,
                ecosystem: "deb".parse().unwrap(),
                package: "libpam0g".into(),
                location: "/var/lib/dpkg/status".into(),
                version_before: "1:1.5.2-6+deb12u0".into(),
                version_after: "1:1.5.2-6+deb12u1".into(),
                fixes: vec!["CVE-2024-10041".into()],
            },
            PatchRecord {
                recipe: "toolbelt-ghsa".into(),
                patch_type: PatchType::Backport,
                origin: None,
                ecosystem: "pypi".parse().unwrap(),
                package: "Requests_Toolbelt".into(),
                location: "/usr/lib/python3/dist-packages/requests_toolbelt-1.0.0.dist-info".into(),
                version_before: "1.0.0".into(),
                version_after: "1.0.0".into(),
                fixes: vec!["CVE-2024-45490".into()],
            },
        ]
    }

    pub fn vulnerabilities() -> Vec<Vulnerability> {
        vec![Vulnerability {
            id: "CVE-2024-45490".into(),
            aliases: vec!["GHSA-xxxx-yyyy-zzzz".into()],
            severity: Severity::High,
            published: "2024-08-30".into(),
        }]
    }
}
