//! The patch layer has exactly the journal's effect on the base, under OCI
//! whiteout semantics as a runtime unpacks it (umoci's `unpack` rules:
//! parents resolved through symlinks inside the root, `.wh.<name>` deletes
//! `<name>`, a non-directory replaces whatever was there).
//!
//! A property test: seeded random journals over a small base, hostile names
//! and symlink/directory flips included. Every journal is either refused by
//! `build_layer`, or its layer, unpacked over the base, gives the tree the
//! journal describes. Hostile names are never accepted.

use rootwasm::image::layer::{LayerLimits, read_layer};
use rootwasm::image::merge::Merged;
use rootwasm::image::model::{Compression, Descriptor, Digest, MEDIA_LAYER_TAR};
use rootwasm::image::patch::build_layer;
use rootwasm::journal::{Blobs, Entry, Journal, Op, State};
use rootwasm::rootfs::Kind;
use std::collections::BTreeMap;
use std::io::Read;

#[derive(Clone, Debug, PartialEq, Eq)]
enum Node {
    Dir,
    File(Vec<u8>),
    Link(String),
}

#[derive(Clone, Debug, PartialEq, Eq)]
struct Meta {
    node: Node,
    mode: u32,
    uid: u32,
}

/// A tree as a runtime sees it: path (no leading `/`) to node.
type Tree = BTreeMap<String, Meta>;

fn base_tree() -> Tree {
    let mut t = Tree::new();
    let dir = |mode| Meta {
        node: Node::Dir,
        mode,
        uid: 0,
    };
    let file = |b: &[u8]| Meta {
        node: Node::File(b.to_vec()),
        mode: 0o644,
        uid: 0,
    };
    t.insert("a".into(), dir(0o755));
    t.insert("a/sub".into(), dir(0o750));
    t.insert("a/sub/f1".into(), file(b"one"));
    t.insert("a/sub/f2".into(), file(b"two"));
    // Same name as a file in /etc, so a whiteout through a symlink would show.
    t.insert("a/sub/passwd".into(), file(b"not root"));
    t.insert("a/g".into(), file(b"gee"));
    t.insert(
        "a/link".into(),
        Meta {
            node: Node::Link("/etc".into()),
            mode: 0o777,
            uid: 0,
        },
    );
    t.insert("etc".into(), dir(0o755));
    t.insert("etc/passwd".into(), file(b"root:x:0:0"));
    t.insert("b".into(), file(b"bee"));
    t
}

fn tar_of(tree: &Tree) -> Vec<u8> {
    let mut b = tar::Builder::new(Vec::new());
    for (p, m) in tree {
        let mut h = tar::Header::new_gnu();
        h.set_mode(m.mode);
        h.set_uid(u64::from(m.uid));
        h.set_gid(0);
        h.set_mtime(0);
        match &m.node {
            Node::Dir => {
                h.set_entry_type(tar::EntryType::Directory);
                h.set_size(0);
                b.append_data(&mut h, format!("{p}/"), std::io::empty())
                    .unwrap();
            }
            Node::File(c) => {
                h.set_entry_type(tar::EntryType::Regular);
                h.set_size(c.len() as u64);
                b.append_data(&mut h, p, &c[..]).unwrap();
            }
            Node::Link(t) => {
                h.set_entry_type(tar::EntryType::Symlink);
                h.set_size(0);
                b.append_link(&mut h, p, t).unwrap();
            }
        }
    }
    b.into_inner().unwrap()
}

fn merged(tree: &Tree) -> Merged {
    let tar = tar_of(tree);
    let desc = Descriptor::for_bytes(MEDIA_LAYER_TAR, &tar);
    let idx = read_layer(
        Box::new(std::io::Cursor::new(tar.clone())),
        &desc,
        &Digest::of(&tar),
        &LayerLimits::default(),
        &|_| true,
    )
    .unwrap();
    let mut m = Merged::default();
    m.apply(0, desc.digest.as_str(), idx).unwrap();
    m
}

fn state(m: &Meta) -> State {
    let (kind, size, sha256, target) = match &m.node {
        Node::Dir => (Kind::Dir, None, None, None),
        Node::File(c) => (
            Kind::File,
            Some(c.len() as u64),
            Some(rootwasm::journal::Sha256Hex::of(c)),
            None,
        ),
        Node::Link(t) => (Kind::Symlink, None, None, Some(t.clone())),
    };
    State {
        kind,
        size,
        sha256,
        mode: m.mode,
        uid: m.uid,
        gid: 0,
        target,
    }
}

