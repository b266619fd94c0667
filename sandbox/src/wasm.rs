//! WASI components in wasmtime with only what `Grants` gives: preopened folders with
//! exact permissions, connections only to granted addresses (every refusal recorded),
//! name lookup only when granted, memory capped by `StoreLimits`, CPU time capped through
//! epoch deadlines (an app past its budget is stopped; the host keeps running), windows
//! only with the gui grant (`window`). One
//! `WasmHost` per process: its engine uses the pooling allocator and keeps each app's
//! `InstancePre`, so a second start of the same app skips compiling and linking, and
//! compiled apps are kept on disk (like `wasmtime run`'s cache), so a later process skips
//! compiling too. A device compiles nothing: `compose build` compiles each app of an image
//! for its device (`precompile`), and compose-app, built without the `compiler` feature,
//! loads that code (`precompiled_path`).

use std::collections::HashMap;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime};

use wasmtime::component::{Component, Linker, ResourceTable};
use wasmtime::{
    Config, Engine, InstanceAllocationStrategy, PoolingAllocationConfig, Store, StoreLimits,
    StoreLimitsBuilder,
};
use wasmtime_wasi::p2::bindings::sync::CommandPre;
use wasmtime_wasi::p2::pipe::MemoryOutputPipe;
use wasmtime_wasi::sockets::SocketAddrUse;
use wasmtime_wasi::{DirPerms, FilePerms, I32Exit, WasiCtx, WasiCtxBuilder, WasiCtxView, WasiView};

use crate::grants::Grants;
use crate::window::{WindowApp, Windows};

/// How often the epoch advances: the granularity of running-time budgets.
const TICK: Duration = Duration::from_millis(10);
/// Budgets when the manifest sets none.
pub const DEFAULT_MEMORY: u64 = 256 << 20;
pub const DEFAULT_CPU: Duration = Duration::from_secs(60);
/// What the pool reserves per memory: the largest memory an app may be granted.
const MAX_MEMORY: u64 = 1 << 30;
/// Captured output kept per stream.
const OUTPUT_LIMIT: usize = 1 << 20;

/// Why an app could not run, or stopped.
#[derive(Debug, thiserror::Error)]
pub enum WasmError {
    #[error("cannot read the app {path}: {message}")]
    Read { path: PathBuf, message: String },
    #[error(
        "{path} is not a WASI command component: {message} (build it for wasm32-wasip2, or wrap a core module with `wasm-tools component new`)"
    )]
    NotACommand { path: PathBuf, message: String },
    #[error("cannot grant {what}: {message}")]
    Grant { what: String, message: String },
    #[error("memory grant of {0} bytes is above the sandbox's maximum of {MAX_MEMORY} bytes")]
    TooMuchMemory(u64),
    #[error("the wasm engine: {0}")]
    Engine(String),
    #[error(
        "{path} has no compiled code beside it ({code} is missing), and this runtime compiles none\nhelp: `compose build` compiles every wasm app of an image for its device; rebuild the image, or run the app with `compose app run` on a workstation"
    )]
    NotPrecompiled { path: PathBuf, code: PathBuf },
    #[error(
        "cannot load the compiled app {code}: {message}\nhelp: it was compiled for another compose-app or CPU; rebuild the image with `compose build`"
    )]
    BadPrecompiled { code: PathBuf, message: String },
}

/// How a run ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// The app returned or called exit (0 is success).
    Exited(i32),
    /// Stopped: it ran past its time budget.
    OutOfTime(Duration),
    /// Stopped: it asked for more memory than granted.
    OutOfMemory(u64),
    /// Stopped by a trap (a bug in the app, e.g. an out-of-bounds access).
    Trapped(String),
}

/// What a run did.
#[derive(Debug, Clone)]
pub struct Report {
    pub outcome: Outcome,
    /// What the sandbox refused (connections to addresses not granted).
    pub denied: Vec<String>,
    /// Output, when captured (`Stdio::Capture`).
    pub stdout: Vec<u8>,
    pub stderr: Vec<u8>,
    /// From the start request until the app's entry point ran (instantiation).
    pub started_in: Duration,
    /// Whether compiling and linking were skipped (the app was prepared before).
    pub warm: bool,
}

/// Where the app's output goes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stdio {
    /// This process's stdin, stdout and stderr.
    Inherit,
    /// Kept in the report; stdin closed.
    Capture,
}

