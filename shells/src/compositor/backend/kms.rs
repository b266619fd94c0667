//! The screen of a device through DRM/KMS, without GPU buffer sharing: the card's first
//! connected connector at its preferred mode, two dumb buffers (CPU-mapped scanout memory)
//! and page flips. Frames are rendered into memory (pixman's shadow image, of which only
//! the damage of the last two frames is copied) or offscreen on a GPU (wgpu, copied whole)
//! and copied into the back buffer, which is then flipped on the next vblank. This works on every KMS driver, including
//! bochs (QEMU's `-vga std`) which cannot export dumb buffers as dmabufs, and virtio-gpu.

use std::fs::{File, OpenOptions};
use std::os::fd::{AsFd, BorrowedFd};
use std::path::{Path, PathBuf};

use drm::buffer::{Buffer, DrmFourcc};

use super::Drawn;
use crate::policy::Rect;
use crate::render::damage::intersect;
use crate::render::{Draw, Frame, FrameHistory, RenderError, Renderer, RendererChoice};
use drm::control::dumbbuffer::DumbBuffer;
use drm::control::{
    Device as ControlDevice, Event, ModeTypeFlags, PageFlipFlags, connector, crtc, framebuffer,
};

/// An open DRM card node.
#[derive(Debug)]
pub struct Card(File);

impl AsFd for Card {
    fn as_fd(&self) -> BorrowedFd<'_> {
        self.0.as_fd()
    }
}

impl drm::Device for Card {}
impl ControlDevice for Card {}

/// Why the screen could not be set up.
#[derive(Debug, thiserror::Error)]
pub enum KmsError {
    #[error(
        "no DRM card with a connected screen in /dev/dri ({0}); does the device have a display, and is its kernel driver (bochs, virtio_gpu, i915 ...) in the device profile's [kernel] modules?"
    )]
    NoScreen(String),
    #[error("{what} on {card}: {source}")]
    Drm {
        what: &'static str,
        card: PathBuf,
        source: std::io::Error,
    },
}

/// One scanout buffer and its framebuffer object.
#[derive(Debug)]
struct Scanout {
    buffer: DumbBuffer,
    framebuffer: framebuffer::Handle,
}

/// A screen being driven: connector, CRTC, mode and the two buffers.
#[derive(Debug)]
pub struct Screen {
    card: Card,
    path: PathBuf,
    crtc: crtc::Handle,
    connector: connector::Handle,
    mode: drm::control::Mode,
    buffers: [Scanout; 2],
    /// The buffer not on screen, drawn into next.
    back: usize,
    /// A flip was queued and its vblank event has not come yet.
    flip_pending: bool,
    /// The mode has been set (the first frame uses set_crtc, later ones flip).
    shown: bool,
    /// What the last frame changed (None: everything, or not known): the back buffer
    /// still shows the frame before it, so the next copy must cover this too.
    last_damage: Option<Vec<Rect>>,
}

impl Screen {
    /// Opens the first card (`/dev/dri/card*`, in name order) that has a connected
    /// connector, and prepares its preferred mode.
    pub fn open() -> Result<Self, KmsError> {
        let mut cards: Vec<PathBuf> = std::fs::read_dir("/dev/dri")
            .map(|d| {
                d.filter_map(|e| e.ok().map(|e| e.path()))
                    .filter(|p| {
                        p.file_name()
                            .and_then(|n| n.to_str())
                            .is_some_and(|n| n.starts_with("card"))
                    })
                    .collect()
            })
            .unwrap_or_default();
        cards.sort();
        let mut tried = Vec::new();
        for path in cards {
            match Self::open_card(&path) {
                Ok(screen) => return Ok(screen),
                Err(e) => tried.push(format!("{}: {e}", path.display())),
            }
        }
        if tried.is_empty() {
            tried.push("no card nodes".into());
        }
        Err(KmsError::NoScreen(tried.join("; ")))
    }

