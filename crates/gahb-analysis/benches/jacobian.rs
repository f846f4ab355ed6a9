//! The full Jacobian of a small bias-free conv net: linearized forward against batched backward.

use std::time::Duration;

use criterion::{BenchmarkId, Criterion};
use gahb_analysis::toy::BiasFreeConvNet;
use gahb_analysis::{jacobian, JacobianConfig, JacobianRoute};
use tch::{Device, Kind, Tensor};

pub fn bench(c: &mut Criterion) {
    let mut group = c.benchmark_group("jacobian");
    group.sample_size(10);
    group.measurement_time(Duration::from_secs(5));
    tch::manual_seed(0);
    // 1 → 16 → 16 → 1 channels, 3×3 convolutions, no biases.
    let net = BiasFreeConvNet::new(1, 16, 3, Device::Cpu).expect("net");
    for side in [16i64, 32] {
        let y = Tensor::randn([1, 1, side, side], (Kind::Float, Device::Cpu));
        for route in [JacobianRoute::Linearized, JacobianRoute::Backward] {
            for batch_size in [64usize, 256] {
                let cfg = JacobianConfig { route, batch_size };
                let id = BenchmarkId::new(format!("{}_b{batch_size}", route.name()), side * side);
                group.bench_with_input(id, &y, |b, y| {
                    b.iter(|| jacobian(&net, y, &cfg).expect("jacobian"))
                });
            }
        }
    }
    group.finish();
}
