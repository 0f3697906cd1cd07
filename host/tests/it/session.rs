//! The session (staging, scope, journal) and commit, without wasm.

use crate::support::*;
use rootwasm::commit::commit;
use rootwasm::journal::Op;
use rootwasm::rootfs::{DirRoot, Kind};
use rootwasm::scope::Scope;
use rootwasm::session::{ErrorCode, Phase, Session, SessionError, SessionLimits};
use std::os::unix::fs::{MetadataExt, symlink};
use std::sync::Arc;

const LIMITS: SessionLimits = SessionLimits {
    max_written: 1 << 20,
    max_read: 1 << 20,
};

fn setup() -> (tempfile::TempDir, Arc<DirRoot>) {
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path().join("root");
    std::fs::create_dir_all(root.join("usr/lib")).unwrap();
    std::fs::create_dir_all(root.join("etc")).unwrap();
    std::fs::write(root.join("etc/passwd"), "rootfs passwd\n").unwrap();
    std::fs::write(root.join("usr/lib/a"), "a\n").unwrap();
    std::fs::hard_link(root.join("usr/lib/a"), root.join("usr/lib/a-link")).unwrap();
    symlink("usr/lib", root.join("lib")).unwrap();
    symlink("/etc", root.join("usr/lib/hostetc")).unwrap();
    std::fs::write(tmp.path().join("canary"), "canary\n").unwrap();
    let dir = Arc::new(DirRoot::open(&root).unwrap());
    (tmp, dir)
}

fn everything() -> Scope {
    Scope::new(&["/**".into()], &["/**".into()]).unwrap()
}

#[test]
fn staged_changes_are_invisible_until_commit_then_exact() {
    let (tmp, root) = setup();
    let before = tree_hash(root.path());
    let mut s = Session::new(root.clone(), everything(), "t", LIMITS);
    s.set_phase(Phase::Apply);
    s.write_file("/lib/new", b"new\n".to_vec(), 0o755).unwrap();
    s.mkdir("/opt", 0o750).unwrap();
    s.symlink("../usr/lib/new", "/opt/link").unwrap();
    s.hardlink("/usr/lib/new", "/opt/hard").unwrap();
    s.rename("/usr/lib/a", "/usr/lib/b").unwrap();
    s.chmod("/usr/lib/a-link", 0o600).unwrap();
    s.remove("/etc/passwd").unwrap();
    // Reads see the staged view.
    assert_eq!(s.read("/opt/link").unwrap(), b"new\n");
    assert_eq!(s.read("/usr/lib/b").unwrap(), b"a\n");
    assert!(s.lstat("/usr/lib/a").unwrap().is_none());
    let names: Vec<_> = s
        .read_dir("/usr/lib")
        .unwrap()
        .into_iter()
        .map(|(n, _)| n)
        .collect();
    assert_eq!(names, ["a-link", "b", "hostetc", "new"]);
    assert_eq!(tree_hash(root.path()), before, "staging wrote to the tree");

    let changes = s.finish();
    let ops: Vec<_> = changes
        .entries
        .iter()
        .map(|e| (e.op, e.path.as_str()))
        .collect();
    assert_eq!(
        ops,
        [
            (Op::WriteFile, "/usr/lib/new"),
            (Op::Mkdir, "/opt"),
            (Op::Symlink, "/opt/link"),
            (Op::Hardlink, "/opt/hard"),
            (Op::Rename, "/usr/lib/b"),
            (Op::Chmod, "/usr/lib/a-link"),
            (Op::Remove, "/etc/passwd"),
        ]
    );
    // The new file took its parent's owner; before/after states are recorded.
    let w = &changes.entries[0];
    assert!(w.before.is_none());
    let after = w.after.as_ref().unwrap();
    assert_eq!(
        (after.kind, after.mode, after.size),
        (Kind::File, 0o755, Some(4))
    );

    commit(&root, &changes.entries, &changes.blobs).unwrap();
    let r = root.path();
    assert_eq!(std::fs::read(r.join("usr/lib/new")).unwrap(), b"new\n");
    assert_eq!(
        std::fs::read_link(r.join("opt/link")).unwrap().to_str(),
        Some("../usr/lib/new")
    );
    assert_eq!(std::fs::read(r.join("opt/hard")).unwrap(), b"new\n");
    assert_eq!(
        std::fs::metadata(r.join("opt/hard")).unwrap().ino(),
        std::fs::metadata(r.join("usr/lib/new")).unwrap().ino()
    );
    assert_eq!(
        std::fs::metadata(r.join("opt")).unwrap().mode() & 0o7777,
        0o750
    );
    assert_eq!(std::fs::read(r.join("usr/lib/b")).unwrap(), b"a\n");
    assert!(!r.join("usr/lib/a").exists() && !r.join("etc/passwd").exists());
    // chmod copies up: the hardlink partner keeps its mode.
    assert_eq!(
        std::fs::metadata(r.join("usr/lib/a-link")).unwrap().mode() & 0o7777,
        0o600
    );
    assert_eq!(
        std::fs::metadata(r.join("usr/lib/b")).unwrap().mode() & 0o7777,
        0o644
    );
    assert_eq!(
        std::fs::read_to_string(tmp.path().join("canary")).unwrap(),
        "canary\n"
    );
}

