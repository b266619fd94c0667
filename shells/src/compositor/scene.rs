//! From Wayland surfaces to the renderer: each commit uploads the damaged part of a shm
//! buffer into the surface's texture (then releases the buffer), and each frame lists
//! what to draw, back to front: background and bottom layers, windows by stacking order
//! (title bar, surface and subsurfaces, popups), shell chrome, top and overlay layers.

#![allow(unsafe_code)] // reading a client's shm pool goes through a raw pointer.

use std::sync::Mutex;

use smithay::backend::allocator::Buffer;
use smithay::desktop::{PopupManager, layer_map_for_output};
use smithay::reexports::wayland_server::protocol::{wl_shm, wl_surface::WlSurface};
use smithay::wayland::compositor::{
    BufferAssignment, Damage, SubsurfaceCachedState, SurfaceAttributes, SurfaceData,
    TraversalAction, with_states, with_surface_tree_downward, with_surface_tree_upward,
};
use smithay::wayland::dmabuf::get_dmabuf;
use smithay::wayland::presentation::PresentationFeedbackCachedState;
use smithay::wayland::shell::wlr_layer::Layer;
use smithay::wayland::shell::xdg::SurfaceCachedState;
use smithay::wayland::shm::with_buffer_contents;
use smithay::wayland::viewporter::ViewportCachedState;

use super::State;
use crate::policy::{Chrome, Rect};
use crate::render::{Draw, Fill, Pixels, TextureKey};

/// Colours of what the shell draws itself, premultiplied RGBA.
pub mod colors {
    /// Behind every window: a dark grey.
    pub const BACKGROUND: [f32; 4] = [0.11, 0.12, 0.14, 1.0];
    pub const TITLE_FOCUSED: [f32; 4] = [0.23, 0.43, 0.65, 1.0];
    pub const TITLE_UNFOCUSED: [f32; 4] = [0.33, 0.33, 0.35, 1.0];
    pub const CLOSE_BUTTON: [f32; 4] = [0.75, 0.25, 0.25, 1.0];
    pub const TASKBAR: [f32; 4] = [0.07, 0.07, 0.08, 1.0];
    /// A task bar button that starts an app.
    pub const LAUNCHER: [f32; 4] = [0.16, 0.45, 0.30, 1.0];
    pub const TASK_FOCUSED: [f32; 4] = [0.30, 0.50, 0.75, 1.0];
    pub const TASK: [f32; 4] = [0.20, 0.20, 0.22, 1.0];
    /// A minimized window's task bar entry.
    pub const TASK_MINIMIZED: [f32; 4] = [0.12, 0.12, 0.13, 1.0];
    /// Title bar buttons (maximize, minimize) and the marks on them.
    pub const WINDOW_BUTTON: [f32; 4] = [0.40, 0.40, 0.43, 1.0];
    pub const TEXT_MARK: [f32; 4] = [1.0, 1.0, 1.0, 1.0];
    /// Black at 60 %.
    pub const OVERLAY: [f32; 4] = [0.0, 0.0, 0.0, 0.6];
    pub const KEYBOARD: [f32; 4] = [0.18, 0.18, 0.20, 1.0];
    /// A key of the on-screen keyboard, and Shift while it is latched.
    pub const KEY: [f32; 4] = [0.30, 0.30, 0.33, 1.0];
    pub const KEY_LATCHED: [f32; 4] = [0.30, 0.50, 0.75, 1.0];
    /// White at 20 %.
    pub const EDGE: [f32; 4] = [0.2, 0.2, 0.2, 0.2];
    /// A notification's popup, a critical one's edge, and its action buttons.
    pub const NOTIFICATION: [f32; 4] = [0.15, 0.16, 0.19, 1.0];
    pub const NOTIFICATION_CRITICAL: [f32; 4] = [0.75, 0.25, 0.25, 1.0];
    pub const ACTION: [f32; 4] = [0.26, 0.28, 0.33, 1.0];
    /// The launcher's start button, its menu (or grid backdrop), search field and the
    /// selected entry.
    pub const START: [f32; 4] = [0.23, 0.43, 0.65, 1.0];
    pub const MENU: [f32; 4] = [0.13, 0.14, 0.16, 1.0];
    /// The grid's backdrop: black at 85 %.
    pub const GRID: [f32; 4] = [0.0, 0.0, 0.0, 0.85];
    pub const SEARCH: [f32; 4] = [0.07, 0.07, 0.08, 1.0];
    pub const SELECTED: [f32; 4] = [0.30, 0.50, 0.75, 1.0];
    /// Behind the lock screen: no app shows.
    pub const LOCK: [f32; 4] = [0.05, 0.06, 0.09, 1.0];
    /// Letter tiles of apps without an icon, chosen by the app's name.
    pub const TILES: [[f32; 4]; 6] = [
        [0.80, 0.36, 0.24, 1.0],
        [0.24, 0.60, 0.40, 1.0],
        [0.30, 0.45, 0.80, 1.0],
        [0.62, 0.36, 0.70, 1.0],
        [0.80, 0.62, 0.20, 1.0],
        [0.25, 0.60, 0.65, 1.0],
    ];

