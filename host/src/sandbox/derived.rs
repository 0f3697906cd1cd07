//! On-disk store behind the `derived` interface: data a recipe computed
//! from one of its artifacts (the decompressed `data.tar` of a `.deb`, say),
//! kept so that the next run of the same component on the same artifact
//! reads it instead of deriving it again.
//!
//! An entry is keyed by the component's sha256, the artifact's sha256 and
//! the recipe's label, so only the same code given the same bytes reads it
//! back; the recipe world requires the data to be a pure function of the
//! artifact, so a run with the entry and one without give the same changes.
//! Entries live in the component cache's directory (`<cache>/derived/`) and
//! pass the same [`private_dir`] check: whoever can write there could change
//! what a recipe sees, exactly as with the layer index cache. Each file's
//! header binds it to its key and to the sha256 of the data, so a renamed or
//! damaged entry is ignored and the recipe derives the data afresh.

use crate::image::cache::{private_dir, warn_once};
use crate::journal::Sha256Hex;
use std::path::{Path, PathBuf};

/// First line of every entry; the format version is in it.
const MAGIC: &str = "rootwasm-derived/1";
/// More than any header: magic, three sha256s, a label of at most 64 bytes.
const HEADER_MAX: usize = 1024;

/// Where derived data lives; `None` keeps nothing.
#[derive(Clone, Debug, Default)]
pub struct DerivedStore {
    dir: Option<PathBuf>,
}

/// What one entry is for.
#[derive(Clone, Copy, Debug)]
pub struct Key<'a> {
    /// sha256 of the component that derived it.
    pub component: &'a str,
    /// sha256 of the artifact it was derived from.
    pub artifact: &'a str,
    /// The recipe's name for it.
    pub label: &'a str,
}

impl Key<'_> {
    fn file_name(&self) -> String {
        let k = format!("{}\n{}\n{}", self.component, self.artifact, self.label);
        Sha256Hex::of(k.as_bytes()).as_str().to_owned()
    }

    fn header(&self, data: &[u8]) -> String {
        format!(
            "{MAGIC}\ncomponent {}\nartifact {}\nlabel {}\ndata-sha256 {}\n\n",
            self.component,
            self.artifact,
            self.label,
            Sha256Hex::of(data)
        )
    }
}

pub use crate::recipe::valid_derived_label as valid_label;

impl DerivedStore {
    /// Entries under `<cache_root>/derived`; `None` keeps nothing.
    pub fn under(cache_root: Option<&Path>) -> Self {
        DerivedStore {
            dir: cache_root.map(|r| r.join("derived")),
        }
    }

    fn usable(&self) -> Option<&Path> {
        let dir = self.dir.as_deref()?;
        let root = dir.parent().expect("derived dir has a parent");
        match private_dir(root).and_then(|()| private_dir(dir)) {
            Ok(()) => Some(dir),
            Err(e) => {
                warn_once(&e);
                None
            }
        }
    }

    /// The entry for `key`, if one is stored and intact.
    pub fn get(&self, key: &Key<'_>) -> Option<Vec<u8>> {
        use std::io::Read;
        let mut f = std::fs::File::open(self.usable()?.join(key.file_name())).ok()?;
        let len = usize::try_from(f.metadata().ok()?.len()).ok()?;
        // The header is a few hundred bytes; the data is read once, straight
        // into its own buffer (entries are tens of megabytes).
        let mut head = vec![0; len.min(HEADER_MAX)];
        f.read_exact(&mut head).ok()?;
        let end = head.windows(2).position(|w| w == b"\n\n")? + 2;
        let mut data = Vec::with_capacity(len - end);
        data.extend_from_slice(&head[end..]);
        f.read_to_end(&mut data).ok()?;
        let intact = std::str::from_utf8(&head[..end]).ok()? == key.header(&data);
        intact.then_some(data)
    }

    /// Store `data` for `key`. A cache that cannot be written only costs time.
    pub fn put(&self, key: &Key<'_>, data: &[u8]) {
        let Some(dir) = self.usable() else { return };
        let _ = (|| -> std::io::Result<()> {
            let mut tmp = tempfile::NamedTempFile::new_in(dir)?;
            std::io::Write::write_all(&mut tmp, key.header(data).as_bytes())?;
            std::io::Write::write_all(&mut tmp, data)?;
            tmp.persist(dir.join(key.file_name()))
                .map_err(|e| e.error)?;
            Ok(())
        })();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key<'a>(label: &'a str) -> Key<'a> {
        Key {
            component: "c1",
            artifact: "a1",
            label,
        }
    }

    #[test]
    fn entries_come_back_only_for_their_key_and_intact() {
        let tmp = tempfile::tempdir().unwrap();
        let root = tmp.path().join("cache");
        let store = DerivedStore::under(Some(&root));
        assert_eq!(store.get(&key("data.tar")), None);
        store.put(&key("data.tar"), b"tar bytes");
        assert_eq!(
            store.get(&key("data.tar")).as_deref(),
            Some(&b"tar bytes"[..])
        );
        assert_eq!(store.get(&key("other")), None, "another label");
        let other = Key {
            component: "c2",
            ..key("data.tar")
        };
        assert_eq!(store.get(&other), None, "another component");

        // An entry renamed to another key's name, or damaged, is ignored.
        let file = |k: &Key<'_>| root.join("derived").join(k.file_name());
        std::fs::copy(file(&key("data.tar")), file(&other)).unwrap();
        assert_eq!(store.get(&other), None, "renamed");
        let mut bytes = std::fs::read(file(&key("data.tar"))).unwrap();
        *bytes.last_mut().unwrap() ^= 1;
        std::fs::write(file(&key("data.tar")), bytes).unwrap();
        assert_eq!(store.get(&key("data.tar")), None, "damaged");
    }

    #[test]
    fn a_directory_others_may_write_is_not_used() {
        use std::os::unix::fs::PermissionsExt;
        let tmp = tempfile::tempdir().unwrap();
        let root = tmp.path().join("cache");
        std::fs::create_dir(&root).unwrap();
        std::fs::set_permissions(&root, std::fs::Permissions::from_mode(0o777)).unwrap();
        let store = DerivedStore::under(Some(&root));
        store.put(&key("data.tar"), b"tar bytes");
        assert!(
            !root.join("derived").exists(),
            "stored in a shared directory"
        );
        // An entry planted there is not read either.
        std::fs::create_dir(root.join("derived")).unwrap();
        let planted = key("data.tar").header(b"planted");
        let mut bytes = planted.into_bytes();
        bytes.extend_from_slice(b"planted");
        std::fs::write(
            root.join("derived").join(key("data.tar").file_name()),
            bytes,
        )
        .unwrap();
        assert_eq!(store.get(&key("data.tar")), None);
    }

    #[test]
    fn no_directory_keeps_nothing() {
        let store = DerivedStore::under(None);
        store.put(&key("x"), b"y");
        assert_eq!(store.get(&key("x")), None);
    }

    #[test]
    fn labels_are_short_and_plain() {
        assert!(valid_label("data.tar"));
        assert!(valid_label("index-v2_x"));
        for bad in ["", "a/b", "../x", "x y", "é", &"a".repeat(65)] {
            assert!(!valid_label(bad), "{bad:?}");
        }
    }
}