#[test]
fn symlinks_resolve_inside_the_root() {
    let (_tmp, root) = setup();
    let mut s = Session::new(root, everything(), "t", LIMITS);
    // /usr/lib/hostetc -> /etc is the rootfs's /etc, never the host's.
    assert_eq!(
        s.read("/usr/lib/hostetc/passwd").unwrap(),
        b"rootfs passwd\n"
    );
    assert_eq!(s.read("/../../../etc/passwd").unwrap(), b"rootfs passwd\n");
    s.set_phase(Phase::Apply);
    s.write_file("/lib/hostetc/../../../../../canary", b"x".to_vec(), 0o644)
        .unwrap();
    let changes = s.finish();
    assert_eq!(changes.entries[0].path, "/canary");
}

#[test]
fn scope_is_checked_on_the_named_and_the_resolved_path() {
    let (_tmp, root) = setup();
    let scope = Scope::new(&["/usr/**".into()], &["/usr/lib/*".into()]).unwrap();
    let mut s = Session::new(root, scope, "t", LIMITS);
    s.set_phase(Phase::Apply);
    let e = s.read("/usr/lib/hostetc/passwd").unwrap_err();
    assert!(
        matches!(e, SessionError::Denied { resolved: Some(ref r), .. } if r == "/etc/passwd"),
        "{e}"
    );
    let e = s.read("/lib/a").unwrap_err();
    assert!(
        matches!(e, SessionError::Denied { resolved: None, .. }),
        "{e}"
    );
    assert!(matches!(
        s.write_file("/usr/x", vec![], 0o644),
        Err(SessionError::Denied { .. })
    ));
    s.write_file("/usr/lib/x", vec![], 0o644).unwrap();
    // Listing shows only what the scope allows.
    let top: Vec<_> = s
        .read_dir("/")
        .unwrap()
        .into_iter()
        .map(|(n, _)| n)
        .collect();
    assert_eq!(top, ["usr"]);
}

#[test]
fn errors_the_guest_can_handle() {
    let (_tmp, root) = setup();
    let mut s = Session::new(root, everything(), "t", LIMITS);
    s.set_phase(Phase::Apply);
    let code = |r: Result<(), SessionError>| match r {
        Err(SessionError::Fs(e)) => e.code,
        other => panic!("{other:?}"),
    };
    assert_eq!(code(s.mkdir("/etc", 0o755)), ErrorCode::AlreadyExists);
    assert_eq!(
        code(s.write_file("/nope/x", vec![], 0o644)),
        ErrorCode::NotFound
    );
    assert_eq!(
        code(s.write_file("/etc/passwd/x", vec![], 0o644)),
        ErrorCode::NotADirectory
    );
    assert_eq!(
        code(s.write_file("/etc", vec![], 0o644)),
        ErrorCode::IsADirectory
    );
    assert_eq!(code(s.remove("/usr")), ErrorCode::DirectoryNotEmpty);
    assert_eq!(code(s.rename("/usr/lib", "/x")), ErrorCode::Unsupported);
    assert_eq!(
        code(s.write_file("/big", vec![0; 2 << 20], 0o644)),
        ErrorCode::LimitExceeded
    );
    s.symlink("/loop2", "/loop1").unwrap();
    s.symlink("/loop1", "/loop2").unwrap();
    assert_eq!(code(s.read("/loop1").map(|_| ())), ErrorCode::SymlinkLoop);
}

#[test]
fn commit_refuses_a_changed_tree() {
    let (_tmp, root) = setup();
    let mut s = Session::new(root.clone(), everything(), "t", LIMITS);
    s.set_phase(Phase::Apply);
    s.write_file("/etc/passwd", b"new\n".to_vec(), 0o644)
        .unwrap();
    let changes = s.finish();
    std::fs::write(root.path().join("etc/passwd"), "someone else\n").unwrap();
    let before = tree_hash(root.path());
    let e = commit(&root, &changes.entries, &changes.blobs)
        .unwrap_err()
        .to_string();
    assert!(
        e.contains("does not match the journal's before-state"),
        "{e}"
    );
    assert_eq!(tree_hash(root.path()), before);
}

