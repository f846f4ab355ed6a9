//! eigh of a d×d symmetric matrix: libtorch (f64, f32) against LAPACK through ndarray-linalg.

use std::time::Duration;

use criterion::{BenchmarkId, Criterion};
use gahb_analysis::{eigh_sym, EighBackend};
use tch::{Device, Kind, Tensor};

pub fn bench(c: &mut Criterion) {
    let mut group = c.benchmark_group("eigh");
    group.sample_size(10);
    group.measurement_time(Duration::from_secs(5));
    let mut sizes = vec![1024i64, 1600];
    if crate::large() {
        sizes.push(4096);
    }
    for d in sizes {
        tch::manual_seed(0);
        let a = Tensor::randn([d, d], (Kind::Double, Device::Cpu));
        #[cfg_attr(not(feature = "lapack"), allow(unused_mut))]
        let mut backends = vec![
            ("torch_f64", EighBackend::Torch),
            ("torch_f32", EighBackend::TorchF32),
        ];
        #[cfg(feature = "lapack")]
        if d <= 1600 {
            backends.push(("lapack_dsyev", EighBackend::Lapack));
        }
        for (name, backend) in backends {
            group.bench_with_input(BenchmarkId::new(name, d), &a, |b, a| {
                b.iter(|| eigh_sym(a, backend).expect("eigh"))
            });
        }
    }
    group.finish();
}
