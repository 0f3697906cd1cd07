//! Plain Rust types for what crosses the recipe interface.

use std::fmt;

pub use rootwasm_types::{Kind, Metadata};

/// An install of the recipe's target package that the host matched against
/// `affected` in recipe.toml (see [`Context::targets`](crate::Context::targets)).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Target {
    /// `pypi`, `npm`, `gem`, `deb`, ...
    pub ecosystem: String,
    /// Name as the ecosystem spells it.
    pub name: String,
    /// Installed version.
    pub version: String,
    /// The package's record: a `*.dist-info` directory, a
    /// `node_modules/<name>/package.json`, a `specifications/*.gemspec`.
    pub location: String,
}

/// One directory entry.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DirEntry {
    /// File name.
    pub name: String,
    /// Node kind.
    pub kind: Kind,
}

pub use rootwasm_types::ErrorCode;

/// A failed rootfs or artifacts call.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FsError {
    /// Category.
    pub code: ErrorCode,
    /// The path or artifact name.
    pub path: String,
    /// Details.
    pub message: String,
}

impl fmt::Display for FsError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.path, self.message)
    }
}

impl std::error::Error for FsError {}

/// A recipe's error: a message for the operator.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Error(String);

impl Error {
    /// An error with this message.
    pub fn msg(message: impl Into<String>) -> Self {
        Error(message.into())
    }

    /// The message.
    pub fn message(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for Error {}

impl From<FsError> for Error {
    fn from(e: FsError) -> Self {
        Error(e.to_string())
    }
}

/// Result of recipe code.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// A package version before and after the recipe.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PackageChange {
    /// `pypi`, `deb`, ...
    pub ecosystem: String,
    /// Package name.
    pub name: String,
    /// Where it lives in the rootfs.
    pub location: String,
    /// Version before.
    pub version_before: String,
    /// Version after (the same for a backport).
    pub version_after: String,
}

/// What `apply` did.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Report {
    /// Vulnerability ids fixed.
    pub fixed: Vec<String>,
    /// Packages changed.
    pub packages: Vec<PackageChange>,
    /// Notes for the operator.
    pub notes: Vec<String>,
}

/// Is the fix present?
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CheckStatus {
    /// Yes.
    Fixed,
    /// No, and `apply` would fix it.
    Vulnerable,
    /// The target is not here.
    NotApplicable,
}

/// `check`'s answer.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Check {
    /// The verdict.
    pub status: CheckStatus,
    /// Why, for humans.
    pub detail: String,
}

impl Check {
    /// The fix is present.
    pub fn fixed(detail: impl Into<String>) -> Self {
        Check {
            status: CheckStatus::Fixed,
            detail: detail.into(),
        }
    }
    /// The vulnerable code is present.
    pub fn vulnerable(detail: impl Into<String>) -> Self {
        Check {
            status: CheckStatus::Vulnerable,
            detail: detail.into(),
        }
    }
    /// Nothing to fix here.
    pub fn not_applicable(detail: impl Into<String>) -> Self {
        Check {
            status: CheckStatus::NotApplicable,
            detail: detail.into(),
        }
    }
}

/// Log levels.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Level {
    /// Debug.
    Debug,
    /// Info.
    Info,
    /// Warning.
    Warn,
    /// Error.
    Error,
}

/// A declared artifact.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ArtifactInfo {
    /// Name.
    pub name: String,
    /// Size in bytes.
    pub size: u64,
    /// sha256, lowercase hex.
    pub sha256: String,
}
