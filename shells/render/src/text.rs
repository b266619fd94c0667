//! Text for the shell's own chrome (window titles in title bars and the task bar):
//! rasterized on the CPU with ab_glyph into premultiplied BGRA pixels the renderer
//! uploads like any client buffer. The font is the system's DejaVu Sans (Debian package
//! fonts-dejavu-core); without it the chrome simply has no text.

use std::path::Path;

use ab_glyph::{Font, FontVec, PxScale, ScaleFont, point};

/// Where fonts are looked for, first found wins.
const FONTS: &[&str] = &[
    "/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf",
    "/usr/share/fonts/TTF/DejaVuSans.ttf",
    "/usr/share/fonts/dejavu/DejaVuSans.ttf",
];

/// A line of text as pixels: `width` x `height`, B G R A premultiplied, tightly packed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Line {
    pub width: u32,
    pub height: u32,
    pub bgra: Vec<u8>,
}

/// The chrome's font, if the system has one.
pub struct Text {
    font: Option<FontVec>,
}

impl std::fmt::Debug for Text {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Text")
            .field("font", &self.font.is_some())
            .finish()
    }
}

impl Text {
    /// Loads the first font of `FONTS` that exists.
    pub fn system() -> Self {
        let font = FONTS.iter().find_map(|p| Self::load(Path::new(p)));
        if font.is_none() {
            tracing::info!(
                "no chrome font (install fonts-dejavu-core); title bars will have no text"
            );
        }
        Self { font }
    }

    fn load(path: &Path) -> Option<FontVec> {
        let bytes = std::fs::read(path).ok()?;
        FontVec::try_from_vec(bytes).ok()
    }

    pub fn has_font(&self) -> bool {
        self.font.is_some()
    }

    /// `text` in `color` (RGBA, straight alpha) at `size` pixels, cut at `max_width`
    /// with an ellipsis. `None` without a font, for empty text or no room.
    pub fn line(&self, text: &str, size: f32, color: [u8; 4], max_width: u32) -> Option<Line> {
        let font = self.font.as_ref()?;
        if text.is_empty() || max_width == 0 {
            return None;
        }
        let scaled = font.as_scaled(PxScale::from(size));
        let ascent = scaled.ascent();
        let height = (ascent - scaled.descent()).ceil().max(1.0) as u32;
        // Lay out, stopping where the ellipsis must start.
        let ellipsis = '…';
        let ellipsis_width = scaled.h_advance(font.glyph_id(ellipsis));
        let mut glyphs = Vec::new();
        let mut x = 0.0f32;
        let mut previous = None;
        let chars: Vec<char> = text.chars().collect();
        for (i, c) in chars.iter().enumerate() {
            let id = font.glyph_id(*c);
            if let Some(p) = previous {
                x += scaled.kern(p, id);
            }
            let advance = scaled.h_advance(id);
            let last = i + 1 == chars.len();
            let room = if last {
                max_width as f32
            } else {
                max_width as f32 - ellipsis_width
            };
            if x + advance > room {
                glyphs.push(
                    font.glyph_id(ellipsis)
                        .with_scale_and_position(size, point(x, ascent)),
                );
                x += ellipsis_width;
                break;
            }
            glyphs.push(id.with_scale_and_position(size, point(x, ascent)));
            x += advance;
            previous = Some(id);
        }
        let width = (x.ceil() as u32).clamp(1, max_width);
        let mut coverage = vec![0f32; (width * height) as usize];
        for glyph in glyphs {
            let Some(outline) = font.outline_glyph(glyph) else {
                continue;
            };
            let bounds = outline.px_bounds();
            outline.draw(|gx, gy, c| {
                let px = bounds.min.x as i32 + gx as i32;
                let py = bounds.min.y as i32 + gy as i32;
                if px >= 0 && py >= 0 && (px as u32) < width && (py as u32) < height {
                    let i = (py as u32 * width + px as u32) as usize;
                    coverage[i] = (coverage[i] + c).min(1.0);
                }
            });
        }
        let mut bgra = Vec::with_capacity(coverage.len() * 4);
        for c in coverage {
            let a = c * color[3] as f32 / 255.0;
            let channel = |v: u8| (v as f32 * a).round() as u8;
            bgra.extend_from_slice(&[
                channel(color[2]),
                channel(color[1]),
                channel(color[0]),
                (a * 255.0).round() as u8,
            ]);
        }
        Some(Line {
            width,
            height,
            bgra,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_line_has_ink_and_long_lines_are_cut() {
        let text = Text::system();
        if !text.has_font() {
            panic!("fonts-dejavu-core is installed by scripts/setup");
        }
        let line = text
            .line("Terminal", 14.0, [255, 255, 255, 255], 400)
            .unwrap();
        assert!(
            line.height >= 14 && line.width > 30 && line.width < 100,
            "{}x{}",
            line.width,
            line.height
        );
        let max = line.bgra.chunks(4).map(|p| p[3]).max().unwrap_or(0);
        assert!(max > 200, "solid ink somewhere (max alpha {max})");
        assert!(line.bgra.chunks(4).any(|p| p[3] == 0), "and background");
        let long = "A very long window title that cannot fit in a narrow bar".repeat(3);
        let cut = text.line(&long, 14.0, [255, 255, 255, 255], 120).unwrap();
        assert!(cut.width <= 120);
        assert_eq!(text.line("", 14.0, [255; 4], 100), None);
    }
}