    fn open_card(path: &Path) -> Result<Self, KmsError> {
        let fail = |what: &'static str| {
            let card = path.to_path_buf();
            move |source| KmsError::Drm { what, card, source }
        };
        let file = OpenOptions::new()
            .read(true)
            .write(true)
            .open(path)
            .map_err(fail("open"))?;
        let card = Card(file);
        // The only display server on the device: becoming master may fail when it
        // already is (the first opener gets it); modesetting says whether it worked.
        let _ = drm::Device::acquire_master_lock(&card);
        let resources = card.resource_handles().map_err(fail("read resources"))?;
        let connected = resources
            .connectors()
            .iter()
            .filter_map(|&c| card.get_connector(c, true).ok())
            .find(|info| info.state() == connector::State::Connected && !info.modes().is_empty())
            .ok_or_else(|| {
                fail("find a connected connector")(std::io::Error::other("none is connected"))
            })?;
        let mode = connected
            .modes()
            .iter()
            .find(|m| m.mode_type().contains(ModeTypeFlags::PREFERRED))
            .or_else(|| connected.modes().first())
            .copied()
            .expect("modes is not empty");
        let crtc = connected
            .current_encoder()
            .and_then(|e| card.get_encoder(e).ok())
            .and_then(|e| e.crtc())
            .or_else(|| {
                connected
                    .encoders()
                    .iter()
                    .filter_map(|&e| card.get_encoder(e).ok())
                    .flat_map(|e| resources.filter_crtcs(e.possible_crtcs()))
                    .next()
            })
            .ok_or_else(|| fail("find a CRTC")(std::io::Error::other("no usable CRTC")))?;
        let (width, height) = mode.size();
        let make = || -> Result<Scanout, KmsError> {
            let buffer = card
                .create_dumb_buffer((width as u32, height as u32), DrmFourcc::Xrgb8888, 32)
                .map_err(fail("create a dumb buffer"))?;
            let framebuffer = card
                .add_framebuffer(&buffer, 24, 32)
                .map_err(fail("add a framebuffer"))?;
            Ok(Scanout {
                buffer,
                framebuffer,
            })
        };
        let buffers = [make()?, make()?];
        tracing::info!(
            "screen {}: connector {:?} at {}x{}@{}",
            path.display(),
            connected.interface(),
            width,
            height,
            mode.vrefresh()
        );
        Ok(Self {
            card,
            path: path.to_path_buf(),
            crtc,
            connector: connected.handle(),
            mode,
            buffers,
            back: 0,
            flip_pending: false,
            shown: false,
            last_damage: None,
        })
    }

    /// The mode's size in pixels.
    pub fn size(&self) -> (u32, u32) {
        let (w, h) = self.mode.size();
        (w as u32, h as u32)
    }

    /// The refresh rate in millihertz.
    pub fn refresh_mhz(&self) -> i32 {
        self.mode.vrefresh() as i32 * 1000
    }

    /// The card, for the event loop (page flip events make it readable).
    pub fn card(&self) -> &Card {
        &self.card
    }

    /// Whether a frame can be drawn now (no flip is waiting for its vblank).
    pub fn can_draw(&self) -> bool {
        !self.flip_pending
    }

    /// Copies the parts of `frame` (XRGB8888 rows of `width * 4` bytes, the whole screen)
    /// that changed since the back buffer was drawn, `damage` of this frame and that of
    /// the last one, into the back buffer; then shows it at the next vblank.
    pub fn present_damage(&mut self, damage: &[Rect], frame: &[u8]) -> Result<(), KmsError> {
        let (width, height) = self.size();
        let whole = Rect {
            x: 0,
            y: 0,
            width,
            height,
        };
        let mut copy: Vec<Rect> = damage.to_vec();
        match self.last_damage.replace(damage.to_vec()) {
            Some(last) => copy.extend(last),
            None => copy = vec![whole],
        }
        let source_row = width as usize * 4;
        self.show(|pixels, pitch| {
            for r in copy.iter().filter_map(|r| intersect(*r, whole)) {
                let (x0, bytes) = (r.x as usize * 4, r.width as usize * 4);
                for y in r.y as usize..(r.y as usize + r.height as usize) {
                    let src = frame.get(y * source_row + x0..y * source_row + x0 + bytes);
                    let dst = pixels.get_mut(y * pitch + x0..y * pitch + x0 + bytes);
                    if let (Some(src), Some(dst)) = (src, dst) {
                        dst.copy_from_slice(src);
                    }
                }
            }
        })
    }

    /// Copies a whole frame into the back buffer, row by row: `fill(row, into)` writes row
    /// `row` (XRGB8888, `width * 4` bytes) into `into`. Then shows it at the next vblank.
    pub fn present(
        &mut self,
        fill: impl FnOnce(&mut dyn FnMut(usize, &[u8])),
    ) -> Result<(), KmsError> {
        self.last_damage = None;
        let (width, height) = self.size();
        let row_bytes = width as usize * 4;
        self.show(|pixels, pitch| {
            fill(&mut |row, bytes| {
                if row < height as usize {
                    let start = row * pitch;
                    let n = bytes.len().min(row_bytes);
                    if let Some(dst) = pixels.get_mut(start..start + n) {
                        dst.copy_from_slice(&bytes[..n]);
                    }
                }
            });
        })
    }

    /// Lets `draw(pixels, pitch)` write into the mapped back buffer, then flips to it.
    fn show(&mut self, draw: impl FnOnce(&mut [u8], usize)) -> Result<(), KmsError> {
        let path = self.path.clone();
        let fail = |what: &'static str| {
            move |source| KmsError::Drm {
                what,
                card: path,
                source,
            }
        };
        let scanout = &mut self.buffers[self.back];
        let pitch = scanout.buffer.pitch() as usize;
        {
            let mut mapping = self
                .card
                .map_dumb_buffer(&mut scanout.buffer)
                .map_err(fail("map a dumb buffer"))?;
            draw(mapping.as_mut(), pitch);
        }
        let framebuffer = scanout.framebuffer;
        if self.shown {
            match self
                .card
                .page_flip(self.crtc, framebuffer, PageFlipFlags::EVENT, None)
            {
                Ok(()) => self.flip_pending = true,
                Err(e) => {
                    // Some drivers refuse flips now and then (or always): set the CRTC.
                    tracing::debug!("page flip refused ({e}); setting the CRTC instead");
                    self.set_crtc(framebuffer)?;
                }
            }
        } else {
            self.set_crtc(framebuffer)?;
            self.shown = true;
        }
        self.back = 1 - self.back;
        Ok(())
    }

    fn set_crtc(&self, framebuffer: framebuffer::Handle) -> Result<(), KmsError> {
        self.card
            .set_crtc(
                self.crtc,
                Some(framebuffer),
                (0, 0),
                &[self.connector],
                Some(self.mode),
            )
            .map_err(|source| KmsError::Drm {
                what: "set the mode",
                card: self.path.clone(),
                source,
            })
    }

    /// Reads the card's events; returns whether a flip completed.
    pub fn dispatch(&mut self) -> bool {
        let mut flipped = false;
        match self.card.receive_events() {
            Ok(events) => {
                for event in events {
                    if let Event::PageFlip(_) = event {
                        flipped = true;
                    }
                }
            }
            Err(e) => tracing::debug!("reading DRM events: {e}"),
        }
        if flipped {
            self.flip_pending = false;
        }
        flipped
    }
}

