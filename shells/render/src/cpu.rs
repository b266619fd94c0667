//! The CPU side, on pixman (as weston's and wlroots' pixman renderers): client buffers
//! are copied into images the compositor owns (only their damaged rectangles, learning in
//! the same pass whether every pixel is opaque), then composited into an image in memory.
//!
//! Only what shows is drawn: every draw is clipped to the frame's damage minus the opaque
//! draws above it, opaque draws are copies (`Src`) and only translucent ones blend
//! (`Over`). Sampling is nearest-neighbour at pixel centres, as the wgpu renderer's.

use std::collections::HashMap;

use pixman::{Box32, Color, Filter, FormatCode, Image as PixmanImage, Operation, Transform};

use super::damage::{intersect, physical, subtract_all, upload_regions};
use super::{Draw, Fill, FrameHistory, Image, Pixels, TextureKey};
use compose_shell_policy::Rect;

/// An image in memory, 32 bits per pixel, premultiplied ARGB in native order (B G R A in
/// memory on little-endian machines: a screen's XRGB8888).
#[derive(Debug, Clone)]
pub struct Canvas {
    width: u32,
    height: u32,
    pixels: Vec<u32>,
}

impl Canvas {
    pub fn new(width: u32, height: u32) -> Self {
        let (width, height) = (width.max(1), height.max(1));
        Self {
            width,
            height,
            pixels: vec![0; width as usize * height as usize],
        }
    }

    pub fn size(&self) -> (u32, u32) {
        (self.width, self.height)
    }

    /// The pixels, rows of `width` premultiplied ARGB values (a screen's XRGB8888).
    pub fn pixels(&self) -> &[u32] {
        &self.pixels
    }

    /// The pixels, rows of `width * 4` bytes, B G R A in memory.
    pub fn bytes(&self) -> &[u8] {
        bytemuck::cast_slice(&self.pixels)
    }

    /// The pixels as RGBA rows.
    pub fn to_image(&self) -> Image {
        let rgba = self
            .pixels
            .iter()
            .flat_map(|p| {
                let [b, g, r, a] = p.to_le_bytes();
                [r, g, b, a]
            })
            .collect();
        Image {
            width: self.width,
            height: self.height,
            rgba,
        }
    }

    fn whole(&self) -> Rect {
        Rect {
            x: 0,
            y: 0,
            width: self.width,
            height: self.height,
        }
    }
}

/// A client buffer's pixels, owned by the compositor.
struct CpuTexture {
    pixels: Vec<u32>,
    size: (u32, u32),
    /// XRGB8888: the alpha byte means nothing.
    xrgb: bool,
    /// Every pixel is opaque (XRGB, or an ARGB buffer whose alphas are all 255).
    opaque: bool,
    /// Which upload filled it last.
    generation: u64,
}

/// Composites with pixman on the CPU.
#[derive(Default)]
pub struct CpuRenderer {
    textures: HashMap<TextureKey, CpuTexture>,
    /// Uploads so far; each texture remembers the one that filled it.
    uploads: u64,
}

impl std::fmt::Debug for CpuRenderer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CpuRenderer")
            .field("textures", &self.textures.len())
            .finish()
    }
}

/// One draw of a frame, resolved: where it lands and what fills it.
struct Item {
    /// Where it lands, in physical pixels (not clipped to the frame).
    dest: Rect,
    opaque: bool,
    fill: Fill,
}

impl CpuRenderer {
    pub fn new() -> Self {
        Self::default()
    }

    /// The renderer in words.
    pub fn name(&self) -> String {
        "pixman (CPU)".into()
    }

    /// The largest buffer side taken (as a GPU's texture limit; pixman's coordinates are
    /// i32, but a client's buffer of more than this is a mistake or an attack).
    pub(super) fn max_side(&self) -> u32 {
        16384
    }