fn remove_subtree(t: &mut Tree, p: &str) {
    t.remove(p);
    let prefix = format!("{p}/");
    t.retain(|k, _| !k.starts_with(&prefix));
}

/// Resolve `p`'s parent directories through symlinks inside the root, as
/// umoci (securejoin) does; the last component is not followed.
fn resolve_parent(t: &Tree, p: &str) -> Option<String> {
    let (parent, name) = match p.rsplit_once('/') {
        Some((d, n)) => (d, n),
        None => ("", p),
    };
    let mut cur: Vec<String> = Vec::new();
    let mut todo: Vec<String> = parent
        .split('/')
        .filter(|c| !c.is_empty())
        .rev()
        .map(str::to_owned)
        .collect();
    let mut hops = 0;
    while let Some(c) = todo.pop() {
        match c.as_str() {
            "." => continue,
            ".." => {
                cur.pop();
                continue;
            }
            _ => {}
        }
        cur.push(c);
        if let Some(Meta {
            node: Node::Link(target),
            ..
        }) = t.get(&cur.join("/"))
        {
            hops += 1;
            if hops > 40 {
                return None;
            }
            cur.pop();
            if target.starts_with('/') {
                cur.clear();
            }
            todo.extend(
                target
                    .split('/')
                    .filter(|c| !c.is_empty())
                    .rev()
                    .map(str::to_owned),
            );
        }
    }
    cur.push(name.to_owned());
    Some(cur.join("/"))
}

/// Unpack an uncompressed layer over `t` under OCI whiteout semantics.
fn unpack(t: &mut Tree, layer: &[u8]) {
    let mut a = tar::Archive::new(layer);
    for e in a.entries().unwrap() {
        let mut e = e.unwrap();
        let raw = e.path().unwrap().to_string_lossy().into_owned();
        let raw = raw.trim_end_matches('/').to_owned();
        let Some(path) = resolve_parent(t, &raw) else {
            continue;
        };
        let (dir, name) = path.rsplit_once('/').unwrap_or(("", path.as_str()));
        let join = |n: &str| {
            if dir.is_empty() {
                n.to_owned()
            } else {
                format!("{dir}/{n}")
            }
        };
        if name == ".wh..wh..opq" {
            let prefix = format!("{dir}/");
            t.retain(|k, _| !k.starts_with(&prefix));
            continue;
        }
        if let Some(victim) = name.strip_prefix(".wh.") {
            remove_subtree(t, &join(victim));
            continue;
        }
        let h = e.header();
        let mode = h.mode().unwrap() & 0o7777;
        let uid = h.uid().unwrap() as u32;
        let node = match h.entry_type() {
            tar::EntryType::Directory => Node::Dir,
            tar::EntryType::Symlink => Node::Link(
                e.link_name()
                    .unwrap()
                    .unwrap()
                    .to_string_lossy()
                    .into_owned(),
            ),
            _ => {
                let mut c = Vec::new();
                e.read_to_end(&mut c).unwrap();
                Node::File(c)
            }
        };
        let keep_children = node == Node::Dir && t.get(&path).is_some_and(|m| m.node == Node::Dir);
        if !keep_children {
            remove_subtree(t, &path);
        }
        t.insert(path, Meta { node, mode, uid });
    }
}

/// The tree the journal describes: the base with each final state applied,
/// parents first, by literal path.
fn expected(base: &Tree, journal: &Journal) -> Tree {
    let mut t = base.clone();
    let mut finals: BTreeMap<String, Option<Meta>> = BTreeMap::new();
    for e in &journal.entries {
        if let (Op::Rename, Some(from)) = (e.op, &e.from) {
            finals.insert(from.trim_start_matches('/').into(), None);
        }
        let after = e.after.as_ref().map(|s| Meta {
            node: match s.kind {
                Kind::Dir => Node::Dir,
                Kind::Symlink => Node::Link(s.target.clone().unwrap()),
                _ => Node::File(contents_of(s.sha256.as_ref().unwrap())),
            },
            mode: s.mode,
            uid: s.uid,
        });
        finals.insert(e.path.trim_start_matches('/').into(), after);
    }
    for (p, m) in finals {
        let replaced_dir = m.as_ref().is_some_and(|m| m.node == Node::Dir)
            && t.get(&p).is_some_and(|o| o.node == Node::Dir);
        if !replaced_dir {
            remove_subtree(&mut t, &p);
        }
        if let Some(m) = m {
            t.insert(p, m);
        }
    }
    t
}

