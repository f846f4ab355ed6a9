//! The sampler's contract (PAPER.md §4, issue 5): seeding, identical noise for different denoisers,
//! chunking, per-sample stopping, reported stops, errors on bad input, timing and progress.

mod common;

use anyhow::Result;
use common::{gaussian_prior, training_set};
use gahb_diffusion::noise::standard_normal;
use gahb_diffusion::{
    sample, sample_with, Error, InitMean, Memorizer, NoiseLevel, Progress, SampleOptions,
    SampleRun, SamplerConfig, StepSchedule, StopReason,
};
use gahb_tensor::{Denoiser, LinearDenoiser};
use tch::{Device, Kind, Tensor};

const SHAPE: [i64; 3] = [1, 8, 8];

fn memorizer() -> Memorizer {
    Memorizer::new(&training_set(5, 8, 7), NoiseLevel::blind()).expect("memorizer")
}

fn shrink(factor: f64) -> LinearDenoiser {
    let m = Tensor::eye(64, (Kind::Float, Device::Cpu)) * factor;
    LinearDenoiser::new(&m, SHAPE).expect("linear")
}

/// z_k reconstructed from recorded iterates: z_k = (x_k − x_{k−1} + h_k·r(x_{k−1}))/γ_k.
fn reconstructed_noise(run: &SampleRun, cfg: &SamplerConfig, k: usize) -> Tensor {
    let prev = &run.snapshots[k - 1];
    let cur = &run.snapshots[k];
    assert_eq!(prev.sample_indices, cur.sample_indices);
    let r = &prev.iterates - &prev.denoised;
    let h = cfg.step_size(k);
    let gamma: Vec<f32> = prev
        .sample_indices
        .iter()
        .map(|&i| (run.traces[i].sigma[k - 1] * cfg.noise_factor(h)) as f32)
        .collect();
    let gamma = Tensor::from_slice(&gamma).reshape([-1, 1, 1, 1]);
    (&cur.iterates - &prev.iterates + r * h) / gamma
}

#[test]
fn same_seed_gives_identical_samples() -> Result<()> {
    common::single_thread();
    let mem = memorizer();
    let cfg = SamplerConfig {
        seed: 42,
        ..SamplerConfig::default()
    };
    let a = sample(&mem, &cfg, 4, SHAPE)?;
    let b = sample(&mem, &cfg, 4, SHAPE)?;
    assert!(a.samples.equal(&b.samples));
    assert_eq!(a.traces, b.traces);
    let c = sample(&mem, &SamplerConfig { seed: 43, ..cfg }, 4, SHAPE)?;
    assert!(!a.initial.equal(&c.initial));
    Ok(())
}

#[test]
fn different_denoisers_see_the_same_noise_at_every_step() -> Result<()> {
    common::single_thread();
    let mem = memorizer();
    let gauss = gaussian_prior(8, 1, 8, 0.3, 0.8, NoiseLevel::blind());
    let cfg = SamplerConfig {
        seed: 7,
        record_every: 1,
        max_steps: 6,
        ..SamplerConfig::default()
    };
    let a = sample(&mem, &cfg, 3, SHAPE)?;
    let b = sample(&gauss, &cfg, 3, SHAPE)?;
    // The initial images are bit-identical, and equal m + σ₀z₀ with z₀ from the seed's streams.
    assert!(a.initial.equal(&b.initial));
    let z0 = standard_normal(7, 0, 3, &SHAPE, Device::Cpu)?;
    assert!(a.initial.equal(&(z0 * cfg.sigma0 + 0.5)));
    // The trajectories differ, but the z injected at each step is the same.
    assert!(!a.samples.equal(&b.samples));
    let other = sample(
        &mem,
        &SamplerConfig {
            seed: 8,
            ..cfg.clone()
        },
        3,
        SHAPE,
    )?;
    for k in 1..=5 {
        let za = reconstructed_noise(&a, &cfg, k);
        let zb = reconstructed_noise(&b, &cfg, k);
        let zo = reconstructed_noise(&other, &cfg, k);
        let diff = (&za - &zb).abs().max().double_value(&[]);
        assert!(diff < 2e-3, "step {k}: z differs by {diff}");
        assert!(
            (&za - &zo).abs().max().double_value(&[]) > 0.5,
            "another seed, other z"
        );
        let std = za.std(true).double_value(&[]);
        assert!((0.7..1.3).contains(&std), "z has std {std}");
    }
    Ok(())
}