/// The per-run state the WASI implementation works on.
struct App {
    wasi: WasiCtx,
    table: ResourceTable,
    limits: StoreLimits,
    windows: Windows,
    /// Whether the app was granted name lookups (the WASI context refuses them otherwise).
    name_lookup: bool,
    /// What the app tried and was refused, for the report.
    denied: Arc<Mutex<Vec<String>>>,
}

impl WasiView for App {
    fn ctx(&mut self) -> WasiCtxView<'_> {
        WasiCtxView {
            ctx: &mut self.wasi,
            table: &mut self.table,
        }
    }
}

/// The wasm runtime of a process: engine, linker and the apps prepared so far.
pub struct WasmHost {
    engine: Engine,
    linker: Linker<App>,
    prepared: Mutex<HashMap<PathBuf, (SystemTime, CommandPre<App>)>>,
    ticking: Arc<std::sync::atomic::AtomicBool>,
    code: Code,
}

/// Where a host's app code comes from.
#[derive(Debug)]
enum Code {
    /// Compiled here; kept between processes in the folder (`None`: not kept).
    #[cfg(feature = "compiler")]
    Compiled { cache: Option<PathBuf> },
    /// Only what `compose build` compiled for the device, beside each app
    /// ([`precompiled_path`]): a device's compose-app, which has no compiler.
    Precompiled,
}

/// Where compiled apps are kept: `COMPOSE_WASM_CACHE` (empty: no cache), else
/// `$XDG_CACHE_HOME/compose/wasm`, `~/.cache/compose/wasm`, or on a device (no home)
/// `/var/cache/compose/wasm`.
#[cfg(feature = "compiler")]
fn cache_dir() -> Option<PathBuf> {
    let var = |name: &str| std::env::var_os(name).filter(|v| !v.is_empty());
    if let Some(dir) = std::env::var_os("COMPOSE_WASM_CACHE") {
        return (!dir.is_empty()).then(|| PathBuf::from(dir));
    }
    let base = var("XDG_CACHE_HOME")
        .map(PathBuf::from)
        .or_else(|| var("HOME").map(|h| Path::new(&h).join(".cache")))
        .unwrap_or_else(|| PathBuf::from("/var/cache"));
    Some(base.join("compose/wasm"))
}

/// The engine settings of every host: the same for an app compiled here, by `precompile`
/// for a device, and on that device, so the device accepts what the build compiled.
/// `target` (a Rust target triple) compiles for that machine with no CPU feature beyond
/// the architecture's baseline; `None` is this machine, with all of its features.
fn engine_config(target: Option<&str>) -> Result<Config, WasmError> {
    let mut pool = PoolingAllocationConfig::default();
    pool.total_component_instances(32)
        .total_core_instances(256)
        .total_memories(128)
        .total_tables(128)
        .max_memories_per_component(8)
        .max_tables_per_component(8)
        .max_core_instances_per_component(16)
        .max_memory_size(MAX_MEMORY as usize);
    let mut config = Config::new();
    config
        .epoch_interruption(true)
        .wasm_component_model(true)
        .allocation_strategy(InstanceAllocationStrategy::Pooling(pool));
    if let Some(target) = target {
        config
            .target(target)
            .map_err(|e| WasmError::Engine(format!("target {target}: {e}")))?;
    }
    Ok(config)
}

/// Where `compose build` puts the compiled code of the wasm app at `path`: beside it,
/// `.cwasm` for `.wasm` (`compose_manifest::layout::precompiled_path`).
pub fn precompiled_path(path: &Path) -> PathBuf {
    PathBuf::from(compose_manifest::layout::precompiled_path(
        &path.to_string_lossy(),
    ))
}

/// Compiles the WASI component `bytes` for a device of Debian architecture `arch`
/// (`amd64`, `arm64`), for its compose-app to load without compiling: only the
/// architecture's baseline CPU features, so any CPU of that architecture runs it.
#[cfg(feature = "compiler")]
pub fn precompile(bytes: &[u8], arch: &str) -> Result<Vec<u8>, String> {
    device_engine(arch)?
        .precompile_component(bytes)
        .map_err(|e| format!("not a WASI component: {e:#}"))
}

/// Names the compiler `precompile` uses for `arch` and its settings (wasmtime's version
/// among them): what compiled an image's apps, in the store key of the compiled code.
#[cfg(feature = "compiler")]
pub fn precompiler_id(arch: &str) -> Result<String, String> {
    use std::hash::{Hash, Hasher};
    let mut hasher = std::collections::hash_map::DefaultHasher::new();
    device_engine(arch)?
        .precompile_compatibility_hash()
        .hash(&mut hasher);
    Ok(format!("wasmtime-{arch}-{:016x}", hasher.finish()))
}

