//! Both renderers, the wgpu one on whatever adapter the machine has (Mesa's lavapipe in
//! CI) and the pixman one on the CPU: uploads with damage, z-order, premultiplied alpha,
//! output scale, read back pixel by pixel; and the same draw lists through both, compared.

use compose_shells::Rect;
use compose_shells::render::{Backends, Draw, Fill, FrameHistory, Image, Pixels, Renderer};

/// Each renderer, named: every test below runs on both.
fn renderers() -> Vec<(&'static str, Renderer)> {
    vec![
        (
            "gpu",
            Renderer::gpu().expect("a wgpu adapter (scripts/setup installs lavapipe)"),
        ),
        ("cpu", Renderer::cpu()),
    ]
}

fn rect(x: i32, y: i32, width: u32, height: u32) -> Rect {
    Rect {
        x,
        y,
        width,
        height,
    }
}

/// `width` x `height` pixels of one BGRA colour, as a wl_shm buffer holds them.
fn buffer(width: u32, height: u32, bgra: [u8; 4]) -> Vec<u8> {
    bgra.iter()
        .copied()
        .cycle()
        .take((width * height * 4) as usize)
        .collect()
}

fn pixels(data: &[u8], width: u32, height: u32) -> Pixels<'_> {
    Pixels {
        data,
        offset: 0,
        width,
        height,
        stride: width * 4,
        opaque: false,
    }
}

const WHOLE: [f32; 4] = [0.0, 0.0, 1.0, 1.0];

/// All of texture `key` at `rect`.
fn textured(rect: Rect, key: u64) -> Draw {
    Draw {
        rect,
        fill: Fill::Texture { key, source: WHOLE },
    }
}

fn solid(rect: Rect, color: [f32; 4]) -> Draw {
    Draw {
        rect,
        fill: Fill::Color(color),
    }
}

#[test]
fn composites_in_order_with_premultiplied_alpha() {
    for (name, mut r) in renderers() {
        eprintln!("{name}: {}", r.name());
        // Opaque red 8x8, and blue at half alpha (premultiplied: 0x80 blue, alpha 0x80).
        let red = buffer(8, 8, [0, 0, 255, 255]);
        let blue = buffer(8, 8, [128, 0, 0, 128]);
        r.upload(1, pixels(&red, 8, 8), &[]);
        r.upload(2, pixels(&blue, 8, 8), &[]);
        let mut target = r.offscreen(32, 16);
        r.render(
            &mut target,
            [0.0, 0.0, 0.0, 1.0],
            1.0,
            &[
                textured(rect(0, 0, 8, 8), 1),
                textured(rect(4, 4, 8, 8), 2),
                solid(rect(20, 0, 4, 4), [0.0, 1.0, 0.0, 1.0]),
            ],
        );
        let image = r.read(&target).unwrap();
        assert_eq!((image.width, image.height), (32, 16), "{name}");
        assert_eq!(image.pixel(1, 1), [255, 0, 0, 255], "{name}: red alone");
        // Blue at half alpha over red: red * (1 - 0.5) + blue.
        let mixed = image.pixel(5, 5);
        assert!(
            (126..=129).contains(&mixed[0]) && mixed[1] == 0 && (127..=129).contains(&mixed[2]),
            "{name}: {mixed:?}"
        );
        // Blue over the black background.
        let over_black = image.pixel(10, 10);
        assert!(
            over_black[0] == 0 && (127..=129).contains(&over_black[2]),
            "{name}: {over_black:?}"
        );
        assert_eq!(
            image.pixel(21, 1),
            [0, 255, 0, 255],
            "{name}: a solid colour"
        );
        assert_eq!(image.pixel(30, 14), [0, 0, 0, 255], "{name}: background");
    }
}

