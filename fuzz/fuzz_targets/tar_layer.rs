//! An uncompressed layer: the tar parser and layer indexing behind
//! `read_layer`, then `Merged::apply`. The descriptor and diff_id are
//! computed from the input so the digest checks pass and the tar is read.
#![no_main]

#[path = "common.rs"]
mod common;

use libfuzzer_sys::fuzz_target;
use rootwasm::image::model::{Digest, MEDIA_LAYER_TAR};

fuzz_target!(|data: &[u8]| {
    // The first byte picks the options; the rest is the layer.
    let Some((&flags, tar)) = data.split_first() else {
        return;
    };
    let diff_id = Digest::of(tar);
    common::stack(
        tar,
        MEDIA_LAYER_TAR,
        &diff_id,
        flags & 1 != 0,
        flags & 2 != 0,
    );
});