/// An engine that compiles for a device of Debian architecture `arch` (`engine_config`
/// with the architecture's Rust target triple).
#[cfg(feature = "compiler")]
fn device_engine(arch: &str) -> Result<Engine, String> {
    let target = match arch {
        "amd64" => "x86_64-unknown-linux-gnu",
        "arm64" => "aarch64-unknown-linux-gnu",
        other => return Err(format!("no wasm compiler for architecture {other}")),
    };
    Engine::new(&engine_config(Some(target)).map_err(|e| e.to_string())?)
        .map_err(|e| format!("the wasm engine for {target}: {e:#}"))
}

/// Loads the code `precompile` made for the wasm app at `path` (`precompiled_path`).
fn load_precompiled(engine: &Engine, path: &Path) -> Result<Component, WasmError> {
    let code = precompiled_path(path);
    if !code.is_file() {
        return Err(WasmError::NotPrecompiled {
            path: path.to_path_buf(),
            code,
        });
    }
    // SAFETY: a host of precompiled code runs an image's apps (compose-app on a device,
    // which has no compiler); their compiled code lies beside them in the image's
    // read-only root, written by `compose build` (`precompile`), never by an app. A host
    // that compiles never loads code from beside an app. `deserialize_file` refuses code of
    // another wasmtime, other settings or CPU features this machine lacks.
    #[allow(unsafe_code)]
    // loading compiled code is unsafe at the edge, as wasmtime's cache.
    let loaded = unsafe { Component::deserialize_file(engine, &code) };
    loaded.map_err(|e| WasmError::BadPrecompiled {
        code,
        message: format!("{e:#}"),
    })
}

impl std::fmt::Debug for WasmHost {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let prepared = self.prepared.lock().map(|p| p.len()).unwrap_or(0);
        f.debug_struct("WasmHost")
            .field("prepared", &prepared)
            .finish()
    }
}

impl Drop for WasmHost {
    fn drop(&mut self) {
        self.ticking
            .store(false, std::sync::atomic::Ordering::Relaxed);
    }
}

impl WasmHost {
    /// The host of this process: compiling apps and keeping them in the user's cache
    /// (`cache_dir`), or without the `compiler` feature (a device) loading what
    /// `compose build` compiled.
    pub fn new() -> Result<WasmHost, WasmError> {
        #[cfg(feature = "compiler")]
        return WasmHost::with_cache(cache_dir());
        #[cfg(not(feature = "compiler"))]
        return WasmHost::precompiled();
    }

    /// A host that compiles apps and keeps them in `cache` (`None`: compiles every app anew).
    #[cfg(feature = "compiler")]
    pub fn with_cache(cache: Option<PathBuf>) -> Result<WasmHost, WasmError> {
        WasmHost::with_code(Code::Compiled { cache })
    }

    /// A host that compiles nothing, as on a device: it runs an app only with the code
    /// `precompile` made for it beside it ([`precompiled_path`]).
    pub fn precompiled() -> Result<WasmHost, WasmError> {
        WasmHost::with_code(Code::Precompiled)
    }

    fn with_code(code: Code) -> Result<WasmHost, WasmError> {
        let config = engine_config(None)?;
        let engine = Engine::new(&config).map_err(|e| WasmError::Engine(e.to_string()))?;
        let mut linker = Linker::new(&engine);
        wasmtime_wasi::p2::add_to_linker_sync(&mut linker)
            .map_err(|e| WasmError::Engine(e.to_string()))?;
        WindowApp::add_to_linker::<App, Windows>(&mut linker, |app| &mut app.windows)
            .map_err(|e| WasmError::Engine(e.to_string()))?;
        record_refused_lookups(&mut linker).map_err(|e| WasmError::Engine(e.to_string()))?;
        let ticking = Arc::new(std::sync::atomic::AtomicBool::new(true));
        let (tick_engine, running) = (engine.weak(), ticking.clone());
        std::thread::Builder::new()
            .name("wasm-epoch".into())
            .spawn(move || {
                while running.load(std::sync::atomic::Ordering::Relaxed) {
                    std::thread::sleep(TICK);
                    match tick_engine.upgrade() {
                        Some(engine) => engine.increment_epoch(),
                        None => return,
                    }
                }
            })
            .map_err(|e| WasmError::Engine(e.to_string()))?;
        Ok(WasmHost {
            engine,
            linker,
            prepared: Mutex::new(HashMap::new()),
            ticking,
            code,
        })
    }

