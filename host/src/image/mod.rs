//! Container images: the model, sources and sinks, safe layer reading, the
//! merged root view, and the patch layer.
//!
//! Data flows one way: [`source`] opens an image; [`layer`] reads each layer
//! into an index; [`merge`] stacks the indexes into a [`RootView`](crate::rootfs::RootView)
//! for the recipes; [`patch`] turns a journal into one new layer; [`mutate`]
//! makes the new config, manifest and index; [`sink`] writes the result.
//! The input is never written.

pub mod attach;
pub mod cache;
pub mod credentials;
pub mod error;
mod gzip;
pub mod layer;
pub mod merge;
pub mod model;
pub mod mutate;
pub mod patch;
pub mod prestage;
pub mod reference;
pub mod registry;
pub mod sink;
pub mod source;
pub mod view;

pub use error::ImageError;
pub use gzip::Ahead;
pub use reference::Reference;
