//! OCI image-spec documents: descriptors, manifests, indexes.
//!
//! Hand-written rather than oci-spec's types on purpose: every field we do
//! not model is kept (`extra`) and written back in place, so a manifest or
//! index we rewrite loses nothing the input had (Docker's extensions
//! included). Configs are edited as JSON values for the same reason.

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use sha2::{Digest as _, Sha256};
use std::collections::BTreeMap;
use std::fmt;

/// OCI image manifest.
pub const MEDIA_MANIFEST: &str = "application/vnd.oci.image.manifest.v1+json";
/// OCI image index.
pub const MEDIA_INDEX: &str = "application/vnd.oci.image.index.v1+json";
/// OCI image config.
pub const MEDIA_CONFIG: &str = "application/vnd.oci.image.config.v1+json";
/// Docker schema 2 manifest.
pub const MEDIA_DOCKER_MANIFEST: &str = "application/vnd.docker.distribution.manifest.v2+json";
/// Docker manifest list.
pub const MEDIA_DOCKER_LIST: &str = "application/vnd.docker.distribution.manifest.list.v2+json";
/// Docker config.
pub const MEDIA_DOCKER_CONFIG: &str = "application/vnd.docker.container.image.v1+json";
/// Uncompressed OCI layer.
pub const MEDIA_LAYER_TAR: &str = "application/vnd.oci.image.layer.v1.tar";
/// gzip OCI layer.
pub const MEDIA_LAYER_GZIP: &str = "application/vnd.oci.image.layer.v1.tar+gzip";
/// zstd OCI layer.
pub const MEDIA_LAYER_ZSTD: &str = "application/vnd.oci.image.layer.v1.tar+zstd";
/// Docker gzip layer.
pub const MEDIA_DOCKER_LAYER_GZIP: &str = "application/vnd.docker.image.rootfs.diff.tar.gzip";
/// Docker uncompressed layer.
pub const MEDIA_DOCKER_LAYER_TAR: &str = "application/vnd.docker.image.rootfs.diff.tar";

/// Annotation naming the image the patched one was made from.
pub const ANNOTATION_BASE_NAME: &str = "org.opencontainers.image.base.name";
/// Annotation with the digest of the manifest the patched one was made from.
pub const ANNOTATION_BASE_DIGEST: &str = "org.opencontainers.image.base.digest";
/// Annotation on rootwasm's patch layer descriptor.
pub const ANNOTATION_PATCH_LAYER: &str = "dev.rootwasm.patch-layer";
/// Tag annotation in an OCI layout's index.json.
pub const ANNOTATION_REF_NAME: &str = "org.opencontainers.image.ref.name";

/// A `sha256:<hex>` digest.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct Digest(String);

impl Digest {
    /// The digest of `bytes`.
    pub fn of(bytes: &[u8]) -> Self {
        Digest(format!("sha256:{}", hex::encode(Sha256::digest(bytes))))
    }

    /// From a finished hasher.
    pub fn from_hasher(h: Sha256) -> Self {
        Digest(format!("sha256:{}", hex::encode(h.finalize())))
    }

    /// The hex part.
    pub fn hex(&self) -> &str {
        &self.0[7..]
    }

    /// The whole `sha256:<hex>` string.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl TryFrom<String> for Digest {
    type Error = String;
    fn try_from(s: String) -> Result<Self, String> {
        match s.strip_prefix("sha256:") {
            Some(h)
                if h.len() == 64
                    && h.bytes()
                        .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b)) =>
            {
                Ok(Digest(s))
            }
            _ => Err(format!(
                "unsupported or malformed digest {s:?} (expected sha256:<64 lowercase hex>)"
            )),
        }
    }
}

impl From<Digest> for String {
    fn from(d: Digest) -> String {
        d.0
    }
}

impl fmt::Display for Digest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// A platform in an index.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Platform {
    /// CPU architecture.
    pub architecture: String,
    /// Operating system.
    pub os: String,
    /// Everything else (variant, os.version, ...).
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

impl fmt::Display for Platform {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.os, self.architecture)?;
        if let Some(Value::String(v)) = self.extra.get("variant") {
            write!(f, "/{v}")?;
        }
        Ok(())
    }
}

/// A content descriptor.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Descriptor {
    /// Media type.
    pub media_type: String,
    /// Digest of the blob.
    pub digest: Digest,
    /// Size of the blob in bytes.
    pub size: u64,
    /// Platform, in indexes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub platform: Option<Platform>,
    /// Annotations.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub annotations: Option<BTreeMap<String, String>>,
    /// Everything else (urls, artifactType, ...).
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

