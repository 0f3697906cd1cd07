//! The patch record a patched image carries: which recipe changed which
//! package, how, and what it fixed. It is a manifest annotation, so `scan`
//! and `sbom` can describe the image as it is without the journal.

use crate::recipe::PatchType;
use serde::{Deserialize, Serialize};

/// Manifest annotation holding the JSON array of [`PatchRecord`]s.
pub const ANNOTATION_PATCHES: &str = "dev.rootwasm.patches";

/// One package patched by one recipe.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct PatchRecord {
    /// Recipe id.
    pub recipe: String,
    /// Backport or distro upgrade.
    #[serde(rename = "type")]
    pub patch_type: PatchType,
    /// Where the fix came from.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub origin: Option<String>,
    /// Package ecosystem.
    pub ecosystem: crate::ecosystem::Ecosystem,
    /// Package name.
    pub package: String,
    /// Where the package is installed.
    pub location: String,
    /// Version before.
    pub version_before: String,
    /// Version after (the same for a backport).
    pub version_after: String,
    /// Vulnerabilities fixed.
    pub fixes: Vec<String>,
}

/// The records in a manifest's annotations (none if absent or unreadable).
pub fn records(
    annotations: Option<&std::collections::BTreeMap<String, String>>,
) -> Vec<PatchRecord> {
    annotations
        .and_then(|a| a.get(ANNOTATION_PATCHES))
        .and_then(|s| serde_json::from_str(s).ok())
        .unwrap_or_default()
}