const CONTENTS: [&[u8]; 3] = [b"patched", b"one", b"x"];

fn contents_of(sha: &rootwasm::journal::Sha256Hex) -> Vec<u8> {
    CONTENTS
        .iter()
        .find(|c| &rootwasm::journal::Sha256Hex::of(c) == sha)
        .unwrap()
        .to_vec()
}

/// xorshift64*: a fixed sequence, so a failure names its seed.
struct Rng(u64);
impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }
    fn pick<'a, T>(&mut self, xs: &'a [T]) -> &'a T {
        &xs[(self.next() % xs.len() as u64) as usize]
    }
}

const PATHS: &[&str] = &[
    "/a/sub",
    "/a/sub/f1",
    "/a/sub/f2",
    "/a/sub/passwd",
    "/a/g",
    "/a/new",
    "/a/new/x",
    "/a/link",
    "/a/link/passwd",
    "/b",
    "/b/c",
    "/etc/passwd",
    "/a/.wh.g",
    "/a/.wh..wh..opq",
    "/a/sub/.wh.f1",
    "/a/.wh.sub/f1",
];

fn is_hostile(p: &str) -> bool {
    p.split('/').any(|c| c.starts_with(".wh."))
}

/// A journal whose entries keep a running view of the tree, as a session
/// would record it; `p_lie` in 1000 of entries record a wrong before-state.
fn random_journal(rng: &mut Rng, base: &Tree) -> (Journal, Blobs) {
    let mut view = base.clone();
    let mut blobs = Blobs::default();
    let mut journal = Journal::default();
    let n = 1 + rng.next() % 6;
    let mut steps: Vec<(String, u64)> = Vec::new();
    for _ in 0..n {
        if rng.next().is_multiple_of(4) {
            // A flip: remove some of a directory's entries, then replace the
            // directory with a symlink, a file or nothing.
            let dir = *rng.pick(&["a/sub", "a"]);
            let children: Vec<String> = view
                .keys()
                .filter(|k| k.starts_with(&format!("{dir}/")))
                .cloned()
                .collect();
            for c in children.iter().rev() {
                if !rng.next().is_multiple_of(3) {
                    steps.push((format!("/{c}"), 0));
                }
            }
            steps.push((format!("/{dir}"), *rng.pick(&[0, 2, 3])));
        } else {
            steps.push((rng.pick(PATHS).to_string(), rng.next() % 5));
        }
    }
    for (path, choice) in steps {
        let key = path.trim_start_matches('/').to_owned();
        let after = match choice {
            0 => None,
            1 => Some(Meta {
                node: Node::Dir,
                mode: 0o755,
                uid: 0,
            }),
            2 => Some(Meta {
                node: Node::Link(rng.pick(&["/etc", "../etc", "f1", "/a/sub"]).to_string()),
                mode: 0o777,
                uid: 0,
            }),
            _ => {
                let c = *rng.pick(&CONTENTS);
                blobs.insert(c.to_vec());
                Some(Meta {
                    node: Node::File(c.to_vec()),
                    mode: *rng.pick(&[0o644, 0o755, 0o4755]),
                    uid: *rng.pick(&[0, 1000]),
                })
            }
        };
        let mut before = view.get(&key).map(state);
        if rng.next().is_multiple_of(20) {
            // A lying before-state.
            before = Some(State {
                mode: 0o600,
                ..before.unwrap_or_else(|| state(&base["b"]))
            });
        }
        let op = match &after {
            None => Op::Remove,
            Some(m) => match m.node {
                Node::Dir => Op::Mkdir,
                Node::Link(_) => Op::Symlink,
                Node::File(_) => Op::WriteFile,
            },
        };
        journal.entries.push(Entry {
            seq: journal.entries.len() as u64,
            recipe: "random".into(),
            op,
            path: path.clone(),
            from: None,
            before,
            after: after.as_ref().map(state),
        });
        remove_subtree(&mut view, &key);
        if let Some(m) = after {
            view.insert(key, m);
        }
    }
    (journal, blobs)
}