impl Descriptor {
    /// A plain descriptor for `bytes`.
    pub fn for_bytes(media_type: &str, bytes: &[u8]) -> Self {
        Descriptor {
            media_type: media_type.into(),
            digest: Digest::of(bytes),
            size: bytes.len() as u64,
            platform: None,
            annotations: None,
            extra: Map::new(),
        }
    }

    /// An annotation's value.
    pub fn annotation(&self, key: &str) -> Option<&str> {
        self.annotations.as_ref()?.get(key).map(String::as_str)
    }
}

/// An image manifest (OCI or Docker schema 2).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Manifest {
    /// Always 2.
    pub schema_version: u32,
    /// Media type, if stated.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub media_type: Option<String>,
    /// The config blob.
    pub config: Descriptor,
    /// Layers, bottom first.
    pub layers: Vec<Descriptor>,
    /// Annotations.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub annotations: Option<BTreeMap<String, String>>,
    /// Everything else (subject, artifactType, ...).
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

/// An image index (OCI or Docker manifest list).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Index {
    /// Always 2.
    pub schema_version: u32,
    /// Media type, if stated.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub media_type: Option<String>,
    /// The manifests.
    pub manifests: Vec<Descriptor>,
    /// Annotations.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub annotations: Option<BTreeMap<String, String>>,
    /// Everything else.
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

/// Is this media type an index?
pub fn is_index(media_type: &str) -> bool {
    media_type == MEDIA_INDEX || media_type == MEDIA_DOCKER_LIST
}

/// Is this media type an image manifest?
pub fn is_manifest(media_type: &str) -> bool {
    media_type == MEDIA_MANIFEST || media_type == MEDIA_DOCKER_MANIFEST
}

/// Layer compression, from the media type.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Compression {
    /// Plain tar.
    None,
    /// gzip.
    Gzip,
    /// zstd.
    Zstd,
}

impl Compression {
    /// From a layer media type; `None` for types that are not layers.
    pub fn of_media_type(mt: &str) -> Option<Self> {
        match mt {
            MEDIA_LAYER_TAR | MEDIA_DOCKER_LAYER_TAR => Some(Compression::None),
            MEDIA_LAYER_GZIP | MEDIA_DOCKER_LAYER_GZIP => Some(Compression::Gzip),
            MEDIA_LAYER_ZSTD | "application/vnd.docker.image.rootfs.diff.tar.zstd" => {
                Some(Compression::Zstd)
            }
            _ => None,
        }
    }

    /// The layer media type in the family of `manifest_media_type`.
    pub fn media_type(self, docker: bool) -> &'static str {
        match (self, docker) {
            (Compression::None, false) => MEDIA_LAYER_TAR,
            (Compression::Gzip, false) => MEDIA_LAYER_GZIP,
            (Compression::Zstd, _) => MEDIA_LAYER_ZSTD,
            (Compression::None, true) => MEDIA_DOCKER_LAYER_TAR,
            (Compression::Gzip, true) => MEDIA_DOCKER_LAYER_GZIP,
        }
    }
}

/// Serialise a document the way rootwasm writes every JSON blob: compact, no
/// trailing newline, struct fields in declaration order and maps (`extra`,
/// annotations, JSON values) with sorted keys. Sorted only as long as no
/// crate in the build enables serde_json's `preserve_order`: the test
/// `json_maps_are_sorted` fails if one does.
pub fn to_canonical_json<T: Serialize>(v: &T) -> Vec<u8> {
    serde_json::to_vec(v).expect("image documents serialise")
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Output digests depend on serde_json writing maps with sorted keys; a
    /// dependency enabling `preserve_order` would silently change them.
    #[test]
    fn json_maps_are_sorted() {
        let v: Value = serde_json::from_str(r#"{"b":1,"a":{"d":2,"c":3}}"#).unwrap();
        assert_eq!(to_canonical_json(&v), br#"{"a":{"c":3,"d":2},"b":1}"#);
        let mut annotations = BTreeMap::new();
        annotations.insert("z".to_owned(), "1".to_owned());
        annotations.insert("a".to_owned(), "2".to_owned());
        assert_eq!(to_canonical_json(&annotations), br#"{"a":"2","z":"1"}"#);
    }
}
