//! Per-store data: the session, WASI context, limits and captured output.

use crate::journal::Sha256Hex;
use crate::session::Session;
use serde::Serialize;
use std::collections::BTreeMap;
use std::sync::Arc;
use wasmtime::component::ResourceTable;
use wasmtime::{ResourceLimiter, StoreLimits};
use wasmtime_wasi::{WasiCtx, WasiCtxView, WasiView};

/// A scope or phase violation, carried as the trap's error.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct Violation(pub String);

/// The recipe logged or printed more than the capture bound.
#[derive(Debug, thiserror::Error)]
#[error("recipe produced more than {0} bytes of log output")]
pub struct OutputLimit(pub usize);

/// One `log` call.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct LogLine {
    /// `debug`, `info`, `warn` or `error`.
    pub level: String,
    /// The message.
    pub message: String,
}

/// What a recipe receives besides the rootfs; fixed for the run.
#[derive(Debug, Default)]
pub struct Inputs {
    /// Verified artifacts by name.
    pub artifacts: BTreeMap<String, (Sha256Hex, Vec<u8>)>,
    /// Parameters.
    pub params: BTreeMap<String, String>,
    /// The installs of the recipe's target the host matched (`targets.all`).
    pub targets: Vec<crate::inventory::Package>,
}

/// StoreLimits plus a cap on all memories together (StoreLimits' own
/// `memory_size` is per memory: a component with many memories would get
/// `max` each), and a record of whether the cap was what stopped the guest.
pub struct MemoryCap {
    pub limits: StoreLimits,
    pub max: usize,
    /// Bytes of all memories so far.
    pub total: usize,
    pub hit: bool,
}

impl ResourceLimiter for MemoryCap {
    fn memory_growing(
        &mut self,
        current: usize,
        desired: usize,
        maximum: Option<usize>,
    ) -> wasmtime::Result<bool> {
        let total = (self.total - current.min(self.total)).saturating_add(desired);
        if desired > self.max || total > self.max {
            self.hit = true;
            return Err(wasmtime::Error::msg(format!(
                "memory limit: all memories together would hold {total} bytes, more than {}",
                self.max
            )));
        }
        let ok = self.limits.memory_growing(current, desired, maximum)?;
        if ok {
            self.total = total;
        }
        Ok(ok)
    }
    fn table_growing(
        &mut self,
        current: usize,
        desired: usize,
        maximum: Option<usize>,
    ) -> wasmtime::Result<bool> {
        self.limits.table_growing(current, desired, maximum)
    }
    fn instances(&self) -> usize {
        self.limits.instances()
    }
    fn tables(&self) -> usize {
        self.limits.tables()
    }
    fn memories(&self) -> usize {
        self.limits.memories()
    }
}

/// The run's view of the derived-data store: which component is asking,
/// and how many bytes it may still store.
pub struct DerivedRun {
    pub store: super::derived::DerivedStore,
    pub component: Sha256Hex,
    pub budget: u64,
}

/// The `T` of `Store<T>`.
pub struct StoreState {
    pub session: Session,
    pub inputs: Arc<Inputs>,
    pub derived: DerivedRun,
    pub wasi: WasiCtx,
    pub table: ResourceTable,
    pub memory: MemoryCap,
    pub logs: Vec<LogLine>,
    pub log_bytes: usize,
    pub max_log_bytes: usize,
}

impl StoreState {
    pub fn push_log(&mut self, line: LogLine) -> wasmtime::Result<()> {
        self.log_bytes += line.message.len();
        if self.log_bytes > self.max_log_bytes {
            return Err(wasmtime::Error::new(OutputLimit(self.max_log_bytes)));
        }
        self.logs.push(line);
        Ok(())
    }
}

impl WasiView for StoreState {
    fn ctx(&mut self) -> WasiCtxView<'_> {
        WasiCtxView {
            ctx: &mut self.wasi,
            table: &mut self.table,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use wasmtime::StoreLimitsBuilder;

    fn cap(max: usize) -> MemoryCap {
        MemoryCap {
            limits: StoreLimitsBuilder::new()
                .memory_size(max)
                .memories(64)
                .trap_on_grow_failure(true)
                .build(),
            max,
            total: 0,
            hit: false,
        }
    }

    #[test]
    fn the_memory_cap_counts_all_memories_together() {
        // 29 memories of 2 MiB each pass a 32 MiB per-memory limit, but not
        // a 32 MiB total.
        let mut c = cap(32 << 20);
        let mut created = 0;
        for _ in 0..29 {
            match c.memory_growing(0, 2 << 20, None) {
                Ok(true) => created += 1,
                _ => break,
            }
        }
        assert_eq!(created, 16, "16 x 2 MiB fill the 32 MiB budget");
        assert!(c.hit);
        // Growing one memory counts only the growth.
        let mut c = cap(32 << 20);
        assert!(c.memory_growing(0, 16 << 20, None).unwrap());
        assert!(c.memory_growing(16 << 20, 32 << 20, None).unwrap());
        assert!(c.memory_growing(0, 1, None).is_err());
    }
}
