//! Edits of image documents as pure transforms, in the style of
//! go-containerregistry's `mutate`: each takes a value and returns a new one.
//! Nothing here reads or writes blobs, and no input is changed.
//!
//! rootwasm's patch layer is the last layer, marked with
//! [`ANNOTATION_PATCH_LAYER`]; [`patch_layer`] is the one definition of
//! "this image already carries a rootwasm patch layer".

use super::error::ImageError;
use super::model::*;
use serde_json::{Value, json};
use std::collections::BTreeMap;

/// The `created_by` prefix of the config history entry of a patch layer.
pub const CREATED_BY: &str = "rootwasm apply";

/// The index of the manifest's rootwasm patch layer, if it has one: the last
/// layer, annotated as one (or, in images patched before the annotation
/// existed, whose history entry was created by `rootwasm apply`).
pub fn patch_layer(manifest: &Manifest, config: &Value) -> Option<usize> {
    let last = manifest.layers.len().checked_sub(1)?;
    let annotated = manifest.layers[last].annotation(ANNOTATION_PATCH_LAYER) == Some("true");
    let by_history = config["history"]
        .as_array()
        .and_then(|h| {
            h.iter()
                .rev()
                .find(|e| !e["empty_layer"].as_bool().unwrap_or(false))
        })
        .and_then(|e| e["created_by"].as_str())
        .is_some_and(|s| s.starts_with(CREATED_BY));
    (annotated || by_history).then_some(last)
}

/// A patch layer to put on an image.
pub struct PatchLayer {
    /// Its descriptor (media type, digest, size); annotated by [`with_patch_layer`].
    pub descriptor: Descriptor,
    /// sha256 of the uncompressed tar.
    pub diff_id: Digest,
    /// `created` of its history entry (RFC 3339).
    pub created: String,
    /// The recipes that made it, for `created_by`.
    pub recipes: Vec<String>,
    /// What it fixes, for the history comment.
    pub fixes: Vec<String>,
}

/// The config with `layer` on top of its first `n_base` layers: later
/// diff_ids (an earlier patch layer's) are dropped with their history entry.
pub fn config_with_layer(
    config: &Value,
    n_base: usize,
    layer: &PatchLayer,
) -> Result<Value, ImageError> {
    let bad = |why: &str| ImageError::malformed("image config", why);
    let mut config = config.clone();
    // Index with get_mut only: `value["k"]` on a non-object panics.
    let obj = config
        .as_object_mut()
        .ok_or_else(|| bad("not a JSON object"))?;
    let diff_ids = obj
        .get_mut("rootfs")
        .and_then(|r| r.get_mut("diff_ids"))
        .and_then(Value::as_array_mut)
        .ok_or_else(|| bad("no rootfs.diff_ids array"))?;
    let replaced = diff_ids.len().saturating_sub(n_base);
    diff_ids.truncate(n_base);
    diff_ids.push(Value::String(layer.diff_id.to_string()));
    let history = obj
        .entry("history")
        .or_insert_with(|| Value::Array(Vec::new()));
    if !history.is_array() {
        *history = Value::Array(Vec::new());
    }
    let history = history.as_array_mut().ok_or_else(|| bad("history"))?;
    for _ in 0..replaced {
        if let Some(pos) = history
            .iter()
            .rposition(|e| !e["empty_layer"].as_bool().unwrap_or(false))
        {
            history.remove(pos);
        }
    }
    history.push(json!({
        "created": layer.created,
        "created_by": format!("{CREATED_BY} {}", layer.recipes.join(" ")),
        // A layer of plain updates (no recipe names a vulnerability) fixes nothing by name.
        "comment": if layer.fixes.is_empty() {
            "distribution updates; no vulnerability named".to_owned()
        } else {
            format!("fixes {}", layer.fixes.join(", "))
        },
    }));
    Ok(config)
}

/// The manifest with its first `n_base` layers, then `layer`, and `config`.
/// The result is an OCI manifest (it carries annotations); Docker layer
/// media types are renamed, their blobs are untouched.
pub fn manifest_with_layer(
    manifest: &Manifest,
    n_base: usize,
    config: Descriptor,
    layer: &PatchLayer,
) -> Manifest {
    let mut layers: Vec<Descriptor> = manifest.layers[..n_base.min(manifest.layers.len())]
        .iter()
        .cloned()
        .map(to_oci_layer)
        .collect();
    let mut d = layer.descriptor.clone();
    d.annotations
        .get_or_insert_with(Default::default)
        .insert(ANNOTATION_PATCH_LAYER.into(), "true".into());
    layers.push(d);
    Manifest {
        schema_version: 2,
        media_type: Some(MEDIA_MANIFEST.into()),
        config,
        layers,
        annotations: manifest.annotations.clone(),
        extra: manifest.extra.clone(),
    }
}

