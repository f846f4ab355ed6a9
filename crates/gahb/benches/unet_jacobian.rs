//! The exact Jacobian of the paper's bias-free UNet (PAPER.md §1, §5): the 40×40 Table 1 model
//! (2 blocks, 64 channels) by the linearized forward route and by batched backward passes, and the
//! top-k spectrum of the 80×80 model (3 blocks) by Lanczos on Jacobian-vector products.
//!
//! Compare with PyTorch's `torch.func.jacrev` on the same network and machine:
//! `python crates/gahb/benches/pytorch_unet_jacobian.py` (see its docstring for the venv).
//! Run with `cargo bench -p gahb --bench unet_jacobian`; set `GAHB_BENCH_LARGE=1` for k = 256 at
//! 80×80. Convolution weights are the untrained initialisation, batch-norm scales are 1 and running
//! statistics the initial ones (sd 1): the cost of a Jacobian pass does not depend on the values,
//! the number of Lanczos iterations does.
//!
//! Measured 2026-11-26 on the 2-core machine, quiet (load average < 0.5), libtorch's 2 threads:
//! linearized route 18.5 s (batch 32) and 18.7 s (batch 64), 27.3 s (batch 200); PyTorch 2.11.0 on the
//! same network: `jacrev` 22.7 s (chunk 200) and 53.8 s (chunk 64), and a plain no-grad forward of the
//! 1600 basis images 23.0 s (batch 64). So the linearized route is 1.2× faster than the best `jacrev`
//! and at the forward-pass floor: about 1.1 GFLOP per image × 1600 images in 18.5 s is 96 GFLOP/s.
//! A Jacobian needs d passes either way (jacrev's input-gradient passes cost what a forward costs),
//! so no exact route can be 4× faster than jacrev here. Lanczos top-32 of the symmetric part at
//! 80×80: 64.8 s, a full basis of 352 directions (704 products J·v and Jᵀ·v, 92 ms each) without
//! reaching the 1e-4 tolerance; with the scales left at their initial values (J ≈ I) it took 6.7 s.

use std::time::Duration;

use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion};
use gahb_analysis::{jacobian, lanczos_top_k, JacobianConfig, JacobianRoute, LanczosConfig};
use gahb_denoiser::{Model, ModelConfig, UNetConfig};
use tch::{Device, Kind};

/// The Table 1 UNet for `size`, with its batch-norm scales set to 1 as after training: at
/// initialisation they are ≤ 0.025, the Jacobian is nearly the identity and Lanczos converges in an
/// unrepresentatively small basis.
fn unet(size: i64) -> Model {
    tch::manual_seed(0);
    let cfg = UNetConfig::for_resolution(size).expect("a Table 1 size");
    let m = Model::new(&ModelConfig::UNet(cfg), Device::Cpu).expect("model");
    m.set_bn_scales(1.0).expect("scales");
    m
}

fn noisy_image(size: i64) -> tch::Tensor {
    let x = gahb_tensor::random::uniform_like(1, &[1, 1, size, size], Kind::Float).expect("x");
    let z = gahb_tensor::random::normal_like(2, &[1, 1, size, size], Kind::Float).expect("z");
    x + z * 0.1
}

fn large() -> bool {
    std::env::var("GAHB_BENCH_LARGE").is_ok_and(|v| v == "1")
}

fn full_jacobian(c: &mut Criterion) {
    let mut group = c.benchmark_group("unet_jacobian_40");
    group.sample_size(10);
    group.measurement_time(Duration::from_secs(30));
    let net = unet(40);
    let y = noisy_image(40);
    // Each run takes 15-60 s on 2 cores, and criterion takes at least 10 samples: the slower
    // variants only with GAHB_BENCH_LARGE=1.
    let mut runs = vec![
        (JacobianRoute::Linearized, 32usize),
        (JacobianRoute::Linearized, 64),
    ];
    if large() {
        runs.extend([
            (JacobianRoute::Linearized, 200),
            (JacobianRoute::Backward, 64),
        ]);
    }
    for (route, batch_size) in runs {
        let cfg = JacobianConfig { route, batch_size };
        let id = BenchmarkId::new(route.name(), batch_size);
        group.bench_with_input(id, &y, |b, y| {
            b.iter(|| jacobian(&net, y, &cfg).expect("jacobian"))
        });
    }
    group.finish();
}

fn top_k_80(c: &mut Criterion) {
    let mut group = c.benchmark_group("unet_lanczos_80");
    group.sample_size(10);
    group.measurement_time(Duration::from_secs(30));
    let net = unet(80);
    let y = noisy_image(80);
    let ks: &[usize] = if large() { &[32, 256] } else { &[32] };
    for &k in ks {
        let cfg = LanczosConfig::default();
        // One run outside the timing, to say what a run does.
        let s = lanczos_top_k(&net, &y, k, &cfg).expect("lanczos").summary;
        eprintln!(
            "lanczos top-{k} at 80×80: basis {}, {} products, converged {}, {:.1} s",
            s.basis_size, s.n_products, s.converged, s.wall_s
        );
        group.bench_with_input(BenchmarkId::new("top_k", k), &y, |b, y| {
            b.iter(|| lanczos_top_k(&net, y, k, &cfg).expect("lanczos"))
        });
    }
    group.finish();
}

criterion_group! {
    name = benches;
    // No plots: plotters finds no font on a bare machine and criterion then panics.
    config = Criterion::default().without_plots();
    targets = full_jacobian, top_k_80
}
criterion_main!(benches);