    /// Compiles `bytes`, or loads what an earlier process compiled from the same bytes
    /// with an engine of the same build and settings. A cache that cannot be read or
    /// written only costs the compile.
    #[cfg(feature = "compiler")]
    fn compile(&self, bytes: &[u8], cache: Option<&Path>) -> wasmtime::Result<Component> {
        use std::hash::{Hash, Hasher};
        let Some(dir) = cache else {
            return Component::new(&self.engine, bytes);
        };
        let mut engine = std::collections::hash_map::DefaultHasher::new();
        self.engine
            .precompile_compatibility_hash()
            .hash(&mut engine);
        let key = compose_oci::Digest::of(bytes);
        let key = key.hex();
        let file = dir.join(format!("{key}-{:016x}.cwasm", engine.finish()));
        if file.is_file() {
            // SAFETY: the file was written below by `Component::serialize` into this
            // process owner's cache, never by an app, and `deserialize_file` refuses code
            // made by an incompatible engine.
            #[allow(unsafe_code)]
            // loading compiled code is unsafe at the edge, as wasmtime's cache.
            let loaded = unsafe { Component::deserialize_file(&self.engine, &file) };
            if let Ok(component) = loaded {
                return Ok(component);
            }
        }
        let component = Component::new(&self.engine, bytes)?;
        if let Ok(code) = component.serialize() {
            let partial = dir.join(format!(".{key}.{}", std::process::id()));
            let kept = std::fs::create_dir_all(dir)
                .and_then(|()| std::fs::write(&partial, code))
                .and_then(|()| std::fs::rename(&partial, &file));
            if kept.is_err() {
                let _ = std::fs::remove_file(&partial);
            }
        }
        Ok(component)
    }

    /// Compiles and links the app at `path` once (again when the file changed).
    fn prepare(&self, path: &Path) -> Result<(CommandPre<App>, bool), WasmError> {
        let read = |e: std::io::Error| WasmError::Read {
            path: path.to_path_buf(),
            message: e.to_string(),
        };
        let modified = std::fs::metadata(path)
            .and_then(|m| m.modified())
            .map_err(read)?;
        let mut prepared = self.prepared.lock().unwrap_or_else(|e| e.into_inner());
        if let Some((at, pre)) = prepared.get(path)
            && *at == modified
        {
            return Ok((pre.clone(), true));
        }
        let not_a_command = |message: String| WasmError::NotACommand {
            path: path.to_path_buf(),
            message,
        };
        let component = match &self.code {
            #[cfg(feature = "compiler")]
            Code::Compiled { cache } => {
                let bytes = std::fs::read(path).map_err(read)?;
                self.compile(&bytes, cache.as_deref())
                    .map_err(|e| not_a_command(format!("{e:#}")))?
            }
            Code::Precompiled => load_precompiled(&self.engine, path)?,
        };
        let instance_pre = self
            .linker
            .instantiate_pre(&component)
            .map_err(|e| not_a_command(format!("{e:#}")))?;
        let pre = CommandPre::new(instance_pre).map_err(|e| not_a_command(format!("{e:#}")))?;
        prepared.insert(path.to_path_buf(), (modified, pre.clone()));
        Ok((pre, false))
    }

    /// Runs the command component at `path` with `args` (its argv[0] is the file name)
    /// and only what `grants` gives, on this thread, until it ends or is stopped.
    pub fn run(
        &self,
        path: &Path,
        args: &[String],
        grants: &Grants,
        stdio: Stdio,
    ) -> Result<Report, WasmError> {
        self.run_in_shell(path, args, grants, stdio, None)
    }

