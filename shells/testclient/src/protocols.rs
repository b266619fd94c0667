//! The optional protocols the client can exercise: xdg-decoration, viewporter,
//! presentation-time, wlr-layer-shell, idle-inhibit, security-context (a socket for
//! sandboxed clients) and the clipboard (wl_data_device).

use std::fs::File;
use std::io::Write;
use std::os::fd::AsFd;
use std::time::Duration;

use wayland_client::protocol::{
    wl_data_device::{self, WlDataDevice},
    wl_data_device_manager::WlDataDeviceManager,
    wl_data_offer::WlDataOffer,
    wl_data_source::{self, WlDataSource},
    wl_registry::WlRegistry,
};
use wayland_client::{Connection, Dispatch, QueueHandle, WEnum};
use wayland_protocols::wp::idle_inhibit::zv1::client::{
    zwp_idle_inhibit_manager_v1::ZwpIdleInhibitManagerV1, zwp_idle_inhibitor_v1::ZwpIdleInhibitorV1,
};
use wayland_protocols::wp::presentation_time::client::{
    wp_presentation::WpPresentation,
    wp_presentation_feedback::{self, WpPresentationFeedback},
};
use wayland_protocols::wp::security_context::v1::client::{
    wp_security_context_manager_v1::WpSecurityContextManagerV1,
    wp_security_context_v1::WpSecurityContextV1,
};
use wayland_protocols::wp::viewporter::client::{
    wp_viewport::WpViewport, wp_viewporter::WpViewporter,
};
use wayland_protocols::xdg::decoration::zv1::client::{
    zxdg_decoration_manager_v1::ZxdgDecorationManagerV1,
    zxdg_toplevel_decoration_v1::{self, ZxdgToplevelDecorationV1},
};
use wayland_protocols_wlr::layer_shell::v1::client::{
    zwlr_layer_shell_v1::{self, ZwlrLayerShellV1},
    zwlr_layer_surface_v1::{self, ZwlrLayerSurfaceV1},
};

use crate::{Client, ClientError, State, Window, WindowIndex, draw};

pub use zxdg_toplevel_decoration_v1::Mode as DecorationMode;
pub(crate) type ToplevelDecoration = ZxdgToplevelDecorationV1;

/// The text type the clipboard uses.
pub const TEXT: &str = "text/plain;charset=utf-8";

/// What presentation feedback reported.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Presentation {
    Presented { refresh_ns: u32, sequence: u64 },
    Discarded,
}

#[derive(Debug, Default)]
pub(crate) struct Globals {
    decoration: Option<ZxdgDecorationManagerV1>,
    viewporter: Option<WpViewporter>,
    presentation: Option<WpPresentation>,
    layer_shell: Option<ZwlrLayerShellV1>,
    data_devices: Option<WlDataDeviceManager>,
    idle_inhibit: Option<ZwpIdleInhibitManagerV1>,
    security_context: Option<WpSecurityContextManagerV1>,
    pub(crate) linux_dmabuf: Option<
        wayland_protocols::wp::linux_dmabuf::zv1::client::zwp_linux_dmabuf_v1::ZwpLinuxDmabufV1,
    >,
    /// Set by `Client::use_dmabuf`: windows draw into dma-bufs.
    pub(crate) dumb: Option<crate::dmabuf::DumbBuffers>,
}

/// A socket whose clients the compositor treats as sandboxed (wp_security_context_v1),
/// the way a sandbox engine hands its apps a Wayland socket; the compositor stops
/// listening on it when this is dropped.
#[derive(Debug)]
pub struct SandboxSocket {
    pub path: std::path::PathBuf,
    _context: WpSecurityContextV1,
    /// Our end of the close socket pair: dropping it hangs up the compositor's end.
    _close: std::os::unix::net::UnixStream,
}

/// Keeps the screen on while it lives (idle-inhibit); dropping it lets the screen blank.
#[derive(Debug)]
pub struct IdleInhibitor(ZwpIdleInhibitorV1);

impl Drop for IdleInhibitor {
    fn drop(&mut self) {
        self.0.destroy();
    }
}

impl Globals {
    /// A decoration object for `toplevel` asking for server-side decorations, if the
    /// compositor offers xdg-decoration.
    pub(crate) fn server_side(
        &self,
        toplevel: &wayland_protocols::xdg::shell::client::xdg_toplevel::XdgToplevel,
        qh: &QueueHandle<State>,
        at: WindowIndex,
    ) -> Option<ZxdgToplevelDecorationV1> {
        let decoration = self
            .decoration
            .as_ref()?
            .get_toplevel_decoration(toplevel, qh, at);
        decoration.set_mode(DecorationMode::ServerSide);
        Some(decoration)
    }

