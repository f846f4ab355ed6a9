//! Benchmarks of the Jacobian eigen-analysis (PAPER.md §5): eigh backends, Jacobian routes and
//! Lanczos top-k, restarted Lanczos on explicit matrices. Run with `cargo bench -p gahb-analysis --features lapack`; set
//! `GAHB_BENCH_LARGE=1` for d = 4096 eigh and 32² Lanczos with larger k.

use criterion::{criterion_group, criterion_main, Criterion};

mod eigh;
mod jacobian;
mod lanczos;
mod restart;

criterion_group! {
    name = benches;
    // No plots: plotters finds no font on a bare machine and criterion then panics.
    config = Criterion::default().without_plots();
    targets = eigh::bench, jacobian::bench, lanczos::bench, restart::bench
}
criterion_main!(benches);

/// Whether the large sizes are asked for.
pub fn large() -> bool {
    std::env::var("GAHB_BENCH_LARGE").is_ok_and(|v| v == "1")
}
