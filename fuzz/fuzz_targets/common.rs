//! Shared by the layer targets: index one layer blob and stack it.

use rootwasm::image::layer::{LayerIndex, LayerLimits, read_layer};
use rootwasm::image::merge::Merged;
use rootwasm::image::model::{Descriptor, Digest};

/// Small enough that a bomb is refused quickly, not in minutes.
pub const LIMITS: LayerLimits = LayerLimits {
    max_layer_bytes: 64 << 20,
    max_entries: 100_000,
    max_captured_file: 16 << 20,
    max_captured_bytes: 16 << 20,
    max_index_bytes: 16 << 20,
    max_path_bytes: 4096,
    max_path_depth: 256,
    max_header_bytes: 1 << 20,
};

/// Index `blob` as a layer of `media_type` whose uncompressed contents hash
/// to `diff_id`; `capture_all` keeps every file's contents.
pub fn index(
    blob: &[u8],
    media_type: &str,
    diff_id: &Digest,
    capture_all: bool,
) -> Option<LayerIndex> {
    let desc = Descriptor::for_bytes(media_type, blob);
    // Capture either everything or a scope-like subset, as recipes would.
    let capture =
        move |p: &rootwasm::rootfs::RootPath| capture_all || p.as_str().starts_with("/etc/");
    read_layer(Box::new(blob), &desc, diff_id, &LIMITS, &capture).ok()
}

/// Stack the layer on an empty tree, then on itself (whiteouts and opaque
/// markers then have something to hide); errors are fine, panics are not.
pub fn stack(blob: &[u8], media_type: &str, diff_id: &Digest, capture_all: bool, twice: bool) {
    let Some(idx) = index(blob, media_type, diff_id, capture_all) else {
        return;
    };
    let mut merged = Merged::default();
    if merged.apply(0, "sha256:fuzz0", idx).is_err() || !twice {
        return;
    }
    if let Some(idx) = index(blob, media_type, diff_id, capture_all) {
        let _ = merged.apply(1, "sha256:fuzz1", idx);
    }
}
