//! The core of rootwasm that recipes' native tests share with the host: a
//! read-only model of a root filesystem ([`rootfs`]), capability globs
//! ([`scope`]), the staging [`session`] that is the one implementation of the
//! `rootfs` WIT interface, the [`journal`] it writes, [`commit`] of a journal
//! into a directory, and `recipe.toml` ([`recipe`]).
//!
//! **Boundary:** no wasm engine, no image I/O, no SQLite. `rootwasm-sdk`'s
//! test harness depends on this crate alone, so a recipe's `cargo test`
//! builds neither wasmtime nor the package-database readers (tested by
//! `host/tests/it/boundaries.rs`).

#![deny(missing_docs)]

pub mod commit;
pub mod ecosystem;
pub mod journal;
pub mod recipe;
pub mod rootfs;
pub mod scope;
pub mod session;