    /// The 8-bit RGBA a colour comes out as on an opaque frame.
    pub fn rgba8(c: [f32; 4]) -> [u8; 4] {
        c.map(|v| (v * 255.0).round() as u8)
    }
}

use colors::*;

/// Text sizes of the chrome, in logical pixels.
const TITLE_TEXT: f32 = 14.0;
const TASK_TEXT: f32 = 13.0;
const SUMMARY_TEXT: f32 = 15.0;
/// Text of the chrome: white.
const TEXT_COLOR: [u8; 4] = [255, 255, 255, 255];
/// Text textures unused for this many frames are dropped.
const TEXT_KEEP_FRAMES: u64 = 120;
/// Text textures have keys of their own, apart from client surfaces'.
const TEXT_KEYS: u64 = 1 << 62;

/// Rasterized lines of chrome text, by content.
#[derive(Debug, Default)]
pub(super) struct TextCache {
    lines: std::collections::HashMap<(String, u32, u32), CachedLine>,
    next: u64,
}

#[derive(Debug)]
struct CachedLine {
    key: TextureKey,
    size: (u32, u32),
    used: u64,
}

impl State {
    /// A line of chrome text in `area` (rasterized and uploaded on first use).
    fn text_draw(&mut self, area: Rect, text: &str, size: f32) -> Option<Draw> {
        let id = (text.to_string(), area.width, size.to_bits());
        let frame = self.text_frame;
        if !self.text_cache.lines.contains_key(&id) {
            let line = self.text.line(text, size, TEXT_COLOR, area.width)?;
            let key = TEXT_KEYS + self.text_cache.next;
            self.text_cache.next += 1;
            self.backend.renderer_mut().upload(
                key,
                Pixels {
                    data: &line.bgra,
                    offset: 0,
                    width: line.width,
                    height: line.height,
                    stride: line.width * 4,
                    opaque: false,
                },
                &[],
            );
            self.text_cache.lines.insert(
                id.clone(),
                CachedLine {
                    key,
                    size: (line.width, line.height),
                    used: frame,
                },
            );
        }
        let line = self.text_cache.lines.get_mut(&id)?;
        line.used = frame;
        Some(Draw {
            rect: Rect {
                x: area.x,
                y: area.y + (area.height as i32 - line.size.1 as i32) / 2,
                width: line.size.0,
                height: line.size.1,
            },
            fill: Fill::Texture {
                key: line.key,
                source: [0.0, 0.0, 1.0, 1.0],
            },
        })
    }

    /// Drops text no frame has shown for a while.
    pub(super) fn evict_text(&mut self) {
        let frame = self.text_frame;
        let renderer = self.backend.renderer_mut();
        self.text_cache.lines.retain(|_, line| {
            let keep = frame.saturating_sub(line.used) < TEXT_KEEP_FRAMES;
            if !keep {
                renderer.forget(line.key);
            }
            keep
        });
    }
}

/// What the renderer needs to know of one surface.
#[derive(Debug, Default)]
struct SurfaceView {
    key: TextureKey,
    /// Size on the output in logical pixels; `None` while no buffer is attached.
    size: Option<(u32, u32)>,
    /// The part of the buffer shown (viewporter crop), in texture coordinates.
    source: [f32; 4],
}

fn view_key(state: &mut State, surface: &WlSurface) -> TextureKey {
    with_states(surface, |s| {
        s.data_map.insert_if_missing_threadsafe(|| {
            let key = state.next_key;
            state.next_key += 1;
            Mutex::new(SurfaceView {
                key,
                size: None,
                source: [0.0, 0.0, 1.0, 1.0],
            })
        });
        s.data_map
            .get::<Mutex<SurfaceView>>()
            .and_then(|v| v.lock().ok().map(|v| v.key))
            .unwrap_or(0)
    })
}

