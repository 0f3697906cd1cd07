//! The wasm sandbox: one wasmtime engine, its component cache, and the
//! machinery to call a recipe's exports under limits.
//!
//! What a guest gets: the `rootwasm:recipe` imports, plus the harmless part
//! of WASI that Rust's std needs (stdio into bounded buffers, clocks frozen at
//! SOURCE_DATE_EPOCH, seeded randomness, an empty environment). It gets no
//! `wasi:filesystem`, `wasi:sockets` or `wasi:http`: a component that imports
//! them is refused before it runs.

mod bindings;
mod cache;
mod derived;
mod host;
mod state;

pub use cache::{CacheUse, ComponentCache};
pub use derived::DerivedStore;
pub use state::{Inputs, LogLine};

use crate::error::{RunError, RunErrorKind};
use crate::recipe::{Limits, Recipe};
use crate::session::Session;
use bindings::RecipePre;
use state::{DerivedRun, MemoryCap, OutputLimit, StoreState, Violation};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;
use wasmtime::component::{Linker, ResourceTable};
use wasmtime::{Config, Engine, Store, StoreLimitsBuilder, Trap};
use wasmtime_wasi::p2::pipe::MemoryOutputPipe;
use wasmtime_wasi::{HostMonotonicClock, HostWallClock, WasiCtxBuilder};

pub use bindings::{CheckReport, CheckStatus, PackageChange, Report};

/// How often the epoch ticks: the resolution of the wall-time limit.
const EPOCH_TICK: Duration = Duration::from_millis(10);
/// Bytes of stdout, of stderr and of log messages kept per phase.
pub const OUTPUT_CAPTURE_BYTES: usize = 64 * 1024;

/// Interface prefixes a recipe may import. Everything else is refused at load.
const ALLOWED_IMPORTS: &[&str] = &[
    "rootwasm:recipe/",
    "wasi:cli/environment@",
    "wasi:cli/exit@",
    "wasi:cli/stdin@",
    "wasi:cli/stdout@",
    "wasi:cli/stderr@",
    "wasi:cli/terminal-",
    "wasi:clocks/wall-clock@",
    "wasi:clocks/monotonic-clock@",
    "wasi:random/",
    "wasi:io/",
];

/// The WASI context of one call: captured stdio, clocks frozen at
/// `clock_secs`, randomness seeded from the recipe, the time and the phase,
/// and no network.
fn wasi_ctx(
    recipe: &str,
    call: Call,
    clock_secs: u64,
    stdout: &MemoryOutputPipe,
    stderr: &MemoryOutputPipe,
) -> wasmtime_wasi::WasiCtx {
    let seed = {
        use sha2::Digest;
        let d = sha2::Sha256::digest(format!("{recipe}\0{clock_secs}\0{}", call.name()));
        u64::from_le_bytes(d[..8].try_into().expect("8 bytes"))
    };
    let rng = <rand::rngs::StdRng as rand::SeedableRng>::seed_from_u64(seed);
    let insecure = <rand::rngs::StdRng as rand::SeedableRng>::seed_from_u64(seed ^ 1);
    WasiCtxBuilder::new()
        .stdout(stdout.clone())
        .stderr(stderr.clone())
        .wall_clock(FixedClock(Duration::from_secs(clock_secs)))
        .monotonic_clock(FixedClock(Duration::ZERO))
        .secure_random(rng)
        .insecure_random(insecure)
        .insecure_random_seed(u128::from(seed))
        .allow_tcp(false)
        .allow_udp(false)
        .allow_ip_name_lookup(false)
        .build()
}

/// Memory limits of one call: all the component's memories together.
fn memory_cap(limits: &Limits) -> MemoryCap {
    let max_memory = usize::try_from(limits.memory_bytes).unwrap_or(usize::MAX);
    MemoryCap {
        limits: StoreLimitsBuilder::new()
            .memory_size(max_memory)
            .instances(MAX_INSTANCES)
            .memories(MAX_MEMORIES)
            .tables(MAX_TABLES)
            .trap_on_grow_failure(true)
            .build(),
        max: max_memory,
        total: 0,
        hit: false,
    }
}

