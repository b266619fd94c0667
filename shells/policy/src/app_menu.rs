//! The launcher part's app menu: every app the session knows (from desktop entries), a
//! search typed into it, a selection moved by keys or a gamepad, and where it shows: a menu
//! above the task bar's start button on the desktop, a grid over the whole output in the
//! gaming and tablet shells. The compositor reads desktop entries and starts what is chosen.

use bevy_ecs::prelude::Resource;

use crate::definition::Layout;
use crate::policy::Rect;

/// The longest search kept, in characters.
pub const MAX_QUERY: usize = 64;
/// Menu geometry (desktop), in logical pixels.
pub const MENU_WIDTH: u32 = 340;
pub const ROW_HEIGHT: u32 = 36;
pub const SEARCH_HEIGHT: u32 = 40;
/// Rows the desktop menu shows at most.
pub const MENU_ROWS: usize = 10;
/// Grid tiles (gaming, tablet).
pub const TILE: u32 = 140;
const GAP: u32 = 16;

/// An app the menu offers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MenuApp {
    pub name: String,
    /// Desktop entry categories (`Game`, `Utility` ...): games come first in the gaming
    /// shell's grid.
    pub categories: Vec<String>,
}

/// One entry on screen: which app (its index in the menu's list), where, and whether it is
/// the selected one.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MenuItem {
    pub app: usize,
    pub name: String,
    pub rect: Rect,
    pub selected: bool,
}

/// The menu as drawn this frame.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MenuView {
    pub rect: Rect,
    pub search: Rect,
    pub query: String,
    pub items: Vec<MenuItem>,
    /// A grid of tiles (gaming, tablet) rather than rows (desktop).
    pub grid: bool,
}

/// The app menu's state.
#[derive(Resource, Debug, Default)]
pub struct AppMenu {
    apps: Vec<MenuApp>,
    open: bool,
    /// Opened by the shell as its home screen (no app has a window), not by the user.
    home: bool,
    query: String,
    /// Index into `matches()`.
    selected: usize,
}

impl AppMenu {
    pub fn set_apps(&mut self, apps: Vec<MenuApp>) {
        self.apps = apps;
        self.selected = 0;
    }

    pub fn apps(&self) -> &[MenuApp] {
        &self.apps
    }

    pub fn is_open(&self) -> bool {
        self.open
    }

    /// Whether the shell opened it as its home screen.
    pub fn is_home(&self) -> bool {
        self.open && self.home
    }

    /// Opens as the home screen, with an empty search.
    pub fn open_home(&mut self) {
        self.close();
        self.open = true;
        self.home = true;
    }

    /// Opens with an empty search, or closes.
    pub fn toggle(&mut self) {
        if self.open {
            self.close();
        } else {
            self.open = true;
            self.query.clear();
            self.selected = 0;
        }
    }

    pub fn close(&mut self) {
        self.open = false;
        self.home = false;
        self.query.clear();
        self.selected = 0;
    }

    pub fn type_char(&mut self, c: char) {
        if !c.is_control() && self.query.chars().count() < MAX_QUERY {
            self.query.push(c);
            self.selected = 0;
        }
    }

    pub fn backspace(&mut self) {
        self.query.pop();
        self.selected = 0;
    }

    /// Moves the selection by `by` entries, staying on the list.
    pub fn move_selection(&mut self, by: isize) {
        let count = self.matches(Layout::Floating).len();
        if count == 0 {
            return;
        }
        self.selected = self.selected.saturating_add_signed(by).min(count - 1);
    }

    /// The app chosen now (Enter, the gamepad's A): its index in `apps()`.
    pub fn chosen(&self, layout: Layout) -> Option<usize> {
        self.matches(layout).get(self.selected).copied()
    }

    /// Apps whose name contains the search (any case), those starting with it first, then
    /// by name; games first in the gaming shell.
    pub fn matches(&self, layout: Layout) -> Vec<usize> {
        let query = self.query.to_lowercase();
        let mut found: Vec<(bool, bool, String, usize)> = self
            .apps
            .iter()
            .enumerate()
            .filter_map(|(i, app)| {
                let name = app.name.to_lowercase();
                name.contains(&query).then(|| {
                    let game = layout == Layout::FocusedFullscreen
                        && app.categories.iter().any(|c| c == "Game");
                    (!game, !name.starts_with(&query), name, i)
                })
            })
            .collect();
        found.sort();
        found.into_iter().map(|(_, _, _, i)| i).collect()
    }

