//! The picture: a palette bar and a canvas in one XRGB8888 frame, and the strokes drawn on
//! it, each returning the rectangle it changed.

/// The palette's colours, left to right (0x00RRGGBB).
pub const PALETTE: [u32; 8] = [
    0x000000, 0xff0000, 0x00c000, 0x0000ff, 0xffd000, 0xff00ff, 0x00c0c0, 0xff8000,
];
/// The palette bar's height, and each swatch's width.
pub const PALETTE_HEIGHT: u32 = 40;
const SWATCH: u32 = 40;
const BAR: u32 = 0x404040;
const PAPER: u32 = 0xffffff;
const MARK: u32 = 0xffffff;
/// The brush's radius in pixels.
const BRUSH: i64 = 5;

/// A rectangle of the frame.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Rect {
    pub x: u32,
    pub y: u32,
    pub width: u32,
    pub height: u32,
}

/// The frame and the colour the brush paints with.
#[derive(Debug)]
pub struct Canvas {
    pub width: u32,
    pub height: u32,
    pixels: Vec<u32>,
    colour: usize,
}

impl Canvas {
    pub fn new(width: u32, height: u32) -> Canvas {
        let mut c = Canvas {
            width,
            height,
            pixels: vec![PAPER; width as usize * height as usize],
            colour: 0,
        };
        c.draw_palette();
        c
    }

    pub fn whole(&self) -> Rect {
        Rect {
            x: 0,
            y: 0,
            width: self.width,
            height: self.height,
        }
    }

    /// A new size, keeping what fits of the picture.
    pub fn resize(&mut self, width: u32, height: u32) {
        let mut pixels = vec![PAPER; width as usize * height as usize];
        for y in 0..height.min(self.height) {
            for x in 0..width.min(self.width) {
                pixels[(y * width + x) as usize] = self.pixels[(y * self.width + x) as usize];
            }
        }
        (self.width, self.height, self.pixels) = (width, height, pixels);
        self.draw_palette();
    }

    pub fn clear(&mut self) {
        self.pixels.fill(PAPER);
        self.draw_palette();
    }

    /// Picks the swatch at `x` of the palette bar; the bar's rectangle when that changed
    /// the colour.
    pub fn pick(&mut self, x: f64) -> Option<Rect> {
        let i = (x.max(0.0) as u32 / SWATCH) as usize;
        if i >= PALETTE.len() || i == self.colour {
            return None;
        }
        self.colour = i;
        self.draw_palette();
        Some(Rect {
            x: 0,
            y: 0,
            width: self.width,
            height: PALETTE_HEIGHT.min(self.height),
        })
    }

    /// Paints a line from `from` to `to` with the brush, below the palette bar.
    pub fn stroke(&mut self, from: (f64, f64), to: (f64, f64)) -> Rect {
        let (dx, dy) = (to.0 - from.0, to.1 - from.1);
        let steps = dx.abs().max(dy.abs()).ceil().max(1.0) as i64;
        let colour = PALETTE[self.colour];
        for s in 0..=steps {
            let t = s as f64 / steps as f64;
            let (cx, cy) = (
                (from.0 + dx * t).round() as i64,
                (from.1 + dy * t).round() as i64,
            );
            for y in cy - BRUSH..=cy + BRUSH {
                for x in cx - BRUSH..=cx + BRUSH {
                    let inside = (x - cx).pow(2) + (y - cy).pow(2) <= BRUSH * BRUSH;
                    if inside && self.on_canvas(x, y) {
                        self.pixels[(y as u32 * self.width + x as u32) as usize] = colour;
                    }
                }
            }
        }
        let clamp = |v: i64, max: u32| v.clamp(0, i64::from(max)) as u32;
        let x0 = clamp(from.0.min(to.0) as i64 - BRUSH, self.width);
        let x1 = clamp(from.0.max(to.0) as i64 + BRUSH + 1, self.width);
        let y0 = clamp(from.1.min(to.1) as i64 - BRUSH, self.height).max(PALETTE_HEIGHT);
        let y1 = clamp(from.1.max(to.1) as i64 + BRUSH + 1, self.height);
        Rect {
            x: x0,
            y: y0.min(y1),
            width: x1 - x0,
            height: y1.saturating_sub(y0),
        }
    }

    fn on_canvas(&self, x: i64, y: i64) -> bool {
        x >= 0
            && x < i64::from(self.width)
            && y >= i64::from(PALETTE_HEIGHT)
            && y < i64::from(self.height)
    }

    fn draw_palette(&mut self) {
        for y in 0..PALETTE_HEIGHT.min(self.height) {
            for x in 0..self.width {
                let i = (x / SWATCH) as usize;
                let (sx, sy) = (x % SWATCH, y);
                // Within `margin` of the swatch's edge.
                let edge = |margin: u32| {
                    !(margin..SWATCH - margin).contains(&sx)
                        || !(margin..PALETTE_HEIGHT - margin).contains(&sy)
                };
                let colour = if i >= PALETTE.len() {
                    BAR
                } else if i == self.colour && edge(3) {
                    MARK
                } else if edge(4) {
                    BAR
                } else {
                    PALETTE[i]
                };
                self.pixels[(y * self.width + x) as usize] = colour;
            }
        }
    }

    /// The pixels of `rects`, one after another, row by row, as XRGB8888 little-endian.
    pub fn pixels(&self, rects: &[Rect]) -> Vec<u8> {
        let mut out = Vec::new();
        for r in rects {
            for y in r.y..r.y + r.height {
                let row = (y * self.width) as usize;
                for p in &self.pixels[row + r.x as usize..row + (r.x + r.width) as usize] {
                    out.extend_from_slice(&p.to_le_bytes());
                }
            }
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_stroke_paints_inside_the_rectangle_it_returns() {
        let mut c = Canvas::new(200, 200);
        assert!(c.pick(45.0).is_some());
        let r = c.stroke((100.0, 100.0), (120.0, 110.0));
        assert_eq!(c.pixels[(100 * 200 + 100) as usize], PALETTE[1]);
        assert!(r.x <= 95 && r.x + r.width >= 126 && r.y <= 95 && r.y + r.height >= 116);
        // Not on the palette bar.
        let bar = c.pixels[..(PALETTE_HEIGHT * 200) as usize].to_vec();
        let r = c.stroke((130.0, 10.0), (130.0, 10.0));
        assert!(r.height == 0 || r.y >= PALETTE_HEIGHT);
        assert_eq!(c.pixels[..(PALETTE_HEIGHT * 200) as usize], bar[..]);
    }
}