/// Settings of a [`Sandbox`].
#[derive(Clone, Debug)]
pub struct SandboxOptions {
    /// Where compiled components are cached.
    pub cache: ComponentCache,
    /// The most a recipe's `[limits]` may ask for.
    pub ceilings: Ceilings,
}

impl Default for SandboxOptions {
    fn default() -> Self {
        SandboxOptions {
            cache: ComponentCache::at(ComponentCache::default_location()),
            ceilings: Ceilings::default(),
        }
    }
}

/// Host ceilings on what a recipe.toml's `[limits]` may ask for: recipes
/// are untrusted, so their own limits cannot be the only bound. A recipe
/// asking for more is refused before it runs.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Ceilings {
    /// Most `fuel` (instructions, roughly).
    pub fuel: u64,
    /// Most `wall-time-ms`.
    pub wall_time_ms: u64,
    /// Most `memory-bytes`: linear memory of all the component's memories together.
    pub memory_bytes: u64,
    /// Most `written-bytes`.
    pub written_bytes: u64,
}

impl Default for Ceilings {
    fn default() -> Self {
        Ceilings {
            // The wall-time ceiling is what bounds time; this one only
            // stops absurd values (hours of work).
            fuel: 10_000_000_000_000,
            wall_time_ms: 600_000,
            memory_bytes: 1 << 30,
            written_bytes: 1 << 30,
        }
    }
}

impl Ceilings {
    /// Refuse `limits` above a ceiling, naming the recipe, the field and the ceiling.
    pub fn check(&self, recipe: &str, limits: &Limits) -> Result<(), RunError> {
        for (field, asked, max) in [
            ("fuel", limits.fuel, self.fuel),
            ("wall-time-ms", limits.wall_time_ms, self.wall_time_ms),
            ("memory-bytes", limits.memory_bytes, self.memory_bytes),
            ("written-bytes", limits.written_bytes, self.written_bytes),
        ] {
            if asked > max {
                return Err(RunError::new(
                    RunErrorKind::Load,
                    recipe,
                    format!(
                        "recipe.toml asks for [limits] {field} = {asked}, above the host ceiling of {max}; lower it in the recipe, or raise the ceiling (SandboxOptions::ceilings) if the recipe is trusted to need it"
                    ),
                ));
            }
        }
        Ok(())
    }
}

/// Memories, tables and instances a recipe component may create. A Rust
/// component has one or two memories; the memory limit counts them all.
const MAX_MEMORIES: usize = 8;
const MAX_TABLES: usize = 64;
const MAX_INSTANCES: usize = 64;

/// A wasmtime engine configured for recipes, and an epoch ticker for wall-time limits.
pub struct Sandbox {
    engine: Engine,
    linker: Linker<StoreState>,
    cache: ComponentCache,
    ceilings: Ceilings,
    stop: Arc<AtomicBool>,
    /// Components loaded by this sandbox, by sha256, with their wasm: the
    /// recipes of one apply mostly share a component, and hashing and
    /// loading it once per recipe was a tenth of a 40-upgrade apply.
    loaded: std::sync::Mutex<std::collections::HashMap<String, (Vec<u8>, Loaded)>>,
}

impl Drop for Sandbox {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
    }
}

/// A compiled, import-checked recipe ready to instantiate.
#[derive(Clone)]
pub struct Loaded {
    pre: RecipePre<StoreState>,
    /// The component's sha256, which keys its derived data.
    component: crate::journal::Sha256Hex,
    /// Whether it came from the cache.
    pub cache: CacheUse,
}

/// Which export to call.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Call {
    /// `check`.
    Check,
    /// `apply`.
    Apply,
}

impl Call {
    fn name(self) -> &'static str {
        match self {
            Call::Check => "check",
            Call::Apply => "apply",
        }
    }
}

/// What an export returned.
#[derive(Debug)]
pub enum Returned {
    /// `check`'s report.
    Check(CheckReport),
    /// `apply`'s report.
    Apply(Report),
}

