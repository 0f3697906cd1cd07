//! A suite's `InRelease` (or `Release` plus `Release.gpg`), verified
//! against an OpenPGP keyring as apt's gpgv does, then parsed: which
//! architectures and components it has and the SHA256 of every index.

use super::SyncError;
use super::fetch::Repo;
use pgp::composed::{CleartextSignedMessage, Deserializable, DetachedSignature, SignedPublicKey};
use std::collections::BTreeMap;

/// The largest Release file read (Debian's are about 200 KiB).
const MAX_RELEASE: u64 = 16 << 20;

/// A verified Release file.
#[derive(Clone, Debug)]
pub struct Release {
    /// `dists/<suite>`, the directory its index paths are relative to.
    pub base: String,
    /// `Codename`, e.g. `bookworm-security`.
    pub codename: String,
    /// `Architectures`.
    pub architectures: Vec<String>,
    /// `Components`.
    pub components: Vec<String>,
    /// Index path (relative to `base`) to its (sha256, size).
    pub sha256: BTreeMap<String, (String, u64)>,
}

/// The public keys of a keyring file (binary, as in /usr/share/keyrings,
/// or ASCII-armored). Keys that do not parse are skipped, as gpgv does.
pub fn keyring(path: &std::path::Path) -> Result<Vec<SignedPublicKey>, SyncError> {
    let bytes = std::fs::read(path).map_err(|e| {
        SyncError::Invalid(format!(
            "--keyring {}: {e}; install debian-archive-keyring or name a keyring with --keyring",
            path.display()
        ))
    })?;
    let keys: Vec<SignedPublicKey> = if bytes.starts_with(b"-----BEGIN") {
        SignedPublicKey::from_armor_many(&bytes[..])
            .map(|(k, _)| k.filter_map(Result::ok).collect())
            .unwrap_or_default()
    } else {
        SignedPublicKey::from_bytes_many(&bytes[..])
            .map(|k| k.filter_map(Result::ok).collect())
            .unwrap_or_default()
    };
    if keys.is_empty() {
        return Err(SyncError::Invalid(format!(
            "--keyring {}: no OpenPGP public key in it",
            path.display()
        )));
    }
    Ok(keys)
}

/// Whether any key or subkey of `keys` verifies `check`. The keyring is the
/// trust root, as for gpgv: its keys' own bindings are not re-checked.
fn signed_by_any(keys: &[SignedPublicKey], check: impl Fn(&dyn VerifyWith) -> bool) -> bool {
    keys.iter()
        .any(|k| check(&k.primary_key) || k.public_subkeys.iter().any(|s| check(&s.key)))
}

/// A key that can verify (primary keys and subkeys are different types).
trait VerifyWith {
    fn cleartext(&self, m: &CleartextSignedMessage) -> bool;
    fn detached(&self, s: &DetachedSignature, data: &[u8]) -> bool;
}

impl<K: pgp::types::VerifyingKey> VerifyWith for K {
    fn cleartext(&self, m: &CleartextSignedMessage) -> bool {
        m.verify(self).is_ok()
    }
    fn detached(&self, s: &DetachedSignature, data: &[u8]) -> bool {
        s.verify(self, data).is_ok()
    }
}

/// Fetch and verify `dists/<suite>/InRelease`, else `Release` with
/// `Release.gpg`. `None` when the repository has neither (no such suite).
pub fn fetch(
    repo: &Repo,
    suite: &str,
    keys: &[SignedPublicKey],
) -> Result<Option<Release>, SyncError> {
    let base = format!("dists/{suite}");
    let bad = |place: String, reason: &str| SyncError::Signature {
        place,
        reason: reason.to_owned(),
    };
    let text = if let Some(raw) = repo.get(&format!("{base}/InRelease"), MAX_RELEASE)? {
        let place = repo.place(&format!("{base}/InRelease"));
        let raw = String::from_utf8(raw).map_err(|_| bad(place.clone(), "not UTF-8 text"))?;
        let (msg, _) = CleartextSignedMessage::from_string(&raw).map_err(|e| {
            bad(
                place.clone(),
                &format!("not an OpenPGP signed message: {e}"),
            )
        })?;
        if !signed_by_any(keys, |k| k.cleartext(&msg)) {
            return Err(bad(
                place,
                "no signature by a key in the keyring verifies it",
            ));
        }
        msg.signed_text().replace("\r\n", "\n")
    } else if let Some(raw) = repo.get(&format!("{base}/Release"), MAX_RELEASE)? {
        let place = repo.place(&format!("{base}/Release.gpg"));
        let sig = repo
            .get(&format!("{base}/Release.gpg"), 1 << 20)?
            .ok_or_else(|| bad(place.clone(), "missing: an unsigned Release is not trusted"))?;
        let sig = if sig.starts_with(b"-----BEGIN") {
            DetachedSignature::from_armor_single(&sig[..]).map(|(s, _)| s)
        } else {
            DetachedSignature::from_bytes(&sig[..])
        }
        .map_err(|e| bad(place.clone(), &format!("not an OpenPGP signature: {e}")))?;
        if !signed_by_any(keys, |k| k.detached(&sig, &raw)) {
            return Err(bad(
                place,
                "no signature by a key in the keyring verifies Release",
            ));
        }
        String::from_utf8(raw).map_err(|_| bad(place, "Release is not UTF-8 text"))?
    } else {
        return Ok(None);
    };
    parse(&text, base).map(Some).map_err(|reason| {
        SyncError::Invalid(format!(
            "{}: {reason}",
            repo.place(&format!("dists/{suite}/Release"))
        ))
    })
}

/// The fields sync needs from a (verified) Release text.
fn parse(text: &str, base: String) -> Result<Release, String> {
    let stanza = rootwasm_deb::Stanza::parse_all(text)
        .map_err(|e| e.to_string())?
        .into_iter()
        .next()
        .ok_or("empty")?;
    let words = |f: &str| -> Vec<String> {
        stanza
            .get(f)
            .map(|v| v.split_whitespace().map(str::to_owned).collect())
            .unwrap_or_default()
    };
    let mut sha256 = BTreeMap::new();
    for line in stanza.get("SHA256").ok_or("no SHA256 field")?.lines() {
        let f: Vec<&str> = line.split_whitespace().collect();
        if let [hash, size, path] = f.as_slice() {
            let size: u64 = size.parse().map_err(|_| format!("bad size in {line:?}"))?;
            sha256.insert((*path).to_owned(), (hash.to_ascii_lowercase(), size));
        }
    }
    Ok(Release {
        base,
        codename: stanza
            .get("Codename")
            .or(stanza.get("Suite"))
            .unwrap_or_default()
            .trim()
            .to_owned(),
        architectures: words("Architectures"),
        components: words("Components"),
        sha256,
    })
}