    pub(crate) fn bind(
        &mut self,
        registry: &WlRegistry,
        interface: &str,
        name: u32,
        version: u32,
        qh: &QueueHandle<State>,
    ) {
        match interface {
            "zxdg_decoration_manager_v1" => self.decoration = Some(registry.bind(name, 1, qh, ())),
            "wp_viewporter" => self.viewporter = Some(registry.bind(name, 1, qh, ())),
            "wp_presentation" => self.presentation = Some(registry.bind(name, 1, qh, ())),
            "zwlr_layer_shell_v1" => {
                self.layer_shell = Some(registry.bind(name, version.min(4), qh, ()))
            }
            "wp_security_context_manager_v1" => {
                self.security_context = Some(registry.bind(name, 1, qh, ()))
            }
            "zwp_idle_inhibit_manager_v1" => {
                self.idle_inhibit = Some(registry.bind(name, 1, qh, ()))
            }
            "zwp_linux_dmabuf_v1" => {
                self.linux_dmabuf = Some(registry.bind(name, version.min(3), qh, ()))
            }
            "wl_data_device_manager" => {
                self.data_devices = Some(registry.bind(name, version.min(3), qh, ()))
            }
            _ => {}
        }
    }
}

/// The clipboard as this client sees it.
#[derive(Debug, Default)]
pub(crate) struct Clipboard {
    device: Option<WlDataDevice>,
    /// Text this client offers through its data source.
    offering: Option<String>,
    /// The selection the compositor offered this client.
    offer: Option<WlDataOffer>,
}

const WAIT: Duration = Duration::from_secs(10);

impl Client {
    fn surface_of(&self, at: WindowIndex) -> wayland_client::protocol::wl_surface::WlSurface {
        self.state.windows[at].surface.clone().expect("open window")
    }

    /// Asks for `mode` on window `at` (xdg-decoration; every toplevel asked for server
    /// side when it opened) and returns the mode the compositor decided.
    pub fn decorate(
        &mut self,
        at: WindowIndex,
        mode: DecorationMode,
    ) -> Result<DecorationMode, ClientError> {
        let decoration = self.state.windows[at]
            .decoration_object
            .clone()
            .ok_or(ClientError::Missing("zxdg_decoration_manager_v1"))?;
        self.state.windows[at].decoration = None;
        decoration.set_mode(mode);
        self.wait_until("a decoration mode", WAIT, |s| {
            s.windows[at].decoration.is_some()
        })?;
        Ok(self.state.windows[at].decoration.expect("waited for it"))
    }

    /// Makes a socket at `path` for sandboxed clients of sandbox engine `engine` running
    /// app `app_id` (wp_security_context_v1).
    pub fn sandbox_socket(
        &mut self,
        path: &std::path::Path,
        engine: &str,
        app_id: &str,
    ) -> Result<SandboxSocket, ClientError> {
        let manager = self
            .state
            .globals
            .extras
            .security_context
            .clone()
            .ok_or(ClientError::Missing("wp_security_context_manager_v1"))?;
        let listener = std::os::unix::net::UnixListener::bind(path).map_err(ClientError::Io)?;
        let (ours, theirs) = std::os::unix::net::UnixStream::pair().map_err(ClientError::Io)?;
        let context = manager.create_listener(listener.as_fd(), theirs.as_fd(), &self.handle, ());
        context.set_sandbox_engine(engine.to_string());
        context.set_app_id(app_id.to_string());
        context.commit();
        self.roundtrip()?;
        Ok(SandboxSocket {
            path: path.to_path_buf(),
            _context: context,
            _close: ours,
        })
    }

    /// Keeps the screen on while window `at` is shown and the inhibitor lives.
    pub fn inhibit_idle(&mut self, at: WindowIndex) -> Result<IdleInhibitor, ClientError> {
        let manager = self
            .state
            .globals
            .extras
            .idle_inhibit
            .clone()
            .ok_or(ClientError::Missing("zwp_idle_inhibit_manager_v1"))?;
        let inhibitor = manager.create_inhibitor(&self.surface_of(at), &self.handle, ());
        self.roundtrip()?;
        Ok(IdleInhibitor(inhibitor))
    }

