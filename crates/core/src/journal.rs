//! The journal: every change a recipe made, in order, with before and after states.
//!
//! The journal is the single source of truth for a patch. The committed tree,
//! the patch layer and `replay` are all derived from it plus its blobs, which
//! are stored content-addressed by sha256. Format: `docs/journal.md`.

use crate::rootfs::{Kind, RootPath};
use serde::{Deserialize, Serialize};
use sha2::{Digest as _, Sha256};
use std::collections::BTreeMap;
use std::sync::Arc;

/// The `format` value of the journals this version writes and reads.
pub const FORMAT: &str = "rootwasm.journal/v1";

/// A sha256 digest in lowercase hex: 64 characters, checked wherever one is
/// parsed, so an empty or malformed digest cannot exist.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct Sha256Hex(String);

impl Sha256Hex {
    /// Digest of `bytes`.
    pub fn of(bytes: &[u8]) -> Self {
        Sha256Hex(hex::encode(Sha256::digest(bytes)))
    }

    /// The 64 hex digits.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl TryFrom<String> for Sha256Hex {
    type Error = String;
    fn try_from(s: String) -> Result<Self, String> {
        if s.len() == 64
            && s.bytes()
                .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
        {
            Ok(Sha256Hex(s))
        } else {
            Err(format!(
                "{s:?} is not a sha256 digest (64 lowercase hex digits)"
            ))
        }
    }
}

impl std::str::FromStr for Sha256Hex {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        Sha256Hex::try_from(s.to_owned())
    }
}

impl From<Sha256Hex> for String {
    fn from(d: Sha256Hex) -> String {
        d.0
    }
}

impl std::fmt::Display for Sha256Hex {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

/// The operation of one entry; mirrors the `rootfs` interface.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Op {
    /// Create or replace a file.
    WriteFile,
    /// Create a directory.
    Mkdir,
    /// Create a symlink.
    Symlink,
    /// Create a hardlink to `from`.
    Hardlink,
    /// Remove a file, symlink or empty directory.
    Remove,
    /// Move `from` to `path`.
    Rename,
    /// Change permission bits.
    Chmod,
    /// Change owner.
    Chown,
}

/// The state of a node before or after an entry.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct State {
    /// Node kind.
    #[serde(rename = "type")]
    pub kind: Kind,
    /// File size.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub size: Option<u64>,
    /// File contents digest; the blob is in the journal's store after a write.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sha256: Option<Sha256Hex>,
    /// Permission bits, as four octal digits.
    #[serde(with = "octal")]
    pub mode: u32,
    /// Owner.
    pub uid: u32,
    /// Group.
    pub gid: u32,
    /// Symlink target.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub target: Option<String>,
}

/// One recorded change.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Entry {
    /// Position in the journal, from 0.
    pub seq: u64,
    /// The recipe that made the change.
    pub recipe: String,
    /// What was done.
    pub op: Op,
    /// The resolved path that changed.
    pub path: String,
    /// The source, for `rename` and `hardlink`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub from: Option<String>,
    /// State of `path` before; `None` if it did not exist.
    pub before: Option<State>,
    /// State of `path` after; `None` if it was removed.
    pub after: Option<State>,
}

/// An ordered list of changes, as written to `journal.json`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Journal {
    /// Always [`FORMAT`].
    pub format: String,
    /// The entries, in the order they were made.
    pub entries: Vec<Entry>,
}

impl Default for Journal {
    fn default() -> Self {
        Journal {
            format: FORMAT.into(),
            entries: Vec::new(),
        }
    }
}

impl Journal {
    /// Parse a journal, refusing other formats.
    pub fn from_json(bytes: &[u8]) -> Result<Self, String> {
        let j: Journal =
            serde_json::from_slice(bytes).map_err(|e| format!("journal is not valid JSON: {e}"))?;
        if j.format != FORMAT {
            return Err(format!(
                "journal format {:?} is not supported (expected {FORMAT:?})",
                j.format
            ));
        }
        Ok(j)
    }

    /// The final state of every path the journal touched, by path: `None`
    /// where the path ends up removed (a rename removes its source). This is
    /// what a patch layer must say about each path, and all it may say.
    /// Refuses a path that does not parse and a state naming a blob that is
    /// not in `blobs`.
    pub fn final_states(&self, blobs: &Blobs) -> Result<BTreeMap<RootPath, Option<State>>, String> {
        let mut out = BTreeMap::new();
        let path = |p: &str| RootPath::lexical(p).map_err(|e| format!("journal path {p:?}: {e}"));
        for e in &self.entries {
            if let (Op::Rename, Some(from)) = (e.op, &e.from) {
                out.insert(path(from)?, None);
            }
            if let Some(sha) = e.after.as_ref().and_then(|s| s.sha256.as_ref())
                && blobs.get(sha).is_none()
            {
                return Err(format!(
                    "journal entry {} names blob {sha}, which is not in the journal's blobs",
                    e.seq
                ));
            }
            out.insert(path(&e.path)?, e.after.clone());
        }
        Ok(out)
    }

