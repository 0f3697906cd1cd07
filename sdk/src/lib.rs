//! Write rootwasm recipes.
//!
//! A recipe is a type implementing [`Recipe`] plus one [`export_recipe!`]
//! line. Build it for `wasm32-wasip2` with `rootwasm recipe build`; test it
//! natively with [`testing::Harness`]. The guide is `docs/recipes.md`.
//!
//! ```
//! use rootwasm_sdk::{Check, Context, Recipe, Report, Result};
//!
//! struct FixMotd;
//!
//! impl Recipe for FixMotd {
//!     fn check(cx: &mut Context) -> Result<Check> {
//!         Ok(match cx.read_to_string("/etc/motd") {
//!             Ok(t) if t.contains("patched") => Check::fixed("motd says patched"),
//!             Ok(_) => Check::vulnerable("motd is old"),
//!             Err(_) => Check::not_applicable("no /etc/motd"),
//!         })
//!     }
//!     fn apply(cx: &mut Context) -> Result<Report> {
//!         cx.write_file("/etc/motd", b"patched\n", 0o644)?;
//!         Ok(Report { fixed: vec!["CVE-0000-0000".into()], ..Report::default() })
//!     }
//! }
//!
//! rootwasm_sdk::export_recipe!(FixMotd);
//! ```
#![deny(missing_docs)]
#![deny(unsafe_code)]

mod context;
pub mod dpkg;
mod host;
pub mod maintscript;
pub mod patch;
pub mod python;
mod types;

#[cfg(not(target_family = "wasm"))]
pub mod testing;
#[cfg(target_family = "wasm")]
#[doc(hidden)]
#[allow(unsafe_code, missing_docs)]
pub mod wasm;

pub use context::Context;
pub use host::Host;
pub use types::*;

/// A fix. Implement it on a unit struct and export it with [`export_recipe!`].
pub trait Recipe {
    /// Is the fix present? Must only read. Runs before and after `apply`.
    fn check(cx: &mut Context<'_>) -> Result<Check>;
    /// Make the change. Every change is staged and discarded if this fails.
    fn apply(cx: &mut Context<'_>) -> Result<Report>;
}

/// Export a [`Recipe`] as the component's `apply` and `check`. Natively it
/// only checks that the type is a recipe, so the same crate builds for tests.
#[macro_export]
macro_rules! export_recipe {
    ($recipe:ty) => {
        #[cfg(not(target_family = "wasm"))]
        const _: () = {
            let _ = <$recipe as $crate::Recipe>::apply;
        };
        #[cfg(target_family = "wasm")]
        const _: () = {
            struct __RootwasmExport;
            impl $crate::wasm::wit::Guest for __RootwasmExport {
                fn apply() -> ::core::result::Result<$crate::wasm::wit::Report, ::std::string::String> {
                    $crate::wasm::apply::<$recipe>()
                }
                fn check() -> ::core::result::Result<$crate::wasm::wit::CheckReport, ::std::string::String> {
                    $crate::wasm::check::<$recipe>()
                }
            }
            $crate::wasm::wit::__export_recipe_world!(__RootwasmExport with_types_in $crate::wasm::wit);
        };
    };
}