/// The manifest with `annotations` set (replacing values of the same keys).
pub fn annotate(manifest: &Manifest, annotations: BTreeMap<String, String>) -> Manifest {
    let mut m = manifest.clone();
    m.annotations
        .get_or_insert_with(Default::default)
        .extend(annotations);
    m
}

/// The index with the entry for `old` pointing at `new` instead (its
/// platform and annotations kept). A Docker manifest list becomes an OCI
/// index, since the manifests it now lists are OCI.
pub fn repoint(index: &Index, old: &Digest, new: &Descriptor) -> Index {
    let mut index = index.clone();
    for child in index.manifests.iter_mut().filter(|c| &c.digest == old) {
        child.digest = new.digest.clone();
        child.size = new.size;
        child.media_type = new.media_type.clone();
    }
    if index.media_type.as_deref() == Some(MEDIA_DOCKER_LIST) {
        index.media_type = Some(MEDIA_INDEX.into());
    }
    index
}

fn to_oci_layer(mut d: Descriptor) -> Descriptor {
    if let Some(c) = Compression::of_media_type(&d.media_type) {
        d.media_type = c.media_type(false).into();
    }
    d
}

#[cfg(test)]
mod tests {
    use super::*;

    fn layer(bytes: &[u8]) -> PatchLayer {
        PatchLayer {
            descriptor: Descriptor::for_bytes(MEDIA_LAYER_GZIP, bytes),
            diff_id: Digest::of(b"tar"),
            created: "2024-01-01T00:00:00Z".into(),
            recipes: vec!["r".into()],
            fixes: vec!["CVE-1".into()],
        }
    }

    #[test]
    fn config_replaces_an_earlier_patch_layer_and_leaves_the_input_alone() {
        let base = Digest::of(b"base");
        let config = json!({
            "architecture": "amd64",
            "rootfs": {"type": "layers", "diff_ids": [base.to_string(), Digest::of(b"old").to_string()]},
            "history": [
                {"created_by": "base"},
                {"created_by": "ENV x", "empty_layer": true},
                {"created_by": "rootwasm apply old"}
            ]
        });
        let before = config.clone();
        let out = config_with_layer(&config, 1, &layer(b"new")).unwrap();
        assert_eq!(config, before, "the input is not changed");
        assert_eq!(
            out["rootfs"]["diff_ids"],
            json!([base.to_string(), Digest::of(b"tar").to_string()])
        );
        let h = out["history"].as_array().unwrap();
        assert_eq!(h.len(), 3);
        assert_eq!(h[1]["empty_layer"], true);
        assert_eq!(h[2]["created_by"], "rootwasm apply r");
        assert_eq!(out["architecture"], "amd64", "unknown fields are kept");
    }

    #[test]
    fn a_config_without_diff_ids_is_an_error_not_a_panic() {
        assert!(config_with_layer(&json!({"rootfs": {}}), 0, &layer(b"x")).is_err());
        assert!(config_with_layer(&json!([]), 0, &layer(b"x")).is_err());
    }

    #[test]
    fn one_definition_of_the_patch_layer() {
        let l = layer(b"x");
        let m = Manifest {
            schema_version: 2,
            media_type: Some(MEDIA_MANIFEST.into()),
            config: Descriptor::for_bytes(MEDIA_CONFIG, b"{}"),
            layers: vec![Descriptor::for_bytes(MEDIA_LAYER_GZIP, b"base")],
            annotations: None,
            extra: Default::default(),
        };
        assert_eq!(patch_layer(&m, &json!({})), None);
        let patched = manifest_with_layer(&m, 1, m.config.clone(), &l);
        assert_eq!(patched.layers.len(), 2);
        assert_eq!(patch_layer(&patched, &json!({})), Some(1));
        let old_style = json!({"history": [{"created_by": "rootwasm apply x"}]});
        assert_eq!(patch_layer(&m, &old_style), Some(0));
    }

    #[test]
    fn repoint_keeps_the_platform_and_makes_a_docker_list_oci() {
        let a = Descriptor {
            platform: Some(Platform {
                os: "linux".into(),
                architecture: "arm64".into(),
                extra: Default::default(),
            }),
            ..Descriptor::for_bytes(MEDIA_DOCKER_MANIFEST, b"a")
        };
        let index = Index {
            schema_version: 2,
            media_type: Some(MEDIA_DOCKER_LIST.into()),
            manifests: vec![a.clone()],
            annotations: None,
            extra: Default::default(),
        };
        let new = Descriptor::for_bytes(MEDIA_MANIFEST, b"b");
        let out = repoint(&index, &a.digest, &new);
        assert_eq!(out.manifests[0].digest, new.digest);
        assert_eq!(out.manifests[0].platform, a.platform);
        assert_eq!(out.media_type.as_deref(), Some(MEDIA_INDEX));
        assert_eq!(
            index.manifests[0].digest, a.digest,
            "the input is not changed"
        );
    }
}
