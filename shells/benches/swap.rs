//! Time to swap shells with 10 windows (issue 5's target: under one 60 Hz frame, 16 ms).
//! Policy only: re-laying out and computing every configure, no Wayland or rendering.

use std::hint::black_box;

use compose_shells::Shell;
use compose_shells::definition::builtin;
use criterion::{Criterion, criterion_group, criterion_main};

fn bench(c: &mut Criterion) {
    let shells = builtin();
    let mut shell = Shell::new(shells[0].clone(), 1920, 1080);
    for i in 0..10 {
        shell.add_window("app", &format!("window {i}"));
    }
    let mut next = 1;
    c.bench_function("swap-10-windows", |b| {
        b.iter(|| {
            shell.swap(shells[next % shells.len()].clone());
            next += 1;
            black_box(shell.take_configures())
        })
    });
}

criterion_group!(benches, bench);
criterion_main!(benches);
