//! SLA statuses through `scan`: severity, publication dates and fix states
//! from a Trivy report, due dates against a pinned `--now`, a policy file,
//! fixed in time and late after `apply`, and warnings for a report made for
//! another image.

use crate::images::*;
use crate::support::*;
use serde_json::Value;

fn scan(image: &str, report: &str, extra: &[&str]) -> (Value, String, String) {
    let adv = repo().join("tests/fixtures/advisories").join(report);
    let recipes = repo().join("recipes");
    let mut args = vec![
        "scan",
        image,
        "--recipes",
        recipes.to_str().unwrap(),
        "--advisories",
        adv.to_str().unwrap(),
    ];
    args.extend_from_slice(extra);
    let o = rootwasm(&args);
    assert!(o.status.success(), "{:?}", text(&o));
    let (out, err) = text(&o);
    let v = if extra.contains(&"--json") {
        serde_json::from_str(&out).unwrap()
    } else {
        Value::Null
    };
    (v, out, err)
}

fn finding(v: &Value, id: &str) -> Value {
    v["platforms"][0]["findings"]
        .as_array()
        .unwrap()
        .iter()
        .find(|f| f["vulnerability"] == id)
        .unwrap_or_else(|| panic!("{id} not in {v}"))
        .clone()
}

/// (status, severity, published, sla status, due) of one finding.
fn row(v: &Value, id: &str) -> (String, String, String, String, String) {
    let f = finding(v, id);
    let s = |x: &Value| x.as_str().unwrap_or("-").to_owned();
    (
        s(&f["status"]),
        s(&f["severity"]),
        s(&f["published"]),
        s(&f["sla"]["status"]),
        s(&f["sla"]["due"]),
    )
}

fn r(a: &str, b: &str, c: &str, d: &str, e: &str) -> (String, String, String, String, String) {
    (a.into(), b.into(), c.into(), d.into(), e.into())
}

#[test]
fn sla_statuses_from_a_trivy_report() {
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path().join("debian");
    debian::vendored_root(&repo(), &root);
    let img = image(
        &[
            Layer::from_dir(&root),
            Layer::from_dir(&repo().join("tests/fixtures/requests-2.30.0/rootfs")),
        ],
        "amd64",
    );
    let input = tmp.path().join("in");
    write_layout(&input, &[(&img, "amd64")], "v1");
    let input = format!("oci:{}:v1", input.display());

    let (v, _, err) = scan(
        &input,
        "trivy-sample.json",
        &["--json", "--now", "2024-06-01T00:00:00Z"],
    );
    assert!(
        !err.contains("report"),
        "a report made for this image: {err}"
    );
    // A fixed version and no recipe: pending, not "no fix available".
    assert_eq!(
        row(&v, "CVE-2024-35195"),
        r(
            "no-recipe",
            "medium",
            "2024-05-20",
            "under-sla",
            "2024-07-19"
        )
    );
    assert!(
        finding(&v, "CVE-2024-35195")["detail"]
            .as_str()
            .unwrap()
            .contains("fixed in 2.32.0")
    );
    // A recipe exists; medium, published 2023-05-26: 60 days passed long ago.
    assert_eq!(
        row(&v, "CVE-2023-32681"),
        r(
            "fixable",
            "medium",
            "2023-05-26",
            "sla-missed",
            "2023-07-25"
        )
    );
    // No fix anywhere; rated from its CVSS vector alone (5.5).
    assert_eq!(
        row(&v, "CVE-2023-52426"),
        r(
            "no-fix-available",
            "medium",
            "2024-02-04",
            "no-fix-available",
            "-"
        )
    );
    // The recipe's own data where no advisory says more: unrated, so the critical window.
    assert_eq!(
        row(&v, "CVE-2026-56132"),
        r(
            "fixable",
            "unknown",
            "2026-10-22",
            "under-sla",
            "2026-10-29"
        )
    );

    // The day after the due date.
    let (v, _, _) = scan(
        &input,
        "trivy-sample.json",
        &["--json", "--now", "2024-07-20T00:00:00Z"],
    );
    assert_eq!(row(&v, "CVE-2024-35195").3, "sla-missed");
    // A policy file widens the medium window to 90 days.
    let policy = tmp.path().join("sla.toml");
    std::fs::write(&policy, "medium = 90\n").unwrap();
    let (v, _, _) = scan(
        &input,
        "trivy-sample.json",
        &[
            "--json",
            "--now",
            "2024-07-20T00:00:00Z",
            "--sla",
            policy.to_str().unwrap(),
        ],
    );
    assert_eq!(
        row(&v, "CVE-2024-35195"),
        r(
            "no-recipe",
            "medium",
            "2024-05-20",
            "under-sla",
            "2024-08-18"
        )
    );
    // The table carries the SLA status and the due date.
    let (_, table, _) = scan(
        &input,
        "trivy-sample.json",
        &["--now", "2024-07-20T00:00:00Z"],
    );
    let line = table
        .lines()
        .find(|l| l.contains("CVE-2024-35195"))
        .unwrap();
    assert!(
        line.contains("sla-missed") && line.contains("2024-07-19"),
        "{table}"
    );

    // Patched on 2026-09-05: libexpat1's CVEs within their window (due
    // 2026-10-29), requests' CVE-2023-32681 years late.
    let out = tmp.path().join("out");
    let o = apply_cmd(
        &input,
        &format!("oci:{}", out.display()),
        &repo().join("recipes"),
        &["--source-date-epoch", "1788566400"],
    );
    assert!(o.status.success(), "{:?}", text(&o));
    let (v, _, err) = scan(
        &format!("oci:{}", out.display()),
        "trivy-sample.json",
        &["--json", "--now", "2026-12-02T00:00:00Z"],
    );
    let sla = |id: &str| finding(&v, id)["sla"].clone();
    assert_eq!(
        sla("CVE-2026-56132"),
        serde_json::json!({"status": "fixed", "on": "2026-09-05", "recipe": "debian-libexpat1-2.5.0-1-deb12u5-amd64",
            "type": "distro-upgrade", "due": "2026-10-29", "within_sla": true})
    );
    assert_eq!(
        sla("CVE-2023-32681"),
        serde_json::json!({"status": "fixed", "on": "2026-09-05", "recipe": "requests-cve-2023-32681",
            "type": "backport", "due": "2023-07-25", "within_sla": false})
    );
    // The report names libexpat1 at the version the upgrade replaced: a warning.
    assert!(
        err.contains("the trivy report lists 1 package version(s) not installed in this image (libexpat1 2.5.0-1+deb12u2)"),
        "{err}"
    );

    // A report made for another release warns, naming both.
    let (_, _, err) = scan(&input, "trivy-debian11.json", &["--json"]);
    assert!(
        err.contains("the trivy report is for debian 11.8, but the image is debian 12"),
        "{err}"
    );
    assert!(err.contains("libexpat1 2.2.10-2+deb11u5"), "{err}");
}

