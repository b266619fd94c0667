//! Frame time compositing 1, 4 and 16 shm windows of 800x600 onto a 1920x1080 output, with
//! the wgpu renderer on whatever adapter it finds (Mesa's lavapipe here: no GPU) and with
//! the pixman one, waiting for each frame to finish. Also the upload of one full 800x600
//! buffer (what a client commit costs).

use compose_shells::Rect;
use compose_shells::render::{Draw, Fill, Pixels, Renderer};
use criterion::{BenchmarkId, Criterion, criterion_group, criterion_main};

fn buffer(seed: u8) -> Vec<u8> {
    (0..800 * 600 * 4)
        .map(|i| (i as u8).wrapping_mul(seed))
        .collect()
}

/// XRGB8888, like most apps' buffers (opaque).
fn pixels(data: &[u8]) -> Pixels<'_> {
    Pixels {
        data,
        offset: 0,
        width: 800,
        height: 600,
        stride: 800 * 4,
        opaque: true,
    }
}

/// `n` 800x600 windows, textures `first..first + n`, in a 4-wide cascade over 1920x1080.
fn cascade(n: usize, first: u64) -> Vec<Draw> {
    (0..n)
        .map(|i| Draw {
            rect: Rect {
                x: (i % 4) as i32 * 360,
                y: (i / 4) as i32 * 160,
                width: 800,
                height: 600,
            },
            fill: Fill::Texture {
                key: first + i as u64,
                source: [0.0, 0.0, 1.0, 1.0],
            },
        })
        .collect()
}

fn bench(c: &mut Criterion) {
    let renderers = [
        ("gpu", Renderer::gpu().expect("a wgpu adapter")),
        ("cpu", Renderer::cpu()),
    ];
    for (name, mut renderer) in renderers {
        eprintln!("{name}: {}", renderer.name());
        bench_one(c, name, &mut renderer);
    }
}

/// Whole frames (no damage tracking: every pixel drawn again) and one upload.
fn bench_one(c: &mut Criterion, name: &str, renderer: &mut Renderer) {
    let data: Vec<Vec<u8>> = (0..16).map(|i| buffer(i as u8 + 1)).collect();
    for (key, d) in data.iter().enumerate() {
        renderer.upload(key as u64, pixels(d), &[]);
    }
    let mut target = renderer.offscreen(1920, 1080);
    let mut group = c.benchmark_group(format!("composite-1920x1080-{name}"));
    group.sample_size(20);
    for n in [1usize, 4, 16] {
        let draws = cascade(n, 0);
        group.bench_with_input(BenchmarkId::new("windows", n), &draws, |b, draws| {
            b.iter(|| {
                renderer.render(&mut target, [0.1, 0.1, 0.1, 1.0], 1.0, draws);
                renderer.wait();
            })
        });
    }
    // The worst case: 16 translucent (ARGB) windows, every pixel of each one blended.
    for (key, d) in data.iter().enumerate() {
        renderer.upload(
            100 + key as u64,
            Pixels {
                opaque: false,
                ..pixels(d)
            },
            &[],
        );
    }
    let translucent = cascade(16, 100);
    group.bench_function("windows/16-translucent", |b| {
        b.iter(|| {
            renderer.render(&mut target, [0.1, 0.1, 0.1, 1.0], 1.0, &translucent);
            renderer.wait();
        })
    });
    group.finish();
    // The GPU copies an upload at the next submission: render a 1x1 frame to flush it.
    let fresh = buffer(99);
    let mut tiny = renderer.offscreen(1, 1);
    c.bench_function(&format!("upload-800x600-{name}"), |b| {
        b.iter(|| {
            renderer.upload(0, pixels(&fresh), &[]);
            renderer.render(&mut tiny, [0.0; 4], 1.0, &[]);
            renderer.wait();
        })
    });
    // An ARGB buffer: the copy also learns whether every pixel is opaque.
    c.bench_function(&format!("upload-800x600-argb-{name}"), |b| {
        b.iter(|| {
            renderer.upload(
                0,
                Pixels {
                    opaque: false,
                    ..pixels(&fresh)
                },
                &[],
            );
            renderer.render(&mut tiny, [0.0; 4], 1.0, &[]);
            renderer.wait();
        })
    });
}

criterion_group!(benches, bench);
criterion_main!(benches);