/// Whether the commit being handled attached a new buffer.
pub(super) fn has_new_buffer(surface: &WlSurface) -> bool {
    with_states(surface, |s| {
        matches!(
            s.cached_state.get::<SurfaceAttributes>().current().buffer,
            Some(BufferAssignment::NewBuffer(_))
        )
    })
}

/// Takes what a commit carries (buffer, damage, frame callbacks, presentation feedback),
/// uploads the buffer and releases it. Returns the buffer's size if one was attached.
pub(super) fn commit(state: &mut State, surface: &WlSurface) -> Option<(i32, i32)> {
    let key = view_key(state, surface);
    let (assignment, damage, scale, viewport, callbacks, feedback) = with_states(surface, |s| {
        let mut attributes = s.cached_state.get::<SurfaceAttributes>();
        let a = attributes.current();
        let taken = (
            a.buffer.take(),
            std::mem::take(&mut a.damage),
            a.buffer_scale.max(1),
            std::mem::take(&mut a.frame_callbacks),
        );
        let viewport = {
            let mut v = s.cached_state.get::<ViewportCachedState>();
            let v = v.current();
            (v.src, v.dst)
        };
        let feedback = std::mem::take(
            &mut s
                .cached_state
                .get::<PresentationFeedbackCachedState>()
                .current()
                .callbacks,
        );
        (taken.0, taken.1, taken.2, viewport, taken.3, feedback)
    });
    state
        .pending_frames
        .entry(surface.clone())
        .or_default()
        .extend(callbacks);
    state.pending_feedback.extend(feedback);

    let mut committed = None;
    match assignment {
        Some(BufferAssignment::NewBuffer(buffer)) => {
            let renderer = state.backend.renderer_mut();
            let rects = buffer_damage(&damage, scale, viewport.0.is_some());
            let uploaded = if let Ok(dmabuf) = get_dmabuf(&buffer) {
                let size = (dmabuf.width() as i32, dmabuf.height() as i32);
                super::dmabuf::with_pixels(dmabuf, |pixels| renderer.upload(key, pixels, &rects))
                    .map(|shown| (size.0, size.1, shown))
            } else {
                with_buffer_contents(&buffer, |ptr, len, data| {
                    // SAFETY: smithay keeps the pool mapped for the duration of this
                    // callback; the slice does not outlive it. A client scribbling on its
                    // own buffer meanwhile can only tear its own pixels.
                    let pool = unsafe { std::slice::from_raw_parts(ptr, len) };
                    let pixels = Pixels {
                        data: pool,
                        offset: data.offset.max(0) as usize,
                        width: data.width.max(0) as u32,
                        height: data.height.max(0) as u32,
                        stride: data.stride.max(0) as u32,
                        opaque: data.format == wl_shm::Format::Xrgb8888,
                    };
                    let shown = renderer.upload(key, pixels, &rects);
                    (data.width, data.height, shown)
                })
                .map_err(|e| format!("neither shm nor dma-buf: {e:?}"))
            };
            buffer.release();
            match uploaded {
                Ok((_, _, false)) => clear_view(surface),
                Ok((width, height, true)) => {
                    committed = Some((width, height));
                    set_view(surface, (width, height), scale, viewport);
                }
                Err(e) => tracing::debug!("buffer not shown: {e}"),
            }
        }
        Some(BufferAssignment::Removed) => {
            state.backend.renderer_mut().forget(key);
            clear_view(surface);
        }
        // No new buffer: the surface keeps its size (a viewport change without a new
        // buffer is applied with the next buffer).
        None => {}
    }
    committed
}

/// The surface shows nothing (no buffer, or one that cannot be shown).
fn clear_view(surface: &WlSurface) {
    with_states(surface, |s| {
        if let Some(mut v) = s
            .data_map
            .get::<Mutex<SurfaceView>>()
            .and_then(|v| v.lock().ok())
        {
            v.size = None;
        }
    });
}

/// Damage in buffer coordinates; empty means "everything".
fn buffer_damage(damage: &[Damage], scale: i32, cropped: bool) -> Vec<Rect> {
    if cropped || damage.len() > 16 {
        return Vec::new();
    }
    let rect = |x: i32, y: i32, w: i32, h: i32| Rect {
        x: x.max(0),
        y: y.max(0),
        width: w.max(0) as u32,
        height: h.max(0) as u32,
    };
    damage
        .iter()
        .map(|d| match d {
            Damage::Buffer(r) => rect(r.loc.x, r.loc.y, r.size.w, r.size.h),
            Damage::Surface(r) => rect(
                r.loc.x.saturating_mul(scale),
                r.loc.y.saturating_mul(scale),
                r.size.w.saturating_mul(scale),
                r.size.h.saturating_mul(scale),
            ),
        })
        .collect()
}