#[test]
fn a_run_split_into_chunks_equals_the_whole_run() -> Result<()> {
    common::single_thread();
    let f = shrink(0.9);
    let cfg = SamplerConfig {
        seed: 3,
        schedule: StepSchedule::Fixed,
        h0: 0.1,
        max_steps: 20,
        ..SamplerConfig::default()
    };
    let whole = sample(&f, &cfg, 6, SHAPE)?;
    let tail = sample(
        &f,
        &SamplerConfig {
            first_sample_index: 3,
            ..cfg
        },
        3,
        SHAPE,
    )?;
    let diff = (whole.samples.narrow(0, 3, 3) - &tail.samples)
        .abs()
        .max()
        .double_value(&[]);
    assert!(diff < 1e-5, "chunked run differs by {diff}");
    assert_eq!(whole.traces[3..], tail.traces[..]);
    Ok(())
}

#[test]
fn each_sample_stops_on_its_own_lagged_rule() -> Result<()> {
    common::single_thread();
    let mem = memorizer();
    let cfg = SamplerConfig {
        seed: 11,
        ..SamplerConfig::default()
    };
    let run = sample(&mem, &cfg, 8, SHAPE)?;
    let steps: Vec<usize> = run.traces.iter().map(|t| t.steps).collect();
    assert!(steps.iter().min() != steps.iter().max(), "steps {steps:?}");
    assert_eq!(run.timing.steps, *steps.iter().max().expect("samples"));
    assert_eq!(run.step_sizes.len(), run.timing.steps);
    for t in &run.traces {
        assert_eq!(t.stop, StopReason::Converged);
        // σ(x_k) for k = 0..=T; step T + 1 did not run because σ(x_{T−1}) < σ_L, and every
        // earlier step ran because the lagged σ was ≥ σ_L.
        assert_eq!(t.sigma.len(), t.steps + 1);
        assert!(t.sigma[t.steps - 1] < cfg.sigma_l);
        assert!(t.sigma[..t.steps - 1].iter().all(|&s| s >= cfg.sigma_l));
    }
    // T + 1 denoiser calls per sample: the images passed through the denoiser add up.
    let images: usize = steps.iter().map(|s| s + 1).sum();
    assert_eq!(run.timing.denoised_images, images);
    assert_eq!(run.timing.denoiser_calls, run.timing.steps + 1);
    Ok(())
}

#[test]
fn step_limit_and_divergence_are_reported_stops() -> Result<()> {
    common::single_thread();
    // f(y) = y has r = 0 and σ = 0: converged at once, output = x₀.
    let cfg = SamplerConfig {
        seed: 1,
        ..SamplerConfig::default()
    };
    let ident = sample(&gahb_tensor::IdentityDenoiser, &cfg, 2, SHAPE)?;
    assert!(ident
        .traces
        .iter()
        .all(|t| t.stop == StopReason::Converged && t.steps == 0));
    assert!(ident.samples.equal(&ident.initial));
    // f(y) = 0.5·y shrinks slowly with a fixed small h: the step limit stops it.
    let limited = sample(
        &shrink(0.5),
        &SamplerConfig {
            schedule: StepSchedule::Fixed,
            max_steps: 5,
            ..cfg.clone()
        },
        2,
        SHAPE,
    )?;
    assert!(limited
        .traces
        .iter()
        .all(|t| t.stop == StopReason::StepLimit && t.steps == 5));
    // f(y) = −2y has r = 3y, so σ grows past the bound: diverged, well before the step limit.
    let diverged = sample(&shrink(-2.0), &cfg, 2, SHAPE)?;
    assert!(diverged
        .traces
        .iter()
        .all(|t| t.stop == StopReason::Diverged));
    assert!(diverged.timing.steps < 10);
    // A denoiser returning NaN is a diverged sample, not a hang.
    let nan = sample(&shrink(f64::NAN), &cfg, 2, SHAPE)?;
    assert!(nan
        .traces
        .iter()
        .all(|t| t.stop == StopReason::Diverged && t.steps == 0));
    let summary = nan.summary();
    assert_eq!(summary.n_diverged, 2);
    Ok(())
}

/// A denoiser that returns a batch of the wrong shape.
struct Cropping;

impl Denoiser for Cropping {
    fn denoise(&self, y: &Tensor) -> gahb_tensor::Result<Tensor> {
        Ok(y.narrow(3, 0, 4))
    }
}

