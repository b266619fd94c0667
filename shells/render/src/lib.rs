//! Rendering: one draw list (`Draw`s in output coordinates) and two renderers that turn it
//! into pixels, the wgpu one (`gpu`, for real GPUs and nested windows) and the pixman one
//! (`cpu`, for machines without a GPU, or with only a CPU Vulkan adapter such as lavapipe).
//! Both take the same uploads (the damaged rectangles of client buffers), keep the same
//! `FrameHistory`, and must produce the same pixels (`shells/tests/render.rs` holds them
//! against each other).
//!
//! Nothing here knows Wayland (this crate does not depend on smithay): the compositor hands
//! over pixels, damage and draws. `text` rasterizes chrome text into pixels to upload.

mod cpu;
pub mod damage;
mod gpu;
pub mod text;

use std::path::Path;

pub use cpu::{Canvas, CpuRenderer};
pub use gpu::{Backends, GpuRenderer, OFFSCREEN_FORMAT, request_adapter};

use compose_shell_policy::Rect;

/// Identifies one client surface's texture.
pub type TextureKey = u64;

/// Pixels of a client buffer: `data[offset..]` holds `height` rows of `stride` bytes,
/// 4 bytes per pixel, B G R A in memory (wl_shm ARGB8888 / XRGB8888).
#[derive(Debug, Clone, Copy)]
pub struct Pixels<'a> {
    pub data: &'a [u8],
    pub offset: usize,
    pub width: u32,
    pub height: u32,
    pub stride: u32,
    /// XRGB8888: the alpha byte means nothing; draw opaque.
    pub opaque: bool,
}

/// What fills a rectangle.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Fill {
    /// A client surface's texture; `source` is the part of it to show, in 0..1 texture
    /// coordinates (x0, y0, x1, y1).
    Texture { key: TextureKey, source: [f32; 4] },
    /// A solid colour, premultiplied RGBA in 0..1.
    Color([f32; 4]),
}

/// One rectangle of a frame, in output coordinates (logical pixels).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Draw {
    pub rect: Rect,
    pub fill: Fill,
}

/// Why rendering could not start or a frame could not be read.
#[derive(Debug, thiserror::Error)]
pub enum RenderError {
    #[error(
        "no graphics adapter: {0} (install Mesa's software drivers, Debian package \
         mesa-vulkan-drivers, or set WGPU_BACKEND=gl for llvmpipe)"
    )]
    NoAdapter(String),
    #[error("cannot open the graphics device: {0}")]
    Device(String),
    #[error("cannot read the frame back from the GPU: {0}")]
    Readback(String),
    #[error("cannot write {path}: {message}")]
    Png { path: String, message: String },
}

/// What a target that keeps its pixels between frames showed last, so that the next
/// frame redraws only what changed (`Renderer::render_changed`). Both renderers diff
/// frames through it.
#[derive(Debug, Default)]
pub struct FrameHistory {
    last: Option<Shown>,
}

#[derive(Debug)]
struct Shown {
    size: (u32, u32),
    scale: f32,
    background: [f32; 4],
    draws: Vec<Draw>,
    /// Per draw: its texture's generation (0: a colour, or no texture).
    generations: Vec<u64>,
}

impl FrameHistory {
    /// Remembers this frame and returns what differs from the last one, in physical
    /// pixels, as rectangles that do not overlap: the old and new places of every draw
    /// that moved, appeared, went, changed places in the stack or got new pixels
    /// (`generations`, per draw). Empty: nothing changed. A new size, scale or background
    /// (or no last frame) damages everything.
    pub fn diff(
        &mut self,
        size: (u32, u32),
        scale: f32,
        background: [f32; 4],
        draws: &[Draw],
        generations: Vec<u64>,
    ) -> Vec<Rect> {
        let whole = Rect {
            x: 0,
            y: 0,
            width: size.0,
            height: size.1,
        };
        let damage = match &self.last {
            Some(last)
                if last.size == size && last.scale == scale && last.background == background =>
            {
                let mut changed = Vec::new();
                for i in 0..last.draws.len().max(draws.len()) {
                    let before = last.draws.get(i).zip(last.generations.get(i));
                    let now = draws.get(i).zip(generations.get(i));
                    if before == now {
                        continue;
                    }
                    for (d, _) in [before, now].into_iter().flatten() {
                        if let Some(r) = damage::intersect(damage::physical(d.rect, scale), whole) {
                            changed.push(r);
                        }
                    }
                }
                damage::disjoint(changed, damage::MAX_DAMAGE_RECTS)
            }
            _ => vec![whole],
        };
        self.last = Some(Shown {
            size,
            scale,
            background,
            draws: draws.to_vec(),
            generations,
        });
        damage
    }
}

