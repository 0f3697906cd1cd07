//! Errors of running a recipe.

/// What went wrong, for callers that branch on it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "kebab-case")]
#[non_exhaustive]
pub enum RunErrorKind {
    /// The recipe could not be loaded or compiled.
    Load,
    /// The component imports something recipes may not use.
    ForbiddenImport,
    /// Fuel ran out.
    OutOfFuel,
    /// The wall-clock backstop fired.
    Timeout,
    /// Memory growth beyond the limit.
    MemoryLimit,
    /// Too much stdout, stderr or log output.
    OutputLimit,
    /// Access outside the declared scope, or a write during `check`.
    ScopeViolation,
    /// Any other trap (panic, unreachable, ...).
    Trap,
    /// `apply` or `check` returned an error.
    RecipeFailed,
    /// After `apply`, `check` does not report the fix as present.
    CheckFailed,
    /// Writing the changes into the tree failed.
    Commit,
    /// Refused before running: applying it (without a recipe that failed
    /// or is missing) would leave installed packages' dependencies broken.
    Dependencies,
}

/// A recipe run that did not succeed. Its staged changes were discarded.
#[derive(Clone, Debug, thiserror::Error, serde::Serialize)]
#[error("recipe {recipe}: {message}")]
pub struct RunError {
    /// Category.
    pub kind: RunErrorKind,
    /// Recipe id (empty before one is loaded).
    pub recipe: String,
    /// What happened and what to do.
    pub message: String,
}

impl RunError {
    /// A new error.
    pub fn new(kind: RunErrorKind, recipe: &str, message: impl Into<String>) -> Self {
        RunError {
            kind,
            recipe: recipe.into(),
            message: message.into(),
        }
    }
}
