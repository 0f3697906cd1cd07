//! The recipe run natively through the SDK harness (same session, scope and
//! journal as the sandbox), against a copy of the vendored install.

use guest_requests_sdk::RequestsProxyAuthLeak;
use rootwasm_sdk::CheckStatus;
use rootwasm_sdk::testing::Harness;
use std::path::Path;

const SESSIONS: &str = "usr/local/lib/python3.11/site-packages/requests/sessions.py";

#[test]
fn backport_applies_natively() {
    let repo = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../..");
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path().join("root");
    let st = std::process::Command::new("cp")
        .arg("-a")
        .arg(repo.join("tests/fixtures/requests-2.30.0/rootfs"))
        .arg(&root)
        .status()
        .unwrap();
    assert!(st.success());

    let h = Harness::new(env!("CARGO_MANIFEST_DIR"), &root).unwrap();
    assert_eq!(
        h.check::<RequestsProxyAuthLeak>().unwrap().status,
        CheckStatus::Vulnerable
    );
    let applied = h.apply::<RequestsProxyAuthLeak>().unwrap();
    assert_eq!(applied.report.fixed, ["CVE-2023-32681"]);
    assert_eq!(applied.report.packages[0].version_after, "2.30.0");
    assert_eq!(applied.journal.entries.len(), 3);
    // Staged only: the tree is untouched until commit.
    assert!(
        std::fs::read_to_string(root.join(SESSIONS))
            .unwrap()
            .contains("        if username and password:\n")
    );
    applied.commit().unwrap();
    assert!(
        std::fs::read_to_string(root.join(SESSIONS))
            .unwrap()
            .contains("if not scheme.startswith('https')")
    );
    assert_eq!(
        h.check::<RequestsProxyAuthLeak>().unwrap().status,
        CheckStatus::Fixed
    );
}

#[test]
fn other_versions_are_not_applicable() {
    let tmp = tempfile::tempdir().unwrap();
    let dist = tmp
        .path()
        .join("usr/lib/python3/dist-packages/requests-2.28.1.dist-info");
    std::fs::create_dir_all(&dist).unwrap();
    std::fs::create_dir_all(tmp.path().join("usr/lib/python3/dist-packages/requests")).unwrap();
    std::fs::write(
        dist.join("METADATA"),
        "Metadata-Version: 2.1\nName: requests\nVersion: 2.28.1\n\n",
    )
    .unwrap();
    let h = Harness::new(env!("CARGO_MANIFEST_DIR"), tmp.path()).unwrap();
    let c = h.check::<RequestsProxyAuthLeak>().unwrap();
    assert_eq!(c.status, CheckStatus::NotApplicable, "{}", c.detail);
    assert!(c.detail.contains("2.28.1"), "{}", c.detail);
}
