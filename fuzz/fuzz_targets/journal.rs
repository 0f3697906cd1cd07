//! `journal.json`: `Journal::from_json` and its canonical form, then the
//! journal made into a patch layer (`patch::build_layer`) over a base
//! holding its before-states; a layer the builder accepts must read back
//! with rootwasm's own reader and apply over that base.
#![no_main]

use libfuzzer_sys::fuzz_target;
use rootwasm::image::layer::{Entry as LayerEntry, EntryKind, LayerIndex, LayerLimits, read_layer};
use rootwasm::image::merge::Merged;
use rootwasm::image::model::{Compression, Descriptor, MEDIA_LAYER_TAR};
use rootwasm::image::patch::build_layer;
use rootwasm::journal::{Blobs, Journal, State};
use rootwasm::rootfs::{Kind, RootPath};
use std::collections::BTreeMap;

fn layer_entry(path: RootPath, st: Option<&State>) -> LayerEntry {
    let kind = match st {
        None => EntryKind::Dir,
        Some(s) => match (s.kind, &s.target) {
            (Kind::Symlink, Some(t)) if !t.is_empty() => EntryKind::Symlink { target: t.clone() },
            (Kind::Dir, _) => EntryKind::Dir,
            _ => EntryKind::File { content: None },
        },
    };
    LayerEntry {
        name: path.relative().to_owned(),
        path,
        kind,
        mode: st.map_or(0o755, |s| s.mode & 0o7777),
        uid: st.map_or(0, |s| s.uid),
        gid: st.map_or(0, |s| s.gid),
        size: st.and_then(|s| s.size).unwrap_or(0),
        mtime: 0,
        xattrs: Vec::new(),
    }
}

fuzz_target!(|data: &[u8]| {
    let Ok(j) = Journal::from_json(data) else {
        return;
    };
    // The canonical bytes are what gets signed: they must parse back to the same journal.
    let again = Journal::from_json(j.to_json().as_bytes()).expect("canonical journal parses");
    assert_eq!(again, j);

    // The base: every before-state, and directories above every path.
    let mut base_entries: BTreeMap<RootPath, LayerEntry> = BTreeMap::new();
    for e in &j.entries {
        let Ok(p) = RootPath::lexical(&e.path) else {
            return;
        };
        let mut a = p.parent();
        while !a.is_root() {
            base_entries
                .entry(a.clone())
                .or_insert_with(|| layer_entry(a.clone(), None));
            a = a.parent();
        }
        if let Some(b) = &e.before
            && !p.is_root()
        {
            base_entries.insert(p.clone(), layer_entry(p, Some(b)));
        }
    }
    let mut base = Merged::default();
    let index = LayerIndex {
        entries: base_entries.into_values().collect(),
        contents: BTreeMap::new(),
    };
    if base.apply(0, "sha256:base", index).is_err() {
        base = Merged::default();
    }

    // File contents are stand-ins, so every blob the journal names exists.
    let mut blobs = Blobs::default();
    let mut j = j;
    for e in &mut j.entries {
        if let Some(st) = &mut e.after
            && st.sha256.is_some()
        {
            let bytes = e.recipe.clone().into_bytes();
            st.size = Some(bytes.len() as u64);
            let (d, _) = blobs.insert(bytes);
            st.sha256 = Some(d);
        }
    }
    let Ok(built) = build_layer(&base, &j, &blobs, 0, Compression::None) else {
        return;
    };
    // A layer the builder accepted is one rootwasm's own reader accepts over
    // the same base (no whiteout names, nothing below a symlink).
    let desc = Descriptor::for_bytes(MEDIA_LAYER_TAR, &built.blob);
    let idx = read_layer(
        Box::new(built.blob.as_slice()),
        &desc,
        &built.diff_id,
        &LayerLimits::default(),
        &|_| true,
    )
    .expect("a built patch layer reads back");
    base.clone()
        .apply(1, "sha256:patch", idx)
        .expect("a built patch layer applies over its base");
});
