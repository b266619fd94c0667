//! A Wayland socket for one sandboxed app (wp_security_context_v1): compose connects to the
//! running shell as the sandbox engine and asks it to listen on a new socket whose clients
//! carry the app's id, see no privileged globals and get marked windows. The shell stops
//! listening when the `SandboxSocket` is dropped (the close fd hangs up).

use std::os::fd::AsFd;
use std::os::unix::net::{UnixListener, UnixStream};
use std::path::{Path, PathBuf};

use wayland_client::protocol::wl_registry::{self, WlRegistry};
use wayland_client::{Connection, Dispatch, QueueHandle, delegate_noop};
use wayland_protocols::wp::security_context::v1::client::{
    wp_security_context_manager_v1::WpSecurityContextManagerV1,
    wp_security_context_v1::WpSecurityContextV1,
};

/// The sandbox engine name compose gives its apps' security contexts.
pub const ENGINE: &str = "org.compose.sandbox";

/// Why the socket could not be made.
#[derive(Debug, thiserror::Error)]
pub enum WaylandError {
    #[error("cannot reach the shell at {path}: {message} (is a shell running there?)")]
    Connect { path: PathBuf, message: String },
    #[error("the shell at {0} offers no wp_security_context_manager_v1 (a compose shell does)")]
    NoSecurityContext(PathBuf),
    #[error("cannot make the app's socket {path}: {message}")]
    Socket { path: PathBuf, message: String },
}

/// The app's socket; it works while this lives.
#[derive(Debug)]
pub struct SandboxSocket {
    pub path: PathBuf,
    _connection: Connection,
    _context: WpSecurityContextV1,
    _close: UnixStream,
}

impl Drop for SandboxSocket {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.path);
    }
}

#[derive(Default)]
struct Globals {
    manager: Option<WpSecurityContextManagerV1>,
}

impl Dispatch<WlRegistry, ()> for Globals {
    fn event(
        state: &mut Self,
        registry: &WlRegistry,
        event: wl_registry::Event,
        _: &(),
        _: &Connection,
        qh: &QueueHandle<Self>,
    ) {
        if let wl_registry::Event::Global {
            name, interface, ..
        } = event
            && interface == "wp_security_context_manager_v1"
        {
            state.manager = Some(registry.bind(name, 1, qh, ()));
        }
    }
}

delegate_noop!(Globals: ignore WpSecurityContextManagerV1);
delegate_noop!(Globals: ignore WpSecurityContextV1);

/// Asks the shell listening at `shell` (a socket path) for a socket at `path` whose
/// clients run app `app_id` in compose's sandbox.
pub fn open(shell: &Path, path: &Path, app_id: &str) -> Result<SandboxSocket, WaylandError> {
    let connect = |message: String| WaylandError::Connect {
        path: shell.to_path_buf(),
        message,
    };
    let stream = UnixStream::connect(shell).map_err(|e| connect(e.to_string()))?;
    let connection = Connection::from_socket(stream).map_err(|e| connect(e.to_string()))?;
    let mut queue = connection.new_event_queue();
    let qh = queue.handle();
    connection.display().get_registry(&qh, ());
    let mut globals = Globals::default();
    queue
        .roundtrip(&mut globals)
        .map_err(|e| connect(e.to_string()))?;
    let manager = globals
        .manager
        .clone()
        .ok_or_else(|| WaylandError::NoSecurityContext(shell.to_path_buf()))?;
    let socket = |e: std::io::Error| WaylandError::Socket {
        path: path.to_path_buf(),
        message: e.to_string(),
    };
    let _ = std::fs::remove_file(path);
    let listener = UnixListener::bind(path).map_err(socket)?;
    // The app runs as another user (the container's): it must be able to connect.
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o777)).map_err(socket)?;
    }
    let (ours, theirs) = UnixStream::pair().map_err(socket)?;
    let context = manager.create_listener(listener.as_fd(), theirs.as_fd(), &qh, ());
    context.set_sandbox_engine(ENGINE.to_string());
    context.set_app_id(app_id.to_string());
    context.set_instance_id(std::process::id().to_string());
    context.commit();
    queue
        .roundtrip(&mut globals)
        .map_err(|e| connect(e.to_string()))?;
    Ok(SandboxSocket {
        path: path.to_path_buf(),
        _connection: connection,
        _context: context,
        _close: ours,
    })
}
