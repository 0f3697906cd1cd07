//! Test images: see `tests/testimage`.
pub use rootwasm_testimage::*;
