//! Sampler throughput (PAPER.md §4, issue 5 "Performance"): steps per second for a batch of 16
//! images of 40×40 with a small bias-free conv net, and the sampler's own overhead (everything but
//! the denoiser calls) as a fraction of a step, which must stay below 5%.
//!
//! The net is built here from `tch::nn` (this crate never depends on `gahb-denoiser`): four 3×3
//! convolutions without biases (1→32→32→32→1) with ReLUs between them, predicting the residual, so
//! f(y) = y − net(y) as in PAPER.md §1. Its weights are random; σ_L is set tiny and the divergence
//! bound huge so every run takes exactly `STEPS` steps.
//! Run with `cargo bench -p gahb-diffusion --bench sampler`.

use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use gahb_diffusion::{sample, SamplerConfig, StepSchedule};
use gahb_tensor::Denoiser;
use tch::nn::{self, Module};
use tch::{Device, Tensor};

const BATCH: usize = 16;
const SIDE: i64 = 40;
const STEPS: usize = 10;

struct SmallBfCnn {
    _vs: nn::VarStore,
    net: nn::Sequential,
}

impl SmallBfCnn {
    fn new(channels: i64) -> Self {
        tch::manual_seed(0);
        let vs = nn::VarStore::new(Device::Cpu);
        let root = vs.root();
        let cfg = nn::ConvConfig {
            padding: 1,
            bias: false,
            ..Default::default()
        };
        let mut net = nn::seq();
        let widths = [1, channels, channels, channels, 1];
        for (i, w) in widths.windows(2).enumerate() {
            net = net.add(nn::conv2d(&root / format!("conv{i}"), w[0], w[1], 3, cfg));
            if i + 2 < widths.len() {
                net = net.add_fn(|x| x.relu());
            }
        }
        // Keep the random residual small, so σ_t stays of order 1.
        tch::no_grad(|| {
            for (name, mut p) in vs.variables() {
                if name.starts_with("conv3") {
                    let _ = p.f_mul_scalar_(0.1);
                }
            }
        });
        Self { _vs: vs, net }
    }
}

impl Denoiser for SmallBfCnn {
    fn denoise(&self, y: &Tensor) -> gahb_tensor::Result<Tensor> {
        Ok(y - self.net.forward(y))
    }
    fn is_bias_free(&self) -> bool {
        true
    }
    fn name(&self) -> String {
        "bench bf-cnn 4×32".into()
    }
}

fn config() -> SamplerConfig {
    SamplerConfig {
        sigma_l: 1e-9,
        divergence_bound: 1e9,
        max_steps: STEPS,
        schedule: StepSchedule::Fixed,
        seed: 1,
        ..SamplerConfig::default()
    }
}

fn sampler_steps(c: &mut Criterion) {
    let _guard = tch::no_grad_guard();
    let net = SmallBfCnn::new(32);
    let cfg = config();
    let shape = [1, SIDE, SIDE];

    // The sampler's own accounting: time outside the denoiser over total, median of 5 runs.
    let mut fractions = Vec::new();
    let mut rates = Vec::new();
    for _ in 0..5 {
        let run = sample(&net, &cfg, BATCH, shape).expect("sample");
        assert_eq!(run.timing.steps, STEPS, "every run takes STEPS steps");
        fractions.push(run.timing.overhead_fraction());
        rates.push(run.timing.steps_per_second());
    }
    fractions.sort_by(f64::total_cmp);
    rates.sort_by(f64::total_cmp);
    let overhead = fractions[fractions.len() / 2];
    println!(
        "sampler overhead (outside the denoiser): median {:.2}% of a run (min {:.2}%, max {:.2}%), \
         {:.2} steps/s, batch {BATCH} at {SIDE}×{SIDE}, {} libtorch threads{}",
        100.0 * overhead,
        100.0 * fractions[0],
        100.0 * fractions[fractions.len() - 1],
        rates[rates.len() / 2],
        tch::get_num_threads(),
        if overhead < 0.05 { "" } else { "  (ABOVE the 5% target)" },
    );

    let mut group = c.benchmark_group("sampler");
    group.sample_size(10);
    group.throughput(Throughput::Elements(STEPS as u64));
    group.bench_function(BenchmarkId::new("steps_b16_40x40", STEPS), |b| {
        b.iter(|| sample(&net, &cfg, BATCH, shape).expect("sample"))
    });
    // The denoiser calls alone (STEPS + 1 per run), for the overhead by subtraction.
    let y = Tensor::randn(
        [BATCH as i64, 1, SIDE, SIDE],
        (tch::Kind::Float, Device::Cpu),
    );
    group.bench_function(
        BenchmarkId::new("denoiser_only_b16_40x40", STEPS + 1),
        |b| {
            b.iter(|| {
                for _ in 0..=STEPS {
                    let _ = net.denoise(&y).expect("denoise");
                }
            })
        },
    );
    group.finish();
}

criterion_group! {
    name = benches;
    // No plots: plotters finds no font on a bare machine and criterion then panics.
    config = Criterion::default().without_plots();
    targets = sampler_steps
}
criterion_main!(benches);