type Viewport = (
    Option<smithay::utils::Rectangle<f64, smithay::utils::Logical>>,
    Option<smithay::utils::Size<i32, smithay::utils::Logical>>,
);

/// Records a surface's size on the output and its crop, from its buffer, scale and
/// viewport.
fn set_view(surface: &WlSurface, buffer: (i32, i32), scale: i32, viewport: Viewport) {
    let logical = (
        (buffer.0 / scale).max(1) as f64,
        (buffer.1 / scale).max(1) as f64,
    );
    let (src, dst) = viewport;
    let source = match src {
        Some(r) => [
            (r.loc.x / logical.0) as f32,
            (r.loc.y / logical.1) as f32,
            ((r.loc.x + r.size.w) / logical.0) as f32,
            ((r.loc.y + r.size.h) / logical.1) as f32,
        ],
        None => [0.0, 0.0, 1.0, 1.0],
    };
    let size = match (dst, src) {
        (Some(d), _) => (d.w.max(1) as u32, d.h.max(1) as u32),
        (None, Some(r)) => (
            r.size.w.round().max(1.0) as u32,
            r.size.h.round().max(1.0) as u32,
        ),
        (None, None) => (logical.0 as u32, logical.1 as u32),
    };
    with_states(surface, |s| {
        if let Some(mut v) = s
            .data_map
            .get::<Mutex<SurfaceView>>()
            .and_then(|v| v.lock().ok())
        {
            v.size = Some(size);
            v.source = source;
        }
    });
}

/// The surface is gone: so is its texture.
pub(super) fn forget(state: &mut State, surface: &WlSurface) {
    let key = with_states(surface, |s| {
        s.data_map
            .get::<Mutex<SurfaceView>>()
            .and_then(|v| v.lock().ok().map(|v| v.key))
    });
    if let Some(key) = key {
        state.backend.renderer_mut().forget(key);
    }
}

/// Where a surface sits relative to its parent (subsurfaces) plus the parent's place.
fn own_location(states: &SurfaceData, parent: (i32, i32)) -> (i32, i32) {
    if states.role == Some("subsurface") {
        let l = states
            .cached_state
            .get::<SubsurfaceCachedState>()
            .current()
            .location;
        (parent.0.saturating_add(l.x), parent.1.saturating_add(l.y))
    } else {
        parent
    }
}

/// Draws a surface and its subsurfaces, back to front, with the root at `origin`.
pub(super) fn surface_tree(surface: &WlSurface, origin: (i32, i32), out: &mut Vec<Draw>) {
    with_surface_tree_upward(
        surface,
        origin,
        |_, states, parent| TraversalAction::DoChildren(own_location(states, *parent)),
        |_, states, parent| {
            let (x, y) = own_location(states, *parent);
            let Some(view) = states.data_map.get::<Mutex<SurfaceView>>() else {
                return;
            };
            let Ok(view) = view.lock() else {
                return;
            };
            if let Some((width, height)) = view.size {
                out.push(Draw {
                    rect: Rect {
                        x,
                        y,
                        width,
                        height,
                    },
                    fill: Fill::Texture {
                        key: view.key,
                        source: view.source,
                    },
                });
            }
        },
        |_, _, _| true,
    );
}

/// The topmost surface of the tree rooted at `origin` that covers `point`, and that
/// surface's origin. Input regions are not consulted: a surface takes input wherever it
/// has pixels.
pub(super) fn surface_under(
    surface: &WlSurface,
    point: (f64, f64),
    origin: (i32, i32),
) -> Option<(WlSurface, (i32, i32))> {
    let mut found = None;
    with_surface_tree_downward(
        surface,
        origin,
        |_, states, parent| TraversalAction::DoChildren(own_location(states, *parent)),
        |s, states, parent| {
            if found.is_some() {
                return;
            }
            let (x, y) = own_location(states, *parent);
            let size = states
                .data_map
                .get::<Mutex<SurfaceView>>()
                .and_then(|v| v.lock().ok().and_then(|v| v.size));
            if let Some((w, h)) = size {
                let inside = point.0 >= x as f64
                    && point.1 >= y as f64
                    && point.0 < x as f64 + w as f64
                    && point.1 < y as f64 + h as f64;
                if inside {
                    found = Some((s.clone(), (x, y)));
                }
            }
        },
        |_, _, _| true,
    );
    found
}

