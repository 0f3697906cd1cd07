//! `rootwasm scan`: the inventory matches dpkg's own view, and the status
//! moves from fixable to fixed across `apply`.

use crate::images::*;
use crate::support::*;
use std::process::Command;

fn scan_json(image: &str) -> serde_json::Value {
    let o = rootwasm(&[
        "scan",
        image,
        "--recipes",
        repo().join("recipes").to_str().unwrap(),
        "--json",
    ]);
    assert!(o.status.success(), "{:?}", text(&o));
    serde_json::from_slice(&o.stdout).unwrap()
}

#[test]
fn inventory_and_status_before_and_after_apply() {
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

    let before = scan_json(&format!("oci:{}:v1", input.display()));
    let p = &before["platforms"][0];
    assert_eq!(p["inventory"]["os"]["codename"], "bookworm");
    // dpkg-query, on the same root, is the oracle for the Debian packages.
    let q = Command::new("dpkg-query")
        .arg("--admindir")
        .arg(root.join("var/lib/dpkg"))
        .args(["-W", "-f", "${Package} ${Version}\\n"])
        .output()
        .unwrap();
    let mut want: Vec<String> = String::from_utf8(q.stdout)
        .unwrap()
        .lines()
        .map(str::to_owned)
        .collect();
    want.sort();
    let mut got: Vec<String> = p["inventory"]["packages"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|x| x["ecosystem"] == "deb")
        .map(|x| {
            format!(
                "{} {}",
                x["name"].as_str().unwrap(),
                x["version"].as_str().unwrap()
            )
        })
        .collect();
    got.sort();
    assert_eq!(got, want);
    let py: Vec<_> = p["inventory"]["packages"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|x| x["ecosystem"] == "pypi")
        .collect();
    assert_eq!(py.len(), 1);
    assert_eq!(
        (py[0]["name"].as_str(), py[0]["version"].as_str()),
        (Some("requests"), Some("2.30.0"))
    );
    let finding = |p: &serde_json::Value, id: &str| -> serde_json::Value {
        p["findings"]
            .as_array()
            .unwrap()
            .iter()
            .find(|f| f["vulnerability"] == id)
            .unwrap_or_else(|| panic!("{id} not in {p}"))
            .clone()
    };
    assert_eq!(finding(p, "CVE-2023-32681")["status"], "fixable");
    // The base's libexpat1 2.5.0-1+deb12u2 is fixed by the distro upgrade to deb12u5.
    let f = finding(p, "CVE-2026-56132");
    assert_eq!(
        (f["status"].as_str(), f["package"].as_str()),
        (Some("fixable"), Some("libexpat1")),
        "{f}"
    );

    let out = tmp.path().join("out");
    apply_with_repo_recipes(
        &format!("oci:{}:v1", input.display()),
        &format!("oci:{}", out.display()),
    );
    let after = scan_json(&format!("oci:{}", out.display()));
    let f = finding(&after["platforms"][0], "CVE-2023-32681");
    assert_eq!(f["status"], "fixed", "{f}");
    assert_eq!(f["version"], "2.30.0", "a backport keeps the version");
    let f = finding(&after["platforms"][0], "CVE-2026-56132");
    assert_eq!(f["status"], "fixed", "{f}");
    assert_eq!(
        f["version"], "2.5.0-1+deb12u5",
        "an upgrade shows the new version"
    );
}

#[test]
fn advisories_from_osv_trivy_and_grype() {
    let tmp = tempfile::tempdir().unwrap();
    let img = image(
        &[Layer::from_dir(
            &repo().join("tests/fixtures/requests-2.30.0/rootfs"),
        )],
        "amd64",
    );
    let input = tmp.path().join("in");
    write_layout(&input, &[(&img, "amd64")], "v1");
    let out = tmp.path().join("out");
    apply_with_repo_recipes(
        &format!("oci:{}:v1", input.display()),
        &format!("oci:{}", out.display()),
    );
    let adv = repo().join("tests/fixtures/advisories");
    for source in ["osv", "trivy-requests.json", "grype-requests.json"] {
        for (image, want_32681) in [(&input, "fixable"), (&out, "fixed")] {
            let o = rootwasm(&[
                "scan",
                &format!("oci:{}", image.display()),
                "--recipes",
                repo().join("recipes").to_str().unwrap(),
                "--advisories",
                adv.join(source).to_str().unwrap(),
                "--json",
            ]);
            assert!(o.status.success(), "{source}: {:?}", text(&o));
            let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
            let findings = v["platforms"][0]["findings"].as_array().unwrap();
            let status = |id: &str| {
                findings
                    .iter()
                    .filter(|f| {
                        f["vulnerability"] == id
                            || (id == "CVE-2024-35195"
                                && f["vulnerability"] == "GHSA-9wx4-h78v-vm56")
                    })
                    .map(|f| f["status"].as_str().unwrap().to_owned())
                    .collect::<Vec<_>>()
            };
            assert_eq!(
                status("CVE-2023-32681"),
                [want_32681],
                "{source}: {findings:?}"
            );
            assert_eq!(
                status("CVE-2024-35195"),
                ["no-recipe"],
                "{source}: {findings:?}"
            );
            assert_eq!(
                findings.len(),
                2,
                "{source}: the recipe's CVE is not reported twice under its aliases: {findings:?}"
            );
        }
    }
    // A file that is none of the formats is refused by name.
    let bogus = tmp.path().join("bogus.json");
    std::fs::write(&bogus, "{\"hello\": 1}").unwrap();
    let o = rootwasm(&[
        "scan",
        &format!("oci:{}", input.display()),
        "--recipes",
        repo().join("recipes").to_str().unwrap(),
        "--advisories",
        bogus.to_str().unwrap(),
    ]);
    assert_eq!(o.status.code(), Some(2));
    assert!(
        text(&o)
            .1
            .contains("not an OSV record, a Trivy JSON report or a Grype JSON report"),
        "{:?}",
        text(&o)
    );
}

#[test]
fn language_runtimes_are_found_by_their_version_headers() {
    let tmp = tempfile::tempdir().unwrap();
    let img = image(
        &[Layer::from_dir(
            &repo().join("tests/fixtures/runtimes/rootfs"),
        )],
        "amd64",
    );
    let input = tmp.path().join("in");
    write_layout(&input, &[(&img, "amd64")], "v1");
    let v = scan_json(&format!("oci:{}", input.display()));
    let rt: Vec<(String, String)> = v["platforms"][0]["inventory"]["runtimes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| {
            (
                r["name"].as_str().unwrap().to_owned(),
                r["version"].as_str().unwrap().to_owned(),
            )
        })
        .collect();
    assert_eq!(
        rt,
        [
            ("node".to_owned(), "20.20.2".to_owned()),
            ("python".to_owned(), "3.11.7".to_owned())
        ]
    );
    // The /usr/local interpreter is a package recipes target: its standard
    // library (the vendored http/cookies.py) is fixable by a backport.
    let f = (v["platforms"][0]["findings"].as_array().unwrap().iter())
        .find(|f| f["vulnerability"] == "CVE-2024-7592")
        .unwrap_or_else(|| panic!("CVE-2024-7592 in {v}"));
    assert_eq!(
        (f["status"].as_str(), f["package"].as_str()),
        (Some("fixable"), Some("python")),
        "{f}"
    );
}
