//! Attestations checked by other people's code: securesystemslib verifies
//! rootwasm's DSSE envelopes and keys (and signs envelopes rootwasm must
//! verify), the OpenVEX 0.2.0 JSON schema and cyclonedx-python-lib validate
//! the VEX documents. No apply needed: the library is called directly.

use crate::support::{attest_oracle, repo};
use rootwasm::attest::cdx_vex::{self, BomLink, CdxVexInput};
use rootwasm::attest::openvex::{self, VexInput};
use rootwasm::attest::provenance::{self, ProvenanceInput};
use rootwasm::attest::{Epoch, ImageSubject, dsse, intoto, key, to_bytes};
use rootwasm::image::model::Digest;
use rootwasm::inventory::{Inventory, Os, Package};
use rootwasm::recipe::{PatchType, Severity, Vulnerability};
use rootwasm::record::PatchRecord;
use std::path::Path;

fn s(p: &Path) -> &str {
    p.to_str().unwrap()
}

fn inventory() -> Inventory {
    let deb = |name: &str, version: &str| Package {
        ecosystem: "deb".parse().unwrap(),
        name: name.into(),
        version: version.into(),
        arch: Some("amd64".into()),
        source: Some("expat".into()),
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
            deb("libexpat1", "2.5.0-1+deb12u1"),
            Package {
                ecosystem: "pypi".parse().unwrap(),
                name: "requests".into(),
                version: "2.30.0".into(),
                arch: None,
                source: None,
                licenses: vec!["Apache 2.0".into()],
                location: "/usr/lib/python3/dist-packages/requests-2.30.0.dist-info".into(),
            },
        ],
    }
}

fn records() -> Vec<PatchRecord> {
    vec![
        PatchRecord {
            recipe: "requests-cve-2023-32681".into(),
            patch_type: PatchType::Backport,
            origin: Some(
                "https://github.com/psf/requests/commit/74ea7cf7a6a27a4eeb2ae24e162bcc942a6706d5"
                    .into(),
            ),
            ecosystem: "pypi".parse().unwrap(),
            package: "requests".into(),
            location: "/usr/lib/python3/dist-packages/requests-2.30.0.dist-info".into(),
            version_before: "2.30.0".into(),
            version_after: "2.30.0".into(),
            fixes: vec!["CVE-2023-32681".into()],
        },
        PatchRecord {
            recipe: "expat-dsa".into(),
            patch_type: PatchType::DistroUpgrade,
            origin: None,
            ecosystem: "deb".parse().unwrap(),
            package: "libexpat1".into(),
            location: "/var/lib/dpkg/status".into(),
            version_before: "2.5.0-1".into(),
            version_after: "2.5.0-1+deb12u1".into(),
            fixes: vec!["CVE-2023-52425".into()],
        },
    ]
}

fn vulnerabilities() -> Vec<Vulnerability> {
    vec![Vulnerability {
        id: "CVE-2023-32681".into(),
        aliases: vec!["GHSA-j8r2-6x86-q33q".into()],
        severity: Severity::Medium,
        published: "2023-05-26".into(),
    }]
}

#[test]
fn vex_documents_validate_against_the_published_schemas() {
    let tmp = tempfile::tempdir().unwrap();
    let (inv, recs, vulns) = (inventory(), records(), vulnerabilities());
    let repository = rootwasm::attest::purl::Repository::parse("ghcr.io/acme/app").unwrap();
    let image = ImageSubject {
        name: "app",
        repository: Some(&repository),
        tag: Some("1.0"),
        arch: Some("amd64"),
        digests: vec![
            Digest::of(b"patched manifest"),
            Digest::of(b"patched index"),
        ],
    };
    let vex = openvex::document(&VexInput {
        image: &image,
        records: &recs,
        inventory: &inv,
        vulnerabilities: &vulns,
        author: "security@acme.example",
        timestamp: Epoch(1_700_000_000),
    })
    .unwrap();
    let f = tmp.path().join("vex.openvex.json");
    std::fs::write(&f, to_bytes(&vex)).unwrap();
    let schema = repo().join("tests/fixtures/schemas/openvex_json_schema_0.2.0.json");
    attest_oracle(&["openvex", s(&f), s(&schema)]).expect("OpenVEX valid");

    // The schema check has teeth: a statement without a status is refused.
    let mut bad = vex.clone();
    bad["statements"][0]
        .as_object_mut()
        .unwrap()
        .remove("status");
    let fb = tmp.path().join("bad.openvex.json");
    std::fs::write(&fb, to_bytes(&bad)).unwrap();
    assert!(attest_oracle(&["openvex", s(&fb), s(&schema)]).is_err());

    let serial = "urn:uuid:3e671687-395b-41f5-a30f-a58921a69b79";
    for link in [
        None,
        Some(BomLink {
            serial_number: serial,
            version: 1,
        }),
    ] {
        let doc = cdx_vex::document(&CdxVexInput {
            image: &image,
            records: &recs,
            inventory: &inv,
            vulnerabilities: &vulns,
            timestamp: Epoch(1_700_000_000),
            sbom: link,
        })
        .unwrap();
        let f = tmp.path().join("vex.cdx.json");
        std::fs::write(&f, to_bytes(&doc)).unwrap();
        attest_oracle(&["cyclonedx", s(&f)])
            .unwrap_or_else(|e| panic!("CycloneDX VEX (link {link:?}) invalid: {e}"));
    }
}