    /// Shows window `at`'s buffer scaled to `size` (viewporter destination).
    pub fn set_viewport(&mut self, at: WindowIndex, size: (i32, i32)) -> Result<(), ClientError> {
        let viewporter = self
            .state
            .globals
            .extras
            .viewporter
            .clone()
            .ok_or(ClientError::Missing("wp_viewporter"))?;
        let viewport: WpViewport = viewporter.get_viewport(&self.surface_of(at), &self.handle, ());
        viewport.set_destination(size.0, size.1);
        self.redraw(at)?;
        self.roundtrip()
    }

    /// Commits window `at` again with presentation feedback and waits for the verdict.
    pub fn present(&mut self, at: WindowIndex) -> Result<Presentation, ClientError> {
        let presentation = self
            .state
            .globals
            .extras
            .presentation
            .clone()
            .ok_or(ClientError::Missing("wp_presentation"))?;
        self.state.windows[at].presentation = None;
        let _feedback = presentation.feedback(&self.surface_of(at), &self.handle, at);
        self.redraw(at)?;
        self.wait_until("presentation feedback", WAIT, |s| {
            s.windows[at].presentation.is_some()
        })?;
        Ok(self.state.windows[at].presentation.expect("waited for it"))
    }

    /// A panel on the top layer along the top edge, `height` tall, reserving its height
    /// (exclusive zone); returns once it was configured and drawn.
    pub fn panel(&mut self, height: u32, color: [u8; 4]) -> Result<WindowIndex, ClientError> {
        let shell = self
            .state
            .globals
            .extras
            .layer_shell
            .clone()
            .ok_or(ClientError::Missing("zwlr_layer_shell_v1"))?;
        let index = self.state.windows.len();
        let surface = self
            .state
            .globals
            .compositor
            .as_ref()
            .expect("checked in connect")
            .create_surface(&self.handle, index);
        let layer = shell.get_layer_surface(
            &surface,
            None,
            zwlr_layer_shell_v1::Layer::Top,
            "panel".into(),
            &self.handle,
            index,
        );
        layer.set_anchor(
            zwlr_layer_surface_v1::Anchor::Top
                | zwlr_layer_surface_v1::Anchor::Left
                | zwlr_layer_surface_v1::Anchor::Right,
        );
        layer.set_size(0, height);
        layer.set_exclusive_zone(height as i32);
        surface.commit();
        self.state.windows.push(Window {
            color,
            surface: Some(surface),
            ..Window::default()
        });
        self.wait_until("the panel's configure", WAIT, |s| {
            s.windows[index].drawn.is_some()
        })?;
        self.roundtrip()?;
        Ok(index)
    }

    /// Sets the clipboard to `text` (needs the keyboard focus's serial).
    pub fn copy(&mut self, text: &str) -> Result<(), ClientError> {
        let manager = self
            .state
            .globals
            .extras
            .data_devices
            .clone()
            .ok_or(ClientError::Missing("wl_data_device_manager"))?;
        let device = self
            .state
            .clipboard
            .device
            .clone()
            .ok_or(ClientError::Missing("wl_data_device"))?;
        let source: WlDataSource = manager.create_data_source(&self.handle, ());
        source.offer(TEXT.into());
        device.set_selection(Some(&source), self.state.last_serial);
        self.state.clipboard.offering = Some(text.to_string());
        self.roundtrip()
    }

    /// Asks for the offered selection as text; the returned pipe yields it once the
    /// owning client wrote it (dispatch that client, then read to the end).
    pub fn paste(&mut self) -> Result<File, ClientError> {
        let offer = self
            .state
            .clipboard
            .offer
            .clone()
            .ok_or(ClientError::Missing("a clipboard selection"))?;
        let (read, write) = rustix::pipe::pipe().map_err(std::io::Error::from)?;
        offer.receive(TEXT.into(), write.as_fd());
        self.roundtrip()?;
        drop(write);
        Ok(File::from(read))
    }
}

impl State {
    /// Whether the compositor offered this client a clipboard selection.
    pub fn has_selection(&self) -> bool {
        self.clipboard.offer.is_some()
    }
}

/// Gets the seat's data device once the seat is known (called after connecting).
pub(crate) fn start(client: &mut Client) {
    let g = &client.state.globals;
    if let (Some(manager), Some(seat)) = (&g.extras.data_devices, &g.seat) {
        client.state.clipboard.device = Some(manager.get_data_device(seat, &client.handle, ()));
    }
}