    /// Where the menu shows on `output` in a shell of `layout`; `bar` is the task bar when
    /// the shell has one. `None` while closed.
    pub fn view(&self, layout: Layout, output: Rect, bar: Option<Rect>) -> Option<MenuView> {
        if !self.open {
            return None;
        }
        let matches = self.matches(layout);
        let selected = self.selected.min(matches.len().saturating_sub(1));
        if layout == Layout::Floating {
            let bottom = bar.map_or(output.y + output.height as i32, |b| b.y);
            let rows = matches.len().clamp(1, MENU_ROWS);
            // The rows around the selection, when there are more than fit.
            let first = selected.saturating_sub(MENU_ROWS - 1);
            let height = (SEARCH_HEIGHT + rows as u32 * ROW_HEIGHT + 8).min(output.height);
            let rect = Rect {
                x: output.x,
                y: bottom - height as i32,
                width: MENU_WIDTH.min(output.width),
                height,
            };
            let search = Rect {
                x: rect.x + 8,
                y: rect.y + 4,
                width: rect.width.saturating_sub(16),
                height: SEARCH_HEIGHT - 8,
            };
            let items = matches
                .iter()
                .enumerate()
                .skip(first)
                .take(MENU_ROWS)
                .map(|(k, &app)| MenuItem {
                    app,
                    name: self.apps[app].name.clone(),
                    rect: Rect {
                        x: rect.x + 4,
                        y: rect.y + (SEARCH_HEIGHT + (k - first) as u32 * ROW_HEIGHT) as i32,
                        width: rect.width.saturating_sub(8),
                        height: ROW_HEIGHT,
                    },
                    selected: k == selected,
                })
                .collect();
            return Some(MenuView {
                rect,
                search,
                query: self.query.clone(),
                items,
                grid: false,
            });
        }
        // A grid over the whole output, the search along its top.
        let columns = ((output.width.saturating_sub(GAP)) / (TILE + GAP)).max(1) as usize;
        let rows = ((output.height.saturating_sub(SEARCH_HEIGHT + 2 * GAP)) / (TILE + GAP)).max(1)
            as usize;
        let per_page = columns * rows;
        let first = selected / per_page * per_page;
        let grid_width = columns as u32 * (TILE + GAP) - GAP;
        let left = output.x + (output.width.saturating_sub(grid_width) / 2) as i32;
        let top = output.y + (SEARCH_HEIGHT + 2 * GAP) as i32;
        let items = matches
            .iter()
            .enumerate()
            .skip(first)
            .take(per_page)
            .map(|(k, &app)| {
                let at = k - first;
                MenuItem {
                    app,
                    name: self.apps[app].name.clone(),
                    rect: Rect {
                        x: left + ((at % columns) as u32 * (TILE + GAP)) as i32,
                        y: top + ((at / columns) as u32 * (TILE + GAP)) as i32,
                        width: TILE,
                        height: TILE,
                    },
                    selected: k == selected,
                }
            })
            .collect();
        Some(MenuView {
            rect: output,
            search: Rect {
                x: left,
                y: output.y + GAP as i32,
                width: grid_width.min(output.width),
                height: SEARCH_HEIGHT,
            },
            query: self.query.clone(),
            items,
            grid: true,
        })
    }