/// A name a container runtime reads as a deletion cannot be staged, however
/// it is reached: write, mkdir, symlink, hardlink or rename, directly or
/// through a symlinked directory.
#[test]
fn whiteout_names_cannot_be_staged() {
    let (_tmp, root) = setup();
    let mut s = Session::new(root.clone(), everything(), "t", LIMITS);
    s.set_phase(Phase::Apply);
    let refused = |r: Result<(), SessionError>, what: &str| match r {
        Err(SessionError::Fs(e)) => {
            assert_eq!(e.code, ErrorCode::InvalidPath, "{what}: {e}");
            assert!(e.message.contains("whiteout"), "{what}: {e}");
        }
        other => panic!("{what}: {other:?}"),
    };
    refused(
        s.write_file("/etc/.wh.passwd", Vec::new(), 0o644),
        "write .wh.",
    );
    refused(
        s.write_file("/usr/.wh..wh..opq", Vec::new(), 0o644),
        "write opaque",
    );
    refused(s.mkdir("/usr/.wh.lib", 0o755), "mkdir");
    refused(s.symlink("/etc", "/.wh.etc"), "symlink");
    refused(s.hardlink("/usr/lib/a", "/lib/.wh.a"), "hardlink via /lib");
    refused(s.rename("/usr/lib/a", "/usr/lib/.wh.a-link"), "rename");
    assert!(s.entries().is_empty(), "nothing was journaled");
}

/// Every path below `/` with what a reader sees of it.
fn walk(v: &dyn rootwasm::rootfs::RootView) -> Vec<String> {
    use rootwasm::rootfs::RootPath;
    let mut out = Vec::new();
    let mut todo = vec![RootPath::root()];
    while let Some(dir) = todo.pop() {
        for (name, kind) in v.read_dir(&dir).unwrap() {
            let p = dir.join(&name);
            let m = v.lstat(&p).unwrap().unwrap();
            assert_eq!(m.kind, kind, "{p}");
            let what = match kind {
                Kind::Dir => {
                    todo.push(p.clone());
                    String::new()
                }
                Kind::File => String::from_utf8_lossy(&v.read(&p).unwrap()).into_owned(),
                _ => v.readlink(&p).unwrap(),
            };
            out.push(format!("{p} {:?} {:o} {what:?}", m.kind, m.mode));
        }
    }
    out.sort();
    out
}

#[test]
fn overlays_chained_by_then_see_what_stacked_overlays_see() {
    use rootwasm::rootfs::RootView;
    use rootwasm::session::{Changes, Overlay};
    let (_tmp, root) = setup();
    let steps: [&dyn Fn(&mut Session); 3] = [
        &|s| {
            s.remove("/usr/lib/a-link").unwrap();
            s.remove("/usr/lib/a").unwrap();
            s.mkdir("/opt", 0o755).unwrap();
            s.write_file("/opt/x", b"x\n".to_vec(), 0o644).unwrap();
            s.write_file("/etc/new", b"new\n".to_vec(), 0o600).unwrap();
        },
        &|s| {
            s.remove("/opt/x").unwrap();
            s.remove("/opt").unwrap();
            s.write_file("/usr/lib/c", b"c\n".to_vec(), 0o644).unwrap();
            s.mkdir("/usr/lib/d", 0o700).unwrap();
            s.remove("/usr/lib/hostetc").unwrap();
        },
        &|s| {
            s.mkdir("/opt", 0o750).unwrap();
            s.write_file("/opt/y", b"y\n".to_vec(), 0o644).unwrap();
            s.write_file("/usr/lib/d/z", b"z\n".to_vec(), 0o644)
                .unwrap();
            s.chmod("/etc/passwd", 0o600).unwrap();
            s.symlink("/opt/y", "/etc/new").unwrap_err();
            s.remove("/etc/new").unwrap();
            s.symlink("/opt/y", "/etc/new").unwrap();
        },
    ];
    let base: Arc<dyn RootView + Send + Sync> = root.clone();
    let mut flat = Arc::new(Overlay::new(base.clone(), &Changes::default()));
    let mut stacked = base;
    for step in steps {
        let mut s = Session::new(flat.clone(), everything(), "t", LIMITS);
        s.set_phase(Phase::Apply);
        step(&mut s);
        let changes = s.finish();
        flat = Arc::new(flat.then(&changes));
        stacked = Arc::new(Overlay::new(stacked, &changes));
        assert_eq!(walk(flat.as_ref()), walk(stacked.as_ref()));
    }
    let seen = walk(flat.as_ref());
    assert!(
        seen.iter().any(|l| l.starts_with("/opt/y File")),
        "{seen:#?}"
    );
    assert!(!seen.iter().any(|l| l.starts_with("/opt/x")), "{seen:#?}");
    assert!(
        seen.iter().any(|l| l.starts_with("/etc/new Symlink")),
        "{seen:#?}"
    );
}
