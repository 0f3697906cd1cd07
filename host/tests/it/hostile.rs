//! Hostile recipes: each is a real component that misbehaves. Every one must
//! end in a clear error with the rootfs, the host and a canary outside the
//! root unchanged.

use crate::support::*;
use std::os::unix::fs::symlink;
use std::path::Path;

struct World {
    _tmp: tempfile::TempDir,
    /// The run's own cache directory (created private by rootwasm).
    cache: std::path::PathBuf,
    root: std::path::PathBuf,
    canary: std::path::PathBuf,
    recipes: std::path::PathBuf,
}

fn world() -> World {
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path().join("root");
    std::fs::create_dir_all(root.join("etc")).unwrap();
    std::fs::create_dir_all(root.join("data")).unwrap();
    std::fs::write(
        root.join("etc/passwd"),
        "root:x:0:0:rootfs passwd:/root:/bin/sh\n",
    )
    .unwrap();
    std::fs::write(root.join("etc/shadow"), "root:rootfs-secret:::::::\n").unwrap();
    std::fs::write(root.join("data/keep"), "data\n").unwrap();
    symlink("/etc", root.join("data/escape")).unwrap();
    symlink("../../..", root.join("data/up")).unwrap();
    let canary = tmp.path().join("canary");
    std::fs::write(&canary, "canary\n").unwrap();
    let recipes = tmp.path().join("recipes");
    World {
        cache: tmp.path().join("cache"),
        root,
        canary,
        recipes,
        _tmp: tmp,
    }
}

fn host_file_hash(p: &str) -> Option<String> {
    use sha2::Digest;
    std::fs::read(p)
        .ok()
        .map(|b| hex::encode(sha2::Sha256::digest(b)))
}

/// Run `guest` in `mode` with `limits` and expect failure mentioning `expect`.
fn expect_refused(guest_name: &str, mode: &str, limits: &str, expect: &str) {
    expect_refused_with(guest_name, mode, limits, expect, None);
}

/// [`expect_refused`], with `artifact` (bytes) declared as `a.bin`.
fn expect_refused_with(
    guest_name: &str,
    mode: &str,
    limits: &str,
    expect: &str,
    artifact: Option<&[u8]>,
) -> World {
    let w = world();
    let declared = artifact.map_or(String::new(), |a| {
        use sha2::Digest;
        format!(
            "\n[[artifacts]]\npath = \"a.bin\"\nsha256 = \"{}\"\n",
            hex::encode(sha2::Sha256::digest(a))
        )
    });
    let extra = format!(
        "[capabilities]\nread = [\"/data/**\"]\nwrite = [\"/data/**\"]\n\n[params]\nmode = \"{mode}\"\n\n{limits}\n{declared}"
    );
    if let Some(a) = artifact {
        let d = w.recipes.join(format!("hostile-{mode}"));
        std::fs::create_dir_all(&d).unwrap();
        std::fs::write(d.join("a.bin"), a).unwrap();
    }
    let dir = recipe_dir(
        &w.recipes,
        &format!(
            "hostile-{}",
            if mode.is_empty() { guest_name } else { mode }
        ),
        guest(guest_name),
        &extra,
    );
    let before = tree_hash(&w.root);
    let host_passwd = host_file_hash("/etc/passwd");
    let out = rootwasm(&[
        "run",
        dir.to_str().unwrap(),
        "--rootfs",
        w.root.to_str().unwrap(),
        "--commit",
        "--cache-dir",
        w.cache.to_str().unwrap(),
    ]);
    let (stdout, stderr) = text(&out);
    assert_eq!(
        out.status.code(),
        Some(1),
        "mode {mode}: expected exit 1\nstdout:\n{stdout}\nstderr:\n{stderr}"
    );
    assert!(
        stderr.contains(expect),
        "mode {mode}: stderr lacks {expect:?}:\n{stderr}"
    );
    assert!(stderr.contains("nothing was changed"), "{stderr}");
    assert_eq!(
        tree_hash(&w.root),
        before,
        "mode {mode}: the rootfs changed"
    );
    assert_eq!(
        std::fs::read_to_string(&w.canary).unwrap(),
        "canary\n",
        "mode {mode}: the canary changed"
    );
    assert!(!w.root.join("canary").exists());
    assert_eq!(
        host_file_hash("/etc/passwd"),
        host_passwd,
        "mode {mode}: the host's /etc/passwd changed"
    );
    assert!(!Path::new("/data/staged-before-misbehaving").exists());
    w
}

macro_rules! hostile {
    ($($name:ident: $mode:literal, $limits:literal => $expect:literal;)*) => {$(
        #[test]
        fn $name() {
            expect_refused("hostile", $mode, $limits, $expect);
        }
    )*};
}