/// The xdg window geometry's offset inside the surface (client-side shadows).
pub(super) fn window_geometry_offset(surface: &WlSurface) -> (i32, i32) {
    with_states(surface, |s| {
        s.cached_state
            .get::<SurfaceCachedState>()
            .current()
            .geometry
            .map(|g| (g.loc.x, g.loc.y))
            .unwrap_or((0, 0))
    })
}

/// What a toplevel's client says of its size: the window geometry it drew (the surface's
/// own size when it set none) and its minimum and maximum size (0 = none).
pub(super) struct SizeSaid {
    pub drawn: Option<(u32, u32)>,
    pub min: (u32, u32),
    pub max: (u32, u32),
}

pub(super) fn size_said(surface: &WlSurface) -> SizeSaid {
    with_states(surface, |s| {
        let view = s
            .data_map
            .get::<Mutex<SurfaceView>>()
            .and_then(|v| v.lock().ok().and_then(|v| v.size));
        let mut cached = s.cached_state.get::<SurfaceCachedState>();
        let c = cached.current();
        let pair = |w: i32, h: i32| (w.max(0) as u32, h.max(0) as u32);
        let drawn = match c.geometry {
            Some(g) if g.size.w > 0 && g.size.h > 0 => Some(pair(g.size.w, g.size.h)),
            _ => view,
        };
        SizeSaid {
            drawn,
            min: pair(c.min_size.w, c.min_size.h),
            max: pair(c.max_size.w, c.max_size.h),
        }
    })
}

/// Where a toplevel's surface origin goes for the shell's `geometry`.
pub(super) fn surface_origin(surface: &WlSurface, geometry: Rect) -> (i32, i32) {
    let offset = window_geometry_offset(surface);
    (
        geometry.x.saturating_sub(offset.0),
        geometry.y.saturating_sub(offset.1),
    )
}

/// Popups of `surface` (whose origin is at `origin`), with their own origins.
pub(super) fn popups(surface: &WlSurface, origin: (i32, i32)) -> Vec<(WlSurface, (i32, i32))> {
    let geometry = window_geometry_offset(surface);
    PopupManager::popups_for_surface(surface)
        .map(|(popup, offset)| {
            let own = popup.geometry().loc;
            (
                popup.wl_surface().clone(),
                (
                    origin
                        .0
                        .saturating_add(geometry.0)
                        .saturating_add(offset.x)
                        .saturating_sub(own.x),
                    origin
                        .1
                        .saturating_add(geometry.1)
                        .saturating_add(offset.y)
                        .saturating_sub(own.y),
                ),
            )
        })
        .collect()
}

/// `rect` less `left` pixels on its left and `right` on its right: where a box's label goes.
fn inset(rect: Rect, left: u32, right: u32) -> Rect {
    Rect {
        x: rect.x + left as i32,
        width: rect.width.saturating_sub(left + right),
        ..rect
    }
}

fn solid(rect: Rect, color: [f32; 4]) -> Draw {
    Draw {
        rect,
        fill: Fill::Color(color),
    }
}

/// What a frame is made of before text is rasterized.
enum Item {
    Draw(Draw),
    /// A line of text, left-aligned and vertically centred in `area`.
    Text {
        area: Rect,
        text: String,
        size: f32,
    },
    /// The same, right-aligned.
    TextRight {
        area: Rect,
        text: String,
        size: f32,
    },
}

/// Everything on the output this frame, back to front (text rasterized and uploaded on
/// first use, cached by content).
pub(super) fn draws(state: &mut State) -> Vec<Draw> {
    if state.blanked {
        let (width, height) = state.size;
        return vec![solid(
            Rect {
                x: 0,
                y: 0,
                width,
                height,
            },
            [0.0, 0.0, 0.0, 1.0],
        )];
    }
    let locker = state
        .external_lock
        .as_ref()
        .and_then(|l| l.surface())
        .map(|s| s.wl_surface().clone());
    let items = match (state.shell.lock_view(), locker) {
        // An external locker draws the whole lock screen (over black until it has).
        (Some(lock), Some(surface)) => {
            let mut draws = vec![solid(lock.rect, [0.0, 0.0, 0.0, 1.0])];
            surface_tree(&surface, (0, 0), &mut draws);
            draws.into_iter().map(Item::Draw).collect()
        }
        (Some(lock), None) => lock_items(&lock, &state.shell),
        (None, _) => items(state),
    };
    state.text_frame += 1;
    let mut out = Vec::with_capacity(items.len());
    for item in items {
        match item {
            Item::Draw(d) => out.push(d),
            Item::Text { area, text, size } => out.extend(state.text_draw(area, &text, size)),
            Item::TextRight { area, text, size } => {
                out.extend(state.text_draw(area, &text, size).map(|mut d| {
                    d.rect.x = area.x + area.width as i32 - d.rect.width as i32;
                    d
                }))
            }
        }
    }
    out.extend(state.cursor_draws());
    out
}

