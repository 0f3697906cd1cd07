//! A gzip layer: hostile gzip streams (multi-member, truncated, trailing
//! bytes) into `read_layer`. The diff_id is computed here by inflating the
//! same bytes, so a valid stream reaches the tar parser.
#![no_main]

#[path = "common.rs"]
mod common;

use libfuzzer_sys::fuzz_target;
use rootwasm::image::model::{Digest, MEDIA_LAYER_GZIP};
use std::io::Read;

fuzz_target!(|data: &[u8]| {
    let Some((&flags, blob)) = data.split_first() else {
        return;
    };
    let mut tar = Vec::new();
    let inflated = flate2::read::MultiGzDecoder::new(blob)
        .take(common::LIMITS.max_layer_bytes + 1)
        .read_to_end(&mut tar);
    // A broken stream still runs, with a diff_id it cannot match.
    let diff_id = match inflated {
        Ok(_) => Digest::of(&tar),
        Err(_) => Digest::of(b"not a valid gzip stream"),
    };
    common::stack(
        blob,
        MEDIA_LAYER_GZIP,
        &diff_id,
        flags & 1 != 0,
        flags & 2 != 0,
    );
});
