//! `rootwasm serve`: the evidence API, checked with a real HTTP client
//! (curl): every endpoint, 401 without and with a wrong token, traversal
//! attempts, HEAD, conditional GET, content types, ETags equal to the
//! artifact digests, and a graceful stop on SIGTERM.

use crate::review::{Fixture, artifact_layer};
use crate::support::*;
use std::process::{Child, Command, Stdio};

pub(crate) const TOKEN: &str = "test-token-2b7e151628aed2a6abf71588";

pub(crate) struct Server {
    child: Child,
    pub(crate) base: String,
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// `(status, lowercase headers, body)` of one curl request.
pub(crate) fn curl(args: &[&str]) -> (u16, String, Vec<u8>) {
    let o = Command::new("curl")
        .args(["-sS", "--path-as-is", "-i", "--max-time", "120"])
        .args(args)
        .output()
        .unwrap();
    assert!(
        o.status.success(),
        "curl {args:?}: {}",
        String::from_utf8_lossy(&o.stderr)
    );
    let raw = o.stdout;
    let split = raw.windows(4).position(|w| w == b"\r\n\r\n").unwrap();
    let head = String::from_utf8_lossy(&raw[..split]).to_lowercase();
    let status = head.split_whitespace().nth(1).unwrap().parse().unwrap();
    (status, head, raw[split + 4..].to_vec())
}

fn header<'a>(head: &'a str, name: &str) -> Option<&'a str> {
    head.lines()
        .find_map(|l| l.strip_prefix(&format!("{name}: ")))
        .map(str::trim)
}

fn start(images: &std::path::Path, tokens: &std::path::Path, extra: &[&str]) -> Server {
    let mut args = vec!["--images", images.to_str().unwrap()];
    args.extend_from_slice(extra);
    start_with(tokens, &args)
}