fn items(state: &State) -> Vec<Item> {
    let mut out: Vec<Item> = Vec::new();
    let layers = |out: &mut Vec<Item>, which: &[Layer]| {
        let map = layer_map_for_output(&state.output);
        for layer in which {
            for l in map.layers_on(*layer) {
                if let Some(geometry) = map.layer_geometry(l) {
                    let origin = (geometry.loc.x, geometry.loc.y);
                    let mut draws = Vec::new();
                    surface_tree(l.wl_surface(), origin, &mut draws);
                    for (popup, at) in popups(l.wl_surface(), origin) {
                        surface_tree(&popup, at, &mut draws);
                    }
                    out.extend(draws.into_iter().map(Item::Draw));
                }
            }
        }
    };
    layers(&mut out, &[Layer::Background, Layer::Bottom]);
    let chrome = state.shell.chrome();
    for view in state.shell.windows() {
        for c in &chrome {
            if let Chrome::TitleBar {
                window,
                rect,
                focused,
                close,
                maximize,
                minimize,
            } = c
                && *window == view.id
            {
                let color = if *focused {
                    TITLE_FOCUSED
                } else {
                    TITLE_UNFOCUSED
                };
                out.push(Item::Draw(solid(*rect, color)));
                out.push(Item::Draw(solid(*close, CLOSE_BUTTON)));
                out.push(Item::Draw(solid(*maximize, WINDOW_BUTTON)));
                out.push(Item::Draw(solid(*minimize, WINDOW_BUTTON)));
                // A bar for minimize, a frame's top edge for maximize.
                let mark = |b: &Rect, y: i32| Rect {
                    x: b.x + b.width as i32 / 4,
                    y,
                    width: b.width / 2,
                    height: 2.min(b.height),
                };
                out.push(Item::Draw(solid(
                    mark(minimize, minimize.y + minimize.height as i32 * 3 / 4),
                    TEXT_MARK,
                )));
                out.push(Item::Draw(solid(
                    mark(maximize, maximize.y + maximize.height as i32 / 4),
                    TEXT_MARK,
                )));
                let name = if view.title.is_empty() {
                    &view.app_id
                } else {
                    &view.title
                };
                // A sandboxed app's title bar says which sandbox it runs in.
                let sandbox = state
                    .windows
                    .get(&view.id)
                    .and_then(|w| w.toplevel.wl_surface())
                    .and_then(|s| super::sandbox_of(&s));
                let text = match sandbox {
                    Some(s) => format!("{name} [{s}]"),
                    None => name.clone(),
                };
                out.push(Item::Text {
                    area: Rect {
                        x: rect.x + 8,
                        width: (minimize.x - rect.x - 16).max(0) as u32,
                        ..*rect
                    },
                    text,
                    size: TITLE_TEXT,
                });
            }
        }
        let Some(tracked) = state.windows.get(&view.id) else {
            continue;
        };
        let Some(surface) = tracked.toplevel.wl_surface() else {
            continue; // an X11 window Xwayland has not drawn yet
        };
        let surface = &surface;
        let origin = surface_origin(surface, view.geometry);
        let mut draws = Vec::new();
        surface_tree(surface, origin, &mut draws);
        for (popup, at) in popups(surface, origin) {
            surface_tree(&popup, at, &mut draws);
        }
        out.extend(draws.into_iter().map(Item::Draw));
    }
    for c in &chrome {
        match c {
            Chrome::TitleBar { .. } => {}
            Chrome::Taskbar {
                rect,
                launchers,
                entries,
            } => {
                out.push(Item::Draw(solid(*rect, TASKBAR)));
                for (name, button) in launchers {
                    out.push(Item::Draw(solid(*button, LAUNCHER)));
                    out.push(Item::Text {
                        area: inset(*button, 6, 6),
                        text: name.clone(),
                        size: TASK_TEXT,
                    });
                }
                for entry in entries {
                    let color = if entry.focused {
                        TASK_FOCUSED
                    } else if entry.minimized {
                        TASK_MINIMIZED
                    } else {
                        TASK
                    };
                    let r = entry.rect;
                    out.push(Item::Draw(solid(r, color)));
                    out.push(Item::Text {
                        area: inset(r, 6, 6),
                        text: entry.title.clone(),
                        size: TASK_TEXT,
                    });
                }
            }
            Chrome::OverlayBar { rect, app } => {
                out.push(Item::Draw(solid(*rect, OVERLAY)));
                if let Some(app) = app {
                    out.push(Item::Text {
                        area: inset(*rect, 12, 12),
                        text: app.clone(),
                        size: SUMMARY_TEXT,
                    });
                }
            }
            Chrome::Keyboard { rect } => {
                out.push(Item::Draw(solid(*rect, KEYBOARD)));
                for key in crate::keyboard::keys(*rect) {
                    let latched = key.code == crate::keyboard::SHIFT && state.shift_latched;
                    out.push(Item::Draw(solid(
                        key.rect,
                        if latched { KEY_LATCHED } else { KEY },
                    )));
                    out.push(Item::Text {
                        area: inset(key.rect, 6, 2),
                        text: key.label.to_string(),
                        size: TASK_TEXT,
                    });
                }
            }
            Chrome::EdgeSwitcher { rect } => out.push(Item::Draw(solid(*rect, EDGE))),
            Chrome::Status { rect, text } => {
                out.push(Item::TextRight {
                    area: inset(*rect, 8, 12),
                    text: text.clone(),
                    size: SUMMARY_TEXT,
                });
            }
            Chrome::StartButton { rect, open } => {
                out.push(Item::Draw(solid(
                    *rect,
                    if *open { SELECTED } else { START },
                )));
                out.push(Item::Text {
                    area: inset(*rect, 12, 4),
                    text: "Apps".into(),
                    size: SUMMARY_TEXT,
                });
            }
            // Above everything else: after the layers.
            Chrome::Notification(_) | Chrome::AppMenu(_) | Chrome::Switcher(_) => {}
        }
    }
    // X11 menus and tooltips, where X put them, above every window.
    if let Some(x) = &state.xserver {
        for window in &x.overrides {
            if let Some(surface) = window.wl_surface() {
                let g = window.geometry();
                let mut draws = Vec::new();
                surface_tree(&surface, (g.loc.x, g.loc.y), &mut draws);
                out.extend(draws.into_iter().map(Item::Draw));
            }
        }
    }
    layers(&mut out, &[Layer::Top, Layer::Overlay]);
    for c in &chrome {
        match c {
            Chrome::AppMenu(menu) => menu_items(menu, &state.icons, &mut out),
            Chrome::Switcher(switcher) => {
                out.push(Item::Draw(solid(switcher.rect, MENU)));
                for (title, row, selected) in &switcher.rows {
                    if *selected {
                        out.push(Item::Draw(solid(*row, SELECTED)));
                    }
                    out.push(Item::Text {
                        area: inset(*row, 12, 12),
                        text: title.clone(),
                        size: SUMMARY_TEXT,
                    });
                }
            }
            _ => {}
        }
    }
    for c in &chrome {
        if let Chrome::Notification(popup) = c {
            popup_items(popup, &mut out);
        }
    }
    out
}