/// Which renderer `compose shell run --renderer` and `compose-shell --renderer` ask for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, clap::ValueEnum)]
pub enum RendererChoice {
    /// The GPU when there is one; the CPU renderer when wgpu finds no adapter or only a
    /// CPU one (lavapipe, llvmpipe, SwiftShader)
    #[default]
    Auto,
    /// pixman on the CPU, whatever the machine has
    Cpu,
    /// wgpu on the first adapter, even a CPU one
    Gpu,
}

/// A renderer, and why it was chosen (for the log and `compose shell stats`).
#[derive(Debug)]
pub struct Chosen {
    pub renderer: Renderer,
    pub why: String,
}

/// One interface, two renderers: wgpu on a GPU, pixman on the CPU.
#[derive(Debug)]
pub enum Renderer {
    Gpu(Box<GpuRenderer>),
    Cpu(CpuRenderer),
}

/// Where a renderer draws: a GPU texture, or an image in memory.
#[derive(Debug)]
pub enum Frame {
    Gpu(wgpu::Texture),
    Cpu(Canvas),
}

impl Frame {
    /// Its size in physical pixels.
    pub fn size(&self) -> (u32, u32) {
        match self {
            Frame::Gpu(t) => (t.width(), t.height()),
            Frame::Cpu(c) => c.size(),
        }
    }
}

impl Renderer {
    /// wgpu on the first adapter it finds (Vulkan, then GL; `WGPU_BACKEND` chooses).
    pub fn gpu() -> Result<Self, RenderError> {
        GpuRenderer::new().map(|r| Renderer::Gpu(Box::new(r)))
    }

    /// wgpu on the first adapter of `backends`.
    pub fn with_backends(backends: Backends) -> Result<Self, RenderError> {
        GpuRenderer::with_backends(backends).map(|r| Renderer::Gpu(Box::new(r)))
    }

    /// pixman on the CPU; cannot fail.
    pub fn cpu() -> Self {
        Renderer::Cpu(CpuRenderer::new())
    }

    /// The renderer `choice` asks for, and why it is the one, on the first adapter wgpu
    /// finds (Vulkan, then GL).
    pub fn choose(choice: RendererChoice) -> Result<Chosen, RenderError> {
        Self::choose_from(choice, gpu::first_adapter)
    }

    /// Like `choose`, on the adapter `find` returns (one that can present to a window's
    /// surface, for the nested backend). `find` is not called for `--renderer cpu`; the
    /// choice is made before a device is opened on the adapter, since lavapipe compiles
    /// its shaders at the first draw, which costs seconds on a slow machine.
    pub fn choose_from(
        choice: RendererChoice,
        find: impl FnOnce() -> Result<(wgpu::Instance, wgpu::Adapter), RenderError>,
    ) -> Result<Chosen, RenderError> {
        let gpu = |instance, adapter, why: &str| -> Result<Chosen, RenderError> {
            let gpu = GpuRenderer::with_adapter(instance, adapter)?;
            let why = format!("{why}: {}", gpu.adapter_name());
            Ok(Chosen {
                renderer: Renderer::Gpu(Box::new(gpu)),
                why,
            })
        };
        let cpu = |why: String| Chosen {
            renderer: Self::cpu(),
            why,
        };
        match choice {
            RendererChoice::Cpu => Ok(cpu("asked for (--renderer cpu)".into())),
            RendererChoice::Gpu => {
                let (instance, adapter) = find()?;
                gpu(instance, adapter, "asked for (--renderer gpu)")
            }
            RendererChoice::Auto => match find() {
                Ok((_, adapter)) if adapter.get_info().device_type == wgpu::DeviceType::Cpu => {
                    Ok(cpu(format!(
                        "the only graphics adapter is {}, a CPU rasterizer: pixman does \
                         the same work with less CPU",
                        gpu::describe(&adapter)
                    )))
                }
                Ok((instance, adapter)) => gpu(instance, adapter, "a GPU"),
                // Not an error here: the help that comes with it (install Mesa) is not for
                // a machine the CPU renderer serves.
                Err(RenderError::NoAdapter(why)) => Ok(cpu(format!(
                    "no GPU: wgpu found no graphics adapter ({why})"
                ))),
                Err(e) => Ok(cpu(format!("no GPU ({e})"))),
            },
        }
    }

