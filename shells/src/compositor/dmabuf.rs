//! linux-dmabuf (zwp_linux_dmabuf_v1, version 3): clients hand over buffers as dma-bufs
//! (GPU memory, DRM dumb buffers, V4L2 frames) instead of shared memory. The renderer
//! uploads pixels from memory the CPU can read, so the global offers what the CPU can
//! read without knowing a GPU's tiling: the linear layout of ARGB8888 and XRGB8888, the
//! formats our shm path takes. Weston's pixman renderer imports dma-bufs the same way.
//!
//! A buffer is accepted once its plane maps and the dma-buf accepts a CPU-access sync
//! (so a file that is not a dma-buf is refused); each commit maps it, reads it between
//! the sync's start and end, and uploads it like an shm buffer.

use smithay::backend::allocator::dmabuf::{Dmabuf, DmabufMappingMode, DmabufSyncFlags};
use smithay::backend::allocator::{Buffer, Format, Fourcc, Modifier};
use smithay::delegate_dmabuf;
use smithay::reexports::wayland_server::DisplayHandle;
use smithay::wayland::dmabuf::{DmabufGlobal, DmabufHandler, DmabufState, ImportNotifier};

use super::State;
use crate::render::Pixels;

/// The formats the renderer takes from memory, in the linear layout only.
const FORMATS: [Fourcc; 2] = [Fourcc::Argb8888, Fourcc::Xrgb8888];

/// The linux-dmabuf global.
pub(super) struct Dmabufs {
    state: DmabufState,
    _global: DmabufGlobal,
}

impl Dmabufs {
    pub fn new(dh: &DisplayHandle) -> Self {
        let mut state = DmabufState::new();
        let formats = FORMATS.map(|code| Format {
            code,
            modifier: Modifier::Linear,
        });
        let global = state.create_global::<State>(dh, formats);
        Dmabufs {
            state,
            _global: global,
        }
    }
}

/// Why a dma-buf cannot be shown.
fn unusable(dmabuf: &Dmabuf) -> Option<String> {
    let format = dmabuf.format();
    if !FORMATS.contains(&format.code) || format.modifier != Modifier::Linear {
        return Some(format!(
            "format {:?} with modifier {:?} is not offered",
            format.code, format.modifier
        ));
    }
    if dmabuf.num_planes() != 1 {
        return Some(format!("{} planes, not 1", dmabuf.num_planes()));
    }
    let mapping = dmabuf.map_plane(0, DmabufMappingMode::READ);
    if let Err(e) = mapping {
        return Some(format!("its plane does not map: {e:?}"));
    }
    let sync = dmabuf
        .sync_plane(0, DmabufSyncFlags::START | DmabufSyncFlags::READ)
        .and_then(|()| dmabuf.sync_plane(0, DmabufSyncFlags::END | DmabufSyncFlags::READ));
    if let Err(e) = sync {
        return Some(format!("not a dma-buf (CPU access sync failed: {e:?})"));
    }
    let stride = dmabuf.strides().next().unwrap_or(0) as usize;
    let needed = stride * dmabuf.height().saturating_sub(1) as usize + dmabuf.width() as usize * 4;
    let length = mapping.map(|m| m.length()).unwrap_or(0);
    if stride < dmabuf.width() as usize * 4 || needed > length {
        return Some(format!(
            "stride {stride} and size {}x{} do not fit its {length} bytes",
            dmabuf.width(),
            dmabuf.height()
        ));
    }
    None
}

/// Calls `upload` with the dma-buf's pixels, read under a CPU-access sync.
pub(super) fn with_pixels<T>(
    dmabuf: &Dmabuf,
    upload: impl FnOnce(Pixels<'_>) -> T,
) -> Result<T, String> {
    let mapping = dmabuf
        .map_plane(0, DmabufMappingMode::READ)
        .map_err(|e| format!("cannot map the dma-buf: {e:?}"))?;
    dmabuf
        .sync_plane(0, DmabufSyncFlags::START | DmabufSyncFlags::READ)
        .map_err(|e| format!("cannot sync the dma-buf: {e:?}"))?;
    // SAFETY: the mapping lives until the end of this function and the slice does not
    // escape `upload`; a client writing meanwhile can only tear its own pixels.
    let data = unsafe { std::slice::from_raw_parts(mapping.ptr() as *const u8, mapping.length()) };
    let shown = upload(Pixels {
        data,
        // The mapping starts at the plane's offset.
        offset: 0,
        width: dmabuf.width(),
        height: dmabuf.height(),
        stride: dmabuf.strides().next().unwrap_or(0),
        opaque: dmabuf.format().code == Fourcc::Xrgb8888,
    });
    let _ = dmabuf.sync_plane(0, DmabufSyncFlags::END | DmabufSyncFlags::READ);
    Ok(shown)
}

impl DmabufHandler for State {
    fn dmabuf_state(&mut self) -> &mut DmabufState {
        &mut self.dmabufs.state
    }

    fn dmabuf_imported(
        &mut self,
        _global: &DmabufGlobal,
        dmabuf: Dmabuf,
        notifier: ImportNotifier,
    ) {
        match unusable(&dmabuf) {
            None => {
                let _ = notifier.successful::<State>();
            }
            Some(why) => {
                tracing::debug!("refused a dma-buf: {why}");
                notifier.failed();
            }
        }
    }
}

delegate_dmabuf!(State);
