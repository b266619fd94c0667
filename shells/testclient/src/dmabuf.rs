//! linux-dmabuf from the client's side: windows whose buffers are DRM dumb buffers (any
//! KMS driver has them) exported as dma-bufs, and buffer parameters sent on purpose to
//! see what the compositor makes of them.

use std::cell::RefCell;
use std::collections::VecDeque;
use std::fs::File;
use std::os::fd::{AsFd, BorrowedFd, OwnedFd};
use std::path::Path;
use std::time::Duration;

use drm::buffer::{Buffer, DrmFourcc};
use drm::control::Device as _;
use drm::control::dumbbuffer::DumbBuffer;
use wayland_client::protocol::wl_surface::WlSurface;
use wayland_client::{Connection, Dispatch, QueueHandle};
use wayland_protocols::wp::linux_dmabuf::zv1::client::{
    zwp_linux_buffer_params_v1::{self, ZwpLinuxBufferParamsV1},
    zwp_linux_dmabuf_v1::ZwpLinuxDmabufV1,
};

use crate::{Client, ClientError, State};

/// DRM_FORMAT_ARGB8888 ('AR24'), the one format every compositor with linux-dmabuf takes.
pub const ARGB8888: u32 = u32::from_le_bytes(*b"AR24");
/// DRM_FORMAT_MOD_LINEAR.
const LINEAR: u64 = 0;
/// How many dumb buffers stay allocated (the compositor copies and releases at once).
const KEPT: usize = 4;

/// A DRM node (card or render node) that makes dumb buffers.
#[derive(Debug)]
struct Card(File);

impl AsFd for Card {
    fn as_fd(&self) -> BorrowedFd<'_> {
        self.0.as_fd()
    }
}

impl drm::Device for Card {}
impl drm::control::Device for Card {}

/// Where the window's dma-bufs come from.
#[derive(Debug)]
pub(crate) struct DumbBuffers {
    card: Card,
    live: RefCell<VecDeque<DumbBuffer>>,
}

impl Client {
    /// From now on, windows draw into dumb buffers of the DRM `node` (such as
    /// /dev/dri/card0) shared through linux-dmabuf instead of wl_shm.
    pub fn use_dmabuf(&mut self, node: &Path) -> Result<(), ClientError> {
        if self.state.globals.extras.linux_dmabuf.is_none() {
            return Err(ClientError::Missing("zwp_linux_dmabuf_v1"));
        }
        let file = std::fs::OpenOptions::new()
            .read(true)
            .write(true)
            .open(node)
            .map_err(|e| ClientError::Connect(format!("cannot open {}: {e}", node.display())))?;
        self.state.globals.extras.dumb = Some(DumbBuffers {
            card: Card(file),
            live: RefCell::new(VecDeque::new()),
        });
        Ok(())
    }

    /// Offers `fd` as a one-plane dma-buf (linear layout) and waits for the compositor's
    /// answer: `Ok(true)` it made a buffer of it, `Ok(false)` it refused it (`failed`).
    pub fn offer_dmabuf(
        &mut self,
        fd: BorrowedFd<'_>,
        size: (i32, i32),
        stride: u32,
        format: u32,
    ) -> Result<bool, ClientError> {
        let linux = self
            .state
            .globals
            .extras
            .linux_dmabuf
            .clone()
            .ok_or(ClientError::Missing("zwp_linux_dmabuf_v1"))?;
        self.state.dmabuf_answer = None;
        let params = linux.create_params(&self.handle, ());
        params.add(fd, 0, 0, stride, (LINEAR >> 32) as u32, LINEAR as u32);
        params.create(
            size.0,
            size.1,
            format,
            zwp_linux_buffer_params_v1::Flags::empty(),
        );
        self.wait_until("the answer to a dma-buf", Duration::from_secs(10), |s| {
            s.dmabuf_answer.is_some()
        })?;
        Ok(self.state.dmabuf_answer == Some(true))
    }
}

/// Fills a fresh dumb buffer with `pixel` (B G R A), shares it and commits it.
pub(crate) fn draw(
    dumb: &DumbBuffers,
    linux: &ZwpLinuxDmabufV1,
    handle: &QueueHandle<State>,
    surface: &WlSurface,
    size: (i32, i32),
    pixel: [u8; 4],
) -> Result<(), ClientError> {
    let (width, height) = (size.0.max(1) as u32, size.1.max(1) as u32);
    let mut buffer = dumb
        .card
        .create_dumb_buffer((width, height), DrmFourcc::Argb8888, 32)?;
    let stride = buffer.pitch();
    {
        let mut map = dumb.card.map_dumb_buffer(&mut buffer)?;
        // The mapping may be longer than the rows (rounded up to whole pages).
        for row in map
            .as_mut()
            .chunks_mut(stride as usize)
            .take(height as usize)
        {
            for p in row[..(width * 4) as usize].chunks_mut(4) {
                p.copy_from_slice(&pixel);
            }
        }
    }
    const DRM_CLOEXEC_RDWR: u32 = 0o2_000_000 | 0o2;
    let fd: OwnedFd = dumb
        .card
        .buffer_to_prime_fd(buffer.handle(), DRM_CLOEXEC_RDWR)?;
    let params = linux.create_params(handle, ());
    params.add(
        fd.as_fd(),
        0,
        0,
        stride,
        (LINEAR >> 32) as u32,
        LINEAR as u32,
    );
    let wl_buffer = params.create_immed(
        width as i32,
        height as i32,
        ARGB8888,
        zwp_linux_buffer_params_v1::Flags::empty(),
        handle,
        (),
    );
    params.destroy();
    surface.attach(Some(&wl_buffer), 0, 0);
    surface.damage_buffer(0, 0, width as i32, height as i32);
    surface.commit();
    let mut live = dumb.live.borrow_mut();
    live.push_back(buffer);
    while live.len() > KEPT {
        if let Some(old) = live.pop_front() {
            let _ = dumb.card.destroy_dumb_buffer(old);
        }
    }
    Ok(())
}

impl Dispatch<ZwpLinuxBufferParamsV1, ()> for State {
    fn event(
        state: &mut Self,
        params: &ZwpLinuxBufferParamsV1,
        event: zwp_linux_buffer_params_v1::Event,
        _: &(),
        _: &Connection,
        _: &QueueHandle<Self>,
    ) {
        match event {
            zwp_linux_buffer_params_v1::Event::Created { buffer } => {
                buffer.destroy();
                state.dmabuf_answer = Some(true);
            }
            zwp_linux_buffer_params_v1::Event::Failed => state.dmabuf_answer = Some(false),
            _ => {}
        }
        params.destroy();
    }

    wayland_client::event_created_child!(State, ZwpLinuxBufferParamsV1, [
        zwp_linux_buffer_params_v1::EVT_CREATED_OPCODE => (wayland_client::protocol::wl_buffer::WlBuffer, ()),
    ]);
}

wayland_client::delegate_noop!(State: ignore ZwpLinuxDmabufV1);
