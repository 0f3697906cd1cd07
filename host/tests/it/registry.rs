//! `docker://` in and out, against a real registry: Debian's
//! `docker-registry` (distribution 2.8) on 127.0.0.1 with TLS (a CA and a
//! certificate made here with openssl, given by --cert-dir) and htpasswd
//! (bcrypt) auth, or bearer tokens from `tests/python/token_server.py`.
//! skopeo seeds it and reads the results; curl reads the tags a scanner
//! would.

use crate::images::*;
use crate::support::*;
use rootwasm::image::model::{Digest, MEDIA_INDEX, MEDIA_MANIFEST};
use serde_json::Value;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

const USER: &str = "rootwasm";
const PASSWORD: &str = "s3cret-pw";

fn run(cmd: &mut Command) -> Output {
    let o = cmd.output().expect("running a test tool");
    assert!(o.status.success(), "{cmd:?}: {:?}", text(&o));
    o
}

/// A registry process with its storage, certificates and password file.
struct Registry {
    dir: PathBuf,
    port: u16,
    child: Option<Child>,
    /// With bearer-token auth: the token server (`tests/python/token_server.py`).
    token_server: Option<Child>,
}

/// Where `tests/python/token_server.py` logs the token requests.
const TOKEN_LOG: &str = "token-requests.jsonl";

impl Registry {
    /// With htpasswd auth.
    fn start(dir: &Path) -> Registry {
        Self::start_with(dir, false)
    }

    /// With htpasswd (Basic) auth, or with bearer tokens from a token server.
    fn start_with(dir: &Path, bearer: bool) -> Registry {
        let certs = dir.join("certs");
        std::fs::create_dir_all(&certs).unwrap();
        let ossl = |args: &[&str]| run(Command::new("openssl").args(args).current_dir(dir));
        let self_signed = |cn: &str, key: &str, cert: &str| {
            let subject = format!("/CN={cn}");
            ossl(&[
                "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2", "-subj", &subject,
                "-keyout", key, "-out", cert,
            ])
        };
        self_signed("rootwasm test CA", "ca.key", "certs/ca.crt");
        ossl(&[
            "req",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-subj",
            "/CN=127.0.0.1",
            "-keyout",
            "server.key",
            "-out",
            "server.csr",
        ]);
        std::fs::write(
            dir.join("ext.cnf"),
            "subjectAltName=IP:127.0.0.1\nbasicConstraints=CA:FALSE\nextendedKeyUsage=serverAuth\n",
        )
        .unwrap();
        ossl(&[
            "x509",
            "-req",
            "-in",
            "server.csr",
            "-CA",
            "certs/ca.crt",
            "-CAkey",
            "ca.key",
            "-CAcreateserial",
            "-days",
            "2",
            "-extfile",
            "ext.cnf",
            "-out",
            "server.crt",
        ]);
        let o = run(Command::new("htpasswd").args(["-Bbn", USER, PASSWORD]));
        std::fs::write(dir.join("htpasswd"), o.stdout).unwrap();
        let free = || {
            std::net::TcpListener::bind("127.0.0.1:0")
                .unwrap()
                .local_addr()
                .unwrap()
                .port()
        };
        let port = free();
        let mut token_server = None;
        let auth = if bearer {
            self_signed("rootwasm test token issuer", "token.key", "token.crt");
            let tport = free();
            let python = std::env::var("ROOTWASM_TEST_PYTHON").unwrap_or_else(|_| "python3".into());
            token_server = Some(
                Command::new(python)
                    .arg(repo().join("tests/python/token_server.py"))
                    .arg(tport.to_string())
                    .args([dir.join("token.key"), dir.join("token.crt")])
                    .args([USER, PASSWORD, "rootwasm-test-issuer"])
                    .arg(dir.join(TOKEN_LOG))
                    .spawn()
                    .unwrap(),
            );
            wait_for(tport, "token server");
            format!(
                "  token:\n    realm: http://127.0.0.1:{tport}/token\n    service: rootwasm-test-registry\n\
                 \x20   issuer: rootwasm-test-issuer\n    rootcertbundle: {}\n",
                dir.join("token.crt").display()
            )
        } else {
            format!(
                "  htpasswd:\n    realm: rootwasm-test\n    path: {}\n",
                dir.join("htpasswd").display()
            )
        };
        let config = format!(
            "version: 0.1\nlog:\n  level: error\nstorage:\n  filesystem:\n    rootdirectory: {}\n\
             http:\n  addr: 127.0.0.1:{port}\n  tls:\n    certificate: {}\n    key: {}\n\
             auth:\n{auth}",
            dir.join("storage").display(),
            dir.join("server.crt").display(),
            dir.join("server.key").display(),
        );
        std::fs::write(dir.join("config.yml"), config).unwrap();
        let mut r = Registry {
            dir: dir.into(),
            port,
            child: None,
            token_server,
        };
        r.restart();
        r
    }