impl Dispatch<ZxdgToplevelDecorationV1, usize> for State {
    fn event(
        state: &mut Self,
        _: &ZxdgToplevelDecorationV1,
        event: zxdg_toplevel_decoration_v1::Event,
        at: &usize,
        _: &Connection,
        _: &QueueHandle<Self>,
    ) {
        if let zxdg_toplevel_decoration_v1::Event::Configure {
            mode: WEnum::Value(mode),
        } = event
        {
            if let Some(w) = state.windows.get_mut(*at) {
                w.decoration = Some(mode);
            }
        }
    }
}

impl Dispatch<WpPresentationFeedback, usize> for State {
    fn event(
        state: &mut Self,
        _: &WpPresentationFeedback,
        event: wp_presentation_feedback::Event,
        at: &usize,
        _: &Connection,
        _: &QueueHandle<Self>,
    ) {
        let verdict = match event {
            wp_presentation_feedback::Event::Presented {
                refresh,
                seq_hi,
                seq_lo,
                ..
            } => Presentation::Presented {
                refresh_ns: refresh,
                sequence: ((seq_hi as u64) << 32) | seq_lo as u64,
            },
            wp_presentation_feedback::Event::Discarded => Presentation::Discarded,
            _ => return,
        };
        if let Some(w) = state.windows.get_mut(*at) {
            w.presentation = Some(verdict);
        }
    }
}

impl Dispatch<ZwlrLayerSurfaceV1, usize> for State {
    fn event(
        state: &mut Self,
        layer: &ZwlrLayerSurfaceV1,
        event: zwlr_layer_surface_v1::Event,
        at: &usize,
        _: &Connection,
        qh: &QueueHandle<Self>,
    ) {
        match event {
            zwlr_layer_surface_v1::Event::Configure {
                serial,
                width,
                height,
            } => {
                layer.ack_configure(serial);
                let Some(w) = state.windows.get(*at) else {
                    return;
                };
                let (Some(surface), color) = (w.surface.clone(), w.color) else {
                    return;
                };
                let size = (width.max(1) as i32, height.max(1) as i32);
                if draw(&state.globals, qh, &surface, size.0, size.1, color).is_ok() {
                    state.windows[*at].drawn = Some(size);
                }
            }
            zwlr_layer_surface_v1::Event::Closed => {
                if let Some(w) = state.windows.get_mut(*at) {
                    w.closed = true;
                }
            }
            _ => {}
        }
    }
}

impl Dispatch<WlDataSource, ()> for State {
    fn event(
        state: &mut Self,
        source: &WlDataSource,
        event: wl_data_source::Event,
        _: &(),
        _: &Connection,
        _: &QueueHandle<Self>,
    ) {
        match event {
            wl_data_source::Event::Send { fd, .. } => {
                if let Some(text) = &state.clipboard.offering {
                    let _ = File::from(fd).write_all(text.as_bytes());
                }
            }
            wl_data_source::Event::Cancelled => {
                state.clipboard.offering = None;
                source.destroy();
            }
            _ => {}
        }
    }
}

impl Dispatch<WlDataDevice, ()> for State {
    fn event(
        state: &mut Self,
        _: &WlDataDevice,
        event: wl_data_device::Event,
        _: &(),
        _: &Connection,
        _: &QueueHandle<Self>,
    ) {
        if let wl_data_device::Event::Selection { id } = event {
            state.clipboard.offer = id;
        }
    }

    wayland_client::event_created_child!(State, WlDataDevice, [
        wl_data_device::EVT_DATA_OFFER_OPCODE => (WlDataOffer, ()),
    ]);
}

wayland_client::delegate_noop!(State: ignore ZxdgDecorationManagerV1);
wayland_client::delegate_noop!(State: ignore WpViewporter);
wayland_client::delegate_noop!(State: ignore ZwpIdleInhibitManagerV1);
wayland_client::delegate_noop!(State: ignore WpSecurityContextManagerV1);
wayland_client::delegate_noop!(State: ignore WpSecurityContextV1);
wayland_client::delegate_noop!(State: ignore ZwpIdleInhibitorV1);
wayland_client::delegate_noop!(State: ignore WpViewport);
wayland_client::delegate_noop!(State: ignore WpPresentation);
wayland_client::delegate_noop!(State: ignore ZwlrLayerShellV1);
wayland_client::delegate_noop!(State: ignore WlDataDeviceManager);
wayland_client::delegate_noop!(State: ignore WlDataOffer);
