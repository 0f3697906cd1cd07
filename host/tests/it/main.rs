//! The one integration test binary. Modules are named after what they check;
//! `support` builds the guest components and sets up trees.

mod apply;
mod attest;
mod backport;
mod bad_images;
mod budgets;
mod determinism;
mod distro_versions;
mod distros;
mod dpkg;
mod hostile;
mod images;
mod reproducible;
mod review;
mod sbom;
mod scan;
mod session;
mod support;
mod versions;