    /// Start (again) on the same port and storage, and wait until it answers.
    fn restart(&mut self) {
        let child = Command::new("docker-registry")
            .arg("serve")
            .arg(self.dir.join("config.yml"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("docker-registry (scripts/setup.sh --tests installs it)");
        self.child = Some(child);
        wait_for(self.port, "registry");
    }

    fn kill(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }

    /// The token server's log: one JSON object per request.
    fn token_requests(&self) -> Vec<Value> {
        std::fs::read_to_string(self.dir.join(TOKEN_LOG))
            .unwrap_or_default()
            .lines()
            .map(|l| serde_json::from_str(l).unwrap())
            .collect()
    }

    fn image(&self, name: &str) -> String {
        format!("docker://127.0.0.1:{}/{name}", self.port)
    }

    fn certs(&self) -> String {
        self.dir.join("certs").display().to_string()
    }

    fn flags(&self) -> Vec<String> {
        vec![
            "--cert-dir".into(),
            self.certs(),
            "--creds".into(),
            format!("{USER}:{PASSWORD}"),
        ]
    }

    /// `skopeo inspect --raw` of `name` (a `docker://` image), or its error.
    fn skopeo_raw(&self, name: &str) -> Result<Value, String> {
        let o = Command::new("skopeo")
            .args(["inspect", "--raw", "--cert-dir", &self.certs()])
            .args(["--creds", &format!("{USER}:{PASSWORD}")])
            .arg(self.image(name))
            .output()
            .unwrap();
        if o.status.success() {
            Ok(serde_json::from_slice(&o.stdout).unwrap())
        } else {
            Err(String::from_utf8_lossy(&o.stderr).into_owned())
        }
    }

    /// GET a registry API path with curl (the CA and the password given).
    fn curl(&self, path: &str, accept: &str) -> Vec<u8> {
        let o = run(Command::new("curl")
            .args(["-sSf", "--cacert"])
            .arg(self.dir.join("certs/ca.crt"))
            .args([
                "-u",
                &format!("{USER}:{PASSWORD}"),
                "-H",
                &format!("Accept: {accept}"),
            ])
            .arg(format!("https://127.0.0.1:{}/v2/{path}", self.port)));
        o.stdout
    }
}

impl Drop for Registry {
    fn drop(&mut self) {
        self.kill();
        if let Some(mut c) = self.token_server.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

/// Wait until something listens on `port`.
fn wait_for(port: u16, what: &str) {
    let t0 = Instant::now();
    while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(
            t0.elapsed() < Duration::from_secs(20),
            "{what} did not start"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
}

fn apply(input: &str, output: &str, extra: &[String]) -> Output {
    let mut args: Vec<&str> = vec!["--json"];
    args.extend(extra.iter().map(String::as_str));
    apply_cmd(input, output, &repo().join("recipes"), &args)
}

/// The input image as an OCI layout (Debian bookworm root with libexpat1,
/// requests 2.30.0), and the key that signs.
fn input(dir: &Path) -> (PathBuf, PathBuf) {
    let base = dir.join("base");
    debian::vendored_root(&repo(), &base);
    let layers = [
        Layer::from_dir(&base),
        Layer::from_dir(&repo().join("tests/fixtures/requests-2.30.0/rootfs")),
    ];
    let img = image(&layers, "amd64");
    write_layout(&dir.join("in"), &[(&img, "amd64")], "v1");
    let key = dir.join("signing.pem");
    let o = rootwasm(&["key", "generate", key.to_str().unwrap()]);
    assert!(o.status.success(), "{:?}", text(&o));
    (dir.join("in"), key)
}

/// `apply --json`'s `upload` report, the run having succeeded.
fn upload(o: &Output) -> Value {
    assert!(o.status.success(), "{:?}", text(o));
    let v: Value = serde_json::from_slice(&o.stdout).unwrap();
    v["upload"].clone()
}

fn seed(reg: &Registry, layout: &Path, name: &str) {
    run(Command::new("skopeo").args([
        "copy",
        "--dest-cert-dir",
        &reg.certs(),
        "--dest-creds",
        &format!("{USER}:{PASSWORD}"),
        &format!("oci:{}:v1", layout.display()),
        &reg.image(name),
    ]));
}

/// A registry holding the input as `acme/app:v1`, apply's flags for it
/// with the signing key, and the key.
fn seeded(dir: &Path) -> (Registry, Vec<String>, PathBuf) {
    let reg = Registry::start(&dir.join("registry"));
    let (layout, key) = input(dir);
    seed(&reg, &layout, "acme/app:v1");
    let mut flags = reg.flags();
    flags.extend(["--key".into(), key.display().to_string()]);
    (reg, flags, key)
}

#[test]
fn apply_from_and_to_a_registry_with_evidence_and_review() {
    let tmp = tempfile::tempdir().unwrap();
    let (reg, flags, key) = seeded(tmp.path());

    // Same repository: every base blob is already there; only the patch
    // layer, the config, the evidence and manifests travel.
    let o = apply(
        &reg.image("acme/app:v1"),
        &reg.image("acme/app:v1-patched"),
        &flags,
    );
    assert!(o.status.success(), "{:?}", text(&o));
    let up = upload(&o);
    // The base layers were there; everything else is new: the patch layer,
    // the config, the evidence's blobs, and the manifests.
    let base_layers = 2;
    assert!(up["blobs_present"].as_u64().unwrap() >= base_layers, "{up}");
    assert_eq!(up["blobs_mounted"], 0, "{up}");
    assert!(up["blobs_uploaded"].as_u64().unwrap() > 0, "{up}");

    // The same patch again, under another tag: the patch layer and config
    // are there; only the documents that name the new tag (the VEX and SBOM
    // name the image where it is pushed, as scanners do) and manifests travel.
    // (Here the human output, which says what --json's `upload` does.)
    let o = apply_cmd(
        &reg.image("acme/app:v1"),
        &reg.image("acme/app:v1-again"),
        &repo().join("recipes"),
        &flags.iter().map(String::as_str).collect::<Vec<_>>(),
    );
    let (out, err) = text(&o);
    assert!(o.status.success(), "{err}");
    let line = out
        .lines()
        .find(|l| l.starts_with("uploaded "))
        .unwrap_or_else(|| panic!("{out}"));
    let manifest_bytes: u64 = line.split(' ').nth(1).unwrap().parse().unwrap();
    let manifests = up["manifests"].as_u64().unwrap();
    let sent: u64 = line
        .split(": ")
        .nth(1)
        .and_then(|r| r.split(' ').next())
        .unwrap()
        .parse()
        .unwrap();
    assert!(
        sent <= 6 && line.ends_with(&format!("; {manifests} manifests")),
        "{line}"
    );
    assert!(
        manifest_bytes < up["bytes_uploaded"].as_u64().unwrap(),
        "{line}"
    );
    let again = line.to_owned();

    // Another repository on the same registry: the base layers are mounted,
    // not sent, and about the same bytes travel as into the input's
    // repository (the evidence names the other repository).
    let o = apply(
        &reg.image("acme/app:v1"),
        &reg.image("other/app:patched"),
        &flags,
    );
    let other = upload(&o);
    assert_eq!(other["blobs_mounted"], base_layers, "{other}");
    assert_eq!(other["blobs_uploaded"], up["blobs_uploaded"], "{other}");
    let (a, b) = (
        other["bytes_uploaded"].as_u64().unwrap(),
        up["bytes_uploaded"].as_u64().unwrap(),
    );
    assert!(a.abs_diff(b) < 4096, "{other} vs {up}");
    eprintln!("in place: {up}\nagain: {again}\nother repository: {other}");

    // skopeo reads the result, and copies it out.
    let m = reg.skopeo_raw("acme/app:v1-patched").unwrap();
    assert_eq!(m["layers"].as_array().unwrap().len(), 3, "{m}");
    let copy = tmp.path().join("copy");
    run(Command::new("skopeo").args([
        "copy",
        "--src-cert-dir",
        &reg.certs(),
        "--src-creds",
        &format!("{USER}:{PASSWORD}"),
        &reg.image("acme/app:v1-patched"),
        &format!("oci:{}:x", copy.display()),
    ]));

    // The review verbs read the evidence back from the registry.
    let public = format!("{}.pub.pem", key.display());
    let image = reg.image("acme/app:v1-patched");
    let mut args = vec!["verify", image.as_str(), "--key", public.as_str()];
    let f = reg.flags();
    args.extend(f.iter().map(String::as_str));
    let o = rootwasm(&args);
    assert!(o.status.success(), "{:?}", text(&o));
    let creds = format!("{USER}:{PASSWORD}");
    let recipes = repo().join("recipes").display().to_string();
    for verb in [&["history"][..], &["replay"], &["attestation", "vex"]] {
        let mut args = vec![verb[0], image.as_str()];
        args.extend_from_slice(&verb[1..]);
        if verb[0] == "attestation" {
            // No CA given, and TLS checks off instead.
            args.extend(["--tls-verify=false", "--creds", creds.as_str()]);
        } else {
            args.extend(f.iter().map(String::as_str));
        }
        if verb[0] == "history" {
            args.extend(["--key", public.as_str()]);
        }
        let o = rootwasm(&args);
        assert!(o.status.success(), "{verb:?}: {:?}", text(&o));
        if verb[0] == "attestation" {
            // The VEX names the image where it was pushed, as Trivy does.
            let vex: Value = serde_json::from_slice(&o.stdout).unwrap();
            let want = format!(
                "repository_url={}",
                reg.image("acme/app").trim_start_matches("docker://")
            );
            let plain = vex.to_string().replace("%2F", "/").replace("%3A", ":");
            assert!(plain.contains(&want), "{want} not in {vex}");
        }
    }

    // Evidence as other tools find it: the referrers fallback tag, and
    // cosign's `.att` tag holding the DSSE-signed OpenVEX statement.
    let digest = Digest::of(&reg.curl("acme/app/manifests/v1-patched", MEDIA_MANIFEST));
    let referrers: Value = serde_json::from_slice(&reg.curl(
        &format!("acme/app/manifests/sha256-{}", digest.hex()),
        MEDIA_INDEX,
    ))
    .unwrap();
    let types: Vec<&str> = referrers["manifests"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["artifactType"].as_str().unwrap())
        .collect();
    assert!(
        types.contains(&"application/vnd.dsse.envelope.v1+json"),
        "{types:?}"
    );
    assert!(types.contains(&"application/openvex+json"), "{types:?}");
    let att: Value = serde_json::from_slice(&reg.curl(
        &format!("acme/app/manifests/sha256-{}.att", digest.hex()),
        MEDIA_MANIFEST,
    ))
    .unwrap();
    let layer = att["layers"][0]["digest"].as_str().unwrap();
    assert_eq!(
        att["layers"][0]["mediaType"],
        "application/vnd.dsse.envelope.v1+json"
    );
    let envelope = reg.curl(&format!("acme/app/blobs/{layer}"), "*/*");
    let env = rootwasm::attest::dsse::Envelope::from_json(&envelope).unwrap();
    let pk = rootwasm::attest::key::load_public(Path::new(&public)).unwrap();
    let payload =
        rootwasm::attest::dsse::verify(&env, "application/vnd.in-toto+json", &pk).unwrap();
    let st: Value = serde_json::from_slice(&payload).unwrap();
    // cosign's FetchAttestations keeps exactly go-vex's vex.TypeURI.
    assert_eq!(st["predicateType"], "https://openvex.dev/ns");
    assert_eq!(st["subject"][0]["digest"]["sha256"], digest.hex());
    assert!(!st["predicate"]["statements"].as_array().unwrap().is_empty());

    // scan and sbom read a registry too.
    for verb in [
        vec!["scan", image.as_str(), "--recipes", recipes.as_str()],
        vec!["sbom", image.as_str(), "--format", "spdx"],
    ] {
        let mut args = verb.clone();
        args.extend(f.iter().map(String::as_str));
        let o = rootwasm(&args);
        assert!(o.status.success(), "{verb:?}: {:?}", text(&o));
        let (out, _) = text(&o);
        assert!(out.contains("libexpat1"), "{verb:?}: {out}");
    }

    // Patched again with another key, under another tag: the same image
    // manifest, so the same referrers tag, which now lists both sets of
    // evidence (the tag is merged, not overwritten).
    let key2 = tmp.path().join("second.pem");
    let o = rootwasm(&["key", "generate", key2.to_str().unwrap()]);
    assert!(o.status.success(), "{:?}", text(&o));
    let mut flags2 = reg.flags();
    flags2.extend(["--key".into(), key2.display().to_string()]);
    let o = apply(
        &reg.image("acme/app:v1"),
        &reg.image("acme/app:rekeyed"),
        &flags2,
    );
    upload(&o);
    let digest2 = Digest::of(&reg.curl("acme/app/manifests/rekeyed", MEDIA_MANIFEST));
    assert_eq!(digest2, digest, "the same image manifest");
    let merged: Value = serde_json::from_slice(&reg.curl(
        &format!("acme/app/manifests/sha256-{}", digest.hex()),
        MEDIA_INDEX,
    ))
    .unwrap();
    let listed = |v: &Value| -> Vec<String> {
        v["manifests"]
            .as_array()
            .unwrap()
            .iter()
            .map(|m| m["digest"].as_str().unwrap().to_owned())
            .collect()
    };
    let (before, after) = (listed(&referrers), listed(&merged));
    assert!(before.iter().all(|d| after.contains(d)), "{after:?}");
    assert!(after.len() > before.len(), "{after:?}");

    // The input is untouched.
    let again = reg.skopeo_raw("acme/app:v1").unwrap();
    assert_eq!(again["layers"].as_array().unwrap().len(), 2);
}

#[test]
fn failures_leave_nothing_under_the_destination_tag() {
    let tmp = tempfile::tempdir().unwrap();
    let mut reg = Registry::start(&tmp.path().join("registry"));
    let (layout, key) = input(tmp.path());
    seed(&reg, &layout, "acme/app:v1");
    let key_flags = ["--key".to_string(), key.display().to_string()];
    let with = |creds: &str| {
        let mut f = vec![
            "--cert-dir".to_string(),
            reg.certs(),
            "--creds".into(),
            creds.into(),
        ];
        f.extend(key_flags.iter().cloned());
        f
    };
    let absent = |reg: &Registry, name: &str| {
        let e = reg.skopeo_raw(name).expect_err(name);
        assert!(
            e.contains("manifest unknown") || e.contains("not found"),
            "{name}: {e}"
        );
    };

    // A wrong password.
    let o = apply(
        &reg.image("acme/app:v1"),
        &reg.image("acme/app:bad-password"),
        &with(&format!("{USER}:wrong")),
    );
    let (out, err) = text(&o);
    eprintln!("{err}");
    assert!(!o.status.success(), "{out}");
    assert!(
        err.contains("authentication failed") && err.contains("--creds"),
        "{err}"
    );
    absent(&reg, "acme/app:bad-password");

    // An unknown repository.
    let o = apply(
        &reg.image("acme/nothing:v1"),
        &reg.image("acme/nothing:patched"),
        &with(&format!("{USER}:{PASSWORD}")),
    );
    let (_, err) = text(&o);
    eprintln!("{err}");
    assert!(!o.status.success());
    assert!(
        err.contains("not found") && err.contains("acme/nothing"),
        "{err}"
    );
    absent(&reg, "acme/nothing:patched");

    // No CA given: the registry's certificate is refused, clearly.
    let mut f = vec!["--creds".to_string(), format!("{USER}:{PASSWORD}")];
    f.extend(key_flags.iter().cloned());
    let o = apply(&reg.image("acme/app:v1"), &reg.image("acme/app:no-ca"), &f);
    let (_, err) = text(&o);
    eprintln!("{err}");
    assert!(!o.status.success());
    assert!(err.contains("--cert-dir"), "{err}");
    absent(&reg, "acme/app:no-ca");

    // The registry disappears mid-push: from a local layout every base
    // blob must be uploaded; it is killed as the first upload starts.
    let uploads = reg
        .dir
        .join("storage/docker/registry/v2/repositories/acme/killed/_uploads");
    let mut args: Vec<String> = vec![
        "apply".into(),
        format!("oci:{}:v1", layout.display()),
        "--recipes".into(),
        repo().join("recipes").display().to_string(),
        "--output".into(),
        reg.image("acme/killed:v1"),
    ];
    args.extend(with(&format!("{USER}:{PASSWORD}")));
    let mut child = Command::new(env!("CARGO_BIN_EXE_rootwasm"))
        .args(&args)
        .env("ROOTWASM_CACHE_DIR", cache_dir())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let t0 = Instant::now();
    while !uploads.exists() {
        assert!(t0.elapsed() < Duration::from_secs(300), "no upload started");
        if let Some(st) = child.try_wait().unwrap() {
            panic!("apply ended before any upload: {st}");
        }
        std::thread::sleep(Duration::from_millis(1));
    }
    reg.kill();
    let o = child.wait_with_output().unwrap();
    let (_, err) = text(&o);
    eprintln!("{err}");
    assert!(!o.status.success(), "{err}");
    assert!(err.contains("cannot talk to 127.0.0.1"), "{err}");
    reg.restart();
    absent(&reg, "acme/killed:v1");
}

/// `rootwasm <args>` with the environment `env` and no other auth file.
fn rootwasm_env(args: &[String], env: &[(&str, String)]) -> Output {
    let mut c = Command::new(env!("CARGO_BIN_EXE_rootwasm"));
    c.args(args)
        .env("ROOTWASM_CACHE_DIR", cache_dir())
        .env_remove("REGISTRY_AUTH_FILE")
        .env_remove("XDG_RUNTIME_DIR")
        .env_remove("DOCKER_CONFIG");
    for (k, v) in env {
        c.env(k, v);
    }
    c.output().unwrap()
}

#[test]
fn a_multi_platform_index_with_credentials_from_auth_files_and_helpers() {
    use base64::Engine as _;
    let tmp = tempfile::tempdir().unwrap();
    let reg = Registry::start(&tmp.path().join("registry"));
    let (layout, key) = input(tmp.path());
    // Add an arm64 image nothing applies to: the index has two platforms.
    let amd64 = std::fs::read(layout.join("index.json")).unwrap();
    let amd64: Value = serde_json::from_slice(&amd64).unwrap();
    let m = &amd64["manifests"][0];
    let bare = image(
        &[Layer::raw(&[(
            "etc/hostname",
            tar::EntryType::Regular,
            &b"x\n"[..],
        )])],
        "arm64",
    );
    let multi = tmp.path().join("multi");
    copy_tree(&layout, &multi);
    for (d, b) in &bare.blobs {
        std::fs::write(multi.join("blobs/sha256").join(&d[7..]), b).unwrap();
    }
    let index = serde_json::json!({"schemaVersion": 2, "mediaType": MEDIA_INDEX, "manifests": [
        {"mediaType": MEDIA_MANIFEST, "digest": m["digest"], "size": m["size"],
         "platform": {"architecture": "amd64", "os": "linux"}},
        {"mediaType": MEDIA_MANIFEST, "digest": bare.manifest_digest, "size": bare.manifest.len(),
         "platform": {"architecture": "arm64", "os": "linux"}}]});
    let bytes = serde_json::to_vec(&index).unwrap();
    let d = Digest::of(&bytes);
    std::fs::write(multi.join("blobs/sha256").join(d.hex()), &bytes).unwrap();
    let top = serde_json::json!({"schemaVersion": 2, "manifests": [{"mediaType": MEDIA_INDEX,
        "digest": d, "size": bytes.len(), "annotations": {"org.opencontainers.image.ref.name": "v1"}}]});
    std::fs::write(multi.join("index.json"), serde_json::to_vec(&top).unwrap()).unwrap();
    run(Command::new("skopeo").args([
        "copy",
        "--all",
        "--dest-cert-dir",
        &reg.certs(),
        "--dest-creds",
        &format!("{USER}:{PASSWORD}"),
        &format!("oci:{}:v1", multi.display()),
        &reg.image("acme/multi:v1"),
    ]));

    // Credentials from $REGISTRY_AUTH_FILE (containers-auth.json).
    let host = format!("127.0.0.1:{}", reg.port);
    let auth = base64::engine::general_purpose::STANDARD.encode(format!("{USER}:{PASSWORD}"));
    let auth_file = tmp.path().join("auth.json");
    std::fs::write(
        &auth_file,
        serde_json::json!({"auths": {&host: {"auth": auth}}}).to_string(),
    )
    .unwrap();
    let home = ("HOME", tmp.path().display().to_string());
    let args: Vec<String> = [
        "apply",
        &reg.image("acme/multi:v1"),
        "--recipes",
        repo().join("recipes").to_str().unwrap(),
        "--output",
        &reg.image("acme/multi:v1-patched"),
        "--cert-dir",
        &reg.certs(),
        "--key",
        key.to_str().unwrap(),
        "--json",
    ]
    .map(String::from)
    .to_vec();
    let o = rootwasm_env(
        &args,
        &[
            home.clone(),
            ("REGISTRY_AUTH_FILE", auth_file.display().to_string()),
        ],
    );
    let up = upload(&o);
    assert!(up["blobs_present"].as_u64().unwrap() >= 3, "{up}");
    let idx = reg.skopeo_raw("acme/multi:v1-patched").unwrap();
    assert_eq!(idx["mediaType"], MEDIA_INDEX, "{idx}");
    let platforms = idx["manifests"].as_array().unwrap();
    assert_eq!(platforms.len(), 2, "{idx}");
    assert_eq!(
        platforms[1]["digest"], bare.manifest_digest,
        "arm64 passes through untouched"
    );

    // Credentials from a docker credential helper named in $DOCKER_CONFIG/config.json.
    let bin = tmp.path().join("bin");
    std::fs::create_dir_all(&bin).unwrap();
    let helper = bin.join("docker-credential-rwtest");
    std::fs::write(
        &helper,
        format!(
            "#!/bin/sh\nread server\n[ \"$server\" = \"{host}\" ] || {{ echo 'credentials not found'; exit 1; }}\n\
             echo '{{\"ServerURL\":\"{host}\",\"Username\":\"{USER}\",\"Secret\":\"{PASSWORD}\"}}'\n"
        ),
    )
    .unwrap();
    run(Command::new("chmod").arg("755").arg(&helper));
    let docker = tmp.path().join("docker");
    std::fs::create_dir_all(&docker).unwrap();
    std::fs::write(
        docker.join("config.json"),
        serde_json::json!({"credHelpers": {&host: "rwtest"}}).to_string(),
    )
    .unwrap();
    let path = format!("{}:{}", bin.display(), std::env::var("PATH").unwrap());
    let public = format!("{}.pub.pem", key.display());
    let args: Vec<String> = [
        "verify",
        &reg.image("acme/multi:v1-patched"),
        "--platform",
        "linux/amd64",
        "--key",
        &public,
        "--cert-dir",
        &reg.certs(),
    ]
    .map(String::from)
    .to_vec();
    let env = [
        home,
        ("DOCKER_CONFIG", docker.display().to_string()),
        ("PATH", path),
    ];
    let o = rootwasm_env(&args, &env);
    assert!(o.status.success(), "{:?}", text(&o));

    // Without any credentials the registry says no, and the message says where to put them.
    let o = rootwasm_env(&args, &[("HOME", tmp.path().display().to_string())]);
    let (_, err) = text(&o);
    eprintln!("{err}");
    assert!(!o.status.success());
    assert!(
        err.contains("authentication failed") && err.contains("auth.json"),
        "{err}"
    );
}

/// `rootwasm serve --image docker://…`: a patched image in a registry is
/// served like a layout, behind the same tokens.
#[test]
fn serve_reads_a_patched_image_from_the_registry() {
    use crate::serve::{TOKEN, curl, start_with};
    let tmp = tempfile::tempdir().unwrap();
    let (reg, flags, _) = seeded(tmp.path());
    let patched = reg.image("acme/app:v1-patched");
    let o = apply(&reg.image("acme/app:v1"), &patched, &flags);
    assert!(o.status.success(), "{:?}", text(&o));
    let tokens = tmp.path().join("tokens");
    let digest = rootwasm::journal::Sha256Hex::of(TOKEN.as_bytes());
    std::fs::write(&tokens, format!("sha256:{digest}\n")).unwrap();
    let flags = reg.flags();
    let mut args: Vec<&str> = vec!["--image", patched.as_str()];
    args.extend(flags.iter().map(String::as_str));
    let server = start_with(&tokens, &args);
    let auth = format!("Authorization: Bearer {TOKEN}");
    let (status, _, body) = curl(&["-H", &auth, &format!("{}/v1/images/tags", server.base)]);
    assert_eq!(status, 200, "{}", String::from_utf8_lossy(&body));
    let list: Value = serde_json::from_slice(&body).unwrap();
    let id = format!("127.0.0.1_{}_acme_app~v1-patched", reg.port);
    assert_eq!(list[0]["id"], id.as_str(), "{list}");
    assert_eq!(list[0]["tag"], "v1-patched", "{list}");
    // The VEX served is the one attached in the registry, byte for byte.
    let (status, head, vex) = curl(&[
        "-H",
        &auth,
        &format!("{}/v1/images/tags/{id}/vex", server.base),
    ]);
    assert_eq!(status, 200, "{}", String::from_utf8_lossy(&vex));
    assert!(
        head.contains("content-type: application/openvex+json"),
        "{head}"
    );
    let mut att = vec!["attestation".to_owned(), patched.clone(), "vex".into()];
    att.extend(reg.flags());
    let a: Vec<&str> = att.iter().map(String::as_str).collect();
    let o = rootwasm(&a);
    assert!(o.status.success(), "{:?}", text(&o));
    assert_eq!(vex, o.stdout);
    // Without a token: 401, as for layouts.
    let (status, _, _) = curl(&[&format!("{}/v1/images/tags/{id}/vex", server.base)]);
    assert_eq!(status, 401);
}

/// Bearer-token auth as Docker Hub and GHCR do it: the registry answers 401
/// with a `Bearer realm=…` challenge, and the client trades its credentials
/// at the realm for a JWT scoped to the repository. apply pulls and pushes
/// that way, and the review verbs read the result back; a wrong password is
/// refused and leaves no tag.
#[test]
fn bearer_token_auth_as_docker_hub_does_it() {
    let tmp = tempfile::tempdir().unwrap();
    let reg = Registry::start_with(&tmp.path().join("registry"), true);
    let (layout, key) = input(tmp.path());
    seed(&reg, &layout, "acme/app:v1");

    let o = run(Command::new("curl")
        .args(["-s", "-o", "/dev/null", "-D", "-", "--cacert"])
        .arg(reg.dir.join("certs/ca.crt"))
        .arg(format!("https://127.0.0.1:{}/v2/", reg.port)));
    let head = String::from_utf8_lossy(&o.stdout).to_ascii_lowercase();
    assert!(head.contains(" 401"), "{head}");
    assert!(head.contains("www-authenticate: bearer realm="), "{head}");

    let before = reg.token_requests().len();
    let mut flags = reg.flags();
    flags.extend(["--key".into(), key.display().to_string()]);
    let patched = reg.image("acme/app:v1-patched");
    let o = apply(&reg.image("acme/app:v1"), &patched, &flags);
    assert!(o.status.success(), "{:?}", text(&o));
    let asked: Vec<Value> = reg.token_requests().split_off(before);
    let scopes: Vec<&str> = asked
        .iter()
        .filter(|r| r["authed"] == true)
        .flat_map(|r| r["scopes"].as_array().unwrap())
        .filter_map(Value::as_str)
        .collect();
    assert!(
        scopes
            .iter()
            .any(|s| s.starts_with("repository:acme/app:") && s.contains("pull")),
        "{asked:?}"
    );
    assert!(
        scopes
            .iter()
            .any(|s| s.starts_with("repository:acme/app:") && s.contains("push")),
        "{asked:?}"
    );

    let mut args = vec!["verify".to_owned(), patched.clone()];
    args.extend(reg.flags());
    args.extend(["--key".into(), format!("{}.pub.pem", key.display())]);
    let o = rootwasm(&args.iter().map(String::as_str).collect::<Vec<_>>());
    assert!(o.status.success(), "{:?}", text(&o));

    let wrong = vec![
        "--cert-dir".to_owned(),
        reg.certs(),
        "--creds".into(),
        format!("{USER}:not-the-password"),
    ];
    let o = apply(
        &reg.image("acme/app:v1"),
        &reg.image("acme/app:v1-wrong"),
        &wrong,
    );
    assert!(!o.status.success());
    let (_, err) = text(&o);
    assert!(
        err.contains("127.0.0.1"),
        "the error names the registry: {err}"
    );
    assert!(err.contains("check --creds"), "and says what to do: {err}");
    assert!(reg.skopeo_raw("acme/app:v1-wrong").is_err());
}