#[test]
fn the_layer_has_exactly_the_journals_effect_under_oci_whiteout_semantics() {
    let base = base_tree();
    let merged = merged(&base);
    let (mut accepted, mut refused) = (0, 0);
    for seed in 1..=3000u64 {
        let mut rng = Rng(seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1);
        let (journal, blobs) = random_journal(&mut rng, &base);
        let hostile = journal.entries.iter().any(|e| is_hostile(&e.path));
        match build_layer(&merged, &journal, &blobs, 0, Compression::None, None) {
            Err(_) => refused += 1,
            Ok(layer) => {
                accepted += 1;
                assert!(
                    !hostile,
                    "seed {seed}: a journal with a whiteout name was accepted: {journal:#?}"
                );
                let mut unpacked = base.clone();
                unpack(&mut unpacked, &layer.blob);
                let want = expected(&base, &journal);
                assert_eq!(
                    unpacked, want,
                    "seed {seed}: the layer's effect differs from the journal's: {journal:#?}"
                );
            }
        }
    }
    // The generator must exercise both outcomes to prove anything.
    assert!(accepted > 300, "only {accepted} journals accepted");
    assert!(refused > 300, "only {refused} journals refused");
}

fn entry(path: &str, before: Option<State>, after: Option<State>) -> Entry {
    Entry {
        seq: 0,
        recipe: "r".into(),
        op: if after.is_some() {
            Op::WriteFile
        } else {
            Op::Remove
        },
        path: path.into(),
        from: None,
        before,
        after,
    }
}

/// The review's attack: scope `/a/**`, remove `sub`'s files, replace `sub`
/// with a symlink to `/etc`. The layer must not carry `a/sub/.wh.*` below
/// the symlink, which a runtime would follow into `/etc`.
#[test]
fn a_symlink_over_a_directory_deletes_nothing_through_it() {
    let base = base_tree();
    let merged = merged(&base);
    let mut journal = Journal::default();
    for f in ["f1", "f2", "passwd"] {
        let before = Some(state(&base[&format!("a/sub/{f}")]));
        journal
            .entries
            .push(entry(&format!("/a/sub/{f}"), before, None));
    }
    journal
        .entries
        .push(entry("/a/sub", Some(state(&base["a/sub"])), None));
    let link = Meta {
        node: Node::Link("/etc".into()),
        mode: 0o777,
        uid: 0,
    };
    journal.entries.push(Entry {
        op: Op::Symlink,
        ..entry("/a/sub", None, Some(state(&link)))
    });
    let layer = build_layer(
        &merged,
        &journal,
        &Blobs::default(),
        0,
        Compression::None,
        None,
    )
    .unwrap();
    let mut names = Vec::new();
    for e in tar::Archive::new(&layer.blob[..]).entries().unwrap() {
        names.push(e.unwrap().path().unwrap().to_string_lossy().into_owned());
    }
    assert!(
        names.iter().all(|n| !n.starts_with("a/sub/")),
        "nothing below the symlink: {names:?}"
    );
    let mut unpacked = base.clone();
    unpack(&mut unpacked, &layer.blob);
    assert_eq!(
        unpacked["etc/passwd"].node,
        Node::File(b"root:x:0:0".to_vec())
    );
    assert_eq!(unpacked, expected(&base, &journal));
}

#[test]
fn whiteout_names_and_lying_journals_are_refused() {
    let base = base_tree();
    let merged = merged(&base);
    let mut blobs = Blobs::default();
    blobs.insert(b"x".to_vec());
    let file = Meta {
        node: Node::File(b"x".to_vec()),
        mode: 0o644,
        uid: 0,
    };
    for path in ["/a/.wh..wh..opq", "/a/.wh.sub", "/.wh.etc", "/a/.wh.new/x"] {
        let j = Journal {
            entries: vec![entry(path, None, Some(state(&file)))],
            ..Journal::default()
        };
        let e = build_layer(&merged, &j, &blobs, 0, Compression::None, None)
            .err()
            .unwrap_or_else(|| panic!("{path} was accepted"));
        assert!(e.to_string().contains("whiteout"), "{e}");
    }
    // A before-state that is not what the base holds.
    let j = Journal {
        entries: vec![entry("/b", None, Some(state(&file)))],
        ..Journal::default()
    };
    let e = build_layer(&merged, &j, &blobs, 0, Compression::None, None).unwrap_err();
    assert!(e.to_string().contains("in the base layers it is"), "{e}");
    // A write through a base symlink (`/a/link` -> `/etc`) or under a file.
    for path in ["/a/link/passwd", "/b/c"] {
        let j = Journal {
            entries: vec![entry(path, None, Some(state(&file)))],
            ..Journal::default()
        };
        let e = build_layer(&merged, &j, &blobs, 0, Compression::None, None).unwrap_err();
        assert!(e.to_string().contains("not a directory"), "{path}: {e}");
    }
}
