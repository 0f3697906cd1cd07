//! Local attack surfaces: planted names in a committed tree, recipe artifacts
//! outside the recipe, cache directories others can write, terminal output.

use crate::support::*;
use rootwasm::commit::commit;
use rootwasm::rootfs::DirRoot;
use rootwasm::scope::Scope;
use rootwasm::session::{Phase, Session, SessionLimits};
use std::os::unix::fs::symlink;
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
    s.write_file("/etc/target", b"new\n".to_vec(), 0o640).unwrap();
    let changes = s.finish();
    commit(&dir, &changes.entries, &changes.blobs).unwrap();

    assert_eq!(std::fs::read(root.join("etc/target")).unwrap(), b"new\n");
    assert_eq!(std::fs::read(root.join("etc/victim")).unwrap(), b"victim\n");
    assert_eq!(std::fs::read(tmp.path().join("outside")).unwrap(), b"outside\n");
    let link = std::fs::read_link(root.join("etc/.target.rootwasm-tmp")).unwrap();
    assert_eq!(link, std::path::Path::new("victim"));
    let mut names: Vec<_> = std::fs::read_dir(root.join("etc"))
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .collect();
    names.sort();
    assert_eq!(
        names,
        [".target.rootwasm-tmp", ".target.rootwasm-tmp2", "target", "victim"],
        "no temporary file is left behind"
    );
    use std::os::unix::fs::PermissionsExt;
    let mode = std::fs::metadata(root.join("etc/target")).unwrap().permissions().mode();
    assert_eq!(mode & 0o7777, 0o640);
}