#[test]
fn securesystemslib_verifies_what_rootwasm_signs() {
    let tmp = tempfile::tempdir().unwrap();
    let k = key::SigningKey::generate().unwrap();
    let (priv_pem, pub_pem) = (tmp.path().join("key.pem"), tmp.path().join("key.pub"));
    key::save_private(&priv_pem, &k).unwrap();
    key::save_public(&pub_pem, &k.public()).unwrap();

    let subject = ImageSubject {
        name: "app",
        repository: None,
        tag: None,
        arch: None,
        digests: vec![Digest::of(b"patched")],
    };
    let input = Digest::of(b"input");
    let statement = provenance::statement(&ProvenanceInput {
        subject: &subject,
        input: provenance::InputImage {
            reference: Some("registry.example/images/app:1.0"),
            digest: &input,
        },
        recipes: &[],
        builder: provenance::Builder {
            id: "https://ci.example/runner",
            version: env!("CARGO_PKG_VERSION"),
        },
        invocation_id: Some("run-1"),
        source_date_epoch: None,
        started_on: Epoch(1_700_000_000),
        finished_on: Epoch(1_700_000_001),
        byproducts: &[],
        results: &[],
    });
    let env = dsse::sign(intoto::PAYLOAD_TYPE, &to_bytes(&statement), &k);
    let f = tmp.path().join("provenance.intoto.json");
    std::fs::write(&f, env.to_json()).unwrap();
    attest_oracle(&["verify-dsse", s(&f), s(&pub_pem), intoto::PAYLOAD_TYPE])
        .expect("securesystemslib accepts rootwasm's envelope and key id");
    attest_oracle(&["verify-dsse", s(&f), s(&pub_pem), "application/json"])
        .expect_err("a wrong payload type is refused");

    // A one-byte change to the payload, and another key: securesystemslib refuses both.
    let mut tampered = env.clone();
    let mut payload = to_bytes(&statement);
    let i = payload.len() / 2;
    payload[i] ^= 1;
    use base64::Engine as _;
    tampered.payload = base64::engine::general_purpose::STANDARD.encode(&payload);
    let ft = tmp.path().join("tampered.json");
    std::fs::write(&ft, tampered.to_json()).unwrap();
    attest_oracle(&["verify-dsse", s(&ft), s(&pub_pem), intoto::PAYLOAD_TYPE])
        .expect_err("a modified payload is refused");
    let other = tmp.path().join("other.pub");
    key::save_public(&other, &key::SigningKey::generate().unwrap().public()).unwrap();
    attest_oracle(&["verify-dsse", s(&f), s(&other), intoto::PAYLOAD_TYPE])
        .expect_err("another key is refused");

    // securesystemslib signs with rootwasm's private key file (file2: URI):
    // the same deterministic ed25519 signature rootwasm makes.
    let pf = tmp.path().join("payload.json");
    std::fs::write(&pf, to_bytes(&statement)).unwrap();
    let out = tmp.path().join("theirs.json");
    let said = attest_oracle(&[
        "sign-dsse",
        s(&priv_pem),
        s(&pf),
        intoto::PAYLOAD_TYPE,
        s(&out),
    ])
    .expect("securesystemslib loads rootwasm's PKCS#8 key");
    assert!(said.contains(&k.keyid()), "{said}");
    let theirs = dsse::Envelope::from_json(&std::fs::read(&out).unwrap()).unwrap();
    assert_eq!(theirs, env);
}

#[test]
fn rootwasm_verifies_what_securesystemslib_signs() {
    let tmp = tempfile::tempdir().unwrap();
    let (priv_pem, pub_pem) = (tmp.path().join("sslib.pem"), tmp.path().join("sslib.pub"));
    let said =
        attest_oracle(&["gen-key", s(&priv_pem), s(&pub_pem)]).expect("securesystemslib key");
    let public = key::load_public(&pub_pem).expect("rootwasm reads securesystemslib's public key");
    let private =
        key::load_private(&priv_pem).expect("rootwasm reads securesystemslib's private key");
    assert_eq!(private.public(), public);
    assert!(said.contains(&public.keyid()), "same key id: {said}");

    let payload = br#"{"_type":"https://in-toto.io/Statement/v1","subject":[],"predicateType":"x","predicate":{}}"#;
    let pf = tmp.path().join("payload.json");
    std::fs::write(&pf, payload).unwrap();
    let out = tmp.path().join("env.json");
    attest_oracle(&[
        "sign-dsse",
        s(&priv_pem),
        s(&pf),
        intoto::PAYLOAD_TYPE,
        s(&out),
    ])
    .unwrap();
    let env = dsse::Envelope::from_json(&std::fs::read(&out).unwrap()).unwrap();
    assert_eq!(
        dsse::verify(&env, intoto::PAYLOAD_TYPE, &public).unwrap(),
        payload
    );
    assert!(dsse::verify(&env, "application/json", &public).is_err());
    let other = key::SigningKey::generate().unwrap().public();
    assert!(dsse::verify(&env, intoto::PAYLOAD_TYPE, &other).is_err());
    let mut m = env.clone();
    m.signatures[0].sig = m.signatures[0].sig.replacen(
        &m.signatures[0].sig[..2],
        if &m.signatures[0].sig[..2] == "AA" {
            "AB"
        } else {
            "AA"
        },
        1,
    );
    assert!(dsse::verify(&m, intoto::PAYLOAD_TYPE, &public).is_err());
}
