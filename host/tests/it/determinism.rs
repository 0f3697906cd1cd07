//! The same recipe on copies of the same tree gives byte-identical journals,
//! wherever the trees live.

use crate::support::*;

#[test]
fn journals_are_byte_identical_across_runs_and_paths() {
    let a = tempfile::tempdir().unwrap();
    let b = tempfile::tempdir().unwrap();
    let root_a = a.path().join("root");
    let root_b = b.path().join("some/deeper/place/root");
    std::fs::create_dir_all(root_b.parent().unwrap()).unwrap();
    let fixture = repo().join("tests/fixtures/requests-2.30.0/rootfs");
    copy_tree(&fixture, &root_a);
    copy_tree(&fixture, &root_b);
    let recipe = repo().join("recipes/requests-cve-2023-32681");
    let run = |root: &std::path::Path, out: &std::path::Path| {
        let o = rootwasm(&[
            "run",
            recipe.to_str().unwrap(),
            "--rootfs",
            root.to_str().unwrap(),
            "--json",
            "--out",
            out.to_str().unwrap(),
        ]);
        assert!(o.status.success(), "{:?}", text(&o));
        o.stdout
    };
    let ja = run(&root_a, &a.path().join("out"));
    let jb = run(&root_b, &b.path().join("out"));
    assert!(!ja.is_empty());
    assert_eq!(ja, jb, "journals differ");
    assert_eq!(
        std::fs::read(a.path().join("out/journal.json")).unwrap(),
        ja
    );
    assert_eq!(
        tree_hash(&a.path().join("out")),
        tree_hash(&b.path().join("out")),
        "blob stores differ"
    );
    let report: serde_json::Value =
        serde_json::from_slice(&std::fs::read(a.path().join("out/report.json")).unwrap()).unwrap();
    assert_eq!(report["outcome"], "applied");
    assert_eq!(report["check_after"]["status"], "fixed");
    assert_eq!(report["report"]["fixed"][0], "CVE-2023-32681");
    // And the journal is what the docs say: version 1, three entries.
    let j: serde_json::Value = serde_json::from_slice(&ja).unwrap();
    assert_eq!(j["format"], "rootwasm.journal/v1");
    let ops: Vec<_> = j["entries"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["op"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(ops, ["write-file", "remove", "write-file"]);
}
