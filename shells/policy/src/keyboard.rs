//! The tablet shell's on-screen keyboard: which keys it has and where they sit in the
//! keyboard area. A tap sends the key's evdev code through the seat's keyboard, so it
//! reaches every client the way a hardware key does (GTK, Qt, foot, X11 apps alike);
//! Shift latches for the next key.

use crate::policy::Rect;

/// evdev codes of the keys that are not characters.
pub const BACKSPACE: u32 = 14;
pub const ENTER: u32 = 28;
pub const SHIFT: u32 = 42;
pub const SPACE: u32 = 57;

/// One key on screen.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Key {
    pub rect: Rect,
    pub label: &'static str,
    /// evdev key code (linux/input-event-codes.h).
    pub code: u32,
}

/// Rows of (label, evdev code, width in key units), US layout.
const ROWS: [&[(&str, u32, u32)]; 5] = [
    &[
        ("1", 2, 2),
        ("2", 3, 2),
        ("3", 4, 2),
        ("4", 5, 2),
        ("5", 6, 2),
        ("6", 7, 2),
        ("7", 8, 2),
        ("8", 9, 2),
        ("9", 10, 2),
        ("0", 11, 2),
        ("Bksp", BACKSPACE, 3),
    ],
    &[
        ("q", 16, 2),
        ("w", 17, 2),
        ("e", 18, 2),
        ("r", 19, 2),
        ("t", 20, 2),
        ("y", 21, 2),
        ("u", 22, 2),
        ("i", 23, 2),
        ("o", 24, 2),
        ("p", 25, 2),
        ("-", 12, 3),
    ],
    &[
        ("a", 30, 2),
        ("s", 31, 2),
        ("d", 32, 2),
        ("f", 33, 2),
        ("g", 34, 2),
        ("h", 35, 2),
        ("j", 36, 2),
        ("k", 37, 2),
        ("l", 38, 2),
        ("Enter", ENTER, 5),
    ],
    &[
        ("Shift", SHIFT, 3),
        ("z", 44, 2),
        ("x", 45, 2),
        ("c", 46, 2),
        ("v", 47, 2),
        ("b", 48, 2),
        ("n", 49, 2),
        ("m", 50, 2),
        (",", 51, 2),
        (".", 52, 2),
        ("/", 53, 2),
    ],
    &[("space", SPACE, 23)],
];

/// Gap between keys, in pixels.
const GAP: u32 = 4;

/// The keys laid out in `area` (the keyboard part of the tablet shell), row by row.
pub fn keys(area: Rect) -> Vec<Key> {
    let rows = ROWS.len() as u32;
    let row_height = (area.height.saturating_sub(GAP) / rows).max(1);
    let units = ROWS
        .iter()
        .map(|r| r.iter().map(|k| k.2).sum::<u32>())
        .max()
        .unwrap_or(1);
    let unit = (area.width.saturating_sub(GAP) / units).max(1);
    let mut out = Vec::new();
    for (i, row) in ROWS.iter().enumerate() {
        let row_units: u32 = row.iter().map(|k| k.2).sum();
        // Rows narrower than the widest are centred.
        let mut x = area.x + GAP as i32 + ((units - row_units) * unit / 2) as i32;
        let y = area.y + GAP as i32 + (i as u32 * row_height) as i32;
        for &(label, code, width) in row.iter() {
            let w = width * unit;
            out.push(Key {
                rect: Rect {
                    x,
                    y,
                    width: w.saturating_sub(GAP).max(1),
                    height: row_height.saturating_sub(GAP).max(1),
                },
                label,
                code,
            });
            x += w as i32;
        }
    }
    out
}

/// The key at (x, y), if any.
pub fn key_at(area: Rect, x: f64, y: f64) -> Option<Key> {
    keys(area).into_iter().find(|k| {
        let r = k.rect;
        x >= r.x as f64
            && y >= r.y as f64
            && x < (r.x + r.width as i32) as f64
            && y < (r.y + r.height as i32) as f64
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_stay_inside_the_area_and_never_overlap() {
        for (w, h) in [(1280, 252), (800, 168), (320, 100), (40, 20)] {
            let area = Rect {
                x: 0,
                y: 500,
                width: w,
                height: h,
            };
            let keys = keys(area);
            assert_eq!(keys.len(), ROWS.iter().map(|r| r.len()).sum::<usize>());
            for (i, a) in keys.iter().enumerate() {
                assert!(area.contains(&a.rect), "{a:?} outside {area:?}");
                for b in &keys[i + 1..] {
                    let apart = a.rect.x + a.rect.width as i32 <= b.rect.x
                        || b.rect.x + b.rect.width as i32 <= a.rect.x
                        || a.rect.y + a.rect.height as i32 <= b.rect.y
                        || b.rect.y + b.rect.height as i32 <= a.rect.y;
                    assert!(apart, "{a:?} overlaps {b:?}");
                }
            }
        }
    }

    #[test]
    fn a_tap_finds_the_key_under_it() {
        let area = Rect {
            x: 0,
            y: 400,
            width: 1280,
            height: 280,
        };
        for k in keys(area) {
            let centre = (
                k.rect.x as f64 + k.rect.width as f64 / 2.0,
                k.rect.y as f64 + k.rect.height as f64 / 2.0,
            );
            assert_eq!(
                key_at(area, centre.0, centre.1).map(|f| f.code),
                Some(k.code)
            );
        }
        assert_eq!(key_at(area, 1.0, 401.0), None, "the gap at the corner");
    }
}