hostile! {
    infinite_loop_runs_out_of_fuel: "loop", "[limits]\nfuel = 50_000_000\nmemory-bytes = 33554432\nwall-time-ms = 60000\nwritten-bytes = 1048576"
        => "ran out of fuel (50000000 units)";
    wall_clock_backstop_stops_a_loop: "loop", "[limits]\nfuel = 10_000_000_000_000\nmemory-bytes = 33554432\nwall-time-ms = 300\nwritten-bytes = 1048576"
        => "exceeded its wall-time limit of 300 ms";
    memory_bomb_hits_the_memory_limit: "memory", "[limits]\nfuel = 10_000_000_000\nmemory-bytes = 33554432\nwall-time-ms = 60000\nwritten-bytes = 1048576"
        => "tried to grow memory beyond its limit of 33554432 bytes";
    write_outside_scope: "write-outside", "" => "tried to write /etc/passwd outside its declared scope";
    read_outside_scope: "read-outside", "" => "tried to read /etc/shadow outside its declared scope";
    swallowed_violation_still_fails: "swallow-violation", "" => "tried to read /etc/shadow outside its declared scope";
    absolute_symlink_to_etc: "symlink-abs", "" => "tried to write /data/escape/passwd (resolves to /etc/passwd) outside its declared scope";
    dotdot_symlink_clamps_at_root: "symlink-up", "" => "tried to write /data/up/canary (resolves to /canary) outside its declared scope";
    dotdot_path: "dotdot", "" => "tried to write /data/../../../../canary outside its declared scope";
    relative_path: "relative", "" => "tried to write ../../canary outside its declared scope";
    huge_stdout: "output", "" => "wrote more than 65536 bytes to stdout or stderr";
    huge_log: "log", "" => "produced more than 65536 bytes of log output";
    too_many_bytes_written: "write-too-much", "[limits]\nfuel = 10_000_000_000\nmemory-bytes = 67108864\nwall-time-ms = 60000\nwritten-bytes = 8388608"
        => "would exceed the recipe's limit of 8388608 bytes written";
    returned_error_discards_staged_changes: "fail", "" => "apply returned an error: giving up on purpose";
    panic_is_a_trap: "panic", "" => "apply: trapped";
    check_must_not_write: "check-writes", "" => "`check` tried to modify /data/sneaky; check must be read-only";
}

/// The `derived` store takes names, not paths, and at most the run's
/// written-bytes limit: neither escapes into nor floods the host's cache.
#[test]
fn derived_data_takes_no_path_and_no_more_than_the_written_bytes_limit() {
    let limits = "[limits]\nfuel = 10_000_000_000\nmemory-bytes = 67108864\nwall-time-ms = 60000\nwritten-bytes = 8388608";
    expect_refused_with(
        "hostile",
        "derived-label",
        "",
        "a derived-data label is 1 to 64 of a-z A-Z 0-9 . _ -",
        Some(b"artifact\n"),
    );
    let w = expect_refused_with(
        "hostile",
        "derived-flood",
        limits,
        "derived data of this run would exceed the recipe's written-bytes limit",
        Some(b"artifact\n"),
    );
    // What the flood kept: four 2 MiB parts, the limit's worth, no more.
    let kept = std::fs::read_dir(w.cache.join("derived"))
        .unwrap()
        .map(|e| std::fs::read(e.unwrap().path()).unwrap())
        .filter(|b| b.starts_with(b"rootwasm-derived/1\n"))
        .count();
    assert_eq!(kept, 4);
    assert!(!w.cache.join("canary").exists());
}

#[test]
fn wasi_filesystem_import_is_refused_at_load() {
    expect_refused("fs-import", "", "", "imports `wasi:filesystem/");
}

#[test]
fn tampered_component_is_refused() {
    let w = world();
    let dir = recipe_dir(
        &w.recipes,
        "tampered",
        guest("trivial"),
        "[capabilities]\nwrite = [\"/etc/**\"]",
    );
    let mut wasm = std::fs::read(dir.join("recipe.wasm")).unwrap();
    let n = wasm.len();
    wasm[n - 1] ^= 1;
    std::fs::write(dir.join("recipe.wasm"), wasm).unwrap();
    let before = tree_hash(&w.root);
    let out = rootwasm(&[
        "run",
        dir.to_str().unwrap(),
        "--rootfs",
        w.root.to_str().unwrap(),
        "--commit",
        "--cache-dir",
        w.cache.to_str().unwrap(),
    ]);
    let (_, stderr) = text(&out);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(
        stderr.contains("recipe.wasm: sha256 is") && stderr.contains("but recipe.toml pins"),
        "{stderr}"
    );
    assert_eq!(tree_hash(&w.root), before);
}

#[test]
fn unknown_manifest_field_is_refused() {
    let w = world();
    let dir = recipe_dir(
        &w.recipes,
        "typo",
        guest("trivial"),
        "[capabilities]\nwirte = [\"/**\"]",
    );
    let out = rootwasm(&[
        "run",
        dir.to_str().unwrap(),
        "--rootfs",
        w.root.to_str().unwrap(),
    ]);
    let (_, stderr) = text(&out);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(stderr.contains("unknown field `wirte`"), "{stderr}");
}

#[test]
fn wasi_sockets_import_is_refused_at_load() {
    expect_refused("net-import", "", "", "imports `wasi:sockets/");
}