    /// `run`, with the app's windows (when `grants` has gui) shown by the shell listening
    /// at `display`: the app's own security-context socket (`wayland::open`).
    pub fn run_in_shell(
        &self,
        path: &Path,
        args: &[String],
        grants: &Grants,
        stdio: Stdio,
        display: Option<&Path>,
    ) -> Result<Report, WasmError> {
        let start = Instant::now();
        let memory = grants.memory().unwrap_or(DEFAULT_MEMORY);
        if memory > MAX_MEMORY {
            return Err(WasmError::TooMuchMemory(memory));
        }
        let cpu = grants.cpu().unwrap_or(DEFAULT_CPU);
        let (pre, warm) = self.prepare(path)?;

        let mut wasi = WasiCtxBuilder::new();
        let name = path
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_else(|| "app".into());
        wasi.arg(&name).args(args);
        for (k, v) in grants.env() {
            wasi.env(k, v);
        }
        for f in grants.files() {
            let (dir, file) = if f.write() {
                (DirPerms::all(), FilePerms::all())
            } else {
                (DirPerms::READ, FilePerms::READ)
            };
            wasi.preopened_dir(f.host(), f.guest(), dir, file)
                .map_err(|e| WasmError::Grant {
                    what: format!("{} as {}", f.host().display(), f.guest()),
                    message: e.to_string(),
                })?;
        }
        // Sockets: only granted addresses; every refusal is recorded for the report.
        let denied = Arc::new(Mutex::new(Vec::<String>::new()));
        let (allowed, refused) = (grants.network().to_vec(), denied.clone());
        wasi.allow_ip_name_lookup(grants.name_lookup())
            .socket_addr_check(move |addr: SocketAddr, use_: SocketAddrUse| {
                // A UDP socket binds a free local port on every address before it sends;
                // that reaches nothing, so any network grant allows it (where it sends is
                // checked per datagram).
                let udp_client_bind = matches!(use_, SocketAddrUse::UdpBind)
                    && addr.ip().is_unspecified()
                    && addr.port() == 0;
                let ok = allowed.iter().any(|g| g.allows(addr))
                    || (udp_client_bind && !allowed.is_empty());
                if !ok {
                    let what = match use_ {
                        SocketAddrUse::TcpBind | SocketAddrUse::UdpBind => "bind",
                        SocketAddrUse::TcpConnect | SocketAddrUse::UdpConnect => "connect",
                        SocketAddrUse::UdpOutgoingDatagram => "send to",
                    };
                    let help = if udp_client_bind {
                        "a UDP socket binds a free local port before it sends; grant where it sends to, with connect=IP:PORT".to_string()
                    } else {
                        format!("grant it with connect={addr}")
                    };
                    if let Ok(mut d) = refused.lock() {
                        d.push(format!("{what} {addr}: not granted ({help})"));
                    }
                }
                Box::pin(async move { ok })
            });
        let (stdout, stderr) = (
            MemoryOutputPipe::new(OUTPUT_LIMIT),
            MemoryOutputPipe::new(OUTPUT_LIMIT),
        );
        match stdio {
            Stdio::Inherit => {
                wasi.inherit_stdio();
            }
            Stdio::Capture => {
                wasi.stdout(stdout.clone()).stderr(stderr.clone());
            }
        }
        let app = App {
            wasi: wasi.build(),
            table: ResourceTable::new(),
            limits: StoreLimitsBuilder::new()
                .memory_size(memory as usize)
                .trap_on_grow_failure(true)
                .build(),
            name_lookup: grants.name_lookup(),
            denied: denied.clone(),
            windows: Windows::new(
                grants.gui(),
                display.map(Path::to_path_buf),
                path.file_stem()
                    .map(|n| n.to_string_lossy().into_owned())
                    .unwrap_or_else(|| "app".into()),
            ),
        };
        let mut store = Store::new(&self.engine, app);
        store.limiter(|app| &mut app.limits);
        // The budget is CPU time: an app waiting for input (in a host call) spends none.
        // Each tick, the epoch callback compares this thread's CPU time with the budget.
        let cpu_at_start = thread_cpu_time();
        store.set_epoch_deadline(1);
        store.epoch_deadline_callback(move |_| {
            if thread_cpu_time().saturating_sub(cpu_at_start) >= cpu {
                Err(wasmtime::Trap::Interrupt.into())
            } else {
                Ok(wasmtime::UpdateDeadline::Continue(1))
            }
        });

        let (outcome, started_in) = match pre.instantiate(&mut store) {
            Err(e) => (classify(e, memory, cpu), start.elapsed()),
            Ok(command) => {
                let started_in = start.elapsed();
                let outcome = match command.wasi_cli_run().call_run(&mut store) {
                    Ok(Ok(())) => Outcome::Exited(0),
                    Ok(Err(())) => Outcome::Exited(1),
                    Err(e) => classify(e, memory, cpu),
                };
                (outcome, started_in)
            }
        };
        let denied = denied
            .lock()
            .map(|mut d| std::mem::take(&mut *d))
            .unwrap_or_default();
        Ok(Report {
            outcome,
            denied,
            stdout: stdout.contents().to_vec(),
            stderr: stderr.contents().to_vec(),
            started_in,
            warm,
        })
    }
}

