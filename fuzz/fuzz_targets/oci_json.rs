//! OCI index, manifest and config JSON: parsing, the lossless round trip
//! rootwasm relies on when it rewrites them, and the platform selection and
//! manifest/config checks (`view::platforms`, `choose_platform`,
//! `load_docs`) over an in-memory blob store.
//!
//! Input: index, manifest and config JSON separated by 0xff bytes (never
//! valid in JSON text).
#![no_main]

use libfuzzer_sys::fuzz_target;
use rootwasm::image::ImageError;
use rootwasm::image::model::{
    Compression, Descriptor, Digest, Index, MEDIA_INDEX, MEDIA_MANIFEST, Manifest,
    to_canonical_json,
};
use rootwasm::image::source::{BlobStore, Top};
use rootwasm::image::view::{choose_platform, load_docs, platforms};
use std::collections::BTreeMap;
use std::io::Read;

#[derive(Default)]
struct Mem(BTreeMap<Digest, Vec<u8>>);

impl Mem {
    fn put(&mut self, media_type: &str, bytes: Vec<u8>) -> Descriptor {
        let d = Descriptor::for_bytes(media_type, &bytes);
        self.0.insert(d.digest.clone(), bytes);
        d
    }
}

impl BlobStore for Mem {
    fn open(&self, digest: &Digest) -> Result<Box<dyn Read + Send + '_>, ImageError> {
        match self.0.get(digest) {
            Some(b) => Ok(Box::new(b.as_slice())),
            None => Err(ImageError::MissingBlob {
                what: "fuzz store".into(),
                digest: digest.to_string(),
            }),
        }
    }
}

/// Rewriting a document must not lose or change anything it held.
fn round_trip<T>(v: &T)
where
    T: serde::Serialize + serde::de::DeserializeOwned + PartialEq + std::fmt::Debug,
{
    let bytes = to_canonical_json(v);
    let back: T = serde_json::from_slice(&bytes).expect("rootwasm's own JSON parses");
    assert_eq!(&back, v, "round trip changed the document");
}

fuzz_target!(|data: &[u8]| {
    let mut parts = data.split(|&b| b == 0xff);
    let index = parts.next().unwrap_or_default();
    let manifest = parts.next().unwrap_or_default();
    let config = parts.next().unwrap_or_default();
    let mut store = Mem::default();

    if let Ok(i) = serde_json::from_slice::<Index>(index) {
        round_trip(&i);
    }
    let index_desc = store.put(MEDIA_INDEX, index.to_vec());
    let config_desc = store.put("application/vnd.oci.image.config.v1+json", config.to_vec());
    // The raw manifest as its own blob, so index entries naming it can load.
    store.put(MEDIA_MANIFEST, manifest.to_vec());

    let mut manifest_desc = None;
    if let Ok(mut m) = serde_json::from_slice::<Manifest>(manifest) {
        round_trip(&m);
        for l in &m.layers {
            let _ = Compression::of_media_type(&l.media_type);
        }
        // Point it at the config part so load_docs gets past the digest check.
        m.config = Descriptor {
            digest: config_desc.digest.clone(),
            size: config_desc.size,
            ..m.config
        };
        manifest_desc = Some(store.put(MEDIA_MANIFEST, to_canonical_json(&m)));
    }

    if let Ok(all) = platforms(&store, &Top::Index(index_desc)) {
        let _ = choose_platform("fuzz", &all, None);
        if let Some((name, _)) = all.first() {
            let _ = choose_platform("fuzz", &all, Some(name));
        }
        for (_, d) in all.iter().take(16) {
            let _ = load_docs(&store, d);
        }
    }
    if let Some(d) = manifest_desc {
        let _ = platforms(&store, &Top::Manifest(d.clone()));
        let _ = load_docs(&store, &d);
    }
});
