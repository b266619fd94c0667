//! The pointer's cursor where the compositor owns the screen: the surface a client set
//! (wl_pointer.set_cursor, at its hotspot), or the shell's arrow for a cursor-shape-v1
//! shape or when no client set one (there is no cursor theme to draw named shapes from).
//! Nested windows show the host's cursor and headless outputs none, unless asked to.

use smithay::input::pointer::{CursorImageStatus, CursorImageSurfaceData};
use smithay::wayland::compositor::with_states;

use super::State;
use crate::render::{Draw, Fill, Pixels, TextureKey};

/// The arrow's texture key, apart from client surfaces' and text's.
const ARROW_KEY: TextureKey = 1 << 61;

/// A classic arrow, its tip at (0, 0): `X` black outline, `.` white, space clear.
const ARROW: [&str; 19] = [
    "X           ",
    "XX          ",
    "X.X         ",
    "X..X        ",
    "X...X       ",
    "X....X      ",
    "X.....X     ",
    "X......X    ",
    "X.......X   ",
    "X........X  ",
    "X.........X ",
    "X......XXXXX",
    "X...X..X    ",
    "X..XX..X    ",
    "X.X  X..X   ",
    "XX   X..X   ",
    "X     X..X  ",
    "      X..X  ",
    "       XX   ",
];

/// The arrow's colour at (x, y) from its tip, premultiplied BGRA; `None` where clear.
pub fn arrow_pixel(x: usize, y: usize) -> Option<[u8; 4]> {
    match ARROW.get(y)?.as_bytes().get(x)? {
        b'X' => Some([0, 0, 0, 255]),
        b'.' => Some([255, 255, 255, 255]),
        _ => None,
    }
}

impl State {
    /// Uploads the arrow once, at start.
    pub(super) fn upload_arrow(&mut self) {
        let (width, height) = (ARROW[0].len(), ARROW.len());
        let mut bgra = Vec::with_capacity(width * height * 4);
        for y in 0..height {
            for x in 0..width {
                bgra.extend(arrow_pixel(x, y).unwrap_or([0; 4]));
            }
        }
        self.backend.renderer_mut().upload(
            ARROW_KEY,
            Pixels {
                data: &bgra,
                offset: 0,
                width: width as u32,
                height: height as u32,
                stride: width as u32 * 4,
                opaque: false,
            },
            &[],
        );
    }

    /// What the cursor adds to a frame, on top of everything: nothing until a pointer
    /// moved (a touch screen shows none).
    pub(super) fn cursor_draws(&self) -> Vec<Draw> {
        if !self.draw_cursor || !self.pointer_moved {
            return Vec::new();
        }
        let (x, y) = self.pointer_position();
        let at = (x.round() as i32, y.round() as i32);
        // Over the shell's own parts (no client under the pointer): the arrow.
        let over_client = self
            .seat
            .get_pointer()
            .is_some_and(|p| p.current_focus().is_some());
        let arrow = CursorImageStatus::default_named();
        let image = if over_client {
            &self.toolkits.cursor
        } else {
            &arrow
        };
        match image {
            CursorImageStatus::Hidden => Vec::new(),
            CursorImageStatus::Surface(surface) => {
                let hotspot = with_states(surface, |s| {
                    s.data_map
                        .get::<CursorImageSurfaceData>()
                        .and_then(|d| d.lock().ok().map(|d| d.hotspot))
                        .unwrap_or_default()
                });
                let mut draws = Vec::new();
                super::scene::surface_tree(
                    surface,
                    (at.0 - hotspot.x, at.1 - hotspot.y),
                    &mut draws,
                );
                draws
            }
            CursorImageStatus::Named(_) => vec![Draw {
                rect: crate::policy::Rect {
                    x: at.0,
                    y: at.1,
                    width: ARROW[0].len() as u32,
                    height: ARROW.len() as u32,
                },
                fill: Fill::Texture {
                    key: ARROW_KEY,
                    source: [0.0, 0.0, 1.0, 1.0],
                },
            }],
        }
    }
}