/// The lock screen, alone on the output: the clock, the password field with a dot per
/// typed character, and why the last try failed.
fn lock_items(
    lock: &compose_shell_policy::lock::LockView,
    shell: &crate::policy::Shell,
) -> Vec<Item> {
    let mut out = vec![
        Item::Draw(solid(lock.rect, LOCK)),
        Item::Draw(solid(lock.field, SEARCH)),
    ];
    // The status line ends in the clock; the lock screen shows only that.
    let clock = shell.status_text().rsplit("  ").next().unwrap_or_default();
    if !clock.is_empty() {
        out.push(Item::Text {
            area: lock.clock,
            text: clock.to_string(),
            size: 32.0,
        });
    }
    out.push(Item::Text {
        area: inset(lock.field, 12, 12),
        text: if lock.dots == 0 {
            "Password".into()
        } else {
            "●".repeat(lock.dots.min(40))
        },
        size: SUMMARY_TEXT,
    });
    if let Some(message) = &lock.message {
        out.push(Item::Text {
            area: Rect {
                y: lock.field.y + lock.field.height as i32 + 8,
                height: 24,
                ..lock.field
            },
            text: message.clone(),
            size: TASK_TEXT,
        });
    }
    out
}

/// The launcher's menu: the search field (what was typed, or a hint), then each app as a
/// letter tile and its name, the selected one highlighted; rows on the desktop, large
/// tiles in a grid elsewhere.
fn menu_items(
    menu: &compose_shell_policy::app_menu::MenuView,
    icons: &std::collections::HashMap<usize, TextureKey>,
    out: &mut Vec<Item>,
) {
    out.push(Item::Draw(solid(
        menu.rect,
        if menu.grid { GRID } else { MENU },
    )));
    out.push(Item::Draw(solid(menu.search, SEARCH)));
    out.push(Item::Text {
        area: inset(menu.search, 10, 10),
        text: if menu.query.is_empty() {
            "Type to search".into()
        } else {
            menu.query.clone()
        },
        size: SUMMARY_TEXT,
    });
    if menu.items.is_empty() {
        out.push(Item::Text {
            area: Rect {
                y: menu.search.y + menu.search.height as i32 + 8,
                ..menu.search
            },
            text: "No app matches".into(),
            size: TASK_TEXT,
        });
    }
    for item in &menu.items {
        if item.selected {
            out.push(Item::Draw(solid(item.rect, SELECTED)));
        }
        let tile_color = TILES[item
            .name
            .bytes()
            .fold(0usize, |h, b| h.wrapping_mul(31).wrapping_add(b as usize))
            % TILES.len()];
        let letter = item
            .name
            .chars()
            .next()
            .map(|c| c.to_uppercase().to_string())
            .unwrap_or_default();
        let r = item.rect;
        let (tile, label, letter_size) = if menu.grid {
            let side = r.width.min(r.height).saturating_sub(48);
            (
                Rect {
                    x: r.x + ((r.width - side) / 2) as i32,
                    y: r.y + 10,
                    width: side,
                    height: side,
                },
                Rect {
                    x: r.x + 6,
                    y: r.y + side as i32 + 14,
                    width: r.width.saturating_sub(12),
                    height: 24,
                },
                side as f32 * 0.6,
            )
        } else {
            let side = r.height.saturating_sub(8);
            (
                Rect {
                    x: r.x + 6,
                    y: r.y + 4,
                    width: side,
                    height: side,
                },
                Rect {
                    x: r.x + side as i32 + 16,
                    width: r.width.saturating_sub(side + 20),
                    ..r
                },
                side as f32 * 0.6,
            )
        };
        match icons.get(&item.app) {
            Some(key) => out.push(Item::Draw(Draw {
                rect: tile,
                fill: Fill::Texture {
                    key: *key,
                    source: [0.0, 0.0, 1.0, 1.0],
                },
            })),
            None => {
                out.push(Item::Draw(solid(tile, tile_color)));
                out.push(Item::Text {
                    area: Rect {
                        x: tile.x + (tile.width as f32 * 0.28) as i32,
                        width: tile.width,
                        ..tile
                    },
                    text: letter,
                    size: letter_size,
                });
            }
        }
        out.push(Item::Text {
            area: label,
            text: item.name.clone(),
            size: SUMMARY_TEXT,
        });
    }
}