/// `rootwasm serve --tokens <tokens> <args>` on a free port.
pub(crate) fn start_with(tokens: &std::path::Path, args: &[&str]) -> Server {
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let listen = format!("127.0.0.1:{port}");
    let mut child = Command::new(env!("CARGO_BIN_EXE_rootwasm"))
        .args(["serve", "--tokens", tokens.to_str().unwrap()])
        .args(["--listen", &listen])
        .args(args)
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let base = format!("http://{listen}");
    for _ in 0..200 {
        if std::net::TcpStream::connect(&listen).is_ok() {
            return Server { child, base };
        }
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    let _ = child.kill();
    let _ = child.wait();
    panic!("serve did not start on {listen}");
}

/// A served directory with the patched sample layout as `sample`, and a
/// tokens file holding the digest of [`TOKEN`].
pub(crate) fn served(f: &Fixture) -> (std::path::PathBuf, std::path::PathBuf) {
    let images = f.dir.join("images");
    std::fs::create_dir_all(&images).unwrap();
    copy_tree(&f.out, &images.join("sample"));
    let tokens = f.dir.join("tokens");
    let digest = rootwasm::journal::Sha256Hex::of(TOKEN.as_bytes());
    std::fs::write(&tokens, format!("# test token\nsha256:{digest}\n")).unwrap();
    (images, tokens)
}

#[test]
fn the_api_serves_every_document_behind_tokens() {
    let f = Fixture::new();
    let (images, tokens) = served(&f);
    let s = start(
        &images,
        &tokens,
        &["--recipes", repo().join("recipes").to_str().unwrap()],
    );
    let auth = format!("Authorization: Bearer {TOKEN}");
    let get = |path: &str, extra: &[&str]| {
        let url = format!("{}{path}", s.base);
        let mut args = vec!["-H", auth.as_str()];
        args.extend_from_slice(extra);
        args.push(url.as_str());
        curl(&args)
    };
    // No token, a wrong token: 401 with a challenge.
    let list = format!("{}/v1/images/tags", s.base);
    let (st, head, _) = curl(&[&list]);
    assert_eq!(st, 401);
    assert_eq!(header(&head, "www-authenticate"), Some("bearer"));
    let (st, _, _) = curl(&["-H", "Authorization: Bearer wrong", &list]);
    assert_eq!(st, 401);

    let (st, head, body) = get("/v1/images/tags", &[]);
    assert_eq!(
        (st, header(&head, "content-type")),
        (200, Some("application/json"))
    );
    let listed: serde_json::Value = serde_json::from_slice(&body).unwrap();
    assert_eq!(listed.as_array().unwrap().len(), 1, "{listed}");
    assert_eq!(listed[0]["id"], "sample~patched");
    assert_eq!(
        (listed[0]["name"].as_str(), listed[0]["tag"].as_str()),
        (Some("sample"), Some("patched"))
    );
    assert!(listed[0]["digest"].as_str().unwrap().starts_with("sha256:"));

    let layout = images.join("sample");
    let cases: [(&str, &str, Option<&str>, &str); 7] = [
        (
            "sbom",
            "application/vnd.cyclonedx+json",
            Some(ARTIFACT_CDX),
            "\"bomFormat\"",
        ),
        (
            "sbom?format=spdx",
            "application/spdx+json",
            Some("application/spdx+json"),
            "\"spdxVersion\"",
        ),
        (
            "vex",
            "application/openvex+json",
            Some("application/openvex+json"),
            "openvex.dev/ns/v0.2.0",
        ),
        (
            "provenance",
            "application/vnd.dsse.envelope.v1+json",
            Some("application/vnd.in-toto+json"),
            "\"payloadType\"",
        ),
        (
            "journal",
            "application/json",
            Some("application/vnd.dev.rootwasm.journal.v1+json"),
            "\"entries\"",
        ),
        (
            "patches",
            "application/json",
            None,
            "requests-cve-2023-32681",
        ),
        (
            "explorer",
            "text/html; charset=utf-8",
            None,
            "CVE-2023-32681",
        ),
    ];
    for (doc, ct, artifact, needle) in cases {
        let (st, head, body) = get(&format!("/v1/images/tags/sample~patched/{doc}"), &[]);
        assert_eq!(st, 200, "{doc}: {}", String::from_utf8_lossy(&body));
        assert_eq!(header(&head, "content-type"), Some(ct), "{doc}");
        let text = String::from_utf8_lossy(&body);
        assert!(text.contains(needle), "{doc}: {needle} not in {text:.300}");
        let etag = header(&head, "etag").unwrap().to_owned();
        assert_eq!(
            etag,
            format!("\"sha256:{}\"", rootwasm::journal::Sha256Hex::of(&body)),
            "{doc}"
        );
        if let Some(t) = artifact {
            // The attached documents: ETag is the artifact blob's digest.
            assert_eq!(
                etag,
                format!("\"{}\"", artifact_layer(&layout, t, 0)),
                "{doc}"
            );
        }
        // A conditional GET with that ETag: 304, no body.
        let inm = format!("If-None-Match: {etag}");
        let (st, _, body) = get(
            &format!("/v1/images/tags/sample~patched/{doc}"),
            &["-H", &inm],
        );
        assert_eq!((st, body.len()), (304, 0), "{doc}");
    }
    // HEAD: the headers of a GET, no body.
    let (st, head, body) = get("/v1/images/tags/sample~patched/vex", &["-I"]);
    assert_eq!((st, body.len()), (200, 0));
    assert_eq!(
        header(&head, "content-type"),
        Some("application/openvex+json")
    );
    assert!(header(&head, "etag").is_some());

    // Traversal and unknown ids: nothing outside the catalog is reachable.
    for path in [
        "/v1/images/tags/..%2F..%2F..%2Fetc%2Fpasswd/sbom",
        "/v1/images/tags/../../../etc/passwd/sbom",
        "/v1/images/tags/sample~patched%2F..%2F..%2Fsample/sbom",
        "/v1/images/tags/sample/sbom",
        "/v1/images/tags/sample~patched/..%2F..%2Findex.json",
    ] {
        let (st, _, body) = get(path, &[]);
        assert!(st == 404, "{path}: {st} {}", String::from_utf8_lossy(&body));
        assert!(!String::from_utf8_lossy(&body).contains("root:"), "{path}");
    }
    // The served page, in headless Chromium with the token: readable, the
    // diff expands, and nothing but the page itself is fetched.
    let page = format!("{}/v1/images/tags/sample~patched/explorer", s.base);
    let seen = crate::explore::in_chromium(&page, &f.dir.join("served.png"), Some(TOKEN));
    crate::explore::assert_readable(&seen, &page);

    let (st, _, _) = get("/v1/images/tags/sample~patched/sbom?format=xml", &[]);
    assert_eq!(st, 400);
    // A request body over 16 KiB is refused before any work.
    let big = f.dir.join("big");
    std::fs::write(&big, vec![b'x'; 32 * 1024]).unwrap();
    let data = format!("@{}", big.display());
    let (st, _, _) = get(
        "/v1/images/tags/sample~patched/vex",
        &["-X", "GET", "--data-binary", &data],
    );
    assert_eq!(st, 413);
}

const ARTIFACT_CDX: &str = "application/vnd.cyclonedx+json";

#[test]
fn serve_stops_gracefully_and_refuses_bad_token_files() {
    let f = Fixture::new();
    let (images, tokens) = served(&f);
    let mut s = start(&images, &tokens, &[]);
    let pid = s.child.id().to_string();
    assert!(
        Command::new("kill")
            .args(["-TERM", &pid])
            .status()
            .unwrap()
            .success()
    );
    let st = s.child.wait().unwrap();
    assert!(st.success(), "{st:?}");
    let mut err = String::new();
    use std::io::Read as _;
    s.child
        .stderr
        .take()
        .unwrap()
        .read_to_string(&mut err)
        .unwrap();
    assert!(err.contains("stopped"), "{err}");

    // A token in clear is refused, naming the line and what to write.
    std::fs::write(&tokens, "hunter2\n").unwrap();
    let o = rootwasm(&[
        "serve",
        "--images",
        images.to_str().unwrap(),
        "--tokens",
        tokens.to_str().unwrap(),
    ]);
    assert!(!o.status.success());
    assert!(
        text(&o).1.contains("line 1: expected `sha256:<64 hex>`"),
        "{:?}",
        text(&o)
    );
}

/// docs/api.md's OpenAPI description is valid OpenAPI 3.1
/// (openapi-spec-validator) and describes exactly the documents the server
/// answers (the test above requests each one).
#[test]
fn the_openapi_description_is_valid_and_complete() {
    let python = std::env::var("ROOTWASM_TEST_PYTHON").unwrap_or_else(|_| "python3".into());
    let o = Command::new(python)
        .arg(repo().join("tests/python/openapi_check.py"))
        .arg(repo().join("docs/api.md"))
        .output()
        .unwrap();
    let (out, err) = text(&o);
    assert!(o.status.success(), "{out}{err}");
    let paths: Vec<&str> = out
        .lines()
        .map(|l| l.split_whitespace().next().unwrap())
        .collect();
    let mut want = vec!["/v1/images/tags".to_owned()];
    for doc in [
        "sbom",
        "vex",
        "provenance",
        "journal",
        "patches",
        "explorer",
    ] {
        want.push(format!("/v1/images/tags/{{id}}/{doc}"));
    }
    assert_eq!(paths, want);
}