    /// "cpu" or "gpu".
    pub fn kind(&self) -> &'static str {
        match self {
            Renderer::Gpu(_) => "gpu",
            Renderer::Cpu(_) => "cpu",
        }
    }

    /// The renderer in words, e.g. "pixman 0.42.2 (CPU)" or "Intel(R) UHD ... (Vulkan)".
    pub fn name(&self) -> String {
        match self {
            Renderer::Gpu(g) => g.adapter_name(),
            Renderer::Cpu(c) => c.name(),
        }
    }

    /// The wgpu renderer, when this is one (a nested window presents through it).
    pub fn as_gpu(&self) -> Option<&GpuRenderer> {
        match self {
            Renderer::Gpu(g) => Some(g),
            Renderer::Cpu(_) => None,
        }
    }

    pub fn as_gpu_mut(&mut self) -> Option<&mut GpuRenderer> {
        match self {
            Renderer::Gpu(g) => Some(g),
            Renderer::Cpu(_) => None,
        }
    }

    /// Copies the damaged parts of `pixels` (buffer coordinates) into `key`'s texture;
    /// a new or resized texture gets the whole buffer. Returns false (and holds no
    /// texture for `key`) when the buffer is larger than the renderer allows.
    pub fn upload(&mut self, key: TextureKey, pixels: Pixels<'_>, damage: &[Rect]) -> bool {
        let max = match self {
            Renderer::Gpu(g) => g.max_side(),
            Renderer::Cpu(c) => c.max_side(),
        };
        if pixels.width > max || pixels.height > max {
            tracing::warn!(
                "a {}x{} buffer is larger than the renderer's {max}x{max}; not shown",
                pixels.width,
                pixels.height
            );
            self.forget(key);
            return false;
        }
        match self {
            Renderer::Gpu(g) => g.upload(key, pixels, damage),
            Renderer::Cpu(c) => c.upload(key, pixels, damage),
        }
        true
    }

    /// Drops `key`'s texture (its surface is gone).
    pub fn forget(&mut self, key: TextureKey) {
        match self {
            Renderer::Gpu(g) => g.forget(key),
            Renderer::Cpu(c) => c.forget(key),
        }
    }

    /// A frame of `width` x `height` physical pixels that can be read back as RGBA.
    pub fn offscreen(&self, width: u32, height: u32) -> Frame {
        match self {
            Renderer::Gpu(g) => Frame::Gpu(g.offscreen(width, height)),
            Renderer::Cpu(_) => Frame::Cpu(Canvas::new(width, height)),
        }
    }

    /// A frame in a screen's byte order (XRGB8888: B G R A in memory).
    pub fn screen_frame(&self, width: u32, height: u32) -> Frame {
        match self {
            Renderer::Gpu(g) => {
                Frame::Gpu(g.offscreen_as(width, height, wgpu::TextureFormat::Bgra8Unorm))
            }
            Renderer::Cpu(_) => Frame::Cpu(Canvas::new(width, height)),
        }
    }

    /// Composites `draws` (back to front) onto `frame` over `background`; `scale` maps
    /// output coordinates to physical pixels.
    pub fn render(&mut self, frame: &mut Frame, background: [f32; 4], scale: f32, draws: &[Draw]) {
        match (self, frame) {
            (Renderer::Gpu(g), Frame::Gpu(t)) => {
                g.render(t, background, scale, draws);
            }
            (Renderer::Cpu(c), Frame::Cpu(canvas)) => c.render(canvas, background, scale, draws),
            _ => mismatched(),
        }
    }

    /// Like `render`, onto a frame that still holds what `history` describes: only what
    /// changed since is drawn again; returns the damaged rectangles (physical pixels,
    /// disjoint; empty when nothing changed).
    pub fn render_changed(
        &mut self,
        frame: &mut Frame,
        background: [f32; 4],
        scale: f32,
        draws: &[Draw],
        history: &mut FrameHistory,
    ) -> Vec<Rect> {
        match (self, frame) {
            (Renderer::Gpu(g), Frame::Gpu(t)) => {
                g.render_changed(t, background, scale, draws, history)
            }
            (Renderer::Cpu(c), Frame::Cpu(canvas)) => {
                c.render_changed(canvas, background, scale, draws, history)
            }
            _ => mismatched(),
        }
    }

    /// Reads a frame back as RGBA rows.
    pub fn read(&self, frame: &Frame) -> Result<Image, RenderError> {
        match (self, frame) {
            (Renderer::Gpu(g), Frame::Gpu(t)) => g.read(t),
            (_, Frame::Cpu(canvas)) => Ok(canvas.to_image()),
            _ => mismatched(),
        }
    }

    /// Waits until everything submitted is drawn (the CPU renderer draws at once).
    pub fn wait(&self) {
        if let Renderer::Gpu(g) = self {
            g.wait();
        }
    }
}