    /// Pretty JSON with a trailing newline: the canonical bytes.
    pub fn to_json(&self) -> String {
        let mut s = serde_json::to_string_pretty(self).expect("journal serialises");
        s.push('\n');
        s
    }
}

/// Content-addressed file contents referenced by a journal.
#[derive(Clone, Debug, Default)]
pub struct Blobs {
    map: BTreeMap<Sha256Hex, Arc<[u8]>>,
}

impl Blobs {
    /// Store `bytes`; returns its digest and whether it was new.
    pub fn insert(&mut self, bytes: Vec<u8>) -> (Sha256Hex, bool) {
        let digest = Sha256Hex::of(&bytes);
        let new = !self.map.contains_key(&digest);
        if new {
            self.map.insert(digest.clone(), bytes.into());
        }
        (digest, new)
    }

    /// Store `bytes` whose digest the caller has just computed by hashing
    /// them (the session does, before checking its limits), so no written
    /// byte is hashed twice.
    pub(crate) fn insert_hashed(&mut self, digest: Sha256Hex, bytes: Vec<u8>) {
        debug_assert_eq!(digest, Sha256Hex::of(&bytes));
        self.map.entry(digest).or_insert_with(|| bytes.into());
    }

    /// Add every blob of `other`. Its digests are known (a `Blobs` is only
    /// filled by hashing), so nothing is hashed or copied again.
    pub fn extend_from(&mut self, other: &Blobs) {
        for (k, v) in &other.map {
            self.map.entry(k.clone()).or_insert_with(|| v.clone());
        }
    }

    /// The blob with `digest`.
    pub fn get(&self, digest: &Sha256Hex) -> Option<&Arc<[u8]>> {
        self.map.get(digest)
    }

    /// All blobs, by digest.
    pub fn iter(&self) -> impl Iterator<Item = (&Sha256Hex, &Arc<[u8]>)> {
        self.map.iter()
    }

    /// Write every blob as `dir/sha256/<hex>`.
    pub fn write_to(&self, dir: &std::path::Path) -> std::io::Result<()> {
        let d = dir.join("sha256");
        std::fs::create_dir_all(&d)?;
        for (k, v) in &self.map {
            std::fs::write(d.join(&k.0), v)?;
        }
        Ok(())
    }

    /// Read `dir/sha256/*`, checking every digest.
    pub fn read_from(dir: &std::path::Path) -> Result<Self, String> {
        let mut blobs = Blobs::default();
        let d = dir.join("sha256");
        let entries = std::fs::read_dir(&d).map_err(|e| format!("{}: {e}", d.display()))?;
        for e in entries {
            let e = e.map_err(|e| format!("{}: {e}", d.display()))?;
            let bytes =
                std::fs::read(e.path()).map_err(|e2| format!("{}: {e2}", e.path().display()))?;
            let (digest, _) = blobs.insert(bytes);
            if e.file_name().to_str() != Some(digest.as_str()) {
                return Err(format!("blob {} has sha256 {}", e.path().display(), digest));
            }
        }
        Ok(blobs)
    }
}

mod octal {
    use serde::{Deserialize, Deserializer, Serializer};

    pub fn serialize<S: Serializer>(mode: &u32, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&format!("{mode:04o}"))
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<u32, D::Error> {
        let s = String::deserialize(d)?;
        u32::from_str_radix(&s, 8).map_err(|e| {
            serde::de::Error::custom(match e.kind() {
                std::num::IntErrorKind::PosOverflow => {
                    format!("mode {s:?} overflows 32 bits (a mode is at most 0o7777)")
                }
                _ => format!("mode {s:?} is not octal"),
            })
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_overflowing_mode_says_so() {
        let j = r#"{"type":"file","mode":"77777777777","uid":0,"gid":0}"#;
        let e = serde_json::from_str::<State>(j).unwrap_err().to_string();
        assert!(e.contains("overflows 32 bits"), "{e}");
        let j = r#"{"type":"file","mode":"9","uid":0,"gid":0}"#;
        let e = serde_json::from_str::<State>(j).unwrap_err().to_string();
        assert!(e.contains("not octal"), "{e}");
    }

    #[test]
    fn state_serialises_mode_as_octal() {
        let s = State {
            kind: Kind::File,
            size: Some(3),
            sha256: None,
            mode: 0o4755,
            uid: 0,
            gid: 0,
            target: None,
        };
        let j = serde_json::to_string(&s).unwrap();
        assert_eq!(
            j,
            r#"{"type":"file","size":3,"mode":"4755","uid":0,"gid":0}"#
        );
        assert_eq!(serde_json::from_str::<State>(&j).unwrap(), s);
    }

    #[test]
    fn unknown_format_is_refused() {
        assert!(Journal::from_json(br#"{"format":"x","entries":[]}"#).is_err());
        let j = Journal::default();
        assert_eq!(Journal::from_json(j.to_json().as_bytes()).unwrap(), j);
    }
}