/// Output a phase produced, kept even when it failed.
#[derive(Clone, Debug, Default, serde::Serialize)]
pub struct Captured {
    /// stdout, lossily decoded.
    pub stdout: String,
    /// stderr, lossily decoded.
    pub stderr: String,
    /// `log` calls.
    pub logs: Vec<LogLine>,
}

impl Captured {
    pub(crate) fn append_from(&mut self, other: Captured) {
        self.stdout.push_str(&other.stdout);
        self.stderr.push_str(&other.stderr);
        self.logs.extend(other.logs);
    }
}

struct FixedClock(Duration);

impl HostWallClock for FixedClock {
    fn resolution(&self) -> Duration {
        Duration::from_secs(1)
    }
    fn now(&self) -> Duration {
        self.0
    }
}

impl HostMonotonicClock for FixedClock {
    fn resolution(&self) -> u64 {
        1_000_000_000
    }
    fn now(&self) -> u64 {
        0
    }
}

impl Sandbox {
    /// A new engine with fuel, epochs and the recipe linker.
    pub fn new(options: SandboxOptions) -> Result<Self, RunError> {
        let mut config = Config::new();
        config
            .consume_fuel(true)
            .epoch_interruption(true)
            .wasm_component_model(true);
        // Recipe authors profile their guest code with `perf` (docs/recipes.md).
        if std::env::var_os("ROOTWASM_PERFMAP").is_some() {
            config.profiler(wasmtime::ProfilingStrategy::PerfMap);
        }
        let engine = Engine::new(&config).map_err(|e| {
            RunError::new(RunErrorKind::Load, "", format!("starting wasmtime: {e}"))
        })?;
        let linker = Self::linker(&engine).map_err(|e| {
            RunError::new(
                RunErrorKind::Load,
                "",
                format!("linking the recipe world: {e}"),
            )
        })?;
        let stop = Arc::new(AtomicBool::new(false));
        let (e, s) = (engine.weak(), stop.clone());
        std::thread::Builder::new()
            .name("rootwasm-epoch".into())
            .spawn(move || {
                while !s.load(Ordering::Relaxed) {
                    std::thread::sleep(EPOCH_TICK);
                    match e.upgrade() {
                        Some(engine) => engine.increment_epoch(),
                        None => break,
                    }
                }
            })
            .map_err(|e| {
                RunError::new(
                    RunErrorKind::Load,
                    "",
                    format!("starting the epoch thread: {e}"),
                )
            })?;
        Ok(Sandbox {
            engine,
            linker,
            cache: options.cache,
            ceilings: options.ceilings,
            stop,
            loaded: Default::default(),
        })
    }