/// Frames come from the renderer that draws them; the compositor never mixes them.
fn mismatched() -> ! {
    panic!("a frame of one renderer was handed to the other")
}

/// A frame read back from a renderer: RGBA, premultiplied, rows top to bottom.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Image {
    pub width: u32,
    pub height: u32,
    pub rgba: Vec<u8>,
}

impl Image {
    /// The pixel at (x, y), RGBA.
    pub fn pixel(&self, x: u32, y: u32) -> [u8; 4] {
        let i = ((y * self.width + x) * 4) as usize;
        [
            self.rgba[i],
            self.rgba[i + 1],
            self.rgba[i + 2],
            self.rgba[i + 3],
        ]
    }

    /// Writes the image as PNG through a temporary file, so `path` is whole or absent.
    pub fn write_png(&self, path: &Path) -> Result<(), RenderError> {
        let fail = |message: String| RenderError::Png {
            path: path.display().to_string(),
            message,
        };
        let tmp = path.with_extension("png.tmp");
        let write = || -> Result<(), Box<dyn std::error::Error>> {
            let file = std::io::BufWriter::new(std::fs::File::create(&tmp)?);
            self.encode_png(file)?;
            std::fs::rename(&tmp, path)?;
            Ok(())
        };
        write().map_err(|e| {
            let _ = std::fs::remove_file(&tmp);
            fail(e.to_string())
        })
    }

    /// The image as PNG bytes (RGBA, 8 bits).
    pub fn png_bytes(&self) -> Vec<u8> {
        let mut bytes = Vec::new();
        self.encode_png(&mut bytes)
            .expect("encoding a well-formed image into memory does not fail");
        bytes
    }

    fn encode_png(&self, out: impl std::io::Write) -> Result<(), png::EncodingError> {
        let mut encoder = png::Encoder::new(out, self.width, self.height);
        encoder.set_color(png::ColorType::Rgba);
        encoder.set_depth(png::BitDepth::Eight);
        let mut writer = encoder.write_header()?;
        writer.write_image_data(&self.rgba)?;
        writer.finish()
    }

    /// Reads a PNG written by `write_png` (RGBA, 8 bits).
    pub fn read_png(path: &Path) -> Result<Self, RenderError> {
        let fail = |message: String| RenderError::Png {
            path: path.display().to_string(),
            message,
        };
        let file =
            std::io::BufReader::new(std::fs::File::open(path).map_err(|e| fail(e.to_string()))?);
        let mut reader = png::Decoder::new(file)
            .read_info()
            .map_err(|e| fail(e.to_string()))?;
        let mut rgba = vec![0; reader.output_buffer_size().unwrap_or(0)];
        let info = reader
            .next_frame(&mut rgba)
            .map_err(|e| fail(e.to_string()))?;
        if info.bit_depth != png::BitDepth::Eight {
            return Err(fail("not an 8-bit PNG".into()));
        }
        rgba.truncate(info.buffer_size());
        match info.color_type {
            png::ColorType::Rgba => {}
            // Opaque RGB, as QEMU's screendump writes: every pixel gets alpha 255.
            png::ColorType::Rgb => {
                rgba = rgba
                    .chunks_exact(3)
                    .flat_map(|p| [p[0], p[1], p[2], 255])
                    .collect();
            }
            other => {
                return Err(fail(format!(
                    "{other:?} PNGs are not read here; RGB or RGBA"
                )));
            }
        }
        Ok(Self {
            width: info.width,
            height: info.height,
            rgba,
        })
    }
}
