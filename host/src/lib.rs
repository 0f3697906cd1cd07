//! rootwasm patches vulnerable packages in container images in place.
//!
//! This crate is the host: it loads recipes ([`manifest`]), gives each one a
//! scoped, staged, journaled view of a root filesystem ([`session`] over
//! [`rootfs`]), runs it in a wasm sandbox ([`sandbox`], [`run`]) and writes
//! the journaled changes back ([`commit`]).
//!
//! ```no_run
//! use rootwasm::{recipe::Recipe, rootfs::DirRoot, run, sandbox::Sandbox};
//! use std::{path::Path, sync::Arc};
//!
//! let sandbox = Sandbox::new(Default::default())?;
//! let recipe = Recipe::load(Path::new("recipes/requests-cve-2023-32681"))?;
//! let root = Arc::new(DirRoot::open(Path::new("rootfs"))?);
//! let result = run::run(&sandbox, &recipe, root, &run::RunOptions::default());
//! println!("{} journal entries", result.changes.entries.len());
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

pub mod advisory;
#[cfg(feature = "sandbox")]
pub mod apply;
pub mod attest;
pub mod error;
#[cfg(feature = "sandbox")]
pub mod evidence;
pub mod explore;
pub mod image;
pub mod inventory;
pub mod license;
pub mod matching;
pub mod patch_checks;
pub mod recipe_build;
pub mod recipe_new;
pub mod record;
pub mod review;
pub mod rfc3339;
#[cfg(feature = "sandbox")]
pub mod run;
#[cfg(feature = "sandbox")]
pub mod sandbox;
pub mod sbom;
#[cfg(feature = "sandbox")]
pub mod scan;
pub mod sla;
pub mod sync;
pub mod upgrade_plan;
pub mod version;

pub use rootwasm_core::{commit, ecosystem, journal, recipe, rootfs, scope, session};
