//! Where frames go: one enum over the backends (headless, nested, KMS), each in a file of
//! its own that owns its renderer, its target and what that target shows (as niri's
//! `backend/`). The compositor hands a backend draws; the backend decides how they reach
//! pixels.

mod headless;
pub(crate) mod kms;
pub(crate) mod nested;

use std::os::fd::OwnedFd;

pub(crate) use headless::Headless;
pub(crate) use kms::Kms;
pub(crate) use nested::Nested;

use super::{BackendChoice, CompositorError};
use crate::render::{Draw, Image, RenderError, Renderer, RendererChoice};

/// The running backend.
// One per compositor, never moved about: boxing the larger variants would buy nothing.
#[allow(clippy::large_enum_variant)]
pub(crate) enum Backend {
    Headless(Headless),
    Nested(Nested),
    Kms(Kms),
}

/// What came of asking a backend for a frame.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Drawn {
    /// Drawn (or nothing had changed).
    Done,
    /// Not now (a flip waits for its vblank, a window surface was not ready): draw again.
    Later,
}

impl Backend {
    /// Opens the backend `choice` names at integer `scale`; returns it and the output's
    /// size in logical pixels. `socket` titles a nested window.
    pub(crate) fn open(
        choice: &BackendChoice,
        renderer: RendererChoice,
        scale: u32,
        socket: &str,
    ) -> Result<(Self, (u32, u32)), CompositorError> {
        let logical =
            |physical: (u32, u32)| ((physical.0 / scale).max(1), (physical.1 / scale).max(1));
        Ok(match *choice {
            BackendChoice::Headless { width, height } => (
                Backend::Headless(Headless::open(renderer, (width * scale, height * scale))?),
                (width, height),
            ),
            BackendChoice::Nested { width, height } => {
                let nested = Nested::open(renderer, (width * scale, height * scale), socket)?;
                let size = logical(nested.size());
                (Backend::Nested(nested), size)
            }
            BackendChoice::Kms => {
                let kms = Kms::open(renderer)?;
                let size = logical(kms.size());
                (Backend::Kms(kms), size)
            }
        })
    }

    pub(crate) fn renderer(&self) -> &Renderer {
        match self {
            Backend::Headless(b) => &b.renderer,
            Backend::Nested(b) => &b.renderer,
            Backend::Kms(b) => &b.renderer,
        }
    }

    pub(crate) fn renderer_mut(&mut self) -> &mut Renderer {
        match self {
            Backend::Headless(b) => &mut b.renderer,
            Backend::Nested(b) => &mut b.renderer,
            Backend::Kms(b) => &mut b.renderer,
        }
    }

    /// Why this renderer draws (for the log and `compose shell stats`).
    pub(crate) fn renderer_why(&self) -> &str {
        match self {
            Backend::Headless(b) => &b.why,
            Backend::Nested(b) => &b.why,
            Backend::Kms(b) => &b.why,
        }
    }

    /// Draws `draws` (output coordinates, back to front) at `scale`.
    pub(crate) fn render(
        &mut self,
        background: [f32; 4],
        scale: f32,
        draws: &[Draw],
    ) -> Result<Drawn, RenderError> {
        match self {
            Backend::Headless(b) => {
                b.render(background, scale, draws);
                Ok(Drawn::Done)
            }
            Backend::Nested(b) => Ok(b.render(background, scale, draws)),
            Backend::Kms(b) => b.render(background, scale, draws),
        }
    }

    /// Renders `draws` into a frame of its own and reads it back (screenshots).
    pub(crate) fn screenshot(
        &mut self,
        size: (u32, u32),
        background: [f32; 4],
        scale: f32,
        draws: &[Draw],
    ) -> Result<Image, RenderError> {
        let renderer = self.renderer_mut();
        let mut frame = renderer.offscreen(size.0, size.1);
        renderer.render(&mut frame, background, scale, draws);
        renderer.read(&frame)
    }

    /// The output is now `physical` pixels (a nested window was resized).
    pub(crate) fn resize(&mut self, physical: (u32, u32)) {
        match self {
            Backend::Headless(b) => b.resize(physical),
            Backend::Nested(b) => b.resize(physical),
            // A screen's mode does not change under us.
            Backend::Kms(_) => {}
        }
    }

    /// The screen's refresh rate in millihertz (60 Hz where there is no screen).
    pub(crate) fn refresh_mhz(&self) -> i32 {
        match self {
            Backend::Kms(b) => b.refresh_mhz(),
            _ => 60_000,
        }
    }

    /// The output's model name, as clients see it.
    pub(crate) fn model(&self) -> &'static str {
        match self {
            Backend::Headless(_) => "headless",
            Backend::Nested(_) => "nested",
            Backend::Kms(_) => "screen",
        }
    }

    /// The DRM card's file descriptor (readable when a page flip completed), on KMS.
    pub(crate) fn card(&self) -> Option<std::io::Result<OwnedFd>> {
        match self {
            Backend::Kms(b) => Some(b.card_fd()),
            _ => None,
        }
    }

    /// The screen showed the last frame (its page flip completed).
    pub(crate) fn page_flipped(&mut self) {
        if let Backend::Kms(b) = self {
            b.page_flipped();
        }
    }
}