/// wasmtime-wasi refuses a name lookup that was not granted without telling anyone: its
/// `ip-name-lookup` interface is linked again through [`Lookups`], which records each
/// refusal in the report's `denied` and leaves the lookup itself to wasmtime-wasi.
fn record_refused_lookups(linker: &mut Linker<App>) -> wasmtime::Result<()> {
    use wasmtime_wasi::p2::bindings::sockets::ip_name_lookup;
    linker.allow_shadowing(true);
    ip_name_lookup::add_to_linker::<App, Lookups>(linker, |app| LookupView {
        wasi: WasiCtxView {
            ctx: &mut app.wasi,
            table: &mut app.table,
        },
        granted: app.name_lookup,
        denied: &app.denied,
    })?;
    linker.allow_shadowing(false);
    Ok(())
}

struct Lookups;

impl wasmtime::component::HasData for Lookups {
    type Data<'a> = LookupView<'a>;
}

/// wasmtime-wasi's view, and what is needed to report a refused lookup.
struct LookupView<'a> {
    wasi: WasiCtxView<'a>,
    granted: bool,
    denied: &'a Mutex<Vec<String>>,
}

mod lookup_view {
    use wasmtime::component::Resource;
    use wasmtime_wasi::p2::bindings::sockets::ip_name_lookup::{
        Host, HostResolveAddressStream, IpAddress, ResolveAddressStream,
    };
    use wasmtime_wasi::p2::bindings::sockets::network::{self, ErrorCode};
    use wasmtime_wasi::p2::{DynPollable, Network, SocketError};

    use super::LookupView;

    impl Host for LookupView<'_> {
        fn resolve_addresses(
            &mut self,
            network: Resource<Network>,
            name: String,
        ) -> Result<Resource<ResolveAddressStream>, SocketError> {
            if !self.granted
                && let Ok(mut denied) = self.denied.lock()
            {
                denied.push(format!(
                    "look up {name:?}: not granted (grant it with lookup)"
                ));
            }
            self.wasi.resolve_addresses(network, name)
        }
    }

    // The lookup interface converts its errors through the network interface's host.
    impl network::Host for LookupView<'_> {
        fn convert_error_code(&mut self, error: SocketError) -> wasmtime::Result<ErrorCode> {
            self.wasi.convert_error_code(error)
        }

        fn network_error_code(
            &mut self,
            error: Resource<wasmtime_wasi::p2::bindings::sockets::network::Error>,
        ) -> wasmtime::Result<Option<ErrorCode>> {
            self.wasi.network_error_code(error)
        }
    }

    impl network::HostNetwork for LookupView<'_> {
        fn drop(&mut self, this: Resource<Network>) -> wasmtime::Result<()> {
            network::HostNetwork::drop(&mut self.wasi, this)
        }
    }

    impl HostResolveAddressStream for LookupView<'_> {
        fn resolve_next_address(
            &mut self,
            stream: Resource<ResolveAddressStream>,
        ) -> Result<Option<IpAddress>, SocketError> {
            self.wasi.resolve_next_address(stream)
        }

        fn subscribe(
            &mut self,
            stream: Resource<ResolveAddressStream>,
        ) -> wasmtime::Result<Resource<DynPollable>> {
            HostResolveAddressStream::subscribe(&mut self.wasi, stream)
        }

        fn drop(&mut self, stream: Resource<ResolveAddressStream>) -> wasmtime::Result<()> {
            HostResolveAddressStream::drop(&mut self.wasi, stream)
        }
    }
}

/// The CPU time this thread has used.
fn thread_cpu_time() -> Duration {
    let t = rustix::time::clock_gettime(rustix::time::ClockId::ThreadCPUTime);
    Duration::new(t.tv_sec as u64, t.tv_nsec as u32)
}

/// What an error from running the app means.
fn classify(e: wasmtime::Error, memory: u64, cpu: Duration) -> Outcome {
    if let Some(exit) = e.downcast_ref::<I32Exit>() {
        return Outcome::Exited(exit.0);
    }
    if let Some(wasmtime::Trap::Interrupt) = e.downcast_ref::<wasmtime::Trap>() {
        return Outcome::OutOfTime(cpu);
    }
    let text = format!("{e:#}");
    if text.contains("forcing trap when growing memory") || text.contains("memory limit") {
        return Outcome::OutOfMemory(memory);
    }
    Outcome::Trapped(text)
}
