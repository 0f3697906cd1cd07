//! in-toto Statement v1: the envelope-independent wrapper that says which
//! artifacts (by digest) a predicate is about.

use super::ImageSubject;
use serde_json::{Value, json};

/// `_type` of an in-toto Statement v1.
pub const STATEMENT_TYPE: &str = "https://in-toto.io/Statement/v1";
/// The DSSE payload type of an in-toto statement.
pub const PAYLOAD_TYPE: &str = "application/vnd.in-toto+json";

/// One artifact the statement is about.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Subject {
    /// Its name, e.g. the image repository.
    pub name: String,
    /// Its sha256, lowercase hex.
    pub sha256: String,
}

/// The subjects for an image: one per digest, named after the repository
/// (or the short name for a local image).
pub fn image_subjects(image: &ImageSubject<'_>) -> Vec<Subject> {
    image
        .digests
        .iter()
        .map(|d| Subject {
            name: image
                .repository
                .map_or_else(|| image.name.to_owned(), |r| r.name()),
            sha256: d.hex().to_owned(),
        })
        .collect()
}

/// An in-toto Statement v1 with `predicate` about `subjects`.
pub fn statement(subjects: &[Subject], predicate_type: &str, predicate: Value) -> Value {
    let subject: Vec<Value> = subjects
        .iter()
        .map(|s| json!({"name": s.name, "digest": {"sha256": s.sha256}}))
        .collect();
    json!({
        "_type": STATEMENT_TYPE,
        "subject": subject,
        "predicateType": predicate_type,
        "predicate": predicate,
    })
}
