//! `rootwasm explore`: the Patch Explorer page, opened in real headless
//! Chromium (Debian's chromium and chromium-driver, driven by Selenium from
//! the test venv): CVE ids, versions and test results are visible, the diff
//! expands on click, and nothing is fetched from the network.

use crate::review::Fixture;
use crate::support::*;
use serde_json::Value;
use std::process::Command;

/// Open `url` in headless Chromium through `tests/python/explorer_oracle.py`.
pub(crate) fn in_chromium(url: &str, screenshot: &std::path::Path, token: Option<&str>) -> Value {
    let python = std::env::var("ROOTWASM_TEST_PYTHON").unwrap_or_else(|_| "python3".into());
    let o = Command::new(python)
        .arg(repo().join("tests/python/explorer_oracle.py"))
        .arg(url)
        .arg(screenshot)
        .args(token)
        .output()
        .expect("running the Chromium oracle (ROOTWASM_TEST_PYTHON)");
    assert!(
        o.status.success(),
        "explorer_oracle.py: {}",
        String::from_utf8_lossy(&o.stderr)
    );
    serde_json::from_slice(&o.stdout).unwrap()
}

/// What a reader of the page must see, and that the browser fetched nothing
/// but the page itself (Chromium's own chrome:// pages aside).
pub(crate) fn assert_readable(seen: &Value, page_url: &str) {
    let text = seen["text"].as_str().unwrap();
    for want in [
        "CVE-2023-32681",
        "CVE-2026-56132",
        "2.5.0-1+deb12u2",
        "2.5.0-1+deb12u5",
        "2.30.0",
        "backport",
        "distribution upgrade",
        "recipe-check",
        "package-database",
        "replay",
        "passed",
        "match RECORD of requests-2.30.0.dist-info",
    ] {
        assert!(text.contains(want), "{want:?} not visible in:\n{text}");
    }
    assert_eq!(
        seen["diff_visible_before"], false,
        "the diff starts collapsed"
    );
    assert_eq!(
        seen["diff_visible_after_click"], true,
        "the diff expands on click"
    );
    assert!(!seen["diff_text"].as_str().unwrap().is_empty());
    let requests: Vec<&str> = seen["requests"]
        .as_array()
        .unwrap()
        .iter()
        .map(|u| u.as_str().unwrap())
        .collect();
    assert!(requests.contains(&page_url), "{requests:?}");
    for u in &requests {
        assert!(
            ["file:", "data:", "chrome:", "about:"]
                .iter()
                .any(|s| u.starts_with(s))
                || *u == page_url,
            "the page fetched {u}: {requests:?}"
        );
    }
}

#[test]
fn explore_writes_a_self_contained_page_chromium_renders() {
    let f = Fixture::new();
    let page = f.dir.join("report.html");
    let adv = repo().join("tests/fixtures/advisories/trivy-sample.json");
    let (ok, out) = f.run(
        &f.out,
        &[
            "explore",
            "-o",
            page.to_str().unwrap(),
            "--recipes",
            repo().join("recipes").to_str().unwrap(),
            "--advisories",
            adv.to_str().unwrap(),
            "--now",
            "2026-12-02T00:00:00Z",
            "--key",
            f.public.to_str().unwrap(),
        ],
    );
    assert!(ok, "{out}");
    let html = std::fs::read_to_string(&page).unwrap();
    // Self-contained: nothing to load, and a policy that forbids loading.
    for bad in [" src=", " href=", "@import", "url("] {
        assert!(!html.contains(bad), "{bad:?} in the page");
    }
    assert!(html.contains("default-src 'none'"));

    let url = format!("file://{}", page.display());
    let seen = in_chromium(&url, &f.dir.join("report.png"), None);
    assert_readable(&seen, &url);
    let text = seen["text"].as_str().unwrap();
    // The evidence verified; the open CVEs with their statuses.
    assert!(text.contains("checks of rootwasm verify passed"), "{text}");
    assert!(
        text.contains("CVE-2024-35195") && text.contains("SLA missed"),
        "{text}"
    );
    assert!(
        text.contains("fixed after the SLA"),
        "CVE-2023-32681 was fixed years late: {text}"
    );
}