#[test]
fn damage_uploads_only_the_damaged_rows_and_scale_doubles() {
    for (name, mut r) in renderers() {
        let red = buffer(4, 4, [0, 0, 255, 255]);
        r.upload(7, pixels(&red, 4, 4), &[]);
        // The client drew green everywhere but says only row 1 changed.
        let green = buffer(4, 4, [0, 255, 0, 255]);
        r.upload(7, pixels(&green, 4, 4), &[rect(0, 1, 4, 1)]);
        let mut target = r.offscreen(8, 8);
        r.render(&mut target, [0.0; 4], 2.0, &[textured(rect(0, 0, 4, 4), 7)]);
        let image = r.read(&target).unwrap();
        // Scale 2: buffer row 0 covers output rows 0-1, row 1 covers rows 2-3.
        assert_eq!(image.pixel(0, 1), [255, 0, 0, 255], "{name}");
        assert_eq!(image.pixel(7, 2), [0, 255, 0, 255], "{name}");
        assert_eq!(image.pixel(3, 3), [0, 255, 0, 255], "{name}");
        assert_eq!(image.pixel(3, 4), [255, 0, 0, 255], "{name}");
    }
}

#[test]
fn xrgb_buffers_are_opaque_and_png_round_trips() {
    for (name, mut r) in renderers() {
        let data = buffer(2, 2, [255, 0, 0, 0]); // blue, alpha byte 0 (XRGB8888 ignores it)
        r.upload(
            3,
            Pixels {
                opaque: true,
                ..pixels(&data, 2, 2)
            },
            &[],
        );
        let mut target = r.offscreen(2, 2);
        r.render(&mut target, [1.0; 4], 1.0, &[textured(rect(0, 0, 2, 2), 3)]);
        let image = r.read(&target).unwrap();
        assert_eq!(image.pixel(1, 1), [0, 0, 255, 255], "{name}");
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("shot.png");
        image.write_png(&path).unwrap();
        assert_eq!(Image::read_png(&path).unwrap(), image, "{name}");
        assert!(!dir.path().join("shot.png.tmp").exists());
    }
}

#[test]
fn opaque_windows_hide_what_is_under_them_and_translucent_ones_still_blend() {
    for (name, mut r) in renderers() {
        let red = buffer(4, 4, [0, 0, 255, 255]);
        let green = buffer(4, 4, [0, 255, 0, 255]);
        let half_blue = buffer(4, 4, [128, 0, 0, 128]);
        let opaque = |data| Pixels {
            opaque: true,
            ..pixels(data, 4, 4)
        };
        r.upload(1, opaque(&red), &[]);
        r.upload(2, opaque(&green), &[]);
        r.upload(3, pixels(&half_blue, 4, 4), &[]);
        let mut target = r.offscreen(8, 4);
        let at = |x: i32, key: u64| textured(rect(x, 0, 4, 4), key);
        // Bottom to top: translucent blue, opaque red over it, opaque green half over red,
        // translucent blue again over both.
        r.render(
            &mut target,
            [0.0, 0.0, 0.0, 1.0],
            1.0,
            &[at(0, 3), at(0, 1), at(2, 2), at(3, 3)],
        );
        let image = r.read(&target).unwrap();
        assert_eq!(
            image.pixel(0, 0),
            [255, 0, 0, 255],
            "{name}: red hides the blue under it"
        );
        assert_eq!(
            image.pixel(2, 0),
            [0, 255, 0, 255],
            "{name}: green over red"
        );
        let p = image.pixel(3, 0);
        assert!(
            p[0] == 0 && (126..=129).contains(&p[1]) && (127..=129).contains(&p[2]),
            "{name}: blue blended over green: {p:?}"
        );
        let p = image.pixel(6, 0);
        assert!(
            p[1] == 0 && (127..=129).contains(&p[2]),
            "{name}: blue blended over the background: {p:?}"
        );
        assert_eq!(image.pixel(7, 3), [0, 0, 0, 255], "{name}: the background");
    }
}

/// One frame with overlaps, blending, a solid colour and scale 1.
fn reference_frame(r: &mut Renderer) -> Image {
    let red = buffer(8, 8, [0, 0, 255, 255]);
    let half_blue = buffer(8, 8, [128, 0, 0, 128]);
    r.upload(
        1,
        Pixels {
            opaque: true,
            ..pixels(&red, 8, 8)
        },
        &[],
    );
    r.upload(2, pixels(&half_blue, 8, 8), &[]);
    let mut target = r.offscreen(16, 16);
    r.render(
        &mut target,
        [0.1, 0.2, 0.3, 1.0],
        1.0,
        &[
            textured(rect(0, 0, 8, 8), 1),
            textured(rect(4, 4, 8, 8), 2),
            solid(rect(10, 10, 6, 6), [0.0, 0.5, 0.0, 0.5]),
        ],
    );
    r.read(&target).unwrap()
}

