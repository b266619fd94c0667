//! The window loop: events in, damaged rectangles of the canvas out.

use crate::canvas::{Canvas, PALETTE_HEIGHT, Rect};

#[allow(unsafe_code, reason = "the import glue wit-bindgen generates")]
mod bindings {
    wit_bindgen::generate!({
        path: "../../wit",
        world: "compose:window/window-app",
    });
}

use bindings::compose::window::surface::{self, CreateDesc, Event, Surface};

/// Linux's left button.
const BTN_LEFT: u32 = 272;

pub fn run() {
    let title = std::env::args().nth(1).unwrap_or_else(|| "Paint".into());
    let window = match Surface::open(&CreateDesc {
        title,
        width: 640,
        height: 480,
    }) {
        Ok(w) => w,
        Err(e) => {
            eprintln!("paint: cannot open a window: {e}");
            std::process::exit(1);
        }
    };
    let mut canvas = Canvas::new(window.width(), window.height());
    present(&window, &canvas, &[canvas.whole()]);
    println!("paint: window {}x{}", canvas.width, canvas.height);
    let mut drawing: Option<(f64, f64)> = None;
    loop {
        let Some(event) = window.next_event(None) else {
            continue;
        };
        match event {
            Event::Resize(r) => {
                canvas.resize(r.width, r.height);
                present(&window, &canvas, &[canvas.whole()]);
            }
            Event::PointerDown(p) if p.button == BTN_LEFT => {
                if p.y < f64::from(PALETTE_HEIGHT) {
                    if let Some(changed) = canvas.pick(p.x) {
                        present(&window, &canvas, &[changed]);
                    }
                } else {
                    let changed = canvas.stroke((p.x, p.y), (p.x, p.y));
                    present(&window, &canvas, &[changed]);
                    drawing = Some((p.x, p.y));
                }
            }
            Event::PointerMove(p) => {
                if let Some(from) = drawing {
                    let changed = canvas.stroke(from, (p.x, p.y));
                    present(&window, &canvas, &[changed]);
                    drawing = Some((p.x, p.y));
                }
            }
            Event::PointerUp(_) => drawing = None,
            Event::KeyDown(k) => match k.text.as_deref() {
                Some("c") => {
                    canvas.clear();
                    present(&window, &canvas, &[canvas.whole()]);
                }
                Some("q") => break,
                _ => {}
            },
            Event::Close => break,
            Event::PointerDown(_) | Event::KeyUp(_) | Event::Frame(_) => {}
        }
    }
    println!("paint: closed");
}

/// Presents the `damage` rectangles of the canvas.
fn present(window: &Surface, canvas: &Canvas, damage: &[Rect]) {
    let rects: Vec<surface::Rect> = damage
        .iter()
        .filter(|r| r.width > 0 && r.height > 0)
        .map(|r| surface::Rect {
            x: r.x,
            y: r.y,
            width: r.width,
            height: r.height,
        })
        .collect();
    if rects.is_empty() {
        return;
    }
    let pixels = canvas.pixels(damage);
    if let Err(e) = window.present(&rects, &pixels) {
        eprintln!("paint: present failed: {e}");
        std::process::exit(1);
    }
}
