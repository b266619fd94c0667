//! Known-broken clients, and what the compositor does for them, as KWin's and mutter's
//! per-app workarounds do. Each entry names the program, the defect and the workaround;
//! quirks are found once, from the peer credentials of the client's socket.
//!
//! - `weston-presentation-shm` (weston 10, Debian bookworm) binds `xdg_wm_base` at whatever
//!   version the compositor offers, but has no listener for `xdg_toplevel.configure_bounds`
//!   (version 4) or `wm_capabilities` (version 5): libwayland aborts it at its first
//!   configure. weston 10 offers version 3, so it runs there; under mutter, which offers 6,
//!   it aborts as it did here. Such a client sees an `xdg_wm_base` global of version 3 in
//!   place of the version 6 one, exactly what weston shows it.

use std::os::unix::net::UnixStream;

use smithay::reexports::wayland_protocols::xdg::shell::server::xdg_wm_base::XdgWmBase;
use smithay::reexports::wayland_server::{Client, DataInit, DisplayHandle, GlobalDispatch, New};
use smithay::wayland::shell::xdg::XdgShellState;

use super::{ClientState, State};

/// Programs that bind `xdg_wm_base` at the offered version but only handle version 3.
const XDG_WM_BASE_3: &[&str] = &["weston-presentation-shm"];

/// The version of the `xdg_wm_base` global those clients see.
const OLD_XDG_WM_BASE: u32 = 3;

/// What the compositor does differently for one client.
#[derive(Debug, Default, Clone, Copy)]
pub struct Quirks {
    /// It sees `xdg_wm_base` version 3 only.
    pub xdg_wm_base_3: bool,
}

impl Quirks {
    /// The quirks of the program at the other end of `stream`, named by its executable.
    pub fn of_peer(stream: &UnixStream) -> Quirks {
        let program = rustix::net::sockopt::socket_peercred(stream)
            .ok()
            .and_then(|cred| {
                std::fs::read_link(format!("/proc/{}/exe", cred.pid.as_raw_nonzero())).ok()
            })
            .and_then(|exe| Some(exe.file_name()?.to_string_lossy().into_owned()));
        let Some(program) = program else {
            return Quirks::default();
        };
        Quirks {
            xdg_wm_base_3: XDG_WM_BASE_3.contains(&program.as_str()),
        }
    }

    fn of(client: &Client) -> Quirks {
        client
            .get_data::<ClientState>()
            .map(|c| c.quirks)
            .unwrap_or_default()
    }
}

/// The global data of the version 3 `xdg_wm_base`.
pub struct OldXdgWmBase;

/// Adds the version 3 `xdg_wm_base` global, seen only by clients with that quirk.
pub fn add_globals(display: &DisplayHandle) {
    display.create_global::<State, XdgWmBase, OldXdgWmBase>(OLD_XDG_WM_BASE, OldXdgWmBase);
}

/// Both globals bind as smithay's own does.
fn bind(
    state: &mut State,
    handle: &DisplayHandle,
    client: &Client,
    resource: New<XdgWmBase>,
    data_init: &mut DataInit<'_, State>,
) {
    <XdgShellState as GlobalDispatch<XdgWmBase, (), State>>::bind(
        state,
        handle,
        client,
        resource,
        &(),
        data_init,
    )
}

// The version 6 global (smithay's), hidden from clients that need version 3.
impl GlobalDispatch<XdgWmBase, ()> for State {
    fn bind(
        state: &mut State,
        handle: &DisplayHandle,
        client: &Client,
        resource: New<XdgWmBase>,
        _: &(),
        data_init: &mut DataInit<'_, State>,
    ) {
        bind(state, handle, client, resource, data_init)
    }

    fn can_view(client: Client, _: &()) -> bool {
        !Quirks::of(&client).xdg_wm_base_3
    }
}

impl GlobalDispatch<XdgWmBase, OldXdgWmBase> for State {
    fn bind(
        state: &mut State,
        handle: &DisplayHandle,
        client: &Client,
        resource: New<XdgWmBase>,
        _: &OldXdgWmBase,
        data_init: &mut DataInit<'_, State>,
    ) {
        bind(state, handle, client, resource, data_init)
    }

    fn can_view(client: Client, _: &OldXdgWmBase) -> bool {
        Quirks::of(&client).xdg_wm_base_3
    }
}
