//! Per-patch test results in the signed provenance: the recipe's check, the
//! package databases (dpkg md5sums, pip RECORD) against the patched files,
//! and replay; `verify` recomputes them, so a validly signed but false
//! result is caught.

use crate::review::{Fixture, artifact_layer, blob_path, replace_blob};
use base64::Engine as _;
use serde_json::Value;

const INTOTO: &str = "application/vnd.in-toto+json";

fn statement(layout: &std::path::Path) -> (String, Value) {
    let layer = artifact_layer(layout, INTOTO, 0);
    let env: Value =
        serde_json::from_slice(&std::fs::read(blob_path(layout, &layer)).unwrap()).unwrap();
    let payload = base64::engine::general_purpose::STANDARD
        .decode(env["payload"].as_str().unwrap())
        .unwrap();
    (layer, serde_json::from_slice(&payload).unwrap())
}

fn tests_of<'a>(st: &'a Value, recipe: &str) -> &'a Value {
    let b = st["predicate"]["runDetails"]["byproducts"]
        .as_array()
        .unwrap()
        .iter()
        .find(|b| b["annotations"]["recipe"] == recipe)
        .unwrap();
    &b["annotations"]["tests"]
}

#[test]
fn test_results_are_signed_and_verify_recomputes_them() {
    let f = Fixture::new();
    let (_, st) = statement(&f.out);
    let summary = |recipe: &str| -> Vec<(String, String)> {
        tests_of(&st, recipe)
            .as_array()
            .unwrap_or_else(|| panic!("{recipe}: no tests in {st}"))
            .iter()
            .map(|t| {
                (
                    t["name"].as_str().unwrap().to_owned(),
                    t["result"].as_str().unwrap().to_owned(),
                )
            })
            .collect()
    };
    let passed = |names: &[&str]| -> Vec<(String, String)> {
        names
            .iter()
            .map(|n| (n.to_string(), "passed".to_owned()))
            .collect()
    };
    let all = ["recipe-check", "package-database", "replay"];
    // A recipe that changed the dpkg database also has its relations checked.
    assert_eq!(
        summary("debian-libexpat1-2.5.0-1-deb12u5-amd64"),
        passed(&["recipe-check", "package-database", "dependencies", "replay"])
    );
    assert_eq!(summary("requests-cve-2023-32681"), passed(&all));
    let detail = |recipe: &str, i: usize| {
        tests_of(&st, recipe)[i]["detail"]
            .as_str()
            .unwrap()
            .to_owned()
    };
    assert!(detail("debian-libexpat1-2.5.0-1-deb12u5-amd64", 1).contains("match dpkg libexpat1"));
    assert!(
        detail("debian-libexpat1-2.5.0-1-deb12u5-amd64", 2)
            .contains("breaks no relation that was whole before"),
        "{st}"
    );
    assert!(
        detail("requests-cve-2023-32681", 1)
            .contains("1 file(s) match RECORD of requests-2.30.0.dist-info")
    );
    // A recipe that did not apply has no tests.
    assert!(tests_of(&st, "python3.11-cve-2026-6019").is_null());
    let (ok, out) = f.verify(&f.out);
    assert!(ok, "{out}");
    assert!(
        out.contains("ok   tests            7 signed test results recomputed from the image"),
        "{out}"
    );

    // A provenance re-signed with the same key but claiming another result
    // for the package database: the signature holds, the tests check fails.
    let forged = f.copy("forged");
    let (layer, mut st) = statement(&forged);
    let byproducts = st["predicate"]["runDetails"]["byproducts"]
        .as_array_mut()
        .unwrap();
    for b in byproducts.iter_mut() {
        if b["annotations"]["recipe"] == "requests-cve-2023-32681" {
            b["annotations"]["tests"][1]["detail"] = "2 file(s) match RECORD".into();
        }
    }
    let key = rootwasm::attest::key::load_private(&f.key).unwrap();
    let env = rootwasm::attest::dsse::sign(INTOTO, &serde_json::to_vec(&st).unwrap(), &key);
    replace_blob(&forged, &layer, &env.to_json());
    let (ok, out) = f.verify(&forged);
    assert!(!ok, "{out}");
    assert!(out.contains("ok   signature"), "{out}");
    assert!(
        out.contains("FAIL tests")
            && out.contains("recipe requests-cve-2023-32681 (applied): the signed test results"),
        "{out}"
    );
}