    /// Copies the damaged parts of `pixels` into `key`'s image (all of it when new,
    /// resized or without damage), finding out in the same pass whether they are opaque.
    /// `Renderer::upload` checked its size.
    pub(super) fn upload(&mut self, key: TextureKey, pixels: Pixels<'_>, damage: &[Rect]) {
        let size = (pixels.width.max(1), pixels.height.max(1));
        let fresh = self.textures.get(&key).is_none_or(|t| t.size != size);
        if fresh {
            self.textures.insert(
                key,
                CpuTexture {
                    pixels: vec![0; size.0 as usize * size.1 as usize],
                    size,
                    xrgb: pixels.opaque,
                    opaque: pixels.opaque,
                    generation: 0,
                },
            );
        }
        let target = self.textures.get_mut(&key).expect("inserted above");
        self.uploads += 1;
        target.generation = self.uploads;
        let everything = fresh || damage.is_empty();
        let regions = upload_regions(size, damage, everything);
        // All alphas ANDed together: 0xff.. in the top byte means every pixel is opaque.
        let mut alphas = u32::MAX;
        for r in regions {
            let stride = pixels.stride as usize;
            let row_bytes = r.width as usize * 4;
            let first = pixels.offset + r.y as usize * stride + r.x as usize * 4;
            let needed = first + (r.height as usize).saturating_sub(1) * stride + row_bytes;
            if needed > pixels.data.len() {
                tracing::warn!("buffer damage runs past its pool; skipped");
                continue;
            }
            for y in 0..r.height as usize {
                let src = &pixels.data[first + y * stride..][..row_bytes];
                let start = (r.y as usize + y) * size.0 as usize + r.x as usize;
                let dst = &mut target.pixels[start..start + r.width as usize];
                bytemuck::cast_slice_mut::<u32, u8>(dst).copy_from_slice(src);
                if !pixels.opaque {
                    // The row just copied is still in the cache: ANDing it here is part of
                    // the copy's pass, not a second scan of the buffer.
                    alphas &= dst.iter().fold(u32::MAX, |all, p| all & p);
                }
            }
        }
        target.xrgb = pixels.opaque;
        // A partial upload keeps an ARGB image opaque only if it was and the new parts are.
        let was_opaque = target.opaque && !everything;
        target.opaque = pixels.opaque || ((was_opaque || everything) && alphas >> 24 == 0xff);
    }

    /// Drops `key`'s image (its surface is gone).
    pub fn forget(&mut self, key: TextureKey) {
        self.textures.remove(&key);
    }

    /// Composites `draws` (back to front) onto `canvas` over `background`.
    pub fn render(
        &mut self,
        canvas: &mut Canvas,
        background: [f32; 4],
        scale: f32,
        draws: &[Draw],
    ) {
        let whole = canvas.whole();
        self.render_in(canvas, background, scale, draws, &[whole]);
    }

    /// Like `render`, onto a canvas that still holds what `history` describes: only the
    /// damage since is drawn again; returns it.
    pub fn render_changed(
        &mut self,
        canvas: &mut Canvas,
        background: [f32; 4],
        scale: f32,
        draws: &[Draw],
        history: &mut FrameHistory,
    ) -> Vec<Rect> {
        let generations = draws
            .iter()
            .map(|d| match d.fill {
                Fill::Texture { key, .. } => self.textures.get(&key).map_or(0, |t| t.generation),
                Fill::Color(_) => 0,
            })
            .collect();
        let damage = history.diff(canvas.size(), scale, background, draws, generations);
        if !damage.is_empty() {
            self.render_in(canvas, background, scale, draws, &damage);
        }
        damage
    }

    /// Draws inside `areas` (disjoint, physical pixels) only.
    fn render_in(
        &mut self,
        canvas: &mut Canvas,
        background: [f32; 4],
        scale: f32,
        draws: &[Draw],
        areas: &[Rect],
    ) {
        let whole = canvas.whole();
        let items: Vec<Item> = draws
            .iter()
            .filter_map(|d| {
                let opaque = match d.fill {
                    Fill::Texture { key, .. } => self.textures.get(&key)?.opaque,
                    Fill::Color(c) => c[3] >= 1.0,
                };
                Some(Item {
                    dest: physical(d.rect, scale),
                    opaque,
                    fill: d.fill,
                })
            })
            .collect();
        // Front to back: each draw shows inside the areas, minus the opaque draws above.
        let mut covered: Vec<Rect> = Vec::new();
        let mut visible: Vec<Vec<Rect>> = vec![Vec::new(); items.len()];
        for (i, item) in items.iter().enumerate().rev() {
            let Some(dest) = intersect(item.dest, whole) else {
                continue;
            };
            let pieces = areas.iter().filter_map(|a| intersect(dest, *a)).collect();
            visible[i] = subtract_all(pieces, &covered);
            if item.opaque {
                covered.push(dest);
            }
        }
        let (width, height) = (canvas.width as usize, canvas.height as usize);
        let Ok(mut target) = PixmanImage::from_slice_mut(
            FormatCode::A8R8G8B8,
            width,
            height,
            &mut canvas.pixels,
            width * 4,
            false,
        ) else {
            tracing::error!("pixman refused a {width}x{height} frame; not drawn");
            return;
        };
        let behind = subtract_all(areas.to_vec(), &covered);
        fill(&mut target, Operation::Src, background, &behind);
        for (item, pieces) in items.iter().zip(&visible) {
            if pieces.is_empty() {
                continue;
            }
            let op = if item.opaque {
                Operation::Src
            } else {
                Operation::Over
            };
            match item.fill {
                Fill::Color(color) => fill(&mut target, op, color, pieces),
                Fill::Texture { key, source } => {
                    let Some(texture) = self.textures.get_mut(&key) else {
                        continue;
                    };
                    composite(&mut target, op, texture, source, item.dest, pieces);
                }
            }
        }
    }
}