#[test]
fn vulkan_and_gl_draw_the_same_frame() {
    // Mesa gives both without a GPU: lavapipe (Vulkan) and llvmpipe (GL).
    let mut vulkan = Renderer::with_backends(Backends::VULKAN).expect("lavapipe");
    let mut gl = Renderer::with_backends(Backends::GL).expect("llvmpipe through EGL");
    eprintln!("{} / {}", vulkan.name(), gl.name());
    let (a, b) = (reference_frame(&mut vulkan), reference_frame(&mut gl));
    assert_eq!((a.width, a.height), (b.width, b.height));
    for (i, (x, y)) in a.rgba.iter().zip(&b.rgba).enumerate() {
        assert!(x.abs_diff(*y) <= 1, "byte {i} differs: {x} vs {y}");
    }
}

#[test]
fn a_stride_that_is_not_whole_pixels_still_uploads() {
    for (name, mut r) in renderers() {
        // 3x2 pixels, rows of 13 bytes (one byte of padding), as a client may send.
        let mut data = Vec::new();
        for _ in 0..2 {
            data.extend_from_slice(&[0, 255, 0, 255].repeat(3));
            data.push(0xAA);
        }
        r.upload(
            1,
            Pixels {
                data: &data,
                offset: 0,
                width: 3,
                height: 2,
                stride: 13,
                opaque: false,
            },
            &[],
        );
        let mut target = r.offscreen(3, 2);
        r.render(
            &mut target,
            [0.0, 0.0, 0.0, 1.0],
            1.0,
            &[textured(rect(0, 0, 3, 2), 1)],
        );
        let image = r.read(&target).unwrap();
        assert_eq!(image.pixel(2, 1), [0, 255, 0, 255], "{name}");
    }
}

/// A target that keeps its pixels is redrawn only where its scene changed (windows moved,
/// added, removed, restacked, or given new pixels), and always ends up exactly like a full
/// render of the same scene, translucent overlaps and scale 2 included.
#[test]
fn only_what_changed_is_drawn_again_and_the_frame_matches_a_full_render() {
    for (name, mut r) in renderers() {
        only_what_changed_is_drawn(name, &mut r);
    }
}

