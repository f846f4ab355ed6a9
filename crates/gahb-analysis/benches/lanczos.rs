//! Top-k of the Jacobian's symmetric part by block Lanczos on a small bias-free conv net.

use std::time::Duration;

use criterion::{BenchmarkId, Criterion};
use gahb_analysis::toy::BiasFreeConvNet;
use gahb_analysis::{lanczos_top_k, LanczosConfig, LanczosOperator};
use tch::{Device, Kind, Tensor};

pub fn bench(c: &mut Criterion) {
    let mut group = c.benchmark_group("lanczos");
    group.sample_size(10);
    group.measurement_time(Duration::from_secs(5));
    tch::manual_seed(0);
    let net = BiasFreeConvNet::new(1, 16, 3, Device::Cpu).expect("net");
    let side = 32i64;
    let y = Tensor::randn([1, 1, side, side], (Kind::Float, Device::Cpu));
    let ks: Vec<usize> = if crate::large() {
        vec![16, 64, 256]
    } else {
        vec![16, 64]
    };
    for k in ks {
        for operator in [LanczosOperator::SymmetricPart, LanczosOperator::Jacobian] {
            let cfg = LanczosConfig {
                operator,
                ..LanczosConfig::default()
            };
            let name = match operator {
                LanczosOperator::SymmetricPart => "symmetric_part",
                _ => "jacobian",
            };
            group.bench_with_input(BenchmarkId::new(name, k), &y, |b, y| {
                b.iter(|| lanczos_top_k(&net, y, k, &cfg).expect("lanczos"))
            });
        }
    }
    group.finish();
}