/// Fills `pieces` with a premultiplied colour.
fn fill(target: &mut PixmanImage<'_, '_>, op: Operation, color: [f32; 4], pieces: &[Rect]) {
    if pieces.is_empty() {
        return;
    }
    // pixman keeps the top 8 of 16 bits: 8-bit values as GPUs round them (in f32, ties
    // to even: 0.3 is 76, not 77), times 257.
    let channel = |c: f32| (c.clamp(0.0, 1.0) * 255.0).round_ties_even() as u16 * 257;
    let color = Color::new(
        channel(color[0]),
        channel(color[1]),
        channel(color[2]),
        channel(color[3]),
    );
    let boxes: Vec<Box32> = pieces
        .iter()
        .map(|p| Box32 {
            x1: p.x,
            y1: p.y,
            x2: p.x + p.width as i32,
            y2: p.y + p.height as i32,
        })
        .collect();
    if target.fill_boxes(op, color, &boxes).is_err() {
        tracing::error!("pixman could not fill {} rectangles", boxes.len());
    }
}

/// Draws the `source` part (0..1 texture coordinates) of `texture`, stretched over `dest`,
/// inside `pieces` only.
fn composite(
    target: &mut PixmanImage<'_, '_>,
    op: Operation,
    texture: &mut CpuTexture,
    source: [f32; 4],
    dest: Rect,
    pieces: &[Rect],
) {
    let (tw, th) = texture.size;
    let format = if texture.xrgb {
        FormatCode::X8R8G8B8
    } else {
        FormatCode::A8R8G8B8
    };
    let Ok(mut image) = PixmanImage::from_slice_mut(
        format,
        tw as usize,
        th as usize,
        &mut texture.pixels,
        tw as usize * 4,
        false,
    ) else {
        return;
    };
    let sx0 = source[0] as f64 * tw as f64;
    let sy0 = source[1] as f64 * th as f64;
    let sw = (source[2] - source[0]) as f64 * tw as f64;
    let sh = (source[3] - source[1]) as f64 * th as f64;
    let (scale_x, scale_y) = (
        sw / dest.width.max(1) as f64,
        sh / dest.height.max(1) as f64,
    );
    let whole_texels = sx0.fract() == 0.0 && sy0.fract() == 0.0;
    if scale_x == 1.0 && scale_y == 1.0 && whole_texels {
        // One texel per pixel: a plain copy or blend, pixman's fastest paths.
        for p in pieces {
            image_composite(
                target,
                op,
                &image,
                (sx0 as i32 + p.x - dest.x, sy0 as i32 + p.y - dest.y),
                p,
            );
        }
        return;
    }
    // Scaled or cropped at fractions: sample the texel under each pixel's centre, as the
    // wgpu renderer's nearest sampler does. pixman samples T * (u + 0.5, v + 0.5) for the
    // pixel (u, v) counted from the draw's corner, and on a texel edge takes the texel
    // before it where a GPU takes the one after: one step of 1/65536 moves it over.
    let fixed = |v: f64| pixman::Fixed::from_raw((v * 65536.0).round() as i32);
    let step = 1.0 / 65536.0;
    let transform = Transform::new([
        [fixed(scale_x), fixed(0.0), fixed(sx0 + step)],
        [fixed(0.0), fixed(scale_y), fixed(sy0 + step)],
        [fixed(0.0), fixed(0.0), fixed(1.0)],
    ]);
    if image.set_transform(transform).is_err() || image.set_filter(Filter::Nearest, &[]).is_err() {
        tracing::error!("pixman refused a scale of {scale_x}x{scale_y}; not drawn");
        return;
    }
    for p in pieces {
        image_composite(target, op, &image, (p.x - dest.x, p.y - dest.y), p);
    }
}

fn image_composite(
    target: &mut PixmanImage<'_, '_>,
    op: Operation,
    image: &PixmanImage<'_, '_>,
    from: (i32, i32),
    piece: &Rect,
) {
    target.composite32(
        op,
        image,
        None,
        from,
        (0, 0),
        (piece.x, piece.y),
        (piece.width as i32, piece.height as i32),
    );
}
