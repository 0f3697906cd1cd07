//! `journal.json`: `Journal::from_json` and its canonical form, then the
//! journal's final states turned into a patch layer (`patch::build_layer`)
//! over a base holding its before-states, and that layer read back with
//! rootwasm's own reader.
#![no_main]

use libfuzzer_sys::fuzz_target;
use rootwasm::image::layer::{Entry as LayerEntry, EntryKind, LayerIndex, LayerLimits, read_layer};
use rootwasm::image::merge::Merged;
use rootwasm::image::model::{Compression, Descriptor, MEDIA_LAYER_TAR};
use rootwasm::image::patch::build_layer;
use rootwasm::journal::{Blobs, Journal, Op, State};
use rootwasm::rootfs::{Kind, Meta, RootPath};
use rootwasm::session::{Content, Node, Staged};
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
        size: 0,
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

    // Final states, the way review and apply derive them; file contents
    // are stand-ins so every named blob exists.
    let mut blobs = Blobs::default();
    let mut staged: BTreeMap<RootPath, Staged> = BTreeMap::new();
    for e in &j.entries {
        let Ok(path) = RootPath::lexical(&e.path) else {
            return;
        };
        if let (Op::Rename, Some(from)) = (e.op, &e.from) {
            let Ok(from) = RootPath::lexical(from) else {
                return;
            };
            staged.insert(from, Staged::Removed);
        }
        let s = match &e.after {
            None => Staged::Removed,
            Some(st) => {
                let content = match (&st.sha256, &st.target) {
                    (Some(_), _) => {
                        let (d, _) = blobs.insert(e.recipe.clone().into_bytes());
                        Content::Blob(d)
                    }
                    (None, Some(t)) => Content::Link(t.clone()),
                    (None, None) => Content::None,
                };
                Staged::Node(Node {
                    meta: Meta {
                        kind: st.kind,
                        size: st.size.unwrap_or(0),
                        mode: st.mode,
                        uid: st.uid,
                        gid: st.gid,
                    },
                    content,
                })
            }
        };
        staged.insert(path, s);
    }
    let Ok(built) = build_layer(&base, &staged, &blobs, 0, Compression::None) else {
        return;
    };
    let desc = Descriptor::for_bytes(MEDIA_LAYER_TAR, &built.blob);
    let read = read_layer(
        Box::new(built.blob.as_slice()),
        &desc,
        &built.diff_id,
        &LayerLimits::default(),
        &|_| true,
    );
    if let Ok(idx) = read {
        let _ = base.clone().apply(1, "sha256:patch", idx);
    }
});
