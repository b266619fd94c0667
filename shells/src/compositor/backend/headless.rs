//! The headless backend: frames are drawn into an image in memory (CPU renderer) or an
//! offscreen texture (GPU renderer), kept between frames so that only what changed is
//! drawn again; screenshots need no screen.

use crate::render::{Draw, Frame, FrameHistory, RenderError, Renderer, RendererChoice};

pub(crate) struct Headless {
    pub(crate) renderer: Renderer,
    pub(crate) why: String,
    frame: Frame,
    /// What `frame` shows.
    history: FrameHistory,
}

impl Headless {
    /// A target of `physical` pixels, drawn by the renderer `choice` picks.
    pub(crate) fn open(choice: RendererChoice, physical: (u32, u32)) -> Result<Self, RenderError> {
        let chosen = Renderer::choose(choice)?;
        let frame = chosen.renderer.offscreen(physical.0, physical.1);
        Ok(Self {
            renderer: chosen.renderer,
            why: chosen.why,
            frame,
            history: FrameHistory::default(),
        })
    }

    pub(crate) fn render(&mut self, background: [f32; 4], scale: f32, draws: &[Draw]) {
        self.renderer
            .render_changed(&mut self.frame, background, scale, draws, &mut self.history);
    }

    pub(crate) fn resize(&mut self, physical: (u32, u32)) {
        if self.frame.size() != physical {
            self.frame = self.renderer.offscreen(physical.0, physical.1);
            // A fresh target holds nothing yet.
            self.history = FrameHistory::default();
        }
    }
}