    fn linker(engine: &Engine) -> wasmtime::Result<Linker<StoreState>> {
        use wasmtime_wasi::cli::WasiCli;
        use wasmtime_wasi::clocks::WasiClocks;
        use wasmtime_wasi::p2::bindings::{cli, clocks, random, sync::io};
        use wasmtime_wasi::random::WasiRandom;

        struct Io;
        impl wasmtime::component::HasData for Io {
            type Data<'a> = &'a mut ResourceTable;
        }
        struct Own;
        impl wasmtime::component::HasData for Own {
            type Data<'a> = &'a mut StoreState;
        }

        let mut l = Linker::new(engine);
        bindings::Recipe::add_to_linker::<StoreState, Own>(&mut l, |s| s)?;
        // The harmless part of wasi:cli/imports; deliberately no filesystem or sockets.
        clocks::wall_clock::add_to_linker::<_, WasiClocks>(&mut l, |s| {
            wasmtime_wasi::clocks::WasiClocksView::clocks(s)
        })?;
        clocks::monotonic_clock::add_to_linker::<_, WasiClocks>(&mut l, |s| {
            wasmtime_wasi::clocks::WasiClocksView::clocks(s)
        })?;
        random::random::add_to_linker::<_, WasiRandom>(&mut l, |s| s.wasi.random())?;
        random::insecure::add_to_linker::<_, WasiRandom>(&mut l, |s| s.wasi.random())?;
        random::insecure_seed::add_to_linker::<_, WasiRandom>(&mut l, |s| s.wasi.random())?;
        cli::exit::add_to_linker::<_, WasiCli>(&mut l, |s| {
            wasmtime_wasi::cli::WasiCliView::cli(s)
        })?;
        cli::environment::add_to_linker::<_, WasiCli>(&mut l, |s| {
            wasmtime_wasi::cli::WasiCliView::cli(s)
        })?;
        cli::stdin::add_to_linker::<_, WasiCli>(&mut l, |s| {
            wasmtime_wasi::cli::WasiCliView::cli(s)
        })?;
        cli::stdout::add_to_linker::<_, WasiCli>(&mut l, |s| {
            wasmtime_wasi::cli::WasiCliView::cli(s)
        })?;
        cli::stderr::add_to_linker::<_, WasiCli>(&mut l, |s| {
            wasmtime_wasi::cli::WasiCliView::cli(s)
        })?;
        cli::terminal_input::add_to_linker::<_, WasiCli>(&mut l, |s| {
            wasmtime_wasi::cli::WasiCliView::cli(s)
        })?;
        cli::terminal_output::add_to_linker::<_, WasiCli>(&mut l, |s| {
            wasmtime_wasi::cli::WasiCliView::cli(s)
        })?;
        cli::terminal_stdin::add_to_linker::<_, WasiCli>(&mut l, |s| {
            wasmtime_wasi::cli::WasiCliView::cli(s)
        })?;
        cli::terminal_stdout::add_to_linker::<_, WasiCli>(&mut l, |s| {
            wasmtime_wasi::cli::WasiCliView::cli(s)
        })?;
        cli::terminal_stderr::add_to_linker::<_, WasiCli>(&mut l, |s| {
            wasmtime_wasi::cli::WasiCliView::cli(s)
        })?;
        wasmtime_wasi_io::bindings::wasi::io::error::add_to_linker::<_, Io>(&mut l, |s| {
            &mut s.table
        })?;
        io::poll::add_to_linker::<_, Io>(&mut l, |s| &mut s.table)?;
        io::streams::add_to_linker::<_, Io>(&mut l, |s| &mut s.table)?;
        Ok(l)
    }

    /// The engine, for benchmarks.
    pub fn engine(&self) -> &Engine {
        &self.engine
    }

    /// Compile (or fetch from cache) and check a recipe's component.
    pub fn load(&self, recipe: &Recipe) -> Result<Loaded, RunError> {
        let sha = recipe.component_sha256().to_ascii_lowercase();
        let mut memo = self.loaded.lock().unwrap_or_else(|p| p.into_inner());
        // The same bytes as a component already checked against this sha256.
        if let Some((wasm, loaded)) = memo.get(&sha)
            && *wasm == recipe.component
        {
            return Ok(loaded.clone());
        }
        let loaded = self.load_new(recipe)?;
        memo.insert(sha, (recipe.component.clone(), loaded.clone()));
        Ok(loaded)
    }

    fn load_new(&self, recipe: &Recipe) -> Result<Loaded, RunError> {
        let id = &recipe.manifest.id;
        let load_err = |m: String| RunError::new(RunErrorKind::Load, id, m);
        let (component, cache) = self
            .cache
            .load(&self.engine, &recipe.component, recipe.component_sha256())
            .map_err(|e| {
                load_err(format!(
                    "{} is not a valid wasm component: {e:#}",
                    recipe.manifest.component.path
                ))
            })?;
        let ty = component.component_type();
        for (name, _) in ty.imports(&self.engine) {
            if !ALLOWED_IMPORTS.iter().any(|p| name.starts_with(p)) {
                let why = if ["wasi:filesystem", "wasi:sockets", "wasi:http"]
                    .iter()
                    .any(|p| name.starts_with(p))
                {
                    "recipes get no WASI file or network access: reach the rootfs through rootwasm:recipe/rootfs and ship data as [[artifacts]]"
                } else {
                    "only rootwasm:recipe interfaces and WASI stdio, clocks, random and io are available"
                };
                return Err(RunError::new(
                    RunErrorKind::ForbiddenImport,
                    id,
                    format!(
                        "component {} imports `{name}`, which is not allowed: {why}",
                        recipe.manifest.component.path
                    ),
                ));
            }
        }
        let pre = self
            .linker
            .instantiate_pre(&component)
            .and_then(RecipePre::new)
            .map_err(|e| {
                load_err(format!(
                    "component does not fit the rootwasm:recipe world: {e:#}"
                ))
            })?;
        Ok(Loaded {
            pre,
            // `cache.load` checked the component against this sha256.
            component: recipe
                .component_sha256()
                .to_ascii_lowercase()
                .parse()
                .map_err(|e| load_err(format!("component sha256: {e}")))?,
            cache,
        })
    }