/// The KMS backend: a `Screen` and the frame it is drawn from (the CPU renderer's shadow
/// image, or a texture in the screen's byte order).
pub(crate) struct Kms {
    pub(crate) renderer: Renderer,
    pub(crate) why: String,
    screen: Screen,
    frame: Frame,
    /// What `frame` shows.
    history: FrameHistory,
}

impl Kms {
    /// Opens the first screen, and the renderer `choice` picks.
    pub(crate) fn open(choice: RendererChoice) -> Result<Self, super::CompositorError> {
        let screen = Screen::open()?;
        let chosen = Renderer::choose(choice)?;
        let (width, height) = screen.size();
        let frame = chosen.renderer.screen_frame(width, height);
        Ok(Self {
            renderer: chosen.renderer,
            why: chosen.why,
            screen,
            frame,
            history: FrameHistory::default(),
        })
    }

    pub(crate) fn size(&self) -> (u32, u32) {
        self.screen.size()
    }

    pub(crate) fn refresh_mhz(&self) -> i32 {
        self.screen.refresh_mhz()
    }

    pub(crate) fn card_fd(&self) -> std::io::Result<std::os::fd::OwnedFd> {
        self.screen.card().as_fd().try_clone_to_owned()
    }

    pub(crate) fn page_flipped(&mut self) {
        self.screen.dispatch();
    }

    /// Draws what changed into the frame and shows it: the CPU renderer's damage (of this
    /// frame and the last) is copied, a GPU frame is read back whole.
    pub(crate) fn render(
        &mut self,
        background: [f32; 4],
        scale: f32,
        draws: &[Draw],
    ) -> Result<Drawn, RenderError> {
        if !self.screen.can_draw() {
            // The last frame waits for its vblank: draw this one after it.
            return Ok(Drawn::Later);
        }
        let damage = self.renderer.render_changed(
            &mut self.frame,
            background,
            scale,
            draws,
            &mut self.history,
        );
        if damage.is_empty() {
            return Ok(Drawn::Done);
        }
        let shown = match (&self.renderer, &self.frame) {
            (_, Frame::Cpu(canvas)) => self.screen.present_damage(&damage, canvas.bytes()),
            (Renderer::Gpu(gpu), Frame::Gpu(texture)) => {
                let mut failed = None;
                let shown = self.screen.present(|copy| {
                    if let Err(e) = gpu.read_rows(texture, |row, bytes| copy(row, bytes)) {
                        failed = Some(e);
                    }
                });
                if let Some(e) = failed {
                    return Err(e);
                }
                shown
            }
            (Renderer::Cpu(_), Frame::Gpu(_)) => {
                unreachable!("the CPU renderer makes only CPU frames")
            }
        };
        if let Err(e) = shown {
            tracing::warn!("frame not shown: {e}");
        }
        Ok(Drawn::Done)
    }
}