/// A notification's popup: its box (a red edge when critical), app and summary on the
/// first line, the body's lines, the action buttons.
fn popup_items(popup: &compose_shell_policy::notifications::Popup, out: &mut Vec<Item>) {
    use compose_shell_policy::notifications::{BODY_LINE_HEIGHT, SUMMARY_HEIGHT, Urgency};
    let rect = popup.rect;
    let n = &popup.notification;
    out.push(Item::Draw(solid(rect, NOTIFICATION)));
    if n.urgency == Urgency::Critical {
        out.push(Item::Draw(solid(
            Rect {
                width: 4.min(rect.width),
                ..rect
            },
            NOTIFICATION_CRITICAL,
        )));
    }
    let inner = |y: i32, height: u32| Rect {
        x: rect.x + 12,
        y,
        width: rect.width.saturating_sub(24),
        height,
    };
    let summary = if n.app_name.is_empty() {
        n.summary.clone()
    } else {
        format!("{}: {}", n.app_name, n.summary)
    };
    let mut y = rect.y + 8;
    out.push(Item::Text {
        area: inner(y, SUMMARY_HEIGHT),
        text: summary,
        size: SUMMARY_TEXT,
    });
    y += SUMMARY_HEIGHT as i32;
    for line in &n.body {
        out.push(Item::Text {
            area: inner(y, BODY_LINE_HEIGHT),
            text: line.clone(),
            size: TASK_TEXT,
        });
        y += BODY_LINE_HEIGHT as i32;
    }
    for (_, label, button) in &popup.buttons {
        out.push(Item::Draw(solid(*button, ACTION)));
        out.push(Item::Text {
            area: inset(*button, 8, 4),
            text: label.clone(),
            size: TASK_TEXT,
        });
    }
}
