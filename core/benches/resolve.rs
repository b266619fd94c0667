//! Resolver benchmark on synthetic catalogs of 1,000 and 10,000 components: random acyclic
//! requires, virtuals with several providers, versioned conflicts, a few recommends.
//! Target (issue 2): 10,000 components resolve in under 100 ms on a 2-core CI machine.

use std::fmt::Write as _;
use std::hint::black_box;

use compose_core::resolve::{ResolveOptions, resolve};
use compose_core::{Catalog, dsl};
use criterion::{Criterion, criterion_group, criterion_main};

/// A small deterministic generator (an LCG), so every run benchmarks the same catalog.
struct Lcg(u64);

impl Lcg {
    fn below(&mut self, n: usize) -> usize {
        self.0 = self
            .0
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        ((self.0 >> 33) as usize) % n
    }
}

/// DSL text of `n` components (1 to 3 versions each) and a device `d` with 20 roots.
fn synthetic(n: usize) -> String {
    let mut rng = Lcg(n as u64);
    let virtuals = n / 50;
    let mut text = String::new();
    for i in 0..n {
        let versions = 1 + rng.below(3);
        for v in 0..versions {
            let mut requires = Vec::new();
            // Only higher indices: the graph is acyclic by construction.
            for _ in 0..rng.below(4) {
                if i + 1 < n {
                    let target = i + 1 + rng.below((n - i - 1).min(200));
                    requires.push(match rng.below(20) {
                        0 => format!("v{}", rng.below(virtuals)),
                        1 => format!(
                            "c{target:05} >= 1.1 | c{:05}",
                            i + 1 + rng.below((n - i - 1).min(200))
                        ),
                        2..=5 => format!("c{target:05} >= 1"),
                        _ => format!("c{target:05}"),
                    });
                }
            }
            let mut line = format!("c{i:05} 1.{v}.0: requires {}", requires.join(", "));
            if rng.below(50) == 0 && i + 1 < n {
                write!(
                    line,
                    "; conflicts c{:05} < 1.1",
                    i + 1 + rng.below((n - i - 1).min(200))
                )
                .unwrap();
            }
            if rng.below(40) == 0 && i + 1 < n {
                write!(
                    line,
                    "; recommends c{:05}",
                    i + 1 + rng.below((n - i - 1).min(200))
                )
                .unwrap();
            }
            writeln!(text, "{line}").unwrap();
        }
    }
    // Each virtual has 2 to 4 providers; some need a capability the device lacks.
    for v in 0..virtuals {
        for k in 0..2 + rng.below(3) {
            let needs = if rng.below(4) == 0 {
                "; needs gamepad"
            } else {
                ""
            };
            writeln!(
                text,
                "p{v:05}-{k} 1.{}.0: provides v{v}{needs}",
                rng.below(5)
            )
            .unwrap();
        }
    }
    let roots: Vec<String> = (0..20).map(|k| format!("c{:05}", k * (n / 40))).collect();
    writeln!(
        text,
        "device d: roots {}; prefer v0 = p00000-1",
        roots.join(", ")
    )
    .unwrap();
    text
}

fn load(n: usize) -> Catalog {
    let (manifests, devices) = dsl::files(&synthetic(n));
    match Catalog::load(&manifests, &devices) {
        Ok(loaded) => loaded.catalog,
        Err(d) => panic!(
            "synthetic catalog is invalid: {:?}",
            d.iter().next().map(|d| d.to_record())
        ),
    }
}

fn bench(c: &mut Criterion) {
    for n in [1_000, 10_000] {
        let catalog = load(n);
        let resolution =
            resolve(&catalog, "d", &ResolveOptions::default()).expect("synthetic catalog resolves");
        eprintln!(
            "{n} components: {} chosen, {} dropped recommends",
            resolution.components.len(),
            resolution.dropped.len()
        );
        let mut group = c.benchmark_group("resolve");
        group.sample_size(20);
        group.bench_function(format!("{n}-components"), |b| {
            b.iter(|| resolve(black_box(&catalog), "d", &ResolveOptions::default()).unwrap())
        });
        group.finish();
    }
}

criterion_group!(benches, bench);
criterion_main!(benches);