#[test]
fn vex_all_adds_affected_statements_and_keeps_the_fixed_ones() {
    let f = crate::review::Fixture::new();
    let image = f.image(&f.out);
    let vex = |extra: &[&str]| -> Value {
        let mut args = vec!["attestation", image.as_str(), "vex"];
        args.extend_from_slice(extra);
        let o = rootwasm(&args);
        assert!(o.status.success(), "{:?}", text(&o));
        serde_json::from_slice(&o.stdout).unwrap()
    };
    let plain = vex(&[]);
    let statuses = |v: &Value| -> Vec<(String, String)> {
        v["statements"]
            .as_array()
            .unwrap()
            .iter()
            .map(|s| {
                (
                    s["vulnerability"]["name"].as_str().unwrap().to_owned(),
                    s["status"].as_str().unwrap().to_owned(),
                )
            })
            .collect()
    };
    assert!(
        statuses(&plain).iter().all(|(_, s)| s == "fixed"),
        "{plain}"
    );
    let adv = repo().join("tests/fixtures/advisories/trivy-sample.json");
    let recipes = repo().join("recipes");
    let all = vex(&[
        "--vex-all",
        "--recipes",
        recipes.to_str().unwrap(),
        "--advisories",
        adv.to_str().unwrap(),
        "--now",
        "2026-12-02T00:00:00Z",
    ]);
    let (plain_s, all_s) = (statuses(&plain), statuses(&all));
    assert_eq!(
        all_s[..plain_s.len()],
        plain_s[..],
        "the fixed statements are kept as they were"
    );
    assert_eq!(
        all_s[plain_s.len()..],
        [("CVE-2024-35195".to_owned(), "affected".to_owned())]
    );
    let s = all["statements"]
        .as_array()
        .unwrap()
        .last()
        .unwrap()
        .clone();
    assert_eq!(
        s["action_statement"],
        "A fix exists (reported by trivy; fixed in 2.32.0; no recipe yet); apply it now: the SLA was due 2024-07-19."
    );
    assert_eq!(
        s["products"][0]["subcomponents"],
        serde_json::json!([{"@id": "pkg:pypi/requests@2.30.0"}])
    );
    // Still a valid OpenVEX 0.2.0 document.
    let p = f.dir.join("vex-all.json");
    std::fs::write(&p, serde_json::to_vec(&all).unwrap()).unwrap();
    let schema = repo().join("tests/fixtures/schemas/openvex_json_schema_0.2.0.json");
    attest_oracle(&["openvex", p.to_str().unwrap(), schema.to_str().unwrap()])
        .expect("OpenVEX schema");
}
