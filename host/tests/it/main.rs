//! The one integration test binary. Modules are named after what they check;
//! `support` builds the guest components and sets up trees.

mod backport;
mod determinism;
mod hostile;
mod reproducible;
mod session;
mod support;
