//! ed25519 keys for DSSE, in files securesystemslib reads as they are.
//!
//! The private key is PKCS#8 PEM (`-----BEGIN PRIVATE KEY-----`, the
//! version 1 form without the public key, as pyca/cryptography writes
//! it), so `securesystemslib.signer.CryptoSigner` loads it through
//! `load_pem_private_key` or a `file2:<path>` key URI. The public key is
//! SubjectPublicKeyInfo PEM (`-----BEGIN PUBLIC KEY-----`), which
//! `SSlibKey.from_crypto(load_pem_public_key(..))` turns into the same key.
//! The key id is the one securesystemslib computes by default: the sha256
//! of the canonical JSON of `{keytype, scheme, keyval: {public: <hex>}}`,
//! so a DSSE signature's `keyid` matches an `SSlibKey`'s and its
//! `Envelope.verify` accepts it.

use super::Error;
use ed25519_dalek::Signer as _;
use ed25519_dalek::pkcs8::spki::der::pem::LineEnding;
use ed25519_dalek::pkcs8::{DecodePrivateKey, DecodePublicKey, EncodePrivateKey, EncodePublicKey};
use serde_json::{Value, json};
use std::path::Path;

/// securesystemslib's `keytype` and `scheme` for these keys.
pub const KEYTYPE: &str = "ed25519";
/// securesystemslib's signing scheme name.
pub const SCHEME: &str = "ed25519";

/// A private signing key.
pub struct SigningKey(ed25519_dalek::SigningKey);

/// A public verification key.
#[derive(Clone, Copy, PartialEq, Eq)]
pub struct PublicKey(ed25519_dalek::VerifyingKey);

fn key_err(what: &str, reason: impl std::fmt::Display) -> Error {
    Error::Key {
        what: what.into(),
        reason: reason.to_string(),
    }
}

impl SigningKey {
    /// A new key from the operating system's random source.
    pub fn generate() -> Result<Self, Error> {
        let mut seed = [0u8; 32];
        getrandom::fill(&mut seed).map_err(|e| key_err("generation", e))?;
        Ok(Self::from_seed(seed))
    }

    /// The key with this 32-byte seed (RFC 8032's private key).
    pub fn from_seed(seed: [u8; 32]) -> Self {
        SigningKey(ed25519_dalek::SigningKey::from_bytes(&seed))
    }

    /// Read PKCS#8 PEM (v1 or v2).
    pub fn from_pkcs8_pem(pem: &str) -> Result<Self, Error> {
        ed25519_dalek::SigningKey::from_pkcs8_pem(pem)
            .map(SigningKey)
            .map_err(|e| key_err("private key PEM", e))
    }

    /// PKCS#8 v1 PEM, LF line endings.
    pub fn to_pkcs8_pem(&self) -> String {
        let kp = ed25519_dalek::pkcs8::KeypairBytes {
            secret_key: self.0.to_bytes(),
            public_key: None,
        };
        kp.to_pkcs8_pem(LineEnding::LF)
            .expect("an ed25519 key always encodes")
            .to_string()
    }

    /// Its public half.
    pub fn public(&self) -> PublicKey {
        PublicKey(self.0.verifying_key())
    }

    /// The securesystemslib key id of its public half.
    pub fn keyid(&self) -> String {
        self.public().keyid()
    }

    pub(crate) fn sign(&self, message: &[u8]) -> [u8; 64] {
        self.0.sign(message).to_bytes()
    }
}

impl std::fmt::Debug for SigningKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "SigningKey({})", self.keyid())
    }
}

impl PublicKey {
    /// Read SubjectPublicKeyInfo PEM.
    pub fn from_spki_pem(pem: &str) -> Result<Self, Error> {
        ed25519_dalek::VerifyingKey::from_public_key_pem(pem)
            .map(PublicKey)
            .map_err(|e| key_err("public key PEM", e))
    }

    /// SubjectPublicKeyInfo PEM, LF line endings.
    pub fn to_spki_pem(&self) -> String {
        self.0
            .to_public_key_pem(LineEnding::LF)
            .expect("an ed25519 key always encodes")
    }

    /// The 32 raw bytes, lowercase hex (securesystemslib's `keyval.public`).
    pub fn hex(&self) -> String {
        hex::encode(self.0.as_bytes())
    }

    /// securesystemslib's key dict, `{keytype, scheme, keyval}`, for
    /// in-toto layouts and TUF metadata (`SSlibKey.from_dict(keyid, ..)`).
    pub fn sslib_key(&self) -> Value {
        json!({"keytype": KEYTYPE, "scheme": SCHEME, "keyval": {"public": self.hex()}})
    }

    /// securesystemslib's default key id: sha256 of the canonical JSON of
    /// [`Self::sslib_key`] (keys sorted, no whitespace; all values here are
    /// plain ASCII, so canonical JSON and compact sorted JSON agree).
    pub fn keyid(&self) -> String {
        let canonical = format!(
            r#"{{"keytype":"{KEYTYPE}","keyval":{{"public":"{}"}},"scheme":"{SCHEME}"}}"#,
            self.hex()
        );
        crate::journal::Sha256Hex::of(canonical.as_bytes()).to_string()
    }