    /// Call one export in a fresh instance. The session comes back whatever happens.
    pub fn call(
        &self,
        loaded: &Loaded,
        call: Call,
        session: Session,
        inputs: Arc<Inputs>,
        limits: &Limits,
        clock_secs: u64,
    ) -> (Session, Captured, Result<Returned, RunError>) {
        let recipe = session.recipe().to_owned();
        if let Err(e) = self.ceilings.check(&recipe, limits) {
            return (session, Captured::default(), Err(e));
        }
        let stdout = MemoryOutputPipe::new(OUTPUT_CAPTURE_BYTES);
        let stderr = MemoryOutputPipe::new(OUTPUT_CAPTURE_BYTES);
        let wasi = wasi_ctx(&recipe, call, clock_secs, &stdout, &stderr);
        let state = StoreState {
            session,
            inputs,
            derived: DerivedRun {
                store: DerivedStore::under(self.cache.dir()),
                component: loaded.component.clone(),
                budget: limits.written_bytes,
            },
            wasi,
            table: ResourceTable::new(),
            memory: memory_cap(limits),
            logs: Vec::new(),
            log_bytes: 0,
            max_log_bytes: OUTPUT_CAPTURE_BYTES,
        };
        let mut store = Store::new(&self.engine, state);
        store.limiter(|s| &mut s.memory);
        let fuel_ok = store.set_fuel(limits.fuel);
        store.set_epoch_deadline(
            limits
                .wall_time_ms
                .div_ceil(EPOCH_TICK.as_millis() as u64)
                .max(1),
        );
        store.epoch_deadline_trap();

        let result = fuel_ok.and_then(|()| {
            let instance = loaded.pre.instantiate(&mut store)?;
            Ok(match call {
                Call::Check => instance.call_check(&mut store)?.map(Returned::Check),
                Call::Apply => instance.call_apply(&mut store)?.map(Returned::Apply),
            })
        });
        let out_full = stdout.contents().len() >= OUTPUT_CAPTURE_BYTES
            || stderr.contents().len() >= OUTPUT_CAPTURE_BYTES;
        let state = store.into_data();
        let captured = Captured {
            stdout: String::from_utf8_lossy(&stdout.contents()).into_owned(),
            stderr: String::from_utf8_lossy(&stderr.contents()).into_owned(),
            logs: state.logs,
        };
        let phase = call.name();
        let result = match result {
            Ok(Ok(r)) => Ok(r),
            Ok(Err(msg)) => Err(RunError::new(
                RunErrorKind::RecipeFailed,
                &recipe,
                format!("{phase} returned an error: {msg}"),
            )),
            Err(e) => Err(classify(
                e,
                &recipe,
                phase,
                limits,
                state.memory.hit,
                out_full,
                &captured.stderr,
            )),
        };
        (state.session, captured, result)
    }
}