#[test]
fn bad_input_is_a_clear_error() -> Result<()> {
    common::single_thread();
    let f = shrink(0.5);
    let ok = SamplerConfig::default();
    let cases = [
        (
            "h0",
            SamplerConfig {
                h0: 0.0,
                ..ok.clone()
            },
        ),
        (
            "h0",
            SamplerConfig {
                h0: 1.0,
                ..ok.clone()
            },
        ),
        (
            "beta",
            SamplerConfig {
                beta: 0.0,
                ..ok.clone()
            },
        ),
        (
            "beta",
            SamplerConfig {
                beta: 1.5,
                ..ok.clone()
            },
        ),
        (
            "sigma0",
            SamplerConfig {
                sigma0: 0.0,
                ..ok.clone()
            },
        ),
        (
            "sigma0",
            SamplerConfig {
                sigma0: -1.0,
                ..ok.clone()
            },
        ),
        (
            "sigma_l",
            SamplerConfig {
                sigma_l: 0.0,
                ..ok.clone()
            },
        ),
        (
            "divergence_bound",
            SamplerConfig {
                divergence_bound: 0.01,
                ..ok.clone()
            },
        ),
        (
            "max_steps",
            SamplerConfig {
                max_steps: 0,
                ..ok.clone()
            },
        ),
        (
            "init_mean",
            SamplerConfig {
                init_mean: InitMean::Constant(f64::NAN),
                ..ok.clone()
            },
        ),
    ];
    for (field, cfg) in cases {
        match sample(&f, &cfg, 1, SHAPE) {
            Err(Error::InvalidConfig { field: got, .. }) => assert_eq!(got, field),
            other => panic!("{field}: expected an invalid-config error, got {other:?}"),
        }
    }
    assert!(SamplerConfig {
        beta: 1.0,
        ..ok.clone()
    }
    .validate()
    .is_ok());
    match sample(&Cropping, &ok, 1, SHAPE) {
        Err(Error::DenoiserOutput { expected, got, .. }) => {
            assert_eq!(expected, vec![1, 1, 8, 8]);
            assert_eq!(got, vec![1, 1, 8, 4]);
        }
        other => panic!("expected a denoiser-output error, got {other:?}"),
    }
    assert!(sample(&f, &ok, 0, SHAPE).is_err());
    assert!(sample(&f, &ok, 1, [1, 0, 8]).is_err());
    // The initial image must match init_mean.
    let img = Tensor::full([1, 8, 8], 0.3, (Kind::Float, Device::Cpu));
    let with_img = SampleOptions {
        init_image: Some(&img),
        ..Default::default()
    };
    assert!(sample_with(&f, &ok, 1, SHAPE, with_img).is_err());
    let image_cfg = SamplerConfig {
        init_mean: InitMean::Image,
        ..ok.clone()
    };
    assert!(sample(&f, &image_cfg, 1, SHAPE).is_err());
    let bad_img = Tensor::full([1, 4, 4], 0.3, (Kind::Float, Device::Cpu));
    let opts = SampleOptions {
        init_image: Some(&bad_img),
        ..Default::default()
    };
    assert!(sample_with(&f, &image_cfg, 1, SHAPE, opts).is_err());
    let opts = SampleOptions {
        init_image: Some(&img),
        ..Default::default()
    };
    let run = sample_with(
        &gahb_tensor::IdentityDenoiser,
        &SamplerConfig {
            sigma0: 1e-6,
            ..image_cfg
        },
        1,
        SHAPE,
        opts,
    )?;
    let dev = (&run.initial - 0.3).abs().max().double_value(&[]);
    assert!(dev < 1e-4, "initial image off its mean by {dev}");
    Ok(())
}