fn only_what_changed_is_drawn(name: &str, r: &mut Renderer) {
    let background = [0.1, 0.1, 0.1, 1.0];
    let red = buffer(16, 16, [0, 0, 255, 255]);
    let green = buffer(16, 16, [0, 255, 0, 255]);
    let half_blue = buffer(16, 16, [128, 0, 0, 128]);
    r.upload(1, pixels(&red, 16, 16), &[]);
    r.upload(2, pixels(&half_blue, 16, 16), &[]);
    r.upload(3, pixels(&green, 16, 16), &[]);

    for scale in [1u32, 2] {
        let (w, h) = (64 * scale, 48 * scale);
        let mut kept = r.offscreen(w, h);
        let mut fresh = r.offscreen(w, h);
        let mut history = FrameHistory::default();
        // Each step: the scene, and the damage expected (None: anything but empty).
        let mut steps: Vec<(Vec<Draw>, Option<Vec<Rect>>)> = vec![
            (
                vec![
                    textured(rect(4, 4, 16, 16), 1),
                    textured(rect(12, 8, 16, 16), 2),
                ],
                Some(vec![rect(0, 0, w, h)]),
            ),
            // Nothing changed: nothing drawn.
            (
                vec![
                    textured(rect(4, 4, 16, 16), 1),
                    textured(rect(12, 8, 16, 16), 2),
                ],
                Some(vec![]),
            ),
            // The translucent window moves: its old and new places.
            (
                vec![
                    textured(rect(4, 4, 16, 16), 1),
                    textured(rect(30, 20, 16, 16), 2),
                ],
                Some(vec![
                    physical(rect(12, 8, 16, 16), scale),
                    physical(rect(30, 20, 16, 16), scale),
                ]),
            ),
            // A third window; then the first two swap places in the stack.
            (
                vec![
                    textured(rect(4, 4, 16, 16), 1),
                    textured(rect(30, 20, 16, 16), 2),
                    solid(rect(40, 2, 10, 10), [0.0, 0.0, 0.0, 1.0]),
                ],
                Some(vec![physical(rect(40, 2, 10, 10), scale)]),
            ),
            (
                vec![
                    textured(rect(30, 20, 16, 16), 2),
                    textured(rect(4, 4, 16, 16), 1),
                    solid(rect(40, 2, 10, 10), [0.0, 0.0, 0.0, 1.0]),
                ],
                None,
            ),
            // A window removed.
            (
                vec![
                    textured(rect(30, 20, 16, 16), 2),
                    textured(rect(4, 4, 16, 16), 1),
                ],
                Some(vec![physical(rect(40, 2, 10, 10), scale)]),
            ),
        ];
        // New pixels in texture 1, same scene: only its window.
        steps.push((
            steps.last().unwrap().0.clone(),
            Some(vec![physical(rect(4, 4, 16, 16), scale)]),
        ));
        for (at, (draws, expected)) in steps.into_iter().enumerate() {
            if at == 6 {
                r.upload(1, pixels(&green, 16, 16), &[]);
            }
            let damage =
                r.render_changed(&mut kept, background, scale as f32, &draws, &mut history);
            match expected {
                Some(mut expected) => {
                    let mut got = damage.clone();
                    got.sort_by_key(|d| (d.x, d.y));
                    expected.sort_by_key(|d| (d.x, d.y));
                    assert_eq!(got, expected, "{name}: step {at} at scale {scale}");
                }
                None => assert!(!damage.is_empty(), "{name}: step {at} at scale {scale}"),
            }
            r.render(&mut fresh, background, scale as f32, &draws);
            let (a, b) = (r.read(&kept).unwrap(), r.read(&fresh).unwrap());
            assert!(
                a.rgba == b.rgba,
                "{name}: step {at} at scale {scale}: the kept frame differs from a full render"
            );
        }
        r.upload(1, pixels(&red, 16, 16), &[]);
    }
}

fn physical(r: Rect, scale: u32) -> Rect {
    rect(
        r.x * scale as i32,
        r.y * scale as i32,
        r.width * scale,
        r.height * scale,
    )
}

/// A 16x16 buffer of distinct pixels (every one differs from its neighbours), translucent
/// where `alpha` is below 255; premultiplied.
fn pattern(alpha: u8) -> Vec<u8> {
    (0..16u32 * 16)
        .flat_map(|i| {
            let (x, y) = (i % 16, i / 16);
            let c = |v: u32| ((v * alpha as u32) / 255) as u8;
            [c(x * 16), c(y * 16), c((x * 7 + y * 13) % 256), alpha]
        })
        .collect()
}

/// Scenes of every kind the shells draw: opaque and translucent client surfaces, XRGB
/// ones, overlaps, translucent chrome (title bars, panels, the on-screen keyboard), a
/// viewporter crop, and buffers stretched as viewporter destinations and output scale do.
fn scenes() -> Vec<(&'static str, f32, Vec<Draw>)> {
    let crop = |rect, key, source| Draw {
        rect,
        fill: Fill::Texture { key, source },
    };
    vec![
        (
            "overlapping windows and chrome",
            1.0,
            vec![
                textured(rect(2, 2, 16, 16), 1),
                textured(rect(10, 6, 16, 16), 2),
                textured(rect(20, 12, 16, 16), 3),
                solid(rect(0, 0, 48, 4), [0.1, 0.1, 0.1, 0.8]),
                solid(rect(8, 20, 30, 8), [0.0, 0.3, 0.0, 0.5]),
                solid(rect(40, 30, 6, 6), [0.9, 0.8, 0.7, 1.0]),
            ],
        ),
        (
            "the same at output scale 2",
            2.0,
            vec![
                textured(rect(2, 2, 16, 16), 1),
                textured(rect(10, 6, 16, 16), 2),
                solid(rect(8, 20, 30, 8), [0.0, 0.3, 0.0, 0.5]),
            ],
        ),
        (
            "a viewporter crop (the middle 8x8 of a buffer)",
            1.0,
            vec![crop(rect(4, 4, 8, 8), 1, [0.25, 0.25, 0.75, 0.75])],
        ),
        (
            "buffers stretched 2x, 3x and 1.5x",
            1.0,
            vec![
                textured(rect(0, 0, 32, 32), 1),
                textured(rect(34, 0, 48, 48), 3),
                textured(rect(0, 34, 24, 24), 2),
            ],
        ),
        (
            "a buffer shrunk to half",
            1.0,
            vec![textured(rect(10, 10, 8, 8), 1)],
        ),
    ]
}