/// Turn a trap into an error that says which limit or rule stopped the recipe.
fn classify(
    e: wasmtime::Error,
    recipe: &str,
    phase: &str,
    limits: &Limits,
    memory_hit: bool,
    out_full: bool,
    stderr: &str,
) -> RunError {
    let (kind, message) = if let Some(v) = e.downcast_ref::<Violation>() {
        (RunErrorKind::ScopeViolation, v.0.clone())
    } else if let Some(o) = e.downcast_ref::<OutputLimit>() {
        (RunErrorKind::OutputLimit, o.to_string())
    } else if matches!(e.downcast_ref::<Trap>(), Some(Trap::OutOfFuel)) {
        (
            RunErrorKind::OutOfFuel,
            format!(
                "ran out of fuel ({} units); raise [limits] fuel in recipe.toml if the recipe really needs more",
                limits.fuel
            ),
        )
    } else if matches!(e.downcast_ref::<Trap>(), Some(Trap::Interrupt)) {
        (
            RunErrorKind::Timeout,
            format!("exceeded its wall-time limit of {} ms", limits.wall_time_ms),
        )
    } else if memory_hit {
        (
            RunErrorKind::MemoryLimit,
            format!(
                "tried to grow memory beyond its limit of {} bytes; raise [limits] memory-bytes in recipe.toml if needed",
                limits.memory_bytes
            ),
        )
    } else if out_full {
        (
            RunErrorKind::OutputLimit,
            format!("wrote more than {OUTPUT_CAPTURE_BYTES} bytes to stdout or stderr"),
        )
    } else {
        let mut m = format!("trapped: {e:#}");
        if let Some(p) = panic_message(stderr) {
            m = format!("{m}; the recipe panicked at {p}");
        }
        (RunErrorKind::Trap, m)
    };
    RunError::new(kind, recipe, format!("{phase}: {message}"))
}

/// Most of a guest panic message shown in an error.
const PANIC_MESSAGE_BYTES: usize = 2048;

/// The message Rust's panic hook wrote to the guest's stderr
/// (`thread '…' panicked at <file>:<line>:<col>:\n<message>`), with
/// control characters escaped so a recipe cannot drive the terminal.
fn panic_message(stderr: &str) -> Option<String> {
    let start = stderr.rfind("panicked at ")?;
    let text = &stderr[start + "panicked at ".len()..];
    let text = text
        .split("\nnote: run with `RUST_BACKTRACE")
        .next()
        .unwrap_or(text)
        .trim_end();
    let mut out = String::new();
    for c in text.chars() {
        if out.len() >= PANIC_MESSAGE_BYTES {
            out.push('…');
            break;
        }
        match c {
            '\n' => out.push_str(" | "),
            c if c.is_control() => out.extend(c.escape_default()),
            c => out.push(c),
        }
    }
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn panic_message_is_found_and_escaped() {
        let stderr = "noise\nthread '<unnamed>' panicked at src/lib.rs:88:24:\nhostile \u{1b}[2J recipe panics\nnote: run with `RUST_BACKTRACE=1` environment variable to display a backtrace\n";
        assert_eq!(
            panic_message(stderr).unwrap(),
            "src/lib.rs:88:24: | hostile \\u{1b}[2J recipe panics"
        );
        assert_eq!(panic_message("no panic here"), None);
        let long = format!("panicked at x:\n{}", "a".repeat(10_000));
        assert!(panic_message(&long).unwrap().len() < PANIC_MESSAGE_BYTES + 8);
    }

    #[test]
    fn ceilings_refuse_a_recipe_asking_for_more() {
        let c = Ceilings::default();
        assert!(c.check("r", &Limits::default()).is_ok());
        let greedy = Limits {
            memory_bytes: c.memory_bytes + 1,
            ..Limits::default()
        };
        let e = c.check("greedy-recipe", &greedy).unwrap_err().to_string();
        assert!(e.contains("greedy-recipe"), "{e}");
        assert!(
            e.contains(&format!("memory-bytes = {}", c.memory_bytes + 1)),
            "{e}"
        );
        assert!(
            e.contains(&format!("host ceiling of {}", c.memory_bytes)),
            "{e}"
        );
        let slow = Limits {
            wall_time_ms: u64::MAX,
            ..Limits::default()
        };
        assert!(
            c.check("r", &slow)
                .unwrap_err()
                .to_string()
                .contains("wall-time-ms")
        );
    }
}