#[test]
fn config_round_trips_and_rejects_unknown_fields() -> Result<()> {
    common::single_thread();
    let cfg = SamplerConfig {
        init_mean: InitMean::Constant(0.25),
        schedule: StepSchedule::Fixed,
        seed: 9,
        ..SamplerConfig::default()
    };
    let text = toml::to_string(&cfg)?;
    let back: SamplerConfig = toml::from_str(&text)?;
    assert_eq!(back, cfg);
    // Missing fields take the paper's defaults.
    let partial: SamplerConfig = toml::from_str("beta = 0.5\ninit_mean = \"zero\"")?;
    assert_eq!(partial.beta, 0.5);
    assert_eq!(partial.init_mean, InitMean::Zero);
    assert_eq!(partial.h0, 0.01);
    assert!(toml::from_str::<SamplerConfig>("bta = 0.5").is_err());
    let d = SamplerConfig::default();
    assert_eq!(
        (d.h0, d.beta, d.sigma0, d.sigma_l, d.divergence_bound),
        (0.01, 0.1, 1.0, 0.05, 2.0)
    );
    // h_t ascends from h₀ towards 1; the injected noise factor is real and 0 for β = 1.
    assert_eq!(d.step_size(1), 0.01);
    let h: Vec<f64> = (1..500).map(|t| d.step_size(t)).collect();
    assert!(h.windows(2).all(|w| w[0] < w[1] && w[1] < 1.0));
    assert_eq!(SamplerConfig { beta: 1.0, ..d }.noise_factor(0.3), 0.0);
    Ok(())
}

#[test]
fn progress_and_timing_are_reported() -> Result<()> {
    common::single_thread();
    let mem = memorizer();
    let cfg = SamplerConfig {
        seed: 2,
        record_every: 10,
        ..SamplerConfig::default()
    };
    let mut seen: Vec<Progress> = Vec::new();
    let mut cb = |p: &Progress| seen.push(*p);
    let run = sample_with(
        &mem,
        &cfg,
        3,
        SHAPE,
        SampleOptions {
            progress: Some(&mut cb),
            ..Default::default()
        },
    )?;
    assert_eq!(seen.len(), run.timing.steps);
    assert!(seen
        .windows(2)
        .all(|w| w[1].step == w[0].step + 1 && w[1].n_active <= w[0].n_active));
    assert!(run.timing.denoiser_s > 0.0 && run.timing.denoiser_s <= run.timing.total_s);
    let f = run.timing.overhead_fraction();
    assert!((0.0..1.0).contains(&f));
    let steps: Vec<usize> = run.snapshots.iter().map(|s| s.step).collect();
    assert_eq!(steps[0], 0);
    assert!(steps.iter().all(|s| s % 10 == 0));
    assert_eq!(run.snapshots[0].iterates.size(), vec![3, 1, 8, 8]);
    let json = serde_json::to_string(&run.summary())?;
    assert!(json.contains("\"overhead_fraction\""));
    Ok(())
}

/// With a small fixed step the moment recursion loses nothing but the final denoising step: the
/// output variance is λ/(λ + s²) of the prior's at the final noise s, and the last iterate holds
/// λ + s². The ascending schedule at the paper's h₀ falls well short of that, more so for the
/// smaller variances (crossed later, with larger steps).
#[test]
fn the_moment_recursion_is_exact_in_the_small_step_limit() -> Result<()> {
    let lam = [0.3, 0.1, 0.03];
    let fine = SamplerConfig {
        h0: 0.002,
        schedule: StepSchedule::Fixed,
        max_steps: 1_000_000,
        ..SamplerConfig::default()
    };
    let p = gahb_diffusion::predict_gaussian_moments(&lam, 64, &fine)?;
    let s2 = p.final_sigma * p.final_sigma;
    assert!((0.045..0.055).contains(&p.final_sigma), "{}", p.final_sigma);
    for (k, &l) in lam.iter().enumerate() {
        let want = l / (l + s2);
        assert!(
            (p.output_ratio[k] - want).abs() < 0.01,
            "λ = {l}: {} vs {want}",
            p.output_ratio[k]
        );
        assert!((p.iterate_ratio[k] - (l + s2) / l).abs() < 0.01);
    }
    let paper = gahb_diffusion::predict_gaussian_moments(&lam, 64, &SamplerConfig::default())?;
    assert!(paper.output_ratio[0] < 0.9, "{:?}", paper.output_ratio);
    assert!(paper.output_ratio[2] < paper.output_ratio[0]);
    assert!(paper.steps < p.steps / 10, "{} vs {}", paper.steps, p.steps);
    // Bad input is refused with the argument's name.
    let e = gahb_diffusion::predict_gaussian_moments(&lam, 2, &fine).expect_err("dim < rank");
    assert!(e.to_string().contains("dim"), "{e}");
    let e = gahb_diffusion::predict_gaussian_moments(&[-1.0], 4, &fine).expect_err("λ < 0");
    assert!(e.to_string().contains("eigvals"), "{e}");
    Ok(())
}
