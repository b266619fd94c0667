//! The desktop's window switcher (Alt+Tab): while Alt is held, a list of the windows, most
//! recently used first, with a selection that Tab moves on and Shift+Tab back; releasing Alt
//! focuses the selected window (restoring it if it was minimized).

use bevy_ecs::prelude::Resource;

use crate::policy::{Rect, WindowId};

/// Switcher geometry, in logical pixels.
pub const ROW_HEIGHT: u32 = 32;
pub const WIDTH: u32 = 420;
/// Rows shown at most (the selection stays in view).
pub const ROWS: usize = 12;

/// The switcher as drawn this frame.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SwitcherView {
    pub rect: Rect,
    /// Title, row and whether it is selected, top down.
    pub rows: Vec<(String, Rect, bool)>,
}

#[derive(Resource, Debug, Default)]
pub struct Switcher {
    /// Windows, most recently used first, while open.
    order: Vec<WindowId>,
    selected: usize,
}

impl Switcher {
    pub fn is_open(&self) -> bool {
        !self.order.is_empty()
    }

    /// Opens over `mru` (most recently used first) with the second selected (Alt+Tab goes
    /// back to the window used before); with fewer than two windows it stays closed.
    pub fn open(&mut self, mru: Vec<WindowId>) {
        if mru.len() < 2 {
            self.order.clear();
            return;
        }
        self.order = mru;
        self.selected = 1;
    }

    /// Tab (forward) or Shift+Tab (back), wrapping around.
    pub fn step(&mut self, back: bool) {
        let n = self.order.len();
        if n == 0 {
            return;
        }
        self.selected = if back {
            (self.selected + n - 1) % n
        } else {
            (self.selected + 1) % n
        };
    }

    /// Alt released: the window to focus; the switcher closes.
    pub fn finish(&mut self) -> Option<WindowId> {
        let chosen = self.order.get(self.selected).copied();
        self.order.clear();
        chosen
    }

    /// A window went away while the switcher was open.
    pub fn forget(&mut self, id: WindowId) {
        if let Some(i) = self.order.iter().position(|w| *w == id) {
            self.order.remove(i);
            if self.order.len() < 2 {
                self.order.clear();
            } else if self.selected >= i && self.selected > 0 {
                self.selected -= 1;
            }
        }
    }

    /// Centred on `area`, with each window's title from `title`.
    pub fn view(&self, area: Rect, title: impl Fn(WindowId) -> String) -> Option<SwitcherView> {
        if !self.is_open() {
            return None;
        }
        let first = self.selected.saturating_sub(ROWS - 1);
        let shown: Vec<_> = self
            .order
            .iter()
            .enumerate()
            .skip(first)
            .take(ROWS)
            .collect();
        let width = WIDTH.min(area.width);
        let height = (shown.len() as u32 * ROW_HEIGHT + 16).min(area.height);
        let rect = Rect {
            x: area.x + (area.width - width) as i32 / 2,
            y: area.y + (area.height - height) as i32 / 2,
            width,
            height,
        };
        let rows = shown
            .into_iter()
            .enumerate()
            .map(|(row, (i, id))| {
                (
                    title(*id),
                    Rect {
                        x: rect.x + 8,
                        y: rect.y + 8 + (row as u32 * ROW_HEIGHT) as i32,
                        width: width.saturating_sub(16),
                        height: ROW_HEIGHT,
                    },
                    i == self.selected,
                )
            })
            .collect();
        Some(SwitcherView { rect, rows })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn alt_tab_selects_the_previous_window_and_tab_walks_on_around() {
        let mut s = Switcher::default();
        s.open(vec![7]);
        assert!(!s.is_open(), "one window: nothing to switch to");
        s.open(vec![3, 2, 1]);
        assert_eq!(s.finish(), Some(2));
        s.open(vec![3, 2, 1]);
        s.step(false);
        s.step(false);
        assert_eq!(s.finish(), Some(3), "around to the current one");
        s.open(vec![3, 2, 1]);
        s.step(true);
        s.step(true);
        assert_eq!(s.finish(), Some(1));
        s.open(vec![3, 2, 1]);
        s.forget(2);
        assert_eq!(s.finish(), Some(3));
        assert!(!s.is_open());
        let area = Rect {
            x: 0,
            y: 0,
            width: 800,
            height: 600,
        };
        let many: Vec<WindowId> = (0..40).collect();
        s.open(many);
        for _ in 0..30 {
            s.step(false);
        }
        let view = s.view(area, |id| format!("w{id}")).unwrap();
        assert_eq!(view.rows.len(), ROWS);
        assert!(view.rows.iter().any(|(t, _, sel)| *sel && t == "w31"));
        assert!(view.rows.iter().all(|(_, r, _)| view.rect.contains(r)));
    }
}
