//! DSSE v1 envelopes signed with ed25519.
//!
//! The signature is over the pre-authentication encoding
//! `"DSSEv1" SP LEN(type) SP type SP LEN(body) SP body`, never over the
//! payload alone, so a signature cannot be moved to another payload type.
//! Verification checks the payload type first, then needs one signature by
//! the given key (matched by `keyid`, or without one) that verifies over
//! the exact PAE; anything else is an error.

use super::Error;
use super::key::{PublicKey, SigningKey};
use base64::Engine as _;
use base64::engine::general_purpose::{STANDARD, URL_SAFE};
use serde::{Deserialize, Serialize};

/// A DSSE envelope, as JSON: `{payloadType, payload, signatures}`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Envelope {
    /// What the payload is, e.g. `application/vnd.in-toto+json`.
    pub payload_type: String,
    /// The payload, standard base64.
    pub payload: String,
    /// The signatures.
    pub signatures: Vec<Signature>,
}

/// One signature.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Signature {
    /// The signer's key id (securesystemslib's, see [`super::key`]).
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub keyid: String,
    /// The signature over the PAE, standard base64.
    pub sig: String,
}

/// The DSSE v1 pre-authentication encoding.
pub fn pae(payload_type: &str, payload: &[u8]) -> Vec<u8> {
    let mut out = format!(
        "DSSEv1 {} {} {} ",
        payload_type.len(),
        payload_type,
        payload.len()
    )
    .into_bytes();
    out.extend_from_slice(payload);
    out
}

/// Sign `payload` as `payload_type` with `key`.
pub fn sign(payload_type: &str, payload: &[u8], key: &SigningKey) -> Envelope {
    Envelope {
        payload_type: payload_type.into(),
        payload: STANDARD.encode(payload),
        signatures: vec![Signature {
            keyid: key.keyid(),
            sig: STANDARD.encode(key.sign(&pae(payload_type, payload))),
        }],
    }
}

/// DSSE allows standard or URL-safe base64 in envelopes it did not write.
fn b64(s: &str) -> Option<Vec<u8>> {
    STANDARD.decode(s).or_else(|_| URL_SAFE.decode(s)).ok()
}

/// Verify `envelope` as a `payload_type` envelope signed by `key`; return
/// the payload bytes.
pub fn verify(envelope: &Envelope, payload_type: &str, key: &PublicKey) -> Result<Vec<u8>, Error> {
    if envelope.payload_type != payload_type {
        return Err(Error::Dsse(format!(
            "payloadType is {:?}, expected {payload_type:?}",
            envelope.payload_type
        )));
    }
    let payload =
        b64(&envelope.payload).ok_or_else(|| Error::Dsse("payload is not base64".into()))?;
    let message = pae(&envelope.payload_type, &payload);
    let keyid = key.keyid();
    let mut candidates = 0;
    for s in &envelope.signatures {
        if !s.keyid.is_empty() && s.keyid != keyid {
            continue;
        }
        candidates += 1;
        if let Some(sig) = b64(&s.sig)
            && key.verify(&message, &sig)
        {
            return Ok(payload);
        }
    }
    Err(Error::Dsse(if candidates == 0 {
        format!("no signature by key {keyid}")
    } else {
        format!("no signature by key {keyid} verifies")
    }))
}

impl Envelope {
    /// The envelope as JSON bytes (the `.intoto.jsonl` line, without the newline).
    pub fn to_json(&self) -> Vec<u8> {
        serde_json::to_vec(self).expect("an envelope always serialises")
    }

    /// Parse an envelope.
    pub fn from_json(bytes: &[u8]) -> Result<Self, Error> {
        serde_json::from_slice(bytes).map_err(|e| Error::Dsse(format!("not a DSSE envelope: {e}")))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const T: &str = "application/vnd.in-toto+json";

    fn key() -> SigningKey {
        SigningKey::from_seed([3; 32])
    }

    #[test]
    fn pae_is_the_spec_encoding() {
        // The DSSE spec's test vector.
        assert_eq!(
            pae("http://example.com/HelloWorld", b"hello world"),
            b"DSSEv1 29 http://example.com/HelloWorld 11 hello world"
        );
        assert_eq!(pae("", b""), b"DSSEv1 0  0 ");
    }

    #[test]
    fn sign_then_verify_and_the_same_input_gives_the_same_envelope() {
        let e = sign(T, b"{\"a\":1}", &key());
        assert_eq!(verify(&e, T, &key().public()).unwrap(), b"{\"a\":1}");
        // ed25519 is deterministic.
        assert_eq!(e.to_json(), sign(T, b"{\"a\":1}", &key()).to_json());
        assert_eq!(Envelope::from_json(&e.to_json()).unwrap(), e);
        assert_eq!(e.signatures[0].keyid, key().keyid());
    }

    #[test]
    fn wrong_type_key_payload_or_signature_is_rejected() {
        let k = key();
        let e = sign(T, b"payload", &k);
        // Wrong expected type, and a type changed in the envelope.
        assert!(verify(&e, "application/json", &k.public()).is_err());
        let mut t = e.clone();
        t.payload_type = "application/json".into();
        assert!(verify(&t, "application/json", &k.public()).is_err());
        // Another key.
        let other = SigningKey::from_seed([4; 32]);
        assert!(verify(&e, T, &other.public()).is_err());
        let mut no_id = e.clone();
        no_id.signatures[0].keyid.clear();
        assert!(verify(&no_id, T, &other.public()).is_err());
        assert!(verify(&no_id, T, &k.public()).is_ok(), "keyid is optional");
        // Every single-byte change of the payload or the signature.
        let payload = STANDARD.decode(&e.payload).unwrap();
        for i in 0..payload.len() {
            let mut p = payload.clone();
            p[i] ^= 1;
            let mut m = e.clone();
            m.payload = STANDARD.encode(&p);
            assert!(verify(&m, T, &k.public()).is_err(), "payload byte {i}");
        }
        let sig = STANDARD.decode(&e.signatures[0].sig).unwrap();
        for i in 0..sig.len() {
            let mut s = sig.clone();
            s[i] ^= 0x80;
            let mut m = e.clone();
            m.signatures[0].sig = STANDARD.encode(&s);
            assert!(verify(&m, T, &k.public()).is_err(), "signature byte {i}");
        }
        // A signature over the bare payload (no PAE) is not accepted.
        let mut bare = e.clone();
        bare.signatures[0].sig = STANDARD.encode(k.sign(b"payload"));
        assert!(verify(&bare, T, &k.public()).is_err());
        // No signatures at all.
        let mut none = e;
        none.signatures.clear();
        assert!(verify(&none, T, &k.public()).is_err());
    }
}
