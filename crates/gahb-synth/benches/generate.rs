//! Generation speed of the synthetic classes (PAPER.md §6 C^α, §7 disks): images per second at
//! 40×40 and 80×80. Run with `cargo bench -p gahb-synth`.

use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use gahb_synth::{generate_disks, CAlphaConfig, CAlphaGenerator, DiskConfig};

const BATCH: usize = 64;

fn bench_generate(c: &mut Criterion) {
    let mut group = c.benchmark_group("generate");
    group.throughput(Throughput::Elements(BATCH as u64));
    for size in [40usize, 80] {
        let gen = CAlphaGenerator::new(&CAlphaConfig {
            size,
            ..CAlphaConfig::paper(2.0)
        })
        .expect("valid config");
        group.bench_with_input(BenchmarkId::new("calpha", size), &size, |b, _| {
            b.iter(|| gen.generate(BATCH, 0))
        });
        let cfg = DiskConfig::paper(size);
        group.bench_with_input(BenchmarkId::new("disks", size), &size, |b, _| {
            b.iter(|| generate_disks(&cfg, BATCH, 0).expect("valid config"))
        });
    }
    group.finish();
}

criterion_group! {
    name = benches;
    // No plots: plotters finds no font on a bare machine and criterion then panics.
    config = Criterion::default().without_plots();
    targets = bench_generate
}
criterion_main!(benches);
