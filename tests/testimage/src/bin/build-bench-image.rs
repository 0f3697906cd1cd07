//! Wrap an existing gzip'd tar (e.g. a debootstrap minbase) as a one-layer
//! OCI layout, for `scripts/bench-image.sh`.
//!
//! Usage: build-bench-image <layer.tar.gz> <layout-dir>

use flate2::read::GzDecoder;
use sha2::{Digest, Sha256};
use std::io::Read;
use std::path::PathBuf;

fn main() {
    let args: Vec<PathBuf> = std::env::args_os().skip(1).map(PathBuf::from).collect();
    let [layer, out] = args.as_slice() else {
        eprintln!("usage: build-bench-image <layer.tar.gz> <layout-dir>");
        std::process::exit(2);
    };
    let blob = std::fs::read(layer).unwrap();
    let mut h = Sha256::new();
    let mut d = GzDecoder::new(blob.as_slice());
    let mut buf = vec![0u8; 1 << 20];
    loop {
        let n = d.read(&mut buf).unwrap();
        if n == 0 {
            break;
        }
        h.update(&buf[..n]);
    }
    let diff_id = format!("sha256:{}", hex::encode(h.finalize()));
    let img = rootwasm_testimage::image_from_blobs(&[(blob, diff_id)], "amd64");
    rootwasm_testimage::write_layout(out, &[(&img, "amd64")], "minbase");
}
