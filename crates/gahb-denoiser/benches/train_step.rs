//! One universal-blind training step (forward, backward, Adam; paper §2) of the bias-free UNet (§1)
//! at 40×40 (2 blocks) and 80×80 (3 blocks), 64 channels, batch 64, on the CPU.
//! Compare with `benches/pytorch_train_step.py`, the same network and step in PyTorch.
//!
//! Measured 2026-11-26 on the shared 2-core machine under load (load average 3-10), OMP_NUM_THREADS=1,
//! median seconds per step: 40×40 Rust 6.42 / 3.80 vs PyTorch 7.69, 5.13 / 4.09 (two interleaved
//! rounds); 80×80 Rust 31.3 vs PyTorch 28.9. Same kernels; differences are within the load noise.

use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion};
use gahb_denoiser::{Model, ModelConfig, ScheduleUnit, TrainConfig, Trainer, UNetConfig};
use std::time::Duration;
use tch::{Device, Kind, Tensor};

fn train_step(c: &mut Criterion) {
    let mut group = c.benchmark_group("train_step");
    group
        .sample_size(10)
        .warm_up_time(Duration::from_secs(2))
        .measurement_time(Duration::from_secs(20));
    for size in [40i64, 80] {
        tch::manual_seed(0);
        let cfg = UNetConfig::for_resolution(size).expect("table 1 size");
        let model = Model::new(&ModelConfig::UNet(cfg), Device::Cpu).expect("model");
        let data = Tensor::rand([64, 1, size, size], (Kind::Float, Device::Cpu));
        let tcfg = TrainConfig {
            batch_size: 64,
            epochs: None,
            steps: Some(usize::MAX / 2),
            epoch_images: None,
            lr_milestones: vec![],
            milestone_unit: ScheduleUnit::Steps,
            ..TrainConfig::default()
        };
        let mut trainer = Trainer::new(&model, &data, &tcfg).expect("trainer");
        group.bench_with_input(
            BenchmarkId::new("unet_64ch_batch64", format!("{size}x{size}")),
            &size,
            |b, _| b.iter(|| trainer.train_step().expect("step")),
        );
    }
    group.finish();
}

criterion_group! {
    name = benches;
    // No plots: plotters finds no font on a bare machine and criterion then panics.
    config = Criterion::default().without_plots();
    targets = train_step
}
criterion_main!(benches);
