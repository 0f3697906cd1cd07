//! The budgets an operator can change, as flags shared by the verbs that
//! read images and run recipes. Defaults and what each bounds:
//! `docs/security.md`.

use clap::Args;
use rootwasm::image::layer::LayerLimits;
use rootwasm::sandbox::Ceilings;

/// Bounds on reading layers.
#[derive(Args, Debug, Clone)]
pub struct LayerLimitArgs {
    /// Largest uncompressed layer accepted, bytes.
    #[arg(long, default_value_t = LayerLimits::default().max_layer_bytes)]
    max_layer_bytes: u64,
    /// Most entries accepted in one layer.
    #[arg(long, default_value_t = LayerLimits::default().max_entries)]
    max_layer_entries: u64,
    /// Largest file a recipe or the inventory may read from a layer, bytes.
    #[arg(long, default_value_t = LayerLimits::default().max_captured_file)]
    max_file_bytes: u64,
    /// Most file contents held from one layer, and from one image, bytes.
    #[arg(long, default_value_t = LayerLimits::default().max_captured_bytes)]
    max_captured_bytes: u64,
    /// Most entry metadata (names, link targets, xattrs) held, bytes.
    #[arg(long, default_value_t = LayerLimits::default().max_index_bytes)]
    max_index_bytes: u64,
    /// Longest entry name or link target, bytes.
    #[arg(long, default_value_t = LayerLimits::default().max_path_bytes)]
    max_path_bytes: u64,
    /// Most components in an entry name.
    #[arg(long, default_value_t = LayerLimits::default().max_path_depth)]
    max_path_depth: u64,
    /// Largest PAX extended header, bytes.
    #[arg(long, default_value_t = LayerLimits::default().max_header_bytes)]
    max_header_bytes: u64,
}

impl LayerLimitArgs {
    pub fn limits(&self) -> LayerLimits {
        LayerLimits {
            max_layer_bytes: self.max_layer_bytes,
            max_entries: self.max_layer_entries,
            max_captured_file: self.max_file_bytes,
            max_captured_bytes: self.max_captured_bytes,
            max_index_bytes: self.max_index_bytes,
            max_path_bytes: self.max_path_bytes,
            max_path_depth: self.max_path_depth,
            max_header_bytes: self.max_header_bytes,
        }
    }
}

/// Host ceilings on what a recipe.toml may ask for.
#[derive(Args, Debug, Clone)]
pub struct CeilingArgs {
    /// Most fuel a recipe may ask for (`limits.fuel`).
    #[arg(long, default_value_t = Ceilings::default().fuel)]
    max_fuel: u64,
    /// Most wall time a recipe may ask for, ms (`limits.wall-time-ms`).
    #[arg(long, default_value_t = Ceilings::default().wall_time_ms)]
    max_wall_time_ms: u64,
    /// Most memory a recipe may ask for, all its memories together, bytes (`limits.memory-bytes`).
    #[arg(long, default_value_t = Ceilings::default().memory_bytes)]
    max_memory_bytes: u64,
    /// Most bytes a recipe may ask to write (`limits.written-bytes`).
    #[arg(long, default_value_t = Ceilings::default().written_bytes)]
    max_written_bytes: u64,
}

impl CeilingArgs {
    pub fn ceilings(&self) -> Ceilings {
        Ceilings {
            fuel: self.max_fuel,
            wall_time_ms: self.max_wall_time_ms,
            memory_bytes: self.max_memory_bytes,
            written_bytes: self.max_written_bytes,
        }
    }
}