    /// How many entries a step down moves in `layout` on `output`: a row of the grid, or
    /// one line of the menu.
    pub fn row_step(layout: Layout, output: Rect) -> isize {
        if layout == Layout::Floating {
            1
        } else {
            ((output.width.saturating_sub(GAP)) / (TILE + GAP)).max(1) as isize
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const OUTPUT: Rect = Rect {
        x: 0,
        y: 0,
        width: 1280,
        height: 720,
    };

    fn menu(names: &[(&str, &str)]) -> AppMenu {
        let mut m = AppMenu::default();
        m.set_apps(
            names
                .iter()
                .map(|(n, c)| MenuApp {
                    name: n.to_string(),
                    categories: c.split(';').map(String::from).collect(),
                })
                .collect(),
        );
        m
    }

    #[test]
    fn typing_filters_by_name_with_prefixes_first_and_backspace_widens_again() {
        let mut m = menu(&[
            ("Text Editor", "Utility"),
            ("Terminal", "System"),
            ("Breakout", "Game"),
            ("Files", "Utility"),
        ]);
        m.toggle();
        let names = |m: &AppMenu, layout| -> Vec<String> {
            m.matches(layout)
                .into_iter()
                .map(|i| m.apps()[i].name.clone())
                .collect()
        };
        assert_eq!(
            names(&m, Layout::Floating),
            ["Breakout", "Files", "Terminal", "Text Editor"]
        );
        for c in "TE".chars() {
            m.type_char(c);
        }
        // "te" starts Terminal and Text Editor; no other name has it.
        assert_eq!(names(&m, Layout::Floating), ["Terminal", "Text Editor"]);
        m.type_char('x');
        assert_eq!(names(&m, Layout::Floating), ["Text Editor"]);
        m.backspace();
        m.backspace();
        m.type_char('i');
        // "ti": only inside names here.
        assert_eq!(names(&m, Layout::Floating), Vec::<String>::new());
        assert_eq!(m.chosen(Layout::Floating), None);
        m.backspace();
        m.backspace();
        // Games first in the gaming shell.
        assert_eq!(names(&m, Layout::FocusedFullscreen)[0], "Breakout");
    }

    #[test]
    fn the_selection_moves_within_the_list_and_the_view_follows_it() {
        let apps: Vec<(String, &str)> = (0..30).map(|i| (format!("App {i:02}"), "")).collect();
        let mut m = menu(
            &apps
                .iter()
                .map(|(n, c)| (n.as_str(), *c))
                .collect::<Vec<_>>(),
        );
        assert!(m.view(Layout::Floating, OUTPUT, None).is_none());
        m.toggle();
        m.move_selection(-3);
        assert_eq!(m.chosen(Layout::Floating), Some(0));
        m.move_selection(12);
        assert_eq!(m.chosen(Layout::Floating), Some(12));
        let bar = Rect {
            x: 0,
            y: 680,
            width: 1280,
            height: 40,
        };
        let view = m.view(Layout::Floating, OUTPUT, Some(bar)).unwrap();
        assert_eq!(view.items.len(), MENU_ROWS);
        assert!(view.items.iter().any(|i| i.selected && i.name == "App 12"));
        assert_eq!(
            view.rect.y + view.rect.height as i32,
            680,
            "on the task bar"
        );
        assert!(view.items.iter().all(|i| view.rect.contains(&i.rect)));
        m.move_selection(100);
        assert_eq!(m.chosen(Layout::Floating), Some(29));
        // The grid pages to the selection, tiles inside the output, none overlapping.
        let grid = m.view(Layout::MaximizedStack, OUTPUT, None).unwrap();
        assert!(grid.grid);
        assert!(grid.items.iter().any(|i| i.selected && i.name == "App 29"));
        for (k, a) in grid.items.iter().enumerate() {
            assert!(OUTPUT.contains(&a.rect));
            for b in &grid.items[k + 1..] {
                let apart = a.rect.x + a.rect.width as i32 <= b.rect.x
                    || b.rect.x + b.rect.width as i32 <= a.rect.x
                    || a.rect.y + a.rect.height as i32 <= b.rect.y
                    || b.rect.y + b.rect.height as i32 <= a.rect.y;
                assert!(apart, "{a:?} {b:?}");
            }
        }
        m.toggle();
        assert!(!m.is_open());
    }

    #[test]
    fn a_long_or_odd_search_is_bounded() {
        let mut m = menu(&[("A", "")]);
        m.toggle();
        for _ in 0..1000 {
            m.type_char('ä');
        }
        m.type_char('\n');
        assert_eq!(
            m.view(Layout::Floating, OUTPUT, None)
                .unwrap()
                .query
                .chars()
                .count(),
            MAX_QUERY
        );
        assert!(
            m.view(Layout::Floating, OUTPUT, None)
                .unwrap()
                .items
                .is_empty()
        );
    }
}
