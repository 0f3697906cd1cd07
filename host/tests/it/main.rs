//! The one integration test binary. Modules are named after what they check;
//! `support` builds the guest components and sets up trees.

mod apply;
mod attest;
mod backport;
mod bad_images;
mod boundaries;
mod budgets;
mod determinism;
mod distro_versions;
mod distros;
mod dpkg;
mod hardening;
mod hostile;
mod images;
mod layer_semantics;
mod reproducible;
mod review;
mod review_unverified;
mod sbom;
mod scan;
mod session;
mod sink;
mod support;
mod sync;
mod versions;
