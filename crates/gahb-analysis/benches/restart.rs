//! Restarted block Lanczos (`restart.rs`) on explicit symmetric matrices with denoiser-like
//! spectra (issue 15, item 3): seconds to converge the top k at ARPACK's per-pair tolerance 1e-6.
//! The products each run spends, and ARPACK's on the same matrices, come from
//! `examples/topk_products.rs` and `benches/topk_arpack.py`. d = 1024 here (4096 with
//! `GAHB_BENCH_LARGE=1`).

use std::time::Duration;

use criterion::{BenchmarkId, Criterion};
use gahb_analysis::{restarted_lanczos, MatrixOperator, RestartedConfig, ToleranceScale};
use tch::{Device, Kind, Tensor};

fn matrix(d: usize, decay: impl Fn(f64) -> f64) -> Tensor {
    tch::manual_seed(0);
    let g = Tensor::randn([d as i64, d as i64], (Kind::Double, Device::Cpu));
    let (q, _) = Tensor::linalg_qr(&g, "reduced");
    let lam: Vec<f64> = (0..d).map(|i| decay(i as f64)).collect();
    let a = q.matmul(&Tensor::from_slice(&lam).diag(0)).matmul(&q.tr());
    (&a + a.tr()) * 0.5
}

pub fn bench(c: &mut Criterion) {
    let mut group = c.benchmark_group("restarted_lanczos");
    group.sample_size(10);
    group.measurement_time(Duration::from_secs(5));
    let d = if crate::large() { 4096 } else { 1024 };
    let cases = [
        ("fast", matrix(d, |x| (-x / 25.0).exp())),
        ("slow", matrix(d, |x| (1.0 + x).powf(-0.5))),
    ];
    for (name, a) in &cases {
        for k in [8usize, 32] {
            let cfg = RestartedConfig {
                tol: 1e-6,
                tol_scale: ToleranceScale::PerPair,
                budget: 40 * d,
                seed: 1,
                ..RestartedConfig::default()
            };
            group.bench_with_input(BenchmarkId::new(*name, k), a, |b, a| {
                b.iter(|| {
                    let mut op = MatrixOperator::new(a).expect("operator");
                    restarted_lanczos(&mut op, k, &cfg).expect("lanczos")
                })
            });
        }
    }
    group.finish();
}
