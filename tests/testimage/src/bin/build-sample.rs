//! Build the sample image for `scripts/sample.sh`: a Debian bookworm root
//! made from the vendored real packages, plus the vendored pip install of
//! requests 2.30.0, as a two-layer OCI layout tagged `bookworm-requests`.
//!
//! Usage: build-sample <repo-root> <layout-dir>. Does nothing if the layout exists.

use rootwasm_testimage::{Layer, debian::vendored_root, image, write_layout};
use std::path::PathBuf;

fn main() {
    let args: Vec<PathBuf> = std::env::args_os().skip(1).map(PathBuf::from).collect();
    let [repo, out] = args.as_slice() else {
        eprintln!("usage: build-sample <repo-root> <layout-dir>");
        std::process::exit(2);
    };
    if out.join("index.json").exists() {
        eprintln!("sample image already built at {}", out.display());
        return;
    }
    let work = out.with_extension("work");
    let _ = std::fs::remove_dir_all(&work);
    let root = work.join("debian");
    std::fs::create_dir_all(&root).unwrap();
    vendored_root(repo, &root);
    let layers = [
        Layer::from_dir(&root),
        Layer::from_dir(&repo.join("tests/fixtures/requests-2.30.0/rootfs")),
    ];
    let img = image(&layers, "amd64");
    write_layout(out, &[(&img, "amd64")], "bookworm-requests");
    std::fs::remove_dir_all(&work).unwrap();
    eprintln!(
        "built the sample image at {} from the vendored Debian packages and requests 2.30.0",
        out.display()
    );
}