    /// Verify an RFC 8032 signature strictly (no malleable or small-order
    /// inputs).
    pub(crate) fn verify(&self, message: &[u8], sig: &[u8]) -> bool {
        let Ok(sig) = ed25519_dalek::Signature::from_slice(sig) else {
            return false;
        };
        self.0.verify_strict(message, &sig).is_ok()
    }
}

impl std::fmt::Debug for PublicKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "PublicKey({})", self.keyid())
    }
}

/// Write `text` to `path` through a temp file and a rename, with `mode`.
fn write_atomic(path: &Path, text: &str, mode: u32) -> Result<(), Error> {
    use std::io::Write;
    use std::os::unix::fs::PermissionsExt;
    let what = path.display().to_string();
    let dir = path
        .parent()
        .filter(|d| !d.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    let mut tmp = tempfile::NamedTempFile::new_in(dir).map_err(|e| key_err(&what, e))?;
    tmp.as_file()
        .set_permissions(std::fs::Permissions::from_mode(mode))
        .map_err(|e| key_err(&what, e))?;
    tmp.write_all(text.as_bytes())
        .and_then(|_| tmp.as_file().sync_all())
        .map_err(|e| key_err(&what, e))?;
    tmp.persist(path).map_err(|e| key_err(&what, e.error))?;
    Ok(())
}

/// Save a private key as PKCS#8 PEM, mode 0600, atomically.
pub fn save_private(path: &Path, key: &SigningKey) -> Result<(), Error> {
    write_atomic(path, &key.to_pkcs8_pem(), 0o600)
}

/// Save a public key as SubjectPublicKeyInfo PEM, mode 0644, atomically.
pub fn save_public(path: &Path, key: &PublicKey) -> Result<(), Error> {
    write_atomic(path, &key.to_spki_pem(), 0o644)
}

/// Load a PKCS#8 PEM private key.
pub fn load_private(path: &Path) -> Result<SigningKey, Error> {
    let text =
        std::fs::read_to_string(path).map_err(|e| key_err(&path.display().to_string(), e))?;
    SigningKey::from_pkcs8_pem(&text)
}

/// Load a SubjectPublicKeyInfo PEM public key.
pub fn load_public(path: &Path) -> Result<PublicKey, Error> {
    let text =
        std::fs::read_to_string(path).map_err(|e| key_err(&path.display().to_string(), e))?;
    PublicKey::from_spki_pem(&text)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pem_round_trips_and_the_private_form_is_pkcs8_v1() {
        let k = SigningKey::from_seed([1; 32]);
        let pem = k.to_pkcs8_pem();
        assert!(pem.starts_with("-----BEGIN PRIVATE KEY-----\n"), "{pem}");
        // v1 PKCS#8 of an ed25519 key is 48 bytes of DER: 64 base64 chars.
        assert_eq!(pem.lines().nth(1).unwrap().len(), 64, "{pem}");
        let back = SigningKey::from_pkcs8_pem(&pem).unwrap();
        assert_eq!(back.public(), k.public());
        let pubpem = k.public().to_spki_pem();
        assert!(pubpem.starts_with("-----BEGIN PUBLIC KEY-----\n"));
        assert_eq!(PublicKey::from_spki_pem(&pubpem).unwrap(), k.public());
        assert!(SigningKey::from_pkcs8_pem(&pubpem).is_err());
    }

    #[test]
    fn keyid_is_securesystemslibs_default() {
        // RFC 8032 test 1: this seed has this public key.
        let seed: [u8; 32] =
            hex::decode("9d61b19deffd5a60ba844af492ec2cc44449c5697b326919703bac031cae7f60")
                .unwrap()
                .try_into()
                .unwrap();
        let k = SigningKey::from_seed(seed);
        assert_eq!(
            k.public().hex(),
            "d75a980182b10ab7d54bfed3c964073a0ee172f3daa62325af021a68f707511a"
        );
        let canonical = r#"{"keytype":"ed25519","keyval":{"public":"d75a980182b10ab7d54bfed3c964073a0ee172f3daa62325af021a68f707511a"},"scheme":"ed25519"}"#;
        assert_eq!(
            k.keyid(),
            crate::journal::Sha256Hex::of(canonical.as_bytes()).to_string()
        );
    }

    #[test]
    fn generated_keys_differ_and_files_are_private() {
        use std::os::unix::fs::PermissionsExt;
        let (a, b) = (
            SigningKey::generate().unwrap(),
            SigningKey::generate().unwrap(),
        );
        assert_ne!(a.public(), b.public());
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("key.pem");
        save_private(&p, &a).unwrap();
        save_public(&dir.path().join("key.pub"), &a.public()).unwrap();
        assert_eq!(
            std::fs::metadata(&p).unwrap().permissions().mode() & 0o777,
            0o600
        );
        assert_eq!(load_private(&p).unwrap().public(), a.public());
        assert_eq!(
            load_public(&dir.path().join("key.pub")).unwrap(),
            a.public()
        );
    }
}