/// Whether the pixel centre (x, y) samples a stretched draw exactly on a texel edge, where
/// which texel a renderer takes is decided by rounding (the GPU's interpolation is a few
/// ulps off either way).
fn on_texel_edge(draws: &[Draw], scale: f32, x: u32, y: u32) -> bool {
    let edge = |centre: f32, start: f32, length: f32, s0: f32, s1: f32| {
        let texel = s0 * 16.0 + (centre - start) / length * (s1 - s0) * 16.0;
        (texel - texel.round()).abs() < 1e-3
    };
    draws.iter().any(|d| {
        let Fill::Texture { source, .. } = d.fill else {
            return false;
        };
        let (x0, y0) = (d.rect.x as f32 * scale, d.rect.y as f32 * scale);
        let (w, h) = (d.rect.width as f32 * scale, d.rect.height as f32 * scale);
        let (cx, cy) = (x as f32 + 0.5, y as f32 + 0.5);
        let inside = cx >= x0 && cx < x0 + w && cy >= y0 && cy < y0 + h;
        inside && (edge(cx, x0, w, source[0], source[2]) || edge(cy, y0, h, source[1], source[3]))
    })
}

/// Every scene through both renderers gives exactly the same pixels (blending included:
/// pixman's integer maths and the GPU's floats agree on these), except where a pixel
/// centre falls exactly on a texel edge of a stretched buffer (see `on_texel_edge`).
#[test]
fn both_renderers_draw_every_scene_alike() {
    let opaque = pattern(255);
    let translucent = pattern(160);
    let mut xrgb = pattern(255);
    xrgb.iter_mut().skip(3).step_by(4).for_each(|a| *a = 0);
    let [(_, mut gpu), (_, mut cpu)]: [(&str, Renderer); 2] =
        renderers().try_into().expect("two renderers");
    for r in [&mut gpu, &mut cpu] {
        r.upload(1, pixels(&opaque, 16, 16), &[]);
        r.upload(2, pixels(&translucent, 16, 16), &[]);
        r.upload(
            3,
            Pixels {
                opaque: true,
                ..pixels(&xrgb, 16, 16)
            },
            &[],
        );
    }
    for (scene, scale, draws) in scenes() {
        let size = ((96.0 * scale) as u32, (64.0 * scale) as u32);
        let frames: Vec<Image> = [&mut gpu, &mut cpu]
            .into_iter()
            .map(|r| {
                let mut frame = r.offscreen(size.0, size.1);
                r.render(&mut frame, [0.2, 0.3, 0.4, 1.0], scale, &draws);
                r.read(&frame).unwrap()
            })
            .collect();
        let (a, b) = (&frames[0], &frames[1]);
        let mut on_edges = 0;
        for y in 0..a.height {
            for x in 0..a.width {
                let (p, q) = (a.pixel(x, y), b.pixel(x, y));
                if p == q {
                    continue;
                }
                assert!(
                    on_texel_edge(&draws, scale, x, y),
                    "{scene}: ({x}, {y}) is {p:?} on the GPU and {q:?} on the CPU"
                );
                on_edges += 1;
            }
        }
        eprintln!("{scene}: {on_edges} pixels on texel edges differ");
    }
}
