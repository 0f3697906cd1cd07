//! Errors reading and writing images. Each names the file, blob, layer or
//! entry it is about, because the image is untrusted input and the operator
//! needs to know which part of it is bad.

use std::path::PathBuf;

/// An image could not be read or written.
#[derive(Debug, thiserror::Error)]
pub enum ImageError {
    /// Reading or writing a file failed.
    #[error("{path}: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// Cause.
        source: std::io::Error,
    },
    /// The reference is not one rootwasm understands.
    #[error("image reference {reference:?}: {reason}")]
    Reference {
        /// As given.
        reference: String,
        /// What is wrong and what would work.
        reason: String,
    },
    /// A registry refused a request or could not be reached.
    #[error("{reference}: {reason}")]
    Registry {
        /// The `docker://` reference.
        reference: String,
        /// What failed, what to do next, and the registry's own words.
        reason: String,
    },
    /// A document (index, manifest, config, manifest.json) is malformed.
    #[error("{what}: malformed: {detail}")]
    Malformed {
        /// Which document.
        what: String,
        /// Details.
        detail: String,
    },
    /// A blob's content does not match its digest or size.
    #[error(
        "{what}: digest mismatch: expected {expected}, got {actual}; the image is corrupt or was tampered with"
    )]
    DigestMismatch {
        /// Which blob.
        what: String,
        /// Expected.
        expected: String,
        /// Actual.
        actual: String,
    },
    /// A blob the image refers to is missing.
    #[error("{what}: blob {digest} is missing from the image")]
    MissingBlob {
        /// Who refers to it.
        what: String,
        /// The digest.
        digest: String,
    },
    /// A layer entry is unsafe or invalid.
    #[error("layer {layer}, entry {entry:?}: {reason}")]
    Entry {
        /// Layer digest.
        layer: String,
        /// Entry name as in the tar.
        entry: String,
        /// What is wrong.
        reason: String,
    },
    /// A layer could not be read as a (compressed) tar.
    #[error("layer {layer}: {reason}")]
    Layer {
        /// Layer digest.
        layer: String,
        /// What is wrong.
        reason: String,
    },
    /// A configured limit was exceeded.
    #[error("layer {layer}: {reason}; raise the limit with {flag} if the image is legitimate")]
    Limit {
        /// Layer digest.
        layer: String,
        /// Which limit.
        reason: String,
        /// The CLI flag that sets it.
        flag: &'static str,
    },
}

impl ImageError {
    /// An I/O error about `path`.
    pub fn io(path: impl Into<PathBuf>) -> impl FnOnce(std::io::Error) -> ImageError {
        let path = path.into();
        move |source| ImageError::Io { path, source }
    }

    /// A malformed document.
    pub fn malformed(what: impl Into<String>, detail: impl std::fmt::Display) -> ImageError {
        ImageError::Malformed {
            what: what.into(),
            detail: detail.to_string(),
        }
    }
}
